"""platformio.ini: PlatformIO accepts it, and each Daisy app env builds what it should."""

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from daisynet.host_sim.daisy_target import daisy_target
from daisynet.tools.capture import PRODUCT_HINT
from daisynet.tools.device.flash import FlashError, find_platformio, platformio_environment

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pio():
    try:
        return find_platformio()
    except FlashError as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(err))
        pytest.skip(str(err))


def test_lint_finds_no_errors_or_unknown_options(pio):
    result = subprocess.run([pio, "project", "config", "--lint", "-d", str(REPO)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "free from linting errors" in result.stdout
    assert "Ignore unknown" not in result.stdout + result.stderr


def test_each_app_env_picks_its_own_sources_and_the_core(pio):
    result = subprocess.run([pio, "project", "config", "--json-output", "-d", str(REPO)],
                            capture_output=True, text=True, timeout=120, check=True)
    sections = {name: dict(options) for name, options in json.loads(result.stdout)}
    assert sections["platformio"]["src_dir"] == str(REPO / "firmware")
    for app in ("inference", "datalogger"):
        env = sections[f"env:{app}"]
        assert env["build_src_filter"] == [f"-<*> +<{app}/>"]
        assert (REPO / "firmware" / app / "main.cpp").exists()
        # `daisynet capture` finds the device by "daisy" in its USB product string, which
        # STM32duino reads from USB_PRODUCT_STRING (not USB_PRODUCT).
        product = [flag for flag in env["build_flags"] if "USB_PRODUCT" in flag]
        assert len(product) == 1 and "USB_PRODUCT_STRING=" in product[0]
        assert PRODUCT_HINT in product[0].lower()
    daisy = sections["daisy"]
    # Pinned: the figures in README.md were checked against platform-ststm32 19.6.0.
    assert (daisy["platform"], daisy["board"], daisy["framework"]) == (
        "ststm32@19.6.0", "electrosmith_daisy", "arduino")
    assert daisy["upload_protocol"] == "dfu"
    assert daisy["build_unflags"] == "-Os"
    flags = daisy["build_flags"].split("\n")
    assert "-D PIO_FRAMEWORK_ARDUINO_ENABLE_CDC" in flags
    # model_defn.h comes from firmware/model/ unless `daisynet flash --model` adds its own
    # folder to build_flags (test_flash_puts_its_header_before_the_default).
    assert "-I firmware/model" not in flags
    assert daisy["build_src_flags"].split() == ["-I", "firmware/model"]
    # The real build gets the same machine and optimisation flags as the emulated M7 build.
    target = daisy_target()
    for app in ("inference", "datalogger"):
        expanded = " ".join(sections[f"env:{app}"]["build_flags"]).split()
        assert all(flag in expanded for flag in [*target.machine_flags, *target.optimize_flags])
    assert target.machine_flags == ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv4-sp-d16",
                                    "-mfloat-abi=hard"]
    assert target.core_clock_hz == 400_000_000
    datalogger_flags = sections["env:datalogger"]["build_flags"]
    assert "-D CDC_TRANSMIT_QUEUE_BUFFER_PACKET_NUMBER=16" in datalogger_flags
    assert "DaisyDuino" in daisy["lib_deps"]
    assert "test_dir" not in sections["platformio"]  # tests/ is pytest's, not PlatformIO's


def test_flash_puts_its_header_before_the_default(pio, tmp_path):
    """PlatformIO puts build_flags on the include path before build_src_flags (see
    tools/device/flash.py platformio_environment); here, that it appends flash's folder to
    build_flags and leaves build_src_flags, which names firmware/model/, as it is."""
    staged = tmp_path / "staged model"
    result = subprocess.run([pio, "project", "config", "--json-output", "-d", str(REPO)],
                            capture_output=True, text=True, timeout=120, check=True,
                            env=platformio_environment(tmp_path, staged))
    sections = {name: dict(options) for name, options in json.loads(result.stdout)}
    for app in ("inference", "datalogger"):
        env = sections[f"env:{app}"]
        assert shlex.split(env["build_flags"][-1]) == ["-I", str(staged)]
        assert not any("firmware/model" in flag for flag in env["build_flags"])
        assert env["build_src_flags"] == ["-I firmware/model"]
