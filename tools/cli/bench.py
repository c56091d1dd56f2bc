"""``daisynet bench``: a model's instructions per sample and footprint on the emulated
Cortex-M7 (tools/measure/bench.py)."""

from __future__ import annotations

import argparse

from daisynet.tools.cli.options import (
    CommandError,
    WholeList,
    add_command,
    logger,
    quantized_formats,
    seconds,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from daisynet.host_sim.m7 import MAX_BLOCK
    from daisynet.tools.measure.bench import DEFAULT_BLOCK_SIZES

    parser = add_command(subparsers, "bench", run,
                         "instructions per sample and footprint of a model on the emulated "
                         "Cortex-M7")
    parser.add_argument("header", nargs="?",
                        help="model_defn.h (default: the committed firmware/model/model_defn.h)")
    parser.add_argument("--bank", nargs="+", metavar="HEADER",
                        help="instead, these models as one bank in one image: each one's "
                             "flash, RAM and load at the Daisy's block, and the bank's flash "
                             "against what the inference app leaves for models")
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
    from daisynet.tools.measure.bench import DEFAULT_HEADER, bench, bench_bank

    if args.bank:
        if args.header:
            raise CommandError(f"{args.header}: give a bank's headers after --bank only")
        return bench_bank(args.bank, args.seconds, logger(args.json))
    return bench(args.header or DEFAULT_HEADER, args.block_sizes, args.seconds,
                 logger(args.json), formats=args.quantize)
