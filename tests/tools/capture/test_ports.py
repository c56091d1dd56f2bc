"""Finding and opening the Daisy's port: one-line errors that say what to do."""

from types import SimpleNamespace

import pytest
import serial

from daisynet.tools.cli import main


def fake_port(device, product, vid=0x0483, pid=0x5740):
    return SimpleNamespace(device=device, product=product, vid=vid, pid=pid, serial_number=None)


@pytest.mark.parametrize("ports, message", [
    ([], "no Daisy found (looked for USB 0483:5740"),
    ([fake_port("/dev/ttyACM0", "Daisy Seed"), fake_port("/dev/ttyACM1", "Daisy Patch")],
     "several Daisies found, choose one with --port: /dev/ttyACM0 (Daisy Seed); /dev/ttyACM1"),
    ([fake_port("/dev/ttyACM3", "STM32 Virtual ComPort")],
     "these ST virtual COM ports (USB 0483:5740) might be: /dev/ttyACM3"),
])
def test_finding_the_daisy(monkeypatch, capsys, tmp_path, ports, message):
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: ports)
    assert main(["capture", "-o", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("daisynet capture: error: ") and message in err
    assert err.count("\n") == 1


def test_permission_denied_says_what_to_do(monkeypatch, capsys, tmp_path):
    def refuse(port, **_):
        raise serial.SerialException(13, f"could not open port {port}: [Errno 13] Permission "
                                          "denied")

    monkeypatch.setattr(serial, "Serial", refuse)
    assert main(["capture", "--port", "/dev/ttyACM0", "-o", str(tmp_path / "c")]) == 1
    assert "permission denied opening /dev/ttyACM0: add yourself to the port's group" in (
        capsys.readouterr().err)


def test_missing_port(capsys, tmp_path):
    assert main(["capture", "--port", str(tmp_path / "ttyNONE"), "-o", str(tmp_path / "c")]) == 1
    assert "no such port" in capsys.readouterr().err


def test_a_port_unplugged_while_opening_is_one_line(monkeypatch, capsys, tmp_path):
    """Issue 22, item 7: termios's error (the terminal gone between opening and configuring
    it) was a traceback."""
    import termios

    def unplugged(*args, **kwargs):
        raise termios.error(5, "Input/output error")

    monkeypatch.setattr(serial, "Serial", unplugged)
    assert main(["capture", "--port", "/dev/ttyACM0", "-o", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert err == ("daisynet capture: error: /dev/ttyACM0: disconnected while opening it "
                   "(Input/output error)\n")
