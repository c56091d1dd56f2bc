"""The fixed-point arithmetic of q15/q7 model_defn.h headers: its one definition, in numpy.

Every engine that runs a quantized header (host_sim's cmsisdsp simulator, the firmware's CMSIS
and fast backends, natively and on the M7) must reproduce these integers bit for bit. With
B = 15 (q15) or 7 (q7) and SAT = saturate to the type's range, layer l computes for output
channel o at frame t:

    acc = sum_k sum_i x[t - (kernel-1-k)*dilation][i] * w[k][i][o]      exact integer sum
    p   = SAT(acc >> B)                 arithmetic shift right = floor   (arm_mat_mult_q15/q7)
    p   = SAT(p + bias[o])              bias stored in p's format        (arm_add_q15/q7)
    s   = out_frac_bits - product_frac_bits                              (-B <= s <= B)
    y   = s >= 0 ? SAT(p << s) : (p >> -s)       (floor)                 (arm_shift_q15/q7)
    y   = relu ? max(y, 0) : y                                           (arm_clip_q15/q7)

q15 sums in 64 bits and q7 in 32 (|product| <= 2^14, so no overflow below 2^17 terms; a layer
has at most 8 * 64). The model's input is quantized in float32 arithmetic, round half away from
zero, saturating, NaN to 0 (``quantize_inputs``); its output is float(y) * 2^-out_frac_bits,
exact (``dequantize``).

A q15 GRU (``GruSpec`` with ``recurrent_quant``) quantizes its recurrent product alone; the
input projection, gates, state update, head and skip stay float32. Per frame, with Wq the
(3U, U) int16 weights at ``frac_bits`` F:

    hq[u] = SAT16(trunc(h[u] * 2^15))     toward zero, NaN -> 0       (VCVT.S16.F32 #15)
    acc[j] = sum_u hq[u] * Wq[j][u]        exact in 32 bits: sum_u |Wq[j][u]| <= 65535
    c[j] = float32(acc[j]) * 2^-(15 + F)   round to nearest, then exact (VCVT.F32.S32 #15+F)

and c[j] takes the place of h U in the float equations (the recurrent bias added after).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from daisynet.host_sim.model_defn.spec import (
    GRU_STATE_FRAC_BITS,
    ConvLayer,
    ModelSpec,
    NumberFormat,
)


def _pow2_f32(exponent: int) -> np.float32:
    return np.float32(2.0**exponent)


def quantize_inputs(x: np.ndarray, fmt: NumberFormat, frac_bits: int) -> np.ndarray:
    """Float model inputs -> integers of ``fmt`` at ``frac_bits``, as the engines do it:

        v = x * 2^frac_bits                  (float32, exact: a power of two)
        NaN -> 0; v clamped to [MIN, MAX];  q = (int)(v + (v >= 0 ? 0.5f : -0.5f))

    i.e. round half away from zero, saturating, all in float32 (the addition rounds to float32
    before the truncation, as the C expression does)."""
    with np.errstate(over="ignore"):  # overflow to +-inf is clamped like any large value
        v = np.asarray(x, dtype=np.float32) * _pow2_f32(frac_bits)
    v = np.where(np.isnan(v), np.float32(0.0), v)
    v = np.clip(v, np.float32(fmt.min), np.float32(fmt.max))
    half = np.where(v >= 0, np.float32(0.5), np.float32(-0.5))
    return np.trunc((v + half).astype(np.float32)).astype(fmt.dtype)


def input_saturations(x: np.ndarray, fmt: NumberFormat, frac_bits: int) -> int:
    """How many input values the clamp of ``quantize_inputs`` changed (the rounded value was
    out of range), NaNs included."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(x, dtype=np.float64) * 2.0**frac_bits
        rounded = np.trunc(v + np.where(v >= 0, 0.5, -0.5))
    return int(np.count_nonzero(~((rounded >= fmt.min) & (rounded <= fmt.max))))


def dequantize(q: np.ndarray, frac_bits: int) -> np.ndarray:
    """Integers at ``frac_bits`` -> float32 values, exactly (q * 2^-frac_bits)."""
    return np.asarray(q).astype(np.float32) * _pow2_f32(-frac_bits)


def gru_state_q15(h: np.ndarray) -> np.ndarray:
    """A GRU state (float) as the q15 recurrent product reads it: trunc(h * 2^15), saturated
    to int16, NaN to 0."""
    with np.errstate(invalid="ignore"):
        v = np.trunc(np.asarray(h, dtype=np.float64) * 2.0**GRU_STATE_FRAC_BITS)
    v = np.where(np.isnan(v), 0.0, v)
    return np.clip(v, -32768, 32767).astype(np.int16)


def gru_recurrent_sums(acc: np.ndarray, frac_bits: int) -> np.ndarray:
    """Exact integer sums of the q15 recurrent product -> float32: rounded to nearest, then
    scaled by 2^-(15 + frac_bits) (exact)."""
    return (np.asarray(acc, dtype=np.int64).astype(np.float32)
            * _pow2_f32(-(GRU_STATE_FRAC_BITS + frac_bits)))


@dataclass
class LayerSaturation:
    """Where a layer's arithmetic saturated: counts per saturation point over ``values``
    outputs (frames x out_channels); ``outputs`` counts outputs saturated at any point. At the
    shift of a ReLU layer, values saturated below MIN are not counted: the ReLU zeroes them,
    as it would have without the saturation."""

    values: int = 0
    sum: int = 0  # SAT(acc >> B)
    bias: int = 0  # SAT(p + bias)
    shift: int = 0  # SAT(p << s)
    outputs: int = 0

    @property
    def fraction(self) -> float:
        return self.outputs / self.values if self.values else 0.0

    def to_json(self) -> dict:
        return {"values": self.values, "saturated": self.outputs,
                "fraction": self.fraction,
                "points": {"sum": self.sum, "bias": self.bias, "shift": self.shift}}


@dataclass
class FixedPointRun:
    """A whole signal through the integer arithmetic, from zero state."""

    outputs: np.ndarray  # (frames, outputs) float32, dequantized
    integer_outputs: np.ndarray  # (frames, outputs) of the format's type
    input_saturated: int  # input values clamped by the quantization
    input_values: int
    layers: list[LayerSaturation] = field(default_factory=list)
    activations: list[np.ndarray] = field(default_factory=list)  # per layer, if kept


def layer_reference(layer: ConvLayer, fmt: NumberFormat, x: np.ndarray,
                    saturation: LayerSaturation | None = None) -> np.ndarray:
    """One layer on a whole (frames, in_channels) integer signal from zero history, in plain
    numpy integers: the contract above, step by step."""
    quant = layer.quant
    if quant is None:
        raise ValueError(f"layer {layer.name!r} has no fixed-point form")
    x = np.asarray(x, dtype=np.int64)
    frames = x.shape[0]
    history = (layer.kernel - 1) * layer.dilation
    padded = np.concatenate([np.zeros((history, layer.in_channels), np.int64), x])
    weights = np.asarray(quant.weights, dtype=np.int64)
    acc = np.zeros((frames, layer.out_channels), np.int64)
    for k in range(layer.kernel):
        start = k * layer.dilation
        acc += padded[start : start + frames] @ weights[k]
    if fmt.bits == 8:  # q7 sums in a 32-bit register: it must not have overflowed
        assert np.all(np.abs(acc) < 1 << 31), "q7 sum beyond 32 bits"
    low, high = fmt.min, fmt.max
    shifted = acc >> fmt.product_shift
    p = np.clip(shifted, low, high)
    biased = p + np.asarray(quant.bias, dtype=np.int64)
    p2 = np.clip(biased, low, high)
    s = quant.shift
    wide = p2 << s if s >= 0 else p2 >> -s
    y = np.clip(wide, low, high)  # a right shift never leaves the range
    if layer.relu:
        y = np.maximum(y, 0)
    if saturation is not None:
        at_sum, at_bias = shifted != p, biased != p2
        # A value the shift saturates below MIN and the ReLU then zeroes ends where it would
        # have anyway (0): only saturation that changes the output counts there.
        at_shift = (wide > high) | ((wide < low) & (not layer.relu))
        saturation.values += acc.size
        saturation.sum += int(np.count_nonzero(at_sum))
        saturation.bias += int(np.count_nonzero(at_bias))
        saturation.shift += int(np.count_nonzero(at_shift))
        saturation.outputs += int(np.count_nonzero(at_sum | at_bias | at_shift))
    return y.astype(fmt.dtype)


def run_fixed_point(spec: ModelSpec, inputs: np.ndarray,
                    keep_activations: bool = False) -> FixedPointRun:
    """(frames, inputs) float -> the integer engine's outputs and where it saturated."""
    if not spec.quantized:
        raise ValueError("run_fixed_point needs a q15 or q7 spec; this one is float32")
    fmt = spec.format
    inputs = np.asarray(inputs, dtype=np.float32)
    x = quantize_inputs(inputs, fmt, spec.input_frac_bits)
    run = FixedPointRun(
        outputs=np.zeros(0, np.float32), integer_outputs=x,
        input_saturated=input_saturations(inputs, fmt, spec.input_frac_bits),
        input_values=int(inputs.size))
    for layer in spec.layers:
        saturation = LayerSaturation()
        x = layer_reference(layer, fmt, x, saturation)
        run.layers.append(saturation)
        if keep_activations:
            run.activations.append(x)
    run.integer_outputs = x
    run.outputs = dequantize(x, spec.output_frac_bits)
    return run
