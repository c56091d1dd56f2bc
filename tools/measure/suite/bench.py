"""``daisynet train-bench --suite``: how the product's recipe does on third-party devices,
against a plain Keras loop over the same architecture, splits and wall time.

Per device (devices.py) it writes a dataset of material with the knob turning (material.py),
then per model size trains it with ``train()`` as ``daisynet train`` does, and trains the same
architecture with a plain loop: Keras ``fit`` with Adam at a fixed learning rate on the same
training windows, for as long as the product took, keeping the weights with the best
validation loss. Both are scored on the same test frames. It prints a table (test ESR of each,
their ratio, seconds), writes report.json (rewritten after every row, so an interrupted run
keeps what it measured) and a plot per device. A benchmark, not a test: the figures depend on
the machine.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path
from time import perf_counter

import numpy as np

from daisynet.host_sim.files import write_text
from daisynet.training.dataset import Dataset, load_dataset
from daisynet.training.defaults import fitting_configs, train_default
from daisynet.training.metrics import esr
from daisynet.training.model import build_for, predict_sequence
from daisynet.training.quiet_keras import import_keras
from daisynet.training.train import MODEL_FILE, TrainConfig, train, training_windows
from daisynet.training.windows import Split, gap_free_ranges

REPORT_FILE = "report.json"
DATASETS = "datasets"  # the devices' datasets, NAME.wav + NAME.json, in this subfolder
# The plain loop: Adam at Keras' default learning rate, never changed, the product's batch size.
PLAIN_LEARNING_RATE = 1e-3
KNOB_BINS = 10  # the plot's ESR per knob bin: equal parts of 0..1
# A bin needs this many scored test frames (a tenth of a second) for its ESR to mean anything.
MIN_BIN_FRAMES = 4800
EXCERPT_SECONDS = 0.03  # the plot's excerpt of the test split, where the target is loudest


def _machine() -> str:
    return f"{os.cpu_count()} CPU cores visible, {len(os.sched_getaffinity(0))} usable"


def scored_frames(ranges: list[Split], warmup: int, gaps) -> np.ndarray:
    """The frames ``train`` scores in ``ranges``: all but gaps and the warm-up after each."""
    return np.concatenate([np.arange(piece.start + warmup, piece.stop)
                           for part in ranges for piece in gap_free_ranges(part, gaps)]
                          or [[]]).astype(int)


def predictions(model, dataset: Dataset, config: TrainConfig, ranges: list[Split]) -> np.ndarray:
    """The model's output over ``ranges`` of ``dataset``, each from zero state, at the frames'
    own places in a (frames,) array (NaN elsewhere)."""
    inputs = dataset.select(config.inputs)
    out = np.full(dataset.frames, np.nan, dtype=np.float32)
    for part in ranges:
        out[part.start : part.stop] = predict_sequence(model, inputs[part.start : part.stop],
                                                       config.warmup)[:, 0]
    return out


def recorded_test_split(report: dict) -> list[Split]:
    """The test split a ``train`` report records."""
    return [Split("test", first, first + frames)
            for first, frames in report["splits"]["test"]["ranges"]]


def _scored_mse(warmup: int):
    keras = import_keras()

    def loss(target, prediction):
        return keras.ops.mean(keras.ops.square(target[:, warmup:] - prediction[:, warmup:]))

    return loss


def _out_of_time(started: float, seconds: float) -> bool:
    return perf_counter() - started >= seconds


def _budget(started: float, seconds: float):
    """A Keras callback that ends ``fit`` after the batch that spends ``seconds`` since
    ``started``."""
    keras = import_keras()

    class Budget(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if _out_of_time(started, seconds):
                self.model.stop_training = True

    return Budget()


def plain_fit(dataset: Dataset, config: TrainConfig, seconds: float,
              log: Callable[[str], None]) -> dict:
    """The plain loop: ``config``'s architecture from its seed, Keras ``fit`` with Adam at
    PLAIN_LEARNING_RATE on ``train``'s training windows until ``seconds`` are spent (checked
    after every batch; at least one batch), the validation loss after every epoch and at the
    end; the weights with the best validation loss are kept. Returns the model, epochs
    (a cut-short last one counted) and seconds."""
    keras = import_keras()
    windows, energy = training_windows(dataset, config)
    model = build_for(config.architecture(), seed=config.seed, name="plain")
    model.compile(optimizer=keras.optimizers.Adam(PLAIN_LEARNING_RATE),
                  loss=_scored_mse(config.warmup))
    (x, y), (val_x, val_y) = windows["train"], windows["validation"]
    best_loss, best_weights, epochs = float("inf"), model.get_weights(), 0
    started = perf_counter()
    budget = _budget(started, seconds)
    while epochs == 0 or not _out_of_time(started, seconds):
        model.fit(x, y, batch_size=config.batch_size, epochs=1, shuffle=True, verbose=0,
                  callbacks=[budget])
        val_loss = float(model.evaluate(val_x, val_y, batch_size=config.batch_size, verbose=0))
        epochs += 1
        if val_loss < best_loss:
            best_loss, best_weights = val_loss, model.get_weights()
        log(f"    plain epoch {epochs}: val_esr {val_loss / energy['validation']:.4f} (best "
            f"{best_loss / energy['validation']:.4f})  "
            f"{perf_counter() - started:.0f}/{seconds:.0f} s")
    model.set_weights(best_weights)
    return {"model": model, "epochs": epochs, "seconds": perf_counter() - started,
            "best_val_esr": best_loss / energy["validation"]}


def knob_bin_esr(target: np.ndarray, prediction: np.ndarray, knob: np.ndarray) -> list:
    """ESR per KNOB_BINS equal parts of the knob's range (None where too few frames)."""
    bins = np.minimum((knob * KNOB_BINS).astype(int), KNOB_BINS - 1)
    out = []
    for index in range(KNOB_BINS):
        chosen = bins == index
        enough = chosen.sum() >= MIN_BIN_FRAMES and np.any(target[chosen] != 0)
        out.append(esr(target[chosen], prediction[chosen]) if enough else None)
    return out


def loudest_excerpt(target: np.ndarray, frames: np.ndarray, length: int) -> np.ndarray:
    """The ``length`` consecutive scored frames (of ``frames``, ascending) where ``target`` has
    the most energy."""
    energy = np.convolve(target[frames] ** 2, np.ones(length), mode="valid")
    contiguous = frames[length - 1 :] - frames[: len(frames) - length + 1] == length - 1
    start = int(np.argmax(np.where(contiguous, energy, -1.0)))
    return frames[start : start + length]


def plot_device(path: Path, device, rows: list[dict], target: np.ndarray, dry: np.ndarray,
                excerpt: np.ndarray, sample_rate: int) -> None:
    """Target and each model's prediction over the excerpt; ESR per knob bin beneath."""
    from daisynet.training.plots import _save, plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8))
    t = 1000 * (excerpt - excerpt[0]) / sample_rate
    top.plot(t, dry[excerpt], color="0.8", label="dry input")
    top.plot(t, target[excerpt], color="black", linewidth=2, label="device (target)")
    for row in rows:
        top.plot(t, row["excerpt"]["product"], label=f"{row['model']}: product")
        top.plot(t, row["excerpt"]["plain"], linestyle="--", label=f"{row['model']}: plain loop")
    top.set_xlabel(f"ms (test split, from frame {int(excerpt[0]):,}: where the device's output "
                   "is loudest)")
    top.set_title(f"{device.name}: {device.description}", fontsize=8, wrap=True)
    top.legend(fontsize=7)
    centres = (np.arange(KNOB_BINS) + 0.5) / KNOB_BINS
    for row in rows:
        for who, style in (("product", "-o"), ("plain", "--s")):
            values = np.array([np.nan if v is None else v for v in row["knob_bin_esr"][who]])
            bottom.semilogy(centres, values, style, label=f"{row['model']}: {who}")
    bottom.set_xlim(0.0, 1.0)
    bottom.set_xlabel(f"knob (test split, in {KNOB_BINS} bins)")
    bottom.set_ylabel("test ESR")
    bottom.grid(True, which="both", alpha=0.3)
    bottom.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


HEADER = (f"{'device':<11} {'model':<8} {'MACs':>6}  {'ESR product':>11} {'plain':>8} "
          f"{'ratio':>6}  {'product s':>9} {'plain s':>8}")


def table_row(row: dict) -> str:
    return (f"{row['device']:<11} {row['model']:<8} {row['macs_per_sample']:>6,}  "
            f"{row['product_test_esr']:>11.4f} {row['plain_test_esr']:>8.4f} "
            f"{row['ratio']:>6.2f}  {row['product_seconds']:>9.0f} {row['plain_seconds']:>8.0f}")


def run_suite(devices: list, sizes: list, seconds: float, out_dir: Path,
              log: Callable[[str], None], max_seconds: float | None = None, seed: int = 0,
              train_options: dict | None = None) -> dict:
    """Benchmark ``sizes`` on ``devices`` (see the module docstring); ``train_options`` are
    further TrainConfig options for both (the tiny test's few epochs)."""
    from daisynet.tools.measure.suite.material import INPUTS, TARGET, make_device_dataset

    keras = import_keras()
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"mode": "suite", "machine": _machine(),
              "date": datetime.date.today().isoformat(), "seconds_of_material": seconds,
              "max_seconds": max_seconds, "plain_learning_rate": PLAIN_LEARNING_RATE,
              "devices": {device.name: device.description for device in devices},
              "models": {size.name: size.description for size in sizes}, "rows": []}
    runs = len(devices) * len(sizes)

    def indented(line: str) -> None:
        log(f"    {line}")
    log(f"device suite: {len(devices)} devices x {len(sizes)} model sizes, {seconds:g} s of "
        f"material each, product budget "
        f"{'unlimited' if max_seconds is None else f'{max_seconds:g} s'} ({_machine()})")
    for device in devices:
        log(f"{device.name}: {device.description}")
        # Trained as loaded from its file, so each run's training record names it (export
        # calibrates on its validation split; verify finds it).
        make_device_dataset(device, seconds, seed).save(out_dir / DATASETS / device.name)
        dataset = load_dataset(out_dir / DATASETS / device.name)
        target, dry = dataset.channel(TARGET), dataset.channel("audio_in_1")
        knob = dataset.channel("knob_1")
        device_rows = []
        for size in sizes:
            number = len(report["rows"]) + 1
            config = TrainConfig(inputs=list(INPUTS), target=TARGET, seed=seed,
                                 max_seconds=max_seconds,
                                 **{**size.config(len(INPUTS)), **(train_options or {})})
            run_dir = out_dir / device.name / size.name
            if size.chooses:
                log(f"[{number}/{runs}] {device.name}, {size.name}: daisynet train, choosing")
                product = train_default(dataset, fitting_configs(
                    config, dataset.sample_rate, given=frozenset(train_options or {})),
                    run_dir, log=indented)
                # The plain loop trains what train chose.
                config = TrainConfig(**{**product["config"],
                                        "filters": tuple(product["config"]["filters"])})
            else:
                log(f"[{number}/{runs}] {device.name}, {size.name} "
                    f"({config.architecture().macs_per_sample:,} MACs): daisynet train")
                product = train(dataset, config, run_dir, log=indented)
            arch = config.architecture()
            log(f"[{number}/{runs}] {device.name}, {size.name}: plain loop for "
                f"{product['train_seconds']:.0f} s")
            plain = plain_fit(dataset, config, product["train_seconds"], log)
            ranges = recorded_test_split(product)
            frames = scored_frames(ranges, config.warmup, dataset.source.get("gaps", []))
            product_model = keras.saving.load_model(run_dir / MODEL_FILE, compile=False)
            predicted = {"product": predictions(product_model, dataset, config, ranges),
                         "plain": predictions(plain["model"], dataset, config, ranges)}
            scores = {who: esr(target[frames], values[frames])
                      for who, values in predicted.items()}
            row = {"device": device.name, "model": size.name,
                   "architecture": product["architecture"],
                   "default_choice": product["default_choice"],
                   "macs_per_sample": arch.macs_per_sample, "parameters": arch.parameters,
                   "product_test_esr": scores["product"], "plain_test_esr": scores["plain"],
                   # train's own figure; the same frames scored the same way
                   "product_reported_test_esr": product["test_esr"],
                   "ratio": scores["product"] / scores["plain"],
                   "product_seconds": product["train_seconds"],
                   "plain_seconds": plain["seconds"], "plain_epochs": plain["epochs"],
                   "product_stopped_by_max_seconds": product["stopped_by_max_seconds"],
                   "knob_bin_esr": {who: knob_bin_esr(target[frames], values[frames],
                                                      knob[frames])
                                    for who, values in predicted.items()},
                   "predicted": predicted}
            device_rows.append(row)
            report["rows"].append({key: value for key, value in row.items()
                                   if key != "predicted"})
            log(HEADER)
            log(table_row(row))
            write_text(out_dir / REPORT_FILE, json.dumps(report, indent=2) + "\n")
        excerpt = loudest_excerpt(target, frames, int(EXCERPT_SECONDS * dataset.sample_rate))
        for row in device_rows:
            row["excerpt"] = {who: values[excerpt] for who, values in row["predicted"].items()}
        plot_device(out_dir / f"{device.name}.png", device, device_rows, target, dry, excerpt,
                    dataset.sample_rate)
    log("")
    log(HEADER)
    for row in report["rows"]:
        log(table_row(row))
    log(f"ratio: product / plain test ESR (below 1: the product is better); wrote "
        f"{out_dir / REPORT_FILE} and a plot per device")
    return report
