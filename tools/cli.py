"""The ``daisynet`` command: one entry point, a subcommand per step of the pipeline."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import math
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def _logger(as_json: bool) -> Callable[[str], None]:
    """Progress goes to stdout, or to stderr when stdout carries JSON."""
    stream = sys.stderr if as_json else sys.stdout
    return lambda message: print(message, file=stream, flush=True)


def _invocation(argv: list[str]) -> str:
    return "daisynet " + shlex.join(argv)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as err:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from err


def _formats(text: str) -> tuple[str, ...]:
    """Quantized number formats, comma-separated: q15, q7 (or 'none')."""
    from daisynet.tools.measure.plan import QUANTIZED_FORMATS

    if text.strip().lower() in ("", "none"):
        return ()
    formats = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",")))
    unknown = [f for f in formats if f not in QUANTIZED_FORMATS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown format {unknown[0]!r}; choose from "
                                         f"{', '.join(QUANTIZED_FORMATS)}")
    return formats


def _name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated channel names, got {text!r}")
    return names


def _whole(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from err
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _number(low: float, high: float = math.inf, low_included: bool = False
            ) -> Callable[[str], float]:
    """An argparse type: a finite number above ``low`` (or from it, with ``low_included``), up
    to ``high``. NaN, inf and negative durations used to reach numpy and TensorFlow."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from err
        above = value >= low if low_included else value > low
        if not (math.isfinite(value) and above and value <= high):
            bound = f"from {low:g}" if low_included else f"above {low:g}"
            if math.isfinite(high):
                bound += f" up to {high:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
        return value

    return parse


def _model_name(text: str) -> str:
    # It names the Keras model (whose scope names allow no spaces) and the C++ string.
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: use letters, digits, '_', '.' or '-', starting with a letter")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _inputs(*paths: str | None) -> list[Path]:
    """The files a command reads, with each dataset's WAV and sidecar, which no output may
    replace."""
    from daisynet.training.dataset import dataset_paths

    files = []
    for path in paths:
        if path:
            files.append(Path(path))
            if Path(path).suffix in (".wav", ".json"):
                files.extend(dataset_paths(path))
    return files


def _wav_output(path: str, inputs: list[Path]) -> Path:
    """A float32 WAV the command may write, checked before the work starts."""
    from daisynet.host_sim.files import check_output_file

    if Path(path).suffix.lower() != ".wav":
        raise CommandError(f"{path}: the output is a float32 WAV; name it NAME.wav")
    return check_output_file(path, inputs)


def _emit_json(data: dict) -> None:
    print(json.dumps(data, indent=2))


def _load_spec(path: str):
    """A ModelSpec from a model_defn.h or a .keras file (with training.json beside it)."""
    from daisynet.host_sim.model_defn import read_header

    model_path = Path(path)
    if model_path.suffix == ".h":
        return read_header(model_path)
    if model_path.suffix == ".keras":
        from daisynet.training.export import ModelMetadata, load_keras, spec_from_keras

        return spec_from_keras(load_keras(model_path), ModelMetadata.beside(model_path))
    raise CommandError(f"{path}: expected a model_defn.h or a .keras file")


# How verify and simulate name each engine to the user.
ENGINE_LABELS = {"python": "simulator", "native": "native core", "m7": "emulated M7"}


# --- subcommands -----------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.host_sim.files import writable_folder
    from daisynet.tools.demo import run_demo

    writable_folder(args.output)
    return run_demo(
        out_dir=Path(args.output),
        seconds=args.seconds,
        max_epochs=args.epochs,
        seed=args.seed,
        command=_invocation(argv),
        log=_logger(args.json),
        source=args.source,
        refine_iterations=args.refine_iterations,
    )


def cmd_capture(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.capture import CaptureError, capture, capture_emulated, find_port
    from daisynet.tools.emulated_device import EmulatorError, Faults

    log = _logger(args.json)
    output = args.output or f"captures/capture-{time.strftime('%Y%m%d-%H%M%S')}"
    options = dict(duration=args.duration, channels=args.channels, sample_format=args.format,
                   mode=args.mode, on_gap=args.on_gap, wait=args.wait,
                   silence_timeout=args.silence_timeout, progress=not args.json, log=log,
                   start="encoder" if args.encoder else "command", force=args.force)
    try:
        if not args.emulate:
            return capture(find_port(args.port), output, **options).log
        if args.emulate_input:
            from daisynet.training.dataset import dataset_paths, load_dataset

            dataset = load_dataset(args.emulate_input)
            options["inputs"] = dataset_paths(args.emulate_input)  # never captured over
        else:
            from daisynet.training.builtin_data import make_waveshaper_dataset

            dataset = make_waveshaper_dataset(args.emulate_seconds, args.fault_seed)
        faults = Faults(flip_rate=args.flip_rate, flip_burst=args.flip_burst,
                        drop_rate=args.drop_rate, truncate_at=args.truncate_at,
                        disconnect_at=args.disconnect_at, stall_every=args.stall_every,
                        stall_ms=args.stall_ms, seed=args.fault_seed)
        return capture_emulated(dataset, output, faults, args.realtime, args.link_rate,
                                **options).log
    except (CaptureError, EmulatorError) as err:
        raise CommandError(str(err)) from err


def cmd_monitor(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.capture import CaptureError, find_port
    from daisynet.tools.device.monitor import MonitorError, monitor

    log = _logger(args.json)
    options = dict(duration=args.duration, count=args.count, log_path=args.log, show=log)
    try:
        if not args.emulate:
            summary = monitor(find_port(args.port, app="inference"), **options)
        else:
            from daisynet.tools.device.emulated_inference import DEFAULT_HEADER, EmulatedInference

            with EmulatedInference(args.emulate_model or DEFAULT_HEADER, realtime=True,
                                   stall_every=args.emulate_stall_every) as device:
                log(f"emulated inference app on {device.port}: the firmware's callback and "
                    "meter, natively; cycles are host time at the Daisy's clock")
                summary = monitor(device.port, **options)
    except (CaptureError, MonitorError) as err:
        raise CommandError(str(err)) from err
    result = summary.to_json()
    log(f"{len(summary.lines)} status lines ({summary.stop_reason}): mean CPU "
        f"{result['mean_cpu_percent']}%, worst max {result['worst_max_cycles_per_sample']} "
        f"cycles/sample, {result['overruns']} overruns")
    if args.log:
        log(f"logged to {args.log}")
    return {**result, "lines": summary.lines}


def cmd_train(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.host_sim.files import writable_folder
    from daisynet.training.dataset import describe, load_dataset
    from daisynet.training.train import TrainConfig, train

    log = _logger(args.json)
    peek = load_dataset(args.dataset)
    inputs = args.inputs or peek.source.get("suggested_inputs")
    target = args.target or peek.source.get("suggested_target")
    if not inputs or not target:
        raise CommandError(
            "name the model's channels with --inputs a,b,c and --target x; this dataset has: "
            + ", ".join(peek.channels)
        )
    dataset = load_dataset(args.dataset, required_channels=[*inputs, target])
    writable_folder(args.output)  # before the minutes of training that write there
    log(f"dataset: {describe(dataset)}")
    if target in inputs:
        log(f"warning: the target {target} is also an input: the model can learn to copy it")
    for warning in dataset.warnings:
        log(f"warning: {warning}")
    config = TrainConfig(
        inputs=list(inputs),
        target=target,
        filters=args.filters,
        kernel_size=args.kernel_size,
        scored_frames=args.window,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        max_seconds=args.max_seconds,
        refine_iterations=args.refine_iterations,
        refine_share=args.refine_share,
        patience=args.patience,
        learning_rate=args.learning_rate,
        seed=args.seed,
        candidates=args.candidates,
        name=args.name,
    )
    report = train(dataset, config, args.output, log=log)
    model = Path(args.output) / "model.keras"
    log(f"wrote {model} and training.json, loss.png, test_prediction.png")
    if report["interrupted"]:
        log(f"training was interrupted: {model} is the best model so far; export it with "
            f"`daisynet export {model} -o model_defn.h`, or train again to go further")
    return report


def cmd_export(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.host_sim.files import check_output_file
    from daisynet.host_sim.model_defn import golden_path
    from daisynet.host_sim.quantize import report_path
    from daisynet.training.audio_io import read_model_inputs
    from daisynet.training.export import ModelMetadata, export, load_keras, spec_from_keras

    log = _logger(args.json)
    if not Path(args.model).is_file():  # before the training.json warning below
        raise CommandError(f"{args.model}: no such model file")
    if not args.quantize and (args.calibration or args.max_esr is not None):
        raise CommandError("--calibration and --max-esr apply to quantized exports; add "
                           "--quantize q15 or --quantize q7")
    inputs = _inputs(args.model, args.golden_input, args.calibration)
    if Path(args.output).suffix != ".h":
        raise CommandError(f"{args.output}: the output is a C++ header; name it NAME.h")
    check_output_file(args.output, inputs)
    check_output_file(golden_path(args.output), inputs)
    if args.quantize:
        check_output_file(report_path(args.output), inputs)
    # training.json beside the model, overridden by the flags (a model trained elsewhere has
    # none: the flags give the Patch input names, the target and the rate it was trained at).
    given = {"name": args.name, "sample_rate": args.sample_rate, "input_names": args.inputs,
             "output_names": [args.target] if args.target else None}
    metadata = dataclasses.replace(ModelMetadata.beside(args.model),
                                   **{key: value for key, value in given.items() if value})
    if not metadata.found:
        defaulted = [text for missing, text in (
            (not args.inputs, "input names to input_N (give --inputs)"),
            (not args.target, "the output name to output_1 (give --target)"),
            (not args.sample_rate, f"the sample rate to {metadata.sample_rate} Hz "
                                   "(give --sample-rate)")) if missing]
        if defaulted:
            log(f"warning: no training.json beside {args.model}; defaulting "
                + ", ".join(defaulted))
    golden_inputs = None
    if args.golden_input or args.quantize:
        spec = spec_from_keras(load_keras(args.model), metadata)
    if args.golden_input:
        golden_inputs, _ = read_model_inputs(args.golden_input, spec)
    quantization = None
    if args.quantize:
        quantization = _export_quantized(args, argv, spec, metadata, golden_inputs, log)
        spec, header, golden = (quantization.spec, quantization.header, quantization.golden)
    else:
        spec, header, golden = export(
            args.model,
            args.output,
            command=_invocation(argv),
            golden_inputs=golden_inputs,
            golden_frames=args.golden_frames,
            metadata=metadata,
        )
    arch = spec.architecture()
    log(f"wrote {header} ({arch.parameters} parameters, {arch.macs_per_sample} MACs/sample, "
        f"receptive field {arch.receptive_field}{', ' + spec.number_format if quantization else ''}"
        f") and {golden}" + (f", {quantization.report_path}" if quantization else ""))
    from daisynet.host_sim.m7 import M7Error
    from daisynet.tools.measure.plan import measure_header, real_time_verdict

    real_time = None
    try:
        measured = measure_header(header)
        real_time = real_time_verdict(measured.instructions_per_sample, spec.sample_rate)
        log(real_time["message"])
    except M7Error as err:
        reason = str(err)
        if quantization and reason.startswith("build failed"):
            reason = (f"the emulated M7 build of this {spec.number_format} header failed "
                      f"(`daisynet bench {header}` shows the compiler's message)")
        log(f"real-time check skipped: {reason}")
    result = {
        "header": str(header),
        "golden": str(golden),
        "real_time": real_time,
        "weights_sha256": spec.weights_sha256(),
        "params": arch.parameters,
        "macs_per_sample": arch.macs_per_sample,
        "receptive_field": arch.receptive_field,
        "inputs": spec.input_names,
        "outputs": spec.output_names,
        "number_format": spec.number_format,
    }
    if quantization:
        result.update(report=str(quantization.report_path), quantization=quantization.report)
    return result


def _export_quantized(args: argparse.Namespace, argv: list[str], spec, metadata,
                      golden_inputs, log: Callable[[str], None]):
    """The --quantize half of export: find the audio, quantize, report, write (or refuse)."""
    from daisynet.host_sim.quantize import accuracy_summary
    from daisynet.training.export import export_quantized, quantization_audio

    calibration, test = quantization_audio(args.model, spec, args.calibration)
    log(f"calibrating {args.quantize} on {len(calibration.samples)} frames: "
        f"{calibration.source}")
    if not test.held_out:
        log("warning: no held-out audio (the training dataset was not found): the accuracy "
            "cost is measured on the calibration audio itself")
    exported = export_quantized(
        args.model, args.output, _invocation(argv), args.quantize, calibration, test,
        golden_inputs=golden_inputs, golden_frames=args.golden_frames, metadata=metadata,
        max_esr=args.max_esr)
    for line in accuracy_summary(exported.report):
        log(line)
    for warning in exported.report["warnings"]:
        log(f"warning: {warning}")
    return exported


def _engine_header(args: argparse.Namespace, scratch: Path) -> Path | None:
    """The model_defn.h the native and m7 engines compile: the one given, or a fresh export of
    a .keras model into ``scratch``."""
    if args.engine == "python":
        return None
    header = getattr(args, "header", None) or (args.model if args.model.endswith(".h") else None)
    if header:
        return Path(header)
    from daisynet.training.export import export

    _, exported, _ = export(args.model, scratch / "model_defn.h", command="daisynet (temporary)")
    return exported


def cmd_simulate(args: argparse.Namespace, argv: list[str]) -> dict:
    import tempfile

    from daisynet.host_sim.engines import renderer
    from daisynet.training.audio_io import read_model_inputs, write_output

    log = _logger(args.json)
    _wav_output(args.output, _inputs(args.model, args.input))
    spec = _load_spec(args.model)
    inputs, rate = read_model_inputs(args.input, spec)
    if spec.sample_rate and rate != spec.sample_rate:
        log(f"warning: {args.input} is at {rate} Hz but the model was trained at "
            f"{spec.sample_rate} Hz; time constants will be off by {spec.sample_rate / rate:.3f}x")
    with tempfile.TemporaryDirectory(prefix="daisynet-") as scratch:
        header = _engine_header(args, Path(scratch))
        render = renderer(args.engine, spec, header, progress=not args.json)
        output = render(inputs, args.block_size)
    write_output(args.output, output, rate)
    peak = float(abs(output).max()) if output.size else 0.0
    log(f"wrote {args.output}: {len(output)} frames, {spec.outputs} channel(s), "
        f"peak {peak:.3f}, block size {args.block_size}, engine {args.engine}")
    return {"output": args.output, "frames": len(output), "sample_rate": rate, "peak": peak,
            "engine": args.engine}


def cmd_verify(args: argparse.Namespace, argv: list[str]) -> dict:
    import tempfile

    from daisynet.host_sim.engines import renderer
    from daisynet.host_sim.files import check_output_file
    from daisynet.host_sim.model_defn import golden_path, read_golden, read_header
    from daisynet.training.audio_io import read_model_inputs
    from daisynet.training.export import ModelMetadata, excitation, load_keras, spec_from_keras
    from daisynet.training.plots import plot_predictions
    from daisynet.training.verify import compare, compare_quantized

    log = _logger(args.json)
    if args.plot:
        if Path(args.plot).suffix.lower() != ".png":
            raise CommandError(f"{args.plot}: the plot is a PNG; name it NAME.png")
        check_output_file(args.plot, _inputs(args.model, args.header, args.input))
    keras_model = load_keras(args.model)
    keras_spec = spec_from_keras(keras_model, ModelMetadata.beside(args.model))
    spec = keras_spec
    if args.header:
        spec = read_header(args.header)
        # A quantized header names the float model it was made from.
        source_sha = spec.float_sha256 if spec.quantized else spec.weights_sha256()
        if source_sha != keras_spec.weights_sha256():
            raise CommandError(
                f"{args.header} holds {'a model quantized from ' if spec.quantized else ''}"
                f"different weights from {args.model} (sha256 {(source_sha or '?')[:8]} vs "
                f"{keras_spec.weights_sha256()[:8]}); re-export"
            )
    golden_outputs = None  # a quantized engine must also reproduce these bit for bit
    if args.input:
        inputs, _ = read_model_inputs(args.input, spec)
        source = args.input
    elif args.header and golden_path(args.header).exists():
        inputs, golden_outputs = read_golden(golden_path(args.header), spec)
        source = str(golden_path(args.header))
    else:
        inputs = excitation(spec.input_names, int(args.seconds * (spec.sample_rate or 48_000)),
                            spec.sample_rate or 48_000)
        source = f"synthetic excitation, {args.seconds} s"
    label = ENGINE_LABELS[args.engine]
    with tempfile.TemporaryDirectory(prefix="daisynet-") as scratch:
        header = _engine_header(args, Path(scratch))
        render = renderer(args.engine, spec, header, progress=len(inputs) > 1 << 16)
        if spec.quantized:
            result = compare_quantized(keras_model, spec, inputs, args.block_size, render,
                                       golden=golden_outputs)
        else:
            result = compare(keras_model, spec, inputs, args.block_size, args.tolerance, render)
    keras_out, sim_out = result.pop("keras"), result.pop("simulator")
    result.update(model=args.model, header=args.header, input=source, engine=args.engine)
    if args.plot:
        plot_predictions(keras_out[:, 0], sim_out[:, 0], spec.sample_rate or 48_000, 0,
                         Path(args.plot), title=f"{label} vs Keras", reference_label="Keras",
                         prediction_label=label)
    verdict = "PASS" if result["passed"] else "FAIL"
    if spec.quantized:
        against = " and its golden outputs" if golden_outputs is not None else ""
        log(f"{verdict}  {label} vs the {spec.number_format} arithmetic{against} on {source}: "
            f"{result['frames']} frames, block {args.block_size} ({result['criterion']}"
            + (f"; {result['mismatched_frames']} frames differ, the first at frame "
               f"{result['first_mismatch']}" if not result["bit_exact"] else "") + ")")
        log(f"  {spec.number_format} vs Keras  ESR {result['sim_vs_keras_esr']:.3e}, max abs "
            f"error {result['sim_vs_keras_max_abs_err']:.3e} (the cost of quantization; "
            f"output peak {result['output_peak']:.3f})")
    else:
        log(f"{verdict}  {label} vs Keras on {source}: "
            f"{result['frames']} frames, block {args.block_size} ({result['criterion']})")
        log(f"  max abs error   {result['sim_vs_keras_max_abs_err']:.3e}  (tolerance "
            f"{args.tolerance:.0e}, worst at frame {result['worst_frame']})")
        log(f"  ESR             {result['sim_vs_keras_esr']:.3e}")
        log(f"  vs float64 ref  Keras {result['keras_vs_float64_max_abs_err']:.3e}, {label} "
            f"{result['sim_vs_float64_max_abs_err']:.3e}  (output peak "
            f"{result['output_peak']:.3f})")
    if not result["passed"]:
        result["exit_status"] = 1
    return result


def cmd_bench(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.measure.bench import bench

    return bench(args.header, args.block_sizes, args.seconds, _logger(args.json),
                 formats=args.quantize)


def cmd_train_bench(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.measure.train_bench import bench_objective, bench_seeds, bench_starts

    if args.objective:
        return bench_objective(args.objective, _logger(args.json))
    if args.starts:
        return bench_starts(args.starts, _logger(args.json))
    return bench_seeds(list(args.seeds), _logger(args.json))


def cmd_plan(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.measure.plan import plan

    return plan(args.inputs, args.kernel_size, args.filters, args.sample_rates,
                _logger(args.json), quantize=args.quantize)


def cmd_flash(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.device.flash import FlashError, flash

    try:
        return flash(args.app, args.model, _logger(args.json), force=args.force)
    except FlashError as err:
        raise CommandError(str(err)) from err


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from daisynet.host_sim.model_defn import QUANTIZED_FORMATS
    from daisynet.tools.capture import DEFAULT_SILENCE_TIMEOUT
    from daisynet.training.export import DEFAULT_GOLDEN_FRAMES
    from daisynet.training.train import TrainConfig

    parser = _Parser(
        prog="daisynet",
        description="Record a eurorack patch, train a small wavenet of it, run it on a Daisy.",
    )
    parser.add_argument("--version", action="version",
                        version=f"daisynet {importlib.metadata.version('daisynet')}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        command.add_argument("--json", action="store_true",
                             help="print machine-readable results on stdout")
        return command

    demo = add("demo", cmd_demo,
               "generate the built-in dataset, train the reference model, export, verify")
    demo.add_argument("-o", "--output", default="runs/demo", help="output folder (runs/demo)")
    demo.add_argument("--seconds", type=_number(0), default=60.0,
                      help="length of the generated dataset in seconds (60)")
    demo.add_argument("--epochs", type=_whole(1), default=TrainConfig.max_epochs,
                      help="most Adam epochs (%(default)s)")
    demo.add_argument("--refine-iterations", type=_whole(0),
                      default=TrainConfig.refine_iterations,
                      help="L-BFGS iterations after the Adam epochs; 0 skips them "
                           "(%(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="data and weight seed (0)")
    demo.add_argument("--source", choices=("builtin", "emulated"), default="builtin",
                      help="builtin: use the generated dataset as is; emulated: record it "
                           "through the emulated datalogger first, as a capture would (builtin)")

    capture = add("capture", cmd_capture,
                  "record a dataset from the Daisy Patch datalogger over USB serial")
    capture.add_argument("-o", "--output",
                         help="dataset to write (default captures/capture-DATE-TIME)")
    capture.add_argument("--force", action="store_true",
                         help="replace an earlier capture of the same name (default: refuse)")
    capture.add_argument("--port", help="serial port (default: the one Daisy found by USB id)")
    capture.add_argument("--duration", type=_number(0),
                         help="seconds to record (default: until stopped; record mode: until "
                              "the Daisy's SDRAM store is full)")
    capture.add_argument("--channels", type=_name_list,
                         help="channels to record, e.g. audio_in_1,audio_in_2,knob_1,knob_2 "
                              "(default: audio_in_1..4 and knob_1..4)")
    capture.add_argument("--format", choices=("s24", "s16", "f32"), default="s24",
                         help="audio sample format on the wire; knobs are always float32 "
                              "(%(default)s: lossless for the Patch's 24-bit codec)")
    capture.add_argument("--mode", choices=("auto", "live", "record"), default="auto",
                         help="live: stream while recording; record: record into the Daisy's "
                              "SDRAM, transfer after; auto: live if the link budget allows "
                              "(%(default)s)")
    capture.add_argument("--encoder", action="store_true",
                         help="configure the Daisy, then wait for its encoder to start the "
                              "recording (default: start it from here)")
    capture.add_argument("--on-gap", choices=("mark", "fail"), default="mark",
                         help="lost frames: mark them in the dataset (training skips them) or "
                              "stop with an error (%(default)s)")
    capture.add_argument("--wait", type=_number(0), default=5.0,
                         help="seconds to wait for the first daisynet frame (%(default)s)")
    capture.add_argument("--silence-timeout", type=_number(0), default=DEFAULT_SILENCE_TIMEOUT,
                         help="stop and save when the device sends nothing for this many "
                              "seconds (%(default)s)")
    emulated = capture.add_argument_group(
        "emulated device", "the datalogger firmware's recorder and encoder, built for this "
                           "machine, on a pseudo-terminal")
    emulated.add_argument("--emulate", action="store_true",
                          help="capture from the emulated datalogger instead of hardware")
    emulated.add_argument("--emulate-input",
                          help="dataset it plays (default: the built-in waveshaper dataset)")
    emulated.add_argument("--emulate-seconds", type=_number(0), default=10.0,
                          help="length of the built-in dataset it plays (%(default)s)")
    emulated.add_argument("--realtime", action="store_true",
                          help="tie the device's virtual clock to the wall clock (default: "
                               "virtual time, as fast as the host reads)")
    emulated.add_argument("--link-rate", type=_whole(1), default=1_000_000,
                          help="USB link budget in bytes/s, moved in 64-byte packets per 1 ms "
                               "USB frame (%(default)s: full speed as planned)")
    emulated.add_argument("--flip-rate", type=_number(0, 1, low_included=True), default=0.0,
                          help="fraction of bytes corrupted (0)")
    emulated.add_argument("--flip-burst", type=_whole(1), default=1,
                          help="bytes per corruption; 64 is a lost USB packet (1)")
    emulated.add_argument("--drop-rate", type=_number(0, 1, low_included=True), default=0.0,
                          help="fraction of frames dropped whole (0)")
    emulated.add_argument("--truncate-at", type=_whole(0),
                          help="stop sending after this many bytes, staying connected")
    emulated.add_argument("--disconnect-at", type=_whole(0),
                          help="unplug after this many bytes")
    emulated.add_argument("--stall-every", type=_whole(0), default=0,
                          help="stall the link after every this many bytes (0: never)")
    emulated.add_argument("--stall-ms", type=_whole(0), default=0,
                          help="length of each stall in (virtual) ms (0)")
    emulated.add_argument("--fault-seed", type=int, default=1,
                          help="seed of the faults and of the built-in dataset (1)")

    defaults = TrainConfig  # dataclass defaults, so the CLI and the library agree
    train = add("train", cmd_train, "train a wavenet on a dataset (NAME.wav + NAME.json)")
    train.add_argument("dataset", help="dataset WAV or JSON")
    train.add_argument("-o", "--output", default="runs/train", help="output folder (runs/train)")
    train.add_argument("--inputs", type=_name_list,
                       help="input channels in model order, e.g. knob_1,knob_2,audio_in_1 "
                            "(default: the dataset's suggestion)")
    train.add_argument("--target", help="channel to predict (default: the dataset's suggestion)")
    train.add_argument("--filters", type=_int_list, default=defaults.filters,
                       help="filters per block, comma-separated "
                            f"({','.join(map(str, defaults.filters))})")
    train.add_argument("--kernel-size", type=_whole(2), default=defaults.kernel_size,
                       help="kernel size K; block i is dilated by K**i (%(default)s)")
    train.add_argument("--window", type=_whole(1), default=defaults.scored_frames,
                       help="scored frames per training window, after the warm-up (%(default)s)")
    train.add_argument("--batch-size", type=_whole(1), default=defaults.batch_size,
                       help="windows per batch (%(default)s)")
    train.add_argument("--epochs", type=_whole(1), default=defaults.max_epochs,
                       help="most Adam epochs, the chosen candidate's included (%(default)s)")
    train.add_argument("--refine-iterations", type=_whole(0),
                       default=defaults.refine_iterations,
                       help="L-BFGS iterations after the Adam epochs; 0 skips them "
                            "(%(default)s)")
    train.add_argument("--refine-share", type=_number(0, 1), default=defaults.refine_share,
                       help="share of the training windows L-BFGS sees whole, 0..1 "
                            "(%(default)s)")
    train.add_argument("--max-seconds", type=_number(0), default=defaults.max_seconds,
                       help="stop after this many seconds of training, if before --epochs")
    train.add_argument("--patience", type=_whole(0), default=defaults.patience,
                       help="stop after this many epochs without improvement (%(default)s)")
    train.add_argument("--learning-rate", type=_number(0), default=defaults.learning_rate,
                       help="Adam step (%(default)s)")
    train.add_argument("--seed", type=int, default=defaults.seed,
                       help="weight initialisation seed (%(default)s)")
    train.add_argument("--candidates", type=_whole(1), default=defaults.candidates,
                       help="models started from different seeds; the best after a few "
                            "epochs is trained on (%(default)s)")
    train.add_argument("--name", type=_model_name, default=defaults.name,
                       help="model name for the header (%(default)s)")

    export = add("export", cmd_export, "write model_defn.h and golden vectors from a .keras model")
    export.add_argument("model", help="trained model (.keras); training.json beside it is read")
    export.add_argument("-o", "--output", required=True, help="header to write, e.g. model_defn.h")
    export.add_argument("--golden-frames", type=_whole(1), default=DEFAULT_GOLDEN_FRAMES,
                        help="frames of golden vectors to write (512)")
    export.add_argument("--inputs", type=_name_list,
                        help="input names in the model's input order, e.g. knob_1,knob_2,"
                             "audio_in_1 (default: from training.json)")
    export.add_argument("--target", help="output name (default: from training.json)")
    export.add_argument("--sample-rate", type=_whole(1),
                        help="Hz the model was trained at (default: from training.json, else "
                             "48000)")
    export.add_argument("--name", type=_model_name,
                        help="model name shown on the Daisy (default: from training.json)")
    export.add_argument("--golden-input",
                        help="WAV or dataset to take golden input frames from (default: a "
                             "deterministic synthetic signal)")
    export.add_argument("--quantize", choices=QUANTIZED_FORMATS,
                        help="write a fixed-point model: q15 (16-bit) or q7 (8-bit) weights and "
                             "activations, power-of-two scales per layer (default: float32)")
    export.add_argument("--calibration",
                        help="with --quantize: dataset or WAV of the model's inputs whose ranges "
                             "set the scales (default: the validation split of the training "
                             "dataset that training.json names)")
    export.add_argument("--max-esr", type=_number(0),
                        help="with --quantize: refuse (write nothing, exit 1) if the quantized "
                             "model's ESR against the float model on held-out audio is above "
                             "this")

    simulate = add("simulate", cmd_simulate,
                   "render audio through the simulator or the firmware's C++ core (--engine)")
    simulate.add_argument("model", help="model_defn.h or .keras")
    simulate.add_argument("input", help="WAV with the model's inputs in order, or a dataset")
    simulate.add_argument("-o", "--output", required=True, help="output WAV (float32)")
    simulate.add_argument("--block-size", type=_whole(1), default=48,
                          help="frames per processing block, as the Daisy's audio block (48)")
    simulate.add_argument("--engine", choices=ENGINE_LABELS, default="python",
                          help="python: cmsisdsp simulator; native: the firmware's C++ core on "
                               "this machine; m7: the same core on an emulated Cortex-M7, for "
                               "short audio (python)")

    verify = add("verify", cmd_verify,
                 "compare the simulator or the firmware core with Keras on the same audio")
    verify.add_argument("model", help="trained model (.keras)")
    verify.add_argument("--header", help="exported model_defn.h to simulate (default: the model)")
    verify.add_argument("--input", help="WAV or dataset (default: the header's golden vectors, "
                                        "else a synthetic signal)")
    verify.add_argument("--seconds", type=_number(0), default=1.0,
                        help="length of the synthetic signal (1.0)")
    verify.add_argument("--block-size", type=_whole(1), default=48, help="engine block size (48)")
    verify.add_argument("--engine", choices=ENGINE_LABELS, default="python",
                        help="what to check against Keras: python (the simulator), native "
                             "(the firmware's C++ core here) or m7 (on an emulated Cortex-M7); "
                             "native and m7 compile --header, else a fresh export (python)")
    verify.add_argument("--tolerance", type=_number(0, low_included=True), default=1e-5,
                        help="max-abs error that passes outright (1e-5); beyond it, the "
                             "simulator must be as close to the float64 answer as Keras is")
    verify.add_argument("--plot", help="write a PNG of Keras vs simulator")

    from daisynet.tools.measure.bench import DEFAULT_HEADER

    bench = add("bench", cmd_bench,
                "instructions per sample and footprint of a model on the emulated Cortex-M7")
    bench.add_argument("header", nargs="?", default=str(DEFAULT_HEADER),
                       help="model_defn.h (default: the committed firmware/model/model_defn.h)")
    bench.add_argument("--block-sizes", type=_int_list, default=(1, 16, 32, 48, 64),
                       help="audio block sizes to measure, 1..64 (1,16,32,48,64)")
    bench.add_argument("--seconds", type=_number(0), default=0.2,
                       help="length of the synthetic input in seconds (0.2)")
    bench.add_argument("--quantize", type=_formats, default=("q15", "q7"),
                       help="also measure the model quantized to these formats, beside float32 "
                            "(q15,q7; 'none' for float32 only)")

    train_bench = add("train-bench", cmd_train_bench,
                      "training time and test ESR of the demo configuration per seed, and "
                      "their spread")
    train_bench.add_argument("--seeds", type=_int_list, default=(0, 1, 2, 3, 4),
                             help="seeds to train, data and weights alike (0,1,2,3,4)")
    train_bench.add_argument("--starts", type=_whole(1),
                             help="instead, count dead starts over this many runs' candidates "
                                  "(each trained only for the candidates' epochs)")
    train_bench.add_argument("--objective", type=_whole(1), metavar="EVALUATIONS",
                             help="instead, time this many evaluations of the refining loss "
                                  "and gradient, C++ against TensorFlow")

    plan = add("plan", cmd_plan,
               "whether an architecture fits the Daisy, measured with random weights on the "
               "emulated Cortex-M7")
    plan.add_argument("--inputs", type=_whole(1), required=True, help="input channels")
    plan.add_argument("--kernel-size", type=_whole(2), required=True, help="kernel size K")
    plan.add_argument("--filters", type=_int_list, required=True, help="filters per block, a,b,c")
    plan.add_argument("--sample-rates", type=_int_list, default=(32_000, 48_000, 96_000),
                      help="sample rates to judge, Hz (32000,48000,96000)")
    plan.add_argument("--quantize", type=_formats, default=(),
                      help="also judge the model quantized to these formats: q15,q7")

    watch = add("monitor", cmd_monitor,
                "show the running inference app's CPU load, cycles and overruns, live")
    watch.add_argument("--port", help="serial port (default: the Daisy running the inference "
                                      "app, found by USB id and product string)")
    watch.add_argument("--duration", type=float, help="stop after this many seconds (default: "
                                                       "until Ctrl-C)")
    watch.add_argument("--count", type=int, help="stop after this many status lines")
    watch.add_argument("--log", help="append each status line to this file as a JSON line")
    watch.add_argument("--emulate", action="store_true",
                       help="no hardware: run the inference app's callback and meter natively "
                            "on a pseudo-terminal")
    watch.add_argument("--emulate-model",
                       help="model_defn.h for --emulate (the default model, "
                            "firmware/model/model_defn.h)")
    watch.add_argument("--emulate-stall-every", type=int, default=0,
                       help="with --emulate, make every Nth callback 2 ms slow, to show "
                            "overruns (0: never)")

    flash = add("flash", cmd_flash,
                "build a Daisy Patch app with PlatformIO and upload it (Daisy in DFU mode)")
    flash.add_argument("app", choices=["inference", "datalogger"], help="which app to flash")
    flash.add_argument("--model", help="model_defn.h for the inference app (default: "
                                       "firmware/model/model_defn.h)")
    flash.add_argument("--force", action="store_true",
                       help="flash a model even when the emulated M7 says it cannot run in "
                            "real time")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from daisynet.host_sim.m7 import M7Error
    from daisynet.host_sim.model_defn import HeaderError, UnsupportedModelError
    from daisynet.host_sim.native import NativeBuildError
    from daisynet.training.dataset import DatasetError

    try:
        result = args.handler(args, argv)
    except (CommandError, DatasetError, HeaderError, UnsupportedModelError, FileNotFoundError,
            ValueError, M7Error, NativeBuildError) as err:
        print(f"daisynet {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"daisynet {args.command}: interrupted", file=sys.stderr)
        return 130
    if args.json:
        _emit_json(result)
    return int(result.get("exit_status", 0))


if __name__ == "__main__":
    sys.exit(main())
