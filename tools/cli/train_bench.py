"""``daisynet train-bench``: training time and test ESR per seed, dead starts, the refining
objective's speed (tools/measure/train_bench.py), or the device suite
(tools/measure/suite/)."""

from __future__ import annotations

import argparse
from pathlib import Path

from daisynet.tools.cli.options import (
    MAX_SEED,
    CommandError,
    WholeList,
    add_command,
    count,
    logger,
    seconds,
)

SUITE_OPTIONS = ("devices", "sizes", "seconds", "max_seconds", "output", "force")
SUITE_SECONDS = 100.0  # of material per device


def _choices(names: tuple[str, ...], what: str):
    """An argparse type: comma-separated names, each one of ``names``."""

    def parse(text: str) -> list[str]:
        chosen = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        unknown = [name for name in chosen if name not in names]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(
                f"{'no ' + what + ' ' + repr(unknown[0]) if unknown else 'none given'}; "
                f"choose from {','.join(names)}")
        return chosen

    return parse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from daisynet.tools.measure.suite.devices import DEVICE_NAMES
    from daisynet.tools.measure.suite.sizes import SIZE_NAMES

    parser = add_command(subparsers, "train-bench", run,
                         "training time and test ESR of the demo configuration per seed, and "
                         "their spread; or the device suite")
    parser.add_argument("--seeds", type=WholeList(0, MAX_SEED, 64), default=(0, 1, 2, 3, 4),
                        help="seeds to train, data and weights alike (0,1,2,3,4)")
    parser.add_argument("--starts", type=count(),
                        help="instead, count dead starts over this many runs' candidates "
                             "(each trained only for the candidates' epochs)")
    parser.add_argument("--objective", type=count(), metavar="EVALUATIONS",
                        help="instead, time this many evaluations of the refining loss "
                             "and gradient, C++ against TensorFlow")
    suite = parser.add_argument_group(
        "device suite", "--suite: train third-party devices (pedalboard, dawdreamer: pip "
        "install 'daisynet[suite]') with daisynet train and with a plain Keras loop of the "
        "same architecture and time; the other options here need --suite")
    suite.add_argument("--suite", action="store_true", help="run the device suite")
    suite.add_argument("--devices", type=_choices(DEVICE_NAMES, "device"),
                       help=f"devices, comma-separated (all: {','.join(DEVICE_NAMES)})")
    suite.add_argument("--sizes", type=_choices(SIZE_NAMES, "model size"),
                       help=f"model sizes, comma-separated (all: {','.join(SIZE_NAMES)})")
    suite.add_argument("--seconds", type=seconds(),
                       help=f"seconds of material per device ({SUITE_SECONDS:g})")
    suite.add_argument("--max-seconds", type=seconds(),
                       help="daisynet train's --max-seconds per device and size (none)")
    suite.add_argument("-o", "--output", help="output folder (runs/suite)")
    suite.add_argument("--force", action="store_true",
                       help="replace an earlier suite run's results in the output folder")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    if args.suite:
        return _run_suite(args)
    given = [name for name in SUITE_OPTIONS if getattr(args, name) not in (None, False)]
    if given:
        raise CommandError(f"--{given[0].replace('_', '-')} is a device suite option: add "
                           "--suite")
    from daisynet.tools.measure.train_bench import bench_objective, bench_seeds, bench_starts

    if args.objective:
        return bench_objective(args.objective, logger(args.json))
    if args.starts:
        return bench_starts(args.starts, logger(args.json))
    return bench_seeds(list(args.seeds), logger(args.json))


def _run_suite(args: argparse.Namespace) -> dict:
    from daisynet.host_sim.files import writable_folder
    from daisynet.tools.measure.suite.bench import REPORT_FILE, run_suite
    from daisynet.tools.measure.suite.devices import (
        DEVICE_NAMES,
        SuitePackagesMissingError,
        device,
        require_packages,
    )
    from daisynet.tools.measure.suite.sizes import SIZE_NAMES, model_size

    try:
        require_packages()
    except SuitePackagesMissingError as err:
        raise CommandError(str(err)) from err
    out_dir = Path(args.output or "runs/suite")
    writable_folder(out_dir)
    devices = [device(name) for name in args.devices or DEVICE_NAMES]
    earlier = [out_dir / REPORT_FILE, *(out_dir / d.name for d in devices)]
    found = [path for path in earlier if path.exists()]
    if found and not args.force:
        raise CommandError(f"{found[0]} already exists (an earlier suite run?); replace it "
                           "with --force, or write elsewhere with -o")
    return run_suite(devices, [model_size(name) for name in args.sizes or SIZE_NAMES],
                     args.seconds or SUITE_SECONDS, out_dir, logger(args.json),
                     max_seconds=args.max_seconds)
