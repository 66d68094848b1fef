"""`ocppstation hw probe`: read a device once and print what it says.

The tool for wiring a charger: is the meter on this port, at this unit, at
this baud rate; does the reader see my card; does the board answer. It uses
the station's own drivers (hw/serial_io.py), so what works here works there.
"""

from __future__ import annotations

import argparse
import queue
import sys
from typing import IO

from ocppstation.hw import board_protocol as bp
from ocppstation.hw.errors import DeviceError
from ocppstation.hw.meters import models, register_map
from ocppstation.hw.rfid import Bad, Card, id_tag
from ocppstation.hw.serial_io import BoardLink, CardReader, ModbusMeter, PortSettings


def add_parser(sub: argparse._SubParsersAction) -> None:
    hw = sub.add_parser("hw", help="hardware tools (see `ocppstation hw probe --help`)")
    hw_sub = hw.add_subparsers(dest="hw_command", required=True)
    probe = hw_sub.add_parser(
        "probe",
        help="read a meter, reader or board once and print what it says",
        description="Read a device once and print what it says; exit 1 if it does not answer.",
    )
    what = probe.add_mutually_exclusive_group(required=True)
    what.add_argument("--meter", choices=[*models(), "modbus"], help="a Modbus energy meter")
    what.add_argument("--reader", choices=["rdm6300", "lines"], help="an RFID reader")
    what.add_argument("--board", action="store_true", help="a charge controller board")
    probe.add_argument("--port", required=True, help="device path or pyserial URL")
    probe.add_argument("--unit", type=int, default=1, help="Modbus unit address (meter)")
    probe.add_argument("--baudrate", type=int, help="default 9600 (meter, reader), 115200 (board)")
    probe.add_argument("--timeout", type=float, default=0.5, help="answer timeout, seconds")
    probe.add_argument(
        "--wait", type=float, default=10.0, help="reader: seconds to wait for a card"
    )


def run(args: argparse.Namespace, out: IO[str] = sys.stdout) -> int:
    try:
        if args.meter:
            return _meter(args, out)
        if args.reader:
            return _reader(args, out)
        return _board(args, out)
    except DeviceError as exc:
        print(f"error {exc}", file=out)
        return 1


def _settings(args: argparse.Namespace, baudrate: int) -> PortSettings:
    return PortSettings(args.port, baudrate=args.baudrate or baudrate, timeout=args.timeout)


def _meter(args: argparse.Namespace, out: IO[str]) -> int:
    meter = ModbusMeter(_settings(args, 9600), args.unit, register_map(args.meter))
    try:
        reading = meter.read()
    finally:
        meter.close()
    print(f"ok {args.meter} unit {args.unit} on {args.port}", file=out)
    print(f"energy_import_wh {reading.energy_wh:.1f}", file=out)
    print(f"power_w {reading.power_w:.1f}", file=out)
    for n, value in enumerate(reading.voltage_v, 1):
        print(f"voltage_l{n}_v {value:.1f}", file=out)
    for n, value in enumerate(reading.current_a, 1):
        print(f"current_l{n}_a {value:.2f}", file=out)
    if reading.frequency_hz is not None:
        print(f"frequency_hz {reading.frequency_hz:.2f}", file=out)
    return 0


def _reader(args: argparse.Namespace, out: IO[str]) -> int:
    items: queue.Queue[Card | Bad | DeviceError] = queue.Queue()
    reader = CardReader(_settings(args, 9600), args.reader, items.put, items.put)
    print(f"waiting {args.wait:g} s for a card on {args.port}", file=out, flush=True)
    try:
        while True:
            try:
                item = items.get(timeout=args.wait)
            except queue.Empty:
                print("error no card read", file=out)
                return 1
            if isinstance(item, DeviceError):
                raise item
            if isinstance(item, Bad):
                print(f"garbage {item.reason}: {item.raw!r}", file=out, flush=True)
                continue
            print(f"ok card {item.number} idTag {id_tag(item.number)}", file=out)
            return 0
    finally:
        reader.close()


def _board(args: argparse.Namespace, out: IO[str]) -> int:
    messages: queue.Queue[bp.Message | DeviceError] = queue.Queue()
    link = BoardLink(_settings(args, 115200), messages.put, messages.put)
    try:
        hello = link.command("HELLO")
        link.command("STATUS")
        # The board sends its ST line before the OK to STATUS.
        status = None
        while not messages.empty():
            message = messages.get_nowait()
            if isinstance(message, bp.Status):
                status = message
    finally:
        link.close()
    print(f"ok board on {args.port}: protocol {' '.join(hello.extra) or '?'}", file=out)
    if status is None:
        print("error no ST line before the OK to STATUS", file=out)
        return 1
    print(bp.encode(status).decode().strip(), file=out)
    print(f"fault {status.fault() or 'none'}", file=out)
    return 0
