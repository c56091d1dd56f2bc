"""``daisynet monitor``: the inference app's live load, from its once-per-second status line.

The inference firmware (firmware/inference, text from firmware/core/patch_status.h) prints
``daisynet t=12s model=NAME clock=400MHz cpu=51.2% model_cpu=49.5% cycles/sample=4269
model_cycles/sample=4126 p99=4400 max=5600 overruns=0 callbacks=1000 nonfinite=0`` over USB
serial. ``monitor`` finds the port as ``capture`` does, shows each line as a table row, and
records them as JSON lines with ``--log``. Other text on the port is counted and skipped.
``--duration`` counts the device's seconds (its status lines' ``t``), not the host's, so
``--duration 3`` shows the 3 status lines of 3 seconds whenever the first one arrives.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import serial

from daisynet.host_sim.files import (
    OutputPathError,
    OutputWriteError,
    check_output_file,
    write_text,
)
from daisynet.tools.capture import CaptureError, open_port

STATUS_LINE = re.compile(r"^daisynet t=(\d+)s (.*)$")
# Status keys -> (field name, unit suffix to strip, type).
FIELDS = {
    "model": ("model", "", str),
    "clock": ("clock_mhz", "MHz", int),
    "cpu": ("cpu_percent", "%", float),
    "model_cpu": ("model_cpu_percent", "%", float),
    "cycles/sample": ("cycles_per_sample", "", int),
    "model_cycles/sample": ("model_cycles_per_sample", "", int),
    "p99": ("p99_cycles_per_sample", "", int),
    "max": ("max_cycles_per_sample", "", int),
    "overruns": ("overruns", "", int),
    "callbacks": ("callbacks", "", int),
    "nonfinite": ("non_finite", "", int),
    "check": ("check", "", str),
    "check_cycles/sample": ("check_cycles_per_sample", "", int),
    "emulated_instructions/sample": ("emulated_instructions_per_sample", "", int),
}
LONGEST_LINE = 1024  # bytes without a newline before the pending text is dropped as garbage
HEADER = ("     t   cpu %  model %  cycles/sample    p99     max  overruns  nonfinite  model")


class MonitorError(Exception):
    """The monitor cannot start or must stop; the message says why in one line."""


class StatusLog:
    """The ``--log`` file: an earlier log is kept and this run's status lines follow it, one
    JSON line each. Every line rewrites the file through ``write_text`` (a temporary file
    renamed into place), so a full disk or a crash leaves the log as it was after the last line
    written, never cut in the middle."""

    def __init__(self, path: str | Path) -> None:
        """Checks the log can be written, before the monitor starts."""
        try:
            self.path = check_output_file(path)
            self.text = self.path.read_text() if self.path.exists() else ""
        except OutputPathError as err:
            raise MonitorError(f"cannot write the log: {err}") from err
        except (OSError, UnicodeDecodeError) as err:
            raise MonitorError(f"cannot add to the log {path}: {err}") from err
        if self.text and not self.text.endswith("\n"):
            self.text += "\n"

    def add(self, status: dict) -> None:
        text = self.text + json.dumps(status) + "\n"
        try:
            write_text(self.path, text)
        except OutputWriteError as err:  # names the log and says it is unchanged
            raise MonitorError(f"{err}: it holds the status lines before this one") from err
        except OSError as err:
            raise MonitorError(f"cannot write the log {self.path}: {err.strerror or err}; it "
                               "holds the status lines before this one") from err
        self.text = text


def parse_status_line(text: str) -> dict | None:
    """The fields of one status line, or None when ``text`` is not a complete one."""
    match = STATUS_LINE.match(text.strip())
    if not match:
        return None
    values: dict = {"seconds": int(match.group(1))}
    for pair in match.group(2).split():
        key, _, raw = pair.partition("=")
        if key not in FIELDS:
            continue  # a newer firmware's extra field
        name, unit, kind = FIELDS[key]
        try:
            values[name] = kind(raw.removesuffix(unit))
        except ValueError:
            return None
    if len(values) != len(FIELDS) + 1:
        return None
    return values


def format_row(status: dict) -> str:
    flag = "  OVERRUN" if status["overruns"] else ""
    return (f"{status['seconds']:6d}  {status['cpu_percent']:6.1f}  "
            f"{status['model_cpu_percent']:7.1f}  {status['cycles_per_sample']:13,d}  "
            f"{status['p99_cycles_per_sample']:6,d}  {status['max_cycles_per_sample']:6,d}  "
            f"{status['overruns']:8d}  {status['non_finite']:9d}  {status['model']}{flag}")


@dataclass
class MonitorSummary:
    port: str
    stop_reason: str = ""
    lines: list[dict] = field(default_factory=list)
    other_lines: int = 0

    def to_json(self) -> dict:
        lines = self.lines
        return {
            "port": self.port,
            "stop_reason": self.stop_reason,
            "status_lines": len(lines),
            "other_lines": self.other_lines,
            "model": lines[-1]["model"] if lines else None,
            "clock_mhz": lines[-1]["clock_mhz"] if lines else None,
            "mean_cpu_percent": (round(sum(s["cpu_percent"] for s in lines) / len(lines), 1)
                                 if lines else None),
            "worst_p99_cycles_per_sample": max((s["p99_cycles_per_sample"] for s in lines),
                                               default=None),
            "worst_max_cycles_per_sample": max((s["max_cycles_per_sample"] for s in lines),
                                               default=None),
            "overruns": sum(s["overruns"] for s in lines),
            "non_finite": lines[-1]["non_finite"] if lines else None,
            "self_checks": self_checks(lines),
        }


def self_checks(lines: list[dict]) -> dict[str, dict]:
    """Per model seen playing: its boot self-check's verdict, the cycles per sample the device
    measured and the emulated instructions per sample the header stores for the same run, and
    their ratio (cycles per instruction; None without both figures)."""
    checks = {}
    for status in lines:
        cycles = status["check_cycles_per_sample"]
        emulated = status["emulated_instructions_per_sample"]
        checks[status["model"]] = {
            "verdict": status["check"], "cycles_per_sample": cycles,
            "emulated_instructions_per_sample": emulated,
            "cycles_per_instruction": round(cycles / emulated, 3) if cycles and emulated
            else None}
    return checks


def check_text(status: dict) -> str:
    """One line on the playing model's self-check, e.g. "drive: self-check pass; 812 cycles per
    sample measured at start-up, 657 emulated instructions per sample: 1.24 cycles per
    instruction"."""
    check = self_checks([status])[status["model"]]
    said = {"pass": "pass", "FAIL": "FAIL (the model is silent)",
            "none": "none (its header stores no reference: export it again)"}.get(
                check["verdict"], check["verdict"])
    text = f"{status['model']}: self-check {said}"
    if check["cycles_per_instruction"] is not None:
        text += (f"; {check['cycles_per_sample']:,} cycles per sample measured at start-up, "
                 f"{check['emulated_instructions_per_sample']:,} emulated instructions per "
                 f"sample: {check['cycles_per_instruction']:.2f} cycles per instruction")
    return text


def monitor(port: str, duration: float | None = None, count: int | None = None,
            log: StatusLog | None = None, wait: float = 5.0,
            show: Callable[[str], None] = print) -> MonitorSummary:
    """Read status lines from ``port`` until ``duration`` seconds or ``count`` lines, Ctrl-C,
    unplug, or ``wait`` seconds without a status line. ``show`` gets the table's text lines;
    ``log`` gets each status line."""
    with contextlib.ExitStack() as cleanup:
        try:
            connection = cleanup.enter_context(open_port(port))
        except CaptureError as err:
            raise MonitorError(str(err)) from err
        summary = MonitorSummary(port)
        try:
            _read_status_lines(connection, summary, duration, count, wait, show, log)
        except KeyboardInterrupt:
            summary.stop_reason = "interrupted"
    return summary


def _read_status_lines(connection: serial.Serial, summary: MonitorSummary,
                       duration: float | None, count: int | None, wait: float,
                       show: Callable[[str], None], log: StatusLog | None) -> None:
    port = summary.port
    pending = bytearray()
    started = last_status = time.monotonic()
    while not summary.stop_reason:
        try:
            data = connection.read(max(1, connection.in_waiting))
        except (serial.SerialException, OSError):
            summary.stop_reason = "disconnected"
            return
        pending += data
        *complete, rest = pending.split(b"\n")
        pending = bytearray(rest if len(rest) <= LONGEST_LINE else b"")
        for raw in complete:
            status = parse_status_line(raw.decode("ascii", "replace"))
            if status is None:
                summary.other_lines += bool(raw.strip())
                continue
            last_status = time.monotonic()
            if not summary.lines:
                show(f"{status['model']} at {status['clock_mhz']} MHz on {port}; "
                     "cycles are per sample, over the last second")
            if not summary.lines or status["model"] != summary.lines[-1]["model"]:
                show(check_text(status))
                show(HEADER)
            summary.lines.append(status)
            show(format_row(status))
            if log:
                log.add(status)
            if count is not None and len(summary.lines) >= count:
                summary.stop_reason = "count reached"
                return
            # Each status line covers the second before it.
            device_seconds = status["seconds"] - summary.lines[0]["seconds"] + 1
            if duration is not None and device_seconds >= duration:
                summary.stop_reason = "duration reached"
                return
        now = time.monotonic()
        # A device whose status lines stop counting seconds still ends by the host's clock.
        if duration is not None and now - started >= duration + wait:
            summary.stop_reason = "duration reached"
        elif now - last_status > wait:
            if not summary.lines:
                raise MonitorError(
                    f"{port} sent no daisynet status line in {wait:g} s: is the inference "
                    "app running on it? (the datalogger app sends no status lines)")
            summary.stop_reason = f"no status line for {wait:g} s"
