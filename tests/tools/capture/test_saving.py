"""Saving a capture loses nothing: the destination is checked first, a failing one is rescued,
nothing is written over, and a capture with nothing in it is an error (issue 10, findings 3, 6,
7, 8)."""

import json
import os

import pytest

from daisynet.tools.capture import CaptureRequest, capture_emulated
from daisynet.tools.cli import main
from daisynet.training.dataset import load_dataset
from tests.tools.capture.helpers import quiet

pytestmark = pytest.mark.usefixtures("compiler")


def test_an_unwritable_destination_is_refused_before_recording(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    code = main(["capture", "--emulate", "--emulate-seconds", "1",
                 "-o", str(tmp_path / "file" / "cap")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "file: is a file, not a folder" in err


def test_a_destination_that_fails_at_save_time_saves_to_a_rescue_folder(tmp_path, source,
                                                                         monkeypatch):
    from daisynet.tools.capture import CaptureError, saving, session

    monkeypatch.setattr(session, "_check_destination", lambda *_: None)
    rescue = tmp_path / "rescue"
    monkeypatch.setattr(saving, "rescue_folders", lambda: [rescue])
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CaptureError, match="the capture is saved as") as err:
        capture_emulated(source, CaptureRequest(tmp_path / "file" / "cap"), **quiet())
    saved = str(err.value).split("saved as ")[1].split(" instead")[0]
    assert saved.startswith(str(rescue)) and saved.endswith("-cap.wav")
    captured = load_dataset(saved)
    assert captured.frames == source.frames
    log = json.loads((rescue / (os.path.basename(saved)[:-4] + ".capture.json")).read_text())
    assert log["dataset"] == saved and captured.source["capture_log"].endswith("-cap.capture.json")


def test_an_earlier_capture_is_replaced_only_with_force(tmp_path, capsys):
    command = ["capture", "--emulate", "--emulate-seconds", "1", "-o", str(tmp_path / "c")]
    assert main(command) == 0
    first = (tmp_path / "c.wav").read_bytes()
    capsys.readouterr()
    assert main(command) == 1
    err = capsys.readouterr().err
    assert "c.wav already exists" in err and "--force" in err and err.count("\n") == 1
    assert (tmp_path / "c.wav").read_bytes() == first
    assert main([*command, "--force"]) == 0


def test_capture_never_writes_over_the_dataset_it_replays(tmp_path, source, capsys):
    source.save(tmp_path / "in")
    before = (tmp_path / "in.wav").read_bytes()
    assert main(["capture", "--emulate", "--emulate-input", str(tmp_path / "in.wav"),
                 "-o", str(tmp_path / "in"), "--force"]) == 1
    assert "is also an input" in capsys.readouterr().err
    assert (tmp_path / "in.wav").read_bytes() == before


def test_losing_every_frame_is_an_error_not_a_silent_dataset(tmp_path, source, monkeypatch):
    from daisynet.tools.capture import CaptureError
    from daisynet.tools.capture.assembly import Assembler

    monkeypatch.setattr(Assembler, "_on_data", lambda self, frame: None)
    with pytest.raises(CaptureError, match="frames the device recorded were lost"):
        capture_emulated(source, CaptureRequest(tmp_path / "cap"), **quiet())
    assert not (tmp_path / "cap.wav").exists() and (tmp_path / "cap.capture.json").exists()


def test_a_capture_too_gappy_to_train_says_so(tmp_path, capsys):
    """Issue 10, finding 16: a gappy live capture was saved without a word, then refused by
    train. Dropping 5% of frames live leaves no 2,304-frame gap-free window."""
    assert main(["capture", "--emulate", "--emulate-seconds", "5", "--drop-rate", "0.05",
                 "--mode", "live", "-o", str(tmp_path / "gappy")]) == 0
    out = capsys.readouterr().out
    assert "warning: too gappy to train with the default window" in out
    assert "--mode record" in out
