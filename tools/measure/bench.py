"""``daisynet bench``: what a model costs on the Daisy, per engine backend and block size.

Instructions per sample come from SysTick under ``qemu -icount shift=0`` (deterministic: the
same binary and input always give the same count). They are instructions, not cycles: the
estimated loads below assume one cycle per instruction, while the M7 dual-issues some pairs and
stalls on memory, so the Daisy's own DWT cycle counter (shown by the inference firmware) is the
final word. The original blog firmware's approach (one arm_mat_mult_f32 + arm_add_f32 per tap
per sample) is measured in the same run on the same model, as the baseline of the speed-up.
Host speeds of the native and Python engines are measured in the same run too.

With ``formats`` (``--quantize q15,q7``), the same model quantized to each format is measured
in the same run beside float32 (rows carry a "format"), with its weight flash (2 and 1 bytes a
weight against float32's 4). A quantized header is measured as it is; its baseline is the
per-sample approach (float32 only, as the blog firmware ran) on the same weights in float32.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from daisynet.host_sim.daisy_target import BLOCK_FRAMES, DTCM_BYTES, SAMPLE_RATE_HZ, daisy_target
from daisynet.host_sim.engine import Simulator
from daisynet.host_sim.engines import family_refusal
from daisynet.host_sim.m7 import M7Engine
from daisynet.host_sim.model_defn import ModelSpec, read_header, render_header
from daisynet.host_sim.native import BACKENDS, REPO, NativeEngine
from daisynet.tools.measure.plan import (
    FLOAT32,
    PLAN_BLOCK,
    history_bytes,
    quantized_header,
    real_time_verdict,
)

DEFAULT_HEADER = REPO / "firmware" / "model" / "model_defn.h"
DEFAULT_BLOCK_SIZES = (1, 16, 32, 48, 64)
LOAD_SAMPLE_RATES = (32_000, SAMPLE_RATE_HZ, 96_000)  # the Daisy's rate and two others
BASELINE = "per_sample"  # host_sim.m7.M7_BACKENDS: the original per-sample approach
BASELINE_BLOCK = BLOCK_FRAMES  # the baseline goes sample by sample whatever the block
HOST_BLOCK = BLOCK_FRAMES  # the Python simulator's block
HOST_SECONDS = 10  # of audio for the native engines' speed


def _frames_per_second(render: Callable[[], np.ndarray], frames: int) -> float:
    start = time.perf_counter()
    render()
    return frames / max(time.perf_counter() - start, 1e-9)


def _times(speed: float) -> str:
    """A real-time factor: whole numbers from 10 up, two significant digits below."""
    return f"{speed:,.0f}x" if speed >= 10 else f"{speed:.2g}x"


def as_float32(spec: ModelSpec) -> ModelSpec:
    """A quantized spec's weights in float32 (its float weights are the integers' exact
    values), for engines that run float32 only."""
    if spec.family == "gru":
        return dataclasses.replace(spec, number_format=FLOAT32, recurrent_quant=None)
    layers = [dataclasses.replace(layer, quant=None) for layer in spec.layers]
    return dataclasses.replace(spec, layers=layers, number_format=FLOAT32, float_sha256=None)


def bench(header: str | Path, block_sizes: tuple[int, ...], seconds: float,
          log: Callable[[str], None], formats: tuple[str, ...] = ()) -> dict:
    """Measure ``header``'s model, and, for a float32 header, the same model quantized to
    each of ``formats``; returns the figures that were printed."""
    from daisynet.training.export import excitation

    spec = read_header(header)
    if problem := family_refusal("m7", spec.family):
        raise ValueError(f"{header}: {problem}")
    own_format = spec.number_format
    arch = spec.architecture()
    history = history_bytes(arch, own_format)
    if history > DTCM_BYTES:
        raise ValueError(f"{header}: its layer history alone takes {history:,} B of RAM, over "
                         f"the Daisy's {DTCM_BYTES:,} B DTCM, so it cannot run there; "
                         "`daisynet plan` shows what fits")
    macs = arch.macs_per_sample
    rate = spec.sample_rate or SAMPLE_RATE_HZ
    target = daisy_target()
    if spec.family == "wavenet":
        shape, shortest = f"receptive field {arch.receptive_field}", arch.receptive_field
    else:
        shape, shortest = f"GRU of {arch.units} units", 1
    frames = max(int(seconds * rate), shortest)
    inputs = excitation(spec.input_names, frames, rate)
    log(f"model    {spec.name}: {arch.parameters} parameters, {macs} MACs/sample, {shape}, "
        f"{rate} Hz")
    log(f"emulated Cortex-M7 (QEMU mps2-an500, -icount shift=0), {frames} frames; load assumes "
        f"1 cycle per instruction at {target.clock_mhz:g} MHz (real cycles come from the Daisy)")

    scratch = tempfile.TemporaryDirectory(prefix="daisynet-bench-")
    baseline_header = Path(header)
    if spec.quantized:
        baseline_header = Path(scratch.name) / "model_defn_float32.h"
        baseline_header.write_text(render_header(as_float32(spec), "daisynet bench baseline"))
        if formats:
            log(f"note: {header} is already {own_format}: measured as it is (--quantize "
                "applies to float32 headers)")
        formats = ()
    if spec.family == "gru" and set(formats) - {"q15"}:
        log("note: a GRU runs in float32 or q15 only: --quantize q7 is left out")
        formats = tuple(f for f in formats if f == "q15")
    # The per-sample baseline is the blog firmware's way of running a wavenet; a GRU has none.
    first_engine = M7Engine(baseline_header, BASELINE if spec.family == "wavenet" else "fast")
    if frames > first_engine.max_frames:
        raise ValueError(f"--seconds {seconds:g} is {frames:,} frames; the emulated Cortex-M7's "
                         f"RAM holds at most {first_engine.max_frames:,} frames of this model "
                         f"({first_engine.max_frames / rate:.1f} s at {rate} Hz)")
    baseline = None
    if spec.family == "wavenet":
        baseline = first_engine.run(inputs, BASELINE_BLOCK).instructions_per_sample
    rates = "  ".join(f"{r // 1000:>3d}k" for r in LOAD_SAMPLE_RATES)
    log(f"  backend  block  instr/sample  per MAC  speed-up  load at {rates}")
    rows = []
    footprints = {}
    headers = {own_format: Path(header)}
    for number_format in formats:
        headers[number_format] = quantized_header(
            spec, number_format, Path(scratch.name) / f"model_defn_{number_format}.h", inputs)
    for number_format, format_header in headers.items():
        for backend in BACKENDS:
            m7 = M7Engine(format_header, backend)
            footprints.setdefault(number_format, {})[backend] = {
                "flash_bytes": m7.build.flash_bytes, "ram_bytes": m7.build.ram_bytes}
            for block_size in block_sizes:
                run = m7.run(inputs, block_size)
                per_sample = run.instructions_per_sample
                loads = {rate_hz: per_sample / target.cycles_per_sample(rate_hz)
                         for rate_hz in LOAD_SAMPLE_RATES}
                rows.append({
                    "format": number_format,
                    "backend": backend,
                    "block_size": block_size,
                    "instructions_per_sample": round(per_sample, 1),
                    "instructions_per_mac": round(per_sample / macs, 2),
                    "speedup_vs_per_sample": (None if baseline is None
                                              else round(baseline / per_sample, 2)),
                    **{f"load_at_{rate_hz}_hz": round(load, 4) for rate_hz, load in loads.items()},
                    "allocations": run.allocations,
                })
                load_text = "  ".join(f"{100 * load:3.0f}%" for load in loads.values())
                label = backend if number_format == FLOAT32 else f"{backend} {number_format}"
                speedup = "-" if baseline is None else f"{baseline / per_sample:.1f}x"
                log(f"  {label:9s}{block_size:5d}  {per_sample:12,.0f}  "
                    f"{per_sample / macs:7.2f}  {speedup:>8s}  "
                    f"{load_text:>{8 + len(rates)}s}")
    same_weights = " on the same weights in float32" if spec.quantized else ""
    if baseline is not None:
        log(f"  {BASELINE:7s}  (the original approach, one arm_mat_mult_f32 + arm_add_f32 per "
            f"tap per sample{same_weights}): {baseline:,.0f} instructions/sample, "
            f"{baseline / macs:.1f} per MAC")
    weights = {number_format: spec.weight_flash_bytes(number_format) for number_format in headers}
    for number_format, by_backend in footprints.items():
        for backend, footprint in by_backend.items():
            label = backend if number_format == FLOAT32 else f"{backend} {number_format}"
            log(f"  footprint {label:9s}: flash {footprint['flash_bytes']:,} B (engine code, "
                f"weights {weights[number_format]:,} B, CMSIS kernels it calls), RAM "
                f"{footprint['ram_bytes']:,} B (engine state for blocks up to 64)")

    real_time = None
    at_daisy_block = [row for row in rows if row["backend"] == "fast"
                      and row["block_size"] == PLAN_BLOCK and row["format"] == own_format]
    if at_daisy_block:
        real_time = real_time_verdict(at_daisy_block[0]["instructions_per_sample"], rate)
        log(real_time["message"])

    # One Process() call over the whole host signal (the engine splits it into 64-frame
    # blocks), so Python's per-call overhead stays out of the figure; best of three.
    host_inputs = excitation(spec.input_names, HOST_SECONDS * rate, rate)
    speeds = {}
    for number_format, format_header in headers.items():
        for backend in BACKENDS:
            native = NativeEngine(format_header, backend)
            native.reset()
            speeds.setdefault(number_format, {})[backend] = max(
                _frames_per_second(lambda engine=native: engine.process(host_inputs),
                                   len(host_inputs)) for _ in range(3)) / rate
    scratch.cleanup()
    native_speed = speeds[own_format]
    # The GRU simulator goes frame by frame in Python (tens of times slower than real time):
    # a tenth of a second tells its speed.
    python_frames = frames if spec.family == "wavenet" else min(frames, rate // 10)
    python_speed = _frames_per_second(
        lambda: Simulator(spec).render(inputs[:python_frames], HOST_BLOCK), python_frames) / rate
    log("host     one core: native "
        + ", ".join(f"{backend}{'' if number_format == FLOAT32 else ' ' + number_format} "
                    f"{speed:,.0f}x" for number_format, by_backend in speeds.items()
                    for backend, speed in by_backend.items())
        + f" real time; python simulator (block {HOST_BLOCK}) {_times(python_speed)} real time")
    return {
        "model": spec.name,
        "parameters": arch.parameters,
        "macs_per_sample": macs,
        "sample_rate": rate,
        "frames": frames,
        "core_clock_hz": target.core_clock_hz,
        "cycles_per_instruction_assumed": 1,
        "cycle_budget_per_sample": target.cycles_per_sample(rate),
        "m7": rows,
        "per_sample_instructions_per_sample": None if baseline is None else round(baseline, 1),
        "m7_footprint": footprints[own_format],
        "formats": list(headers),
        "m7_footprint_by_format": footprints,
        "weight_flash_bytes": weights,
        "native_realtime_factor": {backend: round(speed, 1)
                                   for backend, speed in native_speed.items()},
        "native_realtime_factor_by_format": {
            number_format: {backend: round(speed, 1) for backend, speed in by_backend.items()}
            for number_format, by_backend in speeds.items()},
        "python_realtime_factor": float(_times(python_speed).rstrip("x").replace(",", "")),
        "real_time": real_time,
    }


def bench_bank(headers: list[str | Path], seconds: float, log: Callable[[str], None]) -> dict:
    """A model bank's cost (firmware/core/bank_slot.h) on the emulated Cortex-M7, all
    ``headers`` in one image: each slot's flash, RAM and instructions per sample at the Daisy's
    block, the flash the bank takes against what the inference app leaves for models, and the
    two costliest slots together (what running both, as a crossfade between them does, costs);
    returns the figures that were printed."""
    from daisynet.host_sim.daisy_target import model_flash_budget
    from daisynet.host_sim.m7 import M7Bank
    from daisynet.training.export import excitation

    specs = [read_header(header) for header in headers]
    for header, spec in zip(headers, specs, strict=True):
        if problem := family_refusal("m7", spec.family):
            raise ValueError(f"{header}: {problem}")
    target = daisy_target()
    budget = target.cycles_per_sample(SAMPLE_RATE_HZ)
    bank = M7Bank(headers)
    frames = max(PLAN_BLOCK, int(seconds * SAMPLE_RATE_HZ))
    log(f"bank     {len(headers)} models in one image on the emulated Cortex-M7 (QEMU "
        f"mps2-an500, -icount shift=0), {frames} frames each at blocks of {PLAN_BLOCK}; load "
        f"assumes 1 cycle per instruction at {target.clock_mhz:g} MHz")
    log(f"  slot  {'model':20s} {'format':7s} {'flash B':>8s} {'RAM B':>7s} {'instr/sample':>12s}"
        f"  load at 48k  inputs")
    slots = []
    for index, (spec, slot) in enumerate(zip(specs, bank.slots, strict=True)):
        rate = spec.sample_rate or SAMPLE_RATE_HZ
        per_sample = slot.run(excitation(spec.input_names, frames, rate),
                              PLAN_BLOCK).instructions_per_sample
        slots.append({"slot": index, "header": str(headers[index]), "model": spec.name,
                      "format": spec.number_format, "inputs": spec.input_names,
                      "flash_bytes": slot.build.flash_bytes, "ram_bytes": slot.build.ram_bytes,
                      "instructions_per_sample": round(per_sample, 1),
                      "load_at_48000_hz": round(per_sample / budget, 4)})
        log(f"  {index:4d}  {spec.name[:20]:20s} {spec.number_format:7s} "
            f"{slot.build.flash_bytes:8,d} {slot.build.ram_bytes:7,d} {per_sample:12,.0f}  "
            f"{100 * per_sample / budget:10.1f}%  {','.join(spec.input_names)}")
    room = model_flash_budget()
    flash = bank.build.flash_bytes
    log(f"  shared (slot switch, CMSIS kernels the slots call): flash "
        f"{bank.build.shared_flash_bytes:,} B")
    log(f"flash    {flash:,} B for the bank, of the {room:,} B the inference app leaves for "
        + ("models: fits" if flash <= room else f"models: over by {flash - room:,} B"))
    costliest = sorted(slots, key=lambda row: row["instructions_per_sample"])[-2:]
    pair = sum(row["instructions_per_sample"] for row in costliest)
    if len(costliest) == 2:
        log(f"pair     the two costliest, slots {costliest[1]['slot']} and {costliest[0]['slot']} "
            f"together (a crossfade between them runs both): {pair:,.0f} instructions/sample, "
            f"{100 * pair / budget:.0f}% of the {budget:,.0f} cycles per sample at 48 kHz")
    count = len(slots)
    neighbours = [slots[i]["instructions_per_sample"] + slots[(i + 1) % count][
        "instructions_per_sample"] for i in range(count)] if count > 1 else []
    if neighbours:
        log("morph    with `flash --morph`, each model and the next run together: "
            + ", ".join(f"{i}+{(i + 1) % count} {value:,.0f}"
                        for i, value in enumerate(neighbours))
            + f" instructions/sample; the costliest is {100 * max(neighbours) / budget:.0f}% of "
            "the cycles at 48 kHz")
    return {"slots": slots, "shared_flash_bytes": bank.build.shared_flash_bytes,
            "morph_pairs_instructions_per_sample": [round(value, 1) for value in neighbours],
            "flash_bytes": flash, "flash_room_bytes": room, "fits_flash": flash <= room,
            "costliest_pair_instructions_per_sample": round(pair, 1),
            "cycle_budget_per_sample": budget}
