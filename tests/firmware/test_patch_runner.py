"""The Patch inference app's core: jacks and knobs wired to model inputs by name, CPU meter."""

from pathlib import Path

import numpy as np
import pytest

from host_sim.engine import Simulator
from host_sim.header import read_header
from host_sim.native import NativeBuildError, NativePatchRunner
from tests.conftest import require_tool
from tests.training.test_export import save_with_metadata
from training.export import export

DEFAULT_HEADER = Path(__file__).resolve().parents[2] / "firmware" / "model" / "model_defn.h"


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
    assert np.max(np.abs(out - expected)) <= 1e-6


def test_cv_and_other_jacks_are_wired_by_name(tmp_path, random_wavenet, audio_like):
    model = random_wavenet(2, (4, 4), 2, seed=3)
    path = save_with_metadata(model, tmp_path / "m", ["cv_3", "audio_in_2"])
    spec, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    frames, block = 48 * 10, 96  # longer than the runner's 48-frame block: it splits them
    jacks = audio_like(frames, 4)
    controls = np.random.default_rng(2).uniform(0, 1, (frames // block, 4)).astype(np.float32)
    out = run_blocks(NativePatchRunner(header), jacks, controls, block)
    model_inputs = np.stack([held(controls, block, frames)[:, 2], jacks[:, 1]], axis=1)
    assert np.max(np.abs(out - Simulator(spec).render(model_inputs, block)[:, 0])) <= 1e-6


def test_a_model_input_the_patch_cannot_feed_does_not_compile(tmp_path, random_wavenet):
    model = random_wavenet(2, (2,), 2, seed=0)
    path = save_with_metadata(model, tmp_path / "m", ["knob_1", "pitch"])
    _, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    with pytest.raises(NativeBuildError, match="every model input must be named audio_in_1..4"):
        NativePatchRunner(header)


def test_cpu_meter_smooths_and_keeps_the_peak():
    runner = NativePatchRunner(DEFAULT_HEADER)
    # 480 MHz / 48 kHz = 10,000 cycles per sample; 240,000 cycles per 48-frame block is 50%.
    steady = runner.meter(480e6, 48_000, [240_000] * 1000, 48)
    assert steady["cycles_per_sample"] == pytest.approx(5000, rel=1e-3)
    assert steady["load"] == pytest.approx(0.5, rel=1e-3)
    spike = runner.meter(480e6, 48_000, [240_000] * 1000 + [480_000], 48)
    assert steady["cycles_per_sample"] < spike["cycles_per_sample"] < 5100
    assert spike["peak_cycles_per_sample"] == pytest.approx(10_000)


def test_status_line():
    runner = NativePatchRunner(DEFAULT_HEADER)
    line = runner.status_line(12.7, 0.5123, 5123.4, 5600.2, 3)
    spec = read_header(DEFAULT_HEADER)
    assert line == (f"daisynet t=12s model={spec.name} cpu=51.2% cycles/sample=5123 peak=5600 "
                    "nonfinite=3")
