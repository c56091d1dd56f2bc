"""What the suite's devices process, and how their knob turns: eurorack-like material at the
Patch's levels and a knob turned the way a person does, dealt from shuffled decks.

Material comes in segments of 0.3-1.5 s, each a source dealt from a shuffled deck of all of
them (``SOURCES``: four gliding oscillators, plucked strings, FM bells, drum hits, noise bursts;
all synthesized, nothing downloaded), each at its own peak level between 0.4 and 1.8 (the
Patch's full scale is +-2). The knob moves in segments of its own, each a motion dealt from a
deck of ``MOTIONS`` (held, swept slowly, swept fast, stepped) towards targets dealt from a deck
of knob-range fifths; it is read once per 48-frame block, as the datalogger reads it. So every
few seconds of a dataset hold every source, every motion and every part of the knob's range,
and each split of it sees them all (as training/builtin_data.py does for the demo).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from daisynet.host_sim.daisy_target import AUDIO_FULL_SCALE, BLOCK_FRAMES, SAMPLE_RATE_HZ
from daisynet.training.dataset import Dataset

SOURCES = ("saw", "square", "triangle", "sine", "pluck", "bell", "drums", "noise_bursts")
MOTIONS = ("held", "slow_sweep", "fast_sweep", "stepped")
SEGMENT_SECONDS = (0.3, 1.5)  # each material segment lasts this long, uniformly drawn
PEAK_LEVELS = (0.4, 1.8)  # each segment's peak, uniformly drawn (the Patch's full scale: 2.0)
LOWEST_HZ = 50.0
OCTAVES = 5  # glides and notes span LOWEST_HZ .. LOWEST_HZ * 2**OCTAVES
GLIDE_SECONDS = (0.1, 1.0)
KNOB_BINS = 5  # knob targets are dealt from this many equal parts of 0..1
MOTION_SECONDS = {"held": (0.3, 2.0), "slow_sweep": (1.0, 3.0), "fast_sweep": (0.1, 0.4),
                  "stepped": (0.5, 2.0)}
STEP_SECONDS = (0.08, 0.4)  # a stepped knob stays this long on each value
ADC_NOISE = 2e-3  # knob reading noise, in knob units, per block (as the demo's data has)
INPUT_NOISE = 1e-4  # the audio input's noise floor

# Recorded in each dataset's source; changes whenever the same seed would give other samples.
GENERATOR = "daisynet device suite v1"
INPUTS = ["knob_1", "audio_in_1"]
TARGET = "audio_in_2"
CHANNELS = ["audio_in_1", "audio_in_2", "knob_1"]  # as a capture orders them


def dealt(rng: np.random.Generator, kinds: int):
    """0 .. kinds-1 forever, from shuffled decks: each run of ``kinds`` deals holds every one."""
    while True:
        yield from rng.permutation(kinds).tolist()


def _seconds(rng: np.random.Generator, span: tuple[float, float]) -> int:
    return max(1, int(rng.uniform(*span) * SAMPLE_RATE_HZ))


def _glide_phase(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Oscillator phase (cycles) whose pitch glides in log-frequency between targets dealt from
    the octaves."""
    octaves = dealt(rng, OCTAVES)
    log_freq = np.empty(frames)
    current = rng.uniform(0, OCTAVES)
    start = 0
    while start < frames:
        length = _seconds(rng, GLIDE_SECONDS)
        target = next(octaves) + rng.uniform()
        log_freq[start : start + length] = np.linspace(current, target, length,
                                                       endpoint=False)[: frames - start]
        current, start = target, start + length
    return np.cumsum(LOWEST_HZ * 2.0**log_freq / SAMPLE_RATE_HZ)


def _oscillator(shape: str):
    def render(rng: np.random.Generator, frames: int) -> np.ndarray:
        phase = _glide_phase(rng, frames) % 1.0
        if shape == "saw":
            return 2.0 * phase - 1.0
        if shape == "square":
            return np.where(phase < 0.5, 1.0, -1.0)
        if shape == "triangle":
            return 4.0 * np.abs(phase - 0.5) - 1.0
        return np.sin(2.0 * np.pi * phase)

    return render


def _note_starts(rng: np.random.Generator, frames: int, gap: tuple[float, float]) -> list[int]:
    starts, at = [], 0
    while at < frames:
        starts.append(at)
        at += _seconds(rng, gap)
    return starts


def _note_hz(rng: np.random.Generator) -> float:
    return LOWEST_HZ * 2.0 ** rng.uniform(1, OCTAVES)


def _pluck(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Karplus-Strong strings: a noise burst into a delay line with an averaging, decaying
    feedback loop, one note every 0.15-0.6 s."""
    out = np.zeros(frames)
    for start in _note_starts(rng, frames, (0.15, 0.6)):
        delay = int(SAMPLE_RATE_HZ / _note_hz(rng))
        decay = rng.uniform(0.985, 0.998)
        excitation = np.zeros(frames - start)
        excitation[:delay] = rng.uniform(-1, 1, min(delay, frames - start))
        feedback = np.zeros(delay + 2)
        feedback[0], feedback[delay], feedback[delay + 1] = 1.0, -decay / 2, -decay / 2
        out[start:] += lfilter([1.0], feedback, excitation)
    return out


def _bell(rng: np.random.Generator, frames: int) -> np.ndarray:
    """FM bells: a sine carrier modulated at an inharmonic ratio, index and level decaying."""
    out = np.zeros(frames)
    for start in _note_starts(rng, frames, (0.3, 1.2)):
        t = np.arange(frames - start) / SAMPLE_RATE_HZ
        carrier = _note_hz(rng)
        ratio = rng.choice([1.4, 2.76, 3.5])
        decay = rng.uniform(0.4, 2.0)
        index = rng.uniform(1.0, 5.0) * np.exp(-t / (0.5 * decay))
        out[start:] += np.exp(-t / decay) * np.sin(
            2 * np.pi * carrier * t + index * np.sin(2 * np.pi * carrier * ratio * t))
    return out


def _drums(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Kick (a sine swept down from 150 Hz), snare (noise and a 180 Hz tone) and hi-hat
    (differentiated noise) on a grid of eighth notes at 90-160 BPM."""
    out = np.zeros(frames)
    eighth = 60.0 / rng.uniform(90, 160) / 2
    for start in range(0, frames, int(eighth * SAMPLE_RATE_HZ)):
        t = np.arange(frames - start) / SAMPLE_RATE_HZ
        hit = rng.choice(["kick", "snare", "hat", "rest"])
        if hit == "kick":
            sweep = 45.0 + 105.0 * np.exp(-t / 0.04)
            out[start:] += np.exp(-t / 0.3) * np.sin(2 * np.pi * np.cumsum(sweep) /
                                                      SAMPLE_RATE_HZ)
        elif hit == "snare":
            out[start:] += np.exp(-t / 0.12) * (0.6 * rng.standard_normal(len(t))
                                                + 0.5 * np.sin(2 * np.pi * 180 * t))
        elif hit == "hat":
            out[start:] += np.exp(-t / 0.04) * np.diff(rng.standard_normal(len(t) + 1))
    return out


def _noise_bursts(rng: np.random.Generator, frames: int) -> np.ndarray:
    """White noise in bursts of 20-300 ms with a fast attack and an exponential decay."""
    out = np.zeros(frames)
    for start in _note_starts(rng, frames, (0.05, 0.5)):
        length = min(frames - start, _seconds(rng, (0.02, 0.3)))
        t = np.arange(length) / SAMPLE_RATE_HZ
        envelope = np.minimum(1.0, t / 0.002) * np.exp(-t / (length / SAMPLE_RATE_HZ / 3))
        out[start : start + length] += envelope * rng.standard_normal(length)
    return out


RENDERERS = {"saw": _oscillator("saw"), "square": _oscillator("square"),
             "triangle": _oscillator("triangle"), "sine": _oscillator("sine"), "pluck": _pluck,
             "bell": _bell, "drums": _drums, "noise_bursts": _noise_bursts}


def material(rng: np.random.Generator, frames: int) -> tuple[np.ndarray, list[str]]:
    """The dry audio (frames,) and the source of each segment, in order."""
    sources = dealt(rng, len(SOURCES))
    audio = np.zeros(frames)
    played = []
    start = 0
    while start < frames:
        length = min(frames - start, _seconds(rng, SEGMENT_SECONDS))
        source = SOURCES[next(sources)]
        segment = RENDERERS[source](rng, length)
        peak = float(np.max(np.abs(segment)))
        audio[start : start + length] = segment * (rng.uniform(*PEAK_LEVELS) / peak if peak
                                                   else 0.0)
        played.append(source)
        start += length
    return audio, played


def knob_motion(rng: np.random.Generator, blocks: int) -> tuple[np.ndarray, list[str]]:
    """The knob per block (0..1) as a person turns it, and each segment's motion, in order."""
    motions = dealt(rng, len(MOTIONS))
    bins = dealt(rng, KNOB_BINS)

    def target() -> float:
        return (next(bins) + rng.uniform()) / KNOB_BINS

    knob = np.empty(blocks)
    done = []
    value = target()
    start = 0
    block_seconds = BLOCK_FRAMES / SAMPLE_RATE_HZ
    while start < blocks:
        motion = MOTIONS[next(motions)]
        length = max(1, int(rng.uniform(*MOTION_SECONDS[motion]) / block_seconds))
        if motion == "held":
            segment = np.full(length, value)
        elif motion in ("slow_sweep", "fast_sweep"):
            end = target()
            segment = np.linspace(value, end, length)
            value = end
        else:
            segment = np.empty(length)
            at = 0
            while at < length:
                value = target()
                hold = max(1, int(rng.uniform(*STEP_SECONDS) / block_seconds))
                segment[at : at + hold] = value
                at += hold
        knob[start : start + length] = segment[: blocks - start]
        done.append(motion)
        start += length
    return np.clip(knob + rng.normal(0.0, ADC_NOISE, blocks), 0.0, 1.0), done


def make_device_dataset(device, seconds: float = 100.0, seed: int = 0) -> Dataset:
    """``device`` recorded as the datalogger would record it: ``seconds`` of material into
    audio input 1 (dry) with the knob turning, the device's output into audio input 2 (wet,
    clipped at the Patch's full scale as its converter would)."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    rng = np.random.default_rng(seed)
    frames = int(round(seconds * SAMPLE_RATE_HZ))
    blocks = -(-frames // BLOCK_FRAMES)
    dry, sources = material(rng, frames)
    knob, motions = knob_motion(rng, blocks)
    dry = (dry + rng.normal(0.0, INPUT_NOISE, frames)).astype(np.float32)
    wet = np.clip(device.render(dry, knob, SAMPLE_RATE_HZ), -AUDIO_FULL_SCALE, AUDIO_FULL_SCALE)
    knob_channel = np.repeat(knob, BLOCK_FRAMES)[:frames]
    samples = np.stack([dry, wet, knob_channel], axis=1).astype(np.float32)
    return Dataset(
        samples=samples, sample_rate=SAMPLE_RATE_HZ, channels=list(CHANNELS),
        source={
            "generator": GENERATOR, "device": device.name, "device_kind": device.kind,
            "device_package": device.package, "device_description": device.description,
            "seed": seed, "seconds": seconds, "block_size": BLOCK_FRAMES,
            "sources": list(SOURCES), "motions": list(MOTIONS),
            "segments": {"sources": len(sources), "motions": len(motions)},
            "suggested_inputs": INPUTS, "suggested_target": TARGET,
        },
    )
