"""The fixed-point engines (issue 13, firmware side): both backends, built natively and for the
emulated Cortex-M7, against the host's reference arithmetic (host_sim/model_defn/fixed_point.py,
itself checked against cmsisdsp), bit for bit. Headers come from the exporter's quantizer and
writer; the edge cases below edit a quantized spec's integers and formats directly."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from daisynet.host_sim.m7 import M7Engine
from daisynet.host_sim.model_defn import (
    Architecture,
    ConvLayer,
    ModelSpec,
    read_golden,
    read_header,
    render_header,
)
from daisynet.host_sim.model_defn.fixed_point import run_fixed_point
from daisynet.host_sim.model_defn.spec import LayerQuant
from daisynet.host_sim.native import BACKENDS, NativeEngine, header_number_format
from daisynet.host_sim.quantize import quantize_spec, quantized_header_for, random_spec
from daisynet.host_sim.reference import reference_output
from tests.conftest import require_tool
from tests.host_sim.test_engine import SHAPES, shape_id

pytestmark = [pytest.mark.m7, pytest.mark.native]

FORMATS = ("q15", "q7")
BLOCK_SIZES = (1, 7, 48, 64)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def arm_toolchain():
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size",
                 "qemu-system-arm"):
        require_tool(tool)


def signal(frames: int, channels: int, seed: int = 0) -> np.ndarray:
    """The float tests' audio_like signal: sines at audio and knob rates plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None]
    freqs = rng.uniform(0.002, 0.05, channels)[None, :]
    x = 0.6 * np.sin(2 * np.pi * freqs * t) + 0.2 * rng.standard_normal((frames, channels))
    return x.astype(np.float32)


def write_header(spec: ModelSpec, path: Path) -> Path:
    path.write_text(render_header(spec, "tests/firmware/test_q_engines.py"))
    return path


def exact_outputs(spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    return run_fixed_point(spec, x).outputs


def live_float_spec(arch: Architecture, x: np.ndarray, seed: int) -> ModelSpec:
    """Random weights of ``arch`` whose output follows ``x`` (narrow ReLU stacks can die: the
    first live one of seeds seed, seed + 1, ...)."""
    for attempt in range(seed, seed + 50):
        spec = random_spec(arch, attempt)
        if np.std(reference_output(spec, x)) > 1e-3:
            return spec
    raise AssertionError(f"no live random model of {arch}")


def with_quants(spec: ModelSpec, quants: list[LayerQuant]) -> ModelSpec:
    """``spec`` with new fixed-point forms (the float weights follow the integers)."""
    layers = [ConvLayer(layer.name, (q.weights * 2.0**-q.weight_frac_bits).astype(np.float32),
                        (q.bias * 2.0**-q.product_frac_bits).astype(np.float32),
                        layer.dilation, layer.relu, q)
              for layer, q in zip(spec.layers, quants, strict=True)]
    edited = replace(spec, layers=layers)
    edited.validate()
    return edited


def with_formats_moved(spec: ModelSpec, out_moves: list[int], input_move: int = 0) -> ModelSpec:
    """Each layer's out_frac_bits moved by out_moves[l] bits (the model input's by
    input_move): the next layer's in_frac_bits follows and its weight_frac_bits moves the other
    way, so the product formats and every integer stay as they are."""
    quants, in_move = [], input_move
    for layer, out_move in zip(spec.layers, out_moves, strict=True):
        q = layer.quant
        quants.append(replace(q, in_frac_bits=q.in_frac_bits + in_move,
                              weight_frac_bits=q.weight_frac_bits - in_move,
                              out_frac_bits=q.out_frac_bits + out_move))
        in_move = out_move
    return with_quants(spec, quants)


def with_shifts(spec: ModelSpec, shifts: list[int]) -> ModelSpec:
    """``spec`` with each layer's requantization shift (out - product frac bits) = shifts[l]."""
    return with_formats_moved(spec, [s - layer.quant.shift
                                     for layer, s in zip(spec.layers, shifts, strict=True)])


def quantized_case(shape, number_format: str, tmp_path: Path, saturating: bool = False):
    """(header, test input, exact outputs, spec) for a random model of ``shape``, with frames
    past the receptive field so every history fills and is rewound. Normally the test material
    of host_sim.quantize.quantized_header_for: its header, and its golden header's input and
    kOutputs (the fixed-point engine's exact outputs), read back as the firmware tests' answer.
    Saturating: calibrated on a quarter of the test audio with no headroom, every activation
    format 2 bits finer and every bias at half of full scale, so each saturating step of the
    arithmetic clips on the test audio (an edited spec, written by the same writer)."""
    inputs, filters, kernel = shape
    arch = Architecture(inputs, tuple(filters), kernel)
    if not saturating:
        spec, header, golden = quantized_header_for(
            arch, number_format, seed=inputs, out_dir=tmp_path, name=f"model_{number_format}.h",
            golden_frames=2 * arch.receptive_field + 777)
        x, expected = read_golden(golden, read_header(header))
        return header, x, expected, spec
    x = signal(2 * arch.receptive_field + 777, inputs, seed=inputs)
    float_spec = live_float_spec(arch, x, seed=len(filters) * 10 + kernel)
    spec = quantize_spec(float_spec, number_format, x / 4, headroom=1.0)
    spec = with_formats_moved(spec, [2] * len(spec.layers), input_move=2)
    half = spec.format.max // 2
    spec = with_quants(spec, [replace(layer.quant, bias=np.where(
        layer.quant.bias >= 0, half, -half).astype(layer.quant.bias.dtype))
        for layer in spec.layers])
    header = write_header(spec, tmp_path / f"model_{number_format}.h")
    return header, x, exact_outputs(spec, x), spec


def saturation_counts(spec: ModelSpec, x: np.ndarray) -> dict[str, int]:
    run = run_fixed_point(spec, x)
    return {"input": run.input_saturated,
            "product": sum(layer.sum for layer in run.layers),
            "bias": sum(layer.bias for layer in run.layers),
            "shift": sum(layer.shift for layer in run.layers)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("number_format", FORMATS)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_native_engines_compute_the_contract_exactly(shape, number_format, backend, tmp_path):
    header, x, expected, _ = quantized_case(shape, number_format, tmp_path)
    assert header_number_format(header) == number_format
    assert np.std(expected) > 0, "degenerate model: the output does not follow the input"
    engine = NativeEngine(header, backend)
    for block_size in BLOCK_SIZES:
        engine.reset()
        assert np.array_equal(engine.render(x, block_size), expected), f"block {block_size}"
    assert engine.non_finite_outputs == 0
    assert engine.allocations == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("number_format", FORMATS)
@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[3], SHAPES[6]], ids=shape_id)
def test_native_engines_saturate_as_the_contract_says(shape, number_format, backend, tmp_path):
    header, x, expected, model = quantized_case(shape, number_format, tmp_path, saturating=True)
    counts = saturation_counts(model, x)
    assert all(counts[step] > 0 for step in ("input", "product", "bias", "shift")), counts
    engine = NativeEngine(header, backend)
    for block_size in (1, 48):
        engine.reset()
        assert np.array_equal(engine.render(x, block_size), expected), f"block {block_size}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("number_format", FORMATS)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_m7_engines_compute_the_contract_exactly(shape, number_format, backend, tmp_path,
                                                  arm_toolchain):
    header, x, expected, _ = quantized_case(shape, number_format, tmp_path)
    engine = M7Engine(header, backend)
    for block_size in BLOCK_SIZES:
        run = engine.run(x, block_size)
        assert np.array_equal(run.outputs, expected), f"block {block_size}"
        assert run.allocations == 0
        assert run.non_finite_outputs == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("number_format", FORMATS)
@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[3], SHAPES[6]], ids=shape_id)
def test_m7_engines_saturate_as_the_contract_says(shape, number_format, backend, tmp_path,
                                                   arm_toolchain):
    header, x, expected, _ = quantized_case(shape, number_format, tmp_path, saturating=True)
    engine = M7Engine(header, backend)
    for block_size in (1, 48):
        assert np.array_equal(engine.run(x, block_size).outputs, expected), f"block {block_size}"


# Every head shift from -3 to 3 once, each head width meeting both of the M7's paths.
HEAD_SHIFTS_BY_OUTPUTS = {4: (-3, -1, 0, 2), 8: (-2, 1, 3)}


@pytest.mark.parametrize("outputs", sorted(HEAD_SHIFTS_BY_OUTPUTS))
@pytest.mark.parametrize("number_format", FORMATS)
def test_every_requantization_shift_is_exact(number_format, outputs, tmp_path, arm_toolchain):
    """Shifts s = out_frac_bits - product_frac_bits from -3 to 3 in ReLU layers and in a head
    of several outputs (the M7 finishes |s| <= 2 two outputs a word, others one by one), on
    both backends, native and emulated."""
    x = signal(1200, 2, seed=5)
    shifts = [-3, 3, -2, 2, -1, 1, 0]
    for head_shift in HEAD_SHIFTS_BY_OUTPUTS[outputs]:
        spec = quantize_spec(live_float_spec(Architecture(2, (8, 8, 8), 2, outputs), x, 11),
                             number_format, x)
        spec = with_shifts(spec, shifts[:len(spec.layers) - 1] + [head_shift])
        header = write_header(spec, tmp_path / f"shift{head_shift}.h")
        expected = exact_outputs(spec, x)
        for backend in BACKENDS:
            native = NativeEngine(header, backend)
            native.reset()
            assert np.array_equal(native.render(x, 48), expected), (backend, head_shift)
            run = M7Engine(header, backend).run(x, 48)
            assert np.array_equal(run.outputs, expected), (backend, head_shift)


def edge_model(first_weights: list[int], inputs: int) -> ModelSpec:
    """One block of kernel 2 whose first layer has `first_weights` for every tap and input and
    four outputs (so the M7 runs its asm tiles, not the portable one), then a 1x1 layer and
    head that pass them on: the first layer's sums reach the 32-bit limit when every input
    sits at -32768."""
    w = np.array(first_weights, np.int16).reshape(2, 1, 1).repeat(inputs, axis=1).repeat(4, 2)
    mix = (np.eye(4, dtype=np.int16) * 16384)[None]
    head = np.full((1, 4, 1), 4096, np.int16)
    # (name, integer weights, integer bias, relu, in/weight/product/out fractional bits)
    layers = [
        ("block0_dilated", w, np.array([0, 1, -1, 5], np.int16), True, (15, 15, 15, 15)),
        ("block0_mix", mix, np.zeros(4, np.int16), True, (15, 15, 15, 14)),
        ("head", head, np.array([0], np.int16), False, (14, 15, 14, 13)),
    ]
    spec = ModelSpec(
        layers=[ConvLayer(name, (q * 2.0**-bits[1]).astype(np.float32),
                          (b * 2.0**-bits[2]).astype(np.float32), 1, relu,
                          LayerQuant(q, b, *bits))
                for name, q, b, relu, bits in layers],
        sample_rate=48_000, number_format="q15")
    spec.validate()
    return spec


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("weights, inputs", [
    ([32767, 32767], 1),    # sum at most 32768 * 65534: provably 32 bits, at the limit
    ([-32768, -32768], 1),  # 2^31 when the inputs are -32768: 64 bits needed
    ([-32768, -32768], 2),  # as well as zeroed accumulators (SMUAD of the first pair overflows)
], ids=["fits-32-bits", "needs-64-bits", "first-pair-overflows"])
def test_sums_at_the_32_bit_limit_are_exact(weights, inputs, backend, tmp_path, arm_toolchain):
    model = edge_model(weights, inputs)
    header = write_header(model, tmp_path / "edge.h")
    x = np.repeat(np.array([-1.0, -1.0, -2.0, 1.0, 0.99997, -1.0, -1.0, 0.5], np.float32),
                  7)[:, None].repeat(inputs, axis=1)
    expected = exact_outputs(model, x)
    assert np.ptp(expected) > 0
    native = NativeEngine(header, backend)
    native.reset()
    assert np.array_equal(native.render(x, 48), expected)
    m7 = M7Engine(header, backend)
    for block_size in (1, 48):
        assert np.array_equal(m7.run(x, block_size).outputs, expected), f"block {block_size}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("number_format", FORMATS)
def test_inputs_round_half_away_from_zero_and_saturate(number_format, backend, tmp_path,
                                                        arm_toolchain):
    """NaN -> 0, infinities and huge values saturate, halves round away from zero: the
    native (x86) and M7 (VCVT) paths of the input quantization agree with the contract."""
    header, x, _, model = quantized_case((2, (3, 3), 2), number_format, tmp_path)
    step = np.float32(2.0 ** -model.input_frac_bits)
    specials = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.5 * step, -0.5 * step,
                         1.5 * step, -1.5 * step, 2.5 * step, -0.0, np.float32(0.49999997) * step,
                         np.nextafter(np.float32(0.5), np.float32(0)) * step], np.float32)
    x = x.copy()
    x[100:100 + len(specials), 0] = specials
    x[200:200 + len(specials), 1] = specials[::-1]
    expected = exact_outputs(model, x)
    native = NativeEngine(header, backend)
    native.reset()
    assert np.array_equal(native.render(x, 48), expected)
    run = M7Engine(header, backend).run(x, 48)
    assert np.array_equal(run.outputs, expected)
    assert run.non_finite_outputs == 0


def test_q15_fast_engine_meets_the_issue_target(tmp_path, arm_toolchain):
    """Issue 13: q15 at <= 1.2 emulated instructions per MAC at block 48 on a model of
    >= 2,000 MACs/sample (K=3, 16 filters x 6 blocks, 4 inputs), full-scale weights (every
    layer on 64-bit accumulators, the slower case)."""
    shape = (4, (16,) * 6, 3)
    header, x, expected, _ = quantized_case(shape, "q15", tmp_path)
    macs = Architecture(4, (16,) * 6, 3).macs_per_sample
    run = M7Engine(header, "fast").run(x[:2400], 48)
    assert np.array_equal(run.outputs, expected[:2400])
    assert run.instructions_per_sample / macs <= 1.2


def patch_model(number_format: str) -> ModelSpec:
    """A small quantized model with the default model's Patch inputs."""
    x = signal(500, 3)
    spec = quantize_spec(live_float_spec(Architecture(3, (4, 4), 2), x, 3), number_format, x)
    return replace(spec, input_names=["knob_1", "knob_2", "audio_in_1"])


def test_patch_app_runs_a_quantized_model(tmp_path):
    """The Patch app's core (patch_runner.h) takes a quantized header unchanged: its output is
    the engine's."""
    from daisynet.host_sim.native import NativePatchRunner

    model = patch_model("q15")
    header = write_header(model, tmp_path / "patch_q15.h")
    runner = NativePatchRunner(header)
    jacks = np.zeros((480, 4), np.float32)
    jacks[:, 0] = signal(480, 1)[:, 0]
    knobs = np.array([0.25, 0.75, 0.0, 0.0], np.float32)
    out = np.concatenate([runner.process(jacks[i:i + 48], knobs) for i in range(0, 480, 48)])
    x = np.stack([np.full(480, 0.25), np.full(480, 0.75), jacks[:, 0]], axis=1)
    assert np.array_equal(out, exact_outputs(model, x.astype(np.float32))[:, 0])
    assert runner.non_finite_outputs == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("number_format", FORMATS)
def test_inference_app_compiles_with_a_quantized_model(number_format, backend, tmp_path):
    """firmware/inference/main.cpp needs no change for a quantized model_defn.h (checked as
    tests/firmware/test_daisy_apps.py checks the float one: against declarations of the
    DaisyDuino API, for the Cortex-M7)."""
    import subprocess

    from daisynet.host_sim.daisy_target import app_defines, daisy_target
    from daisynet.host_sim.native import backend_define, cmsis_source_dir

    compiler = require_tool("arm-none-eabi-g++")
    (tmp_path / "model").mkdir()
    write_header(patch_model(number_format), tmp_path / "model" / "model_defn.h")
    target = daisy_target()
    command = [compiler, *target.machine_flags, *target.optimize_flags, *target.cxx_flags,
               *app_defines("inference"), backend_define(backend), "-Wall", "-Wextra", "-Werror",
               "-fsyntax-only", "-D__GNUC_PYTHON__",
               f"-I{REPO / 'tests' / 'firmware' / 'daisy_api'}", f"-I{REPO / 'firmware' / 'core'}",
               f"-I{tmp_path / 'model'}", f"-I{cmsis_source_dir() / 'Include'}",
               str(REPO / "firmware" / "inference" / "main.cpp")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module", params=FORMATS)
def quantized_demo_model(request, tmp_path_factory):
    """The default model (firmware/model) exported with --quantize, calibrated as a user's
    export is (the training dataset's validation split), golden input 512 frames of test
    audio (twice the receptive field: every history fills and rewinds)."""
    from daisynet.host_sim.model_defn import golden_path, read_golden, read_header
    from daisynet.tools.cli import main

    out = tmp_path_factory.mktemp(f"demo_{request.param}") / "model_defn.h"
    assert main(["export", str(REPO / "firmware" / "model" / "model.keras"), "-o", str(out),
                 "--quantize", request.param,
                 "--golden-input", str(REPO / "firmware" / "model" / "golden_input.wav")]) == 0
    spec = read_header(out)
    inputs, outputs = read_golden(golden_path(out), spec)
    return spec, out, inputs, outputs


def test_the_quantized_demo_model_runs_bit_exact_in_simulator_native_and_m7(
        quantized_demo_model, arm_toolchain):
    from daisynet.host_sim.engine import Simulator

    spec, header, inputs, golden = quantized_demo_model
    assert np.std(golden) > 0.1
    for block_size in BLOCK_SIZES:
        simulator = Simulator(spec)
        simulated = np.concatenate([simulator.process(inputs[i:i + block_size])
                                    for i in range(0, len(inputs), block_size)])
        assert np.array_equal(simulated, golden), f"simulator, block {block_size}"
    for backend in BACKENDS:
        native = NativeEngine(header, backend)
        m7 = M7Engine(header, backend)
        for block_size in BLOCK_SIZES:
            native.reset()
            assert np.array_equal(native.render(inputs, block_size), golden), (
                f"native {backend}, block {block_size}")
            assert np.array_equal(m7.run(inputs, block_size).outputs, golden), (
                f"m7 {backend}, block {block_size}")
