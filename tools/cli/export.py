"""``daisynet export``: model_defn.h and golden vectors from a .keras model, float32 or quantized,
with the real-time verdict of the emulated Cortex-M7."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path

from daisynet.host_sim.daisy_target import SAMPLE_RATE_HZ
from daisynet.tools.cli.options import (
    CommandError,
    Number,
    Whole,
    add_command,
    input_files,
    invocation,
    logger,
    model_name,
    name_list,
    sample_rate,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from daisynet.host_sim.model_defn import QUANTIZED_FORMATS
    from daisynet.training.export import DEFAULT_GOLDEN_FRAMES, MAX_GOLDEN_FRAMES

    parser = add_command(subparsers, "export", run,
                         "write model_defn.h and golden vectors from a .keras model")
    parser.add_argument("model", help="trained model (.keras); training.json beside it is read")
    parser.add_argument("-o", "--output", required=True, help="header to write, e.g. model_defn.h")
    parser.add_argument("--golden-frames", type=Whole(1, MAX_GOLDEN_FRAMES),
                        default=DEFAULT_GOLDEN_FRAMES,
                        help="frames of golden vectors to write (512)")
    parser.add_argument("--inputs", type=name_list,
                        help="input names in the model's input order, e.g. knob_1,knob_2,"
                             "audio_in_1 (default: from training.json)")
    parser.add_argument("--target", help="output name (default: from training.json)")
    parser.add_argument("--sample-rate", type=sample_rate(),
                        help="Hz the model was trained at (default: from training.json, else "
                             f"{SAMPLE_RATE_HZ})")
    parser.add_argument("--name", type=model_name,
                        help="model name shown on the Daisy (default: from training.json)")
    parser.add_argument("--golden-input",
                        help="WAV or dataset to take golden input frames from (default: a "
                             "deterministic synthetic signal)")
    parser.add_argument("--quantize", choices=QUANTIZED_FORMATS,
                        help="write a fixed-point model: q15 (16-bit) or q7 (8-bit) weights and "
                             "activations, power-of-two scales per layer (default: float32)")
    parser.add_argument("--calibration",
                        help="with --quantize: dataset or WAV of the model's inputs whose ranges "
                             "set the scales (default: the validation split of the training "
                             "dataset that training.json names)")
    parser.add_argument("--max-esr", type=Number(0, 1),
                        help="with --quantize: refuse (write nothing, exit 1) if the quantized "
                             "model's ESR against the float model on held-out audio is above "
                             "this")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.host_sim.files import check_output_file
    from daisynet.host_sim.model_defn import golden_path
    from daisynet.host_sim.quantize import report_path
    from daisynet.training.audio_io import input_warnings, read_model_inputs
    from daisynet.training.export import ModelMetadata, export, load_keras, spec_from_keras

    log = logger(args.json)
    if not Path(args.model).is_file():  # before the training.json warning below
        raise CommandError(f"{args.model}: no such model file")
    if not args.quantize and (args.calibration or args.max_esr is not None):
        raise CommandError("--calibration and --max-esr apply to quantized exports; add "
                           "--quantize q15 or --quantize q7")
    inputs = input_files(args.model, args.golden_input, args.calibration)
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
    if args.quantize:
        from daisynet.host_sim.quantize import refuse_unquantizable

        refuse_unquantizable(spec, args.quantize)
    if args.golden_input:
        golden_inputs, rate = read_model_inputs(args.golden_input, spec)
        for warning in input_warnings(args.golden_input, golden_inputs[:args.golden_frames],
                                      rate, spec):
            log(f"warning: {warning}")
    quantization = None
    if args.quantize:
        quantization = _export_quantized(args, argv, spec, metadata, golden_inputs, log)
        spec, header, golden = (quantization.spec, quantization.header, quantization.golden)
    else:
        spec, header, golden = export(
            args.model,
            args.output,
            command=invocation(argv),
            golden_inputs=golden_inputs,
            golden_frames=args.golden_frames,
            metadata=metadata,
        )
        stale = report_path(header)
        if stale.exists():  # it described the quantized header this float one replaced
            stale.unlink()
            log(f"removed {stale}: it reported on the quantized header {header} replaced")
    arch = spec.architecture()
    receptive_field = arch.receptive_field if spec.family == "wavenet" else None
    shape = (f"receptive field {receptive_field}" if receptive_field is not None
             else f"GRU of {arch.units} units")
    log(f"wrote {header} ({arch.parameters} parameters, {arch.macs_per_sample} MACs/sample, "
        f"{shape}{', ' + spec.number_format if quantization else ''}"
        f") and {golden}" + (f", {quantization.report_path}" if quantization else ""))
    from daisynet.host_sim.m7 import M7Error, M7ToolMissingError
    from daisynet.tools.measure.plan import measure_header, real_time_verdict

    if spec.sample_rate != SAMPLE_RATE_HZ:
        log(f"warning: the model was trained at {spec.sample_rate} Hz, but the Patch app runs "
            f"at {SAMPLE_RATE_HZ} Hz: its time constants would be off by "
            f"{SAMPLE_RATE_HZ / spec.sample_rate:.3f}x there (flash refuses it); retrain at "
            f"{SAMPLE_RATE_HZ} Hz")
    real_time = None
    toolchain_missing = False
    try:
        measured = measure_header(header)
        # At the rate the Patch app runs, whatever the model was trained at.
        real_time = real_time_verdict(measured.instructions_per_sample, SAMPLE_RATE_HZ)
        log(real_time["message"])
    except M7Error as err:
        toolchain_missing = isinstance(err, M7ToolMissingError)
        reason = str(err)
        if reason.startswith("build failed"):  # the compiler's pages, not one line
            kind = spec.number_format if quantization else f"{spec.family} {spec.number_format}"
            reason = (f"the emulated M7 build of this {kind} header failed "
                      f"(`daisynet bench {header}` shows the compiler's message)")
        log(f"real-time check skipped: {reason}")
    self_check = None
    if real_time is not None:  # the emulated M7 builds and runs this header
        from daisynet.host_sim.self_check import add_self_check

        check = add_self_check(header)
        self_check = {"frames": check.frames, "tolerance": check.tolerance,
                      "instructions_per_sample": check.instructions_per_sample}
        log(f"stored the boot self-check's reference: {check.outputs.size} outputs of "
            f"{check.frames} check frames on the emulated M7, "
            + ("bit-exact" if check.tolerance == 0 else f"tolerance {check.tolerance:.3g}"))
    elif toolchain_missing:
        log("no boot self-check reference stored (computing it needs the Cortex-M toolchain); "
            "the app will say \"no self-check\" for this model")
    result = {
        "header": str(header),
        "golden": str(golden),
        "real_time": real_time,
        "self_check": self_check,
        "weights_sha256": spec.weights_sha256(),
        "params": arch.parameters,
        "macs_per_sample": arch.macs_per_sample,
        "family": spec.family,
        "receptive_field": receptive_field,
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
    if spec.family == "gru":
        log(f"{args.quantize} GRU: the recurrent weights' scale is a bound (no calibration); "
            f"its cost measured on {len(test.samples)} frames: {test.source}")
    else:
        log(f"calibrating {args.quantize} on {len(calibration.samples)} frames: "
            f"{calibration.source}")
    if not test.held_out:
        log("warning: no held-out audio (the training dataset was not found): the accuracy "
            "cost is measured on the calibration audio itself")
    exported = export_quantized(
        args.model, args.output, invocation(argv), args.quantize, calibration, test,
        golden_inputs=golden_inputs, golden_frames=args.golden_frames, metadata=metadata,
        max_esr=args.max_esr)
    for line in accuracy_summary(exported.report):
        log(line)
    for warning in exported.report["warnings"]:
        log(f"warning: {warning}")
    return exported
