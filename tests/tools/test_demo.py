"""The README's main command, in full: trains the reference model (minutes on 2 cores)."""

import json

import pytest

from daisynet.tools.cli import main


@pytest.mark.slow
def test_demo_meets_the_quality_and_parity_targets(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    for key in ("params", "macs_per_sample", "receptive_field", "test_esr",
                "sim_vs_keras_max_abs_err", "train_seconds"):
        assert key in report, key
    shape = (report["params"], report["macs_per_sample"], report["receptive_field"])
    assert shape == (465, 424, 256)
    # Issue 12's bar, every seed 0-4 at or under 0.035, measured on a second take: the dealt
    # test split's ESR depends on which 2 s chunks it got (seed 0's holds a hard ramp).
    assert report["fresh_take_esr"] <= 0.035
    assert report["test_esr"] < 0.1
    # The simulator, reading the exported header, agrees with Keras to float32 rounding.
    assert report["verify_passed"]
    assert report["sim_vs_float64_max_abs_err"] <= 2 * report["keras_vs_float64_max_abs_err"]
    for name in ("model.keras", "model_defn.h", "model_defn_golden.h", "training.json",
                 "loss.png", "test_prediction.png", "verify.png", "dataset/waveshaper.wav"):
        assert (out / name).exists(), name
    assert "test ESR" in printed and "sim vs Keras" in printed


def test_the_demo_summary_counts_every_adam_epoch_it_spent():
    """Issue 22, item 16: the candidates' epochs are training too."""
    from daisynet.tools.demo import summary_rows

    report = {"params": 465, "macs_per_sample": 424, "receptive_field": 256, "test_esr": 0.01,
              "test_esr_pre_emphasis": 0.02, "fresh_take_esr": 0.015, "fresh_take_seconds": 20.0,
              "sim_vs_keras_max_abs_err": 1e-6,
              "verified_frames": 100, "keras_vs_float64_max_abs_err": 1e-6,
              "sim_vs_float64_max_abs_err": 1e-6, "verify_passed": True,
              "verify_criterion": "x", "epochs_run": 80, "adam_epochs_total": 136,
              "refine_iterations": 900, "train_seconds": 81.0, "total_seconds": 90.0}
    rows = dict(summary_rows(report))
    assert rows["training"] == ("80 Adam epochs (and 56 on the other candidates) + 900 L-BFGS "
                                "iterations, 81 s")
