import numpy as np
import pytest

from daisynet.training.knobs import (
    SWEEP_STEPS,
    coverage_warnings,
    find_period,
    is_knob,
    knob_sweeps,
)
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


def knob_low_then_high(seconds: float) -> np.ndarray:
    """(frames, 2): a knob turned back and forth over 0..0.5 every 4 s in the first half of the
    take, over 0.5..1 in the second; and audio."""
    frames = int(seconds * RATE)
    time = np.arange(frames) / RATE
    knob = 0.5 * np.abs((time / 4.0) % 1.0 * 2.0 - 1.0) + 0.5 * (time >= seconds / 2)
    return np.stack([knob, triangle(110.0, frames)], axis=1)


def split_inputs(samples: np.ndarray, splits) -> dict[str, np.ndarray]:
    return {name: np.concatenate([samples[part.start : part.stop] for part in parts])
            for name, parts in splits.items()}


def test_dealt_splits_each_cover_a_slowly_turned_knobs_range():
    """Issue 24, item 1: a take that visits the knob's low half first, its high half later.
    The old time-ordered validation and test splits (its last 6 s) held only the high half;
    every dealt split holds all of it."""
    from daisynet.training.windows import Split, dealt_splits

    samples = knob_low_then_high(60.0)
    splits = dealt_splits(len(samples), RATE)
    assert coverage_warnings(["knob_1", "audio_in_1"], split_inputs(samples, splits)) == []
    frames = len(samples)
    time_ordered = {"train": [Split("train", 0, int(0.8 * frames))],
                    "validation": [Split("validation", int(0.8 * frames), int(0.9 * frames))],
                    "test": [Split("test", int(0.9 * frames), frames)]}
    warnings = coverage_warnings(["knob_1", "audio_in_1"], split_inputs(samples, time_ordered))
    assert len(warnings) == 2
    assert all("knob_1 in 0.01..0.50" in line for line in warnings)


def test_a_split_missing_part_of_a_knobs_range_is_said_with_figures():
    rng = np.random.default_rng(3)
    train = np.stack([rng.uniform(0, 1, 9000), rng.normal(size=9000)], axis=1)
    validation = np.stack([rng.uniform(0, 1, 1000), rng.normal(size=1000)], axis=1)
    test = np.stack([rng.uniform(0, 0.5, 1000), rng.normal(size=1000)], axis=1)
    warnings = coverage_warnings(["knob_1", "audio_in_1"],
                                 {"train": train, "validation": validation, "test": test})
    assert len(warnings) == 1
    assert warnings[0].startswith("the test split has 0.0% of its frames with knob_1 in 0.60")
    assert "0.60..0.99 (train 40%, validation 41% of theirs)" in warnings[0]


def test_the_sweep_plays_the_test_audio_where_the_output_is_loudest():
    """Issue 24, item 5: a filter's output is quiet wherever its cutoff was low; the sweep
    played the middle of the test split, a quiet 10 ms, and showed almost nothing."""
    frames = 48_000
    audio = triangle(200.0, frames) * np.linspace(0.5, 1.0, frames)  # no two periods alike
    output = 0.01 * audio
    output[36_000:44_000] = audio[36_000:44_000]  # the cutoff was opened here only
    inputs = np.stack([np.full(frames, 0.5), np.zeros(frames), audio], axis=1)
    sweeps = knob_sweeps(fake_model, ["knob_1", "knob_2", "audio_in_1"], inputs, inputs,
                         warmup=64, sample_rate=RATE, test_output=output)
    shown = len(sweeps.audio)
    start = next(s for s in range(frames) if np.array_equal(audio[s : s + shown], sweeps.audio))
    assert start >= 36_000 and start + shown <= 44_000
