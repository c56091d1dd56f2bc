"""The generated C++ of a model bank (firmware/core/bank_slot.h): one translation unit per slot,
each compiling the engine of its own model_defn.h in a namespace of its own, and the header
that lists the slots for the code that switches between them."""

from __future__ import annotations

import shutil
from pathlib import Path

MAX_SLOTS = 16  # firmware/core/bank_slot.h kMaxSlots; more would not fit the flash anyway


def slot_header_name(index: int) -> str:
    """The file name slot ``index``'s model_defn.h is copied to beside its source."""
    return f"slot_{index}_model_defn.h"


def slot_source_name(index: int) -> str:
    return f"slot_{index}.cc"


def slot_source(index: int, max_block: int, made_by: str, engine_section: str = "") -> str:
    """Slot ``index``'s translation unit: its engine in namespace daisynet_slot_INDEX, blocks of
    at most ``max_block`` frames, in the linker section ``engine_section`` if one is given,
    described by the constant daisynet_bank::kSlotINDEX."""
    placement = ("#define DAISYNET_BANK_ENGINE_PLACEMENT "
                 f'__attribute__((section("{engine_section}")))\n' if engine_section else "")
    return (f"// GENERATED FILE, do not edit. Made by: {made_by}\n"
            f"// Slot {index} of a model bank (firmware/core/bank_slot_impl.h).\n"
            f"#define daisynet daisynet_slot_{index}\n"
            f'#define DAISYNET_MODEL_HEADER "{slot_header_name(index)}"\n'
            f"{placement}"
            '#include "bank_slot_impl.h"\n'
            f"DAISYNET_BANK_SLOT(kSlot{index}, {max_block})\n")


def slots_header(count: int, made_by: str, morph_control: int = -1) -> str:
    """bank_slots.h: the bank's ``count`` slots in order (daisynet_bank::kSlots), and the Patch
    control (0..3) that morphs between neighbours, -1 for none (daisynet_bank::kMorphControl)."""
    if not 1 <= count <= MAX_SLOTS:
        raise ValueError(f"a bank holds 1 to {MAX_SLOTS} models, not {count}")
    declarations = "".join(f"extern const Slot kSlot{i};\n" for i in range(count))
    slots = ", ".join(f"&kSlot{i}" for i in range(count))
    return (f"// GENERATED FILE, do not edit. Made by: {made_by}\n"
            "// The slots of a model bank, in the order they were given.\n"
            "#pragma once\n\n"
            "#include <cstddef>\n\n"
            '#include "bank_slot.h"\n\n'
            "namespace daisynet_bank {\n\n"
            f"{declarations}\n"
            f"inline constexpr std::size_t kBankSize = {count};\n"
            f"inline constexpr const Slot* kSlots[kBankSize] = {{{slots}}};\n"
            f"inline constexpr int kMorphControl = {morph_control};\n\n"
            "}  // namespace daisynet_bank\n")


def write_bank_sources(headers: list[Path], out_dir: Path, max_block: int,
                       made_by: str, engine_section: str = "", morph_control: int = -1
                       ) -> list[Path]:
    """Into ``out_dir``: bank_slots.h, and per slot its header's copy and its translation unit
    (returned, in slot order) for engines of blocks up to ``max_block`` frames, placed in the
    linker section ``engine_section`` if one is given; ``morph_control`` as slots_header's."""
    (out_dir / "bank_slots.h").write_text(slots_header(len(headers), made_by, morph_control))
    sources = []
    for index, header in enumerate(headers):
        shutil.copyfile(header, out_dir / slot_header_name(index))
        sources.append(out_dir / slot_source_name(index))
        sources[-1].write_text(slot_source(index, max_block, made_by, engine_section))
    return sources
