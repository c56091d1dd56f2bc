"""The commands that take a model on a GRU: export writes it (float32; q15 is
tests/host_sim/test_gru_q15.py's), plan counts and measures it through the wavenet's path,
and every command whose engine does not run the GRU family yet says so in one line
(``host_sim.engines.family_refusal``)."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

import daisynet.tools.measure.plan
from daisynet.host_sim import engines
from daisynet.host_sim.model_defn import GruArchitecture, GruSpec, read_header, render_header
from daisynet.host_sim.quantize import random_gru_spec
from daisynet.tools.cli import main
from daisynet.tools.measure.plan import Measurement, history_bytes
from daisynet.training.record import TrainingRecord
from tests.training.test_gru_export import random_gru_model

WAVENET_ONLY = {"simulator": ("wavenet",), "firmware": ("wavenet",)}


@pytest.fixture
def wavenet_only(monkeypatch):
    """The engines as they were before any GRU implementation: these tests hold after."""
    monkeypatch.setattr(engines, "IMPLEMENTATION_FAMILIES", WAVENET_ONLY)


@pytest.fixture(scope="module")
def gru_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gru")
    random_gru_model(units=8, seed=1).save(folder / "model.keras")
    TrainingRecord(name="gru_cli", sample_rate=48_000, inputs=["knob_1", "audio_in_1"],
                   target="audio_out_1", model_file="model.keras").write(folder)
    return folder / "model.keras"


@pytest.fixture
def gru_header(tmp_path):
    spec = random_gru_spec(GruArchitecture(2, 8, 1, skip_input=1),
                           input_names=["knob_1", "audio_in_1"])
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(spec, "test"))
    return header


def test_export_writes_a_gru_header_and_says_the_real_time_check_is_skipped(
        gru_model, tmp_path, capsys, wavenet_only):
    header = tmp_path / "out" / "model_defn.h"
    assert main(["export", str(gru_model), "-o", str(header)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"wrote {header} (299 parameters, 250 MACs/sample, GRU of 8 units) and "
        f"{tmp_path / 'out' / 'model_defn_golden.h'}",
        f"real-time check skipped: {header}: the firmware core (firmware/core) does not run gru "
        "models yet"]
    assert isinstance(read_header(header), GruSpec)


def test_export_refuses_to_quantize_a_gru_to_q7_before_writing_anything(gru_model, tmp_path,
                                                                       capsys):
    header = tmp_path / "model_defn.h"
    assert main(["export", str(gru_model), "-o", str(header), "--quantize", "q7"]) == 1
    assert capsys.readouterr().err == (
        "daisynet export: error: q7 GRU: not supported; a GRU runs in float32 or q15 (its "
        "recurrent product), and q7 would leave 8 bits for a state that feeds itself back\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command, implementation", [
    (["simulate", "{header}", "{wav}", "-o", "{out}"],
     "the cmsisdsp simulator (host_sim/engine.py)"),
    (["simulate", "{header}", "{wav}", "-o", "{out}", "--engine", "native"],
     "the firmware core (firmware/core)"),
    (["simulate", "{header}", "{wav}", "-o", "{out}", "--engine", "m7"],
     "the firmware core (firmware/core)"),
    (["verify", "{model}"], "the firmware core (firmware/core)"),  # native first
    (["verify", "{model}", "--engine", "python"], "the cmsisdsp simulator (host_sim/engine.py)"),
    (["bench", "{header}"], "{header}: the firmware core (firmware/core)"),
    (["flash", "inference", "--model", "{header}"], "{header}: the firmware core (firmware/core)"),
], ids=["simulate", "simulate-native", "simulate-m7", "verify", "verify-python", "bench", "flash"])
def test_a_command_whose_engine_does_not_run_the_gru_says_so_in_one_line(
        command, implementation, gru_model, gru_header, tmp_path, capsys, wavenet_only):
    wav = tmp_path / "in.wav"
    soundfile.write(wav, np.zeros((480, 2), np.float32), 48_000, subtype="FLOAT")
    names = {"header": gru_header, "wav": wav, "out": tmp_path / "out.wav", "model": gru_model}
    assert main([part.format(**names) for part in command]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(
        f"error: {implementation.format(**names)} does not run gru models yet\n")
    assert not (tmp_path / "out.wav").exists()


def test_plan_counts_a_gru_and_leaves_its_cycles_open_until_the_firmware_runs_it(
        capsys, wavenet_only):
    assert main(["plan", "--gru-units", "32", "--inputs", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    arch = GruArchitecture(2, 32)
    assert (result["parameters"], result["macs_per_sample"]) == (
        arch.parameters, arch.macs_per_sample) == (3_491, 3_298)
    assert result["state_ram_bytes"] == 128 and result["weight_flash_bytes"] == 13_984
    assert result["instructions_per_sample"] is None
    assert result["not_measured"] == "the firmware core (firmware/core) does not run gru models yet"
    assert [rate["fits"] for rate in result["rates"]] == [None, None, None]


def test_plan_measures_a_gru_through_the_same_path_once_the_firmware_runs_it(
        monkeypatch, capsys):
    monkeypatch.setattr(engines, "IMPLEMENTATION_FAMILIES",
                        {"simulator": ("wavenet",), "firmware": ("wavenet", "gru")})
    built = []

    def stand_in(spec, header: Path, weight_bytes: int) -> Measurement:
        built.append(read_header(header))
        instructions = 4_000.0 * spec.architecture().macs_per_sample / 3_298
        return Measurement(instructions, 20_000, weight_bytes, weight_bytes + 3_000)

    monkeypatch.setattr(daisynet.tools.measure.plan, "_measure", stand_in)
    assert main(["plan", "--gru-units", "32", "--inputs", "2"]) == 0
    out = capsys.readouterr().out
    assert built[0].units == 32
    assert "emulated M7 at block 48: 4,000 instructions/sample" in out
    # The search: the most units whose stand-in cycles stay within 80% of 8,333 at 48 kHz.
    budget = 0.8 * 8_333.33
    most = max(units for units in range(1, 65)
               if 4_000 * GruArchitecture(2, units).macs_per_sample / 3_298 <= budget)
    assert out.splitlines()[-1] == f"at 48 kHz: the most GRU units that fit: {most}"
    assert len(built) <= 1 + 7  # a binary search over 1..64
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "48,000 Hz 48.0% of 8,333 cycles fits" in lines
    assert "96,000 Hz 96.0% of 4,167 cycles does NOT fit (cycles)" in lines


def test_plan_judges_a_q15_gru_too_and_searches_its_units(monkeypatch, capsys):
    monkeypatch.setattr(engines, "IMPLEMENTATION_FAMILIES",
                        {"simulator": ("wavenet",), "firmware": ("wavenet", "gru")})
    built = []

    def stand_in(spec, header: Path, weight_bytes: int) -> Measurement:
        built.append(read_header(header))
        per_unit = 200.0 if built[-1].quantized else 210.0  # q15 a little cheaper
        return Measurement(per_unit * spec.units, 20_000, weight_bytes, weight_bytes + 3_000)

    monkeypatch.setattr(daisynet.tools.measure.plan, "_measure", stand_in)
    assert main(["plan", "--gru-units", "32", "--inputs", "2", "--quantize", "q15",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    q15 = result["formats"]["q15"]
    assert q15["instructions_per_sample"] == 6_400.0 and q15["weight_flash_bytes"] == 7_840
    # Within 80% of 8,333: 31 units of float32 (6,510), 33 of q15 (6,600).
    assert (result["most_units"], q15["most_units"]) == (31, 33)
    assert {spec.number_format for spec in built} == {"float32", "q15"}


def test_plan_refuses_both_families_at_once_as_a_bad_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "--inputs", "2", "--gru-units", "8", "--filters", "4"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == ("daisynet plan: error: argument --filters: not allowed "
                                       "with argument --gru-units (see daisynet plan --help)\n")


@pytest.mark.parametrize("argv, message", [
    (["--gru-units", "8", "--kernel-size", "3"],
     "--gru-units plans a GRU; --kernel-size applies to a wavenet (--filters)"),
    (["--gru-units", "8", "--quantize", "q15,q7"],
     "--gru-units: q7 GRU: not supported; a GRU runs in float32 or q15 (its recurrent "
     "product), and q7 would leave 8 bits for a state that feeds itself back"),
    (["--filters", "4"], "--filters plans a wavenet: give its --kernel-size too"),
])
def test_plan_refuses_options_of_the_other_family_in_one_line(argv, message, capsys):
    assert main(["plan", "--inputs", "2", *argv]) == 1
    assert capsys.readouterr().err == f"daisynet plan: error: {message}\n"


def test_a_grus_must_have_ram_is_its_state():
    assert history_bytes(GruArchitecture(2, 32)) == 128


def test_export_quantizes_a_gru_to_q15_and_verify_checks_it(gru_model, tmp_path, capsys,
                                                           monkeypatch):
    from daisynet.host_sim.m7 import M7Error
    from daisynet.tools.measure import plan as plan_module

    def no_m7(header):
        raise M7Error("no emulator in this test")

    monkeypatch.setattr(plan_module, "measure_header", no_m7)
    rng = np.random.default_rng(0)
    frames = 4_800
    audio = np.stack([np.repeat(rng.uniform(0, 1, frames // 48), 48),
                      np.sin(np.arange(frames) * 0.03) + 0.1 * rng.standard_normal(frames)],
                     axis=1).astype(np.float32)
    wav = tmp_path / "inputs.wav"
    soundfile.write(wav, audio, 48_000, subtype="FLOAT")
    header = tmp_path / "out" / "model_defn.h"
    assert main(["export", str(gru_model), "-o", str(header), "--quantize", "q15",
                 "--calibration", str(wav), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    report = result["quantization"]
    assert result["number_format"] == "q15" and report["format"] == "q15"
    assert 0 < report["esr"] < 1e-6 and report["frames"] == frames
    assert report["weight_flash_bytes"]["saved"] == 2 * 8 * 24
    spec = read_header(header)
    assert spec.number_format == "q15" and spec.float_sha256 is not None
    assert main(["verify", str(gru_model), "--header", str(header), "--engine", "python"]) == 0
    assert "PASS  simulator vs the q15 arithmetic and its golden outputs" in (
        capsys.readouterr().out)
