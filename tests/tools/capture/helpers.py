"""Helpers shared by the capture tests."""


def quiet() -> dict:
    """``capture``'s output options for a test: no progress line, no report lines."""
    return dict(progress=False, log=lambda _: None)
