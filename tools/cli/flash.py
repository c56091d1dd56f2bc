"""``daisynet flash``: build a Daisy Patch app and upload it (tools/device/flash.py)."""

from __future__ import annotations

import argparse

from daisynet.tools.cli.options import CommandError, add_command, logger


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "flash", run,
                         "build a Daisy Patch app with PlatformIO and upload it (Daisy in DFU "
                         "mode)")
    parser.add_argument("app", choices=["inference", "datalogger"], help="which app to flash")
    parser.add_argument("--model", action="append",
                        help="model_defn.h for the inference app (default: "
                             "firmware/model/model_defn.h); repeat it for a bank of models, "
                             "which the encoder turns through in the order given")
    parser.add_argument("--morph", metavar="CONTROL",
                        choices=[f"{kind}_{n}" for kind in ("knob", "cv") for n in range(1, 5)],
                        help="with a bank: this Patch control (knob_1..4 or cv_1..4, one the "
                             "models do not read) blends the selected model with the next one, "
                             "both running all the time")
    parser.add_argument("--force", action="store_true",
                        help="flash a model even when the emulated M7 says it cannot run in "
                             "real time")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.device.flash import FlashError, flash

    try:
        return flash(args.app, args.model, logger(args.json), force=args.force,
                     morph=args.morph)
    except FlashError as err:
        raise CommandError(str(err)) from err
