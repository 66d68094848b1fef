"""What an ISO 15118 EV says it needs (ChargeParameterDiscovery), version-neutral.

The simulated EV states it through `Station.plug(n, needs=...)`; OCPP 2.0.1
sends it as NotifyEVChargingNeeds (protocol/v201/ev_charging.py). 1.6 has no
message for it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENERGY_TRANSFER_MODES", "EvNeeds"]

# ISO 15118's EnergyTransferMode, in 2.0.1's words.
ENERGY_TRANSFER_MODES = ("DC", "AC_single_phase", "AC_two_phase", "AC_three_phase")


@dataclass(frozen=True)
class EvNeeds:
    """An EV's charging needs: the energy it wants, by when (seconds from
    now, None: not said), its limits (AC: min and max current per phase and
    max voltage; DC: max current, voltage and power), and how many schedule
    periods it takes at most (None: not said)."""

    requested_energy_transfer: str = "AC_three_phase"
    energy_wh: int = 20_000
    departure_in: int | None = None
    min_current: int = 6
    max_current: int = 32
    max_voltage: int = 400
    max_power: int | None = None  # DC only
    max_schedule_tuples: int | None = None

    def __post_init__(self) -> None:
        if self.requested_energy_transfer not in ENERGY_TRANSFER_MODES:
            raise ValueError(
                f"energy transfer {self.requested_energy_transfer!r} is none of "
                f"{', '.join(ENERGY_TRANSFER_MODES)}"
            )
        if self.max_schedule_tuples is not None and self.max_schedule_tuples < 1:
            raise ValueError("max_schedule_tuples must be at least 1")

    @property
    def dc(self) -> bool:
        return self.requested_energy_transfer == "DC"
