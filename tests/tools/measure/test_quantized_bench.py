"""`daisynet bench` and `daisynet plan` measure q15 and q7 beside float32 (issue 13)."""

import pytest

from daisynet.host_sim.model_defn import Architecture, read_header, render_header
from daisynet.tools.cli import main
from daisynet.tools.measure.bench import bench
from daisynet.tools.measure.plan import (
    PLAN_BLOCK,
    SAFETY_MARGIN,
    plan,
    quantized_header,
    random_spec,
)
from daisynet.training.export import excitation
from tests.conftest import require_tool


@pytest.fixture(autouse=True)
def arm_toolchain():
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm", "g++"):
        require_tool(tool)


ARCH = Architecture(3, (4, 4, 4, 8), 4)  # the reference architecture


def test_bench_measures_each_format_of_the_same_model(tmp_path):
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(random_spec(ARCH), "test"))
    result = bench(header, (1, PLAN_BLOCK), 0.02, log=lambda _: None, formats=("q15", "q7"))
    assert result["formats"] == ["float32", "q15", "q7"]
    rows = {(row["format"], row["backend"], row["block_size"]): row for row in result["m7"]}
    assert set(rows) == {(f, b, n) for f in result["formats"] for b in ("fast", "cmsis")
                         for n in (1, PLAN_BLOCK)}
    for (number_format, backend, block), row in rows.items():
        assert row["allocations"] == 0
        assert row["instructions_per_mac"] == pytest.approx(
            row["instructions_per_sample"] / ARCH.macs_per_sample, abs=0.01)
        if block == PLAN_BLOCK:  # blocks pay off in every format
            assert row["instructions_per_sample"] < rows[number_format, backend, 1][
                "instructions_per_sample"]
    # Weight flash: the header's own count (arrays aligned to 16 bytes), about 1/2 and 1/4 of
    # float32's; the engines' flash shrinks with it.
    weights = result["weight_flash_bytes"]
    assert weights == {f: random_spec(ARCH).weight_flash_bytes(f) for f in result["formats"]}
    assert weights["float32"] == 1_872 and weights["q7"] < weights["q15"] < weights["float32"]
    footprint = result["m7_footprint_by_format"]
    assert footprint["float32"] == result["m7_footprint"]
    for number_format in ("q15", "q7"):
        assert footprint[number_format]["fast"]["flash_bytes"] < footprint["float32"]["fast"][
            "flash_bytes"]
    speeds = result["native_realtime_factor_by_format"]
    assert speeds["float32"] == result["native_realtime_factor"]
    assert all(set(speeds[f]) == {"fast", "cmsis"} and min(speeds[f].values()) > 1
               for f in result["formats"])


def test_plan_judges_each_quantized_format_like_bench(tmp_path):
    arch = Architecture(4, (12,) * 6, 2)
    result = plan(arch.inputs, arch.kernel_size, arch.filters, (48_000, 96_000),
                  log=lambda _: None, search=False, quantize=("q15", "q7"))
    assert set(result["formats"]) == {"q15", "q7"}
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(random_spec(arch), "test"))
    measured = bench(header, (PLAN_BLOCK,), 0.02, log=lambda _: None, formats=("q15", "q7"))
    for number_format, planned in result["formats"].items():
        row = next(row for row in measured["m7"]
                   if row["format"] == number_format and row["backend"] == "fast")
        assert planned["instructions_per_sample"] == pytest.approx(
            row["instructions_per_sample"], rel=0.02)
        assert planned["weight_flash_bytes"] == measured["weight_flash_bytes"][number_format]
        assert planned["engine_ram_bytes"] == measured["m7_footprint_by_format"][
            number_format]["fast"]["ram_bytes"]
        for verdict in planned["rates"]:
            load = planned["instructions_per_sample"] / (400e6 / verdict["sample_rate"])
            assert verdict["load"] == pytest.approx(load, abs=1e-3)
            assert not verdict["fits"] or verdict["load"] <= SAFETY_MARGIN
    assert result["weight_flash_bytes_float32"] == random_spec(arch).weight_flash_bytes()


def test_bench_measures_a_quantized_header_against_the_float_baseline(tmp_path):
    """Issue 22, item 6: a q15 header ended in a C++ compile error (the per-sample baseline
    is float only). Measured as it is, beside the baseline on the same weights in float32."""
    header = quantized_header(random_spec(ARCH), "q15", tmp_path / "q15.h",
                              excitation(random_spec(ARCH).input_names, 4_800, 48_000))
    lines = []
    result = bench(header, (PLAN_BLOCK,), 0.02, log=lines.append, formats=("q15", "q7"))
    assert result["formats"] == ["q15"]
    assert {row["format"] for row in result["m7"]} == {"q15"}
    assert result["per_sample_instructions_per_sample"] > max(
        row["instructions_per_sample"] for row in result["m7"])
    assert result["real_time"]["verdict"] == "fits"
    assert result["weight_flash_bytes"] == {"q15": read_header(header).weight_flash_bytes()}
    assert any("already q15" in line for line in lines)
    assert any("on the same weights in float32" in line for line in lines)


@pytest.mark.parametrize("command", [["bench", "--quantize", "q16"],
                                     ["plan", "--inputs", "1", "--kernel-size", "2",
                                      "--filters", "2", "--quantize", "float"]])
def test_unknown_formats_are_refused(command, capsys):
    with pytest.raises(SystemExit):
        main(command)
    assert "unknown format" in capsys.readouterr().err
