"""Train a wavenet on a dataset and write model.keras, training.json and plots."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tools.dataset import Dataset
from training.metrics import DEFAULT_PRE_EMPHASIS, esr
from training.model import Architecture, build_model, predict_sequence
from training.progress import format_duration
from training.quiet_keras import import_keras
from training.refine import RefineResult, every_nth_window, refine
from training.windows import contiguous_splits, gap_free_ranges, make_windows

MODEL_FILE = "model.keras"
REPORT_FILE = "training.json"
KNOBS_PLOT = "knobs.png"  # written only for models with knob/CV inputs


@dataclass
class TrainConfig:
    """Everything that decides a training run; recorded in training.json."""

    inputs: list[str]
    target: str
    filters: tuple[int, ...] = (4, 4, 4, 8)
    kernel_size: int = 4
    scored_frames: int = 2048  # frames per window that count in the loss, after the warm-up
    batch_size: int = 16
    max_epochs: int = 12  # Adam epochs, the chosen candidate's included
    max_seconds: float | None = None  # stop after this many seconds of training, if sooner
    patience: int = 8  # epochs without a better validation loss before stopping
    learning_rate: float = 0.005
    # A net this small can settle in a poor minimum from an unlucky start, and it shows within
    # a few epochs: train this many candidates (seeds seed, seed+1, ...) briefly, keep the best.
    candidates: int = 4
    candidate_epochs: int = 3
    # A candidate whose validation ESR is still above this after the Adam epochs is in a poor
    # basin: the next candidate is trained too (see train()).
    poor_start_esr: float = 0.2
    # Then L-BFGS on the whole loss of this share of the training windows (training/refine.py);
    # 0 iterations skips it. With the C++ objective an iteration costs ~0.07 s on the demo's
    # 281 windows (2 cores), so 12 Adam epochs + 900 iterations fit in ~2 minutes: measured on
    # data seeds 0/1/2, 12 + 1000 gave test ESR 0.013/0.027/0.047, where 18 + 700 gave
    # 0.024/0.040/0.064.
    refine_iterations: int = 900
    refine_share: float = 0.25
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    name: str = "daisynet_wavenet"
    extra: dict = field(default_factory=dict)

    def architecture(self) -> Architecture:
        return Architecture(
            inputs=len(self.inputs), filters=tuple(self.filters), kernel_size=self.kernel_size
        )


def _masked_mse(warmup: int):
    """MSE over each window's frames after the first ``warmup`` (which saw zero padding)."""
    keras = import_keras()

    def masked_mse(y_true, y_pred):
        error = y_true[:, warmup:, :] - y_pred[:, warmup:, :]
        return keras.ops.mean(keras.ops.square(error), axis=(1, 2))

    return masked_mse


def _epoch_logger(log: Callable[[str], None], config: TrainConfig, energy: dict[str, float],
                  started: float):
    """Logs each epoch with the best validation ESR so far and the time left (from the mean
    epoch time, or the --max-seconds limit if nearer), and stops the run at that limit."""
    keras = import_keras()

    class EpochLog(keras.callbacks.Callback):
        best_esr, best_epoch = float("inf"), 0

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()
            self.first_epoch = getattr(self, "first_epoch", epoch)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            now = time.perf_counter()
            # The loss is a mean square error over scored frames, so dividing by the mean
            # square of the target over the same frames gives the window-level ESR.
            train_esr = logs["loss"] / energy["train"]
            val_esr = logs["val_loss"] / energy["validation"]
            if val_esr < self.best_esr:
                self.best_esr, self.best_epoch = val_esr, epoch + 1
            elapsed = now - started
            remaining = (config.max_epochs - epoch - 1) * (now - self.run_started) / (
                epoch + 1 - self.first_epoch)
            if config.max_seconds is not None:
                remaining = min(remaining, max(0.0, config.max_seconds - elapsed))
                if elapsed >= config.max_seconds:
                    self.model.stop_training = True
            log(
                f"epoch {epoch + 1:3d}/{config.max_epochs}  train_esr {train_esr:.4f}  "
                f"val_esr {val_esr:.4f}  best {self.best_esr:.4f} (epoch {self.best_epoch})  "
                f"{now - self.started:5.1f}s  ETA {format_duration(remaining)}"
            )

        def on_train_begin(self, logs=None):
            self.run_started = time.perf_counter()

    return EpochLog()


def train_start(model, config: TrainConfig, windows, warmup: int, epochs: int,
                callbacks=()) -> dict[str, list[float]]:
    """Compile a fresh ``model`` and train it for ``epochs`` Adam epochs; returns the history."""
    keras = import_keras()

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss=_masked_mse(warmup),
        jit_compile=True,  # XLA: 1.29 -> 0.78 s per epoch at batch 16 on 2 cores
    )
    return model.fit(
        *windows["train"],
        validation_data=windows["validation"],
        batch_size=config.batch_size,
        epochs=epochs,
        shuffle=True,
        callbacks=list(callbacks),
        verbose=0,
    ).history


def training_windows(dataset: Dataset, config: TrainConfig):
    """The train and validation windows of ``dataset`` and the mean square of their scored
    targets (the ESR denominators): ``(windows, energy)``, keyed by split name."""
    warmup = config.architecture().receptive_field
    inputs = dataset.select(config.inputs)
    target = dataset.select([config.target])
    splits = contiguous_splits(dataset.frames, config.validation_fraction, config.test_fraction)
    gaps = dataset.source.get("gaps", [])  # a capture's lost frames; no window may span one
    windows = {
        name: make_windows(inputs, target, split, warmup, config.scored_frames, gaps)
        for name, split in splits.items()
        if name != "test"
    }
    energy = {name: float(np.mean(y[:, warmup:] ** 2)) for name, (_, y) in windows.items()}
    for name, value in energy.items():
        if value == 0.0:
            raise ValueError(f"target {config.target!r} is silent throughout the {name} split")
    return windows, energy


def _ranked_candidates(arch, config: TrainConfig, windows, warmup, energy, log, started):
    """Train ``config.candidates`` freshly seeded models for a few epochs; return them as
    (seed, model, per-epoch history) best first (by validation loss; still compiled, so their
    optimizer state carries on), and whether Ctrl-C cut the candidates short (then only those
    finished are returned; Ctrl-C during the first one propagates, as nothing is trained yet)."""
    # Short runs spend at most a quarter of their epochs on the candidates.
    epochs = min(config.candidate_epochs, max(1, config.max_epochs // 4))
    several = config.candidates > 1
    # A single candidate is the whole run's start, so its epochs are logged like the rest;
    # several are summed up one line each, but still stopped by --max-seconds.
    callbacks = [_epoch_logger(log if not several else lambda line: None, config, energy,
                               started)]
    finished = []  # (best validation loss, seed, model, history)
    interrupted = False
    for index in range(max(1, config.candidates)):
        seed = config.seed + index
        model = build_model(arch, seed=seed, name=config.name)
        try:
            history = train_start(model, config, windows, warmup, epochs, callbacks)
        except KeyboardInterrupt:
            if not finished:
                raise
            interrupted = True
            log(f"interrupted during candidate {index + 1}/{config.candidates}; keeping seed "
                f"{min(finished, key=lambda c: c[0])[1]}")
            break
        val_loss = min(history["val_loss"])
        if several:
            log(f"candidate {index + 1}/{config.candidates} (seed {seed}): val_esr "
                f"{val_loss / energy['validation']:.4f} after {epochs} epochs")
        finished.append((val_loss, seed, model, {k: list(v) for k, v in history.items()}))
        if config.max_seconds is not None and time.perf_counter() - started >= config.max_seconds:
            break  # --max-seconds: no time for more candidates (nor, in train(), the main run)
    ranked = [(seed, model, history) for _, seed, model, history in
              sorted(finished, key=lambda candidate: candidate[0])]
    if several and not interrupted:
        log(f"continuing with seed {ranked[0][0]}")
    return ranked, interrupted


def _out_of_time(config: TrainConfig, started: float) -> bool:
    return config.max_seconds is not None and time.perf_counter() - started >= config.max_seconds


def _adam_stage(model, config: TrainConfig, windows, energy, first_history, best_path, log,
                started):
    """Adam from a candidate's state to ``config.max_epochs``, with plateau halving, early
    stopping (ending on the best weights) and the best checkpoint at ``best_path``. Returns
    the candidate's whole per-epoch history and whether Ctrl-C ended it."""
    keras = import_keras()

    history = keras.callbacks.History()
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(2, config.patience // 3), min_lr=1e-5
        ),
        keras.callbacks.ModelCheckpoint(best_path, monitor="val_loss", save_best_only=True),
        _epoch_logger(log, config, energy, started),
        history,
    ]
    interrupted = False
    try:
        model.fit(
            *windows["train"],
            validation_data=windows["validation"],
            batch_size=config.batch_size,
            initial_epoch=len(first_history["loss"]),
            epochs=config.max_epochs,
            shuffle=True,
            callbacks=callbacks,
            verbose=0,
        )
    except KeyboardInterrupt:
        # Ctrl-C ends training, not the run: the best weights so far are evaluated and saved
        # like a finished run's (the last epoch may be half-trained).
        interrupted = True
        if best_path.exists():
            model.set_weights(keras.saving.load_model(best_path, compile=False).get_weights())
    return {key: first_history[key] + history.history.get(key, []) for key in first_history}, (
        interrupted)


def train(
    dataset: Dataset,
    config: TrainConfig,
    out_dir: str | Path,
    log: Callable[[str], None] = print,
) -> dict:
    """Train, evaluate every split, write artifacts into ``out_dir``; returns the report."""
    keras = import_keras()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arch = config.architecture()
    warmup = arch.receptive_field
    inputs = dataset.select(config.inputs)
    target = dataset.select([config.target])
    splits = contiguous_splits(dataset.frames, config.validation_fraction, config.test_fraction)
    gaps = dataset.source.get("gaps", [])

    windows, energy = training_windows(dataset, config)

    log(
        f"model: {arch.parameters} parameters, {arch.macs_per_sample} MACs/sample, "
        f"receptive field {arch.receptive_field} samples "
        f"({1000 * arch.receptive_field / dataset.sample_rate:.1f} ms)"
    )
    log(
        f"windows: {len(windows['train'][0])} train, {len(windows['validation'][0])} "
        f"validation, of {warmup} warm-up + {config.scored_frames} scored frames"
    )

    started = time.perf_counter()
    ranked, interrupted = _ranked_candidates(arch, config, windows, warmup, energy, log, started)
    checkpoint_dir = out_dir / "checkpoints"
    checkpoint_dir.mkdir(exist_ok=True)
    best_path = checkpoint_dir / "best.keras"
    # The checkpoint is exportable on its own, whatever stops the run (export reads the names
    # and rate from the training.json beside a .keras file).
    (checkpoint_dir / REPORT_FILE).write_text(json.dumps(
        {"model_file": best_path.name, "name": config.name, "sample_rate": dataset.sample_rate,
         "inputs": list(config.inputs), "target": config.target,
         "note": "names and rate of the best checkpoint, for export"}, indent=2) + "\n")
    # Adam takes the best candidate to max_epochs. A start that ends that above
    # config.poor_start_esr is in a poor basin L-BFGS cannot leave (on the demo data, 3 such
    # runs ended at test ESR 0.057..0.25; 5 of the 6 others at 0.021..0.035), so the next
    # candidate gets its turn; the best of those tried goes on.
    tried = []  # (best validation loss, seed, model, history)
    for attempt, (seed, model, first_history) in enumerate(ranked):
        if interrupted or _out_of_time(config, started):
            if not tried:
                tried.append((min(first_history["val_loss"]), seed, model, first_history))
            break
        if attempt > 0:
            log(f"validation ESR {tried[-1][0] / energy['validation']:.4f} after the Adam "
                f"epochs is above {config.poor_start_esr}: a poor start; trying seed {seed}")
        history, interrupted = _adam_stage(model, config, windows, energy, first_history,
                                           best_path, log, started)
        tried.append((min(history["val_loss"]), seed, model, history))
        if tried[-1][0] / energy["validation"] <= config.poor_start_esr:
            break
    val_loss, chosen_seed, model, losses = min(tried, key=lambda attempt: attempt[0])
    if len(tried) > 1:
        log(f"keeping seed {chosen_seed} (validation ESR {val_loss / energy['validation']:.4f})")
        model.save(best_path)
    if interrupted:
        log(f"interrupted after {len(losses['loss'])} epochs; keeping the best model so far")
    refined = RefineResult()
    if not interrupted and not _out_of_time(config, started) and config.refine_iterations > 0:
        share = every_nth_window(windows["train"], config.refine_share)
        log(f"refining with L-BFGS: up to {config.refine_iterations} iterations on the whole "
            f"loss of {len(share[0])} of the {len(windows['train'][0])} training windows")
        refined = refine(
            model, share, windows["validation"], warmup, config.refine_iterations,
            {"train": float(np.mean(share[1][:, warmup:] ** 2)),
             "validation": energy["validation"]},
            log,
            deadline=None if config.max_seconds is None else started + config.max_seconds,
        )
        model.save(best_path)  # the refined weights are the best the run has
        if refined.interrupted:
            interrupted = True
            log(f"interrupted after {refined.iterations_run} refining iterations; keeping the "
                f"best model so far")
    train_seconds = time.perf_counter() - started
    model.save(out_dir / MODEL_FILE)

    evaluation = {}
    test_prediction = None
    for name, split in splits.items():
        prediction = predict_sequence(model, inputs[split.start : split.stop], warmup)
        # Score what the model saw real audio for: not gaps, nor the warm-up after each.
        scored = np.concatenate([np.arange(part.start + warmup, part.stop) - split.start
                                 for part in gap_free_ranges(split, gaps)] or [[]]).astype(int)
        scored_target = target[split.start : split.stop][scored]
        scored_prediction = prediction[scored]
        evaluation[name] = {
            "frames": split.frames,
            "first_frame": split.start,
            "loss": float(np.mean((scored_target - scored_prediction) ** 2)),
            "esr": esr(scored_target, scored_prediction),
            "esr_pre_emphasis": esr(scored_target, scored_prediction, DEFAULT_PRE_EMPHASIS),
        }
        if name == "test":
            test_prediction = prediction

    best_epoch = int(np.argmin(losses["val_loss"])) + 1
    report = {
        "model_file": MODEL_FILE,
        "interrupted": interrupted,
        "name": config.name,
        "architecture": arch.to_json(),
        "params": arch.parameters,
        "macs_per_sample": arch.macs_per_sample,
        "receptive_field": arch.receptive_field,
        "dilations": arch.dilations,
        "sample_rate": dataset.sample_rate,
        "inputs": list(config.inputs),
        "target": config.target,
        "dataset_source": dataset.source,
        "config": {**asdict(config), "filters": list(config.filters)},
        "epochs_run": len(losses["loss"]),
        "best_epoch": best_epoch,
        "chosen_seed": chosen_seed,
        "seeds_tried": [attempt[1] for attempt in tried],
        "refine": {
            "iterations_run": refined.iterations_run,
            "best_iteration": refined.best_iteration,
            "stopped_by_max_seconds": refined.out_of_time,
            "objective": refined.objective,  # "C++", or "TensorFlow" where g++ is missing
            # (iteration, train loss on the refined windows, validation loss) per check
            "checks": [[i, float(t), float(v)] for i, t, v in refined.checks],
        },
        "history": {key: [float(v) for v in values] for key, values in losses.items()},
        "splits": evaluation,
        "test_esr": evaluation["test"]["esr"],
        "train_seconds": train_seconds,
        "keras_version": keras.__version__,
    }
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")

    from training.knobs import knob_sweeps
    from training.plots import plot_knob_sweeps, plot_losses, plot_predictions

    test = splits["test"]
    plot_losses(report["history"], energy, out_dir / "loss.png", report["refine"]["checks"])
    plot_predictions(
        target[test.start : test.stop, 0],
        test_prediction[:, 0],
        dataset.sample_rate,
        warmup,
        out_dir / "test_prediction.png",
        title=f"{config.name}: test split, ESR {evaluation['test']['esr']:.4f}",
    )
    sweeps = knob_sweeps(
        lambda batch: keras.ops.convert_to_numpy(model(batch, training=False)),
        list(config.inputs), inputs[splits["train"].start : splits["train"].stop],
        inputs[test.start : test.stop], warmup, dataset.sample_rate,
    )
    if sweeps is not None:
        plot_knob_sweeps(sweeps, out_dir / KNOBS_PLOT,
                         title=f"{config.name}: what the knobs do ({config.target})")
    epochs_run = report["epochs_run"]
    refined_part = (f" and {refined.iterations_run} L-BFGS iterations"
                    if refined.iterations_run else "")
    log(
        f"trained {epochs_run} epoch{'' if epochs_run == 1 else 's'}{refined_part} in "
        f"{train_seconds:.1f}s (best epoch {best_epoch}); "
        + "  ".join(f"{name} ESR {values['esr']:.4f}" for name, values in evaluation.items())
    )
    return report
