"""What the EVSE actors need from hardware, as small protocols.

The actors depend only on these, so a simulated board, a serial driver or an
embedder's own code can stand behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


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


class ChargeController(Protocol):
    def pilot(self) -> Pilot: ...

    def allow_power(self, on: bool) -> None: ...

    def set_offered_current(self, amps: float) -> None: ...


class PowerMeter(Protocol):
    def read(self, now: float) -> MeterReading: ...
