"""build_parser assembles one subcommand per command module, run by that module, in the order
--help lists them."""

import argparse

from daisynet.tools.cli import COMMANDS, build_parser


def test_every_command_module_adds_one_subcommand_that_it_runs():
    parser = build_parser()
    subcommands = next(action for action in parser._actions
                       if isinstance(action, argparse._SubParsersAction)).choices
    assert list(subcommands) == ["demo", "capture", "train", "export", "simulate", "verify",
                                 "bench", "train-bench", "plan", "monitor", "flash"]
    for module, command in zip(COMMANDS, subcommands.values(), strict=True):
        assert command.get_default("handler") is module.run, module.__name__
