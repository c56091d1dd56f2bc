"""The device suite end to end, tiny (a few seconds of material, two devices, a few epochs),
and its command line. Its figures are the benchmark's business; here: that it trains both
ways, scores the same frames as train, and writes what it says."""

import json

import numpy as np
import pytest

from daisynet.tools.cli import main
from daisynet.tools.measure.suite import bench
from daisynet.tools.measure.suite.devices import device
from daisynet.tools.measure.suite.sizes import model_size
from daisynet.training.dataset import load_dataset
from tests.conftest import require_tool

TINY_TRAINING = {"max_epochs": 2, "candidates": 1, "refine_iterations": 3, "scored_frames": 512}


def _tiny_fitting_configs(config, sample_rate, given):
    """train's default candidates, tiny: a wavenet of 2x2 filters and a GRU of 4 units."""
    import dataclasses

    return [dataclasses.replace(config, filters=(2, 2), kernel_size=2),
            dataclasses.replace(config, family="gru", units=4, recurrent_warmup=256)]


@pytest.mark.native
def test_a_tiny_suite_trains_both_ways_and_writes_its_table_report_and_plots(tmp_path,
                                                                            monkeypatch):
    require_tool("g++")
    monkeypatch.setattr(bench, "fitting_configs", _tiny_fitting_configs)
    lines = []
    report = bench.run_suite([device("overdrive"), device("moog")], [model_size("default")],
                             6.0, tmp_path, lines.append, train_options=TINY_TRAINING)
    assert [(row["device"], row["model"]) for row in report["rows"]] == [
        ("overdrive", "default"), ("moog", "default")]
    for row in report["rows"]:
        # The suite scores the test frames train scores, the same way.
        assert row["product_test_esr"] == pytest.approx(row["product_reported_test_esr"],
                                                        rel=1e-5)
        assert np.isfinite(row["plain_test_esr"]) and row["plain_test_esr"] > 0
        assert row["ratio"] == pytest.approx(row["product_test_esr"] / row["plain_test_esr"])
        assert row["plain_epochs"] >= 1 and row["product_seconds"] > 0
        assert len(row["knob_bin_esr"]["product"]) == bench.KNOB_BINS
        assert bench.table_row(row) in lines
        assert load_dataset(tmp_path / "datasets" / f"{row['device']}.wav").channels == [
            "audio_in_1", "audio_in_2", "knob_1"]
        assert (tmp_path / f"{row['device']}.png").stat().st_size > 0
        assert (tmp_path / row["device"] / "default" / "model.keras").exists()
        # The default row is train's choice, and the plain loop trains what it chose.
        choice = row["default_choice"]
        assert len(choice["probes"]) == 2
        assert row["architecture"] == choice["probes"][choice["chosen"]]["architecture"]
    assert json.loads((tmp_path / bench.REPORT_FILE).read_text())["rows"] == report["rows"]
    assert bench.HEADER in lines and any("plain epoch 1" in line for line in lines)


class _Clock:
    """perf_counter for the plain loop: one second passes per reading, whatever the host."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def _tiny_config(**options):
    from daisynet.tools.measure.suite.material import INPUTS, TARGET
    from daisynet.training.train import TrainConfig

    return TrainConfig(inputs=INPUTS, target=TARGET, filters=(2, 2), kernel_size=2,
                       scored_frames=256, batch_size=64, **options)


def test_the_plain_loop_spends_its_budget_keeping_its_best_validation_weights(monkeypatch):
    from daisynet.tools.measure.suite.material import make_device_dataset

    monkeypatch.setattr(bench, "perf_counter", _Clock())
    dataset = make_device_dataset(device("overdrive"), 4.0)
    lines = []
    plain = bench.plain_fit(dataset, _tiny_config(), 30.0, lines.append)
    assert plain["epochs"] >= 2 and len(lines) == plain["epochs"]
    assert 30.0 <= plain["seconds"] <= 33.0  # stopped at the batch that spent the budget
    best = min(float(line.split("val_esr ")[1].split()[0]) for line in lines)
    assert plain["best_val_esr"] == pytest.approx(best, abs=1e-4)


def test_the_plain_loop_trains_a_gru_as_train_builds_it(monkeypatch):
    from daisynet.tools.measure.suite.material import make_device_dataset

    monkeypatch.setattr(bench, "perf_counter", _Clock())
    dataset = make_device_dataset(device("overdrive"), 2.0)
    config = _tiny_config(family="gru", units=3, recurrent_warmup=64)
    lines = []
    plain = bench.plain_fit(dataset, config, 0.0, lines.append)
    # A budget already spent still trains one batch, and is scored on validation.
    assert plain["epochs"] == 1 and len(lines) == 1
    assert [layer.name for layer in plain["model"].layers if "gru" in layer.name] == ["gru"]


def test_esr_per_knob_bin_and_the_loudest_excerpt():
    knob = np.repeat([0.05, 0.55], 5000)
    target = np.concatenate([np.ones(5000), 2 * np.ones(5000)])
    prediction = np.concatenate([np.zeros(5000), 2 * np.ones(5000)])
    bins = bench.knob_bin_esr(target, prediction, knob)
    assert bins[0] == pytest.approx(1.0) and bins[5] == pytest.approx(0.0)
    assert bins[1] is None  # no frames there
    frames = np.concatenate([np.arange(0, 100), np.arange(200, 300)])
    loud = np.zeros(300)
    loud[250:260] = 5.0
    excerpt = bench.loudest_excerpt(loud, frames, 20)
    assert excerpt[0] <= 250 and excerpt[-1] >= 259 and np.all(np.diff(excerpt) == 1)


def test_the_suite_refuses_an_earlier_run_s_results_without_force(tmp_path, capsys):
    (tmp_path / "report.json").write_text("{}")
    status = main(["train-bench", "--suite", "--devices", "overdrive", "-o", str(tmp_path)])
    error = capsys.readouterr().err
    assert status == 1 and "report.json already exists" in error and "--force" in error
    assert error.count("\n") == 1
    assert (tmp_path / "report.json").read_text() == "{}"


@pytest.mark.parametrize(("argv", "said"), [
    (["--devices", "overdrive,theremin"], "--devices: no device 'theremin'"),
    (["--sizes", "huge"], "--sizes: no model size 'huge'"),
    (["--seconds", "0"], "--seconds: must be a finite number above 0"),
])
def test_bad_suite_option_values_get_one_line_naming_the_option(argv, said, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train-bench", "--suite", *argv])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and said in error and error.count("\n") == 1


def test_a_suite_option_without_suite_says_so(capsys):
    assert main(["train-bench", "--devices", "overdrive"]) == 1
    error = capsys.readouterr().err
    assert "--devices is a device suite option: add --suite" in error
    assert error.count("\n") == 1


def test_missing_suite_packages_stop_the_suite_in_one_line(monkeypatch, capsys, tmp_path):
    from daisynet.tools.measure.suite import devices

    monkeypatch.setattr(devices, "SUITE_PACKAGES", ("pedalboard", "no_such_suite_package"))
    assert main(["train-bench", "--suite", "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "no_such_suite_package" in error and "daisynet[suite]" in error
    assert error.count("\n") == 1 and not (tmp_path / "out").exists()
