"""``daisynet train-bench``: how long the demo's training takes, how good it gets, and how much
that depends on the seed.

Runs the demo configuration (the built-in dataset and the reference model with the default
recipe) once per seed and prints, per seed, the wall time of training and the test ESR, then
their spread. With ``--starts N`` it instead counts dead starts: N + candidates - 1 seeds each
trained for the candidates' few epochs, and whether the multi-start of each of N runs picks a
live one. With ``--objective`` it times the refining stage's loss and gradient, the C++
kernel's against TensorFlow's (Keras' own forward pass under XLA: the baseline the kernel
exists to beat, measured here only), on the demo's refining windows. A benchmark, not a test:
the figures depend on the machine.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from daisynet.training.builtin_data import INPUTS, TARGET, make_waveshaper_dataset
from daisynet.training.model import REFERENCE, build_model
from daisynet.training.native_objective import NativeObjective
from daisynet.training.quiet_keras import import_keras
from daisynet.training.refine import every_nth_window, flat_parameters, objective_for, weight_setter
from daisynet.training.train import TrainConfig, fresh_start, train, train_epoch, training_windows

DEMO_SECONDS = 60.0  # the demo's dataset length (daisynet demo --seconds)
# A start is dead when its validation ESR after the candidates' epochs is at least this: every
# ReLU path is off, the output is a constant, and that gives ESR ~1 (a live start is at ~0.6
# or better by then).
DEAD_ESR = 0.9


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
    log(f"{'seed':>4}  {'train s':>8}  {'epochs':>6}  {'L-BFGS':>6}  {'kept seed':>9}  "
        f"{'test ESR':>9}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="daisynet-train-bench-") as scratch:
        for seed in seeds:
            dataset = make_waveshaper_dataset(DEMO_SECONDS, seed)
            report = train(dataset, _config(seed), Path(scratch) / f"seed{seed}",
                           log=lambda line: None)
            row = {"seed": seed, "train_seconds": report["train_seconds"],
                   "epochs": report["epochs_run"],
                   "refine_iterations": report["refine"]["iterations_run"],
                   "chosen_seed": report["chosen_seed"], "test_esr": report["test_esr"]}
            rows.append(row)
            log(f"{seed:>4}  {row['train_seconds']:>8.1f}  {row['epochs']:>6}  "
                f"{row['refine_iterations']:>6}  {row['chosen_seed']:>9}  "
                f"{row['test_esr']:>9.4f}")
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


def _start_val_esr(config: TrainConfig, objective, windows, seed: int, epochs: int) -> float:
    """The best validation loss of a start of ``seed`` after ``epochs`` Adam epochs, as the
    candidates are trained."""
    run = fresh_start(config, seed)
    for _ in range(epochs):
        train_epoch(run, objective, config, windows)
    return run.best_val_loss


def bench_starts(runs: int, log: Callable[[str], None]) -> dict:
    """Dead starts of the demo configuration: train seeds 0 .. runs + candidates - 2 for the
    candidates' epochs each (on the seed-0 demo data), then say, for the runs with seeds
    0 .. runs - 1, which of their candidates were dead and whether the one kept is live."""
    config = _config(0)
    dataset = make_waveshaper_dataset(DEMO_SECONDS, 0)
    windows, energy = training_windows(dataset, config)
    warmup = config.architecture().receptive_field
    epochs = config.candidate_epochs
    seeds = range(runs + config.candidates - 1)
    log(f"{len(seeds)} starts of the demo configuration, {epochs} epochs each ({_machine()}); "
        f"dead: validation ESR >= {DEAD_ESR}")
    objective = objective_for(build_model(config.architecture(), name=config.name), warmup)
    start_esr = {}
    for seed in seeds:
        start_esr[seed] = _start_val_esr(config, objective, windows, seed, epochs) / energy[
            "validation"]
        log(f"  seed {seed:>3}: val_esr {start_esr[seed]:.4f}"
            + ("  DEAD" if start_esr[seed] >= DEAD_ESR else ""))
    rows = []
    for run in range(runs):
        candidates = [run + index for index in range(config.candidates)]
        kept = min(candidates, key=start_esr.__getitem__)
        dead = [seed for seed in candidates if start_esr[seed] >= DEAD_ESR]
        rows.append({"run": run, "candidates": candidates, "dead": dead, "kept_seed": kept,
                     "kept_val_esr": start_esr[kept], "kept_dead": start_esr[kept] >= DEAD_ESR})
    dead_starts = sum(esr >= DEAD_ESR for esr in start_esr.values())
    caught = sum(bool(row["dead"]) and not row["kept_dead"] for row in rows)
    kept_dead = sum(row["kept_dead"] for row in rows)
    log(f"{dead_starts} of {len(seeds)} starts dead; {sum(bool(r['dead']) for r in rows)} of "
        f"{runs} runs had a dead candidate, the multi-start of {config.candidates} caught "
        f"{caught}; runs that kept a dead model: {kept_dead}")
    return {"mode": "starts", "machine": _machine(), "start_val_esr": start_esr, "rows": rows,
            "dead_starts": dead_starts, "runs_keeping_a_dead_model": kept_dead}


def tensorflow_baseline(model, warmup: int):
    """``objective(theta, x, y)`` as TensorFlow computes it: Keras' own forward pass of
    ``model`` (which it loads ``theta`` into) and its gradient, compiled with XLA. The
    baseline of ``bench_objective`` only; training uses the C++ kernel."""
    import tensorflow as tf

    keras = import_keras()
    variables = model.trainable_variables
    set_weights = weight_setter(model)

    @tf.function(jit_compile=True, reduce_retracing=True)
    def loss_and_gradient(x, y):
        with tf.GradientTape() as tape:
            prediction = model(x, training=False)
            loss = keras.ops.mean(keras.ops.square(y[:, warmup:] - prediction[:, warmup:]))
        return loss, tape.gradient(loss, variables)

    def objective(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        set_weights(theta)
        loss, gradients = loss_and_gradient(tf.constant(x), tf.constant(y))
        return float(loss), np.concatenate([g.numpy().ravel() for g in gradients]).astype(
            np.float64)

    return objective


def bench_objective(evaluations: int, log: Callable[[str], None]) -> dict:
    """Seconds per evaluation of the refining loss and gradient of the demo configuration
    (seed-0 data and weights, its refining share of the training windows), by the C++ kernel
    and by TensorFlow (``tensorflow_baseline``), measured in the same run, and how far apart
    their gradients are."""
    config = _config(0)
    windows, _ = training_windows(make_waveshaper_dataset(DEMO_SECONDS, 0), config)
    share = every_nth_window(windows["train"], config.refine_share)
    warmup = config.architecture().receptive_field
    model = build_model(config.architecture(), seed=0, name=config.name)
    theta = flat_parameters(model)
    native = NativeObjective(model, warmup)
    tensorflow = tensorflow_baseline(model, warmup)
    frames = share[0].shape[0] * share[0].shape[1]
    log(f"refining loss and gradient of the demo model: {share[0].shape[0]} windows, "
        f"{frames:,} frames, {evaluations} evaluations each ({_machine()})")
    seconds, gradients = {}, {}
    for name, objective in (("C++", lambda: native(theta, *share)),
                            ("TensorFlow", lambda: tensorflow(theta, *share))):
        _, gradients[name] = objective()  # the first call builds or compiles
        started = time.perf_counter()
        for _ in range(evaluations):
            objective()
        seconds[name] = (time.perf_counter() - started) / evaluations
        log(f"  {name:<10}  {seconds[name] * 1e3:7.1f} ms per evaluation")
    ratio = seconds["TensorFlow"] / seconds["C++"]
    difference = float(np.max(np.abs(gradients["C++"] - gradients["TensorFlow"]))
                       / np.max(np.abs(gradients["TensorFlow"])))
    log(f"C++ is {ratio:.1f}x faster; gradients differ by at most {difference:.1e} of the "
        f"largest component")
    return {"mode": "objective", "machine": _machine(), "windows": int(share[0].shape[0]),
            "seconds_per_evaluation": seconds, "speedup": ratio,
            "max_relative_gradient_difference": difference}
