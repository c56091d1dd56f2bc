"""`daisynet plan`: its verdicts agree with what `daisynet bench` measures on the same model."""

import pytest

from host_sim.daisy_target import model_flash_budget
from host_sim.model_defn import Architecture, render_header
from tests.conftest import require_tool
from tools.bench import bench
from tools.plan import DTCM_BYTES, PLAN_BLOCK, SAFETY_MARGIN, plan, random_spec

RATES = (32_000, 48_000, 96_000)


@pytest.fixture(autouse=True)
def arm_toolchain():
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm", "g++"):
        require_tool(tool)


@pytest.mark.parametrize("inputs, filters, kernel, verdicts", [
    (3, (4, 4, 4, 8), 4, (True, True, True)),  # the reference
    (4, (12,) * 6, 2, (True, True, False)),  # 2,412 MACs/sample: over the margin at 96 kHz
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
