"""``daisynet capture``: record a dataset from the datalogger firmware over USB serial.

``capture`` finds the port, asks the Daisy what it offers (HELLO), checks the link budget of
the requested channels and sample format, configures the recording (CONFIGURE) and starts it
(START, or the encoder), decodes the stream (tools/wire.py), and writes the dataset
(tools/dataset.py) plus NAME.capture.json, the capture log: what arrived, what was lost and
where. Ctrl-C, an unplugged cable or a device that goes silent end the capture with everything
received so far saved.

Live mode streams while recording; it is refused when the configuration needs more than
LIVE_MARGIN of the link. Record mode records into the Daisy's SDRAM first and transfers after,
at whatever rate the link gives; blocks lost on the way are asked for again (RESEND), so a
record-mode capture over a faulty link ends bit-exact. ``mode="auto"`` picks live when it fits.

Gaps (frames lost on the wire and not resent, or dropped by the device when USB could not keep
up) are never glued together: the WAV keeps real time with silence in the gap and the sidecar
lists each gap as ``source.gaps = [[first_frame, frames], ...]``, which training skips; or, with
``on_gap="fail"``, the capture stops with an error at the first gap.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import serial
from serial.tools import list_ports
from tqdm import tqdm

from daisynet.host_sim.files import OutputPathError, check_output_file
from daisynet.tools.wire import (
    COUNTERS,
    HEADER,
    MAX_RESEND_RANGES,
    PROTOCOL_VERSION,
    SESSION_FIXED,
    Capabilities,
    CommandType,
    Counters,
    EndReason,
    Frame,
    FrameDecoder,
    FrameType,
    Mode,
    RecorderState,
    Reply,
    ReplyCode,
    SampleFormat,
    Session,
    WireError,
    channel_mask,
    configure_payload,
    encode_frame,
    encoded_size,
    parse_capabilities,
    parse_counters,
    parse_data,
    parse_reply,
    parse_session,
    resend_payload,
    unpack_samples,
)
from daisynet.training.dataset import Dataset, dataset_paths

USB_VID = 0x0483  # STMicroelectronics: the STM32duino USB CDC device the Daisy enumerates as
USB_PID = 0x5740
PRODUCT_HINT = "daisy"  # ST's VID:PID is generic; the product string tells the Daisy apart
READ_CHUNK = 65536  # bytes per read
POLL_SECONDS = 0.05  # longest a read waits, so Ctrl-C, timeouts and progress stay responsive
PLAIN_PROGRESS_SECONDS = 5.0  # between progress lines when stderr is not a terminal
PROGRESS_SECONDS = 0.2  # between progress bar updates
# USB full-speed bulk carries at most 19 x 64 bytes per 1 ms frame in theory; CDC on the
# Daisy is planned at 1 MB/s, in 64-byte packets, one 1 ms USB frame at a time.
LINK_RATE = 1_000_000  # bytes/s
PACKET_BYTES = 64
USB_FRAMES_PER_SECOND = 1000
# Live capture must leave this share of the link free (host scheduling, other USB traffic).
LIVE_MARGIN = 0.80
COMMAND_TIMEOUT = 0.5  # seconds to wait for a REPLY before sending the command again
COMMAND_ATTEMPTS = 4
RESEND_ROUNDS = 8  # record mode: RESEND rounds before gaps stay gaps
HEARTBEATS_PER_SECOND = 2  # STATUS + SESSION every 0.5 s
FLASH_HINT = "flash the matching firmware with `daisynet flash datalogger`"


# Seconds without a byte before a capture stops and saves. The device buffers USB stalls far
# longer (its 60 MiB store holds over 100 s of live audio), and an unplugged cable ends the
# capture at once anyway, so only a device that has really stopped talking waits this long.
DEFAULT_SILENCE_TIMEOUT = 30.0


class CaptureError(Exception):
    """The capture cannot start or must stop; the message says why in one line."""


class GapError(CaptureError):
    """A gap appeared and the user asked to fail on gaps."""


@dataclass
class CaptureResult:
    dataset_path: Path | None
    log_path: Path
    log: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LinkBudget:
    """What a configuration needs from the link, and whether it can stream live."""

    mode: str  # "live" or "record": what the capture will do
    sample_format: str
    audio_channels: list[str]
    control_channels: list[str]
    data_frame_bytes: int  # one DATA frame on the wire, COBS and delimiter included
    bytes_per_second: int  # needed, framing and heartbeats included
    link_bytes_per_second: int  # link time used: whole 64-byte packets per 1 ms block
    link_rate: int
    longest_take_seconds: float  # record mode: what the store holds
    explanation: str  # why this mode, in a sentence

    @property
    def share(self) -> float:
        return self.link_bytes_per_second / self.link_rate

    def describe(self) -> list[str]:
        audio = len(self.audio_channels)
        controls = len(self.control_channels)
        packets = self.link_bytes_per_second // (PACKET_BYTES * USB_FRAMES_PER_SECOND)
        return [
            f"link budget: {audio} audio ({self.sample_format}) + {controls} controls (float32):"
            f" {self.bytes_per_second:,} B/s with framing, {packets} packets of "
            f"{PACKET_BYTES} B per 1 ms block = {self.share:.0%} of the {self.link_rate:,} B/s "
            f"link (live limit {LIVE_MARGIN:.0%})",
            f"mode: {self.mode}: {self.explanation}",
        ]


def plan_link(capabilities: Capabilities, channels: list[str], sample_format: SampleFormat,
              mode: str, link_rate: int = LINK_RATE, duration: float | None = None) -> LinkBudget:
    """The budget of recording ``channels`` in ``sample_format`` over a ``link_rate`` link,
    and the mode to use: ``mode`` "live" or "record", or "auto" (live if it fits). Raises
    CaptureError for a live request over LIVE_MARGIN and for a take longer than the store."""
    unknown = [name for name in channels if name not in capabilities.channels]
    if unknown or not channels:
        raise CaptureError(f"unknown channel(s) {', '.join(unknown) or '(none)'}; the device has:"
                           f" {', '.join(capabilities.channels)}")
    if sample_format not in capabilities.formats:
        raise CaptureError(f"the device does not offer sample format {sample_format.name.lower()}")
    audio = [name for name in capabilities.audio_channels if name in channels]
    controls = [name for name in capabilities.control_channels if name in channels]
    block, rate = capabilities.block_size, capabilities.sample_rate
    payload = 8 + block * len(audio) * sample_format.bytes + 4 * len(controls)
    frame = encoded_size(HEADER.size + payload + 4)
    blocks_per_second = rate / block
    names = sum(1 + len(name.encode()) for name in [capabilities.firmware_version, *channels])
    heartbeat = (encoded_size(HEADER.size + COUNTERS.size + 4)
                 + encoded_size(HEADER.size + SESSION_FIXED.size + names + 4))
    needed = math.ceil(frame * blocks_per_second + heartbeat * HEARTBEATS_PER_SECOND)
    # The queue drains every block, so each block ends in a short packet that still takes a
    # whole 64-byte slot; a heartbeat adds at most one more packet.
    link_used = math.ceil((math.ceil(frame / PACKET_BYTES) * blocks_per_second
                           + 2 * HEARTBEATS_PER_SECOND) * PACKET_BYTES)
    # The store holds whole DATA payloads, one per block.
    longest = capabilities.store_bytes // payload * block / rate
    share = link_used / link_rate
    if mode == "live" and share > LIVE_MARGIN:
        raise CaptureError(
            f"cannot stream this live: it needs {share:.0%} of the {link_rate:,} B/s link "
            f"(limit {LIVE_MARGIN:.0%}); use --mode record (longest take {longest:.1f} s), "
            "fewer channels or --format s24/s16")
    if mode == "auto":
        mode = "live" if share <= LIVE_MARGIN else "record"
        why = ("fits the link, streaming while recording" if mode == "live" else
               f"too much to stream live, recording into the Daisy's SDRAM first and "
               f"transferring after (longest take {longest:.1f} s)")
    elif mode == "live":
        why = "streaming while recording"
    else:
        why = f"recording into the Daisy's SDRAM first, transferring after (longest take " \
              f"{longest:.1f} s)"
    if mode == "record" and duration is not None and duration > longest:
        raise CaptureError(f"--duration {duration:g} s is longer than the Daisy's store holds "
                           f"in record mode with these channels: at most {longest:.1f} s")
    return LinkBudget(mode, sample_format.name.lower(), audio, controls, frame, needed,
                      link_used, link_rate, longest, why)


def find_port(port: str | None, app: str = "datalogger") -> str:
    """The serial port of the Daisy running ``app`` (datalogger or inference): ``port`` if
    given, else the one USB device that matches. The apps' product strings are "Daisy
    daisynet <app>"; when several Daisies are plugged in, the one running ``app`` wins."""
    if port:
        return port
    ports = list_ports.comports()
    st_ports = [p for p in ports if p.vid == USB_VID and p.pid == USB_PID]
    daisies = [p for p in st_ports if PRODUCT_HINT in (p.product or "").lower()]
    running_app = [p for p in daisies if app in (p.product or "").lower()]
    if len(daisies) > 1 and len(running_app) == 1:
        return running_app[0].device

    def listing(candidates) -> str:
        return "; ".join(f"{p.device} ({p.product or 'no product string'}"
                         f"{', serial ' + p.serial_number if p.serial_number else ''})"
                         for p in candidates)

    if len(daisies) == 1:
        return daisies[0].device
    if len(daisies) > 1:
        raise CaptureError(f"several Daisies found, choose one with --port: {listing(daisies)}")
    if st_ports:
        raise CaptureError(
            f"no port says it is a Daisy, but these ST virtual COM ports (USB "
            f"{USB_VID:04x}:{USB_PID:04x}) might be: {listing(st_ports)}; choose with --port"
        )
    raise CaptureError(
        f"no Daisy found (looked for USB {USB_VID:04x}:{USB_PID:04x} with a product string "
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

    def check_missing(self) -> None:
        """Record mode, after the resends: GapError for the first gap left, with --on-gap fail."""
        missing = self.missing_blocks()
        if missing and self.on_gap == "fail":
            block = self.session.block_size
            first, count = missing[0]
            raise GapError(
                f"{count * block} frames ({count * block / self.session.sample_rate:.3f} s) "
                f"missing from frame {first * block} on, after {RESEND_ROUNDS} RESEND rounds at "
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
            values = unpack_samples(np.ascontiguousarray(payloads[:, 8 : 8 + audio_bytes]),
                                    session.sample_format).reshape(len(firsts), block, audio)
            controls = np.ascontiguousarray(payloads[:, 8 + audio_bytes :]).view("<f4")
            for index, first in enumerate(firsts):
                stop = min(first + block, total)
                samples[first:stop, :audio] = values[index, : stop - first]
                samples[first:stop, audio:] = controls[index]
                covered[first:stop] = True
        edges = np.flatnonzero(np.diff(np.concatenate([[1], covered.astype(np.int8), [1]])))
        gaps = [[int(start), int(stop - start)] for start, stop in zip(edges[::2], edges[1::2],
                                                                        strict=True)]
        return samples, gaps


class _Link:
    """The open port: reads and decodes what the device sends, sends commands."""

    def __init__(self, connection: serial.Serial, port: str, assembler: Assembler) -> None:
        self.connection = connection
        self.port = port
        self.decoder = FrameDecoder()
        self.assembler = assembler
        self.last_bytes = time.monotonic()
        self.first_frame_at: float | None = None
        self._sequence = 0

    def pump(self) -> None:
        """One read (at most POLL_SECONDS); raises serial/OS errors when unplugged."""
        data = self.connection.read(max(1, min(self.connection.in_waiting, READ_CHUNK)))
        now = time.monotonic()
        if data:
            self.last_bytes = now
            for frame in self.decoder.feed(data):
                self.first_frame_at = self.first_frame_at or now
                self.assembler.add(frame)

    def send(self, command: CommandType, payload: bytes = b"") -> int:
        """Sends a command frame; returns its sequence number. The leading delimiter ends any
        partial frame the device holds."""
        self._sequence += 1
        self.connection.write(b"\x00" + encode_frame(command, self._sequence, payload))
        self.connection.flush()
        return self._sequence

    def command(self, command: CommandType, payload: bytes = b"",
                done: Callable[[], bool] | None = None) -> Reply | None:
        """Sends ``command`` until a REPLY arrives (or ``done()`` says it took effect anyway,
        as when the reply was lost); None if neither happens in COMMAND_ATTEMPTS tries."""
        for _ in range(COMMAND_ATTEMPTS):
            sequence = self.send(command, payload)
            deadline = time.monotonic() + COMMAND_TIMEOUT
            while time.monotonic() < deadline:
                self.pump()
                reply = self.assembler.replies.pop(sequence, None)
                if reply is not None:
                    return reply
                if done is not None and done():
                    return None
            if done is not None and done():
                return None
        return None

    def check(self, command: CommandType, reply: Reply | None) -> None:
        """CaptureError unless ``reply`` is OK."""
        if reply is None:
            raise CaptureError(f"{self.port}: the datalogger did not answer "
                               f"{command.name} ({COMMAND_ATTEMPTS} tries)")
        if reply.code != ReplyCode.OK:
            code = ReplyCode(reply.code).name if reply.code in ReplyCode._value2member_map_ \
                else str(reply.code)
            raise CaptureError(f"the datalogger refused {command.name}: {reply.message} "
                               f"({code.lower()})")


def _hello(link: _Link, wait: float) -> Capabilities:
    """The device's capabilities; one-line errors for anything that is not our datalogger."""
    started = time.monotonic()
    next_hello = started
    sequence = 0
    while True:
        now = time.monotonic()
        if now >= next_hello:
            sequence = link.send(CommandType.HELLO)
            next_hello = now + COMMAND_TIMEOUT
        link.pump()
        reply = link.assembler.replies.get(sequence)
        if reply is not None and reply.code == ReplyCode.OK:
            try:
                return parse_capabilities(reply.body)
            except WireError as err:
                raise CaptureError(f"{link.port}: the datalogger's HELLO reply is malformed: "
                                   f"{err}") from err
        _check_protocol(link.decoder, link.port, started, time.monotonic(), link.first_frame_at,
                        wait)


def _check_protocol(decoder: FrameDecoder, port: str, started: float, now: float,
                    first_frame_at: float | None, wait: float) -> None:
    """Errors for a port that is not a daisynet datalogger of our protocol version."""
    stats = decoder.stats
    if stats.other_versions and first_frame_at is None:
        versions = ", ".join(str(v) for v in sorted(stats.other_versions))
        raise CaptureError(
            f"{port} speaks daisynet wire protocol version {versions}; this daisynet speaks "
            f"version {PROTOCOL_VERSION}: {FLASH_HINT}"
        )
    if now - started > wait:
        if stats.bytes_received == 0:
            raise CaptureError(f"{port} sent nothing in {wait:g} s; the datalogger sends a status "
                               "frame every 0.5 s: is the datalogger firmware running?")
        if first_frame_at is None:
            raise CaptureError(
                f"{port} is not a daisynet datalogger: {stats.bytes_received} bytes in {wait:g} s"
                f" but no daisynet frame ({stats.foreign_frames} foreign frames, "
                f"{stats.crc_failures} CRC failures); flash the datalogger firmware"
            )
        raise CaptureError(f"{port}: the datalogger sends frames but did not answer HELLO in "
                           f"{wait:g} s; {FLASH_HINT}")


def capture(
    port: str,
    output: str | Path,
    duration: float | None = None,
    channels: list[str] | None = None,
    sample_format: SampleFormat | str = SampleFormat.S24,
    mode: str = "auto",
    link_rate: int = LINK_RATE,
    on_gap: str = "mark",
    wait: float = 5.0,
    silence_timeout: float = DEFAULT_SILENCE_TIMEOUT,
    start: str = "command",
    source_extra: dict | None = None,
    on_ready: Callable[[], None] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    force: bool = False,
    inputs: tuple[str | Path, ...] = (),
) -> CaptureResult:
    """Record ``channels`` (default: all the device has) from ``port`` in ``sample_format``,
    live or record-then-transfer (``mode`` live, record or auto), until the device ends the
    session, ``duration`` seconds are recorded, the device goes silent for ``silence_timeout``
    s, is unplugged, or Ctrl-C. ``start`` "command" starts the recording from here, "encoder"
    waits for the Daisy's encoder (``on_ready`` runs then: the emulated device presses it).
    ``wait`` is how long to wait for the device to answer. Writes the dataset and
    NAME.capture.json next to it; an earlier capture there is replaced only with ``force``, and
    ``inputs`` (files this capture reads) never. SIGTERM and SIGHUP end the capture as Ctrl-C
    does, and what arrived is saved."""
    sample_format = SampleFormat[sample_format.upper()] if isinstance(sample_format, str) \
        else sample_format
    wav_path, json_path = dataset_paths(output)
    log_path = _log_path(wav_path)
    _check_destination([wav_path, json_path, log_path], inputs, force)
    connection = open_port(port)
    assembler = Assembler(on_gap)
    link = _Link(connection, port, assembler)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    stop_reason = ""
    failure: CaptureError | None = None
    budget: LinkBudget | None = None
    resend_rounds: list[dict] = []
    bar = None
    restore_signals = _end_capture_on_signals()
    try:
        capabilities = _hello(link, wait)
        budget = plan_link(capabilities, channels or capabilities.channels, sample_format, mode,
                           link_rate, duration)
        for line in budget.describe():
            log(line)
        if capabilities.state != RecorderState.IDLE:
            state = RecorderState(capabilities.state).name.lower() if capabilities.state in (
                RecorderState._value2member_map_) else str(capabilities.state)
            raise CaptureError(f"{port}: the datalogger is busy ({state}); stop it with the "
                               "encoder, or wait, and retry")
        max_frames = 0 if duration is None else math.ceil(duration * capabilities.sample_rate)
        link.check(CommandType.CONFIGURE, link.command(CommandType.CONFIGURE, configure_payload(
            Mode[budget.mode.upper()], sample_format,
            channel_mask([*budget.audio_channels, *budget.control_channels]), max_frames)))
        if start == "encoder":
            log("waiting for the recording: press the encoder on the Daisy Patch")
            if on_ready is not None:
                on_ready()
        else:
            reply = link.command(CommandType.START, done=lambda: assembler.session is not None)
            if reply is not None or assembler.session is None:
                link.check(CommandType.START, reply)
        bar = _Progress(progress, duration, budget)
        stop_reason = _record(link, assembler, bar, silence_timeout, log)
        if assembler.session is not None and assembler.session.mode == Mode.RECORD and (
                stop_reason.startswith("device ended")):
            resend_rounds = _resend(link, assembler, silence_timeout)
            assembler.check_missing()
    except KeyboardInterrupt as stop:
        stop_reason = _interrupted(stop)
    except GapError as err:
        failure = err
        stop_reason = "gap"
    finally:
        if bar is not None:
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                bar.close()
        connection.close()
        restore_signals()
    if assembler.session is None:
        if stop_reason.startswith(("interrupted", "ended by")):
            raise KeyboardInterrupt
        raise CaptureError(f"{port}: {stop_reason} before the recording started; nothing saved")
    elapsed = time.monotonic() - started
    with _signals_deferred():
        return _save(assembler, link.decoder, wav_path, log_path, failure, stop_reason,
                     duration, {
                         "port": port, "started_at": started_at, "seconds": elapsed,
                         "link_budget": asdict(budget) | {"share": budget.share} if budget
                         else None,
                         "resend_rounds": resend_rounds,
                         **(source_extra or {}),
                     }, log)


class _EndSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``timeout``, a closed terminal, a killed ssh session): ends the
    capture exactly as Ctrl-C does, so everything received is saved."""


def _interrupted(stop: KeyboardInterrupt) -> str:
    return f"ended by {stop.args[0]}" if isinstance(stop, _EndSignal) else "interrupted"


def _end_capture_on_signals() -> Callable[[], None]:
    """Makes SIGTERM and SIGHUP raise _EndSignal; returns what puts the old handlers back.
    (Python lets only the main thread install handlers; elsewhere they keep their default.)"""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def end(signum: int, _frame) -> None:
        raise _EndSignal(signal.Signals(signum).name)

    ends = [sig for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if sig]
    previous = {sig: signal.signal(sig, end) for sig in ends}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """While saving, Ctrl-C, SIGTERM and SIGHUP wait until the files are written, then end
    the command as an interrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    deferred = [sig for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None))
                if sig]
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum))
                for sig in deferred}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt


def _check_destination(paths: list[Path], inputs: tuple[str | Path, ...], force: bool) -> None:
    """Before anything is recorded: the capture's files can be written, replace none of
    ``inputs``, and replace an earlier capture only with ``force``."""
    for path in paths:
        try:
            check_output_file(path, inputs, replace=True)
        except OutputPathError as err:
            raise CaptureError(str(err)) from err
        if path.exists() and not force:
            raise CaptureError(f"{path} already exists (an earlier capture?); replace it with "
                               "--force or choose another name with -o")


def _record(link: _Link, assembler: Assembler, bar: _Progress, silence_timeout: float,
            log: Callable[[str], None]) -> str:
    """Receives until the session ends; returns why it stopped. Ctrl-C during a record-mode
    recording stops the recording and lets the transfer run (Ctrl-C again aborts)."""
    stopping = False
    while True:
        try:
            try:
                link.pump()
            except (serial.SerialException, OSError):
                return "disconnected"
            now = time.monotonic()
            bar.update(assembler, link.decoder, now)
            session = assembler.session
            status = assembler.last_status
            if (assembler.end is None and session is not None and status is not None
                    and status.session_id == session.session_id
                    and assembler.device_state == RecorderState.IDLE):
                assembler.end = status  # the END frame was lost; the device is idle again
            if assembler.end is not None:
                bar.update(assembler, link.decoder, now, force=True)
                return f"device ended the session ({_end_reason(assembler.end.code)})"
            if assembler.new_session_seen:
                return "the device started a new session"
            if now - link.last_bytes > silence_timeout:
                return f"device silent for {silence_timeout:g} s"
        except KeyboardInterrupt as stop:
            session = assembler.session
            recording_to_store = (session is not None and session.mode == Mode.RECORD
                                  and assembler.blocks_received == 0)
            try:
                if not stopping:
                    link.send(CommandType.STOP)
            except (serial.SerialException, OSError):
                return _interrupted(stop)
            if recording_to_store and not stopping:
                stopping = True
                log("stopping the recording; the transfer follows (Ctrl-C again to abort it)")
                continue
            return _interrupted(stop)


def _resend(link: _Link, assembler: Assembler, silence_timeout: float) -> list[dict]:
    """Record mode: asks for every missing block again, up to MAX_RESEND_RANGES ranges per
    RESEND, until none is missing or RESEND_ROUNDS rounds brought nothing new."""
    rounds: list[dict] = []
    fruitless = 0
    session_id = assembler.session.session_id
    while fruitless < RESEND_ROUNDS and (missing := assembler.missing_blocks()):
        batch = missing[:MAX_RESEND_RANGES]
        before, ends = assembler.blocks_received, assembler.resend_ends
        try:
            reply = link.command(CommandType.RESEND, resend_payload(session_id, batch),
                                 done=lambda ends=ends: assembler.resend_ends > ends)
            if reply is not None and reply.code != ReplyCode.OK:
                rounds.append({"ranges": len(batch), "refused": reply.message})
                break
            while assembler.resend_ends == ends and (
                    time.monotonic() - link.last_bytes < silence_timeout):
                link.pump()
        except (serial.SerialException, OSError):
            break
        received = assembler.blocks_received - before
        rounds.append({"ranges": len(batch), "blocks_asked": sum(c for _, c in batch),
                       "blocks_received": received})
        fruitless = 0 if received else fruitless + 1
    return rounds


class _Progress:
    """Seconds recorded (live: received; record: the device's count), then transferred. On a
    terminal a tqdm line redrawn in place; elsewhere (a log file, a pipe) a plain line every
    PLAIN_PROGRESS_SECONDS, so logs hold no carriage returns. Closing shows the final figure."""

    def __init__(self, enabled: bool, duration: float | None, budget: LinkBudget) -> None:
        self.mode = budget.mode
        self.duration = duration
        self.last = self.last_plain = 0.0
        self.started = time.monotonic()
        self.plain = enabled and not sys.stderr.isatty()
        self.latest: tuple[Assembler, FrameDecoder] | None = None
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
        if session.mode == Mode.RECORD and received == 0:
            status = assembler.last_status
            recorded = status.frames_recorded / session.sample_rate if status else 0.0
            self.bar.set_description_str("recording into the Daisy's SDRAM", refresh=False)
            self.bar.n = recorded
        elif session.mode == Mode.RECORD:
            total = assembler.total_frames() / session.sample_rate
            recorded = assembler.last_status.frames_recorded / session.sample_rate \
                if assembler.last_status else total
            self.bar.set_description_str(f"transferring (of {max(total, recorded):.1f} s)",
                                         refresh=False)
            self.bar.n = received
        else:
            self.bar.set_description_str("recording live", refresh=False)
            self.bar.n = received
        self.bar.set_postfix_str(_status_line(decoder, now - self.started), refresh=False)
        if self.plain:
            if force or now - self.last_plain >= PLAIN_PROGRESS_SECONDS:
                self.last_plain = now
                print(f"{self.bar.desc}: {self.bar.n:.1f} s, {self.bar.postfix}",
                      file=sys.stderr, flush=True)
        else:
            self.bar.refresh()

    def close(self) -> None:
        if self.latest is not None:
            self.update(*self.latest, time.monotonic(), force=True)
        self.bar.close()


def _end_reason(code: int) -> str:
    try:
        return EndReason(code).name.lower().replace("_", " ")
    except ValueError:
        return f"reason {code}"


def _status_line(decoder: FrameDecoder, elapsed: float) -> str:
    stats = decoder.stats
    rate = stats.bytes_received / max(elapsed, 1e-9) / 1e6
    return (f"{rate:.2f} MB/s, {stats.crc_failures} CRC failures, "
            f"{len(stats.sequence_gaps)} gaps ({stats.frames_lost} wire frames lost)")


def _save(assembler: Assembler, decoder: FrameDecoder, wav_path: Path, log_path: Path,
          failure: CaptureError | None, stop_reason: str, duration: float | None,
          context: dict, log: Callable[[str], None]) -> CaptureResult:
    session = assembler.session
    max_frames = None if duration is None else int(round(duration * session.sample_rate))
    samples, gaps = assembler.recording(max_frames)
    stats = decoder.stats
    device = assembler.end or assembler.last_status
    capture_log = {
        "format": "daisynet-capture-log",
        "protocol_version": PROTOCOL_VERSION,
        **context,
        "stop_reason": stop_reason,
        "throughput_bytes_per_second": stats.bytes_received / max(context["seconds"], 1e-9),
        "session": session.to_json(),
        "mode": session.mode.name.lower(),
        "sample_format": session.sample_format.name.lower(),
        "channels": [*session.audio_channels, *session.control_channels],
        "frames_by_type": assembler.counts,
        **stats.to_json(),
        "invalid_payloads": assembler.invalid_payloads,
        "duplicate_blocks": assembler.duplicate_blocks,
        "device_overrun_blocks": device.overrun_blocks if device else None,
        "device_frames_recorded": device.frames_recorded if device else None,
        "frames_captured": int(samples.shape[0]),
        "data_gaps": gaps,
        "frames_missing": int(sum(count for _, count in gaps)),
        "dataset": None if failure else str(wav_path),
    }
    nothing_arrived = capture_log["frames_missing"] == samples.shape[0]
    if failure is not None or nothing_arrived:
        capture_log["dataset"] = None
        log_path = _write_rescued(log_path, lambda path: _write_log(path, capture_log))
        if failure is not None:
            raise CaptureError(f"{failure} (capture log: {log_path})")
        lost = (f"all {samples.shape[0]} frames the device recorded were lost"
                if samples.shape[0] else "no audio frames arrived")
        raise CaptureError(f"{lost} ({stop_reason}); nothing saved but the capture log: "
                           f"{log_path}")
    source = {
        "generator": "daisynet capture",
        "port": context["port"],
        "started_at": context["started_at"],
        "firmware_version": session.firmware_version,
        "protocol_version": PROTOCOL_VERSION,
        "session_id": session.session_id,
        "mode": session.mode.name.lower(),
        "sample_format": session.sample_format.name.lower(),
        "sample_scale": session.scale,
        "block_size": session.block_size,
        "control_channels": session.control_channels,
        "controls": "float32, read once per block, held for the block's frames",
        "stop_reason": stop_reason,
        "gaps": gaps,
        "capture_log": log_path.name,
        **{k: v for k, v in context.items() if k.startswith("suggested_") or k == "emulated"},
    }
    dataset = Dataset(samples=samples, sample_rate=session.sample_rate,
                      channels=[*session.audio_channels, *session.control_channels],
                      source=source)

    def write(path: Path) -> None:
        capture_log["dataset"] = str(path)
        source["capture_log"] = _log_path(path).name
        _write_log(_log_path(path), capture_log)
        dataset.save(path)

    requested = wav_path
    wav_path = _write_rescued(wav_path, write)
    log_path = _log_path(wav_path)
    seconds = samples.shape[0] / session.sample_rate
    resent = sum(r.get("blocks_received", 0) for r in context.get("resend_rounds", []))
    log(f"captured {seconds:.2f} s ({samples.shape[0]} frames) from {context['port']}: "
        f"{stop_reason}; {len(gaps)} gap(s), {capture_log['frames_missing']} audio frames "
        "missing, "
        f"{stats.crc_failures} CRC failures, {stats.garbage_bytes} bytes of garbage"
        + (f", {resent} blocks resent" if resent else ""))
    log(f"wrote {wav_path}, {wav_path.with_suffix('.json').name} and {log_path.name}")
    if gaps:
        _warn_if_too_gappy_to_train(samples.shape[0], gaps, log)
    if wav_path != requested:
        raise CaptureError(f"could not write {requested}; the capture is saved as {wav_path} "
                           "instead (with its .json and .capture.json)")
    return CaptureResult(wav_path, log_path, capture_log)


def _log_path(wav_path: Path) -> Path:
    return wav_path.with_name(wav_path.stem + ".capture.json")


def _write_log(path: Path, capture_log: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(capture_log, indent=2) + "\n")


def rescue_folders() -> list[Path]:
    """Where a capture goes when its own destination fails at save time: the user's home,
    then the temporary folder."""
    return [Path.home() / "daisynet-rescued", Path(tempfile.gettempdir()) / "daisynet-rescued"]


def _write_rescued(path: Path, write: Callable[[Path], None]) -> Path:
    """Calls ``write(path)``; when that fails (the folder vanished, became read-only or full
    while recording), calls ``write`` again with a fresh name in the first rescue folder that
    works. Returns where it was written. (Nothing is printed on the way: after SIGHUP the
    terminal may be gone, and printing must not cost the recording.)"""
    try:
        write(path)
        return path
    except OSError as err:
        reasons = [f"{path}: {err.strerror or err}"]
    for folder in rescue_folders():
        rescued = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{path.name}"  # a fresh name
        try:
            write(rescued)
            return rescued
        except OSError as err:
            reasons.append(f"{rescued}: {err.strerror or err}")
    raise CaptureError("could not save the capture anywhere (" + "; ".join(reasons) + ")")


def _warn_if_too_gappy_to_train(frames: int, gaps: list[list[int]],
                                log: Callable[[str], None]) -> None:
    """Say so when `daisynet train` with its defaults would find a split without a window."""
    from daisynet.training.model import REFERENCE
    from daisynet.training.train import TrainConfig
    from daisynet.training.windows import window_counts

    warmup, scored = REFERENCE.receptive_field, TrainConfig.scored_frames
    counts = window_counts(frames, gaps, warmup, scored)
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        log(f"warning: too gappy to train with the default window ({warmup} warm-up + {scored} "
            f"scored frames): no gap-free window in the {' and '.join(empty)} split(s) "
            f"(windows per split: {counts}); capture again (record mode resends lost blocks: "
            "--mode record) or train with a shorter --window")


def capture_emulated(
    dataset: Dataset,
    output: str | Path,
    faults=None,
    realtime: bool = False,
    link_rate: int = LINK_RATE,
    sdram_bytes: int | None = None,
    **options,
) -> CaptureResult:
    """Capture ``dataset`` played through the emulated datalogger (tools/emulated_device.py):
    the firmware's own recorder behind the modelled USB link, a pseudo-terminal and pyserial,
    as with hardware. ``options`` go to ``capture``; the source's suggested model channels
    carry over."""
    from daisynet.tools.emulated_device import DEVICE_CHANNELS, EmulatedDatalogger

    suggestions = {key: value for key, value in dataset.source.items()
                   if key in ("suggested_inputs", "suggested_target")}
    with EmulatedDatalogger(dataset, faults=faults, realtime=realtime, link_rate=link_rate,
                            sdram_bytes=sdram_bytes) as device:
        emulated = {"faults": vars(device.faults), "realtime": realtime, "link_rate": link_rate,
                    "input_frames": device.frames, "ignored_channels": device.unused_channels}
        if device.unused_channels:
            played = len(dataset.channels) - len(device.unused_channels)
            options.get("log", print)(
                f"warning: the emulated Daisy Patch has no input named "
                f"{', '.join(device.unused_channels)} (it has {', '.join(DEVICE_CHANNELS)}); "
                + ("it plays nothing of this dataset: the capture will be silent" if not played
                   else "those channels are not played"))
        result = capture(device.port, output, link_rate=link_rate,
                         source_extra={"emulated": emulated, **suggestions},
                         on_ready=device.press_encoder, **options)
    result.log["emulated"]["device_summary"] = device.summary
    result.log_path.write_text(json.dumps(result.log, indent=2) + "\n")
    return result
