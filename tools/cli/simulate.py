"""``daisynet simulate``: render audio through the simulator or the firmware's C++ core."""

from __future__ import annotations

import argparse
from pathlib import Path

from daisynet.host_sim.daisy_target import BLOCK_FRAMES
from daisynet.tools.cli.options import (
    ENGINE_LABELS,
    CommandError,
    add_command,
    count,
    engine_header,
    input_files,
    logger,
    wav_output,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "simulate", run,
                         "render audio through the simulator or the firmware's C++ core (--engine)")
    parser.add_argument("model", help="model_defn.h or .keras")
    parser.add_argument("input", help="WAV with the model's inputs in order, or a dataset")
    parser.add_argument("-o", "--output", required=True, help="output WAV (float32)")
    parser.add_argument("--block-size", type=count(), default=BLOCK_FRAMES,
                        help="frames per processing block, as the Daisy's audio block "
                             "(%(default)s)")
    parser.add_argument("--engine", choices=ENGINE_LABELS, default="python",
                        help="python: cmsisdsp simulator; native: the firmware's C++ core on "
                             "this machine; m7: the same core on an emulated Cortex-M7, for "
                             "short audio (python)")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    import tempfile

    from daisynet.host_sim.engines import renderer
    from daisynet.training.audio_io import input_warnings, read_model_inputs, write_output
    from daisynet.training.progress import plural

    log = logger(args.json)
    wav_output(args.output, input_files(args.model, args.input))
    spec = _load_spec(args.model)
    inputs, rate = read_model_inputs(args.input, spec)
    for warning in input_warnings(args.input, inputs, rate, spec):
        log(f"warning: {warning}")
    with tempfile.TemporaryDirectory(prefix="daisynet-") as scratch:
        header = engine_header(args, Path(scratch))
        render = renderer(args.engine, spec, header, progress=not args.json)
        output = render(inputs, args.block_size)
    write_output(args.output, output, rate)
    peak = float(abs(output).max()) if output.size else 0.0
    log(f"wrote {args.output}: {plural(len(output), 'frame')}, {plural(spec.outputs, 'channel')}, "
        f"peak {peak:.3f}, block size {args.block_size}, engine {args.engine}")
    return {"output": args.output, "frames": len(output), "sample_rate": rate, "peak": peak,
            "engine": args.engine}


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
