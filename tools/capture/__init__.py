"""``daisynet capture``: record a dataset from the datalogger firmware over USB serial.

One module per concern, each importing only those listed before it:

- ``wire``: the wire protocol's frame codec and payload layouts (firmware/core/wire_protocol.h
  is the other side; tests pin the two together).
- ``errors``: CaptureError and GapError, the one-line reasons a capture cannot go on.
- ``ports``: finding the Daisy's USB serial port and opening it.
- ``link_budget``: what a configuration needs from the USB link; live or record mode.
- ``assembly``: decoded frames into audio and knob streams, with their gaps.
- ``saving``: the dataset and its capture log, rescued elsewhere if the destination fails.
- ``progress``: the progress line.
- ``session``: the capture itself (HELLO, CONFIGURE, START, receive, RESEND, signals), driven
  by a ``CaptureRequest``.
- ``emulated_device``: the datalogger's firmware behind a model of the USB link, for captures
  without hardware.

Live mode streams while recording; it is refused when the configuration needs more than
LIVE_MARGIN of the link. Record mode records into the Daisy's SDRAM first and transfers after,
at whatever rate the link gives; ``mode="auto"`` picks live when it fits. Gaps are never glued
together: the WAV keeps real time with silence in the gap and the sidecar lists each gap as
``source.gaps = [[first_frame, frames], ...]``, which training skips.

The names below are the subsystem's interface for the rest of daisynet.
"""

from daisynet.tools.capture.emulated_device import EmulatorError, Faults, capture_emulated
from daisynet.tools.capture.errors import CaptureError, GapError
from daisynet.tools.capture.ports import PRODUCT_HINT, find_port, open_port
from daisynet.tools.capture.saving import CaptureResult
from daisynet.tools.capture.session import DEFAULT_SILENCE_TIMEOUT, CaptureRequest, capture

__all__ = [
    "DEFAULT_SILENCE_TIMEOUT",
    "PRODUCT_HINT",
    "CaptureError",
    "CaptureRequest",
    "CaptureResult",
    "EmulatorError",
    "Faults",
    "GapError",
    "capture",
    "capture_emulated",
    "find_port",
    "open_port",
]
