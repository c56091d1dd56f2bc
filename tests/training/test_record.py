"""The training record: one writer, one reader that checks the version, and the dataset it
names, which quantized export calibrates on."""

import json
import os

import pytest

from daisynet.host_sim.model_defn import read_header
from daisynet.tools.cli import main
from daisynet.training.builtin_data import make_waveshaper_dataset
from daisynet.training.record import (
    FORMAT_VERSION,
    RECORD_FILE,
    DatasetRecord,
    TrainingRecord,
    TrainingRecordError,
)

pytestmark = [pytest.mark.m7, pytest.mark.native]


def captured_dataset(folder, seconds=3.0):
    """A dataset on disk as `daisynet capture` saves one: not one export could regenerate."""
    dataset = make_waveshaper_dataset(seconds=seconds, seed=2)
    dataset.source = {"generator": "daisynet capture", "sample_format": "f32",
                      "suggested_inputs": dataset.source["suggested_inputs"],
                      "suggested_target": dataset.source["suggested_target"]}
    wav, _ = dataset.save(folder / "take")
    return wav


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`daisynet train` on a captured dataset, run from the dataset's folder with a relative
    path, as a user would: (folder, model path)."""
    folder = tmp_path_factory.mktemp("trained")
    captured_dataset(folder)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        assert main(["train", "take.wav", "-o", "run", "--filters", "3,3", "--kernel-size", "3",
                     "--epochs", "2", "--window", "256", "--candidates", "1",
                     "--refine-iterations", "0"]) == 0
    finally:
        os.chdir(cwd)
    return folder, folder / "run" / "model.keras"


def test_train_records_the_dataset_as_given_and_resolved_with_its_splits(trained):
    folder, model = trained
    record = TrainingRecord.beside(model)
    assert record.dataset.path == "take.wav"
    assert record.dataset.resolved == str((folder / "take.wav").resolve())
    assert record.dataset.frames == 3 * 48_000
    assert record.dataset.source["generator"] == "daisynet capture"
    assert record.split("validation") == [(3 * 14_400, 14_400)]  # the fourth of ten chunks
    assert record.results["epochs_run"] == 2
    checkpoint = TrainingRecord.beside(model.parent / "checkpoints" / "best.keras")
    assert checkpoint.model_file == "best.keras" and checkpoint.dataset == record.dataset
    assert checkpoint.split("test") == record.split("test") and not checkpoint.results


@pytest.mark.parametrize("model_file", ["model.keras", "checkpoints/best.keras"])
def test_quantized_export_of_a_trained_model_calibrates_on_its_validation_split(
        trained, model_file, tmp_path, capsys):
    """The issue's round trip: train on a captured dataset, export --quantize q15 with no
    --calibration (from another working directory than train ran in)."""
    folder, model = trained
    header = tmp_path / "x.h"
    status = main(["export", str(model.parent / model_file), "-o", str(header),
                   "--quantize", "q15"])
    out, err = capsys.readouterr()
    assert status == 0, err
    [(first, frames)] = TrainingRecord.beside(model).split("validation")
    assert (f"calibrating q15 on {frames} frames: validation split of "
            f"{(folder / 'take.wav').resolve()}, frames {first}..{first + frames}") in out
    assert read_header(header).number_format == "q15"


def test_a_moved_dataset_is_found_as_given_from_the_working_directory(trained, tmp_path,
                                                                      monkeypatch):
    _, model = trained
    record = TrainingRecord.beside(model)
    record.dataset.resolved = str(tmp_path / "moved" / "take.wav")
    record.path = tmp_path / RECORD_FILE
    monkeypatch.chdir(model.parents[1])
    dataset, description = record.load_dataset()
    assert description == "take.wav" and dataset.frames == record.dataset.frames
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TrainingRecordError, match=r"names dataset take\.wav, which is not "
                                                  r"there \(nor at .*moved/take\.wav\)"):
        record.load_dataset()


def write_record(folder, **changes):
    record = TrainingRecord(name="m", sample_rate=48_000, inputs=["audio_in_1"],
                            target="audio_in_2", model_file="model.keras",
                            dataset=DatasetRecord("d.wav", "/d.wav", 10, 48_000))
    path = record.write(folder)
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))
    return path


def test_write_then_read_is_the_same_record(tmp_path):
    record = TrainingRecord(name="m", sample_rate=44_100, inputs=["knob_1", "audio_in_1"],
                            target="audio_in_2", model_file="model.keras",
                            dataset=DatasetRecord("d.wav", "/x/d.wav", 10, 44_100, {"a": 1}),
                            splits={"test": {"first_frame": 8, "frames": 2, "esr": 0.1}},
                            results={"epochs_run": 3, "history": {"loss": [1.0]}})
    path = record.write(tmp_path)
    assert path == tmp_path / RECORD_FILE
    assert TrainingRecord.read(path) == record
    assert json.loads(path.read_text())["format_version"] == FORMAT_VERSION


def test_a_newer_format_version_is_refused_in_one_line(tmp_path):
    path = write_record(tmp_path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(TrainingRecordError) as err:
        TrainingRecord.read(path)
    assert "\n" not in str(err.value)
    assert str(err.value) == (f"{path}: training record format_version {FORMAT_VERSION + 1} "
                              f"is newer than this daisynet reads ({FORMAT_VERSION}); update "
                              "daisynet")


@pytest.mark.parametrize("changes, message", [
    ({"format": None}, "not a daisynet-training-record"),
    ({"format_version": "1"}, "format_version must be a whole number of at least 1"),
    ({"inputs": "audio_in_1"}, "'inputs' must be a list"),
    ({"inputs": [1]}, "'inputs' must be a list of channel names"),
    ({"sample_rate": 4.8e4}, "'sample_rate' must be a whole number"),
    ({"dataset": {"path": "d.wav"}}, "'dataset' is not a dataset record"),
])
def test_a_record_of_another_shape_is_refused_in_one_line(tmp_path, changes, message):
    path = write_record(tmp_path, **changes)
    with pytest.raises(TrainingRecordError, match=message) as err:
        TrainingRecord.read(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_export_refuses_a_newer_record_in_one_line(tmp_path, random_wavenet, capsys):
    random_wavenet(1, (2,), 2).save(tmp_path / "model.keras")
    write_record(tmp_path, format_version=FORMAT_VERSION + 1)
    assert main(["export", str(tmp_path / "model.keras"), "-o", str(tmp_path / "x.h")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is newer than this daisynet reads" in err


def legacy_record(source: dict) -> dict:
    """A training.json as daisynet wrote it before records carried a format (version 0)."""
    return {"model_file": "model.keras", "interrupted": False, "name": "old_run",
            "sample_rate": 48000, "inputs": ["knob_1", "knob_2", "audio_in_1"],
            "target": "audio_in_2", "dataset_source": source, "epochs_run": 80,
            "splits": {"train": {"frames": 1440, "first_frame": 0},
                       "validation": {"frames": 240, "first_frame": 1440},
                       "test": {"frames": 240, "first_frame": 1680}},
            "test_esr": 0.0125}


def test_a_record_from_before_format_versions_still_reads(tmp_path):
    """Users' earlier runs keep exporting: names, rate, splits and results carry over."""
    path = tmp_path / "training.json"
    path.write_text(json.dumps(legacy_record({"generator": "a patch recorded by hand"})))
    record = TrainingRecord.read(path)
    assert (record.name, record.sample_rate, record.target) == ("old_run", 48000, "audio_in_2")
    assert record.inputs == ["knob_1", "knob_2", "audio_in_1"]
    assert record.split("validation") == [(1440, 240)]
    assert record.results["test_esr"] == 0.0125 and "dataset_source" not in record.results
    assert record.dataset.source == {"generator": "a patch recorded by hand"}
    with pytest.raises(TrainingRecordError,
                       match=r"names no dataset file \(the model was trained on data made"):
        record.load_dataset()


def test_a_legacy_record_of_the_built_in_data_regenerates_it(tmp_path):
    builtin = make_waveshaper_dataset(seconds=0.04, seed=3)
    path = tmp_path / "training.json"
    path.write_text(json.dumps(legacy_record(builtin.source)))
    dataset, description = TrainingRecord.read(path).load_dataset()
    assert "regenerated" in description and dataset.frames == builtin.frames == 1920
