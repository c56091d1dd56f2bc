"""Issue 21: running daisynet leaves the checkout as it was; builds and downloads go to the user's
cache directory."""

import pytest

from daisynet.host_sim.cache import CACHE_DIR_ENV
from daisynet.tools.cli import main
from tests.conftest import checkout_files, require_tool

pytestmark = [pytest.mark.m7, pytest.mark.native]


def test_commands_leave_the_checkout_unchanged_and_fill_the_cache(tmp_path, monkeypatch):
    require_tool("g++")
    require_tool("arm-none-eabi-g++")  # bench and export's real-time verdict
    require_tool("qemu-system-arm")
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    before = checkout_files()

    # The pipeline on a tiny model and two seconds of audio: every builder runs once.
    commands = [
        ["capture", "--emulate", "--emulate-seconds", "2", "-o", "capture"],
        ["train", "capture.wav", "-o", "run", "--filters", "2,2", "--kernel-size", "2",
         "--epochs", "1", "--refine-iterations", "0", "--candidates", "1", "--window", "256"],
        ["export", "run/model.keras", "-o", "model_defn.h"],
        ["simulate", "model_defn.h", "capture.wav", "-o", "out.wav", "--engine", "native"],
        ["verify", "run/model.keras", "--header", "model_defn.h", "--engine", "native"],
        ["bench", "model_defn.h", "--block-sizes", "48", "--quantize", "none",
         "--seconds", "0.05"],
        ["monitor", "--emulate", "--emulate-model", "model_defn.h", "--count", "1"],
    ]
    for command in commands:
        assert main(command) == 0, command

    assert checkout_files() == before
    builds = cache / "daisynet"
    assert {path.name for path in builds.iterdir()} >= {
        "sdist", "emulator", "objective", "native", "m7"}
    for kind in builds.iterdir():
        folders = list(kind.iterdir())
        assert folders and not [path for path in folders if path.name.endswith(".partial")]
