import numpy as np
import pytest

from daisynet.training.knobs import SWEEP_STEPS, find_period, is_knob, knob_sweeps
from daisynet.training.plots import plot_knob_sweeps

RATE = 48_000


def triangle(hz: float, frames: int) -> np.ndarray:
    phase = (np.arange(frames) * hz / RATE) % 1.0
    return 4.0 * np.abs(phase - 0.5) - 1.0


@pytest.mark.parametrize("hz", [60.0, 200.0, 1500.0])
def test_find_period_finds_the_fundamental_not_a_short_lag_or_a_multiple(hz):
    assert find_period(triangle(hz, 6000), RATE) == pytest.approx(RATE / hz, abs=1)


def test_find_period_gives_up_on_noise_and_silence():
    assert find_period(np.random.default_rng(0).normal(size=6000), RATE) is None
    assert find_period(np.zeros(6000), RATE) is None


def test_knobs_are_every_input_but_audio():
    assert [is_knob(n) for n in ("knob_1", "cv_2", "audio_in_1")] == [True, True, False]


def fake_model(batch: np.ndarray) -> np.ndarray:
    """Output = audio * knob_1 + knob_2: what the sweeps must show, exactly."""
    return (batch[:, :, 2] * batch[:, :, 0] + batch[:, :, 1])[:, :, None]


def test_sweeps_cover_the_trained_range_at_the_other_knobs_corners(tmp_path):
    frames = 48_000
    train = np.stack([np.linspace(0.2, 0.6, frames), np.repeat([0.0, 1.0], frames // 2),
                      triangle(200.0, frames)], axis=1)
    test = train.copy()
    sweeps = knob_sweeps(fake_model, ["knob_1", "knob_2", "audio_in_1"], train, test,
                         warmup=64, sample_rate=RATE)
    assert sweeps.period_found and len(sweeps.audio) == pytest.approx(240, abs=1)
    assert [(p.knob, p.held) for p in sweeps.panels] == [
        ("knob_1", {"knob_2": 0.0}), ("knob_1", {"knob_2": 1.0}),
        ("knob_2", {"knob_1": pytest.approx(0.204, abs=1e-3)}),
        ("knob_2", {"knob_1": pytest.approx(0.596, abs=1e-3)}),
    ]
    first = sweeps.panels[1]
    assert len(first.values) == SWEEP_STEPS
    assert first.values[0] == pytest.approx(0.204, abs=1e-3)
    assert first.values[-1] == pytest.approx(0.596, abs=1e-3)
    for value, output in zip(first.values, first.outputs, strict=True):
        np.testing.assert_allclose(output, sweeps.audio * value + 1.0, atol=1e-6)
    plot_knob_sweeps(sweeps, tmp_path / "knobs.png", "test")
    assert (tmp_path / "knobs.png").stat().st_size > 10_000


def test_a_model_without_knobs_has_no_sweeps():
    audio = triangle(200.0, 4800)[:, None]
    assert knob_sweeps(fake_model, ["audio_in_1"], audio, audio, 64, RATE) is None
