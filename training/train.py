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
from training.quiet_keras import import_keras
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
    max_epochs: int = 60
    # Stop after this many seconds of training instead (whichever comes first): the learning
    # rate schedule follows whichever limit is nearer, so a time-limited run still ends cool.
    max_seconds: float | None = None
    learning_rate: float = 0.005  # Adam's peak step, reached after the warm-up
    warmup_fraction: float = 0.02  # of the run spent ramping the step up from a tenth
    final_lr_fraction: float = 0.02  # the cosine decay ends at this fraction of the peak
    loss: str = "mse"  # one of LOSSES
    # A net this small can settle in a poor minimum from an unlucky start, and it shows within a
    # few epochs: train this many starts (seeds seed, seed+1, ...) for candidate_epochs each on
    # the same schedule, and carry on with the one of lowest validation ESR.
    candidates: int = 3
    candidate_epochs: int = 6
    # A start can die (a layer whose every ReLU is off passes no gradient, so nothing is
    # learnt); it is then replaced by one from the next seed, at most this many times.
    restarts: int = 3
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    name: str = "daisynet_wavenet"
    extra: dict = field(default_factory=dict)

    def architecture(self) -> Architecture:
        return Architecture(
            inputs=len(self.inputs), filters=tuple(self.filters), kernel_size=self.kernel_size
        )


# Losses over each window's scored frames. "mse" is what ESR measures (ESR is MSE over the
# target's mean square); "esr-pre" is the amp-modelling literature's pre-emphasised ESR, which
# weighs the upper spectrum more (edges, aliasing) at some cost in plain ESR.
LOSSES = ("mse", "esr-pre")
# A layer can also die in the first epochs, while the steps are large; after these the check
# stops (a later death shows in the validation ESR, and the best weights are kept anyway).
DEAD_CHECK_EPOCHS = 3
PROBE_WINDOWS = 16  # training windows a liveness check runs through


def learning_rate_at(progress: float, config: TrainConfig) -> float:
    """Adam's step at ``progress`` (0..1) through the run: a linear warm-up from a tenth of the
    peak, then a cosine decay to ``final_lr_fraction`` of it."""
    peak = config.learning_rate
    warmup = config.warmup_fraction
    if progress < warmup:
        return peak * (0.1 + 0.9 * progress / warmup)
    decay = min(1.0, (progress - warmup) / max(1e-9, 1.0 - warmup))
    floor = config.final_lr_fraction
    return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + np.cos(np.pi * decay)))


def _window_loss(kind: str, warmup: int):
    """Per-window loss over the frames after the first ``warmup`` (which saw zero padding)."""
    keras = import_keras()

    def masked_mse(y_true, y_pred):
        error = y_true[:, warmup:, :] - y_pred[:, warmup:, :]
        return keras.ops.mean(keras.ops.square(error), axis=(1, 2))

    def esr_pre_emphasis(y_true, y_pred):
        def emphasise(y):
            return y[:, warmup + 1 :, :] - DEFAULT_PRE_EMPHASIS * y[:, warmup:-1, :]

        target = emphasise(y_true)
        error = target - emphasise(y_pred)
        return keras.ops.sum(keras.ops.square(error), axis=(1, 2)) / (
            keras.ops.sum(keras.ops.square(target), axis=(1, 2)) + 1e-8)

    return {"mse": masked_mse, "esr-pre": esr_pre_emphasis}[kind]


def dead_layers(model, probe) -> list[str]:
    """Names of ReLU layers whose every output is zero for the ``probe`` windows: nothing
    reaches the layers after them, and no gradient reaches the layers before. The first one
    named is the cause; the ones after it are usually dead because of it."""
    keras = import_keras()
    relu_layers = [layer for layer in model.layers
                   if getattr(layer, "activation", None) is keras.activations.relu]
    outputs = keras.Model(model.input, [layer.output for layer in relu_layers])(probe)
    return [layer.name for layer, output in zip(relu_layers, outputs, strict=True)
            if float(keras.ops.max(output)) <= 0.0]


def _format_duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}:{seconds:02d}"


class _RunClock:
    """Where a run is between its limits (epochs, and seconds if ``max_seconds`` is set), over
    all its candidates: the candidates' epochs and seconds count towards the ETA and the time
    limit, while each start follows the schedule by its own steps."""

    def __init__(self, config: TrainConfig, steps_per_epoch: int, total_epochs: int) -> None:
        self.config = config
        self.total_steps = config.max_epochs * steps_per_epoch
        self.total_epochs = total_epochs
        self.epochs_done = 0
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def progress(self, steps_done: int) -> float:
        by_steps = steps_done / self.total_steps
        if self.config.max_seconds is None:
            return by_steps
        return max(by_steps, self.elapsed() / self.config.max_seconds)

    def out_of_time(self) -> bool:
        return self.config.max_seconds is not None and self.elapsed() >= self.config.max_seconds

    def eta(self) -> float:
        remaining = (self.total_epochs - self.epochs_done) * self.elapsed() / self.epochs_done
        if self.config.max_seconds is not None:
            remaining = min(remaining, max(0.0, self.config.max_seconds - self.elapsed()))
        return remaining


def _run_callback(config, clock, energy, probe, log, state, label=""):
    """Sets the learning rate every step, logs each epoch with the best so far and an ETA, stops
    at the time limit, and stops a dead run early (state["dead"] says why). One per start: its
    step count carries on when a candidate's training continues."""
    keras = import_keras()

    class RunCallback(keras.callbacks.Callback):
        steps_done = 0

        def on_train_batch_begin(self, batch, logs=None):
            progress = clock.progress(self.steps_done)
            self.model.optimizer.learning_rate.assign(learning_rate_at(min(progress, 1.0), config))
            if progress >= 1.0:  # the time limit, reached mid-epoch: this is the last step
                self.model.stop_training = True

        def on_train_batch_end(self, batch, logs=None):
            self.steps_done += 1

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            seconds = time.perf_counter() - self.epoch_started
            train_esr = logs["loss"] / energy["train"] if config.loss == "mse" else logs["loss"]
            val_esr = logs["val_loss"] / energy["validation"] if config.loss == "mse" \
                else logs["val_loss"]
            state["train_esr"].append(train_esr)
            state["val_esr"].append(val_esr)
            if val_esr < state["best_esr"]:
                state["best_esr"], state["best_epoch"] = val_esr, epoch + 1
                state["best_weights"] = self.model.get_weights()
            done = epoch + 1
            clock.epochs_done += 1
            log(f"{label}epoch {done:3d}/{config.max_epochs}  train_esr {train_esr:.4f}  "
                f"val_esr {val_esr:.4f}  best {state['best_esr']:.4f} (epoch "
                f"{state['best_epoch']})  lr {float(self.model.optimizer.learning_rate):.1e}  "
                f"{seconds:4.1f}s  ETA {_format_duration(clock.eta())}")
            if done <= DEAD_CHECK_EPOCHS:
                dead = dead_layers(self.model, probe)
                if dead:
                    state["dead"] = f"every ReLU of {dead[0]} is off after {done} " \
                                    f"epoch{'' if done == 1 else 's'}"
                    self.model.stop_training = True
            if clock.out_of_time():
                self.model.stop_training = True

    return RunCallback()


def _train_candidates(arch, config, windows, warmup, energy, best_path, log):
    """Train ``config.candidates`` starts from seeds ``config.seed``, ``config.seed + 1``, ...
    for ``config.candidate_epochs`` each, then carry on with the best to ``max_epochs``. A start
    that dies (at once or in its first epochs) is replaced by one from the next seed, at most
    ``config.restarts`` times. Returns the model (its last weights; state["best_weights"] are
    its best), its seed, its state (history, best validation ESR and epoch, restarts) and
    whether Ctrl-C ended the run."""
    keras = import_keras()

    x_train, y_train = windows["train"]
    steps_per_epoch = -(-len(x_train) // config.batch_size)
    probe = x_train[np.linspace(0, len(x_train) - 1, min(PROBE_WINDOWS, len(x_train))).astype(int)]
    several = config.candidates > 1
    # Short runs spend at most a quarter of their epochs on the candidates.
    first_epochs = min(config.candidate_epochs, max(1, config.max_epochs // 4)) if several \
        else config.max_epochs
    clock = _RunClock(config, steps_per_epoch,
                      total_epochs=config.candidates * first_epochs + config.max_epochs
                      - first_epochs)
    # One checkpoint callback for every start, so best.keras only ever gets better.
    checkpoint = keras.callbacks.ModelCheckpoint(best_path, monitor="val_loss",
                                                 save_best_only=True)
    restarts, starts = [], []
    seed = config.seed
    interrupted = False

    def fit(start, initial_epoch, epochs):
        model, state = start["model"], start["state"]
        history = keras.callbacks.History()
        try:
            model.fit(x_train, y_train, validation_data=windows["validation"],
                      batch_size=config.batch_size, initial_epoch=initial_epoch, epochs=epochs,
                      shuffle=True, callbacks=[*start["callbacks"], history], verbose=0)
        except KeyboardInterrupt:
            # Ctrl-C ends training, not the run: the best weights so far are evaluated and
            # saved like a finished run's (the last epoch may be half-trained).
            return True
        finally:
            for key, values in history.history.items():
                state["history"].setdefault(key, []).extend(values)
        return False

    while len(starts) < max(1, config.candidates) and not interrupted:
        model = build_model(arch, seed=seed, name=config.name)
        dead = dead_layers(model, probe)
        if dead and len(restarts) < config.restarts:
            restarts.append({"seed": seed, "epochs": 0,
                             "reason": f"every ReLU of {dead[0]} is off from the start"})
            log(f"seed {seed}: {restarts[-1]['reason']}; starting from seed {seed + 1}")
            seed += 1
            continue
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
                      loss=_window_loss(config.loss, warmup), jit_compile=True)
        state = {"train_esr": [], "val_esr": [], "best_esr": float("inf"), "best_epoch": 0,
                 "best_weights": None, "dead": None, "history": {}}
        label = f"candidate {len(starts) + 1}/{config.candidates} (seed {seed}): " \
            if several else ""
        start = {"seed": seed, "model": model, "state": state, "callbacks": [
            _run_callback(config, clock, energy, probe, log, state, label), checkpoint]}
        interrupted = fit(start, 0, first_epochs)
        if state["dead"] and not interrupted:
            restarts.append({"seed": seed, "epochs": len(state["val_esr"]),
                             "reason": state["dead"]})
            if len(restarts) <= config.restarts:
                log(f"seed {seed}: {state['dead']}; starting again from seed {seed + 1}")
                seed += 1
                continue
            log(f"warning: seed {seed}: {state['dead']}, and no restarts are left "
                f"(--restarts {config.restarts}); this model has learnt nothing")
        if state["best_weights"] is not None:
            starts.append(start)
        seed += 1
        if clock.out_of_time():
            break
    if not starts:
        raise KeyboardInterrupt  # Ctrl-C before any epoch finished: nothing worth saving
    best = min(starts, key=lambda start: start["state"]["best_esr"])
    best_state = best["state"]
    if interrupted and several:
        log(f"interrupted during the candidates; keeping seed {best['seed']}")
    elif several and first_epochs < config.max_epochs and not clock.out_of_time():
        log(f"continuing with seed {best['seed']} (validation ESR "
            f"{best_state['best_esr']:.4f})")
        interrupted = fit(best, first_epochs, config.max_epochs)
    best_state["restarts"] = restarts
    return best["model"], best["seed"], best_state, interrupted


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

    log(
        f"model: {arch.parameters} parameters, {arch.macs_per_sample} MACs/sample, "
        f"receptive field {arch.receptive_field} samples "
        f"({1000 * arch.receptive_field / dataset.sample_rate:.1f} ms)"
    )
    log(
        f"windows: {len(windows['train'][0])} train, {len(windows['validation'][0])} "
        f"validation, of {warmup} warm-up + {config.scored_frames} scored frames"
    )

    checkpoint_dir = out_dir / "checkpoints"
    checkpoint_dir.mkdir(exist_ok=True)
    best_path = checkpoint_dir / "best.keras"
    # The checkpoint is exportable on its own, whatever stops the run (export reads the names
    # and rate from the training.json beside a .keras file).
    (checkpoint_dir / REPORT_FILE).write_text(json.dumps(
        {"model_file": best_path.name, "name": config.name, "sample_rate": dataset.sample_rate,
         "inputs": list(config.inputs), "target": config.target,
         "note": "names and rate of the best checkpoint, for export"}, indent=2) + "\n")

    started = time.perf_counter()
    model, chosen_seed, state, interrupted = _train_candidates(
        arch, config, windows, warmup, energy, best_path, log)
    train_seconds = time.perf_counter() - started
    if state["best_weights"] is not None:
        model.set_weights(state["best_weights"])
    if interrupted:
        log(f"interrupted after {len(state['val_esr'])} epochs; keeping the best model so far")
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
        "epochs_run": len(state["val_esr"]),
        "best_epoch": state["best_epoch"],
        "best_validation_esr": state["best_esr"],
        "chosen_seed": chosen_seed,
        "restarts": state["restarts"],
        "history": {"loss": [float(v) for v in state["history"].get("loss", [])],
                    "val_loss": [float(v) for v in state["history"].get("val_loss", [])],
                    "train_esr": state["train_esr"], "val_esr": state["val_esr"]},
        "splits": evaluation,
        "test_esr": evaluation["test"]["esr"],
        "train_seconds": train_seconds,
        "keras_version": keras.__version__,
    }
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")

    from training.knobs import knob_sweeps
    from training.plots import plot_knob_sweeps, plot_losses, plot_predictions

    test = splits["test"]
    plot_losses(state["train_esr"], state["val_esr"], out_dir / "loss.png",
                esr_kind="pre-emphasis ESR" if config.loss == "esr-pre" else "ESR")
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
    log(
        f"trained {epochs_run} epoch{'' if epochs_run == 1 else 's'} in {train_seconds:.1f}s "
        f"(best {state['best_epoch']}); "
        + "  ".join(f"{name} ESR {values['esr']:.4f}" for name, values in evaluation.items())
    )
    return report
