"""``daisynet plan``: whether an architecture fits the Daisy, before training it
(tools/measure/plan.py)."""

from __future__ import annotations

import argparse

from daisynet.tools.cli.options import (
    SAMPLE_RATES_HZ,
    CommandError,
    Whole,
    WholeList,
    add_command,
    logger,
    quantized_formats,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from daisynet.host_sim.model_defn.spec import (
        MAX_BLOCKS,
        MAX_FILTERS,
        MAX_GRU_UNITS,
        MAX_KERNEL_SIZE,
    )
    from daisynet.tools.measure.plan import DEFAULT_SAMPLE_RATES

    parser = add_command(subparsers, "plan", run,
                         "whether an architecture fits the Daisy, measured with random weights "
                         "on the emulated Cortex-M7")
    parser.add_argument("--inputs", type=Whole(1, MAX_FILTERS), required=True,
                        help="input channels")
    parser.add_argument("--kernel-size", type=Whole(2, MAX_KERNEL_SIZE),
                        help="a wavenet's kernel size K (with --filters)")
    shape = parser.add_mutually_exclusive_group(required=True)
    shape.add_argument("--filters", type=WholeList(1, MAX_FILTERS, MAX_BLOCKS),
                       help="a wavenet's filters per block, a,b,c (with --kernel-size)")
    shape.add_argument("--gru-units", type=Whole(1, MAX_GRU_UNITS),
                       help="plan a GRU of this many units instead (one output, input skip)")
    parser.add_argument("--sample-rates", type=WholeList(*SAMPLE_RATES_HZ, most=16),
                        default=DEFAULT_SAMPLE_RATES,
                        help="sample rates to judge, Hz "
                             f"({','.join(map(str, DEFAULT_SAMPLE_RATES))})")
    parser.add_argument("--quantize", type=quantized_formats, default=(),
                        help="also judge the model quantized to these formats: q15,q7")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.host_sim.model_defn.spec import GRU_FORMATS, gru_format_refusal
    from daisynet.tools.measure.plan import plan, plan_gru

    if args.gru_units is not None:
        if args.kernel_size is not None:
            raise CommandError("--gru-units plans a GRU; --kernel-size applies to a wavenet "
                               "(--filters)")
        if unsupported := [f for f in args.quantize if f not in GRU_FORMATS]:
            raise CommandError(f"--gru-units: {gru_format_refusal(unsupported[0])}")
        return plan_gru(args.inputs, args.gru_units, args.sample_rates, logger(args.json),
                        quantize=args.quantize)
    if args.kernel_size is None:
        raise CommandError("--filters plans a wavenet: give its --kernel-size too")
    return plan(args.inputs, args.kernel_size, args.filters, args.sample_rates,
                logger(args.json), quantize=args.quantize)
