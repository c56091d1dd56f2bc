"""The datalogger without hardware: the firmware's recorder behind a model of the USB link.

``EmulatedDatalogger(dataset)`` compiles firmware/native/emulated_datalogger.cc with
firmware/core (cached in the user's cache directory by content hash: host_sim.cache), plays the
dataset through it as the Daisy Patch would record it (4 audio inputs every frame, 4 knobs once
per 48-frame block), and exposes the terminal's path as ``port`` for pyserial, just like
/dev/ttyACM0. The host configures and starts it with wire protocol commands, as the real datalogger;
``capture_emulated`` does all of that in one call.

Time is virtual: one 48-frame block per virtual millisecond, and a USB link that moves at most
``link_rate`` bytes/s in 64-byte packets per 1 ms USB frame out of the datalogger's CDC
transmit queue (16 x 64 bytes, as platformio.ini builds it), so a configuration the link cannot
carry overruns here as on the Daisy, however fast this machine is. Faults can be injected
between the link and the terminal (see ``Faults``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daisynet.host_sim.cache import cached_build
from daisynet.host_sim.daisy_target import (
    BLOCK_FRAMES,
    SAMPLE_RATE_HZ,
    SDRAM_RECORD_BYTES,
    USB_LINK_BYTES_PER_SECOND,
    cdc_queue_packets,
)
from daisynet.host_sim.files import write_text
from daisynet.tools.capture.errors import CaptureError
from daisynet.tools.capture.saving import CaptureResult
from daisynet.tools.capture.session import CaptureRequest, capture
from daisynet.training.dataset import Dataset, DatasetError

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "firmware" / "core"
SOURCE = REPO / "firmware" / "native" / "emulated_datalogger.cc"
HEADERS = [CORE / "wire_protocol.h", CORE / "recorder.h"]
CXX_FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti"]

# What the emulated Daisy Patch records (emulated_datalogger.cc), in wire order.
AUDIO_CHANNELS = [f"audio_in_{n}" for n in range(1, 5)]
CONTROL_CHANNELS = [f"knob_{n}" for n in range(1, 5)]
DEVICE_CHANNELS = AUDIO_CHANNELS + CONTROL_CHANNELS
START_TIMEOUT = 10.0  # seconds for the process to report its terminal


class EmulatorError(RuntimeError):
    """The emulated device could not be built or started."""


@dataclass(frozen=True)
class Faults:
    """What goes wrong between the device's encoder and the host. Rates are probabilities."""

    flip_rate: float = 0.0  # fraction of bytes corrupted
    flip_burst: int = 1  # consecutive bytes per corruption (64: a lost USB full-speed packet)
    drop_rate: float = 0.0  # fraction of frames dropped whole (never the very first)
    truncate_at: int | None = None  # bytes after which the device goes silent, still connected
    disconnect_at: int | None = None  # bytes after which the terminal closes (unplugged)
    stall_every: int = 0  # link bytes between stalls
    stall_ms: int = 0  # length of each stall: virtual ms in which the link moves nothing
    seed: int = 1

    def arguments(self) -> list[str]:
        values = {
            "--flip-rate": self.flip_rate, "--flip-burst": self.flip_burst,
            "--drop-rate": self.drop_rate, "--truncate-at": self.truncate_at,
            "--disconnect-at": self.disconnect_at, "--stall-every": self.stall_every,
            "--stall-ms": self.stall_ms, "--seed": self.seed,
        }
        return [item for flag, value in values.items() if value is not None
                for item in (flag, str(value))]


def build_emulator() -> Path:
    """Compile (or reuse) the emulated datalogger executable; returns its path."""
    compiler = shutil.which("g++")
    if not compiler:
        raise EmulatorError("g++ not found; install it (Debian: apt-get install g++)")

    def build(out_dir: Path) -> None:
        result = subprocess.run([compiler, *CXX_FLAGS, f"-I{CORE}", str(SOURCE), "-o",
                                 str(out_dir / "emulated_datalogger")],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise EmulatorError("building the emulated datalogger failed:\n"
                                f"{result.stderr.strip()}")

    return cached_build("emulator", [SOURCE, *HEADERS], CXX_FLAGS, build) / "emulated_datalogger"


def device_blocks(dataset: Dataset) -> tuple[np.ndarray, list[str]]:
    """The dataset as the device's input: (blocks, BLOCK_FRAMES * 4 audio + 4 controls) float32.

    Channels are matched by name; device channels the dataset lacks are silent, and the knobs
    are read at the first frame of each block, as the firmware reads them. A partial last block
    is left out. Returns the blocks and the dataset channels the device has no input for.
    """
    if dataset.sample_rate != SAMPLE_RATE_HZ:
        raise DatasetError(f"the emulated Daisy records at {SAMPLE_RATE_HZ} Hz; the dataset is at "
                           f"{dataset.sample_rate} Hz")
    blocks = dataset.frames // BLOCK_FRAMES
    if blocks == 0:
        raise DatasetError(f"the dataset is shorter than one {BLOCK_FRAMES}-frame block")
    frames = blocks * BLOCK_FRAMES
    audio = np.zeros((blocks, BLOCK_FRAMES, len(AUDIO_CHANNELS)), np.float32)
    controls = np.zeros((blocks, len(CONTROL_CHANNELS)), np.float32)
    for index, name in enumerate(AUDIO_CHANNELS):
        if name in dataset.channels:
            audio[:, :, index] = dataset.channel(name)[:frames].reshape(blocks, BLOCK_FRAMES)
    for index, name in enumerate(CONTROL_CHANNELS):
        if name in dataset.channels:
            controls[:, index] = dataset.channel(name)[:frames:BLOCK_FRAMES]
    unused = [name for name in dataset.channels if name not in DEVICE_CHANNELS]
    return np.concatenate([audio.reshape(blocks, -1), controls], axis=1), unused


class EmulatedDatalogger:
    """Context manager: a running emulated device; ``port`` is its terminal's path."""

    def __init__(self, dataset: Dataset, faults: Faults | None = None, realtime: bool = False,
                 link_rate: int = USB_LINK_BYTES_PER_SECOND, sdram_bytes: int | None = None,
                 queue_packets: int | None = None) -> None:
        self.blocks, self.unused_channels = device_blocks(dataset)
        self.faults = faults or Faults()
        self.realtime = realtime
        self.link_rate = link_rate
        self.sdram_bytes = sdram_bytes or SDRAM_RECORD_BYTES
        self.queue_packets = queue_packets or cdc_queue_packets("datalogger")
        self.port = ""
        self.summary: dict = {}  # the device's own counts, once it has exited
        self.fault_events: list[tuple[str, int]] = []  # (fault, frame sequence number)
        self._process: subprocess.Popen | None = None
        self._scratch: tempfile.TemporaryDirectory | None = None

    @property
    def frames(self) -> int:
        return len(self.blocks) * BLOCK_FRAMES

    def __enter__(self) -> EmulatedDatalogger:
        executable = build_emulator()
        self._scratch = tempfile.TemporaryDirectory(prefix="daisynet-emulator-")
        scratch = Path(self._scratch.name)
        self.blocks.astype("<f4").tofile(scratch / "input.f32")
        command = [str(executable), "--input", str(scratch / "input.f32"),
                   "--sdram-bytes", str(self.sdram_bytes), "--link-rate", str(self.link_rate),
                   "--queue-packets", str(self.queue_packets),
                   "--realtime", str(int(self.realtime)),
                   "--fault-log", str(scratch / "faults.log"), *self.faults.arguments()]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
        self.port = self._process.stdout.readline().strip()
        if not self.port.startswith("/dev/"):  # it exited, saying why on stderr
            reason = self._process.stderr.read().strip()
            self.__exit__(None, None, None)
            raise EmulatorError(f"the emulated datalogger did not start: {reason}")
        return self

    def press_encoder(self) -> None:
        """Start the recording (a second press stops it), as the Daisy's encoder does."""
        self._process.stdin.write("press\n")
        self._process.stdin.flush()

    def __exit__(self, *exc_info) -> None:
        process, self._process = self._process, None
        if process is not None:
            try:  # closing stdin unplugs the device: it prints its summary and exits
                out, _ = process.communicate(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
            lines = out.strip().splitlines()
            self.summary = json.loads(lines[-1]) if lines else {}
            self.fault_events = self._read_fault_log()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def _read_fault_log(self) -> list[tuple[str, int]]:
        path = Path(self._scratch.name) / "faults.log"
        if not path.exists():
            return []
        return [(kind, int(sequence)) for kind, sequence in
                (line.split() for line in path.read_text().splitlines())]


def capture_emulated(dataset: Dataset, request: CaptureRequest, faults: Faults | None = None,
                     *, realtime: bool = False, link_rate: int = USB_LINK_BYTES_PER_SECOND,
                     sdram_bytes: int | None = None, log: Callable[[str], None] = print,
                     progress: bool = True) -> CaptureResult:
    """Capture ``dataset`` played through the emulated datalogger: the firmware's own
    recorder behind the modelled USB link, a pseudo-terminal and pyserial, as with hardware.
    ``request``, ``log`` and ``progress`` are ``capture``'s; the source's suggested model
    channels carry over."""
    suggestions = {key: value for key, value in dataset.source.items()
                   if key in ("suggested_inputs", "suggested_target")}
    with EmulatedDatalogger(dataset, faults=faults, realtime=realtime, link_rate=link_rate,
                            sdram_bytes=sdram_bytes) as device:
        emulated = {"faults": vars(device.faults), "realtime": realtime, "link_rate": link_rate,
                    "input_frames": device.frames, "ignored_channels": device.unused_channels}
        if device.unused_channels:
            played = len(dataset.channels) - len(device.unused_channels)
            log(f"warning: the emulated Daisy Patch has no input named "
                f"{', '.join(device.unused_channels)} (it has {', '.join(DEVICE_CHANNELS)}); "
                + ("it plays nothing of this dataset: the capture will be silent" if not played
                   else "those channels are not played"))
        result = capture(device.port, request, log=log, progress=progress, link_rate=link_rate,
                         on_ready=device.press_encoder,
                         source_extra={"emulated": emulated, **suggestions})
    result.log["emulated"]["device_summary"] = device.summary
    try:
        write_text(result.log_path, json.dumps(result.log, indent=2) + "\n")
    except OSError as err:  # the log as capture wrote it stays
        raise CaptureError(f"the capture is saved, but {result.log_path} could not take the "
                           f"emulated device's summary ({err.strerror or err})") from err
    return result
