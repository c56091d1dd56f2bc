import json
from pathlib import Path

import pytest

from daisynet.host_sim.model_defn import read_header
from daisynet.tools.cli import main
from daisynet.training import train as train_module
from daisynet.training.builtin_data import make_waveshaper_dataset
from daisynet.training.train import TrainConfig, train

pytestmark = [pytest.mark.m7, pytest.mark.native]

INPUTS = ["knob_1", "knob_2", "audio_in_1"]


def test_ctrl_c_during_training_leaves_exportable_best_models(tmp_path):
    """Issue 10, finding 9: model.keras and checkpoints/best.keras both export with the
    dataset's channel names after Ctrl-C."""
    lines = []

    def interrupting_log(line):
        lines.append(line)
        if line.startswith("epoch   3/"):  # the first epoch after the candidates' two
            raise KeyboardInterrupt

    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=8, candidates=2, seed=5)
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=interrupting_log)
    assert report["interrupted"] and report["epochs_run"] == 3
    assert any("interrupted after 3 epochs" in line for line in lines)
    assert json.loads((tmp_path / "training.json").read_text())["interrupted"]
    for model in ("model.keras", "checkpoints/best.keras"):
        header = tmp_path / (model.replace("/", "_") + ".h")
        assert main(["export", str(tmp_path / model), "-o", str(header)]) == 0
        spec = read_header(header)
        assert spec.input_names == INPUTS and spec.output_names == ["audio_in_2"]


def test_ctrl_c_during_the_candidates_keeps_the_best_finished_one(tmp_path, monkeypatch):
    real_epoch = train_module.adam_epoch
    seeds_started = []

    def epoch(run, *args, **kwargs):
        if run.seed not in seeds_started:
            seeds_started.append(run.seed)
        if run.seed == 6:  # Ctrl-C while the second candidate trains
            raise KeyboardInterrupt
        return real_epoch(run, *args, **kwargs)

    monkeypatch.setattr(train_module, "adam_epoch", epoch)
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=8, candidates=3, seed=5)
    lines = []
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lines.append)
    assert seeds_started == [5, 6] and report["interrupted"] and report["chosen_seed"] == 5
    assert report["epochs_run"] == 2  # the first candidate's, and no more
    assert any("interrupted during candidate 2/3; keeping seed 5" in line for line in lines)
    assert main(["export", str(tmp_path / "model.keras"), "-o", str(tmp_path / "m.h")]) == 0
    assert read_header(tmp_path / "m.h").input_names == INPUTS


def test_ctrl_c_while_the_objective_builds_ends_the_run_before_any_training(tmp_path,
                                                                           monkeypatch):
    """The C++ kernel is built on first use (seconds), before the first candidate: Ctrl-C then
    has nothing to keep and ends the run like Ctrl-C in the first candidate."""
    def interrupted_build(model, warmup):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "objective_for", interrupted_build)
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=8, candidates=2, seed=5)
    with pytest.raises(KeyboardInterrupt):
        train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lambda _: None)
    assert not (tmp_path / "model.keras").exists()


def test_max_seconds_stops_after_the_first_candidate_and_epoch(tmp_path):
    lines = []
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=40, candidates=3, max_seconds=1e-3)
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lines.append)
    assert report["epochs_run"] == 1 and not report["interrupted"]  # a quarter of 40 capped
    assert any("candidate 1/3" in line for line in lines)
    assert not any("candidate 2/3" in line or line.startswith("epoch") for line in lines)


def test_ctrl_c_while_refining_keeps_the_refined_best_and_exports(tmp_path, monkeypatch):
    real_refine = train_module.refine

    def refine_until_the_first_check(*args, **kwargs):
        def interrupting_log(line):
            if "val_esr" in line:  # the first check's line
                raise KeyboardInterrupt

        return real_refine(*args[:-1], interrupting_log, check_every=3, **kwargs)

    monkeypatch.setattr(train_module, "refine", refine_until_the_first_check)
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=3, candidates=1, seed=5,
                         refine_iterations=50)
    lines = []
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lines.append)
    assert report["interrupted"] and report["epochs_run"] == 3
    assert report["refine"]["iterations_run"] == 3
    assert any("interrupted after 3 refining iterations" in line for line in lines)
    for model in ("model.keras", "checkpoints/best.keras"):
        header = tmp_path / (model.replace("/", "_") + ".h")
        assert main(["export", str(tmp_path / model), "-o", str(header)]) == 0


def test_the_finalists_train_to_equal_epochs_and_the_best_on_validation_goes_on(tmp_path):
    """Issue 24, item 2 (was issue 12's absolute threshold, which on a hard device called every
    start poor): the two best candidates each get the Adam epochs; the better one on
    validation is kept, whatever the ESRs the data allows."""
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=4, candidates=3, seed=5,
                         refine_iterations=0)
    lines = []
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lines.append)
    assert len(report["seeds_tried"]) == 2 and report["candidates_trained"] == 3
    assert sum("the next finalist, as far" in line for line in lines) == 1
    assert report["chosen_seed"] in report["seeds_tried"]
    assert any(line.startswith(f"keeping seed {report['chosen_seed']}") for line in lines)
    # One epoch per candidate, then both finalists on to epoch 4.
    assert report["epochs_run"] == 4 and report["adam_epochs_total"] == 4 + 4 + 1
    summary = next(line for line in lines if line.startswith("trained seed"))
    assert summary.startswith(f"trained seed {report['chosen_seed']} for 4 epochs (and 5 epochs "
                              "on 2 other seeds: 9 Adam epochs in all) in ")
    first, second = report["seeds_tried"]
    assert report["stages"] == [
        {"stage": "candidates", "status": "ran", "why": "3 seeds, 1 epoch each"},
        {"stage": f"Adam, seed {first}", "status": "ran", "why": "4 epochs, all of --epochs"},
        {"stage": f"Adam, seed {second}", "status": "ran", "why": "4 epochs, all of --epochs"},
        {"stage": "L-BFGS", "status": "skipped", "why": "--refine-iterations 0"}]
    assert main(["export", str(tmp_path / "checkpoints" / "best.keras"),
                 "-o", str(tmp_path / "best.h")]) == 0


def test_one_finalist_trains_one_seed_on(tmp_path):
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=4, candidates=3, seed=5,
                         refine_iterations=0, finalists=1)
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lambda _: None)
    assert len(report["seeds_tried"]) == 1 and report["adam_epochs_total"] == 4 + 2


def test_max_seconds_says_what_it_cut_and_records_it(tmp_path):
    """Issue 22, item 16: every stage --max-seconds stops or skips is said and recorded."""
    lines = []
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=40, candidates=3, max_seconds=1e-3)
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lines.append)
    cut = ["candidate 1 (seed 0) stopped after 1 of 8 epochs", "2 of 3 candidates not trained",
           "no Adam epochs beyond the candidates' (seed 0 kept)", "L-BFGS refinement skipped"]
    assert report["stopped_by_max_seconds"] and report["cut_by_max_seconds"] == cut
    for what in cut:
        assert f"--max-seconds 0.001 reached: {what}" in lines
    assert json.loads((tmp_path / "training.json").read_text())["stopped_by_max_seconds"]
    # Issue 24, item 4: every stage, whether it ran, was cut or skipped, and why.
    assert report["stages"] == [
        {"stage": "candidates", "status": "cut", "why": "--max-seconds: " + "; ".join(cut[:2])},
        {"stage": "Adam, seed 0", "status": "skipped", "why": "--max-seconds"},
        {"stage": "L-BFGS", "status": "skipped", "why": "--max-seconds"}]
    assert ("stages: candidates cut (--max-seconds: candidate 1 (seed 0) stopped after 1 of 8 "
            "epochs; 2 of 3 candidates not trained); Adam, seed 0 skipped (--max-seconds); "
            "L-BFGS skipped (--max-seconds)") in lines


def test_train_refuses_an_earlier_run_without_force_before_training(tmp_path, monkeypatch,
                                                                   capsys):
    """Issue 22, item 5."""
    make_waveshaper_dataset(seconds=1.0).save(tmp_path / "data")
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"an earlier run's model")

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(train_module, "train", no_training)
    assert main(["train", str(tmp_path / "data.wav"), "-o", str(run)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"daisynet train: error: {run / 'model.keras'} already exists (an earlier "
                   "run?); replace it with --force, or train into another folder with -o")
    assert (run / "model.keras").read_bytes() == b"an earlier run's model"


def test_a_full_disk_while_plotting_is_one_line_and_keeps_the_trained_model(tmp_path,
                                                                           monkeypatch, capsys):
    """Issue 22, items 5 and 11: --force replaces an earlier run; a plot that cannot be written
    is one line, exit 1, and the trained model stays."""
    from matplotlib.figure import Figure

    make_waveshaper_dataset(seconds=3.0, seed=1).save(tmp_path / "data")
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"an earlier run's model")

    def fills_up(figure, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", fills_up)
    assert main(["train", str(tmp_path / "data.wav"), "-o", str(run), "--filters", "3,3",
                 "--kernel-size", "3", "--epochs", "2", "--window", "256", "--candidates", "1",
                 "--refine-iterations", "0", "--force"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "loss.png: could not write it (No space left on device)" in err
    assert f"the trained model is kept: {run / 'model.keras'}" in err
    assert not (run / "loss.png").exists()
    assert main(["export", str(run / "model.keras"), "-o", str(tmp_path / "m.h")]) == 0


def test_train_never_writes_over_its_dataset_nor_a_killed_runs_checkpoint(tmp_path, capsys):
    """train -o into the dataset's own folder must not replace a sidecar called training.json;
    a run killed before model.keras leaves checkpoints/best.keras, which is kept too."""
    run = tmp_path / "run"
    make_waveshaper_dataset(seconds=1.0).save(run / "training")
    sidecar = (run / "training.json").read_bytes()
    assert main(["train", str(run / "training.wav"), "-o", str(run)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"daisynet train: error: {run / 'training.json'}: is also an input of this "
                   "command; write the output somewhere else")
    assert (run / "training.json").read_bytes() == sidecar
    assert not (run / "model.keras").exists()

    killed = tmp_path / "killed"
    (killed / "checkpoints").mkdir(parents=True)
    (killed / "checkpoints" / "best.keras").write_bytes(b"the best so far")
    assert main(["train", str(run / "training.wav"), "-o", str(killed)]) == 1
    assert "best.keras already exists (an earlier run?)" in capsys.readouterr().err
    assert (killed / "checkpoints" / "best.keras").read_bytes() == b"the best so far"


def test_a_full_disk_when_saving_model_keras_says_where_the_weights_are(tmp_path, monkeypatch):
    from daisynet.host_sim.files import OutputWriteError

    real_save = train_module.save_model

    def fills_up(model, path):
        if path.name == "model.keras":
            raise OSError(28, "No space left on device")
        real_save(model, path)

    monkeypatch.setattr(train_module, "save_model", fills_up)
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=2, candidates=1, refine_iterations=0)
    with pytest.raises(OutputWriteError, match="the trained weights are kept in .*best.keras"):
        train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lambda _: None)
    assert main(["export", str(tmp_path / "checkpoints" / "best.keras"),
                 "-o", str(tmp_path / "best.h")]) == 0


def test_max_seconds_after_the_first_finalist_says_the_next_was_not_trained(tmp_path,
                                                                           monkeypatch):
    out_of_time = [False]
    real_stage = train_module._adam_stage

    def stage_then_out_of_time(*args, **kwargs):
        interrupted = real_stage(*args, **kwargs)
        out_of_time[0] = True
        return interrupted

    monkeypatch.setattr(train_module, "_adam_stage", stage_then_out_of_time)
    monkeypatch.setattr(train_module, "_out_of_time", lambda config, started: out_of_time[0])
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=4, candidates=2, seed=5,
                         refine_iterations=0, max_seconds=100.0)
    lines = []
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lines.append)
    first = report["seeds_tried"][0]
    assert len(report["seeds_tried"]) == 1
    assert report["cut_by_max_seconds"] == [f"seed {11 - first}, the next finalist, not "
                                            f"trained after seed {first}"]


def test_splits_whose_esrs_differ_more_than_the_stated_factor_earn_a_warning(tmp_path,
                                                                              monkeypatch):
    """Issue 24, item 1: train, validation and test ESR once differed 10x without a word."""
    monkeypatch.setattr(train_module, "SPLIT_ESR_SPREAD", 1.0)  # any difference is too much
    config = TrainConfig(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3,
                         scored_frames=256, max_epochs=2, candidates=1, refine_iterations=0)
    lines = []
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lines.append)
    esrs = {name: split["esr"] for name, split in report["splits"].items()}
    spread = max(esrs.values()) / min(esrs.values())
    [warning] = report["warnings"]
    assert warning == (f"the splits' ESRs differ {spread:.1f}x (train {esrs['train']:.4f}, "
                       f"validation {esrs['validation']:.4f}, test {esrs['test']:.4f}; more "
                       "than 1x): they hold different material, or the model fits its training "
                       "split only")
    assert lines[-1] == f"warning: {warning}"  # after the summary and the stages
