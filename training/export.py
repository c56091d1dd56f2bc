"""Keras model -> ModelSpec -> model_defn.h (+ golden vectors), refusing what the engine lacks.

The Keras side only: the header itself is written by ``host_sim.model_defn``, and a quantized
model's formats are chosen by ``host_sim.quantize``. Here: where the calibration and held-out
audio come from (the training dataset's validation and test splits, found through the
training record beside the model), and the files an export writes."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from daisynet.host_sim.daisy_target import BLOCK_FRAMES, SAMPLE_RATE_HZ
from daisynet.host_sim.files import write_texts
from daisynet.host_sim.model_defn import (
    AnyModelSpec,
    ConvLayer,
    GruLayer,
    GruSpec,
    ModelSpec,
    UnsupportedModelError,
    golden_path,
    render_golden,
    render_header,
)
from daisynet.training.dataset import CONTROL_PREFIXES
from daisynet.training.model import (
    build_gru_model,
    build_model,
    gru_model_parts,
    predict_gru_in_keras,
    predict_sequence,
)
from daisynet.training.quiet_keras import import_keras
from daisynet.training.record import TrainingRecord, TrainingRecordError

SUPPORTED_ACTIVATIONS = {"relu": True, "linear": False}  # name -> applies relu
DEFAULT_GOLDEN_FRAMES = 512
# One second on the Daisy: the golden header takes about 15 bytes per value, so more would only
# make a header too big to compile for the tests that use it.
MAX_GOLDEN_FRAMES = SAMPLE_RATE_HZ


class QuantizationRefusedError(ValueError):
    """The quantized model costs more accuracy than --max-esr allows; nothing was written."""


@dataclass
class ModelMetadata:
    """What a .keras file does not record: names, rate. Read from the training record beside
    it if there is one."""

    name: str | None = None  # None: the family's default name
    sample_rate: int = SAMPLE_RATE_HZ
    input_names: list[str] | None = None
    output_names: list[str] | None = None
    found: bool = False

    @classmethod
    def beside(cls, model_path: str | Path) -> ModelMetadata:
        record = TrainingRecord.beside(model_path)
        if record is None:
            return cls()
        return cls(name=record.name, sample_rate=record.sample_rate,
                   input_names=list(record.inputs), output_names=[record.target], found=True)


def load_keras(path: str | Path):
    """Load a .keras file for inference (training-only objects such as the loss are skipped)."""
    keras = import_keras()

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    if path.is_dir() or path.suffix != ".keras":
        raise ValueError(f"{path}: expected a .keras model file")
    try:
        model = keras.saving.load_model(path, compile=False)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as err:
        # Keras says "File not found" for any file that is not a .keras zip archive.
        raise ValueError(f"{path}: not a readable .keras model (a zip archive Keras "
                         f"saved); {type(err).__name__}") from err
    if model.inputs and model.inputs[0].shape[1] is not None:
        model = _any_length(model)
    return model


def _any_length(model):
    """``model`` rebuilt to take sequences of any length. Models trained elsewhere often
    declare a fixed input length (the original notebook used 2,560 frames); the same causal
    convolutions run on any length, which export, verify and simulate need. Only models the
    engine can run are rebuilt; others come back as they are, to be refused with the reason."""
    try:
        spec = spec_from_keras(model)
    except UnsupportedModelError:
        return model
    if spec.family == "gru":
        rebuilt = build_gru_model(spec.architecture(), name=model.name)
        gru, head, skip = gru_model_parts(rebuilt)
        gru.set_weights([spec.gru.input_weights, spec.gru.recurrent_weights,
                         np.stack([spec.gru.input_bias, spec.gru.recurrent_bias])])
        head.set_weights([spec.head_weights, spec.head_bias])
        skip.set_weights([spec.input_skip_weights])
        return rebuilt
    rebuilt = build_model(spec.architecture(), name=model.name)
    convolutions = [layer for layer in rebuilt.layers if layer.weights]
    for target, layer in zip(convolutions, spec.layers, strict=True):
        target.set_weights([layer.weights, layer.bias])
    return rebuilt


def spec_from_keras(model, metadata: ModelMetadata | None = None) -> AnyModelSpec:
    """Convert a Keras wavenet or GRU model (``build_model``'s or ``build_gru_model``'s shape),
    raising UnsupportedModelError with the reason if the engine can't run it."""
    keras = import_keras()

    metadata = metadata or ModelMetadata()
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedModelError("the engine runs models with exactly one input and output")
    recurrent = [layer for layer in model.layers
                 if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))]
    if recurrent:
        return _gru_spec(model, recurrent, metadata)
    layers: list[ConvLayer] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if type(layer) is not keras.layers.Conv1D:
            raise UnsupportedModelError(
                f"layer {layer.name!r} is a {type(layer).__name__}; the engine runs Conv1D "
                "layers only"
            )
        layers.append(_conv_layer(layer))
    if not layers:
        raise UnsupportedModelError("the model has no Conv1D layers")
    spec = ModelSpec(
        layers=layers,
        name=metadata.name or "daisynet_wavenet",
        sample_rate=metadata.sample_rate,
        input_names=list(metadata.input_names or []),
        output_names=list(metadata.output_names or []),
    )
    spec.validate()
    return spec


# The GRU configuration the engine runs (Keras' defaults); anything else is refused by name.
_GRU_CONFIG = {"activation": "tanh", "recurrent_activation": "sigmoid", "reset_after": True,
               "go_backwards": False, "return_sequences": True}


def _gru_spec(model, recurrent: list, metadata: ModelMetadata) -> GruSpec:
    """A GruSpec from a model with recurrent layers, if they are one GRU as the engine runs it."""
    keras = import_keras()

    for layer in recurrent:
        if type(layer) is not keras.layers.GRU:
            raise UnsupportedModelError(
                f"layer {layer.name!r} is a {type(layer).__name__}; the engine's recurrent "
                "layer is a GRU")
    gru, head, skip = gru_model_parts(model)
    config = gru.get_config()
    for key, value in _GRU_CONFIG.items():
        if config[key] != value:
            raise UnsupportedModelError(
                f"GRU {gru.name!r}: {key}={config[key]!r}; the engine runs {key}={value!r}")
    for role, dense in (("head", head), ("skip", skip)):
        if dense is not None and dense.get_config()["activation"] != "linear":
            raise UnsupportedModelError(
                f"{role} {dense.name!r}: activation {dense.get_config()['activation']!r}; the "
                f"engine's {role} is linear")
    if skip is not None and skip.use_bias:
        raise UnsupportedModelError(f"skip {skip.name!r} has a bias; the engine's input skip "
                                    "is bias-free (the head's bias is the model's)")
    gates = 3 * gru.units
    weights = [np.asarray(w, dtype=np.float32) for w in gru.get_weights()]
    biases = weights[2] if config["use_bias"] else np.zeros((2, gates), np.float32)
    head_weights = [np.asarray(w, dtype=np.float32) for w in head.get_weights()]
    outputs = head_weights[0].shape[1]
    inputs = weights[0].shape[0]
    spec = GruSpec(
        gru=GruLayer(input_weights=weights[0], recurrent_weights=weights[1],
                     input_bias=biases[0], recurrent_bias=biases[1]),
        head_weights=head_weights[0],
        head_bias=head_weights[1] if head.use_bias else np.zeros(outputs, np.float32),
        input_skip_weights=(np.asarray(skip.get_weights()[0], dtype=np.float32)
                            if skip is not None else np.zeros((inputs, outputs), np.float32)),
        name=metadata.name or "daisynet_gru",
        sample_rate=metadata.sample_rate,
        input_names=list(metadata.input_names or []),
        output_names=list(metadata.output_names or []),
    )
    spec.validate()
    return spec


def _conv_layer(layer) -> ConvLayer:
    config = layer.get_config()
    where = f"layer {layer.name!r}"
    (kernel,) = config["kernel_size"]
    (stride,) = config["strides"]
    (dilation,) = config["dilation_rate"]
    if stride != 1:
        raise UnsupportedModelError(f"{where}: stride {stride}; the engine needs stride 1")
    if config.get("groups", 1) != 1:
        raise UnsupportedModelError(f"{where}: grouped convolution is not supported")
    if config["data_format"] != "channels_last":
        raise UnsupportedModelError(f"{where}: data_format must be channels_last")
    # For a 1x1 convolution every padding mode is the same computation.
    if kernel > 1 and config["padding"] != "causal":
        raise UnsupportedModelError(
            f"{where}: padding {config['padding']!r}; only 'causal' can run in real time "
            "(other modes read future samples)"
        )
    activation = config["activation"]
    if not isinstance(activation, str) or activation not in SUPPORTED_ACTIVATIONS:
        raise UnsupportedModelError(
            f"{where}: activation {activation!r}; the engine has "
            f"{', '.join(sorted(SUPPORTED_ACTIVATIONS))}"
        )
    weights = np.asarray(layer.kernel.numpy(), dtype=np.float32)
    if config["use_bias"]:
        bias = np.asarray(layer.bias.numpy(), dtype=np.float32)
    else:
        bias = np.zeros(weights.shape[2], np.float32)
    return ConvLayer(
        name=layer.name,
        weights=weights,
        bias=bias,
        dilation=int(dilation),
        relu=SUPPORTED_ACTIVATIONS[activation],
    )


def excitation(input_names: list[str], frames: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A deterministic test signal per input: knobs/CV step per Daisy audio block in 0..1; audio
    channels get two detuned sines plus noise at up to 0.8 peak."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / sample_rate
    columns = []
    for name in input_names:
        if name.startswith(CONTROL_PREFIXES):
            steps = rng.uniform(0.0, 1.0, -(-frames // BLOCK_FRAMES))
            columns.append(np.repeat(steps, BLOCK_FRAMES)[:frames])
        else:
            f1, f2 = rng.uniform(80.0, 1200.0, 2)
            columns.append(
                0.5 * np.sin(2 * np.pi * f1 * t) + 0.2 * np.sin(2 * np.pi * f2 * t)
                + 0.1 * rng.standard_normal(frames)
            )
    return np.stack(columns, axis=1).astype(np.float32)


def _prepare(model_path, golden_inputs, golden_frames, metadata):
    """(Keras model, float spec, golden inputs) with every argument checked."""
    if not 1 <= golden_frames <= MAX_GOLDEN_FRAMES:
        raise ValueError(f"golden frames must be 1..{MAX_GOLDEN_FRAMES}, got {golden_frames}")
    if golden_inputs is not None and len(golden_inputs) < golden_frames:
        raise ValueError(f"the golden input has {len(golden_inputs)} frames, fewer than the "
                         f"{golden_frames} golden frames asked for; give a longer input or "
                         "fewer --golden-frames")
    model = load_keras(model_path)
    metadata = metadata or ModelMetadata.beside(model_path)
    spec = spec_from_keras(model, metadata)
    if golden_inputs is None:
        golden_inputs = excitation(spec.input_names, golden_frames, spec.sample_rate)
    golden_inputs = np.asarray(golden_inputs, dtype=np.float32)[:golden_frames]
    if golden_inputs.ndim != 2 or golden_inputs.shape[1] != spec.inputs:
        raise ValueError(
            f"golden inputs must be (frames, {spec.inputs}), got {golden_inputs.shape}"
        )
    return model, spec, golden_inputs


def export(
    model_path: str | Path,
    header_path: str | Path,
    command: str,
    golden_inputs: np.ndarray | None = None,
    golden_frames: int = DEFAULT_GOLDEN_FRAMES,
    metadata: ModelMetadata | None = None,
) -> tuple[ModelSpec, Path, Path]:
    """Write the header and its golden vectors; returns (spec, header path, golden path).
    ``golden_inputs``, if given, must hold at least ``golden_frames`` frames."""
    model, spec, golden_inputs = _prepare(model_path, golden_inputs, golden_frames, metadata)
    if spec.family == "gru":
        golden_outputs, what = gru_golden_outputs(spec, golden_inputs)
    else:
        golden_outputs, what = keras_outputs(model, spec, golden_inputs), None
    header_path = Path(header_path)
    golden = golden_path(header_path)
    write_texts({header_path: render_header(spec, command),
                 golden: render_golden(spec, golden_inputs, golden_outputs, command,
                                       header_path.name, what=what)})
    return spec, header_path, golden


def keras_outputs(model, spec: AnyModelSpec, inputs: np.ndarray) -> np.ndarray:
    """The Keras model's outputs for (frames, inputs) ``inputs`` from zero state, whatever the
    family of its ``spec``."""
    if spec.family == "gru":
        return predict_gru_in_keras(model, inputs)
    return predict_sequence(model, inputs, spec.architecture().receptive_field)


def gru_golden_outputs(spec: GruSpec, inputs: np.ndarray) -> tuple[np.ndarray, str]:
    """(outputs, what they are) for a GRU's golden header: what the engines must reproduce,
    the cmsisdsp simulator's outputs (with the engines' sigmoid and tanh approximations, as
    the simulator's are the golden ones of a q15/q7 header)."""
    from daisynet.host_sim.engine import Simulator

    return (Simulator(spec).render(inputs, BLOCK_FRAMES),
            "the cmsisdsp simulator's outputs for them\n// (the engines' sigmoid and tanh "
            "approximations; Keras' exact ones differ by float32 rounding and their error)")


# --- quantized export ------------------------------------------------------------------------


@dataclass
class Audio:
    """Model inputs (frames, inputs) and where they came from, for the report."""

    samples: np.ndarray
    source: str
    held_out: bool = True  # False: the calibration audio itself stands in for held-out audio


@dataclass
class QuantizedExport:
    spec: ModelSpec
    header: Path
    golden: Path
    report_path: Path
    report: dict = field(default_factory=dict)


def _training_dataset(record: TrainingRecord | None, model_path: str | Path):
    """(dataset, description) of the dataset the model at ``model_path`` was trained on, as its
    training ``record`` names it; (None, why not) when there is none or it cannot be found."""
    if record is None:
        return None, f"no training record beside {model_path}"
    try:
        return record.load_dataset()
    except TrainingRecordError as err:
        return None, str(err)


def _frames_of(samples: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    """The frames of ``samples`` in ``ranges`` ((first frame, frames) each), one after another."""
    return np.concatenate([samples[first : first + frames] for first, frames in ranges])


def _described(ranges: list[tuple[int, int]]) -> str:
    """``ranges`` in words: 'frames 10..20' or '3 ranges, 30 frames'."""
    if len(ranges) == 1:
        first, frames = ranges[0]
        return f"frames {first}..{first + frames}"
    return f"{len(ranges)} ranges, {sum(frames for _, frames in ranges)} frames"


def quantization_audio(model_path: str | Path, spec: ModelSpec,
                       calibration_path: str | Path | None = None) -> tuple[Audio, Audio]:
    """(calibration, held-out test) audio for quantizing the model at ``model_path``.

    Calibration: the whole of ``calibration_path`` (a dataset, whose channels are picked by
    the model's input names, or a WAV holding exactly the model's inputs) if given, but never
    the test split when that is the training dataset itself; else the training dataset's
    validation split. Test: the training dataset's test split; without the
    training dataset, the calibration audio, marked as not held out."""
    from daisynet.training.audio_io import read_model_inputs

    record = TrainingRecord.beside(model_path)
    dataset, description = _training_dataset(record, model_path)
    test = None
    if dataset is not None:
        inputs = dataset.select(spec.input_names)
        test = Audio(_frames_of(inputs, record.split("test")),
                     f"test split of {description}, {_described(record.split('test'))}")
    if calibration_path is not None:
        samples, _ = read_model_inputs(calibration_path, spec)
        calibration = Audio(samples, str(calibration_path))
        if test is not None and np.array_equal(samples, inputs):
            # Scales set by the test audio would flatter the accuracy measured on it.
            held_out = np.zeros(len(samples), dtype=bool)
            for first, frames in record.split("test"):
                held_out[first : first + frames] = True
            calibration = Audio(samples[~held_out],
                                f"{calibration_path} (the training dataset) without its test "
                                f"split, {_described(record.split('test'))}")
    elif dataset is not None:
        calibration = Audio(_frames_of(inputs, record.split("validation")),
                            f"validation split of {description}, "
                            f"{_described(record.split('validation'))}")
    else:
        raise ValueError(f"no calibration audio: {description}; give --calibration with a "
                         "dataset or WAV of the model's inputs")
    if test is None:
        test = Audio(calibration.samples, f"{calibration.source} (the calibration audio: "
                                          f"{description}, so nothing is held out)",
                     held_out=False)
    return calibration, test


def export_quantized(
    model_path: str | Path,
    header_path: str | Path,
    command: str,
    number_format: str,
    calibration: Audio,
    test: Audio,
    golden_inputs: np.ndarray | None = None,
    golden_frames: int = DEFAULT_GOLDEN_FRAMES,
    metadata: ModelMetadata | None = None,
    max_esr: float | None = None,
    headroom: float | None = None,
) -> QuantizedExport:
    """Quantize, measure the cost on ``test``, then (unless the ESR exceeds ``max_esr``, which
    raises QuantizationRefusedError before anything is written) write the header, its golden
    vectors (the fixed-point engine's exact outputs and Keras's) and the report JSON."""
    from daisynet.host_sim.engine import Simulator
    from daisynet.host_sim.model_defn.fixed_point import run_fixed_point
    from daisynet.host_sim.quantize import (
        DEFAULT_HEADROOM,
        ESR_WARN,
        SATURATION_WARN,
        accuracy_report,
        gru_accuracy_report,
        quantize_spec,
        report_path,
    )

    model, float_spec, golden_inputs = _prepare(model_path, golden_inputs, golden_frames,
                                                metadata)
    gru = float_spec.family == "gru"
    headroom = DEFAULT_HEADROOM[number_format] if headroom is None else headroom
    spec = quantize_spec(float_spec, number_format, calibration.samples, headroom)
    if gru:  # the scale is a bound on the weights (the state is within [-1, 1]): no calibration
        report = gru_accuracy_report(float_spec, spec, test.samples)
        calibrated = {"source": "none: a GRU's q15 scale is a bound on its recurrent weights"}
    else:
        report = accuracy_report(float_spec, spec, test.samples)
        calibrated = {"source": calibration.source, "frames": len(calibration.samples),
                      "headroom": headroom}
    report.update(
        calibration=calibrated,
        test={"source": test.source, "frames": len(test.samples),
              "held_out": test.held_out},
        thresholds={"esr_warn": ESR_WARN, "saturation_warn": SATURATION_WARN,
                    "max_esr": max_esr},
        weights_sha256=spec.weights_sha256(),
        float_weights_sha256=float_spec.weights_sha256(),
    )
    if max_esr is not None and report["esr"] > max_esr:
        raise QuantizationRefusedError(
            f"{number_format} ESR {report['esr']:.3g} against the float model on "
            f"{len(test.samples)} {'held-out' if test.held_out else 'calibration'} frames "
            f"exceeds --max-esr {max_esr:g}; nothing written")
    what = None
    if gru:
        golden_outputs, what = gru_golden_outputs(spec, golden_inputs)
    else:
        golden_outputs = run_fixed_point(spec, golden_inputs).outputs
        simulated = Simulator(spec).render(golden_inputs, BLOCK_FRAMES)
        if not np.array_equal(simulated, golden_outputs):  # the contract's two implementations
            raise RuntimeError("internal error: the cmsisdsp simulator and the fixed-point "
                               "reference disagree on the golden vectors")
    float_outputs = keras_outputs(model, float_spec, golden_inputs)
    header_path = Path(header_path)
    golden = golden_path(header_path)
    json_path = report_path(header_path)
    report.update(header=str(header_path), golden=str(golden), command=command)
    write_texts({header_path: render_header(spec, command),
                 golden: render_golden(spec, golden_inputs, golden_outputs, command,
                                       header_path.name, float_outputs=float_outputs,
                                       what=what),
                 json_path: json.dumps(report, indent=2) + "\n"})
    return QuantizedExport(spec, header_path, golden, json_path, report)


def export_quantized_model(
    model_path: str | Path,
    header_path: str | Path,
    number_format: str,
    command: str | None = None,
    golden_input: str | Path | None = None,
    golden_frames: int = DEFAULT_GOLDEN_FRAMES,
    calibration_path: str | Path | None = None,
    max_esr: float | None = None,
) -> QuantizedExport:
    """``daisynet export MODEL -o HEADER --quantize FORMAT [--golden-input WAV]`` as one call
    (metadata from the training record, calibration and test audio found as the CLI finds them),
    without the CLI's real-time check: e.g. the demo model's q15 header for a firmware test,
    ``export_quantized_model("firmware/model/model.keras", tmp / "model_defn.h", "q15",
    golden_input="firmware/model/golden_input.wav")``."""
    from daisynet.training.audio_io import read_model_inputs

    metadata = ModelMetadata.beside(model_path)
    spec = spec_from_keras(load_keras(model_path), metadata)
    golden_inputs = None
    if golden_input is not None:
        golden_inputs, _ = read_model_inputs(golden_input, spec)
    calibration, test = quantization_audio(model_path, spec, calibration_path)
    command = command or (f"export_quantized_model({str(model_path)!r}, {number_format!r})")
    return export_quantized(model_path, header_path, command, number_format, calibration, test,
                            golden_inputs=golden_inputs, golden_frames=golden_frames,
                            metadata=metadata, max_esr=max_esr)
