"""Saving a capture: the dataset and its capture log (NAME.capture.json), rescued under a fresh
name when the destination fails at save time.

Every file is first written whole beside its destination, then renamed into place through
``atomic_output``: a full disk, a vanished folder or a crash leaves no truncated file and no
dataset half (a sidecar without its WAV) under the name, and an earlier file is replaced only
when asked, also when another capture took the name while this one recorded."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import soundfile

from daisynet.host_sim.files import OutputPathError, atomic_output
from daisynet.tools.capture.assembly import Assembler
from daisynet.tools.capture.errors import CaptureError
from daisynet.tools.capture.wire import PROTOCOL_VERSION, FrameDecoder
from daisynet.tools.text import plural
from daisynet.training.dataset import Dataset


@dataclass
class CaptureResult:
    dataset_path: Path | None
    log_path: Path
    log: dict = field(default_factory=dict)


def save_capture(assembler: Assembler, decoder: FrameDecoder, wav_path: Path, log_path: Path,
                 failure: CaptureError | None, stop_reason: str, duration: float | None,
                 context: dict, log: Callable[[str], None], replace: bool = False,
                 lost: str | None = None) -> CaptureResult:
    """Writes what arrived (at most ``duration`` seconds) as the dataset at ``wav_path`` and
    the capture log at ``log_path``, with ``context`` (port, timing, link budget, ...) in the
    log; earlier files of those names are replaced only with ``replace``. ``lost`` says what
    the device had that did not arrive (an abandoned transfer, an unplug). Raises CaptureError
    after saving the log when ``failure`` ended the capture, when nothing arrived, and after
    saving the dataset when something was ``lost`` or the files had to go under a fresh
    name."""
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
        wav_path, _ = _save_rescuing(
            wav_path, lambda path: [capture_log_path(path)],
            lambda folder, path: _write_log(folder / capture_log_path(path).name, capture_log),
            replace)
        log_path = capture_log_path(wav_path)
        if failure is not None:
            raise CaptureError(f"{failure} (capture log: {log_path})")
        nothing = (f"all {samples.shape[0]} frames the device recorded were lost"
                   if samples.shape[0] else "no audio frames arrived")
        raise CaptureError(f"{nothing} ({stop_reason}); nothing saved but the capture log: "
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

    def write(folder: Path, path: Path) -> None:
        capture_log["dataset"] = str(path)
        source["capture_log"] = capture_log_path(path).name
        _write_log(folder / capture_log_path(path).name, capture_log)
        dataset.save(folder / path.name)

    requested = wav_path
    # The log first and the sidecar last: an interrupted placing never leaves a sidecar
    # without its WAV.
    wav_path, reason = _save_rescuing(
        wav_path, lambda path: [capture_log_path(path), path, path.with_suffix(".json")], write,
        replace)
    log_path = capture_log_path(wav_path)
    seconds = samples.shape[0] / session.sample_rate
    resent = sum(r.get("blocks_received", 0) for r in context.get("resend_rounds", []))
    log(f"captured {seconds:.2f} s ({samples.shape[0]} frames) from {context['port']}: "
        f"{stop_reason}; {plural(len(gaps), 'gap')}, "
        f"{plural(capture_log['frames_missing'], 'audio frame')} missing, "
        f"{plural(stats.crc_failures, 'CRC failure')}, "
        f"{plural(stats.garbage_bytes, 'byte')} of garbage"
        + (f", {plural(resent, 'block')} resent" if resent else "")
        + (f", {plural(left, 'frame')} left on the device" if (left := context.get(
            "frames_left_on_device")) else ""))
    log(f"wrote {wav_path}, {wav_path.with_suffix('.json').name} and {log_path.name}")
    if gaps:
        _warn_if_too_gappy_to_train(samples.shape[0], session.sample_rate, gaps, log)
    problems = [lost] if lost else []
    if wav_path != requested:
        problems.append(f"could not write {reason}")
    if problems:
        raise CaptureError("; ".join(problems) + f"; the capture is saved as {wav_path} "
                           + ("instead " if wav_path != requested else "")
                           + "(with its .json and .capture.json)")
    return CaptureResult(wav_path, log_path, capture_log)


def capture_log_path(wav_path: Path) -> Path:
    return wav_path.with_name(wav_path.stem + ".capture.json")


def _write_log(path: Path, capture_log: dict) -> None:
    path.write_text(json.dumps(capture_log, indent=2) + "\n")


def rescue_folders() -> list[Path]:
    """Where a capture goes when its own folder fails at save time: the user's home, then the
    temporary folder."""
    return [Path.home() / "daisynet-rescued", Path(tempfile.gettempdir()) / "daisynet-rescued"]


def _save_rescuing(path: Path, names: Callable[[Path], list[Path]],
                   write: Callable[[Path, Path], None], replace: bool) -> tuple[Path, str]:
    """Saves the files ``names(path)`` that ``write(folder, path)`` writes into ``folder``
    (see ``_write_together``), creating ``path``'s folder if it is missing (or vanished while
    recording); when that fails (the name was taken meanwhile, the folder became read-only,
    full or a file), saves them under a fresh name beside
    ``path``, then in the first rescue folder that works. Returns the path used and why the
    requested one failed. (Nothing is printed on the way: after SIGHUP the terminal may be
    gone, and printing must not cost the recording.)"""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fresh = [path.with_name(f"{path.stem}-rescued-{stamp}{path.suffix}"),
             *(folder / f"{stamp}-{path.name}" for folder in rescue_folders())]
    reasons: list[str] = []
    for candidate in [path, *fresh]:
        try:
            # The requested folder is created only now, so a capture refused earlier leaves none.
            if candidate == path or candidate.parent in rescue_folders():
                candidate.parent.mkdir(parents=True, exist_ok=True)
            _write_together(names(candidate), lambda folder, c=candidate: write(folder, c),
                            replace and candidate == path)
            return candidate, reasons[0] if reasons else ""
        except OutputPathError as err:
            reasons.append(str(err))
        except (OSError, soundfile.SoundFileError) as err:
            reasons.append(f"{candidate}: {_reason(err)}")
    raise CaptureError("could not save the capture anywhere (" + "; ".join(reasons) + ")")


def _reason(err: Exception) -> str:
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return str(err).split(": ", 1)[-1].strip() or type(err).__name__


def _write_together(paths: list[Path], write: Callable[[Path], None], replace: bool) -> None:
    """``write(folder)`` writes each of ``paths`` under its name into a scratch folder beside
    them; then each is renamed into place in order through ``atomic_output``. A write that
    fails (a full disk) leaves every destination as it was; a name that cannot be placed
    (taken meanwhile, with ``replace`` off) takes back the files placed before it, which were
    new."""
    with tempfile.TemporaryDirectory(dir=paths[0].parent, prefix=".daisynet-capture-") as scratch:
        write(Path(scratch))
        placed: list[Path] = []
        try:
            for path in paths:
                with atomic_output(path, replace) as temporary:
                    os.replace(Path(scratch) / path.name, temporary)
                placed.append(path)
        except BaseException:
            if not replace:
                for path in placed:
                    with contextlib.suppress(OSError):
                        path.unlink()
            raise


def _warn_if_too_gappy_to_train(frames: int, sample_rate: int, gaps: list[list[int]],
                                log: Callable[[str], None]) -> None:
    """Say so when `daisynet train` with its defaults would find a split without a window."""
    from daisynet.training.model import REFERENCE
    from daisynet.training.train import TrainConfig
    from daisynet.training.windows import window_counts

    warmup, scored = REFERENCE.receptive_field, TrainConfig.scored_frames
    counts = window_counts(frames, sample_rate, gaps, warmup, scored)
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        log(f"warning: too gappy to train with the default window ({warmup} warm-up + {scored} "
            f"scored frames): no gap-free window in the {' and '.join(empty)} split(s) "
            f"(windows per split: {counts}); capture again (record mode resends lost blocks: "
            "--mode record) or train with a shorter --window")
