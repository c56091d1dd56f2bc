"""The fixed-point engines (issue 13, firmware side): both backends, built natively and for the
emulated Cortex-M7, against the quantized contract's arithmetic in numpy, bit for bit.

Quantized headers come from tests/firmware/q_standin.py until the host side's quantizer lands
(then its headers and simulator replace the stand-in here)."""

from pathlib import Path

import numpy as np
import pytest

from host_sim.m7 import M7Engine
from host_sim.model_defn import Architecture
from host_sim.native import BACKENDS, NativeEngine, header_number_format
from tests.conftest import require_tool
from tests.firmware.q_standin import (
    QLayer,
    QModel,
    contract_outputs,
    random_qmodel,
    saturation_counts,
    with_shifts,
    write_qheader,
)
from tests.host_sim.test_engine import SHAPES, shape_id

FORMATS = ("q15", "q7")
BLOCK_SIZES = (1, 7, 48, 64)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def compilers():
    require_tool("gcc")
    require_tool("g++")


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


def quantized_case(shape, number_format: str, tmp_path: Path, saturating: bool = False):
    """(header, test input, exact outputs): a random model quantized on calibration audio,
    with frames past the receptive field so every history fills and is rewound. Saturating:
    the calibration under-ranges the test audio 4x and every scale is 2 bits too fine, biases
    are large, so every saturating step of the contract clips on the test audio."""
    inputs, filters, kernel = shape
    frames = 2 * Architecture(inputs, tuple(filters), kernel).receptive_field + 777
    x = signal(frames, inputs, seed=inputs)
    options = {"headroom_bits": -2, "bias_scale": 400.0} if saturating else {}
    model = random_qmodel(inputs, filters, kernel, number_format, x / 4 if saturating else x,
                          seed=len(filters) * 10 + kernel, **options)
    header = write_qheader(model, tmp_path / f"model_{number_format}.h")
    return header, x, contract_outputs(model, x), model


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


@pytest.mark.parametrize("outputs", [4, 8])
@pytest.mark.parametrize("number_format", FORMATS)
def test_every_requantization_shift_is_exact(number_format, outputs, tmp_path, arm_toolchain):
    """Shifts s = out_frac_bits - product_frac_bits from -3 to 3 in ReLU layers and in a head
    of several outputs (the M7 finishes |s| <= 2 two outputs a word, others one by one), on
    both backends, native and emulated."""
    x = signal(1200, 2, seed=5)
    shifts = [-3, 3, -2, 2, -1, 1, 0]
    for head_shift in (-3, -2, -1, 0, 1, 2, 3):
        model = random_qmodel(2, (8, 8, 8), 2, number_format, x, seed=11, outputs=outputs)
        model = with_shifts(model, shifts[:len(model.layers) - 1] + [head_shift])
        header = write_qheader(model, tmp_path / f"shift{head_shift}.h")
        expected = contract_outputs(model, x)
        for backend in BACKENDS:
            native = NativeEngine(header, backend)
            native.reset()
            assert np.array_equal(native.render(x, 48), expected), (backend, head_shift)
            run = M7Engine(header, backend).run(x, 48)
            assert np.array_equal(run.outputs, expected), (backend, head_shift)


def edge_model(first_weights: list[int], inputs: int) -> QModel:
    """One block of kernel 2 whose first layer has `first_weights` for every tap and input and
    four outputs (so the M7 runs its asm tiles, not the portable one), then a 1x1 layer and
    head that pass them on: the first layer's sums reach the 32-bit limit when every input
    sits at -32768."""
    w = np.array(first_weights, np.int16).reshape(2, 1, 1).repeat(inputs, axis=1).repeat(4, 2)
    mix = (np.eye(4, dtype=np.int16) * 16384)[None]
    head = np.full((1, 4, 1), 4096, np.int16)
    zeros = np.zeros(4, np.int16)
    layers = [
        QLayer(w, np.array([0, 1, -1, 5], np.int16), 1, True, in_frac_bits=15,
               weight_frac_bits=15, out_frac_bits=15, bits=15),
        QLayer(mix, zeros, 1, True, 15, 15, 14, 15),
        QLayer(head, np.array([0], np.int16), 1, False, 14, 15, 13, 15),
    ]
    return QModel("q15", layers)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("weights, inputs", [
    ([32767, 32767], 1),    # sum at most 32768 * 65534: provably 32 bits, at the limit
    ([-32768, -32768], 1),  # 2^31 when the inputs are -32768: 64 bits needed
    ([-32768, -32768], 2),  # as well as zeroed accumulators (SMUAD of the first pair overflows)
], ids=["fits-32-bits", "needs-64-bits", "first-pair-overflows"])
def test_sums_at_the_32_bit_limit_are_exact(weights, inputs, backend, tmp_path, arm_toolchain):
    model = edge_model(weights, inputs)
    header = write_qheader(model, tmp_path / "edge.h")
    x = np.repeat(np.array([-1.0, -1.0, -2.0, 1.0, 0.99997, -1.0, -1.0, 0.5], np.float32),
                  7)[:, None].repeat(inputs, axis=1)
    expected = contract_outputs(model, x)
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
    step = np.float32(2.0 ** -model.layers[0].in_frac_bits)
    specials = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.5 * step, -0.5 * step,
                         1.5 * step, -1.5 * step, 2.5 * step, -0.0, np.float32(0.49999997) * step,
                         np.nextafter(np.float32(0.5), np.float32(0)) * step], np.float32)
    x = x.copy()
    x[100:100 + len(specials), 0] = specials
    x[200:200 + len(specials), 1] = specials[::-1]
    expected = contract_outputs(model, x)
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


def test_patch_app_runs_a_quantized_model(tmp_path):
    """The Patch app's core (patch_runner.h) takes a quantized header unchanged: its output is
    the engine's."""
    from host_sim.native import NativePatchRunner

    model = random_qmodel(3, (4, 4), 2, "q15", signal(500, 3), seed=3)
    model.input_names = ["knob_1", "knob_2", "audio_in_1"]
    header = write_qheader(model, tmp_path / "patch_q15.h")
    runner = NativePatchRunner(header)
    jacks = np.zeros((480, 4), np.float32)
    jacks[:, 0] = signal(480, 1)[:, 0]
    knobs = np.array([0.25, 0.75, 0.0, 0.0], np.float32)
    out = np.concatenate([runner.process(jacks[i:i + 48], knobs) for i in range(0, 480, 48)])
    x = np.stack([np.full(480, 0.25), np.full(480, 0.75), jacks[:, 0]], axis=1)
    assert np.array_equal(out, contract_outputs(model, x.astype(np.float32))[:, 0])
    assert runner.non_finite_outputs == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("number_format", FORMATS)
def test_inference_app_compiles_with_a_quantized_model(number_format, backend, tmp_path):
    """firmware/inference/main.cpp needs no change for a quantized model_defn.h (checked as
    tests/firmware/test_daisy_apps.py checks the float one: against declarations of the
    DaisyDuino API, for the Cortex-M7)."""
    import subprocess

    from host_sim.daisy_target import app_defines, daisy_target
    from host_sim.native import backend_define, cmsis_source_dir

    compiler = require_tool("arm-none-eabi-g++")
    model = random_qmodel(3, (4, 4), 2, number_format, signal(500, 3), seed=3)
    model.input_names = ["knob_1", "knob_2", "audio_in_1"]
    (tmp_path / "model").mkdir()
    write_qheader(model, tmp_path / "model" / "model_defn.h")
    target = daisy_target()
    command = [compiler, *target.machine_flags, *target.optimize_flags, *target.cxx_flags,
               *app_defines("inference"), backend_define(backend), "-Wall", "-Wextra", "-Werror",
               "-fsyntax-only", "-D__GNUC_PYTHON__",
               f"-I{REPO / 'tests' / 'firmware' / 'daisy_api'}", f"-I{REPO / 'firmware' / 'core'}",
               f"-I{tmp_path / 'model'}", f"-I{cmsis_source_dir() / 'Include'}",
               str(REPO / "firmware" / "inference" / "main.cpp")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
