"""Fuzz the capture decoder (tools/capture/wire.py) with hypothesis and print how it held up.

    python -m tests.tools.capture.fuzz_decoder [--inputs 100000] [--seed 0]

Each input is either arbitrary bytes or a stream of valid frames (every type, real s24 DATA,
SESSION and REPLY payloads) with bytes flipped, deleted, inserted or zeroed, fed in chunks of
random size.
For every input the decoder must not raise, must return only frames that pass its checks and
parse, and must keep at most one frame's worth of bytes pending; the payload parsers may only
raise WireError. Prints inputs, inputs per second, and the slowest input's time (a hang or
quadratic case would show there). Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import sys
import time

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from daisynet.tools.capture.wire import (
    CAPABILITIES_FIXED,
    MAX_ENCODED_FRAME_BYTES,
    FrameDecoder,
    FrameType,
    Mode,
    SampleFormat,
    Session,
    WireError,
    encode_frame,
    parse_capabilities,
    parse_counters,
    parse_data,
    parse_reply,
    parse_session,
    session_payload,
)

SESSION = Session(1, 48_000, 48, "fuzz", [f"audio_in_{n}" for n in range(1, 5)],
                  [f"knob_{n}" for n in range(1, 5)], Mode.LIVE, SampleFormat.S24)
# A REPLY to HELLO: command, sequence, code, empty message, then a capabilities body.
HELLO_REPLY = (bytes([16, 1, 0, 0, 0, 0, 0])
               + CAPABILITIES_FIXED.pack(48_000, 48, 0, 0, 7, 2**20, 0, 1, 1, 0xFF, 0)
               + b"\x04fuzz")


def valid_frames(draw_bytes: bytes, count: int) -> bytes:
    """A plausible stream: SESSION, DATA blocks, a STATUS and an END."""
    frames = [encode_frame(FrameType.SESSION, 0, session_payload(SESSION))]
    data = (draw_bytes * (SESSION.data_payload_bytes // max(1, len(draw_bytes)) + 1))
    for n in range(count):
        payload = (48 * n).to_bytes(8, "little") + data[: SESSION.data_payload_bytes - 8]
        frames.append(encode_frame(FrameType.DATA, 1 + n, payload))
    frames.append(encode_frame(FrameType.STATUS, count + 1, bytes(29)))
    frames.append(encode_frame(FrameType.REPLY, count + 2, HELLO_REPLY))
    frames.append(encode_frame(FrameType.END, count + 3, bytes(29)))
    return b"".join(frames)


mutation = st.tuples(st.sampled_from(["flip", "delete", "insert", "zero"]),
                     st.floats(0.0, 1.0), st.integers(0, 255), st.integers(1, 64))


@st.composite
def inputs(draw) -> tuple[bytes, int]:
    if draw(st.booleans()):
        data = draw(st.binary(max_size=4000))
    else:
        stream = bytearray(valid_frames(draw(st.binary(min_size=1, max_size=64)),
                                        draw(st.integers(0, 4))))
        for kind, where, value, length in draw(st.lists(mutation, max_size=8)):
            at = int(where * len(stream))
            if kind == "flip" and at < len(stream):
                stream[at] ^= value or 1
            elif kind == "delete":
                del stream[at : at + length]
            elif kind == "insert":
                stream[at:at] = bytes([value]) * length
            else:
                stream[at : at + length] = bytes(min(length, len(stream) - at))
        data = bytes(stream)
    return data, draw(st.integers(1, 4096))


def check(data: bytes, chunk: int) -> None:
    decoder = FrameDecoder()
    for start in range(0, len(data), chunk):
        for frame in decoder.feed(data[start : start + chunk]):
            assert frame.type in iter(FrameType)
            try:
                if frame.type == FrameType.SESSION:
                    parse_session(frame.payload)
                elif frame.type == FrameType.DATA:
                    parse_data(frame.payload, SESSION)
                elif frame.type == FrameType.REPLY:
                    parse_capabilities(parse_reply(frame.payload).body)
                else:
                    parse_counters(frame.payload)
            except WireError:
                pass
        assert len(decoder._pending) <= MAX_ENCODED_FRAME_BYTES
    assert decoder.stats.bytes_received == len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs to try (100000)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (0)")
    args = parser.parse_args(argv)

    timings: list[float] = []
    sizes: list[int] = []

    @settings(max_examples=args.inputs, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(inputs())
    def fuzz(case: tuple[bytes, int]) -> None:
        data, chunk = case
        started = time.perf_counter()
        check(data, chunk)
        timings.append(time.perf_counter() - started)
        sizes.append(len(data))

    fuzz._hypothesis_internal_use_seed = args.seed
    started = time.perf_counter()
    try:
        fuzz()
    except Exception as err:  # noqa: BLE001 - any failure is the finding; report and exit 1
        print(f"FAIL after {len(timings)} inputs: {type(err).__name__}: {err}")
        return 1
    wall = time.perf_counter() - started
    decode = sum(timings)
    slowest = max(range(len(timings)), key=timings.__getitem__)
    print(f"PASS  decoder fuzz: {len(timings)} inputs, {sum(sizes) / 1e6:.1f} MB, "
          f"max input {max(sizes)} bytes")
    print(f"  {len(timings) / wall:,.0f} inputs/s with generation, "
          f"{len(timings) / decode:,.0f} inputs/s decoding alone "
          f"({sum(sizes) / decode / 1e6:.1f} MB/s)")
    print(f"  slowest input {1e3 * timings[slowest]:.2f} ms ({sizes[slowest]} bytes), "
          f"mean {1e6 * decode / len(timings):.1f} us, wall {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
