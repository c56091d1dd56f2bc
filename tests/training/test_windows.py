import numpy as np
import pytest

from daisynet.training.windows import (
    Split,
    contiguous_splits,
    gap_free_ranges,
    make_windows,
    window_counts,
)


def test_splits_are_contiguous_ordered_and_cover_everything():
    splits = contiguous_splits(100_000, 0.1, 0.2)
    assert splits["train"].start == 0
    assert splits["train"].stop == splits["validation"].start
    assert splits["validation"].stop == splits["test"].start
    assert splits["test"].stop == 100_000
    assert splits["test"].frames == 20_000 and splits["validation"].frames == 10_000


@pytest.mark.parametrize(("val", "test"), [(0.0, 0.1), (0.5, 0.5), (0.1, 1.2)])
def test_bad_fractions(val, test):
    with pytest.raises(ValueError):
        contiguous_splits(1000, val, test)


def test_windows_never_leave_their_split():
    frames = 10_000
    index = np.arange(frames, dtype=np.float32)[:, None]
    splits = contiguous_splits(frames)
    for split in splits.values():
        x, y = make_windows(index, index, split, warmup=16, scored=100)
        assert x.shape[1:] == (116, 1) and y.shape == x.shape
        assert x.min() >= split.start and x.max() < split.stop
        # Scored parts tile the split without overlap.
        scored = x[:, 16:, 0].reshape(-1)
        assert len(np.unique(scored)) == scored.size


def test_split_shorter_than_a_window_is_explained():
    splits = contiguous_splits(1000)
    x = np.zeros((1000, 1), np.float32)
    with pytest.raises(ValueError, match="validation split has 100 frames, fewer than one window"):
        make_windows(x, x, splits["validation"], warmup=256, scored=2048)


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
        counts = window_counts(frames, gaps, 256, 1024)
        for name, split in contiguous_splits(frames).items():
            try:
                made = len(make_windows(signal, signal, split, 256, 1024, gaps)[0])
            except ValueError:
                made = 0
            assert counts[name] == made
