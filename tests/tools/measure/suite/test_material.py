"""The suite's material and knob motion: dealt so every part of a dataset sees all of them."""

import numpy as np

from daisynet.host_sim.daisy_target import AUDIO_FULL_SCALE, BLOCK_FRAMES, SAMPLE_RATE_HZ
from daisynet.tools.measure.suite.devices import device
from daisynet.tools.measure.suite.material import (
    CHANNELS,
    KNOB_BINS,
    MOTIONS,
    PEAK_LEVELS,
    SOURCES,
    knob_motion,
    make_device_dataset,
    material,
)
from daisynet.training.dataset import load_dataset


def test_every_deal_of_sources_and_motions_holds_each_once():
    _, played = material(np.random.default_rng(3), 60 * SAMPLE_RATE_HZ)
    _, moved = knob_motion(np.random.default_rng(3), 60 * SAMPLE_RATE_HZ // BLOCK_FRAMES)
    for done, kinds in ((played, SOURCES), (moved, MOTIONS)):
        full_deals = len(done) // len(kinds)
        assert full_deals >= 3
        for deal in range(full_deals):
            assert sorted(done[deal * len(kinds) : (deal + 1) * len(kinds)]) == sorted(kinds)


def test_each_tenth_of_a_dataset_turns_the_knob_through_every_fifth_of_its_range():
    knob, _ = knob_motion(np.random.default_rng(0), 100 * SAMPLE_RATE_HZ // BLOCK_FRAMES)
    for part in np.array_split(knob, 10):
        visited = np.unique(np.minimum((part * KNOB_BINS).astype(int), KNOB_BINS - 1))
        assert len(visited) == KNOB_BINS
    assert knob.min() >= 0.0 and knob.max() <= 1.0


def test_a_dataset_is_recorded_as_a_capture_records_it(tmp_path):
    dataset = make_device_dataset(device("overdrive"), 6.0, seed=1)
    assert dataset.channels == CHANNELS == ["audio_in_1", "audio_in_2", "knob_1"]
    assert dataset.frames == 6 * SAMPLE_RATE_HZ
    knob = dataset.channel("knob_1")
    whole_blocks = knob[: len(knob) // BLOCK_FRAMES * BLOCK_FRAMES].reshape(-1, BLOCK_FRAMES)
    assert np.all(whole_blocks == whole_blocks[:, :1])  # read once per block
    dry = dataset.channel("audio_in_1")
    assert PEAK_LEVELS[1] * 0.5 < np.max(np.abs(dry)) <= PEAK_LEVELS[1] + 1e-3
    assert np.max(np.abs(dataset.channel("audio_in_2"))) <= AUDIO_FULL_SCALE
    assert dataset.source["device"] == "overdrive"
    assert dataset.source["suggested_inputs"] == ["knob_1", "audio_in_1"]
    dataset.save(tmp_path / "overdrive")
    loaded = load_dataset(tmp_path / "overdrive.wav")
    assert loaded.warnings == []
    np.testing.assert_array_equal(loaded.samples, dataset.samples)


def test_the_same_seed_gives_the_same_samples():
    first = make_device_dataset(device("bitcrush"), 2.0, seed=4)
    again = make_device_dataset(device("bitcrush"), 2.0, seed=4)
    other = make_device_dataset(device("bitcrush"), 2.0, seed=5)
    np.testing.assert_array_equal(first.samples, again.samples)
    assert not np.array_equal(first.samples, other.samples)
