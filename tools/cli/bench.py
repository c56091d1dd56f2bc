"""``daisynet bench``: a model's instructions per sample and footprint on the emulated
Cortex-M7 (tools/measure/bench.py)."""

from __future__ import annotations

import argparse

from daisynet.tools.cli.options import WholeList, add_command, logger, quantized_formats, seconds


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from daisynet.host_sim.m7 import MAX_BLOCK
    from daisynet.tools.measure.bench import DEFAULT_BLOCK_SIZES, DEFAULT_HEADER

    parser = add_command(subparsers, "bench", run,
                         "instructions per sample and footprint of a model on the emulated "
                         "Cortex-M7")
    parser.add_argument("header", nargs="?", default=str(DEFAULT_HEADER),
                        help="model_defn.h (default: the committed firmware/model/model_defn.h)")
    parser.add_argument("--block-sizes", type=WholeList(1, MAX_BLOCK, MAX_BLOCK),
                        default=DEFAULT_BLOCK_SIZES,
                        help="audio block sizes to measure, 1..64 "
                             f"({','.join(map(str, DEFAULT_BLOCK_SIZES))})")
    parser.add_argument("--seconds", type=seconds(), default=0.2,
                        help="length of the synthetic input in seconds (0.2)")
    parser.add_argument("--quantize", type=quantized_formats, default=("q15", "q7"),
                        help="also measure the model quantized to these formats, beside float32 "
                             "(q15,q7; 'none' for float32 only)")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.measure.bench import bench

    return bench(args.header, args.block_sizes, args.seconds, logger(args.json),
                 formats=args.quantize)
