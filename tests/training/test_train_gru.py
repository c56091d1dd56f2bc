"""``daisynet train --family gru``: a tiny recurrent run end to end, its record, its options."""

import numpy as np
import pytest

from daisynet.host_sim.model_defn import GruArchitecture
from daisynet.tools.cli import main
from daisynet.training.dataset import Dataset
from daisynet.training.metrics import esr
from daisynet.training.model import predict_sequence
from daisynet.training.quiet_keras import import_keras
from daisynet.training.record import TrainingRecord
from daisynet.training.train import TrainConfig, train
from tests.conftest import require_tool

RATE = 48000


def knob_filter_dataset(seconds: float, path=None) -> Dataset:
    """A one-pole low-pass whose cutoff a knob turns (held per 48-frame block), on a saw;
    saved to ``path`` if given."""
    rng = np.random.default_rng(0)
    frames = int(seconds * RATE)
    knob = np.repeat(rng.uniform(0, 1, frames // 48 + 1), 48)[:frames]
    phase = np.cumsum(np.repeat(rng.uniform(50, 800, frames // 4800 + 1), 4800)[:frames] / RATE)
    dry = 1.5 * (2 * (phase % 1.0) - 1)
    coefficient = np.exp(-2 * np.pi * 100 * 40 ** knob / RATE)
    wet, state = np.empty(frames), 0.0
    for t in range(frames):
        state = coefficient[t] * state + (1 - coefficient[t]) * dry[t]
        wet[t] = state
    samples = np.stack([dry, wet, knob], axis=1).astype(np.float32)
    dataset = Dataset(samples, RATE, ["audio_in_1", "audio_in_2", "knob_1"],
                      {"suggested_inputs": ["knob_1", "audio_in_1"],
                       "suggested_target": "audio_in_2"})
    if path is not None:
        dataset.save(path)
    return dataset


@pytest.mark.native
def test_a_tiny_gru_run_writes_what_a_wavenet_run_does_and_records_its_family(tmp_path):
    require_tool("g++")
    knob_filter_dataset(3.0, tmp_path / "filter")
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "filter.wav"), "-o", str(out), "--family", "gru",
                 "--units", "4", "--warmup", "256", "--window", "512", "--epochs", "2",
                 "--refine-iterations", "3"]) == 0
    for name in ("model.keras", "training.json", "checkpoints/best.keras",
                 "checkpoints/training.json", "loss.png", "test_prediction.png", "knobs.png"):
        assert (out / name).is_file(), name
    record = TrainingRecord.read(out / "training.json")
    assert record.name == "daisynet_gru" and record.inputs == ["knob_1", "audio_in_1"]
    assert record.results["family"] == "gru"
    assert record.results["architecture"] == {"family": "gru", "inputs": 2, "units": 4,
                                              "outputs": 1, "skip_input": 1}
    assert record.results["warmup_frames"] == 256
    assert record.results["params"] == GruArchitecture(2, 4, skip_input=1).parameters
    assert record.results["config"]["family"] == "gru"
    stateful = record.results["recurrent_training"]
    assert stateful["stateful"] and stateful["window_frames"] == 512 and stateful["stretches"] > 0
    # The saved model, loaded again, scores the test split as the record says.
    model = import_keras().models.load_model(out / "model.keras")
    dataset = record.load_dataset()[0]
    # Each range of the dealt test split starts from silence and is scored after its warm-up.
    targets, predictions = [], []
    for first, frames in record.split("test"):
        inputs = dataset.select(record.inputs)[first : first + frames]
        targets.append(dataset.select([record.target])[first + 256 : first + frames])
        predictions.append(predict_sequence(model, inputs, 0)[256:])
    assert esr(np.concatenate(targets), np.concatenate(predictions)) == pytest.approx(
        record.results["test_esr"], rel=1e-4)


@pytest.mark.native
def test_ctrl_c_keeps_the_best_gru_so_far(tmp_path):
    require_tool("g++")

    def interrupting_log(line):
        if line.startswith("epoch   2/"):
            raise KeyboardInterrupt

    config = TrainConfig(inputs=["knob_1", "audio_in_1"], target="audio_in_2", family="gru",
                         units=3, recurrent_warmup=128, scored_frames=256, max_epochs=5,
                         candidates=1)
    report = train(knob_filter_dataset(1.5), config, tmp_path, log=interrupting_log)
    assert report["interrupted"] and report["epochs_run"] == 2
    assert report["refine"]["iterations_run"] == 0
    assert TrainingRecord.read(tmp_path / "training.json").results["family"] == "gru"
    assert (tmp_path / "model.keras").is_file()


def test_gru_options_without_the_gru_family_are_refused(tmp_path, capsys):
    knob_filter_dataset(0.2, tmp_path / "filter")
    for option in (["--units", "8"], ["--no-skip"], ["--warmup", "100"]):
        assert main(["train", str(tmp_path / "filter.wav"), "-o", str(tmp_path / "run"),
                     *option]) == 1
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and option[0] in error and "--family gru" in error
    assert not (tmp_path / "run").exists()


def test_wavenet_options_with_the_gru_family_are_refused(tmp_path, capsys):
    knob_filter_dataset(0.2, tmp_path / "filter")
    for option in (["--filters", "4,4"], ["--kernel-size", "3"]):
        assert main(["train", str(tmp_path / "filter.wav"), "-o", str(tmp_path / "run"),
                     "--family", "gru", *option]) == 1
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and option[0] in error and "--units" in error
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("inputs", "skip", "expected"), [
    (["knob_1", "audio_in_1"], True, 1),
    (["audio_in_2", "knob_1", "audio_in_1"], True, 0),
    (["knob_1", "audio_in_1"], False, None),
    (["knob_1", "cv_1"], True, None),  # no audio input: nothing to skip
])
def test_the_skip_starts_from_the_first_audio_input(inputs, skip, expected):
    config = TrainConfig(inputs=inputs, target="audio_in_2", family="gru", units=5, skip=skip)
    assert config.architecture() == GruArchitecture(len(inputs), 5, skip_input=expected)
    assert config.warmup == config.recurrent_warmup


def test_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown model family 'lstm'"):
        TrainConfig(inputs=["audio_in_1"], target="audio_in_2", family="lstm").architecture()
