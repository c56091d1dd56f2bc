"""The GRU engines' fast tanh and sigmoid in numpy, bit for bit as firmware/core/gru_activations.h
computes them in float32 (natively and on the Cortex-M7), so the simulator reproduces the
firmware exactly. The header's comment gives the formulas, their costs and their errors.

The firmware writes every multiply-add as one fused operation (one rounding). numpy has no
float32 FMA, and rounding a*b + c once in float64 and again to float32 is not always the
correctly rounded result (double rounding), so ``fma32`` redoes the few sums where it can
differ, rounding to odd in float64 first: that intermediate keeps enough information for the
final rounding to float32 to be exact.
"""

from __future__ import annotations

import numpy as np

_F32 = np.float32


def _floats(*hex_values: str) -> tuple[np.float32, ...]:
    return tuple(_F32(float.fromhex(value)) for value in hex_values)


# gru_activations.h: kTanhP, kTanhQ, kSigmoidP, kSigmoidQ (hexadecimal, so exactly the same).
TANH_P = _floats("0x1.ffffeap-1", "0x1.088974p-3", "0x1.81a298p-9", "0x1.7c9cfcp-17")
TANH_Q = _floats("0x1p+0", "0x1.d99976p-2", "0x1.85932ep-6", "0x1.f209a4p-13", "0x1.054fdep-22")
SIGMOID_P = _floats("0x1.ffffeap-3", "0x1.088974p-7", "0x1.81a298p-15", "0x1.7c9cfcp-25")
SIGMOID_Q = _floats("0x1p+0", "0x1.d99976p-4", "0x1.85932ep-10", "0x1.f209a4p-19",
                    "0x1.054fdep-30")
# Largest absolute error against the exact functions over every float32 of [-16, 16]
# (gru_activations.h states them; tests/host_sim/test_activations.py holds both to them).
TANH_MAX_ERROR = 4.41e-7
SIGMOID_MAX_ERROR = 2.5e-7
TANH_FRAC_BITS = 28  # the clamp: [-8, 8], steps of 2^-28
SIGMOID_FRAC_BITS = 27  # [-16, 16], steps of 2^-27


def fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """a * b + c rounded once to float32, as fmaf and the M7's VFMA compute it."""
    a, b, c = np.broadcast_arrays(*(np.asarray(v, _F32).astype(np.float64) for v in (a, b, c)))
    product = a * b  # exact: 24 + 24 significant bits fit float64's 53
    total = product + c
    result = total.astype(_F32)
    # Rounding twice differs from once only where the float64 sum landed exactly halfway
    # between two float32 (low 29 of its 52 fraction bits 100...0), or where float32 is
    # subnormal (its grid is coarser there): redo those exactly, rounding to odd first.
    bits = total.view(np.uint64)
    halfway = ((bits & 0x1FFFFFFF) == 0x10000000) | (np.abs(total) < 2.0**-125)
    if np.any(halfway):
        result[halfway] = _fma32_round_to_odd(product[halfway], c[halfway])
    return result


def _fma32_round_to_odd(product: np.ndarray, c: np.ndarray) -> np.ndarray:
    total = product + c
    # Two-sum: the exact rounding error of the float64 addition.
    virtual = total - product
    error = (product - (total - virtual)) + (c - virtual)
    # Round to odd: when the float64 sum was inexact and its last bit even, step to the odd
    # neighbour towards the exact value; that rounds to float32 exactly as the exact sum does.
    inexact_even = (error != 0) & ((total.view(np.uint64) & 1) == 0)
    towards = np.where(error > 0, np.inf, -np.inf)
    return np.where(inexact_even, np.nextafter(total, towards), total).astype(_F32)


def clamp(x: np.ndarray, frac_bits: int) -> np.ndarray:
    """gru_activations.h Clamp<frac_bits>: saturate to +-2^(31 - frac_bits), truncate toward
    zero to a multiple of 2^-frac_bits; NaN becomes 0 and every zero +0."""
    x = np.asarray(x, _F32)
    bound = _F32(2.0 ** (31 - frac_bits))
    scale = _F32(2.0**frac_bits)
    inside = np.trunc(np.clip(np.nan_to_num(x, nan=0.0, posinf=bound, neginf=-bound),
                              -bound, bound) * scale) / scale
    return (inside + _F32(0.0)).astype(_F32)


def _odd_rational(x: np.ndarray, p: tuple, q: tuple) -> np.ndarray:
    u = x * x
    num = fma32(fma32(fma32(p[3], u, p[2]), u, p[1]), u, p[0])
    den = fma32(fma32(fma32(fma32(q[4], u, q[3]), u, q[2]), u, q[1]), u, q[0])
    return (x * num) / den


def fast_tanh(x: np.ndarray) -> np.ndarray:
    """gru_activations.h FastTanh on float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _odd_rational(clamp(x, TANH_FRAC_BITS), TANH_P, TANH_Q).astype(_F32)


def fast_sigmoid(x: np.ndarray) -> np.ndarray:
    """gru_activations.h FastSigmoid on float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        return (_F32(0.5) + _odd_rational(clamp(x, SIGMOID_FRAC_BITS), SIGMOID_P,
                                          SIGMOID_Q)).astype(_F32)
