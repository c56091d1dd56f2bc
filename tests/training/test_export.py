import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from daisynet.host_sim.model_defn import (
    Architecture,
    HeaderError,
    UnsupportedModelError,
    golden_path,
    read_golden,
    read_header,
    render_header,
)
from daisynet.training.export import ModelMetadata, export, load_keras, spec_from_keras
from daisynet.training.model import predict_sequence
from daisynet.training.record import TrainingRecord
from tests.conftest import require_tool

pytestmark = pytest.mark.native

REPO = Path(__file__).resolve().parents[2]


def save_with_metadata(model, folder: Path, inputs: list[str], target: str = "audio_out_1",
                       sample_rate: int = 44_100):
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    TrainingRecord(name="test_model", sample_rate=sample_rate, inputs=inputs, target=target,
                   model_file="model.keras").write(folder)
    return folder / "model.keras"


def test_export_and_reload_round_trip(tmp_path, random_wavenet):
    model = random_wavenet(3, (4, 4, 4, 8), 4, seed=5)
    path = save_with_metadata(model, tmp_path / "m", ["knob_1", "knob_2", "audio_in_1"])
    spec, header, golden = export(path, tmp_path / "out" / "model_defn.h", command="daisynet test")
    assert header.read_text().startswith("// GENERATED FILE, do not edit. Made by: daisynet test")
    reloaded = read_header(header)
    assert reloaded.weights_sha256() == spec.weights_sha256()
    assert reloaded.input_names == ["knob_1", "knob_2", "audio_in_1"]
    assert reloaded.output_names == ["audio_out_1"]
    assert reloaded.sample_rate == 44_100 and reloaded.name == "test_model"
    for original, loaded in zip(spec.layers, reloaded.layers, strict=True):
        assert np.array_equal(original.weights, loaded.weights)  # bit-exact float32
        assert np.array_equal(original.bias, loaded.bias)
        assert (original.dilation, original.relu) == (loaded.dilation, loaded.relu)
    inputs, outputs = read_golden(golden, reloaded)
    assert inputs.shape == (512, 3) and outputs.shape == (512, 1)
    np.testing.assert_allclose(predict_sequence(model, inputs, 256), outputs, atol=1e-7)


def test_metadata_defaults_without_training_json(tmp_path, random_wavenet):
    random_wavenet(2, (2, 2), 2).save(tmp_path / "bare.keras")
    metadata = ModelMetadata.beside(tmp_path / "bare.keras")
    assert not metadata.found
    spec = spec_from_keras(load_keras(tmp_path / "bare.keras"), metadata)
    assert spec.input_names == ["input_1", "input_2"] and spec.sample_rate == 48_000


def test_tampered_or_truncated_header_is_refused(tmp_path, random_wavenet):
    path = save_with_metadata(random_wavenet(1, (2, 2), 2), tmp_path / "m", ["audio_in_1"])
    _, header, _ = export(path, tmp_path / "model_defn.h", command="x")
    text = header.read_text()
    first_weight = text.index("kLayer0Weights[")
    value_start = text.index("{", first_weight) + 1
    value_end = text.index(",", value_start)
    tampered = text[:value_start] + " 0.5f" + text[value_end:]
    header.write_text(tampered)
    with pytest.raises(HeaderError, match="do not match kWeightsSha256"):
        read_header(header)
    header.write_text(text[:value_start] + text[value_end + 1 :])
    with pytest.raises(HeaderError, match="kLayer0Weights has 3 values, expected 4"):
        read_header(header)
    header.write_text("// nothing here\n")
    with pytest.raises(HeaderError, match="no kModelDefnFormatVersion: not a daisynet model_defn"):
        read_header(header)


def keras_stack(*layers):
    import keras

    inputs = keras.Input(shape=(None, 2))
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def unsupported_models():
    from keras import layers

    def conv(f, k, d=1, act="relu", pad="causal", **kw):
        return layers.Conv1D(f, k, dilation_rate=d, activation=act, padding=pad, **kw)

    ok_tail = [conv(3, 1), conv(1, 1, act=None)]
    return {
        "a Dense": (keras_stack(conv(3, 2), conv(3, 1), layers.Dense(1)), "is a Dense"),
        "an LSTM": (keras_stack(layers.LSTM(3, return_sequences=True), conv(1, 1, act=None)),
                    "is a LSTM"),
        "stride 2": (keras_stack(conv(3, 2, strides=2), *ok_tail), "stride 2"),
        "same padding": (keras_stack(conv(3, 2, pad="same"), *ok_tail), "padding 'same'"),
        "tanh": (keras_stack(conv(3, 2, act="tanh"), *ok_tail), "activation 'tanh'"),
        "non-power dilation": (
            keras_stack(conv(3, 4), conv(3, 1), conv(3, 4, d=3), conv(3, 1), conv(1, 1, act=None)),
            "dilation 3",
        ),
        "mixed kernels": (
            keras_stack(conv(3, 2), conv(3, 1), conv(3, 3, d=2), conv(3, 1), conv(1, 1, act=None)),
            "all blocks must share one kernel size",
        ),
        "relu head": (keras_stack(conv(3, 2), conv(3, 1), conv(1, 1)), "head must be linear"),
        "missing mix layer": (keras_stack(conv(3, 2), conv(1, 1, act=None)), "got 2 conv layers"),
    }


@pytest.mark.parametrize("case", list(unsupported_models()))
def test_unsupported_models_are_refused_with_the_reason(case):
    model, reason = unsupported_models()[case]
    with pytest.raises(UnsupportedModelError, match=reason):
        spec_from_keras(model)


def test_nan_weights_are_refused(random_wavenet):
    model = random_wavenet(1, (2, 2), 2)
    kernel = model.get_layer("block1_mix").kernel
    values = kernel.numpy()
    values[0, 0, 0] = np.nan
    kernel.assign(values)
    with pytest.raises(UnsupportedModelError, match="block1_mix.*non-finite weights"):
        spec_from_keras(model)


def test_header_compiles_as_cxx17_and_its_asserts_hold(tmp_path, random_wavenet):
    compiler = require_tool("g++")
    arch = Architecture(2, (3, 5, 7), 3)
    path = save_with_metadata(random_wavenet(2, (3, 5, 7), 3), tmp_path / "m", ["a", "b"])
    export(path, tmp_path / "model_defn.h", command="x")
    probe = tmp_path / "probe.cc"
    probe.write_text(
        '#include "model_defn.h"\n#include "model_defn_golden.h"\n'
        "namespace m = daisynet::model;\n"
        "static_assert(m::kNumLayers == 7 && m::kReceptiveField == 27);\n"
        "static_assert(m::kLayers[2].dilation == 3 && m::kLayers[4].dilation == 9);\n"
        f"static_assert(m::kParameters == {arch.parameters});\n"
        f"static_assert(m::kMacsPerSample == {arch.macs_per_sample});\n"
        "static_assert(daisynet::golden::kFrames * m::kNumInputs == "
        "sizeof(daisynet::golden::kInputs) / sizeof(float));\n"
        "int main() { return m::kLayers[0].weights[0] == m::kLayer0Weights[0] ? 0 : 1; }\n"
    )
    result = subprocess.run(
        [compiler, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path),
         str(probe), "-o", str(tmp_path / "probe")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert subprocess.run([str(tmp_path / "probe")]).returncode == 0


@pytest.mark.m7
def test_committed_default_header_is_reproducible(tmp_path):
    """firmware/model/model_defn.h is generated: regenerate it and compare."""
    from daisynet.host_sim.self_check import add_self_check

    require_tool("arm-none-eabi-g++")
    require_tool("qemu-system-arm")
    committed = REPO / "firmware" / "model" / "model_defn.h"
    first_line = committed.read_text().splitlines()[0]
    command = first_line.split("Made by: ", 1)[1]
    assert command == (
        "daisynet export firmware/model/model.keras -o firmware/model/model_defn.h "
        "--golden-input firmware/model/golden_input.wav"
    )
    from daisynet.training.audio_io import read_model_inputs

    model_path = REPO / "firmware" / "model" / "model.keras"
    spec = spec_from_keras(load_keras(model_path), ModelMetadata.beside(model_path))
    golden_inputs, _ = read_model_inputs(REPO / "firmware" / "model" / "golden_input.wav", spec)
    _, header, golden = export(model_path, tmp_path / "model_defn.h", command=command,
                               golden_inputs=golden_inputs)
    add_self_check(header)  # as the command does, on the emulated Cortex-M7
    # The emulated instruction count of the check's run may differ by one instruction in
    # 1,024 frames between runs (QEMU's SysTick calibration), which can move the rounded
    # figure per sample by one; everything else must be identical.
    count = re.compile(r"(kSelfCheckInstructionsPerSample = )(\d+)")
    fresh, expected = header.read_text(), committed.read_text()
    assert abs(int(count.search(fresh)[2]) - int(count.search(expected)[2])) <= 1
    assert count.sub(r"\1N", fresh) == count.sub(r"\1N", expected)
    committed_golden = golden_path(committed)
    expected_in, expected_out = read_golden(committed_golden, spec)
    fresh_in, fresh_out = read_golden(golden, spec)
    assert np.array_equal(fresh_in, expected_in)
    # Keras' float32 outputs differ between CPUs (TensorFlow picks kernels by the CPU's vector
    # units: 1.04e-5 measured on two x86_64 machines), within Keras' own float32 error against
    # float64 (1.28e-4 on the demo's test split); weights and inputs may not differ at all.
    np.testing.assert_allclose(fresh_out, expected_out, atol=1.3e-4)


def test_committed_golden_input_is_the_start_of_the_default_models_test_split():
    """firmware/model/golden_input.wav is the first 512 frames of the held-out test split of
    the data the default model was trained on (firmware/model/README.md)."""
    from daisynet.training.audio_io import read_model_inputs
    from daisynet.training.builtin_data import GENERATOR, make_waveshaper_dataset

    model_path = REPO / "firmware" / "model" / "model.keras"
    source = TrainingRecord.beside(model_path).dataset.source
    assert source["generator"] == GENERATOR  # else the default model needs retraining
    dataset = make_waveshaper_dataset(source["seconds"], source["seed"])
    spec = spec_from_keras(load_keras(model_path), ModelMetadata.beside(model_path))
    first, _ = TrainingRecord.beside(model_path).split("test")[0]
    golden_inputs, _ = read_model_inputs(model_path.with_name("golden_input.wav"), spec)
    expected = dataset.select(spec.input_names)[first : first + len(golden_inputs)]
    assert len(golden_inputs) == 512
    np.testing.assert_array_equal(golden_inputs, expected)


# Issue 10, finding 2: every hand edit that changes behaviour, or that the firmware compiles
# with, is refused by the header reader.
HAND_EDITS = [
    ('{"knob_1", "knob_2", "audio_in_1"}', '{"knob_2", "knob_1", "audio_in_1"}', "kWeightsSha256"),
    ('kOutputNames[kNumOutputs] = {"audio_in_2"}', 'kOutputNames[kNumOutputs] = {"audio_in_3"}',
     "kWeightsSha256"),
    ("kSampleRate = 44100.0f", "kSampleRate = 48000.0f", "kWeightsSha256"),
    ("kSampleRate = 44100.0f", "kSampleRate = 0.0f", "kSampleRate = 0.0f; a sample rate"),
    ("kNumInputs = 3;", "kNumInputs = 4;", "kNumInputs is 4, but the layer table makes it 3"),
    ("kKernelSize = 4;", "kKernelSize = 3;", "kKernelSize is 3"),
    ("kReceptiveField = 256;", "kReceptiveField = 64;", "kReceptiveField is 64"),
    ("kBlockFilters[kNumBlocks] = {4, 4, 4, 8}", "kBlockFilters[kNumBlocks] = {4, 4, 8, 8}",
     "kBlockFilters is {4, 4, 8, 8}"),
    ("kParameters = 465;", "kParameters = 400;", "kParameters is 400"),
    ("kMacsPerSample = 424;", "kMacsPerSample = 1;", "kMacsPerSample is 1"),
    ("kNumBlocks = 4;", "kNumBlocks = x;", "kNumBlocks = x is not an integer"),
]


@pytest.mark.parametrize("old, new, message", HAND_EDITS, ids=[e[1] for e in HAND_EDITS])
def test_every_hand_edit_of_the_header_is_refused(tmp_path, random_wavenet, old, new, message):
    path = save_with_metadata(random_wavenet(3, (4, 4, 4, 8), 4, seed=2), tmp_path / "m",
                              ["knob_1", "knob_2", "audio_in_1"], target="audio_in_2")
    _, header, _ = export(path, tmp_path / "model_defn.h", command="x")
    text = header.read_text()
    assert text.count(old) == 1
    header.write_text(text.replace(old, new))
    with pytest.raises(HeaderError, match=message.replace("{", r"\{").replace("}", r"\}")):
        read_header(header)


def test_the_hash_covers_names_order_rate_and_shapes(random_wavenet):
    spec = spec_from_keras(random_wavenet(2, (2, 2), 2, seed=1),
                           ModelMetadata(input_names=["a", "b"], output_names=["y"]))
    digest = spec.weights_sha256()
    for change in ({"input_names": ["b", "a"]}, {"output_names": ["z"]}, {"sample_rate": 44_100}):
        other = spec_from_keras(random_wavenet(2, (2, 2), 2, seed=1), ModelMetadata(
            **{"input_names": ["a", "b"], "output_names": ["y"], **change}))
        assert other.weights_sha256() != digest, change
    relu_flipped = spec_from_keras(random_wavenet(2, (2, 2), 2, seed=1),
                                   ModelMetadata(input_names=["a", "b"], output_names=["y"]))
    relu_flipped.layers[-1].relu = True
    assert relu_flipped.weights_sha256() != digest


def test_paths_and_names_with_newlines_or_backslashes_make_a_header_that_compiles(
        tmp_path, random_wavenet):
    """Issue 22, item 13: the header's first line records the command; a path with a newline
    (or a final backslash, which splices the next line on) must not break the header."""
    from daisynet.tools.cli import main

    compiler = require_tool("g++")
    folder = tmp_path / "new\nline\\"
    path = save_with_metadata(random_wavenet(3, (4, 4), 2), folder, ["knob_1", "knob_2", "in"])
    header = folder / "model\ndefn.h"
    assert main(["export", str(path), "-o", str(header)]) == 0
    golden = golden_path(header)
    # A library caller's command can end in a backslash.
    spec = read_header(header)
    trailing = tmp_path / "trailing.h"
    trailing.write_text(render_header(spec, "made by hand \\"))
    for included in (header, golden, trailing):
        assert included.read_text().splitlines()[1].startswith("// "), included
        # (#include takes no escapes: compile a copy under a plain name)
        (tmp_path / "included.h").write_text(included.read_text())
        probe = tmp_path / "probe.cc"
        probe.write_text('#include "included.h"\nint main() { return 0; }\n')
        result = subprocess.run([compiler, "-std=c++17", "-Wall", "-Wextra", "-Werror",
                                 "-fsyntax-only", str(probe)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert "Made by: daisynet export " in header.read_text().splitlines()[0]
    assert "new\\nline" in header.read_text().splitlines()[0]


@pytest.mark.parametrize("name", ['my "model"', "back\\slash", "two\nlines"])
def test_names_a_header_cannot_hold_as_they_are_are_refused_in_one_line(tmp_path, random_wavenet,
                                                                       name, capsys):
    from daisynet.tools.cli import main

    model = random_wavenet(3, (4, 4), 2)
    path = save_with_metadata(model, tmp_path / "m", ["knob_1", "knob_2", "in"])
    record = json.loads((tmp_path / "m" / "training.json").read_text())
    (tmp_path / "m" / "training.json").write_text(json.dumps({**record, "name": name}))
    assert main(["export", str(path), "-o", str(tmp_path / "m.h")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the header holds it as a C string" in err
    assert not (tmp_path / "m.h").exists()


def test_the_header_states_the_patchs_audio_range(tmp_path, random_wavenet):
    """Issue 22, item 22: the Patch's audio arrives in -2..2, not -1..1."""
    from daisynet.host_sim.quantize import quantized_header_for

    path = save_with_metadata(random_wavenet(3, (4, 4), 2), tmp_path / "m", ["a", "b", "c"])
    _, header, _ = export(path, tmp_path / "model_defn.h", command="x")
    _, quantized, _ = quantized_header_for(Architecture(3, (4, 4), 2), "q15", 0, tmp_path / "q")
    for text in (header.read_text(), quantized.read_text()):
        assert "audio in\n// -2..2 (the Patch's full scale), knobs/CV 0..1" in text
        assert "-1..1" not in text
