"""What train picks without architecture options (training/defaults.py), and the candidates'
share of a time budget (training/train.py)."""

import dataclasses
import json

import pytest

from daisynet.host_sim import daisy_fit
from daisynet.training import defaults
from daisynet.training import train as train_module
from daisynet.training.builtin_data import make_waveshaper_dataset
from daisynet.training.recurrent import GRU_DEFAULTS, StatefulGruTraining
from daisynet.training.train import TrainConfig, train
from tests.conftest import require_tool

INPUTS = ["knob_1", "knob_2", "audio_in_1"]


def test_each_family_s_largest_fitting_model_with_its_own_defaults():
    base = TrainConfig(inputs=INPUTS, target="audio_in_2", max_epochs=5)
    wavenet, gru = defaults.fitting_configs(base, 48_000, given=frozenset({"max_epochs"}))
    assert wavenet.family == "wavenet" and wavenet.filters == (17, 17, 17, 17)
    assert wavenet.kernel_size == 4 and wavenet.candidates == base.candidates
    assert gru.family == "gru" and gru.units == 32 and gru.architecture().skip_input == 2
    for field, value in GRU_DEFAULTS.items():
        assert field == "max_epochs" or getattr(gru, field) == value
    assert wavenet.max_epochs == gru.max_epochs == 5  # given: both keep it
    # An option the user gave is the GRU's too, whatever a GRU's default.
    [gru] = defaults.fitting_configs(dataclasses.replace(base, candidates=3), 48_000, ("gru",),
                                     frozenset({"candidates"}))
    assert gru.candidates == 3 and gru.refine_iterations == GRU_DEFAULTS["refine_iterations"]
    # Twice the rate, half the cycles per sample: smaller models.
    small_wavenet, small_gru = defaults.fitting_configs(base, 96_000)
    assert small_wavenet.architecture().macs_per_sample < 0.6 * wavenet.architecture(
        ).macs_per_sample
    assert small_gru.units < gru.units


def test_when_no_model_fits_it_says_so(monkeypatch):
    monkeypatch.setattr(daisy_fit, "SAFETY_MARGIN", 0.0)
    base = TrainConfig(inputs=INPUTS, target="audio_in_2")
    with pytest.raises(ValueError, match="no wavenet or gru model fits the Daisy at 48,000 Hz "
                                         "with 3 inputs"):
        defaults.fitting_configs(base, 48_000)


def _tiny_candidates(**options):
    """A tiny wavenet and a tiny GRU, as fitting_configs would give them."""
    base = TrainConfig(inputs=INPUTS, target="audio_in_2", scored_frames=256, candidates=2,
                       refine_iterations=0, seed=3, **{"max_epochs": 6, **options})
    return [dataclasses.replace(base, filters=(3, 3), kernel_size=3),
            dataclasses.replace(base, family="gru", units=4, recurrent_warmup=256,
                                candidates=1, name="daisynet_gru")]


@pytest.mark.native
@pytest.mark.parametrize("winner", [0, 1])
def test_the_best_probe_on_validation_is_trained_on_and_every_probe_is_recorded(
        tmp_path, monkeypatch, winner):
    require_tool("g++")
    scored = []
    real_esr = defaults.validation_esr

    def esr_favouring_the_winner(dataset, config, theta, skip):
        scored.append(skip)
        value = real_esr(dataset, config, theta, skip)
        return value / 1000 if config.family == ("wavenet", "gru")[winner] else value + 1

    monkeypatch.setattr(defaults, "validation_esr", esr_favouring_the_winner)
    candidates = _tiny_candidates()
    lines = []
    report = defaults.train_default(make_waveshaper_dataset(3.0, seed=1), candidates, tmp_path,
                                    lines.append)
    assert scored == [256, 256]  # both scored on the same frames: the longer warm-up skipped
    choice = report["default_choice"]
    assert report["family"] == candidates[winner].family and choice["chosen"] == winner
    assert [probe["kept"] for probe in choice["probes"]] == [winner == 0, winner == 1]
    assert [probe["family"] for probe in choice["probes"]] == ["wavenet", "gru"]
    for probe in choice["probes"]:
        # min(candidate_epochs, max_epochs // 4) epochs, no time budget
        assert probe["passes"] == 1 and probe["windows_per_pass"] == "1/1"
        assert probe["stopped_by"] == "its epochs"
        assert probe["macs_per_sample"] > 0 and 0 < probe["estimated_load"] < 0.8
    # The winner's probe is carried on as its first candidate (seed 3), not trained again.
    assert report["candidates_trained"] == candidates[winner].candidates
    assert report["epochs_run"] == 6 and 3 in report["seeds_tried"] or winner == 0
    assert report["stages"][:2] == choice["stages"]
    assert [stage["stage"].split()[:2] for stage in choice["stages"]] == [
        ["probe", "wavenet"], ["probe", "GRU"]]
    kept = defaults.describe(candidates[winner], 48_000)
    assert any(line.startswith(f"keeping {kept}: the lowest validation ESR") for line in lines)
    assert lines[0].startswith("no architecture options: trying the largest model of each "
                               "family that fits the Daisy at 48,000 Hz")
    recorded = json.loads((tmp_path / "training.json").read_text())
    assert recorded["default_choice"] == choice


@pytest.mark.native
def test_a_candidate_the_dataset_is_too_short_for_is_left_out_saying_why(tmp_path):
    require_tool("g++")
    wavenet, gru = _tiny_candidates()
    too_long = dataclasses.replace(gru, recurrent_warmup=20_000)
    lines = []
    report = defaults.train_default(make_waveshaper_dataset(3.0, seed=1), [wavenet, too_long],
                                    tmp_path, lines.append)
    assert report["family"] == "wavenet" and report["default_choice"] is None
    assert any(line.startswith("not trying GRU 4") and "fewer than one window" in line
               for line in lines)
    with pytest.raises(ValueError, match="fewer than one window"):
        defaults.train_default(make_waveshaper_dataset(3.0, seed=1),
                               [dataclasses.replace(wavenet, scored_frames=100_000), too_long],
                               tmp_path / "none", lines.append)


@pytest.mark.native
def test_with_max_seconds_each_probe_gets_its_share_and_the_rest_is_cut_honestly(
        tmp_path, monkeypatch):
    require_tool("g++")
    gru_passes = []
    real_epoch = StatefulGruTraining.epoch

    def stateful_epoch(self, run, plateau_patience, batches=None):
        gru_passes.append((batches, self.batches_per_epoch))
        return real_epoch(self, run, plateau_patience, batches)

    monkeypatch.setattr(StatefulGruTraining, "epoch", stateful_epoch)
    report = defaults.train_default(make_waveshaper_dataset(3.0, seed=1),
                                    _tiny_candidates(max_seconds=1e-3, max_epochs=40),
                                    tmp_path,
                                    lambda _: None)
    for probe in report["default_choice"]["probes"]:
        # A pass always ends; with no time to spare it covers a batch's share of the windows.
        assert probe["passes"] == 1 and probe["windows_per_pass"] != "1/1"
        assert probe["stopped_by"] == "its share of --max-seconds (0.0 s)"
    # The GRU's probe trains as train() would go on, statefully, over a part of its batches.
    [(batches, whole)] = gru_passes[:1]
    assert 1 <= batches < whole
    # Both probes spent the budget: the winner is kept as probed, every later stage cut.
    assert report["stopped_by_max_seconds"] and report["epochs_run"] == 1
    assert report["train_seconds"] >= sum(probe["seconds"]
                                          for probe in report["default_choice"]["probes"])


def test_a_probe_s_passes_cover_what_fits_twice_in_its_share(monkeypatch):
    """At 0.01 s a window (the fake objective's), 160 training and 20 validation windows."""
    clock = _FakeTime()

    def objective(theta, x, y):
        clock.now += 0.01 * len(x)

    monkeypatch.setattr(defaults, "time", clock)
    windows = {"train": ([0] * 160, [0] * 160), "validation": ([0] * 20, [0] * 20)}
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", batch_size=16)
    parts = {share: defaults._parts(objective, defaults.fresh_start(config, 0), config,
                                    windows, share) for share in (10.0, 2.2, 0.2)}
    # 2 passes of all 180 windows take 3.6 s; of 80 + 20, 2 s; at 0.2 s not even a batch fits.
    assert parts == {10.0: 1, 2.2: 2, 0.2: 160 // 16}
    # An epoch of a GRU trained statefully counts in windows' worth of work (_epoch_windows):
    # 320 + 20 of them take 6.8 s twice, 2 passes of 80 + 20 still 2 s.
    assert defaults._parts(objective, defaults.fresh_start(config, 0), config, windows, 2.2,
                           (320, 20)) == 4


class _FakeTime:
    """train.py's clock: a second per Adam epoch, whatever the host."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


@pytest.mark.native
def test_with_max_seconds_the_candidates_take_at_most_their_share_of_it(tmp_path, monkeypatch):
    require_tool("g++")
    clock = _FakeTime()
    real_epoch = train_module.adam_epoch

    def epoch_of_a_second(*args, **kwargs):
        clock.now += 1.0
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "time", clock)
    monkeypatch.setattr(train_module, "adam_epoch", epoch_of_a_second)
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=40, candidates=8, candidate_epochs=2,
                         refine_iterations=0, max_seconds=20.0)
    lines = []
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, lines.append)
    # A candidate takes 2 s; a quarter of the 20 s holds 2 of them.
    assert report["candidates_trained"] == 2
    said = ("6 of 8 candidates not started: the candidates may take 25% of the 20 s left, and "
            "one takes ~2.0 s")
    assert said in report["cut_by_max_seconds"] and f"--max-seconds 20 reached: {said}" in lines
    # Without a budget every candidate trains, however long each takes.
    clock.now = 0.0
    unlimited = train(make_waveshaper_dataset(3.0, seed=1),
                      dataclasses.replace(config, max_seconds=None, max_epochs=4, candidates=3),
                      tmp_path / "unlimited", lambda _: None)
    assert unlimited["candidates_trained"] == 3
