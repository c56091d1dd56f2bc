"""The GRU engines' fast tanh and sigmoid: the numpy twin (host_sim/activations.py) equals the
C++ (firmware/core/gru_activations.h) bit for bit natively and on the emulated Cortex-M7, and
both stay within the error the header states."""

from fractions import Fraction

import numpy as np
import pytest

from daisynet.host_sim.activations import (
    SIGMOID_MAX_ERROR,
    TANH_MAX_ERROR,
    fast_sigmoid,
    fast_tanh,
    fma32,
)
from tests.conftest import require_tool

SPECIAL = np.float32([0.0, -0.0, 8.0, -8.0, 16.0, -16.0, 7.9999995, -15.999999, 1e-30, -1e-30,
                      2.0**-28, -(2.0**-28), 2.0**-29, 1e30, -1e30, np.inf, -np.inf, np.nan])


def sweep(stride: int) -> np.ndarray:
    """Every ``stride``-th float32 bit pattern (all signs, exponents, NaNs), plus edge values."""
    bits = np.arange(0, 2**32, stride, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([bits.view(np.float32), SPECIAL])


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(a.view(np.uint32), b.view(np.uint32))


def correctly_rounded_fma(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    near = np.float32(float(exact))
    candidates = [np.nextafter(near, np.float32(-np.inf)), near,
                  np.nextafter(near, np.float32(np.inf))]
    # Nearest, ties to the even significand.
    return min(candidates, key=lambda f: (abs(Fraction(float(f)) - exact),
                                          int(np.float32(f).view(np.uint32)) & 1))


def test_fma32_rounds_once_where_float64_rounds_twice():
    rng = np.random.default_rng(3)
    a = rng.uniform(-2, 2, 4000).astype(np.float32)
    b = rng.uniform(-2, 2, 4000).astype(np.float32)
    # c cancels most of a * b, or sits far below it: where double rounding shows.
    c = np.where(np.arange(4000) % 2 == 0, -(a * b),
                 (a * b) * np.float32(2.0**-30)).astype(np.float32)
    c = (c * rng.uniform(0.999, 1.001, 4000)).astype(np.float32)
    # (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 is halfway between two float32; + 2^-80 is above it,
    # but float64 rounds it back onto the halfway point, and then to even: down, one ulp off.
    a, b, c = (np.append(v, np.float32(extra)) for v, extra in
               ((a, 1 + 2.0**-12), (b, 1 + 2.0**-12), (c, 2.0**-80)))
    got = fma32(a, b, c)
    want = np.array([correctly_rounded_fma(*abc) for abc in zip(a, b, c, strict=True)],
                    np.float32)
    assert same_bits(got, want)
    twice = (a.astype(np.float64) * b + c).astype(np.float32)
    assert twice[-1] != want[-1]


def test_errors_within_the_stated_bounds():
    x = np.concatenate([np.linspace(-20, 20, 400_001, dtype=np.float32), SPECIAL[:-3]])
    assert np.max(np.abs(fast_tanh(x) - np.tanh(x.astype(np.float64)))) <= TANH_MAX_ERROR
    with np.errstate(over="ignore"):  # exp(1e30) is inf: the sigmoid is 0 there
        sigmoid = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert np.max(np.abs(fast_sigmoid(x) - sigmoid)) <= SIGMOID_MAX_ERROR
    assert fast_tanh(np.float32([np.nan]))[0] == 0 and fast_sigmoid(np.float32([np.nan]))[0] == 0.5


@pytest.mark.native
def test_native_equals_the_twin_bit_for_bit_and_meets_the_bound():
    require_tool("g++")
    from daisynet.host_sim.native import NativeActivations

    native = NativeActivations()
    x = sweep(1021)
    assert same_bits(native("tanh", x), fast_tanh(x))
    assert same_bits(native("sigmoid", x), fast_sigmoid(x))
    # Every 97th float32 of [-16, 16] (the header's figures come from stride 1).
    assert native.max_error("tanh", 16.0, 97)[0] <= TANH_MAX_ERROR
    assert native.max_error("sigmoid", 16.0, 97)[0] <= SIGMOID_MAX_ERROR


@pytest.mark.m7
def test_m7_equals_the_twin_bit_for_bit():
    for tool in ("arm-none-eabi-g++", "qemu-system-arm"):
        require_tool(tool)
    from daisynet.host_sim.m7 import activations_on_m7

    x = sweep(16411)
    tanh, sigmoid = activations_on_m7(x)
    assert same_bits(tanh, fast_tanh(x))
    assert same_bits(sigmoid, fast_sigmoid(x))
