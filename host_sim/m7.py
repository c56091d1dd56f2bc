"""The firmware's inference core built for the Cortex-M7 and run on QEMU's mps2-an500.

``M7Engine(header)`` cross-compiles firmware/core + firmware/emulator with Debian's
``arm-none-eabi-g++`` against that model_defn.h and the CMSIS-DSP C sources of the pinned
``cmsisdsp`` sdist (the library the Python simulator uses), caching the ELF in the user's cache
directory (host_sim.cache) by content hash. ``run()`` hands the inputs to the emulated M7
through semihosting files and returns its outputs with the instruction count of the audio path,
measured with SysTick under ``-icount shift=0`` (one virtual nanosecond per instruction, so the
count is deterministic).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daisynet.host_sim.bank import slots_header, write_bank_sources
from daisynet.host_sim.cache import cached_build
from daisynet.host_sim.daisy_target import BLOCK_FRAMES, daisy_target
from daisynet.host_sim.files import write_text
from daisynet.host_sim.native import (
    BACKENDS,
    DEFAULT_BACKEND,
    REPO,
    STATUS_FIELDS,
    NativeBuildError,
    backend_define,
    cmsis_source_dir,
    header_cmsis_sources,
    header_family,
    header_io,
    header_number_format,
    refuse_unbuildable,
)

CORE = REPO / "firmware" / "core"
EMULATOR = REPO / "firmware" / "emulator"
DEBIAN_PACKAGES = ("gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib "
                   "qemu-system-arm")
TARGET = daisy_target()
# Exactly the Daisy build's flags (platformio.ini [daisy]): Cortex-M7 with the single-precision
# FPv4 unit as PlatformIO configures it, -O2. GNU dialects keep GCC's default
# -ffp-contract=fast, so multiply-adds fuse into VFMA as on the Daisy. Added here only:
# __GNUC_PYTHON__ lets CMSIS-DSP compile without CMSIS-Core headers (the sdist has none; the
# float kernels are the same C either way), and warnings as errors.
ARCH_FLAGS = TARGET.machine_flags
COMMON_FLAGS = [*ARCH_FLAGS, *TARGET.optimize_flags, *TARGET.common_flags, "-D__GNUC_PYTHON__",
                "-Wall", "-Wextra", "-Werror"]
C_FLAGS = TARGET.c_flags
CXX_FLAGS = TARGET.cxx_flags
# newlib-nano as on the Daisy (no float printf), plus the semihosting flavour for stdio and
# files; the start-up code is our own.
LINK_FLAGS = [*TARGET.link_flags, "--specs=rdimon.specs", "-nostartfiles"]
# The engine harness counts allocator calls (harness.cc wraps them).
ENGINE_LINK_FLAGS = [*LINK_FLAGS, "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc"]
# The engine backends the emulated firmware builds: the core's, plus the original blog
# firmware's approach (one arm_mat_mult_f32 + arm_add_f32 per tap per sample), which only
# `daisynet bench` runs, as the baseline of its speed-up.
M7_BACKENDS = (*BACKENDS, "per_sample")
MAX_BLOCK = 64  # firmware/emulator/engine_unit.h: kMaxBlock
# The harness holds the whole input and output in the emulated 4 MiB of RAM, less room for
# the stack, the engine and newlib.
RAM_FOR_AUDIO_BYTES = 3 * 1024 * 1024
QEMU_TIMEOUT_SECONDS = 900
MADE_BY_M7 = "host_sim/m7.py build_bank_firmware"  # in an emulated bank's sources


class M7Error(RuntimeError):
    """The ARM toolchain or QEMU is missing, the build failed, or the emulated run failed."""


class M7ToolMissingError(M7Error):
    """The ARM toolchain or QEMU is not installed (callers may do without the emulated M7)."""


class M7MemoryOverflowError(M7Error):
    """The model does not fit the emulated Cortex-M7's memory (the linker said so)."""


@dataclass(frozen=True)
class M7Build:
    elf: Path
    # What the model adds to a firmware image (engine_unit.o plus the CMSIS-DSP kernels it
    # calls): code and weights in flash, engine state in RAM.
    flash_bytes: int
    ram_bytes: int


@dataclass
class M7Run:
    outputs: np.ndarray  # frames x outputs float32
    block_size: int
    instructions: int  # executed by the Process() calls, counted with SysTick under -icount
    non_finite_outputs: int
    allocations: int  # allocator calls made during the Process() calls
    engine_bytes: int

    @property
    def instructions_per_sample(self) -> float:
        return self.instructions / max(1, len(self.outputs))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise M7ToolMissingError(f"{name} not found; install the Cortex-M7 toolchain and emulator "
                      f"(Debian: apt-get install {DEBIAN_PACKAGES})")
    return path


def _run_build(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    overflow = re.search(r"region `(\w+)' overflowed by (\d+) bytes", result.stderr)
    if overflow:
        raise M7MemoryOverflowError(
            f"the model does not fit the emulated Cortex-M7's {overflow[1]}: over by "
            f"{int(overflow[2]):,} bytes (its layer history grows with the receptive field, "
            "kernel size ** blocks)")
    if result.returncode != 0:
        raise M7Error(f"build failed: {' '.join(command)}\n{result.stderr.strip()}")


def build_firmware(header: str | Path, backend: str = DEFAULT_BACKEND) -> M7Build:
    """Cross-compile (or reuse) the emulator harness for ``header`` with the engine
    ``backend`` (one of M7_BACKENDS)."""
    if backend not in M7_BACKENDS:
        raise ValueError(f"unknown engine backend {backend!r}; one of {', '.join(M7_BACKENDS)}")
    header = Path(header)
    if not header.exists():
        raise FileNotFoundError(f"{header}: no such file")
    refuse_unbuildable(header, M7Error)
    if backend == "per_sample" and header_family(header) != "wavenet":
        raise ValueError("the per_sample baseline runs wavenet models only")
    gcc, gxx = _tool("arm-none-eabi-gcc"), _tool("arm-none-eabi-g++")
    size = _tool("arm-none-eabi-size")
    cmsis = _cmsis_for_m7()
    sources, flags = _engine_image_key(backend)

    def build(out_dir: Path) -> None:
        shutil.copyfile(header, out_dir / "model_defn.h")
        includes = [f"-I{out_dir}", f"-I{CORE}", f"-I{EMULATOR}", f"-I{cmsis / 'Include'}",
                    f"-I{cmsis / 'PrivateInclude'}"]
        model_objects = []
        # The fast backend calls no CMSIS-DSP kernel, so its footprint holds none.
        sources = header_cmsis_sources(header) if backend != "fast" else []
        for index, source in enumerate(sources):
            obj = out_dir / f"cmsis{index}.o"
            _run_build([gcc, *COMMON_FLAGS, *C_FLAGS, *includes, "-c", str(cmsis / source),
                        "-o", str(obj)])
            model_objects.append(obj)
        engine_obj = out_dir / "engine_unit.o"
        _run_build([gxx, *COMMON_FLAGS, *CXX_FLAGS, backend_define(backend), *includes, "-c",
                    str(EMULATOR / "engine_unit.cc"), "-o", str(engine_obj)])
        model_objects.append(engine_obj)
        _link_harness(out_dir, includes, model_objects)
        flash, ram = _footprint(size, model_objects)
        write_text(out_dir / "footprint.txt", f"{flash} {ram}\n")

    out_dir = cached_build("m7", [header, *sources], [*flags, cmsis.name], build)
    flash, ram = (int(part) for part in (out_dir / "footprint.txt").read_text().split())
    return M7Build(elf=out_dir / "harness.elf", flash_bytes=flash, ram_bytes=ram)


def _cmsis_for_m7() -> Path:
    try:
        return cmsis_source_dir()
    except NativeBuildError as err:
        raise M7Error(str(err)) from err


def _engine_image_key(backend: str) -> tuple[list[Path], list[str]]:
    """What an engine image's build depends on besides its models: sources and flags."""
    return ([*sorted(CORE.glob("*.h")), *sorted(EMULATOR.iterdir())],
            [*COMMON_FLAGS, *C_FLAGS, *CXX_FLAGS, *ENGINE_LINK_FLAGS, backend_define(backend)])


def _link_harness(out_dir: Path, includes: list[str], model_objects: list[Path]) -> None:
    """out_dir/harness.elf: the engine harness (harness.cc, our start-up) over
    ``model_objects``, which implement engine_unit.h."""
    gcc, gxx = _tool("arm-none-eabi-gcc"), _tool("arm-none-eabi-g++")
    harness_objects = [out_dir / "harness.o", out_dir / "startup.o"]
    _run_build([gxx, *COMMON_FLAGS, *CXX_FLAGS, *includes, "-c",
                str(EMULATOR / "harness.cc"), "-o", str(harness_objects[0])])
    _run_build([gcc, *COMMON_FLAGS, *C_FLAGS, "-c", str(EMULATOR / "startup.c"), "-o",
                str(harness_objects[1])])
    _run_build([gxx, *ARCH_FLAGS, *ENGINE_LINK_FLAGS, "-T", str(EMULATOR / "mps2_an500.ld"),
                *map(str, harness_objects + model_objects), "-o", str(out_dir / "harness.elf")])


@dataclass
class M7BankBuild:
    elf: Path
    patch_elf: Path  # the inference app's core over the bank (patch_harness.cc)
    slots: list[M7Build]  # each slot's own footprint (its object), all sharing ``elf``
    # What the bank adds besides its slots: the CMSIS-DSP kernels they call and the switch.
    shared_flash_bytes: int
    shared_ram_bytes: int

    @property
    def flash_bytes(self) -> int:
        return self.shared_flash_bytes + sum(slot.flash_bytes for slot in self.slots)


def build_bank_firmware(headers: list[str | Path], backend: str = DEFAULT_BACKEND
                        ) -> M7BankBuild:
    """Cross-compile (or reuse) the emulator harness over a model bank whose slot i runs
    ``headers[i]`` with the engine ``backend`` (fast or cmsis)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown engine backend {backend!r}; one of {', '.join(BACKENDS)}")
    headers = [Path(header) for header in headers]
    for header in headers:
        if not header.exists():
            raise FileNotFoundError(f"{header}: no such file")
        refuse_unbuildable(header, M7Error)
    gcc, gxx = _tool("arm-none-eabi-gcc"), _tool("arm-none-eabi-g++")
    size = _tool("arm-none-eabi-size")
    cmsis = _cmsis_for_m7()
    sources, flags = _engine_image_key(backend)
    slots = slots_header(len(headers), MADE_BY_M7)

    def build(out_dir: Path) -> None:
        includes = [f"-I{out_dir}", f"-I{CORE}", f"-I{EMULATOR}", f"-I{cmsis / 'Include'}",
                    f"-I{cmsis / 'PrivateInclude'}"]
        slot_sources = write_bank_sources(headers, out_dir, MAX_BLOCK, MADE_BY_M7)
        shared = []
        kernels = sorted({source for header in headers for source in header_cmsis_sources(header)})
        for index, source in enumerate(kernels if backend != "fast" else []):
            obj = out_dir / f"cmsis{index}.o"
            _run_build([gcc, *COMMON_FLAGS, *C_FLAGS, *includes, "-c", str(cmsis / source),
                        "-o", str(obj)])
            shared.append(obj)
        shared.append(out_dir / "bank_unit.o")
        _run_build([gxx, *COMMON_FLAGS, *CXX_FLAGS, *includes, "-c",
                    str(EMULATOR / "bank_unit.cc"), "-o", str(shared[-1])])
        slot_objects = []
        for source in slot_sources:
            slot_objects.append(source.with_suffix(".o"))
            _run_build([gxx, *COMMON_FLAGS, *CXX_FLAGS, backend_define(backend), *includes,
                        "-c", str(source), "-o", str(slot_objects[-1])])
        _link_harness(out_dir, includes, shared + slot_objects)
        patch_objects = [out_dir / "patch_harness.o", out_dir / "startup.o"]
        _run_build([gxx, *COMMON_FLAGS, *CXX_FLAGS, *includes, "-c",
                    str(EMULATOR / "patch_harness.cc"), "-o", str(patch_objects[0])])
        kernels_objects = [obj for obj in shared if obj.name.startswith("cmsis")]
        _run_build([gxx, *ARCH_FLAGS, *LINK_FLAGS, "-T", str(EMULATOR / "mps2_an500.ld"),
                    *map(str, patch_objects + kernels_objects + slot_objects), "-o",
                    str(out_dir / "patch.elf")])
        footprints = [_footprint(size, shared), *(_footprint(size, [obj]) for obj in slot_objects)]
        write_text(out_dir / "footprint.txt",
                   "".join(f"{flash} {ram}\n" for flash, ram in footprints))

    out_dir = cached_build("m7-bank", [*headers, *sources], [*flags, cmsis.name, slots], build)
    (shared_flash, shared_ram), *per_slot = (
        tuple(int(part) for part in line.split())
        for line in (out_dir / "footprint.txt").read_text().splitlines())
    elf = out_dir / "harness.elf"
    return M7BankBuild(elf=elf, patch_elf=out_dir / "patch.elf",
                       slots=[M7Build(elf, flash, ram) for flash, ram in per_slot],
                       shared_flash_bytes=shared_flash, shared_ram_bytes=shared_ram)


def _footprint(size_tool: str, objects: list[Path]) -> tuple[int, int]:
    """(flash, RAM) bytes of ``objects``: text + data in flash, data + bss in RAM (Berkeley
    format, where text includes read-only data such as the weights)."""
    result = subprocess.run([size_tool, "-B", *map(str, objects)], capture_output=True,
                            text=True, check=True)
    flash = ram = 0
    for line in result.stdout.splitlines()[1:]:
        text, data, bss = (int(field) for field in line.split()[:3])
        flash += text + data
        ram += data + bss
    return flash, ram


_RESULT_LINE = re.compile(r"^daisynet-m7 (frames=.*)$", re.MULTILINE)


def run_qemu(elf: Path, words: list[str], work: Path, what: str) -> str:
    """Run ``elf`` on the emulated Cortex-M7 with the semihosting command line ``words`` in
    folder ``work``; returns what it printed. ``what`` names the job in a time-out message."""
    arguments = ",".join(f"arg={word}" for word in words)
    command = [_tool("qemu-system-arm"), "-machine", "mps2-an500", "-cpu", "cortex-m7",
               "-nographic", "-monitor", "none", "-serial", "none", "-icount", "shift=0",
               "-semihosting-config", f"enable=on,target=native,{arguments}", "-kernel", str(elf)]
    try:
        result = subprocess.run(command, cwd=work, capture_output=True, text=True,
                                timeout=QEMU_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as err:
        raise M7Error(f"the emulated Cortex-M7 did not finish in {QEMU_TIMEOUT_SECONDS} s "
                      f"({what})") from err
    if result.returncode != 0:
        said = (result.stdout + result.stderr).strip().splitlines()
        raise M7Error(f"the emulated Cortex-M7 run failed (exit {result.returncode}): "
                      + (said[-1] if said else "no output"))
    return result.stdout


def _build_harness(name: str, core_headers: list[str]) -> Path:
    """Cross-compile (or reuse) firmware/emulator/NAME.cc, which includes ``core_headers`` of
    firmware/core, linked like the Daisy apps (the Daisy's flags, newlib-nano, no float
    printf); returns the ELF."""
    gcc, gxx = _tool("arm-none-eabi-gcc"), _tool("arm-none-eabi-g++")
    sources = [*(CORE / header for header in core_headers), EMULATOR / f"{name}.cc",
               EMULATOR / "semihosting.h", EMULATOR / "startup.c", EMULATOR / "mps2_an500.ld"]

    def build(out_dir: Path) -> None:
        objects = [out_dir / f"{name}.o", out_dir / "startup.o"]
        _run_build([gxx, *COMMON_FLAGS, *CXX_FLAGS, f"-I{CORE}", f"-I{EMULATOR}", "-c",
                    str(EMULATOR / f"{name}.cc"), "-o", str(objects[0])])
        _run_build([gcc, *COMMON_FLAGS, *C_FLAGS, "-c", str(EMULATOR / "startup.c"), "-o",
                    str(objects[1])])
        _run_build([gxx, *ARCH_FLAGS, *LINK_FLAGS, "-T", str(EMULATOR / "mps2_an500.ld"),
                    *map(str, objects), "-o", str(out_dir / f"{name}.elf")])

    out_dir = cached_build(f"m7-{name}", sources,
                           COMMON_FLAGS + C_FLAGS + CXX_FLAGS + LINK_FLAGS, build)
    return out_dir / f"{name}.elf"


def status_text_on_m7(model_name: str, status: dict[str, int],
                      check: tuple[str, int, int] = ("pass", 0, 0)) -> tuple[str, list[str]]:
    """The inference app's USB status line and OLED lines (self-check, then figures) for a
    PatchStatus (named as in host_sim.native.STATUS_FIELDS) and a self-check (verdict, cycles
    and emulated instructions per sample), as the emulated Cortex-M7 formats them with
    newlib-nano."""
    with tempfile.TemporaryDirectory(prefix="daisynet-m7-") as scratch:
        printed = run_qemu(_build_harness("status_harness", ["patch_status.h"]),
                           ["status_harness", model_name, *map(str, check),
                            *(str(status[name]) for name in STATUS_FIELDS)],
                           Path(scratch), "status text")
    status_lines = [line.removeprefix("daisynet-status ") for line in printed.splitlines()
                    if line.startswith("daisynet-status ")]
    oled = [line.removeprefix("daisynet-oled ") for line in printed.splitlines()
            if line.startswith("daisynet-oled ")]
    if len(status_lines) != 1:
        raise M7Error(f"the status harness printed no status line: {printed.strip()!r}")
    return status_lines[0], oled


def activations_on_m7(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FastTanh, FastSigmoid) of float32 ``x`` as the emulated Cortex-M7 computes them
    (firmware/core/gru_activations.h, the Daisy's flags)."""
    x = np.ascontiguousarray(x, dtype="<f4").reshape(-1)
    with tempfile.TemporaryDirectory(prefix="daisynet-m7-") as scratch:
        work = Path(scratch)
        x.tofile(work / "input.f32")
        printed = run_qemu(_build_harness("activations_harness", ["gru_activations.h"]),
                           ["activations_harness", "input.f32", "output.f32", str(x.size)],
                           work, f"{x.size} activations")
        if f"daisynet-activations count={x.size}" not in printed:
            raise M7Error(f"the activations harness failed: {printed.strip()!r}")
        out = np.fromfile(work / "output.f32", dtype="<f4")
    return out[: x.size], out[x.size :]


class M7Engine:
    """The C++ core for one model, run on the emulated Cortex-M7: built for ``header`` alone,
    or slot ``slot`` of a bank's ``build`` (M7Bank)."""

    def __init__(self, header: str | Path, backend: str = DEFAULT_BACKEND,
                 build: M7Build | None = None, slot: int = 0) -> None:
        self.number_format = header_number_format(header)
        self.inputs, self.outputs = header_io(header)
        self.backend = backend
        self.build = build or build_firmware(header, backend)
        self.slot = slot
        _tool("qemu-system-arm")
        self.max_frames = RAM_FOR_AUDIO_BYTES // (4 * (self.inputs + self.outputs))

    def run(self, inputs: np.ndarray, block_size: int = BLOCK_FRAMES) -> M7Run:
        """Process (frames, inputs) float32 from a fresh engine in blocks of ``block_size``."""
        inputs = np.asarray(inputs, dtype=np.float32)
        if inputs.ndim != 2 or inputs.shape[1] != self.inputs:
            raise ValueError(f"expected (frames, {self.inputs}) input, got shape "
                             f"{inputs.shape}")
        if len(inputs) > self.max_frames:
            raise M7Error(f"{len(inputs)} frames do not fit the emulated Cortex-M7's RAM (at "
                          f"most {self.max_frames} frames for this model); use --engine "
                          "native for long audio")
        if not 1 <= block_size <= MAX_BLOCK:
            raise ValueError(f"block size {block_size} is outside 1..{MAX_BLOCK}, the emulated "
                             "firmware's range")
        frames = len(inputs)
        with tempfile.TemporaryDirectory(prefix="daisynet-m7-") as scratch:
            work = Path(scratch)
            # Channel-major, so each input channel is contiguous as in the Daisy's callback.
            np.ascontiguousarray(inputs.T, dtype="<f4").tofile(work / "input.f32")
            stdout = self._qemu(work, block_size, frames)
            outputs = np.fromfile(work / "output.f32", dtype="<f4")
        fields = self._parse(stdout)
        if fields["frames"] != frames or outputs.size != frames * self.outputs:
            raise M7Error(f"the emulated firmware returned {outputs.size} values for {frames} "
                          "frames")
        ticks_per_instruction = fields["calibration_ticks"] / fields["calibration_instructions"]
        return M7Run(
            outputs=outputs.reshape(frames, self.outputs),
            block_size=block_size,
            instructions=round(fields["process_ticks"] / ticks_per_instruction),
            non_finite_outputs=fields["non_finite"],
            allocations=fields["allocations"],
            engine_bytes=fields["engine_bytes"],
        )

    def render(self, inputs: np.ndarray, block_size: int = BLOCK_FRAMES) -> np.ndarray:
        return self.run(inputs, block_size).outputs

    def self_check(self) -> dict:
        """The boot self-check (firmware/core/self_check.h) of this slot of a bank's image, as
        the Daisy runs it: verdict "pass", "FAIL" or "none", its largest error, and the
        instructions per sample of its process() calls."""
        fields, ticks_per_instruction = _harness_result(
            self.build.elf, ["harness", "--self-check", str(self.slot)], "daisynet-m7-check",
            "self-check")
        return {"verdict": ("none", "pass", "FAIL")[fields["verdict"]],
                "max_error": float(np.uint32(fields["max_error_bits"]).view(np.float32)),
                "instructions_per_sample": round(fields["ticks_per_sample"]
                                                 / ticks_per_instruction)}

    def _qemu(self, work: Path, block_size: int, frames: int) -> str:
        result = run_qemu(self.build.elf, ["harness", "input.f32", "output.f32",
                                           str(block_size), str(frames), str(self.slot)],
                          work, f"{frames} frames")
        if not _RESULT_LINE.search(result):
            said = result.strip().splitlines()
            raise M7Error("the emulated Cortex-M7 run failed: " + (said[-1] if said else
                                                                   "no output"))
        return result

    @staticmethod
    def _parse(stdout: str) -> dict[str, int]:
        line = _RESULT_LINE.search(stdout).group(1)
        return {key: int(value) for key, value in (pair.split("=") for pair in line.split())}


class M7Bank:
    """A bank of models (firmware/core/bank_slot.h) in one image on the emulated Cortex-M7:
    ``slots[i]`` runs ``headers[i]``, each used as an M7Engine is."""

    def __init__(self, headers: list[str | Path], backend: str = DEFAULT_BACKEND) -> None:
        self.build = build_bank_firmware(headers, backend)
        self.slots = [M7Engine(header, backend, slot_build, index) for index, (header, slot_build)
                      in enumerate(zip(headers, self.build.slots, strict=True))]

    def play(self, blocks: int, switch_block: int, switch_to: int,
             morph_control: int = -1) -> dict:
        """The inference app's core (firmware/core/patch_runner.h) playing this bank for
        ``blocks`` audio blocks of 48 frames, the encoder selecting ``switch_to`` before block
        ``switch_block``, morphing with control ``morph_control`` held at 0.5 (-1: not); the
        instructions per sample of the slowest block and on average."""
        fields, per_instruction = _harness_result(
            self.build.patch_elf, ["patch_harness", str(blocks), str(switch_block),
                                   str(switch_to), str(morph_control)], "daisynet-m7-patch",
            f"{blocks} blocks of the app core")
        frames = 48
        return {"problem": fields["problem"],
                "max_instructions_per_sample": fields["max_block_ticks"] / per_instruction
                / frames,
                "mean_instructions_per_sample": fields["total_ticks"] / per_instruction
                / (frames * fields["blocks"])}


def _harness_result(elf: Path, words: list[str], tag: str, what: str
                    ) -> tuple[dict[str, int], float]:
    """Run ``elf`` with the command line ``words``; the whole numbers of its "TAG key=value ..."
    line, and the SysTick ticks per instruction its calibration loop measured."""
    with tempfile.TemporaryDirectory(prefix="daisynet-m7-") as scratch:
        printed = run_qemu(elf, words, Path(scratch), what)
    found = re.search(rf"^{tag} (.*)$", printed, re.M)
    if not found:
        said = printed.strip().splitlines()
        raise M7Error(f"the emulated {what} failed: " + (said[-1] if said else "no output"))
    fields = {key: int(value) for key, value in
              (pair.split("=") for pair in found.group(1).split())}
    return fields, fields["calibration_ticks"] / fields["calibration_instructions"]
