"""The progress line, driven by frames as the datalogger sends them and a clock of its own."""

import numpy as np

from daisynet.tools.capture.assembly import Assembler
from daisynet.tools.capture.progress import Progress
from daisynet.tools.capture.wire import (
    COUNTERS,
    FrameDecoder,
    FrameType,
    Mode,
    RecorderState,
    SampleFormat,
    Session,
    data_payload,
    encode_frame,
    session_payload,
)

SESSION = Session(7, 48_000, 48, "test", ["audio_in_1"], [], Mode.RECORD, SampleFormat.S24, 1)


class Device:
    """Frames of a record-mode session into an assembler, as the datalogger sends them."""

    def __init__(self) -> None:
        self.assembler, self.decoder, self.sequence = Assembler("mark"), FrameDecoder(), 0

    def send(self, frame_type: int, payload: bytes) -> None:
        self.sequence += 1
        for frame in self.decoder.feed(encode_frame(frame_type, self.sequence, payload)):
            self.assembler.add(frame)

    def status(self, state: RecorderState, seconds: float) -> None:
        frames = int(seconds * SESSION.sample_rate)
        self.send(FrameType.STATUS, COUNTERS.pack(state, SESSION.session_id, frames, 0, 0, 0))

    def block(self, index: int) -> None:
        self.send(FrameType.DATA, data_payload(SESSION, index * 48, np.zeros((48, 1)),
                                               np.zeros(0)))


def test_a_short_record_mode_take_shows_the_devices_count_before_the_transfer(capsys):
    """Issue 22, item 19: the plain progress of a record-mode take shorter than a progress
    interval said "0.0 s" while the device recorded, and the count it reached never showed."""

    class Budget:
        mode = "record"

    progress, device = Progress(True, None, Budget()), Device()
    device.send(FrameType.SESSION, session_payload(SESSION))
    for second in range(4):  # 3 s recorded, a STATUS each second
        device.status(RecorderState.RECORDING, second)
        progress.update(device.assembler, device.decoder, now=1000.0 + second)
    device.status(RecorderState.TRANSFERRING, 3)
    for index in range(1000):
        device.block(index)
        progress.update(device.assembler, device.decoder, now=1003.5 + index / 1000)
    progress.update(device.assembler, device.decoder, now=1004.5, force=True)  # as at the end
    lines = capsys.readouterr().err.splitlines()
    recording = [line for line in lines if line.startswith("recording into the Daisy's SDRAM")]
    assert recording[-1].startswith("recording into the Daisy's SDRAM: 3.0 s"), lines
    assert lines.index(recording[-1]) < min(i for i, line in enumerate(lines)
                                            if line.startswith("transferring"))


def test_a_terminal_gone_after_a_hangup_does_not_end_the_capture(monkeypatch):
    """Beyond issue 22's list: after SIGHUP writing to the terminal fails (EIO); the progress
    line's OSError ended the capture as if the Daisy had been unplugged."""
    import errno
    import io
    import sys

    class HungUp(io.StringIO):
        def isatty(self) -> bool:
            return False

        def write(self, _text: str) -> int:
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(sys, "stderr", HungUp())

    class Budget:
        mode = "record"

    progress, device = Progress(True, None, Budget()), Device()
    device.send(FrameType.SESSION, session_payload(SESSION))
    device.status(RecorderState.RECORDING, 1)
    progress.update(device.assembler, device.decoder, now=1000.0, force=True)
