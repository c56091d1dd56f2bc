"""The model ``daisynet train`` trains without architecture options: the largest of each family
that fits the Daisy at the dataset's rate (host_sim/daisy_fit.py), each probed briefly from the
run's seed on the same splits; the best on validation goes on through ``train()``, which
carries its probe on as its first candidate.

Neither family wins everywhere on the device suite (README, "Device suite"): the GRU of 32 units
was best on the resonant low-passes, the widest wavenet on the overdrive and the compressor, so
the data decides, at equal time when there is a time budget.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from daisynet.host_sim.daisy_fit import (
    SAFETY_MARGIN,
    estimated_load,
    largest_gru,
    widest_wavenet,
)
from daisynet.host_sim.model_defn import GruArchitecture
from daisynet.training.dataset import Dataset
from daisynet.training.knobs import is_knob
from daisynet.training.metrics import esr
from daisynet.training.model import build_for, predict_sequence
from daisynet.training.progress import plural
from daisynet.training.recurrent import GRU_DEFAULTS, StatefulGruTraining
from daisynet.training.refine import objective_for, weight_setter
from daisynet.training.train import (
    FAMILIES,
    Probe,
    TrainConfig,
    dataset_splits,
    epoch_trainer,
    fresh_start,
    train,
    train_epoch,
    training_windows,
)
from daisynet.training.windows import gap_free_ranges

# With --max-seconds, each probe may take this share of it (it finishes the pass it is in):
# the losing probe's time is the price of choosing, the winner's is carried on.
PROBE_SHARE = 0.1
# A probe's passes are sized so that at least this many fit in its share: at 120 s on 100 s of
# material under load an epoch of either family took 24-36 s, three times a 12 s share, and the
# probes took half of the budget (README, "Device suite").
PROBE_PASSES = 2


def fitting_configs(config: TrainConfig, sample_rate: int,
                    families: tuple[str, ...] = FAMILIES,
                    given: frozenset[str] = frozenset()) -> list[TrainConfig]:
    """``config`` as the largest model of each of ``families`` estimated to fit the Daisy at
    ``sample_rate`` (4 blocks of kernel 4 for a wavenet), with that family's defaults
    (training/recurrent.py GRU_DEFAULTS for a GRU) for every field not in ``given`` (the
    options the user set). ValueError if none fits."""
    inputs = len(config.inputs)
    audio = [i for i, name in enumerate(config.inputs) if not is_knob(name)]
    configs = []
    for family in families:
        if family == "gru":
            arch = largest_gru(inputs, sample_rate, audio[0] if audio else None)
            shape = {} if arch is None else {"units": arch.units}
            defaults = GRU_DEFAULTS
        else:
            arch = widest_wavenet(inputs, sample_rate)
            shape = {} if arch is None else {"filters": arch.filters,
                                             "kernel_size": arch.kernel_size}
            defaults = {}
        if arch is not None:
            configs.append(dataclasses.replace(
                config, family=family, **shape,
                **{key: value for key, value in defaults.items() if key not in given}))
    if not configs:
        raise ValueError(f"no {' or '.join(families)} model fits the Daisy at {sample_rate:,} "
                         f"Hz with {plural(inputs, 'input')}")
    return configs


def describe(config: TrainConfig, sample_rate: int) -> str:
    """A candidate model in a few words: its shape, MACs and estimated load."""
    arch = config.architecture()
    shape = (f"GRU {arch.units}" if isinstance(arch, GruArchitecture)
             else f"wavenet {'x'.join(map(str, (arch.filters[0], len(arch.filters))))} "
                  f"K{arch.kernel_size}")
    load = estimated_load(arch, sample_rate)
    return f"{shape} ({arch.macs_per_sample:,} MACs, ~{100 * load:.0f}% load)"


def validation_esr(dataset: Dataset, config: TrainConfig, theta: np.ndarray,
                   skip: int) -> float:
    """ESR of ``config``'s model with flat parameters ``theta`` over the validation split,
    each gap-free range run from zero state, its first ``skip`` frames unscored: the same frames
    for every candidate given the same ``skip``."""
    model = build_for(config.architecture(), name=config.name)
    weight_setter(model)(theta)
    inputs, target = dataset.select(config.inputs), dataset.select([config.target])
    gaps = dataset.source.get("gaps", [])
    targets, predictions = [], []
    for part in dataset_splits(dataset, config)["validation"]:
        for piece in gap_free_ranges(part, gaps):
            if piece.stop - piece.start <= skip:
                continue
            predicted = predict_sequence(model, inputs[piece.start : piece.stop], config.warmup)
            targets.append(target[piece.start + skip : piece.stop])
            predictions.append(predicted[skip:])
    return esr(np.concatenate(targets), np.concatenate(predictions))


def _passes(record: dict) -> str:
    """A probe's passes in words: "3 epochs", or "5 passes over 1/4 of the training windows"."""
    if record["windows_per_pass"] == "1/1":
        return plural(record["passes"], "epoch")
    passes = record["passes"]
    return (f"{passes} pass{'' if passes == 1 else 'es'} over {record['windows_per_pass']} of "
            "the training windows")


def _epoch_windows(epochs_on, windows) -> tuple[float, float]:
    """An epoch's training and validation work in training windows' worth: the windows
    themselves, or for a GRU trained statefully its batches' lanes and its validation frames
    over a window's length."""
    (x, _), validation = windows["train"], windows["validation"]
    if not isinstance(epochs_on, StatefulGruTraining):
        return len(x), len(validation[0])
    window = epochs_on.warmup + epochs_on.scored
    frames = sum(part.frames for part in epochs_on.validation)
    return epochs_on.batches_per_epoch * epochs_on.lanes, frames / window


def _parts(objective, run, config: TrainConfig, windows, share: float,
           epoch_windows: tuple[float, float] | None = None) -> int:
    """Into how many parts a probe's passes divide an epoch so that PROBE_PASSES passes (each a
    part and all of the validation) fit in ``share`` seconds, from the time one batch of
    training windows takes (its gradient is not applied), an epoch being ``epoch_windows``
    (training, validation) windows' worth (default: the windows); 1 when whole epochs fit."""
    (x, y), validation = windows["train"], windows["validation"]
    train_windows, validation_windows = epoch_windows or (len(x), len(validation[0]))
    batch = slice(0, config.batch_size)
    objective(run.theta, x[batch], y[batch])  # a first call may build or compile
    timed = time.perf_counter()
    objective(run.theta, x[batch], y[batch])
    per_window = (time.perf_counter() - timed) / len(x[batch])
    # per_window * (train_windows / parts + validation_windows) <= share / PROBE_PASSES
    room = share / PROBE_PASSES / per_window - validation_windows
    most = max(1, int(train_windows) // config.batch_size)  # a pass holds a batch at least
    return most if room <= 0 else min(most, max(1, math.ceil(train_windows / room)))


def train_default(dataset: Dataset, candidates: list[TrainConfig], out_dir: str | Path,
                  log: Callable[[str], None] = print) -> dict:
    """Probe each of ``candidates`` (fitting_configs) from the run's seed, keep the best on the
    validation split, and train it on with ``train()``; returns its report, whose
    ``default_choice`` records every probe. One candidate is trained without a probe; a
    candidate whose windows the dataset is too short for is left out, saying why."""
    rate = dataset.sample_rate
    prepared = []
    for config in candidates if len(candidates) > 1 else []:
        try:
            prepared.append((config, training_windows(dataset, config)[0]))
        except ValueError as err:
            if config is candidates[-1] and not prepared:
                raise
            log(f"not trying {describe(config, rate)}: {err}")
    if len(prepared) < 2:
        return train(dataset, prepared[0][0] if prepared else candidates[0], out_dir, log)
    candidates = [config for config, _ in prepared]
    budget = candidates[0].max_seconds
    log(f"no architecture options: trying the largest model of each family that fits the "
        f"Daisy at {rate:,} Hz within {100 * SAFETY_MARGIN:.0f}% of its cycles (estimated): "
        + ", ".join(describe(config, rate) for config in candidates))
    # Each probe trains one seed for the candidates' epochs, or its share of --max-seconds
    # if sooner; all are then scored on the same validation frames.
    share = None if budget is None else PROBE_SHARE * budget
    started = time.perf_counter()
    probes, records = [], []
    for config, windows in prepared:
        epochs = min(config.candidate_epochs, max(1, config.max_epochs // 4))
        model = build_for(config.architecture(), seed=config.seed, name=config.name)
        objective = objective_for(model, config.warmup)
        # The probe trains as train() goes on: a GRU statefully, scored as the test is.
        epochs_on = epoch_trainer(dataset, config, objective, dataset_splits(dataset, config))
        size = _epoch_windows(epochs_on, windows)
        run = fresh_start(config, config.seed)
        probe_started = time.perf_counter()
        parts = 1 if share is None else _parts(objective, run, config, windows, share, size)
        while run.epochs < epochs * parts and (
                not run.epochs or share is None or time.perf_counter() - probe_started < share):
            train_epoch(run, epochs_on, config, windows, run.epochs % parts, parts)
            if run.epochs_since_best >= config.patience:
                break
        seconds = time.perf_counter() - probe_started
        # A whole epoch's seconds, from the work the passes did (validation's too).
        per_window = seconds / (run.epochs * (size[0] / parts + size[1]))
        probes.append(Probe(run, per_window * sum(size)))
        records.append({"family": config.family, "architecture": config.architecture().to_json(),
                        "macs_per_sample": config.architecture().macs_per_sample,
                        "estimated_load": round(estimated_load(config.architecture(), rate), 4),
                        "passes": run.epochs, "windows_per_pass": f"1/{parts}",
                        "seconds": round(seconds, 2),
                        "stopped_by": ("its epochs" if run.epochs >= epochs * parts else
                                       f"its share of --max-seconds ({share:.1f} s)"
                                       if share is not None and seconds >= share
                                       else "no better validation loss")})
    skip = max(config.warmup for config in candidates)
    for config, probe, record in zip(candidates, probes, records, strict=True):
        record["validation_esr"] = validation_esr(dataset, config, probe.run.best_theta, skip)
        log(f"probe {describe(config, rate)}: validation ESR {record['validation_esr']:.4f} "
            f"after {_passes(record)} in {record['seconds']:.1f} s (stopped by "
            f"{record['stopped_by']})")
    best = min(range(len(candidates)), key=lambda index: records[index]["validation_esr"])
    for index, record in enumerate(records):
        record["kept"] = index == best
    others = ", ".join(f"{records[i]['validation_esr']:.4f} for {describe(candidates[i], rate)}"
                       for i in range(len(candidates)) if i != best)
    why = (f"the lowest validation ESR after the probes: {records[best]['validation_esr']:.4f} "
           f"against {others}, on the same validation frames (each range from zero state, "
           f"its first {skip} frames unscored)")
    log(f"keeping {describe(candidates[best], rate)}: {why}")
    choice = {"rule": "the largest model of each family estimated to fit the Daisy at the "
                      f"dataset's rate within {100 * SAFETY_MARGIN:.0f}% of its cycles, each "
                      "probed from the run's seed for the candidates' epochs"
                      + ("" if share is None else
                         f" or {100 * PROBE_SHARE:.0f}% of --max-seconds, in passes over a "
                         f"part of the training windows if {PROBE_PASSES} epochs would not fit "
                         "in that"),
              "probes": records, "chosen": best, "why": why,
              "stages": [{"stage": f"probe {describe(config, rate)}", "status": "ran",
                          "why": f"{_passes(record)}, stopped by {record['stopped_by']}"}
                         for config, record in zip(candidates, records, strict=True)]}
    return train(dataset, candidates[best], out_dir, log, started=started, probe=probes[best],
                 choice=choice)
