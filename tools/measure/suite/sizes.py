"""The model sizes the suite trains on every device: one line per model family and size."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSize:
    """A model the suite trains on every device: ``config(inputs)`` gives the TrainConfig
    options that pick it for a dataset with ``inputs`` model inputs (none: train's default)."""

    name: str
    description: str
    config: Callable[[int], dict]
    # train picks the model itself (training/defaults.py), as ``daisynet train`` does without
    # architecture options; the plain loop then trains the model it picked.
    chooses: bool = False


@functools.cache
def largest_wavenet(inputs: int) -> dict:
    """The widest wavenet of train's default depth and kernel that ``plan`` says fits at 48 kHz
    (its search on the emulated M7: about 11 builds, once per run)."""
    from daisynet.tools.measure.plan import fits_at, search_limits
    from daisynet.training.train import TrainConfig

    filters, kernel = TrainConfig.filters, TrainConfig.kernel_size
    widest, _ = search_limits(inputs, kernel, filters, fits_at)
    if widest is None:
        raise ValueError("plan finds no wavenet of the default depth that fits at 48 kHz")
    return {"filters": (widest,) * len(filters), "kernel_size": kernel}


def gru_config(units: int) -> dict:
    """A GRU of ``units`` with the options ``daisynet train --family gru`` defaults to."""
    from daisynet.training.recurrent import GRU_DEFAULTS

    defaults = {key: value for key, value in GRU_DEFAULTS.items() if key != "name"}
    return {**defaults, "family": "gru", "units": units}


# One line per model family and size.
MODEL_SIZES: tuple[ModelSize, ...] = (
    ModelSize("default", "what daisynet train picks without architecture options: the "
              "widest wavenet and the largest GRU that fit the Daisy at the dataset's rate, each "
              "probed, the better on validation trained on", lambda inputs: {}, chooses=True),
    ModelSize("largest", "the widest wavenet of the default depth that plan says fits at "
              "48 kHz", largest_wavenet),
    ModelSize("gru32", "a GRU of 32 units, the dry input skipped to its output",
              lambda inputs: gru_config(32)),
    ModelSize("gru10", "a GRU of 10 units (NeuralSeed's size), the dry input skipped to its "
              "output", lambda inputs: gru_config(10)),
)
SIZE_NAMES = tuple(size.name for size in MODEL_SIZES)


def model_size(name: str) -> ModelSize:
    for size in MODEL_SIZES:
        if size.name == name:
            return size
    raise ValueError(f"no model size {name!r}; choose from {', '.join(SIZE_NAMES)}")
