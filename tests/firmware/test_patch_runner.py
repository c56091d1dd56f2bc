"""The Patch inference app's core: jacks and knobs wired to model inputs by name, CPU meter."""

from pathlib import Path

import numpy as np
import pytest

from daisynet.host_sim.daisy_target import daisy_target
from daisynet.host_sim.engine import Simulator
from daisynet.host_sim.m7 import status_text_on_m7
from daisynet.host_sim.model_defn import read_header
from daisynet.host_sim.native import NativePatchRunner
from daisynet.training.export import export
from tests.conftest import require_tool
from tests.training.test_export import save_with_metadata

pytestmark = [pytest.mark.m7, pytest.mark.native]

DAISY_CLOCK_HZ = daisy_target().core_clock_hz  # 400 MHz: STM32duino's clock for the Daisy
DEFAULT_HEADER = Path(__file__).resolve().parents[2] / "firmware" / "model" / "model_defn.h"
# The app runs the fast engine backend, which sums in another order than the simulator: the
# two agree to float32 rounding, not bit for bit. That rounding grows with the model's gains:
# 1.1e-5 for the default model on these tests' audio (its demo run measured 2e-4 between the
# simulator and Keras over 288,000 frames), far below what a miswired input changes.
ENGINE_TOLERANCE = 1e-4


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
    path = save_with_metadata(model, tmp_path / "m", ["cv_3", "audio_in_2"], sample_rate=48_000)
    spec, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    frames, block = 48 * 10, 96  # longer than the runner's 48-frame block: it splits them
    jacks = audio_like(frames, 4)
    controls = np.random.default_rng(2).uniform(0, 1, (frames // block, 4)).astype(np.float32)
    out = run_blocks(NativePatchRunner(header), jacks, controls, block)
    model_inputs = np.stack([held(controls, block, frames)[:, 2], jacks[:, 1]], axis=1)
    expected = Simulator(spec).render(model_inputs, block)[:, 0]
    assert np.max(np.abs(out - expected)) <= ENGINE_TOLERANCE


@pytest.mark.parametrize("inputs, sample_rate, problem", [
    (["knob_1", "pitch"], 48_000, "an input is not named after a Patch jack or control"),
    (["knob_1", "audio_in_1"], 44_100, "a model was trained at another sample rate"),
], ids=["unwired-input", "44.1-kHz"])
def test_a_model_the_patch_cannot_play_is_refused(tmp_path, random_wavenet, inputs, sample_rate,
                                                  problem):
    model = random_wavenet(2, (2,), 2, seed=0)
    path = save_with_metadata(model, tmp_path / "m", inputs, sample_rate=sample_rate)
    _, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    with pytest.raises(ValueError, match=f"cannot play this bank: {problem}"):
        NativePatchRunner(header)


def test_cpu_meter_reports_each_period_mean_p99_max_and_overruns():
    runner = NativePatchRunner(DEFAULT_HEADER)
    runner.meter_init(DAISY_CLOCK_HZ, 48_000)  # 400 MHz / 48 kHz: 8,333 cycles per sample
    # 1,000 callbacks of 48 frames: 985 at 4,000 cycles/sample, 10 at 6,000, 5 over the budget.
    for per_sample in [4_000] * 985 + [6_000] * 10 + [9_000] * 5:
        runner.meter_add(3_000 * 48, per_sample * 48, 48)
    status = runner.meter_end_period(12, 3)
    assert status["budget_cycles_per_sample"] == 8333
    assert status["callbacks"] == 1000 and status["overruns"] == 5
    assert status["cycles_per_sample"] == round((985 * 4000 + 10 * 6000 + 5 * 9000) / 1000)
    assert status["model_cycles_per_sample"] == 3000
    assert status["max_cycles_per_sample"] == 9000
    # The 990th-slowest is a 6,000 callback: p99 is the upper edge of its 1/64-budget bin.
    assert 6000 <= status["p99_cycles_per_sample"] <= 6000 + 8333 / 64
    assert (status["seconds"], status["non_finite"], status["clock_hz"]) == (12, 3, DAISY_CLOCK_HZ)
    # The next period starts empty.
    runner.meter_add(100 * 48, 200 * 48, 48)
    after = runner.meter_end_period(13, 3)
    assert (after["callbacks"], after["max_cycles_per_sample"], after["overruns"]) == (1, 200, 0)
    empty = runner.meter_end_period(14, 3)
    assert empty["callbacks"] == 0 and empty["cycles_per_sample"] == 0


def test_an_overrun_is_a_callback_longer_than_its_block():
    runner = NativePatchRunner(DEFAULT_HEADER)
    runner.meter_init(DAISY_CLOCK_HZ, 48_000)
    block_cycles = 48 * DAISY_CLOCK_HZ // 48_000  # 1 ms at 400 MHz: 400,000 cycles
    runner.meter_add(0, block_cycles, 48)  # exactly the block: not an overrun
    runner.meter_add(0, block_cycles + 1, 48)
    status = runner.meter_end_period(1, 0)
    assert status["overruns"] == 1
    assert status["p99_cycles_per_sample"] == status["max_cycles_per_sample"] == 8333


STATUS = {"seconds": 12, "clock_hz": DAISY_CLOCK_HZ, "budget_cycles_per_sample": 8333,
          "cycles_per_sample": 4269, "model_cycles_per_sample": 4126,
          "p99_cycles_per_sample": 4400, "max_cycles_per_sample": 5600, "overruns": 0,
          "callbacks": 1000, "non_finite": 0}
EXPECTED_STATUS = ("daisynet t=12s model={name} clock=400MHz cpu=51.2% model_cpu=49.5% "
                   "cycles/sample=4269 model_cycles/sample=4126 p99=4400 max=5600 overruns=0 "
                   "callbacks=1000 nonfinite=0 check={check}")
EXPECTED_OLED = ["CPU 51.2% @400MHz", "model 49.5% p99 4400", "max 5600 ovr 0 nan 0"]
# The default model's header stores 656 emulated instructions per sample for its self-check.
DEFAULT_CHECK = "pass check_cycles/sample=0 emulated_instructions/sample=656"


def test_status_text_natively():
    runner = NativePatchRunner(DEFAULT_HEADER)
    name = read_header(DEFAULT_HEADER).name
    line, oled = runner.status_text(STATUS)
    assert line == EXPECTED_STATUS.format(name=name, check=DEFAULT_CHECK)
    assert oled == ["pass 0 cyc/smp", *EXPECTED_OLED]  # the native build counts no cycles
    assert all(len(text) <= 21 for text in oled)  # 6x10 font: 21 columns on the 128-px OLED


def test_status_text_under_newlib_nano_on_the_emulated_m7():
    """The Daisy links newlib-nano without float printf: "%f" would print nothing there. The
    emulated M7 links the same way, so this shows the exact text the Daisy prints."""
    for tool in ("arm-none-eabi-g++", "qemu-system-arm"):
        require_tool(tool)
    line, oled = status_text_on_m7("daisynet_wavenet", STATUS, ("pass", 812, 656))
    assert line == EXPECTED_STATUS.format(
        name="daisynet_wavenet",
        check="pass check_cycles/sample=812 emulated_instructions/sample=656")
    assert oled == ["pass 812 cyc/smp", *EXPECTED_OLED]
    _, oled = status_text_on_m7("m", STATUS, ("FAIL", 812, 656))
    assert oled[0] == "check FAIL: silent"
    # Extremes: an idle period and an overloaded one with the largest counts.
    idle = dict.fromkeys(STATUS, 0) | {"clock_hz": DAISY_CLOCK_HZ, "budget_cycles_per_sample": 8333}
    line, _ = status_text_on_m7("m", idle)
    assert "cpu=0.0% model_cpu=0.0% cycles/sample=0 model_cycles/sample=0 p99=0 max=0" in line
    overloaded = STATUS | {"seconds": 4_000_000_000, "cycles_per_sample": 14_450,
                           "max_cycles_per_sample": 4_294_967_295, "overruns": 1000,
                           "non_finite": 7}
    line, oled = status_text_on_m7("m", overloaded)
    assert "t=4000000000s" in line and "cpu=173.4%" in line and "max=4294967295" in line
    assert oled[3] == "max 4294967295 ovr 1000 nan 7"


def test_the_callback_plays_the_model_and_the_dry_input_and_feeds_the_meter(audio_like):
    runner = NativePatchRunner(DEFAULT_HEADER)  # a fresh engine: starts from silence
    runner.meter_init(DAISY_CLOCK_HZ, 48_000)
    jacks = audio_like(48, 4)
    knobs = np.array([0.2, 0.7, 0.0, 0.0], np.float32)
    outputs = runner.callback(jacks, knobs, DAISY_CLOCK_HZ)
    model_inputs = np.stack([np.full(48, 0.2, np.float32), np.full(48, 0.7, np.float32),
                             jacks[:, 0]], axis=1)
    expected = Simulator(read_header(DEFAULT_HEADER)).render(model_inputs, 48)[:, 0]
    assert np.max(np.abs(outputs[:, 0] - expected)) <= ENGINE_TOLERANCE
    assert np.array_equal(outputs[:, 1], jacks[:, 0])
    assert not outputs[:, 2:].any()
    # A 2 ms stall inside a 1 ms block is an overrun, counted in the callback, not the model.
    runner.callback(jacks, knobs, DAISY_CLOCK_HZ, stall_ns=2_000_000)
    status = runner.meter_end_period(1, 0)
    assert status["callbacks"] == 2 and status["overruns"] == 1
    assert status["max_cycles_per_sample"] >= 2 * 8333
    assert status["model_cycles_per_sample"] < status["cycles_per_sample"]


@pytest.mark.parametrize("number_format", ["float32", "q15"])
def test_a_gru_header_runs_in_the_app_core_through_model_engine(tmp_path, audio_like,
                                                                number_format):
    """patch_runner.h declares ModelEngine: a GRU header (float32 or q15) gets the GRU engine,
    inputs by name, and the app's glue does not change."""
    from daisynet.host_sim.model_defn import GruArchitecture, render_header
    from daisynet.host_sim.quantize import quantize_gru_spec, random_gru_spec

    spec = random_gru_spec(GruArchitecture(2, 8, 1, skip_input=1), seed=2,
                           input_names=["knob_2", "audio_in_1"])
    if number_format == "q15":
        spec = quantize_gru_spec(spec)
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(spec, "test"))
    frames, block = 48 * 20, 48
    jacks = audio_like(frames, 4)
    knobs = np.random.default_rng(2).uniform(0, 1, (frames // block, 4)).astype(np.float32)
    out = run_blocks(NativePatchRunner(header), jacks, knobs, block)
    model_inputs = np.stack([held(knobs, block, frames)[:, 1], jacks[:, 0]], axis=1)
    expected = Simulator(spec).render(model_inputs, block)[:, 0]
    assert np.max(np.abs(out - expected)) <= ENGINE_TOLERANCE


# --- a bank of models, the encoder switching between them (issue 23) -------------------------

PATCH_INPUTS = ["knob_1", "knob_2", "audio_in_1"]


def patch_bank(folder: Path) -> list[Path]:
    """Four models the Patch app can hold side by side, all fed by knobs 1 and 2 and audio in 1:
    two float32 wavenets of different shapes, a q15 wavenet and a float32 GRU."""
    from daisynet.host_sim.model_defn import Architecture, GruArchitecture, render_header
    from daisynet.host_sim.quantize import (
        quantize_spec,
        random_gru_spec,
        random_spec,
        synthetic_audio,
    )

    calibration = synthetic_audio(4000, 3, seed=9)
    specs = {
        "drive": random_spec(Architecture(3, (4, 4, 4, 8), 4), 1, PATCH_INPUTS, name="drive"),
        "fold": random_spec(Architecture(3, (6, 6), 3), 2, PATCH_INPUTS, name="fold"),
        "drive_q15": quantize_spec(random_spec(Architecture(3, (4, 4), 2), 3, PATCH_INPUTS,
                                               name="drive_q15"), "q15", calibration),
        "filter": random_gru_spec(GruArchitecture(3, 16, 1, skip_input=2), 4, PATCH_INPUTS,
                                  name="filter"),
    }
    headers = []
    for name, spec in specs.items():
        headers.append(folder / f"{name}.h")
        headers[-1].write_text(render_header(spec, f"tests patch_bank {name}"))
    return headers


def render_patch(runner, jacks, knobs, block=48, switches=None):
    """The runner over (frames, 4) jacks with `knobs` held; `switches` {frame: slot} selects at
    block starts (as the encoder, read in the main loop between callbacks, does)."""
    out = []
    for start in range(0, len(jacks), block):
        if switches and start in switches:
            assert runner.select(switches[start])
        out.append(runner.process(jacks[start:start + block], knobs))
    return np.concatenate(out)


def own_output(header, jacks, knobs, start):
    """What the model of `header` alone plays from `start` on, from silence (as after a
    switch's reset)."""
    from daisynet.host_sim.native import NativeEngine

    frames = len(jacks) - start
    model_inputs = np.stack([np.full(frames, knobs[0], np.float32),
                             np.full(frames, knobs[1], np.float32), jacks[start:, 0]], axis=1)
    engine = NativeEngine(header)
    engine.reset()
    return engine.render(model_inputs, 48)[:, 0]


def test_the_encoder_switches_models_through_a_crossfade_that_never_jumps(tmp_path):
    """Bound at a switch: during the fade each output step is at most the larger step of the
    two models' own outputs plus their difference spread over the fade's frames (linear
    crossfade); an abrupt switch would step by their whole difference. A 110 Hz tone, whose
    outputs move little per sample, shows the difference."""
    headers = patch_bank(tmp_path)
    runner = NativePatchRunner(headers)
    fade = runner.fade_frames
    assert fade == 480  # 10 ms at 48 kHz
    frames, switch = 48 * 60, 48 * 20
    jacks = np.zeros((frames, 4), np.float32)
    jacks[:, 0] = 0.8 * np.sin(2 * np.pi * 110 / 48_000 * np.arange(frames))
    knobs = np.array([0.3, 0.8, 0.0, 0.0], np.float32)
    out = render_patch(runner, jacks, knobs, switches={switch: 3})
    assert runner.active == 3 and runner.allocations == 0
    old = own_output(headers[0], jacks, knobs, 0)
    new = np.concatenate([np.zeros(switch, np.float32), own_output(headers[3], jacks, knobs,
                                                                   switch)])
    np.testing.assert_allclose(out[:switch], old[:switch], atol=1e-5)
    np.testing.assert_allclose(out[switch + fade:], new[switch + fade:], atol=1e-5)
    share = np.clip((np.arange(frames) - switch + 1) / fade, 0, 1)
    np.testing.assert_allclose(out[switch:switch + fade],
                               (old + share * (new - old))[switch:switch + fade], atol=1e-5)
    window = slice(switch, switch + fade)
    steps = np.abs(np.diff(out))[window]
    bound = (np.maximum(np.abs(np.diff(old)), np.abs(np.diff(new)))[window]
             + np.abs(new - old)[window.start + 1:window.stop + 1] / fade + 1e-5)
    assert np.all(steps <= bound)
    assert np.abs(new - old)[switch] > 5 * steps.max()  # what an abrupt switch would jump


def test_a_fast_turn_lands_on_the_last_model_asked_for(tmp_path, audio_like):
    headers = patch_bank(tmp_path)
    runner = NativePatchRunner(headers)
    jacks = audio_like(48 * 40, 4)
    knobs = np.array([0.5, 0.5, 0.0, 0.0], np.float32)
    render_patch(runner, jacks[:480], knobs)
    for slot in (1, 2, 3, 2):  # four encoder steps within one block
        assert runner.select(slot)
    render_patch(runner, jacks[480:960], knobs)  # the fade to slot 2 plays out
    assert runner.active == 2 and runner.requested == 2
    assert not runner.select(4) and runner.requested == 2  # no slot 4 in a bank of four
    line, _ = runner.status_text(STATUS)
    assert " model=drive_q15 " in line


def test_a_bank_whose_models_take_different_inputs_is_refused(tmp_path):
    from daisynet.host_sim.model_defn import Architecture, render_header
    from daisynet.host_sim.quantize import random_spec

    headers = patch_bank(tmp_path)[:2]
    headers[1].write_text(render_header(
        random_spec(Architecture(3, (4,), 2), 5, ["knob_2", "knob_1", "audio_in_1"]), "test"))
    with pytest.raises(ValueError, match="cannot play this bank: the models' input names differ"):
        NativePatchRunner(headers)


def test_a_knob_morphs_the_selected_model_into_the_next_without_jumps(tmp_path):
    """Knob 4 (no model reads it) blends slot 0 with slot 1, both running from start-up; a knob
    change is spread over the block, so no step exceeds the models' own steps plus their
    difference over 48 frames."""
    headers = patch_bank(tmp_path)
    runner = NativePatchRunner(headers)
    assert not runner.set_morph(0)  # knob 1 feeds the models
    assert runner.set_morph(3)
    frames = 48 * 40
    jacks = np.zeros((frames, 4), np.float32)
    jacks[:, 0] = 0.8 * np.sin(2 * np.pi * 110 / 48_000 * np.arange(frames))
    shares = np.repeat([0.25, 0.25, 1.0, 0.0, 0.6], 8)  # per block
    out = np.concatenate([runner.process(jacks[b * 48:(b + 1) * 48],
                                         np.array([0.3, 0.8, 0.0, share], np.float32))
                          for b, share in enumerate(shares)])
    assert runner.allocations == 0
    first = own_output(headers[0], jacks, [0.3, 0.8], 0)
    second = own_output(headers[1], jacks, [0.3, 0.8], 0)
    previous = np.concatenate([[0.0], shares[:-1]])
    ramp = (np.arange(1, 49) / 48)[None, :]
    share = (previous[:, None] + (shares - previous)[:, None] * ramp).reshape(-1)
    np.testing.assert_allclose(out, first + share * (second - first), atol=1e-5)
    steps = np.abs(np.diff(out))
    bound = (np.maximum(np.abs(np.diff(first)), np.abs(np.diff(second)))
             + np.abs(second - first)[1:] / 48 + 1e-5)
    assert np.all(steps <= bound)
    # Morphing off again: the selected model alone.
    assert runner.set_morph(None)
    tail = runner.process(jacks[-48:], np.array([0.3, 0.8, 0.0, 1.0], np.float32))
    alone = own_output(headers[0], np.concatenate([jacks, jacks[-48:]]), [0.3, 0.8], 0)
    np.testing.assert_allclose(tail, alone[-48:], atol=1e-5)


def test_a_switch_while_morphing_dips_through_silence(tmp_path):
    """The encoder moves the morphing pair: the old blend fades out over 240 frames, the new
    pair starts from silence and fades in over 240 more; never more than two models run."""
    headers = patch_bank(tmp_path)
    runner = NativePatchRunner(headers)
    assert runner.set_morph(3)
    frames, switch, half = 48 * 40, 48 * 10, 240
    jacks = np.zeros((frames, 4), np.float32)
    jacks[:, 0] = 0.8 * np.sin(2 * np.pi * 110 / 48_000 * np.arange(frames))
    knobs = np.array([0.3, 0.8, 0.0, 0.5], np.float32)
    out = render_patch(runner, jacks, knobs, switches={switch: 2})
    assert runner.active == 2 and runner.allocations == 0
    old = 0.5 * (own_output(headers[0], jacks, knobs, 0) + own_output(headers[1], jacks, knobs,
                                                                       0))
    new = np.zeros(frames, np.float32)
    start = switch + half
    new[start:] = 0.5 * (own_output(headers[2], jacks, knobs, start)
                         + own_output(headers[3], jacks, knobs, start))
    gain_out = 1 - np.arange(1, half + 1) / half
    gain_in = np.arange(1, half + 1) / half
    np.testing.assert_allclose(out[switch:start], gain_out * old[switch:start], atol=1e-5)
    np.testing.assert_allclose(out[start:start + half], gain_in * new[start:start + half],
                               atol=1e-5)
    np.testing.assert_allclose(out[start + half:], new[start + half:], atol=1e-5)
    steps = np.abs(np.diff(out))[switch - 1:start + half]
    largest = max(np.abs(old[switch:start]).max(), np.abs(new[start:start + half]).max())
    own = np.maximum(np.abs(np.diff(old)), np.abs(np.diff(new)))[switch - 1:start + half]
    assert np.all(steps <= own + largest / half + 1e-5)


def test_on_the_emulated_m7_the_costliest_switch_and_a_morph_fit_48_khz(tmp_path):
    """The app's core over the four-model bank on the emulated Cortex-M7, block by block: a
    switch from the first wavenet to the GRU (the costliest pair) runs both through the fade,
    and morphing runs a pair all the time; the slowest block stays within plan's 80% of the
    Daisy's cycles at 48 kHz (one cycle per instruction assumed), so no callback overruns."""
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm"):
        require_tool(tool)
    from daisynet.host_sim.m7 import M7Bank
    from daisynet.host_sim.quantize import synthetic_audio
    from daisynet.tools.measure.plan import SAFETY_MARGIN

    bank = M7Bank(patch_bank(tmp_path))
    alone = [slot.run(synthetic_audio(480, 3, seed=1), 48).instructions_per_sample
             for slot in bank.slots]
    budget = SAFETY_MARGIN * daisy_target().cycles_per_sample(48_000)
    switch = bank.play(60, 20, 3)
    morph = bank.play(60, 20, 2, morph_control=3)
    assert switch["problem"] == morph["problem"] == 0
    assert switch["max_instructions_per_sample"] >= 0.95 * (alone[0] + alone[3])
    assert morph["mean_instructions_per_sample"] >= 0.95 * min(
        alone[i] + alone[(i + 1) % 4] for i in range(4))
    for played in (switch, morph):
        assert played["max_instructions_per_sample"] <= budget, played
