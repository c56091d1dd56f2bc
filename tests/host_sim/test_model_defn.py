"""The model_defn.h contract: its format version, written into every header and checked by the
reader; the GRU family's header, its hash, its refusals, and that it compiles."""

import dataclasses
import hashlib
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from daisynet.host_sim.model_defn import (
    MODEL_DEFN_FORMAT_VERSION,
    Architecture,
    GruArchitecture,
    GruLayer,
    GruSpec,
    HeaderError,
    UnsupportedModelError,
    read_header,
    render_header,
)
from daisynet.host_sim.quantize import quantize_spec, random_gru_spec, random_spec
from tests.conftest import require_tool

REPO = Path(__file__).resolve().parents[2]
VERSION_LINE = re.compile(r"inline constexpr std::uint32_t kModelDefnFormatVersion = \d+;\n")


def header_text(number_format: str) -> str:
    if number_format == "gru":
        return render_header(random_gru_spec(GruArchitecture(2, 5, 1, skip_input=1)), "test")
    spec = random_spec(Architecture(2, (3, 3), 2), seed=1)
    if number_format != "float32":
        calibration = np.random.default_rng(0).uniform(-1.0, 1.0, (256, 2))
        spec = quantize_spec(spec, number_format, calibration)
    return render_header(spec, "test")


@pytest.mark.parametrize("number_format", ["float32", "q15", "q7", "gru"])
def test_every_header_states_the_format_version_and_family_and_reads_back(number_format,
                                                                        tmp_path):
    text = header_text(number_format)
    assert VERSION_LINE.findall(text) == [
        f"inline constexpr std::uint32_t kModelDefnFormatVersion = {MODEL_DEFN_FORMAT_VERSION};\n"]
    family = "Gru" if number_format == "gru" else "Wavenet"
    assert ("enum class ModelFamily { kWavenet, kGru };\n"
            f"inline constexpr ModelFamily kModelFamily = ModelFamily::k{family};\n") in text
    assert ("#define DAISYNET_MODEL_FAMILY_GRU 1\n" in text) == (number_format == "gru")
    (tmp_path / "model_defn.h").write_text(text)
    spec = read_header(tmp_path / "model_defn.h")
    assert spec.family == family.lower()
    assert spec.number_format == ("float32" if number_format == "gru" else number_format)


@pytest.mark.parametrize("number_format", ["float32", "q15", "gru"])
@pytest.mark.parametrize("version, message", [
    (1, f"model_defn.h format version 1 is older than this daisynet reads "
        f"({MODEL_DEFN_FORMAT_VERSION}); export the model again"),
    (MODEL_DEFN_FORMAT_VERSION + 1,
     f"model_defn.h format version {MODEL_DEFN_FORMAT_VERSION + 1} is newer than this daisynet "
     f"reads ({MODEL_DEFN_FORMAT_VERSION}); update daisynet"),
    (None, "no kModelDefnFormatVersion: not a daisynet model_defn.h, or one exported by an "
           "older daisynet; export the model again"),
])
def test_a_header_of_a_newer_or_no_format_version_is_refused_in_one_line(
        number_format, version, message, tmp_path):
    replacement = ("" if version is None else
                   f"inline constexpr std::uint32_t kModelDefnFormatVersion = {version};\n")
    header = tmp_path / "model_defn.h"
    header.write_text(VERSION_LINE.sub(replacement, header_text(number_format)))
    with pytest.raises(HeaderError) as err:
        read_header(header)
    assert str(err.value) == f"{header}: {message}"


def gru_spec(units: int = 4, **changes) -> GruSpec:
    spec = random_gru_spec(GruArchitecture(2, units, 1, skip_input=1), seed=3,
                           input_names=["knob_1", "audio_in_1"])
    return dataclasses.replace(spec, **changes)


def write_gru_header(tmp_path, spec: GruSpec | None = None, edit=lambda text: text):
    header = tmp_path / "model_defn.h"
    header.write_text(edit(render_header(spec or gru_spec(), "test")))
    return header


def arrays_of(spec: GruSpec) -> list[np.ndarray]:
    return spec.weight_arrays()


def test_a_gru_header_reads_back_to_an_equal_spec(tmp_path):
    spec = gru_spec()
    back = read_header(write_gru_header(tmp_path, spec))
    assert isinstance(back, GruSpec)
    assert (back.name, back.sample_rate, back.input_names, back.output_names) == (
        spec.name, spec.sample_rate, spec.input_names, spec.output_names)
    for read, written in zip(arrays_of(back), arrays_of(spec), strict=True):
        assert read.dtype == np.float32 and np.array_equal(read, written)
    assert back.weights_sha256() == spec.weights_sha256()
    assert back.architecture() == GruArchitecture(2, 4, 1)


def test_the_gru_header_holds_the_contracts_arrays_in_the_engines_order(tmp_path):
    spec = gru_spec()
    text = render_header(spec, "test")
    declarations = re.findall(r"alignas\(16\) inline constexpr float (\w+\[[^\]]*\])", text)
    assert declarations == [
        "kGruInputWeights[kNumInputs * 3 * kGruUnits]",
        "kGruRecurrentWeights[kGruUnits * 3 * kGruUnits]",
        "kGruInputBias[3 * kGruUnits]", "kGruRecurrentBias[3 * kGruUnits]",
        "kHeadWeights[kGruUnits * kNumOutputs]", "kHeadBias[kNumOutputs]",
        "kInputSkipWeights[kNumInputs * kNumOutputs]"]
    assert "inline constexpr std::size_t kGruUnits = 4;" in text
    assert "at most 2.5e-07 and 4.41e-07 from the exact\n// functions Keras computes." in text
    # Row-major [row][gate column]: the second value is input 0's weight to gate column 1.
    first = re.search(r"kGruInputWeights\[[^\]]*\] = \{\s*([^,]+), ([^,]+),", text)
    assert np.float32(first[2].rstrip("f")) == spec.gru.input_weights[0, 1]


def test_the_gru_hash_is_the_contracts():
    spec = gru_spec()
    digest = hashlib.sha256(b"gru" + np.array([4, 2, 1], "<u4").tobytes())
    for array in (spec.gru.input_weights, spec.gru.recurrent_weights, spec.gru.input_bias,
                  spec.gru.recurrent_bias, spec.head_weights, spec.head_bias,
                  spec.input_skip_weights):
        digest.update(np.asarray(array, "<f4").tobytes())
    digest.update(b'{"inputs":["knob_1","audio_in_1"],"outputs":["output_1"],'
                  b'"sample_rate":48000}')
    assert spec.weights_sha256() == digest.hexdigest()
    # Every array, the names and the rate change it.
    assert gru_spec(sample_rate=44100).weights_sha256() != spec.weights_sha256()
    for index in range(7):
        changed = [array.copy() for array in arrays_of(spec)]
        changed[index].flat[0] += 1.0
        gru = GruLayer(*changed[:4])
        other = dataclasses.replace(spec, gru=gru, head_weights=changed[4],
                                    head_bias=changed[5], input_skip_weights=changed[6])
        assert other.weights_sha256() != spec.weights_sha256(), index


def test_the_committed_default_models_hash_is_unchanged_by_format_version_2():
    header = read_header(REPO / "firmware" / "model" / "model_defn.h")
    assert header.family == "wavenet"
    assert header.weights_sha256() == (
        "eeeeca6260cd8084d2dd5417cd3dd43b56d7e1c6b790280465022c5898d0899b")


def test_a_gru_spec_the_engine_cannot_run_is_refused_in_one_line():
    spec = gru_spec()
    nan_bias = spec.head_bias.copy()
    nan_bias[0] = np.nan
    wide = random_gru_spec(GruArchitecture(2, 64, 1))
    too_many = dataclasses.replace(
        wide, gru=GruLayer(np.zeros((2, 195), np.float32), np.zeros((65, 195), np.float32),
                           np.zeros(195, np.float32), np.zeros(195, np.float32)),
        head_weights=np.zeros((65, 1), np.float32))
    short_skip = dataclasses.replace(spec, input_skip_weights=np.zeros((1, 1), np.float32))
    cases = [
        (dataclasses.replace(spec, head_bias=nan_bias),
         "head bias: 1 non-finite values (NaN/inf); the training diverged"),
        (too_many, "GRU of 65 units; the engine supports 1..64"),
        (short_skip, "input skip weights: shape (1, 1), but 4 units, 2 inputs and the head's "
                     "outputs make it (2, 1)"),
        (dataclasses.replace(spec, number_format="q15"),
         "a q15 GRU spec needs its q15 recurrent weights"),
        (dataclasses.replace(spec, number_format="q7"),
         "q7 GRU: not supported; a GRU runs in float32 or q15 (its recurrent product), and q7 "
         "would leave 8 bits for a state that feeds itself back"),
        (dataclasses.replace(spec, name='a "quoted" name'),
         "model name 'a \"quoted\" name': the header holds it as a C string; use printable "
         "ASCII without quotes or backslashes"),
    ]
    for bad, message in cases:
        with pytest.raises(UnsupportedModelError) as err:
            render_header(bad, "test")
        assert str(err.value) == message


def replace_constant(name: str, value: str):
    pattern = re.compile(rf"(\b{name}(?:\[[^\]]*\])? = )[^;{{]+;")
    return lambda text: pattern.sub(rf"\g<1>{value};", text, count=1)


def drop_last_value(name: str):
    pattern = re.compile(rf"(\b{name}\[[^\]]*\] = \{{[^}}]*?)[^,\s]+,\s*\}};")
    return lambda text: pattern.sub(r"\g<1>};", text, count=1)


@pytest.mark.parametrize("edit, message", [
    (replace_constant("kGruUnits", "5"), "kGruInputWeights has 24 values, expected 30"),
    (replace_constant("kGruUnits", "65"), "kGruUnits is 65; the engine supports 1..64"),
    (drop_last_value("kGruRecurrentBias"), "kGruRecurrentBias has 11 values, expected 12"),
    (drop_last_value("kInputSkipWeights"), "kInputSkipWeights has 1 values, expected 2"),
    (replace_constant("kNumOutputs", "2"), "kHeadWeights has 4 values, expected 8"),
    (lambda text: text.replace("kHeadBias[kNumOutputs] = {\n    ",
                               "kHeadBias[kNumOutputs] = {\n    1.5f + "),
     "kHeadBias holds a value that is not a number (could not convert string to float: "
     "'1.5f + -0.00192529976')"),
    (lambda text: re.sub(r"(kHeadBias\[kNumOutputs\] = \{\s*)[^,]+,", r"\g<1>0.25f,", text),
     "weights, shapes, channel names or sample rate do not match kWeightsSha256 (edited or "
     "damaged after export); export the model again"),
    (lambda text: re.sub(r"(kHeadBias\[kNumOutputs\] = \{\s*)[^,]+,", r"\g<1>nan,", text),
     "weights, shapes, channel names or sample rate do not match kWeightsSha256 (edited or "
     "damaged after export); export the model again"),
    (replace_constant("kMacsPerSample", "1"),
     "kMacsPerSample is 1, but kGruUnits makes it 78 (edited after export); export the model "
     "again"),
    (replace_constant("kModelFamily", "ModelFamily::kLstm"),
     "kModelFamily = ModelFamily::kLstm is not one of ModelFamily::kWavenet, ModelFamily::kGru"),
    (replace_constant("kNumberFormat", "NumberFormat::kQ7"),
     "kNumberFormat = NumberFormat::kQ7; GRU models are float32 or q15"),
], ids=["units-mismatch", "too-many-units", "short-bias", "short-skip", "outputs-mismatch",
        "not-a-number", "bad-hash", "nan-weight", "macs", "unknown-family", "q15"])
def test_a_damaged_or_edited_gru_header_is_refused_in_one_line(edit, message, tmp_path):
    header = write_gru_header(tmp_path, edit=edit)
    with pytest.raises(HeaderError) as err:
        read_header(header)
    assert str(err.value) == f"{header}: {message}"


def test_a_gru_header_compiles_warning_free_and_holds_its_weights(tmp_path):
    compiler = require_tool("g++")
    spec = gru_spec()
    write_gru_header(tmp_path, spec)
    probe = tmp_path / "probe.cc"
    probe.write_text(
        '#include "model_defn.h"\n'
        "namespace m = daisynet::model;\n"
        "#if !DAISYNET_MODEL_FAMILY_GRU\n#error not a GRU header\n#endif\n"
        "static_assert(m::kModelFamily == m::ModelFamily::kGru);\n"
        "static_assert(m::kModelDefnFormatVersion == " f"{MODEL_DEFN_FORMAT_VERSION});\n"
        "static_assert(sizeof(m::kGruRecurrentWeights) == 4 * 3 * 4 * sizeof(float));\n"
        f"static_assert(m::kParameters == {spec.architecture().parameters});\n"
        "#include <cstdint>\n"
        "int main() {\n"
        "  bool aligned = reinterpret_cast<std::uintptr_t>(m::kGruRecurrentWeights) % 16 == 0;\n"
        f"  return aligned && m::kGruRecurrentWeights[1 * 12 + 5] == "
        f"{float(spec.gru.recurrent_weights[1, 5])!r}f"
        f" && m::kInputSkipWeights[1] == {float(spec.input_skip_weights[1, 0])!r}f ? 0 : 1;\n"
        "}\n")
    result = subprocess.run(
        [compiler, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path),
         str(probe), "-o", str(tmp_path / "probe")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert subprocess.run([str(tmp_path / "probe")]).returncode == 0
