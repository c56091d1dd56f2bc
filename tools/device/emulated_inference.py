"""The inference app without hardware, for ``daisynet monitor --emulate``.

``EmulatedInference(headers)`` runs the firmware's own callback and CPU meter over a bank of one
or more models (firmware/core/patch_runner.h and patch_status.h, native build through
host_sim/native.py) on a test signal, in the Daisy's audio blocks at its sample rate, turning
the encoder one step every ``switch_every`` seconds if asked, and writes the app's
once-per-second USB status line to a pseudo-terminal that pyserial opens like /dev/ttyACM0.
Cycles are the host's time in cycles of the Daisy's clock: they test the monitor end to end,
they are not Daisy figures. Tests pass ``model_cycles``: a virtual cycle count per callback, so
their figures (and overruns) do not depend on how busy the host is.
"""

from __future__ import annotations

import os
import threading
import time
import tty
from pathlib import Path

import numpy as np

from daisynet.host_sim.daisy_target import BLOCK_FRAMES, SAMPLE_RATE_HZ, daisy_target
from daisynet.host_sim.model_defn import read_header
from daisynet.host_sim.native import REPO, NativePatchRunner
from daisynet.tools.device.flash import unwired_inputs

DEFAULT_HEADER = REPO / "firmware" / "model" / "model_defn.h"
CALLBACKS_PER_STATUS = SAMPLE_RATE_HZ // BLOCK_FRAMES  # one status line per second of audio


class EmulatedInference:
    """Context manager: a running emulated inference app; ``port`` is its terminal's path.

    headers: the bank, one model_defn.h or several. realtime: one status line per wall-clock
    second, as the Daisy sends them (otherwise as fast as the host computes). stall_every:
    every that many callbacks, one takes ``stall_ms`` longer (0: never), to show overruns.
    switch_every: every that many seconds, the encoder turns one step (0: never). seconds: stop
    after that many status lines. model_cycles: the model's cycles per callback on a virtual
    counter (default: host time).
    """

    def __init__(self, headers: str | Path | list[str | Path] = DEFAULT_HEADER,
                 realtime: bool = True, stall_every: int = 0, stall_ms: float = 2.0,
                 switch_every: int = 0, seconds: int | None = None,
                 model_cycles: int | None = None) -> None:
        self.headers = [Path(headers)] if isinstance(headers, (str, Path)) else [
            Path(header) for header in headers]
        self.switch_every = switch_every
        self.realtime = realtime
        self.stall_every = stall_every
        self.stall_ns = int(stall_ms * 1e6)
        self.seconds = seconds
        self.model_cycles = model_cycles
        self.port = ""
        self.lines_dropped = 0  # status lines the terminal had no room for (nobody reading)
        for header in self.headers:  # named in one line here, before anything is built
            unwired = unwired_inputs(read_header(header))
            if unwired:
                raise ValueError(f"{header}: the Patch app cannot feed input(s) "
                                 f"{', '.join(unwired)}; inputs must be named audio_in_1..4, "
                                 "knob_1..4 or cv_1..4")
        self._runner = NativePatchRunner(self.headers)  # builds now, so errors come up front
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = self._slave = -1

    def __enter__(self) -> EmulatedInference:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # binary-clean, no echo, as a USB CDC port
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._run, name="emulated-inference", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def _run(self) -> None:
        clock_hz = daisy_target().core_clock_hz
        runner = self._runner
        runner.meter_init(clock_hz, SAMPLE_RATE_HZ)
        jacks, knobs = _test_signal()
        callback = 0
        second = 0
        started = time.monotonic()
        while not self._stop.is_set() and (self.seconds is None or second < self.seconds):
            for _ in range(CALLBACKS_PER_STATUS):
                start = (callback * BLOCK_FRAMES) % (len(jacks) - BLOCK_FRAMES)
                stall = self.stall_every and callback % self.stall_every == self.stall_every - 1
                runner.callback(jacks[start:start + BLOCK_FRAMES], knobs[callback % len(knobs)],
                                clock_hz, self.stall_ns if stall else 0, self.model_cycles)
                callback += 1
            second += 1
            if self.switch_every and second % self.switch_every == 0:
                runner.select((runner.requested + 1) % len(self.headers))
            if self.realtime:
                self._stop.wait(max(0.0, started + second - time.monotonic()))
            status = runner.meter_end_period(second, runner.non_finite_outputs)
            line, _ = runner.status_text(status)
            self._send(line.encode() + b"\r\n")

    def _send(self, data: bytes) -> None:
        """Never blocking, like the firmware: a line the terminal has no room for (nobody is
        reading) is dropped and counted; one it took only in part counts as dropped too."""
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        if written < len(data):
            self.lines_dropped += 1


def _test_signal() -> tuple[np.ndarray, np.ndarray]:
    """One second of 4 jacks (a sine sweep on 1, quieter tones on 2..4) and per-block knobs
    that move slowly, so the model sees changing conditions."""
    t = np.arange(SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
    sweep = np.sin(2 * np.pi * (50 * t + 400 * t**2))
    tones = [0.3 * np.sin(2 * np.pi * f * t) for f in (110.0, 220.0, 330.0)]
    jacks = np.stack([sweep, *tones], axis=1).astype(np.float32)
    blocks = np.arange(CALLBACKS_PER_STATUS) / CALLBACKS_PER_STATUS
    knobs = np.stack([0.5 + 0.5 * np.sin(2 * np.pi * (k + 1) * blocks) for k in range(4)],
                     axis=1).astype(np.float32)
    return jacks, knobs
