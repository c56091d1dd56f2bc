"""The Daisy apps compile for the Cortex-M7 against the DaisyDuino API they use.

PlatformIO cannot download the STM32 platform here, so each app's main.cpp is compiled with
arm-none-eabi-g++ (-fsyntax-only) against declarations of that API (tests/firmware/daisy_api/)
and the real core, model header and CMSIS-DSP headers. This catches errors in the glue and in
its use of firmware/core; only the real build checks DaisyDuino's side.
"""

import re
import subprocess
from pathlib import Path

import pytest

from daisynet.host_sim.daisy_target import app_defines, daisy_target
from daisynet.host_sim.native import cmsis_source_dir
from tests.conftest import require_tool

pytestmark = pytest.mark.m7

REPO = Path(__file__).resolve().parents[2]


def app_compile_command(app: str, *mode: str, source: Path | None = None) -> list[str]:
    """arm-none-eabi-g++ compiling ``app``'s main.cpp (or ``source``) as the Daisy build does
    (the app's own -D flags from platformio.ini included) against the API declarations, with
    ``mode`` flags."""
    compiler = require_tool("arm-none-eabi-g++")
    cmsis = cmsis_source_dir()
    target = daisy_target()
    return [compiler, *target.machine_flags, *target.optimize_flags, *target.cxx_flags,
            *target.common_flags, *app_defines(app), "-Wall", "-Wextra", "-Werror", *mode,
            "-D__GNUC_PYTHON__",
            f"-I{REPO / 'tests' / 'firmware' / 'daisy_api'}", f"-I{REPO / 'firmware' / 'core'}",
            f"-I{REPO / 'firmware' / 'model'}", f"-I{cmsis / 'Include'}",
            str(source or REPO / "firmware" / app / "main.cpp")]


@pytest.mark.parametrize("app", ["inference", "datalogger"])
def test_app_compiles_for_the_cortex_m7(app):
    result = subprocess.run(app_compile_command(app, "-fsyntax-only"), capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("number_format", ["float32", "q15"])
def test_the_inference_app_compiles_with_a_gru_header_unchanged(tmp_path, number_format):
    """ModelEngine picks the GRU engine, float32 or q15, behind the same glue."""
    from daisynet.host_sim.model_defn import GruArchitecture, render_header
    from daisynet.host_sim.quantize import quantize_gru_spec, random_gru_spec

    spec = random_gru_spec(GruArchitecture(2, 32, 1, skip_input=1), seed=1,
                           input_names=["knob_1", "audio_in_1"])
    if number_format == "q15":
        spec = quantize_gru_spec(spec)
    (tmp_path / "model_defn.h").write_text(render_header(spec, "test"))
    # The header's folder first: it stands in for firmware/model's.
    result = subprocess.run(app_compile_command("inference", f"-I{tmp_path}", "-c", "-o",
                                                str(tmp_path / "main.o")),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_inference_app_compiles_with_a_bank_of_four_models_in_dtcm(tmp_path):
    """As `daisynet flash inference --model ... x4` stages it: main.cpp beside the bank's
    generated sources, every slot its own translation unit, its engine in DTCM."""
    from daisynet.tools.device.flash import stage_inference_sources
    from tests.firmware.test_patch_runner import patch_bank

    (tmp_path / "models").mkdir()
    app = stage_inference_sources(patch_bank(tmp_path / "models"), tmp_path / "src")
    objdump = require_tool("arm-none-eabi-objdump")
    for source in sorted(app.glob("*.c*")):
        obj = tmp_path / f"{source.stem}.o"
        result = subprocess.run(app_compile_command("inference", f"-I{app}", "-c", "-o",
                                                    str(obj), source=source),
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{source.name}: {result.stderr}"
        sections = subprocess.run([objdump, "-h", str(obj)], capture_output=True, text=True,
                                  check=True).stdout
        in_dtcm = [line for line in sections.splitlines() if ".dtcm_bss" in line]
        assert in_dtcm and int(in_dtcm[0].split()[2], 16) > 0, source.name
    assert len(list(app.glob("slot_*.cc"))) == 4


# What reads the ADC: analogRead() and DaisyDuino's callers of it. Its waits time out on
# HAL_GetTick(), which cannot advance inside the audio interrupt.
ADC_READERS = ("analogRead", "DaisyHardware::ProcessAllControls()",
               "DaisyHardware::ProcessAnalogControls()", "daisy::AnalogControl::Process()")


def calls_reachable_from(obj: Path, function_prefix: str) -> set[str]:
    """Every function ``obj``'s code can call, directly or through its own functions, starting
    from the one whose demangled name starts with ``function_prefix`` (the call relocations of
    each function; -ffunction-sections keeps even local calls as relocations)."""
    listing = subprocess.run([require_tool("arm-none-eabi-objdump"), "-dr", "-C", str(obj)],
                             capture_output=True, text=True, check=True).stdout
    callees: dict[str, set[str]] = {}
    current: set[str] = set()  # relocations come after their function's header
    for line in listing.splitlines():
        if header := re.match(r"^[0-9a-f]+ <(.+)>:$", line):
            current = callees.setdefault(header.group(1), set())
        elif call := re.search(r"\sR_ARM_THM_(?:CALL|JUMP24)\s+(.+)$", line):
            current.add(call.group(1).strip())
    start = [name for name in callees if name.startswith(function_prefix)]
    assert len(start) == 1, f"{function_prefix}: found {start}"
    reached, pending = set(), list(start)
    while pending:
        for callee in callees.get(pending.pop(), ()):
            if callee not in reached:
                reached.add(callee)
                pending.append(callee)
    return reached


@pytest.mark.parametrize("app", ["inference", "datalogger"])
def test_the_audio_callback_reads_no_adc(app, tmp_path):
    """The knobs are read in loop(); the callback only takes the values loop() stored."""
    obj = tmp_path / f"{app}.o"
    subprocess.run([*app_compile_command(app, "-c"), "-o", str(obj)], check=True,
                   capture_output=True)
    reached = calls_reachable_from(obj, "(anonymous namespace)::AudioCallback(")
    assert not [name for name in reached if name.startswith(ADC_READERS)], sorted(reached)
    # loop() still reads them.
    assert any(name.startswith(ADC_READERS) for name in calls_reachable_from(obj, "loop()"))


def test_the_datalogger_recorder_costs_no_flash_for_its_initial_state(tmp_path):
    """A global object with any non-zero default member goes to .data, and its whole initial
    image (the recorder holds kilobytes of frame buffers) is stored in the 128 KiB flash."""
    compiler = require_tool("arm-none-eabi-g++")
    size_tool = require_tool("arm-none-eabi-size")
    source = tmp_path / "recorder_global.cc"
    source.write_text('#include "recorder.h"\ndaisynet::Recorder recorder;\n')
    target = daisy_target()
    obj = tmp_path / "recorder_global.o"
    subprocess.run([compiler, *target.machine_flags, *target.optimize_flags, *target.cxx_flags,
                    f"-I{REPO / 'firmware' / 'core'}", "-c", str(source), "-o", str(obj)],
                   check=True, capture_output=True)
    sections = subprocess.run([size_tool, "-A", str(obj)], capture_output=True, text=True,
                              check=True).stdout
    sizes = {fields[0]: int(fields[1]) for fields in map(str.split, sections.splitlines())
             if len(fields) >= 2 and fields[0].startswith(".") and fields[1].isdigit()}
    assert sizes.get(".data", 0) == 0
    assert sizes[".bss"] > 4096  # the recorder itself, zero-initialised at start-up


def link_with_dtcm_script(tmp_path, state_bytes: int) -> subprocess.CompletedProcess:
    """Link a program whose state is in .dtcm_bss with firmware/inference/dtcm.ld, using the
    emulator's linker script as the default one (the Daisy's comes with PlatformIO)."""
    compiler = require_tool("arm-none-eabi-g++")
    source = tmp_path / "state.cc"
    source.write_text(f'__attribute__((section(".dtcm_bss"))) float state[{state_bytes // 4}];\n'
                      'int main() { state[1] = 1.0f; return static_cast<int>(state[0]); }\n')
    target = daisy_target()
    return subprocess.run(
        [compiler, *target.machine_flags, *target.optimize_flags, *target.cxx_flags,
         "--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles", "-Wl,--no-check-sections",
         f"-Wl,--default-script={REPO / 'firmware' / 'emulator' / 'mps2_an500.ld'}",
         f"-Wl,-T,{REPO / 'firmware' / 'inference' / 'dtcm.ld'}", str(source),
         "-o", str(tmp_path / "state.elf")],
        capture_output=True, text=True)


def test_the_dtcm_script_places_engine_state_in_dtcm_without_flash(tmp_path):
    result = link_with_dtcm_script(tmp_path, 16_384)
    assert result.returncode == 0, result.stderr
    headers = subprocess.run([require_tool("arm-none-eabi-objdump"), "-h",
                              str(tmp_path / "state.elf")], capture_output=True, text=True,
                             check=True).stdout
    line = next(text for text in headers.splitlines() if ".dtcm_bss" in text)
    name, size, vma = line.split()[1:4]
    assert int(size, 16) == 16_384 and int(vma, 16) == 0x20000000  # the H750's DTCM
    flags = headers.splitlines()[headers.splitlines().index(line) + 1]
    assert "ALLOC" in flags and "LOAD" not in flags  # NOLOAD: nothing stored in flash


def test_the_dtcm_script_refuses_state_larger_than_dtcm(tmp_path):
    result = link_with_dtcm_script(tmp_path, 129 * 1024)
    assert result.returncode != 0
    assert "does not fit the 128 KiB DTCM" in result.stderr
