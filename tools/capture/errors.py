"""The capture's errors: each says in one line why the capture cannot start or must stop."""


class CaptureError(Exception):
    """The capture cannot start or must stop; the message says why in one line."""


class GapError(CaptureError):
    """A gap appeared and the user asked to fail on gaps."""
