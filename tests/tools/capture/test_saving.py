"""Saving a capture loses nothing: the destination is checked first, a failing one is rescued,
nothing is written over, and a capture with nothing in it is an error (issue 10, findings 3, 6,
7, 8)."""

import json
import os
from pathlib import Path

import pytest

from daisynet.tools.capture import CaptureRequest, capture_emulated
from daisynet.tools.cli import main
from daisynet.training.dataset import load_dataset
from tests.tools.capture.helpers import quiet

pytestmark = pytest.mark.native


def test_an_unwritable_destination_is_refused_before_recording(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    code = main(["capture", "--emulate", "--emulate-seconds", "1",
                 "-o", str(tmp_path / "file" / "cap")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "file: is a file, not a folder" in err


def test_a_capture_creates_its_new_folder_only_when_it_saves(tmp_path, capsys):
    refused = ["capture", "--emulate", "--emulate-input", str(tmp_path / "missing.wav")]
    new = tmp_path / "new" / "deeper"
    assert main([*refused, "-o", str(new / "cap")]) == 1
    assert not (tmp_path / "new").exists()
    assert main(["capture", "--emulate", "--emulate-seconds", "1", "-o", str(new / "cap")]) == 0
    assert load_dataset(new / "cap.wav").frames > 0


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
    train. Dropping 15% of frames live leaves no 2,304-frame gap-free window (5% left one in
    every split dealt across the take, by chance)."""
    assert main(["capture", "--emulate", "--emulate-seconds", "5", "--drop-rate", "0.15",
                 "--mode", "live", "-o", str(tmp_path / "gappy")]) == 0
    out = capsys.readouterr().out
    assert "warning: too gappy to train with the default window" in out
    assert "--mode record" in out


# --- issue 22: full disks and races at save time ----------------------------------------------


def earlier_capture(folder) -> dict:
    """An earlier capture's three files, with their bytes."""
    files = {folder / name: f"earlier {name}\n".encode()
             for name in ("c.wav", "c.json", "c.capture.json")}
    for path, data in files.items():
        path.write_bytes(data)
    return files


def test_a_disk_that_fills_up_while_saving_rescues_the_take_and_keeps_the_earlier_one(
        tmp_path, monkeypatch, capsys):
    """Issue 22, item 1: libsndfile's error on a full disk was a traceback, left a truncated
    WAV and rescued nothing (only OSError was caught)."""
    import soundfile

    from daisynet.tools.capture import saving

    full = tmp_path / "full"
    full.mkdir()
    earlier = earlier_capture(full)
    monkeypatch.setattr(saving, "rescue_folders", lambda: [tmp_path / "rescue"])
    write = soundfile.write

    def write_until_full(path, *args, **kwargs):
        if Path(path).parent.parent == full or Path(path).parent == full:
            Path(path).write_bytes(b"RIFF half a WAV")
            raise soundfile.LibsndfileError(0, f"Error writing {path}: ")  # as on ENOSPC
        return write(path, *args, **kwargs)

    monkeypatch.setattr(soundfile, "write", write_until_full)
    assert main(["capture", "--emulate", "--emulate-seconds", "1", "--force",
                 "-o", str(full / "c")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [err] = [line for line in err.splitlines() if "error:" in line]
    assert "could not write" in err and "c.wav" in err
    assert {path: path.read_bytes() for path in earlier} == earlier
    assert sorted(p.name for p in full.iterdir()) == ["c.capture.json", "c.json", "c.wav"]
    saved = err.split("saved as ")[1].split(" instead")[0]
    assert saved.startswith(str(tmp_path / "rescue"))
    assert load_dataset(saved).frames == 48_000


def test_a_name_taken_while_recording_is_not_replaced_and_the_take_is_saved_beside_it(
        tmp_path, source, monkeypatch):
    """Issue 22, item 3: two captures to one name both said "wrote" and exited 0; the refusal
    now holds at save time, and the second take goes under a fresh name."""
    from daisynet.tools.capture import CaptureError, session

    record = session._record
    earlier: dict = {}

    def another_capture_saves_meanwhile(*args, **kwargs):
        reason = record(*args, **kwargs)
        earlier.update(earlier_capture(tmp_path))
        return reason

    monkeypatch.setattr(session, "_record", another_capture_saves_meanwhile)
    with pytest.raises(CaptureError, match="already exists") as err:
        capture_emulated(source, CaptureRequest(tmp_path / "c"), **quiet())
    assert {path: path.read_bytes() for path in earlier} == earlier
    saved = str(err.value).split("saved as ")[1].split(" instead")[0]
    assert Path(saved).parent == tmp_path and Path(saved).name.startswith("c-rescued-")
    captured = load_dataset(saved)
    assert captured.frames == source.frames
    assert (tmp_path / captured.source["capture_log"]).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_sidecar_is_never_placed_without_its_wav(tmp_path, source, monkeypatch):
    """When the WAV cannot take its name, the log placed before it is taken back and the
    sidecar is never placed: no half dataset under the name."""
    from daisynet.host_sim import files
    from daisynet.tools.capture import CaptureError, saving

    monkeypatch.setattr(saving, "rescue_folders", lambda: [tmp_path / "rescue"])
    rename = files._rename_without_replacing

    def wav_taken(temporary, path):
        if path == tmp_path / "c.wav":
            path.write_bytes(b"someone else's")
        rename(temporary, path)

    monkeypatch.setattr(files, "_rename_without_replacing", wav_taken)
    with pytest.raises(CaptureError, match="saved as"):
        capture_emulated(source, CaptureRequest(tmp_path / "c"), **quiet())
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "c.capture.json").exists()
    assert (tmp_path / "c.wav").read_bytes() == b"someone else's"


def test_every_file_a_capture_writes_goes_through_atomic_output(tmp_path, source, monkeypatch):
    from daisynet.host_sim import files
    from daisynet.tools.capture import saving

    atomic_output, written = files.atomic_output, []

    def recorded(path, replace=True):
        written.append(Path(path))
        return atomic_output(path, replace)

    monkeypatch.setattr(files, "atomic_output", recorded)  # write_text's
    monkeypatch.setattr(saving, "atomic_output", recorded)
    capture_emulated(source, CaptureRequest(tmp_path / "c"), **quiet())
    names = ["c.capture.json", "c.json", "c.wav"]
    assert sorted(path.name for path in tmp_path.iterdir()) == names
    # The log twice: saved with the dataset, then again with the emulated device's summary.
    assert sorted(path.name for path in written) == ["c.capture.json", *names]
