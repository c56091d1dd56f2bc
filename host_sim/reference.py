"""The exact answer (float64) every engine approximates, for either model family.

A wavenet: direct (uncached) causal convolution, recomputing every output from the zero-padded
input the textbook way, so it shares no code and no summation order with the cached engine or
with Keras. Differences of either engine from it measure float32 rounding alone. Quantization
calibrates on its per-layer values (``reference_layers``).

A GRU: ``GruArchitecture``'s equations frame by frame, with exact sigmoid and tanh (what Keras
computes); the engines' fast approximations of them differ from it by up to their stated error.
A q15 GRU's reference is the same with its recurrent product as ``fixed_point`` defines it (a
Q15 state times the integer weights, summed exactly): the quantized model's exact answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from daisynet.host_sim.model_defn import AnyModelSpec, GruSpec, ModelSpec
from daisynet.host_sim.model_defn.fixed_point import gru_state_q15
from daisynet.host_sim.model_defn.spec import GRU_STATE_FRAC_BITS


@dataclass
class LayerValues:
    """One layer's values over the whole signal, (frames, channels) float64 each."""

    input: np.ndarray
    sum: np.ndarray  # pre-bias sum p = sum_k x W
    biased: np.ndarray  # p + bias
    output: np.ndarray  # after the activation


def reference_layers(spec: ModelSpec, inputs: np.ndarray) -> Iterator[LayerValues]:
    """Each layer's values for (frames, inputs) ``inputs``, from zero state, first layer first."""
    x = np.asarray(inputs, dtype=np.float64)
    frames = x.shape[0]
    for layer in spec.layers:
        history = (layer.kernel - 1) * layer.dilation
        padded = np.concatenate([np.zeros((history, x.shape[1])), x])
        total = np.zeros((frames, layer.out_channels))
        for k in range(layer.kernel):
            start = k * layer.dilation
            total += padded[start : start + frames] @ layer.weights[k].astype(np.float64)
        biased = total + layer.bias.astype(np.float64)
        out = np.maximum(biased, 0.0) if layer.relu else biased
        yield LayerValues(x, total, biased, out)
        x = out


def reference_output(spec: AnyModelSpec, inputs: np.ndarray) -> np.ndarray:
    """(frames, inputs) -> (frames, outputs) float64, from zero state."""
    if spec.family == "gru":
        return gru_reference_output(spec, inputs)
    output = np.asarray(inputs, dtype=np.float64)
    for values in reference_layers(spec, inputs):
        output = values.output
    return output


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # exact, and without exp's overflow for large |x|


def gru_reference_output(spec: GruSpec, inputs: np.ndarray) -> np.ndarray:
    """(frames, inputs) -> (frames, outputs) float64 from zero state: the equations of
    ``GruArchitecture``, gate columns z | r | n (a q15 spec's recurrent product in integers)."""
    x = np.asarray(inputs, dtype=np.float64)
    gru, units = spec.gru, spec.units
    # The input projection does not depend on the state: all frames at once.
    projected = x @ gru.input_weights.astype(np.float64) + gru.input_bias.astype(np.float64)
    recurrent = gru.recurrent_weights.astype(np.float64)
    recurrent_bias = gru.recurrent_bias.astype(np.float64)
    quant = spec.recurrent_quant
    if quant is not None:
        integers = quant.weights.T.astype(np.float64)  # sums below 2^31: exact in float64
        scale = 2.0 ** -(GRU_STATE_FRAC_BITS + quant.frac_bits)
    states = np.empty((x.shape[0], units))
    h = np.zeros(units)
    for t, a in enumerate(projected):
        if quant is None:
            c = h @ recurrent + recurrent_bias
        else:
            c = (gru_state_q15(h).astype(np.float64) @ integers) * scale + recurrent_bias
        z = _sigmoid(a[:units] + c[:units])
        r = _sigmoid(a[units : 2 * units] + c[units : 2 * units])
        n = np.tanh(a[2 * units :] + r * c[2 * units :])
        h = z * h + (1.0 - z) * n
        states[t] = h
    return (states @ spec.head_weights.astype(np.float64) + spec.head_bias.astype(np.float64)
            + x @ spec.input_skip_weights.astype(np.float64))
