"""Read model_defn.h (and its golden vectors) back: the simulator runs what the firmware runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from daisynet.host_sim.model_defn.spec import (
    FLOAT32,
    GRU_MAX_FRAC_BITS,
    GRU_MIN_FRAC_BITS,
    MAX_GRU_UNITS,
    MODEL_DEFN_FORMAT_VERSION,
    MODEL_FAMILIES,
    NUMBER_FORMATS,
    Q15,
    AnyModelSpec,
    ConvLayer,
    GruLayer,
    GruRecurrentQuant,
    GruSpec,
    LayerQuant,
    ModelSpec,
    NumberFormat,
    SelfCheck,
    UnsupportedModelError,
)
from daisynet.host_sim.versions import version_problem

_COMMENT = re.compile(r"//[^\n]*")
_DEFINITION = re.compile(
    r"inline\s+constexpr\s+[^=;{]*?\b(?P<name>k\w+)\s*(?:\[[^\]]*\])?\s*=\s*"
    r"(?P<value>\{[^{}]*\}|[^;{]*);",
    re.DOTALL,
)
_TABLE_ROW = re.compile(
    r"\{\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(true|false)\s*,\s*(\w+)\s*,\s*(\w+)\s*"
    r"(?:,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*)?\}"
)
_SAMPLE_TYPE = re.compile(r"\busing\s+Sample\s*=\s*([\w:]+)\s*;")
_TABLE = re.compile(r"kLayers\s*\[[^\]]*\]\s*=\s*\{(?P<rows>.*?)\};", re.DOTALL)


class HeaderError(ValueError):
    """The header is not one the exporter wrote, or it was damaged or edited."""


def _definitions(path: Path) -> dict[str, str]:
    if not path.exists():
        raise HeaderError(f"{path}: no such file")
    if path.is_dir():
        raise HeaderError(f"{path}: is a folder; give a model_defn.h")
    try:
        text = _COMMENT.sub("", path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise HeaderError(f"{path}: cannot read as a header ({err})") from err
    sample = _SAMPLE_TYPE.search(text)
    return {m["name"]: m["value"].strip() for m in _DEFINITION.finditer(text)} | {
        "__table__": (_TABLE.search(text) or {"rows": ""})["rows"],
        "__sample__": sample[1] if sample else "",
    }


def _need(defs: dict[str, str], name: str, path: Path) -> str:
    if name not in defs:
        raise HeaderError(f"{path}: {name} not found; was this file written by daisynet export?")
    return defs[name]


def _int(defs: dict[str, str], name: str, path: Path) -> int:
    text = _need(defs, name, path)
    try:
        return int(text.rstrip("uU"), 0)
    except ValueError as err:
        raise HeaderError(f"{path}: {name} = {text} is not an integer") from err


def _sample_rate(defs: dict[str, str], path: Path) -> int:
    text = _need(defs, "kSampleRate", path)
    try:
        rate = float(text.rstrip("fF"))
    except ValueError as err:
        raise HeaderError(f"{path}: kSampleRate = {text} is not a number") from err
    if not (rate > 0 and rate.is_integer()):
        raise HeaderError(f"{path}: kSampleRate = {text}; a sample rate is a whole number of Hz "
                          "above 0")
    return int(rate)


def _check_constants(defs: dict[str, str], spec: AnyModelSpec, path: Path,
                     source: str, extra: dict[str, int]) -> None:
    """Every shape constant the firmware compiles with must be what ``source`` (what the
    weights were read by) says: the engine sizes its buffers from them."""
    arch = spec.architecture()
    expected = {
        "kNumInputs": spec.inputs,
        "kNumOutputs": spec.outputs,
        **extra,
        "kParameters": arch.parameters,
        "kMacsPerSample": arch.macs_per_sample,
        "kWeightsHash32": int(spec.weights_sha256()[:8], 16),
    }
    for name, value in expected.items():
        found = _int(defs, name, path)
        if found != value:
            raise HeaderError(f"{path}: {name} is {found}, but {source} makes it {value} "
                              "(edited after export); export the model again")


def _check_wavenet_constants(defs: dict[str, str], spec: ModelSpec, path: Path) -> None:
    arch = spec.architecture()
    _check_constants(defs, spec, path, "the layer table", {
        "kKernelSize": arch.kernel_size,
        "kNumBlocks": len(arch.filters),
        "kReceptiveField": arch.receptive_field,
    })
    filters = [item.strip().rstrip("uU") for item in
               _need(defs, "kBlockFilters", path).strip("{}").split(",") if item.strip()]
    if filters != [str(f) for f in arch.filters]:
        raise HeaderError(f"{path}: kBlockFilters is {{{', '.join(filters)}}}, but the layer "
                          f"table makes it {{{', '.join(map(str, arch.filters))}}} (edited after "
                          "export); export the model again")


def _floats(defs: dict[str, str], name: str, path: Path, count: int) -> np.ndarray:
    body = _need(defs, name, path).strip("{}")
    items = [item.strip().rstrip("fF") for item in body.split(",") if item.strip()]
    try:
        values = np.array([float(item) for item in items], dtype=np.float32)
    except ValueError as err:
        raise HeaderError(f"{path}: {name} holds a value that is not a number ({err})") from err
    if values.size != count:
        raise HeaderError(f"{path}: {name} has {values.size} values, expected {count}")
    return values


def _ints(defs: dict[str, str], name: str, path: Path, count: int,
          fmt: NumberFormat) -> np.ndarray:
    body = _need(defs, name, path).strip("{}")
    items = [item.strip() for item in body.split(",") if item.strip()]
    try:
        values = np.array([int(item, 10) for item in items], dtype=np.int64)
    except ValueError as err:
        raise HeaderError(f"{path}: {name} holds a value that is not an integer ({err})") from err
    if values.size != count:
        raise HeaderError(f"{path}: {name} has {values.size} values, expected {count}")
    if values.size and (values.min() < fmt.min or values.max() > fmt.max):
        raise HeaderError(f"{path}: {name} holds values outside {fmt.name}'s "
                          f"{fmt.min}..{fmt.max}")
    return values.astype(fmt.dtype)


def _check_format_version(defs: dict[str, str], path: Path) -> None:
    """Refuse, in one line, a header of a format version this reader does not know."""
    if "kModelDefnFormatVersion" not in defs:
        raise HeaderError(f"{path}: no kModelDefnFormatVersion: not a daisynet model_defn.h, or "
                          "one exported by an older daisynet; export the model again")
    version = _int(defs, "kModelDefnFormatVersion", path)
    problem = version_problem(version, MODEL_DEFN_FORMAT_VERSION, "model_defn.h",
                              "format version")
    if problem:
        raise HeaderError(f"{path}: {problem}")
    if version < MODEL_DEFN_FORMAT_VERSION:
        raise HeaderError(f"{path}: model_defn.h format version {version} is older than this "
                          f"daisynet reads ({MODEL_DEFN_FORMAT_VERSION}); export the model again")


def _family(defs: dict[str, str], path: Path) -> str:
    """The header's model family: kModelFamily ("wavenet" or "gru")."""
    value = _need(defs, "kModelFamily", path).split("::")[-1].strip()
    for family, enum in MODEL_FAMILIES.items():
        if enum == value:
            return family
    raise HeaderError(f"{path}: kModelFamily = {defs['kModelFamily']} is not one of "
                      + ", ".join(f"ModelFamily::{e}" for e in MODEL_FAMILIES.values()))


def _number_format(defs: dict[str, str], path: Path) -> NumberFormat:
    """The header's format: kNumberFormat."""
    value = _need(defs, "kNumberFormat", path).split("::")[-1].strip()
    for fmt in NUMBER_FORMATS.values():
        if fmt.cpp_enum == value:
            break
    else:
        raise HeaderError(f"{path}: kNumberFormat = {defs['kNumberFormat']} is not one of "
                          + ", ".join(f"NumberFormat::{f.cpp_enum}" for f in
                                      NUMBER_FORMATS.values()))
    if fmt.quantized and defs["__sample__"] != fmt.cpp_type:
        raise HeaderError(f"{path}: Sample is {defs['__sample__'] or 'not defined'}, but a "
                          f"{fmt.name} header needs {fmt.cpp_type}")
    return fmt


def _check_fixed_constants(defs: dict[str, str], spec: ModelSpec, path: Path) -> None:
    expected = {"kProductShift": spec.format.product_shift,
                "kInputFracBits": spec.input_frac_bits,
                "kOutputFracBits": spec.output_frac_bits}
    for name, value in expected.items():
        found = _int(defs, name, path)
        if found != value:
            raise HeaderError(f"{path}: {name} is {found}, but the layer table makes it {value} "
                              "(edited after export); export the model again")


def _strings(defs: dict[str, str], name: str, path: Path) -> list[str]:
    return re.findall(r'"((?:[^"\\]|\\.)*)"', _need(defs, name, path))


def _names(defs: dict[str, str], path: Path) -> dict:
    """The spec fields every family reads the same way."""
    name_match = re.search(r'"(.*)"', _need(defs, "kModelName", path))
    return dict(name=name_match[1] if name_match else "",
                sample_rate=_sample_rate(defs, path),
                input_names=_strings(defs, "kInputNames", path),
                output_names=_strings(defs, "kOutputNames", path))


def _check_hash(defs: dict[str, str], spec: AnyModelSpec, path: Path) -> None:
    recorded = _need(defs, "kWeightsSha256", path).strip('"')
    if recorded != spec.weights_sha256():
        raise HeaderError(
            f"{path}: weights, shapes, channel names or sample rate do not match kWeightsSha256 "
            "(edited or damaged after export); export the model again"
        )


def _validated(spec: AnyModelSpec, path: Path) -> None:
    try:
        spec.validate()
    except UnsupportedModelError as err:
        raise HeaderError(f"{path}: {err}") from err


def _read_gru(defs: dict[str, str], path: Path) -> GruSpec:
    value = _need(defs, "kNumberFormat", path).split("::")[-1].strip()
    if value not in (FLOAT32.cpp_enum, Q15.cpp_enum):
        raise HeaderError(f"{path}: kNumberFormat = {defs['kNumberFormat']}; GRU models are "
                          "float32 or q15")
    units = _int(defs, "kGruUnits", path)
    if not 1 <= units <= MAX_GRU_UNITS:
        raise HeaderError(f"{path}: kGruUnits is {units}; the engine supports "
                          f"1..{MAX_GRU_UNITS}")
    inputs, outputs = _int(defs, "kNumInputs", path), _int(defs, "kNumOutputs", path)
    if inputs < 1 or outputs < 1:
        raise HeaderError(f"{path}: kNumInputs {inputs} / kNumOutputs {outputs}; a model "
                          "needs at least one of each")
    gates = 3 * units

    def floats(name: str, *shape: int) -> np.ndarray:
        return _floats(defs, name, path, int(np.prod(shape))).reshape(shape)

    input_weights = floats("kGruInputWeights", inputs, gates)
    quant = None
    if value == Q15.cpp_enum:
        quant = GruRecurrentQuant(
            weights=_ints(defs, "kGruRecurrentWeightsQ15", path, gates * units,
                          Q15).reshape(gates, units),
            frac_bits=_int(defs, "kGruRecurrentFracBits", path))
        if not GRU_MIN_FRAC_BITS <= quant.frac_bits <= GRU_MAX_FRAC_BITS:
            raise HeaderError(f"{path}: kGruRecurrentFracBits is {quant.frac_bits}; the engines "
                              f"take {GRU_MIN_FRAC_BITS}..{GRU_MAX_FRAC_BITS}")
        recurrent = (quant.weights.T.astype(np.float64)
                     * 2.0**-quant.frac_bits).astype(np.float32)
    else:
        recurrent = floats("kGruRecurrentWeights", units, gates)
    spec = GruSpec(
        gru=GruLayer(input_weights=input_weights,
                     recurrent_weights=recurrent,
                     input_bias=floats("kGruInputBias", gates),
                     recurrent_bias=floats("kGruRecurrentBias", gates)),
        head_weights=floats("kHeadWeights", units, outputs),
        head_bias=floats("kHeadBias", outputs),
        input_skip_weights=floats("kInputSkipWeights", inputs, outputs),
        number_format="q15" if quant is not None else "float32",
        recurrent_quant=quant,
        float_sha256=(_need(defs, "kFloatWeightsSha256", path).strip('"') or None
                      if quant is not None else None),
        **_names(defs, path),
    )
    _check_hash(defs, spec, path)
    _validated(spec, path)
    _check_constants(defs, spec, path, "kGruUnits", {})
    return spec


def read_header(path: str | Path) -> AnyModelSpec:
    """Parse a model_defn.h written by ``daisynet export`` into a validated spec of its
    family (``ModelSpec`` or ``GruSpec``), with its self-check reference if it holds one."""
    path = Path(path)
    defs = _definitions(path)
    _check_format_version(defs, path)
    spec = _read_gru(defs, path) if _family(defs, path) == "gru" else _read_wavenet(defs, path)
    spec.self_check = _self_check(defs, path, spec.outputs)
    return spec


def _self_check(defs: dict[str, str], path: Path, outputs: int) -> SelfCheck | None:
    frames = _int(defs, "kSelfCheckFrames", path)
    if frames == 0:
        return None
    stride = _int(defs, "kSelfCheckStride", path)
    if stride < 1 or frames % stride:
        raise HeaderError(f"{path}: kSelfCheckFrames {frames} is not a whole number of "
                          f"kSelfCheckStride {stride}")
    tolerance = float(_need(defs, "kSelfCheckTolerance", path).rstrip("fF"))
    return SelfCheck(frames=frames, stride=stride,
                     outputs=_floats(defs, "kSelfCheckOutputs", path,
                                     frames // stride * outputs).reshape(-1, outputs),
                     tolerance=tolerance,
                     instructions_per_sample=_int(defs, "kSelfCheckInstructionsPerSample", path))


def _read_wavenet(defs: dict[str, str], path: Path) -> ModelSpec:
    fmt = _number_format(defs, path)
    rows = _TABLE_ROW.findall(defs["__table__"])
    num_layers = _int(defs, "kNumLayers", path)
    if len(rows) != num_layers:
        raise HeaderError(f"{path}: kLayers lists {len(rows)} layers, kNumLayers says {num_layers}")
    layers = []
    for index, row in enumerate(rows):
        kernel, dilation, cin, cout = (int(v) for v in row[:4])
        relu, weights_name, bias_name = row[4:7]
        frac_bits = row[7:]
        if fmt.quantized != bool(frac_bits[0]):
            raise HeaderError(f"{path}: kLayers row {index} "
                              + ("lacks the four frac-bit fields a " if fmt.quantized else
                                 "has frac-bit fields, which a ") + f"{fmt.name} header "
                              + ("needs" if fmt.quantized else "does not have"))
        if fmt.quantized:
            in_f, weight_f, product_f, out_f = (int(v) for v in frac_bits)
            quant = LayerQuant(
                weights=_ints(defs, weights_name, path, kernel * cin * cout,
                              fmt).reshape(kernel, cin, cout),
                bias=_ints(defs, bias_name, path, cout, fmt),
                in_frac_bits=in_f, weight_frac_bits=weight_f, product_frac_bits=product_f,
                out_frac_bits=out_f)
            weights = (quant.weights.astype(np.float64) * 2.0**-weight_f).astype(np.float32)
            bias = (quant.bias.astype(np.float64) * 2.0**-product_f).astype(np.float32)
        else:
            quant = None
            weights = _floats(defs, weights_name, path, kernel * cin * cout).reshape(
                kernel, cin, cout)
            bias = _floats(defs, bias_name, path, cout)
        layers.append(
            ConvLayer(
                name=f"layer{index}",
                weights=weights,
                bias=bias,
                dilation=dilation,
                relu=relu == "true",
                quant=quant,
            )
        )
    spec = ModelSpec(
        layers=layers,
        **_names(defs, path),
        number_format=fmt.name,
        float_sha256=(_need(defs, "kFloatWeightsSha256", path).strip('"') or None)
        if fmt.quantized else None,
    )
    _check_hash(defs, spec, path)
    _validated(spec, path)
    _check_wavenet_constants(defs, spec, path)
    if fmt.quantized:
        _check_fixed_constants(defs, spec, path)
    return spec


def read_golden(path: str | Path, spec: AnyModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, outputs) frame-major arrays from a golden header made for ``spec``: for a
    quantized spec the outputs are its fixed-point engine's exact outputs."""
    inputs, outputs, _ = read_golden_all(path, spec)
    return inputs, outputs


def read_golden_all(path: str | Path, spec: AnyModelSpec
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(inputs, outputs, float outputs): the last is the float model's outputs a quantized
    golden header carries for reference (None in float headers)."""
    path = Path(path)
    defs = _definitions(path)
    if _need(defs, "kWeightsSha256", path).strip('"') != spec.weights_sha256():
        raise HeaderError(f"{path}: golden vectors belong to a different model (hash differs)")
    frames = _int(defs, "kFrames", path)
    inputs = _floats(defs, "kInputs", path, frames * spec.inputs).reshape(frames, spec.inputs)
    outputs = _floats(defs, "kOutputs", path, frames * spec.outputs).reshape(frames, spec.outputs)
    float_outputs = None
    if spec.quantized:
        float_outputs = _floats(defs, "kFloatOutputs", path,
                                frames * spec.outputs).reshape(frames, spec.outputs)
    return inputs, outputs, float_outputs
