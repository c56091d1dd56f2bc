"""Training the recurrent family (GruArchitecture) fast: truncated backpropagation through time
in C++ (training/native/gru_loss_gradient.cc), and the forward pass over long recordings.

Each training window starts from a zero state; its first ``warmup`` frames run but are not
scored (the state settles into what the recording before the window left), and the gradient
flows back through every frame of the window and no further. ``GruObjective`` has the
wavenet objective's signature (training/adam.py ``Objective``), so Adam and L-BFGS run on it
unchanged. For GRU 32 over batches of 16 windows it is about 100 times faster than the same
loss and gradient through TensorFlow (README, "Training a GRU").
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from daisynet.host_sim.cache import cached_build
from daisynet.host_sim.model_defn import GruArchitecture
from daisynet.host_sim.native import NativeBuildError, _compiler, _run
from daisynet.training.native_objective import COMPILE_FLAGS, LINK_FLAGS, checked_arguments
from daisynet.training.quiet_keras import import_keras

SOURCE = Path(__file__).resolve().parent / "native" / "gru_loss_gradient.cc"
LIBRARY = "libgru_loss_gradient.so"

# A window's warm-up, frames run from a zero state before any is scored. On a ladder low-pass
# (resonance 0.7, cutoff 60 Hz-7.7 kHz from a knob) the device itself, restarted from zero
# state, differs from its continuous output by ESR 0.05 in frames 1,536-2,048 and 0.003 after
# 4,096 (README, "Training a GRU"): 2,048 frames leave the model little to guess for half of
# each window's compute.
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
}

_FLOAT_P = ctypes.POINTER(ctypes.c_float)
_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


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
        ctypes.c_int] * 3 + [_DOUBLE_P, ctypes.c_int]
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
        arch = self.arch
        theta, x, y = checked_arguments(theta, x, y, self.parameters, arch.inputs,
                                        arch.outputs, self.warmup)
        gradient = np.zeros(self.parameters, dtype=np.float64)
        loss = self._function(arch.inputs, arch.units, arch.outputs,
                              theta.ctypes.data_as(_FLOAT_P), x.ctypes.data_as(_FLOAT_P),
                              y.ctypes.data_as(_FLOAT_P), x.shape[0], x.shape[1], self.warmup,
                              gradient.ctypes.data_as(_DOUBLE_P), self.parameters)
        return float(loss), gradient


def predict_gru_sequence(model, inputs: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Run a build_gru_model model over a (frames, inputs) sequence from zero state; returns
    (frames, outputs). The sequence goes through in chunks with the state carried from one to
    the next, so memory stays bounded and the result is one pass over the whole sequence."""
    arch = gru_architecture_of(model)
    if arch is None:
        raise ValueError(f"model {model.name!r} is not a GRU model")
    theta = np.concatenate([v.numpy().ravel() for v in model.trainable_variables]).astype(
        np.float32)
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
