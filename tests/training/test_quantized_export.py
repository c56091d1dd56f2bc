"""daisynet export --quantize: the demo model's accuracy cost, the report, warn and refuse,
and the quantized header through simulate and verify."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from daisynet.host_sim.engine import Simulator
from daisynet.host_sim.model_defn import (
    golden_path,
    read_golden_all,
    read_header,
    render_golden,
)
from daisynet.host_sim.model_defn.fixed_point import run_fixed_point
from daisynet.host_sim.quantize import report_path
from daisynet.tools.cli import main
from daisynet.training.dataset import Dataset, load_dataset
from daisynet.training.export import (
    ModelMetadata,
    QuantizationRefusedError,
    export_quantized,
    export_quantized_model,
    load_keras,
    quantization_audio,
    spec_from_keras,
)
from daisynet.training.model import predict_sequence
from daisynet.training.record import DatasetRecord, TrainingRecord
from tests.training.test_export import save_with_metadata

pytestmark = [pytest.mark.m7, pytest.mark.native]

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "firmware" / "model" / "model.keras"
DEMO_GOLDEN_INPUT = REPO / "firmware" / "model" / "golden_input.wav"


@pytest.fixture(scope="module")
def demo_audio():
    """(float spec, calibration, test) of the committed demo model: the built-in dataset it was
    trained on, regenerated from its training.json, split as training split it."""
    spec = spec_from_keras(load_keras(DEMO_MODEL), ModelMetadata.beside(DEMO_MODEL))
    calibration, test = quantization_audio(DEMO_MODEL, spec)
    return spec, calibration, test


def test_demo_audio_is_the_training_datasets_validation_and_test_splits(demo_audio):
    spec, calibration, test = demo_audio
    training = json.loads(DEMO_MODEL.with_name("training.json").read_text())
    splits = training["splits"]
    assert len(calibration.samples) == splits["validation"]["frames"]
    assert len(test.samples) == splits["test"]["frames"] and test.held_out
    assert "validation split of the built-in dataset" in calibration.source
    # the committed golden input is the start of the same test split
    golden, _ = soundfile.read(DEMO_GOLDEN_INPUT, dtype="float32", always_2d=True)
    assert np.array_equal(test.samples[: len(golden)], golden)


@pytest.mark.parametrize("fmt", ["q15", "q7"])
def test_demo_model_accuracy_cost(fmt, demo_audio, tmp_path, capsys):
    """The issue's figure: q15 within ESR 1e-3 of the float model on held-out test audio;
    q7's figure is measured and reported (it is far above 1e-2 for this model; see the
    export warning)."""
    _, calibration, test = demo_audio
    golden, _ = soundfile.read(DEMO_GOLDEN_INPUT, dtype="float32", always_2d=True)
    exported = export_quantized(DEMO_MODEL, tmp_path / "model_defn.h", "test", fmt,
                                calibration, test, golden_inputs=golden)
    report = exported.report
    with capsys.disabled():
        print(f"\ndemo model {fmt}: ESR {report['esr']:.3e} vs float on {report['frames']} "
              f"held-out frames, max abs error {report['max_abs_error']:.3e}, worst saturation "
              f"{report['max_saturation_fraction']:.2e}")
    assert report["frames"] == len(test.samples)
    if fmt == "q15":
        assert report["esr"] <= 1e-3
        assert report["max_saturation_fraction"] <= 1e-3
        assert report["warnings"] == []
    else:
        assert report["esr"] > 1e-2 and any("ESR" in w for w in report["warnings"])
    flash = report["weight_flash_bytes"]
    assert flash[fmt] < flash["float32"] and flash["saved"] == flash["float32"] - flash[fmt]
    values = report["weight_value_bytes"]
    assert values[fmt] * (2 if fmt == "q15" else 4) == values["float32"] == 4 * 465
    # the files: header, golden (the fixed-point engine's exact outputs and Keras'), JSON
    assert json.loads(exported.report_path.read_text())["esr"] == report["esr"]
    spec = read_header(exported.header)
    inputs, outputs, float_outputs = read_golden_all(exported.golden, spec)
    assert np.array_equal(outputs, run_fixed_point(spec, inputs).outputs)
    assert np.array_equal(Simulator(spec).render(inputs, 7), outputs)
    keras = predict_sequence(load_keras(DEMO_MODEL), inputs, 256)
    np.testing.assert_allclose(float_outputs, keras, atol=1e-6)


def test_export_quantized_model_is_the_cli_in_one_call(tmp_path):
    exported = export_quantized_model(DEMO_MODEL, tmp_path / "model_defn.h", "q15",
                                      golden_input=DEMO_GOLDEN_INPUT)
    spec = read_header(exported.header)
    inputs, outputs, _ = read_golden_all(exported.golden, spec)
    golden, _ = soundfile.read(DEMO_GOLDEN_INPUT, dtype="float32", always_2d=True)
    assert np.array_equal(inputs, golden)
    assert spec.float_sha256 == read_header(REPO / "firmware" / "model" /
                                            "model_defn.h").weights_sha256()
    assert exported.report["esr"] <= 1e-3


def test_max_esr_refuses_and_writes_nothing(demo_audio, tmp_path):
    _, calibration, test = demo_audio
    short = type(test)(test.samples[:20_000], test.source)
    with pytest.raises(QuantizationRefusedError, match=r"q7 ESR .* exceeds --max-esr 0.01"):
        export_quantized(DEMO_MODEL, tmp_path / "model_defn.h", "test", "q7", calibration,
                         short, max_esr=0.01)
    assert list(tmp_path.iterdir()) == []


def small_model(tmp_path, random_wavenet, trained_on: Dataset | None = None):
    """A model whose training record names no dataset, or ``trained_on`` with a 3:1:1 split."""
    model = random_wavenet(2, (4, 4), 3, seed=3)
    path = save_with_metadata(model, tmp_path / "m", ["knob_1", "audio_in_1"],
                              target="audio_in_2", sample_rate=48_000)
    if trained_on is not None:
        record = TrainingRecord.beside(path)
        record.dataset = DatasetRecord.of(trained_on)
        fifth = trained_on.frames // 5
        record.splits = {"train": {"ranges": [[0, 3 * fifth]], "frames": 3 * fifth},
                         "validation": {"ranges": [[3 * fifth, fifth]], "frames": fifth},
                         "test": {"ranges": [[4 * fifth, fifth]], "frames": fifth}}
        record.write(path.parent)
    return path


def write_wav(path: Path, samples: np.ndarray) -> Path:
    soundfile.write(path, samples.astype(np.float32), 48_000, subtype="FLOAT")
    return path


def test_cli_exports_a_quantized_header_from_a_calibration_wav(tmp_path, random_wavenet,
                                                               audio_like, capsys):
    model = small_model(tmp_path, random_wavenet)
    calibration = write_wav(tmp_path / "cal.wav", audio_like(4000, 2, seed=1))
    header = tmp_path / "out" / "model_defn.h"
    status = main(["export", str(model), "-o", str(header), "--quantize", "q15",
                   "--calibration", str(calibration), "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    result = json.loads(captured.out)
    assert "no held-out audio" in captured.err  # no training dataset: measured on calibration
    assert "q15 vs float on 4000" in captured.err and "ESR" in captured.err
    assert result["number_format"] == "q15" and result["report"] == str(report_path(header))
    report = json.loads(report_path(header).read_text())
    assert report["test"]["held_out"] is False and report["calibration"]["frames"] == 4000
    assert {"esr", "max_abs_error", "layers", "input_saturation", "weight_flash_bytes",
            "warnings"} <= set(report)
    assert header.read_text().splitlines()[0].endswith(
        f"export {model} -o {header} --quantize q15 --calibration {calibration} --json")
    spec = read_header(header)
    assert spec.number_format == "q15" and golden_path(header).exists()
    # simulate and verify take the quantized header like a float one
    x = audio_like(700, 2, seed=2)
    write_wav(tmp_path / "in.wav", x)
    assert main(["simulate", str(header), str(tmp_path / "in.wav"), "-o",
                 str(tmp_path / "out.wav")]) == 0
    out, _ = soundfile.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert np.array_equal(out, run_fixed_point(spec, x).outputs)
    capsys.readouterr()
    assert main(["verify", str(model), "--header", str(header), "--block-size", "7"]) == 0
    printed = capsys.readouterr().out
    assert "PASS  simulator vs the q15 arithmetic and its golden outputs" in printed
    assert "bit for bit with the q15 arithmetic and the golden outputs" in printed
    assert "q15 vs Keras  ESR" in printed
    # ... and so do the firmware's engines, natively and on the emulated Cortex-M7
    for engine in ("native", "m7"):
        assert main(["simulate", str(header), str(tmp_path / "in.wav"), "-o",
                     str(tmp_path / f"{engine}.wav"), "--engine", engine]) == 0
        out, _ = soundfile.read(tmp_path / f"{engine}.wav", dtype="float32", always_2d=True)
        assert np.array_equal(out, run_fixed_point(spec, x).outputs), engine
        capsys.readouterr()
        assert main(["verify", str(model), "--header", str(header), "--engine", engine]) == 0
        assert "and the golden outputs" in capsys.readouterr().out, engine
    # a float export over it leaves no report that describes the replaced q15 header
    assert main(["export", str(model), "-o", str(header)]) == 0
    assert not report_path(header).exists()
    assert f"removed {report_path(header)}" in capsys.readouterr().out


@pytest.mark.parametrize("engine", ["python", "native"])
def test_verify_fails_when_the_golden_outputs_disagree_with_the_engine(
        engine, tmp_path, random_wavenet, audio_like, capsys):
    """A golden header whose kOutputs the engine does not reproduce (stale, or edited by hand)
    fails verify even though the engine matches the host's fixed-point arithmetic: the
    firmware's golden check would fail the same way on the Daisy."""
    model = small_model(tmp_path, random_wavenet)
    calibration = write_wav(tmp_path / "cal.wav", audio_like(2000, 2, seed=1))
    header = tmp_path / "model_defn.h"
    assert main(["export", str(model), "-o", str(header), "--quantize", "q15",
                 "--calibration", str(calibration)]) == 0
    spec = read_header(header)
    inputs, outputs, float_outputs = read_golden_all(golden_path(header), spec)
    one_lsb = 2.0 ** -spec.layers[-1].quant.out_frac_bits
    outputs[len(outputs) // 2, 0] += one_lsb
    golden_path(header).write_text(render_golden(spec, inputs, outputs, "test (edited)",
                                                 header.name, float_outputs))
    capsys.readouterr()
    assert main(["verify", str(model), "--header", str(header), "--engine", engine,
                 "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is False and result["bit_exact"] is True
    assert result["golden_bit_exact"] is False
    assert "not with the golden outputs (re-export)" in result["criterion"]


def test_cli_warns_when_calibration_under_ranges_held_out_audio(tmp_path, random_wavenet,
                                                                 audio_like, capsys):
    """The training dataset's test split is ten times louder than the calibration WAV: the
    export warns, naming where and how much it saturated, and still writes."""
    frames = 5000
    signal = audio_like(frames, 3, seed=4)
    signal[4000:] *= 10.0
    Dataset(samples=signal, sample_rate=48_000,
            channels=["knob_1", "audio_in_1", "audio_in_2"]).save(tmp_path / "data")
    model = small_model(tmp_path, random_wavenet, load_dataset(tmp_path / "data"))
    quiet = write_wav(tmp_path / "quiet.wav", signal[3000:4000, :2])
    header = tmp_path / "model_defn.h"
    assert main(["export", str(model), "-o", str(header), "--quantize", "q7",
                 "--calibration", str(quiet)]) == 0
    printed = capsys.readouterr().out
    assert "q7 vs float on 1000 held-out frames" in printed
    assert "warning: input:" in printed and "% of values saturated" in printed
    report = json.loads(report_path(header).read_text())
    assert report["test"]["held_out"] and "test split of" in report["test"]["source"]
    assert report["input_saturation"]["fraction"] > 1e-3


def test_cli_refuses_above_max_esr_with_one_line(tmp_path, random_wavenet, audio_like, capsys):
    model = small_model(tmp_path, random_wavenet)
    calibration = write_wav(tmp_path / "cal.wav", audio_like(2000, 2, seed=1))
    header = tmp_path / "out" / "model_defn.h"
    status = main(["export", str(model), "-o", str(header), "--quantize", "q7",
                   "--calibration", str(calibration), "--max-esr", "1e-12"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1 and "exceeds --max-esr 1e-12; nothing written" in err
    assert not header.exists() and not golden_path(header).exists()
    assert not report_path(header).exists()


def test_cli_quantize_options_need_quantize(tmp_path, random_wavenet, capsys):
    model = small_model(tmp_path, random_wavenet)
    assert main(["export", str(model), "-o", str(tmp_path / "x.h"), "--max-esr", "0.1"]) == 1
    assert "add --quantize" in capsys.readouterr().err
    assert main(["export", str(model), "-o", str(tmp_path / "x.h"), "--quantize", "q15"]) == 1
    err = capsys.readouterr().err
    assert "no calibration audio" in err and err.count("--calibration") == 1


def test_verify_refuses_a_header_quantized_from_another_model(tmp_path, random_wavenet,
                                                              audio_like, capsys):
    model = small_model(tmp_path, random_wavenet)
    calibration = write_wav(tmp_path / "cal.wav", audio_like(2000, 2, seed=1))
    header = tmp_path / "model_defn.h"
    assert main(["export", str(model), "-o", str(header), "--quantize", "q15",
                 "--calibration", str(calibration)]) == 0
    other = random_wavenet(2, (4, 4), 3, seed=4)
    other_path = save_with_metadata(other, tmp_path / "other", ["knob_1", "audio_in_1"],
                                    target="audio_in_2", sample_rate=48_000)
    capsys.readouterr()
    assert main(["verify", str(other_path), "--header", str(header)]) == 1
    assert "holds a model quantized from different weights" in capsys.readouterr().err


def test_a_model_of_an_older_builtin_generator_is_not_calibrated_on_new_data(
        tmp_path, random_wavenet, capsys):
    """The same seed gives other samples once the built-in generator changes: export says so
    instead of calibrating on data the model never saw."""
    model = small_model(tmp_path, random_wavenet)
    record = TrainingRecord.beside(model)
    record.dataset = DatasetRecord(path=None, resolved=None, frames=48_000, sample_rate=48_000,
                                   source={"generator": "daisynet builtin waveshaper",
                                           "seed": 0, "seconds": 1.0})
    record.write(model.parent)
    assert main(["export", str(model), "-o", str(tmp_path / "x.h"), "--quantize", "q15"]) == 1
    err = capsys.readouterr().err
    assert "'daisynet builtin waveshaper', which this version no longer makes" in err
    assert not (tmp_path / "x.h").exists()


def test_calibrating_on_the_training_dataset_leaves_its_test_split_out(tmp_path, demo_audio):
    """Issue 22, item 17: the held-out test split must not set the scales it is measured on."""
    spec, _, test = demo_audio
    record = TrainingRecord.beside(DEMO_MODEL)
    dataset, _ = record.load_dataset()
    wav, _ = dataset.save(tmp_path / "training_data")
    calibration, held_out = quantization_audio(DEMO_MODEL, spec, wav)
    [(first, frames)] = record.split("test")  # a version 1 record: one range
    everything = dataset.select(spec.input_names)
    assert len(calibration.samples) == dataset.frames - frames
    assert np.array_equal(calibration.samples,
                          np.concatenate([everything[:first], everything[first + frames:]]))
    assert "without its test split" in calibration.source
    assert np.array_equal(held_out.samples, test.samples) and held_out.held_out


def test_without_held_out_audio_the_summary_says_calibration_frames():
    """Issue 22, item 17: not 'held-out' after warning that there is none."""
    from daisynet.host_sim.quantize import accuracy_summary

    report = {"format": "q15", "frames": 4000, "esr": 1e-4, "max_abs_error": 1e-3,
              "float_output_peak": 1.0, "input_saturation": {"fraction": 0.0},
              "layers": [{"layer": 0, "name": "c", "saturation": {"fraction": 0.0,
                                                                 "saturated": False}}],
              "weight_flash_bytes": {"q15": 10, "float32": 20, "saved": 10},
              "test": {"held_out": False}}
    assert accuracy_summary(report)[0] == "  q15 vs float on 4000 calibration frames:"
    report["test"]["held_out"] = True
    assert accuracy_summary(report)[0] == "  q15 vs float on 4000 held-out frames:"


def test_verify_says_plainly_when_a_bit_exact_q7_model_is_audibly_different(tmp_path, capsys,
                                                                            monkeypatch):
    """Issue 22, item 23: the demo model in q7 runs bit for bit, but sounds unlike Keras's."""
    from matplotlib.figure import Figure

    exported = export_quantized_model(DEMO_MODEL, tmp_path / "q7.h", "q7",
                                      golden_input=DEMO_GOLDEN_INPUT)
    assert exported.report["esr"] > 0.1
    capsys.readouterr()
    titles = []
    real_savefig = Figure.savefig

    def keep_title(figure, *args, **kwargs):
        titles.append(figure._suptitle.get_text())
        return real_savefig(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep_title)
    assert main(["verify", str(DEMO_MODEL), "--header", str(exported.header), "--engine",
                 "python", "--plot", str(tmp_path / "v.png")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS  ")
    assert "but the q7 model itself is audibly different from the Keras model: ESR" in out
    assert titles and titles[0].startswith("PASS: ") and "(audibly different)" in titles[0]
