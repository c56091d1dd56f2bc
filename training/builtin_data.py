"""The built-in dataset: a waveshaper patch recorded as the Daisy datalogger would record it.

The patch: a triangle core oscillator whose pitch glides over five octaves feeds a waveshaper
whose shape (sine, ramp, square or fold) is picked by two selector knobs; the shaper output is
patched back into audio input 2. The datalogger reads the knobs once per audio block, so the
knob channels are held for whole blocks, exactly like a real capture.

The recording is played the way a careful user records a patch: every few seconds it visits
every octave and every shape (glide targets and shapes are dealt from shuffled decks), so each
contiguous split (the last 6 s are validation and test, training/windows.py) holds all of them.
Drawn independently, a 6 s split could miss a shape or the top octave: validation then could not
see a model failing there (data seed 1 once had no pitch above 800 Hz in validation and 22% in
test; data seed 2 had 4% fold in validation and 33% in test, where a model failed).

Channels (WAV order, as the datalogger records them): audio_in_1 (triangle), audio_in_2
(shaper output, the training target), knob_1, knob_2 (0..1).
"""

from __future__ import annotations

import numpy as np

from daisynet.host_sim.daisy_target import BLOCK_FRAMES, SAMPLE_RATE_HZ
from daisynet.training.dataset import Dataset

LEVEL = 0.8  # peak level of both audio signals (full scale 1.0), leaving headroom like a DAC
LOWEST_HZ = 50.0
HIGHEST_HZ = 1600.0
OCTAVES = 5  # LOWEST_HZ .. HIGHEST_HZ
GLIDE_SECONDS = (0.2, 1.5)  # each pitch glide lasts this long, uniformly drawn
SELECTOR_HOLD_SECONDS = (0.05, 0.6)  # the selectors stay put this long on each shape
ADC_NOISE = 2e-3  # knob reading noise, in knob units (0..1), per block
INPUT_NOISE = 1e-4  # audio input noise floor (-80 dBFS), as a real converter adds

# Recorded in each dataset's source; the version changes whenever the same seed would give other
# samples (v2: octaves and shapes dealt from decks), so an old training.json is not matched with
# new data.
GENERATOR = "daisynet builtin waveshaper v2"
SHAPES = ("sine", "ramp", "square", "fold")
INPUTS = ["knob_1", "knob_2", "audio_in_1"]
TARGET = "audio_in_2"
CHANNELS = ["audio_in_1", "audio_in_2", "knob_1", "knob_2"]


def shape_index(knob_1: np.ndarray, knob_2: np.ndarray) -> np.ndarray:
    """Which shape the selectors pick: knob_1 is the low bit, knob_2 the high bit."""
    return (knob_1 > 0.5).astype(np.int64) + 2 * (knob_2 > 0.5).astype(np.int64)


def shaped(phase: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Shaper output (peak 1.0) for oscillator phase 0..1 and a shape index per sample."""
    triangle = 4.0 * np.abs(phase - 0.5) - 1.0  # +1 at phase 0, -1 at phase 0.5
    by_shape = np.stack(
        [
            np.cos(2.0 * np.pi * phase),  # sine, aligned with the triangle's peaks
            1.0 - 2.0 * phase,  # ramp down, resets where the triangle peaks
            np.where(phase < 0.5, 1.0, -1.0),  # square: high while the triangle falls
            np.sin(1.5 * np.pi * triangle),  # fold: the triangle wrapped past its peaks
        ]
    )
    return np.take_along_axis(by_shape, shape[None, :], axis=0)[0]


def _dealt(rng: np.random.Generator, kinds: int):
    """0 .. kinds-1 forever, from shuffled decks: each run of ``kinds`` deals holds every one."""
    while True:
        yield from rng.permutation(kinds).tolist()


def _pitch_glides(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Frequency per sample in Hz: linear glides in log-frequency between random pitches, each
    target in an octave dealt from a shuffled deck of the five."""
    log_low, log_high = np.log2(LOWEST_HZ), np.log2(HIGHEST_HZ)
    octave_width = (log_high - log_low) / OCTAVES
    octaves = _dealt(rng, OCTAVES)
    log_freq = np.empty(frames)
    start = 0
    current = rng.uniform(log_low, log_high)
    while start < frames:
        length = int(rng.uniform(*GLIDE_SECONDS) * SAMPLE_RATE_HZ)
        end = min(frames, start + length)
        target = log_low + (next(octaves) + rng.uniform()) * octave_width
        log_freq[start:end] = np.linspace(current, target, length, endpoint=False)[: end - start]
        current, start = target, end
    return 2.0**log_freq


def _selectors(rng: np.random.Generator, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The two selector knobs read once per block (near 0 or near 1, with ADC noise), set to
    shapes dealt from shuffled decks of the four, each held for a random time."""
    blocks = -(-frames // BLOCK_FRAMES)
    shapes = _dealt(rng, len(SHAPES))
    shape = np.empty(blocks, dtype=np.int64)
    start = 0
    while start < blocks:
        hold = int(rng.uniform(*SELECTOR_HOLD_SECONDS) * SAMPLE_RATE_HZ / BLOCK_FRAMES) + 1
        shape[start : start + hold] = next(shapes)
        start += hold
    readings = [np.clip((shape >> bit & 1) + rng.normal(0.0, ADC_NOISE, blocks), 0.0, 1.0)
                for bit in (0, 1)]  # knob_1 is the low bit, as shape_index reads them
    knob_1, knob_2 = (np.repeat(reading, BLOCK_FRAMES)[:frames] for reading in readings)
    return knob_1, knob_2


def make_waveshaper_dataset(seconds: float = 60.0, seed: int = 0) -> Dataset:
    """Generate the built-in dataset; the same seed and length give the same samples."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    rng = np.random.default_rng(seed)
    frames = int(round(seconds * SAMPLE_RATE_HZ))
    frequency = _pitch_glides(rng, frames)
    phase = np.cumsum(frequency / SAMPLE_RATE_HZ) % 1.0
    knob_1, knob_2 = _selectors(rng, frames)
    triangle = LEVEL * (4.0 * np.abs(phase - 0.5) - 1.0)
    audio_in_1 = triangle + rng.normal(0.0, INPUT_NOISE, frames)
    audio_in_2 = LEVEL * shaped(phase, shape_index(knob_1, knob_2))
    samples = np.stack([audio_in_1, audio_in_2, knob_1, knob_2], axis=1).astype(np.float32)
    return Dataset(
        samples=samples,
        sample_rate=SAMPLE_RATE_HZ,
        channels=list(CHANNELS),
        source={
            "generator": GENERATOR,
            "seed": seed,
            "seconds": seconds,
            "block_size": BLOCK_FRAMES,
            "shapes": list(SHAPES),
            "selector_rule": "shape = (knob_1 > 0.5) + 2 * (knob_2 > 0.5)",
            "pitch_range_hz": [LOWEST_HZ, HIGHEST_HZ],
            "suggested_inputs": INPUTS,
            "suggested_target": TARGET,
        },
    )
