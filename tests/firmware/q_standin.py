"""STAND-IN for the host side's quantizer (issue 13): quantized model_defn.h headers for the
firmware's fixed-point engines, and the contract's arithmetic in plain numpy.

The firmware side needs quantized headers before the host side's quantizer and simulator land,
so this module writes them itself, following the quantized model_defn.h contract exactly (the
header layout, the LayerDefn fields, the arithmetic). It is deliberately naive: power-of-two
scales from the weights' and the calibration signal's maxima, no per-channel scales, its own
hash. When merging, switch its users to the host side's ``quantized_header_for`` and simulator
and delete this file.

The arithmetic of layer l (B = 15 for q15, 7 for q7; SAT saturates to the sample type):
    acc = sum_k sum_i x[t - (kernel-1-k)*dilation][i] * w[k][i][o]   exact integer sum
    p   = SAT(acc >> B);  p = SAT(p + bias[o])
    s   = out_frac_bits - product_frac_bits
    y   = SAT(p << s) if s >= 0 else p >> -s;   y = max(y, 0) if relu
Inputs: v = x * 2^in_frac (float32), NaN -> 0, clamp to the type, q = (int)(v + (v >= 0 ?
0.5f : -0.5f)) in float32. Outputs: float(y) * 2^-out_frac.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from host_sim.model_defn import Architecture, ModelSpec

FORMATS = {"q15": (np.int16, 15, "kQ15"), "q7": (np.int8, 7, "kQ7")}


@dataclass
class QLayer:
    weights: np.ndarray  # (kernel, in, out) integers of the sample type
    bias: np.ndarray  # (out,) integers, in product_frac_bits
    dilation: int
    relu: bool
    in_frac_bits: int
    weight_frac_bits: int
    out_frac_bits: int
    bits: int  # B: 15 or 7

    @property
    def kernel(self) -> int:
        return int(self.weights.shape[0])

    @property
    def in_channels(self) -> int:
        return int(self.weights.shape[1])

    @property
    def out_channels(self) -> int:
        return int(self.weights.shape[2])

    @property
    def product_frac_bits(self) -> int:
        return self.in_frac_bits + self.weight_frac_bits - self.bits


@dataclass
class QModel:
    number_format: str  # "q15" or "q7"
    layers: list[QLayer]
    name: str = "daisynet_q_standin"
    sample_rate: int = 48_000
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.input_names = self.input_names or [f"in_{i}" for i in range(self.inputs)]
        self.output_names = self.output_names or [f"out_{i}" for i in range(self.outputs)]

    @property
    def inputs(self) -> int:
        return self.layers[0].in_channels

    @property
    def outputs(self) -> int:
        return self.layers[-1].out_channels

    @property
    def dtype(self):
        return FORMATS[self.number_format][0]

    def architecture(self) -> Architecture:
        return Architecture(self.inputs, tuple(la.out_channels for la in self.layers[:-1:2]),
                            self.layers[0].kernel, self.outputs)


def _limits(dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def quantize_inputs(x: np.ndarray, frac_bits: int, dtype) -> np.ndarray:
    """The contract's input quantization, in float32 arithmetic as the firmware does it."""
    low, high = _limits(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(x, np.float32) * np.float32(2.0**frac_bits)
    v = np.where(np.isnan(v), np.float32(0), v)
    v = np.clip(v, np.float32(low), np.float32(high)).astype(np.float32)
    half = np.where(v >= 0, np.float32(0.5), np.float32(-0.5)).astype(np.float32)
    return np.trunc((v + half).astype(np.float32)).astype(np.int64)


def layer_forward(layer: QLayer, x: np.ndarray, dtype, saturated: dict | None = None) -> np.ndarray:
    """(frames, in) integers -> (frames, out) integers, from zero history (causal). With
    ``saturated``, adds how many values each saturating step clipped."""
    low, high = _limits(dtype)
    frames = x.shape[0]
    history = (layer.kernel - 1) * layer.dilation
    padded = np.concatenate([np.zeros((history, layer.in_channels), np.int64), x])
    acc = np.zeros((frames, layer.out_channels), np.int64)
    for k in range(layer.kernel):
        start = k * layer.dilation
        acc += padded[start:start + frames] @ layer.weights[k].astype(np.int64)
    shifted = acc >> layer.bits
    p = np.clip(shifted, low, high)
    biased = p + layer.bias.astype(np.int64)
    p = np.clip(biased, low, high)
    s = layer.out_frac_bits - layer.product_frac_bits
    y = np.clip(p << s, low, high) if s >= 0 else p >> -s
    if saturated is not None:
        for step, before in (("product", shifted), ("bias", biased),
                             ("shift", p << s if s >= 0 else y)):
            saturated[step] = saturated.get(step, 0) + int(np.sum((before < low) | (before > high)))
    return np.maximum(y, 0) if layer.relu else y


def contract_outputs(model: QModel, inputs: np.ndarray, *, integers: bool = False) -> np.ndarray:
    """The exact outputs of the contract's arithmetic for (frames, inputs) float32, from
    silence: float32 (frames, outputs), or the head's integers with ``integers``."""
    x = quantize_inputs(inputs, model.layers[0].in_frac_bits, model.dtype)
    for layer in model.layers:
        x = layer_forward(layer, x, model.dtype)
    if integers:
        return x
    return x.astype(np.float32) * np.float32(2.0 ** -model.layers[-1].out_frac_bits)


def saturation_counts(model: QModel, inputs: np.ndarray) -> dict[str, int]:
    """How many values each saturating step of the contract clipped on ``inputs``: the input
    quantization ("input"), SAT(acc >> B) ("product"), the bias add ("bias") and the shift."""
    low, high = _limits(model.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(inputs, np.float32) * np.float32(2.0 ** model.layers[0].in_frac_bits)
    counts = {"input": int(np.sum((v < low) | (v > high)))}
    x = quantize_inputs(inputs, model.layers[0].in_frac_bits, model.dtype)
    for layer in model.layers:
        x = layer_forward(layer, x, model.dtype, counts)
    return counts


def _frac_bits_for(peak: float, high: int, headroom_bits: int) -> int:
    """Fractional bits that put ``peak`` just under ``high`` less ``headroom_bits``."""
    peak = max(float(peak), 1e-9)
    return int(np.floor(np.log2(high / peak))) - headroom_bits


def quantize_spec(spec: ModelSpec, number_format: str, calibration: np.ndarray,
                  headroom_bits: int = 1, weight_bits: int | None = None,
                  bias_scale: float = 1.0) -> QModel:
    """A naive post-training quantization of a float model: per-layer power-of-two scales,
    weights from their maximum (to ``weight_bits`` magnitude bits if given), activations from
    the float model's peaks on ``calibration`` with ``headroom_bits`` (negative: too fine
    scales, so the test signal saturates)."""
    dtype, bits, _ = FORMATS[number_format]
    low, high = _limits(dtype)
    x = np.asarray(calibration, np.float64)
    in_frac = _frac_bits_for(np.max(np.abs(x)), high, headroom_bits)
    layers = []
    for layer in spec.layers:
        w = layer.weights.astype(np.float64)
        wf = _frac_bits_for(np.max(np.abs(w)), high if weight_bits is None
                            else 2**weight_bits - 1, 0)
        history = (layer.kernel - 1) * layer.dilation
        padded = np.concatenate([np.zeros((history, x.shape[1])), x])
        out = np.tile(layer.bias.astype(np.float64), (len(x), 1))
        for k in range(layer.kernel):
            out += padded[k * layer.dilation:k * layer.dilation + len(x)] @ w[k]
        x = np.maximum(out, 0.0) if layer.relu else out
        of = _frac_bits_for(np.max(np.abs(x)), high, headroom_bits)
        product_frac = in_frac + wf - bits
        wq = np.clip(np.round(w * 2.0**wf), low, high).astype(dtype)
        bq = np.clip(np.round(bias_scale * layer.bias * 2.0**product_frac), low, high)
        layers.append(QLayer(weights=wq, bias=bq.astype(dtype), dilation=layer.dilation,
                             relu=layer.relu, in_frac_bits=in_frac, weight_frac_bits=wf,
                             out_frac_bits=of, bits=bits))
        in_frac = of
    return QModel(number_format, layers, name=spec.name, sample_rate=spec.sample_rate or 48_000,
                  input_names=list(spec.input_names), output_names=list(spec.output_names))


def random_float_spec(inputs: int, filters: tuple[int, ...], kernel: int,
                      seed: int = 0, outputs: int = 1) -> ModelSpec:
    """Random weights of an architecture (as tools.plan.random_spec)."""
    from tools.plan import random_spec

    spec = random_spec(Architecture(inputs, tuple(filters), kernel, outputs), seed)
    spec.input_names = [f"in_{i}" for i in range(inputs)]
    spec.output_names = [f"out_{i}" for i in range(outputs)]
    return spec


def random_qmodel(inputs: int, filters: tuple[int, ...], kernel: int, number_format: str,
                  calibration: np.ndarray, seed: int = 0, outputs: int = 1,
                  **quantize) -> QModel:
    """Random weights (the first of seeds seed, seed + 1, ... whose float model's output
    follows the calibration input: narrow ReLU layers can die), quantized on it."""
    from host_sim.reference import reference_output

    for attempt in range(seed, seed + 50):
        spec = random_float_spec(inputs, filters, kernel, attempt, outputs)
        if np.std(reference_output(spec, calibration)) > 1e-3:
            break
    return quantize_spec(spec, number_format, calibration, **quantize)


def with_shifts(model: QModel, shifts: list[int]) -> QModel:
    """``model`` with each layer's out_frac_bits moved so that out_frac_bits -
    product_frac_bits is shifts[l] (the next layer's in_frac_bits follows)."""
    for index, (layer, shift) in enumerate(zip(model.layers, shifts, strict=True)):
        layer.out_frac_bits = layer.product_frac_bits + shift
        if index + 1 < len(model.layers):
            model.layers[index + 1].in_frac_bits = layer.out_frac_bits
    return model


def _c_ints(values: np.ndarray, per_line: int = 12) -> str:
    items = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    return "\n".join("    " + ", ".join(items[i:i + per_line]) + ","
                     for i in range(0, len(items), per_line))


def standin_sha256(model: QModel) -> str:
    """This stand-in's own hash (the host side defines the real one): format, every layer's
    shape and frac bits, integer weights and biases, then the behaviour JSON."""
    digest = hashlib.sha256(model.number_format.encode())
    for la in model.layers:
        digest.update(np.array([la.kernel, la.dilation, la.in_channels, la.out_channels,
                                int(la.relu), la.in_frac_bits, la.weight_frac_bits,
                                la.product_frac_bits, la.out_frac_bits], "<i4").tobytes())
        digest.update(np.ascontiguousarray(la.weights).astype(model.dtype).tobytes())
        digest.update(np.ascontiguousarray(la.bias).astype(model.dtype).tobytes())
    digest.update(json.dumps({"inputs": model.input_names, "outputs": model.output_names,
                              "sample_rate": model.sample_rate}, sort_keys=True,
                             separators=(",", ":")).encode())
    return digest.hexdigest()


def render_qheader(model: QModel, command: str = "tests/firmware/q_standin.py") -> str:
    """model_defn.h text for ``model``, laid out as the quantized contract says."""
    dtype, _, enum = FORMATS[model.number_format]
    ctype = "std::int16_t" if dtype is np.int16 else "std::int8_t"
    arch = model.architecture()
    sha = standin_sha256(model)
    arrays, table = [], []
    for index, la in enumerate(model.layers):
        arrays.append(
            f"alignas(16) inline constexpr Sample kLayer{index}Weights[{la.weights.size}] = {{\n"
            f"{_c_ints(la.weights)}\n}};\n"
            f"alignas(16) inline constexpr Sample kLayer{index}Bias[{la.bias.size}] = {{\n"
            f"{_c_ints(la.bias)}\n}};\n")
        table.append(f"    {{{la.kernel}, {la.dilation}, {la.in_channels}, {la.out_channels}, "
                     f"{'true' if la.relu else 'false'}, kLayer{index}Weights, kLayer{index}Bias, "
                     f"{la.in_frac_bits}, {la.weight_frac_bits}, {la.product_frac_bits}, "
                     f"{la.out_frac_bits}}},")
    names = ", ".join(json.dumps(n) for n in model.input_names)
    outs = ", ".join(json.dumps(n) for n in model.output_names)
    return f"""// GENERATED FILE, do not edit. Made by: {command}
// daisynet model "{model.name}": {arch.parameters} parameters, {arch.macs_per_sample} MACs/sample,
// weights {model.number_format} (stand-in quantized header of tests/firmware/q_standin.py).
#pragma once

#include <cstddef>
#include <cstdint>

namespace daisynet::model {{

enum class NumberFormat {{ kFloat32, kQ15, kQ7 }};
inline constexpr NumberFormat kNumberFormat = NumberFormat::{enum};
using Sample = {ctype};

inline constexpr char kModelName[] = "{model.name}";
inline constexpr char kWeightsSha256[] = "{sha}";
inline constexpr std::uint32_t kWeightsHash32 = 0x{sha[:8]}u;
inline constexpr float kSampleRate = {model.sample_rate}.0f;
inline constexpr std::size_t kNumInputs = {model.inputs};
inline constexpr const char* kInputNames[kNumInputs] = {{{names}}};
inline constexpr std::size_t kNumOutputs = {model.outputs};
inline constexpr const char* kOutputNames[kNumOutputs] = {{{outs}}};
inline constexpr std::size_t kKernelSize = {arch.kernel_size};
inline constexpr std::size_t kNumBlocks = {len(arch.filters)};
inline constexpr std::size_t kBlockFilters[kNumBlocks] = {{{", ".join(map(str, arch.filters))}}};
inline constexpr std::size_t kReceptiveField = {arch.receptive_field};
inline constexpr std::size_t kParameters = {arch.parameters};
inline constexpr std::size_t kMacsPerSample = {arch.macs_per_sample};
inline constexpr int kInputFracBits = {model.layers[0].in_frac_bits};
inline constexpr int kOutputFracBits = {model.layers[-1].out_frac_bits};

struct LayerDefn {{
  std::size_t kernel;
  std::size_t dilation;
  std::size_t in_channels;
  std::size_t out_channels;
  bool relu;
  const Sample* weights;  // kernel * in * out, layout [k][in][out]
  const Sample* bias;     // out_channels, in product_frac_bits
  int in_frac_bits;
  int weight_frac_bits;
  int product_frac_bits;
  int out_frac_bits;
}};

{chr(10).join(arrays)}
inline constexpr std::size_t kNumLayers = {len(model.layers)};
inline constexpr LayerDefn kLayers[kNumLayers] = {{
{chr(10).join(table)}
}};

static_assert(kLayers[0].in_channels == kNumInputs, "first layer reads the model inputs");
static_assert(kLayers[kNumLayers - 1].out_channels == kNumOutputs, "head writes the outputs");
static_assert(kNumLayers == 2 * kNumBlocks + 1, "two layers per block plus the head");

}}  // namespace daisynet::model
"""


def write_qheader(model: QModel, path, command: str = "tests/firmware/q_standin.py"):
    from pathlib import Path

    path = Path(path)
    path.write_text(render_qheader(model, command))
    return path
