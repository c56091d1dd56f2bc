"""daisynet monitor: parses the inference app's status line, end to end on the emulated app."""

import contextlib
import errno
import functools
import json
import os
import tty
from pathlib import Path
from types import SimpleNamespace

import pytest

from daisynet.host_sim.model_defn import Architecture, render_header
from daisynet.host_sim.native import NativePatchRunner
from daisynet.host_sim.quantize import random_spec
from daisynet.tools.capture import find_port
from daisynet.tools.cli import main
from daisynet.tools.device import emulated_inference
from daisynet.tools.device.monitor import (
    MonitorError,
    StatusLog,
    monitor,
    parse_status_line,
)
from tests.firmware.test_patch_runner import DEFAULT_HEADER, STATUS

pytestmark = pytest.mark.native


def test_the_parser_reads_what_the_firmware_prints():
    line, _ = NativePatchRunner(DEFAULT_HEADER).status_text(STATUS)
    parsed = parse_status_line(line + "\r\n")
    assert parsed == {
        "seconds": 12, "model": "daisynet_wavenet", "clock_mhz": 400, "cpu_percent": 51.2,
        "model_cpu_percent": 49.5, "cycles_per_sample": 4269, "model_cycles_per_sample": 4126,
        "p99_cycles_per_sample": 4400, "max_cycles_per_sample": 5600, "overruns": 0,
        "callbacks": 1000, "non_finite": 0, "check": "pass", "check_cycles_per_sample": 0,
        "emulated_instructions_per_sample": 656,
    }
    # A newer firmware's extra field is ignored; a cut or garbled line is not a status line.
    assert parse_status_line(line + " temperature=41") == parsed
    assert parse_status_line(line[: len(line) // 2]) is None
    assert parse_status_line(line.replace("max=5600", "max=56x0")) is None
    assert parse_status_line("hello") is None


def test_the_self_check_is_shown_with_cycles_per_instruction(terminal, write_soon):
    """The Daisy's measured cycles beside the emulated instructions of the same run: the first
    real cycles-per-instruction figure."""
    device, port = terminal
    line, _ = NativePatchRunner(DEFAULT_HEADER).status_text(STATUS)
    measured = line.replace("check_cycles/sample=0", "check_cycles/sample=820")
    write_soon(device, (measured + "\r\n").encode())
    shown = []
    summary = monitor(port, count=1, wait=2.0, show=shown.append)
    assert ("daisynet_wavenet: self-check pass; 820 cycles per sample measured at start-up, "
            "656 emulated instructions per sample: 1.25 cycles per instruction") in shown
    assert summary.to_json()["self_checks"] == {"daisynet_wavenet": {
        "verdict": "pass", "cycles_per_sample": 820, "emulated_instructions_per_sample": 656,
        "cycles_per_instruction": 1.25}}


@pytest.fixture
def terminal():
    """A pseudo-terminal: (fd the test writes as the device, port path the monitor opens)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.fixture
def write_soon(monkeypatch):
    """write_soon(device, data): the device sends ``data`` as soon as the monitor has opened
    the port (pyserial drops what came before), however long the host takes to get there."""
    from daisynet.tools.device import monitor as monitor_module

    opened = monitor_module.open_port
    pending: list[tuple[int, bytes]] = []

    @contextlib.contextmanager
    def open_then_send(port):
        with opened(port) as connection:
            for device, data in pending:
                os.write(device, data)
            pending.clear()
            yield connection

    monkeypatch.setattr(monitor_module, "open_port", open_then_send)
    return lambda device, data: pending.append((device, data))


def test_skips_other_text_and_partial_lines(terminal, write_soon):
    device, port = terminal
    line, _ = NativePatchRunner(DEFAULT_HEADER).status_text(STATUS)
    write_soon(device, b"boot noise\r\n\x00\x01\x02\r\n" + line[:40].encode() + b"\r\n"
               + line.encode() + b"\r\n")
    shown = []
    summary = monitor(port, count=1, wait=2.0, show=shown.append)
    assert len(summary.lines) == 1 and summary.lines[0]["p99_cycles_per_sample"] == 4400
    assert summary.other_lines == 3
    assert shown[0].startswith("daisynet_wavenet at 400 MHz")


def test_a_port_without_status_lines_is_one_clear_error(terminal, write_soon):
    device, port = terminal
    write_soon(device, b"\x00\x17garbage from some other firmware\x00")
    with pytest.raises(MonitorError, match="sent no daisynet status line in 0.5 s: is the "
                                           "inference app running"):
        monitor(port, wait=0.5, show=lambda _: None)


@pytest.fixture
def virtual_cycles(monkeypatch):
    """``monitor --emulate`` with the model taking 4,800 cycles a callback on a virtual counter
    (100 a sample), so its figures do not depend on how busy the host is."""
    emulated = emulated_inference.EmulatedInference
    monkeypatch.setattr(emulated, "__init__",
                        functools.partialmethod(emulated.__init__, model_cycles=4_800))


def status_lines(runner: NativePatchRunner, seconds: list[int]) -> bytes:
    return b"".join(runner.status_text({**STATUS, "seconds": t})[0].encode() + b"\r\n"
                    for t in seconds)


def test_duration_counts_the_devices_seconds(terminal, write_soon):
    """--duration 3: the status lines of 3 seconds (issue 22, item 14: it showed 2), however
    fast they arrive."""
    device, port = terminal
    write_soon(device, status_lines(NativePatchRunner(DEFAULT_HEADER), [7, 8, 9, 10, 11]))
    summary = monitor(port, duration=3, wait=2.0, show=lambda _: None)
    assert [line["seconds"] for line in summary.lines] == [7, 8, 9]
    assert summary.stop_reason == "duration reached"


def test_monitor_emulated_app_end_to_end_with_overruns_and_log(tmp_path, capsys,
                                                               virtual_cycles):
    log = tmp_path / "load.jsonl"
    assert main(["monitor", "--emulate", "--count", "2", "--emulate-stall-every", "250",
                 "--log", str(log), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status_lines"] == 2 and result["stop_reason"] == "count reached"
    assert result["model"] == "daisynet_wavenet" and result["clock_mhz"] == 400
    # Every 250th callback stalls 2 ms, longer than its 1 ms block: 4 overruns a second.
    assert [line["overruns"] for line in result["lines"]] == [4, 4]
    assert all(line["callbacks"] == 1000 for line in result["lines"])
    # The virtual counter: 100 cycles a sample for the model, whatever the host's load.
    assert [line["model_cycles_per_sample"] for line in result["lines"]] == [100, 100]
    assert "host time" in result["cycles"]
    logged = [json.loads(text) for text in log.read_text().splitlines()]
    assert logged == result["lines"]


def test_the_summary_says_host_time_and_counts_in_words(capsys, virtual_cycles):
    assert main(["monitor", "--emulate", "--count", "1"]) == 0
    out = capsys.readouterr().out
    assert "cycles are host time" in out
    summary = out.splitlines()[-1]
    assert summary.startswith("1 status line (count reached): mean CPU ")
    assert "cycles/sample (host time), 0 overruns" in summary


def test_an_earlier_log_is_kept_and_a_full_disk_leaves_it_whole(terminal, write_soon,
                                                                 tmp_path, monkeypatch):
    device, port = terminal
    log = tmp_path / "load.jsonl"
    log.write_text('{"earlier": 1}\n')
    write_soon(device, status_lines(NativePatchRunner(DEFAULT_HEADER), [1, 2]))
    monitor(port, count=1, log=StatusLog(log), wait=2.0, show=lambda _: None)
    first = log.read_text()
    assert first.startswith('{"earlier": 1}\n') and len(first.splitlines()) == 2

    write = Path.write_text

    def full_disk(temporary, *_):
        write(temporary, "cut")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("pathlib.Path.write_text", full_disk)
    write_soon(device, status_lines(NativePatchRunner(DEFAULT_HEADER), [3]))
    with pytest.raises(MonitorError, match=r"load\.jsonl: could not write it \(No space left on "
                                           r"device\); the earlier file is unchanged: it holds "
                                           "the status lines before this one"):
        monitor(port, count=1, log=StatusLog(log), wait=2.0, show=lambda _: None)
    monkeypatch.undo()
    assert log.read_text() == first
    assert [p.name for p in tmp_path.iterdir()] == ["load.jsonl"]


def test_an_unwritable_log_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    assert main(["monitor", "--emulate", "--count", "1", "--log",
                 str(tmp_path / "a_file" / "x.jsonl")]) == 1
    captured = capsys.readouterr()
    assert "cannot write the log: " in captured.err and captured.err.count("\n") == 1
    assert captured.out == ""  # refused before the emulated app started


def test_finds_the_daisy_running_the_inference_app(monkeypatch):
    ports = [SimpleNamespace(device=f"/dev/ttyACM{i}", vid=0x0483, pid=0x5740, product=product,
                             serial_number=None)
             for i, product in enumerate(["Daisy daisynet datalogger", "Daisy daisynet inference"])]
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: ports)
    assert find_port(None, app="inference") == "/dev/ttyACM1"
    assert find_port(None, app="datalogger") == "/dev/ttyACM0"


@pytest.mark.parametrize("model, said", [
    ("garbage\n", "no kModelDefnFormatVersion: not a daisynet model_defn.h"),
    (None, "the Patch app cannot feed input(s) input_1, input_2"),
])
def test_a_header_the_app_cannot_build_is_one_line(tmp_path, capsys, model, said):
    """--emulate-model with a damaged header or inputs the Patch cannot feed used to print the
    compiler's output."""
    header = tmp_path / "model_defn.h"
    header.write_text(model or render_header(random_spec(Architecture(2, (2,), 2)), "test"))
    assert main(["monitor", "--emulate", "--emulate-model", str(header), "--count", "1"]) == 1
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1


def test_monitor_emulated_bank_names_each_model_as_the_encoder_turns(tmp_path, capsys,
                                                                    virtual_cycles):
    from tests.firmware.test_patch_runner import patch_bank

    argv = ["monitor", "--emulate", "--count", "3", "--emulate-switch-every", "1", "--json"]
    for header in patch_bank(tmp_path):
        argv += ["--emulate-model", str(header)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert [line["model"] for line in result["lines"]] == ["drive", "fold", "drive_q15"]
    assert sum(line["overruns"] for line in result["lines"]) == 0
