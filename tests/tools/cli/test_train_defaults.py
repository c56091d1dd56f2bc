"""``daisynet train`` without architecture options picks the largest model of each family that
fits the Daisy at the dataset's rate and lets training choose (training/defaults.py); explicit
options keep their meaning."""

import pytest

from daisynet.tools.cli import main
from daisynet.training import defaults
from daisynet.training import train as train_module
from daisynet.training.builtin_data import make_waveshaper_dataset
from daisynet.training.dataset import Dataset
from daisynet.training.recurrent import GRU_DEFAULTS

DONE = {"interrupted": False, "plots": []}


@pytest.fixture
def calls(monkeypatch):
    """What the CLI asked to train: ("choose", candidates) or ("train", config)."""
    asked = []

    def choose(dataset, candidates, out_dir, log):
        asked.append(("choose", candidates))
        return DONE

    def train(dataset, config, out_dir, log):
        asked.append(("train", config))
        return DONE

    monkeypatch.setattr(defaults, "train_default", choose)
    monkeypatch.setattr(train_module, "train", train)
    return asked


def _dataset(tmp_path, rate=48_000):
    data = make_waveshaper_dataset(seconds=0.5, seed=1)
    Dataset(data.samples, rate, data.channels, data.source).save(tmp_path / f"data{rate}")
    return str(tmp_path / f"data{rate}.wav")


def test_without_architecture_options_both_families_largest_fitting_are_tried(tmp_path, calls):
    for rate in (48_000, 96_000):
        assert main(["train", _dataset(tmp_path, rate), "-o", str(tmp_path / f"run{rate}")]) == 0
    (how, at_48k), (_, at_96k) = calls
    assert how == "choose"
    wavenet, gru = at_48k
    # 3 inputs (two knobs and the audio) at 48 kHz
    assert (wavenet.family, wavenet.filters, wavenet.kernel_size) == ("wavenet", (17,) * 4, 4)
    assert (gru.family, gru.units, gru.name) == ("gru", 32, GRU_DEFAULTS["name"])
    assert gru.candidates == GRU_DEFAULTS["candidates"] != wavenet.candidates
    assert [config.family for config in at_96k] == ["wavenet", "gru"]
    for fast, slow in zip(at_96k, at_48k, strict=True):
        assert fast.architecture().macs_per_sample < 0.6 * slow.architecture().macs_per_sample


def test_options_the_user_gives_hold_for_every_candidate(tmp_path, calls):
    assert main(["train", _dataset(tmp_path), "-o", str(tmp_path / "run"), "--epochs", "5",
                 "--candidates", "2", "--max-seconds", "30"]) == 0
    [(_, candidates)] = calls
    for config in candidates:
        assert (config.max_epochs, config.candidates, config.max_seconds) == (5, 2, 30.0)


def test_a_family_alone_gets_its_largest_fitting_model(tmp_path, calls):
    path = _dataset(tmp_path)
    assert main(["train", path, "-o", str(tmp_path / "gru"), "--family", "gru"]) == 0
    assert main(["train", path, "-o", str(tmp_path / "wavenet"), "--family", "wavenet"]) == 0
    (_, [gru]), (_, [wavenet]) = calls
    assert gru.family == "gru" and gru.units == 32
    assert wavenet.family == "wavenet" and wavenet.filters == (17,) * 4


def test_explicit_architecture_options_keep_their_meaning(tmp_path, calls):
    path = _dataset(tmp_path)
    assert main(["train", path, "-o", str(tmp_path / "a"), "--filters", "3,3"]) == 0
    assert main(["train", path, "-o", str(tmp_path / "b"), "--kernel-size", "3"]) == 0
    assert main(["train", path, "-o", str(tmp_path / "c"), "--family", "gru", "--units",
                 "8"]) == 0
    (how_a, a), (how_b, b), (how_c, c) = calls
    assert how_a == how_b == how_c == "train"
    assert (a.family, a.filters, a.kernel_size) == ("wavenet", (3, 3), 4)
    assert (b.filters, b.kernel_size) == ((4, 4, 4, 8), 3)
    assert (c.family, c.units, c.candidates) == ("gru", 8, GRU_DEFAULTS["candidates"])
