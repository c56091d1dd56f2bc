"""Fixtures of the capture tests: a dataset to play."""

import pytest

from daisynet.training.builtin_data import make_waveshaper_dataset


@pytest.fixture(scope="module")
def source():
    return make_waveshaper_dataset(3.0, seed=2)
