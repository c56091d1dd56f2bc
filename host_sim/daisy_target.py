"""The Daisy Patch as a target: its clock, compiler flags and flash, read from platformio.ini.

platformio.ini's ``[daisy]`` section is the one place these are written down (as ``custom_*``
options, which PlatformIO keeps for us and ignores itself). The emulated Cortex-M7 build
(host_sim/m7.py) compiles with exactly these flags, and every cycle budget uses this clock.
"""

from __future__ import annotations

import configparser
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORMIO_INI = REPO / "platformio.ini"
SECTION = "daisy"

# The Daisy Patch's hardware facts: every other module reads them from here.
# DaisyDuino's DAISY.init(DAISY_PATCH, AUDIO_SR_48K): the rate and default block both apps run at.
SAMPLE_RATE_HZ = 48_000
BLOCK_FRAMES = 48  # frames per audio callback; knobs are read once per block
# DaisyDuino scales the 24-bit codec by 1/postgain = 2: the audio callback sees -2..2.
AUDIO_FULL_SCALE = 2.0
# STM32H750: 128 KiB of internal flash hold the app's code and the model's weights.
INTERNAL_FLASH_BYTES = 128 * 1024
DTCM_BYTES = 128 * 1024  # tightly coupled data RAM, where the inference app puts engine state
# The datalogger's record store: 60 MiB of the Patch's 64 MB SDRAM (the rest: DaisyDuino's own).
SDRAM_RECORD_BYTES = 60 * 2**20
# USB: STM32duino's CDC device and the STM32H750's ROM DFU bootloader (vendor STMicroelectronics).
USB_VENDOR_ID = 0x0483
USB_CDC_PRODUCT_ID = 0x5740
USB_DFU_PRODUCT_ID = 0xDF11
# USB full speed: 64-byte bulk packets, 1,000 frames a second; daisynet plans on 1,000,000 B/s
# (the bus's ~1.2 MB/s less protocol overhead).
USB_PACKET_BYTES = 64
USB_FRAMES_PER_SECOND = 1000
USB_LINK_BYTES_PER_SECOND = 1_000_000
# Flash each app takes without its models (the engine's code is specialised per model, so code
# and weights both depend on it). Inference: a local build against the sources PlatformIO uses
# (platform-ststm32 19.6.0, STM32duino 2.12.0, CMSIS 6.3.0, CMSIS-DSP 1.16.2, DaisyDuino
# 0932d70, U8g2 2.36.17, nano.specs; Debian's GCC 12.2.1) with the default model as a bank of
# one and the fast engine took 98,432 B; less that model's own footprint as a bank slot in the
# emulated build with the same flags (6,877 B: host_sim.m7.build_bank_firmware([header],
# "fast").slots[0].flash_bytes). PlatformIO's toolchain is GCC 12.3.1, hence the margin.
# Re-measure when a pin, the app or the engine changes.
APP_FLASH_MEASURED_ON = "2026-12-04"
APP_FLASH_BYTES = {"inference": 91_555, "datalogger": 86_008}
FLASH_MARGIN_BYTES = 4 * 1024


def model_flash_budget(app: str = "inference") -> int:
    """Bytes of internal flash left for a model's engine code and weights beside ``app``,
    margin kept."""
    return INTERNAL_FLASH_BYTES - APP_FLASH_BYTES[app] - FLASH_MARGIN_BYTES


@dataclass(frozen=True)
class DaisyTarget:
    core_clock_hz: int
    machine_flags: list[str]  # -mcpu, -mfpu, float ABI: from the board definition
    optimize_flags: list[str]
    common_flags: list[str]  # every C and C++ file
    c_flags: list[str]
    cxx_flags: list[str]
    link_flags: list[str]

    def cycles_per_sample(self, sample_rate: float) -> float:
        """Core cycles available per sample at ``sample_rate`` Hz (8,333 at 48 kHz, 400 MHz)."""
        return self.core_clock_hz / sample_rate

    @property
    def clock_mhz(self) -> float:
        return self.core_clock_hz / 1e6


def cdc_queue_packets(app: str, path: Path = PLATFORMIO_INI) -> int:
    """64-byte packets in the USB CDC transmit queue of ``app``, as platformio.ini builds it
    (STM32duino's default is 2)."""
    for define in app_defines(app, path):
        name, _, value = define[2:].partition("=")
        if name == "CDC_TRANSMIT_QUEUE_BUFFER_PACKET_NUMBER":
            return int(value)
    return 2


def app_defines(app: str, path: Path = PLATFORMIO_INI) -> list[str]:
    """The -D flags platformio.ini gives the Daisy app ``app`` ([daisy] and [env:APP]
    build_flags), as compiler arguments ``-DNAME=VALUE``."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(path)
    defines = []
    for section in (SECTION, f"env:{app}"):
        for line in config[section].get("build_flags", "").splitlines():
            words = shlex.split(line)  # '-D NAME="text"' stays one word, quotes inside kept
            if len(words) == 1 and words[0].startswith("-D "):
                words = ["-D", words[0][3:]]
            if len(words) == 2 and words[0] == "-D":
                defines.append(f"-D{words[1]}")
    return defines


@cache
def daisy_target(path: Path = PLATFORMIO_INI) -> DaisyTarget:
    """The ``[daisy]`` section of platformio.ini as a ``DaisyTarget``."""
    config = configparser.ConfigParser(interpolation=None)
    if not config.read(path):
        raise FileNotFoundError(f"{path}: not found; the Daisy's compiler flags are read from it")
    if not config.has_section(SECTION):
        raise ValueError(f"{path} has no [{SECTION}] section")
    section = config[SECTION]

    def flags(option: str) -> list[str]:
        if option not in section:
            raise ValueError(f"{path}: [{SECTION}] lacks {option}")
        return shlex.split(section[option])

    return DaisyTarget(
        core_clock_hz=int(section["custom_core_clock_hz"]),
        machine_flags=flags("custom_machine_flags"),
        optimize_flags=flags("custom_optimize_flags"),
        common_flags=flags("custom_common_flags"),
        c_flags=flags("custom_c_flags"),
        cxx_flags=flags("custom_cxx_flags"),
        link_flags=flags("custom_link_flags"),
    )
