"""``daisynet plan``: whether an architecture fits the Daisy, before training it
(tools/measure/plan.py)."""

from __future__ import annotations

import argparse

from daisynet.tools.cli.options import (
    SAMPLE_RATES_HZ,
    Whole,
    WholeList,
    add_command,
    logger,
    quantized_formats,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from daisynet.host_sim.model_defn.spec import MAX_BLOCKS, MAX_FILTERS, MAX_KERNEL_SIZE
    from daisynet.tools.measure.plan import DEFAULT_SAMPLE_RATES

    parser = add_command(subparsers, "plan", run,
                         "whether an architecture fits the Daisy, measured with random weights "
                         "on the emulated Cortex-M7")
    parser.add_argument("--inputs", type=Whole(1, MAX_FILTERS), required=True,
                        help="input channels")
    parser.add_argument("--kernel-size", type=Whole(2, MAX_KERNEL_SIZE), required=True,
                        help="kernel size K")
    parser.add_argument("--filters", type=WholeList(1, MAX_FILTERS, MAX_BLOCKS), required=True,
                        help="filters per block, a,b,c")
    parser.add_argument("--sample-rates", type=WholeList(*SAMPLE_RATES_HZ, most=16),
                        default=DEFAULT_SAMPLE_RATES,
                        help="sample rates to judge, Hz "
                             f"({','.join(map(str, DEFAULT_SAMPLE_RATES))})")
    parser.add_argument("--quantize", type=quantized_formats, default=(),
                        help="also judge the model quantized to these formats: q15,q7")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.measure.plan import plan

    return plan(args.inputs, args.kernel_size, args.filters, args.sample_rates,
                logger(args.json), quantize=args.quantize)
