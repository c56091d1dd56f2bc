"""Train a model (a wavenet, or a GRU: training/recurrent.py) on a dataset and write
model.keras, training.json and plots."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from daisynet.host_sim.files import OutputWriteError, atomic_output
from daisynet.host_sim.model_defn import GruArchitecture
from daisynet.training.adam import AdamRun, adam_epoch
from daisynet.training.dataset import Dataset
from daisynet.training.knobs import coverage_warnings, is_knob
from daisynet.training.metrics import DEFAULT_PRE_EMPHASIS, esr
from daisynet.training.model import Architecture, build_for, predict_sequence
from daisynet.training.progress import format_duration, plural
from daisynet.training.quiet_keras import import_keras
from daisynet.training.record import RECORD_FILE, DatasetRecord, TrainingRecord
from daisynet.training.recurrent import (
    RECURRENT_WARMUP,
    UPDATE_GATE_FRAMES,
    StatefulGruTraining,
    with_long_memory,
)
from daisynet.training.refine import (
    RefineResult,
    every_nth_window,
    flat_parameters,
    objective_for,
    refine,
    weight_setter,
)
from daisynet.training.windows import Split, dealt_splits, gap_free_ranges, make_windows

FAMILIES = ("wavenet", "gru")
MODEL_FILE = "model.keras"
CHECKPOINT = "checkpoints/best.keras"  # the best weights so far, from the first epoch on
LOSS_PLOT = "loss.png"
PREDICTION_PLOT = "test_prediction.png"
KNOBS_PLOT = "knobs.png"  # written only for models with knob/CV inputs
# The splits' ESRs differing by more than this factor earns a warning with the figures. Dealt
# splits measured 1.1-1.2x on a pedalboard overdrive and ladder filter and the demo's data seed
# 1, time-ordered ones 1.2-2.1x (10x in issue 24); 5.0x on data seed 0 was a 1.5 kHz ramp that
# only the test split held.
SPLIT_ESR_SPREAD = 3.0
# Adam epochs take ~0.15 s, saving a .keras file ~0.05 s: the best checkpoint is rewritten at
# most this often while Adam runs (and always at the end of each stage).
CHECKPOINT_SECONDS = 5.0
# With --max-seconds, the candidates together may take this share of the time left when they
# start (the first always trains: it is the run's start): at 120 s on the suite's distortions
# eight candidates of 8 epochs took all of it, and a plain loop's 11-26 epochs of one seed beat
# the few epochs each of several by 32-41% (README, "Device suite").
CANDIDATE_SHARE = 0.25


@dataclass
class TrainConfig:
    """Everything that decides a training run; recorded in the training record."""

    inputs: list[str]
    target: str
    family: str = "wavenet"  # one of FAMILIES
    filters: tuple[int, ...] = (4, 4, 4, 8)  # wavenet
    kernel_size: int = 4  # wavenet
    units: int = 32  # gru
    skip: bool = True  # gru: the input skip starts at 1 from the first audio input (else 0)
    # gru: frames each window runs from a zero state before it is scored (training/recurrent.py)
    recurrent_warmup: int = RECURRENT_WARMUP
    scored_frames: int = 2048  # frames per window that count in the loss, after the warm-up
    batch_size: int = 16
    max_epochs: int = 80  # Adam epochs, the chosen candidate's included
    max_seconds: float | None = None  # stop after this many seconds of training, if sooner
    # Epochs without a better validation loss before Adam stops; the learning rate halves after
    # a third of that.
    patience: int = 10
    learning_rate: float = 0.005
    # A net this small can settle in a poor minimum from an unlucky start, and it shows within
    # a few epochs: train this many candidates (seeds seed, seed+1, ...) briefly, keep the best.
    candidates: int = 8
    candidate_epochs: int = 8
    # The best this many candidates each get the Adam epochs, and the best of them on
    # validation goes on (see train()): a start can sit in a poor basin its few candidate
    # epochs do not show.
    finalists: int = 2
    # Then L-BFGS on the whole loss of this share of the training windows (training/refine.py);
    # 0 iterations skips it. With the C++ objective an Adam epoch of the demo's 1,124 windows
    # costs ~0.15 s and an iteration on its 281 refining windows ~0.07 s (2 cores), so the 8
    # candidates' epochs, 80 Adam epochs and 900 iterations fit in ~100 s.
    refine_iterations: int = 900
    refine_share: float = 0.25
    # L-BFGS stops after this many checks (every 50 iterations) without a better validation ESR.
    refine_patience: int = 3
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    name: str = "daisynet_wavenet"
    extra: dict = field(default_factory=dict)

    def architecture(self) -> Architecture | GruArchitecture:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown model family {self.family!r}; choose one of "
                             f"{', '.join(FAMILIES)}")
        if self.family == "gru":
            audio = [i for i, name in enumerate(self.inputs) if not is_knob(name)]
            return GruArchitecture(inputs=len(self.inputs), units=self.units,
                                   skip_input=audio[0] if self.skip and audio else None)
        return Architecture(
            inputs=len(self.inputs), filters=tuple(self.filters), kernel_size=self.kernel_size
        )

    @property
    def warmup(self) -> int:
        """Unscored frames at the start of each window: a wavenet's receptive field, a GRU's
        recurrent_warmup."""
        if self.family == "gru":
            return self.recurrent_warmup
        return self.architecture().receptive_field

    @property
    def plateau_patience(self) -> int:
        """Epochs without a better validation loss before the learning rate halves."""
        return max(2, self.patience // 3)


@dataclass
class Probe:
    """A start of the run's seed trained briefly before ``train`` (training/defaults.py), which
    carries it on as its first candidate: its Adam state and the seconds a whole epoch of it
    takes (measured on its passes, which may each cover a part of the training windows)."""

    run: AdamRun
    epoch_seconds: float


def output_files(out_dir: str | Path) -> list[Path]:
    """Every file ``train`` may write into ``out_dir``."""
    return [Path(out_dir) / name for name in (MODEL_FILE, RECORD_FILE, CHECKPOINT,
                                              str(Path(CHECKPOINT).with_name(RECORD_FILE)),
                                              LOSS_PLOT, PREDICTION_PLOT, KNOBS_PLOT)]


def save_model(model, path: Path) -> None:
    """``model`` saved to ``path`` (.keras) atomically: an earlier file stays whole if saving
    fails."""
    with atomic_output(path) as temporary:
        model.save(temporary)


def fresh_start(config: TrainConfig, seed: int) -> AdamRun:
    """Adam's state for a newly initialised model of ``config`` seeded with ``seed``."""
    arch = config.architecture()
    theta = flat_parameters(build_for(arch, seed=seed, name=config.name))
    if isinstance(arch, GruArchitecture):
        theta = with_long_memory(arch, theta, seed)
    return AdamRun.start(seed, theta, config.learning_rate)


def train_epoch(run: AdamRun, objective, config: TrainConfig, windows, part: int = 0,
                parts: int = 1) -> bool:
    """One Adam epoch of ``run`` with ``config``'s batch size and plateau patience: over the
    training windows, or by a StatefulGruTraining ``objective`` over its stretches; returns
    whether the validation loss improved. With ``parts`` > 1 it is a pass over one part: every
    ``parts``-th training window from ``part``, or that share of a GRU's batches (its lanes walk
    on from where the last pass left them)."""
    if isinstance(objective, StatefulGruTraining):
        return objective.epoch(run, config.plateau_patience,
                               -(-objective.batches_per_epoch // parts))
    x, y = windows["train"]
    return adam_epoch(run, objective, (x[part::parts], y[part::parts]), windows["validation"],
                      config.batch_size, config.plateau_patience)


def epoch_trainer(dataset: Dataset, config: TrainConfig, objective, splits):
    """What Adam's epochs run on: ``objective`` over the windows, or for a GRU the training
    split walked statefully with validation scored as the test split is
    (training/recurrent.py); the windows stay for L-BFGS."""
    if config.family != "gru":
        return objective
    return StatefulGruTraining(objective, dataset.select(config.inputs),
                               dataset.select([config.target]), splits,
                               dataset.source.get("gaps", []), config.scored_frames,
                               config.batch_size, dataset.sample_rate)


def _adam_epochs(run: AdamRun, objective, config: TrainConfig, windows, energy, epochs: int,
                 log: Callable[[str], None] | None, started: float,
                 on_improved: Callable[[AdamRun], None] = lambda run: None) -> bool:
    """Train ``run`` until it has ``epochs`` epochs, or --max-seconds passes, or ``config.patience``
    epochs pass without a better validation loss; returns whether --max-seconds stopped it.
    With ``log``, one line per epoch with the best validation ESR so far and the time left
    (from the mean epoch time, or the --max-seconds limit if nearer). Ctrl-C propagates,
    leaving ``run`` at its last epoch."""
    stage_started, first_epoch = time.perf_counter(), run.epochs
    while run.epochs < epochs:
        epoch_started = time.perf_counter()
        improved = train_epoch(run, objective, config, windows)
        now = time.perf_counter()
        if improved:
            on_improved(run)
        remaining = (epochs - run.epochs) * (now - stage_started) / (run.epochs - first_epoch)
        if config.max_seconds is not None:
            remaining = min(remaining, max(0.0, config.max_seconds - (now - started)))
        if log is not None:
            # The losses are mean square errors over scored frames, so dividing by the mean
            # square of the target over the same frames gives the window-level ESR.
            log(f"epoch {run.epochs:3d}/{config.max_epochs}  "
                f"train_esr {run.history['loss'][-1] / energy['train']:.4f}  "
                f"val_esr {run.history['val_loss'][-1] / energy['validation']:.4f}  "
                f"best {run.best_val_loss / energy['validation']:.4f} (epoch {run.best_epoch})  "
                f"{now - epoch_started:5.2f}s  ETA {format_duration(remaining)}")
        if run.epochs_since_best >= config.patience:
            return False
        if _out_of_time(config, started):
            return run.epochs < epochs
    return False


def dataset_splits(dataset: Dataset, config: TrainConfig) -> dict[str, list[Split]]:
    """The train, validation and test ranges of ``dataset`` (training/windows.py)."""
    return dealt_splits(dataset.frames, dataset.sample_rate, config.validation_fraction,
                        config.test_fraction)


def training_windows(dataset: Dataset, config: TrainConfig):
    """The train and validation windows of ``dataset`` and the mean square of their scored
    targets (the ESR denominators): ``(windows, energy)``, keyed by split name."""
    warmup = config.warmup
    inputs = dataset.select(config.inputs)
    target = dataset.select([config.target])
    splits = dataset_splits(dataset, config)
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


def _ranked_candidates(config: TrainConfig, objective, windows, energy, log, started,
                       cut_short: Callable[[str], None], probe: Probe | None = None):
    """Train ``config.candidates`` freshly seeded starts for a few epochs (the first from
    ``probe``'s run if given, carried on); return their Adam runs best first (by validation
    loss), and whether Ctrl-C cut the candidates short (then only those finished are returned;
    Ctrl-C during the first one propagates, as nothing is trained yet). What --max-seconds cuts
    short, or leaves unstarted (CANDIDATE_SHARE), is told to ``cut_short``."""
    # Short runs spend at most a quarter of their epochs on the candidates.
    epochs = min(config.candidate_epochs, max(1, config.max_epochs // 4))
    several = config.candidates > 1
    finished: list[AdamRun] = []
    interrupted = False
    stage_started = time.perf_counter()
    left = None if config.max_seconds is None else config.max_seconds - (stage_started - started)
    # Seconds per Adam epoch, from the epochs trained so far (the probe's included).
    timed = [0.0, 0] if probe is None else [probe.epoch_seconds, 1]
    for index in range(max(1, config.candidates)):
        seed = config.seed + index
        if index and left is not None and timed[1]:
            each = epochs * timed[0] / timed[1]
            if (index + 1) * each > CANDIDATE_SHARE * left:
                cut_short(f"{config.candidates - index} of {config.candidates} candidates not "
                          f"started: the candidates may take {100 * CANDIDATE_SHARE:.0f}% of "
                          f"the {left:.0f} s left, and one takes ~{each:.1f} s")
                break
        run = probe.run if index == 0 and probe is not None else fresh_start(config, seed)
        epoch_started, epochs_before = time.perf_counter(), run.epochs
        try:
            # A single candidate is the whole run's start, so its epochs are logged like the
            # rest; several are summed up one line each. A probe that spent the time is kept
            # as it is (a fresh start trains an epoch whatever the time).
            if run.epochs and _out_of_time(config, started):
                stopped = run.epochs < epochs
            else:
                stopped = _adam_epochs(run, objective, config, windows, energy, epochs,
                                       None if several else log, started)
        except KeyboardInterrupt:
            if not finished:
                raise
            interrupted = True
            log(f"interrupted during candidate {index + 1}/{config.candidates}; keeping seed "
                f"{min(finished, key=lambda run: run.best_val_loss).seed}")
            break
        timed[0] += time.perf_counter() - epoch_started
        timed[1] += run.epochs - epochs_before
        if several:
            log(f"candidate {index + 1}/{config.candidates} (seed {seed}): val_esr "
                f"{run.best_val_loss / energy['validation']:.4f} after "
                f"{plural(run.epochs, 'epoch')}")
        finished.append(run)
        if stopped:
            cut_short(f"candidate {index + 1} (seed {seed}) stopped after {run.epochs} of "
                      f"{epochs} epochs")
        if _out_of_time(config, started):
            if index + 1 < config.candidates:
                cut_short(f"{config.candidates - index - 1} of {config.candidates} candidates "
                          "not trained")
            break  # no time for more candidates (nor, in train(), the main run)
    ranked = sorted(finished, key=lambda run: run.best_val_loss)
    if several and not interrupted:
        log(f"continuing with seed {ranked[0].seed}")
    return ranked, interrupted


def _out_of_time(config: TrainConfig, started: float) -> bool:
    return config.max_seconds is not None and time.perf_counter() - started >= config.max_seconds


def _adam_stage(run: AdamRun, objective, config: TrainConfig, windows, energy, save_best, log,
                started, cut_short: Callable[[str], None]) -> bool:
    """Adam from a candidate's state to ``config.max_epochs`` (early stopping, plateau halving),
    saving the best weights with ``save_best`` at most every CHECKPOINT_SECONDS and at the end.
    Returns whether Ctrl-C ended it; ``run`` ends holding its best weights either way. A stop
    by --max-seconds is told to ``cut_short``."""
    last_save = [-float("inf")]  # the first improvement is saved at once

    def on_improved(improved: AdamRun) -> None:
        if time.perf_counter() - last_save[0] >= CHECKPOINT_SECONDS:
            save_best(improved.best_theta)
            last_save[0] = time.perf_counter()

    interrupted = False
    try:
        if _adam_epochs(run, objective, config, windows, energy, config.max_epochs, log,
                        started, on_improved):
            cut_short(f"Adam on seed {run.seed} stopped after {run.epochs} of "
                      f"{config.max_epochs} epochs")
    except KeyboardInterrupt:
        # Ctrl-C ends training, not the run: the best weights so far are evaluated and saved
        # like a finished run's.
        interrupted = True
    run.theta = run.best_theta.copy()
    save_best(run.best_theta)
    return interrupted


def train(
    dataset: Dataset,
    config: TrainConfig,
    out_dir: str | Path,
    log: Callable[[str], None] = print,
    *,
    started: float | None = None,
    probe: Probe | None = None,
    choice: dict | None = None,
) -> dict:
    """Train, evaluate every split, write artifacts into ``out_dir``; returns the training
    record (training.json) as JSON. A run that chose its model first (training/defaults.py)
    passes when it started (``time.perf_counter()``: --max-seconds and the recorded seconds
    count from there), the chosen model's ``probe`` to carry on, and the ``choice`` to record:
    ``{"probes": [...], "stages": [...], ...}``."""
    keras = import_keras()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arch = config.architecture()
    warmup = config.warmup
    inputs = dataset.select(config.inputs)
    target = dataset.select([config.target])
    splits = dataset_splits(dataset, config)
    gaps = dataset.source.get("gaps", [])

    windows, energy = training_windows(dataset, config)
    # Said before the minutes of training, recorded with the results.
    warnings = coverage_warnings(list(config.inputs), {
        name: np.concatenate([inputs[part.start : part.stop] for part in parts])
        for name, parts in splits.items()})
    for warning in warnings:
        log(f"warning: {warning}")

    log(f"model: {_described(arch, config.inputs, dataset.sample_rate)}")

    # The model that ends up holding the trained weights; the objective reads its layers (the
    # C++ kernel is built on first use, in seconds; Ctrl-C then propagates, nothing is trained).
    model = build_for(arch, seed=config.seed, name=config.name)
    objective = objective_for(model, warmup)
    epochs_on = epoch_trainer(dataset, config, objective, splits)
    if epochs_on is not objective:
        energy.update(epochs_on.energy)
        log(f"training: {len(epochs_on.stretches)} stretches of the train split walked by "
            f"{config.batch_size} lanes in windows of {config.scored_frames} frames, the "
            f"state carried on ({warmup} warm-up frames from each stretch's start), "
            f"{epochs_on.batches_per_epoch} batches an epoch; validation: "
            f"{plural(len(epochs_on.validation), 'range')}, one pass each")
    else:
        log(f"windows: {len(windows['train'][0])} train, {len(windows['validation'][0])} "
            f"validation, of {warmup} warm-up + {config.scored_frames} scored frames")
    set_weights = weight_setter(model)
    best_path = out_dir / CHECKPOINT
    checkpoint_dir = best_path.parent
    checkpoint_dir.mkdir(exist_ok=True)
    # The checkpoint is exportable on its own, quantized too, whatever stops the run (export
    # reads the names, rate, dataset and splits from the training record beside a .keras file).
    record = TrainingRecord(
        name=config.name, sample_rate=dataset.sample_rate, inputs=list(config.inputs),
        target=config.target, model_file=MODEL_FILE, dataset=DatasetRecord.of(dataset),
        splits={name: {"ranges": [[part.start, part.frames] for part in parts],
                       "frames": sum(part.frames for part in parts)}
                for name, parts in splits.items()})
    dataclasses.replace(record, model_file=best_path.name).write(checkpoint_dir)

    def save_best(theta: np.ndarray) -> None:
        set_weights(theta)
        save_model(model, best_path)

    cut_by_max_seconds: list[str] = []  # what --max-seconds stopped or skipped, in order

    def cut_short(what: str) -> None:
        cut_by_max_seconds.append(what)
        log(f"--max-seconds {config.max_seconds:g} reached: {what}")

    # Every stage in order, whether it ran, was cut or skipped, and why (printed at the end).
    stages: list[dict[str, str]] = []

    def stage_ended(stage: str, ran: str, cuts_before: int, interrupted: bool) -> None:
        cuts = cut_by_max_seconds[cuts_before:]
        status, why = (("cut", "--max-seconds: " + "; ".join(cuts)) if cuts
                       else ("cut", "Ctrl-C") if interrupted else ("ran", ran))
        stages.append({"stage": stage, "status": status, "why": why})

    if choice is not None:
        stages.extend(choice["stages"])
    started = time.perf_counter() if started is None else started
    ranked, interrupted = _ranked_candidates(config, epochs_on, windows, energy, log,
                                             started, cut_short, probe)
    stage_ended("candidates", f"{plural(len(ranked), 'seed')}, "
                f"{plural(max(run.epochs for run in ranked), 'epoch')} each", 0, interrupted)
    # Adam takes the best config.finalists candidates to max_epochs, one after the other, and
    # the best of them on validation goes on. A start can sit in a poor basin its candidate
    # epochs do not show (demo data seed 1: seed 3 ranked first, 0.241, and ended Adam at
    # 0.111; seed 6, ranked second at 0.260, at 0.060). Compared at equal epochs, no threshold
    # on the ESR is needed: an absolute one tuned on the demo called every start on a hard
    # device poor.
    tried: list[AdamRun] = []
    for run in ranked[: max(1, config.finalists)]:
        if interrupted or _out_of_time(config, started):
            if not tried:
                tried.append(run)
                if not interrupted:
                    cut_short(f"no Adam epochs beyond the candidates' (seed {run.seed} kept)")
            elif not interrupted:
                cut_short(f"seed {run.seed}, the next finalist, not trained after seed "
                          f"{tried[-1].seed}")
            stages.append({"stage": f"Adam, seed {run.seed}", "status": "skipped",
                           "why": "Ctrl-C" if interrupted else "--max-seconds"})
            break
        if tried:
            log(f"seed {tried[-1].seed} ended its Adam epochs at validation ESR "
                f"{tried[-1].best_val_loss / energy['validation']:.4f}; training seed "
                f"{run.seed}, the next finalist, as far")
        cuts_before = len(cut_by_max_seconds)
        interrupted = _adam_stage(run, epochs_on, config, windows, energy, save_best, log,
                                  started, cut_short)
        tried.append(run)
        stage_ended(f"Adam, seed {run.seed}", f"{plural(run.epochs, 'epoch')}, " + (
            f"stopped: no better validation ESR in {config.patience} epochs"
            if run.epochs < config.max_epochs else "all of --epochs"), cuts_before, interrupted)
    chosen = min(tried, key=lambda run: run.best_val_loss)
    save_best(chosen.best_theta)
    if len(tried) > 1:
        log(f"keeping seed {chosen.seed} (validation ESR "
            f"{chosen.best_val_loss / energy['validation']:.4f})")
    losses = chosen.history
    if interrupted:
        log(f"interrupted after {plural(chosen.epochs, 'epoch')}; keeping the best model so "
            "far")
    refined = RefineResult()
    if interrupted or config.refine_iterations == 0:
        stages.append({"stage": "L-BFGS", "status": "skipped",
                       "why": "Ctrl-C" if interrupted else "--refine-iterations 0"})
    elif _out_of_time(config, started):
        cut_short("L-BFGS refinement skipped")
        stages.append({"stage": "L-BFGS", "status": "skipped", "why": "--max-seconds"})
    else:
        cuts_before = len(cut_by_max_seconds)
        share = every_nth_window(windows["train"], config.refine_share)
        log(f"refining with L-BFGS: up to {plural(config.refine_iterations, 'iteration')} on "
            "the whole "
            f"loss of {len(share[0])} of the {len(windows['train'][0])} training windows")
        energy["refined"] = float(np.mean(share[1][:, warmup:] ** 2))
        refined = refine(
            model, objective, share, windows["validation"], warmup, config.refine_iterations,
            {"train": energy["refined"], "validation": energy["validation"]},
            log,
            deadline=None if config.max_seconds is None else started + config.max_seconds,
            patience=config.refine_patience,
        )
        save_model(model, best_path)  # the refined weights are the best the run has
        if refined.interrupted:
            interrupted = True
            log(f"interrupted after {plural(refined.iterations_run, 'refining iteration')}; "
                "keeping the "
                f"best model so far")
        if refined.out_of_time:
            cut_short(f"L-BFGS stopped after {refined.iterations_run} of "
                      f"{config.refine_iterations} iterations")
        stage_ended("L-BFGS", f"{plural(refined.iterations_run, 'iteration')}, " + (
            f"stopped: no better validation ESR in {config.refine_patience} checks"
            if refined.stopped_by_validation else "all of --refine-iterations"
            if refined.iterations_run >= config.refine_iterations else "converged"),
            cuts_before, refined.interrupted)
    train_seconds = time.perf_counter() - started
    try:
        save_model(model, out_dir / MODEL_FILE)
    except OSError as err:
        raise _kept(err, f"the trained weights are kept in {best_path}") from err

    evaluation = {}
    # The test split's longest range is the one plotted.
    test = max(splits["test"], key=lambda part: part.frames)
    for name, parts in splits.items():
        scored_target, scored_prediction = [], []
        for part in parts:
            prediction = predict_sequence(model, inputs[part.start : part.stop], warmup)
            # Score what the model saw real audio for: not gaps, nor the warm-up after each.
            scored = np.concatenate([np.arange(piece.start + warmup, piece.stop) - part.start
                                     for piece in gap_free_ranges(part, gaps)]
                                    or [[]]).astype(int)
            scored_target.append(target[part.start : part.stop][scored])
            scored_prediction.append(prediction[scored])
            if part == test:
                test_prediction = prediction
        scored_target = np.concatenate(scored_target)
        scored_prediction = np.concatenate(scored_prediction)
        evaluation[name] = {
            **record.splits[name],
            "loss": float(np.mean((scored_target - scored_prediction) ** 2)),
            "esr": esr(scored_target, scored_prediction),
            "esr_pre_emphasis": esr(scored_target, scored_prediction, DEFAULT_PRE_EMPHASIS),
        }

    esrs = {name: values["esr"] for name, values in evaluation.items()}
    spread = max(esrs.values()) / max(min(esrs.values()), 1e-12)
    if spread > SPLIT_ESR_SPREAD:
        warnings.append(
            f"the splits' ESRs differ {spread:.1f}x ("
            + ", ".join(f"{name} {value:.4f}" for name, value in esrs.items())
            + f"; more than {SPLIT_ESR_SPREAD:g}x): they hold different material, or the model "
            "fits its training split only")
    best_epoch = int(np.argmin(losses["val_loss"])) + 1
    record.splits = evaluation
    record.results = {
        "interrupted": interrupted,
        "family": config.family,
        "architecture": arch.to_json(),
        "params": arch.parameters,
        "macs_per_sample": arch.macs_per_sample,
        "warmup_frames": warmup,
        # a wavenet's; a GRU's state reaches back without a fixed limit
        "receptive_field": getattr(arch, "receptive_field", None),
        "dilations": getattr(arch, "dilations", None),
        "config": {**asdict(config), "filters": list(config.filters)},
        "epochs_run": len(losses["loss"]),
        "best_epoch": best_epoch,
        "chosen_seed": chosen.seed,
        "seeds_tried": [run.seed for run in tried],
        # Every Adam epoch of the run: each candidate's, and those of every seed tried further.
        "adam_epochs_total": sum(run.epochs for run in ranked),
        "candidates_trained": len(ranked),
        # Without architecture options: the models tried and why this one (else None).
        "default_choice": choice,
        "stopped_by_max_seconds": bool(cut_by_max_seconds),
        "cut_by_max_seconds": cut_by_max_seconds,
        "stages": stages,
        "refine": {
            "iterations_run": refined.iterations_run,
            "best_iteration": refined.best_iteration,
            "stopped_by_max_seconds": refined.out_of_time,
            "stopped_by_validation": refined.stopped_by_validation,
            # (iteration, train loss on the refined windows, validation loss) per check
            "checks": [[i, float(t), float(v)] for i, t, v in refined.checks],
        },
        "history": {key: [float(v) for v in values] for key, values in losses.items()},
        "test_esr": evaluation["test"]["esr"],
        "warnings": warnings,
        "train_seconds": train_seconds,
        # How a GRU's Adam epochs ran (training/recurrent.py StatefulGruTraining); None for a
        # wavenet, whose epochs run on the windows.
        "recurrent_training": None if epochs_on is objective else {
            "stateful": True,
            "stretches": len(epochs_on.stretches),
            "lanes": epochs_on.lanes,
            "window_frames": epochs_on.scored,
            "batches_per_epoch": epochs_on.batches_per_epoch,
            "validation": "one pass per range from zero state, scored from the warm-up on",
            "update_gate_frames": UPDATE_GATE_FRAMES,
        },
        "keras_version": keras.__version__,
    }
    record.write(out_dir)
    report = record.to_json()

    from daisynet.training.knobs import knob_sweeps
    from daisynet.training.plots import plot_knob_sweeps, plot_losses, plot_predictions

    report["plots"] = []
    try:
        plot_losses(report["history"], energy, out_dir / LOSS_PLOT, report["refine"]["checks"])
        report["plots"].append(LOSS_PLOT)
        plot_predictions(
            target[test.start : test.stop, 0],
            test_prediction[:, 0],
            dataset.sample_rate,
            warmup,
            out_dir / PREDICTION_PLOT,
            title=f"{config.name}: test split, ESR {evaluation['test']['esr']:.4f}",
        )
        report["plots"].append(PREDICTION_PLOT)
        sweeps = knob_sweeps(
            _batch_predictor(model, arch, warmup),
            list(config.inputs),
            np.concatenate([inputs[part.start : part.stop] for part in splits["train"]]),
            inputs[test.start : test.stop], warmup, dataset.sample_rate,
            test_output=target[test.start : test.stop],
        )
        if sweeps is not None:
            plot_knob_sweeps(sweeps, out_dir / KNOBS_PLOT,
                             title=f"{config.name}: what the knobs do ({config.target})")
            report["plots"].append(KNOBS_PLOT)
    except OSError as err:
        raise _kept(err, f"the trained model is kept: {out_dir / MODEL_FILE} and "
                         "training.json") from err
    log(_summary(report, train_seconds)
        + "  ".join(f"{name} ESR {values['esr']:.4f}" for name, values in evaluation.items()))
    log("stages: " + "; ".join(f"{stage['stage']} {stage['status']} ({stage['why']})"
                               for stage in stages))
    if spread > SPLIT_ESR_SPREAD:
        log(f"warning: {warnings[-1]}")
    return report


def _batch_predictor(model, arch: Architecture | GruArchitecture, warmup: int):
    """(batch, frames, inputs) -> (batch, frames, outputs) by ``model``: Keras for a wavenet,
    the C++ forward pass row by row for a GRU (Keras' GRU is far too slow on a CPU)."""
    if isinstance(arch, GruArchitecture):
        return lambda batch: np.stack([predict_sequence(model, row, warmup) for row in batch])
    keras = import_keras()
    return lambda batch: keras.ops.convert_to_numpy(model(batch, training=False))


def _described(arch: Architecture | GruArchitecture, inputs: list[str], sample_rate: int) -> str:
    """The model's family, size and reach, for the log."""
    size = f"{arch.parameters} parameters, {arch.macs_per_sample} MACs/sample"
    if isinstance(arch, GruArchitecture):
        skip = ("no input skip" if arch.skip_input is None
                else f"skip from {inputs[arch.skip_input]}")
        return f"GRU of {arch.units} units, {size}, {skip}"
    return (f"{size}, receptive field {arch.receptive_field} samples "
            f"({1000 * arch.receptive_field / sample_rate:.1f} ms)")


def _kept(err: OSError, kept: str) -> OutputWriteError:
    """``err``, a failed write, with what the run still has."""
    failure = OutputWriteError(f"{err}; {kept}")
    failure.errno = err.errno
    return failure


def _summary(report: dict, train_seconds: float) -> str:
    """What ran, in one line: the kept seed's epochs, and every other epoch the run spent."""
    epochs_run, total = report["epochs_run"], report["adam_epochs_total"]
    iterations = report["refine"]["iterations_run"]
    others, other_seeds = total - epochs_run, report["candidates_trained"] - 1
    spent = (f" (and {plural(others, 'epoch')} on {plural(other_seeds, 'other seed')}: "
             f"{total} Adam epochs in all)" if others else "")
    refined = f" and {plural(iterations, 'L-BFGS iteration')}" if iterations else ""
    return (f"trained seed {report['chosen_seed']} for {plural(epochs_run, 'epoch')}{spent}"
            f"{refined} in {train_seconds:.1f}s (best epoch {report['best_epoch']}); ")
