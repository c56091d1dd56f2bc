"""The ``daisynet`` command: one entry point, a subcommand per step of the pipeline.

Each command is a module here with ``add_parser(subparsers)`` and ``run(args, argv)``; the
option types and helpers they share are in ``options``. Commands import their libraries when
they run, so that parsing (and ``--help``) loads no TensorFlow.
"""

from __future__ import annotations

import importlib.metadata
import sys

from daisynet.tools.cli import (
    bench,
    capture,
    demo,
    export,
    flash,
    monitor,
    plan,
    simulate,
    train,
    train_bench,
    verify,
)
from daisynet.tools.cli.options import CommandError, Parser, emit_json

# In the order --help lists them: the pipeline, then measuring, then the device.
COMMANDS = (demo, capture, train, export, simulate, verify, bench, train_bench, plan, monitor,
            flash)


def build_parser() -> Parser:
    parser = Parser(
        prog="daisynet",
        description="Record a eurorack patch, train a small wavenet of it, run it on a Daisy.",
    )
    parser.add_argument("--version", action="version",
                        version=f"daisynet {importlib.metadata.version('daisynet')}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from daisynet.host_sim.m7 import M7Error
    from daisynet.host_sim.model_defn import HeaderError, UnsupportedModelError
    from daisynet.host_sim.native import NativeBuildError
    from daisynet.training.dataset import DatasetError

    try:
        result = args.handler(args, argv)
    except (CommandError, DatasetError, HeaderError, UnsupportedModelError, FileNotFoundError,
            ValueError, OSError, M7Error, NativeBuildError) as err:
        print(f"daisynet {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"daisynet {args.command}: interrupted", file=sys.stderr)
        return 130
    if args.json:
        emit_json(result)
    return int(result.get("exit_status", 0))
