"""``daisynet verify``: the firmware core and the simulator against Keras on the same audio."""

from __future__ import annotations

import argparse
from pathlib import Path

from daisynet.host_sim.daisy_target import BLOCK_FRAMES, SAMPLE_RATE_HZ
from daisynet.tools.cli.options import (
    ENGINE_LABELS,
    CommandError,
    Number,
    add_command,
    count,
    engine_header,
    input_files,
    logger,
    seconds,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "verify", run,
                         "compare the firmware core and the simulator with Keras on the same audio")
    parser.add_argument("model", help="trained model (.keras)")
    parser.add_argument("--header", help="exported model_defn.h to simulate (default: the model)")
    parser.add_argument("--input", help="WAV or dataset (default: the header's golden vectors, "
                                        "else a synthetic signal)")
    parser.add_argument("--seconds", type=seconds(), default=1.0,
                        help="length of the synthetic signal (1.0)")
    parser.add_argument("--block-size", type=count(), default=BLOCK_FRAMES,
                        help="engine block size (%(default)s)")
    parser.add_argument("--engine", choices=ENGINE_LABELS, action="append",
                        help="what to check against Keras, repeatable: native (the firmware's "
                             "C++ core here, its fast backend: what the Daisy runs), python "
                             "(the cmsisdsp simulator) or m7 (the core on an emulated "
                             "Cortex-M7); native and m7 compile --header, else a fresh export "
                             "(native and python)")
    parser.add_argument("--tolerance", type=Number(0, 1, low_included=True), default=1e-5,
                        help="max-abs error that passes outright (1e-5); beyond it, the "
                             "engine must be as close to the float64 answer as Keras is")
    parser.add_argument("--plot", help="write a PNG of Keras vs the first engine")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    import tempfile

    from daisynet.host_sim.files import check_output_file
    from daisynet.host_sim.model_defn import golden_path, read_golden, read_header
    from daisynet.training.audio_io import input_warnings, read_model_inputs
    from daisynet.training.export import ModelMetadata, excitation, load_keras, spec_from_keras
    from daisynet.training.metrics import AUDIBLY_DIFFERENT_ESR
    from daisynet.training.plots import plot_predictions
    from daisynet.training.progress import plural
    from daisynet.training.verify import DEFAULT_ENGINES, verify_engines

    log = logger(args.json)
    if args.plot:
        if Path(args.plot).suffix.lower() != ".png":
            raise CommandError(f"{args.plot}: the plot is a PNG; name it NAME.png")
        check_output_file(args.plot, input_files(args.model, args.header, args.input))
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
        inputs, rate = read_model_inputs(args.input, spec)
        source = args.input
        for warning in input_warnings(args.input, inputs, rate, spec):
            log(f"warning: {warning}")
    elif args.header and golden_path(args.header).exists():
        inputs, golden_outputs = read_golden(golden_path(args.header), spec)
        source = str(golden_path(args.header))
    else:
        rate = spec.sample_rate or SAMPLE_RATE_HZ
        inputs = excitation(spec.input_names, int(args.seconds * rate), rate)
        source = f"synthetic excitation, {args.seconds} s"
    engines = tuple(args.engine or DEFAULT_ENGINES)
    with tempfile.TemporaryDirectory(prefix="daisynet-") as scratch:
        header = None if engines == ("python",) else engine_header(args, Path(scratch))
        result = verify_engines(keras_model, spec, inputs, args.block_size, engines, header,
                                args.tolerance, golden_outputs)
    for figures in result["engines"]:
        keras_out, sim_out = figures.pop("keras"), figures.pop("simulator")
        label = ENGINE_LABELS[figures["engine"]]
        verdict = "PASS" if figures["passed"] else "FAIL"
        # Bit-exact arithmetic can still carry a quantized model that sounds unlike Keras's.
        figures["audibly_different"] = figures["sim_vs_keras_esr"] > AUDIBLY_DIFFERENT_ESR
        if args.plot and figures is result["engines"][0]:
            title = (f"{verdict}: {label} vs Keras on {plural(figures['frames'], 'frame')}, "
                     f"ESR {figures['sim_vs_keras_esr']:.2e}"
                     + (" (audibly different)" if figures["audibly_different"] else ""))
            plot_predictions(keras_out[:, 0], sim_out[:, 0], spec.sample_rate or SAMPLE_RATE_HZ,
                             0, Path(args.plot), title=title, reference_label="Keras",
                             prediction_label=label)
        if spec.quantized:
            against = " and its golden outputs" if golden_outputs is not None else ""
            log(f"{verdict}  {label} vs the {spec.number_format} arithmetic{against} on "
                f"{source}: {plural(figures['frames'], 'frame')}, block {args.block_size} "
                f"({figures['criterion']}"
                + (f"; {plural(figures['mismatched_frames'], 'frame')} differ, the first at "
                   f"frame {figures['first_mismatch']}" if figures["bit_exact"] is False else "")
                + ")")
            log(f"  {spec.number_format} vs Keras  ESR {figures['sim_vs_keras_esr']:.3e}, max "
                f"abs error {figures['sim_vs_keras_max_abs_err']:.3e} (the cost of "
                f"quantization; output peak {figures['output_peak']:.3f})")
            if figures["audibly_different"]:
                log(f"  but the {spec.number_format} model itself is audibly different from "
                    f"the Keras model: ESR {figures['sim_vs_keras_esr']:.2f} is above "
                    f"{AUDIBLY_DIFFERENT_ESR:g}; the engine reproduces its arithmetic exactly, "
                    "the quantization costs too much (try --quantize q15)")
        else:
            log(f"{verdict}  {label} vs Keras on {source}: {plural(figures['frames'], 'frame')}, "
                f"block {args.block_size} ({figures['criterion']})")
            log(f"  max abs error   {figures['sim_vs_keras_max_abs_err']:.3e}  (tolerance "
                f"{args.tolerance:.0e}, worst at frame {figures['worst_frame']})")
            log(f"  ESR             {figures['sim_vs_keras_esr']:.3e}")
            log(f"  vs float64 ref  Keras {figures['keras_vs_float64_max_abs_err']:.3e}, "
                f"{label} {figures['sim_vs_float64_max_abs_err']:.3e}  (output peak "
                f"{figures['output_peak']:.3f})")
    for key in ("keras", "simulator"):
        result.pop(key)
    result.update(model=args.model, header=args.header, input=source)
    if not result["passed"]:
        result["exit_status"] = 1
    return result
