"""Finding and opening the Daisy's USB serial port."""

from __future__ import annotations

import errno
import termios

import serial
from serial.tools import list_ports

from daisynet.host_sim.daisy_target import USB_CDC_PRODUCT_ID, USB_VENDOR_ID
from daisynet.tools.capture.errors import CaptureError

PRODUCT_HINT = "daisy"  # ST's VID:PID is generic; the product string tells the Daisy apart
POLL_SECONDS = 0.05  # longest a read waits, so Ctrl-C, timeouts and progress stay responsive


def find_port(port: str | None, app: str = "datalogger") -> str:
    """The serial port of the Daisy running ``app`` (datalogger or inference): ``port`` if
    given, else the one USB device that matches. The apps' product strings are "Daisy
    daisynet <app>"; when several Daisies are plugged in, the one running ``app`` wins."""
    if port:
        return port
    ports = list_ports.comports()
    st_ports = [p for p in ports if p.vid == USB_VENDOR_ID and p.pid == USB_CDC_PRODUCT_ID]
    daisies = [p for p in st_ports if PRODUCT_HINT in (p.product or "").lower()]
    running_app = [p for p in daisies if app in (p.product or "").lower()]
    if len(daisies) > 1 and len(running_app) == 1:
        return running_app[0].device

    def listing(candidates) -> str:
        return "; ".join(f"{p.device} ({p.product or 'no product string'}"
                         f"{', serial ' + p.serial_number if p.serial_number else ''})"
                         for p in candidates)

    usb_id = f"{USB_VENDOR_ID:04x}:{USB_CDC_PRODUCT_ID:04x}"
    if len(daisies) == 1:
        return daisies[0].device
    if len(daisies) > 1:
        raise CaptureError(f"several Daisies found, choose one with --port: {listing(daisies)}")
    if st_ports:
        raise CaptureError(
            f"no port says it is a Daisy, but these ST virtual COM ports (USB "
            f"{usb_id}) might be: {listing(st_ports)}; choose with --port"
        )
    raise CaptureError(
        f"no Daisy found (looked for USB {usb_id} with a product string "
        f"containing 'Daisy'); connect the Daisy Patch running the {app} firmware, or pass "
        "--port, or try --emulate"
    )


def open_port(port: str) -> serial.Serial:
    """Open ``port`` raw; OS errors become one-line CaptureErrors that say what to do."""
    try:
        # The baud rate means nothing to a USB CDC device; the timeout keeps reads short.
        return serial.Serial(port, baudrate=115200, timeout=POLL_SECONDS)
    except serial.SerialException as err:
        code = getattr(err, "errno", None)
        if code == errno.EACCES:
            raise CaptureError(
                f"permission denied opening {port}: add yourself to the port's group "
                "(Debian/Ubuntu: sudo usermod -aG dialout $USER, then log in again)"
            ) from err
        if code == errno.ENOENT:
            raise CaptureError(f"{port}: no such port (unplugged?)") from err
        if code == errno.EBUSY:
            raise CaptureError(f"{port} is busy: another program has it open") from err
        raise CaptureError(f"cannot open {port}: {err}") from err
    except termios.error as err:  # unplugged between opening the port and configuring it
        raise CaptureError(f"{port}: disconnected while opening it ({err.args[-1]})") from err
