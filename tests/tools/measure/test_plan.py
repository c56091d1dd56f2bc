"""`daisynet plan`: its verdicts agree with what `daisynet bench` measures on the same model, and
its search for the widest and deepest architecture that fit finds the boundary."""

import math

import pytest

import daisynet.tools.measure.plan
from daisynet.host_sim.daisy_target import DTCM_BYTES, model_flash_budget
from daisynet.host_sim.model_defn import Architecture, render_header
from daisynet.host_sim.quantize import random_spec
from daisynet.tools.measure.bench import bench
from daisynet.tools.measure.plan import (
    DEEPEST_SEARCHED,
    PLAN_BLOCK,
    SAFETY_MARGIN,
    WIDEST_SEARCHED,
    Measurement,
    fits_at,
    history_bytes,
    measure,
    plan,
    search_limits,
)
from tests.conftest import require_tool

pytestmark = [pytest.mark.m7, pytest.mark.native]

RATES = (32_000, 48_000, 96_000)


@pytest.fixture
def arm_toolchain():
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm", "g++"):
        require_tool(tool)


@pytest.mark.usefixtures("arm_toolchain")
@pytest.mark.parametrize("inputs, filters, kernel, verdicts", [
    (3, (4, 4, 4, 8), 4, (True, True, True)),  # the reference
    (4, (16,) * 5, 2, (True, True, False)),  # 3,472 MACs/sample: over the margin at 96 kHz
    (4, (24,) * 6, 3, (False, False, False)),  # 12,408 MACs/sample, 50 KB of weights
])
def test_plan_verdicts_agree_with_bench(inputs, filters, kernel, verdicts, tmp_path):
    result = plan(inputs, kernel, filters, RATES, log=lambda _: None, search=False)
    arch = Architecture(inputs, filters, kernel)
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(random_spec(arch), "test"))
    measured = bench(header, (PLAN_BLOCK,), 0.02, log=lambda _: None)
    fast = next(row for row in measured["m7"] if row["backend"] == "fast")
    assert result["instructions_per_sample"] == pytest.approx(fast["instructions_per_sample"],
                                                              rel=0.02)
    ram = measured["m7_footprint"]["fast"]["ram_bytes"]
    assert result["engine_ram_bytes"] == ram
    for verdict in result["rates"]:
        rate = verdict["sample_rate"]
        expected = (fast[f"load_at_{rate}_hz"] <= SAFETY_MARGIN and ram <= DTCM_BYTES
                    and measured["m7_footprint"]["fast"]["flash_bytes"]
                    <= model_flash_budget())
        assert verdict["fits"] == expected, f"{rate} Hz"
    assert tuple(verdict["fits"] for verdict in result["rates"]) == verdicts
    assert result["receptive_field_samples"] == kernel ** len(filters)
    assert result["macs_per_sample"] == measured["macs_per_sample"]


# The search asks its question about a dozen architectures; on the emulated M7 that is a dozen
# builds and runs. Its logic is tested with a stand-in question instead: a cost that grows with
# the MACs and the layers, like the engine's, against a budget.
def cheap_fits(budget: float):
    asked = []

    def fits_on(arch: Architecture) -> bool:
        asked.append(arch)
        return 1.3 * arch.macs_per_sample + 60 * len(arch.filters) <= budget

    return fits_on, asked


def largest(ok, high):
    """The exhaustive answer: the largest n in 1..high with ok(n), or None."""
    return max((n for n in range(1, high + 1) if ok(n)), default=None)


@pytest.mark.parametrize("inputs, kernel, filters, budget", [
    (4, 3, (16,) * 6, 6_667),  # 80% of 8,333 cycles: the 5,584-MAC model
    (3, 4, (4, 4, 4, 8), 1_000),  # the reference, in a tight budget
    (1, 2, (2, 2), 100),  # only the smallest fit
    (1, 2, (2, 2), 10),  # nothing fits, not even one filter or one block
    (1, 2, (1,), 1e9),  # everything fits: the searched ranges' ends
])
def test_search_finds_the_widest_and_deepest_that_fit(inputs, kernel, filters, budget):
    fits_on, asked = cheap_fits(budget)
    widest, deepest = search_limits(inputs, kernel, filters, fits_on)
    searched = len(asked)

    blocks = len(filters)
    assert widest == largest(
        lambda n: fits_on(Architecture(inputs, (n,) * blocks, kernel)), WIDEST_SEARCHED)
    assert deepest == largest(
        lambda n: fits_on(Architecture(inputs, (filters[-1],) * n, kernel)), DEEPEST_SEARCHED)
    # A binary search: 1 + log2 questions per range, not one per candidate.
    assert searched <= (2 + math.ceil(math.log2(WIDEST_SEARCHED))
                        + 2 + math.ceil(math.log2(DEEPEST_SEARCHED)))
    # Every question was about the architecture the answer names: same inputs and kernel,
    # `blocks` blocks of one width, or blocks of the last block's filters.
    for arch in asked[:searched]:
        assert (arch.inputs, arch.kernel_size) == (inputs, kernel)
        assert ((len(arch.filters) == blocks and len(set(arch.filters)) == 1)
                or set(arch.filters) == {filters[-1]})


def test_plan_reports_the_search_with_the_measurement_it_would_make(monkeypatch):
    """plan() end to end with a stand-in for the emulated M7: its search agrees with asking
    fits_at about every candidate, and the weights alone rule out a build."""
    measured = []

    def stand_in(arch: Architecture, number_format: str = "float32") -> Measurement:
        measured.append(arch)
        return Measurement(instructions_per_sample=1.3 * arch.macs_per_sample + 60 * len(
            arch.filters), ram_bytes=1_000 * len(arch.filters), weight_bytes=4 * arch.parameters,
            flash_bytes=4 * arch.parameters + 6_000)

    monkeypatch.setattr(daisynet.tools.measure.plan, "measure", stand_in)
    lines = []
    result = plan(4, 3, (16,) * 6, RATES, log=lines.append)
    searched = len(measured)

    def exhaustive(make, high):
        return largest(lambda n: fits_at(make(n)), high)

    assert result["widest_uniform_filters"] == exhaustive(
        lambda n: Architecture(4, (n,) * 6, 3), WIDEST_SEARCHED)
    assert result["deepest_blocks"] == exhaustive(
        lambda n: Architecture(4, (16,) * n, 3), DEEPEST_SEARCHED)
    # Boundaries inside both ranges, so the search had something to find.
    assert 1 < result["widest_uniform_filters"] < WIDEST_SEARCHED
    assert 1 < result["deepest_blocks"] < DEEPEST_SEARCHED
    assert f"widest uniform filters for 6 blocks: {result['widest_uniform_filters']}" in lines[-1]
    # No candidate whose weights alone overflow the flash was measured.
    assert all(4 * arch.parameters <= model_flash_budget() for arch in measured[:searched])
    assert searched <= 1 + 2 * (2 + math.ceil(math.log2(WIDEST_SEARCHED)))


def test_plan_says_why_a_model_does_not_fit(monkeypatch):
    """Issue 22, item 18: a model light on cycles but over the DTCM said "22.3% ... does NOT
    fit" with no reason, and a search that found nothing said "None"."""
    monkeypatch.setattr(daisynet.tools.measure.plan, "measure", lambda arch, *_: Measurement(
        instructions_per_sample=1_860.0, ram_bytes=DTCM_BYTES + 1, weight_bytes=1_000,
        flash_bytes=5_000))
    lines = []
    result = plan(3, 4, (4, 4, 4, 8), (48_000,), log=lines.append)
    assert result["rates"][0]["fits"] is False and result["rates"][0]["over"] == ["RAM"]
    row = next(line for line in lines if "48,000 Hz" in line)
    assert "22.3% of 8,333 cycles" in row and row.endswith("does NOT fit (RAM)")
    assert result["widest_uniform_filters"] is None and result["deepest_blocks"] is None
    assert lines[-1].endswith("widest uniform filters for 4 blocks: none fits, not even 1 "
                              "filter; deepest network of 8 filters: none fits, not even 1 block")
    assert "None" not in "\n".join(lines)


def test_a_history_over_the_dtcm_is_judged_without_a_build(monkeypatch):
    """Issue 22, item 9: kernel 8 and 8 blocks has a receptive field of 16.7 M samples; its
    build ended in a linker dump ("RAM overflowed"). Its history alone rules it out."""
    def no_build(*_):
        raise AssertionError("built a model whose history alone is over the DTCM")

    monkeypatch.setattr(daisynet.tools.measure.plan, "M7Engine", no_build)
    lines = []
    result = plan(3, 8, (4,) * 8, (48_000,), log=lines.append, search=False,
                  quantize=("q7",))
    arch = Architecture(3, (4,) * 8, 8)
    assert result["instructions_per_sample"] is None
    assert result["engine_ram_bytes"] == history_bytes(arch) > DTCM_BYTES
    assert result["rates"] == [{"sample_rate": 48_000, "cycles_per_sample": 8333.3,
                                "load": None, "fits": False, "over": ["RAM"]}]
    assert result["formats"]["q7"]["rates"][0]["over"] == ["RAM"]
    assert any(line.startswith("not measured: its layer history alone takes") for line in lines)


def test_weight_bytes_are_the_headers_own_count(monkeypatch):
    """Issue 22, item 24: plan and bench counted 4 bytes a parameter (1,860 B for the
    reference) where export and the header count each array aligned to 16 bytes (1,872 B)."""
    monkeypatch.setattr(daisynet.tools.measure.plan, "_measure",
                        lambda spec, header, weight_bytes: Measurement(1.0, 0, weight_bytes, 0))
    arch = Architecture(3, (4, 4, 4, 8), 4)
    spec = random_spec(arch)
    assert spec.weight_flash_bytes() == 1_872
    for number_format in ("float32", "q15", "q7"):
        assert measure(arch, number_format).weight_bytes == spec.weight_flash_bytes(
            number_format)


def test_the_search_line_counts_in_words(monkeypatch):
    """"for 1 blocks" (issue 22): one block, one filter, one block deep."""
    monkeypatch.setattr(daisynet.tools.measure.plan, "measure", lambda arch, *_: Measurement(
        instructions_per_sample=10.0, weight_bytes=16, flash_bytes=100,
        ram_bytes=100 if len(arch.filters) == 1 else DTCM_BYTES + 1))
    lines = []
    plan(1, 2, (1,), (48_000,), log=lines.append)
    assert lines[-1].endswith(f"widest uniform filters for 1 block: {WIDEST_SEARCHED}; deepest "
                              "network of 1 filter: 1 block")


def test_bench_refuses_a_history_over_the_dtcm_in_one_line(tmp_path, capsys):
    """The same model given to bench: one line, no build (it was a linker dump)."""
    from daisynet.tools.cli import main

    header = tmp_path / "model_defn.h"
    header.write_text(render_header(random_spec(Architecture(3, (4,) * 8, 8)), "test"))
    assert main(["bench", str(header)]) == 1
    err = capsys.readouterr().err
    assert "its layer history alone takes 268,435,412 B of RAM, over the Daisy's 131,072 B " \
           "DTCM" in err and err.count("\n") == 1
