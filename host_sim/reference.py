"""Direct (uncached) causal convolution in float64: the exact answer both engines approximate.

It recomputes every output from the zero-padded input, the textbook way, so it shares no code
and no summation order with the cached engine or with Keras. Differences of either engine from
it measure float32 rounding alone.
"""

from __future__ import annotations

import numpy as np

from daisynet.host_sim.model_defn import ModelSpec


def reference_output(spec: ModelSpec, inputs: np.ndarray) -> np.ndarray:
    """(frames, inputs) -> (frames, outputs) float64, from zero state."""
    x = np.asarray(inputs, dtype=np.float64)
    frames = x.shape[0]
    for layer in spec.layers:
        history = (layer.kernel - 1) * layer.dilation
        padded = np.concatenate([np.zeros((history, x.shape[1])), x])
        out = np.tile(layer.bias.astype(np.float64), (frames, 1))
        for k in range(layer.kernel):
            start = k * layer.dilation
            out += padded[start : start + frames] @ layer.weights[k].astype(np.float64)
        x = np.maximum(out, 0.0) if layer.relu else out
    return x
