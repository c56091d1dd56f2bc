"""The suite's devices: third-party processors from PyPI, each with one knob (0..1).

Each device maps its knob to one parameter, as its description says, and is driven the way the
Daisy's datalogger reads a knob: one value per 48-frame audio block, held for the block. The
pedalboard devices (JUCE and pedalboard's own DSP) process one block at a time with
``reset=False``, their parameter set before each block, so their state runs on across blocks:
processed so, a fixed knob gives exactly what one call over the whole signal gives. JUCE's
ladder filter ramps its cutoff over 50 ms after each change (a knob step settles in about 2,500
samples); the other pedalboard devices take a new value at once. The Faust devices (dawdreamer's
FaustProcessor, with the Faust libraries it bundles) get the knob as a second audio-rate input
signal, held per block, so the device sees every block's value from its first sample on.

pedalboard and dawdreamer are optional extras (``pip install 'daisynet[suite]'``), needed only
here: ``require_packages`` says so in one line when they are missing.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from daisynet.host_sim.daisy_target import BLOCK_FRAMES

SUITE_PACKAGES = ("pedalboard", "dawdreamer")
# A cutoff knob spans what a eurorack filter's knob does: 60 Hz .. 7.7 kHz, exponentially.
LOWEST_CUTOFF_HZ = 60.0
HIGHEST_CUTOFF_HZ = 7700.0


class SuitePackagesMissingError(RuntimeError):
    """pedalboard or dawdreamer is not installed; the message says how to install them."""


def require_packages() -> None:
    """Raise SuitePackagesMissingError, in one line, unless every suite package is installed.
    Found, not imported: importing dawdreamer into a process that has loaded TensorFlow
    crashes it (a segmentation fault), so it is imported only in the child that renders."""
    missing = [package for package in SUITE_PACKAGES if importlib.util.find_spec(package) is None]
    if missing:
        raise SuitePackagesMissingError(
            f"the device suite needs {' and '.join(missing)} (optional extras, only for the "
            "benchmark): pip install 'daisynet[suite]'")


@dataclass(frozen=True)
class Device:
    """A processor with one knob. ``render(audio, knob, sample_rate)`` takes the dry audio
    (frames,) and the knob per audio block (0..1, blocks = ceil(frames / BLOCK_FRAMES)) and
    returns the wet audio (frames,) float32."""

    name: str
    kind: str  # "filter", "distortion", "dynamics" or "bitcrusher"
    package: str
    description: str  # what the device is and what its knob turns, with the mapping
    process: Callable[[np.ndarray, np.ndarray, int], np.ndarray]
    # Its output level, set (like a module's output trim) so resonance peaks stay inside the
    # Patch's +-2 input.
    level: float = 1.0

    def render(self, audio: np.ndarray, knob: np.ndarray, sample_rate: int) -> np.ndarray:
        return self.level * self.process(audio, knob, sample_rate)


def cutoff_hz(knob: np.ndarray) -> np.ndarray:
    """The cutoff knob's exponential mapping: 0 -> LOWEST_CUTOFF_HZ, 1 -> HIGHEST_CUTOFF_HZ."""
    return LOWEST_CUTOFF_HZ * (HIGHEST_CUTOFF_HZ / LOWEST_CUTOFF_HZ) ** np.asarray(knob)


# --- pedalboard: one block at a time, the parameter set before each ---------------------------


def _pedalboard_render(make: Callable[[object], object], set_knob: Callable[[object, float], None]):
    def render(audio: np.ndarray, knob: np.ndarray, sample_rate: int) -> np.ndarray:
        import pedalboard

        plugin = make(pedalboard)
        audio = np.asarray(audio, dtype=np.float32)
        wet = np.empty_like(audio)
        for block, value in enumerate(knob):
            start = block * BLOCK_FRAMES
            set_knob(plugin, float(value))
            wet[start : start + BLOCK_FRAMES] = plugin.process(
                audio[None, start : start + BLOCK_FRAMES], sample_rate, reset=False)[0]
        return wet

    return render


def _ladder(pb):
    return pb.LadderFilter(mode=pb.LadderFilter.Mode.LPF24, resonance=0.7, drive=1.0)


def _set_cutoff(plugin, knob: float) -> None:
    plugin.cutoff_hz = float(cutoff_hz(knob))


# --- Faust (dawdreamer): the knob as a second input signal ------------------------------------

# Faust expressions of the knob signal k: the cutoff in Hz, and the Eric Tarr filters'
# normalised frequency (their freq = 20 Hz * 1000^normFreq).
FAUST_CUTOFF = f"{LOWEST_CUTOFF_HZ} * pow({HIGHEST_CUTOFF_HZ / LOWEST_CUTOFF_HZ}, k)"
FAUST_NORM_FREQ = f"log10(({FAUST_CUTOFF}) / 20.0) / 3.0"


def _faust_render(process: str):
    """``process`` is a Faust expression of the audio ``x`` and the knob ``k``. It renders in a
    fresh process: dawdreamer's Faust compiler (LLVM) crashes one that has loaded TensorFlow."""
    code = f'import("stdfaust.lib");\nprocess(x, k) = {process};\n'

    def render(audio: np.ndarray, knob: np.ndarray, sample_rate: int) -> np.ndarray:
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as child:
            return child.submit(render_faust, code, np.asarray(audio, dtype=np.float32),
                                np.asarray(knob, dtype=np.float32), sample_rate).result()

    return render


def render_faust(code: str, audio: np.ndarray, knob: np.ndarray, sample_rate: int) -> np.ndarray:
    """The Faust program ``code`` (inputs: audio, knob) run over ``audio`` with ``knob`` held
    per block, by dawdreamer at the Daisy's block size."""
    import dawdreamer

    frames = len(audio)
    held = np.repeat(knob, BLOCK_FRAMES)[:frames]
    engine = dawdreamer.RenderEngine(sample_rate, BLOCK_FRAMES)
    source = engine.make_playback_processor("dry_and_knob", np.stack([audio, held]))
    device = engine.make_faust_processor("device")
    if not device.set_dsp_string(code):
        raise RuntimeError(f"Faust did not compile: {code}")
    engine.load_graph([(source, []), (device, ["dry_and_knob"])])
    engine.render(frames / sample_rate)
    return np.asarray(engine.get_audio()[0, :frames], dtype=np.float32)


DEVICES: tuple[Device, ...] = (
    Device("ladder", "filter", "pedalboard",
           "pedalboard LadderFilter (JUCE), 24 dB/octave low-pass, resonance 0.7, drive 1; "
           f"knob: cutoff {LOWEST_CUTOFF_HZ:g} Hz * {HIGHEST_CUTOFF_HZ / LOWEST_CUTOFF_HZ:.4g}"
           "^knob (60 Hz .. 7.7 kHz); JUCE ramps the cutoff over 50 ms; output level 0.7",
           _pedalboard_render(_ladder, _set_cutoff), level=0.7),
    Device("overdrive", "distortion", "pedalboard",
           "pedalboard Distortion: tanh(gain * x); knob: drive 0 .. 30 dB (30 * knob)",
           _pedalboard_render(lambda pb: pb.Distortion(),
                              lambda plugin, knob: setattr(plugin, "drive_db", 30.0 * knob))),
    Device("compressor", "dynamics", "pedalboard",
           "pedalboard Compressor (JUCE), ratio 8:1, attack 2 ms, release 100 ms; knob: "
           "threshold 0 .. -40 dB (-40 * knob)",
           _pedalboard_render(lambda pb: pb.Compressor(ratio=8.0, attack_ms=2.0,
                                                       release_ms=100.0),
                              lambda plugin, knob: setattr(plugin, "threshold_db",
                                                           -40.0 * knob))),
    Device("bitcrush", "bitcrusher", "pedalboard",
           "pedalboard Bitcrush; knob: bit depth 12 .. 2 bits (12 - 10 * knob, fractional)",
           _pedalboard_render(lambda pb: pb.Bitcrush(),
                              lambda plugin, knob: setattr(plugin, "bit_depth",
                                                           12.0 - 10.0 * knob))),
    Device("moog", "filter", "dawdreamer",
           "Faust ve.moog_vcf_2bn (Julius Smith's Moog VCF as two normalised biquads), "
           "resonance 0.9; knob: cutoff 60 Hz .. 7.7 kHz, exponential",
           _faust_render(f"x : ve.moog_vcf_2bn(0.9, {FAUST_CUTOFF})")),
    Device("korg35", "filter", "dawdreamer",
           "Faust ve.korg35LPF (the MS-20's Korg 35 low-pass, virtual analog), Q 6; knob: "
           "cutoff 60 Hz .. 7.7 kHz, exponential; output level 0.7",
           _faust_render(f"x : ve.korg35LPF({FAUST_NORM_FREQ}, 6.0)"), level=0.7),
    Device("oberheim", "filter", "dawdreamer",
           "Faust ve.oberheimLPF (Oberheim SEM state-variable low-pass, virtual analog), Q 4; "
           "knob: cutoff 60 Hz .. 7.7 kHz, exponential",
           _faust_render(f"x : ve.oberheimLPF({FAUST_NORM_FREQ}, 4.0)")),
    Device("diode", "filter", "dawdreamer",
           "Faust ve.diodeLadder (virtual-analog diode ladder with its cubic input stage), Q 8, "
           "the Patch's +-2 scaled to its +-1 and back; knob: cutoff 60 Hz .. 7.7 kHz, "
           "exponential",
           _faust_render(f"x * 0.5 : ve.diodeLadder({FAUST_NORM_FREQ}, 8.0) : *(2.0)")),
    Device("wavefold", "distortion", "dawdreamer",
           "Faust ef.wavefold (triangle-like folding above 1 - 0.8 * width, peak-normalised), "
           "the Patch's +-2 scaled to its +-1 and back to +-1.8; knob: fold width 0 .. 1 (= knob)",
           _faust_render("x * 0.5 : ef.wavefold(k) : *(2.0)"), level=0.9),
)
DEVICE_NAMES = tuple(device.name for device in DEVICES)


def device(name: str) -> Device:
    """The suite device called ``name``; ValueError naming the choices if there is none."""
    for candidate in DEVICES:
        if candidate.name == name:
            return candidate
    raise ValueError(f"no suite device {name!r}; choose from {', '.join(DEVICE_NAMES)}")
