"""What the conditioning inputs do: the model's output while one knob sweeps its range.

A knob (or CV) input is any input that is not an audio input: the datalogger names them
``knob_1`` .. ``knob_4`` and reads them once per audio block. For every knob, the model runs on
one period of real test audio with that knob held at values from the low to the high end of what
the training data covered (its 1st and 99th percentiles) and the other knobs held at the corners
the data covered, so the plot shows both the settings the model was trained on and the values in
between, where a model may do anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SWEEP_STEPS = 5  # knob values per sweep: the covered low end, the high end and three between
MAX_CORNER_KNOBS = 2  # other knobs beyond this many are held at their median, not at corners
COVERED_PERCENTILES = (1.0, 99.0)  # ignores the odd spike when finding a knob's covered range
SHORTEST_PERIOD_S = 0.0005  # 2 kHz: the highest pitch the period search looks for
LONGEST_PERIOD_S = 0.025  # 40 Hz: the lowest
FALLBACK_SECONDS = 0.01  # shown when the test audio has no clear period
PERIODIC_CORRELATION = 0.5  # normalised autocorrelation a period needs to count as one
# Split coverage (coverage_warnings): a knob's range in this many parts; a split misses a part
# with under MISSING_SHARE of its frames there while another split has PRESENT_SHARE of its own.
COVERAGE_BINS = 10
MISSING_SHARE = 0.002
PRESENT_SHARE = 0.02


def is_knob(name: str) -> bool:
    """Conditioning inputs: everything the datalogger does not record as audio."""
    return not name.startswith("audio")


@dataclass
class KnobSweep:
    """The output of one sweep panel: knob ``knob`` at each of ``values`` with the other knobs
    at ``held``; ``outputs[i]`` is the model's output (frames) for ``values[i]``."""

    knob: str
    values: list[float]
    held: dict[str, float]
    outputs: np.ndarray  # (len(values), frames)


@dataclass
class KnobSweeps:
    sample_rate: int
    audio_name: str
    audio: np.ndarray  # (frames,) the audio input over the shown period
    period_found: bool
    panels: list[KnobSweep]


def find_period(audio: np.ndarray, sample_rate: int) -> int | None:
    """Frames in one period of ``audio`` (its strongest autocorrelation peak between
    SHORTEST_PERIOD_S and LONGEST_PERIOD_S), or None if it is not periodic enough."""
    shortest = max(2, int(SHORTEST_PERIOD_S * sample_rate))
    longest = int(LONGEST_PERIOD_S * sample_rate)
    signal = np.asarray(audio, dtype=np.float64) - np.mean(audio)
    if len(signal) < 2 * longest or not np.any(signal):
        return None
    head = signal[: len(signal) - longest]
    energy = float(np.dot(head, head))
    correlations = np.array([
        float(np.dot(head, signal[lag : lag + len(head)]))
        / np.sqrt(energy * float(np.sum(signal[lag : lag + len(head)] ** 2)) + 1e-30)
        for lag in range(longest + 1)
    ])
    # Short lags correlate just because audio is smooth: the fundamental is the first peak after
    # the correlation has fallen below zero once (later peaks are its multiples).
    below_zero = np.flatnonzero(correlations < 0.0)
    if len(below_zero) == 0:
        return None
    peaks = [lag for lag in range(max(shortest, int(below_zero[0]) + 1), longest)
             if correlations[lag] > PERIODIC_CORRELATION
             and correlations[lag - 1] <= correlations[lag] >= correlations[lag + 1]]
    return peaks[0] if peaks else None


def loudest_start(signal: np.ndarray, frames: int, earliest: int) -> int:
    """First frame, at or after ``earliest``, of the ``frames`` of ``signal`` (frames x channels)
    with the most energy; ``earliest`` when the signal is too short to choose."""
    energy = np.concatenate([[0.0], np.cumsum(np.sum(signal**2, axis=1))])
    starts = np.arange(earliest, len(signal) - frames + 1)
    if len(starts) == 0:
        return earliest
    return int(starts[np.argmax(energy[starts + frames] - energy[starts])])


def knob_sweeps(
    predict: Callable[[np.ndarray], np.ndarray],
    input_names: list[str],
    train_inputs: np.ndarray,
    test_inputs: np.ndarray,
    warmup: int,
    sample_rate: int,
    test_output: np.ndarray | None = None,
) -> KnobSweeps | None:
    """Sweep every knob input of a model; None when it has no knob inputs or no audio input.

    ``predict`` maps a (batch, frames, inputs) float32 array to (batch, frames, outputs);
    ``train_inputs`` give the covered ranges, ``test_inputs`` the audio that is played: its
    stretch where ``test_output`` (the recorded output beside it; else the audio input) is
    loudest, so a filter's sweep shows more than a quiet moment.
    """
    knobs = [i for i, name in enumerate(input_names) if is_knob(name)]
    audio_channels = [i for i, name in enumerate(input_names) if not is_knob(name)]
    if not knobs or not audio_channels:
        return None
    low, high = np.percentile(train_inputs[:, knobs], COVERED_PERCENTILES, axis=0)
    median = np.median(train_inputs[:, knobs], axis=0)

    # One period of the test audio where the output is loudest, after a warm-up of real audio.
    search = int(4 * LONGEST_PERIOD_S * sample_rate)
    loudness = test_inputs[:, audio_channels[0]] if test_output is None else test_output
    start = loudest_start(np.asarray(loudness, dtype=np.float64).reshape(len(test_inputs), -1),
                          search, warmup)
    excerpt = test_inputs[start : start + search, audio_channels[0]]
    period = find_period(excerpt, sample_rate)
    shown = period or int(FALLBACK_SECONDS * sample_rate)
    frames = test_inputs[start - warmup : start + shown].copy()

    batches, panels = [], []
    for position, knob in enumerate(knobs):
        others = [p for p in range(len(knobs)) if p != position]
        if len(others) <= MAX_CORNER_KNOBS:
            settings = list(itertools.product(*[(low[p], high[p]) for p in others]))
        else:
            settings = [tuple(median[p] for p in others)]
        values = np.linspace(low[position], high[position], SWEEP_STEPS)
        for setting in settings:
            batch = np.repeat(frames[None], len(values), axis=0)
            for p, held in zip(others, setting, strict=True):
                batch[:, :, knobs[p]] = held
            batch[:, :, knob] = values[:, None]
            batches.append(batch)
            panels.append((input_names[knob], values,
                           {input_names[knobs[p]]: float(v) for p, v in zip(others, setting,
                                                                           strict=True)}))
    outputs = predict(np.concatenate(batches).astype(np.float32))[:, warmup:, 0]
    sweeps, row = [], 0
    for knob_name, values, held in panels:
        sweeps.append(KnobSweep(knob_name, [float(v) for v in values], held,
                                outputs[row : row + len(values)]))
        row += len(values)
    return KnobSweeps(sample_rate, input_names[audio_channels[0]],
                      frames[warmup:, audio_channels[0]], period is not None, sweeps)


def coverage_warnings(input_names: list[str], split_inputs: dict[str, np.ndarray]) -> list[str]:
    """One line per split that lacks part of a knob's range another split covers, with the
    shares: each knob's covered range (COVERED_PERCENTILES of all splits together) in
    COVERAGE_BINS equal parts; a split misses a part where it has under MISSING_SHARE of its
    frames while another split has at least PRESENT_SHARE of its own."""
    warnings = []
    for index, name in enumerate(input_names):
        if not is_knob(name):
            continue
        values = {split: inputs[:, index] for split, inputs in split_inputs.items()}
        low, high = np.percentile(np.concatenate(list(values.values())), COVERED_PERCENTILES)
        if high - low < 1e-6:
            continue
        edges = np.linspace(low, high, COVERAGE_BINS + 1)
        shares = {split: np.histogram(np.clip(v, low, high), edges)[0] / max(1, len(v))
                  for split, v in values.items()}
        for split, share in shares.items():
            others = {other: s for other, s in shares.items() if other != split}
            missing = [(share[b] < MISSING_SHARE
                        and any(s[b] >= PRESENT_SHARE for s in others.values()))
                       for b in range(COVERAGE_BINS)]
            for first, last in _runs(missing):
                there = ", ".join(f"{other} {100 * s[first:last + 1].sum():.0f}%"
                                  for other, s in others.items())
                warnings.append(
                    f"the {split} split has {100 * share[first:last + 1].sum():.1f}% of its "
                    f"frames with {name} in {edges[first]:.2f}..{edges[last + 1]:.2f} "
                    f"({there} of theirs): its scores say little about that range")
    return warnings


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in ``flags``."""
    runs, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs
