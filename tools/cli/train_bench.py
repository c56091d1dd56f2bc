"""``daisynet train-bench``: training time and test ESR per seed, dead starts, or the refining
objective's speed (tools/measure/train_bench.py)."""

from __future__ import annotations

import argparse

from daisynet.tools.cli.options import MAX_SEED, WholeList, add_command, count, logger


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "train-bench", run,
                         "training time and test ESR of the demo configuration per seed, and "
                         "their spread")
    parser.add_argument("--seeds", type=WholeList(0, MAX_SEED, 64), default=(0, 1, 2, 3, 4),
                        help="seeds to train, data and weights alike (0,1,2,3,4)")
    parser.add_argument("--starts", type=count(),
                        help="instead, count dead starts over this many runs' candidates "
                             "(each trained only for the candidates' epochs)")
    parser.add_argument("--objective", type=count(), metavar="EVALUATIONS",
                        help="instead, time this many evaluations of the refining loss "
                             "and gradient, C++ against TensorFlow")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.measure.train_bench import bench_objective, bench_seeds, bench_starts

    if args.objective:
        return bench_objective(args.objective, logger(args.json))
    if args.starts:
        return bench_starts(args.starts, logger(args.json))
    return bench_seeds(list(args.seeds), logger(args.json))
