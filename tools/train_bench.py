"""``daisynet train-bench``: how long the demo's training takes, how good it gets, and how much
that depends on the seed.

Runs the demo configuration (the built-in dataset and the reference model with the default
recipe) once per seed and prints, per seed, the wall time of training and the test ESR, then
their spread. A benchmark, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from tools.builtin_data import INPUTS, TARGET, make_waveshaper_dataset
from training.model import REFERENCE
from training.train import TrainConfig, train

DEMO_SECONDS = 60.0  # the demo's dataset length (daisynet demo --seconds)


def _config(seed: int, **overrides) -> TrainConfig:
    return TrainConfig(inputs=INPUTS, target=TARGET, filters=REFERENCE.filters,
                       kernel_size=REFERENCE.kernel_size, seed=seed, **overrides)


def _machine() -> str:
    return f"{os.cpu_count()} CPU cores visible, {len(os.sched_getaffinity(0))} usable"


def bench_seeds(seeds: list[int], log: Callable[[str], None]) -> dict:
    """Train the demo configuration once per seed (data and weights seeded alike, as
    ``daisynet demo --seed`` does)."""
    log(f"training the demo configuration for seeds {', '.join(map(str, seeds))} "
        f"({_machine()})")
    log(f"{'seed':>4}  {'train s':>8}  {'epochs':>6}  {'kept seed':>9}  {'test ESR':>9}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="daisynet-train-bench-") as scratch:
        for seed in seeds:
            dataset = make_waveshaper_dataset(DEMO_SECONDS, seed)
            report = train(dataset, _config(seed), Path(scratch) / f"seed{seed}",
                           log=lambda line: None)
            row = {"seed": seed, "train_seconds": report["train_seconds"],
                   "epochs": report["epochs_run"], "chosen_seed": report["chosen_seed"],
                   "test_esr": report["test_esr"]}
            rows.append(row)
            log(f"{seed:>4}  {row['train_seconds']:>8.1f}  {row['epochs']:>6}  "
                f"{row['chosen_seed']:>9}  {row['test_esr']:>9.4f}")
    esrs = [row["test_esr"] for row in rows]
    times = [row["train_seconds"] for row in rows]
    spread = {
        "test_esr_min": min(esrs), "test_esr_max": max(esrs),
        "test_esr_mean": statistics.fmean(esrs),
        "test_esr_stdev": statistics.stdev(esrs) if len(esrs) > 1 else 0.0,
        "train_seconds_min": min(times), "train_seconds_max": max(times),
        "train_seconds_mean": statistics.fmean(times),
    }
    log(f"test ESR {spread['test_esr_min']:.4f} .. {spread['test_esr_max']:.4f} (mean "
        f"{spread['test_esr_mean']:.4f}, stdev {spread['test_esr_stdev']:.4f}); training "
        f"{spread['train_seconds_min']:.0f} .. {spread['train_seconds_max']:.0f} s")
    return {"mode": "seeds", "machine": _machine(), "rows": rows, "spread": spread}
