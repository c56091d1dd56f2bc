"""Issue 22, item 2: an output that cannot be written whole (a full disk) leaves the earlier file
exactly as it was, in one line, exit 1: for each kind of writer the commands use."""

import errno
from pathlib import Path

import numpy as np
import pytest
import soundfile

from daisynet.tools.cli import main
from tests.tools.cli.test_cli import exported  # noqa: F401 (a fixture)

NO_SPACE = OSError(errno.ENOSPC, "No space left on device")


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.rglob("*") if ".partial" in path.name)


def one_line_error(capsys, *expected: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, err


def test_export_onto_a_full_disk_keeps_the_working_header(exported, monkeypatch,  # noqa: F811
                                                          capsys):
    model_path, header = exported
    before = header.read_bytes()
    real_write_text = Path.write_text

    def fills_up(path, text, *args, **kwargs):
        real_write_text(path, text[: len(text) // 3])
        raise NO_SPACE

    monkeypatch.setattr(Path, "write_text", fills_up)
    assert main(["export", str(model_path), "-o", str(header)]) == 1
    one_line_error(capsys, "model_defn", "No space left on device", "earlier file is unchanged")
    assert header.read_bytes() == before
    assert leftovers(header.parent) == []


def test_simulate_onto_a_full_disk_keeps_the_earlier_render(tmp_path, exported,  # noqa: F811
                                                            audio_like, monkeypatch, capsys):
    _, header = exported
    soundfile.write(tmp_path / "in.wav", audio_like(600, 3), 48_000, subtype="FLOAT")
    render = tmp_path / "out.wav"
    assert main(["simulate", str(header), str(tmp_path / "in.wav"), "-o", str(render)]) == 0
    before = render.read_bytes()
    real_write = soundfile.write

    def fills_up(file, data, *args, **kwargs):
        real_write(file, np.asarray(data)[: len(data) // 2], *args, **kwargs)
        raise soundfile.LibsndfileError(0, "Error writing the file: ")

    monkeypatch.setattr(soundfile, "write", fills_up)
    capsys.readouterr()
    assert main(["simulate", str(header), str(tmp_path / "in.wav"), "-o", str(render)]) == 1
    one_line_error(capsys, "out.wav: could not write it", "earlier file is unchanged")
    assert render.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_verify_plot_onto_a_full_disk_keeps_the_earlier_plot(tmp_path, exported,  # noqa: F811
                                                            monkeypatch, capsys):
    from matplotlib.figure import Figure

    model_path, header = exported
    plot = tmp_path / "v.png"
    plot.write_bytes(b"an earlier plot")

    def fills_up(figure, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise NO_SPACE

    monkeypatch.setattr(Figure, "savefig", fills_up)
    assert main(["verify", str(model_path), "--header", str(header), "--engine", "python",
                 "--plot", str(plot)]) == 1
    one_line_error(capsys, "v.png: could not write it")
    assert plot.read_bytes() == b"an earlier plot"
    assert leftovers(tmp_path) == []


def test_a_dataset_save_onto_a_full_disk_keeps_the_earlier_dataset(tmp_path, monkeypatch):
    from daisynet.host_sim.files import OutputWriteError
    from daisynet.training.builtin_data import make_waveshaper_dataset

    make_waveshaper_dataset(seconds=0.2).save(tmp_path / "data")
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    real_write = soundfile.write

    def fills_up(file, data, *args, **kwargs):
        real_write(file, np.asarray(data)[: len(data) // 2], *args, **kwargs)
        raise soundfile.LibsndfileError(0, "Error writing the file: ")

    monkeypatch.setattr(soundfile, "write", fills_up)
    with pytest.raises(OutputWriteError, match="data.wav: could not write it"):
        make_waveshaper_dataset(seconds=0.3, seed=2).save(tmp_path / "data")
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before
