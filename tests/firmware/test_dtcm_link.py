"""firmware/inference/dtcm.ld linked into the Daisy's memory layout: no two sections overlap.

The app's link adds dtcm.ld to STM32duino's DAISY_SEED.ld, which PlatformIO brings. The test
links with a stand-in for that script: its MEMORY regions in the same order (ld gives a section
without a region the first region its flags match, the DTCM) and its RAM sections in the same
regions, so a section dtcm.ld leaves unplaced lands where it would on the Daisy.
"""

import re
import subprocess
from pathlib import Path

from daisynet.host_sim.daisy_target import DTCM_BYTES, INTERNAL_FLASH_BYTES, daisy_target
from tests.conftest import require_tool

REPO = Path(__file__).resolve().parents[2]

# STM32duino 2.12.0's DAISY_SEED.ld (variants/STM32H7xx/H742I...H753II(K-T)): regions in its
# order, and where it puts each kind of section.
DAISY_SEED_LAYOUT = f"""
MEMORY
{{
  DTCMRAM (xrw) : ORIGIN = 0x20000000, LENGTH = {DTCM_BYTES}
  ITCMRAM (xrw) : ORIGIN = 0x00000000, LENGTH = 64K
  RAM_D1  (xrw) : ORIGIN = 0x24000000, LENGTH = 512K
  RAM_D2  (xrw) : ORIGIN = 0x30000000, LENGTH = 288K
  FLASH   (rx)  : ORIGIN = 0x08000000, LENGTH = {INTERNAL_FLASH_BYTES}
  SDRAM   (xrw) : ORIGIN = 0xC0000000, LENGTH = 64M
}}
SECTIONS
{{
  .text : {{ *(.text*) *(.rodata*) }} >FLASH
  .data : {{ *(.data*) }} >RAM_D1 AT> FLASH
  .bss : {{ *(.bss*) *(COMMON) }} >RAM_D1
  .sram1_bss (NOLOAD) : {{ *(.sram1_bss*) }} >RAM_D2
  ._user_heap_stack : {{ . = ALIGN(8); . = . + 0x600; }} >RAM_D1
  .sdram_bss (NOLOAD) : {{ *(.sdram_bss*) }} >SDRAM
}}
"""

# One object in each kind of RAM section the apps use, .noinit among them.
PROGRAM = """
__attribute__((section(".dtcm_bss"))) float engine_state[1024];
__attribute__((section(".noinit"))) unsigned kept_across_resets[4];
__attribute__((section(".sram1_bss"))) float dma_buffer[64];
unsigned zeroed_counter;
int main() {
  engine_state[1] = 1.0f;
  kept_across_resets[0] += 1;
  dma_buffer[2] = 2.0f;
  zeroed_counter += 1;
  return static_cast<int>(engine_state[0] + dma_buffer[0]) + kept_across_resets[1] + zeroed_counter;
}
"""


def allocated_sections(elf: Path) -> list[tuple[str, int, int]]:
    """(name, address, size) of each non-empty section that takes memory on the target."""
    lines = subprocess.run([require_tool("arm-none-eabi-objdump"), "-h", str(elf)],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    sections = []
    for line, flags in zip(lines, lines[1:], strict=False):
        match = re.match(r"\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s", line)
        if match and "ALLOC" in flags and int(match.group(2), 16):
            sections.append((match.group(1), int(match.group(3), 16), int(match.group(2), 16)))
    return sections


def test_the_inference_link_places_every_section_apart(tmp_path):
    compiler = require_tool("arm-none-eabi-g++")
    (tmp_path / "daisy_seed_layout.ld").write_text(DAISY_SEED_LAYOUT)
    (tmp_path / "program.cc").write_text(PROGRAM)
    target = daisy_target()
    elf = tmp_path / "program.elf"
    # --no-check-sections: an overlap must reach the check below, NOLOAD or not.
    subprocess.run(
        [compiler, *target.machine_flags, *target.optimize_flags, *target.cxx_flags,
         "-nostdlib", "-Wl,--entry=main", "-Wl,--no-check-sections",
         f"-Wl,--default-script={tmp_path / 'daisy_seed_layout.ld'}",
         f"-Wl,-T,{REPO / 'firmware' / 'inference' / 'dtcm.ld'}",
         str(tmp_path / "program.cc"), "-o", str(elf)],
        capture_output=True, text=True, check=True)
    sections = allocated_sections(elf)
    assert {".dtcm_bss", ".noinit", ".bss", ".sram1_bss"} <= {name for name, _, _ in sections}
    for index, (name, start, size) in enumerate(sections):
        for other, other_start, other_size in sections[index + 1:]:
            assert start + size <= other_start or other_start + other_size <= start, (
                f"{name} [{start:#x}, +{size}) overlaps {other} [{other_start:#x}, +{other_size})")
