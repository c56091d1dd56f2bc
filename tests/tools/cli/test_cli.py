import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from daisynet.host_sim.engine import Simulator
from daisynet.host_sim.model_defn import read_header
from daisynet.tools.cli import main
from daisynet.training.builtin_data import make_waveshaper_dataset
from daisynet.training.export import export
from tests.training.test_export import save_with_metadata

pytestmark = [pytest.mark.m7, pytest.mark.native]


@pytest.fixture
def exported(tmp_path, random_wavenet):
    """A random reference-shaped model, saved and exported: (model.keras, model_defn.h)."""
    model = random_wavenet(3, (4, 4, 4, 8), 4, seed=9)
    path = save_with_metadata(model, tmp_path / "m", ["knob_1", "knob_2", "audio_in_1"],
                              target="audio_in_2")
    _, header, _ = export(path, tmp_path / "m" / "model_defn.h", command="test")
    return path, header


def test_simulate_renders_a_float32_wav_matching_the_engine(tmp_path, exported, audio_like):
    _, header = exported
    x = audio_like(3000, 3)
    soundfile.write(tmp_path / "in.wav", x, 48_000, subtype="FLOAT")
    assert main(["simulate", str(header), str(tmp_path / "in.wav"), "-o",
                 str(tmp_path / "out.wav"), "--block-size", "7"]) == 0
    out, rate = soundfile.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert rate == 48_000 and out.shape == (3000, 1)
    assert soundfile.info(tmp_path / "out.wav").subtype == "FLOAT"
    assert np.array_equal(out, Simulator(read_header(header)).process(x))


def test_simulate_picks_model_inputs_from_a_dataset_by_name(tmp_path, exported, capsys):
    model_path, _ = exported
    dataset = make_waveshaper_dataset(seconds=0.1, seed=3)
    dataset.save(tmp_path / "data")
    assert main(["simulate", str(model_path), str(tmp_path / "data.wav"), "-o",
                 str(tmp_path / "out.wav"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == dataset.frames


def test_simulate_refuses_wrong_channel_count(tmp_path, exported, capsys):
    _, header = exported
    soundfile.write(tmp_path / "mono.wav", np.zeros((100, 1), np.float32), 48_000)
    assert main(["simulate", str(header), str(tmp_path / "mono.wav"), "-o",
                 str(tmp_path / "o.wav")]) == 1
    err = capsys.readouterr().err
    assert "has 1 channel(s); the model takes 3: knob_1, knob_2, audio_in_1" in err


def test_simulate_warns_about_sample_rate(tmp_path, exported, capsys):
    _, header = exported
    soundfile.write(tmp_path / "in.wav", np.zeros((100, 3), np.float32), 96_000)
    assert main(["simulate", str(header), str(tmp_path / "in.wav"), "-o",
                 str(tmp_path / "o.wav")]) == 0
    assert "trained at 44100 Hz" in capsys.readouterr().out


def test_verify_passes_on_golden_vectors_and_writes_a_plot(tmp_path, exported, capsys):
    model_path, header = exported
    code = main(["verify", str(model_path), "--header", str(header), "--json",
                 "--plot", str(tmp_path / "v.png")])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["passed"]
    assert result["frames"] == 512 and result["input"].endswith("model_defn_golden.h")
    assert result["sim_vs_keras_max_abs_err"] <= 1e-5
    assert (tmp_path / "v.png").stat().st_size > 10_000


def test_verify_fails_with_status_1_when_the_engine_is_wrong(exported, capsys, monkeypatch):
    model_path, _ = exported
    correct_render = Simulator.render

    def off_by_a_little(self, inputs, block_size=48, progress=False):
        return correct_render(self, inputs, block_size, progress) + 1e-3

    monkeypatch.setattr(Simulator, "render", off_by_a_little)
    assert main(["verify", str(model_path), "--seconds", "0.2"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_verify_refuses_a_header_of_another_model(tmp_path, exported, random_wavenet, capsys):
    model_path, _ = exported
    other = save_with_metadata(random_wavenet(3, (4, 4, 4, 8), 4, seed=99), tmp_path / "o",
                               ["knob_1", "knob_2", "audio_in_1"])
    _, other_header, _ = export(other, tmp_path / "o" / "model_defn.h", command="test")
    assert main(["verify", str(model_path), "--header", str(other_header)]) == 1
    assert "holds different weights" in capsys.readouterr().err


def test_export_refuses_an_unsupported_model_with_the_reason(tmp_path, capsys):
    import keras

    inputs = keras.Input(shape=(None, 1))
    x = keras.layers.Conv1D(2, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv1D(2, 1, activation="relu")(x)
    outputs = keras.layers.Conv1D(1, 1)(x)
    keras.Model(inputs, outputs).save(tmp_path / "lookahead.keras")
    code = main(["export", str(tmp_path / "lookahead.keras"), "-o", str(tmp_path / "m.h")])
    assert code == 1
    assert "padding 'same'; only 'causal' can run in real time" in capsys.readouterr().err
    assert not (tmp_path / "m.h").exists()


def test_missing_files_give_one_line_errors(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "none.h"), str(tmp_path / "x.wav"), "-o", "o.wav"]) == 1
    assert "none.h: no such file" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "none.wav")]) == 1
    assert "none.wav: no such file" in capsys.readouterr().err


def test_train_needs_channel_names_for_a_foreign_dataset(tmp_path, capsys):
    dataset = make_waveshaper_dataset(seconds=0.5)
    dataset.source = {}
    dataset.save(tmp_path / "foreign")
    assert main(["train", str(tmp_path / "foreign.wav")]) == 1
    assert "--inputs" in capsys.readouterr().err


def test_train_then_export_then_simulate_small_model(tmp_path, capsys):
    make_waveshaper_dataset(seconds=3.0, seed=1).save(tmp_path / "data")
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "data.wav"), "-o", str(run), "--filters", "3,3",
                 "--kernel-size", "3", "--epochs", "4", "--window", "256", "--candidates", "2",
                 "--seed", "5", "--refine-iterations", "20"]) == 0
    out = capsys.readouterr().out
    # One epoch per candidate (a quarter of 4), then the best one trains on to epoch 4.
    assert "candidate 1/2 (seed 5)" in out and "candidate 2/2 (seed 6)" in out
    assert "epoch   1/4" not in out and "epoch   2/4" in out and "epoch   4/4" in out
    report = json.loads((run / "training.json").read_text())
    assert report["chosen_seed"] in (5, 6)
    assert report["params"] == 3 * 3 * 3 + 3 + 12 + 3 * 3 * 3 + 3 + 12 + 3 + 1
    assert report["receptive_field"] == 9
    assert report["epochs_run"] == 4
    assert 0 < report["refine"]["iterations_run"] <= 20
    assert "refining with L-BFGS: up to 20 iterations" in out and "refine   20/20" in out
    assert set(report["splits"]) == {"train", "validation", "test"}
    assert "ETA" in out and "best" in out
    assert f"wrote {run / 'model.keras'} and training.json, loss.png, test_prediction.png, " \
           "knobs.png" in out
    for name in ("model.keras", "loss.png", "test_prediction.png", "knobs.png",
                 "checkpoints/best.keras"):
        assert (run / name).exists(), name
    assert main(["export", str(run / "model.keras"), "-o", str(run / "model_defn.h"),
                 "--golden-input", str(tmp_path / "data.wav")]) == 0
    spec = read_header(run / "model_defn.h")
    assert spec.input_names == ["knob_1", "knob_2", "audio_in_1"]
    assert main(["verify", str(run / "model.keras"), "--header", str(run / "model_defn.h")]) == 0


@pytest.mark.parametrize("engine", ["native", "m7"])
def test_simulate_through_the_firmware_core(tmp_path, exported, audio_like, engine):
    from tests.conftest import require_tool

    for tool in {"native": ["g++"], "m7": ["arm-none-eabi-g++", "qemu-system-arm"]}[engine]:
        require_tool(tool)
    model_path, header = exported
    x = audio_like(2000, 3)
    soundfile.write(tmp_path / "in.wav", x, 48_000, subtype="FLOAT")
    # The .keras model is exported on the fly; the header is given directly.
    for model in (model_path, header):
        assert main(["simulate", str(model), str(tmp_path / "in.wav"), "-o",
                     str(tmp_path / "out.wav"), "--engine", engine]) == 0
        out, _ = soundfile.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
        assert np.max(np.abs(out - Simulator(read_header(header)).render(x, 48))) <= 1e-5


def test_verify_on_the_emulated_m7(exported, capsys):
    from tests.conftest import require_tool

    require_tool("arm-none-eabi-g++")
    require_tool("qemu-system-arm")
    model_path, header = exported
    code = main(["verify", str(model_path), "--header", str(header), "--engine", "m7",
                 "--block-size", "7", "--json"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 0 and result["passed"] and result["engine"] == "m7"
    assert result["frames"] == 512 and result["sim_vs_keras_max_abs_err"] <= 1e-5
    assert "emulated M7 vs Keras" in captured.err


def test_bench_reports_m7_instructions_per_sample(exported, capsys):
    from tests.conftest import require_tool

    require_tool("arm-none-eabi-g++")
    require_tool("qemu-system-arm")
    _, header = exported
    assert main(["bench", str(header), "--seconds", "0.02", "--block-sizes", "1,48",
                 "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    rows = {(row["backend"], row["block_size"]): row for row in result["m7"]
            if row["format"] == "float32"}
    assert set(rows) == {(backend, block) for backend in ("fast", "cmsis") for block in (1, 48)}
    for backend in ("fast", "cmsis"):
        assert 0 < rows[backend, 48]["instructions_per_sample"] < rows[backend, 1][
            "instructions_per_sample"]
        assert rows[backend, 48]["allocations"] == 0
        assert result["m7_footprint"][backend]["flash_bytes"] > 4 * result["parameters"]
    # The fast backend beats both the CMSIS one and the original per-sample approach.
    fast, cmsis = rows["fast", 48], rows["cmsis", 48]
    assert fast["instructions_per_sample"] < cmsis["instructions_per_sample"]
    assert fast["speedup_vs_per_sample"] == pytest.approx(
        result["per_sample_instructions_per_sample"] / fast["instructions_per_sample"], rel=0.01)
    assert fast["speedup_vs_per_sample"] > 1
    # Loads are at the clock the firmware runs (400 MHz), one cycle per instruction assumed.
    assert result["core_clock_hz"] == 400_000_000
    assert result["cycles_per_instruction_assumed"] == 1
    assert fast["load_at_48000_hz"] == pytest.approx(
        fast["instructions_per_sample"] / (400e6 / 48_000), abs=1e-3)
    assert result["cycle_budget_per_sample"] == pytest.approx(400e6 / result["sample_rate"])
    assert "instr/sample" in captured.err and "1 cycle per instruction at 400 MHz" in captured.err
    assert set(result["native_realtime_factor"]) == {"fast", "cmsis"}
    # The verdict the Daisy's block gets (issue 10, finding 18).
    assert result["real_time"]["verdict"] == "fits"
    assert f"real time at {result['sample_rate']:,} Hz: fits" in captured.err


# --- outputs never replace inputs, bad output paths are one line (issue 10, findings 8, 10) --


def one_line_error(capsys, *expected: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, err
    return err


def test_export_never_writes_over_its_model(exported, capsys):
    model_path, _ = exported
    before = model_path.read_bytes()
    assert main(["export", str(model_path), "-o", str(model_path)]) == 1
    one_line_error(capsys, "NAME.h")
    header = model_path.with_name("model.h")
    golden = model_path.with_name("model_golden.h")
    golden.write_text("an input")
    assert main(["export", str(model_path), "-o", str(header), "--golden-input",
                 str(golden)]) == 1
    one_line_error(capsys, "is also an input")
    assert model_path.read_bytes() == before and golden.read_text() == "an input"


def test_simulate_never_writes_over_its_input(tmp_path, exported, capsys):
    _, header = exported
    make_waveshaper_dataset(seconds=0.1, seed=3).save(tmp_path / "data")
    before = (tmp_path / "data.wav").read_bytes()
    for source in ("data.wav", "data.json"):
        assert main(["simulate", str(header), str(tmp_path / source), "-o",
                     str(tmp_path / "data.wav")]) == 1
        one_line_error(capsys, "is also an input")
    assert (tmp_path / "data.wav").read_bytes() == before


@pytest.mark.parametrize("where, message", [
    ("folder", "is a folder"),
    ("file/out", "is a file, not a folder"),
    ("file/deeper/out", "file: is a file, not a folder"),
])
def test_bad_output_paths_are_one_line_before_any_work(tmp_path, exported, capsys, where,
                                                       message):
    model_path, header = exported
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "folder.h").mkdir()
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file").write_text("a file")
    make_waveshaper_dataset(seconds=0.1, seed=3).save(tmp_path / "data")
    target = str(tmp_path / where)
    commands = [
        ["simulate", str(header), str(tmp_path / "data.wav"), "-o", target + ".wav"],
        ["export", str(model_path), "-o", target + ".h"],
        ["verify", str(model_path), "--plot", target + ".png"],
    ]
    for command in commands:
        assert main(command) == 1, command
        one_line_error(capsys, message)
    for command in ("train", "demo"):
        argv = [command, str(tmp_path / "data.wav")] if command == "train" else [command]
        assert main([*argv, "-o", str(tmp_path / "file")]) == 1
        one_line_error(capsys, "is a file, not a folder")


def test_an_export_refused_after_its_path_checks_leaves_no_new_folder(tmp_path, exported,
                                                                       capsys):
    model_path, _ = exported
    soundfile.write(tmp_path / "mono.wav", np.zeros(480, dtype=np.float32), 48_000)
    assert main(["export", str(model_path), "-o", str(tmp_path / "new" / "model_defn.h"),
                 "--golden-input", str(tmp_path / "mono.wav")]) == 1
    one_line_error(capsys, "mono.wav")
    assert not (tmp_path / "new").exists()


def test_a_bad_output_extension_fails_before_rendering(tmp_path, exported, capsys, monkeypatch):
    from daisynet.host_sim import engines

    monkeypatch.setattr(engines, "renderer", lambda *_, **__: pytest.fail("rendered"))
    _, header = exported
    make_waveshaper_dataset(seconds=0.1, seed=3).save(tmp_path / "data")
    assert main(["simulate", str(header), str(tmp_path / "data.wav"), "-o",
                 str(tmp_path / "out.flac")]) == 1
    one_line_error(capsys, "out.flac: the output is a float32 WAV")


# --- bad argument values are one line, before any work (issue 10, findings 4, 5, 13) -------

BAD_ARGUMENTS = [
    (["train", "d.wav", "--learning-rate", "nan"], "--learning-rate"),
    (["train", "d.wav", "--learning-rate", "-1"], "--learning-rate"),
    (["train", "d.wav", "--epochs", "0"], "--epochs"),
    (["train", "d.wav", "--candidates", "0"], "--candidates"),
    (["train", "d.wav", "--batch-size", "0"], "--batch-size"),
    (["train", "d.wav", "--window", "0"], "--window"),
    (["train", "d.wav", "--inputs", ","], "--inputs"),
    (["train", "d.wav", "--name", "my model"], "--name"),
    (["train", "d.wav", "--patience", "nine"], "--patience"),
    (["train", "d.wav", "--max-seconds", "0"], "--max-seconds"),
    (["export", "m.keras", "-o", "m.h", "--golden-frames", "0"], "--golden-frames"),
    (["simulate", "m.h", "x.wav", "-o", "y.wav", "--block-size", "0"], "--block-size"),
    (["verify", "m.keras", "--seconds", "0"], "--seconds"),
    (["verify", "m.keras", "--seconds", "-1"], "--seconds"),
    (["verify", "m.keras", "--tolerance", "inf"], "--tolerance"),
    (["capture", "--emulate", "--duration", "-1"], "--duration"),
    (["capture", "--emulate", "--drop-rate", "1.5"], "--drop-rate"),
    (["bench", "--seconds", "0"], "--seconds"),
    (["demo", "--epochs", "0"], "--epochs"),
]


@pytest.mark.parametrize("argv, argument", BAD_ARGUMENTS,
                         ids=[" ".join(argv) for argv, _ in BAD_ARGUMENTS])
def test_bad_argument_values_are_one_line(argv, argument, capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(argv)
    assert exit_status.value.code == 2
    err = one_line_error(capsys, f"argument {argument}")
    assert err.startswith(f"daisynet {argv[0]}: error:")


def test_golden_frames_beyond_one_second_or_beyond_the_input_are_refused(tmp_path, exported,
                                                                         capsys):
    model_path, _ = exported
    header = tmp_path / "g.h"
    with pytest.raises(SystemExit) as status:  # a bad option value: refused while parsing
        main(["export", str(model_path), "-o", str(header), "--golden-frames", "10000000"])
    assert status.value.code == 2
    one_line_error(capsys, "argument --golden-frames: must be a whole number from 1 up to 48,000")
    soundfile.write(tmp_path / "short.wav", np.zeros((10, 3), np.float32), 48_000,
                    subtype="FLOAT")
    assert main(["export", str(model_path), "-o", str(header), "--golden-input",
                 str(tmp_path / "short.wav")]) == 1
    one_line_error(capsys, "the golden input has 10 frames, fewer than the 512")
    assert not header.exists()


def test_train_warns_when_the_target_is_also_an_input(tmp_path, capsys, monkeypatch):
    from daisynet.training import defaults
    from daisynet.training import train as train_module

    done = {"interrupted": False, "plots": []}
    monkeypatch.setattr(train_module, "train", lambda *_, **__: done)
    monkeypatch.setattr(defaults, "train_default", lambda *_, **__: done)
    make_waveshaper_dataset(seconds=0.5, seed=1).save(tmp_path / "data")
    assert main(["train", str(tmp_path / "data.wav"), "-o", str(tmp_path / "run"), "--inputs",
                 "knob_1,audio_in_2", "--target", "audio_in_2"]) == 0
    assert "warning: the target audio_in_2 is also an input" in capsys.readouterr().out


def test_broken_plain_wavs_are_one_line_in_simulate(tmp_path, exported, capsys):
    from tests.training.test_dataset import plain_wavs

    _, header = exported
    for name in plain_wavs(tmp_path):
        assert main(["simulate", str(header), str(tmp_path / f"{name}.wav"), "-o",
                     str(tmp_path / "out.wav")]) == 1, name
        one_line_error(capsys, f"{name}.wav")


def test_a_missing_or_invalid_keras_file_is_one_line(tmp_path, capsys):
    """Issue 10, finding 13: Keras said "File not found" for a file that exists, and export
    warned about training.json before saying the model is missing."""
    assert main(["export", str(tmp_path / "nope.keras"), "-o", str(tmp_path / "m.h")]) == 1
    err = one_line_error(capsys, "nope.keras: no such model file")
    assert "training.json" not in err
    (tmp_path / "bad.keras").write_text("not a model")
    for command in (["export", str(tmp_path / "bad.keras"), "-o", str(tmp_path / "m.h")],
                    ["verify", str(tmp_path / "bad.keras")],
                    ["simulate", str(tmp_path / "bad.keras"), str(tmp_path / "in.wav"), "-o",
                     str(tmp_path / "o.wav")]):
        assert main(command) == 1, command
        one_line_error(capsys, "bad.keras: not a readable .keras model")


def test_a_folder_or_binary_file_as_header_is_one_line(tmp_path, capsys):
    (tmp_path / "dir.h").mkdir()
    (tmp_path / "binary.h").write_bytes(b"\xff\xfe\x00binary")
    for header, message in (("dir.h", "is a folder"), ("binary.h", "cannot read as a header")):
        for command in (["bench", str(tmp_path / header)],
                        ["simulate", str(tmp_path / header), str(tmp_path / "in.wav"), "-o",
                         str(tmp_path / "o.wav")]):
            assert main(command) == 1, command
            one_line_error(capsys, f"{header}: {message}")


def test_version_and_plain_defaults_in_help(capsys):
    """Issue 10, finding 20."""
    with pytest.raises(SystemExit) as exit_status:
        main(["--version"])
    assert exit_status.value.code == 0 and capsys.readouterr().out.startswith("daisynet 0.")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "alone: 4,4,4,8;" in help_text and "((" not in help_text
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    assert "firmware's C++ core" in capsys.readouterr().out


def test_bench_seconds_beyond_the_emulated_ram_is_one_line_about_seconds(exported, capsys):
    from tests.conftest import require_tool

    require_tool("arm-none-eabi-g++")
    require_tool("qemu-system-arm")
    _, header = exported
    assert main(["bench", str(header), "--seconds", "100"]) == 1
    err = capsys.readouterr().err
    assert "--seconds 100 is" in err and "--engine" not in err and err.count("\n") == 1


def test_a_model_trained_elsewhere_with_a_fixed_input_length_exports_with_flags(tmp_path,
                                                                                 capsys):
    """The original notebook's model: Input(shape=(2560, 3)), no training.json beside it."""
    import keras

    from daisynet.host_sim.model_defn import read_golden, read_header

    keras.utils.set_random_seed(4)
    inputs = keras.Input(shape=(2560, 3))
    x = inputs
    for block, filters in enumerate((4, 4, 4, 8)):
        x = keras.layers.Conv1D(filters, 4, dilation_rate=4**block, padding="causal",
                                activation="relu")(x)
        x = keras.layers.Conv1D(filters, 1, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Conv1D(1, 1)(x))
    for layer in model.layers[1:]:
        layer.bias.assign(np.full(layer.bias.shape, 0.05, np.float32))
    model.save(tmp_path / "blog.keras")
    header = tmp_path / "model_defn.h"
    assert main(["export", str(tmp_path / "blog.keras"), "-o", str(header), "--inputs",
                 "knob_1,knob_2,audio_in_1", "--target", "audio_in_2", "--sample-rate", "48000",
                 "--name", "blog_model"]) == 0
    assert "warning" not in capsys.readouterr().out
    spec = read_header(header)
    assert (spec.name, spec.sample_rate, spec.input_names, spec.output_names) == (
        "blog_model", 48_000, ["knob_1", "knob_2", "audio_in_1"], ["audio_in_2"])
    # The golden outputs are the original fixed-length model's (causal: padding the 512 golden
    # frames to 2,560 with silence changes none of the first 512 outputs).
    golden_inputs, golden_outputs = read_golden(header.with_name("model_defn_golden.h"), spec)
    padded = np.zeros((1, 2560, 3), np.float32)
    padded[0, : len(golden_inputs)] = golden_inputs
    original = keras.ops.convert_to_numpy(model(padded))[0, : len(golden_inputs)]
    np.testing.assert_allclose(golden_outputs, original, atol=1e-6)


def test_export_without_training_json_names_what_it_defaults(tmp_path, random_wavenet, capsys):
    random_wavenet(3, (4,), 2).save(tmp_path / "bare.keras")
    assert main(["export", str(tmp_path / "bare.keras"), "-o", str(tmp_path / "m.h"),
                 "--sample-rate", "44100"]) == 0
    out = capsys.readouterr().out
    assert "input names to input_N (give --inputs)" in out and "--sample-rate" not in out
    assert main(["export", str(tmp_path / "bare.keras"), "-o", str(tmp_path / "m2.h"),
                 "--inputs", "knob_1,audio_in_1"]) == 1
    assert "names given for 2 inputs" in capsys.readouterr().err


def test_tensorflow_start_up_noise_stays_off_the_terminal(tmp_path):
    """Issue 10, finding 14: every TensorFlow command printed absl and oneDNN notices."""
    import subprocess
    import sys

    model = Path(__file__).resolve().parents[3] / "firmware" / "model" / "model.keras"
    result = subprocess.run([sys.executable, "-m", "daisynet.tools.cli", "export", str(model), "-o",
                             str(tmp_path / "m.h")], capture_output=True, text=True,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(model.parents[2])})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("wrote ")


def test_export_says_whether_the_model_runs_in_real_time(exported, tmp_path, capsys):
    from tests.conftest import require_tool

    require_tool("arm-none-eabi-g++")
    require_tool("qemu-system-arm")
    model, _ = exported
    assert main(["export", str(model), "-o", str(tmp_path / "again.h"), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["real_time"]["verdict"] == "fits" and 0 < result["real_time"]["load"] < 0.8
    assert "real time at 48,000 Hz: fits, within the 80% margin" in captured.err


def test_a_read_only_output_file_is_one_line(exported, tmp_path, monkeypatch, capsys):
    """Root (as the tests run) may write read-only files; a user may not. os.access says."""
    from daisynet.host_sim import files

    _, header = exported
    target = tmp_path / "out.wav"
    target.write_bytes(b"")
    real_access = files.os.access
    monkeypatch.setattr(files.os, "access",
                        lambda p, mode: False if Path(p) == target else real_access(p, mode))
    soundfile.write(tmp_path / "in.wav", np.zeros((480, 3), np.float32), 48_000)
    assert main(["simulate", str(header), str(tmp_path / "in.wav"), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert "out.wav: is read-only" in err and err.count("\n") == 1


def test_simulate_and_verify_warn_about_inputs_the_patch_never_delivers(tmp_path, exported,
                                                                        audio_like, capsys):
    """Issue 22, item 20: knob values outside 0..1, audio beyond +-2, another sample rate."""
    model_path, header = exported  # trained at 44.1 kHz
    x = audio_like(600, 3)
    x[:, 0] = 1.5  # knob_1
    x[:, 2] *= 5 / np.max(np.abs(x[:, 2]))  # audio_in_1 peaking at 5
    soundfile.write(tmp_path / "in.wav", x, 96_000, subtype="FLOAT")
    assert main(["simulate", str(header), str(tmp_path / "in.wav"), "-o",
                 str(tmp_path / "o.wav")]) == 0
    simulated = capsys.readouterr().out
    assert main(["verify", str(model_path), "--header", str(header), "--input",
                 str(tmp_path / "in.wav"), "--engine", "python"]) == 0
    verified = capsys.readouterr().out
    for out in (simulated, verified):
        assert "is at 96000 Hz but the model was trained at 44100 Hz" in out
        assert "'knob_1' spans 1.5..1.5" in out
        assert "'audio_in_1' peaks at 5, beyond the Patch's full scale of +-2" in out


def test_export_says_the_patch_runs_at_48_khz(exported, tmp_path, capsys):
    """Issue 22, item 20: a 44.1 kHz model does not silently 'fit'."""
    model, _ = exported  # trained at 44.1 kHz
    assert main(["export", str(model), "-o", str(tmp_path / "again.h")]) == 0
    out = capsys.readouterr().out
    assert ("warning: the model was trained at 44100 Hz, but the Patch app runs at 48000 Hz: "
            "its time constants would be off by 1.088x there") in out
    assert "real time at 44,100 Hz" not in out


def test_export_warns_about_golden_input_the_patch_never_delivers(exported, tmp_path,
                                                                 audio_like, capsys):
    model, _ = exported
    x = audio_like(600, 3)
    x[:, 1] = -0.5  # knob_2
    soundfile.write(tmp_path / "golden.wav", x, 44_100, subtype="FLOAT")
    assert main(["export", str(model), "-o", str(tmp_path / "again.h"), "--golden-input",
                 str(tmp_path / "golden.wav")]) == 0
    assert "warning: channel 'knob_2' spans -0.5..-0.5" in capsys.readouterr().out


def test_train_warns_that_the_patch_runs_at_48_khz(tmp_path, capsys, monkeypatch):
    """Issue 22, item 20, found beyond it: say so before training, not only at export."""
    from daisynet.training import train as train_module
    from daisynet.training.dataset import Dataset

    monkeypatch.setattr(train_module, "train", lambda *_, **__: {"interrupted": False,
                                                                  "plots": []})
    made = make_waveshaper_dataset(seconds=0.5, seed=1)
    Dataset(made.samples, 44_100, made.channels, source=made.source).save(tmp_path / "data")
    assert main(["train", str(tmp_path / "data.wav"), "-o", str(tmp_path / "run")]) == 0
    assert ("warning: the dataset is at 44100 Hz, but the Patch app runs at 48000 Hz: a model "
            "trained on it is not flashed") in capsys.readouterr().out
