import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daisynet.tools.capture.wire import (
    MAX_ENCODED_FRAME_BYTES,
    FrameDecoder,
    FrameType,
    Mode,
    SampleFormat,
    Session,
    WireError,
    channel_mask,
    encode_frame,
    pack_samples,
    parse_counters,
    parse_data,
    parse_reply,
    parse_session,
    quantize,
    resend_payload,
    session_payload,
    unpack_samples,
)
from daisynet.tools.capture.wire import data_payload as build_data_payload
from tests.conftest import require_tool

pytestmark = pytest.mark.native

CORE = Path(__file__).resolve().parents[3] / "firmware" / "core"

SESSION = Session(7, 48_000, 4, "test 1.0", ["audio_in_1", "audio_in_2"], ["knob_1"])


def data_payload(first_frame: int, seed: int) -> bytes:
    values = np.random.default_rng(seed).standard_normal(4 * 2 + 1).astype("<f4")
    return first_frame.to_bytes(8, "little") + values.tobytes()


def stream(count: int, start: int = 0) -> list[bytes]:
    return [encode_frame(FrameType.DATA, start + n, data_payload(4 * n, n)) for n in range(count)]


def test_frames_round_trip_with_their_offsets():
    frames = stream(5)
    decoder = FrameDecoder()
    decoded = decoder.feed(b"".join(frames))
    assert [f.sequence for f in decoded] == list(range(5))
    assert [f.offset for f in decoded] == list(np.cumsum([0] + [len(f) for f in frames[:-1]]))
    first, audio, controls = parse_data(decoded[3].payload, SESSION)
    assert first == 12 and audio.shape == (4, 2) and controls.shape == (1,)
    assert decoder.stats.garbage_bytes == 0 and decoder.stats.sequence_gaps == []


def test_any_chunking_gives_the_same_frames():
    data = b"".join(stream(6))
    whole = FrameDecoder().feed(data)
    decoder = FrameDecoder()
    pieces = [decoder.feed(data[i : i + 7]) for i in range(0, len(data), 7)]
    assert [f for piece in pieces for f in piece] == whole


def test_garbage_is_skipped_and_counted_and_the_decoder_resynchronises():
    frames = stream(3)
    garbage = b"hello\x00\x01\x02\x03\x00"
    decoder = FrameDecoder()
    decoded = decoder.feed(frames[0] + garbage + frames[1] + frames[2])
    assert [f.sequence for f in decoded] == [0, 1, 2]
    assert decoder.stats.garbage_bytes == len(garbage)
    assert decoder.stats.malformed_frames == 2


def test_corrupted_frame_is_a_crc_failure_and_a_gap_at_its_position():
    frames = stream(4)
    broken = bytearray(frames[1])
    broken[20] ^= 0x5A if broken[20] != 0x5A else 0x33  # never makes a 0x00
    decoder = FrameDecoder()
    decoded = decoder.feed(frames[0] + bytes(broken) + frames[2] + frames[3])
    assert [f.sequence for f in decoded] == [0, 2, 3]
    assert decoder.stats.crc_failures == 1
    [gap] = decoder.stats.sequence_gaps
    assert (gap.after_sequence, gap.missing_frames) == (0, 1)
    assert gap.offset == len(frames[0]) + len(frames[1])


def test_sequence_wraps_without_a_gap():
    frames = [encode_frame(FrameType.STATUS, 2**32 - 1, b"x"),
              encode_frame(FrameType.STATUS, 0, b"y")]
    decoder = FrameDecoder()
    assert len(decoder.feed(b"".join(frames))) == 2
    assert decoder.stats.sequence_gaps == []


def test_partial_frame_before_the_first_delimiter_is_garbage_not_an_error():
    frame = stream(2)
    decoder = FrameDecoder()
    decoded = decoder.feed(frame[0][10:] + frame[1])
    assert [f.sequence for f in decoded] == [1]
    assert decoder.stats.garbage_bytes == len(frame[0]) - 10
    assert decoder.stats.crc_failures == 0 and decoder.stats.malformed_frames == 0


def test_foreign_magic_other_versions_and_unknown_types_are_rejected():
    decoder = FrameDecoder()
    decoded = decoder.feed(encode_frame(FrameType.DATA, 0, b"", magic=0x1234)
                           + encode_frame(FrameType.DATA, 1, b"", version=1)
                           + encode_frame(99, 2, b""))
    assert decoded == []
    assert decoder.stats.foreign_frames == 1
    assert decoder.stats.other_versions == {1}
    assert decoder.stats.unknown_types == 1


def test_a_run_without_delimiters_is_bounded_garbage():
    decoder = FrameDecoder()
    text = b"cpu 42%\r\n" * 2000  # an app printing text: no 0x00 ever
    for start in range(0, len(text), 1000):
        assert decoder.feed(text[start : start + 1000]) == []
    assert len(decoder._pending) <= MAX_ENCODED_FRAME_BYTES
    assert decoder.feed(b"\x00" + stream(1)[0])[0].sequence == 0
    assert decoder.stats.garbage_bytes == len(text) + 1


def test_payload_parsers_round_trip_and_reject_bad_lengths():
    assert parse_session(session_payload(SESSION)) == SESSION
    counters = parse_counters(bytes(29))
    assert counters.frames_sent == 0
    with pytest.raises(WireError):
        parse_session(session_payload(SESSION)[:-1])
    with pytest.raises(WireError):
        parse_counters(bytes(28))
    with pytest.raises(WireError):
        parse_data(b"\x00" * 10, SESSION)


def test_packed_formats_round_trip_through_session_and_data():
    rng = np.random.default_rng(3)
    for sample_format in SampleFormat:
        session = Session(9, 48_000, 48, "fw", ["audio_in_1", "audio_in_3"], ["knob_2"],
                          Mode.RECORD, sample_format, channel_mask(["audio_in_1", "audio_in_3",
                                                                   "knob_2"]), 4800)
        assert session.channel_mask == 0b0010_0101
        assert parse_session(session_payload(session)) == session
        audio = rng.uniform(-2.5, 2.5, (48, 2)).astype(np.float32)
        controls = rng.uniform(0, 1, 1).astype(np.float32)
        payload = build_data_payload(session, 96, audio, controls)
        assert len(payload) == session.data_payload_bytes == 8 + 96 * sample_format.bytes + 4
        first, decoded, knobs = parse_data(payload, session)
        assert first == 96 and np.array_equal(knobs, controls)
        expected = audio if sample_format == SampleFormat.F32 else (
            quantize(audio, sample_format) * sample_format.scale).astype(np.float32)
        assert np.array_equal(decoded, expected)


def test_s24_at_2_pow_minus_22_is_lossless_for_patch_audio():
    """DaisyDuino hands the callback s24 * 2^-22 on the Patch: every such float survives."""
    codes = np.arange(-(2**23), 2**23, 997, dtype=np.int64)
    codes = np.concatenate([codes, [-(2**23), 2**23 - 1, -1, 0, 1]])
    floats = (codes * 2.0**-22).astype(np.float32)
    packed = pack_samples(floats, SampleFormat.S24)
    assert len(packed) == 3 * len(floats)
    assert np.array_equal(unpack_samples(packed, SampleFormat.S24), floats)


def quantization_cases() -> np.ndarray:
    rng = np.random.default_rng(0)
    ties = (np.arange(-50, 50) + 0.5) / 2**22  # exactly halfway between s24 codes
    ties16 = (np.arange(-50, 50) + 0.5) / 2**14
    edges = np.array([2.0, -2.0, 2.0 - 2**-22, 2.0 - 2**-23, -2.0 - 2**-22, 1.9999, 3.0, -3.0,
                      1e30, -1e30, np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-40, -1e-40,
                      (2**15 - 0.5) / 2**14, -(2**15 + 0.5) / 2**14])
    return np.concatenate([rng.uniform(-2.2, 2.2, 20_000), rng.standard_normal(5_000) * 1e-5,
                           ties, ties16, edges]).astype(np.float32)


QUANTIZE_PROGRAM = r"""
#include <cstdio>
#include <vector>
#include "wire_protocol.h"
int main() {
  std::vector<float> values;
  float value;
  while (std::fread(&value, sizeof value, 1, stdin) == 1) values.push_back(value);
  for (auto format : {daisynet::wire::SampleFormat::kS24, daisynet::wire::SampleFormat::kS16}) {
    for (float v : values) {
      std::int32_t q = daisynet::wire::QuantizeSample(v, format);
      std::fwrite(&q, sizeof q, 1, stdout);
      std::uint8_t packed[4] = {};
      daisynet::wire::PutSample(packed, v, format);
      std::fwrite(packed, 1, daisynet::wire::SampleBytes(format), stdout);
    }
  }
}
"""


def test_quantization_is_the_firmwares_bit_for_bit(tmp_path):
    """wire.quantize/pack_samples reproduce wire_protocol.h QuantizeSample/PutSample:
    round to nearest (ties to even), saturate, NaN -> 0."""
    compiler = require_tool("g++")
    source = tmp_path / "quantize.cc"
    source.write_text(QUANTIZE_PROGRAM)
    subprocess.run([compiler, "-std=c++17", "-O2", "-Wall", "-Werror", f"-I{CORE}", str(source),
                    "-o", str(tmp_path / "quantize")], check=True)
    values = quantization_cases()
    out = subprocess.run([str(tmp_path / "quantize")], input=values.tobytes(),
                         capture_output=True, check=True).stdout
    position = 0
    for sample_format in (SampleFormat.S24, SampleFormat.S16):
        record = np.dtype([("q", "<i4"), ("packed", "u1", sample_format.bytes)])
        firmware = np.frombuffer(out, record, count=len(values), offset=position)
        position += record.itemsize * len(values)
        assert np.array_equal(quantize(values, sample_format), firmware["q"]), sample_format
        assert pack_samples(values, sample_format) == firmware["packed"].tobytes()
    assert position == len(out)
    q24 = quantize(values, SampleFormat.S24)
    assert q24.max() == 2**23 - 1 and q24.min() == -(2**23)  # saturated, never wrapped
    assert quantize(np.float32([np.nan]), SampleFormat.S24)[0] == 0


def test_reply_and_resend_payloads():
    reply = parse_reply(bytes([17]) + (5).to_bytes(4, "little") + bytes([3, 4]) + b"nope")
    assert (reply.command, reply.command_sequence, reply.code, reply.message) == (17, 5, 3,
                                                                                   "nope")
    with pytest.raises(WireError):
        parse_reply(bytes([17, 0, 0, 0, 0, 0, 9]) + b"short")
    assert len(resend_payload(1, [(0, 3)] * 32)) == 5 + 32 * 8
    with pytest.raises(ValueError):
        resend_payload(1, [(0, 3)] * 33)


def test_crc_is_zlibs():
    frame = encode_frame(FrameType.STATUS, 5, b"abc")
    from cobs import cobs

    body = cobs.decode(frame[:-1])
    assert int.from_bytes(body[-4:], "little") == zlib.crc32(body[:-4])


# --- fuzzing: the decoder never raises, never keeps more than a frame, loses no clean frame ---


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000), st.integers(1, 512))
def test_fuzz_arbitrary_bytes(data, chunk):
    decoder = FrameDecoder()
    for start in range(0, len(data), chunk):
        for frame in decoder.feed(data[start : start + chunk]):
            assert frame.type in iter(FrameType)
    assert len(decoder._pending) <= MAX_ENCODED_FRAME_BYTES
    assert decoder.stats.bytes_received == len(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=40)), max_size=12),
       st.integers(1, 300))
def test_fuzz_every_clean_frame_survives_garbage_between_frames(parts, chunk):
    """Frames separated by arbitrary garbage that ends in a delimiter all arrive."""
    frames = stream(len(parts))
    data = b"".join((garbage + b"\x00" if insert else b"") + frame
                    for (insert, garbage), frame in zip(parts, frames, strict=True))
    decoder = FrameDecoder()
    decoded = [f for start in range(0, len(data), chunk)
               for f in decoder.feed(data[start : start + chunk])]
    assert [f.sequence for f in decoded] == list(range(len(parts)))


def test_the_fuzzer_runs_and_passes(capsys):
    from tests.tools.capture.fuzz_decoder import main

    assert main(["--inputs", "300", "--seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("PASS  decoder fuzz: 300 inputs")
