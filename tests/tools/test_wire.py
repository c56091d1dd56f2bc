import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.wire import (
    MAX_ENCODED_FRAME_BYTES,
    FrameDecoder,
    FrameType,
    Session,
    WireError,
    encode_frame,
    parse_counters,
    parse_data,
    parse_session,
    session_payload,
)

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
                           + encode_frame(FrameType.DATA, 1, b"", version=2)
                           + encode_frame(99, 2, b""))
    assert decoded == []
    assert decoder.stats.foreign_frames == 1
    assert decoder.stats.other_versions == {2}
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
