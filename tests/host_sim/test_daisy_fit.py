"""What fits on the Daisy, estimated without a build (host_sim/daisy_fit.py)."""

import pytest

from daisynet.host_sim import daisy_fit
from daisynet.host_sim.daisy_fit import (
    SAFETY_MARGIN,
    estimated_load,
    fits_estimated,
    largest_gru,
    weight_bytes,
    widest_wavenet,
)
from daisynet.host_sim.daisy_target import model_flash_budget
from daisynet.host_sim.model_defn import Architecture, GruArchitecture
from daisynet.host_sim.quantize import random_gru_spec
from tests.conftest import require_tool


def test_the_weights_flash_is_what_the_header_holds():
    gru = GruArchitecture(3, 20, skip_input=2)
    assert weight_bytes(gru) == random_gru_spec(gru).weight_flash_bytes()
    # plan measured 26,976 B of weights for 4 blocks of 20 filters over 2 inputs
    assert weight_bytes(Architecture(2, (20,) * 4, 4)) == 26_976


def test_the_largest_models_that_fit_shrink_with_the_rate_and_the_inputs():
    # Plan's search on the emulated M7 at 48 kHz, 2 inputs: 18 filters x 4 blocks, GRU 32.
    assert widest_wavenet(2, 48_000).filters == (18, 18, 18, 18)
    assert largest_gru(2, 48_000, skip_input=1).units == 32
    for family in (widest_wavenet, largest_gru):
        at = {rate: family(2, rate) for rate in (32_000, 48_000, 96_000)}
        sizes = [arch.macs_per_sample for arch in at.values()]
        assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 3
        # 96 kHz halves the cycles per sample: about half the MACs fit.
        assert 0.4 < at[96_000].macs_per_sample / at[48_000].macs_per_sample < 0.6
        assert family(4, 48_000).macs_per_sample <= family(1, 48_000).macs_per_sample + 200
        for rate, arch in at.items():
            assert fits_estimated(arch, rate) and estimated_load(arch, rate) <= SAFETY_MARGIN


def test_flash_caps_a_model_the_cycles_would_allow():
    # At 16 kHz the cycles allow a far wider wavenet than the inference app's flash holds.
    widest = widest_wavenet(2, 16_000)
    assert estimated_load(widest, 16_000) < 0.5 * SAFETY_MARGIN
    wider = Architecture(2, (widest.filters[0] + 1,) * 4, 4)
    assert weight_bytes(wider) + daisy_fit.CODE_BYTES["wavenet"] > model_flash_budget()
    assert not fits_estimated(wider, 16_000)


def test_nothing_fits_when_no_cycles_are_left(monkeypatch):
    monkeypatch.setattr(daisy_fit, "SAFETY_MARGIN", 0.0)
    assert widest_wavenet(2, 48_000) is None and largest_gru(2, 48_000) is None


@pytest.mark.m7
@pytest.mark.native
def test_the_estimates_agree_with_plan_where_they_pick_the_default():
    """The picks at 48 kHz fit by plan's measurement on the emulated M7, one size more does
    not, and the estimated load is within 2% of the measured one."""
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm", "g++"):
        require_tool(tool)
    from daisynet.tools.measure.plan import fits_at, measure

    wavenet, gru = widest_wavenet(2, 48_000), largest_gru(2, 48_000, skip_input=1)
    bigger = (Architecture(2, (wavenet.filters[0] + 1,) * 4, 4),
              GruArchitecture(2, gru.units + 1, skip_input=1))
    for arch in (wavenet, gru):
        measured = measure(arch).instructions_per_sample
        assert daisy_fit.estimated_instructions(arch) == pytest.approx(measured, rel=0.02)
        assert fits_at(arch)
    for arch in bigger:
        assert not fits_at(arch)
