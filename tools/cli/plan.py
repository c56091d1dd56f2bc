"""``daisynet plan``: whether an architecture fits the Daisy, before training it
(tools/measure/plan.py)."""

from __future__ import annotations

import argparse

from daisynet.tools.cli.options import add_command, int_list, logger, quantized_formats, whole


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from daisynet.tools.measure.plan import DEFAULT_SAMPLE_RATES

    parser = add_command(subparsers, "plan", run,
                         "whether an architecture fits the Daisy, measured with random weights "
                         "on the emulated Cortex-M7")
    parser.add_argument("--inputs", type=whole(1), required=True, help="input channels")
    parser.add_argument("--kernel-size", type=whole(2), required=True, help="kernel size K")
    parser.add_argument("--filters", type=int_list, required=True, help="filters per block, a,b,c")
    parser.add_argument("--sample-rates", type=int_list, default=DEFAULT_SAMPLE_RATES,
                        help="sample rates to judge, Hz "
                             f"({','.join(map(str, DEFAULT_SAMPLE_RATES))})")
    parser.add_argument("--quantize", type=quantized_formats, default=(),
                        help="also judge the model quantized to these formats: q15,q7")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.measure.plan import plan

    return plan(args.inputs, args.kernel_size, args.filters, args.sample_rates,
                logger(args.json), quantize=args.quantize)
