"""The boot self-check's input and reference (firmware/core/self_check.h runs it on the Daisy).

The check input is made from a 32-bit xorshift generator, the same integer steps on the host and
on the device, and every value is exact in float32, so both sides feed the model the very same
frames: audio inputs (names starting "audio") get a new value every frame in -1..1, the others
(knobs, CV) one value per 48-frame block in 0..1, as the Patch holds its controls. The reference
is what the model's fast engine outputs on it, built for and run on the emulated Cortex-M7 with
the Daisy's flags; it is stored in model_defn.h (SelfCheck) by `daisynet export`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from daisynet.host_sim.model_defn import SelfCheck, read_header, with_self_check

CHECK_FRAMES = 1024  # 21 ms at 48 kHz: past the default model's 256-frame receptive field
CHECK_STRIDE = 32  # every 32nd output is stored: 32 values per output, 128 B
CHECK_BLOCK = 48  # frames per call, the inference app's block
CHECK_SEED = 0x9E3779B9  # any non-zero 32-bit value
# Largest |output - reference| a float32 model may show, relative to its largest reference
# magnitude (at least 1). The fast engine's hot loops fix their order of operations in
# assembly, but the code around them is C++ that another compiler version may contract into
# fused multiply-adds differently; the x86-64 build (no FMA) of the same engine stays within a
# quarter of this on every model the tests check. A wrong or corrupted weight moves the outputs
# by orders of magnitude more. Fixed-point wavenets compare bit for bit.
FLOAT_TOLERANCE = 1e-5


def _xorshift32(state: int) -> int:
    state ^= (state << 13) & 0xFFFFFFFF
    state ^= state >> 17
    state ^= (state << 5) & 0xFFFFFFFF
    return state


def check_inputs(input_names: list[str], frames: int = CHECK_FRAMES) -> np.ndarray:
    """(frames, inputs) float32: the check input, frame by frame, channel by channel in the
    generator's order (firmware/core/self_check.h draws identically)."""
    out = np.zeros((frames, len(input_names)), np.float32)
    audio = [name.startswith("audio") for name in input_names]
    state = CHECK_SEED
    held = np.zeros(len(input_names), np.float32)
    for frame in range(frames):
        for channel, is_audio in enumerate(audio):
            if is_audio or frame % CHECK_BLOCK == 0:
                state = _xorshift32(state)
                # Top 24 bits: exact in float32 (signed for audio: -1 .. 1 - 2^-23).
                bits = state >> 8
                held[channel] = ((bits - (1 << 24) if bits >= 1 << 23 else bits) * 2.0**-23
                                 if is_audio else bits * 2.0**-24)
            out[frame, channel] = held[channel]
    return out


def compute_self_check(header: str | Path) -> SelfCheck:
    """The reference of ``header``'s model: its fast engine's outputs on the check input, at
    blocks of CHECK_BLOCK on the emulated Cortex-M7 (raises M7Error without the toolchain)."""
    from daisynet.host_sim.m7 import M7Engine

    spec = read_header(header)
    run = M7Engine(header, "fast").run(check_inputs(spec.input_names), CHECK_BLOCK)
    kept = run.outputs[CHECK_STRIDE - 1::CHECK_STRIDE]
    # A q15/q7 wavenet is integer arithmetic end to end; a q15 GRU's gates are still float.
    exact = spec.family == "wavenet" and spec.number_format != "float32"
    tolerance = 0.0 if exact else FLOAT_TOLERANCE * max(1.0, float(np.abs(kept).max()))
    return SelfCheck(frames=CHECK_FRAMES, stride=CHECK_STRIDE, outputs=kept.astype(np.float32),
                     tolerance=float(np.float32(tolerance)),
                     instructions_per_sample=round(run.instructions_per_sample))


def add_self_check(header: str | Path) -> SelfCheck:
    """Rewrite ``header`` (atomically) with its model's self-check reference; nothing else in
    it changes."""
    from daisynet.host_sim.files import write_text

    check = compute_self_check(header)
    write_text(Path(header), with_self_check(Path(header).read_text(), check))
    return check
