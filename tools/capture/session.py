"""The capture session: HELLO, CONFIGURE, START (or the encoder), receive, RESEND, save.

``capture(port, CaptureRequest(...))`` asks the Daisy what it offers (HELLO), checks the link
budget of the requested channels and sample format (link_budget.py), configures the recording
(CONFIGURE) and starts it (START, or the encoder), assembles the frames it receives
(assembly.py), and saves the dataset with its capture log (saving.py). Ctrl-C, SIGTERM or SIGHUP
stops the recording and receives what the device still holds; a second one abandons that. An
unplugged cable, a device that goes silent or an abandoned transfer ends the capture with
everything received so far saved, then a CaptureError saying what did not arrive. In record
mode, blocks lost on the way are asked for again (RESEND), so a record-mode capture over a
faulty link ends bit-exact.
"""

from __future__ import annotations

import contextlib
import math
import signal
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import serial

from daisynet.host_sim.daisy_target import USB_LINK_BYTES_PER_SECOND
from daisynet.host_sim.files import OutputPathError, check_output_file
from daisynet.tools.capture.assembly import Assembler
from daisynet.tools.capture.errors import CaptureError, GapError
from daisynet.tools.capture.link_budget import LinkBudget, plan_link
from daisynet.tools.capture.ports import open_port
from daisynet.tools.capture.progress import Progress
from daisynet.tools.capture.saving import CaptureResult, capture_log_path, save_capture
from daisynet.tools.capture.wire import (
    MAX_RECORDED_BLOCKS,
    MAX_RESEND_RANGES,
    PROTOCOL_VERSION,
    Capabilities,
    CommandType,
    EndReason,
    FrameDecoder,
    Mode,
    RecorderState,
    Reply,
    ReplyCode,
    SampleFormat,
    WireError,
    channel_mask,
    configure_payload,
    encode_frame,
    parse_capabilities,
    resend_payload,
)
from daisynet.tools.text import plural
from daisynet.training.dataset import dataset_paths

READ_CHUNK = 65536  # bytes per read
COMMAND_TIMEOUT = 0.5  # seconds to wait for a REPLY before sending the command again
COMMAND_ATTEMPTS = 4
RESEND_ROUNDS = 8  # record mode: RESEND rounds before gaps stay gaps
FLASH_HINT = "flash the matching firmware with `daisynet flash datalogger`"
# What reading or writing a port raises when the device is unplugged: pyserial's error, the
# OS's, or termios's when the terminal goes away between opening and configuring it.
UNPLUGGED = (serial.SerialException, OSError, termios.error)
# Seconds without a byte before a capture stops and saves. The device buffers USB stalls far
# longer (its 60 MiB store holds over 100 s of live audio), and an unplugged cable ends the
# capture at once anyway, so only a device that has really stopped talking waits this long.
DEFAULT_SILENCE_TIMEOUT = 30.0
MODES = ("auto", "live", "record")
ON_GAP = ("mark", "fail")
STARTS = ("command", "encoder")


@dataclass(frozen=True)
class CaptureRequest:
    """What to record and how: the one argument of ``capture`` besides the port."""

    output: str | Path  # the dataset's path; NAME.capture.json goes next to it
    duration: float | None = None  # seconds; None: until the device or the user stops
    channels: tuple[str, ...] = ()  # device channel names; empty: all the device has
    sample_format: SampleFormat = SampleFormat.S24  # of the audio; controls are float32
    mode: str = "auto"  # "live", "record" (into the Daisy's SDRAM, then transfer) or "auto"
    on_gap: str = "mark"  # "mark" keeps gaps as silence and lists them; "fail" stops
    start: str = "command"  # "command": START from here; "encoder": the Daisy's encoder
    wait: float = 5.0  # seconds for the device to answer HELLO
    silence_timeout: float = DEFAULT_SILENCE_TIMEOUT  # seconds without a byte before stopping
    force: bool = False  # replace an earlier capture of the same name
    inputs: tuple[str | Path, ...] = ()  # files this capture reads: never written over

    def __post_init__(self) -> None:
        # Accept what a command line gives (names, lists), store the immutable forms.
        if isinstance(self.sample_format, str):
            object.__setattr__(self, "sample_format", SampleFormat[self.sample_format.upper()])
        object.__setattr__(self, "channels", tuple(self.channels or ()))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        for name, allowed in (("mode", MODES), ("on_gap", ON_GAP), ("start", STARTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, "
                                 f"not {getattr(self, name)!r}")


class _Link:
    """The open port: reads and decodes what the device sends, sends commands."""

    def __init__(self, connection: serial.Serial, port: str, assembler: Assembler,
                 gate: _SignalGate) -> None:
        self.connection = connection
        self.port = port
        self.gate = gate
        self.decoder = FrameDecoder()
        self.assembler = assembler
        self.last_bytes = time.monotonic()
        self.first_frame_at: float | None = None
        self._sequence = 0

    def pump(self) -> None:
        """One read (at most ports.POLL_SECONDS); raises serial/OS errors when unplugged. A
        signal waits until the bytes read are assembled: cut in between, they would be lost."""
        with self.gate.held():
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


def capture(port: str, request: CaptureRequest, *, log: Callable[[str], None] = print,
            progress: bool = True, link_rate: int = USB_LINK_BYTES_PER_SECOND,
            on_ready: Callable[[], None] | None = None,
            source_extra: dict | None = None) -> CaptureResult:
    """Record what ``request`` asks from the datalogger on ``port``, over a link of
    ``link_rate`` bytes/s, until the device ends the session, the requested duration is
    recorded, the device goes silent, is unplugged, or Ctrl-C (which lets what the device
    holds arrive; a second one abandons it); SIGTERM and SIGHUP act as Ctrl-C does. Writes the
    dataset and NAME.capture.json next to it, whatever arrived, replacing earlier files only
    with ``request.force``; raises CaptureError after saving when anything recorded did not
    arrive or the files had to go under a fresh name.
    ``log`` takes the report lines, ``progress`` shows a progress line. With
    ``request.start`` "encoder", ``on_ready`` runs when the device waits for its encoder (the
    emulated device presses it then); ``source_extra`` goes into the capture log and the
    dataset's source."""
    wav_path, json_path = dataset_paths(request.output)
    log_path = capture_log_path(wav_path)
    _check_destination([wav_path, json_path, log_path], request.inputs, request.force)
    connection = open_port(port)
    assembler = Assembler(request.on_gap)
    gate = _SignalGate()
    link = _Link(connection, port, assembler, gate)
    with gate:
        return _run(link, request, gate, log, progress, link_rate, on_ready, source_extra,
                    wav_path, log_path)


def _run(link: _Link, request: CaptureRequest, gate: _SignalGate, log: Callable[[str], None],
         progress: bool, link_rate: int, on_ready: Callable[[], None] | None,
         source_extra: dict | None, wav_path: Path, log_path: Path) -> CaptureResult:
    """``capture`` once the port is open and ``gate`` installed."""
    port, assembler = link.port, link.assembler
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    stop_reason = ""
    failure: CaptureError | None = None
    budget: LinkBudget | None = None
    resend_rounds: list[dict] = []
    bar = None
    interrupts = _Interrupts(link, assembler, log)
    abandoned = False
    started_here = False  # a recording this capture configured and started
    try:
        capabilities = _hello(link, request.wait)
        budget = plan_link(capabilities, list(request.channels) or capabilities.channels,
                           request.sample_format, request.mode, link_rate, request.duration)
        for line in budget.describe():
            log(line)
        if capabilities.state != RecorderState.IDLE:
            state = RecorderState(capabilities.state).name.lower() if capabilities.state in (
                RecorderState._value2member_map_) else str(capabilities.state)
            raise CaptureError(f"{port}: the datalogger is busy ({state}); stop it with the "
                               "encoder, or wait, and retry")
        max_frames = 0 if request.duration is None else math.ceil(
            request.duration * capabilities.sample_rate)
        if max_frames > MAX_RECORDED_BLOCKS * capabilities.block_size:
            longest = MAX_RECORDED_BLOCKS * capabilities.block_size / capabilities.sample_rate
            raise CaptureError(f"a duration of {request.duration:g} s is longer than the "
                               f"datalogger can record ({longest:,.0f} s)")
        link.check(CommandType.CONFIGURE, link.command(CommandType.CONFIGURE, configure_payload(
            Mode[budget.mode.upper()], request.sample_format,
            channel_mask([*budget.audio_channels, *budget.control_channels]), max_frames)))
        started_here = True
        if request.start == "encoder":
            log("waiting for the recording: press the encoder on the Daisy Patch")
            if on_ready is not None:
                on_ready()
        else:
            reply = link.command(CommandType.START, done=lambda: assembler.session is not None)
            if reply is not None or assembler.session is None:
                link.check(CommandType.START, reply)
        bar = Progress(progress, request.duration, budget)
        stop_reason = _record(link, assembler, bar, request.silence_timeout, interrupts)
        if assembler.session is not None and assembler.session.mode == Mode.RECORD and (
                assembler.end is not None):
            resend_rounds = _resend(link, assembler, request.silence_timeout, interrupts)
            assembler.check_missing(RESEND_ROUNDS)
    except _AbandonedError as abandon:
        stop_reason, abandoned = str(abandon), True
    except KeyboardInterrupt as stop:
        stop_reason = _interrupted(stop)
    except UNPLUGGED:
        stop_reason = "disconnected"
    except GapError as err:
        failure = err
        stop_reason = "gap"
    finally:
        gate.hold()  # from here on a signal waits until what arrived is saved
        if started_here and assembler.end is None and interrupts.first is None:
            # Ended by a gap, silence or an error: leave the device idle, not recording on
            # (the next capture would find it busy). An idle device just says so; a busy one
            # found at HELLO is someone else's recording and is left alone.
            with contextlib.suppress(*UNPLUGGED):
                link.send(CommandType.STOP)
        if bar is not None:
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                bar.close()
        link.connection.close()
    if assembler.session is None:
        if stop_reason.startswith(("interrupted", "ended by")):
            raise KeyboardInterrupt
        raise CaptureError(f"{port}: {stop_reason} before the recording started; nothing saved")
    elapsed = time.monotonic() - started
    left = _frames_left_on_device(assembler)
    held = f"about {left} frames ({left / assembler.session.sample_rate:.1f} s)"
    lost = None
    if abandoned:
        lost = f"{stop_reason}: {held} still on the Daisy did not arrive"
    elif stop_reason == "disconnected" or stop_reason.startswith("device silent"):
        lost = f"the capture ended early ({stop_reason})" + (
            f"; {held} the device held did not arrive" if left else "")
    return save_capture(assembler, link.decoder, wav_path, log_path, failure, stop_reason,
                        request.duration, {
                            "port": port, "started_at": started_at, "seconds": elapsed,
                            "link_budget": asdict(budget) | {"share": budget.share}
                            if budget else None,
                            "resend_rounds": resend_rounds,
                            "frames_left_on_device": left,
                            **(source_extra or {}),
                        }, log, replace=request.force, lost=lost)


class _EndSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``timeout``, a closed terminal, a killed ssh session): ends the
    capture exactly as Ctrl-C does, so everything received is saved."""


def _interrupted(stop: KeyboardInterrupt) -> str:
    return f"ended by {stop.args[0]}" if isinstance(stop, _EndSignal) else "interrupted"


class _SignalGate:
    """While a capture runs, Ctrl-C raises KeyboardInterrupt and SIGTERM and SIGHUP _EndSignal,
    except while held: then the signal waits until the hold ends, so it never cuts a step in
    half (bytes read but not assembled, the capture's files half saved). Once ``hold()`` is
    called the hold lasts until the gate closes, which then ends the command as an interrupt.
    Python lets only the main thread install handlers; elsewhere the gate does nothing."""

    SIGNALS = tuple(sig for sig in (signal.SIGINT, signal.SIGTERM,
                                    getattr(signal, "SIGHUP", None)) if sig)

    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> _SignalGate:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._received) for sig in self.SIGNALS}
        return self

    def __exit__(self, exc_type, *_) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self.holding = False
        if exc_type is None:
            self._release()

    def hold(self) -> None:
        self.holding = True

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self.holding:
            yield
            return
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        self._release()

    def _received(self, signum: int, _frame) -> None:
        if self.holding:
            self.pending = self.pending or signum
        else:
            raise _signal_interrupt(signum)

    def _release(self) -> None:
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise _signal_interrupt(signum)


def _signal_interrupt(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else _EndSignal(
        signal.Signals(signum).name)


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


class _AbandonedError(Exception):
    """The user interrupted again while the device still held frames: they are abandoned."""


class _Interrupts:
    """Ctrl-C, SIGTERM or SIGHUP once the recording runs: the first stops the recording and
    lets what the device holds arrive (the rest of a live buffer, a record-mode transfer, a
    RESEND), saying how much that is; the next abandons it (_AbandonedError)."""

    def __init__(self, link: _Link, assembler: Assembler, log: Callable[[str], None]) -> None:
        self.link = link
        self.assembler = assembler
        self.log = log
        self.first: str | None = None  # the stop reason of the first interrupt

    def interrupted(self, stop: KeyboardInterrupt, still_held: str) -> None:
        """Handles ``stop``; ``still_held`` says what the device still has to send."""
        if self.first is not None:
            again = stop.args[0] if isinstance(stop, _EndSignal) else "Ctrl-C"
            raise _AbandonedError(f"{self.first}; abandoned at {again} again")
        self.first = _interrupted(stop)
        if self.assembler.device_state == RecorderState.RECORDING or (
                self.assembler.device_state is None):
            self.link.send(CommandType.STOP)  # UNPLUGGED errors end the capture as unplugged
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            self.log(f"{self.first}: receiving {still_held} (Ctrl-C again to abandon it)")


def _frames_left_on_device(assembler: Assembler) -> int:
    """Frames the device recorded (by its latest count) that did not arrive and it still holds:
    live in its buffer, record mode in its store."""
    session, device = assembler.session, assembler.end or assembler.last_status
    if session is None or device is None:
        return 0
    if session.mode == Mode.LIVE:
        return device.buffered_blocks * session.block_size if assembler.end is None else 0
    return max(0, device.frames_recorded - assembler.blocks_received * session.block_size)


def _still_held(assembler: Assembler) -> str:
    session = assembler.session
    left = _frames_left_on_device(assembler)
    if session.mode == Mode.RECORD and assembler.blocks_received == 0:
        return f"the {left / session.sample_rate:.1f} s recorded in the Daisy's SDRAM"
    return f"about {left / session.sample_rate:.1f} s still on the Daisy"


def _record(link: _Link, assembler: Assembler, bar: Progress, silence_timeout: float,
            interrupts: _Interrupts) -> str:
    """Receives until the session ends; returns why it stopped. The first Ctrl-C stops the
    recording and receives what the device still holds; Ctrl-C again abandons it."""
    while True:
        try:
            try:
                link.pump()
            except UNPLUGGED:
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
                return interrupts.first or (
                    f"device ended the session ({_end_reason(assembler.end.code)})")
            if assembler.new_session_seen:
                return "the device started a new session"
            if now - link.last_bytes > silence_timeout:
                return f"device silent for {silence_timeout:g} s"
        except KeyboardInterrupt as stop:
            if assembler.session is None:  # waiting for the encoder: nothing recorded yet
                with contextlib.suppress(*UNPLUGGED):
                    link.send(CommandType.STOP)
                return _interrupted(stop)
            try:
                interrupts.interrupted(stop, _still_held(assembler))
            except UNPLUGGED:
                return "disconnected"


def _resend(link: _Link, assembler: Assembler, silence_timeout: float,
            interrupts: _Interrupts) -> list[dict]:
    """Record mode: asks for every missing block again, up to MAX_RESEND_RANGES ranges per
    RESEND, until none is missing or RESEND_ROUNDS rounds brought nothing new. Ctrl-C once
    says what is left; again abandons it."""
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
        except UNPLUGGED:
            break
        except KeyboardInterrupt as stop:
            blocks = sum(count for _, count in missing)
            interrupts.interrupted(stop, f"the {plural(blocks, 'block')} lost on the way, "
                                         "still on the Daisy")
        received = assembler.blocks_received - before
        rounds.append({"ranges": len(batch), "blocks_asked": sum(c for _, c in batch),
                       "blocks_received": received})
        fruitless = 0 if received else fruitless + 1
    return rounds


def _end_reason(code: int) -> str:
    try:
        return EndReason(code).name.lower().replace("_", " ")
    except ValueError:
        return f"reason {code}"
