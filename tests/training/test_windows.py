import itertools

import numpy as np
import pytest

from daisynet.training.windows import (
    Split,
    dealt_splits,
    gap_free_ranges,
    make_windows,
    stretches,
    window_counts,
)


def test_splits_are_dealt_in_chunks_that_cover_everything_once():
    """Issue 24, item 1: chunks of a few seconds dealt across the whole take, each split its
    share, neighbouring chunks of one split merged into one range."""
    frames = 60 * 48_000
    splits = dealt_splits(frames, 48_000, 0.1, 0.2)
    ranges = sorted((part.start, part.stop) for parts in splits.values() for part in parts)
    assert ranges[0][0] == 0 and ranges[-1][1] == frames
    # No overlap, no hole.
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(ranges))
    for name, share in (("train", 0.7), ("validation", 0.1), ("test", 0.2)):
        assert sum(part.frames for part in splits[name]) == pytest.approx(share * frames,
                                                                          rel=0.01)
        # Every third of the take holds some of every split.
        for third in range(3):
            low, high = third * frames // 3, (third + 1) * frames // 3
            assert any(part.start < high and part.stop > low for part in splits[name]), name
    for parts in splits.values():
        assert all(a.stop < b.start for a, b in itertools.pairwise(parts))  # merged, in order
        assert all(part.frames <= 2 * 48_000 * 7 for part in parts)


def test_a_short_take_still_deals_every_split_a_range():
    splits = dealt_splits(1000, 48_000)
    assert all(len(parts) == 1 for name, parts in splits.items() if name != "train")
    assert sum(part.frames for part in splits["validation"]) == 100


@pytest.mark.parametrize(("val", "test"), [(0.0, 0.1), (0.5, 0.5), (0.1, 1.2)])
def test_bad_fractions(val, test):
    with pytest.raises(ValueError):
        dealt_splits(1000, 48_000, val, test)


def test_windows_never_leave_their_split():
    frames = 10_000
    index = np.arange(frames, dtype=np.float32)[:, None]
    splits = dealt_splits(frames, 1_000)  # ten chunks of 1,000 frames
    for parts in splits.values():
        x, y = make_windows(index, index, parts, warmup=16, scored=100)
        assert x.shape[1:] == (116, 1) and y.shape == x.shape
        for window in x[:, :, 0]:
            assert any(part.start <= window[0] and window[-1] < part.stop for part in parts)
        # Scored parts never overlap.
        scored = x[:, 16:, 0].reshape(-1)
        assert len(np.unique(scored)) == scored.size


def test_split_shorter_than_a_window_is_explained():
    splits = dealt_splits(1000, 48_000)
    x = np.zeros((1000, 1), np.float32)
    with pytest.raises(ValueError, match="validation split has 100 frames, fewer than one window"):
        make_windows(x, x, splits["validation"], warmup=256, scored=2048)
    splits = dealt_splits(100_000, 1_000)  # chunks of 2 s: 2,000 frames
    with pytest.raises(ValueError, match="test split has at most 2000 frames in one range"):
        make_windows(x, x, splits["test"], warmup=256, scored=2048)


def test_windows_never_cross_a_gap_and_restart_after_it():
    frames = np.arange(10_000, dtype=np.float32)[:, None]  # each sample is its frame index
    split = Split("train", 0, 10_000)
    gaps = [[3000, 48], [3100, 96], [9000, 5000]]
    x, _ = make_windows(frames, frames, split, warmup=100, scored=400, gaps=gaps)
    starts = x[:, 0, 0].astype(int)
    for window in x[:, :, 0].astype(int):
        assert np.all(np.diff(window) == 1)
        for first, count in gaps:
            assert not np.any((window >= first) & (window < first + count))
    # A gap-free stretch long enough for a window starts its own at its first frame.
    assert {0, 3196} <= set(starts.tolist())  # 3048..3100 is too short for a window
    assert gap_free_ranges(split, gaps) == [Split("train", 0, 3000), Split("train", 3048, 3100),
                                            Split("train", 3196, 9000)]


def test_no_room_between_gaps_is_explained():
    x = np.zeros((1000, 1), np.float32)
    with pytest.raises(ValueError, match="at most 500 frames between gaps"):
        make_windows(x, x, Split("train", 0, 1000), warmup=256, scored=300, gaps=[[500, 10]])


def test_window_counts_match_the_windows_made():
    rng = np.random.default_rng(5)
    frames = 40_000
    signal = np.zeros((frames, 1), np.float32)
    for _ in range(20):
        gaps = [[int(first), int(count)] for first, count in
                zip(rng.integers(0, frames, 6), rng.integers(1, 3000, 6), strict=True)]
        counts = window_counts(frames, 4_000, gaps, 256, 1024)
        for name, split in dealt_splits(frames, 4_000).items():
            try:
                made = len(make_windows(signal, signal, split, 256, 1024, gaps)[0])
            except ValueError:
                made = 0
            assert counts[name] == made


def test_stretches_cut_a_split_into_chunks_between_gaps():
    split = [Split("train", 0, 1000), Split("train", 1500, 1740)]
    pieces = stretches(split, [[400, 10]], 200)
    # 0..400 and 410..1000 between the gap, then 1500..1740, each in about 200-frame pieces.
    assert [(p.start, p.stop) for p in pieces] == [
        (0, 200), (200, 400), (410, 606), (606, 803), (803, 1000), (1500, 1740)]
    assert all(p.name == "train" for p in pieces)
