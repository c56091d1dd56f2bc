"""The capture's progress display: seconds recorded, then transferred, with link figures."""

from __future__ import annotations

import contextlib
import sys
import time

from tqdm import tqdm

from daisynet.tools.capture.assembly import Assembler
from daisynet.tools.capture.link_budget import LinkBudget
from daisynet.tools.capture.wire import FrameDecoder, Mode

PLAIN_PROGRESS_SECONDS = 5.0  # between progress lines when stderr is not a terminal
PROGRESS_SECONDS = 0.2  # between progress bar updates


class Progress:
    """Seconds recorded (live: received; record: the device's count), then transferred. On a
    terminal a tqdm line redrawn in place; elsewhere (a log file, a pipe) a plain line every
    PLAIN_PROGRESS_SECONDS and the last figure of each phase (a record-mode take shorter than
    that interval would show only its first "0.0 s"), so logs hold no carriage returns.
    Closing shows the final figure."""

    def __init__(self, enabled: bool, duration: float | None, budget: LinkBudget) -> None:
        self.mode = budget.mode
        self.duration = duration
        self.last = self.last_plain = 0.0
        self.started = time.monotonic()
        self.plain = enabled and not sys.stderr.isatty()
        self.latest: tuple[Assembler, FrameDecoder] | None = None
        self.phase = ""  # recording, transferring or live
        self.unprinted = ""  # the latest plain line, when it was not printed
        self.bar = tqdm(total=duration, unit="s", disable=not enabled or self.plain, leave=True,
                        desc="waiting for the recording", bar_format="{desc}: {n:.1f} s{postfix}")

    def update(self, assembler: Assembler, decoder: FrameDecoder, now: float,
               force: bool = False) -> None:
        self.latest = (assembler, decoder)
        session = assembler.session
        if session is None or (now - self.last < PROGRESS_SECONDS and not force):
            return
        self.last = now
        received = assembler.blocks_received * session.block_size / session.sample_rate
        phase = self.phase
        if session.mode == Mode.RECORD and received == 0:
            self.phase = "recording"
            status = assembler.last_status
            recorded = status.frames_recorded / session.sample_rate if status else 0.0
            self.bar.set_description_str("recording into the Daisy's SDRAM", refresh=False)
            self.bar.n = recorded
        elif session.mode == Mode.RECORD:
            self.phase = "transferring"
            total = assembler.total_frames() / session.sample_rate
            recorded = assembler.last_status.frames_recorded / session.sample_rate \
                if assembler.last_status else total
            self.bar.set_description_str(f"transferring (of {max(total, recorded):.1f} s)",
                                         refresh=False)
            self.bar.n = received
        else:
            self.phase = "live"
            self.bar.set_description_str("recording live", refresh=False)
            self.bar.n = received
        self.bar.set_postfix_str(status_line(decoder, now - self.started), refresh=False)
        # Showing progress must never end a capture: after SIGHUP the terminal is gone and
        # writing to it fails (EIO).
        with contextlib.suppress(OSError):
            self._show(now, force, phase)

    def _show(self, now: float, force: bool, phase: str) -> None:
        if not self.plain:
            self.bar.refresh()
            return
        if self.unprinted and self.phase != phase:  # where the last phase ended
            print(self.unprinted, file=sys.stderr, flush=True)
        self.unprinted = f"{self.bar.desc}: {self.bar.n:.1f} s, {self.bar.postfix}"
        if force or now - self.last_plain >= PLAIN_PROGRESS_SECONDS:
            self.last_plain = now
            print(self.unprinted, file=sys.stderr, flush=True)
            self.unprinted = ""

    def close(self) -> None:
        if self.latest is not None:
            self.update(*self.latest, time.monotonic(), force=True)
        self.bar.close()


def status_line(decoder: FrameDecoder, elapsed: float) -> str:
    stats = decoder.stats
    rate = stats.bytes_received / max(elapsed, 1e-9) / 1e6
    return (f"{rate:.2f} MB/s, {stats.crc_failures} CRC failures, "
            f"{len(stats.sequence_gaps)} gaps ({stats.frames_lost} wire frames lost)")
