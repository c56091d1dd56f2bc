"""The training loss and gradient in C++ (training/native/wavenet_loss_gradient.cc), used by
both stages: Adam's batches (training/adam.py) and L-BFGS (training/refine.py).

For the demo model's 281 refining windows one evaluation takes 0.155 s through TensorFlow
(XLA, 2 cores); the C++ kernel keeps each window's activations in cache and is several times
faster (``daisynet train-bench --objective 20`` times both). It is the only training objective:
it is built on first use with the machine's g++ and OpenMP and cached in the user's cache
directory (host_sim.cache).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from daisynet.host_sim.cache import cached_build
from daisynet.host_sim.native import _compiler, _run
from daisynet.training.quiet_keras import import_keras

SOURCE = Path(__file__).resolve().parent / "native" / "wavenet_loss_gradient.cc"
# -ffast-math lets the compiler vectorize the sums along time (their order does not matter for
# training), but only when compiling: on the link line it would add start-up code that turns on
# flush-to-zero for the whole Python process as the library loads, changing every other float
# computation in it. -march=native because the library is built on, and for, this machine.
COMPILE_FLAGS = ["-std=c++17", "-O3", "-ffast-math", "-march=native", "-fopenmp", "-fPIC",
                 "-Wall", "-Wextra", "-Werror"]
LINK_FLAGS = ["-shared", "-fopenmp"]

_INT_P = ctypes.POINTER(ctypes.c_int)
_FLOAT_P = ctypes.POINTER(ctypes.c_float)
_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


def build_objective_library() -> Path:
    """Compile (or reuse) the kernel's shared library; raises NativeBuildError without g++."""
    library_name = "libwavenet_loss_gradient.so"

    def build(out_dir: Path) -> None:
        obj = out_dir / "wavenet_loss_gradient.o"
        _run([_compiler("g++"), *COMPILE_FLAGS, "-c", str(SOURCE), "-o", str(obj)])
        _run([_compiler("g++"), *LINK_FLAGS, str(obj), "-o", str(out_dir / library_name)])

    return cached_build("objective", [SOURCE], COMPILE_FLAGS + LINK_FLAGS, build) / library_name


def conv_layers(model) -> list[tuple[int, int, int, int, bool]]:
    """(in channels, out channels, taps, dilation, ReLU) of each layer of a stack of causal
    Conv1D layers; ValueError for any other layer."""
    keras = import_keras()
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if not isinstance(layer, keras.layers.Conv1D) or (
                layer.kernel.shape[0] > 1 and layer.padding != "causal"):
            raise ValueError(f"layer {layer.name!r} is not a causal Conv1D")
        activation = layer.activation.__name__
        if activation not in ("relu", "linear"):
            raise ValueError(f"layer {layer.name!r}: activation {activation!r} is neither "
                             "relu nor linear")
        taps, channels_in, channels_out = layer.kernel.shape
        layers.append((channels_in, channels_out, taps, layer.dilation_rate[0],
                       activation == "relu"))
    return layers


def checked_arguments(theta: np.ndarray, x: np.ndarray, y: np.ndarray, parameters: int,
                      inputs: int, outputs: int, warmup: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An objective's (theta, x, y) as contiguous float32, or ValueError saying what does not
    fit: ``parameters`` values, windows of (count, frames, ``inputs``) and (count, frames,
    ``outputs``), longer than the ``warmup``. (The C++ kernels trust their arguments.)"""
    theta = np.ascontiguousarray(theta, dtype=np.float32)
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if theta.shape != (parameters,):
        raise ValueError(f"expected {parameters} parameters, got {theta.shape}")
    if x.ndim != 3 or x.shape[2] != inputs or y.shape != x.shape[:2] + (outputs,):
        raise ValueError(f"windows of shape {x.shape} and {y.shape} do not fit a model of "
                         f"{inputs} inputs and {outputs} outputs")
    if not warmup < x.shape[1]:
        raise ValueError(f"windows of {x.shape[1]} frames leave none after the "
                         f"{warmup}-frame warm-up")
    return theta, x, y


class NativeObjective:
    """``objective(theta, x, y)`` -> (masked mean square error, its gradient): ``theta`` is
    ``model.trainable_variables`` flattened in order, ``x``/``y`` the (windows, frames,
    channels) training windows, frames before ``warmup`` unscored."""

    def __init__(self, model, warmup: int) -> None:
        layers = conv_layers(model)
        self.warmup = warmup
        self.parameters = sum(taps * cin * cout + cout for cin, cout, taps, _, _ in layers)
        columns = list(zip(*layers, strict=True))
        self._layer_arrays = [np.ascontiguousarray(column, dtype=np.int32) for column in columns]
        self._layer_count = len(layers)
        self._inputs, self._outputs = layers[0][0], layers[-1][1]
        library = ctypes.CDLL(str(build_objective_library()))
        self._function = library.wavenet_loss_gradient
        self._function.restype = ctypes.c_double
        self._function.argtypes = [ctypes.c_int, *[_INT_P] * 5, _FLOAT_P, _FLOAT_P, _FLOAT_P,
                                   ctypes.c_int, ctypes.c_int, ctypes.c_int, _DOUBLE_P,
                                   ctypes.c_int]

    def __call__(self, theta: np.ndarray, x: np.ndarray, y: np.ndarray
                 ) -> tuple[float, np.ndarray]:
        theta, x, y = checked_arguments(theta, x, y, self.parameters, self._inputs,
                                        self._outputs, self.warmup)
        gradient = np.zeros(self.parameters, dtype=np.float64)
        loss = self._function(
            self._layer_count, *[a.ctypes.data_as(_INT_P) for a in self._layer_arrays],
            theta.ctypes.data_as(_FLOAT_P), x.ctypes.data_as(_FLOAT_P),
            y.ctypes.data_as(_FLOAT_P), x.shape[0], x.shape[1], self.warmup,
            gradient.ctypes.data_as(_DOUBLE_P), self.parameters)
        return float(loss), gradient
