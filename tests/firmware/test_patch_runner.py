"""The Patch inference app's core: jacks and knobs wired to model inputs by name, CPU meter."""

from pathlib import Path

import numpy as np
import pytest

from host_sim.daisy_target import daisy_target
from host_sim.engine import Simulator
from host_sim.header import read_header
from host_sim.m7 import status_text_on_m7
from host_sim.native import NativeBuildError, NativePatchRunner
from tests.conftest import require_tool
from tests.training.test_export import save_with_metadata
from training.export import export

DAISY_CLOCK_HZ = daisy_target().core_clock_hz  # 400 MHz: STM32duino's clock for the Daisy
DEFAULT_HEADER = Path(__file__).resolve().parents[2] / "firmware" / "model" / "model_defn.h"
# The app runs the fast engine backend, which sums in another order than the simulator: the
# two agree to float32 rounding (the tolerance both hold against Keras), not bit for bit.
ENGINE_TOLERANCE = 1e-5


@pytest.fixture(autouse=True)
def compilers():
    require_tool("gcc")
    require_tool("g++")


def run_blocks(runner, jacks, controls_per_block, block):
    outputs = [runner.process(jacks[start:start + block], controls_per_block[start // block])
               for start in range(0, len(jacks), block)]
    return np.concatenate(outputs)


def held(controls_per_block, block, frames):
    return np.repeat(controls_per_block, block, axis=0)[:frames]


def test_default_model_takes_knobs_1_2_and_audio_in_1(audio_like):
    spec = read_header(DEFAULT_HEADER)
    assert spec.input_names == ["knob_1", "knob_2", "audio_in_1"]
    frames, block = 48 * 40, 48
    jacks = audio_like(frames, 4)
    knobs = np.random.default_rng(1).uniform(0, 1, (frames // block, 4)).astype(np.float32)
    out = run_blocks(NativePatchRunner(DEFAULT_HEADER), jacks, knobs, block)
    knob_frames = held(knobs, block, frames)
    model_inputs = np.stack([knob_frames[:, 0], knob_frames[:, 1], jacks[:, 0]], axis=1)
    expected = Simulator(spec).render(model_inputs, block)[:, 0]
    assert np.max(np.abs(out - expected)) <= ENGINE_TOLERANCE


def test_cv_and_other_jacks_are_wired_by_name(tmp_path, random_wavenet, audio_like):
    model = random_wavenet(2, (4, 4), 2, seed=3)
    path = save_with_metadata(model, tmp_path / "m", ["cv_3", "audio_in_2"])
    spec, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    frames, block = 48 * 10, 96  # longer than the runner's 48-frame block: it splits them
    jacks = audio_like(frames, 4)
    controls = np.random.default_rng(2).uniform(0, 1, (frames // block, 4)).astype(np.float32)
    out = run_blocks(NativePatchRunner(header), jacks, controls, block)
    model_inputs = np.stack([held(controls, block, frames)[:, 2], jacks[:, 1]], axis=1)
    expected = Simulator(spec).render(model_inputs, block)[:, 0]
    assert np.max(np.abs(out - expected)) <= ENGINE_TOLERANCE


def test_a_model_input_the_patch_cannot_feed_does_not_compile(tmp_path, random_wavenet):
    model = random_wavenet(2, (2,), 2, seed=0)
    path = save_with_metadata(model, tmp_path / "m", ["knob_1", "pitch"])
    _, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    with pytest.raises(NativeBuildError, match="every model input must be named audio_in_1..4"):
        NativePatchRunner(header)


def test_cpu_meter_smooths_splits_model_from_callback_and_keeps_the_peak():
    runner = NativePatchRunner(DEFAULT_HEADER)
    # 400 MHz / 48 kHz = 8,333 cycles per sample; 200,000 cycles per 48-frame block is 50%.
    steady = runner.meter(DAISY_CLOCK_HZ, 48_000, [(160_000, 200_000)] * 1000, 48)
    assert steady["cycles_per_sample"] == pytest.approx(200_000 / 48, rel=1e-3)
    assert steady["load"] == pytest.approx(0.5, rel=1e-3)
    assert steady["model_cycles_per_sample"] == pytest.approx(160_000 / 48, rel=1e-3)
    assert steady["model_load"] == pytest.approx(0.4, rel=1e-3)
    spike = runner.meter(DAISY_CLOCK_HZ, 48_000,
                         [(160_000, 200_000)] * 1000 + [(160_000, 400_000)], 48)
    # One spike moves the one-pole smoother (1% per callback) by 1% of the difference.
    step = 0.01 * (400_000 / 48 - steady["cycles_per_sample"])
    assert spike["cycles_per_sample"] == pytest.approx(steady["cycles_per_sample"] + step, rel=1e-4)
    assert spike["peak_cycles_per_sample"] == pytest.approx(400_000 / 48)


READINGS = {"load": 0.5123, "model_load": 0.4951, "cycles_per_sample": 4269.4,
            "model_cycles_per_sample": 4125.6, "peak_cycles_per_sample": 5600.2}
EXPECTED_STATUS = ("daisynet t=12s model={name} clock=400MHz cpu=51.2% model_cpu=49.5% "
                   "cycles/sample=4269 model_cycles/sample=4126 peak=5600 nonfinite=0")
EXPECTED_OLED = ["CPU 51.2% @400MHz", "model 49.5% 4126 cyc", "peak 5600 cyc/sample"]


def test_status_text_uses_integers_only_natively():
    runner = NativePatchRunner(DEFAULT_HEADER)
    name = read_header(DEFAULT_HEADER).name
    line, oled = runner.status_text(12, DAISY_CLOCK_HZ, READINGS, 0)
    assert line == EXPECTED_STATUS.format(name=name)
    assert oled == EXPECTED_OLED
    _, oled = runner.status_text(12, DAISY_CLOCK_HZ, READINGS, 3)
    assert oled[2] == "peak 5600 NaN:3"
    assert all(len(text) <= 21 for text in oled)  # 6x10 font: 21 columns on the 128-px OLED


def test_status_text_under_newlib_nano_on_the_emulated_m7():
    """The Daisy links newlib-nano without float printf: "%f" would print nothing there. The
    emulated M7 links the same way, so this shows the exact text the Daisy prints."""
    for tool in ("arm-none-eabi-g++", "qemu-system-arm"):
        require_tool(tool)
    line, oled = status_text_on_m7("daisynet_wavenet", 12, DAISY_CLOCK_HZ, READINGS, 0)
    assert line == EXPECTED_STATUS.format(name="daisynet_wavenet")
    assert oled == EXPECTED_OLED
    # Extremes: an idle meter, an overloaded one, and a NaN reading print as integers too.
    idle = dict.fromkeys(READINGS, 0.0)
    line, oled = status_text_on_m7("m", 0, DAISY_CLOCK_HZ, idle, 0)
    assert "cpu=0.0% model_cpu=0.0% cycles/sample=0 model_cycles/sample=0 peak=0" in line
    overloaded = {**READINGS, "load": 1.734, "peak_cycles_per_sample": float("nan")}
    line, oled = status_text_on_m7("m", 4_000_000, DAISY_CLOCK_HZ, overloaded, 7)
    assert "t=4000000s" in line and "cpu=173.4%" in line and "peak=0 nonfinite=7" in line
    assert oled[2] == "peak 0 NaN:7"
