"""``daisynet plan``: would an architecture run on the Daisy, before training it?

Builds the architecture with random weights, exports it, and measures it on the emulated
Cortex-M7 with the engine the Daisy apps run (the fast backend) at the Daisy's audio block.
Verdicts use the emulated instruction count as cycles (one cycle per instruction; the
Daisy's own cycle counter is the final word) against SAFETY_MARGIN of the cycles per sample at
the Daisy's clock, the engine's RAM against the Daisy's DTCM, and the weights against the flash
the inference app leaves. With ``--quantize q15,q7`` the same random model is also quantized
to each format and measured the same way (its fixed-point engine, its weight flash). A model
whose layer history alone is over the DTCM is judged without a build (it would not even link
for the emulator): it cannot fit, whatever its cycles.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daisynet.host_sim.daisy_fit import SAFETY_MARGIN
from daisynet.host_sim.daisy_target import (
    BLOCK_FRAMES,
    DTCM_BYTES,
    SAMPLE_RATE_HZ,
    daisy_target,
    model_flash_budget,
)
from daisynet.host_sim.engines import family_refusal
from daisynet.host_sim.m7 import M7Engine
from daisynet.host_sim.model_defn import (
    AnyModelSpec,
    Architecture,
    GruArchitecture,
    ModelSpec,
    read_header,
    render_header,
)
from daisynet.host_sim.model_defn.spec import (
    MAX_BLOCKS,
    MAX_FILTERS,
    MAX_GRU_UNITS,
    NUMBER_FORMATS,
)
from daisynet.host_sim.quantize import random_gru_spec, random_spec, refuse_unquantizable
from daisynet.tools.text import plural

PLAN_BLOCK = BLOCK_FRAMES  # models are measured as the Daisy's audio callback runs them
PLAN_FRAMES = SAMPLE_RATE_HZ // 20  # 50 ms: long enough for a steady instruction count
DEFAULT_SAMPLE_RATES = (32_000, SAMPLE_RATE_HZ, 96_000)  # the Daisy's rate and two others
SEARCH_RATE = SAMPLE_RATE_HZ  # the widest/deepest search asks about the Daisy's rate
# The search spans what Architecture accepts (a candidate beyond it cannot even be built).
WIDEST_SEARCHED = MAX_FILTERS  # filters
DEEPEST_SEARCHED = MAX_BLOCKS  # blocks
FLOAT32 = "float32"


def history_bytes(arch: Architecture | GruArchitecture, number_format: str = FLOAT32) -> int:
    """The engine RAM no backend can do without: a wavenet's (K-1)*d frames of history per
    layer of its input channels (firmware/core/wavenet_history.h; the backends add a block or
    more); a GRU's state, one value per unit (its backends add their block buffers)."""
    item = NUMBER_FORMATS[number_format].item_bytes
    if isinstance(arch, GruArchitecture):
        return item * arch.units
    return item * sum((kernel - 1) * dilation * inputs
                      for kernel, dilation, inputs, _ in arch.layer_shapes())


def quantized_header(spec: ModelSpec, number_format: str, path: Path,
                     calibration: np.ndarray) -> Path:
    """Write ``spec`` quantized to ``number_format`` (q15 or q7) on ``calibration`` audio as a
    model_defn.h at ``path`` (the exporter's quantizer and writer)."""
    from daisynet.host_sim.quantize import quantize_spec

    quantized = quantize_spec(spec, number_format, calibration)
    path.write_text(render_header(quantized, f"daisynet plan/bench --quantize {number_format}"))
    return path


def plan_spec(arch: Architecture | GruArchitecture) -> AnyModelSpec:
    """``arch`` with random weights, of its family."""
    if isinstance(arch, GruArchitecture):
        return random_gru_spec(arch, name="daisynet_plan")
    return random_spec(arch, name="daisynet_plan")


@dataclass(frozen=True)
class Measurement:
    # None: not measured (``not_measured`` says why; ram_bytes is then the history or state
    # history_bytes counts, and flash_bytes the weights alone).
    instructions_per_sample: float | None
    ram_bytes: int  # engine state for blocks up to 64 (the Daisy's apps use BLOCK_FRAMES: less)
    weight_bytes: int
    flash_bytes: int  # engine code and weights (the fast engine is specialised per model)
    not_measured: str | None = None


def measure(arch: Architecture | GruArchitecture, number_format: str = FLOAT32) -> Measurement:
    """Instructions per sample at PLAN_BLOCK on the emulated M7, engine RAM, weight bytes, and
    the flash of the model's engine code and weights; ``number_format`` q15/q7: of the same
    random model quantized. Not built: a model whose layer history is over the DTCM, and one
    of a family the firmware core does not run yet."""
    spec = plan_spec(arch)
    if number_format != FLOAT32:
        refuse_unquantizable(spec, number_format)
    weight_bytes = spec.weight_flash_bytes(number_format)
    history = history_bytes(arch, number_format)
    if history > DTCM_BYTES:
        return Measurement(None, history, weight_bytes, weight_bytes,
                           f"its layer history alone takes {history:,} B of RAM, over the "
                           f"{DTCM_BYTES:,} B DTCM, so it cannot fit at any rate")
    if problem := family_refusal("m7", spec.family):
        return Measurement(None, history, weight_bytes, weight_bytes, problem)
    with tempfile.TemporaryDirectory(prefix="daisynet-plan-") as scratch:
        header = Path(scratch) / "model_defn.h"
        if number_format == FLOAT32:
            header.write_text(render_header(spec, "daisynet plan"))
        else:
            quantized_header(spec, number_format, header, _excitation(spec))
        return _measure(spec, header, weight_bytes)


def _excitation(spec: AnyModelSpec) -> np.ndarray:
    from daisynet.training.export import excitation

    return excitation(spec.input_names, PLAN_FRAMES, spec.sample_rate or SAMPLE_RATE_HZ)


def _measure(spec: AnyModelSpec, header: Path, weight_bytes: int) -> Measurement:
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


def shortfalls(measurement: Measurement, sample_rate: int) -> list[str]:
    """What keeps a model from fitting at ``sample_rate``: "cycles" (over SAFETY_MARGIN of
    the budget), "RAM" (over the DTCM), "flash" (over what the inference app leaves)."""
    budget = SAFETY_MARGIN * daisy_target().cycles_per_sample(sample_rate)
    over = []
    if (measurement.instructions_per_sample is not None
            and measurement.instructions_per_sample > budget):
        over.append("cycles")
    if measurement.ram_bytes > DTCM_BYTES:
        over.append("RAM")
    if measurement.flash_bytes > model_flash_budget():
        over.append("flash")
    return over


def fits(arch: Architecture, measurement: Measurement, sample_rate: int) -> bool:
    return not shortfalls(measurement, sample_rate)


def fits_at(arch: Architecture | GruArchitecture, sample_rate: int = SEARCH_RATE,
            number_format: str = FLOAT32) -> bool:
    """Whether ``arch`` would fit on the Daisy at ``sample_rate`` (in ``number_format``):
    measured on the emulated M7, unless its weights alone are over the flash budget (then no
    build is needed)."""
    if plan_spec(arch).weight_flash_bytes(number_format) > model_flash_budget():
        return False
    return fits(arch, measure(arch, number_format), sample_rate)


def _verdict(over: list[str]) -> str:
    return "fits" if not over else f"does NOT fit ({', '.join(over)})"


def _rate_verdicts(measurement: Measurement, sample_rates: tuple[int, ...]) -> list[dict]:
    target = daisy_target()
    verdicts = []
    for rate in sample_rates:
        budget = target.cycles_per_sample(rate)
        instructions = measurement.instructions_per_sample
        over = shortfalls(measurement, rate)
        # Unmeasured cycles leave the verdict open unless RAM or flash already close it.
        verdicts.append({"sample_rate": rate, "cycles_per_sample": round(budget, 1),
                         "load": None if instructions is None else round(instructions / budget, 4),
                         "fits": not over if instructions is not None or over else None,
                         "over": over})
    return verdicts


def _ram_text(measurement: Measurement, alone: str = "its layer history") -> str:
    if measurement.instructions_per_sample is None:
        return f"{measurement.ram_bytes:,} B ({alone} alone)"
    return f"{measurement.ram_bytes:,} B"


def _flash_text(measurement: Measurement) -> str:
    if measurement.instructions_per_sample is None:
        return f"{measurement.weight_bytes:,} B of weights (engine code not built)"
    return (f"{measurement.flash_bytes:,} B of engine code and weights "
            f"({measurement.weight_bytes:,} B of weights)")


def _load_text(verdict: dict) -> str:
    if verdict["load"] is None:
        return "not measured"
    return f"{100 * verdict['load']:.1f}% of {verdict['cycles_per_sample']:,.0f} cycles"


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
    """Measure the architecture and say whether it fits at each sample rate, and if not, why;
    with ``search``, also the widest uniform filter count and the deepest network that fit at
    SEARCH_RATE (float32); with ``quantize``, the same for the model quantized to each format
    (no search)."""
    arch = Architecture(inputs, tuple(filters), kernel_size)
    target = daisy_target()
    measured = measure(arch)
    flash_budget = model_flash_budget()
    log(f"architecture  {inputs} inputs, kernel {kernel_size}, filters "
        f"{','.join(map(str, filters))}: {arch.parameters:,} parameters, "
        f"{arch.macs_per_sample:,} MACs/sample")
    log(f"receptive field {arch.receptive_field:,} samples "
        f"({1000 * arch.receptive_field / SAMPLE_RATE_HZ:.1f} ms at {SAMPLE_RATE_HZ // 1000} kHz)")
    if measured.instructions_per_sample is None:
        log(f"not measured: {measured.not_measured}")
    else:
        log(f"emulated M7 at block {PLAN_BLOCK}: {measured.instructions_per_sample:,.0f} "
            f"instructions/sample (taken as cycles at {target.clock_mhz:g} MHz, "
            f"{100 * SAFETY_MARGIN:.0f}% of the budget allowed)")
    rates = _rate_verdicts(measured, sample_rates)
    for verdict in rates:
        log(f"  {verdict['sample_rate']:>7,} Hz  {_load_text(verdict):>24s}  "
            f"{_verdict(verdict['over'])}")
    log(f"RAM    {_ram_text(measured)} of {DTCM_BYTES:,} B DTCM "
        f"({'ok' if measured.ram_bytes <= DTCM_BYTES else 'too big'})")
    log(f"flash  {_flash_text(measured)}, {flash_budget:,} B left by the inference app "
        f"({'ok' if measured.flash_bytes <= flash_budget else 'too big'})")
    instructions = measured.instructions_per_sample
    result = {
        "inputs": inputs, "kernel_size": kernel_size, "filters": list(filters),
        "parameters": arch.parameters, "macs_per_sample": arch.macs_per_sample,
        "receptive_field_samples": arch.receptive_field,
        "receptive_field_ms_at_48k": round(1000 * arch.receptive_field / SAMPLE_RATE_HZ, 2),
        "instructions_per_sample": None if instructions is None else round(instructions, 1),
        "block_size": PLAN_BLOCK, "safety_margin": SAFETY_MARGIN,
        "engine_ram_bytes": measured.ram_bytes, "dtcm_bytes": DTCM_BYTES,
        "weight_flash_bytes": measured.weight_bytes, "model_flash_bytes": measured.flash_bytes,
        "model_flash_budget": flash_budget,
        "rates": rates,
    }
    if quantize:
        result["weight_flash_bytes_float32"] = measured.weight_bytes
        result["formats"] = {}
    for number_format in quantize:
        q = measure(arch, number_format)
        verdicts = _rate_verdicts(q, sample_rates)
        per_mac = (None if q.instructions_per_sample is None
                   else q.instructions_per_sample / arch.macs_per_sample)
        result["formats"][number_format] = {
            "instructions_per_sample": (None if q.instructions_per_sample is None
                                        else round(q.instructions_per_sample, 1)),
            "instructions_per_mac": None if per_mac is None else round(per_mac, 3),
            "engine_ram_bytes": q.ram_bytes, "weight_flash_bytes": q.weight_bytes,
            "model_flash_bytes": q.flash_bytes, "rates": verdicts,
        }
        fraction = q.weight_bytes / measured.weight_bytes
        measured_text = ("not measured (its layer history alone is over the DTCM)"
                         if per_mac is None else
                         f"{q.instructions_per_sample:,.0f} instructions/sample "
                         f"({per_mac:.2f} per MAC)")
        log(f"{number_format:6s} {measured_text}: "
            + ", ".join(f"{v['sample_rate']:,} Hz "
                        + ("" if v["load"] is None else f"{100 * v['load']:.1f}% ")
                        + _verdict(v["over"]) for v in verdicts))
        log(f"       RAM {_ram_text(q)}; flash {_flash_text(q)}, {fraction:.2g} of float32's "
            "weights")
    if search:
        widest, deepest = search_limits(inputs, kernel_size, tuple(filters), fits_at)
        result["widest_uniform_filters"] = widest
        result["deepest_blocks"] = deepest
        widest_text = widest if widest is not None else "none fits, not even 1 filter"
        deepest_text = (plural(deepest, "block") if deepest is not None
                        else "none fits, not even 1 block")
        log(f"at {SEARCH_RATE // 1000} kHz: widest uniform filters for "
            f"{plural(len(filters), 'block')}: {widest_text}; deepest network of "
            f"{plural(filters[-1], 'filter')}: {deepest_text}")
    return result


def plan_gru(inputs: int, units: int, sample_rates: tuple[int, ...],
             log: Callable[[str], None], search: bool = True,
             quantize: tuple[str, ...] = ()) -> dict:
    """``plan`` for a GRU of ``units`` units over ``inputs`` inputs and one output: its counts,
    weight flash and state RAM, and its instructions per sample measured on the emulated M7
    through the same ``measure`` (not measured while the firmware core has no GRU engine);
    with ``search``, once measured, the most units that fit at SEARCH_RATE. With ``quantize``
    (q15, the one fixed-point format of a GRU), the same for the model in q15, search
    included."""
    arch = GruArchitecture(inputs, units)
    target = daisy_target()
    measured = measure(arch)
    flash_budget = model_flash_budget()
    state = history_bytes(arch)
    log(f"architecture  GRU of {plural(units, 'unit')} over {plural(inputs, 'input')}, a linear "
        f"head and an input skip: {arch.parameters:,} parameters, {arch.macs_per_sample:,} "
        "MACs/sample")
    log(f"state  {state:,} B (the GRU's state, one float per unit; no receptive-field history)")
    instructions = measured.instructions_per_sample
    if instructions is None:
        log(f"not measured: {measured.not_measured}")
    else:
        log(f"emulated M7 at block {PLAN_BLOCK}: {instructions:,.0f} instructions/sample (taken "
            f"as cycles at {target.clock_mhz:g} MHz, {100 * SAFETY_MARGIN:.0f}% of the budget "
            "allowed)")
    rates = _rate_verdicts(measured, sample_rates)
    for verdict in rates:
        log(f"  {verdict['sample_rate']:>7,} Hz  {_load_text(verdict):>24s}  "
            + (_verdict(verdict["over"]) if instructions is not None or verdict["over"]
               else "cycles not measured"))
    log(f"RAM    {_ram_text(measured, 'its state')} of {DTCM_BYTES:,} B DTCM "
        f"({'ok' if measured.ram_bytes <= DTCM_BYTES else 'too big'})")
    log(f"flash  {_flash_text(measured)}, {flash_budget:,} B left by the inference app "
        f"({'ok' if measured.flash_bytes <= flash_budget else 'too big'})")
    most_units = None
    if search and instructions is not None:
        most_units = _largest(1, MAX_GRU_UNITS,
                              lambda width: fits_at(GruArchitecture(inputs, width)))
        log(f"at {SEARCH_RATE // 1000} kHz: the most GRU units that fit: "
            + (str(most_units) if most_units is not None else "none fits, not even 1 unit"))
    formats = {}
    for number_format in quantize:
        formats[number_format] = _plan_gru_format(arch, number_format, measured, sample_rates,
                                                  log, search)
    return {
        "family": "gru", "inputs": inputs, "units": units, "outputs": arch.outputs,
        "most_units": most_units,
        **({"formats": formats} if quantize else {}),
        "parameters": arch.parameters, "macs_per_sample": arch.macs_per_sample,
        "state_ram_bytes": state,
        "instructions_per_sample": None if instructions is None else round(instructions, 1),
        "not_measured": measured.not_measured,
        "block_size": PLAN_BLOCK, "safety_margin": SAFETY_MARGIN,
        "engine_ram_bytes": measured.ram_bytes, "dtcm_bytes": DTCM_BYTES,
        "weight_flash_bytes": measured.weight_bytes, "model_flash_bytes": measured.flash_bytes,
        "model_flash_budget": flash_budget,
        "rates": rates,
    }


def _plan_gru_format(arch: GruArchitecture, number_format: str, float32: Measurement,
                     sample_rates: tuple[int, ...], log: Callable[[str], None],
                     search: bool) -> dict:
    """``plan_gru``'s figures for the GRU in ``number_format`` (q15)."""
    q = measure(arch, number_format)
    verdicts = _rate_verdicts(q, sample_rates)
    instructions = q.instructions_per_sample
    if instructions is None:
        log(f"{number_format:6s} not measured: {q.not_measured}")
    else:
        log(f"{number_format:6s} {instructions:,.0f} instructions/sample: "
            + ", ".join(f"{v['sample_rate']:,} Hz "
                        + ("" if v["load"] is None else f"{100 * v['load']:.1f}% ")
                        + _verdict(v["over"]) for v in verdicts))
    log(f"       RAM {_ram_text(q, 'its state')}; flash {_flash_text(q)}, "
        f"{q.weight_bytes / float32.weight_bytes:.2g} of float32's weights")
    most_units = None
    if search and instructions is not None:
        most_units = _largest(1, MAX_GRU_UNITS, lambda width: fits_at(
            GruArchitecture(arch.inputs, width), number_format=number_format))
        log(f"       at {SEARCH_RATE // 1000} kHz: the most {number_format} GRU units that fit: "
            + (str(most_units) if most_units is not None else "none fits, not even 1 unit"))
    return {"instructions_per_sample": None if instructions is None else round(instructions, 1),
            "engine_ram_bytes": q.ram_bytes, "weight_flash_bytes": q.weight_bytes,
            "model_flash_bytes": q.flash_bytes, "rates": verdicts, "most_units": most_units}
