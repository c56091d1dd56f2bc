"""The emulated datalogger: the firmware's recorder and command handling behind the modelled
USB link."""

import json

import pytest
import serial

from daisynet.host_sim.daisy_target import BLOCK_FRAMES
from daisynet.tools.capture import CaptureRequest, capture_emulated
from daisynet.tools.capture.emulated_device import EmulatedDatalogger, EmulatorError
from daisynet.tools.capture.wire import (
    CommandType,
    FrameDecoder,
    FrameType,
    ReplyCode,
    configure_payload,
    encode_frame,
    parse_reply,
    resend_payload,
)
from daisynet.tools.cli import main
from tests.tools.capture.helpers import quiet

pytestmark = pytest.mark.native


def test_the_emulated_link_overruns_a_live_stream_it_cannot_carry(tmp_path, source, monkeypatch):
    """A host without the budget check: 4 x f32 live (809 kB/s) over a 600 kB/s link drops
    blocks on the device; the same link carries 4 x s16 (423 kB/s) with nothing lost."""
    monkeypatch.setattr("daisynet.tools.capture.link_budget.LIVE_MARGIN", 10.0)
    small = 2 * (8 + 4 * 48 * 4 + 4 * 4)  # 2 f32 blocks: the device cannot hide a shortfall
    over = capture_emulated(source, CaptureRequest(tmp_path / "over", sample_format="f32",
                                                   mode="live"),
                            link_rate=600_000, sdram_bytes=small, **quiet())
    assert over.log["device_overrun_blocks"] > 0.1 * source.frames / BLOCK_FRAMES
    assert over.log["sequence_gaps"] == [] and over.log["frames_missing"] > 0
    fits = capture_emulated(source, CaptureRequest(tmp_path / "fits", sample_format="s16",
                                                   mode="live"),
                            link_rate=600_000, sdram_bytes=small, **quiet())
    assert fits.log["device_overrun_blocks"] == 0 and fits.log["data_gaps"] == []


def test_the_device_answers_every_bad_command_with_an_error_and_keeps_working(source):
    bad_crc = bytearray(encode_frame(CommandType.HELLO, 3, b""))
    bad_crc[3] ^= 0x40
    commands = [
        (b"garbage\x00", ReplyCode.BAD_FRAME),
        (b"\x07" * 2000 + b"\x00", ReplyCode.BAD_FRAME),  # longer than any command
        (bytes(bad_crc), ReplyCode.BAD_FRAME),
        (encode_frame(CommandType.HELLO, 4, b"", version=1), ReplyCode.BAD_FRAME),
        (encode_frame(99, 5, b""), ReplyCode.UNKNOWN_COMMAND),
        (encode_frame(FrameType.DATA, 6, bytes(100)), ReplyCode.UNKNOWN_COMMAND),
        (encode_frame(CommandType.CONFIGURE, 7, b"\x01"), ReplyCode.BAD_ARGUMENTS),
        (encode_frame(CommandType.CONFIGURE, 8, configure_payload(9, 1, 0xFF, 0)),
         ReplyCode.BAD_ARGUMENTS),
        (encode_frame(CommandType.CONFIGURE, 9, configure_payload(1, 1, 0, 0)),
         ReplyCode.BAD_ARGUMENTS),
        (encode_frame(CommandType.CONFIGURE, 10, configure_payload(2, 3, 0xFF, 10**9)),
         ReplyCode.BAD_ARGUMENTS),  # longer than the store holds
        (encode_frame(CommandType.RESEND, 11, resend_payload(1, [(0, 1)])),
         ReplyCode.BAD_ARGUMENTS),
        (encode_frame(CommandType.STOP, 12, b""), ReplyCode.BUSY),  # not recording
        (encode_frame(CommandType.START, 13, b"x"), ReplyCode.BAD_ARGUMENTS),
        (encode_frame(CommandType.HELLO, 14, b""), ReplyCode.OK),
    ]
    with EmulatedDatalogger(source) as device:
        port = serial.Serial(device.port, timeout=0.05)
        decoder = FrameDecoder()
        codes = []
        for command, _ in commands:
            port.write(b"\x00" + command)
            reply = None
            for _ in range(40):
                replies = [f for f in decoder.feed(port.read(4096)) if f.type == FrameType.REPLY]
                if replies:
                    reply = parse_reply(replies[0].payload)
                    break
            assert reply is not None, command[:20]
            codes.append(reply.code)
        port.close()
    assert codes == [code for _, code in commands]
    assert device.summary["frames_on_wire"] > len(commands)


def test_replaying_a_dataset_without_patch_channel_names_warns(tmp_path, source, capsys):
    """Issue 10, finding 3: such a replay used to record silence without a word."""
    from daisynet.training.dataset import Dataset

    renamed = Dataset(samples=source.samples, sample_rate=source.sample_rate,
                      channels=[f"mic_{n}" for n in range(len(source.channels))])
    renamed.save(tmp_path / "foreign")
    main(["capture", "--emulate", "--emulate-input", str(tmp_path / "foreign.wav"),
          "-o", str(tmp_path / "c"), "--json"])
    err = capsys.readouterr().err
    assert "no input named mic_0, mic_1" in err and "the capture will be silent" in err


def test_an_emulator_that_does_not_start_says_why(source):
    """Beyond issue 22's list: the emulator's own refusal (here a link slower than one USB
    packet a second, which the CLI now refuses as --link-rate's range) was an AttributeError."""
    refused = "did not start: emulated_datalogger: --link-rate must be >= 64 B/s"
    with pytest.raises(EmulatorError, match=refused), EmulatedDatalogger(source, link_rate=10):
        pass


def test_a_full_disk_when_adding_the_device_summary_keeps_the_log_and_says_so(tmp_path,
                                                                               monkeypatch,
                                                                               capsys):
    """Beyond issue 22's list: the emulated capture rewrites its log with the device's
    summary; an OSError there (a full disk) was a traceback after a successful capture."""
    import errno

    from daisynet.tools.capture import emulated_device

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(emulated_device, "write_text", full)
    assert main(["capture", "--emulate", "--emulate-seconds", "1", "-o",
                 str(tmp_path / "c"), "--json"]) == 1
    err = capsys.readouterr().err
    assert err.endswith("could not take the emulated device's summary (No space left on "
                        "device)\n") and "Traceback" not in err
    log = json.loads((tmp_path / "c.capture.json").read_text())
    assert log["frames_captured"] == 48_000 and "device_summary" not in log["emulated"]
