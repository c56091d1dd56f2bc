"""Time-contiguous splits and training windows.

The recording is cut into train | validation | test in time order, so no window of one split
overlaps another (neighbouring windows of audio are nearly identical, and a shuffled split would
leak test audio into training). Each window is ``warmup + scored`` frames: the first ``warmup``
frames only warm the causal convolutions up and are masked out of the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    name: str
    start: int  # first frame, inclusive
    stop: int  # last frame, exclusive

    @property
    def frames(self) -> int:
        return self.stop - self.start


def contiguous_splits(
    frames: int, validation_fraction: float = 0.1, test_fraction: float = 0.1
) -> dict[str, Split]:
    """Train, validation and test ranges in time order covering all ``frames``."""
    if not 0.0 < validation_fraction < 1.0 or not 0.0 < test_fraction < 1.0:
        raise ValueError("validation and test fractions must each be between 0 and 1")
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError("validation + test fractions leave nothing to train on")
    test_start = frames - int(round(frames * test_fraction))
    validation_start = test_start - int(round(frames * validation_fraction))
    return {
        "train": Split("train", 0, validation_start),
        "validation": Split("validation", validation_start, test_start),
        "test": Split("test", test_start, frames),
    }


def gap_free_ranges(split: Split, gaps: Sequence[Sequence[int]] = ()) -> list[Split]:
    """The parts of ``split`` outside every gap; a gap is [first_frame, frames] (a capture's
    ``source.gaps``: frames lost on the wire or by the device, stored as silence)."""
    ranges, start = [], split.start
    for first, count in sorted((int(first), int(count)) for first, count in gaps):
        if first + count <= start or first >= split.stop:
            continue
        if first > start:
            ranges.append(Split(split.name, start, first))
        start = max(start, first + count)
    if start < split.stop:
        ranges.append(Split(split.name, start, split.stop))
    return ranges


def _window_starts(part: Split, length: int, scored: int) -> np.ndarray:
    """First frames of the windows of ``length`` frames, ``scored`` apart, inside ``part``."""
    return np.arange(part.start, part.stop - length + 1, scored)


def window_counts(frames: int, gaps: Sequence[Sequence[int]], warmup: int,
                  scored: int) -> dict[str, int]:
    """How many windows ``make_windows`` cuts from each split of a recording of ``frames``
    frames with these gaps (without cutting them)."""
    return {name: sum(len(_window_starts(part, warmup + scored, scored))
                      for part in gap_free_ranges(split, gaps))
            for name, split in contiguous_splits(frames).items()}


def make_windows(
    inputs: np.ndarray,
    target: np.ndarray,
    split: Split,
    warmup: int,
    scored: int,
    gaps: Sequence[Sequence[int]] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``warmup + scored`` frames lying wholly inside ``split`` and outside ``gaps``.

    Consecutive windows advance by ``scored`` frames, so every frame of the split after the
    first warm-up is scored exactly once; the warm-up frames of a window are real audio that
    precedes it. A gap restarts the windows after it, warm-up included: audio on either side of
    a gap was never continuous. Returns (windows, frames, inputs) and (windows, frames, outputs)
    float32 arrays.
    """
    length = warmup + scored
    ranges = gap_free_ranges(split, gaps)
    starts = np.concatenate([_window_starts(part, length, scored) for part in ranges]
                            or [np.zeros(0, int)]).astype(int)
    if len(starts) == 0:
        longest = max((part.frames for part in ranges), default=0)
        frames = (f"{split.frames} frames" if ranges == [split]
                  else f"at most {longest} frames between gaps")
        raise ValueError(
            f"the {split.name} split has {frames}, fewer than one window "
            f"({warmup} warm-up + {scored} scored); record more audio or shorten the window"
        )
    index = starts[:, None] + np.arange(length)[None, :]
    return inputs[index].astype(np.float32), target[index].astype(np.float32)
