"""``daisynet capture``: record a dataset from the datalogger app, or from its emulation."""

from __future__ import annotations

import argparse
import time

from daisynet.host_sim.daisy_target import (
    BLOCK_FRAMES,
    SAMPLE_RATE_HZ,
    USB_FRAMES_PER_SECOND,
    USB_LINK_BYTES_PER_SECOND,
    USB_PACKET_BYTES,
)
from daisynet.tools.cli.options import (
    CommandError,
    Number,
    Whole,
    add_command,
    logger,
    name_list,
    seconds,
)

# The emulated device's limits: the built-in dataset is made in memory (about 6 MB per second
# while it is made), and the emulator keeps its counts in C++ types (emulated_datalogger.cc).
EMULATE_SECONDS_MAX = 300.0
LINK_RATE_MAX = 10**9  # bytes/s, far beyond any USB the Daisy has
LONG_LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
UNSIGNED_MAX = 2**32 - 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from daisynet.tools.capture import DEFAULT_SILENCE_TIMEOUT
    from daisynet.tools.capture.wire import MAX_RECORDED_BLOCKS

    longest = MAX_RECORDED_BLOCKS * BLOCK_FRAMES / SAMPLE_RATE_HZ  # what the device counts

    parser = add_command(subparsers, "capture", run,
                         "record a dataset from the Daisy Patch datalogger over USB serial")
    parser.add_argument("-o", "--output",
                        help="dataset to write (default captures/capture-DATE-TIME)")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier capture of the same name (default: refuse)")
    parser.add_argument("--port", help="serial port (default: the one Daisy found by USB id)")
    parser.add_argument("--duration", type=Number(0, longest),
                        help=f"seconds to record, at most {longest:,.0f} (default: until "
                             "stopped; record mode: until the Daisy's SDRAM store is full)")
    parser.add_argument("--channels", type=name_list,
                        help="channels to record, e.g. audio_in_1,audio_in_2,knob_1,knob_2 "
                             "(default: audio_in_1..4 and knob_1..4)")
    parser.add_argument("--format", choices=("s24", "s16", "f32"), default="s24",
                        help="audio sample format on the wire; knobs are always float32 "
                             "(%(default)s: lossless for the Patch's 24-bit codec)")
    parser.add_argument("--mode", choices=("auto", "live", "record"), default="auto",
                        help="live: stream while recording; record: record into the Daisy's "
                             "SDRAM, transfer after; auto: live if the link budget allows "
                             "(%(default)s)")
    parser.add_argument("--encoder", action="store_true",
                        help="configure the Daisy, then wait for its encoder to start the "
                             "recording (default: start it from here)")
    parser.add_argument("--on-gap", choices=("mark", "fail"), default="mark",
                        help="lost frames: mark them in the dataset (training skips them) or "
                             "stop with an error (%(default)s)")
    parser.add_argument("--wait", type=seconds(), default=5.0,
                        help="seconds to wait for the first daisynet frame (%(default)s)")
    parser.add_argument("--silence-timeout", type=seconds(), default=DEFAULT_SILENCE_TIMEOUT,
                        help="stop and save when the device sends nothing for this many "
                             "seconds (%(default)s)")
    emulated = parser.add_argument_group(
        "emulated device", "the datalogger firmware's recorder and encoder, built for this "
                           "machine, on a pseudo-terminal")
    emulated.add_argument("--emulate", action="store_true",
                          help="capture from the emulated datalogger instead of hardware")
    emulated.add_argument("--emulate-input",
                          help="dataset it plays (default: the built-in waveshaper dataset)")
    emulated.add_argument("--emulate-seconds", type=Number(0, EMULATE_SECONDS_MAX), default=10.0,
                          help="length of the built-in dataset it plays, at most "
                               f"{EMULATE_SECONDS_MAX:g} (%(default)s)")
    emulated.add_argument("--realtime", action="store_true",
                          help="tie the device's virtual clock to the wall clock (default: "
                               "virtual time, as fast as the host reads)")
    emulated.add_argument("--link-rate", type=Whole(USB_PACKET_BYTES, LINK_RATE_MAX),
                          default=USB_LINK_BYTES_PER_SECOND,
                          help=f"USB link budget in bytes/s, moved in {USB_PACKET_BYTES}-byte "
                               f"packets per {1000 // USB_FRAMES_PER_SECOND} ms USB frame "
                               "(%(default)s: full speed as planned)")
    emulated.add_argument("--flip-rate", type=Number(0, 1, low_included=True), default=0.0,
                          help="fraction of bytes corrupted (0)")
    emulated.add_argument("--flip-burst", type=Whole(1, LONG_LONG_MAX), default=1,
                          help=f"bytes per corruption; {USB_PACKET_BYTES} is a lost USB packet (1)")
    emulated.add_argument("--drop-rate", type=Number(0, 1, low_included=True), default=0.0,
                          help="fraction of frames dropped whole (0)")
    emulated.add_argument("--truncate-at", type=Whole(0, LONG_LONG_MAX),
                          help="stop sending after this many bytes, staying connected")
    emulated.add_argument("--disconnect-at", type=Whole(0, LONG_LONG_MAX),
                          help="unplug after this many bytes")
    emulated.add_argument("--stall-every", type=Whole(0, LONG_LONG_MAX), default=0,
                          help="stall the link after every this many bytes (0: never)")
    emulated.add_argument("--stall-ms", type=Whole(0, INT_MAX), default=0,
                          help="length of each stall in (virtual) ms (0)")
    emulated.add_argument("--fault-seed", type=Whole(0, UNSIGNED_MAX), default=1,
                          help="seed of the faults and of the built-in dataset (1)")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.capture import (
        CaptureError,
        CaptureRequest,
        EmulatorError,
        Faults,
        capture,
        capture_emulated,
        find_port,
    )

    log = logger(args.json)
    output = args.output or f"captures/capture-{time.strftime('%Y%m%d-%H%M%S')}"
    request = CaptureRequest(output, duration=args.duration, channels=args.channels,
                             sample_format=args.format, mode=args.mode, on_gap=args.on_gap,
                             wait=args.wait, silence_timeout=args.silence_timeout,
                             start="encoder" if args.encoder else "command", force=args.force)
    shown = dict(log=log, progress=not args.json)
    try:
        if not args.emulate:
            return capture(find_port(args.port), request, **shown).log
        if args.emulate_input:
            from dataclasses import replace

            from daisynet.training.dataset import dataset_paths, load_dataset

            dataset = load_dataset(args.emulate_input)
            # the replayed dataset is never captured over
            request = replace(request, inputs=dataset_paths(args.emulate_input))
        else:
            from daisynet.training.builtin_data import make_waveshaper_dataset

            dataset = make_waveshaper_dataset(args.emulate_seconds, args.fault_seed)
        faults = Faults(flip_rate=args.flip_rate, flip_burst=args.flip_burst,
                        drop_rate=args.drop_rate, truncate_at=args.truncate_at,
                        disconnect_at=args.disconnect_at, stall_every=args.stall_every,
                        stall_ms=args.stall_ms, seed=args.fault_seed)
        return capture_emulated(dataset, request, faults, realtime=args.realtime,
                                link_rate=args.link_rate, **shown).log
    except (CaptureError, EmulatorError) as err:
        raise CommandError(str(err)) from err
