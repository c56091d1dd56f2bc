"""`daisynet flash`: every check before PlatformIO, and the PlatformIO call itself."""

import json
import os
import shlex
import shutil
import stat
import sys
from pathlib import Path

import pytest

from daisynet.host_sim.cache import cache_dir
from daisynet.host_sim.daisy_target import model_flash_budget
from daisynet.host_sim.model_defn import Architecture, render_header
from daisynet.host_sim.quantize import random_spec
from daisynet.tools.cli import main
from daisynet.tools.device import flash as flash_module
from daisynet.training.export import export
from tests.conftest import REPO, checkout_files, require_tool
from tests.training.test_export import save_with_metadata

pytestmark = pytest.mark.m7

# A `pio` that records, as JSON in $FAKE_PIO_CALL, its arguments, the PLATFORMIO_ variables it
# was given, the files staged for the inference app and the headers of its bank, in slot order
# (read while it runs: the staging folder is temporary); it exits with $FAKE_PIO_STATUS. SCons
# reads PLATFORMIO_BUILD_FLAGS like a shell: shlex.
FAKE_PIO = """#!{python}
import json, os, shlex, sys
from pathlib import Path
flags = shlex.split(os.environ.get("PLATFORMIO_BUILD_FLAGS", ""))
app = Path(flags[1]) if flags[:1] == ["-I"] else None
files = sorted(path.name for path in app.iterdir()) if app else []
slots = sorted((name for name in files if name.endswith("_model_defn.h")),
               key=lambda name: int(name.split("_")[1]))
Path(os.environ["FAKE_PIO_CALL"]).write_text(json.dumps({{
    "args": sys.argv[1:],
    "environment": {{k: v for k, v in os.environ.items() if k.startswith("PLATFORMIO_")}},
    "staged_files": files,
    "staged_headers": [(app / name).read_text() for name in slots],
}}))
sys.exit(int(os.environ.get("FAKE_PIO_STATUS", "0")))
"""


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
    """The file the fake `pio` records its call in (see FAKE_PIO)."""
    script = tmp_path / "bin" / "pio"
    script.parent.mkdir()
    script.write_text(FAKE_PIO.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(flash_module, "find_platformio", lambda: str(script))
    monkeypatch.setenv("FAKE_PIO_CALL", str(tmp_path / "pio_call.json"))
    return tmp_path / "pio_call.json"


@pytest.fixture
def dfu_attached(tmp_path, monkeypatch):
    root = fake_usb(tmp_path / "usb", ("1d6b", "0002"), flash_module.DFU_ID)
    monkeypatch.setattr(flash_module, "USB_DEVICES", root)


def test_flashes_the_default_model(fake_pio, dfu_attached, capsys):
    assert main(["flash", "inference"]) == 0
    call = json.loads(fake_pio.read_text())
    assert call["args"] == ["run", "-d", str(REPO), "-e", "inference", "-t", "upload"]
    assert call["staged_headers"] == [flash_module.DEFAULT_HEADER.read_text()]
    assert "flashed inference" in capsys.readouterr().out


def test_the_chosen_header_is_staged_in_a_temporary_build_outside_the_checkout(
        fake_pio, dfu_attached, tmp_path, monkeypatch):
    """Issue 21: the header used to stay in build/flash/model/, which platformio.ini searched
    first, so the next plain `pio run` built it instead of firmware/model/."""
    monkeypatch.delenv("PLATFORMIO_BUILD_FLAGS", raising=False)
    chosen = tmp_path / "my models" / "model_defn.h"  # a space, which the flags must quote
    chosen.parent.mkdir()
    shutil.copyfile(flash_module.DEFAULT_HEADER, chosen)
    before = checkout_files()
    assert main(["flash", "inference", "--model", str(chosen)]) == 0
    assert checkout_files() == before
    call = json.loads(fake_pio.read_text())
    assert call["staged_headers"] == [chosen.read_text()]
    assert call["staged_files"] == ["bank_slots.h", "main.cpp", "slot_0.cc",
                                    "slot_0_model_defn.h"]
    environment = call["environment"]
    option, staged = shlex.split(environment["PLATFORMIO_BUILD_FLAGS"])
    build = Path(environment["PLATFORMIO_BUILD_DIR"])
    assert environment["PLATFORMIO_SRC_DIR"] == str(Path(staged).parent)
    assert option == "-I" and Path(staged).parents[1] == build.parent  # one temporary folder
    assert not build.parent.exists()  # removed once PlatformIO is done
    assert not build.is_relative_to(REPO) and not Path(staged).is_relative_to(REPO)
    # Libraries PlatformIO fetches go to the cache, not to the checkout's .pio/.
    assert environment["PLATFORMIO_WORKSPACE_DIR"] == str(cache_dir("platformio"))


def test_the_datalogger_builds_outside_the_checkout_with_platformio_ini_as_it_is(
        fake_pio, dfu_attached, monkeypatch):
    monkeypatch.delenv("PLATFORMIO_BUILD_FLAGS", raising=False)
    assert main(["flash", "datalogger"]) == 0
    call = json.loads(fake_pio.read_text())
    assert call["args"] == ["run", "-d", str(REPO), "-e", "datalogger", "-t", "upload"]
    assert "PLATFORMIO_BUILD_FLAGS" not in call["environment"]
    assert not Path(call["environment"]["PLATFORMIO_BUILD_DIR"]).is_relative_to(REPO)


def test_the_users_own_platformio_build_flags_still_apply_after_the_staged_header(
        tmp_path, monkeypatch):
    monkeypatch.setenv("PLATFORMIO_BUILD_FLAGS", "-D MY_FLAG=1")
    environment = flash_module.platformio_environment(tmp_path, tmp_path / "src" / "inference")
    assert environment["PLATFORMIO_BUILD_FLAGS"].split("\n") == [
        f"-I {tmp_path / 'src' / 'inference'}", "-D MY_FLAG=1"]


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


def fake_dfu_util(folder: Path, listing: str) -> Path:
    script = folder / "dfu-util"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!{sys.executable}\nprint({listing!r}, end='')\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


DFU_LISTING = ("dfu-util 0.11\n"
               "Found DFU: [0483:df11] ver=0200, devnum=7, cfg=1, intf=0, path=\"1-1\", alt=0, "
               "name=\"@Internal Flash  /0x08000000/16*128Kg\", serial=\"200364500000\"\n")


@pytest.mark.parametrize("listing, expected", [
    (None, "there is no /nonexistent/usb/devices and no dfu-util; install dfu-util"),
    ("dfu-util 0.11\n", "no Daisy in DFU mode found (USB 0483:df11)"),
    (DFU_LISTING, None),
])
def test_without_sysfs_dfu_util_looks_for_the_daisy_before_any_build(
        fake_pio, tmp_path, monkeypatch, capsys, listing, expected):
    """Issue 22, item 21: without /sys/bus/usb/devices the check was skipped and PlatformIO
    started a network build for a Daisy that was not there."""
    monkeypatch.setattr(flash_module, "USB_DEVICES", Path("/nonexistent/usb/devices"))
    folder = tmp_path / "tools"
    folder.mkdir()
    if listing is not None:
        fake_dfu_util(folder, listing)
    monkeypatch.setenv("PATH", str(folder))
    status = main(["flash", "datalogger"])
    err = capsys.readouterr().err
    if expected is None:
        assert status == 0 and fake_pio.exists()
    else:
        assert status == 1 and expected in err and err.count("\n") == 1
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
    (model_bytes,), measured = flash_module.models_flash_bytes([header])
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


def test_ctrl_c_stops_platformio_too(tmp_path):
    """PlatformIO runs in its own session, which the terminal's Ctrl-C does not reach: it
    went on building (or uploading) after `daisynet flash` had said "interrupted"."""
    script = tmp_path / "pio"
    script.write_text(f'#!/bin/sh\necho $$ > {tmp_path / "pid"}\necho "Processing inference"\n'
                      'exec sleep 60\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)

    def ctrl_c(_line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        flash_module.run_platformio([str(script)], ctrl_c)
    with pytest.raises(ProcessLookupError):
        os.kill(int((tmp_path / "pid").read_text()), 0)


def test_without_the_cortex_m_toolchain_flash_says_it_checked_weights_only(
        fake_pio, dfu_attached, monkeypatch, capsys):
    def no_toolchain(*_):
        raise flash_module.M7ToolMissingError("arm-none-eabi-g++ not found")

    monkeypatch.setattr(flash_module, "build_bank_firmware", no_toolchain)
    assert main(["flash", "inference"]) == 0
    assert "only its weights were checked" in capsys.readouterr().out


def test_a_failed_m7_build_is_not_taken_for_a_missing_toolchain(
        fake_pio, dfu_attached, monkeypatch, capsys):
    """Any emulated-M7 failure used to read as "no toolchain": flash then went on to build."""
    def failed_build(*_):
        raise flash_module.M7Error("build failed: engine_unit.cc: error")

    monkeypatch.setattr(flash_module, "build_bank_firmware", failed_build)
    assert main(["flash", "inference"]) == 1
    err = capsys.readouterr().err
    assert "build failed: engine_unit.cc: error" in err and err.count("\n") == 1
    assert not fake_pio.exists()


def test_a_history_over_the_dtcm_is_refused_before_any_build(fake_pio, dfu_attached, tmp_path,
                                                             monkeypatch, capsys):
    """Kernel 8 and 8 blocks: a receptive field of 16.7 M samples, 268 MB of history."""
    def no_build(*_):
        raise AssertionError("built a model whose history alone is over the DTCM")

    monkeypatch.setattr(flash_module, "build_bank_firmware", no_build)
    spec = random_spec(Architecture(3, (4,) * 8, 8),
                       input_names=["audio_in_1", "knob_1", "knob_2"])
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(spec, "test"))
    assert main(["flash", "inference", "--model", str(header)]) == 1
    err = capsys.readouterr().err
    assert "its layer history alone takes 268,435,412 B of RAM, over the Daisy's 131,072 B " \
           "DTCM" in err and err.count("\n") == 1
    assert not fake_pio.exists()


def test_a_model_that_cannot_run_in_real_time_is_refused_unless_forced(
        fake_pio, dfu_attached, tmp_path, capsys):
    """Issue 10 finding 18, issue 11: a GRU of 40 units needs more than the Daisy's cycles at
    48 kHz (about 9,200 emulated instructions per sample of 8,333), while its code and weights
    still fit the flash (about 23,200 B of 35,421)."""
    from daisynet.host_sim.model_defn import GruArchitecture
    from daisynet.host_sim.quantize import random_gru_spec

    require_tool("arm-none-eabi-g++")
    require_tool("qemu-system-arm")
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(random_gru_spec(GruArchitecture(2, 40, 1, skip_input=1), 3,
                                                    ["knob_1", "audio_in_1"]), "test"))
    assert main(["flash", "inference", "--model", str(header)]) == 1
    err = capsys.readouterr().err
    assert "CANNOT run in real time on the Daisy" in err and "--force" in err
    assert err.count("\n") == 1 and not fake_pio.exists()
    assert main(["flash", "inference", "--model", str(header), "--force"]) == 0
    assert "CANNOT run in real time" in capsys.readouterr().out and fake_pio.exists()


# --- a bank of models (issue 23) ---------------------------------------------------------------


def test_a_bank_of_four_is_staged_in_the_order_given(fake_pio, dfu_attached, tmp_path, capsys):
    require_tool("arm-none-eabi-g++")
    require_tool("qemu-system-arm")
    from tests.firmware.test_patch_runner import patch_bank

    headers = patch_bank(tmp_path)
    argv = ["flash", "inference", "--json"]
    for header in headers:
        argv += ["--model", str(header)]
    assert main(argv) == 0
    call = json.loads(fake_pio.read_text())
    assert call["staged_headers"] == [header.read_text() for header in headers]
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert [model["model"] for model in result["models"]] == ["drive", "fold", "drive_q15",
                                                              "filter"]
    assert result["model_flash_bytes"] == sum(model["flash_bytes"] for model in result["models"])
    assert result["model_flash_bytes"] <= result["model_flash_budget_bytes"]
    assert result["real_time"]["verdict"] == "fits"
    assert "switching between" in result["real_time"]["message"]
    assert "model 4/4: filter" in captured.err and "turn the encoder" in captured.err


def test_a_bank_whose_models_take_different_inputs_is_refused(fake_pio, dfu_attached, tmp_path,
                                                              capsys):
    first = tmp_path / "a.h"
    first.write_text(render_header(random_spec(Architecture(3, (4,), 2), 1,
                                               ["knob_1", "knob_2", "audio_in_1"]), "test"))
    second = tmp_path / "b.h"
    second.write_text(render_header(random_spec(Architecture(2, (4,), 2), 2,
                                                ["knob_1", "audio_in_1"]), "test"))
    assert main(["flash", "inference", "--model", str(first), "--model", str(second)]) == 1
    err = capsys.readouterr().err
    assert f"{second}: inputs knob_1, audio_in_1, but {first} has knob_1, knob_2, audio_in_1" \
        in err and err.count("\n") == 1
    assert not fake_pio.exists()


def test_a_bank_over_the_flash_is_refused_with_each_models_size(fake_pio, dfu_attached, tmp_path,
                                                               capsys):
    require_tool("arm-none-eabi-g++")
    copies = []
    for number in range(7):  # the default model takes about 6.9 KB as a bank slot
        copies += ["--model", str(tmp_path / f"m{number}.h")]
        shutil.copyfile(flash_module.DEFAULT_HEADER, copies[-1])
    assert main(["flash", "inference", *copies]) == 1
    err = capsys.readouterr().err
    (one,), _ = flash_module.models_flash_bytes([flash_module.DEFAULT_HEADER])
    budget = model_flash_budget("inference")
    assert f"bank: the bank takes {7 * one:,} B of flash (engine code and m0.h {one:,} B, " in err
    assert f"m6.h {one:,} B) but the inference app leaves {budget:,} B" in err
    assert "leave a model out" in err and err.count("\n") == 1
    assert not fake_pio.exists()


def test_a_bank_holds_at_most_sixteen_models(fake_pio, dfu_attached, capsys):
    header = str(flash_module.DEFAULT_HEADER)
    assert main(["flash", "inference", *["--model", header] * 17]) == 1
    assert "a bank holds at most 16 models; 17 given" in capsys.readouterr().err
    assert not fake_pio.exists()


def test_morph_names_a_control_the_models_do_not_read(fake_pio, dfu_attached, tmp_path, capsys,
                                                      monkeypatch):
    require_tool("arm-none-eabi-g++")
    require_tool("qemu-system-arm")
    from tests.firmware.test_patch_runner import patch_bank

    headers = [str(header) for header in patch_bank(tmp_path)[:2]]
    bank = ["--model", headers[0], "--model", headers[1]]
    staged = {}
    real_stage = flash_module.stage_inference_sources

    def stage(*args):
        app = real_stage(*args)
        staged["slots"] = (app / "bank_slots.h").read_text()
        return app

    monkeypatch.setattr(flash_module, "stage_inference_sources", stage)
    assert main(["flash", "inference", *bank, "--morph", "knob_4"]) == 0
    assert "inline constexpr int kMorphControl = 3;" in staged["slots"]
    assert "knob_4 to morph into the next one" in capsys.readouterr().out
    assert main(["flash", "inference", *bank, "--morph", "cv_1"]) == 1
    assert "the models read control 1 as knob_1; morph with a control they do not use" in \
        capsys.readouterr().err
    assert main(["flash", "inference", "--model", headers[0], "--morph", "knob_4"]) == 1
    assert "give --model twice or more" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["flash", "inference", *bank, "--morph", "knob_5"])
    assert exit_info.value.code == 2
