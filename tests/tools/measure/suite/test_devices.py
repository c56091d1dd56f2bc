
"""The suite's devices: each knob reaches its device, block by block, as the dataset records
it."""

import subprocess
import sys

import numpy as np
import pytest

from daisynet.host_sim.daisy_target import BLOCK_FRAMES, SAMPLE_RATE_HZ
from daisynet.tools.measure.suite import devices
from daisynet.tools.measure.suite.devices import DEVICES, cutoff_hz, device

FRAMES = 40 * BLOCK_FRAMES


def _dry(frames: int = FRAMES) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(frames) / SAMPLE_RATE_HZ
    return (1.2 * np.sin(2 * np.pi * 220 * t) + 0.3 * rng.standard_normal(frames)).astype(
        np.float32)


def test_at_least_six_devices_filters_among_them_each_saying_what_its_knob_turns():
    assert len(DEVICES) >= 6
    assert sum(d.kind == "filter" for d in DEVICES) >= 2
    assert {d.package for d in DEVICES} == {"pedalboard", "dawdreamer"}
    assert len({d.name for d in DEVICES}) == len(DEVICES)
    assert all("knob:" in d.description for d in DEVICES)


@pytest.mark.parametrize("name", [d.name for d in DEVICES])
def test_every_device_renders_the_whole_signal_and_its_knob_changes_it(name):
    blocks = FRAMES // BLOCK_FRAMES
    low = device(name).render(_dry(), np.full(blocks, 0.1), SAMPLE_RATE_HZ)
    high = device(name).render(_dry(), np.full(blocks, 0.9), SAMPLE_RATE_HZ)
    assert low.shape == high.shape == (FRAMES,) and low.dtype == np.float32
    assert np.all(np.isfinite(low)) and np.all(np.isfinite(high))
    assert np.max(np.abs(high - low)) > 0.05


def test_cutoff_knob_spans_60_hz_to_7_7_khz_exponentially():
    assert cutoff_hz(np.array([0.0, 0.5, 1.0])) == pytest.approx([60.0, np.sqrt(60 * 7700),
                                                                  7700.0])


def test_pedalboard_state_runs_on_across_blocks():
    """Per block with reset=False, a held knob gives what one call over the whole signal gives
    (with a reset per block the ladder's and the compressor's state would restart)."""
    import pedalboard

    dry = _dry()
    knob = np.full(FRAMES // BLOCK_FRAMES, 0.3)
    ladder = pedalboard.LadderFilter(mode=pedalboard.LadderFilter.Mode.LPF24, resonance=0.7,
                                     drive=1.0, cutoff_hz=float(cutoff_hz(0.3)))
    expected = 0.7 * ladder.process(dry[None], SAMPLE_RATE_HZ)[0]
    np.testing.assert_allclose(device("ladder").render(dry, knob, SAMPLE_RATE_HZ), expected,
                               atol=1e-6)
    compressor = pedalboard.Compressor(threshold_db=-12.0, ratio=8.0, attack_ms=2.0,
                                       release_ms=100.0)
    np.testing.assert_allclose(device("compressor").render(dry, knob, SAMPLE_RATE_HZ),
                               compressor.process(dry[None], SAMPLE_RATE_HZ)[0], atol=1e-6)


@pytest.mark.parametrize("name", ["overdrive", "wavefold"])
def test_a_knob_step_reaches_the_device_at_its_block_s_first_sample(name):
    """Memoryless devices: after a step at block 10, every frame of block 10 on is what the new
    value gives; every frame before, the old value's."""
    blocks = FRAMES // BLOCK_FRAMES
    stepped = np.where(np.arange(blocks) < 10, 0.1, 0.9)
    out = device(name).render(_dry(), stepped, SAMPLE_RATE_HZ)
    before = device(name).render(_dry(), np.full(blocks, 0.1), SAMPLE_RATE_HZ)
    after = device(name).render(_dry(), np.full(blocks, 0.9), SAMPLE_RATE_HZ)
    edge = 10 * BLOCK_FRAMES
    np.testing.assert_allclose(out[:edge], before[:edge], atol=1e-6)
    np.testing.assert_allclose(out[edge:], after[edge:], atol=1e-6)


def test_missing_packages_are_named_in_one_line_with_the_install_command(monkeypatch):
    real_find_spec = devices.importlib.util.find_spec

    def without_dawdreamer(name):
        return None if name == "dawdreamer" else real_find_spec(name)

    monkeypatch.setattr(devices.importlib.util, "find_spec", without_dawdreamer)
    with pytest.raises(devices.SuitePackagesMissingError) as caught:
        devices.require_packages()
    assert "\n" not in str(caught.value)
    assert "dawdreamer" in str(caught.value) and "pedalboard" not in str(caught.value)
    assert "pip install 'daisynet[suite]'" in str(caught.value)


def test_checking_the_packages_after_tensorflow_loaded_does_not_crash():
    """Importing dawdreamer into a process that has loaded TensorFlow is a segmentation fault:
    the check must only look for it (the whole test run loads TensorFlow first)."""
    check = ("from daisynet.training.quiet_keras import import_keras; import_keras(); "
             "from daisynet.tools.measure.suite.devices import require_packages; "
             "require_packages(); print('checked')")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and "checked" in result.stdout, result.stderr[-2000:]


def test_an_unknown_device_names_the_choices():
    with pytest.raises(ValueError, match="choose from ladder, overdrive"):
        device("theremin")
