"""Training the recurrent family (GruArchitecture) fast: truncated backpropagation through time
in C++ (training/native/gru_loss_gradient.cc), and the forward pass over long recordings.

``GruObjective`` has the wavenet objective's signature (training/adam.py ``Objective``): each
window starts from a zero state, its first ``warmup`` frames run unscored, and the gradient
flows back through every frame of the window and no further; L-BFGS runs on it unchanged. For
GRU 32 over batches of 16 windows it is about 100 times faster than the same loss and gradient
through TensorFlow (README, "Training a GRU"). Its ``from_states`` starts each window from a
given state and hands back the last: ``StatefulGruTraining`` runs Adam's epochs on it, walking
the training split in consecutive windows with the state carried on, so the model learns from
the states it will really run from, and scores validation in one pass per range, as train
scores the test split.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from daisynet.host_sim.cache import cached_build
from daisynet.host_sim.model_defn import GruArchitecture
from daisynet.host_sim.native import NativeBuildError, _compiler, _run
from daisynet.training.adam import AdamRun, adam_step, end_epoch
from daisynet.training.native_objective import COMPILE_FLAGS, LINK_FLAGS, checked_arguments
from daisynet.training.quiet_keras import import_keras
from daisynet.training.windows import SPLIT_CHUNK_SECONDS, Split, gap_free_ranges, stretches

SOURCE = Path(__file__).resolve().parent / "native" / "gru_loss_gradient.cc"
LIBRARY = "libgru_loss_gradient.so"

# The frames run from a zero state before any is scored (a window's, or a stretch's in stateful
# training). On a ladder low-pass (resonance 0.7, cutoff 60 Hz-7.7 kHz from a knob) the device
# itself, restarted from zero state, differs from its continuous output by ESR 0.05 in frames
# 1,536-2,048 and 0.003 after 4,096 (README, "Training a GRU"): 2,048 frames leave the model
# little to guess.
RECURRENT_WARMUP = 2048

# TrainConfig fields whose default differs for a GRU (``daisynet train --family gru``), and why.
GRU_DEFAULTS = {
    "name": "daisynet_gru",
    # An epoch of a 100 s recording costs a GRU ~10 s on 2 shared cores, so the wavenet's eight
    # candidates of 8 epochs each would take most of a 10-minute budget: one start.
    "candidates": 1,
    # L-BFGS after 25 Adam epochs of a GRU 10 on the ladder filter: 18 iterations in ~160 s
    # took validation ESR 0.235 to 0.228; the 6 Adam epochs before them, in ~190 s, 0.265 to
    # 0.235. Adam alone, then (the wavenet's 465 parameters are another matter).
    "refine_iterations": 0,
    # A GRU 10 on 100 s of the suite's ladder material was still improving at 80 epochs
    # (validation ESR 0.068 at the 79th, 0.053 at the 127th, ~2-7 s an epoch on 2 shared
    # cores): early stopping (--patience) or --max-seconds ends it sooner.
    "max_epochs": 300,
    # Truncated backprop through 1,024-frame windows: on the device suite's GRU devices in
    # 120 s it matched or beat 2,048 frames on validation on every one (README, "Device suite").
    "scored_frames": 1024,
}

# Each unit's update-gate bias starts at ln(T), T log-uniform in 1..UPDATE_GATE_FRAMES frames
# (the "chrono" initialisation of Tallec and Ollivier, 2018, spread log-uniformly): the unit
# then keeps its state for about T frames, so the state starts out remembering as far back as
# a resonant filter at a 60 Hz cutoff rings (~7,800 frames to fall by 40 dB). From Keras' zero
# bias (z = 0.5, a memory of ~2 frames) Adam never took a GRU 10's memory on the ladder past
# ~1,000 frames, and the error stayed at the low cutoffs (README, "Training a GRU").
UPDATE_GATE_FRAMES = 8192

_FLOAT_P = ctypes.POINTER(ctypes.c_float)
_DOUBLE_P = ctypes.POINTER(ctypes.c_double)
_INT_P = ctypes.POINTER(ctypes.c_int)


def build_gru_library() -> Path:
    """Compile (or reuse) the recurrent kernel's shared library; NativeBuildError without g++."""

    def build(out_dir: Path) -> None:
        obj = out_dir / "gru_loss_gradient.o"
        _run([_compiler("g++"), *COMPILE_FLAGS, "-c", str(SOURCE), "-o", str(obj)])
        _run([_compiler("g++"), *LINK_FLAGS, str(obj), "-o", str(out_dir / LIBRARY)])

    try:
        return cached_build("objective", [SOURCE], COMPILE_FLAGS + LINK_FLAGS, build) / LIBRARY
    except NativeBuildError as error:
        raise NativeBuildError(f"training a GRU needs g++ with OpenMP to build its loss and "
                               f"gradient ({SOURCE.name}): {error}") from error


def gru_architecture_of(model) -> GruArchitecture | None:
    """The GruArchitecture of a model build_gru_model made (its layers "gru", "head" and
    "input_skip"), or None for any other model."""
    keras = import_keras()
    names = {layer.name: layer for layer in model.layers}
    gru = names.get("gru")
    if not isinstance(gru, keras.layers.GRU) or "head" not in names or "input_skip" not in names:
        return None
    kernel = gru.cell.kernel
    return GruArchitecture(inputs=int(kernel.shape[0]), units=int(gru.cell.units),
                           outputs=int(names["head"].kernel.shape[1]))


def _library():
    library = ctypes.CDLL(str(build_gru_library()))
    library.gru_loss_gradient.restype = ctypes.c_double
    library.gru_loss_gradient.argtypes = [ctypes.c_int] * 3 + [_FLOAT_P] * 3 + [
        ctypes.c_int] * 2 + [_INT_P, _FLOAT_P, _DOUBLE_P, ctypes.c_int]
    library.gru_forward.restype = ctypes.c_int
    library.gru_forward.argtypes = [ctypes.c_int] * 3 + [_FLOAT_P, ctypes.c_int, _FLOAT_P,
                                                          ctypes.c_int, _FLOAT_P, _FLOAT_P]
    return library


class GruObjective:
    """``objective(theta, x, y)`` -> (masked mean square error, its gradient) for a model of
    ``arch``: ``theta`` is ``model.trainable_variables`` flattened in order, ``x``/``y`` the
    (windows, frames, channels) training windows, frames before ``warmup`` unscored."""

    def __init__(self, arch: GruArchitecture, warmup: int) -> None:
        self.arch = arch
        self.warmup = warmup
        self.parameters = arch.parameters
        self._function = _library().gru_loss_gradient

    def __call__(self, theta: np.ndarray, x: np.ndarray, y: np.ndarray
                 ) -> tuple[float, np.ndarray]:
        theta, x, y = checked_arguments(theta, x, y, self.parameters, self.arch.inputs,
                                        self.arch.outputs, self.warmup)
        windows = len(x)
        loss, gradient, _ = self.from_states(
            theta, x, y, np.zeros((windows, self.arch.units), np.float32),
            np.full(windows, self.warmup))
        return loss, gradient

    def from_states(self, theta: np.ndarray, x: np.ndarray, y: np.ndarray, states: np.ndarray,
                    scored_from: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The objective with each window starting from its row of ``states`` (windows, units)
        and scored from its frame ``scored_from[i]`` on (the window's length: not at all):
        (mean square error over the scored frames, its gradient, each window's last state).
        The gradient stops at each window's start, as from a zero state."""
        arch = self.arch
        theta, x, y = checked_arguments(theta, x, y, self.parameters, arch.inputs,
                                        arch.outputs, 0)
        states = np.array(states, dtype=np.float32, order="C")
        scored_from = np.ascontiguousarray(scored_from, dtype=np.int32)
        if states.shape != (len(x), arch.units) or scored_from.shape != (len(x),):
            raise ValueError(f"states of shape {states.shape} and scored_from of shape "
                             f"{scored_from.shape} do not fit {len(x)} windows of a GRU of "
                             f"{arch.units} units")
        if np.any((scored_from < 0) | (scored_from > x.shape[1])):
            raise ValueError(f"scored_from must lie in 0..{x.shape[1]} (the window's frames)")
        gradient = np.zeros(self.parameters, dtype=np.float64)
        loss = self._function(arch.inputs, arch.units, arch.outputs,
                              theta.ctypes.data_as(_FLOAT_P), x.ctypes.data_as(_FLOAT_P),
                              y.ctypes.data_as(_FLOAT_P), x.shape[0], x.shape[1],
                              scored_from.ctypes.data_as(_INT_P),
                              states.ctypes.data_as(_FLOAT_P),
                              gradient.ctypes.data_as(_DOUBLE_P), self.parameters)
        return float(loss), gradient, states


def with_long_memory(arch: GruArchitecture, theta: np.ndarray, seed: int) -> np.ndarray:
    """``theta`` (flat parameters of a model of ``arch``) with the update gate's input bias
    drawn as UPDATE_GATE_FRAMES says, from a generator seeded with ``seed``."""
    gates = 3 * arch.units
    first = (arch.inputs + arch.units) * gates  # the input bias's z columns (Keras' order)
    theta = np.array(theta, dtype=np.float64)
    theta[first : first + arch.units] = np.random.default_rng(seed).uniform(
        0.0, np.log(UPDATE_GATE_FRAMES), arch.units)
    return theta


def gru_forward(arch: GruArchitecture, theta: np.ndarray, inputs: np.ndarray,
                chunk: int = 1 << 16) -> np.ndarray:
    """The model of ``arch`` with flat parameters ``theta`` over a (frames, inputs) sequence
    from zero state; returns (frames, outputs). The sequence goes through in chunks with the
    state carried from one to the next, so memory stays bounded and the result is one pass
    over the whole sequence."""
    theta = np.ascontiguousarray(theta, dtype=np.float32)
    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    if inputs.ndim != 2 or inputs.shape[1] != arch.inputs:
        raise ValueError(f"inputs of shape {inputs.shape} do not fit a model of "
                         f"{arch.inputs} inputs")
    forward = _library().gru_forward
    state = np.zeros(arch.units, dtype=np.float32)
    outputs = np.empty((inputs.shape[0], arch.outputs), dtype=np.float32)
    for start in range(0, inputs.shape[0], chunk):
        piece, result = inputs[start : start + chunk], outputs[start : start + chunk]
        forward(arch.inputs, arch.units, arch.outputs, theta.ctypes.data_as(_FLOAT_P),
                len(theta), piece.ctypes.data_as(_FLOAT_P), len(piece),
                state.ctypes.data_as(_FLOAT_P), result.ctypes.data_as(_FLOAT_P))
    return outputs


def predict_gru_sequence(model, inputs: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Run a build_gru_model model over a (frames, inputs) sequence from zero state, in chunks
    (``gru_forward``); returns (frames, outputs)."""
    arch = gru_architecture_of(model)
    if arch is None:
        raise ValueError(f"model {model.name!r} is not a GRU model")
    theta = np.concatenate([v.numpy().ravel() for v in model.trainable_variables])
    return gru_forward(arch, theta, inputs, chunk)


@dataclass
class _Lanes:
    """One Adam run's batch lanes: each lane's stretch, its first frame (after the stretch's
    random offset), the next window's first frame, and the state the last window left."""

    stretch: np.ndarray
    origin: np.ndarray
    position: np.ndarray
    states: np.ndarray
    deck: list[int] = field(default_factory=list)


class StatefulGruTraining:
    """Adam epochs of a GRU by stateful truncated backpropagation through time, and a
    validation loss scored the way train scores the test split.

    Each of ``lanes`` batch lanes walks a stretch of the training split (a dealt chunk, about
    SPLIT_CHUNK_SECONDS) in consecutive windows of ``scored`` frames, the state carried from
    one window into the next and the gradient truncated at each window's start. A lane starting
    a stretch starts from zero state, its first ``warmup`` frames unscored; a lane at a
    stretch's end draws the next from a shuffled deck of them all (the run's own random
    generator), starting it at a random offset below one window so window edges move from pass
    to pass, and each lane's first stretch at a random window so lanes do not restart in step.
    Lanes carry on from epoch to epoch; an epoch is as many batches as the stretches hold
    windows, divided by ``lanes``. The validation loss is the mean square error of one pass
    from zero state over each validation range, frames from ``warmup`` on."""

    def __init__(self, objective: GruObjective, inputs: np.ndarray, target: np.ndarray,
                 splits: dict[str, list[Split]], gaps: Sequence[Sequence[int]], scored: int,
                 lanes: int, sample_rate: int) -> None:
        self.objective, self.arch, self.warmup = objective, objective.arch, objective.warmup
        self.scored, self.lanes = scored, lanes
        self.inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        self.target = np.ascontiguousarray(target, dtype=np.float32)
        chunk = int(SPLIT_CHUNK_SECONDS * sample_rate)
        self.stretches = [part for part in stretches(splits["train"], gaps, chunk)
                          if part.frames >= self.warmup + scored]
        if not self.stretches:
            raise ValueError(f"the train split has no stretch of {self.warmup} warm-up + "
                             f"{scored} scored frames between gaps; record more audio")
        self.validation = [piece for part in splits["validation"]
                           for piece in gap_free_ranges(part, gaps)
                           if piece.frames > self.warmup]
        if not self.validation:
            raise ValueError(f"the validation split has no range longer than the "
                             f"{self.warmup}-frame warm-up between gaps; record more audio")
        self.batches_per_epoch = -(-sum(part.frames // scored for part in self.stretches)
                                   // lanes)
        self.energy = {
            "train": float(np.mean(np.concatenate(
                [self.target[part.start + self.warmup : part.stop] for part in self.stretches])
                ** 2)),
            "validation": float(np.mean(np.concatenate(
                [self.target[part.start + self.warmup : part.stop] for part in self.validation])
                ** 2)),
        }
        self._lanes: dict[int, _Lanes] = {}

    def validation_loss(self, theta: np.ndarray) -> float:
        """Mean square error over the validation ranges, each one pass from zero state, frames
        from the warm-up on."""
        errors = [gru_forward(self.arch, theta, self.inputs[part.start : part.stop])[self.warmup:]
                  - self.target[part.start + self.warmup : part.stop]
                  for part in self.validation]
        return float(np.mean(np.concatenate(errors) ** 2))

    def _draw(self, run: AdamRun, lanes: _Lanes, lane: int, first: bool) -> None:
        if not lanes.deck:
            lanes.deck = run.shuffle.permutation(len(self.stretches)).tolist()
        index = lanes.deck.pop()
        part = self.stretches[index]
        windows = part.frames // self.scored
        start = part.start + (self.scored * int(run.shuffle.integers(windows)) if first
                              else int(run.shuffle.integers(part.frames - windows * self.scored
                                                            + 1)))
        lanes.stretch[lane] = index
        lanes.origin[lane] = lanes.position[lane] = start
        lanes.states[lane] = 0.0

    def epoch(self, run: AdamRun, plateau_patience: int, batches: int | None = None) -> bool:
        """One epoch of Adam on ``run`` (``batches_per_epoch`` batches, or ``batches``), then
        the validation loss (training/adam.py ``end_epoch``); returns whether it improved."""
        lanes = self._lanes.get(run.seed)
        if lanes is None:
            lanes = self._lanes[run.seed] = _Lanes(
                np.zeros(self.lanes, int), np.zeros(self.lanes, int), np.zeros(self.lanes, int),
                np.zeros((self.lanes, self.arch.units), np.float32))
            for lane in range(self.lanes):
                self._draw(run, lanes, lane, first=True)
        frames = np.arange(self.scored)
        loss_sum = scored_sum = 0.0
        for _ in range(self.batches_per_epoch if batches is None else batches):
            for lane in range(self.lanes):
                if lanes.position[lane] + self.scored > self.stretches[lanes.stretch[lane]].stop:
                    self._draw(run, lanes, lane, first=False)
            index = lanes.position[:, None] + frames[None, :]
            scored_from = np.clip(lanes.origin + self.warmup - lanes.position, 0, self.scored)
            loss, gradient, lanes.states = self.objective.from_states(
                run.theta, self.inputs[index], self.target[index], lanes.states, scored_from)
            lanes.position += self.scored
            scored = float(np.sum(self.scored - scored_from))
            if scored > 0:  # a batch all in warm-up only moves the lanes' states on
                adam_step(run, gradient)
                loss_sum += loss * scored
                scored_sum += scored
        return end_epoch(run, loss_sum / max(scored_sum, 1.0), self.validation_loss(run.theta),
                         plateau_patience)
