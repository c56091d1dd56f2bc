"""Frame assembly: decoded frames into one recording of audio and knob streams.

Gaps (frames lost on the wire and not resent, or dropped by the device when USB could not keep
up) are never glued together: the recording keeps real time with silence in each gap, and the
gaps are listed as ``[first_frame, frames]``; or, with ``on_gap="fail"``, the first gap stops the
capture with a GapError.
"""

from __future__ import annotations

import numpy as np

from daisynet.tools.capture.errors import GapError
from daisynet.tools.capture.wire import (
    DATA_FIXED,
    Counters,
    EndReason,
    Frame,
    FrameType,
    Mode,
    RecorderState,
    Reply,
    Session,
    WireError,
    parse_counters,
    parse_data,
    parse_reply,
    parse_session,
    unpack_samples,
)


class Assembler:
    """Turns decoded frames into a recording; tracks the session, its blocks, replies, gaps."""

    def __init__(self, on_gap: str) -> None:
        self.on_gap = on_gap
        self.session: Session | None = None
        self.counts = {kind.name.lower(): 0 for kind in FrameType}
        self.last_status: Counters | None = None
        self.end: Counters | None = None  # END of the recording (or of its transfer)
        self.resend_ends = 0  # ENDs of RESEND rounds
        self.new_session_seen = False
        self.invalid_payloads = 0
        self.duplicate_blocks = 0
        self.device_state: RecorderState | None = None
        self.replies: dict[int, Reply] = {}  # by command sequence
        self._early: list[Frame] = []  # DATA that came before any SESSION
        self._blocks: dict[int, bytes] = {}  # DATA payloads by first frame
        self._next_frame = 0  # first frame index after the latest block

    @property
    def frames_covered(self) -> int:
        return self._next_frame

    @property
    def blocks_received(self) -> int:
        return len(self._blocks)

    def add(self, frame: Frame) -> None:
        self.counts[FrameType(frame.type).name.lower()] += 1
        try:
            if frame.type == FrameType.SESSION:
                self._on_session(parse_session(frame.payload))
            elif frame.type == FrameType.DATA:
                if self.session is None:
                    self._early.append(frame)
                else:
                    self._on_data(frame)
            elif frame.type == FrameType.REPLY:
                reply = parse_reply(frame.payload)
                self.replies[reply.command_sequence] = reply
            else:
                self._on_counters(frame, parse_counters(frame.payload))
        except WireError:
            self.invalid_payloads += 1

    def _on_counters(self, frame: Frame, counters: Counters) -> None:
        if self.session is not None and counters.session_id != self.session.session_id:
            return  # a heartbeat from before our session, or of a later one
        if frame.type == FrameType.STATUS:
            self.last_status = counters
            self.device_state = RecorderState(counters.code) if counters.code in (
                RecorderState._value2member_map_) else None
        elif self.session is not None and counters.code == EndReason.RESEND_DONE:
            self.resend_ends += 1
        elif self.session is not None:
            self.end = counters
            if self.session.mode == Mode.LIVE:
                self._check_gap(counters.frames_recorded, frame.offset, at_end=True)

    def _on_session(self, session: Session) -> None:
        if self.session is None:
            self.session = session
            early, self._early = self._early, []
            for data in early:
                self._on_data(data)
        elif session.session_id != self.session.session_id:
            self.new_session_seen = True

    def _on_data(self, frame: Frame) -> None:
        first_frame, _, _ = parse_data(frame.payload, self.session)
        if first_frame % self.session.block_size:
            self.invalid_payloads += 1
            return
        if first_frame in self._blocks:
            self.duplicate_blocks += 1
            return
        if self.session.mode == Mode.LIVE:
            if first_frame < self._next_frame:
                self.invalid_payloads += 1  # live frames cannot go back within a session
                return
            self._check_gap(first_frame, frame.offset, at_end=False)
        self._blocks[first_frame] = frame.payload
        self._next_frame = max(self._next_frame, first_frame + self.session.block_size)

    def _check_gap(self, frame_index: int, offset: int, at_end: bool) -> None:
        missing = frame_index - self._next_frame
        if missing > 0 and self.on_gap == "fail":
            where = "at the end" if at_end else f"before byte {offset} of the stream"
            raise GapError(
                f"{missing} frames ({missing / self.session.sample_rate:.3f} s) missing from "
                f"frame {self._next_frame} on, {where}; rerun with --on-gap mark to keep the "
                "capture with its gaps marked"
            )

    def check_missing(self, resend_rounds: int) -> None:
        """Record mode, after at most ``resend_rounds`` RESEND rounds: GapError for the first
        gap left, with --on-gap fail."""
        missing = self.missing_blocks()
        if missing and self.on_gap == "fail":
            block = self.session.block_size
            first, count = missing[0]
            raise GapError(
                f"{count * block} frames ({count * block / self.session.sample_rate:.3f} s) "
                f"missing from frame {first * block} on, after {resend_rounds} RESEND rounds at "
                "most; rerun with --on-gap mark to keep the capture with its gaps marked")

    def total_frames(self) -> int:
        """Frames the recording spans: what arrived, or what the device says it recorded."""
        total = self._next_frame
        if self.end is not None:
            total = max(total, self.end.frames_recorded)
        return total

    def missing_blocks(self) -> list[tuple[int, int]]:
        """(first block, block count) ranges the recording lacks, in order."""
        block = self.session.block_size
        have = np.zeros(self.total_frames() // block, bool)
        for first in self._blocks:
            if first // block < have.size:
                have[first // block] = True
        edges = np.flatnonzero(np.diff(np.concatenate([[1], have.astype(np.int8), [1]])))
        return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]

    def recording(self, max_frames: int | None) -> tuple[np.ndarray, list[list[int]]]:
        """(frames, audio + controls) float32 samples with the controls held for each block,
        and the gaps as [first_frame, frames]. Missing frames are silence."""
        session = self.session
        block, audio = session.block_size, len(session.audio_channels)
        total = self.total_frames()
        if max_frames is not None:
            total = min(total, max_frames)
        samples = np.zeros((total, audio + len(session.control_channels)), np.float32)
        covered = np.zeros(total, bool)
        firsts = sorted(first for first in self._blocks if first < total)
        if firsts:
            payloads = np.frombuffer(b"".join(self._blocks[f] for f in firsts), np.uint8)
            payloads = payloads.reshape(len(firsts), -1)
            audio_bytes = block * audio * session.sample_format.bytes
            audio_end = DATA_FIXED.size + audio_bytes
            values = unpack_samples(
                np.ascontiguousarray(payloads[:, DATA_FIXED.size : audio_end]),
                session.sample_format).reshape(len(firsts), block, audio)
            controls = np.ascontiguousarray(payloads[:, audio_end:]).view("<f4")
            for index, first in enumerate(firsts):
                stop = min(first + block, total)
                samples[first:stop, :audio] = values[index, : stop - first]
                samples[first:stop, audio:] = controls[index]
                covered[first:stop] = True
        edges = np.flatnonzero(np.diff(np.concatenate([[1], covered.astype(np.int8), [1]])))
        gaps = [[int(start), int(stop - start)] for start, stop in zip(edges[::2], edges[1::2],
                                                                        strict=True)]
        return samples, gaps
