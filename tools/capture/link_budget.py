"""The link budget: what a configuration needs from the Daisy's USB link, and whether it can
stream live or must record into the Daisy's SDRAM and transfer after."""

from __future__ import annotations

import math
from dataclasses import dataclass

from daisynet.host_sim.daisy_target import (
    USB_FRAMES_PER_SECOND,
    USB_LINK_BYTES_PER_SECOND,
    USB_PACKET_BYTES,
)
from daisynet.tools.capture.errors import CaptureError
from daisynet.tools.capture.wire import (
    COUNTERS,
    CRC_BYTES,
    HEADER,
    SESSION_FIXED,
    Capabilities,
    SampleFormat,
    data_payload_bytes,
    encoded_size,
)
from daisynet.tools.text import plural

# Live capture must leave this share of the link free (host scheduling, other USB traffic).
LIVE_MARGIN = 0.80
HEARTBEATS_PER_SECOND = 2  # STATUS + SESSION every 0.5 s


@dataclass(frozen=True)
class LinkBudget:
    """What a configuration needs from the link, and whether it can stream live."""

    mode: str  # "live" or "record": what the capture will do
    sample_format: str
    audio_channels: list[str]
    control_channels: list[str]
    data_frame_bytes: int  # one DATA frame on the wire, COBS and delimiter included
    bytes_per_second: int  # needed, framing and heartbeats included
    link_bytes_per_second: int  # link time used: whole 64-byte packets per 1 ms block
    link_rate: int
    longest_take_seconds: float  # record mode: what the store holds
    explanation: str  # why this mode, in a sentence

    @property
    def share(self) -> float:
        return self.link_bytes_per_second / self.link_rate

    def describe(self) -> list[str]:
        audio = len(self.audio_channels)
        controls = len(self.control_channels)
        packets = self.link_bytes_per_second // (USB_PACKET_BYTES * USB_FRAMES_PER_SECOND)
        return [
            f"link budget: {audio} audio ({self.sample_format}) + {controls} controls (float32):"
            f" {self.bytes_per_second:,} B/s with framing, {plural(packets, 'packet')} of "
            f"{USB_PACKET_BYTES} B per 1 ms block = {self.share:.0%} of the {self.link_rate:,} B/s "
            f"link (live limit {LIVE_MARGIN:.0%})",
            f"mode: {self.mode}: {self.explanation}",
        ]


def plan_link(capabilities: Capabilities, channels: list[str], sample_format: SampleFormat,
              mode: str, link_rate: int = USB_LINK_BYTES_PER_SECOND,
              duration: float | None = None) -> LinkBudget:
    """The budget of recording ``channels`` in ``sample_format`` over a ``link_rate`` link,
    and the mode to use: ``mode`` "live" or "record", or "auto" (live if it fits). Raises
    CaptureError for a live request over LIVE_MARGIN and for a take longer than the store."""
    unknown = [name for name in channels if name not in capabilities.channels]
    if unknown or not channels:
        raise CaptureError(f"unknown channel(s) {', '.join(unknown) or '(none)'}; the device has:"
                           f" {', '.join(capabilities.channels)}")
    if sample_format not in capabilities.formats:
        raise CaptureError(f"the device does not offer sample format {sample_format.name.lower()}")
    audio = [name for name in capabilities.audio_channels if name in channels]
    controls = [name for name in capabilities.control_channels if name in channels]
    block, rate = capabilities.block_size, capabilities.sample_rate
    payload = data_payload_bytes(block, len(audio), sample_format, len(controls))
    frame = encoded_size(HEADER.size + payload + CRC_BYTES)
    blocks_per_second = rate / block
    names = sum(1 + len(name.encode()) for name in [capabilities.firmware_version, *channels])
    heartbeat = (encoded_size(HEADER.size + COUNTERS.size + CRC_BYTES)
                 + encoded_size(HEADER.size + SESSION_FIXED.size + names + CRC_BYTES))
    needed = math.ceil(frame * blocks_per_second + heartbeat * HEARTBEATS_PER_SECOND)
    # The queue drains every block, so each block ends in a short packet that still takes a
    # whole 64-byte slot; a heartbeat adds at most one more packet.
    link_used = math.ceil((math.ceil(frame / USB_PACKET_BYTES) * blocks_per_second
                           + 2 * HEARTBEATS_PER_SECOND) * USB_PACKET_BYTES)
    # The store holds whole DATA payloads, one per block.
    longest = capabilities.store_bytes // payload * block / rate
    share = link_used / link_rate
    if mode == "live" and share > LIVE_MARGIN:
        raise CaptureError(
            f"cannot stream this live: it needs {share:.0%} of the {link_rate:,} B/s link "
            f"(limit {LIVE_MARGIN:.0%}); use --mode record (longest take {longest:.1f} s), "
            "fewer channels or --format s24/s16")
    if mode == "auto":
        mode = "live" if share <= LIVE_MARGIN else "record"
        why = ("fits the link, streaming while recording" if mode == "live" else
               f"too much to stream live, recording into the Daisy's SDRAM first and "
               f"transferring after (longest take {longest:.1f} s)")
    elif mode == "live":
        why = "streaming while recording"
    else:
        why = f"recording into the Daisy's SDRAM first, transferring after (longest take " \
              f"{longest:.1f} s)"
    if mode == "record" and duration is not None and duration > longest:
        raise CaptureError(f"--duration {duration:g} s is longer than the Daisy's store holds "
                           f"in record mode with these channels: at most {longest:.1f} s")
    return LinkBudget(mode, sample_format.name.lower(), audio, controls, frame, needed,
                      link_used, link_rate, longest, why)
