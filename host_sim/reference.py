"""Direct (uncached) causal convolution in float64: the exact answer both engines approximate.

It recomputes every output from the zero-padded input, the textbook way, so it shares no code
and no summation order with the cached engine or with Keras. Differences of either engine from
it measure float32 rounding alone. Quantization calibrates on its per-layer values
(``reference_layers``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from daisynet.host_sim.model_defn import ModelSpec


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


def reference_output(spec: ModelSpec, inputs: np.ndarray) -> np.ndarray:
    """(frames, inputs) -> (frames, outputs) float64, from zero state."""
    output = np.asarray(inputs, dtype=np.float64)
    for values in reference_layers(spec, inputs):
        output = values.output
    return output
