"""Shared fixtures: small datasets and random-weight Keras wavenets of any shape."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
# Not the project's files: git's, the test set-up's virtual environment and Python's bytecode.
NOT_CHECKOUT_FILES = {".git", ".venv", "__pycache__"}


@pytest.fixture
def random_wavenet():
    """Build a Keras wavenet with random weights and non-zero biases (Keras starts them at 0,
    which would hide bias-handling bugs; mostly positive so narrow ReLU layers stay alive)."""

    def make(inputs: int, filters: tuple[int, ...], kernel_size: int, seed: int = 0):
        from daisynet.host_sim.model_defn import Architecture
        from daisynet.training.model import build_model

        model = build_model(Architecture(inputs, tuple(filters), kernel_size), seed=seed)
        rng = np.random.default_rng(seed)
        for layer in model.layers:
            if hasattr(layer, "bias") and layer.bias is not None:
                layer.bias.assign(rng.uniform(-0.05, 0.25, layer.bias.shape).astype("float32"))
        return model

    return make


@pytest.fixture
def audio_like():
    """Deterministic (frames, channels) test signal at audio and knob levels."""

    def make(frames: int, channels: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        t = np.arange(frames)[:, None]
        freqs = rng.uniform(0.002, 0.05, channels)[None, :]
        signal = 0.6 * np.sin(2 * np.pi * freqs * t) + 0.2 * rng.standard_normal((frames, channels))
        return signal.astype(np.float32)

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: run in parallel (tools/setup.sh test), the minutes-long demo then
    overlaps the rest instead of starting last and running alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked native builds C or C++ for this machine: it needs the host compilers."""
    if item.get_closest_marker("native"):
        require_tool("gcc")
        require_tool("g++")


def require_tool(name: str) -> str:
    """Path of a command-line tool. Missing: a skip on a developer machine, a failure under CI
    (CI installs every toolchain, so a missing one means the set-up is broken)."""
    import shutil

    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found on PATH (tools/setup.sh installs it when run as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def checkout_files() -> dict[str, tuple[int, int]]:
    """Every file of the checkout, tracked, untracked or ignored (build/ too), with its size and
    modification time, to show that something left the checkout unchanged."""
    files = {}
    for folder, subfolders, names in os.walk(REPO):
        subfolders[:] = [name for name in subfolders if name not in NOT_CHECKOUT_FILES]
        for name in names:
            path = Path(folder) / name
            status = path.lstat()
            files[str(path.relative_to(REPO))] = (status.st_size, status.st_mtime_ns)
    return files
