"""What the EVSE actors need from hardware, as small protocols and values.

The serial drivers in hw/serial_io.py implement these; the simulated EVSE
(hw/simulated.py) is the physical world rather than a driver, so its methods
also take the monotonic time at which the world changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ocppstation.hw.signed_readings import SignedReading


class Pilot(StrEnum):
    """IEC 61851 control pilot states."""

    A = "A"  # no EV
    B = "B"  # EV connected, not ready
    C = "C"  # EV connected, ready, charging
    D = "D"  # charging with ventilation
    E = "E"  # no power / short
    F = "F"  # EVSE fault


@dataclass(frozen=True)
class MeterReading:
    energy_wh: float
    power_w: float
    current_a: tuple[float, ...] = field(default_factory=tuple)  # per phase
    voltage_v: tuple[float, ...] = field(default_factory=tuple)  # per phase
    soc_percent: float | None = None
    frequency_hz: float | None = None
    # The meter's own signature of energy_wh, where the meter signs (2.0.1 J SignReadings).
    signed: SignedReading | None = None


@dataclass(frozen=True)
class HwState:
    """What a charge controller reports: pilot and any hardware fault."""

    pilot: Pilot
    fault: str | None  # an OCPP 1.6 ChargePointErrorCode, None when healthy


@runtime_checkable
class PowerMeter(Protocol):
    """An energy meter (hw.serial_io.ModbusMeter). Raises DeviceError when unreadable."""

    def read(self) -> MeterReading: ...

    def close(self) -> None: ...


@runtime_checkable
class ChargeController(Protocol):
    """A charge controller board link (hw.serial_io.BoardLink).

    Commands (POWER, CUR, LOCK, ...; docs/hw-protocol.md) return once the
    board confirmed them and raise DeviceError otherwise: DeviceRefused when
    the board said no (a jammed lock), another DeviceError when the link
    failed. Pilot states A to F, relay and lock feedback and error names
    arrive as events, through the callback the link was built with.
    """

    def command(self, name: str, value: str | None = None) -> object: ...

    def close(self) -> None: ...


@runtime_checkable
class IdReader(Protocol):
    """An identification reader (hw.serial_io.CardReader): cards arrive through its callback."""

    def close(self) -> None: ...
