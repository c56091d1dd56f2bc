"""``daisynet capture``: record a dataset from the datalogger firmware over USB serial.

The Daisy Patch running firmware/datalogger streams wire protocol frames (tools/wire.py) while
its encoder-started recording runs. ``capture`` finds the port, decodes the stream, and writes
the dataset (tools/dataset.py) plus NAME.capture.json, the capture log: what arrived, what was
lost and where. Ctrl-C, an unplugged cable or a device that goes silent end the capture with
everything received so far saved.

Gaps (frames lost on the wire, or dropped by the device when USB could not keep up) are never
glued together: the WAV keeps real time with silence in the gap and the sidecar lists each gap
as ``source.gaps = [[first_frame, frames], ...]``, which training skips; or, with
``on_gap="fail"``, the capture stops with an error at the first gap.
"""

from __future__ import annotations

import errno
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import serial
from serial.tools import list_ports
from tqdm import tqdm

from tools.dataset import Dataset, dataset_paths
from tools.wire import (
    PROTOCOL_VERSION,
    EndReason,
    Frame,
    FrameDecoder,
    FrameType,
    RecorderState,
    Session,
    WireError,
    parse_counters,
    parse_data,
    parse_session,
)

USB_VID = 0x0483  # STMicroelectronics: the STM32duino USB CDC device the Daisy enumerates as
USB_PID = 0x5740
PRODUCT_HINT = "daisy"  # ST's VID:PID is generic; the product string tells the Daisy apart
READ_CHUNK = 65536  # bytes per read; the datalogger sends ~0.8 MB/s
POLL_SECONDS = 0.05  # longest a read waits, so Ctrl-C, timeouts and progress stay responsive
PROGRESS_SECONDS = 0.2  # between progress bar updates


class CaptureError(Exception):
    """The capture cannot start or must stop; the message says why in one line."""


@dataclass
class CaptureResult:
    dataset_path: Path | None
    log_path: Path
    log: dict = field(default_factory=dict)


def find_port(port: str | None) -> str:
    """The datalogger's serial port: ``port`` if given, else the one USB device that matches."""
    if port:
        return port
    ports = list_ports.comports()
    st_ports = [p for p in ports if p.vid == USB_VID and p.pid == USB_PID]
    daisies = [p for p in st_ports if PRODUCT_HINT in (p.product or "").lower()]

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
        "containing 'Daisy'); connect the Daisy Patch running the datalogger firmware, or pass "
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


class GapError(CaptureError):
    """A gap appeared and the user asked to fail on gaps."""


class Assembler:
    """Turns decoded frames into a recording; tracks the session, its blocks and the gaps."""

    def __init__(self, on_gap: str) -> None:
        self.on_gap = on_gap
        self.session: Session | None = None
        self.counts = {kind.name.lower(): 0 for kind in FrameType}
        self.last_status = None
        self.end = None  # Counters of the END frame
        self.new_session_seen = False
        self.invalid_payloads = 0
        self.device_state: RecorderState | None = None
        self._early: list[Frame] = []  # DATA that came before any SESSION
        self._first_frames: list[int] = []
        self._payloads: list[bytes] = []
        self._next_frame = 0  # first frame index the next block should have

    @property
    def frames_covered(self) -> int:
        return self._next_frame

    def add(self, frame: Frame) -> None:
        self.counts[FrameType(frame.type).name.lower()] += 1
        try:
            if frame.type == FrameType.SESSION:
                self._on_session(parse_session(frame.payload), frame)
            elif frame.type == FrameType.DATA:
                if self.session is None:
                    self._early.append(frame)
                else:
                    self._on_data(frame)
            else:
                counters = parse_counters(frame.payload)
                if self.session is not None and counters.session_id != self.session.session_id:
                    return  # a heartbeat from before our session, or of a later one
                if frame.type == FrameType.STATUS:
                    self.last_status = counters
                    self.device_state = RecorderState(counters.code) if counters.code in (
                        RecorderState._value2member_map_) else None
                else:
                    self.end = counters
                    if self.session is not None:
                        self._check_gap(counters.frames_recorded, frame.offset, at_end=True)
        except WireError:
            self.invalid_payloads += 1

    def _on_session(self, session: Session, frame: Frame) -> None:
        if self.session is None:
            self.session = session
            early, self._early = self._early, []
            for data in early:
                self._on_data(data)
        elif session.session_id != self.session.session_id:
            self.new_session_seen = True

    def _on_data(self, frame: Frame) -> None:
        first_frame, _, _ = parse_data(frame.payload, self.session)
        if first_frame < self._next_frame:
            self.invalid_payloads += 1  # frames cannot go back within a session
            return
        self._check_gap(first_frame, frame.offset, at_end=False)
        self._first_frames.append(first_frame)
        self._payloads.append(frame.payload)
        self._next_frame = first_frame + self.session.block_size

    def _check_gap(self, frame_index: int, offset: int, at_end: bool) -> None:
        missing = frame_index - self._next_frame
        if missing > 0 and self.on_gap == "fail":
            where = "at the end" if at_end else f"before byte {offset} of the stream"
            raise GapError(
                f"{missing} frames ({missing / self.session.sample_rate:.3f} s) missing from "
                f"frame {self._next_frame} on, {where}; rerun with --on-gap mark to keep the "
                "capture with its gaps marked"
            )

    def recording(self, max_frames: int | None) -> tuple[np.ndarray, list[list[int]]]:
        """(frames, audio + controls) float32 samples with the controls held for each block,
        and the gaps as [first_frame, frames]. Missing frames are silence."""
        session = self.session
        block, audio = session.block_size, len(session.audio_channels)
        total = self._next_frame
        if self.end is not None:
            total = max(total, self.end.frames_recorded)
        if max_frames is not None:
            total = min(total, max_frames)
        channels = audio + len(session.control_channels)
        samples = np.zeros((total, channels), np.float32)
        covered = np.zeros(total, bool)
        if self._payloads:
            values = np.frombuffer(b"".join(self._payloads), "<f4").reshape(len(self._payloads), -1)
            blocks_audio = values[:, 2 : 2 + block * audio].reshape(-1, block, audio)
            blocks_controls = values[:, 2 + block * audio :]
            for index, first in enumerate(self._first_frames):
                stop = min(first + block, total)
                if stop <= first:
                    break
                samples[first:stop, :audio] = blocks_audio[index, : stop - first]
                samples[first:stop, audio:] = blocks_controls[index]
                covered[first:stop] = True
        edges = np.flatnonzero(np.diff(np.concatenate([[1], covered.astype(np.int8), [1]])))
        gaps = [[int(start), int(stop - start)] for start, stop in zip(edges[::2], edges[1::2],
                                                                        strict=True)]
        return samples, gaps


def capture(
    port: str,
    output: str | Path,
    duration: float | None = None,
    on_gap: str = "mark",
    wait: float = 5.0,
    silence_timeout: float = 2.0,
    source_extra: dict | None = None,
    on_open: Callable[[], None] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> CaptureResult:
    """Record from ``port`` until the device ends the session, ``duration`` seconds are
    captured, the device goes silent for ``silence_timeout`` s, is unplugged, or Ctrl-C.
    Writes the dataset and NAME.capture.json next to it. ``wait`` is how long to wait for the
    first daisynet frame before deciding the port is not a datalogger. ``on_open`` runs once
    the port is open (the emulated device presses its encoder there)."""
    wav_path, _ = dataset_paths(output)
    log_path = wav_path.with_name(wav_path.stem + ".capture.json")
    connection = open_port(port)
    decoder = FrameDecoder()
    assembler = Assembler(on_gap)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = last_bytes = last_refresh = time.monotonic()
    first_frame_at: float | None = None
    stop_reason = ""
    bar = tqdm(total=duration, unit="s", disable=not progress, leave=True,
               bar_format="{desc}{n:.1f}/{total_fmt} s {bar} {postfix}" if duration else
               "{desc}{n:.1f} s captured {postfix}")
    announced_idle = False
    failure: CaptureError | None = None
    if on_open is not None:
        on_open()
    try:
        while not stop_reason:
            try:
                data = connection.read(max(1, min(connection.in_waiting, READ_CHUNK)))
            except (serial.SerialException, OSError):
                stop_reason = "disconnected"
                break
            now = time.monotonic()
            if data:
                last_bytes = now
                for frame in decoder.feed(data):
                    first_frame_at = first_frame_at or now
                    assembler.add(frame)
            _check_protocol(decoder, port, started, now, first_frame_at, wait)
            session = assembler.session
            if session is None:
                if assembler.device_state == RecorderState.IDLE and not announced_idle:
                    log("waiting for the recording: press the encoder on the Daisy Patch")
                    announced_idle = True
                continue
            seconds = assembler.frames_covered / session.sample_rate
            if now - last_refresh > PROGRESS_SECONDS:
                last_refresh = now
                bar.n = min(seconds, duration) if duration else seconds
                bar.set_postfix_str(_status_line(decoder, now - started), refresh=False)
                bar.refresh()
            if assembler.end is not None:
                stop_reason = f"device ended the session ({_end_reason(assembler.end.code)})"
            elif assembler.new_session_seen:
                stop_reason = "the device started a new session"
            elif duration is not None and seconds >= duration:
                stop_reason = "duration reached"
            elif now - last_bytes > silence_timeout:
                stop_reason = f"device silent for {silence_timeout:g} s"
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    except GapError as err:
        failure = err
        stop_reason = "gap"
    finally:
        bar.close()
        connection.close()
    if assembler.session is None:
        if stop_reason == "interrupted":
            raise KeyboardInterrupt
        raise CaptureError(f"{port}: {stop_reason} before the recording started; nothing saved")
    elapsed = time.monotonic() - started
    return _save(assembler, decoder, wav_path, log_path, failure, stop_reason, duration, {
        "port": port, "started_at": started_at, "seconds": elapsed,
        **(source_extra or {}),
    }, log)


def _check_protocol(decoder: FrameDecoder, port: str, started: float, now: float,
                    first_frame_at: float | None, wait: float) -> None:
    """Errors for a port that is not a daisynet datalogger of our protocol version."""
    stats = decoder.stats
    if stats.other_versions and first_frame_at is None:
        versions = ", ".join(str(v) for v in sorted(stats.other_versions))
        raise CaptureError(
            f"{port} speaks daisynet wire protocol version {versions}; this daisynet speaks "
            f"version {PROTOCOL_VERSION}: update daisynet or flash the matching datalogger firmware"
        )
    if first_frame_at is None and now - started > wait:
        if stats.bytes_received == 0:
            raise CaptureError(f"{port} sent nothing in {wait:g} s; the datalogger sends a status "
                               "frame every 0.5 s: is the datalogger firmware running?")
        raise CaptureError(
            f"{port} is not a daisynet datalogger: {stats.bytes_received} bytes in {wait:g} s "
            f"but no daisynet frame ({stats.foreign_frames} foreign frames, {stats.crc_failures} "
            "CRC failures); flash the datalogger firmware"
        )


def _end_reason(code: int) -> str:
    try:
        return EndReason(code).name.lower().replace("_", " ")
    except ValueError:
        return f"reason {code}"


def _status_line(decoder: FrameDecoder, elapsed: float) -> str:
    stats = decoder.stats
    rate = stats.bytes_received / max(elapsed, 1e-9) / 1e6
    return (f"{rate:.2f} MB/s, {stats.crc_failures} CRC failures, "
            f"{len(stats.sequence_gaps)} gaps ({stats.frames_lost} frames lost)")


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
        "frames_by_type": assembler.counts,
        **stats.to_json(),
        "invalid_payloads": assembler.invalid_payloads,
        "device_overrun_blocks": device.overrun_blocks if device else None,
        "device_frames_recorded": device.frames_recorded if device else None,
        "frames_captured": int(samples.shape[0]),
        "data_gaps": gaps,
        "frames_missing": int(sum(count for _, count in gaps)),
        "dataset": None if failure else str(wav_path),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(json.dumps(capture_log, indent=2) + "\n")
    if failure is not None:
        raise CaptureError(f"{failure} (capture log: {log_path})")
    if samples.shape[0] == 0:
        raise CaptureError(f"no audio received ({stop_reason}); capture log: {log_path}")
    source = {
        "generator": "daisynet capture",
        "port": context["port"],
        "started_at": context["started_at"],
        "firmware_version": session.firmware_version,
        "protocol_version": PROTOCOL_VERSION,
        "session_id": session.session_id,
        "block_size": session.block_size,
        "control_channels": session.control_channels,
        "controls": "read once per block, held for the block's frames",
        "stop_reason": stop_reason,
        "gaps": gaps,
        "capture_log": log_path.name,
        **{k: v for k, v in context.items() if k.startswith("suggested_") or k == "emulated"},
    }
    Dataset(samples=samples, sample_rate=session.sample_rate,
            channels=[*session.audio_channels, *session.control_channels],
            source=source).save(wav_path)
    seconds = samples.shape[0] / session.sample_rate
    log(f"captured {seconds:.2f} s ({samples.shape[0]} frames) from {context['port']}: "
        f"{stop_reason}; {len(gaps)} gap(s), {capture_log['frames_missing']} frames missing, "
        f"{stats.crc_failures} CRC failures, {stats.garbage_bytes} bytes of garbage")
    log(f"wrote {wav_path}, {wav_path.with_suffix('.json').name} and {log_path.name}")
    return CaptureResult(wav_path, log_path, capture_log)


def capture_emulated(
    dataset: Dataset,
    output: str | Path,
    faults=None,
    realtime: bool = False,
    **options,
) -> CaptureResult:
    """Capture ``dataset`` played through the emulated datalogger (tools/emulated_device.py):
    the firmware's own recorder and encoder, a pseudo-terminal and pyserial, as with hardware.
    ``options`` go to ``capture``; the source's suggested model channels carry over."""
    from tools.emulated_device import EmulatedDatalogger

    suggestions = {key: value for key, value in dataset.source.items()
                   if key in ("suggested_inputs", "suggested_target")}
    with EmulatedDatalogger(dataset, faults=faults, realtime=realtime) as device:
        emulated = {"faults": vars(device.faults), "realtime": realtime,
                    "input_frames": device.frames, "ignored_channels": device.unused_channels}
        result = capture(device.port, output, source_extra={"emulated": emulated, **suggestions},
                         on_open=device.press_encoder, **options)
    result.log["emulated"]["device_summary"] = device.summary
    result.log_path.write_text(json.dumps(result.log, indent=2) + "\n")
    return result
