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


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as err:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from err


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


def whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum`` (and at most ``maximum``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from err
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value:,}")
        return value

    return parse


def number(low: float, high: float = math.inf, low_included: bool = False
           ) -> Callable[[str], float]:
    """An argparse type: a finite number above ``low`` (or from it, with ``low_included``), up
    to ``high``. NaN, inf and negative durations used to reach numpy and TensorFlow."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from err
        above = value >= low if low_included else value > low
        if not (math.isfinite(value) and above and value <= high):
            bound = f"from {low:g}" if low_included else f"above {low:g}"
            if math.isfinite(high):
                bound += f" up to {high:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
        return value

    return parse


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
