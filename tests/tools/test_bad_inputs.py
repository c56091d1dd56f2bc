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

from host_sim.header import HeaderError, read_header
from host_sim.spec import UnsupportedModelError
from tools.cli import main
from tools.dataset import Dataset, DatasetError, load_dataset, read_wav

REPO_HEADER = Path(__file__).resolve().parents[2] / "firmware" / "model" / "model_defn.h"

# (argv before the option, option, what it accepts)
OPTIONS = [
    (["train", "d.wav"], "--epochs", "whole>=1"),
    (["train", "d.wav"], "--batch-size", "whole>=1"),
    (["train", "d.wav"], "--window", "whole>=1"),
    (["train", "d.wav"], "--candidates", "whole>=1"),
    (["train", "d.wav"], "--patience", "whole>=0"),
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
@given(key=st.sampled_from(["channels", "sample_rate", "frames", "source", "format"]),
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
