"""What fits on the Daisy, estimated without a build: for ``daisynet train`` to pick the largest
model of each family that runs at a dataset's rate (training may not import ``plan``, which
measures on the emulated Cortex-M7, and a user's machine may have no ARM toolchain).

Instructions per sample are a linear fit to ``plan``'s measurements (the fast engine at the
Daisy's block, README "Device suite"); flash is the weights' exact size plus the most engine
code measured beside them. ``daisynet plan`` stays the final word short of a Daisy; the m7 tests
check these estimates against it where they decide a default.
"""

from __future__ import annotations

from daisynet.host_sim.daisy_target import daisy_target, model_flash_budget
from daisynet.host_sim.model_defn import Architecture, GruArchitecture
from daisynet.host_sim.model_defn.spec import MAX_FILTERS, MAX_GRU_UNITS

SAFETY_MARGIN = 0.8  # of the cycles per sample a model may use; the rest is for the app
# Least squares over plan's emulated-M7 measurements of 2026-12-03 (float32, fast engine, block
# 48). Wavenet, 4 blocks of kernel 4, widths 8-22, 1-4 inputs: instructions = a*MACs + b, within
# 2.1% of every point (width 18, 2 inputs: 6,659 measured, 6,614 estimated). GRU, 8-52 units,
# 1-4 inputs: a*MACs + b*units + c (the gates' activations cost per unit), within 1.0%.
WAVENET_INSTRUCTIONS = (1.1997, 200.65)  # per MAC, per sample
GRU_INSTRUCTIONS = (1.1207, 87.93, 31.89)  # per MAC, per unit, per sample
# Engine code beside the weights in the same measurements: the most seen (the fast engine is
# specialised per model; 3,088-6,828 B for those wavenets, 1,532-3,512 B for those GRUs).
CODE_BYTES = {"wavenet": 6_828, "gru": 3_512}
ITEM_BYTES = 4  # float32 weights
ALIGNMENT = 16  # bytes; each weight array in model_defn.h is aligned so


def _array_bytes(values: int) -> int:
    return -(-ITEM_BYTES * values // ALIGNMENT) * ALIGNMENT


def weight_bytes(arch: Architecture | GruArchitecture) -> int:
    """Flash the float32 weight arrays of ``arch`` take in model_defn.h, each aligned."""
    if isinstance(arch, GruArchitecture):
        gates = 3 * arch.units
        return sum(map(_array_bytes, (arch.inputs * gates, arch.units * gates, gates, gates,
                                      arch.units * arch.outputs, arch.outputs,
                                      arch.inputs * arch.outputs)))
    return sum(_array_bytes(kernel * cin * cout) + _array_bytes(cout)
               for kernel, _, cin, cout in arch.layer_shapes())


def estimated_instructions(arch: Architecture | GruArchitecture) -> float:
    """Instructions per sample on the Daisy's fast engine at its block, estimated."""
    if isinstance(arch, GruArchitecture):
        per_mac, per_unit, fixed = GRU_INSTRUCTIONS
        return per_mac * arch.macs_per_sample + per_unit * arch.units + fixed
    per_mac, fixed = WAVENET_INSTRUCTIONS
    return per_mac * arch.macs_per_sample + fixed


def estimated_load(arch: Architecture | GruArchitecture, sample_rate: int) -> float:
    """Estimated share of the Daisy's cycles per sample at ``sample_rate`` that ``arch`` uses."""
    return estimated_instructions(arch) / daisy_target().cycles_per_sample(sample_rate)


def fits_estimated(arch: Architecture | GruArchitecture, sample_rate: int) -> bool:
    """Whether ``arch`` is estimated to fit at ``sample_rate``: within SAFETY_MARGIN of the
    cycles, and its weights and engine code within the inference app's flash budget. (RAM
    never binds first for these families: the widest 4-block wavenet the flash allows keeps
    79 KB of its 128 KB DTCM, a GRU of 64 units 40 KB.)"""
    family = "gru" if isinstance(arch, GruArchitecture) else "wavenet"
    return (estimated_load(arch, sample_rate) <= SAFETY_MARGIN
            and weight_bytes(arch) + CODE_BYTES[family] <= model_flash_budget())


def _largest(high: int, ok) -> int | None:
    """Largest n in 1..high with ok(n), ok being true up to some n and false after."""
    fitting = [n for n in range(1, high + 1) if ok(n)]
    return fitting[-1] if fitting else None


def widest_wavenet(inputs: int, sample_rate: int, blocks: int = 4,
                   kernel_size: int = 4) -> Architecture | None:
    """The widest wavenet of ``blocks`` equal blocks estimated to fit at ``sample_rate``; None
    if not even 1 filter does."""
    width = _largest(MAX_FILTERS, lambda n: fits_estimated(
        Architecture(inputs, (n,) * blocks, kernel_size), sample_rate))
    return None if width is None else Architecture(inputs, (width,) * blocks, kernel_size)


def largest_gru(inputs: int, sample_rate: int,
                skip_input: int | None = None) -> GruArchitecture | None:
    """The GRU of the most units estimated to fit at ``sample_rate``; None if not even 1 does."""
    units = _largest(MAX_GRU_UNITS, lambda n: fits_estimated(
        GruArchitecture(inputs, n, skip_input=skip_input), sample_rate))
    return None if units is None else GruArchitecture(inputs, units, skip_input=skip_input)
