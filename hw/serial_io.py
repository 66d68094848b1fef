"""Serial devices as plain blocking objects: open a port, talk, raise DeviceError.

These are the drivers proper. They know nothing about actors: the actors in
`actors/drivers.py` call them from their own thread (and let a DeviceError
crash them), and `ocppstation hw probe` calls them from the command line.
Every blocking call is bounded by the port's timeout.

Why our own Modbus client rather than pymodbus: we need one function (read
registers), one transaction at a time on a line that the meters' actor
threads may share (`ModbusBus`), with every failure surfacing as an
exception the supervisor can act on. pymodbus's sync client is not
thread-safe, retries and reconnects on its own (which would hide a dead meter
from the supervisor), has broken when used off the main thread (3.8.0/3.8.1,
"no current event loop") and renames its arguments between minor versions;
the RTU framing we need is hw/modbus.py, tested with hypothesis in
tests/test_hw_modbus.py. See docs/hw-protocol.md.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from ocppstation.hw import board_protocol as bp
from ocppstation.hw.errors import DeviceError, DeviceRefused, DeviceTimeout, Garbage, PortGone
from ocppstation.hw.meters import RegisterMap
from ocppstation.hw.modbus import ReadRequest, decode_response, response_length
from ocppstation.hw.ports import MeterReading
from ocppstation.hw.rfid import Bad, Card, LineDecoder, Rdm6300Decoder


@dataclass(frozen=True)
class PortSettings:
    port: str
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    timeout: float = 0.5


# What the devices on one line must agree on; the timeout may differ per device.
LINE_KEYS = ("baudrate", "parity", "stopbits")


def open_port(settings: PortSettings) -> serial.SerialBase:
    """Open a device path or a pyserial URL (loop://, socket://, rfc2217://)."""
    try:
        if "://" in settings.port:
            port = serial.serial_for_url(
                settings.port,
                baudrate=settings.baudrate,
                parity=settings.parity,
                stopbits=settings.stopbits,
                timeout=settings.timeout,
            )
        else:
            port = serial.Serial(
                settings.port,
                baudrate=settings.baudrate,
                parity=settings.parity,
                stopbits=settings.stopbits,
                timeout=settings.timeout,
                exclusive=True,  # two drivers on one port would corrupt each other's frames
            )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PortGone(f"{settings.port}: {exc}") from None
    # Whatever the device said before we listened belongs to nobody.
    _io(settings.port, port.reset_input_buffer)
    return port


def _io(name: str, operation: Callable[..., Any], *args: Any) -> Any:
    """Run one port operation, turning pyserial's failures into PortGone."""
    try:
        return operation(*args)
    except (serial.SerialException, OSError) as exc:
        raise PortGone(f"{name}: {exc}") from None


def _close(port: serial.SerialBase | None) -> None:
    if port is None:
        return
    try:
        port.close()
    except (serial.SerialException, OSError):
        pass  # closing a vanished port fails; it is closed all the same


# -- Modbus RTU ----------------------------------------------------------------


class ModbusBus:
    """A Modbus RTU master on one serial line: one transaction at a time.

    An RS-485 line carries several meters (slaves), each with its own unit
    address, and every slave hears every request: so a request and its answer
    are one transaction, under a lock, before the next request goes out,
    whichever thread asks. Thread-safe; the port is opened on first use.
    When the port fails (PortGone) it is closed, and the next transaction
    opens it again: every meter on a vanished line fails in turn, and the
    first transaction after it is back reopens it for all. A timeout, a bad
    CRC or an exception answer concern one slave and leave the port open.
    """

    def __init__(self, settings: PortSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._port: serial.SerialBase | None = None

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._port is not None

    def close(self) -> None:
        with self._lock:
            port, self._port = self._port, None
        _close(port)

    def read(
        self, unit: int, function: int, address: int, count: int, timeout: float | None = None
    ) -> tuple[int, ...]:
        """Read `count` registers of `unit`; `timeout` (default the bus's) bounds each read."""
        request = ReadRequest(unit, function, address, count)
        with self._lock:
            try:
                if self._port is None:
                    self._port = open_port(self.settings)
                return self._transact(self._port, request, timeout or self.settings.timeout)
            except PortGone:
                _close(self._port)
                self._port = None
                raise

    def _transact(
        self, port: serial.SerialBase, request: ReadRequest, timeout: float
    ) -> tuple[int, ...]:
        name = self.settings.port
        if port.timeout != timeout:  # meters on one line may wait for answers differently
            _io(name, setattr, port, "timeout", timeout)
        # A late answer to an earlier request that timed out must not be
        # taken for this one's.
        _io(name, port.reset_input_buffer)
        _io(name, port.write, request.encode())
        head = self._read_exactly(port, 3, request, timeout)
        total = response_length(head)
        assert total is not None
        if total > request.response_length:
            raise Garbage(f"answer announces {total} bytes, expected {request.response_length}")
        frame = head + self._read_exactly(port, total - 3, request, timeout)
        return decode_response(request, frame)

    def _read_exactly(
        self, port: serial.SerialBase, n: int, request: ReadRequest, timeout: float
    ) -> bytes:
        data = _io(self.settings.port, port.read, n)
        if len(data) < n:
            got = f"{len(data)} of {n} bytes" + (f" ({data.hex()})" if data else "")
            raise DeviceTimeout(f"unit {request.unit} did not answer within {timeout} s: {got}")
        return data


class ModbusBuses:
    """The station's open Modbus lines, one `ModbusBus` per port, shared by reference count.

    Each meter driver `acquire`s its line when it starts and `release`s it
    when it stops or crashes; the port is closed when the last user lets go,
    so a restarting driver never closes the line under the other meters on
    it. Thread-safe (drivers run on their own threads).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buses: dict[str, tuple[ModbusBus, int]] = {}

    def acquire(self, settings: PortSettings) -> ModbusBus:
        """The bus on `settings.port`, created on first use; ValueError on other line settings."""
        with self._lock:
            if settings.port in self._buses:
                bus, users = self._buses[settings.port]
                if line_settings(bus.settings) != line_settings(settings):
                    # hw/devices.py refuses such a config; this is a bug.
                    raise ValueError(
                        f"{settings.port}: line settings {line_settings(settings)} differ "
                        f"from {line_settings(bus.settings)}"
                    )
            else:
                bus, users = ModbusBus(settings), 0
            self._buses[settings.port] = (bus, users + 1)
            return bus

    def release(self, bus: ModbusBus) -> None:
        """One user fewer; the last one closes the port."""
        with self._lock:
            held, users = self._buses.get(bus.settings.port, (None, 0))
            if held is not bus:
                return  # released twice: nothing left to do
            if users > 1:
                self._buses[bus.settings.port] = (bus, users - 1)
                return
            del self._buses[bus.settings.port]
        bus.close()

    def find(self, port: str) -> ModbusBus | None:
        """The bus held on `port`, if any driver holds it."""
        with self._lock:
            held = self._buses.get(port)
            return held[0] if held else None

    def users(self) -> dict[str, int]:
        """Port -> how many drivers hold it: empty once every driver stopped."""
        with self._lock:
            return {port: users for port, (_, users) in self._buses.items()}


def line_settings(settings: PortSettings) -> tuple[object, ...]:
    """What every device on one line must agree on (LINE_KEYS)."""
    return tuple(getattr(settings, key) for key in LINE_KEYS)


class ModbusMeter:
    """An energy meter read through its register map.

    On its own port by default (`hw probe`); the station's drivers pass the
    shared `bus` of the meter's line (then `close()` leaves it open).
    """

    def __init__(
        self,
        settings: PortSettings,
        unit: int,
        registers: RegisterMap,
        bus: ModbusBus | None = None,
    ) -> None:
        self.unit = unit
        self.map = registers
        self.timeout = settings.timeout
        self._own = bus is None
        self.bus = bus or ModbusBus(settings)

    def close(self) -> None:
        if self._own:
            self.bus.close()

    def read(self) -> MeterReading:
        blocks = {
            start: self.bus.read(self.unit, self.map.function, start, count, self.timeout)
            for start, count in self.map.blocks()
        }
        reading = self.map.reading(blocks)
        if not reading.energy_wh == reading.energy_wh or reading.energy_wh < 0:  # NaN or negative
            raise Garbage(f"energy register reads {reading.energy_wh}")
        return reading


# -- line-based devices with a reader thread ---------------------------------------


class PortListener:
    """A thread that reads a port and hands chunks of bytes to `on_data`.

    Blocking reads stay off the actor's thread, so the actor can always be
    told to stop. `on_error` is called once if the port fails; then the
    thread ends. `close()` stops the thread and closes the port.
    """

    def __init__(
        self,
        port: serial.SerialBase,
        name: str,
        on_data: Callable[[bytes], None],
        on_error: Callable[[DeviceError], None],
    ) -> None:
        self.port = port
        self.name = name
        self._on_data = on_data
        self._on_error = on_error
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"port-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                waiting = self.port.in_waiting
                data = self.port.read(max(1, min(waiting, 4096)))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # TypeError/AttributeError: pyserial's own state after a
                # close from another thread; only an error if not closing.
                if not self._closed.is_set():
                    self._on_error(PortGone(f"{self.name}: {exc}"))
                return
            if data and not self._closed.is_set():
                self._on_data(data)

    def close(self) -> None:
        self._closed.set()
        try:
            self.port.cancel_read()
        except (AttributeError, NotImplementedError, serial.SerialException, OSError):
            pass  # not every port type can cancel; the read timeout ends the wait
        self._thread.join(timeout=2 * max(self.port.timeout or 0.1, 0.1) + 1)
        _close(self.port)


class CardReader:
    """An RFID reader: cards and garbage as they arrive, through callbacks."""

    def __init__(
        self,
        settings: PortSettings,
        mode: str,
        on_item: Callable[[Card | Bad], None],
        on_error: Callable[[DeviceError], None],
    ) -> None:
        decoder = Rdm6300Decoder() if mode == "rdm6300" else LineDecoder()

        def on_data(data: bytes) -> None:
            for item in decoder.feed(data):
                on_item(item)

        # A short read timeout only bounds how fast close() is; reads return
        # as soon as bytes arrive.
        self.listener = PortListener(open_port(settings), settings.port, on_data, on_error)

    def close(self) -> None:
        self.listener.close()


class BoardLink:
    """The host end of the board line protocol.

    Replies go to the caller of `command()` through a queue; status, boot and
    garbage go to `on_message` in the listener thread.
    """

    def __init__(
        self,
        settings: PortSettings,
        on_message: Callable[[bp.Message | DeviceError], None],
        on_error: Callable[[DeviceError], None],
    ) -> None:
        self.settings = settings
        self._seq = 0
        self._replies: queue.Queue[bp.Reply] = queue.Queue()
        splitter = bp.LineSplitter()

        def on_data(data: bytes) -> None:
            for line in splitter.feed(data):
                try:
                    message = bp.decode(line)
                except DeviceError as exc:
                    on_message(exc)
                    continue
                if isinstance(message, bp.Reply):
                    self._replies.put(message)
                else:
                    on_message(message)

        self.port = open_port(settings)
        self.listener = PortListener(self.port, settings.port, on_data, on_error)

    def close(self) -> None:
        self.listener.close()

    def command(self, name: str, value: str | None = None) -> bp.Reply:
        """Send one command and wait for its answer; DeviceRefused on ERR."""
        self._seq = self._seq % bp.MAX_SEQ + 1
        seq = self._seq
        _io(self.settings.port, self.port.write, bp.encode(bp.Command(name, seq, value)))
        deadline = time.monotonic() + self.settings.timeout
        while True:
            left = deadline - time.monotonic()
            try:
                reply = self._replies.get(timeout=max(left, 0))
            except queue.Empty:
                raise DeviceTimeout(
                    f"board did not answer {name} within {self.settings.timeout} s"
                ) from None
            if reply.seq != seq:
                continue  # the late answer to a command that already timed out
            if not reply.ok:
                raise DeviceRefused(f"board refused {name} {value or ''}: {reply.reason}")
            return reply
