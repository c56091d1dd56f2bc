"""``daisynet flash``: build a Daisy Patch app with PlatformIO and upload it over USB DFU.

The inference app holds a bank of one or more models (`--model` once per model), the encoder
turning through them. Before PlatformIO starts (its first run downloads the STM32 platform,
minutes), everything that can be checked here is: the app name, each model header (input names
the Patch can feed, sample rate, one output), that the bank's models share their inputs, that
their histories fit the DTCM and their code and weights the flash, that the costliest two run
together in real time (a switch's crossfade runs both), PlatformIO itself and a Daisy in DFU
mode on the USB bus.

PlatformIO builds in a temporary folder, with the app's main.cpp and the bank's generated sources
staged there, and keeps its downloaded libraries in the user's cache directory: flashing writes
nothing into the checkout, and a plain `pio run` there still builds firmware/model/ alone.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from daisynet.host_sim.bank import MAX_SLOTS, write_bank_sources
from daisynet.host_sim.cache import cache_dir
from daisynet.host_sim.daisy_target import (
    APP_FLASH_BYTES,
    APP_FLASH_MEASURED_ON,
    DTCM_BYTES,
    FLASH_MARGIN_BYTES,
    INTERNAL_FLASH_BYTES,
    SAMPLE_RATE_HZ,
    USB_CDC_PRODUCT_ID,
    USB_DFU_PRODUCT_ID,
    USB_VENDOR_ID,
    model_flash_budget,
)
from daisynet.host_sim.engines import family_refusal
from daisynet.host_sim.m7 import M7Error, M7ToolMissingError, build_bank_firmware
from daisynet.host_sim.model_defn import read_header
from daisynet.host_sim.native import REPO

APPS = ("inference", "datalogger")
APP_MAX_BLOCK = 48  # frames: firmware/inference/main.cpp's kMaxBlock, DaisyDuino's block
MADE_BY_FLASH = "daisynet flash inference (tools/device/flash.py stage_inference_sources)"
DEFAULT_HEADER = REPO / "firmware" / "model" / "model_defn.h"
USB_DEVICES = Path("/sys/bus/usb/devices")
# PlatformIO is stopped when it prints nothing for this long: compiling the largest file takes
# well under a minute; fetching packages without a network hangs forever.
QUIET_LIMIT_SECONDS = 180.0
# (vendor, product) as Linux lists them under /sys/bus/usb/devices: four lower-case hex digits.
DFU_ID = (f"{USB_VENDOR_ID:04x}", f"{USB_DFU_PRODUCT_ID:04x}")  # the STM32H750's ROM bootloader
CDC_ID = (f"{USB_VENDOR_ID:04x}", f"{USB_CDC_PRODUCT_ID:04x}")  # a Daisy running its firmware
# firmware/core/patch_runner.h: WiringFor(); the two must agree.
PATCH_INPUT_NAME = re.compile(r"^(audio_in_[1-4]|knob_[1-4]|cv_[1-4])$")


class FlashError(RuntimeError):
    """Something flashing needs is missing or wrong; the message says what to do."""


def find_platformio() -> str:
    """PlatformIO's `pio`: the one installed beside daisynet first, then PATH."""
    beside = Path(sys.executable).parent / "pio"
    if beside.exists():
        return str(beside)
    found = shutil.which("pio") or shutil.which("platformio")
    if not found:
        raise FlashError("PlatformIO not found; install it with `pip install platformio` "
                         "(into the same environment as daisynet) and run this again")
    return found


def unwired_inputs(spec) -> list[str]:
    """The model's inputs the Patch app cannot feed (it does not build with them)."""
    return [name for name in spec.input_names if not PATCH_INPUT_NAME.match(name)]


def check_model(header: Path) -> dict:
    """Refuse a header the inference app cannot run, with the reason; its name, inputs, weights'
    hash and layer history (bytes of DTCM)."""
    if not header.exists():
        raise FlashError(f"{header}: no such model header; make one with `daisynet export "
                         "MODEL.keras -o model_defn.h`")
    spec = read_header(header)
    if problem := family_refusal("firmware", spec.family):
        raise FlashError(f"{header}: {problem}")
    unwired = unwired_inputs(spec)
    if unwired:
        raise FlashError(
            f"{header}: the Patch cannot feed input(s) {', '.join(unwired)}; inputs must be "
            "named audio_in_1..4, knob_1..4 or cv_1..4 (train with --inputs using those names)"
        )
    if spec.sample_rate != SAMPLE_RATE_HZ:
        raise FlashError(f"{header}: trained at {spec.sample_rate} Hz, but the app runs the "
                         f"Patch at {SAMPLE_RATE_HZ} Hz; train on a {SAMPLE_RATE_HZ // 1000} kHz "
                         "dataset")
    if spec.outputs != 1:
        raise FlashError(f"{header}: the app plays one output on audio out 1; this model has "
                         f"{spec.outputs}")
    from daisynet.tools.measure.plan import history_bytes

    history = history_bytes(spec.architecture(), spec.number_format)
    if history > DTCM_BYTES:
        raise FlashError(f"{header}: its layer history alone takes {history:,} B of RAM, over "
                         f"the Daisy's {DTCM_BYTES:,} B DTCM: train a shorter receptive field "
                         "(smaller --kernel-size or fewer blocks); `daisynet plan` shows what "
                         "fits")
    return {"header": str(header), "model": spec.name, "inputs": spec.input_names,
            "weights_sha256": spec.weights_sha256(), "history_bytes": history,
            "self_check": spec.self_check is not None}


def check_bank(headers: list[Path]) -> dict:
    """Refuse, with the sizes, a bank the inference app cannot hold: models it cannot run,
    inputs that differ between models, layer histories over the DTCM together, or engine code
    and weights over the flash the app leaves."""
    models = [check_model(header) for header in headers]
    first = models[0]
    for model in models[1:]:
        if model["inputs"] != first["inputs"]:
            raise FlashError(
                f"{model['header']}: inputs {', '.join(model['inputs'])}, but "
                f"{first['header']} has {', '.join(first['inputs'])}; the models of a bank share "
                "the Patch's jacks and knobs, so their inputs must be the same, in the same order")
    history = sum(model["history_bytes"] for model in models)
    if len(models) > 1 and history > DTCM_BYTES:
        raise FlashError(f"the bank's layer histories take {history:,} B of RAM together "
                         f"({sizes(models, 'history_bytes')}), over the Daisy's {DTCM_BYTES:,} "
                         "B DTCM: leave a model out or train shorter receptive fields")
    per_model, measured = models_flash_bytes(headers)
    for model, flash_bytes in zip(models, per_model, strict=True):
        model["flash_bytes"] = flash_bytes
    flash = sum(per_model)
    budget = model_flash_budget("inference")
    if flash > budget:
        parameters = sum(read_header(header).architecture().parameters for header in headers)
        what = "engine code and" if measured else "weights alone:"
        taken = (f"the model takes {flash:,} B of flash ({what} {parameters:,} parameters)"
                 if len(models) == 1 else
                 f"the bank takes {flash:,} B of flash ({what} {sizes(models, 'flash_bytes')})")
        raise FlashError(
            f"{headers[0] if len(models) == 1 else 'bank'}: {taken} but the inference app leaves "
            f"{budget:,} B of the Daisy's {INTERNAL_FLASH_BYTES // 1024} KiB internal flash (app "
            f"{APP_FLASH_BYTES['inference']:,} B as measured on {APP_FLASH_MEASURED_ON}, plus "
            f"{FLASH_MARGIN_BYTES // 1024} KiB margin): "
            + ("train a smaller model (fewer --filters or blocks); `daisynet plan` shows what "
               "fits" if len(models) == 1 else "leave a model out, or quantize one "
               "(`daisynet export --quantize q15`)"))
    return {"models": models, "model_flash_bytes": flash, "model_flash_measured": measured,
            "model_flash_budget_bytes": budget}


def sizes(models: list[dict], key: str) -> str:
    return ", ".join(f"{Path(model['header']).name} {model[key]:,} B" for model in models)


def models_flash_bytes(headers: list[Path]) -> tuple[list[int], bool]:
    """(bytes per model, measured): each model's engine code, weights and bank slot (its
    record and self-check reference) as the emulated Cortex-M7 build of the bank (the Daisy's
    flags) measures them; without the Cortex-M toolchain, the weights alone."""
    try:
        return [slot.flash_bytes for slot in build_bank_firmware(headers, "fast").slots], True
    except M7ToolMissingError:
        return [read_header(header).weight_flash_bytes() for header in headers], False
    except M7Error as err:
        raise FlashError(str(err)) from err


def usb_ids(root: Path) -> set[tuple[str, str]]:
    """(vendor, product) hex IDs of the USB devices Linux lists under ``root``."""
    ids = set()
    for device in root.glob("*"):
        try:
            ids.add(((device / "idVendor").read_text().strip(),
                     (device / "idProduct").read_text().strip()))
        except OSError:
            continue  # interfaces and hubs without IDs
    return ids


def dfu_util_ids() -> set[tuple[str, str]]:
    """(vendor, product) hex IDs of the DFU devices ``dfu-util --list`` finds: the check where
    Linux's /sys/bus/usb/devices is not there (macOS, containers)."""
    dfu_util = shutil.which("dfu-util")
    if not dfu_util:
        raise FlashError(f"cannot look for a Daisy in DFU mode: there is no {USB_DEVICES} and "
                         "no dfu-util; install dfu-util (e.g. `brew install dfu-util`, "
                         "`apt-get install dfu-util`) and run this again")
    try:
        listed = subprocess.run([dfu_util, "--list"], capture_output=True, text=True,
                                errors="replace", timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as err:
        raise FlashError(f"cannot look for a Daisy in DFU mode: {dfu_util} --list failed "
                         f"({err})") from err
    return set(re.findall(r"\[([0-9a-f]{4}):([0-9a-f]{4})\]", listed.lower()))


def check_dfu_device() -> None:
    """Refuse, before PlatformIO builds anything, unless a Daisy is in DFU mode."""
    present = usb_ids(USB_DEVICES) if USB_DEVICES.exists() else dfu_util_ids()
    if DFU_ID in present:
        return
    if CDC_ID in present:
        raise FlashError("a Daisy is connected but running its firmware (USB "
                         f"{':'.join(CDC_ID)}), not the DFU bootloader: hold BOOT, press and "
                         "release RESET, release BOOT, then run this again")
    raise FlashError(f"no Daisy in DFU mode found (USB {':'.join(DFU_ID)}): connect it by USB, "
                     "hold BOOT, press and release RESET, release BOOT, then run this again")


def platformio_environment(scratch: Path, app_sources: Path | None) -> dict[str, str]:
    """The environment PlatformIO runs in: build in ``scratch``, libraries in the user's cache
    directory, and, for the inference app, sources from ``app_sources`` (its main.cpp and bank,
    stage_inference_sources), which is also searched for headers.

    $PLATFORMIO_SRC_DIR replaces platformio.ini's src_dir (project/options.py), and
    build_src_filter's `+<inference/>` is relative to it. PlatformIO appends
    $PLATFORMIO_BUILD_FLAGS to platformio.ini's build_flags (its project/config.py): the include
    path every file is compiled with, the engine headers in firmware/core included.
    """
    environment = dict(os.environ, PLATFORMIO_BUILD_DIR=str(scratch / "build"),
                       PLATFORMIO_WORKSPACE_DIR=str(cache_dir("platformio")))
    if app_sources is not None:
        environment["PLATFORMIO_SRC_DIR"] = str(app_sources.parent)
        # SCons splits the flags like a shell; the user's own extra flags still apply after ours.
        flags = [f"-I {shlex.quote(str(app_sources))}", os.environ.get("PLATFORMIO_BUILD_FLAGS")]
        environment["PLATFORMIO_BUILD_FLAGS"] = "\n".join(flag for flag in flags if flag)
    return environment


def run_platformio(command: list[str], log: Callable[[str], None],
                   environment: dict[str, str] | None = None) -> int:
    """Run PlatformIO with its output passed on line by line; stop it, with the reason, when it
    prints nothing for QUIET_LIMIT_SECONDS. Returns its exit status. It runs in a session of
    its own, which Ctrl-C does not reach: so Ctrl-C here stops it too, not leaving a build or an
    upload running after the command has returned."""
    quiet_limit = QUIET_LIMIT_SECONDS
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", start_new_session=True,
                               env=environment)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    last_line = ""
    try:
        while True:
            try:
                line = lines.get(timeout=quiet_limit)
            except queue.Empty:
                raise FlashError(_quiet_reason(last_line, quiet_limit)) from None
            if line is None:
                return process.wait()
            log(line)
            last_line = line.strip() or last_line
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _quiet_reason(last_line: str, quiet_limit: float) -> str:
    said = f"PlatformIO printed nothing for {quiet_limit:g} s after {last_line!r}"
    if any(word in last_line for word in ("Install", "Download", "Unpack", "Resolving")):
        return (f"{said}, so it was stopped: it was fetching packages, which the first build "
                "does (the ststm32 platform and its toolchain, DaisyDuino and U8g2, from the "
                "PlatformIO registry and GitHub). Connect to the network and run this again; "
                f"once fetched, they stay in ~/.platformio and {cache_dir('platformio')}")
    return f"{said}, so it was stopped; run `pio run -d . -e APP -v` to see where it hangs"


def check_real_time(headers: list[Path], force: bool, log: Callable[[str], None]) -> dict | None:
    """The bank's real-time verdict on the emulated Cortex-M7 (None without the toolchain): a
    switch's crossfade runs two models at once, so a bank is judged by its two costliest
    models together, a single model by itself. Refuses what cannot run unless ``force``."""
    from daisynet.tools.measure.plan import measure_header, real_time_verdict

    try:
        per_sample = [measure_header(header).instructions_per_sample for header in headers]
    except M7ToolMissingError:
        log("note: no Cortex-M toolchain to measure the model's load; not checked")
        return None
    except M7Error as err:
        raise FlashError(str(err)) from err
    costliest = sorted(range(len(headers)), key=per_sample.__getitem__)[-2:]
    verdict = real_time_verdict(sum(per_sample[i] for i in costliest), SAMPLE_RATE_HZ)
    if len(headers) > 1:
        pair = " and ".join(Path(headers[i]).name for i in reversed(costliest))
        verdict["message"] = (f"switching between {pair} (the costliest pair: a switch's "
                              f"crossfade runs both): {verdict['message']}")
    verdict["instructions_per_sample"] = [round(value, 1) for value in per_sample]
    if verdict["verdict"] == "cannot run" and not force:
        what = headers[0] if len(headers) == 1 else "bank"
        raise FlashError(f"{what}: {verdict['message']}; train a smaller model (`daisynet "
                         "plan` shows what fits), or pass --force to flash it anyway")
    log(verdict["message"])
    return verdict


def morph_control(name: str | None, models: list[dict]) -> int:
    """The Patch control index (0..3) `--morph NAME` names, -1 for none; refuses a name that is
    not a control, a control the models read (knob_N and cv_N are both control N) and a bank of
    one model."""
    if name is None:
        return -1
    wiring = re.fullmatch(r"(knob|cv)_([1-4])", name)
    if not wiring:
        raise FlashError(f"--morph {name}: name a Patch control, knob_1..4 or cv_1..4")
    control = int(wiring[2]) - 1
    if len(models) < 2:
        raise FlashError("--morph blends neighbouring models of a bank: give --model twice or "
                         "more")
    read = [input_name for input_name in models[0]["inputs"]
            if re.fullmatch(rf"(knob|cv)_{control + 1}", input_name)]
    if read:
        raise FlashError(f"--morph {name}: the models read control {control + 1} as "
                         f"{', '.join(read)}; morph with a control they do not use")
    return control


def stage_inference_sources(headers: list[Path], src_dir: Path, morph: int = -1) -> Path:
    """PlatformIO's src_dir for the inference app of bank ``headers``: inference/ holding a copy
    of firmware/inference/main.cpp and, beside it, the bank's sources (host_sim/bank.py) with
    every engine in DTCM, and control ``morph`` (0..3, -1: none) morphing between neighbours.
    Returns inference/, which must be on the include path (the slots' headers are included
    from firmware/core)."""
    app = src_dir / "inference"
    app.mkdir(parents=True)
    shutil.copyfile(REPO / "firmware" / "inference" / "main.cpp", app / "main.cpp")
    write_bank_sources(headers, app, APP_MAX_BLOCK, MADE_BY_FLASH, engine_section=".dtcm_bss",
                       morph_control=morph)
    return app


def flash(app: str, models: list[str] | None, log: Callable[[str], None],
          force: bool = False, morph: str | None = None) -> dict:
    if app not in APPS:
        raise FlashError(f"unknown app {app!r}; choose {' or '.join(APPS)}")
    result: dict = {"app": app}
    if app == "inference":
        headers = [Path(model) for model in models] if models else [DEFAULT_HEADER]
        if len(headers) > MAX_SLOTS:
            raise FlashError(f"a bank holds at most {MAX_SLOTS} models; {len(headers)} given")
        result.update(check_bank(headers))
        result["morph_control"] = morph_control(morph, result["models"])
        if not result["model_flash_measured"]:
            log("note: no Cortex-M toolchain (arm-none-eabi-gcc) to measure the model's engine "
                "code; only its weights were checked against the flash budget")
        result["real_time"] = check_real_time(headers, force, log)
        unchecked = [model["header"] for model in result["models"] if not model["self_check"]]
        if unchecked:
            log(f"note: {', '.join(unchecked)} hold no self-check reference, so the app cannot "
                "prove on the Daisy that they compute what the host did; `daisynet export` "
                "stores one when the Cortex-M toolchain is installed")
    elif models or morph:
        raise FlashError(f"{'--model' if models else '--morph'} is for the inference app; the "
                         "datalogger runs no model")
    pio = find_platformio()
    check_dfu_device()
    with tempfile.TemporaryDirectory(prefix="daisynet-flash-") as scratch:
        sources = None
        if app == "inference":
            sources = stage_inference_sources(headers, Path(scratch) / "src",
                                              result["morph_control"])
            for index, model in enumerate(result["models"]):
                log(f"model {index + 1}/{len(headers)}: {model['model']} "
                    f"({', '.join(model['inputs'])}) from {model['header']}")
            log(f"flash {result['model_flash_bytes']:,} B of the "
                f"{result['model_flash_budget_bytes']:,} B the app leaves for models")
        command = [pio, "run", "-d", str(REPO), "-e", app, "-t", "upload"]
        log(f"running {' '.join(command)}, building in {scratch} (the first build downloads "
            "the STM32 platform)")
        status = run_platformio(command, log, platformio_environment(Path(scratch), sources))
    if status != 0:
        raise FlashError(f"PlatformIO failed (exit {status}); its output is above")
    log(f"flashed {app}; press RESET on the Daisy if it does not restart by itself"
        + ("; turn the encoder to change model" if app == "inference" and len(headers) > 1
           else "")
        + (f", {morph} to morph into the next one" if morph else ""))
    return result
