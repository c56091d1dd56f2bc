"""The boot self-check (host_sim/self_check.py, firmware/core/self_check.h): its input is the
same on host and device, every model of a bank passes it natively and on the emulated
Cortex-M7, and a model whose weights differ from those its reference was computed with fails
and stays silent."""

import dataclasses

import numpy as np
import pytest

from daisynet.host_sim.model_defn import read_header, render_header
from daisynet.host_sim.self_check import (
    CHECK_BLOCK,
    CHECK_FRAMES,
    FLOAT_TOLERANCE,
    add_self_check,
    check_inputs,
)
from tests.conftest import require_tool
from tests.firmware.test_patch_runner import PATCH_INPUTS, patch_bank

pytestmark = [pytest.mark.m7, pytest.mark.native]


def test_the_check_input_is_exact_and_holds_controls_per_block():
    x = check_inputs(["knob_1", "audio_in_1", "cv_2"])
    assert x.shape == (CHECK_FRAMES, 3) and x.dtype == np.float32
    audio, knobs = x[:, 1], x[:, [0, 2]]
    assert -1 <= audio.min() < -0.9 and 0.9 < audio.max() < 1
    assert np.array_equal(audio * 2.0**23, np.round(audio * 2.0**23))  # 24-bit values
    assert knobs.min() >= 0 and knobs.max() < 1
    blocks = knobs[:CHECK_FRAMES // CHECK_BLOCK * CHECK_BLOCK].reshape(-1, CHECK_BLOCK, 2)
    assert np.all(blocks == blocks[:, :1])  # held for each 48-frame block
    assert len(np.unique(blocks[:, 0, 0])) == len(blocks)  # and changed between them
    # Fixed by its generator, which the device repeats: a change here is a format change.
    np.testing.assert_array_equal(x[:2], np.float32([[0.3165935277938843, -0.24858605861663818,
                                                      0.4833001494407654],
                                                     [0.3165935277938843, 0.011830329895019531,
                                                      0.4833001494407654]]))


@pytest.fixture(scope="module")
def checked_bank(tmp_path_factory):
    """The four-model Patch bank, each header holding its self-check reference."""
    for tool in ("arm-none-eabi-g++", "qemu-system-arm"):
        require_tool(tool)
    headers = patch_bank(tmp_path_factory.mktemp("checked"))
    checks = [add_self_check(header) for header in headers]
    return headers, checks


def corrupted(header, folder):
    """A copy of ``header`` with one weight changed by 1/8 and its hash made to match, as if
    the weights the device holds were not those the reference was computed with."""
    spec = read_header(header)
    if spec.family == "gru":
        weights = spec.gru.input_weights.copy()
        weights[0, 0] += 0.125
        spec = dataclasses.replace(spec, gru=dataclasses.replace(spec.gru,
                                                                 input_weights=weights))
    else:
        layer = spec.layers[0]
        weights = layer.weights.copy()
        weights[0, 0, 0] += 0.125
        if layer.quant is not None:
            step = 2.0 ** -layer.quant.weight_frac_bits
            quant_weights = layer.quant.weights.copy()
            quant_weights[0, 0, 0] += round(0.125 / step)
            weights = (quant_weights.astype(np.float64) * step).astype(np.float32)
            layer = dataclasses.replace(layer, quant=dataclasses.replace(
                layer.quant, weights=quant_weights))
        spec = dataclasses.replace(spec, layers=[dataclasses.replace(layer, weights=weights),
                                                 *spec.layers[1:]])
    out = folder / f"corrupted_{header.name}"
    out.write_text(render_header(spec, "tests corrupted"))
    return out


def test_the_references_are_exact_for_fixed_point_and_within_tolerance_otherwise(checked_bank):
    headers, checks = checked_bank
    for header, check in zip(headers, checks, strict=True):
        spec = read_header(header)
        assert spec.self_check is not None and spec.self_check.frames == CHECK_FRAMES
        np.testing.assert_array_equal(spec.self_check.outputs, check.outputs)
        exact = spec.family == "wavenet" and spec.number_format != "float32"
        assert (check.tolerance == 0) == exact, header.name
        assert check.instructions_per_sample > 0


def test_the_float_tolerance_holds_four_times_what_an_x86_build_differs_by(checked_bank):
    """The stated justification: the same engine compiled for x86-64 (another compiler, no
    fused multiply-add) stays within a quarter of the tolerance on the check input."""
    from daisynet.host_sim.native import NativeEngine

    headers, checks = checked_bank
    for header, check in zip(headers, checks, strict=True):
        spec = read_header(header)
        engine = NativeEngine(header)
        engine.reset()
        native = engine.render(check_inputs(spec.input_names), CHECK_BLOCK)
        difference = np.abs(native[check.stride - 1::check.stride] - check.outputs).max()
        if check.tolerance == 0:
            assert difference == 0, header.name
        else:
            scale = max(1.0, float(np.abs(check.outputs).max()))
            assert check.tolerance == pytest.approx(FLOAT_TOLERANCE * scale)
            assert difference <= check.tolerance / 4, (header.name, difference)


def test_every_model_passes_natively_and_a_corrupted_weight_fails_and_is_silent(checked_bank,
                                                                                 tmp_path):
    from daisynet.host_sim.native import NativePatchRunner

    headers, _ = checked_bank
    runner = NativePatchRunner(headers)
    assert [runner.check(slot)["verdict"] for slot in range(4)] == ["pass"] * 4
    bad = corrupted(headers[1], tmp_path)
    runner = NativePatchRunner([headers[0], bad])
    good, failed = runner.check(0), runner.check(1)
    assert good["verdict"] == "pass" and failed["verdict"] == "FAIL"
    assert failed["max_error"] > 100 * read_header(bad).self_check.tolerance
    jacks = np.zeros((48 * 20, 4), np.float32)
    jacks[:, 0] = np.sin(np.arange(48 * 20) * 0.05)
    knobs = np.array([0.4, 0.6, 0.0, 0.0], np.float32)
    assert runner.select(1)
    blocks = [runner.process(jacks[i:i + 48], knobs) for i in range(0, len(jacks), 48)]
    assert runner.active == 1 and not np.concatenate(blocks)[runner.fade_frames:].any()
    line, oled = runner.status_text({"seconds": 1, "clock_hz": 400_000_000,
                                     "budget_cycles_per_sample": 8333, "cycles_per_sample": 0,
                                     "model_cycles_per_sample": 0, "p99_cycles_per_sample": 0,
                                     "max_cycles_per_sample": 0, "overruns": 0, "callbacks": 0,
                                     "non_finite": 0})
    assert " check=FAIL " in line and oled[0] == "check FAIL: silent"


def test_on_the_emulated_m7_every_model_passes_and_a_corrupted_weight_fails(checked_bank,
                                                                           tmp_path):
    from daisynet.host_sim.m7 import M7Bank

    headers, checks = checked_bank
    bank = M7Bank([*headers, corrupted(headers[2], tmp_path)])
    results = [slot.self_check() for slot in bank.slots]
    assert [result["verdict"] for result in results] == ["pass"] * 4 + ["FAIL"]
    assert [result["max_error"] for result in results[:3]] == [0.0] * 3  # the same build
    # The check's process() calls cost what the reference run measured, to a few percent
    # (the check also feeds the engine through the Slot's function pointers).
    for result, check in zip(results[:4], checks, strict=True):
        assert result["instructions_per_sample"] == pytest.approx(
            check.instructions_per_sample, rel=0.05)


def test_a_header_without_a_reference_says_none_and_plays(tmp_path):
    from daisynet.host_sim.model_defn import Architecture
    from daisynet.host_sim.native import NativePatchRunner
    from daisynet.host_sim.quantize import random_spec

    header = tmp_path / "unchecked.h"
    header.write_text(render_header(random_spec(Architecture(3, (4,), 2), 1, PATCH_INPUTS),
                                    "test"))
    runner = NativePatchRunner(header)
    assert runner.check(0)["verdict"] == "none"
    jacks = np.ones((48, 4), np.float32)
    assert runner.process(jacks, np.full(4, 0.5, np.float32)).any()


def test_adding_a_reference_changes_nothing_else_in_the_header(tmp_path):
    from daisynet.host_sim.model_defn import Architecture
    from daisynet.host_sim.quantize import random_spec

    require_tool("arm-none-eabi-g++")
    require_tool("qemu-system-arm")
    spec = random_spec(Architecture(3, (4, 4), 2), 7, PATCH_INPUTS)
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(spec, "test"))
    check = add_self_check(header)
    assert header.read_text() == render_header(dataclasses.replace(spec, self_check=check),
                                               "test")
    with pytest.raises(ValueError, match="already holds a self-check reference"):
        add_self_check(header)
