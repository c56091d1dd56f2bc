"""Host side of the daisynet wire protocol (specification: firmware/core/WIRE_PROTOCOL.md).

The datalogger sends frames of header + payload + CRC-32, each COBS-encoded and followed by a
0x00 delimiter. ``FrameDecoder`` takes the byte stream in chunks of any size, resynchronises at
every delimiter, and returns the frames that pass every check. Everything else is counted with
its stream position (bytes of garbage, CRC failures, malformed and foreign frames, sequence
gaps). It never raises on input bytes, and its work and memory per byte are bounded.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from cobs import cobs

MAGIC = 0x4E44  # bytes "DN"
PROTOCOL_VERSION = 1
HEADER = struct.Struct("<HBBI")  # magic, version, type, sequence
CRC_BYTES = 4
MAX_PAYLOAD_BYTES = 4096
MAX_FRAME_BYTES = HEADER.size + MAX_PAYLOAD_BYTES + CRC_BYTES
# COBS adds a code byte per 254 bytes plus one; a longer run without a delimiter is garbage.
MAX_ENCODED_FRAME_BYTES = MAX_FRAME_BYTES + MAX_FRAME_BYTES // 254 + 1
SEQUENCE_MODULUS = 2**32
COUNTERS = struct.Struct("<BIQQII")  # STATUS and END payloads
SESSION_FIXED = struct.Struct("<IIHBB")  # session id, sample rate, block size, channel counts


class FrameType(IntEnum):
    SESSION = 1
    DATA = 2
    STATUS = 3
    END = 4


class RecorderState(IntEnum):
    IDLE = 0
    RECORDING = 1
    DRAINING = 2


class EndReason(IntEnum):
    STOPPED = 1  # the encoder was pressed again
    DURATION_REACHED = 2
    INPUT_ENDED = 3  # emulated device: its input ran out


class WireError(ValueError):
    """A frame passed its CRC but its payload does not fit the protocol."""


@dataclass(frozen=True)
class Frame:
    type: int
    sequence: int
    payload: bytes
    offset: int  # stream position of the frame's first byte


@dataclass(frozen=True)
class SequenceGap:
    after_sequence: int  # last frame received before the gap
    missing_frames: int
    offset: int  # stream position of the first frame after the gap

    def to_json(self) -> dict:
        return {"after_sequence": self.after_sequence, "missing_frames": self.missing_frames,
                "byte_offset": self.offset}


@dataclass
class DecoderStats:
    bytes_received: int = 0
    frames: int = 0
    garbage_bytes: int = 0  # bytes (delimiters included) that gave no frame
    crc_failures: int = 0
    malformed_frames: int = 0  # not COBS, too short or too long
    foreign_frames: int = 0  # a valid CRC but not daisynet's magic
    unknown_types: int = 0
    other_versions: set[int] = field(default_factory=set)
    sequence_gaps: list[SequenceGap] = field(default_factory=list)
    sequence_restarts: list[int] = field(default_factory=list)  # offsets where it went back

    @property
    def frames_lost(self) -> int:
        return sum(gap.missing_frames for gap in self.sequence_gaps)

    def to_json(self) -> dict:
        return {
            "bytes_received": self.bytes_received,
            "frames_received": self.frames,
            "garbage_bytes": self.garbage_bytes,
            "crc_failures": self.crc_failures,
            "malformed_frames": self.malformed_frames,
            "foreign_frames": self.foreign_frames,
            "unknown_frame_types": self.unknown_types,
            "other_protocol_versions": sorted(self.other_versions),
            "frames_lost": self.frames_lost,
            "sequence_gaps": [gap.to_json() for gap in self.sequence_gaps],
            "sequence_restarts": self.sequence_restarts,
        }


class FrameDecoder:
    """Streaming decoder: ``feed(bytes)`` returns the complete, valid frames in them."""

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._pending = bytearray()
        self._pending_offset = 0  # stream position of _pending's first byte
        self._overlong = False  # discarding a run longer than any frame until the next 0x00
        self._last_sequence: int | None = None
        # Bytes before the first delimiter may be the tail of a frame sent before we listened:
        # garbage, but not a CRC failure or malformed frame.
        self._synced = False

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        view = memoryview(data)
        position = 0
        while position < len(view):
            delimiter = data.find(b"\x00", position)
            end = len(view) if delimiter < 0 else delimiter
            if self._overlong:
                self.stats.garbage_bytes += end - position
            else:
                self._pending += view[position:end]
                if len(self._pending) > MAX_ENCODED_FRAME_BYTES:
                    self.stats.garbage_bytes += len(self._pending)
                    self.stats.malformed_frames += 1
                    self._pending.clear()
                    self._overlong = True
            if delimiter < 0:
                break
            self._end_chunk(frames, self.stats.bytes_received + delimiter)
            position = delimiter + 1
        self.stats.bytes_received += len(view)
        return frames

    def _end_chunk(self, frames: list[Frame], delimiter_offset: int) -> None:
        """A delimiter at ``delimiter_offset`` ends the pending bytes: decode them."""
        chunk, start = bytes(self._pending), self._pending_offset
        self._pending.clear()
        self._pending_offset = delimiter_offset + 1
        if self._overlong:
            self._overlong = False
            self.stats.garbage_bytes += 1
            return
        if not chunk:
            return  # back-to-back delimiters carry nothing
        frame = self._check(chunk, start, count_errors=self._synced)
        self._synced = True
        if frame is None:
            self.stats.garbage_bytes += len(chunk) + 1
            return
        self._track_sequence(frame)
        self.stats.frames += 1
        frames.append(frame)

    def _check(self, chunk: bytes, offset: int, count_errors: bool) -> Frame | None:
        try:
            decoded = cobs.decode(chunk)
        except cobs.DecodeError:
            self.stats.malformed_frames += count_errors
            return None
        if len(decoded) < HEADER.size + CRC_BYTES or len(decoded) > MAX_FRAME_BYTES:
            self.stats.malformed_frames += count_errors
            return None
        body, crc = decoded[:-CRC_BYTES], int.from_bytes(decoded[-CRC_BYTES:], "little")
        if zlib.crc32(body) != crc:
            self.stats.crc_failures += count_errors
            return None
        magic, version, frame_type, sequence = HEADER.unpack_from(body)
        if magic != MAGIC:
            self.stats.foreign_frames += 1
            return None
        if version != PROTOCOL_VERSION:
            self.stats.other_versions.add(version)
            return None
        if frame_type not in FrameType._value2member_map_:
            self.stats.unknown_types += 1
            return None
        return Frame(frame_type, sequence, body[HEADER.size :], offset)

    def _track_sequence(self, frame: Frame) -> None:
        if self._last_sequence is not None:
            missing = (frame.sequence - self._last_sequence - 1) % SEQUENCE_MODULUS
            if missing >= SEQUENCE_MODULUS // 2:
                self.stats.sequence_restarts.append(frame.offset)  # device restarted
            elif missing:
                self.stats.sequence_gaps.append(
                    SequenceGap(self._last_sequence, missing, frame.offset)
                )
        self._last_sequence = frame.sequence


# --- payloads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    session_id: int
    sample_rate: int
    block_size: int
    firmware_version: str
    audio_channels: list[str]  # sampled every frame
    control_channels: list[str]  # read once per block

    @property
    def data_payload_bytes(self) -> int:
        return 8 + 4 * (self.block_size * len(self.audio_channels) + len(self.control_channels))

    def to_json(self) -> dict:
        return {"session_id": self.session_id, "sample_rate": self.sample_rate,
                "block_size": self.block_size, "firmware_version": self.firmware_version,
                "audio_channels": self.audio_channels, "control_channels": self.control_channels}


@dataclass(frozen=True)
class Counters:
    """STATUS and END payloads: the device's view of the session."""

    code: int  # RecorderState for STATUS, EndReason for END
    session_id: int
    frames_recorded: int
    frames_sent: int
    overrun_blocks: int
    buffered_blocks: int


def parse_session(payload: bytes) -> Session:
    if len(payload) < SESSION_FIXED.size:
        raise WireError(f"SESSION payload of {len(payload)} bytes is too short")
    session_id, rate, block, audio, controls = SESSION_FIXED.unpack_from(payload)
    texts = []
    position = SESSION_FIXED.size
    for _ in range(1 + audio + controls):
        if position >= len(payload) or position + 1 + payload[position] > len(payload):
            raise WireError("SESSION payload ends inside its channel names")
        length = payload[position]
        texts.append(payload[position + 1 : position + 1 + length].decode("utf-8", "replace"))
        position += 1 + length
    if position != len(payload) or rate == 0 or block == 0:
        raise WireError("SESSION payload has trailing bytes or a zero rate/block size")
    return Session(session_id, rate, block, texts[0], texts[1 : 1 + audio], texts[1 + audio :])


def parse_counters(payload: bytes) -> Counters:
    if len(payload) != COUNTERS.size:
        raise WireError(f"STATUS/END payload is {len(payload)} bytes, expected {COUNTERS.size}")
    return Counters(*COUNTERS.unpack(payload))


def parse_data(payload: bytes, session: Session) -> tuple[int, np.ndarray, np.ndarray]:
    """(first frame index, (block, audio) samples, (controls,) values) of a DATA payload."""
    if len(payload) != session.data_payload_bytes:
        raise WireError(f"DATA payload is {len(payload)} bytes; the session needs "
                        f"{session.data_payload_bytes}")
    first_frame = int.from_bytes(payload[:8], "little")
    values = np.frombuffer(payload, "<f4", offset=8)
    audio_count = session.block_size * len(session.audio_channels)
    audio = values[:audio_count].reshape(session.block_size, len(session.audio_channels))
    return first_frame, audio, values[audio_count:]


def encode_frame(frame_type: int, sequence: int, payload: bytes,
                 version: int = PROTOCOL_VERSION, magic: int = MAGIC) -> bytes:
    """One encoded frame with its delimiter, as firmware/core/wire_protocol.h writes it.
    Tests and the fuzzer use it; ``version`` and ``magic`` let them forge foreign frames."""
    body = HEADER.pack(magic, version, frame_type, sequence % SEQUENCE_MODULUS) + payload
    return cobs.encode(body + zlib.crc32(body).to_bytes(CRC_BYTES, "little")) + b"\x00"


def session_payload(session: Session) -> bytes:
    """The SESSION payload the firmware would send for ``session``."""
    fixed = SESSION_FIXED.pack(session.session_id, session.sample_rate, session.block_size,
                               len(session.audio_channels), len(session.control_channels))
    texts = [session.firmware_version, *session.audio_channels, *session.control_channels]
    return fixed + b"".join(bytes([len(t.encode())]) + t.encode() for t in texts)
