"""``daisynet monitor``: the running inference app's load, live (tools/device/monitor.py)."""

from __future__ import annotations

import argparse

from daisynet.tools.cli.options import (
    CommandError,
    add_command,
    count,
    logger,
    seconds,
)
from daisynet.tools.text import plural


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "monitor", run,
                         "show the running inference app's CPU load, cycles and overruns, live")
    parser.add_argument("--port", help="serial port (default: the Daisy running the inference "
                                       "app, found by USB id and product string)")
    parser.add_argument("--duration", type=seconds(), help="stop after this many seconds (default: "
                                                        "until Ctrl-C)")
    parser.add_argument("--count", type=count(), help="stop after this many status lines")
    parser.add_argument("--log", help="add each status line to this file as a JSON line, after any "
                                      "earlier log")
    parser.add_argument("--emulate", action="store_true",
                        help="no hardware: run the inference app's callback and meter natively "
                             "on a pseudo-terminal")
    parser.add_argument("--emulate-model", action="append",
                        help="model_defn.h for --emulate (the default model, "
                             "firmware/model/model_defn.h); repeat it for a bank")
    parser.add_argument("--emulate-switch-every", type=count(0), default=0,
                        help="with --emulate, turn the encoder one step every N seconds, to the "
                             "next model of the bank (0: never)")
    parser.add_argument("--emulate-stall-every", type=count(0), default=0,
                        help="with --emulate, make every Nth callback 2 ms slow, to show "
                             "overruns (0: never)")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    from daisynet.tools.capture import CaptureError, find_port
    from daisynet.tools.device.monitor import MonitorError, StatusLog, monitor

    log = logger(args.json)
    try:
        status_log = StatusLog(args.log) if args.log else None
        options = dict(duration=args.duration, count=args.count, log=status_log, show=log)
        if not args.emulate:
            summary = monitor(find_port(args.port, app="inference"), **options)
        else:
            from daisynet.tools.device.emulated_inference import DEFAULT_HEADER, EmulatedInference

            with EmulatedInference(args.emulate_model or DEFAULT_HEADER, realtime=True,
                                   stall_every=args.emulate_stall_every,
                                   switch_every=args.emulate_switch_every) as device:
                log(f"emulated inference app on {device.port}: the firmware's callback and "
                    "meter, natively; cycles are host time at the Daisy's clock")
                summary = monitor(device.port, **options)
    except (CaptureError, MonitorError) as err:
        raise CommandError(str(err)) from err
    result = summary.to_json()
    if args.emulate:
        result["cycles"] = "host time at the Daisy's clock, not Daisy cycles"
    if summary.lines:
        host_time = " (host time)" if args.emulate else ""
        log(f"{plural(len(summary.lines), 'status line')} ({summary.stop_reason}): mean CPU "
            f"{result['mean_cpu_percent']}%, worst max {result['worst_max_cycles_per_sample']:,} "
            f"cycles/sample{host_time}, {plural(result['overruns'], 'overrun')}")
    else:
        log(f"no status lines ({summary.stop_reason})")
    if args.log:
        log(f"logged to {args.log}")
    return {**result, "lines": summary.lines}
