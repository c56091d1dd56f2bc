"""The wire protocol has one statement: firmware/core/wire_protocol.h. These tests read it and
pin every constant, enum and payload layout of the host side (tools/capture/wire.py) to it, so
a change on one side alone fails here."""

import re
import subprocess
from pathlib import Path

import pytest

from daisynet.tools.capture import wire
from tests.conftest import require_tool

pytestmark = pytest.mark.native

HEADER_FILE = Path(__file__).resolve().parents[3] / "firmware" / "core" / "wire_protocol.h"
ENUMS = [wire.FrameType, wire.CommandType, wire.ReplyCode, wire.RecorderState, wire.EndReason,
         wire.Mode, wire.SampleFormat]
# wire_protocol.h's *_layout namespaces and the host's tables of the same layouts.
LAYOUTS = {
    "header": wire.HEADER,
    "counters": wire.COUNTERS,
    "session": wire.SESSION_FIXED,
    "capabilities": wire.CAPABILITIES_FIXED,
    "reply": wire.REPLY_FIXED,
    "configure": wire.CONFIGURE,
    "data": wire.DATA_FIXED,
    "resend": wire.RESEND_FIXED,
    "resend_range": wire.RESEND_RANGE,
}
# Constants written as literals in wire_protocol.h and their host names.
CONSTANTS = {
    "kMagic": wire.MAGIC,
    "kProtocolVersion": wire.PROTOCOL_VERSION,
    "kCrcBytes": wire.CRC_BYTES,
    "kMaxPayloadBytes": wire.MAX_PAYLOAD_BYTES,
    "kMaxResendRanges": wire.MAX_RESEND_RANGES,
}


def snake(name: str) -> str:
    """kFramesRecorded -> frames_recorded."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name[1:]).lower()


@pytest.fixture(scope="module")
def header() -> str:
    return re.sub(r"//[^\n]*", "", HEADER_FILE.read_text())  # comments could hold examples


def test_every_enum_has_the_firmwares_members_and_values(header):
    # Wire enums spell out every value; the command receiver's own Result is not on the wire.
    enums = {name: body for name, body in re.findall(
        r"enum class (\w+) : std::uint8_t \{(.*?)\};", header, re.S) if "=" in body}
    assert set(enums) == {enum.__name__ for enum in ENUMS}
    for enum in ENUMS:
        members = {snake(name).upper(): int(value)
                   for name, value in re.findall(r"(k\w+) = (\d+)", enums[enum.__name__])}
        assert members == {member.name: member.value for member in enum}, enum.__name__


def test_the_literal_constants_match(header):
    for name, host_value in CONSTANTS.items():
        [literal] = re.findall(rf"constexpr std::\w+ {name} = (\w+);", header)
        assert int(literal, 0) == host_value, name


def layout_name(layout: wire.Layout) -> str:
    return next(name for name, value in vars(wire).items() if value is layout)


def test_every_payload_layout_has_the_firmwares_fields_offsets_and_sizes(header):
    namespaces = dict(re.findall(r"namespace (\w+)_layout \{(.*?)\n\}", header, re.S))
    assert set(namespaces) == set(LAYOUTS)
    host_layouts = {name for name, value in vars(wire).items() if isinstance(value, wire.Layout)}
    assert host_layouts == {layout_name(layout) for layout in LAYOUTS.values()}
    for name, body in namespaces.items():
        fields = [(snake(field), int(offset), int(size)) for field, offset, size in
                  re.findall(r"constexpr Field (k\w+)\{(\d+), (\d+)\};", body)]
        assert len(fields) == body.count("constexpr Field"), f"{name}: a field not read"
        [total] = re.findall(r"constexpr std::size_t kBytes = (\d+);", body)
        assert LAYOUTS[name].fields() == fields, name
        assert LAYOUTS[name].size == int(total), name


def test_the_channel_mask_names_the_firmwares_bits(header):
    [audio_bits] = re.findall(r"kAudioMaskBits = (\d+);", header)
    [audio] = re.findall(r"kMaxAudioChannels = (\d+);", header)
    [controls] = re.findall(r"kMaxControlChannels = (\d+);", header)
    assert int(audio_bits) == int(audio)  # controls start right after the audio inputs
    mask_channels = ([f"audio_in_{n}" for n in range(1, int(audio) + 1)]
                     + [f"knob_{n}" for n in range(1, int(controls) + 1)])
    assert mask_channels == wire.MASK_CHANNELS


DERIVED_PROGRAM = r"""
#include <cstdio>
#include "wire_protocol.h"
using namespace daisynet::wire;
int main() {
  std::printf("header %zu\nmax_frame %zu\nmax_encoded_frame %zu\nmax_command_payload %zu\n",
              kHeaderBytes, kMaxFrameBytes, kMaxEncodedFrameBytes, kMaxCommandPayloadBytes);
  for (std::size_t n : {0, 1, 253, 254, 255, 508, 4108}) {
    std::printf("encoded %zu %zu\n", n, MaxEncodedBytes(n));
  }
  for (int f = 1; f <= 3; ++f) {
    const auto format = static_cast<SampleFormat>(f);
    std::printf("format %d %zu %d\n", f, SampleBytes(format), ScaleExponent(format));
  }
}
"""


def test_the_values_the_firmware_computes_match(tmp_path):
    """Sizes, COBS overhead and sample formats, which wire_protocol.h computes in code."""
    compiler = require_tool("g++")
    source = tmp_path / "derived.cc"
    source.write_text(DERIVED_PROGRAM)
    subprocess.run([compiler, "-std=c++17", "-Wall", "-Werror", f"-I{HEADER_FILE.parent}",
                    str(source), "-o", str(tmp_path / "derived")], check=True)
    lines = subprocess.run([str(tmp_path / "derived")], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    values = [line.split() for line in lines]
    sizes = {words[0]: int(words[1]) for words in values if len(words) == 2}
    assert sizes == {
        "header": wire.HEADER.size,
        "max_frame": wire.MAX_FRAME_BYTES,
        # The decoder holds a frame without its delimiter: one byte less than on the wire.
        "max_encoded_frame": wire.MAX_ENCODED_FRAME_BYTES + 1,
        "max_command_payload": wire.RESEND_FIXED.size
        + wire.MAX_RESEND_RANGES * wire.RESEND_RANGE.size,
    }
    for words in values:
        if words[0] == "encoded":
            assert wire.encoded_size(int(words[1])) == int(words[2]), words
        if words[0] == "format":
            sample_format = wire.SampleFormat(int(words[1]))
            assert sample_format.bytes == int(words[2])
            assert sample_format.scale == 2.0 ** int(words[3])
    assert sum(words[0] == "format" for words in values) == len(wire.SampleFormat)
