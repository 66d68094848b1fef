"""OCPP 2.0.1 E TxStopPoint: when a transaction ends (E06).

A transaction ends as soon as the condition of any one of its stop points
no longer holds. PowerPathClosed holds while the EV is connected and the
driver authorized, as libocpp's transaction handler reads it; DataSigned
never ends one (a station without signing cannot lose it). There is no
parking bay sensor, so ParkingBayOccupancy is not offered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class StopPoint(StrEnum):
    EV_CONNECTED = "EVConnected"
    AUTHORIZED = "Authorized"
    POWER_PATH_CLOSED = "PowerPathClosed"
    ENERGY_TRANSFER = "EnergyTransfer"
    DATA_SIGNED = "DataSigned"


# What a CSMS may set TxStopPoint to on this station.
OFFERED: tuple[str, ...] = tuple(p.value for p in StopPoint)
DEFAULT: tuple[str, ...] = (StopPoint.EV_CONNECTED.value, StopPoint.AUTHORIZED.value)


@dataclass(frozen=True)
class Conditions:
    """What holds for a running transaction at one moment."""

    ev_connected: bool
    authorized: bool
    energy_transfer: bool


def holds(point: StopPoint, now: Conditions) -> bool:
    match point:
        case StopPoint.EV_CONNECTED:
            return now.ev_connected
        case StopPoint.AUTHORIZED:
            return now.authorized
        case StopPoint.POWER_PATH_CLOSED:
            return now.ev_connected and now.authorized
        case StopPoint.ENERGY_TRANSFER:
            return now.energy_transfer
        case StopPoint.DATA_SIGNED:
            return True


def ends(points: Iterable[str], now: Conditions) -> bool:
    """Whether a transaction with these stop points ends in `now`.

    Unknown names are ignored: the device model refuses them on the way in.
    """
    known = {p.value for p in StopPoint}
    return any(not holds(StopPoint(p), now) for p in points if p in known)
