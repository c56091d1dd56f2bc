"""``daisynet train``: a wavenet or a GRU trained on a dataset, its options defaulting to
TrainConfig's (a GRU's where they differ: training/recurrent.py GRU_DEFAULTS)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from daisynet.tools.cli.options import (
    CommandError,
    Number,
    Whole,
    WholeList,
    add_command,
    count,
    input_files,
    logger,
    model_name,
    name_list,
    seconds,
    seed,
)

# Options whose default depends on --family, and the TrainConfig field each sets.
FAMILY_DEFAULTED = {"window": "scored_frames", "epochs": "max_epochs",
                    "refine_iterations": "refine_iterations", "patience": "patience",
                    "learning_rate": "learning_rate", "candidates": "candidates", "name": "name",
                    "units": "units", "warmup": "recurrent_warmup"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from daisynet.host_sim.model_defn.spec import (
        MAX_BLOCKS,
        MAX_FILTERS,
        MAX_GRU_UNITS,
        MAX_KERNEL_SIZE,
    )
    from daisynet.training.recurrent import GRU_DEFAULTS
    from daisynet.training.train import FAMILIES, TrainConfig

    defaults = TrainConfig  # dataclass defaults, so the CLI and the library agree

    def both(field: str) -> str:
        """The default of an option whose default depends on the family."""
        wavenet, gru = getattr(defaults, field), GRU_DEFAULTS.get(field, getattr(defaults, field))
        return f"({wavenet})" if wavenet == gru else f"(wavenet {wavenet}, gru {gru})"

    parser = add_command(subparsers, "train", run,
                         "train a wavenet or a GRU on a dataset (NAME.wav + NAME.json)")
    parser.add_argument("dataset", help="dataset WAV or JSON")
    parser.add_argument("-o", "--output", default="runs/train", help="output folder (runs/train)")
    parser.add_argument("--inputs", type=name_list,
                        help="input channels in model order, e.g. knob_1,knob_2,audio_in_1 "
                             "(default: the dataset's suggestion)")
    parser.add_argument("--target", help="channel to predict (default: the dataset's suggestion)")
    parser.add_argument("--family", choices=FAMILIES,
                        help="model family: a causal dilated-convolution wavenet, or a GRU "
                             "(recurrent: for filters and other devices with long memory); "
                             "without --filters, --kernel-size or --units, the largest of the "
                             "family that fits the Daisy at the dataset's rate (default: that "
                             "of each family, each probed briefly, the better on validation "
                             "trained on)")
    parser.add_argument("--units", type=Whole(1, MAX_GRU_UNITS),
                        help="GRU units, with --family gru (default: the most that fit the "
                             "Daisy at the dataset's rate)")
    parser.add_argument("--no-skip", dest="skip", action="store_false",
                        help="with --family gru: the input skip starts at 0 everywhere (it "
                             "still trains) instead of at 1 from the first audio input, which "
                             "makes the GRU learn only what the device adds")
    parser.add_argument("--warmup", type=count(),
                        help="with --family gru: frames each stretch of the recording runs "
                             "from a zero state before it is scored, in training and "
                             f"evaluation ({defaults.recurrent_warmup})")
    parser.add_argument("--filters", type=WholeList(1, MAX_FILTERS, MAX_BLOCKS),
                        help="wavenet filters per block, comma-separated (with --kernel-size "
                             f"alone: {','.join(map(str, defaults.filters))}; with neither, "
                             "the widest 4 blocks that fit the Daisy)")
    parser.add_argument("--kernel-size", type=Whole(2, MAX_KERNEL_SIZE),
                        help="wavenet kernel size K; block i is dilated by K**i "
                             f"({defaults.kernel_size})")
    parser.add_argument("--window", type=count(),
                        help="scored frames per training window, after the warm-up "
                             f"{both('scored_frames')}")
    parser.add_argument("--batch-size", type=count(), default=defaults.batch_size,
                        help="windows per batch (%(default)s)")
    parser.add_argument("--epochs", type=count(),
                        help="most Adam epochs, the chosen candidate's included "
                             f"{both('max_epochs')}")
    parser.add_argument("--refine-iterations", type=count(0),
                        help="L-BFGS iterations after the Adam epochs; 0 skips them "
                             f"{both('refine_iterations')}")
    parser.add_argument("--refine-share", type=Number(0, 1), default=defaults.refine_share,
                        help="share of the training windows L-BFGS sees whole, 0..1 "
                             "(%(default)s)")
    parser.add_argument("--max-seconds", type=seconds(), default=defaults.max_seconds,
                        help="stop after this many seconds of training, if before --epochs")
    parser.add_argument("--patience", type=count(0),
                        help="stop after this many epochs without improvement "
                             f"{both('patience')}")
    parser.add_argument("--learning-rate", type=Number(0, 1),
                        help=f"Adam step {both('learning_rate')}")
    parser.add_argument("--seed", type=seed(), default=defaults.seed,
                        help="weight initialisation seed (%(default)s)")
    parser.add_argument("--candidates", type=count(),
                        help="models started from different seeds; the best after a few "
                             f"epochs is trained on {both('candidates')}")
    parser.add_argument("--name", type=model_name,
                        help=f"model name for the header {both('name')}")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier run's model.keras in the output folder")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.host_sim.daisy_target import SAMPLE_RATE_HZ
    from daisynet.host_sim.files import check_output_file, writable_folder
    from daisynet.training.dataset import describe, load_dataset
    from daisynet.training.defaults import fitting_configs, train_default
    from daisynet.training.recurrent import GRU_DEFAULTS
    from daisynet.training.train import (
        CHECKPOINT,
        FAMILIES,
        MODEL_FILE,
        TrainConfig,
        output_files,
        train,
    )

    # Without a size, train picks the largest model that fits (of --family, or of each).
    chooses = args.filters is None and args.kernel_size is None and args.units is None
    if args.family != "gru":
        gru_only = [option for option, given in (("--units", args.units is not None),
                                                 ("--no-skip", not args.skip),
                                                 ("--warmup", args.warmup is not None)) if given]
        if gru_only:
            raise CommandError(f"{', '.join(gru_only)} shape a GRU: add --family gru")
    else:
        wavenet_only = [option for option, given in (
            ("--filters", args.filters is not None),
            ("--kernel-size", args.kernel_size is not None)) if given]
        if wavenet_only:
            raise CommandError(f"{', '.join(wavenet_only)} shape a wavenet; a GRU's size is "
                               "--units")
    log = logger(args.json)
    peek = load_dataset(args.dataset)
    inputs = args.inputs or peek.source.get("suggested_inputs")
    target = args.target or peek.source.get("suggested_target")
    if not inputs or not target:
        raise CommandError(
            "name the model's channels with --inputs a,b,c and --target x; this dataset has: "
            + ", ".join(peek.channels)
        )
    dataset = load_dataset(args.dataset, required_channels=[*inputs, target])
    writable_folder(args.output)  # before the minutes of training that write there
    for output in output_files(args.output):
        check_output_file(output, input_files(args.dataset))
    # A run killed before it finished leaves its best checkpoint, but no model.keras.
    for earlier in (Path(args.output) / MODEL_FILE, Path(args.output) / CHECKPOINT):
        if earlier.exists() and not args.force:
            raise CommandError(f"{earlier} already exists (an earlier run?); replace it with "
                               "--force, or train into another folder with -o")
    model = Path(args.output) / MODEL_FILE
    log(f"dataset: {describe(dataset)}")
    if target in inputs:
        log(f"warning: the target {target} is also an input: the model can learn to copy it")
    for warning in dataset.warnings:
        log(f"warning: {warning}")
    if dataset.sample_rate != SAMPLE_RATE_HZ:
        log(f"warning: the dataset is at {dataset.sample_rate} Hz, but the Patch app runs at "
            f"{SAMPLE_RATE_HZ} Hz: a model trained on it is not flashed")
    # Options left unset take the family's default (TrainConfig's, a GRU's where they differ;
    # when train picks the model, fitting_configs gives each family its own).
    given = frozenset(field_name for option, field_name in FAMILY_DEFAULTED.items()
                      if getattr(args, option) is not None)
    family_defaults = {field.name: field.default for field in dataclasses.fields(TrainConfig)
                       if field.default is not dataclasses.MISSING}
    if args.family == "gru" and not chooses:
        family_defaults |= GRU_DEFAULTS
    for option, field_name in FAMILY_DEFAULTED.items():
        if getattr(args, option) is None:
            setattr(args, option, family_defaults[field_name])
    config = TrainConfig(
        inputs=list(inputs),
        target=target,
        family=args.family or TrainConfig.family,
        units=args.units,
        skip=args.skip,
        recurrent_warmup=args.warmup,
        filters=TrainConfig.filters if args.filters is None else args.filters,
        kernel_size=TrainConfig.kernel_size if args.kernel_size is None else args.kernel_size,
        scored_frames=args.window,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        max_seconds=args.max_seconds,
        refine_iterations=args.refine_iterations,
        refine_share=args.refine_share,
        patience=args.patience,
        learning_rate=args.learning_rate,
        seed=args.seed,
        candidates=args.candidates,
        name=args.name,
    )
    if chooses:
        try:
            candidates = fitting_configs(config, dataset.sample_rate,
                                         (args.family,) if args.family else FAMILIES, given)
        except ValueError as err:
            raise CommandError(str(err)) from err
        report = train_default(dataset, candidates, args.output, log=log)
    else:
        report = train(dataset, config, args.output, log=log)
    log(f"wrote {model} and {', '.join(['training.json', *report['plots']])}")
    if report["interrupted"]:
        log(f"training was interrupted: {model} is the best model so far; export it with "
            f"`daisynet export {model} -o model_defn.h`, or train again to go further")
    return report
