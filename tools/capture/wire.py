"""Host side of the daisynet wire protocol (specification: firmware/core/WIRE_PROTOCOL.md).

The datalogger sends frames of header + payload + CRC-32, each COBS-encoded and followed by a
0x00 delimiter. ``FrameDecoder`` takes the byte stream in chunks of any size, resynchronises at
every delimiter, and returns the frames that pass every check. Everything else is counted with
its stream position (bytes of garbage, CRC failures, malformed and foreign frames, sequence
gaps). It never raises on input bytes, and its work and memory per byte are bounded.

The host sends commands (HELLO, CONFIGURE, START, STOP, RESEND) in the same framing; the
device answers each with a REPLY. DATA carries audio as packed s24, s16 or float32 samples:
``quantize`` is the device's float -> integer rule, ``unpack_samples`` the exact way back.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from cobs import cobs

MAGIC = 0x4E44  # bytes "DN"
PROTOCOL_VERSION = 2


class Layout:
    """A fixed little-endian payload layout: named fields in wire order, each a struct code.
    wire_protocol.h's ``*_layout`` tables are the other side; tests/tools/capture/test_layouts.py
    pins every name, offset and size here to them."""

    def __init__(self, *fields: tuple[str, str]) -> None:
        self.names = tuple(name for name, _ in fields)
        self.codes = tuple(code for _, code in fields)
        self._struct = struct.Struct("<" + "".join(self.codes))
        self.size = self._struct.size

    def pack(self, *values) -> bytes:
        return self._struct.pack(*values)

    def unpack(self, data: bytes) -> tuple:
        return self._struct.unpack(data)

    def unpack_from(self, data: bytes, offset: int = 0) -> tuple:
        return self._struct.unpack_from(data, offset)

    def fields(self) -> list[tuple[str, int, int]]:
        """(name, offset, size) of every field."""
        offset, fields = 0, []
        for name, code in zip(self.names, self.codes, strict=True):
            size = struct.calcsize("<" + code)
            fields.append((name, offset, size))
            offset += size
        return fields


HEADER = Layout(("magic", "H"), ("version", "B"), ("type", "B"), ("sequence", "I"))
CRC_BYTES = 4
MAX_PAYLOAD_BYTES = 4096
MAX_FRAME_BYTES = HEADER.size + MAX_PAYLOAD_BYTES + CRC_BYTES
# COBS adds a code byte per 254 bytes plus one; a longer run without a delimiter is garbage.
MAX_ENCODED_FRAME_BYTES = MAX_FRAME_BYTES + MAX_FRAME_BYTES // 254 + 1
SEQUENCE_MODULUS = 2**32
# STATUS and END payloads; code is the RecorderState (STATUS) or EndReason (END).
COUNTERS = Layout(("code", "B"), ("session_id", "I"), ("frames_recorded", "Q"),
                  ("frames_sent", "Q"), ("overrun_blocks", "I"), ("buffered_blocks", "I"))
# SESSION's fixed part; the firmware version and channel names follow as texts.
SESSION_FIXED = Layout(("session_id", "I"), ("sample_rate", "I"), ("block_size", "H"),
                       ("mode", "B"), ("sample_format", "B"), ("scale", "f"),
                       ("channel_mask", "B"), ("audio_channels", "B"),
                       ("control_channels", "B"), ("max_frames", "Q"))
# HELLO's REPLY body: what the device offers, then its state and current configuration; the
# firmware version and channel names follow as texts.
CAPABILITIES_FIXED = Layout(("sample_rate", "I"), ("block_size", "H"), ("audio_channels", "B"),
                            ("control_channels", "B"), ("formats", "B"), ("store_bytes", "Q"),
                            ("state", "B"), ("mode", "B"), ("sample_format", "B"),
                            ("channel_mask", "B"), ("max_frames", "Q"))
# REPLY's fixed part; the message and (HELLO) the capabilities body follow.
REPLY_FIXED = Layout(("command", "B"), ("command_sequence", "I"), ("code", "B"),
                     ("message_length", "B"))
CONFIGURE = Layout(("mode", "B"), ("sample_format", "B"), ("channel_mask", "B"),
                   ("max_frames", "Q"))
# DATA's fixed part; the block's audio (frame-major) and its float32 controls follow.
DATA_FIXED = Layout(("first_frame", "Q"))
CONTROL_BYTES = 4  # controls travel as float32 whatever the audio's sample format
# RESEND's fixed part; range_count RESEND_RANGEs follow.
RESEND_FIXED = Layout(("session_id", "I"), ("range_count", "B"))
RESEND_RANGE = Layout(("first_block", "I"), ("block_count", "I"))
MAX_RESEND_RANGES = 32
# The device counts recorded blocks in a u32 (recorder.h; a longer max_frames means no limit at
# all there) and RESEND names blocks in a u32: the longest recording, in blocks.
MAX_RECORDED_BLOCKS = 2**32 - 1
# The device's channels as the channel mask names them: bit i audio_in_{i+1}, bit 4+i knob_{i+1}.
MASK_CHANNELS = [f"audio_in_{n}" for n in range(1, 5)] + [f"knob_{n}" for n in range(1, 5)]


def encoded_size(decoded_bytes: int) -> int:
    """Most bytes a frame of ``decoded_bytes`` (header + payload + CRC) takes on the wire,
    COBS and delimiter included (wire_protocol.h MaxEncodedBytes)."""
    return decoded_bytes + decoded_bytes // 254 + 2


class FrameType(IntEnum):
    """Device to host."""

    SESSION = 1
    DATA = 2
    STATUS = 3
    END = 4
    REPLY = 5


class CommandType(IntEnum):
    """Host to device."""

    HELLO = 16
    CONFIGURE = 17
    START = 18
    STOP = 19
    RESEND = 20


class ReplyCode(IntEnum):
    OK = 0
    BAD_FRAME = 1
    UNKNOWN_COMMAND = 2
    BAD_ARGUMENTS = 3
    BUSY = 4


class RecorderState(IntEnum):
    IDLE = 0
    RECORDING = 1
    DRAINING = 2  # live: sending what is buffered
    TRANSFERRING = 3  # record: sending the store (or RESEND ranges)


class EndReason(IntEnum):
    STOPPED = 1  # the encoder was pressed again
    DURATION_REACHED = 2
    INPUT_ENDED = 3  # emulated device: its input ran out
    HOST_STOPPED = 4  # a STOP command
    STORE_FULL = 5  # record mode: the SDRAM store is full
    RESEND_DONE = 6  # every block a RESEND asked for has been sent


class Mode(IntEnum):
    LIVE = 1
    RECORD = 2


class SampleFormat(IntEnum):
    S24 = 1
    S16 = 2
    F32 = 3

    @property
    def bytes(self) -> int:
        return {1: 3, 2: 2, 3: 4}[self.value]

    @property
    def scale(self) -> float:
        """value = integer * scale (wire_protocol.h ScaleExponent): full scale +-2.0."""
        return {1: 2.0**-22, 2: 2.0**-14, 3: 1.0}[self.value]


def quantize(values: np.ndarray, sample_format: SampleFormat) -> np.ndarray:
    """The device's float -> integer rule (wire_protocol.h QuantizeSample), as int32: scale by
    a power of two, NaN -> 0, saturate to the format's range, round to nearest, ties to even."""
    bits = 24 if sample_format == SampleFormat.S24 else 16
    highest, lowest = 2 ** (bits - 1) - 1, -(2 ** (bits - 1))
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.asarray(values, np.float32) * np.float32(1 / sample_format.scale)
    scaled = np.where(np.isnan(scaled), np.float32(0), scaled)
    return np.rint(np.clip(scaled, lowest, highest)).astype(np.int32)


def pack_samples(values: np.ndarray, sample_format: SampleFormat) -> bytes:
    """Samples as DATA carries them: quantized little-endian integers, or float32 as they are."""
    if sample_format == SampleFormat.F32:
        return np.asarray(values, "<f4").tobytes()
    integers = quantize(values, sample_format).astype("<i4").reshape(-1, 1).view(np.uint8)
    return integers[:, : sample_format.bytes].tobytes()


def unpack_samples(data: bytes | np.ndarray, sample_format: SampleFormat) -> np.ndarray:
    """float32 samples of packed ``data`` (integer * scale, exact in float32)."""
    raw = np.frombuffer(data, np.uint8) if isinstance(data, bytes | bytearray) else data
    if sample_format == SampleFormat.F32:
        return np.ascontiguousarray(raw).view("<f4")
    width = sample_format.bytes
    pieces = raw.reshape(-1, width).astype(np.int32)
    integers = sum(pieces[:, i] << (8 * i) for i in range(width))
    sign = 1 << (8 * width - 1)
    integers = (integers ^ sign) - sign  # sign-extend
    return (integers * sample_format.scale).astype(np.float32)


def channel_mask(names: list[str]) -> int:
    """The CONFIGURE channel mask of device channel ``names``."""
    return sum(1 << MASK_CHANNELS.index(name) for name in names)


def data_payload_bytes(block_size: int, audio_channels: int, sample_format: SampleFormat,
                       control_channels: int) -> int:
    """Bytes of one DATA payload (and of one block in the device's record store)."""
    return (DATA_FIXED.size + block_size * audio_channels * sample_format.bytes
            + CONTROL_BYTES * control_channels)


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
    first_sequence: int | None = None  # of the first frame received
    last_sequence: int | None = None  # of the last frame received

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
            "first_sequence": self.first_sequence,
            "last_sequence": self.last_sequence,
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
        else:
            self.stats.first_sequence = frame.sequence
        self._last_sequence = self.stats.last_sequence = frame.sequence


# --- payloads --------------------------------------------------------------------------------


def _texts(payload: bytes, position: int, count: int, what: str) -> tuple[list[str], int]:
    """``count`` length-prefixed UTF-8 texts from ``position``; (texts, position after)."""
    texts = []
    for _ in range(count):
        if position >= len(payload) or position + 1 + payload[position] > len(payload):
            raise WireError(f"{what} payload ends inside its texts")
        length = payload[position]
        texts.append(payload[position + 1 : position + 1 + length].decode("utf-8", "replace"))
        position += 1 + length
    return texts, position


def _text_bytes(texts: list[str]) -> bytes:
    return b"".join(bytes([len(t.encode())]) + t.encode() for t in texts)


@dataclass(frozen=True)
class Session:
    session_id: int
    sample_rate: int
    block_size: int
    firmware_version: str
    audio_channels: list[str]  # sampled every frame, in DATA order
    control_channels: list[str]  # read once per block
    mode: Mode = Mode.LIVE
    sample_format: SampleFormat = SampleFormat.F32
    channel_mask: int = 0xFF
    max_frames: int = 0  # 0: until stopped

    @property
    def scale(self) -> float:
        return self.sample_format.scale

    @property
    def data_payload_bytes(self) -> int:
        return data_payload_bytes(self.block_size, len(self.audio_channels),
                                  self.sample_format, len(self.control_channels))

    def to_json(self) -> dict:
        return {"session_id": self.session_id, "sample_rate": self.sample_rate,
                "block_size": self.block_size, "firmware_version": self.firmware_version,
                "mode": self.mode.name.lower(), "format": self.sample_format.name.lower(),
                "sample_scale": self.scale, "channel_mask": self.channel_mask,
                "max_frames": self.max_frames,
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


@dataclass(frozen=True)
class Capabilities:
    """The body of HELLO's REPLY: what the device offers and what it is doing."""

    sample_rate: int
    block_size: int
    formats: list[SampleFormat]
    store_bytes: int  # the record store (SDRAM): bounds the longest record-mode take
    state: int  # RecorderState
    mode: int  # the current configuration
    sample_format: int
    channel_mask: int
    max_frames: int
    firmware_version: str
    audio_channels: list[str]
    control_channels: list[str]

    @property
    def channels(self) -> list[str]:
        return [*self.audio_channels, *self.control_channels]


@dataclass(frozen=True)
class Reply:
    command: int  # CommandType of the command answered (0: a frame too damaged to tell)
    command_sequence: int
    code: int  # ReplyCode
    message: str
    body: bytes


def parse_session(payload: bytes) -> Session:
    if len(payload) < SESSION_FIXED.size:
        raise WireError(f"SESSION payload of {len(payload)} bytes is too short")
    (session_id, rate, block, mode, sample_format, scale, mask, audio, controls,
     max_frames) = SESSION_FIXED.unpack_from(payload)
    texts, position = _texts(payload, SESSION_FIXED.size, 1 + audio + controls, "SESSION")
    if position != len(payload) or rate == 0 or block == 0:
        raise WireError("SESSION payload has trailing bytes or a zero rate/block size")
    if mode not in Mode._value2member_map_ or sample_format not in (
            SampleFormat._value2member_map_):
        raise WireError(f"SESSION has unknown mode {mode} or sample format {sample_format}")
    sample_format = SampleFormat(sample_format)
    if scale != np.float32(sample_format.scale):
        raise WireError(f"SESSION scale {scale} is not {sample_format.name}'s")
    return Session(session_id, rate, block, texts[0], texts[1 : 1 + audio], texts[1 + audio :],
                   Mode(mode), sample_format, mask, max_frames)


def parse_counters(payload: bytes) -> Counters:
    if len(payload) != COUNTERS.size:
        raise WireError(f"STATUS/END payload is {len(payload)} bytes, expected {COUNTERS.size}")
    return Counters(*COUNTERS.unpack(payload))


def parse_reply(payload: bytes) -> Reply:
    if len(payload) >= REPLY_FIXED.size:
        command, sequence, code, length = REPLY_FIXED.unpack_from(payload)
        end = REPLY_FIXED.size + length
        if len(payload) >= end:
            message = payload[REPLY_FIXED.size : end].decode("utf-8", "replace")
            return Reply(command, sequence, code, message, payload[end:])
    raise WireError(f"REPLY payload of {len(payload)} bytes is too short")


def parse_capabilities(body: bytes) -> Capabilities:
    if len(body) < CAPABILITIES_FIXED.size:
        raise WireError(f"HELLO reply body of {len(body)} bytes is too short")
    (rate, block, audio, controls, formats, store, state, mode, sample_format, mask,
     max_frames) = CAPABILITIES_FIXED.unpack_from(body)
    texts, position = _texts(body, CAPABILITIES_FIXED.size, 1 + audio + controls, "HELLO reply")
    if position != len(body) or rate == 0 or block == 0:
        raise WireError("HELLO reply has trailing bytes or a zero rate/block size")
    return Capabilities(rate, block, [f for f in SampleFormat if formats & (1 << (f - 1))], store,
                        state, mode, sample_format, mask, max_frames, texts[0],
                        texts[1 : 1 + audio], texts[1 + audio :])


def parse_data(payload: bytes, session: Session) -> tuple[int, np.ndarray, np.ndarray]:
    """(first frame index, (block, audio) float32 samples, (controls,) values) of a DATA
    payload."""
    if len(payload) != session.data_payload_bytes:
        raise WireError(f"DATA payload is {len(payload)} bytes; the session needs "
                        f"{session.data_payload_bytes}")
    (first_frame,) = DATA_FIXED.unpack_from(payload)
    audio_bytes = session.block_size * len(session.audio_channels) * session.sample_format.bytes
    audio_end = DATA_FIXED.size + audio_bytes
    audio = unpack_samples(payload[DATA_FIXED.size : audio_end], session.sample_format)
    controls = np.frombuffer(payload, "<f4", offset=audio_end)
    return first_frame, audio.reshape(session.block_size, len(session.audio_channels)), controls


def encode_frame(frame_type: int, sequence: int, payload: bytes,
                 version: int = PROTOCOL_VERSION, magic: int = MAGIC) -> bytes:
    """One encoded frame with its delimiter, as firmware/core/wire_protocol.h writes it. Host
    commands go out this way; ``version`` and ``magic`` let tests forge foreign frames."""
    body = HEADER.pack(magic, version, frame_type, sequence % SEQUENCE_MODULUS) + payload
    return cobs.encode(body + zlib.crc32(body).to_bytes(CRC_BYTES, "little")) + b"\x00"


def session_payload(session: Session) -> bytes:
    """The SESSION payload the firmware would send for ``session``."""
    fixed = SESSION_FIXED.pack(session.session_id, session.sample_rate, session.block_size,
                               session.mode, session.sample_format, session.scale,
                               session.channel_mask, len(session.audio_channels),
                               len(session.control_channels), session.max_frames)
    return fixed + _text_bytes([session.firmware_version, *session.audio_channels,
                                *session.control_channels])


def data_payload(session: Session, first_frame: int, audio: np.ndarray,
                 controls: np.ndarray) -> bytes:
    """The DATA payload the firmware would send for (block, audio) samples and the controls."""
    return (DATA_FIXED.pack(first_frame) + pack_samples(audio, session.sample_format)
            + np.asarray(controls, "<f4").tobytes())


def configure_payload(mode: Mode, sample_format: SampleFormat, mask: int,
                      max_frames: int) -> bytes:
    return CONFIGURE.pack(mode, sample_format, mask, max_frames)


def resend_payload(session_id: int, ranges: list[tuple[int, int]]) -> bytes:
    """RESEND of (first block, block count) ranges, at most MAX_RESEND_RANGES."""
    if not 0 < len(ranges) <= MAX_RESEND_RANGES:
        raise ValueError(f"RESEND takes 1..{MAX_RESEND_RANGES} ranges, got {len(ranges)}")
    return (RESEND_FIXED.pack(session_id, len(ranges))
            + b"".join(RESEND_RANGE.pack(first, count) for first, count in ranges))
