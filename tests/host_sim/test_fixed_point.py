"""The q15/q7 contract (host_sim/model_defn/fixed_point.py) against the installed cmsisdsp.

First each CMSIS-DSP call the firmware's CMSIS backend makes is checked against the line of the
contract it stands for, over full-range and saturating values: this is how the contract itself
is validated. Then host_sim's simulator (those calls, block by block, with rolling histories) is
held to the plain-numpy reference bit for bit, on random models built to saturate.
"""

import cmsisdsp as dsp
import numpy as np
import pytest

from daisynet.host_sim.engine import Simulator
from daisynet.host_sim.model_defn import Architecture, ConvLayer, LayerQuant, ModelSpec
from daisynet.host_sim.model_defn.fixed_point import (
    dequantize,
    input_saturations,
    layer_reference,
    quantize_inputs,
    run_fixed_point,
)
from daisynet.host_sim.model_defn.spec import Q7, Q15
from daisynet.host_sim.quantize import random_spec
from tests.host_sim.test_engine import SHAPES, shape_id

FORMATS = {"q15": Q15, "q7": Q7}
CALLS = {
    "q15": (dsp.arm_mat_mult_q15, dsp.arm_add_q15, dsp.arm_shift_q15, dsp.arm_clip_q15),
    "q7": (dsp.arm_mat_mult_q7, dsp.arm_add_q7, dsp.arm_shift_q7, dsp.arm_clip_q7),
}


def full_range(rng, fmt, shape):
    """Random integers over the whole type, a quarter of them at its extremes."""
    values = rng.integers(fmt.min, fmt.max + 1, shape)
    extremes = rng.random(shape) < 0.25
    values[extremes] = rng.choice([fmt.min, fmt.max], int(extremes.sum()))
    return values.astype(fmt.dtype)


@pytest.mark.parametrize("name", FORMATS)
def test_mat_mult_is_a_floored_saturated_exact_sum(name):
    """p = SAT(acc >> B) with acc the exact sum, over the layer sizes the engine allows
    (kernel * in up to 8 * 64 columns)."""
    fmt, (mat_mult, *_) = FORMATS[name], CALLS[name]
    rng = np.random.default_rng(1)
    saturated = 0
    for columns in (1, 2, 3, 4, 5, 12, 64, 512):
        for rows in (1, 7, 48):
            a = full_range(rng, fmt, (rows, columns))
            b = full_range(rng, fmt, (columns, 5))
            status, product = mat_mult(a, b, np.zeros(b.size, fmt.dtype))
            assert status == 0
            exact = a.astype(np.int64) @ b.astype(np.int64)
            expected = np.clip(exact >> fmt.product_shift, fmt.min, fmt.max)
            assert np.array_equal(product, expected), (rows, columns)
            saturated += int(np.count_nonzero(expected != exact >> fmt.product_shift))
    assert saturated > 0  # the saturating path was exercised
    # floor, not truncation toward zero: -1 >> B is -1
    one = np.ones((1, 1), fmt.dtype)
    status, product = mat_mult(-one, one, np.zeros(1, fmt.dtype))
    assert product[0, 0] == -1


@pytest.mark.parametrize("name", FORMATS)
def test_add_shift_and_clip_saturate_and_floor_as_the_contract_says(name):
    fmt, (_, add, shift, clip) = FORMATS[name], CALLS[name]
    rng = np.random.default_rng(2)
    a, b = full_range(rng, fmt, 4096), full_range(rng, fmt, 4096)
    wide_a, wide_b = a.astype(np.int64), b.astype(np.int64)
    assert np.array_equal(add(a, b), np.clip(wide_a + wide_b, fmt.min, fmt.max))
    b = fmt.product_shift
    for s in range(-b, b + 1):  # the shifts the exporter allows
        expected = (np.clip(wide_a << s, fmt.min, fmt.max) if s >= 0 else wide_a >> -s)
        assert np.array_equal(shift(a, s), expected), s
    assert np.array_equal(clip(a, 0, fmt.max), np.maximum(wide_a, 0))


@pytest.mark.parametrize("name", FORMATS)
def test_input_quantization_rounds_half_away_from_zero_and_saturates(name):
    fmt = FORMATS[name]
    lsb = 2.0**-3
    x = np.array([0.0, 0.5 * lsb, -0.5 * lsb, 1.5 * lsb, -1.5 * lsb, 0.49 * lsb, -0.49 * lsb,
                  np.nan, np.inf, -np.inf, 1e30, -1e30], dtype=np.float32)
    q = quantize_inputs(x, fmt, 3)
    assert q.dtype == np.dtype(fmt.dtype)
    assert q.tolist() == [0, 1, -1, 2, -2, 0, 0, 0, fmt.max, fmt.min, fmt.max, fmt.min]
    # The top and bottom of the range, and the float32 quirk of the C expression: the largest
    # float below 0.5 plus 0.5f rounds to 1.0f in float32, so it becomes 1, as on the target.
    below_half = np.nextafter(np.float32(0.5), np.float32(0.0))
    edges = np.array([fmt.max, fmt.max + 0.49, fmt.min, fmt.min - 0.49, below_half],
                     dtype=np.float32) * np.float32(2.0**-3)
    assert quantize_inputs(edges, fmt, 3).tolist() == [fmt.max, fmt.max, fmt.min, fmt.min, 1]
    assert input_saturations(x, fmt, 3) == 5  # NaN, two infinities, two huge values
    assert np.array_equal(dequantize(q, 3), q.astype(np.float32) / 8)


def random_fixed_spec(arch: Architecture, name: str, seed: int) -> ModelSpec:
    """A quantized spec with random integer weights over the whole type and random formats
    (shifts within -B..B): nothing like a calibrated model, built to saturate everywhere."""
    fmt = FORMATS[name]
    rng = np.random.default_rng(seed)
    float_spec = random_spec(arch, seed)
    b = fmt.product_shift
    in_frac = int(rng.integers(-2, 2 * b))
    layers = []
    for layer in float_spec.layers:
        weight_frac = int(rng.integers(-2, 2 * b))
        product_frac = in_frac + weight_frac - b
        out_frac = product_frac + int(rng.integers(-b, b + 1))
        weights = full_range(rng, fmt, layer.weights.shape)
        if rng.random() < 0.5:  # and some layers of small weights, which do not saturate
            weights = (weights // (1 << (b - 2))).astype(fmt.dtype)
        quant = LayerQuant(weights=weights, bias=full_range(rng, fmt, layer.bias.shape),
                           in_frac_bits=in_frac, weight_frac_bits=weight_frac,
                           product_frac_bits=product_frac, out_frac_bits=out_frac)
        layers.append(ConvLayer(layer.name, dequantize(quant.weights, weight_frac),
                                dequantize(quant.bias, product_frac), layer.dilation,
                                layer.relu, quant))
        in_frac = out_frac
    spec = ModelSpec(layers=layers, sample_rate=48_000, number_format=name)
    spec.validate()
    return spec


def hostile_inputs(frames: int, channels: int, seed: int) -> np.ndarray:
    """Audio-like, then loud, then NaN, inf and huge values."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.5, (frames, channels)).astype(np.float32)
    x[frames // 3 : frames // 2] *= 40.0
    special = rng.random(x.shape) < 0.02
    x[special] = rng.choice(np.array([np.nan, np.inf, -np.inf, 3e38, -3e38], np.float32),
                            int(special.sum()))
    return x


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("shape", SHAPES[:8], ids=shape_id)
def test_simulator_matches_the_reference_bit_for_bit_while_saturating(name, shape):
    inputs, filters, kernel = shape
    arch = Architecture(inputs, filters, kernel)
    spec = random_fixed_spec(arch, name, seed=len(filters) * 10 + kernel)
    x = hostile_inputs(2 * arch.receptive_field + 333, inputs, seed=inputs)
    reference = run_fixed_point(spec, x, keep_activations=True)
    assert any(layer.outputs for layer in reference.layers), "nothing saturated"
    assert reference.input_saturated > 0
    for block_size in (1, 7, 48, 64):
        simulator = Simulator(spec)
        q = quantize_inputs(x, spec.format, spec.input_frac_bits)
        fixed = np.concatenate([simulator.process_fixed(q[i : i + block_size])
                                for i in range(0, len(q), block_size)])
        assert np.array_equal(fixed, reference.integer_outputs), f"block {block_size}"
        rendered = Simulator(spec).render(x, block_size)
        assert np.array_equal(rendered, reference.outputs), f"block {block_size}"
        assert np.all(np.isfinite(rendered))


@pytest.mark.parametrize("name", FORMATS)
def test_reference_layer_follows_each_saturation_point(name):
    """One 1x1 layer with hand-picked numbers through each saturation point of the contract."""
    fmt = FORMATS[name]
    b, top, bottom = fmt.product_shift, fmt.max, fmt.min
    one = 1 << b  # 1.0 in weight_frac_bits = B
    weights = np.array([[[one - 1]]])  # just below 1.0: the largest positive weight
    x = np.array([[top], [bottom], [3], [-3], [0]])
    cases = [
        # (bias, shift s, relu): expected y for each x
        (0, 0, False, [top - 1, bottom + 1, 2, -3, 0]),  # floor: 3 * (1 - 2^-B) -> 2; -3 -> -3
        (top, 0, False, [top, 0, top, top - 3, top]),  # the bias add saturates at the top
        (0, 1, False, [top, bottom, 4, -6, 0]),  # the left shift saturates both ways
        (0, -1, False, [(top - 1) >> 1, (bottom + 1) >> 1, 1, -2, 0]),  # right shift: floor
        (0, 1, True, [top, 0, 4, 0, 0]),  # relu after the shift
    ]
    for bias, s, relu, expected in cases:
        quant = LayerQuant(np.array(weights, dtype=fmt.dtype), np.array([bias], fmt.dtype),
                           in_frac_bits=b, weight_frac_bits=b, product_frac_bits=b,
                           out_frac_bits=b + s)
        layer = ConvLayer("l", dequantize(quant.weights, b), dequantize(quant.bias, b), 1, relu,
                          quant)
        assert layer_reference(layer, fmt, x)[:, 0].tolist() == expected, (bias, s, relu)
