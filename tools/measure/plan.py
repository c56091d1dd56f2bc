"""``daisynet plan``: would an architecture run on the Daisy, before training it?

Builds the architecture with random weights, exports it, and measures it on the emulated
Cortex-M7 with the engine the Daisy apps run (the fast backend) at the Daisy's audio block.
Verdicts use the emulated instruction count as cycles (one cycle per instruction; the
Daisy's own cycle counter is the final word) against SAFETY_MARGIN of the cycles per sample at
the Daisy's clock, the engine's RAM against the Daisy's DTCM, and the weights against the flash
the inference app leaves. With ``--quantize q15,q7`` the same random model is also quantized
to each format and measured the same way (its fixed-point engine, its weight flash).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daisynet.host_sim.daisy_target import (
    BLOCK_FRAMES,
    DTCM_BYTES,
    SAMPLE_RATE_HZ,
    daisy_target,
    model_flash_budget,
)
from daisynet.host_sim.m7 import M7Engine
from daisynet.host_sim.model_defn import (
    Architecture,
    ConvLayer,
    ModelSpec,
    read_header,
    render_header,
)
from daisynet.host_sim.model_defn.spec import MAX_BLOCKS, MAX_FILTERS

SAFETY_MARGIN = 0.8  # of the cycles per sample the model may use; the rest is for the app
PLAN_BLOCK = BLOCK_FRAMES  # models are measured as the Daisy's audio callback runs them
PLAN_FRAMES = SAMPLE_RATE_HZ // 20  # 50 ms: long enough for a steady instruction count
DEFAULT_SAMPLE_RATES = (32_000, SAMPLE_RATE_HZ, 96_000)  # the Daisy's rate and two others
SEARCH_RATE = SAMPLE_RATE_HZ  # the widest/deepest search asks about the Daisy's rate
# The search spans what Architecture accepts (a candidate beyond it cannot even be built).
WIDEST_SEARCHED = MAX_FILTERS  # filters
DEEPEST_SEARCHED = MAX_BLOCKS  # blocks
FLOAT32 = "float32"
BYTES_PER_WEIGHT = {FLOAT32: 4, "q15": 2, "q7": 1}


def weight_flash_bytes(spec: ModelSpec, number_format: str) -> int:
    """Bytes of the model's weights and biases in ``number_format`` (alignment padding aside):
    q15 and q7 take 1/2 and 1/4 of float32."""
    return BYTES_PER_WEIGHT[number_format] * spec.architecture().parameters


def quantized_header(spec: ModelSpec, number_format: str, path: Path,
                     calibration: np.ndarray) -> Path:
    """Write ``spec`` quantized to ``number_format`` (q15 or q7) on ``calibration`` audio as a
    model_defn.h at ``path`` (the exporter's quantizer and writer)."""
    from daisynet.host_sim.quantize import quantize_spec

    quantized = quantize_spec(spec, number_format, calibration)
    path.write_text(render_header(quantized, f"daisynet plan/bench --quantize {number_format}"))
    return path


def random_spec(arch: Architecture, seed: int = 0) -> ModelSpec:
    """``arch`` with random weights (Glorot-like scale), as training would start it."""
    rng = np.random.default_rng(seed)
    layers = []
    shapes = arch.layer_shapes()
    for index, (kernel, dilation, cin, cout) in enumerate(shapes):
        scale = np.sqrt(2.0 / (kernel * cin + cout))
        layers.append(ConvLayer(
            name=f"layer{index}",
            weights=(rng.standard_normal((kernel, cin, cout)) * scale).astype(np.float32),
            bias=rng.uniform(-0.05, 0.25, cout).astype(np.float32),
            dilation=dilation,
            relu=index < len(shapes) - 1,
        ))
    return ModelSpec(layers=layers, name="daisynet_plan", sample_rate=SAMPLE_RATE_HZ)


@dataclass(frozen=True)
class Measurement:
    instructions_per_sample: float
    ram_bytes: int  # engine state for blocks up to 64 (the Daisy's apps use BLOCK_FRAMES: less)
    weight_bytes: int
    flash_bytes: int  # engine code and weights (the fast engine is specialised per model)


def measure(arch: Architecture, number_format: str = FLOAT32) -> Measurement:
    """Instructions per sample at PLAN_BLOCK on the emulated M7, engine RAM, weight bytes, and
    the flash of the model's engine code and weights; ``number_format`` q15/q7: of the same
    random model quantized."""
    spec = random_spec(arch)
    with tempfile.TemporaryDirectory(prefix="daisynet-plan-") as scratch:
        header = Path(scratch) / "model_defn.h"
        if number_format == FLOAT32:
            header.write_text(render_header(spec, "daisynet plan"))
            return measure_header(header)
        quantized_header(spec, number_format, header, _excitation(spec))
        return _measure(spec, header, weight_flash_bytes(spec, number_format))


def _excitation(spec: ModelSpec) -> np.ndarray:
    from daisynet.training.export import excitation

    return excitation(spec.input_names, PLAN_FRAMES, spec.sample_rate or SAMPLE_RATE_HZ)


def _measure(spec: ModelSpec, header: Path, weight_bytes: int) -> Measurement:
    engine = M7Engine(header)
    run = engine.run(_excitation(spec), PLAN_BLOCK)
    return Measurement(run.instructions_per_sample, engine.build.ram_bytes, weight_bytes,
                       engine.build.flash_bytes)


def measure_header(header: str | Path) -> Measurement:
    """``measure`` for an exported model_defn.h (a trained model)."""
    spec = read_header(header)
    return _measure(spec, Path(header), spec.weight_flash_bytes())


def real_time_verdict(instructions_per_sample: float, sample_rate: int) -> dict:
    """Whether a model that takes ``instructions_per_sample`` at the Daisy's block runs in real
    time at ``sample_rate``: "fits" within SAFETY_MARGIN of the cycles per sample, "tight"
    between that and all of them (the knob reads, OLED and USB need the rest: it may glitch),
    else "cannot run"; with a one-line message saying so."""
    target = daisy_target()
    budget = target.cycles_per_sample(sample_rate)
    load = instructions_per_sample / budget
    if load <= SAFETY_MARGIN:
        verdict, said = "fits", f"fits, within the {100 * SAFETY_MARGIN:.0f}% margin"
    elif load <= 1.0:
        verdict, said = "tight", (f"tight: over the {100 * SAFETY_MARGIN:.0f}% margin the rest "
                                  "of the app needs, so it may glitch")
    else:
        verdict, said = "cannot run", "CANNOT run in real time on the Daisy"
    message = (f"real time at {sample_rate:,} Hz: {said} ({100 * load:.0f}% of the "
               f"{budget:,.0f} cycles per sample at {target.clock_mhz:g} MHz, "
               f"{instructions_per_sample:,.0f} emulated instructions per sample at block "
               f"{PLAN_BLOCK}, one cycle each)")
    return {"sample_rate": sample_rate, "load": round(load, 4), "verdict": verdict,
            "message": message}


def fits(arch: Architecture, measurement: Measurement, sample_rate: int) -> bool:
    budget = SAFETY_MARGIN * daisy_target().cycles_per_sample(sample_rate)
    return (measurement.instructions_per_sample <= budget and measurement.ram_bytes <= DTCM_BYTES
            and measurement.flash_bytes <= model_flash_budget())


def fits_at(arch: Architecture, sample_rate: int = SEARCH_RATE) -> bool:
    """Whether ``arch`` would fit on the Daisy at ``sample_rate``: measured on the emulated M7,
    unless its weights alone are over the flash budget (then no build is needed)."""
    if BYTES_PER_WEIGHT[FLOAT32] * arch.parameters > model_flash_budget():
        return False
    return fits(arch, measure(arch), sample_rate)


def _largest(low: int, high: int, ok: Callable[[int], bool]) -> int | None:
    """Largest n in low..high with ok(n), assuming ok is true up to some n and false after."""
    if not ok(low):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if ok(middle):
            low = middle
        else:
            high = middle - 1
    return low


def search_limits(inputs: int, kernel_size: int, filters: tuple[int, ...],
                  fits_on: Callable[[Architecture], bool]) -> tuple[int | None, int | None]:
    """(widest, deepest): the most filters that ``len(filters)`` blocks of one width may have,
    and the most blocks of ``filters[-1]`` filters, for which ``fits_on`` holds; None when not
    even 1 does. A binary search over 1..WIDEST_SEARCHED and 1..DEEPEST_SEARCHED, so
    ``fits_on`` (in ``plan``, a build and a run on the emulated M7) is asked about 11 times,
    not 72; it assumes that more filters or blocks never fit better."""
    blocks = len(filters)

    def wide(width: int) -> bool:
        return fits_on(Architecture(inputs, (width,) * blocks, kernel_size))

    def deep(depth: int) -> bool:
        return fits_on(Architecture(inputs, (filters[-1],) * depth, kernel_size))

    return _largest(1, WIDEST_SEARCHED, wide), _largest(1, DEEPEST_SEARCHED, deep)


def plan(inputs: int, kernel_size: int, filters: tuple[int, ...],
         sample_rates: tuple[int, ...], log: Callable[[str], None], search: bool = True,
         quantize: tuple[str, ...] = ()) -> dict:
    """Measure the architecture and say whether it fits at each sample rate; with ``search``,
    also the widest uniform filter count and the deepest network that fit at SEARCH_RATE (float32);
    with ``quantize``, the same for the model quantized to each format (no search)."""
    arch = Architecture(inputs, tuple(filters), kernel_size)
    target = daisy_target()
    measured = measure(arch)
    flash_budget = model_flash_budget()
    log(f"architecture  {inputs} inputs, kernel {kernel_size}, filters "
        f"{','.join(map(str, filters))}: {arch.parameters:,} parameters, "
        f"{arch.macs_per_sample:,} MACs/sample")
    log(f"receptive field {arch.receptive_field:,} samples "
        f"({1000 * arch.receptive_field / SAMPLE_RATE_HZ:.1f} ms at {SAMPLE_RATE_HZ // 1000} kHz)")
    log(f"emulated M7 at block {PLAN_BLOCK}: {measured.instructions_per_sample:,.0f} "
        f"instructions/sample (taken as cycles at {target.clock_mhz:g} MHz, "
        f"{100 * SAFETY_MARGIN:.0f}% of the budget allowed)")
    rates = []
    for rate in sample_rates:
        budget = target.cycles_per_sample(rate)
        load = measured.instructions_per_sample / budget
        verdict = fits(arch, measured, rate)
        rates.append({"sample_rate": rate, "cycles_per_sample": round(budget, 1),
                      "load": round(load, 4), "fits": verdict})
        log(f"  {rate:>6,} Hz  {100 * load:6.1f}% of {budget:,.0f} cycles  "
            f"{'fits' if verdict else 'does NOT fit'}")
    log(f"RAM    {measured.ram_bytes:,} B of {DTCM_BYTES:,} B DTCM "
        f"({'ok' if measured.ram_bytes <= DTCM_BYTES else 'too big'})")
    log(f"flash  {measured.flash_bytes:,} B of engine code and weights ({measured.weight_bytes:,} "
        f"B of weights), {flash_budget:,} B left by the inference app "
        f"({'ok' if measured.flash_bytes <= flash_budget else 'too big'})")
    result = {
        "inputs": inputs, "kernel_size": kernel_size, "filters": list(filters),
        "parameters": arch.parameters, "macs_per_sample": arch.macs_per_sample,
        "receptive_field_samples": arch.receptive_field,
        "receptive_field_ms_at_48k": round(1000 * arch.receptive_field / SAMPLE_RATE_HZ, 2),
        "instructions_per_sample": round(measured.instructions_per_sample, 1),
        "block_size": PLAN_BLOCK, "safety_margin": SAFETY_MARGIN,
        "engine_ram_bytes": measured.ram_bytes, "dtcm_bytes": DTCM_BYTES,
        "weight_flash_bytes": measured.weight_bytes, "model_flash_bytes": measured.flash_bytes,
        "model_flash_budget": flash_budget,
        "rates": rates,
    }
    if quantize:
        result["weight_flash_bytes_float32"] = weight_flash_bytes(random_spec(arch), FLOAT32)
        result["formats"] = {}
    for number_format in quantize:
        q = measure(arch, number_format)
        verdicts = []
        for rate in sample_rates:
            load = q.instructions_per_sample / target.cycles_per_sample(rate)
            verdicts.append({"sample_rate": rate, "load": round(load, 4),
                             "fits": fits(arch, q, rate)})
        result["formats"][number_format] = {
            "instructions_per_sample": round(q.instructions_per_sample, 1),
            "instructions_per_mac": round(q.instructions_per_sample / arch.macs_per_sample, 3),
            "engine_ram_bytes": q.ram_bytes, "weight_flash_bytes": q.weight_bytes,
            "model_flash_bytes": q.flash_bytes, "rates": verdicts,
        }
        fraction = q.weight_bytes / result["weight_flash_bytes_float32"]
        log(f"{number_format:6s} {q.instructions_per_sample:,.0f} instructions/sample "
            f"({q.instructions_per_sample / arch.macs_per_sample:.2f} per MAC): "
            + ", ".join(f"{v['sample_rate']:,} Hz {100 * v['load']:.1f}% "
                        f"{'fits' if v['fits'] else 'does NOT fit'}" for v in verdicts))
        log(f"       RAM {q.ram_bytes:,} B; flash {q.flash_bytes:,} B of engine code and weights "
            f"({q.weight_bytes:,} B of weights, {fraction:.2g} of float32's)")
    if search:
        widest, deepest = search_limits(inputs, kernel_size, tuple(filters), fits_at)
        result["widest_uniform_filters"] = widest
        result["deepest_blocks"] = deepest
        log(f"at {SEARCH_RATE // 1000} kHz: widest uniform filters for {len(filters)} blocks: "
            f"{widest}; deepest network of {filters[-1]} filters: {deepest} blocks")
    return result
