"""``daisynet bench``: what a model costs on the Daisy, measured on the emulated Cortex-M7.

Instructions per sample come from SysTick under ``qemu -icount shift=0`` (deterministic: the
same binary and input always give the same count). They are instructions, not cycles: the M7
dual-issues some pairs and stalls on memory, so the Daisy's own DWT cycle counter (shown by the
inference firmware) is the final word. Host speeds of the Python and native engines are
measured in the same run, as multiples of real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from host_sim.daisy_target import daisy_target
from host_sim.engine import Simulator
from host_sim.header import read_header
from host_sim.m7 import M7Engine
from host_sim.native import REPO, NativeEngine

DEFAULT_HEADER = REPO / "firmware" / "model" / "model_defn.h"


def _frames_per_second(render: Callable[[], np.ndarray], frames: int) -> float:
    start = time.perf_counter()
    render()
    return frames / max(time.perf_counter() - start, 1e-9)


def bench(header: str | Path, block_sizes: tuple[int, ...], seconds: float,
          log: Callable[[str], None]) -> dict:
    """Measure ``header``'s model; returns the figures that were printed."""
    from training.export import excitation

    spec = read_header(header)
    arch = spec.architecture()
    rate = spec.sample_rate or 48_000
    target = daisy_target()
    budget = target.cycles_per_sample(rate)  # cycles available per sample at the Daisy's clock
    frames = max(int(seconds * rate), arch.receptive_field)
    inputs = excitation(spec.input_names, frames, rate)
    log(f"model    {spec.name}: {arch.parameters} parameters, {arch.macs_per_sample} MACs/sample, "
        f"receptive field {arch.receptive_field}, {rate} Hz")

    m7 = M7Engine(header)
    if frames > m7.max_frames:
        raise ValueError(f"--seconds {seconds:g} is {frames:,} frames; the emulated Cortex-M7's "
                         f"RAM holds at most {m7.max_frames:,} frames of this model "
                         f"({m7.max_frames / rate:.1f} s at {rate} Hz)")
    log(f"emulated Cortex-M7 (QEMU mps2-an500, -icount shift=0), {frames} frames:")
    log(f"  block  instructions/sample  per MAC  of the budget at {target.clock_mhz:g} MHz")
    per_block = []
    for block_size in block_sizes:
        run = m7.run(inputs, block_size)
        per_sample = run.instructions_per_sample
        row = {
            "block_size": block_size,
            "instructions_per_sample": round(per_sample, 1),
            "instructions_per_mac": round(per_sample / arch.macs_per_sample, 2),
            "budget_fraction": round(per_sample / budget, 4),
            "allocations": run.allocations,
        }
        per_block.append(row)
        log(f"  {block_size:5d}  {per_sample:19,.0f}  {row['instructions_per_mac']:7.1f}  "
            f"{100 * row['budget_fraction']:6.1f} % of {budget:,.0f} cycles")
    log(f"  footprint: flash {m7.build.flash_bytes:,} B (weights {4 * arch.parameters:,} B), "
        f"RAM {m7.build.ram_bytes:,} B (engine state for blocks up to 64)")

    host_block = 48
    native = NativeEngine(header)
    native.reset()
    native_speed = _frames_per_second(lambda: native.render(inputs, host_block), frames) / rate
    python_speed = _frames_per_second(
        lambda: Simulator(spec).render(inputs, host_block), frames) / rate
    log(f"host     at block {host_block}: native core {native_speed:,.0f}x real time, python "
        f"simulator {python_speed:,.0f}x real time")
    return {
        "model": spec.name,
        "parameters": arch.parameters,
        "macs_per_sample": arch.macs_per_sample,
        "sample_rate": rate,
        "frames": frames,
        "core_clock_hz": target.core_clock_hz,
        "cycle_budget_per_sample": budget,
        "m7": per_block,
        "m7_flash_bytes": m7.build.flash_bytes,
        "m7_ram_bytes": m7.build.ram_bytes,
        "native_realtime_factor": round(native_speed, 1),
        "python_realtime_factor": round(python_speed, 1),
    }
