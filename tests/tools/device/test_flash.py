"""`daisynet flash`: every check before PlatformIO, and the PlatformIO call itself."""

import os
import stat
from pathlib import Path

import pytest

from daisynet.host_sim.daisy_target import model_flash_budget
from daisynet.host_sim.model_defn import read_header
from daisynet.tools.cli import main
from daisynet.tools.device import flash as flash_module
from daisynet.training.export import export
from tests.conftest import require_tool
from tests.training.test_export import save_with_metadata


def fake_usb(root: Path, *ids: tuple[str, str]) -> Path:
    for number, (vendor, product) in enumerate(ids):
        device = root / f"1-{number}"
        device.mkdir(parents=True)
        (device / "idVendor").write_text(vendor + "\n")
        (device / "idProduct").write_text(product + "\n")
    (root / "usb1").mkdir(parents=True, exist_ok=True)  # a hub entry without IDs
    return root


@pytest.fixture
def fake_pio(tmp_path, monkeypatch):
    """A `pio` that records its arguments and exits with $FAKE_PIO_STATUS."""
    script = tmp_path / "bin" / "pio"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\necho "$@" > "$FAKE_PIO_ARGS"\nexit "${FAKE_PIO_STATUS:-0}"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(flash_module, "find_platformio", lambda: str(script))
    monkeypatch.setenv("FAKE_PIO_ARGS", str(tmp_path / "pio_args"))
    monkeypatch.setattr(flash_module, "FLASH_MODEL_DIR", tmp_path / "flash_model")
    return tmp_path / "pio_args"


@pytest.fixture
def dfu_attached(tmp_path, monkeypatch):
    root = fake_usb(tmp_path / "usb", ("1d6b", "0002"), flash_module.DFU_ID)
    monkeypatch.setattr(flash_module, "USB_DEVICES", root)


def test_flashes_the_default_model(fake_pio, dfu_attached, capsys):
    assert main(["flash", "inference"]) == 0
    args = fake_pio.read_text().split()
    assert args[:1] == ["run"] and args[-4:] == ["-e", "inference", "-t", "upload"]
    copied = flash_module.FLASH_MODEL_DIR / "model_defn.h"
    assert copied.read_bytes() == flash_module.DEFAULT_HEADER.read_bytes()
    assert "flashed inference" in capsys.readouterr().out


def test_platformio_failure_is_reported(fake_pio, dfu_attached, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_PIO_STATUS", "3")
    assert main(["flash", "datalogger"]) == 1
    assert "PlatformIO failed (exit 3)" in capsys.readouterr().err


def test_no_dfu_device(fake_pio, tmp_path, monkeypatch, capsys):
    root = fake_usb(tmp_path / "usb", ("1d6b", "0002"))
    monkeypatch.setattr(flash_module, "USB_DEVICES", root)
    assert main(["flash", "inference"]) == 1
    assert "no Daisy in DFU mode found (USB 0483:df11)" in capsys.readouterr().err
    assert not fake_pio.exists()


def test_daisy_running_firmware_instead_of_dfu(fake_pio, tmp_path, monkeypatch, capsys):
    root = fake_usb(tmp_path / "usb", flash_module.CDC_ID)
    monkeypatch.setattr(flash_module, "USB_DEVICES", root)
    assert main(["flash", "inference"]) == 1
    assert "running its firmware (USB 0483:5740)" in capsys.readouterr().err


def test_missing_platformio(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(flash_module.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["flash", "datalogger"]) == 1
    assert "PlatformIO not found; install it with `pip install platformio`" in \
        capsys.readouterr().err


def test_missing_header(tmp_path, capsys):
    assert main(["flash", "inference", "--model", str(tmp_path / "none.h")]) == 1
    assert "none.h: no such model header" in capsys.readouterr().err


def test_refuses_inputs_the_patch_cannot_feed(tmp_path, random_wavenet, capsys):
    model = random_wavenet(2, (2,), 2)
    path = save_with_metadata(model, tmp_path / "m", ["knob_1", "pitch"])
    _, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    assert main(["flash", "inference", "--model", str(header)]) == 1
    err = capsys.readouterr().err
    assert "the Patch cannot feed input(s) pitch" in err


def test_refuses_a_model_trained_at_another_rate(tmp_path, random_wavenet, capsys):
    path = save_with_metadata(random_wavenet(1, (2,), 2), tmp_path / "m", ["audio_in_1"])
    _, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    assert main(["flash", "inference", "--model", str(header)]) == 1
    assert "trained at 44100 Hz, but the app runs the Patch at 48000 Hz" in \
        capsys.readouterr().err


def test_refuses_weights_that_do_not_fit_the_flash_the_app_leaves(fake_pio, dfu_attached,
                                                                  tmp_path, random_wavenet,
                                                                  capsys):
    require_tool("arm-none-eabi-g++")  # the model's code is measured in the emulated build
    # 3 blocks of 48 filters, K=3: about 20,000 parameters, 80 KB of float32 weights.
    model = random_wavenet(4, (48, 48, 48), 3)
    path = save_with_metadata(model, tmp_path / "m", ["knob_1", "knob_2", "audio_in_1",
                                                      "audio_in_2"], sample_rate=48_000)
    _, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    assert main(["flash", "inference", "--model", str(header)]) == 1
    err = capsys.readouterr().err
    budget = model_flash_budget("inference")
    assert "the model takes" in err and "engine code and" in err  # measured: the toolchain is here
    assert f"but the inference app leaves {budget:,} B of the Daisy's 128 KiB" in err
    assert "train a smaller model" in err and err.count("\n") == 1
    assert not fake_pio.exists()  # refused before PlatformIO runs


def test_the_default_model_fits_with_room_to_spare():
    require_tool("arm-none-eabi-g++")
    header = flash_module.DEFAULT_HEADER
    model_bytes, measured = flash_module.model_flash_bytes(header, read_header(header))
    assert measured and model_bytes < model_flash_budget("inference") / 2
    # The budget leaves room for models of several thousand parameters.
    assert model_flash_budget("inference") > 30_000


def test_model_option_is_only_for_inference(capsys):
    assert main(["flash", "datalogger", "--model", os.devnull]) == 1
    assert "--model is for the inference app" in capsys.readouterr().err


def test_platformio_stuck_fetching_packages_is_stopped_with_the_reason(tmp_path, monkeypatch,
                                                                       dfu_attached, capsys):
    """Issue 10, finding 19: without a network, PlatformIO sat on "Installing" forever."""
    script = tmp_path / "bin" / "pio"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\necho "Processing datalogger"\n'
                      'echo "Platform Manager: Installing ststm32 @ 19.6.0"\nsleep 60\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(flash_module, "find_platformio", lambda: str(script))
    monkeypatch.setattr(flash_module, "QUIET_LIMIT_SECONDS", 1.0)
    assert main(["flash", "datalogger"]) == 1
    captured = capsys.readouterr()
    assert "Installing ststm32" in captured.out  # PlatformIO's own output is passed on
    assert ("PlatformIO printed nothing for 1 s after 'Platform Manager: Installing ststm32 @ "
            "19.6.0', so it was stopped: it was fetching packages") in captured.err
    assert "Connect to the network" in captured.err and captured.err.count("\n") == 1


def test_without_the_cortex_m_toolchain_flash_says_it_checked_weights_only(
        fake_pio, dfu_attached, monkeypatch, capsys):
    def no_toolchain(*_):
        raise flash_module.M7Error("arm-none-eabi-g++ not found")

    monkeypatch.setattr(flash_module, "build_firmware", no_toolchain)
    assert main(["flash", "inference"]) == 0
    assert "only its weights were checked" in capsys.readouterr().out


def test_a_model_that_cannot_run_in_real_time_is_refused_unless_forced(
        fake_pio, dfu_attached, tmp_path, random_wavenet, capsys):
    """Issue 10 finding 18, issue 11: two wide blocks, about 7,400 MACs per sample, need more
    than the Daisy's cycles at 48 kHz (about 9,000 emulated instructions per sample of 8,333),
    while their code and weights still fit the flash (about 36,000 B of 39,796)."""
    require_tool("arm-none-eabi-g++")
    require_tool("qemu-system-arm")
    model = random_wavenet(4, (42, 42), 2)
    path = save_with_metadata(model, tmp_path / "m", ["knob_1", "knob_2", "audio_in_1",
                                                      "audio_in_2"], sample_rate=48_000)
    _, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    assert main(["flash", "inference", "--model", str(header)]) == 1
    err = capsys.readouterr().err
    assert "CANNOT run in real time on the Daisy" in err and "--force" in err
    assert err.count("\n") == 1 and not fake_pio.exists()
    assert main(["flash", "inference", "--model", str(header), "--force"]) == 0
    assert "CANNOT run in real time" in capsys.readouterr().out and fake_pio.exists()
