"""The three implementations of the firmware's inference behind one call.

- ``python``: host_sim's cached-activation simulator on the cmsisdsp Python package.
- ``native``: the firmware's C++ core compiled for this machine, its fast backend (what the
  Daisy runs): fast, and within float32 rounding of python, not bit for bit (another summation
  order; 6.9e-6 at most on the default model's golden vectors, output peak 0.84).
- ``m7``: the same C++ core cross-compiled for the Cortex-M7 and run on QEMU (slow; short audio).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from daisynet.host_sim.model_defn import ModelSpec

ENGINES = ("python", "native", "m7")

# render(inputs (frames, inputs) float32, block_size) -> (frames, outputs) float32, from silence
Renderer = Callable[[np.ndarray, int], np.ndarray]


def renderer(engine: str, spec: ModelSpec, header: str | Path | None,
             progress: bool = False) -> Renderer:
    """A renderer of ``engine`` for the model; native and m7 compile ``header`` (required)."""
    if engine == "python":
        from daisynet.host_sim.engine import Simulator

        return lambda inputs, block_size: Simulator(spec).render(inputs, block_size, progress)
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if header is None:
        raise ValueError(f"the {engine} engine compiles a model_defn.h; none was given")
    if engine == "native":
        from daisynet.host_sim.native import NativeEngine

        native = NativeEngine(header)

        def render_native(inputs: np.ndarray, block_size: int) -> np.ndarray:
            native.reset()
            return native.render(inputs, block_size)

        return render_native
    from daisynet.host_sim.m7 import M7Engine

    return M7Engine(header).render
