"""Capture through the real firmware encoder: emulated datalogger -> pty -> pyserial -> dataset."""

import json
import os
import threading
import time
import tty
from types import SimpleNamespace

import numpy as np
import pytest
import serial

from tests.conftest import require_tool
from tools.builtin_data import CHANNELS, make_waveshaper_dataset
from tools.capture import capture, capture_emulated
from tools.cli import main
from tools.dataset import load_dataset
from tools.emulated_device import BLOCK_SIZE, EmulatedDatalogger, Faults
from tools.wire import FrameType, encode_frame
from training.windows import Split, make_windows

SECONDS = 3.0


@pytest.fixture(scope="module")
def source():
    return make_waveshaper_dataset(SECONDS, seed=2)


@pytest.fixture(autouse=True)
def compiler():
    require_tool("g++")


def bits(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, np.float32).view(np.uint32)


def test_emulated_capture_round_trips_bit_exactly(tmp_path, source):
    result = capture_emulated(source, tmp_path / "cap", progress=False, log=lambda _: None)
    captured = load_dataset(result.dataset_path, required_channels=CHANNELS)
    assert captured.frames == source.frames and captured.sample_rate == 48_000
    for name in CHANNELS:
        assert np.array_equal(bits(captured.channel(name)), bits(source.channel(name))), name
    for name in ("audio_in_3", "audio_in_4", "knob_3", "knob_4"):
        assert not captured.channel(name).any()
    log = result.log
    assert captured.source["gaps"] == [] and log["data_gaps"] == []
    assert log["crc_failures"] == log["garbage_bytes"] == log["frames_lost"] == 0
    assert log["frames_by_type"]["data"] == source.frames // BLOCK_SIZE
    assert captured.source["suggested_target"] == "audio_in_2"
    assert log["stop_reason"] == "device ended the session (input ended)"
    # The Daisy produces this many bytes per second of audio; the pipeline must beat it.
    needed = log["bytes_received"] / SECONDS
    assert log["throughput_bytes_per_second"] > needed


def lost_sequences(fault_events: list[tuple[str, int]]) -> set[int]:
    """Frames a fault touched: a damaged delimiter also glues the next frame onto it."""
    lost = set()
    for kind, sequence in fault_events:
        lost.add(sequence)
        if kind == "corrupted_delimiter":
            lost.add(sequence + 1)
    return lost


def test_corruption_and_drops_keep_every_intact_frame_and_count_every_loss(tmp_path, source,
                                                                          monkeypatch):
    from tools import emulated_device

    devices = []
    real = emulated_device.EmulatedDatalogger

    class Recorded(real):
        def __enter__(self):
            devices.append(self)
            return super().__enter__()

    monkeypatch.setattr(emulated_device, "EmulatedDatalogger", Recorded)
    # 1% of bytes corrupted, in 64-byte bursts (a lost USB full-speed packet), 2% of frames
    # dropped whole.
    faults = Faults(flip_rate=0.01, flip_burst=64, drop_rate=0.02, seed=11)
    result = capture_emulated(source, tmp_path / "cap", faults, progress=False,
                              log=lambda _: None)
    [device] = devices
    log = result.log
    on_wire = device.summary["frames_on_wire"]
    lost = lost_sequences(device.fault_events)
    assert 0 < len(lost) < on_wire // 4
    assert on_wire - 1 not in lost, "choose a seed that leaves END intact"
    # Every intact frame arrived; every lost one is in a gap at its place in the sequence.
    assert log["frames_received"] == on_wire - len(lost)
    gap_sequences = {gap["after_sequence"] + 1 + n for gap in log["sequence_gaps"]
                     for n in range(gap["missing_frames"])}
    assert gap_sequences == lost
    # The dataset holds every received block bit-exactly and marks the rest as gaps.
    captured = load_dataset(result.dataset_path, required_channels=CHANNELS)
    assert captured.frames == source.frames
    gaps = captured.source["gaps"]
    missing = np.zeros(captured.frames, bool)
    for first, count in gaps:
        assert first % BLOCK_SIZE == 0 and count % BLOCK_SIZE == 0
        missing[first : first + count] = True
    assert missing.sum() == source.frames - BLOCK_SIZE * log["frames_by_type"]["data"]
    for name in CHANNELS:
        assert np.array_equal(bits(captured.channel(name)[~missing]),
                              bits(source.channel(name)[~missing]))
        assert not captured.channel(name)[missing].any()
    # Still usable: training windows come only from gap-free stretches.
    frame_index = np.arange(captured.frames, dtype=np.float32)[:, None]
    windows, _ = make_windows(frame_index, frame_index, Split("train", 0, captured.frames),
                              64, 64, gaps)
    assert len(windows) > 0
    assert not missing[windows[:, :, 0].astype(int)].any()


# ~808 bytes per DATA frame. Unplugging also loses what was still in flight in the terminal.
@pytest.mark.parametrize("fault, reason, least_blocks", [
    (Faults(truncate_at=300_000), "device silent", 300_000 // 820),
    (Faults(disconnect_at=300_000), "disconnected", 100),
])
def test_a_stream_that_stops_or_unplugs_saves_what_arrived(tmp_path, source, fault, reason,
                                                           least_blocks):
    result = capture_emulated(source, tmp_path / "cap", fault, progress=False,
                              silence_timeout=0.5, log=lambda _: None)
    captured = load_dataset(result.dataset_path)
    assert result.log["stop_reason"].startswith(reason)
    blocks = result.log["frames_by_type"]["data"]
    assert least_blocks <= blocks <= 300_000 // 800
    assert captured.frames == blocks * BLOCK_SIZE
    assert np.array_equal(bits(captured.channel("audio_in_2")),
                          bits(source.channel("audio_in_2")[: captured.frames]))


def test_stalls_lose_nothing(tmp_path, source):
    faults = Faults(stall_every=500_000, stall_ms=300)
    result = capture_emulated(source, tmp_path / "cap", faults, progress=False,
                              log=lambda _: None)
    assert result.log["data_gaps"] == [] and result.log["frames_captured"] == source.frames


def test_device_overruns_become_gaps_where_the_audio_is_missing(tmp_path, source):
    """In real time, a 300 ms stall against a 50 ms device buffer drops blocks on the device."""
    faults = Faults(stall_every=400_000, stall_ms=300)
    with EmulatedDatalogger(source, faults, realtime=True, ring_blocks=50) as device:
        result = capture(device.port, tmp_path / "cap", on_open=device.press_encoder,
                         progress=False, log=lambda _: None)
    log = result.log
    assert log["sequence_gaps"] == []  # nothing lost on the wire...
    overrun = device.summary["overrun_blocks"]
    assert overrun > 0 and log["device_overrun_blocks"] == overrun  # ...the device dropped them
    assert log["frames_missing"] == overrun * BLOCK_SIZE
    captured = load_dataset(result.dataset_path)
    assert captured.frames == source.frames and captured.source["gaps"] == log["data_gaps"]


def test_cli_capture_with_duration_writes_dataset_and_log(tmp_path, capsys):
    assert main(["capture", "--emulate", "--emulate-seconds", "2", "--duration", "1",
                 "-o", str(tmp_path / "c"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames_captured"] == 48_000 and result["stop_reason"] == "duration reached"
    assert load_dataset(tmp_path / "c").frames == 48_000
    assert json.loads((tmp_path / "c.capture.json").read_text())["frames_captured"] == 48_000


def test_on_gap_fail_stops_with_the_position_and_writes_no_dataset(tmp_path, capsys):
    code = main(["capture", "--emulate", "--emulate-seconds", "2", "--drop-rate", "0.05",
                 "--on-gap", "fail", "-o", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 1
    assert "frames (" in err and "missing from frame" in err and "--on-gap mark" in err
    assert not (tmp_path / "c.wav").exists() and (tmp_path / "c.capture.json").exists()


def test_train_accepts_a_captured_dataset(tmp_path, capsys):
    assert main(["capture", "--emulate", "--emulate-seconds", "3", "-o", str(tmp_path / "c"),
                 "--json"]) == 0
    assert main(["train", str(tmp_path / "c.wav"), "-o", str(tmp_path / "run"), "--filters",
                 "3,3", "--kernel-size", "3", "--epochs", "1", "--window", "256",
                 "--candidates", "1"]) == 0
    report = json.loads((tmp_path / "run" / "training.json").read_text())
    assert report["inputs"] == ["knob_1", "knob_2", "audio_in_1"]
    assert report["dataset_source"]["generator"] == "daisynet capture"


def test_demo_can_record_its_dataset_through_the_emulated_device(tmp_path, capsys):
    assert main(["demo", "--source", "emulated", "--seconds", "4", "--epochs", "1",
                 "-o", str(tmp_path / "demo")]) == 0
    assert "captured 4.00 s (192000 frames)" in capsys.readouterr().out
    sidecar = json.loads((tmp_path / "demo" / "dataset" / "waveshaper.json").read_text())
    assert sidecar["source"]["generator"] == "daisynet capture"
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["data_source"] == "emulated" and report["verify_passed"]


# --- errors ------------------------------------------------------------------------------------


def fake_port(device, product, vid=0x0483, pid=0x5740):
    return SimpleNamespace(device=device, product=product, vid=vid, pid=pid, serial_number=None)


@pytest.mark.parametrize("ports, message", [
    ([], "no Daisy found (looked for USB 0483:5740"),
    ([fake_port("/dev/ttyACM0", "Daisy Seed"), fake_port("/dev/ttyACM1", "Daisy Patch")],
     "several Daisies found, choose one with --port: /dev/ttyACM0 (Daisy Seed); /dev/ttyACM1"),
    ([fake_port("/dev/ttyACM3", "STM32 Virtual ComPort")],
     "these ST virtual COM ports (USB 0483:5740) might be: /dev/ttyACM3"),
])
def test_finding_the_daisy(monkeypatch, capsys, tmp_path, ports, message):
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: ports)
    assert main(["capture", "-o", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("daisynet capture: error: ") and message in err
    assert err.count("\n") == 1


def test_permission_denied_says_what_to_do(monkeypatch, capsys, tmp_path):
    def refuse(port, **_):
        raise serial.SerialException(13, f"could not open port {port}: [Errno 13] Permission "
                                          "denied")

    monkeypatch.setattr(serial, "Serial", refuse)
    assert main(["capture", "--port", "/dev/ttyACM0", "-o", str(tmp_path / "c")]) == 1
    assert "permission denied opening /dev/ttyACM0: add yourself to the port's group" in (
        capsys.readouterr().err)


def test_missing_port(capsys, tmp_path):
    assert main(["capture", "--port", str(tmp_path / "ttyNONE"), "-o", str(tmp_path / "c")]) == 1
    assert "no such port" in capsys.readouterr().err


@pytest.fixture
def fake_device():
    """A pseudo-terminal whose far end repeats what a test gives it, like a foreign device."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def start(chunk: bytes):
        def send():
            while not stop.is_set():
                os.write(master, chunk)
                time.sleep(0.05)

        threading.Thread(target=send, daemon=True).start()
        return os.ttyname(slave)

    yield start
    stop.set()
    time.sleep(0.1)
    os.close(master)
    os.close(slave)


@pytest.mark.parametrize("chunk, message", [
    (encode_frame(FrameType.STATUS, 0, bytes(29), version=2),
     "speaks daisynet wire protocol version 2; this daisynet speaks version 1"),
    (b"cpu 41% block 48\r\n", "is not a daisynet datalogger: "),
    (encode_frame(FrameType.STATUS, 0, bytes(29), magic=0x4B4F),
     "is not a daisynet datalogger: "),
], ids=["other-version", "text", "foreign-magic"])
def test_a_device_that_is_not_our_datalogger(fake_device, capsys, tmp_path, chunk, message):
    port = fake_device(chunk)
    assert main(["capture", "--port", port, "--wait", "0.5", "-o", str(tmp_path / "c")]) == 1
    assert message in capsys.readouterr().err


def test_a_silent_port(capsys, tmp_path):
    master, slave = os.openpty()
    try:
        assert main(["capture", "--port", os.ttyname(slave), "--wait", "0.3", "-o",
                     str(tmp_path / "c")]) == 1
        assert "sent nothing in 0.3 s" in capsys.readouterr().err
    finally:
        os.close(master)
        os.close(slave)
