"""Every output is written atomically: a failure leaves the earlier file as it was."""

import os
import stat
from pathlib import Path

import pytest

from daisynet.host_sim.files import OutputExistsError, atomic_output, write_bytes, write_text


def leftovers(folder):
    return sorted(path.name for path in folder.iterdir() if ".partial" in path.name)


def test_a_write_that_fails_halfway_leaves_the_earlier_file_and_no_temporary(tmp_path):
    target = tmp_path / "model_defn.h"
    target.write_text("the working header")
    with pytest.raises(OSError, match="No space left"), atomic_output(target) as temporary:
        temporary.write_text("half a hea")
        raise OSError(28, "No space left on device")
    assert target.read_text() == "the working header"
    assert leftovers(tmp_path) == []


def test_ctrl_c_while_writing_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.wav"
    with pytest.raises(KeyboardInterrupt), atomic_output(target) as temporary:
        temporary.write_bytes(b"RIFF")
        raise KeyboardInterrupt
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_the_temporary_file_keeps_the_suffix_writers_go_by(tmp_path):
    with atomic_output(tmp_path / "model.keras") as temporary:
        assert temporary.suffix == ".keras" and temporary.parent == tmp_path
        temporary.write_bytes(b"x")
    assert (tmp_path / "model.keras").read_bytes() == b"x"


def test_a_finished_output_replaces_the_earlier_one_with_the_usual_mode(tmp_path):
    target = tmp_path / "report.json"
    write_text(target, "old")
    write_text(target, "new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_replace_false_never_replaces_a_file_that_appeared_while_writing(tmp_path):
    """Two captures to one name at once: the second to finish must not replace the first."""
    target = tmp_path / "take.wav"
    with (pytest.raises(OutputExistsError, match="already exists"),
          atomic_output(target, replace=False) as temporary):
        temporary.write_bytes(b"second take")
        write_bytes(target, b"first take")  # the other run finishes first
    assert target.read_bytes() == b"first take"
    assert leftovers(tmp_path) == []


def test_replace_false_holds_on_a_file_system_without_hard_links(tmp_path, monkeypatch):
    def no_links(source, destination):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "take.wav"
    with (pytest.raises(OutputExistsError),
          atomic_output(target, replace=False) as temporary):
        temporary.write_bytes(b"second take")
        target.write_bytes(b"first take")
    assert target.read_bytes() == b"first take"
    assert write_bytes(tmp_path / "new.wav", b"1", replace=False).read_bytes() == b"1"
    assert leftovers(tmp_path) == []


def test_replace_false_writes_a_new_file(tmp_path):
    assert write_bytes(tmp_path / "a.bin", b"1", replace=False).read_bytes() == b"1"


def test_a_set_of_files_is_renamed_into_place_only_once_all_are_written(tmp_path, monkeypatch):
    """Issue 22, item 2: a header and its golden vectors are never left mismatched."""
    from pathlib import Path

    from daisynet.host_sim.files import OutputWriteError, write_texts

    header, golden = tmp_path / "model_defn.h", tmp_path / "model_defn_golden.h"
    header.write_text("old header")
    golden.write_text("old golden")
    real_write_text = Path.write_text

    def fills_up(path, text, *args, **kwargs):
        if "golden" in path.name:
            real_write_text(path, text[: len(text) // 2])
            raise OSError(28, "No space left on device")
        return real_write_text(path, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fills_up)
    with pytest.raises(OutputWriteError, match="golden.h: could not write it .No space left on "
                                               "device.; the earlier file is unchanged"):
        write_texts({header: "new header", golden: "new golden"})
    assert header.read_text() == "old header" and golden.read_text() == "old golden"
    assert leftovers(tmp_path) == []


def test_a_temporary_file_that_cannot_be_made_names_the_output_not_the_temporary(tmp_path,
                                                                                monkeypatch):
    import tempfile

    from daisynet.host_sim.files import OutputWriteError

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system", str(tmp_path / ".out.x.partial.wav"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OutputWriteError) as raised, atomic_output(tmp_path / "out.wav"):
        pass
    assert str(raised.value) == (f"{tmp_path / 'out.wav'}: could not write it (Read-only file "
                                 "system); nothing was written")


def test_checking_an_output_in_a_new_folder_creates_nothing_and_writing_creates_it(tmp_path):
    from daisynet.host_sim.files import check_output_file

    out = tmp_path / "new" / "deeper" / "model_defn.h"
    assert check_output_file(out) == out
    assert list(tmp_path.iterdir()) == []
    write_text(out, "header")
    assert out.read_text() == "header"


def test_an_output_folder_under_a_file_is_refused_in_one_line(tmp_path):
    from daisynet.host_sim.files import OutputPathError, check_output_file

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputPathError, match=r"notes\.txt: is a file, not a folder$"):
        check_output_file(tmp_path / "notes.txt" / "sub" / "out.wav")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_folder_that_cannot_be_created_is_refused_before_any_work(tmp_path, monkeypatch):
    import tempfile

    from daisynet.host_sim.files import OutputPathError, check_output_file

    probed = []

    def read_only(*args, dir=None, **kwargs):
        probed.append(Path(dir))
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(OutputPathError, match=f"new: cannot create it in {tmp_path} "
                                              r"\(Permission denied\)$"):
        check_output_file(tmp_path / "new" / "out.wav")
    assert probed == [tmp_path] and list(tmp_path.iterdir()) == []
