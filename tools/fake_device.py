"""Device simulators on pseudo-terminals: an Eastron meter, an RFID reader, a board.

Each fake opens a pty pair and plays the device on the master side; a driver
(or `ocppstation hw probe`, or any serial tool) opens the slave path as if it
were /dev/ttyUSB0. The meter and the board take their physics from a
`SimulatedEvse`, so a fake board and a fake meter sharing one world behave
like a charger: the meter counts what flows through the board's relay.

Faults a test (or a person at the prompt) can cause: `unplug()` (the port
vanishes, as a pulled USB adapter does; `replug()` brings it back at the same
`link` path), `mute` (no answers: timeouts), `garbage` (junk instead of
answers) and, per device, bad checksums, a board reset, a jammed lock.

`ocppstation fake-device {sdm630|sdm72|sdm120|rfid|board} --pty` runs one
from the command line and prints the port path; `--unit 1 --unit 2` puts two
meters on the one pty, as two meters on an RS-485 bus.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ocppstation.hw import board_protocol as bp
from ocppstation.hw import modbus
from ocppstation.hw.errors import DeviceError
from ocppstation.hw.meters import RegisterMap, register_map
from ocppstation.hw.ports import MeterReading
from ocppstation.hw.rfid import encode_rdm6300
from ocppstation.hw.simulated import HwState, SimulatedEvse
from ocppstation.tools import cliargs

Clock = Callable[[], float]
JUNK = b"\x00\xff\x13\x37garbage\xfe\x01"


class PtyPort:
    """One pty pair: we hold the master, a driver opens `path` (the slave)."""

    def __init__(self, link: str | Path | None = None) -> None:
        self.master, self._slave = os.openpty()
        # Raw from the start: without it the line discipline would echo what we
        # write before the driver opens (and sets raw mode on) its end.
        tty.setraw(self._slave)
        self.tty = os.ttyname(self._slave)
        self.link = Path(link) if link else None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self.link.symlink_to(self.tty)
        self.path = str(self.link or self.tty)

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""  # nobody has the slave open right now

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class FakeDevice:
    """A device on a pty, served by a thread; subclasses say what it answers."""

    name = "device"

    def __init__(self, link: str | Path | None = None) -> None:
        self._lock = threading.RLock()
        self._link = link
        self._port: PtyPort | None = PtyPort(link)
        self.path = self._port.path
        self.mute = False  # take requests, answer nothing
        self.garbage = False  # answer junk
        self._changed = threading.Condition(self._lock)
        self._closed = threading.Event()
        self.requests = 0  # requests taken, for tests to wait on
        self._thread = threading.Thread(target=self._run, name=f"fake-{self.name}", daemon=True)
        self._thread.start()

    # -- faults --

    def unplug(self) -> None:
        """The port vanishes: the driver's reads and writes fail, reopening fails."""
        with self._lock:
            if self._port is not None:
                self._port.close()
                self._port = None

    def replug(self) -> None:
        """The device is back, at the same path if it has a `link`."""
        with self._lock:
            if self._port is None:
                self._port = PtyPort(self._link)
                self.path = self._port.path
                self.on_replug()

    def on_replug(self) -> None:
        """A device that was away starts afresh."""

    @property
    def plugged(self) -> bool:
        with self._lock:
            return self._port is not None

    # -- serving --

    def send(self, data: bytes) -> None:
        with self._lock:
            if self._port is None:
                return
            with contextlib.suppress(OSError):
                self._port.write(JUNK if self.garbage else data)

    def wait_requests(self, count: int, timeout: float = 5.0) -> None:
        """Block until `count` requests have been taken in total."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.requests >= count, timeout):
                raise TimeoutError(f"{self.name}: {self.requests} requests, waited for {count}")

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until `predicate()` holds; checked after each request taken."""
        with self._changed:
            if not self._changed.wait_for(predicate, timeout):
                raise TimeoutError(f"{self.name}: condition not met within {timeout} s")

    def _count(self) -> None:
        with self._changed:
            self.requests += 1
            self._changed.notify_all()

    def _run(self) -> None:
        while not self._closed.is_set():
            with self._lock:
                port = self._port
            if port is None:
                self._closed.wait(0.05)
                continue
            data = port.read(0.05)
            if data:
                with self._lock:
                    if self._port is port:
                        self.received(data)
            self.tick()

    def received(self, data: bytes) -> None:
        """Bytes from the driver, in the serving thread with the lock held."""

    def tick(self) -> None:
        """Called about every 50 ms in the serving thread (timers of the device)."""

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        self.unplug()

    def __enter__(self) -> FakeDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _registers(reading: MeterReading, registers: RegisterMap) -> dict[int, int]:
    """The register words a meter with this map shows for `reading`."""
    values = {
        "energy_import_kwh": reading.energy_wh / 1000.0,
        "energy_import_wh": reading.energy_wh,
        "power_w": reading.power_w,
        "power_kw": reading.power_w / 1000.0,
        "frequency_hz": reading.frequency_hz or 50.0,
    }
    for n in (1, 2, 3):
        if len(reading.voltage_v) >= n:
            values[f"voltage_l{n}_v"] = reading.voltage_v[n - 1]
        if len(reading.current_a) >= n:
            values[f"current_l{n}_a"] = reading.current_a[n - 1]
    words: dict[int, int] = {}
    for quantity, address in registers.registers.items():
        high, low = modbus.registers_from_float(values.get(quantity, 0.0), registers.word_order)
        words[address], words[address + 1] = high, low
    return words


class FakeMeter(FakeDevice):
    """Eastron-style Modbus RTU meters on one line: unit `unit` reads the energy of `world`.

    `add_meter(unit, world)` puts another meter (same model) on the same
    pty, as on an RS-485 bus: every meter hears every request and only the
    one addressed answers. `mute`, `garbage` and `bad_crc` concern the whole
    line; `silent` holds the units that stopped answering (a dead meter on a
    live bus).
    """

    name = "meter"

    def __init__(
        self,
        world: SimulatedEvse,
        clock: Clock = time.monotonic,
        *,
        model: str = "sdm630",
        unit: int = 1,
        link: str | Path | None = None,
    ) -> None:
        self.worlds: dict[int, SimulatedEvse] = {unit: world}
        self.clock = clock
        self.map = register_map(model)
        self.unit = unit
        self.silent: set[int] = set()
        self.asked: dict[int, int] = {}  # requests taken per unit, for tests to wait on
        self.bad_crc = False
        self.exception: int | None = None  # answer every request with this exception code
        self._buffer = bytearray()
        super().__init__(link)

    @property
    def world(self) -> SimulatedEvse:
        """The world of the first meter (`unit`)."""
        return self.worlds[self.unit]

    @world.setter
    def world(self, world: SimulatedEvse) -> None:
        self.worlds[self.unit] = world

    def add_meter(self, unit: int, world: SimulatedEvse) -> None:
        """Another meter on this line, at address `unit`, reading `world`."""
        with self._lock:
            if unit in self.worlds:
                raise ValueError(f"unit {unit} is already on this line")
            self.worlds[unit] = world

    def on_replug(self) -> None:
        self._buffer.clear()

    def received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= modbus.REQUEST_LENGTH:
            try:
                request = modbus.decode_request(bytes(self._buffer[: modbus.REQUEST_LENGTH]))
            except DeviceError:
                del self._buffer[:1]  # not a request start: slide on
                continue
            del self._buffer[: modbus.REQUEST_LENGTH]
            self.asked[request.unit] = self.asked.get(request.unit, 0) + 1
            self._count()
            if request.unit in self.worlds and request.unit not in self.silent and not self.mute:
                self.send(self._answer(request))

    def _answer(self, request: modbus.ReadRequest) -> bytes:
        if self.exception is not None:
            return modbus.encode_exception(request.unit, request.function, self.exception)
        if request.function != self.map.function or request.address + request.count > 0x200:
            return modbus.encode_exception(request.unit, request.function, 2)
        words = _registers(self.worlds[request.unit].read(self.clock()), self.map)
        values = [words.get(a, 0) for a in range(request.address, request.address + request.count)]
        frame = modbus.encode_response(request.unit, request.function, values)
        if self.bad_crc:
            frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        return frame


class FakeReader(FakeDevice):
    """An RFID reader: RDM6300 frames, or one card number per line."""

    name = "reader"

    def __init__(self, *, mode: str = "rdm6300", link: str | Path | None = None) -> None:
        self.mode = mode
        super().__init__(link)

    def present(self, number: str, repeat: int = 3) -> None:
        """Hold card `number` (10 hex characters) to the reader: it repeats, as real ones do."""
        frame = encode_rdm6300(number) if self.mode == "rdm6300" else number.encode() + b"\r\n"
        self.send(frame * repeat)

    def noise(self, data: bytes = JUNK) -> None:
        self.send(data)

    def tick(self) -> None:
        # A broken reader (a loose antenna, a wrong baud rate) chatters on its own.
        if self.garbage:
            self.send(JUNK)


_ERROR_NAMES = {code: name for name, code in bp.ERROR_CODES.items()}


class FakeBoard(FakeDevice):
    """A charge controller board speaking docs/hw-protocol.md over `world`."""

    name = "board"

    def __init__(
        self,
        world: SimulatedEvse,
        clock: Clock = time.monotonic,
        *,
        lock: bool = True,
        watchdog: float | None = None,
        link: str | Path | None = None,
        version: str = "fake-board-1.0",
    ) -> None:
        self.world = world
        self.clock = clock
        self.has_lock = lock
        self.locked = False
        self.jammed = False  # the lock motor does not move (ConnectorLockFailure)
        self.errors: set[str] = set()
        self.watchdog = watchdog
        self.version = version
        self.bad_checksum = False
        self.commands: list[bp.Command] = []
        self._splitter = bp.LineSplitter()
        self._heard = time.monotonic()
        super().__init__(link)
        self._unsubscribe = world.subscribe(lambda state: self._state_changed())

    # -- faults and the world --

    def reset(self) -> None:
        """The board restarts: outputs off, then BOOT."""
        with self._lock:
            self.world.allow_power(False, self.clock())
            self.locked = False
            self.send(bp.encode(bp.Boot(self.version)))

    def jam(self, jammed: bool = True) -> None:
        with self._lock:
            self.jammed = jammed
            if jammed:
                self.errors.add("lock")
            else:
                self.errors.discard("lock")
            self._send_status()

    def on_replug(self) -> None:
        self._splitter = bp.LineSplitter()
        self._heard = time.monotonic()

    # -- protocol --

    def status(self) -> bp.Status:
        state: HwState = self.world.state()
        errors = set(self.errors)
        if state.fault is not None:
            errors.add(_ERROR_NAMES.get(state.fault, "internal"))
        return bp.Status(
            pilot=state.pilot,
            relay=self.world.relay_closed,
            locked=self.locked if self.has_lock else None,
            current_a=round(self.world.offered_a, 1),
            errors=tuple(sorted(errors)),
        )

    def _send_status(self) -> None:
        self._write(bp.encode(self.status()))

    def _write(self, line: bytes) -> None:
        if self.bad_checksum:
            line = line[:-3] + (b"00\n" if line[-3:-1] != b"00" else b"01\n")
        self.send(line)

    def _state_changed(self) -> None:
        with self._lock:
            self._send_status()

    def received(self, data: bytes) -> None:
        for line in self._splitter.feed(data):
            try:
                message = bp.decode(line)
            except DeviceError:
                continue  # the host's line was damaged: it will time out and retry
            if not isinstance(message, bp.Command):
                continue
            self._heard = time.monotonic()
            self.commands.append(message)
            self._count()
            if not self.mute:
                self._command(message)

    def _command(self, command: bp.Command) -> None:
        ok = bp.Reply(command.seq, True)
        now = self.clock()
        match command.name:
            case "HELLO":
                ok = bp.Reply(command.seq, True, extra=(bp.PROTOCOL_VERSION, self.version))
            case "STATUS":
                self._send_status()
            case "POWER":
                self.world.allow_power(command.value == "1", now)
            case "CUR":
                self.world.set_offered_current(float(command.value or 0), now)
            case "LOCK":
                if not self.has_lock:
                    ok = bp.Reply(command.seq, False, "nolock")
                elif self.jammed:
                    # The protocol: a lock that failed to move is an error until it moves.
                    self.errors.add("lock")
                    self._send_status()
                    ok = bp.Reply(command.seq, False, "lock")
                else:
                    self.locked = command.value == "1"
                    self.errors.discard("lock")
                    self._send_status()
        self._write(bp.encode(ok))

    def tick(self) -> None:
        if self.watchdog is None:
            return
        with self._lock:
            if time.monotonic() - self._heard > self.watchdog and self.world.relay_closed:
                # The host went silent: a board must not keep energy flowing.
                self.world.allow_power(False, self.clock())

    def close(self) -> None:
        self._unsubscribe()
        super().close()


# -- command line ----------------------------------------------------------------

HELP = {
    "all": "mute | unmute | garbage | clean | unplug | replug | quit",
    "meter": "crc | nocrc | exception N | noexception | silent UNIT | answer UNIT",
    "rfid": "card NUMBER | noise",
    "board": "plug-ev | unplug-ev | fault CODE | clear | jam | unjam | reset | suspend | resume",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "fake-device",
        help="run a device simulator on a new pty and print its port path",
        description=(
            "Run a device simulator on a pseudo-terminal, print the port path, then take "
            "commands on stdin to change the world or cause faults."
        ),
    )
    parser.add_argument("device", choices=["sdm630", "sdm72", "sdm120", "rfid", "board"])
    parser.add_argument("--pty", action="store_true", required=True, help="serve on a new pty pair")
    parser.add_argument("--link", help="also make this path a symlink to the pty (stable name)")
    parser.add_argument(
        "--unit",
        type=cliargs.int_range(1, 247),  # Modbus RTU's unicast addresses
        action="append",
        help="Modbus unit of the meter (1); repeat for several meters on the one pty, as on a bus",
    )
    parser.add_argument("--mode", choices=["rdm6300", "lines"], default="rdm6300")
    parser.add_argument(
        "--watchdog",
        type=cliargs.positive,
        default=5.0,
        help="board: open the relay after N s of silence",
    )
    parser.add_argument(
        "--forever",
        action="store_true",
        help="keep serving after standard input ends (as under & in a script), until a signal",
    )


def run(args: argparse.Namespace, stdin: IO[str] = sys.stdin, out: IO[str] = sys.stdout) -> int:
    try:
        return _run(args, stdin, out)
    except OSError as exc:  # the pty or the --link path could not be made
        flag = "argument --link: " if args.link else ""
        print(f"ocppstation fake-device: error: {flag}{exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, stdin: IO[str], out: IO[str]) -> int:
    world = SimulatedEvse()
    device: FakeDevice
    if args.device == "rfid":
        device = FakeReader(mode=args.mode, link=args.link)
        kind = "rfid"
    elif args.device == "board":
        device = FakeBoard(world, watchdog=args.watchdog, link=args.link)
        kind = "board"
    else:
        # Alone, each meter sees an EV charging at full current, so it counts.
        # World commands (plug-ev, fault ...) act on the first unit's EV.
        units = args.unit or [1]
        if len(set(units)) < len(units):
            print(
                f"ocppstation fake-device: error: argument --unit: given twice: {units}",
                file=sys.stderr,
            )
            return 2
        meter = FakeMeter(_charging(world), model=args.device, unit=units[0], link=args.link)
        for unit in units[1:]:
            meter.add_meter(unit, _charging(SimulatedEvse()))
        device = meter
        kind = "meter"
    print(device.path, file=out, flush=True)
    print(f"commands: {HELP['all']} | {HELP[kind]}", file=sys.stderr, flush=True)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _stop)
    try:
        for line in stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                return 0
            answer = _command(device, world, words)
            print(answer, file=out, flush=True)
        # Standard input ended: a person or a script is done with the device,
        # unless it asked to keep it running without one.
        if args.forever:
            threading.Event().wait()
    except _Stopped:
        pass
    finally:
        device.close()
    return 0


class _Stopped(BaseException):
    """SIGINT or SIGTERM: raised in the main thread, so that a blocking read of
    stdin ends too (a handler that only sets a flag would wait for a line)."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def _charging(world: SimulatedEvse) -> SimulatedEvse:
    world.plug(time.monotonic())
    world.allow_power(True, time.monotonic())
    return world


def _command(device: FakeDevice, world: SimulatedEvse, words: list[str]) -> str:
    now = time.monotonic()
    name, args = words[0], words[1:]
    simple: dict[str, Callable[[], object]] = {
        "mute": lambda: setattr(device, "mute", True),
        "unmute": lambda: setattr(device, "mute", False),
        "garbage": lambda: setattr(device, "garbage", True),
        "clean": lambda: setattr(device, "garbage", False),
        "unplug": device.unplug,
        "replug": device.replug,
        "plug-ev": lambda: world.plug(now),
        "unplug-ev": lambda: world.unplug(now),
        "clear": lambda: world.clear_fault(now),
        "suspend": lambda: world.ev_suspend(True, now),
        "resume": lambda: world.ev_suspend(False, now),
    }
    if isinstance(device, FakeMeter):
        simple["crc"] = lambda: setattr(device, "bad_crc", True)
        simple["nocrc"] = lambda: setattr(device, "bad_crc", False)
        simple["noexception"] = lambda: setattr(device, "exception", None)
    if isinstance(device, FakeReader):
        simple["noise"] = device.noise
    if isinstance(device, FakeBoard):
        simple["jam"] = device.jam
        simple["unjam"] = lambda: device.jam(False)
        simple["reset"] = device.reset
    try:
        if name in simple and not args:
            simple[name]()
        elif name == "card" and len(args) == 1 and isinstance(device, FakeReader):
            device.present(args[0])
        elif name == "fault" and len(args) == 1:
            world.fault(args[0], now)
        elif name == "exception" and len(args) == 1 and isinstance(device, FakeMeter):
            device.exception = int(args[0])
        elif name in ("silent", "answer") and len(args) == 1 and isinstance(device, FakeMeter):
            unit = int(args[0])
            (device.silent.add if name == "silent" else device.silent.discard)(unit)
        else:
            return f"error unknown command {' '.join(words)!r}"
    except ValueError as exc:
        return f"error {exc}"
    return "ok"
