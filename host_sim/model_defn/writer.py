"""Write model_defn.h and its golden vectors from a spec of either family (templates in
``templates/``)."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

import numpy as np

from daisynet.host_sim.activations import SIGMOID_MAX_ERROR, TANH_MAX_ERROR
from daisynet.host_sim.daisy_target import AUDIO_FULL_SCALE, SAMPLE_RATE_HZ
from daisynet.host_sim.model_defn.spec import (
    GRU_MAX_COLUMN_SUM,
    MODEL_DEFN_FORMAT_VERSION,
    MODEL_FAMILIES,
    AnyModelSpec,
    GruSpec,
    ModelSpec,
    SelfCheck,
)

TEMPLATES = Path(__file__).parent / "templates"
VALUES_PER_LINE = 6


def _c_float(value: float) -> str:
    # 9 significant digits round-trip any float32 exactly; the suffix needs a '.' or exponent.
    text = f"{float(value):.9g}"
    if not any(c in text for c in ".en"):
        text += ".0"
    return text + "f"


def _c_array(values: np.ndarray, indent: str = "    ") -> str:
    items = [_c_float(v) for v in np.asarray(values, dtype=np.float32).reshape(-1)]
    lines = [
        indent + ", ".join(items[i : i + VALUES_PER_LINE]) + ","
        for i in range(0, len(items), VALUES_PER_LINE)
    ]
    return "\n".join(lines)


def _c_ints(values: np.ndarray, indent: str = "    ", per_line: int = 12) -> str:
    items = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    lines = [
        indent + ", ".join(items[i : i + per_line]) + ","
        for i in range(0, len(items), per_line)
    ]
    return "\n".join(lines)


def _c_strings(names: list[str]) -> str:
    return ", ".join(json.dumps(n) for n in names)


def _comment(text: str) -> str:
    """``text`` safe in a // comment: characters that would end the line (a newline) or splice
    the next line onto it (a final backslash) are written as escapes."""
    escaped = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                      for c in text)
    return escaped[:-1] + "\\x5c" if escaped.endswith("\\") else escaped


def with_self_check(header_text: str, check: SelfCheck) -> str:
    """``header_text`` (a model_defn.h without a self-check reference) holding ``check``;
    nothing else changes."""
    empty = _self_check_block(None)
    if header_text.count(empty) != 1:
        raise ValueError("the header already holds a self-check reference, or is not one "
                         "this daisynet writes")
    return header_text.replace(empty, _self_check_block(check))


def _self_check_block(check: SelfCheck | None) -> str:
    """The kSelfCheck* constants: the boot self-check's reference, or none (frames 0)."""
    intro = (
        "// The boot self-check (firmware/core/self_check.h): the app runs kSelfCheckFrames\n"
        "// frames of the check input (host_sim/self_check.py: a 32-bit xorshift, the same on\n"
        "// host and device) through the model at blocks of 48 and compares every\n"
        "// kSelfCheckStride-th output with kSelfCheckOutputs, which the same engine code\n"
        "// computed on the emulated Cortex-M7 with the Daisy's flags.\n")
    if check is None:
        return (intro + "// None was stored (exported without the Cortex-M toolchain): the app "
                "says \"no check\".\n"
                "inline constexpr std::size_t kSelfCheckFrames = 0;\n"
                "inline constexpr std::size_t kSelfCheckStride = 1;\n"
                "inline constexpr float kSelfCheckTolerance = 0.0f;\n"
                "inline constexpr std::uint32_t kSelfCheckInstructionsPerSample = 0;\n"
                "inline constexpr float kSelfCheckOutputs[1] = {0.0f};\n")
    why = ("// Tolerance 0: integer arithmetic in a fixed order, so the device must match bit for\n"
           "// bit.\n" if check.tolerance == 0 else
           "// Tolerance: 1e-5 of the largest reference magnitude (at least 1). The engine's hot\n"
           "// loops fix their order of operations in assembly, but the C++ around them may be\n"
           "// contracted into fused multiply-adds differently by another compiler version; an\n"
           "// x86-64 build of the same engine stays within a quarter of this, while a wrong\n"
           "// weight moves the outputs by far more.\n")
    count = check.outputs.size
    return (intro + why
            + f"inline constexpr std::size_t kSelfCheckFrames = {check.frames};\n"
            f"inline constexpr std::size_t kSelfCheckStride = {check.stride};\n"
            f"inline constexpr float kSelfCheckTolerance = {_c_float(check.tolerance)};\n"
            "// Emulated instructions per sample of the check's run (one cycle each would be this\n"
            "// many cycles): the device prints its measured cycles beside it.\n"
            "inline constexpr std::uint32_t kSelfCheckInstructionsPerSample = "
            f"{check.instructions_per_sample};\n"
            f"// Output o of frame (i + 1) * kSelfCheckStride - 1 at [i * kNumOutputs + o].\n"
            f"inline constexpr float kSelfCheckOutputs[{count}] = {{\n"
            f"{_c_array(check.outputs)}\n}};\n"
            f"static_assert(kSelfCheckFrames / kSelfCheckStride * kNumOutputs == {count}, "
            '"self-check outputs");\n')


def _common_fields(spec: AnyModelSpec, command: str) -> dict:
    """The fields every header has, whatever its family."""
    arch = spec.architecture()
    sha = spec.weights_sha256()
    return dict(
        command=_comment(command),
        audio_full_scale=f"{AUDIO_FULL_SCALE:g}",
        format_version=MODEL_DEFN_FORMAT_VERSION,
        family_enum=MODEL_FAMILIES[spec.family],
        name=spec.name,
        parameters=arch.parameters,
        macs=arch.macs_per_sample,
        sample_rate=int(spec.sample_rate or SAMPLE_RATE_HZ),
        sha256=sha,
        sha256_32=sha[:8],
        inputs=spec.inputs,
        input_names=_c_strings(spec.input_names),
        outputs=spec.outputs,
        output_names=_c_strings(spec.output_names),
        self_check=_self_check_block(spec.self_check),
    )


def _wavenet_fields(spec: ModelSpec, command: str) -> dict:
    fields = _common_fields(spec, command)
    arch = spec.architecture()
    return dict(
        fields,
        receptive_field=arch.receptive_field,
        receptive_ms=f"{1000 * arch.receptive_field / fields['sample_rate']:.1f}",
        kernel=arch.kernel_size,
        blocks=len(arch.filters),
        filters=", ".join(str(f) for f in arch.filters),
        num_layers=len(spec.layers),
    )


def render_header(spec: AnyModelSpec, command: str) -> str:
    """The text of model_defn.h for ``spec``; ``command`` is recorded on the first line."""
    spec.validate()
    if spec.family == "gru":
        return _render_gru_header(spec, command)
    if spec.quantized:
        return _render_fixed_header(spec, command)
    arrays, table = [], []
    for index, layer in enumerate(spec.layers):
        prefix = f"kLayer{index}"
        arrays.append(
            f"// layer {index}: {_comment(layer.name)}, kernel {layer.kernel}, "
            f"dilation {layer.dilation}, "
            f"{layer.in_channels} -> {layer.out_channels}, {'relu' if layer.relu else 'linear'}\n"
            f"alignas(16) inline constexpr float {prefix}Weights[{layer.weights.size}] = {{\n"
            f"{_c_array(layer.weights)}\n}};\n"
            f"alignas(16) inline constexpr float {prefix}Bias[{layer.bias.size}] = {{\n"
            f"{_c_array(layer.bias)}\n}};\n"
            f"static_assert(sizeof({prefix}Weights) / sizeof(float) == "
            f"{layer.kernel} * {layer.in_channels} * {layer.out_channels}, \"layer {index}\");\n"
        )
        table.append(
            f"    {{{layer.kernel}, {layer.dilation}, {layer.in_channels}, {layer.out_channels}, "
            f"{'true' if layer.relu else 'false'}, {prefix}Weights, {prefix}Bias}},"
        )
    template = Template((TEMPLATES / "model_defn.h.tmpl").read_text())
    return template.substitute(
        **_wavenet_fields(spec, command),
        layer_arrays="\n".join(arrays),
        layer_table="\n".join(table),
    )


def _gru_recurrent_weights(spec: GruSpec) -> str:
    """kGruRecurrentWeights (float32), or in q15 its integers and their contract."""
    quant = spec.recurrent_quant
    if quant is None:
        return ("alignas(16) inline constexpr float kGruRecurrentWeights[kGruUnits * 3 * "
                f"kGruUnits] = {{\n{_c_array(spec.gru.recurrent_weights)}\n}};")
    units = spec.units
    return f"""// q15: the recurrent product alone is fixed point (every other array is float32).
// Its weights are kGruRecurrentWeightsQ15, TRANSPOSED: row j holds gate column j, [j * U + u] =
// round(W[u][j] * 2^kGruRecurrentFracBits), so W[u][j] = Wq[j][u] * 2^-kGruRecurrentFracBits.
// The term sum_u h[u] * W[u][j] of c[j] above is, per frame:
//   hq[u]  = SAT16(trunc(h[u] * 2^15))       toward zero, NaN -> 0 (VCVT.S16.F32 #15)
//   acc[j] = sum_u hq[u] * Wq[j][u]           exact in int32: every row's sum_u |Wq[j][u]| is
//                                             at most {GRU_MAX_COLUMN_SUM} (kGruMaxColumnSum)
//   term   = float(acc[j]) * 2^-(15 + kGruRecurrentFracBits)   rounded to nearest
// (host_sim/model_defn/fixed_point.py defines it; every engine computes exactly these acc[j]).
#define DAISYNET_MODEL_GRU_Q15 1
// kWeightsSha256 of the float32 model this was quantized from.
inline constexpr char kFloatWeightsSha256[] = "{spec.float_sha256 or ''}";
inline constexpr int kGruRecurrentFracBits = {quant.frac_bits};
inline constexpr std::int32_t kGruMaxColumnSum = {GRU_MAX_COLUMN_SUM};
alignas(16) inline constexpr std::int16_t kGruRecurrentWeightsQ15[3 * kGruUnits * kGruUnits] = {{
{_c_ints(quant.weights.reshape(3 * units, units))}
}};"""


def _render_gru_header(spec: GruSpec, command: str) -> str:
    template = Template((TEMPLATES / "model_defn_gru.h.tmpl").read_text())
    gru = spec.gru
    quantized = spec.recurrent_quant is not None
    return template.substitute(
        **_common_fields(spec, command),
        weights_format=("weights float32 but the recurrent ones q15" if quantized
                        else "weights float32"),
        hash_quant=(" (the recurrent ones as the\n// q15 integers' exact values), then the ASCII "
                    "tag \"q15\" and kGruRecurrentFracBits as int32" if quantized else ""),
        number_format_enum=spec.format.cpp_enum,
        sigmoid_error=f"{SIGMOID_MAX_ERROR:.3g}",
        tanh_error=f"{TANH_MAX_ERROR:.3g}",
        units=spec.units,
        input_weights=_c_array(gru.input_weights),
        recurrent_weights=_gru_recurrent_weights(spec),
        input_bias=_c_array(gru.input_bias),
        recurrent_bias=_c_array(gru.recurrent_bias),
        head_weights=_c_array(spec.head_weights),
        head_bias=_c_array(spec.head_bias),
        input_skip_weights=_c_array(spec.input_skip_weights),
    )


def _render_fixed_header(spec: ModelSpec, command: str) -> str:
    fmt = spec.format
    arrays, table, asserts = [], [], []
    for index, layer in enumerate(spec.layers):
        quant = layer.quant
        prefix = f"kLayer{index}"
        arrays.append(
            f"// layer {index}: {_comment(layer.name)}, kernel {layer.kernel}, "
            f"dilation {layer.dilation}, "
            f"{layer.in_channels} -> {layer.out_channels}, {'relu' if layer.relu else 'linear'}; "
            f"frac bits in {quant.in_frac_bits}, weights {quant.weight_frac_bits}, "
            f"product {quant.product_frac_bits}, out {quant.out_frac_bits}\n"
            f"alignas(16) inline constexpr Sample {prefix}Weights[{layer.weights.size}] = {{\n"
            f"{_c_ints(quant.weights)}\n}};\n"
            f"alignas(16) inline constexpr Sample {prefix}Bias[{layer.bias.size}] = {{\n"
            f"{_c_ints(quant.bias)}\n}};\n"
            f"static_assert(sizeof({prefix}Weights) / sizeof(Sample) == "
            f"{layer.kernel} * {layer.in_channels} * {layer.out_channels}, \"layer {index}\");\n"
        )
        table.append(
            f"    {{{layer.kernel}, {layer.dilation}, {layer.in_channels}, {layer.out_channels}, "
            f"{'true' if layer.relu else 'false'}, {prefix}Weights, {prefix}Bias, "
            f"{quant.in_frac_bits}, {quant.weight_frac_bits}, {quant.product_frac_bits}, "
            f"{quant.out_frac_bits}}},"
        )
        asserts.append(
            f"static_assert(kLayers[{index}].product_frac_bits == kLayers[{index}].in_frac_bits "
            f"+ kLayers[{index}].weight_frac_bits - kProductShift, \"layer {index}\");")
        if index:
            asserts.append(
                f"static_assert(kLayers[{index}].in_frac_bits == "
                f"kLayers[{index - 1}].out_frac_bits, \"layer {index} reads layer {index - 1}\");")
    template = Template((TEMPLATES / "model_defn_fixed.h.tmpl").read_text())
    return template.substitute(
        **_wavenet_fields(spec, command),
        format=fmt.name,
        format_enum=fmt.cpp_enum,
        sample_type=fmt.cpp_type,
        shift=fmt.product_shift,
        accumulator="64-bit" if fmt.bits == 16 else "32-bit",
        source_sha256=spec.float_sha256 or "",
        input_frac_bits=spec.input_frac_bits,
        output_frac_bits=spec.output_frac_bits,
        layer_arrays="\n".join(arrays),
        layer_table="\n".join(table),
        format_asserts="\n".join(asserts),
    )


def render_golden(
    spec: AnyModelSpec, inputs: np.ndarray, outputs: np.ndarray, command: str, header_name: str,
    float_outputs: np.ndarray | None = None, what: str | None = None,
) -> str:
    """The golden header: ``inputs`` and the ``outputs`` an engine running ``spec`` must
    produce from them; ``what`` says where the outputs came from (default: Keras). Quantized
    specs: ``outputs`` are the fixed-point engine's exact outputs, and ``float_outputs`` (the
    float model's, for reference) are required."""
    template = Template((TEMPLATES / "golden.h.tmpl").read_text())
    if spec.quantized:
        if float_outputs is None:
            raise ValueError("a quantized golden header needs the float model's outputs too")
        what = (f"the {spec.number_format} engine's exact outputs for them\n"
                "// (and the float model's, for reference)")
        float_block = (
            "\n// The float model's outputs for the same inputs, for reference only: the "
            f"{spec.number_format} engine\n// must reproduce kOutputs exactly, and is this "
            "close to kFloatOutputs.\n"
            "alignas(16) inline constexpr float kFloatOutputs[kFrames * kNumOutputs] = {\n"
            f"{_c_array(float_outputs)}\n}};\n")
    else:
        what, float_block = what or "the Keras outputs for them", ""
    return template.substitute(
        command=_comment(command),
        name=spec.name,
        header=_comment(header_name),
        what=what,
        sha256=spec.weights_sha256(),
        frames=inputs.shape[0],
        inputs=spec.inputs,
        outputs=spec.outputs,
        input_values=_c_array(inputs),
        output_values=_c_array(outputs),
        float_outputs=float_block,
    )


def golden_path(header_path: str | Path) -> Path:
    """Where the golden vectors of a header live: NAME_golden.h beside NAME.h."""
    header_path = Path(header_path)
    return header_path.with_name(header_path.stem + "_golden.h")
