"""The firmware's C++ inference core built for this machine and driven through ctypes.

``NativeEngine(header)`` compiles firmware/core + firmware/native against that model_defn.h
and the CMSIS-DSP C sources of the pinned ``cmsisdsp`` sdist (the library the Python simulator
uses), caching the result in the user's cache directory (host_sim.cache) by content hash.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from daisynet.host_sim.bank import slots_header, write_bank_sources
from daisynet.host_sim.cache import cache_dir, cached_build, fill_atomically
from daisynet.host_sim.daisy_target import BLOCK_FRAMES
from daisynet.host_sim.engine import render_in_blocks
from daisynet.host_sim.engines import family_refusal
from daisynet.host_sim.model_defn import read_header

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "firmware" / "core"
NATIVE = REPO / "firmware" / "native"
CMSIS_SOURCES = [
    "Source/MatrixFunctions/arm_mat_init_f32.c",
    "Source/MatrixFunctions/arm_mat_mult_f32.c",
    "Source/BasicMathFunctions/arm_add_f32.c",
    "Source/BasicMathFunctions/arm_clip_f32.c",
]
# model_defn.h number formats (model::kNumberFormat): float32 weights, or fixed point.
NUMBER_FORMATS = ("float32", "q15", "q7")
# The CMSIS-DSP kernels the fixed-point CMSIS backend calls (wavenet_q_backend.h). Built with
# __GNUC_PYTHON__, arm_mat_mult_q15 takes its plain C path, which needs no arm_mat_trans_q15.
CMSIS_Q_SOURCES = {
    number_format: [f"Source/MatrixFunctions/arm_mat_mult_{number_format}.c",
                    f"Source/BasicMathFunctions/arm_add_{number_format}.c",
                    f"Source/BasicMathFunctions/arm_shift_{number_format}.c",
                    f"Source/BasicMathFunctions/arm_clip_{number_format}.c"]
    for number_format in ("q15", "q7")
}


# The CMSIS-DSP kernels the GRU's CMSIS backend calls (gru_cmsis_backend.h).
CMSIS_GRU_SOURCES = [
    "Source/MatrixFunctions/arm_mat_init_f32.c",
    "Source/MatrixFunctions/arm_mat_mult_f32.c",
    "Source/BasicMathFunctions/arm_add_f32.c",
    "Source/BasicMathFunctions/arm_sub_f32.c",
    "Source/BasicMathFunctions/arm_mult_f32.c",
]
# A q15 GRU's recurrent product (firmware/core/gru_cmsis_backend.h).
CMSIS_GRU_Q15_SOURCES = ["Source/BasicMathFunctions/arm_dot_prod_q15.c"]


def header_number_format(header: str | Path) -> str:
    """The number format a model_defn.h declares: "float32", "q15" or "q7" (the header is read
    and checked in full)."""
    return read_header(header).number_format


def header_family(header: str | Path) -> str:
    """The model family a model_defn.h holds: "wavenet" or "gru" (read and checked in full)."""
    return read_header(header).family


def refuse_unbuildable(header: str | Path, error: type[Exception]) -> None:
    """Raise ``error`` in one line if the firmware core does not run ``header``'s family (its
    compiler errors would be pages long)."""
    if problem := family_refusal("firmware", header_family(header)):
        raise error(f"{header}: {problem}")


def header_io(header: str | Path) -> tuple[int, int]:
    """(inputs, outputs) of a model_defn.h (the header is read and checked in full)."""
    spec = read_header(header)
    return spec.inputs, spec.outputs


def cmsis_sources(number_format: str, family: str = "wavenet") -> list[str]:
    """The CMSIS-DSP C sources the core calls for a model of ``family`` in ``number_format``."""
    if number_format not in NUMBER_FORMATS:
        raise ValueError(f"unknown number format {number_format!r}; one of "
                         f"{', '.join(NUMBER_FORMATS)}")
    if family == "gru":
        return CMSIS_GRU_SOURCES + (CMSIS_GRU_Q15_SOURCES if number_format == "q15" else [])
    return CMSIS_SOURCES if number_format == "float32" else CMSIS_Q_SOURCES[number_format]


def header_cmsis_sources(header: str | Path) -> list[str]:
    """The CMSIS-DSP C sources the core calls for the model of ``header``."""
    spec = read_header(header)
    return cmsis_sources(spec.number_format, spec.family)

# __GNUC_PYTHON__ is how the cmsisdsp Python build compiles CMSIS-DSP without CMSIS-Core.
COMMON_FLAGS = ["-fPIC", "-D__GNUC_PYTHON__", "-Wall", "-Wextra", "-Werror"]
# The cmsisdsp Python package's own optimisation flags (its setup.py), so the native CMSIS
# kernels sum in the same order as host_sim's and the two agree bit for bit.
CMSIS_FLAGS = ["-std=c11", "-O3", "-ffast-math", "-DARM_MATH_LOOPUNROLL"]
# No -ffast-math for the engine: it would let the compiler assume std::isfinite is always true
# and drop the silencing of NaN/inf outputs.
# Hidden visibility: the header's inline weight arrays must stay private to each library, or a
# second model loaded into the same process would bind to the first one's weights.
CXX_FLAGS = ["-std=c++17", "-O2", "-fno-exceptions", "-fno-rtti", "-fvisibility=hidden",
             "-fno-gnu-unique"]
WRAPPED = ["malloc", "calloc", "realloc", "_Znwm", "_Znam"]
# firmware/core/wavenet_engine.h: DAISYNET_ENGINE_BACKEND. "fast" is what the Daisy apps run;
# "cmsis" is the readable reference that sums in the Python simulator's order.
BACKENDS = ("fast", "cmsis")
DEFAULT_BACKEND = "fast"
NATIVE_MAX_BLOCK = 64  # frames per internal block of a bank's engines, as native_engine.cc's


def backend_define(backend: str) -> str:
    """The compiler flag that builds the core with ``backend``."""
    return f"-DDAISYNET_ENGINE_BACKEND=DAISYNET_ENGINE_{backend.upper()}"


MADE_BY_NATIVE = "host_sim/native.py build_bank_library"  # in a native bank's sources


class NativeBuildError(RuntimeError):
    """The compiler or the CMSIS-DSP sources are missing, or the build failed."""


def cmsis_version() -> str:
    return importlib.metadata.version("cmsisdsp")


def cmsis_source_dir() -> Path:
    """Unpacked sdist of the installed cmsisdsp version, downloaded with pip on first use."""
    version = cmsis_version()

    def download(target: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="daisynet-sdist-") as scratch:
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                       "--no-binary", ":all:", "--no-build-isolation", f"cmsisdsp=={version}",
                       "-d", scratch]
            result = subprocess.run(command, capture_output=True, text=True)
            archives = list(Path(scratch).glob("cmsisdsp-*.tar.gz"))
            if not archives:
                raise NativeBuildError(
                    f"could not download the cmsisdsp {version} sdist for its C sources:\n"
                    f"{result.stderr.strip()}"
                )
            with tarfile.open(archives[0]) as archive:
                archive.extractall(scratch, filter="data")
            for item in (Path(scratch) / f"cmsisdsp-{version}").iterdir():
                shutil.move(item, target / item.name)

    return fill_atomically(cache_dir("sdist") / f"cmsisdsp-{version}", download)


def _compiler(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise NativeBuildError(f"{name} not found; install it (Debian: apt-get install g++ gcc)")
    return path


def build_library(header: str | Path, backend: str = DEFAULT_BACKEND) -> Path:
    """Compile (or reuse) the shared library of firmware/native/native_engine.cc for ``header``
    with the engine ``backend``; returns its path."""
    header = _buildable(header, backend)
    cmsis = cmsis_source_dir()
    entry = "native_engine.cc"
    library_name = "libnative_engine.so"

    def build(out_dir: Path) -> None:
        shutil.copyfile(header, out_dir / "model_defn.h")
        includes = _includes(out_dir, cmsis)
        objects = _cmsis_objects(header_cmsis_sources(header), out_dir, includes)
        _link(backend, includes, [NATIVE / entry, *objects], out_dir / library_name)

    out_dir = cached_build("native", [header, *_core_sources(), NATIVE / entry],
                           _build_flags(backend, cmsis), build)
    return out_dir / library_name


def build_bank_library(headers: list[str | Path], backend: str = DEFAULT_BACKEND,
                       entry: str = "native_bank.cc") -> Path:
    """Compile (or reuse) the shared library of a model bank (firmware/native/``entry``: the
    bank's slots by themselves, or patch_runner_native.cc, the Patch app's core over them):
    slot i runs ``headers[i]``'s model with the engine ``backend``; returns its path."""
    headers = [_buildable(header, backend) for header in headers]
    slots = slots_header(len(headers), MADE_BY_NATIVE)
    cmsis = cmsis_source_dir()
    library = f"lib{Path(entry).stem}.so"
    entry = NATIVE / entry

    def build(out_dir: Path) -> None:
        includes = _includes(out_dir, cmsis)
        sources = sorted({source for header in headers
                          for source in header_cmsis_sources(header)})
        objects = _cmsis_objects(sources, out_dir, includes)
        for source in write_bank_sources(headers, out_dir, NATIVE_MAX_BLOCK, MADE_BY_NATIVE):
            obj = source.with_suffix(".o")
            _run([_compiler("g++"), *CXX_FLAGS, backend_define(backend), *COMMON_FLAGS,
                  *includes, "-c", str(source), "-o", str(obj)])
            objects.append(obj)
        _link(backend, includes, [entry, *objects], out_dir / library)

    out_dir = cached_build("native-bank", [*headers, *_core_sources(), entry],
                           _build_flags(backend, cmsis) + [slots], build)
    return out_dir / library


def _buildable(header: str | Path, backend: str) -> Path:
    if backend not in BACKENDS:
        raise ValueError(f"unknown engine backend {backend!r}; one of {', '.join(BACKENDS)}")
    header = Path(header)
    if not header.exists():
        raise FileNotFoundError(f"{header}: no such file")
    refuse_unbuildable(header, NativeBuildError)
    return header


def _core_sources() -> list[Path]:
    """What every native library is built from besides its model and entry point."""
    return [*sorted(CORE.glob("*.h")), *sorted(NATIVE.glob("*.h"))]


def _build_flags(backend: str, cmsis: Path) -> list[str]:
    return COMMON_FLAGS + CMSIS_FLAGS + CXX_FLAGS + [backend_define(backend), cmsis.name]


def _includes(out_dir: Path, cmsis: Path) -> list[str]:
    return [f"-I{out_dir}", f"-I{CORE}", f"-I{NATIVE}", f"-I{cmsis / 'Include'}",
            f"-I{cmsis / 'PrivateInclude'}"]


def _cmsis_objects(sources: list[str], out_dir: Path, includes: list[str]) -> list[Path]:
    """The CMSIS-DSP C ``sources`` compiled into ``out_dir``."""
    cmsis = cmsis_source_dir()
    objects = []
    for index, source in enumerate(sources):
        obj = out_dir / f"cmsis{index}.o"
        _run([_compiler("gcc"), *CMSIS_FLAGS, *COMMON_FLAGS, *includes, "-c",
              str(cmsis / source), "-o", str(obj)])
        objects.append(obj)
    return objects


def _link(backend: str, includes: list[str], inputs: list[Path], library: Path) -> None:
    """The shared library of ``inputs`` (C++ sources and objects), its allocator calls wrapped
    (firmware/native/counting_allocator.h)."""
    wrap = ",".join(f"--wrap={name}" for name in WRAPPED)
    _run([_compiler("g++"), *CXX_FLAGS, backend_define(backend), *COMMON_FLAGS, *includes,
          "-shared", *map(str, inputs), f"-Wl,{wrap}", "-o", str(library)])


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise NativeBuildError(f"build failed: {' '.join(command)}\n{result.stderr.strip()}")


class NativeEngine:
    """The C++ core for one model. The library holds a single engine, so every NativeEngine
    of the same header and backend shares its state; creating one resets it."""

    def __init__(self, header: str | Path, backend: str = DEFAULT_BACKEND) -> None:
        self.backend = backend
        self.library_path = build_library(header, backend=backend)
        lib = ctypes.CDLL(str(self.library_path))
        size_t = ctypes.c_size_t
        for name, restype in [("dn_num_inputs", size_t), ("dn_num_outputs", size_t),
                              ("dn_max_block", size_t), ("dn_engine_bytes", size_t),
                              ("dn_weights_sha256", ctypes.c_char_p),
                              ("dn_allocations", ctypes.c_uint64),
                              ("dn_non_finite_outputs", ctypes.c_uint32)]:
            getattr(lib, name).restype = restype
            getattr(lib, name).argtypes = []
        lib.dn_process.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, size_t]
        lib.dn_process.restype = None
        self._lib = lib
        self.inputs = lib.dn_num_inputs()
        self.outputs = lib.dn_num_outputs()
        self.max_block = lib.dn_max_block()
        self.engine_bytes = lib.dn_engine_bytes()
        self.weights_sha256 = lib.dn_weights_sha256().decode()
        lib.dn_init()

    def reset(self) -> None:
        self._lib.dn_reset()

    @property
    def allocations(self) -> int:
        """Calls to malloc/calloc/realloc/new made by the library's own code so far."""
        return int(self._lib.dn_allocations())

    @property
    def non_finite_outputs(self) -> int:
        return int(self._lib.dn_non_finite_outputs())

    def process(self, block: np.ndarray) -> np.ndarray:
        """(frames, inputs) -> (frames, outputs) float32; state carries over between calls."""
        return _run_planar(self._lib.dn_process, block, self.inputs, self.outputs)

    def render(self, inputs: np.ndarray, block_size: int = BLOCK_FRAMES) -> np.ndarray:
        return render_in_blocks(self.process, self.outputs, inputs, block_size)


class NativeBank:
    """The C++ core for a bank of models (firmware/core/bank_slot.h), ``slots[i]`` running
    ``headers[i]``. The library holds one engine per slot, so every NativeBank of the same
    headers and backend shares their states; creating one resets them."""

    def __init__(self, headers: list[str | Path], backend: str = DEFAULT_BACKEND) -> None:
        self.backend = backend
        self.library_path = build_bank_library(headers, backend)
        lib = ctypes.CDLL(str(self.library_path))
        size_t = ctypes.c_size_t
        for name, restype in [("dn_slot_num_inputs", size_t), ("dn_slot_num_outputs", size_t),
                              ("dn_slot_engine_bytes", size_t),
                              ("dn_slot_name", ctypes.c_char_p),
                              ("dn_slot_weights_sha256", ctypes.c_char_p),
                              ("dn_slot_non_finite_outputs", ctypes.c_uint32)]:
            getattr(lib, name).restype = restype
            getattr(lib, name).argtypes = [size_t]
        for name in ("dn_slot_init", "dn_slot_reset"):
            getattr(lib, name).argtypes = [size_t]
            getattr(lib, name).restype = None
        lib.dn_bank_size.restype = size_t
        lib.dn_allocations.restype = ctypes.c_uint64
        lib.dn_slot_process.argtypes = [size_t, ctypes.POINTER(ctypes.c_void_p),
                                        ctypes.c_void_p, size_t]
        lib.dn_slot_process.restype = None
        self._lib = lib
        self.slots = [BankSlot(lib, index) for index in range(lib.dn_bank_size())]

    @property
    def allocations(self) -> int:
        """Calls to malloc/calloc/realloc/new made by the library's own code so far."""
        return int(self._lib.dn_allocations())

    def player(self, fade_frames: int) -> BankPlayer:
        """The bank's player (firmware/core/bank_player.h) over every slot, slot 0 playing,
        switches crossfaded over ``fade_frames``; every slot is initialised afresh."""
        return BankPlayer(self._lib, fade_frames, self.slots[0].inputs, self.slots[0].outputs)


class BankPlayer:
    """A NativeBank's player: one slot at a time, ``select`` switching at the next block."""

    def __init__(self, lib, fade_frames: int, inputs: int, outputs: int) -> None:
        size_t = ctypes.c_size_t
        lib.dn_player_init.argtypes = lib.dn_player_select.argtypes = [size_t]
        lib.dn_player_init.restype = lib.dn_player_select.restype = ctypes.c_bool
        lib.dn_player_active.restype = size_t
        lib.dn_player_process.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
                                          size_t]
        lib.dn_player_process.restype = None
        if not lib.dn_player_init(fade_frames):
            raise ValueError("the bank's slots differ in inputs or outputs, or the fade is 0")
        self._lib, self.inputs, self.outputs = lib, inputs, outputs

    def select(self, slot: int) -> bool:
        return bool(self._lib.dn_player_select(slot))

    @property
    def active(self) -> int:
        return int(self._lib.dn_player_active())

    def process(self, block: np.ndarray) -> np.ndarray:
        """(frames, inputs) -> (frames, outputs) float32."""
        return _run_planar(self._lib.dn_player_process, block, self.inputs, self.outputs)


class BankSlot:
    """One slot of a NativeBank, used as a NativeEngine is."""

    def __init__(self, lib, index: int) -> None:
        self._lib, self.index = lib, index
        self.inputs = lib.dn_slot_num_inputs(index)
        self.outputs = lib.dn_slot_num_outputs(index)
        self.engine_bytes = lib.dn_slot_engine_bytes(index)
        self.name = lib.dn_slot_name(index).decode()
        self.weights_sha256 = lib.dn_slot_weights_sha256(index).decode()
        lib.dn_slot_init(index)

    def reset(self) -> None:
        self._lib.dn_slot_reset(self.index)

    @property
    def non_finite_outputs(self) -> int:
        return int(self._lib.dn_slot_non_finite_outputs(self.index))

    def process(self, block: np.ndarray) -> np.ndarray:
        """(frames, inputs) -> (frames, outputs) float32; state carries over between calls."""
        return _run_planar(self._lib.dn_slot_process, block, self.inputs, self.outputs,
                           self.index)

    def render(self, inputs: np.ndarray, block_size: int = BLOCK_FRAMES) -> np.ndarray:
        return render_in_blocks(self.process, self.outputs, inputs, block_size)


def _run_planar(process, block: np.ndarray, inputs: int, outputs: int, *leading) -> np.ndarray:
    """``process(*leading, channels, out, frames)`` on a (frames, inputs) float32 ``block`` as
    the engines' Process takes it (a pointer per input channel); returns (frames, outputs)."""
    block = np.asarray(block, dtype=np.float32)
    if block.ndim != 2 or block.shape[1] != inputs:
        raise ValueError(f"expected (frames, {inputs}) input, got shape {block.shape}")
    channels = [np.ascontiguousarray(block[:, c]) for c in range(inputs)]
    pointers = (ctypes.c_void_p * inputs)(*[c.ctypes.data for c in channels])
    out = np.zeros((block.shape[0], outputs), np.float32)
    process(*leading, pointers, out.ctypes.data, block.shape[0])
    return out


# firmware/core/patch_status.h: PatchStatus's fields, in declaration order (all uint32).
STATUS_FIELDS = ("seconds", "clock_hz", "budget_cycles_per_sample", "cycles_per_sample",
                 "model_cycles_per_sample", "p99_cycles_per_sample", "max_cycles_per_sample",
                 "overruns", "callbacks", "non_finite")


# firmware/core/patch_runner.h: BankProblem, in order from 1.
BANK_PROBLEMS = ("the bank is empty", "a model has too many inputs",
                 "an input is not named after a Patch jack or control",
                 "the models' input names differ", "a model has more than one output",
                 "a model was trained at another sample rate than the Patch's 48 kHz",
                 "the bank holds more than 16 models")


class NativePatchRunner:
    """The Patch inference app's core (firmware/core/patch_runner.h) for a bank of models
    (``headers``: one or several model_defn.h), slot 0 playing: four audio jacks and four
    controls in, the playing model's output out; it computes one Daisy audio block
    (daisy_target.BLOCK_FRAMES) at a time. Every runner of the same headers shares one state;
    creating one starts it afresh."""

    def __init__(self, headers: str | Path | list[str | Path]) -> None:
        if isinstance(headers, (str, Path)):
            headers = [headers]
        lib = ctypes.CDLL(str(build_bank_library(headers, entry="patch_runner_native.cc")))
        lib.dn_patch_process.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
                                         ctypes.c_void_p, ctypes.c_size_t]
        lib.dn_patch_non_finite_outputs.restype = ctypes.c_uint32
        lib.dn_patch_callback.argtypes = [ctypes.POINTER(ctypes.c_void_p),
                                           ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
                                           ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint64]
        lib.dn_patch_callback_virtual.argtypes = [
            ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
            ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint32]
        lib.dn_meter_init.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
        lib.dn_meter_add.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_size_t]
        lib.dn_meter_end_period.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p]
        lib.dn_format_status.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
        size_t = ctypes.c_size_t
        lib.dn_patch_check.argtypes = [size_t, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_void_p]
        lib.dn_patch_set_morph.argtypes = [ctypes.c_int]
        lib.dn_patch_set_morph.restype = ctypes.c_bool
        lib.dn_patch_select.argtypes = [size_t]
        lib.dn_patch_select.restype = ctypes.c_bool
        for name in ("dn_patch_active", "dn_patch_requested", "dn_patch_fade_frames"):
            getattr(lib, name).restype = size_t
        lib.dn_allocations.restype = ctypes.c_uint64
        self._lib = lib
        if problem := lib.dn_patch_init():
            raise ValueError(f"the Patch app cannot play this bank: {BANK_PROBLEMS[problem - 1]}")
        self.fade_frames = int(lib.dn_patch_fade_frames())

    def check(self, slot: int) -> dict:
        """Slot ``slot``'s boot self-check (firmware/core/self_check.h): verdict "pass",
        "FAIL" or "none" (no reference in its header), its largest error, and its cycles per
        sample (0: the native build does not count cycles)."""
        verdict, cycles, error = ctypes.c_int(), ctypes.c_uint32(), ctypes.c_float()
        self._lib.dn_patch_check(slot, ctypes.byref(verdict), ctypes.byref(cycles),
                                 ctypes.byref(error))
        return {"verdict": ("none", "pass", "FAIL")[verdict.value],
                "max_error": float(error.value), "cycles_per_sample": int(cycles.value)}

    def set_morph(self, control: int | None) -> bool:
        """Morph: control ``control`` (0..3; None: off) blends the selected model with the
        next one (firmware/core/bank_player.h); False if the app refuses it."""
        return bool(self._lib.dn_patch_set_morph(-1 if control is None else control))

    def select(self, slot: int) -> bool:
        """Ask for ``slot`` from the next block, as turning the encoder does."""
        return bool(self._lib.dn_patch_select(slot))

    @property
    def active(self) -> int:
        """The slot heard (the new one from the start of a switch's fade)."""
        return int(self._lib.dn_patch_active())

    @property
    def requested(self) -> int:
        return int(self._lib.dn_patch_requested())

    @property
    def allocations(self) -> int:
        """Calls to malloc/calloc/realloc/new made by the library's own code so far."""
        return int(self._lib.dn_allocations())

    def process(self, audio_in: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """One audio block: (frames, 4) jacks and 4 control values -> (frames,) output."""
        audio_in = np.asarray(audio_in, dtype=np.float32)
        if audio_in.ndim != 2 or audio_in.shape[1] != 4:
            raise ValueError(f"expected (frames, 4) audio, got {audio_in.shape}")
        jacks = [np.ascontiguousarray(audio_in[:, j]) for j in range(4)]
        pointers = (ctypes.c_void_p * 4)(*[jack.ctypes.data for jack in jacks])
        knobs = np.ascontiguousarray(controls, dtype=np.float32)
        out = np.zeros(len(audio_in), np.float32)
        self._lib.dn_patch_process(pointers, knobs.ctypes.data, out.ctypes.data, len(audio_in))
        return out

    def callback(self, audio_in: np.ndarray, controls: np.ndarray, clock_hz: int,
                 stall_ns: int = 0, model_cycles: int | None = None) -> np.ndarray:
        """One audio callback as the inference app runs it, timed into the meter (see
        meter_init) with the host's clock, or with ``model_cycles``, a virtual count that does
        not depend on the host (the stall then counts as its cycles at ``clock_hz``);
        (frames, 4) jacks and 4 controls -> (frames, 4) outputs."""
        audio_in = np.asarray(audio_in, dtype=np.float32)
        jacks = [np.ascontiguousarray(audio_in[:, j]) for j in range(4)]
        outs = [np.zeros(len(audio_in), np.float32) for _ in range(4)]
        in_pointers = (ctypes.c_void_p * 4)(*[jack.ctypes.data for jack in jacks])
        out_pointers = (ctypes.c_void_p * 4)(*[out.ctypes.data for out in outs])
        knobs = np.ascontiguousarray(controls, dtype=np.float32)
        if model_cycles is None:
            self._lib.dn_patch_callback(in_pointers, out_pointers, knobs.ctypes.data,
                                        len(audio_in), clock_hz, stall_ns)
        else:
            self._lib.dn_patch_callback_virtual(in_pointers, out_pointers, knobs.ctypes.data,
                                                len(audio_in), model_cycles,
                                                round(stall_ns * 1e-9 * clock_hz))
        return np.stack(outs, axis=1)

    @property
    def non_finite_outputs(self) -> int:
        return int(self._lib.dn_patch_non_finite_outputs())

    def meter_init(self, clock_hz: int, sample_rate: int) -> None:
        self._lib.dn_meter_init(clock_hz, sample_rate)

    def meter_add(self, model_cycles: int, callback_cycles: int, frames: int) -> None:
        """One audio callback's cycle counts, as the interrupt hands them to the meter."""
        self._lib.dn_meter_add(model_cycles, callback_cycles, frames)

    def meter_end_period(self, seconds: int, non_finite: int) -> dict[str, int]:
        """End the meter's period; its PatchStatus, named as in STATUS_FIELDS."""
        fields = np.zeros(len(STATUS_FIELDS), np.uint32)
        self._lib.dn_meter_end_period(seconds, non_finite, fields.ctypes.data)
        return {name: int(value) for name, value in zip(STATUS_FIELDS, fields, strict=True)}

    def status_text(self, status: dict[str, int]) -> tuple[str, list[str]]:
        """The firmware's USB status line and OLED lines (the playing model's self-check, then
        the figures) for a PatchStatus."""
        buffer = ctypes.create_string_buffer(512)
        fields = np.array([status[name] for name in STATUS_FIELDS], np.uint32)
        self._lib.dn_format_status(buffer, len(buffer), fields.ctypes.data)
        status_line, *oled_lines = buffer.value.decode().split("\n")
        return status_line, oled_lines


ACTIVATIONS = ("tanh", "sigmoid")  # gru_activations_native.cc's function numbers, in order


class NativeActivations:
    """firmware/core/gru_activations.h's FastTanh and FastSigmoid built for this machine."""

    def __init__(self) -> None:
        entry = NATIVE / "gru_activations_native.cc"

        def build(out_dir: Path) -> None:
            _run([_compiler("g++"), *CXX_FLAGS, *COMMON_FLAGS, f"-I{CORE}", "-shared",
                  str(entry), "-o", str(out_dir / "libgru_activations.so")])

        out_dir = cached_build("native-activations", [CORE / "gru_activations.h", entry],
                               COMMON_FLAGS + CXX_FLAGS, build)
        lib = ctypes.CDLL(str(out_dir / "libgru_activations.so"))
        lib.dn_activation.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.c_size_t]
        lib.dn_activation.restype = None
        lib.dn_activation_max_error.argtypes = [ctypes.c_int, ctypes.c_float, ctypes.c_uint32,
                                                ctypes.POINTER(ctypes.c_float)]
        lib.dn_activation_max_error.restype = ctypes.c_double
        self._lib = lib

    def __call__(self, function: str, x: np.ndarray) -> np.ndarray:
        """``function`` ("tanh" or "sigmoid") of float32 ``x``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty_like(x)
        self._lib.dn_activation(ACTIVATIONS.index(function), x.ctypes.data, out.ctypes.data,
                                x.size)
        return out

    def max_error(self, function: str, limit: float, stride: int = 1) -> tuple[float, float]:
        """(largest absolute error against the exact function in double, the x where it is) over
        every ``stride``-th float32 of [-limit, limit]."""
        worst = ctypes.c_float(0.0)
        error = self._lib.dn_activation_max_error(ACTIVATIONS.index(function), limit, stride,
                                                  ctypes.byref(worst))
        return float(error), worst.value
