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

from daisynet.host_sim.model_defn import AnyModelSpec, UnsupportedModelError

ENGINES = ("python", "native", "m7")

# The model families each implementation runs so far: "simulator" is host_sim's cmsisdsp
# simulator (the python engine), "firmware" the C++ core (native, m7 and the Daisy apps). A
# family gets its name here when its implementation lands; until then every tool that would run
# it refuses in one line (``family_refusal``) rather than failing somewhere inside.
IMPLEMENTATION_FAMILIES = {"simulator": ("wavenet", "gru"), "firmware": ("wavenet", "gru")}
_IMPLEMENTATIONS = {"python": "simulator", "native": "firmware", "m7": "firmware"}
_DESCRIPTIONS = {"simulator": "the cmsisdsp simulator (host_sim/engine.py)",
                 "firmware": "the firmware core (firmware/core)"}


def family_refusal(implementation: str, family: str) -> str | None:
    """Why ``implementation`` ("simulator", "firmware", or an engine of ENGINES) cannot run a
    model of ``family``, in one line; None when it can."""
    implementation = _IMPLEMENTATIONS.get(implementation, implementation)
    if family in IMPLEMENTATION_FAMILIES[implementation]:
        return None
    return f"{_DESCRIPTIONS[implementation]} does not run {family} models yet"

# render(inputs (frames, inputs) float32, block_size) -> (frames, outputs) float32, from silence
Renderer = Callable[[np.ndarray, int], np.ndarray]


def renderer(engine: str, spec: AnyModelSpec, header: str | Path | None,
             progress: bool = False) -> Renderer:
    """A renderer of ``engine`` for the model; native and m7 compile ``header`` (required).
    Raises UnsupportedModelError if the engine does not run the model's family."""
    if engine in ENGINES and (problem := family_refusal(engine, spec.family)):
        raise UnsupportedModelError(problem)
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
