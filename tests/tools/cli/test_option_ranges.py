"""Every numeric option of every command states its range and refuses values outside it while
parsing: exit 2, one line naming the option, before any work (issue 22, item 12)."""

import argparse
import contextlib
import io

import pytest

from daisynet.tools.cli import build_parser, main
from daisynet.tools.cli.options import Number, Whole, WholeList

RANGED = (Whole, Number, WholeList)
HOSTILE = ["0", "-1", "nan", "inf", "-inf", "1e999", str(10**30), "1.5", "", "seven"]


def all_options() -> list[tuple[str, argparse.Action]]:
    subparsers = next(action for action in build_parser()._actions
                      if isinstance(action, argparse._SubParsersAction))
    return [(name, action) for name, command in subparsers.choices.items()
            for action in command._actions if action.option_strings]


def out_of_range(kind: Whole | Number | WholeList) -> list[str]:
    """Values the option's own range excludes: the hostile list, less what that range holds,
    and the numbers just past each end."""
    if isinstance(kind, Number):
        def holds(value: float) -> bool:
            above = value >= kind.low if kind.low_included else value > kind.low
            return above and value <= kind.high

        inside = [text for text in ("0", "-1", "1.5") if holds(float(text))]
        edges = [repr(kind.high * 2 + 1)] + ([] if kind.low_included else [repr(kind.low)])
        return [text for text in HOSTILE if text not in inside] + edges
    inside = [text for text in ("0", "-1") if kind.low <= int(text) <= kind.high]
    values = [text for text in HOSTILE if text not in inside]
    values += [str(kind.low - 1), str(kind.high + 1)]
    if isinstance(kind, WholeList):
        values = [f"{kind.low},{value}" for value in values]
        values.append(",".join([str(kind.low)] * (kind.most + 1)))
    return values


def test_every_numeric_option_states_its_range():
    """No option parses a bare int or float (which takes nan, -1 and 10**30 alike)."""
    bare = [f"{name} {action.option_strings[-1]}" for name, action in all_options()
            if action.type in (int, float)]
    assert not bare, f"options without a range: {bare}"


CASES = [(name, "/".join(action.option_strings), value)
         for name, action in all_options() if isinstance(action.type, RANGED)
         for value in out_of_range(action.type)]


def test_the_walk_covers_every_command_with_numbers():
    assert {name for name, _, _ in CASES} == {
        "demo", "capture", "train", "export", "simulate", "verify", "bench", "train-bench",
        "plan", "monitor"}


@pytest.mark.parametrize(("command", "option", "value"), CASES)
def test_out_of_range_values_exit_2_naming_the_option(command, option, value):
    assert_refused([command, f"{option.split('/')[-1]}={value}"], option)


# The ones issue 22 found, spelled as a user types them.
@pytest.mark.parametrize("argv", [
    ["monitor", "--count", "0"], ["monitor", "--count", "-1"], ["monitor", "--duration", "nan"],
    ["monitor", "--duration", "-1"], ["monitor", "--emulate-stall-every", "-5"],
    ["train", "d.wav", "--filters", "0,4"], ["train", "d.wav", "--kernel-size", "100000"],
    ["train", "d.wav", "--seed", "-5"], ["export", "m.keras", "-o", "m.h", "--golden-frames",
                                         "48001"],
    ["bench", "--block-sizes", "0"], ["plan", "--inputs", "3", "--kernel-size", "4",
                                      "--filters", "4", "--sample-rates", "0"],
    ["plan", "--inputs", "3", "--kernel-size", "4", "--filters", "4", "--sample-rates",
     "-48000"],
])
def test_the_values_issue_22_found(argv):
    option = next(arg for arg in reversed(argv) if arg.startswith("--"))
    assert_refused(argv, option)


def assert_refused(argv: list[str], option: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_status:
        main(argv)
    text = err.getvalue()
    assert exit_status.value.code == 2, text
    assert text.count("\n") == 1 and f"argument {option}" in text, text


def test_a_large_limit_reads_in_plain_digits(capsys):
    """capture's --duration limit (2^32 blocks of 48 frames at 48 kHz) read 4.29497e+06."""
    with pytest.raises(SystemExit) as exit_status:
        main(["capture", "--emulate", "--duration", "1e300"])
    assert exit_status.value.code == 2
    assert "up to 4,294,967, got 1e300" in capsys.readouterr().err
