"""Post-training quantization: scale selection, rounding, saturation, and the quantized
model_defn.h (round trip, tampering, C++), with no Keras."""

import subprocess

import numpy as np
import pytest

from daisynet.host_sim.engine import Simulator
from daisynet.host_sim.model_defn import (
    Architecture,
    ConvLayer,
    HeaderError,
    ModelSpec,
    golden_path,
    read_golden_all,
    read_header,
    render_header,
)
from daisynet.host_sim.model_defn.fixed_point import run_fixed_point
from daisynet.host_sim.model_defn.spec import Q7, Q15
from daisynet.host_sim.quantize import (
    accuracy_report,
    calibrate,
    frac_bits_for,
    quantize_spec,
    quantized_header_for,
    random_spec,
    round_saturate,
    synthetic_audio,
)
from tests.conftest import require_tool
from tests.host_sim.test_engine import SHAPES, shape_id

pytestmark = pytest.mark.native

FORMATS = {"q15": Q15, "q7": Q7}


def test_frac_bits_are_the_largest_that_fit():
    assert frac_bits_for(1.0, 32767, 0) == 14  # 2^15 would need 32768
    assert frac_bits_for(0.5, 32767, 0) == 15
    assert frac_bits_for(0.99, 32767, 0) == 15
    assert frac_bits_for(3.0, 127, 0) == 5
    assert frac_bits_for(1000.0, 127, 0) == -3  # negative: the range needs it
    assert frac_bits_for(1e-4, 32767, 0) == 28  # above 15 likewise
    for k in range(-5, 30):  # exact: peak * 2^f == limit exactly
        assert frac_bits_for(32767 * 2.0**-k, 32767, 0) == k
    assert frac_bits_for(0.0, 32767, 7) == 7


def test_rounding_is_to_nearest_half_away_from_zero_and_saturates():
    values = np.array([0.5, -0.5, 1.5, -1.5, 0.49, -0.51, 2.5]) * 2.0**-4
    assert round_saturate(values, 4, Q15).tolist() == [1, -1, 2, -2, 0, -1, 3]
    assert round_saturate(np.array([10.0, -10.0]), 15, Q15).tolist() == [32767, -32768]
    assert round_saturate(np.array([10.0, -10.0]), 7, Q7).tolist() == [127, -128]


def tiny_model(weights=(0.5, 0.5), mix=1.0, head=1.0, bias=(0.0, 0.0, 0.0)) -> ModelSpec:
    """1 input, one block of 1 filter, K = 2: y = head * relu(mix * relu(w0 x[t-1] + w1 x[t]
    + b0) + b1) + b2."""
    def conv(name, w, b, dilation, relu):
        return ConvLayer(name, np.array(w, np.float32).reshape(-1, 1, 1),
                         np.array([b], np.float32), dilation, relu)

    return ModelSpec([conv("d", weights, bias[0], 1, True), conv("m", [mix], bias[1], 1, True),
                      conv("h", [head], bias[2], 1, False)], sample_rate=48_000)


@pytest.mark.parametrize("name", FORMATS)
def test_formats_follow_the_calibrated_ranges_with_headroom(name):
    fmt = FORMATS[name]
    shift = fmt.product_shift
    spec = tiny_model(weights=(0.9, 0.9), mix=3.0, head=0.1, bias=(0.0, 0.1, 0.0))
    calibration = np.full((64, 1), 0.6, np.float32)  # peak 0.6: with headroom 2, 1.2
    q = quantize_spec(spec, name, calibration, headroom=2.0)
    d, m, h = (layer.quant for layer in q.layers)
    assert d.in_frac_bits == frac_bits_for(1.2, fmt.max, 0) == q.input_frac_bits
    ranges = calibrate(spec, calibration)
    for original, quant, peaks in zip(spec.layers, (d, m, h), ranges, strict=True):
        assert quant.product_frac_bits == quant.in_frac_bits + quant.weight_frac_bits - shift
        weights = float(np.abs(original.weights).max())
        bias = float(np.abs(original.bias).max())

        def fits(w, quant=quant, peaks=peaks, weights=weights, bias=bias):
            p = quant.in_frac_bits + w - shift
            return (weights * 2.0**w <= fmt.max
                    and 2.0 * max(peaks.sum, peaks.biased) * 2.0**p <= fmt.max
                    and bias * 2.0**p <= fmt.max)

        # the largest weight format that keeps the weights, the sums and the bias in range
        assert fits(quant.weight_frac_bits) and not fits(quant.weight_frac_bits + 1)
        assert quant.out_frac_bits == frac_bits_for(2.0 * peaks.output, fmt.max, 0)
    # the dilated layer's sum (0.9 * 0.6 twice: 1.08) binds its weight format below what its
    # weights (0.9) alone allow; the mix layer's weight (3.0) binds its own
    assert d.weight_frac_bits < frac_bits_for(0.9, fmt.max, 0)
    assert m.weight_frac_bits == frac_bits_for(3.0, fmt.max, 0)
    # the bias is stored in the product format
    assert m.bias[0] == round(0.1 * 2.0**m.product_frac_bits)


@pytest.mark.parametrize("name", FORMATS)
def test_weights_round_to_nearest(name):
    spec = random_spec(Architecture(3, (4, 4, 4, 8), 4), seed=3)
    q = quantize_spec(spec, name, synthetic_audio(4096, 3, seed=1))
    for original, layer in zip(spec.layers, q.layers, strict=True):
        lsb = 2.0**-layer.quant.weight_frac_bits
        assert np.max(np.abs(layer.weights - original.weights)) <= lsb / 2 + 1e-12
        assert np.array_equal(layer.weights, layer.quant.weights * np.float32(lsb))
        bias_lsb = 2.0**-layer.quant.product_frac_bits
        assert np.max(np.abs(layer.bias - original.bias)) <= bias_lsb / 2 + 1e-12


@pytest.mark.parametrize("name", FORMATS)
def test_under_ranged_calibration_saturates_never_wraps(name):
    """Calibrated on quiet audio, played a full-scale ramp: the output clips at the top and
    stays monotonic, and the report counts and warns about the saturation."""
    fmt = FORMATS[name]
    spec = tiny_model()
    quiet = 0.05 * np.sin(np.linspace(0, 20, 1000, dtype=np.float32))[:, None]
    q = quantize_spec(spec, name, quiet)
    ramp = np.linspace(-1.0, 1.0, 4001, dtype=np.float32)[:, None]
    run = run_fixed_point(q, ramp)
    out = run.outputs[:, 0]
    assert np.all(np.diff(out) >= 0), "the output went down on a rising ramp: it wrapped"
    assert out.min() == 0.0
    ceiling = fmt.max * 2.0**-q.input_frac_bits  # the input saturates first
    assert 0.9 * ceiling <= out.max() < 0.2  # clipped near the quiet range, not at 1.0
    assert run.input_saturated > 0
    np.testing.assert_array_equal(Simulator(q).render(ramp, 48), run.outputs)
    report = accuracy_report(spec, q, ramp)
    assert report["input_saturation"]["fraction"] > 0.5
    assert any(w.startswith("input:") and "saturated" in w for w in report["warnings"])
    assert any("ESR" in w for w in report["warnings"])  # the clipped ramp is far from float


@pytest.mark.parametrize("name", FORMATS)
def test_layer_saturation_is_counted_and_warned(name):
    """Calibration whose sums stay small (alternating samples cancel in the 2-tap sum), then
    audio at the same level whose sums do not: the layer saturates, the input does not."""
    spec = tiny_model(weights=(0.9, 0.9))
    alternating = np.tile(np.array([[0.1], [-0.1]], np.float32), (32, 1))
    q = quantize_spec(spec, name, alternating, headroom=1.0)
    report = accuracy_report(spec, q, alternating)
    assert report["max_saturation_fraction"] == 0.0 and not report["warnings"]
    steady = np.full((64, 1), 0.1, np.float32)
    run = run_fixed_point(q, steady)
    assert run.input_saturated == 0
    assert run.layers[0].fraction > 0.9
    report = accuracy_report(spec, q, steady)
    assert report["layers"][0]["saturation"]["points"] == {
        "sum": run.layers[0].sum, "bias": run.layers[0].bias, "shift": run.layers[0].shift}
    assert any(w.startswith("layer 0 (d):") for w in report["warnings"])
    # saturated at the top of the range, not wrapped to the bottom
    assert np.all(run.outputs[1:, 0] > 0)


@pytest.mark.parametrize("name", FORMATS)
def test_quantized_header_round_trip(name, tmp_path):
    spec, header, golden = quantized_header_for(Architecture(2, (3, 5), 3), name, 4, tmp_path)
    text = header.read_text()
    assert text.startswith("// GENERATED FILE, do not edit. Made by: quantized_header_for(")
    assert (f"inline constexpr NumberFormat kNumberFormat = NumberFormat::{spec.format.cpp_enum};"
            in text)
    reloaded = read_header(header)
    assert reloaded.number_format == name and reloaded.float_sha256 == spec.float_sha256
    assert reloaded.weights_sha256() == spec.weights_sha256()
    assert (reloaded.input_names, reloaded.output_names, reloaded.sample_rate) == (
        spec.input_names, spec.output_names, spec.sample_rate)
    for original, loaded in zip(spec.layers, reloaded.layers, strict=True):
        assert original.quant.frac_bits() == loaded.quant.frac_bits()
        assert np.array_equal(original.quant.weights, loaded.quant.weights)
        assert loaded.quant.weights.dtype == np.dtype(FORMATS[name].dtype)
        assert np.array_equal(original.quant.bias, loaded.quant.bias)
        assert np.array_equal(original.weights, loaded.weights)
        assert (original.dilation, original.relu) == (loaded.dilation, loaded.relu)
    for original, loaded in zip(spec.layers, reloaded.layers, strict=True):
        loaded.name = original.name  # names live only in comments
    assert render_header(reloaded, "daisynet test") == render_header(spec, "daisynet test")
    inputs, outputs, float_outputs = read_golden_all(golden, reloaded)
    assert np.array_equal(outputs, run_fixed_point(reloaded, inputs).outputs)
    assert float_outputs is not None and np.std(float_outputs) > 0.01
    assert np.mean((outputs - float_outputs) ** 2) < 0.05 * np.mean(float_outputs**2)
    # the same arguments write the same files
    again = quantized_header_for(Architecture(2, (3, 5), 3), name, 4, tmp_path / "again")
    assert again[1].read_text() == text
    assert again[2].read_text() == golden.read_text()


def edit_header(text: str, what: str, name: str) -> str:
    fmt = FORMATS[name]
    if what == "a weight":
        start = text.index("{", text.index("kLayer0Weights[")) + 1
        end = text.index(",", start)
        value = int(text[start:end])
        return text[:start] + f" {value + 1 if value < fmt.max else value - 1}" + text[end:]
    if what == "a frac-bit field":
        row = text.index("kLayer2Weights, kLayer2Bias, ")
        fields = text.index("}", row)
        head, numbers = text[:row], text[row:fields].split(", ")
        numbers[-1] = str(int(numbers[-1]) + 1)  # out_frac_bits of layer 2 and in of layer 3
        row3 = text.index("kLayer3Weights, kLayer3Bias, ")
        rest = text[fields:row3]
        fields3 = text.index("}", row3)
        numbers3 = text[row3:fields3].split(", ")
        numbers3[2] = str(int(numbers3[2]) + 1)  # in
        numbers3[4] = str(int(numbers3[4]) + 1)  # product, kept consistent
        return head + ", ".join(numbers) + rest + ", ".join(numbers3) + text[fields3:]
    if what == "kInputFracBits":
        start = text.index("kInputFracBits = ") + len("kInputFracBits = ")
        end = text.index(";", start)
        return text[:start] + str(int(text[start:end]) + 1) + text[end:]
    if what == "kProductShift":
        return text.replace(f"kProductShift = {fmt.product_shift};", "kProductShift = 14;")
    if what == "Sample":
        return text.replace(f"using Sample = {fmt.cpp_type};", "using Sample = std::int32_t;")
    if what == "kNumberFormat":
        other = "kQ7" if name == "q15" else "kQ15"
        return text.replace(f"NumberFormat::{fmt.cpp_enum};", f"NumberFormat::{other};")
    if what == "out of range":
        start = text.index("{", text.index("kLayer1Bias[")) + 1
        end = text.index(",", start)
        return text[:start] + f" {fmt.max + 1}" + text[end:]
    if what == "missing frac bits":
        row = text.index("kLayer0Weights, kLayer0Bias")
        return text[:row] + "kLayer0Weights, kLayer0Bias" + text[text.index("}", row):]
    raise AssertionError(what)


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("what, message", [
    ("a weight", "do not match kWeightsSha256"),
    ("a frac-bit field", "do not match kWeightsSha256"),
    ("kInputFracBits", "kInputFracBits is"),
    ("kProductShift", "kProductShift is 14"),
    ("Sample", "Sample is std::int32_t"),
    ("kNumberFormat", "Sample is std::int"),
    ("out of range", "kLayer1Bias holds values outside"),
    ("missing frac bits", "lacks the four frac-bit fields"),
])
def test_tampered_quantized_header_is_refused(name, what, message, tmp_path):
    _, header, _ = quantized_header_for(Architecture(3, (4, 4), 2), name, 1, tmp_path)
    text = header.read_text()
    edited = edit_header(text, what, name)
    assert edited != text
    header.write_text(edited)
    with pytest.raises(HeaderError, match=message):
        read_header(header)


def test_the_quantized_hash_covers_format_formats_and_integers():
    spec = random_spec(Architecture(2, (2, 2), 2), seed=1)
    q15 = quantize_spec(spec, "q15", synthetic_audio(2048, 2))
    q7 = quantize_spec(spec, "q7", synthetic_audio(2048, 2))
    digest = q15.weights_sha256()
    assert len({digest, q7.weights_sha256(), spec.weights_sha256()}) == 3
    q15.layers[0].quant.bias[0] += 1
    assert q15.weights_sha256() != digest
    q15.layers[0].quant.bias[0] -= 1
    q15.layers[-1].quant.out_frac_bits += 1
    assert q15.weights_sha256() != digest


@pytest.mark.parametrize("name", FORMATS)
def test_quantized_header_compiles_as_cxx17_and_its_asserts_hold(name, tmp_path):
    compiler = require_tool("g++")
    spec, header, golden = quantized_header_for(Architecture(2, (3, 5, 7), 3), name, 2, tmp_path)
    fmt = FORMATS[name]
    probe = tmp_path / "probe.cc"
    probe.write_text(
        '#include <type_traits>\n#include "model_defn.h"\n#include "model_defn_golden.h"\n'
        "namespace m = daisynet::model;\nnamespace g = daisynet::golden;\n"
        f"static_assert(m::kNumberFormat == m::NumberFormat::{fmt.cpp_enum});\n"
        f"static_assert(std::is_same_v<m::Sample, {fmt.cpp_type}>);\n"
        f"static_assert(m::kProductShift == {fmt.product_shift});\n"
        f"static_assert(m::kInputFracBits == {spec.input_frac_bits});\n"
        f"static_assert(m::kLayers[3].out_frac_bits == {spec.layers[3].quant.out_frac_bits});\n"
        "static_assert(sizeof(g::kFloatOutputs) == sizeof(g::kOutputs));\n"
        "int main() {\n"
        "  bool aligned = reinterpret_cast<std::uintptr_t>(m::kLayer1Bias) % 16 == 0;\n"
        "  return aligned && m::kLayers[0].weights[0] == m::kLayer0Weights[0] ? 0 : 1;\n}\n")
    result = subprocess.run(
        [compiler, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path),
         str(probe), "-o", str(tmp_path / "probe")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert subprocess.run([str(tmp_path / "probe")]).returncode == 0


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_test_material_for_every_shape(name, shape, tmp_path):
    """quantized_header_for gives the firmware tests a header and golden vectors per shape:
    the simulator reproduces them at every block size, and the model is not degenerate."""
    inputs, filters, kernel = shape
    arch = Architecture(inputs, filters, kernel)
    spec, header, golden = quantized_header_for(arch, name, seed=inputs, out_dir=tmp_path,
                                                golden_frames=2 * arch.receptive_field + 300)
    golden_inputs, outputs, float_outputs = read_golden_all(golden, read_header(header))
    assert np.std(outputs) > 0.01, "degenerate model: the output does not follow the input"
    for block_size in (1, 7, 48, 64):
        assert np.array_equal(Simulator(spec).render(golden_inputs, block_size), outputs)
    assert golden_path(header) == golden
