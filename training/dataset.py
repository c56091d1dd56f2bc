"""Dataset format: a multichannel float32 WAV plus a JSON sidecar.

``NAME.wav`` holds every channel at the capture sample rate (anyone can open it in an audio
editor); ``NAME.json`` names each channel in WAV order and records how the data was made.
Loading checks the pair against each other and against what the caller needs, and names the
channel at fault in every error or warning.
"""

from __future__ import annotations

import contextlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from daisynet.host_sim.daisy_target import AUDIO_FULL_SCALE
from daisynet.host_sim.files import atomic_output
from daisynet.host_sim.versions import version_problem

# The sidecar's "format" and "format_version": a reader refuses a version newer than its own.
FORMAT = "daisynet-dataset"
FORMAT_VERSION = 1

# A channel whose peak stays below this (about -120 dBFS) carries no signal.
SILENT_PEAK = 1e-6
# Audio samples at or above this magnitude count as clipped. Audio channels hold what the
# Patch's audio callback sees (full scale +-2.0; the largest sample is (2^23 - 1) * 2^-22).
CLIP_LEVEL = 0.9995 * AUDIO_FULL_SCALE
# More than this fraction of clipped samples in an audio channel earns a warning.
CLIP_FRACTION_WARN = 0.001
# Channels named so hold the Patch's controls, 0..1 (knobs, CV inputs, gates).
CONTROL_PREFIXES = ("knob", "cv", "gate")


class DatasetError(ValueError):
    """The dataset cannot be used; the message says which file or channel and why."""


@dataclass
class Dataset:
    """Frames x channels float32 samples with their names and provenance."""

    samples: np.ndarray
    sample_rate: int
    channels: list[str]
    source: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    path: Path | None = None  # the WAV it was loaded from, as given; None if made in memory

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def channel(self, name: str) -> np.ndarray:
        """One channel as a 1-D float32 array; DatasetError if the dataset lacks it."""
        return self.samples[:, self.channel_index(name)]

    def channel_index(self, name: str) -> int:
        if name not in self.channels:
            raise DatasetError(
                f"missing channel {name!r}; this dataset has: {', '.join(self.channels)}"
            )
        return self.channels.index(name)

    def select(self, names: list[str]) -> np.ndarray:
        """Frames x len(names) float32 array of the named channels, in the order given."""
        return np.ascontiguousarray(self.samples[:, [self.channel_index(n) for n in names]])

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write NAME.wav and NAME.json (any suffix on ``path`` is replaced)."""
        wav_path, json_path = dataset_paths(path)
        wav_path.parent.mkdir(parents=True, exist_ok=True)
        samples = np.ascontiguousarray(self.samples, dtype=np.float32)
        sidecar = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "sample_rate": self.sample_rate,
            "frames": self.frames,
            "channels": self.channels,
            "source": self.source,
        }
        # Both renamed into place only when both are written: a failure keeps an earlier
        # dataset whole.
        with contextlib.ExitStack() as renames:
            write_float_wav(renames.enter_context(atomic_output(wav_path)), samples,
                            self.sample_rate)
            renames.enter_context(atomic_output(json_path)).write_text(
                json.dumps(sidecar, indent=2) + "\n")
        return wav_path, json_path


def range_warnings(names: list[str], samples: np.ndarray) -> list[str]:
    """What in ``samples`` (frames x channels ``names``) the Patch would never deliver: audio
    beyond its full scale, knob/CV/gate values outside 0..1; and audio that looks clipped."""
    warnings = []
    for index, name in enumerate(names):
        column = samples[:, index]
        if not column.size:
            continue
        low, high = float(column.min()), float(column.max())
        if name.startswith(CONTROL_PREFIXES) and (low < 0.0 or high > 1.0):
            outside = float(np.mean((column < 0.0) | (column > 1.0)))
            warnings.append(f"channel {name!r} spans {low:.3g}..{high:.3g} ({100 * outside:.2g}% "
                            "of samples outside 0..1); the Patch's controls give 0..1")
        elif name.startswith("audio"):
            beyond = float(np.mean(np.abs(column) > AUDIO_FULL_SCALE))
            clipped = float(np.mean(np.abs(column) >= CLIP_LEVEL))
            if beyond > 0:
                warnings.append(
                    f"channel {name!r} peaks at {max(-low, high):.3g}, beyond the Patch's full "
                    f"scale of +-{AUDIO_FULL_SCALE:g} ({100 * beyond:.2g}% of samples); the "
                    "Patch never delivers such audio: scale it into range")
            elif clipped > CLIP_FRACTION_WARN:
                warnings.append(
                    f"channel {name!r} looks clipped: {100 * clipped:.2f}% of samples at "
                    f"|x| >= {CLIP_LEVEL}"
                )
    return warnings


def dataset_paths(path: str | Path) -> tuple[Path, Path]:
    """The WAV and JSON paths of a dataset given either file or the bare stem."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".wav", ".json") else path
    return stem.with_name(stem.name + ".wav"), stem.with_name(stem.name + ".json")


# A WAV's RIFF sizes are 32-bit: audio data beyond this (with room for the header chunks) is
# written as RF64 (EBU Tech 3306), which audio editors and libsndfile read as they read a WAV.
WAV_MAX_DATA_BYTES = 2**32 - 2**16


def wav_container(data_bytes: int) -> str:
    """libsndfile's container for ``data_bytes`` of audio: ``WAV``, or ``RF64`` past what a
    WAV's 32-bit sizes can hold (about 4 GiB: 50 minutes of a 7-channel capture at 48 kHz)."""
    return "WAV" if data_bytes <= WAV_MAX_DATA_BYTES else "RF64"


def write_float_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """A float32 WAV (RF64 past 4 GiB) at ``path`` (write it through ``atomic_output``).
    libsndfile's write failures, a full disk among them, come out as OSError like every other
    failed write."""
    samples = np.asarray(samples, dtype=np.float32)
    try:
        soundfile.write(path, samples, sample_rate, subtype="FLOAT",
                        format=wav_container(samples.nbytes))
    except soundfile.LibsndfileError as err:
        raise OSError(f"libsndfile: {err}") from err


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 samples and the sample rate of an audio file; DatasetError,
    naming the file, if it is not audio, holds no frames or is cut short."""
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path}: is a folder, not a WAV file")
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as err:
        reason = str(err).split(": ", 1)[-1].strip() or type(err).__name__
        raise DatasetError(f"{path}: cannot read as audio ({reason})") from err
    if samples.shape[0] == 0:
        raise DatasetError(f"{path}: holds no audio frames")
    announced = _wav_announced_frames(path)
    if announced is not None and announced > samples.shape[0]:
        raise DatasetError(f"{path}: truncated: its header announces {announced} frames, the "
                           f"file holds {samples.shape[0]}")
    return samples, int(rate)


def _wav_announced_frames(path: Path) -> int | None:
    """Frames a RIFF/WAVE file's data chunk announces (libsndfile reads a cut-short file
    without a word), or None for other formats and headers it cannot follow."""
    with path.open("rb") as file:
        head = file.read(1 << 16)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset, block_align = 12, None
    while offset + 8 <= len(head):
        chunk, size = head[offset : offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
        if chunk == b"fmt " and offset + 22 <= len(head):
            block_align = struct.unpack_from("<H", head, offset + 20)[0]
        if chunk == b"data":
            return size // block_align if block_align else None
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    return None


def _check_sidecar(sidecar: object, json_path: Path) -> dict:
    """The sidecar's keys with the types the format gives them (hand-edited files vary)."""
    if not isinstance(sidecar, dict):
        raise DatasetError(f"{json_path}: expected a JSON object, got {type(sidecar).__name__}")
    if sidecar.get("format") != FORMAT:
        raise DatasetError(f"{json_path}: format is {json.dumps(sidecar.get('format'))[:60]}, "
                           f"not {FORMAT!r}; a dataset sidecar says so (daisynet writes it)")
    problem = version_problem(sidecar.get("format_version"), FORMAT_VERSION, "dataset")
    if problem:
        raise DatasetError(f"{json_path}: {problem}")
    for key in ("sample_rate", "channels", "frames"):
        if key not in sidecar:
            raise DatasetError(f"{json_path}: required key {key!r} is missing")
    channels = sidecar["channels"]
    if not (isinstance(channels, list) and channels
            and all(isinstance(name, str) and name for name in channels)):
        raise DatasetError(f"{json_path}: 'channels' must be a list of channel names, got "
                           f"{json.dumps(channels)[:60]}")
    for key, least in (("sample_rate", 1), ("frames", 0)):
        value = sidecar[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise DatasetError(f"{json_path}: {key!r} must be a whole number of at least "
                               f"{least}, got {json.dumps(value)[:60]}")
    if not isinstance(sidecar.get("source", {}), dict):
        raise DatasetError(f"{json_path}: 'source' must be a JSON object, got "
                           f"{type(sidecar['source']).__name__}")
    return sidecar


def load_dataset(
    path: str | Path,
    required_channels: list[str] | None = None,
    sample_rate: int | None = None,
) -> Dataset:
    """Read and validate a dataset.

    Raises DatasetError for anything that makes the data unusable (missing files or channels,
    channel count or length disagreeing with the sidecar, NaN/inf, wrong sample rate, a required
    channel that is silent). Recoverable oddities (silent unused channels, clipped audio) are
    returned in ``Dataset.warnings``.
    """
    wav_path, json_path = dataset_paths(path)
    if not wav_path.exists():
        raise DatasetError(f"{wav_path}: no such file (a dataset is NAME.wav + NAME.json)")
    if not json_path.exists():
        raise DatasetError(
            f"{json_path}: sidecar missing; it names the channels of {wav_path.name}"
        )
    try:
        sidecar = _check_sidecar(json.loads(json_path.read_text()), json_path)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"{json_path}: not valid JSON ({err})") from err
    except OSError as err:
        raise DatasetError(f"{json_path}: cannot read ({err.strerror or err})") from err
    names = list(sidecar["channels"])
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise DatasetError(f"{json_path}: channel names repeat: {', '.join(duplicated)}")

    samples, wav_rate = read_wav(wav_path)

    wav_channels = samples.shape[1]
    if wav_channels > len(names):
        raise DatasetError(
            f"{wav_path.name} has {wav_channels} channels but {json_path.name} names "
            f"{len(names)}: extra unnamed channel(s) {len(names) + 1}..{wav_channels}"
        )
    if wav_channels < len(names):
        missing = names[wav_channels:]
        raise DatasetError(
            f"{wav_path.name} has {wav_channels} channels but {json_path.name} names "
            f"{len(names)}: missing channel(s) {', '.join(missing)}"
        )
    if wav_rate != sidecar["sample_rate"]:
        raise DatasetError(
            f"{wav_path.name} is at {wav_rate} Hz but {json_path.name} says "
            f"{sidecar['sample_rate']} Hz"
        )
    if sample_rate is not None and wav_rate != sample_rate:
        raise DatasetError(
            f"{wav_path.name} is at {wav_rate} Hz; expected {sample_rate} Hz "
            "(resample it or train at its rate)"
        )
    if samples.shape[0] != sidecar["frames"]:
        raise DatasetError(
            f"{wav_path.name} holds {samples.shape[0]} frames but {json_path.name} says "
            f"{sidecar['frames']} (truncated or edited file?)"
        )

    required = list(required_channels or [])
    for name in required:
        if name not in names:
            raise DatasetError(
                f"missing channel {name!r} in {wav_path.name}; it has: {', '.join(names)}"
            )

    warnings: list[str] = []
    for index, name in enumerate(names):
        column = samples[:, index]
        bad = ~np.isfinite(column)
        if bad.any():
            first = int(np.argmax(bad))
            raise DatasetError(
                f"channel {name!r} has {int(bad.sum())} non-finite (NaN/inf) samples, "
                f"first at frame {first} ({first / wav_rate:.3f} s)"
            )
        peak = float(np.max(np.abs(column))) if column.size else 0.0
        if peak < SILENT_PEAK:
            message = f"channel {name!r} is silent (peak {peak:.2g})"
            if name in required:
                raise DatasetError(message + "; a model cannot learn from or to silence")
            warnings.append(message)
    warnings += range_warnings(names, samples)

    return Dataset(
        samples=samples,
        sample_rate=int(wav_rate),
        channels=names,
        source=dict(sidecar.get("source", {})),
        warnings=warnings,
        path=wav_path,
    )


def describe(dataset: Dataset) -> str:
    """One line: length, rate and channel names."""
    minutes, seconds = divmod(dataset.seconds, 60)
    length = f"{int(minutes)}m{seconds:04.1f}s" if minutes else f"{seconds:.1f}s"
    return (
        f"{length} at {dataset.sample_rate} Hz, {len(dataset.channels)} channels: "
        f"{', '.join(dataset.channels)}"
    )
