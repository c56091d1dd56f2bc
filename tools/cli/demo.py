"""``daisynet demo``: the built-in dataset, trained, exported and verified in one run."""

from __future__ import annotations

import argparse
from pathlib import Path

from daisynet.tools.cli.options import add_command, count, invocation, logger, seconds, seed


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from daisynet.training.train import TrainConfig

    parser = add_command(subparsers, "demo", run,
                         "generate the built-in dataset, train the reference model, export, verify")
    parser.add_argument("-o", "--output", default="runs/demo", help="output folder (runs/demo)")
    parser.add_argument("--seconds", type=seconds(), default=60.0,
                        help="length of the generated dataset in seconds (60)")
    parser.add_argument("--epochs", type=count(), default=TrainConfig.max_epochs,
                        help="most Adam epochs (%(default)s)")
    parser.add_argument("--refine-iterations", type=count(0),
                        default=TrainConfig.refine_iterations,
                        help="L-BFGS iterations after the Adam epochs; 0 skips them "
                             "(%(default)s)")
    parser.add_argument("--seed", type=seed(), default=0, help="data and weight seed (0)")
    parser.add_argument("--source", choices=("builtin", "emulated"), default="builtin",
                        help="builtin: use the generated dataset as is; emulated: record it "
                             "through the emulated datalogger first, as a capture would (builtin)")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.host_sim.files import writable_folder
    from daisynet.tools.demo import run_demo

    writable_folder(args.output)
    return run_demo(
        out_dir=Path(args.output),
        seconds=args.seconds,
        max_epochs=args.epochs,
        seed=args.seed,
        command=invocation(argv),
        log=logger(args.json),
        source=args.source,
        refine_iterations=args.refine_iterations,
    )
