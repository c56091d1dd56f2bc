"""Error-to-signal ratio, the quality figure of the amp-modelling literature.

ESR = sum((target - prediction)^2) / sum(target^2). About 0.01 is excellent, 0.03 good and
above 0.1 audibly different. With pre-emphasis both signals first pass through the
first-order high-pass ``y[n] = x[n] - coefficient * x[n-1]``, which weighs the upper
spectrum the way the ear notices errors.
"""

from __future__ import annotations

import numpy as np

DEFAULT_PRE_EMPHASIS = 0.95
# Above this ESR a model sounds different from the one it stands for (the scale above).
AUDIBLY_DIFFERENT_ESR = 0.1


def pre_emphasis(signal: np.ndarray, coefficient: float = DEFAULT_PRE_EMPHASIS) -> np.ndarray:
    """First-order high-pass along axis 0; the first sample passes unchanged."""
    signal = np.asarray(signal, dtype=np.float64)
    out = signal.copy()
    out[1:] -= coefficient * signal[:-1]
    return out


def esr(target: np.ndarray, prediction: np.ndarray, emphasis: float | None = None) -> float:
    """Error-to-signal ratio of ``prediction`` against ``target`` (same shape)."""
    target = np.asarray(target, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    if target.shape != prediction.shape:
        raise ValueError(f"shape mismatch: target {target.shape}, prediction {prediction.shape}")
    if emphasis is not None:
        target, prediction = pre_emphasis(target, emphasis), pre_emphasis(prediction, emphasis)
    energy = float(np.sum(target**2))
    if energy == 0.0:
        raise ValueError("ESR is undefined for a silent target")
    return float(np.sum((target - prediction) ** 2) / energy)
