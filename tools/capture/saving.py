"""Saving a capture: the dataset and its capture log (NAME.capture.json), rescued elsewhere
when the destination fails at save time."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from daisynet.tools.capture.assembly import Assembler
from daisynet.tools.capture.errors import CaptureError
from daisynet.tools.capture.wire import PROTOCOL_VERSION, FrameDecoder
from daisynet.training.dataset import Dataset


@dataclass
class CaptureResult:
    dataset_path: Path | None
    log_path: Path
    log: dict = field(default_factory=dict)


def save_capture(assembler: Assembler, decoder: FrameDecoder, wav_path: Path, log_path: Path,
                 failure: CaptureError | None, stop_reason: str, duration: float | None,
                 context: dict, log: Callable[[str], None]) -> CaptureResult:
    """Writes what arrived (at most ``duration`` seconds) as the dataset at ``wav_path`` and
    the capture log at ``log_path``, with ``context`` (port, timing, link budget, ...) in the
    log. Raises CaptureError after saving the log when ``failure`` ended the capture, when
    nothing arrived, or when the files had to go to a rescue folder."""
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
        source["capture_log"] = capture_log_path(path).name
        _write_log(capture_log_path(path), capture_log)
        dataset.save(path)

    requested = wav_path
    wav_path = _write_rescued(wav_path, write)
    log_path = capture_log_path(wav_path)
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


def capture_log_path(wav_path: Path) -> Path:
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
