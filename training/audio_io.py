"""Reading a model's input channels from a WAV (or a dataset) and writing its output."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from daisynet.host_sim.files import atomic_output
from daisynet.host_sim.model_defn import ModelSpec
from daisynet.training.dataset import (
    dataset_paths,
    load_dataset,
    range_warnings,
    read_wav,
    write_float_wav,
)


def read_model_inputs(path: str | Path, spec: ModelSpec) -> tuple[np.ndarray, int]:
    """(frames, spec.inputs) float32 and the sample rate.

    A dataset (WAV with a JSON sidecar) provides the model's inputs by channel name, in the
    order the model takes them; a plain WAV must hold exactly the model's inputs, in order.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".json" or dataset_paths(path)[1].exists():
        dataset = load_dataset(path, required_channels=spec.input_names)
        return dataset.select(spec.input_names), dataset.sample_rate
    samples, rate = read_wav(path)
    if samples.shape[1] != spec.inputs:
        raise ValueError(
            f"{path.name} has {samples.shape[1]} channel(s); the model takes {spec.inputs}: "
            f"{', '.join(spec.input_names)} (in that order)"
        )
    if not np.all(np.isfinite(samples)):
        raise ValueError(f"{path.name} contains NaN or inf samples")
    return samples, int(rate)


def input_warnings(path: str | Path, samples: np.ndarray, rate: int, spec: ModelSpec) -> list[str]:
    """What about the model inputs read from ``path`` would make the model misbehave: another
    sample rate than it was trained at, values the Patch never delivers."""
    warnings = []
    if spec.sample_rate and rate != spec.sample_rate:
        warnings.append(f"{path} is at {rate} Hz but the model was trained at {spec.sample_rate} "
                        f"Hz; time constants will be off by {spec.sample_rate / rate:.3f}x")
    return warnings + range_warnings(spec.input_names, samples)


def write_output(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        write_float_wav(temporary, samples, sample_rate)
    return path
