"""Write model_defn.h and its golden vectors from a ModelSpec (templates in ``templates/``)."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

import numpy as np

from host_sim.model_defn.spec import ModelSpec

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


def _c_strings(names: list[str]) -> str:
    return ", ".join(json.dumps(n) for n in names)


def render_header(spec: ModelSpec, command: str) -> str:
    """The text of model_defn.h for ``spec``; ``command`` is recorded on the first line."""
    spec.validate()
    arch = spec.architecture()
    arrays, table = [], []
    for index, layer in enumerate(spec.layers):
        prefix = f"kLayer{index}"
        arrays.append(
            f"// layer {index}: {layer.name}, kernel {layer.kernel}, dilation {layer.dilation}, "
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
    sha = spec.weights_sha256()
    sample_rate = int(spec.sample_rate or 48_000)
    template = Template((TEMPLATES / "model_defn.h.tmpl").read_text())
    return template.substitute(
        command=command,
        name=spec.name,
        parameters=arch.parameters,
        macs=arch.macs_per_sample,
        receptive_field=arch.receptive_field,
        receptive_ms=f"{1000 * arch.receptive_field / sample_rate:.1f}",
        sample_rate=sample_rate,
        sha256=sha,
        sha256_32=sha[:8],
        inputs=spec.inputs,
        input_names=_c_strings(spec.input_names),
        outputs=spec.outputs,
        output_names=_c_strings(spec.output_names),
        kernel=arch.kernel_size,
        blocks=len(arch.filters),
        filters=", ".join(str(f) for f in arch.filters),
        layer_arrays="\n".join(arrays),
        num_layers=len(spec.layers),
        layer_table="\n".join(table),
    )


def render_golden(
    spec: ModelSpec, inputs: np.ndarray, outputs: np.ndarray, command: str, header_name: str
) -> str:
    template = Template((TEMPLATES / "golden.h.tmpl").read_text())
    return template.substitute(
        command=command,
        name=spec.name,
        header=header_name,
        sha256=spec.weights_sha256(),
        frames=inputs.shape[0],
        inputs=spec.inputs,
        outputs=spec.outputs,
        input_values=_c_array(inputs),
        output_values=_c_array(outputs),
    )


def golden_path(header_path: str | Path) -> Path:
    """Where the golden vectors of a header live: NAME_golden.h beside NAME.h."""
    header_path = Path(header_path)
    return header_path.with_name(header_path.stem + "_golden.h")
