"""What the commands share: option types, the one-line error and usage parser, logging, JSON,
the files a command reads and may write, and the engines ``simulate`` and ``verify`` run."""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_command(subparsers: argparse._SubParsersAction, name: str,
                run: Callable[[argparse.Namespace, list[str]], dict],
                help_text: str) -> argparse.ArgumentParser:
    """The subcommand ``name``, run by ``run(args, argv)``, with the --json every command has."""
    command = subparsers.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(handler=run)
    command.add_argument("--json", action="store_true",
                         help="print machine-readable results on stdout")
    return command


def logger(as_json: bool) -> Callable[[str], None]:
    """Progress goes to stdout, or to stderr when stdout carries JSON."""
    stream = sys.stderr if as_json else sys.stdout
    return lambda message: print(message, file=stream, flush=True)


def invocation(argv: list[str]) -> str:
    return "daisynet " + shlex.join(argv)


def emit_json(data: dict) -> None:
    print(json.dumps(data, indent=2))


# --- option types ----------------------------------------------------------------------------


def quantized_formats(text: str) -> tuple[str, ...]:
    """Quantized number formats, comma-separated: q15, q7 (or 'none')."""
    from daisynet.host_sim.model_defn import QUANTIZED_FORMATS

    if text.strip().lower() in ("", "none"):
        return ()
    formats = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",")))
    unknown = [f for f in formats if f not in QUANTIZED_FORMATS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown format {unknown[0]!r}; choose from "
                                         f"{', '.join(QUANTIZED_FORMATS)}")
    return formats


def name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated channel names, got {text!r}")
    return names


# Every numeric option states its range, so a hostile value (0, -1, nan, inf, 1e300) is refused
# while parsing: exit 2 with one line naming the option, before any work. Upper bounds are
# generous; they keep values out of numpy, TensorFlow and the wire format that would overflow.
MAX_SECONDS = 24 * 3600  # a day; a day's frames at 48 kHz still fit the 32-bit frame counts
MAX_COUNT = 1_000_000  # epochs, lines, windows, batches, iterations: more than any run needs
MAX_BYTES = 2**40  # byte positions and rates on a USB link: a terabyte
MAX_SEED = 2**32 - 1  # numpy's legacy seeding (Keras' set_random_seed) takes 32 bits
SAMPLE_RATES_HZ = (8_000, 192_000)  # audio rates worth asking about (the Daisy runs 8..96 kHz)


def _bound(low: float, high: float, low_included: bool = True) -> str:
    def shown(value: float) -> str:
        if isinstance(value, int):
            return f"{value:,}"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"  # 4,294,967 not 4.29e+06

    return f"{'from' if low_included else 'above'} {shown(low)} up to {shown(high)}"


@dataclass(frozen=True)
class Whole:
    """An argparse type: a whole number in low..high."""

    low: int
    high: int

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from err
        if not self.low <= value <= self.high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number {_bound(self.low, self.high)}, got {text.strip()}")
        return value


@dataclass(frozen=True)
class Number:
    """An argparse type: a finite number above ``low`` (or from it, with ``low_included``) up
    to ``high``."""

    low: float
    high: float
    low_included: bool = False

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from err
        above = value >= self.low if self.low_included else value > self.low
        if not (math.isfinite(value) and above and value <= self.high):
            raise argparse.ArgumentTypeError(
                f"must be a finite number {_bound(self.low, self.high, self.low_included)}, "
                f"got {text.strip()}")
        return value


@dataclass(frozen=True)
class WholeList:
    """An argparse type: 1..``most`` comma-separated whole numbers, each in low..high."""

    low: int
    high: int
    most: int

    def __call__(self, text: str) -> tuple[int, ...]:
        parts = text.split(",")
        if len(parts) > self.most:
            raise argparse.ArgumentTypeError(f"at most {self.most} values, got {len(parts)}")
        try:
            values = tuple(int(part) for part in parts)
        except ValueError as err:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated whole numbers, got {text!r}") from err
        bad = [value for value in values if not self.low <= value <= self.high]
        if bad:
            raise argparse.ArgumentTypeError(
                f"each must be {_bound(self.low, self.high)}, got {bad[0]}")
        return values


def seconds() -> Number:
    """A duration in seconds: above 0, up to a day."""
    return Number(0, MAX_SECONDS)


def seed() -> Whole:
    return Whole(0, MAX_SEED)


def count(low: int = 1) -> Whole:
    """How many times, lines, epochs...: from ``low`` up to MAX_COUNT."""
    return Whole(low, MAX_COUNT)


def sample_rate() -> Whole:
    return Whole(*SAMPLE_RATES_HZ)


def model_name(text: str) -> str:
    # It names the Keras model (whose scope names allow no spaces) and the C++ string.
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: use letters, digits, '_', '.' or '-', starting with a letter")
    return text


# --- files -----------------------------------------------------------------------------------


def input_files(*paths: str | None) -> list[Path]:
    """The files a command reads, with each dataset's WAV and sidecar, which no output may
    replace."""
    from daisynet.training.dataset import dataset_paths

    files = []
    for path in paths:
        if path:
            files.append(Path(path))
            if Path(path).suffix in (".wav", ".json"):
                files.extend(dataset_paths(path))
    return files


def wav_output(path: str, inputs: list[Path]) -> Path:
    """A float32 WAV the command may write, checked before the work starts."""
    from daisynet.host_sim.files import check_output_file

    if Path(path).suffix.lower() != ".wav":
        raise CommandError(f"{path}: the output is a float32 WAV; name it NAME.wav")
    return check_output_file(path, inputs)


# --- engines ---------------------------------------------------------------------------------

# How verify and simulate name each engine to the user.
ENGINE_LABELS = {"python": "simulator", "native": "native core", "m7": "emulated M7"}


def engine_header(args: argparse.Namespace, scratch: Path) -> Path | None:
    """The model_defn.h the native and m7 engines compile: the one given, or a fresh export of
    a .keras model into ``scratch``."""
    if args.engine == "python":
        return None
    header = getattr(args, "header", None) or (args.model if args.model.endswith(".h") else None)
    if header:
        return Path(header)
    from daisynet.training.export import export

    _, exported, _ = export(args.model, scratch / "model_defn.h", command="daisynet (temporary)")
    return exported
