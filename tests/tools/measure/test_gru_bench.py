"""`daisynet bench` measures a GRU header on both firmware backends, as it does a wavenet's:
no per-sample baseline (the blog firmware's way of running a wavenet) and float32 only."""

import pytest

from daisynet.host_sim.model_defn import GruArchitecture, render_header
from daisynet.host_sim.quantize import random_gru_spec
from daisynet.tools.measure.bench import bench
from daisynet.tools.measure.plan import PLAN_BLOCK
from tests.conftest import require_tool

pytestmark = [pytest.mark.m7, pytest.mark.native]


@pytest.fixture(autouse=True)
def arm_toolchain():
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm", "g++"):
        require_tool(tool)


def test_bench_measures_a_gru_without_a_per_sample_baseline(tmp_path):
    header = tmp_path / "model_defn.h"
    spec = random_gru_spec(GruArchitecture(2, 8, 1, skip_input=1),
                           input_names=["knob_1", "audio_in_1"])
    header.write_text(render_header(spec, "test"))
    said = []
    result = bench(header, (1, PLAN_BLOCK), 0.02, log=said.append, formats=("q15", "q7"))
    assert "note: a GRU runs in float32 or q15 only: --quantize q7 is left out" in said
    assert result["formats"] == ["float32", "q15"]
    assert result["per_sample_instructions_per_sample"] is None
    rows = {(row["backend"], row["block_size"]): row for row in result["m7"]}
    assert set(rows) == {(b, n) for b in ("fast", "cmsis") for n in (1, PLAN_BLOCK)}
    for row in rows.values():
        assert row["allocations"] == 0 and row["speedup_vs_per_sample"] is None
        # At least one instruction per MAC; the fast backend well under the CMSIS one.
        assert row["instructions_per_mac"] >= 1
    assert (rows["fast", PLAN_BLOCK]["instructions_per_sample"]
            < rows["cmsis", PLAN_BLOCK]["instructions_per_sample"] / 2)
    assert result["real_time"]["verdict"] == "fits"
    assert result["python_realtime_factor"] > 0
