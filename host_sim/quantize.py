"""Post-training quantization of a float ModelSpec to q15 or q7, and what it costs.

Every scale is a power of two (``frac_bits``: value = q * 2^-frac_bits), so requantizing is a
shift. They are chosen per layer from the float model's ranges on calibration audio:

- activations (the model input and every layer's output): the largest ``frac_bits`` that keeps
  ``headroom`` times the calibrated peak within the type;
- weights: the largest ``weight_frac_bits`` that keeps the weights in range, and, through the
  product format it implies (``in + weight - b``), the calibrated pre-bias sums ``p`` and
  ``p + bias`` with the same headroom, and the bias itself, which is stored in that format;
- the output shift is kept within -B..B (past that, every value would saturate or vanish).

Weights and biases are rounded to nearest (half away from zero) and saturated, never wrapped.
The arithmetic they run in is ``model_defn.fixed_point``'s; this module only chooses numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from daisynet.host_sim.daisy_target import SAMPLE_RATE_HZ
from daisynet.host_sim.files import write_texts
from daisynet.host_sim.model_defn import (
    AnyModelSpec,
    ConvLayer,
    GruArchitecture,
    GruLayer,
    GruSpec,
    ModelSpec,
    UnsupportedModelError,
)
from daisynet.host_sim.model_defn.fixed_point import run_fixed_point
from daisynet.host_sim.model_defn.spec import (
    GRU_FORMATS,
    GRU_MAX_COLUMN_SUM,
    GRU_MAX_FRAC_BITS,
    GRU_MIN_FRAC_BITS,
    GruRecurrentQuant,
    LayerQuant,
    NumberFormat,
    gru_format_refusal,
    number_format,
)
from daisynet.host_sim.reference import reference_layers, reference_output

# Calibrated peaks are multiplied by this before a format is chosen: audio outside the
# calibration set can run this much hotter before anything saturates (and up to twice this,
# as formats come in powers of two). q15 has bits to spare; in q7 each bit of headroom costs
# 6 dB of resolution, so it gets less.
DEFAULT_HEADROOM = {"q15": 2.0, "q7": 1.25}
# Thresholds of the accuracy report's warnings (the "cost is high").
ESR_WARN = 1e-2
SATURATION_WARN = 1e-3


@dataclass
class LayerRange:
    """Peaks (max |value|) of one layer on the calibration audio, in the float model."""

    input: float  # the layer's input activations
    sum: float  # pre-bias sum p = sum_k x W
    biased: float  # p + bias
    output: float  # after the activation


def calibrate(spec: ModelSpec, inputs: np.ndarray) -> list[LayerRange]:
    """Run the float model (float64, from zero state) over ``inputs`` and record the peaks."""
    return [LayerRange(_peak(values.input), _peak(values.sum), _peak(values.biased),
                       _peak(values.output))
            for values in reference_layers(spec, inputs)]


def _peak(values: np.ndarray) -> float:
    return float(np.max(np.abs(values))) if values.size else 0.0


def frac_bits_for(peak: float, limit: float, default: int) -> int:
    """The largest f with ``peak * 2^f <= limit`` (``default`` when peak is 0)."""
    if not peak > 0.0:
        return default
    f = math.floor(math.log2(limit / peak))
    while peak * 2.0 ** (f + 1) <= limit:  # log2 can be off by one at exact powers
        f += 1
    while peak * 2.0**f > limit:
        f -= 1
    return f


def round_saturate(values: np.ndarray, frac_bits: int, fmt: NumberFormat) -> np.ndarray:
    """values * 2^frac_bits rounded to nearest (half away from zero), saturated to ``fmt``."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0**frac_bits
    rounded = np.trunc(scaled + np.where(scaled >= 0, 0.5, -0.5))
    return np.clip(rounded, fmt.min, fmt.max).astype(fmt.dtype)


def refuse_unquantizable(spec: AnyModelSpec, fmt_name: str) -> None:
    """Raise UnsupportedModelError if no engine runs ``spec``'s family in ``fmt_name`` (checked
    before anything else is read or written)."""
    if spec.family == "gru" and fmt_name not in GRU_FORMATS:
        raise UnsupportedModelError(gru_format_refusal(fmt_name))


def quantize_gru_spec(spec: GruSpec, fmt_name: str = "q15") -> GruSpec:
    """A q15 copy of the float GRU ``spec``: its recurrent weights rounded to int16 at the
    largest frac_bits (one power of two for the matrix) that keeps every weight in range and
    every gate column's exact sum in 32 bits (GRU_MAX_COLUMN_SUM), at most GRU_MAX_FRAC_BITS.
    A bound, not a calibration: the state is within [-1, 1] whatever the audio. The float
    recurrent weights become the integers' exact values; nothing else changes."""
    refuse_unquantizable(spec, fmt_name)
    spec.validate()
    if spec.quantized:
        raise ValueError(f"the model is already {spec.number_format}")
    if fmt_name != "q15":
        raise ValueError(f"{fmt_name} is not a fixed-point format for a GRU; choose q15")
    columns = spec.gru.recurrent_weights.astype(np.float64).T  # (3U, U): row j = column j
    fmt = number_format("q15")
    frac_bits = min(GRU_MAX_FRAC_BITS,
                    frac_bits_for(_peak(columns), fmt.max, GRU_MAX_FRAC_BITS),
                    frac_bits_for(float(np.abs(columns).sum(axis=1).max()),
                                  GRU_MAX_COLUMN_SUM, GRU_MAX_FRAC_BITS))
    while True:  # rounding up can push a column's sum past the bound: one step less then
        weights = round_saturate(columns, frac_bits, fmt)
        if np.abs(weights.astype(np.int64)).sum(axis=1).max() <= GRU_MAX_COLUMN_SUM:
            break
        frac_bits -= 1
    if frac_bits < GRU_MIN_FRAC_BITS:
        raise UnsupportedModelError(
            f"q15 GRU: recurrent weights this large (a gate column sums to "
            f"{np.abs(columns).sum(axis=1).max():.3g}) need frac_bits {frac_bits}, below the "
            f"engines' {GRU_MIN_FRAC_BITS}")
    exact = (weights.T.astype(np.float64) * 2.0**-frac_bits).astype(np.float32)
    quantized = replace(spec, gru=replace(spec.gru, recurrent_weights=exact),
                        number_format="q15",
                        recurrent_quant=GruRecurrentQuant(weights=weights, frac_bits=frac_bits),
                        float_sha256=spec.weights_sha256())
    quantized.validate()
    return quantized


def quantize_spec(spec: ModelSpec, fmt_name: str, calibration: np.ndarray,
                  headroom: float | None = None) -> ModelSpec:
    """A q15/q7 copy of the float ``spec`` with formats chosen on ``calibration`` (frames,
    inputs). Its float weights are the exact values of the integers. A GRU goes to
    ``quantize_gru_spec`` (which needs no calibration)."""
    if spec.family == "gru":
        return quantize_gru_spec(spec, fmt_name)
    refuse_unquantizable(spec, fmt_name)
    spec.validate()
    if spec.quantized:
        raise ValueError(f"the model is already {spec.number_format}")
    fmt = number_format(fmt_name)
    if not fmt.quantized:
        raise ValueError(f"{fmt_name} is not a fixed-point format; choose q15 or q7")
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 2 or calibration.shape[1] != spec.inputs or not len(calibration):
        raise ValueError(f"calibration audio must be (frames, {spec.inputs}), got "
                         f"{calibration.shape}")
    if not np.all(np.isfinite(calibration)):
        raise ValueError("the calibration audio holds NaN or inf samples")
    headroom = DEFAULT_HEADROOM[fmt.name] if headroom is None else headroom
    if not headroom >= 1.0:
        raise ValueError(f"headroom must be at least 1, got {headroom}")
    b, top = fmt.product_shift, float(fmt.max)
    ranges = calibrate(spec, calibration)
    in_frac = frac_bits_for(headroom * ranges[0].input, top, b)
    layers = []
    for layer, peaks in zip(spec.layers, ranges, strict=True):
        weight_fit = frac_bits_for(_peak(layer.weights), top, b)
        sums_fit = min(frac_bits_for(headroom * max(peaks.sum, peaks.biased), top, 10 * b),
                       frac_bits_for(_peak(layer.bias), top, 10 * b))
        product_frac = min(in_frac + weight_fit - b, sums_fit)
        weight_frac = product_frac - in_frac + b
        out_frac = frac_bits_for(headroom * peaks.output, top, product_frac)
        out_frac = min(max(out_frac, product_frac - b), product_frac + b)
        quant = LayerQuant(
            weights=round_saturate(layer.weights, weight_frac, fmt),
            bias=round_saturate(layer.bias, product_frac, fmt),
            in_frac_bits=in_frac, weight_frac_bits=weight_frac,
            product_frac_bits=product_frac, out_frac_bits=out_frac)
        layers.append(ConvLayer(
            name=layer.name,
            weights=(quant.weights.astype(np.float64) * 2.0**-weight_frac).astype(np.float32),
            bias=(quant.bias.astype(np.float64) * 2.0**-product_frac).astype(np.float32),
            dilation=layer.dilation, relu=layer.relu, quant=quant))
        in_frac = out_frac
    quantized = replace(spec, layers=layers, number_format=fmt.name,
                        float_sha256=spec.weights_sha256())
    quantized.validate()
    return quantized


def esr(reference: np.ndarray, other: np.ndarray) -> float:
    """Error-to-signal ratio of ``other`` against ``reference`` (0 if both are silent)."""
    reference = np.asarray(reference, dtype=np.float64)
    error = float(np.sum((np.asarray(other, dtype=np.float64) - reference) ** 2))
    energy = float(np.sum(reference**2))
    if energy == 0.0:
        return 0.0 if error == 0.0 else math.inf
    return error / energy


def accuracy_report(float_spec: ModelSpec, quantized: ModelSpec, inputs: np.ndarray,
                    float_outputs: np.ndarray | None = None) -> dict:
    """What quantization costs on ``inputs`` (held-out audio): ESR and max abs error of the
    quantized engine against the float model (``float_outputs``, default its exact float64
    output), the fraction of values that saturated per layer (any saturation point) and at the
    input, and the weights' flash in both formats. ``warnings`` lists what is high."""
    inputs = np.asarray(inputs, dtype=np.float32)
    if float_outputs is None:
        float_outputs = reference_output(float_spec, inputs)
    run = run_fixed_point(quantized, inputs)
    error = np.abs(run.outputs.astype(np.float64) - float_outputs)
    layers = []
    for index, (layer, saturation) in enumerate(zip(quantized.layers, run.layers, strict=True)):
        quant = layer.quant
        layers.append({"layer": index, "name": layer.name,
                       "in_frac_bits": quant.in_frac_bits,
                       "weight_frac_bits": quant.weight_frac_bits,
                       "product_frac_bits": quant.product_frac_bits,
                       "out_frac_bits": quant.out_frac_bits,
                       "saturation": saturation.to_json()})
    float_bytes = float_spec.weight_flash_bytes("float32")
    parameters = quantized.architecture().parameters
    quantized_bytes = quantized.weight_flash_bytes()
    input_fraction = run.input_saturated / run.input_values if run.input_values else 0.0
    report = {
        "format": quantized.number_format,
        "frames": int(inputs.shape[0]),
        "esr": esr(float_outputs, run.outputs),
        "max_abs_error": float(error.max()) if error.size else 0.0,
        "float_output_peak": _peak(float_outputs),
        "input_frac_bits": quantized.input_frac_bits,
        "output_frac_bits": quantized.output_frac_bits,
        "input_saturation": {"values": run.input_values, "saturated": run.input_saturated,
                             "fraction": input_fraction},
        "layers": layers,
        "max_saturation_fraction": max([input_fraction]
                                       + [s.fraction for s in run.layers]),
        # As model_defn.h lays the arrays out (each aligned to 16 bytes), and the values alone
        # (exactly 1/2 or 1/4 of float32's).
        "weight_flash_bytes": {"float32": float_bytes, quantized.number_format: quantized_bytes,
                               "saved": float_bytes - quantized_bytes},
        "weight_value_bytes": {"float32": 4 * parameters,
                               quantized.number_format: quantized.format.item_bytes * parameters},
    }
    report["warnings"] = cost_warnings(report)
    return report


def gru_accuracy_report(float_spec: GruSpec, quantized: GruSpec, inputs: np.ndarray,
                        float_outputs: np.ndarray | None = None) -> dict:
    """``accuracy_report`` for a q15 GRU: its exact answer (``reference_output``, float64
    around the integer recurrent product) against the float model's over ``inputs`` as one
    continuous run from zero state, so any drift the recurrence accumulates counts. Nothing
    saturates but the state at exactly +1 (1 - 2^-15 instead), so no layers are listed."""
    inputs = np.asarray(inputs, dtype=np.float32)
    if float_outputs is None:
        float_outputs = reference_output(float_spec, inputs)
    outputs = reference_output(quantized, inputs)
    error = np.abs(outputs - float_outputs)
    float_bytes = float_spec.weight_flash_bytes("float32")
    quantized_bytes = quantized.weight_flash_bytes()
    recurrent = quantized.gru.recurrent_weights.size
    report = {
        "format": quantized.number_format,
        "frames": int(inputs.shape[0]),
        "esr": esr(float_outputs, outputs),
        "max_abs_error": float(error.max()) if error.size else 0.0,
        "float_output_peak": _peak(float_outputs),
        "recurrent_frac_bits": quantized.recurrent_quant.frac_bits,
        "input_saturation": {"values": int(inputs.size), "saturated": 0, "fraction": 0.0},
        "layers": [],
        "max_saturation_fraction": 0.0,
        "weight_flash_bytes": {"float32": float_bytes, quantized.number_format: quantized_bytes,
                               "saved": float_bytes - quantized_bytes},
        "weight_value_bytes": {"float32": 4 * quantized.architecture().parameters,
                               quantized.number_format:
                                   4 * quantized.architecture().parameters - 2 * recurrent},
    }
    report["warnings"] = cost_warnings(report)
    return report


def cost_warnings(report: dict, esr_warn: float = ESR_WARN,
                  saturation_warn: float = SATURATION_WARN) -> list[str]:
    """One line per figure of ``accuracy_report`` that is high, with the numbers."""
    warnings = []
    if report["esr"] > esr_warn:
        warnings.append(f"{report['format']} ESR {report['esr']:.3g} against the float model "
                        f"is above {esr_warn:g} (max abs error {report['max_abs_error']:.3g})")
    where = [("input", report["input_saturation"]["fraction"])] + [
        (f"layer {entry['layer']} ({entry['name']})", entry["saturation"]["fraction"])
        for entry in report["layers"]]
    for label, fraction in where:
        if fraction > saturation_warn:
            warnings.append(f"{label}: {100 * fraction:.3g}% of values saturated (above "
                            f"{100 * saturation_warn:g}%); the calibration audio is quieter "
                            "than this audio")
    return warnings


def accuracy_summary(report: dict) -> list[str]:
    """Short aligned lines for people."""
    flash = report["weight_flash_bytes"]
    fmt = report["format"]
    saturated = max(report["layers"], key=lambda entry: entry["saturation"]["fraction"],
                    default=None)
    worst = (f"layer {saturated['layer']} ({saturated['name']}) "
             f"{100 * saturated['saturation']['fraction']:.3g}%"
             if saturated and saturated["saturation"]["saturated"] else "no layer")
    lines = [
        f"  {fmt} vs float on {report['frames']} "
        f"{'held-out' if report.get('test', {}).get('held_out', True) else 'calibration'} "
        "frames:",
        f"    ESR              {report['esr']:.3e}",
        f"    max abs error    {report['max_abs_error']:.3e}  (float output peak "
        f"{report['float_output_peak']:.3f})",
        (f"    recurrent scale  2^-{report['recurrent_frac_bits']} (a bound: no sum "
         "overflows)" if "recurrent_frac_bits" in report else
         f"    saturated        input {100 * report['input_saturation']['fraction']:.3g}%, "
         f"{worst}"),
        f"    weight flash     {flash[fmt]} bytes ({flash['float32']} in float32, "
        f"{flash['saved']} saved)",
    ]
    return lines


def report_path(header_path: str | Path) -> Path:
    """Where a quantized header's accuracy report lives: NAME_quantization.json beside NAME.h."""
    header_path = Path(header_path)
    return header_path.with_name(header_path.stem + "_quantization.json")


def random_spec(arch, seed: int = 0, input_names: list[str] | None = None,
                sample_rate: int = SAMPLE_RATE_HZ, name: str = "daisynet_wavenet") -> ModelSpec:
    """A float spec of ``arch`` with He-uniform random weights and small, mostly
    positive biases (so narrow ReLU layers stay alive), like the tests' Keras models; numpy
    only, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    layers = []
    for index, (kernel, dilation, cin, cout) in enumerate(arch.layer_shapes()):
        limit = math.sqrt(6.0 / (kernel * cin))  # He-uniform: keeps ReLU stacks alive
        head = index == len(arch.layer_shapes()) - 1
        role = "head" if head else f"block{index // 2}_{'mix' if index % 2 else 'dilated'}"
        layers.append(ConvLayer(
            name=role,
            weights=rng.uniform(-limit, limit, (kernel, cin, cout)).astype(np.float32),
            bias=rng.uniform(-0.05, 0.25, cout).astype(np.float32),
            dilation=dilation, relu=not head))
    spec = ModelSpec(layers=layers, name=name, sample_rate=sample_rate,
                     input_names=list(input_names or []))
    spec.validate()
    return spec


def random_gru_spec(arch: GruArchitecture, seed: int = 0,
                    input_names: list[str] | None = None, sample_rate: int = SAMPLE_RATE_HZ,
                    name: str = "daisynet_gru") -> GruSpec:
    """A float GRU spec of ``arch`` with Glorot-uniform-like random weights (Keras' GRU
    initial scale), small biases, and the skip of ``arch.skip_input`` at 1; numpy only,
    deterministic for a seed."""
    rng = np.random.default_rng(seed)
    gates = 3 * arch.units

    def uniform(rows: int, columns: int) -> np.ndarray:
        limit = math.sqrt(6.0 / (rows + columns))
        return rng.uniform(-limit, limit, (rows, columns)).astype(np.float32)

    skip = np.zeros((arch.inputs, arch.outputs), np.float32)
    if arch.skip_input is not None:
        skip[arch.skip_input] = 1.0
    spec = GruSpec(
        gru=GruLayer(input_weights=uniform(arch.inputs, gates),
                     recurrent_weights=uniform(arch.units, gates),
                     input_bias=rng.uniform(-0.1, 0.1, gates).astype(np.float32),
                     recurrent_bias=rng.uniform(-0.1, 0.1, gates).astype(np.float32)),
        head_weights=uniform(arch.units, arch.outputs),
        head_bias=rng.uniform(-0.05, 0.05, arch.outputs).astype(np.float32),
        input_skip_weights=skip + rng.uniform(-0.05, 0.05, skip.shape).astype(np.float32),
        name=name, sample_rate=sample_rate, input_names=list(input_names or []))
    spec.validate()
    return spec


def synthetic_audio(frames: int, channels: int, seed: int = 0) -> np.ndarray:
    """Deterministic (frames, channels) test signal: per channel two sines and some noise,
    peaking near 0.8 (the tests' ``audio_like`` kind of signal)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None]
    freqs = rng.uniform(0.002, 0.05, (2, channels))
    signal = (0.5 * np.sin(2 * np.pi * freqs[0] * t) + 0.2 * np.sin(2 * np.pi * freqs[1] * t)
              + 0.03 * rng.standard_normal((frames, channels)))
    return signal.astype(np.float32)


def quantized_header_for(arch, fmt: str, seed: int, out_dir: str | Path,
                         golden_frames: int = 1024, name: str = "model_defn.h",
                         calibration_frames: int = 8192,
                         golden_inputs: np.ndarray | None = None
                         ) -> tuple[ModelSpec, Path, Path]:
    """Test material for a fixed-point engine, no Keras and no script: a random-weight model of
    ``arch`` (``random_spec(arch, seed)``, or the next seed of 7919 steps whose output is not
    flat), quantized to ``fmt`` on a synthetic calibration
    signal, written as ``out_dir/name`` with its golden header beside it (golden inputs: a
    different synthetic signal of ``golden_frames`` frames, or ``golden_inputs``; outputs: the
    quantized engine's exact outputs, plus the float model's). Returns (quantized spec,
    header path, golden path). The same arguments always write the same files."""
    from daisynet.host_sim.model_defn import golden_path, render_golden, render_header
    calibration = synthetic_audio(calibration_frames, arch.inputs, seed)
    for attempt in range(32):  # random narrow ReLU stacks can die: draw again until alive
        float_spec = random_spec(arch, seed + 7919 * attempt,
                                 [f"in_{i}" for i in range(arch.inputs)])
        if np.std(reference_output(float_spec, calibration)) > 0.01:
            break
    quantized = quantize_spec(float_spec, fmt, calibration)
    if golden_inputs is None:
        golden_inputs = synthetic_audio(golden_frames, arch.inputs, seed + 1000)
    golden_inputs = np.asarray(golden_inputs, dtype=np.float32)
    outputs = run_fixed_point(quantized, golden_inputs).outputs
    float_outputs = reference_output(float_spec, golden_inputs).astype(np.float32)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = out_dir / name
    command = f"quantized_header_for({arch!r}, {fmt!r}, seed={seed})"
    golden = golden_path(header)
    write_texts({header: render_header(quantized, command),
                 golden: render_golden(quantized, golden_inputs, outputs, command, header.name,
                                       float_outputs=float_outputs)})
    return quantized, header, golden
