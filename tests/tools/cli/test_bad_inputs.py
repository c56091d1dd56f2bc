"""Property tests (issue 10): generated bad option values and malformed files end in one clear
error, never a traceback."""

import contextlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daisynet.host_sim.model_defn import HeaderError, UnsupportedModelError, read_header
from daisynet.tools.cli import main
from daisynet.training.dataset import Dataset, DatasetError, load_dataset, read_wav

REPO_HEADER = Path(__file__).resolve().parents[3] / "firmware" / "model" / "model_defn.h"

# (argv before the option, option, what it accepts)
OPTIONS = [
    (["train", "d.wav"], "--epochs", "whole>=1"),
    (["train", "d.wav"], "--batch-size", "whole>=1"),
    (["train", "d.wav"], "--window", "whole>=1"),
    (["train", "d.wav"], "--candidates", "whole>=1"),
    (["train", "d.wav"], "--patience", "whole>=0"),
    (["train", "d.wav"], "--max-seconds", "positive"),
    (["train", "d.wav"], "--kernel-size", "whole>=2"),
    (["train", "d.wav"], "--learning-rate", "positive"),
    (["export", "m.keras", "-o", "m.h"], "--golden-frames", "whole>=1"),
    (["simulate", "m.h", "x.wav", "-o", "y.wav"], "--block-size", "whole>=1"),
    (["verify", "m.keras"], "--seconds", "positive"),
    (["verify", "m.keras"], "--block-size", "whole>=1"),
    (["verify", "m.keras"], "--tolerance", "non-negative"),
    (["capture", "--emulate"], "--duration", "positive"),
    (["capture", "--emulate"], "--wait", "positive"),
    (["capture", "--emulate"], "--silence-timeout", "positive"),
    (["capture", "--emulate"], "--emulate-seconds", "positive"),
    (["capture", "--emulate"], "--flip-rate", "fraction"),
    (["capture", "--emulate"], "--drop-rate", "fraction"),
    (["capture", "--emulate"], "--link-rate", "whole>=1"),
    (["bench"], "--seconds", "positive"),
    (["demo"], "--seconds", "positive"),
    (["demo"], "--epochs", "whole>=1"),
]


def accepted(kind: str, text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    if kind.startswith("whole"):
        return bool(re.fullmatch(r"\s*[-+]?\d+\s*", text)) and value >= int(kind[-1])
    if not math.isfinite(value):
        return False
    return {"positive": value > 0, "non-negative": value >= 0,
            "fraction": 0 <= value <= 1}[kind]


values = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "", " ", "nine", "1e999", "0x10", "1,5", "½"]),
    st.text(max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(option=st.sampled_from(OPTIONS), value=values)
def test_bad_option_values_are_one_line_with_status_2(option, value):
    argv_start, name, kind = option
    if accepted(kind, value):
        return
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_status:
        main([*argv_start, f"{name}={value}"])
    assert exit_status.value.code == 2
    text = err.getvalue()
    assert text.count("\n") == 1 and "Traceback" not in text, text
    assert f"argument {name}" in text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=6)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["channels", "sample_rate", "frames", "source", "format",
                            "format_version"]),
       value=json_values)
def test_any_sidecar_value_loads_or_is_a_dataset_error(tmp_path, key, value):
    samples = np.full((96, 2), 0.25, np.float32)
    _, sidecar = Dataset(samples, 48_000, ["audio_in_1", "knob_1"]).save(tmp_path / "d")
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text()) | {key: value}))
    with contextlib.suppress(DatasetError):
        load_dataset(tmp_path / "d")


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 2000), junk=st.binary(max_size=64))
def test_any_damaged_wav_loads_or_is_a_dataset_error(tmp_path, cut, junk):
    Dataset(np.full((200, 2), 0.25, np.float32), 48_000, ["audio_in_1", "knob_1"]).save(
        tmp_path / "d")
    wav = tmp_path / "d.wav"
    content = wav.read_bytes()
    wav.write_bytes(content[:cut] + junk + content[cut + len(junk):])
    with contextlib.suppress(DatasetError):
        load_dataset(tmp_path / "d")
    with contextlib.suppress(DatasetError):  # a plain WAV, as simulate and verify read it
        read_wav(wav)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edited_header_constant_reads_or_is_refused(tmp_path, data):
    text = REPO_HEADER.read_text()
    numbers = [m for m in re.finditer(r"(?<=[=,{ ])-?\d+(\.\d+)?f?u?(?=[;,}])", text)]
    match = data.draw(st.sampled_from(numbers))
    replacement = data.draw(st.sampled_from(["0", "-1", "nine", "1e9", "3", "0.5f", ""]))
    header = tmp_path / "model_defn.h"
    header.write_text(text[: match.start()] + replacement + text[match.end():])
    with contextlib.suppress(HeaderError, UnsupportedModelError):
        read_header(header)


# --- every subcommand's file inputs and outputs ---------------------------------------------

BAD_INPUTS = ["missing", "empty", "directory", "text", "binary", "truncated_wav", "json"]


def make_bad_input(folder: Path, name: str, kind: str) -> Path:
    path = folder / name
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello, I am not what you think\n")
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "truncated_wav":
        good = folder / "good.wav"
        Dataset(np.full((4800, 2), 0.25, np.float32), 48_000,
                ["audio_in_1", "knob_1"]).save(good)
        path.write_bytes(good.read_bytes()[:300])
        good.unlink()
        good.with_suffix(".json").unlink()
    elif kind == "json":
        path.write_text('{"format": "daisynet-dataset", "channels": 7}')
    return path


# Each command as a function of its (bad) input files and its output path.
COMMANDS = {
    "simulate": (["model.h", "in.wav"], lambda i, o: ["simulate", i[0], i[1], "-o", o], ".wav"),
    "verify": (["model.keras", "in.wav"], lambda i, o: ["verify", i[0], "--input", i[1],
                                                        "--plot", o], ".png"),
    "export": (["model.keras", "gold.wav"], lambda i, o: ["export", i[0], "-o", o,
                                                          "--golden-input", i[1]], ".h"),
    "train": (["data.wav"], lambda i, o: ["train", i[0], "-o", o], ""),
    "bench": (["model.h"], lambda i, o: ["bench", i[0]], None),
    "flash": (["model.h"], lambda i, o: ["flash", "inference", "--model", i[0]], None),
    "capture": (["data.wav"], lambda i, o: ["capture", "--emulate", "--emulate-input", i[0],
                                            "-o", o], ""),
    "monitor": (["port"], lambda i, o: ["monitor", "--port", i[0], "--count", "1"], None),
}


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


@settings(max_examples=120, deadline=None)
@given(command=st.sampled_from(sorted(COMMANDS)), data=st.data())
def test_bad_files_for_any_command_are_one_line_and_change_nothing(command, data):
    import tempfile

    names, argv_for, out_suffix = COMMANDS[command]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        inputs = [make_bad_input(folder, name, data.draw(st.sampled_from(BAD_INPUTS)))
                  for name in names]
        output = folder / f"out{out_suffix or ''}"
        if out_suffix is not None:
            where = data.draw(st.sampled_from(["fresh", "an input", "a folder", "under a file"]))
            if where == "an input" and inputs[0].is_file():
                output = inputs[0]
            elif where == "a folder":
                output.mkdir()
            elif where == "under a file":
                (folder / "blocker").write_text("x")
                output = folder / "blocker" / f"out{out_suffix}"
        before = snapshot(folder)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main(argv_for([str(p) for p in inputs], str(output)))
            except SystemExit as exit_status:
                status = exit_status.code
        text = err.getvalue()
        assert status in (1, 2), text
        assert text.count("\n") == 1 and "Traceback" not in text, text
        named = [p.name for p in [*inputs, output]] + ["blocker"]
        assert any(name in text for name in named), text
        assert snapshot(folder) == before
