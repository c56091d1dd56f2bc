"""Fixtures of the capture tests: a dataset to play, and g++ for the emulated datalogger."""

import pytest

from daisynet.training.builtin_data import make_waveshaper_dataset
from tests.conftest import require_tool


@pytest.fixture(scope="module")
def source():
    return make_waveshaper_dataset(3.0, seed=2)


@pytest.fixture
def compiler():
    require_tool("g++")
