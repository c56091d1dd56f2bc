"""Read model_defn.h (and its golden vectors) back: the simulator runs what the firmware runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from host_sim.spec import ConvLayer, ModelSpec

_COMMENT = re.compile(r"//[^\n]*")
_DEFINITION = re.compile(
    r"inline\s+constexpr\s+[^=;{]*?\b(?P<name>k\w+)\s*(?:\[[^\]]*\])?\s*=\s*"
    r"(?P<value>\{[^{}]*\}|[^;{]*);",
    re.DOTALL,
)
_TABLE_ROW = re.compile(
    r"\{\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(true|false)\s*,\s*(\w+)\s*,\s*(\w+)\s*\}"
)
_TABLE = re.compile(r"kLayers\s*\[[^\]]*\]\s*=\s*\{(?P<rows>.*?)\};", re.DOTALL)


class HeaderError(ValueError):
    """The header is not one the exporter wrote, or it was damaged or edited."""


def _definitions(path: Path) -> dict[str, str]:
    if not path.exists():
        raise HeaderError(f"{path}: no such file")
    text = _COMMENT.sub("", path.read_text())
    return {m["name"]: m["value"].strip() for m in _DEFINITION.finditer(text)} | {
        "__table__": (_TABLE.search(text) or {"rows": ""})["rows"]
    }


def _need(defs: dict[str, str], name: str, path: Path) -> str:
    if name not in defs:
        raise HeaderError(f"{path}: {name} not found; was this file written by daisynet export?")
    return defs[name]


def _int(defs: dict[str, str], name: str, path: Path) -> int:
    return int(_need(defs, name, path).rstrip("uU"))


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


def _strings(defs: dict[str, str], name: str, path: Path) -> list[str]:
    return re.findall(r'"((?:[^"\\]|\\.)*)"', _need(defs, name, path))


def read_header(path: str | Path) -> ModelSpec:
    """Parse a model_defn.h written by ``daisynet export`` into a validated ModelSpec."""
    path = Path(path)
    defs = _definitions(path)
    rows = _TABLE_ROW.findall(defs["__table__"])
    num_layers = _int(defs, "kNumLayers", path)
    if len(rows) != num_layers:
        raise HeaderError(f"{path}: kLayers lists {len(rows)} layers, kNumLayers says {num_layers}")
    layers = []
    for index, (kernel, dilation, cin, cout, relu, weights_name, bias_name) in enumerate(rows):
        kernel, dilation, cin, cout = int(kernel), int(dilation), int(cin), int(cout)
        weights = _floats(defs, weights_name, path, kernel * cin * cout)
        bias = _floats(defs, bias_name, path, cout)
        layers.append(
            ConvLayer(
                name=f"layer{index}",
                weights=weights.reshape(kernel, cin, cout),
                bias=bias,
                dilation=dilation,
                relu=relu == "true",
            )
        )
    name_match = re.search(r'"(.*)"', _need(defs, "kModelName", path))
    spec = ModelSpec(
        layers=layers,
        name=name_match[1] if name_match else "",
        sample_rate=int(float(_need(defs, "kSampleRate", path).rstrip("fF"))),
        input_names=_strings(defs, "kInputNames", path),
        output_names=_strings(defs, "kOutputNames", path),
    )
    recorded = _need(defs, "kWeightsSha256", path).strip('"')
    if recorded != spec.weights_sha256():
        raise HeaderError(
            f"{path}: weights do not match kWeightsSha256 (edited or damaged after export); "
            "export the model again"
        )
    spec.validate()
    return spec


def read_golden(path: str | Path, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, outputs) frame-major arrays from a golden header made for ``spec``."""
    path = Path(path)
    defs = _definitions(path)
    if _need(defs, "kWeightsSha256", path).strip('"') != spec.weights_sha256():
        raise HeaderError(f"{path}: golden vectors belong to a different model (hash differs)")
    frames = _int(defs, "kFrames", path)
    inputs = _floats(defs, "kInputs", path, frames * spec.inputs).reshape(frames, spec.inputs)
    outputs = _floats(defs, "kOutputs", path, frames * spec.outputs).reshape(frames, spec.outputs)
    return inputs, outputs
