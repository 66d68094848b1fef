"""The station's devices, from the config's Hardware section. Pure but for `check_ports`.

    "Hardware": {
      "fault_delay": 10,                       seconds a driver may fail before it is a fault
      "restart_delay_min": 1, "restart_delay_max": 30,   driver restart backoff
      "evses": {
        "1": {"board":  {"driver": "serial", "port": "/dev/ttyACM0", "lock": true},
              "meter":  {"driver": "sdm630", "port": "/dev/ttyUSB0", "unit": 1, "baudrate": 9600},
              "reader": {"driver": "rdm6300", "port": "/dev/ttyS1"}}
      },
      "reader": {"driver": "rdm6300", "port": "/dev/ttyUSB1"}     one reader for the whole station
    }

An EVSE without an entry (or with driver "simulated") runs on the simulated
hardware. The schema (config/schema.json) checks types and ranges; this
module checks what needs more than one key or a look at the machine, and
refuses with a ConfigError naming the file and the key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ocppstation.config.loader import ConfigError, StationConfig
from ocppstation.hw.meters import RegisterMap, register_map
from ocppstation.hw.rfid import IdFormat
from ocppstation.hw.serial_io import LINE_KEYS, PortSettings

SECTION = "Hardware"


@dataclass(frozen=True)
class MeterDevice:
    where: str  # the config key, for messages
    port: PortSettings
    unit: int
    registers: RegisterMap
    poll_interval: float
    fault_delay: float


@dataclass(frozen=True)
class BoardDevice:
    where: str
    port: PortSettings
    keepalive: float
    lock: bool
    max_current: float
    fault_delay: float


@dataclass(frozen=True)
class ReaderDevice:
    where: str
    port: PortSettings
    mode: str  # "rdm6300" or "lines"
    debounce: float
    id_format: IdFormat
    fault_delay: float


@dataclass(frozen=True)
class EvseDevices:
    """What drives one EVSE; None is the simulated part (or, for the reader, none)."""

    board: BoardDevice | None = None
    meter: MeterDevice | None = None
    reader: ReaderDevice | None = None


@dataclass(frozen=True)
class HardwareConfig:
    evses: Mapping[int, EvseDevices] = field(default_factory=dict)
    reader: ReaderDevice | None = None  # the station's shared reader
    fault_delay: float = 10.0
    restart_delay_min: float = 1.0
    restart_delay_max: float = 30.0

    def evse(self, n: int) -> EvseDevices:
        return self.evses.get(n, EvseDevices())

    def shared_reader_serves(self, evses: int) -> tuple[int, ...]:
        """The EVSEs that take cards from the station's reader: those without their own."""
        if self.reader is None:
            return ()
        return tuple(n for n in range(1, evses + 1) if self.evse(n).reader is None)

    def devices(self) -> Iterator[BoardDevice | MeterDevice | ReaderDevice]:
        for devices in self.evses.values():
            yield from (d for d in (devices.board, devices.meter, devices.reader) if d)
        if self.reader is not None:
            yield self.reader


def _port(raw: Mapping[str, Any], baudrate: int, timeout: float) -> PortSettings:
    return PortSettings(
        port=str(raw["port"]),
        baudrate=int(raw.get("baudrate", baudrate)),
        parity=str(raw.get("parity", "N")),
        stopbits=int(raw.get("stopbits", 1)),
        timeout=float(raw.get("timeout", timeout)),
    )


def _meter(raw: Mapping[str, Any], where: str, source: str, delay: float) -> MeterDevice | None:
    driver = raw.get("driver", "simulated")
    if driver == "simulated":
        return None
    try:
        registers = register_map(driver, raw)
    except ValueError as exc:
        raise ConfigError(source, where, str(exc)) from None
    return MeterDevice(
        where=where,
        port=_port(raw, 9600, 0.5),
        unit=int(raw.get("unit", 1)),
        registers=registers,
        poll_interval=float(raw.get("poll_interval", 5.0)),
        fault_delay=float(raw.get("fault_delay", delay)),
    )


def _board(raw: Mapping[str, Any], where: str, delay: float) -> BoardDevice | None:
    if raw.get("driver", "simulated") == "simulated":
        return None
    return BoardDevice(
        where=where,
        port=_port(raw, 115200, 0.5),
        keepalive=float(raw.get("keepalive", 1.0)),
        lock=bool(raw.get("lock", False)),
        max_current=float(raw.get("max_current", 32.0)),
        fault_delay=float(raw.get("fault_delay", delay)),
    )


def _reader(raw: Mapping[str, Any], where: str, delay: float) -> ReaderDevice:
    return ReaderDevice(
        where=where,
        port=_port(raw, 9600, 0.1),
        mode=str(raw.get("driver", "rdm6300")),
        debounce=float(raw.get("debounce", 2.0)),
        id_format=raw.get("id_format", "hex"),
        fault_delay=float(raw.get("fault_delay", delay)),
    )


def parse(config: StationConfig) -> HardwareConfig:
    """The Hardware section as objects; ConfigError for what the schema cannot see."""
    section: Mapping[str, Any] = config.sections.get(SECTION, {})
    source = config.source
    delay = float(section.get("fault_delay", 10.0))
    evses: dict[int, EvseDevices] = {}
    for key, raw in section.get("evses", {}).items():
        where = f"{SECTION}.evses.{key}"
        n = int(key)
        if not 1 <= n <= config.evses:
            raise ConfigError(source, where, f"no EVSE {n} (Internal.Evses is {config.evses})")
        evses[n] = EvseDevices(
            board=_board(raw["board"], f"{where}.board", delay) if "board" in raw else None,
            meter=_meter(raw["meter"], f"{where}.meter", source, delay) if "meter" in raw else None,
            reader=_reader(raw["reader"], f"{where}.reader", delay) if "reader" in raw else None,
        )
    reader = section.get("reader")
    hardware = HardwareConfig(
        evses=evses,
        reader=_reader(reader, f"{SECTION}.reader", delay) if reader else None,
        fault_delay=delay,
        restart_delay_min=float(section.get("restart_delay_min", 1.0)),
        restart_delay_max=float(section.get("restart_delay_max", 30.0)),
    )
    if hardware.restart_delay_min > hardware.restart_delay_max:
        raise ConfigError(
            source, f"{SECTION}.restart_delay_min", "must not be more than restart_delay_max"
        )
    _check_shared_ports(hardware, source)
    return hardware


def _check_shared_ports(hardware: HardwareConfig, source: str) -> None:
    """One device per port, but for meters sharing an RS-485 line.

    Meters (of different EVSEs) may share a port: it is one Modbus bus, each
    meter answering its own unit. They must agree on the line settings and
    have different units. A board or a reader owns its port alone: two
    drivers reading one stream would take each other's bytes.
    """
    seen: dict[str, BoardDevice | MeterDevice | ReaderDevice] = {}
    units: dict[tuple[str, int], MeterDevice] = {}
    for device in hardware.devices():
        port = device.port.port
        other = seen.setdefault(port, device)
        if other is not device:
            if not (isinstance(device, MeterDevice) and isinstance(other, MeterDevice)):
                raise ConfigError(
                    source, f"{device.where}.port", f"{port} is already used by {other.where}"
                )
            for key in LINE_KEYS:
                mine, theirs = getattr(device.port, key), getattr(other.port, key)
                if mine != theirs:
                    raise ConfigError(
                        source,
                        f"{device.where}.{key}",
                        f"is {mine}, but {other.where} on the same port {port} has {theirs}"
                        " (meters sharing a bus need the same line settings)",
                    )
        if isinstance(device, MeterDevice):
            same = units.setdefault((port, device.unit), device)
            if same is not device:
                raise ConfigError(
                    source,
                    f"{device.where}.unit",
                    f"unit {device.unit} on {port} is already used by {same.where}"
                    " (meters sharing a bus need different units)",
                )


def check_ports(hardware: HardwareConfig, source: str) -> None:
    """Refuse, at start-up, a device path that does not exist.

    Later on a vanished port is a fault and the driver retries; at start-up
    it is almost always a typo or an unplugged adapter, which the station
    builder should hear about at once. pyserial URLs (loop://...) are not checked.
    """
    for device in hardware.devices():
        port = device.port.port
        if "://" not in port and not os.path.exists(port):
            raise ConfigError(
                source, f"{device.where}.port", f"{port} does not exist (is the device plugged in?)"
            )
