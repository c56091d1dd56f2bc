import json

import numpy as np
import pytest
import soundfile

from host_sim.engine import Simulator
from host_sim.header import read_header
from tests.training.test_export import save_with_metadata
from tools.builtin_data import make_waveshaper_dataset
from tools.cli import main
from training.export import export


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
                 "--seed", "5"]) == 0
    out = capsys.readouterr().out
    # One epoch per candidate (a quarter of 4), then the best one trains on to epoch 4.
    assert "candidate 1/2 (seed 5)" in out and "candidate 2/2 (seed 6)" in out
    assert "epoch   1/4" not in out and "epoch   2/4" in out and "epoch   4/4" in out
    report = json.loads((run / "training.json").read_text())
    assert report["chosen_seed"] in (5, 6)
    assert report["params"] == 3 * 3 * 3 + 3 + 12 + 3 * 3 * 3 + 3 + 12 + 3 + 1
    assert report["receptive_field"] == 9
    assert report["epochs_run"] == 4
    assert set(report["splits"]) == {"train", "validation", "test"}
    for name in ("model.keras", "loss.png", "test_prediction.png", "checkpoints/best.keras"):
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
    rows = {(row["backend"], row["block_size"]): row for row in result["m7"]}
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
