"""The suite's model sizes: train's default, the largest wavenet plan fits, a GRU."""

import pytest

from daisynet.tools.measure.suite import sizes
from daisynet.tools.measure.suite.sizes import MODEL_SIZES, model_size


def test_model_sizes_default_to_train_s_choice_and_the_largest_that_plan_fits(monkeypatch):
    from daisynet.tools.measure import plan

    assert model_size("default").config(2) == {} and model_size("default").chooses
    assert not model_size("largest").chooses
    asked = []

    def fits_up_to_seven_filters(arch):
        asked.append(arch)
        return max(arch.filters) <= 7

    monkeypatch.setattr(plan, "fits_at", fits_up_to_seven_filters)
    sizes.largest_wavenet.cache_clear()
    try:
        assert model_size("largest").config(2) == {"filters": (7, 7, 7, 7), "kernel_size": 4}
    finally:
        sizes.largest_wavenet.cache_clear()
    assert asked and all(arch.inputs == 2 for arch in asked)
    assert len({size.name for size in MODEL_SIZES}) == len(MODEL_SIZES)


def test_a_gru_size_asks_train_for_the_recurrent_family():
    from daisynet.tools.measure.suite.material import INPUTS, TARGET
    from daisynet.training.train import TrainConfig

    for name, units in (("gru32", 32), ("gru10", 10)):
        config = TrainConfig(inputs=INPUTS, target=TARGET, **model_size(name).config(2))
        assert config.architecture().units == units
        # As `daisynet train --family gru` trains it: one start, Adam only.
        assert config.candidates == 1 and config.refine_iterations == 0


def test_an_unknown_size_names_the_choices():
    with pytest.raises(ValueError, match="choose from default, largest, gru32, gru10"):
        model_size("huge")
