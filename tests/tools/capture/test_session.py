"""The capture session end to end, through the real firmware encoder: emulated datalogger ->
pty -> pyserial -> dataset."""

import json
import os
import re
import threading
import time
import tty
from pathlib import Path

import numpy as np
import pytest
import serial

from daisynet.host_sim.daisy_target import BLOCK_FRAMES
from daisynet.tools.capture import CaptureRequest, capture, capture_emulated
from daisynet.tools.capture.emulated_device import EmulatedDatalogger, Faults
from daisynet.tools.capture.wire import (
    FrameType,
    SampleFormat,
    encode_frame,
    quantize,
)
from daisynet.tools.cli import main
from daisynet.training.builtin_data import CHANNELS, make_waveshaper_dataset
from daisynet.training.dataset import load_dataset
from daisynet.training.windows import Split, make_windows
from tests.tools.capture.helpers import quiet

pytestmark = pytest.mark.native

AUDIO = ["audio_in_1", "audio_in_2"]
KNOBS = ["knob_1", "knob_2"]


def bits(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, np.float32).view(np.uint32)


def on_device(samples: np.ndarray, name: str, sample_format: str = "s24") -> np.ndarray:
    """What the datalogger sends for a channel: audio quantized as the firmware does
    (wire_protocol.h QuantizeSample), knobs float32 as they are."""
    if not name.startswith("audio") or sample_format == "f32":
        return samples
    sample_format = SampleFormat[sample_format.upper()]
    return (quantize(samples, sample_format) * sample_format.scale).astype(np.float32)


def assert_exact(captured, source, names, sample_format="s24", frames=None):
    for name in names:
        want = on_device(source.channel(name), name, sample_format)[:frames]
        assert np.array_equal(bits(captured.channel(name)), bits(want)), name


def test_emulated_capture_round_trips_exactly(tmp_path, source):
    result = capture_emulated(source, CaptureRequest(tmp_path / "cap"), **quiet())
    captured = load_dataset(result.dataset_path, required_channels=CHANNELS)
    assert captured.frames == source.frames and captured.sample_rate == 48_000
    assert_exact(captured, source, CHANNELS)  # s24 audio: exactly the device's quantization
    for name in ("audio_in_3", "audio_in_4", "knob_3", "knob_4"):
        assert not captured.channel(name).any()
    log = result.log
    assert log["mode"] == "live" and log["sample_format"] == "s24"
    assert captured.source["mode"] == "live" and captured.source["sample_format"] == "s24"
    assert captured.source["sample_scale"] == 2.0**-22
    assert captured.source["gaps"] == [] and log["data_gaps"] == []
    assert log["crc_failures"] == log["garbage_bytes"] == log["frames_lost"] == 0
    assert log["frames_by_type"]["data"] == source.frames // BLOCK_FRAMES
    assert captured.source["suggested_target"] == "audio_in_2"
    assert log["stop_reason"] == "device ended the session (input ended)"
    assert log["link_budget"]["mode"] == "live" and 0.6 < log["link_budget"]["share"] < 0.7


def test_60_s_live_of_2_audio_and_2_knobs_over_the_modelled_full_speed_link(tmp_path):
    """The headline live case: 60 s at 48 kHz, paced by the 1 MB/s link in virtual time."""
    source = make_waveshaper_dataset(60.0, seed=3)
    result = capture_emulated(source, CaptureRequest(tmp_path / "cap", channels=AUDIO + KNOBS,
                                                     mode="live"), **quiet())
    log = result.log
    summary = log["emulated"]["device_summary"]
    assert summary["overrun_blocks"] == 0 and log["device_overrun_blocks"] == 0
    assert log["data_gaps"] == [] and log["frames_captured"] == 60 * 48_000
    captured = load_dataset(result.dataset_path)
    assert captured.channels == AUDIO + KNOBS
    assert_exact(captured, source, AUDIO + KNOBS)
    # The link never carried more than its budget: 1 MB/s in 64-byte packets per 1 ms frame.
    assert summary["max_bytes_in_a_usb_frame"] <= 16 * 64
    assert summary["link_bytes"] <= summary["virtual_seconds"] * 1_000_000
    assert summary["recording_seconds"] >= 60.0


def test_record_then_transfer_of_4_audio_and_4_controls_is_bit_exact(tmp_path, source):
    """f32 on every channel needs 83% of the link: auto records into SDRAM and transfers."""
    lines = []
    result = capture_emulated(source, CaptureRequest(tmp_path / "cap", sample_format="f32"),
                              progress=False, log=lines.append)
    assert any("83% of the 1,000,000 B/s link" in line for line in lines)
    assert any("mode: record: too much to stream live" in line and "longest take 79.4 s" in line
               for line in lines)
    log = result.log
    assert log["mode"] == "record" and log["sample_format"] == "f32"
    assert log["data_gaps"] == [] and log["device_overrun_blocks"] == 0
    captured = load_dataset(result.dataset_path)
    assert captured.frames == source.frames
    assert_exact(captured, source, CHANNELS, "f32")  # the input floats exactly
    summary = log["emulated"]["device_summary"]
    assert summary["link_bytes"] <= summary["virtual_seconds"] * 1_000_000


def test_record_mode_over_a_faulty_link_ends_bit_exact_by_resending(tmp_path, source):
    faults = Faults(flip_rate=0.005, flip_burst=64, drop_rate=0.02, seed=5)
    result = capture_emulated(source, CaptureRequest(tmp_path / "cap", sample_format="f32",
                                                     mode="record"), faults, **quiet())
    log = result.log
    assert log["frames_lost"] > 0 and log["crc_failures"] > 0  # the faults bit...
    assert sum(r["blocks_received"] for r in log["resend_rounds"]) > 0
    assert log["data_gaps"] == []  # ...and RESEND repaired every gap
    assert_exact(load_dataset(result.dataset_path), source, CHANNELS, "f32")


def test_the_encoder_starts_the_configured_recording(tmp_path, source):
    request = CaptureRequest(tmp_path / "cap", channels=["audio_in_2", "knob_1"],
                             start="encoder", duration=1.0)
    result = capture_emulated(source, request, **quiet())
    captured = load_dataset(result.dataset_path)
    assert captured.channels == ["audio_in_2", "knob_1"] and captured.frames == 48_000
    assert_exact(captured, source, ["audio_in_2", "knob_1"], frames=48_000)


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
    from daisynet.tools.capture import emulated_device

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
    result = capture_emulated(source, CaptureRequest(tmp_path / "cap"), faults, progress=False,
                              log=lambda _: None)
    [device] = devices
    log = result.log
    # The device heartbeats before the port is open and after END, when the capture has stopped
    # reading: count the frames in between.
    first, last = log["first_sequence"], log["last_sequence"]
    on_wire = last + 1 - first
    lost = {seq for seq in lost_sequences(device.fault_events) if first <= seq <= last}
    assert 0 < len(lost) < on_wire // 4
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
        assert first % BLOCK_FRAMES == 0 and count % BLOCK_FRAMES == 0
        missing[first : first + count] = True
    assert missing.sum() == source.frames - BLOCK_FRAMES * log["frames_by_type"]["data"]
    for name in CHANNELS:
        assert np.array_equal(bits(captured.channel(name)[~missing]),
                              bits(on_device(source.channel(name), name)[~missing]))
        assert not captured.channel(name)[missing].any()
    # Still usable: training windows come only from gap-free stretches.
    frame_index = np.arange(captured.frames, dtype=np.float32)[:, None]
    windows, _ = make_windows(frame_index, frame_index, Split("train", 0, captured.frames),
                              64, 64, gaps)
    assert len(windows) > 0
    assert not missing[windows[:, :, 0].astype(int)].any()


# ~615 bytes per s24 DATA frame. Unplugging also loses what was still in flight in the terminal.
@pytest.mark.parametrize("fault, reason, least_blocks", [
    (Faults(truncate_at=300_000), "device silent", 300_000 // 640),
    (Faults(disconnect_at=300_000), "disconnected", 100),
])
def test_a_stream_that_stops_or_unplugs_saves_what_arrived(tmp_path, source, fault, reason,
                                                           least_blocks):
    from daisynet.tools.capture import CaptureError

    # Issue 22, item 7: a capture cut short saves what arrived and is an error, not a success.
    with pytest.raises(CaptureError, match=rf"the capture ended early \({reason}"):
        capture_emulated(source, CaptureRequest(tmp_path / "cap", silence_timeout=0.5), fault,
                         progress=False, log=lambda _: None)
    log = json.loads((tmp_path / "cap.capture.json").read_text())
    captured = load_dataset(tmp_path / "cap")
    assert log["stop_reason"].startswith(reason)
    blocks = log["frames_by_type"]["data"]
    assert least_blocks <= blocks <= 300_000 // 600
    assert captured.frames == blocks * BLOCK_FRAMES
    assert_exact(captured, source, ["audio_in_2"], frames=captured.frames)


def test_stalls_lose_nothing(tmp_path, source):
    faults = Faults(stall_every=500_000, stall_ms=300)
    result = capture_emulated(source, CaptureRequest(tmp_path / "cap"), faults, progress=False,
                              log=lambda _: None)
    assert result.log["data_gaps"] == [] and result.log["frames_captured"] == source.frames


def test_device_overruns_become_gaps_where_the_audio_is_missing(tmp_path, source):
    """A 300 ms link stall against a 50 ms device buffer drops blocks on the device."""
    faults = Faults(stall_every=400_000, stall_ms=300)
    with EmulatedDatalogger(source, faults, sdram_bytes=50 * 600) as device:
        result = capture(device.port, CaptureRequest(tmp_path / "cap"), **quiet())
    log = result.log
    assert log["sequence_gaps"] == []  # nothing lost on the wire...
    overrun = device.summary["overrun_blocks"]
    assert overrun > 0 and log["device_overrun_blocks"] == overrun  # ...the device dropped them
    assert log["frames_missing"] == overrun * BLOCK_FRAMES
    captured = load_dataset(result.dataset_path)
    assert captured.frames == source.frames and captured.source["gaps"] == log["data_gaps"]


def test_cli_capture_with_duration_writes_dataset_and_log(tmp_path, capsys):
    assert main(["capture", "--emulate", "--emulate-seconds", "2", "--duration", "1",
                 "-o", str(tmp_path / "c"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames_captured"] == 48_000
    assert result["stop_reason"] == "device ended the session (duration reached)"
    assert load_dataset(tmp_path / "c").frames == 48_000
    assert json.loads((tmp_path / "c.capture.json").read_text())["frames_captured"] == 48_000


def test_cli_records_the_chosen_channels_and_format(tmp_path, capsys):
    assert main(["capture", "--emulate", "--emulate-seconds", "1", "--channels",
                 "knob_1,audio_in_1", "--format", "s16", "-o", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "link budget: 1 audio (s16) + 1 controls (float32)" in out and "mode: live" in out
    sidecar = json.loads((tmp_path / "c.json").read_text())
    assert sidecar["channels"] == ["audio_in_1", "knob_1"]
    assert sidecar["source"]["sample_format"] == "s16"


def test_unknown_channel_is_one_line(tmp_path, capsys):
    assert main(["capture", "--emulate", "--emulate-seconds", "1", "--channels", "knob_9",
                 "-o", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert "unknown channel(s) knob_9; the device has: audio_in_1" in err
    assert err.count("\n") == 1


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
    assert report["dataset"]["source"]["generator"] == "daisynet capture"


def test_demo_can_record_its_dataset_through_the_emulated_device(tmp_path, capsys):
    assert main(["demo", "--source", "emulated", "--seconds", "4", "--epochs", "1",
                 "-o", str(tmp_path / "demo")]) == 0
    assert "captured 4.00 s (192000 frames)" in capsys.readouterr().out
    sidecar = json.loads((tmp_path / "demo" / "dataset" / "waveshaper.json").read_text())
    assert sidecar["source"]["generator"] == "daisynet capture"
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["data_source"] == "emulated" and report["verify_passed"]


# --- errors ------------------------------------------------------------------------------------


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
    (encode_frame(FrameType.STATUS, 0, bytes(29), version=1),
     "speaks daisynet wire protocol version 1; this daisynet speaks version 2: flash the "
     "matching firmware with `daisynet flash datalogger`"),
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


# --- no lost data (issue 10, findings 3, 6, 7, 8) ---------------------------------------------


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_capture_ended_by_a_signal_saves_what_arrived(tmp_path, signal_name):
    import signal
    import subprocess
    import sys

    def default_interrupt() -> None:
        # A shell without job control starts background jobs with SIGINT ignored (so a
        # terminal's Ctrl-C passes them by), and Python keeps an inherited SIG_IGN; a test run
        # launched that way would see the capture run on to the end of its input.
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    output = tmp_path / "cap"
    process = subprocess.Popen(
        [sys.executable, "-m", "daisynet.tools.cli", "capture", "--emulate", "--realtime",
         "--emulate-seconds", "30", "-o", str(output), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_interrupt,
        cwd=Path(__file__).resolve().parents[3])
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:  # wait until the recording runs
        lines.append(process.stderr.readline())
        if lines[-1].startswith("mode:") or not lines[-1]:
            break
    time.sleep(1.5)
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(lines) + err
    log = json.loads(out)
    reason = "interrupted" if signal_name == "SIGINT" else f"ended by {signal_name}"
    assert log["stop_reason"] == reason
    captured = load_dataset(output)
    assert 0.5 < captured.seconds < 10 and captured.frames == log["frames_captured"]


def test_a_three_second_usb_stall_does_not_end_a_capture(tmp_path):
    """Issue 10, finding 17: the old 2 s default ended a capture on a 3 s stall, although the
    device buffers far longer. Real time, so the stall is 3 s of silence on the port."""
    from daisynet.tools.capture import DEFAULT_SILENCE_TIMEOUT

    short = make_waveshaper_dataset(1.0, seed=3)
    faults = Faults(stall_every=200_000, stall_ms=3_000)
    result = capture_emulated(short, CaptureRequest(tmp_path / "cap"), faults, realtime=True,
                              progress=False, log=lambda _: None)
    assert DEFAULT_SILENCE_TIMEOUT > 3
    assert not result.log["stop_reason"].startswith("device silent")
    assert result.log["data_gaps"] == [] and result.log["frames_captured"] == short.frames


def test_progress_in_a_log_is_plain_lines_ending_at_the_final_figure(tmp_path, capsys):
    """Issue 10, finding 15: the bar wrote carriage returns into logs and could end at 0.0 s."""
    assert main(["capture", "--emulate", "--emulate-seconds", "2", "-o",
                 str(tmp_path / "c")]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err + captured.out
    progress = [line for line in captured.err.splitlines() if line.startswith("recording live")]
    assert progress and progress[-1].startswith("recording live: 2.0 s")
    assert "wire frames lost" in progress[-1]
    assert "audio frames missing" in captured.out




def test_a_request_takes_command_line_values_and_refuses_unknown_ones():
    request = CaptureRequest("c", channels=["knob_1"], sample_format="s16", inputs=["in.wav"])
    assert request.channels == ("knob_1",) and request.sample_format == SampleFormat.S16
    assert request.inputs == ("in.wav",) and CaptureRequest("c", channels=None).channels == ()
    with pytest.raises(ValueError, match="mode must be one of auto, live, record, not 'stream'"):
        CaptureRequest("c", mode="stream")


@pytest.mark.parametrize("disconnect_at", [0, 1, 100, 5000, 20_000])
def test_an_unplug_at_any_moment_is_one_line_and_saves_what_arrived(tmp_path, capsys,
                                                                     disconnect_at):
    """Issue 22, item 7: an unplug during the handshake was a termios or SerialException
    traceback; a capture cut short by an unplug exited 0."""
    assert main(["capture", "--emulate", "--emulate-seconds", "2", "--disconnect-at",
                 str(disconnect_at), "-o", str(tmp_path / "c"), "--json"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [err] = [line for line in err.splitlines() if "error:" in line]
    if (tmp_path / "c.wav").exists():  # whether a block got through depends on the pty
        assert "the capture ended early (disconnected)" in err
        log = json.loads((tmp_path / "c.capture.json").read_text())
        assert load_dataset(tmp_path / "c").frames == log["frames_captured"] > 0
    else:  # gone before the port opened, while opening it, or during the handshake
        assert re.search(r"no such port \(unplugged\?\)|disconnected while opening it|"
                         "disconnected before the recording started; nothing saved|"
                         r"no audio frames arrived \(disconnected\)", err), err


def interrupt_when(monkeypatch, *blocks: int) -> None:
    """Ctrl-C once the record-mode transfer has brought each of ``blocks`` blocks."""
    from daisynet.tools.capture.assembly import Assembler

    add, pending = Assembler.add, list(blocks)

    def add_then_interrupt(self, frame):
        add(self, frame)
        if pending and self.blocks_received >= pending[0]:
            pending.pop(0)
            raise KeyboardInterrupt

    monkeypatch.setattr(Assembler, "add", add_then_interrupt)


def test_ctrl_c_during_a_record_mode_transfer_lets_it_finish(tmp_path, source, monkeypatch):
    """Issue 22, item 4: Ctrl-C during the transfer ended the capture at once and reported
    "0 audio frames missing" with frames still on the device."""
    interrupt_when(monkeypatch, 1000)
    lines = []
    result = capture_emulated(source, CaptureRequest(tmp_path / "cap", mode="record"),
                              progress=False, log=lines.append)
    assert any(line.startswith("interrupted: receiving about ") and "s still on the Daisy "
               "(Ctrl-C again to abandon it)" in line for line in lines), lines
    assert result.log["stop_reason"] == "interrupted"
    assert result.log["frames_captured"] == source.frames and result.log["data_gaps"] == []


def test_ctrl_c_twice_during_a_transfer_abandons_it_and_says_what_is_left(tmp_path, source,
                                                                          monkeypatch, capsys):
    interrupt_when(monkeypatch, 1000, 1500)
    assert main(["capture", "--emulate-seconds", "3", "--emulate", "--mode", "record",
                 "-o", str(tmp_path / "cap")]) == 1
    captured = capsys.readouterr()
    assert "frames left on the device" in captured.out
    error = captured.err.strip().splitlines()[-1]
    assert "interrupted; abandoned at Ctrl-C again: about " in error
    assert "frames" in error and "still on the Daisy did not arrive" in error
    log = json.loads((tmp_path / "cap.capture.json").read_text())
    assert log["frames_captured"] < 144_000
    assert log["frames_left_on_device"] == 144_000 - log["frames_by_type"]["data"] * BLOCK_FRAMES
    assert load_dataset(tmp_path / "cap").frames == log["frames_captured"]


@pytest.mark.parametrize("option, value", [
    ("--duration", "1e300"), ("--duration", "4294968"), ("--emulate-seconds", "1e7"),
    ("--link-rate", str(10**24)), ("--link-rate", "63"), ("--flip-burst", str(2**64)),
    ("--truncate-at", str(2**63)),
    ("--disconnect-at", str(2**64)), ("--stall-every", str(2**63)),
    ("--stall-ms", "99999999999"), ("--fault-seed", "-5"), ("--fault-seed", str(2**32)),
])
def test_numbers_beyond_what_the_wire_or_the_emulator_holds_are_refused_by_option(
        tmp_path, capsys, option, value):
    """Issue 22, item 10: --duration 1e300 was a struct.error; --emulate-seconds 1e7 ran out of
    memory, --stall-ms beyond a C int and --link-rate 1e24 broke the emulator, a negative
    --fault-seed was numpy's error without the option's name."""
    with pytest.raises(SystemExit) as exit_status:
        main(["capture", "--emulate", option, value, "-o", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert exit_status.value.code == 2 and err.count("\n") == 1
    assert f"argument {option}: must be" in err
    assert not list(tmp_path.iterdir())


def test_a_duration_longer_than_the_device_counts_is_refused_before_recording(tmp_path, source):
    from daisynet.tools.capture import CaptureError

    with pytest.raises(CaptureError, match=r"a duration of 1e\+300 s is longer than the "
                                           r"datalogger can record \(4,294,967 s\)"):
        capture_emulated(source, CaptureRequest(tmp_path / "c", duration=1e300), **quiet())
    assert not list(tmp_path.iterdir())


def test_ctrl_c_between_a_read_and_its_frames_loses_no_frame(tmp_path, source, monkeypatch):
    """Beyond issue 22's list: Ctrl-C landing after a read but before its frames were
    assembled dropped them (live: a gap for good). The signal now waits for the frames."""
    import signal

    from daisynet.tools.capture import wire

    feed, sent = wire.FrameDecoder.feed, []

    def feed_then_ctrl_c(self, data):
        frames = feed(self, data)
        if not sent and len(frames) > 1 and self.stats.frames > 1000:
            sent.append(len(frames))
            signal.raise_signal(signal.SIGINT)
        return frames

    monkeypatch.setattr(wire.FrameDecoder, "feed", feed_then_ctrl_c)
    result = capture_emulated(source, CaptureRequest(tmp_path / "cap", mode="live"), **quiet())
    assert sent and result.log["stop_reason"] == "interrupted"
    assert result.log["data_gaps"] == [] and result.log["frames_missing"] == 0
    assert 0 < result.log["frames_captured"] < source.frames


def test_a_capture_stopped_by_a_gap_leaves_the_device_idle(tmp_path, source):
    """Beyond issue 22's list: --on-gap fail in live mode left the device recording, so the
    next capture found it busy."""
    from daisynet.tools.capture import CaptureError

    with EmulatedDatalogger(source, Faults(drop_rate=0.05)) as device:
        with pytest.raises(CaptureError, match="missing from frame"):
            capture(device.port, CaptureRequest(tmp_path / "a", mode="live", on_gap="fail"),
                    **quiet())
        result = capture(device.port, CaptureRequest(tmp_path / "b", mode="live",
                                                     duration=0.2), **quiet())
    assert result.log["frames_captured"] == 0.2 * 48_000


def test_a_hangup_that_took_the_terminal_still_lets_the_transfer_finish(tmp_path, source,
                                                                        monkeypatch):
    """Beyond issue 22's list: after SIGHUP the terminal is gone and printing fails (EIO);
    the line saying what the Daisy still holds turned the transfer into a "disconnect"."""
    import errno

    interrupt_when(monkeypatch, 1000)

    def terminal_gone(line: str) -> None:
        if line.startswith("interrupted"):
            raise OSError(errno.EIO, "Input/output error")

    result = capture_emulated(source, CaptureRequest(tmp_path / "cap", mode="record"),
                              progress=False, log=terminal_gone)
    assert result.log["stop_reason"] == "interrupted"
    assert result.log["frames_captured"] == source.frames and result.log["data_gaps"] == []


def test_a_recording_found_running_is_left_alone(tmp_path, source):
    """The STOP a failed capture sends is for its own recording only: one started with the
    encoder before the capture (busy at HELLO) keeps running."""
    from daisynet.tools.capture import CaptureError
    from daisynet.tools.capture.wire import FrameDecoder

    with EmulatedDatalogger(source) as device:
        device.press_encoder()
        with serial.Serial(device.port, timeout=0.05) as port:  # until it records
            decoder = FrameDecoder()
            for _ in range(2000):
                if any(frame.type == FrameType.SESSION for frame in decoder.feed(port.read(4096))):
                    break
        for name in ("a", "b"):
            with pytest.raises(CaptureError, match="the datalogger is busy \\(recording\\)"):
                capture(device.port, CaptureRequest(tmp_path / name), **quiet())
