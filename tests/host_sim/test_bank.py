"""A model bank natively: every slot, each compiled in a translation unit of its own with its
own model_defn.h (host_sim/bank.py, firmware/core/bank_slot_impl.h), computes exactly what its
model's own engine computes, keeps its own state, and allocates nothing."""

import numpy as np
import pytest

from daisynet.host_sim.bank import MAX_SLOTS, slot_source, slots_header
from daisynet.host_sim.m7 import M7Bank, M7Engine
from daisynet.host_sim.model_defn import Architecture, GruArchitecture, render_header
from daisynet.host_sim.native import NativeBank, NativeEngine
from daisynet.host_sim.quantize import (
    quantize_gru_spec,
    quantized_header_for,
    random_gru_spec,
    random_spec,
    synthetic_audio,
)
from tests.conftest import require_tool

BLOCK_SIZES = (1, 7, 48)


def write(tmp_path, name: str, spec) -> str:
    header = tmp_path / f"{name}.h"
    header.write_text(render_header(spec, f"test_bank {name}"))
    return header


@pytest.fixture(scope="module")
def bank_headers(tmp_path_factory):
    """Two float32 wavenets of different shapes, a q15 wavenet and a GRU (float and q15 both
    follow), with 2 or 3 inputs: what the bank must hold side by side."""
    folder = tmp_path_factory.mktemp("bank")
    two = ["knob_1", "audio_in_1"]
    gru = GruArchitecture(2, 8, 1, skip_input=1)
    _, q15_wavenet, _ = quantized_header_for(Architecture(3, (4, 4), 2), "q15", 3, folder,
                                             name="q15_wavenet.h")
    return [write(folder, "wavenet_a", random_spec(Architecture(2, (4, 4, 8), 3), 1, two)),
            write(folder, "wavenet_b", random_spec(Architecture(3, (6, 6), 2), 2,
                                                   ["knob_1", "knob_2", "audio_in_1"])),
            q15_wavenet,
            write(folder, "gru", random_gru_spec(gru, 4, two)),
            write(folder, "gru_q15", quantize_gru_spec(random_gru_spec(gru, 5, two)))]


@pytest.mark.native
def test_every_slot_computes_what_its_own_engine_does_bit_for_bit(bank_headers):
    bank = NativeBank(bank_headers)
    assert len(bank.slots) == len(bank_headers)
    for slot, header in zip(bank.slots, bank_headers, strict=True):
        engine = NativeEngine(header)
        assert (slot.inputs, slot.outputs, slot.weights_sha256) == (
            engine.inputs, engine.outputs, engine.weights_sha256)
        signal = synthetic_audio(1500, slot.inputs, seed=slot.index)
        for block in BLOCK_SIZES:
            slot.reset()
            engine.reset()
            assert np.array_equal(slot.render(signal, block), engine.render(signal, block)), (
                f"slot {slot.index} ({header.name}), blocks of {block}")


@pytest.mark.native
def test_slots_keep_their_own_state_and_allocate_nothing_after_init(bank_headers):
    # The same model twice: interleaved, each slot must go on as if alone.
    bank = NativeBank([bank_headers[3], bank_headers[3], bank_headers[0]])
    first, second, other = bank.slots
    signal = synthetic_audio(960, first.inputs, seed=9)
    alone = first.render(signal, 48)
    for slot in bank.slots:
        slot.reset()
    allocations = bank.allocations
    together = []
    for start in range(0, len(signal), 48):
        together.append(first.process(signal[start:start + 48]))
        second.process(signal[::-1][start:start + 48])  # other input, same model
        other.process(synthetic_audio(48, other.inputs, seed=start))
    assert np.array_equal(np.concatenate(together), alone)
    assert bank.allocations == allocations
    assert first.non_finite_outputs == second.non_finite_outputs == 0


@pytest.mark.m7
@pytest.mark.native
def test_on_the_m7_every_slot_runs_its_model_exactly_as_an_image_of_it_alone(bank_headers):
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm"):
        require_tool(tool)
    bank = M7Bank(bank_headers)
    for index, (slot, header) in enumerate(zip(bank.slots, bank_headers, strict=True)):
        alone = M7Engine(header)
        signal = synthetic_audio(300, slot.inputs, seed=index)
        for block in BLOCK_SIZES:
            run = slot.run(signal, block)
            assert np.array_equal(run.outputs, alone.render(signal, block)), (
                f"slot {index} ({header.name}), blocks of {block}")
            assert run.allocations == 0
        # A slot costs what an image of its model alone costs (its engine in .bss, nothing in
        # .data), plus its Slot record (with its self-check reference) and entry points in flash.
        assert slot.build.ram_bytes == alone.build.ram_bytes
        assert alone.build.flash_bytes <= slot.build.flash_bytes <= alone.build.flash_bytes + 288
    assert bank.build.flash_bytes == (bank.build.shared_flash_bytes
                                      + sum(slot.build.flash_bytes for slot in bank.slots))


def test_the_generated_sources_name_their_maker_and_refuse_an_empty_or_huge_bank():
    assert slot_source(2, 48, "flash").startswith("// GENERATED FILE, do not edit. Made by: flash")
    assert "kBankSize = 3" in slots_header(3, "test")
    for count in (0, MAX_SLOTS + 1):
        with pytest.raises(ValueError, match=f"1 to {MAX_SLOTS} models, not {count}"):
            slots_header(count, "test")


def _players_bank(bank_headers):
    """Slots 0 and 1: a wavenet and a GRU of the same inputs (knob_1, audio_in_1)."""
    return NativeBank([bank_headers[0], bank_headers[3]])


@pytest.mark.native
def test_a_switch_resets_the_new_slot_and_crossfades_to_it_without_a_jump(bank_headers):
    fade, switch_block = 200, 5
    bank = _players_bank(bank_headers)
    player = bank.player(fade)
    signal = synthetic_audio(48 * 20, 2, seed=11)
    allocations = bank.allocations
    played = []
    for index, start in enumerate(range(0, len(signal), 48)):
        if index == switch_block:
            assert player.select(1) and player.active == 0  # from the next block
        played.append(player.process(signal[start:start + 48]))
        if index == switch_block:
            assert player.active == 1 and not player.select(2)
    played = np.concatenate(played)
    assert bank.allocations == allocations
    # What the player must have played: slot 0 alone, then slot 1 from silence at the switch,
    # the new one's share rising 1/fade .. 1 over the fade.
    at = 48 * switch_block
    old = NativeEngine(bank_headers[0]).render(signal, 48)
    new = np.zeros_like(old)
    new[at:] = NativeEngine(bank_headers[3]).render(signal[at:], 48)
    share = np.clip((np.arange(len(signal)) - at + 1) / fade, 0, 1)[:, None]
    expected = np.where(np.arange(len(signal))[:, None] < at, old, old + share * (new - old))
    np.testing.assert_allclose(played, expected, atol=1e-6)
    # No jump: a frame moves at most as far as either model's own output moves, plus the
    # gap between them spread over the fade; an abrupt switch jumps by the whole gap.
    steps = np.abs(np.diff(played[at - 1 : at + fade + 1], axis=0))
    bound = (np.abs(np.diff(old[at - 1 : at + fade + 1], axis=0))
             + np.abs(np.diff(new[at - 1 : at + fade + 1], axis=0))
             + np.max(np.abs(new - old)[at : at + fade]) / fade + 1e-6)
    assert np.all(steps <= bound)


@pytest.mark.native
def test_the_player_refuses_slots_of_other_inputs_and_a_selection_waits_for_the_fade(
        bank_headers):
    with pytest.raises(ValueError, match="differ in inputs or outputs"):
        NativeBank([bank_headers[0], bank_headers[1]]).player(48)  # 2 and 3 inputs
    player = _players_bank(bank_headers).player(100)
    signal = synthetic_audio(48, 2, seed=1)
    assert player.select(1)
    player.process(signal)  # the fade to slot 1 starts: 48 of its 100 frames
    assert player.select(0)
    player.process(signal)
    assert player.active == 1  # slot 0 waits for the fade's end
    player.process(signal)  # the fade ends in this block; the switch back comes next
    player.process(signal)
    assert player.active == 0
    # A call longer than the player's 64-frame steps plays what shorter calls play.
    # (The library holds one player: each player() starts it afresh.)
    long = synthetic_audio(300, 2, seed=2)
    whole = _players_bank(bank_headers).player(100)
    whole.select(1)
    at_once = whole.process(long)
    in_blocks = _players_bank(bank_headers).player(100)
    in_blocks.select(1)
    blocks = np.concatenate([in_blocks.process(long[i:i + 50]) for i in range(0, 300, 50)])
    np.testing.assert_array_equal(at_once, blocks)
