"""`daisynet bench --bank` measures several models as one bank in one image: each slot's
footprint and load at the Daisy's block, the bank's flash against the room the inference app
leaves, and the two costliest slots together."""

import pytest

from daisynet.host_sim.daisy_target import model_flash_budget
from daisynet.host_sim.m7 import M7Engine
from daisynet.host_sim.model_defn import Architecture, GruArchitecture, render_header
from daisynet.host_sim.quantize import random_gru_spec, random_spec
from daisynet.tools.cli import main
from daisynet.tools.measure.bench import bench_bank
from daisynet.tools.measure.plan import PLAN_BLOCK
from daisynet.training.export import excitation
from tests.conftest import require_tool

NAMES = ["knob_1", "audio_in_1"]


@pytest.mark.m7
@pytest.mark.native
def test_bench_bank_measures_each_slot_and_the_bank_against_the_flash_room(tmp_path):
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm"):
        require_tool(tool)
    wavenet, gru = tmp_path / "wavenet.h", tmp_path / "gru.h"
    wavenet.write_text(render_header(random_spec(Architecture(2, (4, 4), 3), 1, NAMES), "t"))
    gru.write_text(render_header(random_gru_spec(GruArchitecture(2, 12, 1, skip_input=1), 2,
                                                 NAMES), "t"))
    said = []
    result = bench_bank([wavenet, gru, wavenet], 0.01, said.append)
    slots = result["slots"]
    assert [row["model"] for row in slots] == ["daisynet_wavenet", "daisynet_gru",
                                              "daisynet_wavenet"]
    assert result["flash_bytes"] == (result["shared_flash_bytes"]
                                     + sum(row["flash_bytes"] for row in slots))
    assert result["flash_room_bytes"] == model_flash_budget()
    assert result["fits_flash"] and said[-3].endswith("models: fits")
    # Each slot costs what its model alone costs, but for the call through the Slot record.
    for row, header in ((slots[0], wavenet), (slots[1], gru)):
        alone = M7Engine(header).run(excitation(NAMES, 480, 48_000), PLAN_BLOCK)
        assert row["instructions_per_sample"] == pytest.approx(
            alone.instructions_per_sample, rel=0.02)
    assert slots[0]["instructions_per_sample"] == slots[2]["instructions_per_sample"]
    assert result["costliest_pair_instructions_per_sample"] == pytest.approx(
        slots[1]["instructions_per_sample"] + slots[0]["instructions_per_sample"])
    assert said[-2].startswith("pair     the two costliest, slots 1 and ")
    # Morphing runs each slot with the next one.
    per_slot = [row["instructions_per_sample"] for row in slots]
    assert result["morph_pairs_instructions_per_sample"] == pytest.approx(
        [per_slot[0] + per_slot[1], per_slot[1] + per_slot[2], per_slot[2] + per_slot[0]])
    assert said[-1].startswith("morph    with `flash --morph`, each model and the next run "
                               "together: 0+1 ")


def test_bench_takes_a_bank_or_one_header_not_both(capsys):
    assert main(["bench", "a.h", "--bank", "b.h", "c.h"]) == 1
    assert capsys.readouterr().err.strip() == (
        "daisynet bench: error: a.h: give a bank's headers after --bank only")
