"""Reservations (OCPP 1.6 sections 3.11 and 5.13), as pure functions.

The reservations actor holds the reservations and the connectors' statuses
(as the connectors publish them); these functions decide what follows:

- `reserve_status`: the ReserveNow.conf status. Faulted and Unavailable
  connectors say so; a connector in use (Preparing to Finishing) or
  reserved by another reservation is Occupied, as the spec asks; Rejected
  means "not here": connector 0 without ReserveConnectorZeroSupported, or
  a connector the station does not have.
- `plan`: which connectors are held (shown Reserved, usable only by the
  reserved idTag or its group) and which reservations a connector may still
  fulfil. A reservation of connector N holds N. A reservation of connector 0
  holds no connector while more connectors are free than such reservations
  exist: a different driver may take one, as long as one stays free for each
  reservation (the spec's "one connector remains available for the reserved
  idTag"). When only as many connectors are free as there are connector-0
  reservations, all of those are held until one is used.
- `ended_by_status`: reservations a status change ends (the spec: a
  connector that goes Faulted or Unavailable ends its reservation; a
  station-wide one ends when no connector is left that could serve it).
- `gate`: whether an idTag may use a held connector, may not, or whether the
  CSMS must first say its parentIdTag.
- `usable`: the reservation a starting transaction fulfils, so that its
  StartTransaction carries the reservationId and the reservation ends.

A connector counts as free for a connector-0 reservation while Available or
Reserved, and also while Preparing if it was held before: a cable plugged
into a held connector may be the reserved driver's, and letting go of the
hold then would hand the connector to anyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

ACCEPTED = "Accepted"
FAULTED = "Faulted"
OCCUPIED = "Occupied"
REJECTED = "Rejected"
UNAVAILABLE = "Unavailable"

# Connector statuses (1.6 ChargePointStatus) as the connectors report them.
_FREE = frozenset({"Available", "Reserved"})
_DOWN = frozenset({"Faulted", "Unavailable"})


@dataclass(frozen=True)
class Reservation:
    id: int
    connector: int  # 0: any connector of the station
    id_tag: str
    parent_id_tag: str | None
    expiry: datetime


@dataclass(frozen=True)
class ConnectorReservations:
    """One connector's share of the plan."""

    # Non-empty: the connector is Reserved and only these reservations' idTags
    # (or their groups) may use it.
    holds: tuple[Reservation, ...] = ()
    # Connector-0 reservations this connector does not hold but may fulfil:
    # the reserved driver may start here, and the transaction ends the reservation.
    open: tuple[Reservation, ...] = ()


class Gate(StrEnum):
    PASS = "pass"  # not held, or held for this idTag or its group: decide as usual
    REFUSE = "refuse"  # held for someone else
    ASK = "ask"  # only the idTag's parentIdTag can tell, and the station does not know it


def same_tag(a: str, b: str) -> bool:
    """OCPP's IdToken is case-insensitive."""
    return a.casefold() == b.casefold()


def fits(id_tag: str, parent_id_tag: str | None, reservation: Reservation) -> bool:
    """May `id_tag` (of group `parent_id_tag`) use `reservation`?"""
    if same_tag(id_tag, reservation.id_tag):
        return True
    return (
        reservation.parent_id_tag is not None
        and parent_id_tag is not None
        and same_tag(parent_id_tag, reservation.parent_id_tag)
    )


def _station_wide(reservations: Iterable[Reservation]) -> list[Reservation]:
    # Soonest expiry first: the order a connector offers them in.
    return sorted((r for r in reservations if r.connector == 0), key=lambda r: (r.expiry, r.id))


def _specific(reservations: Iterable[Reservation]) -> dict[int, Reservation]:
    return {r.connector: r for r in sorted(reservations, key=lambda r: r.id) if r.connector != 0}


def _free(
    statuses: Mapping[int, str],
    specific: Mapping[int, Reservation],
    held_before: Iterable[int] = (),
) -> list[int]:
    sticky = set(held_before)
    return sorted(
        c
        for c, status in statuses.items()
        if c not in specific and (status in _FREE or (status == "Preparing" and c in sticky))
    )


def reserve_status(
    connector: int,
    statuses: Mapping[int, str],
    reservations: Iterable[Reservation],
    *,
    zero_supported: bool,
    replacing: int | None = None,
) -> str:
    """ReserveNow.conf's status for a reservation of `connector`.

    `statuses` holds every connector's present status (1..N); `reservations`
    those in force. `replacing` is the request's reservationId: a reservation
    with that id is replaced by this one, so it does not stand in the way.
    """
    others = [r for r in reservations if r.id != replacing]
    specific = _specific(others)
    station_wide = _station_wide(others)
    if connector == 0:
        if not zero_supported:
            return REJECTED
        if len(_free(statuses, specific)) > len(station_wide):
            return ACCEPTED
        if any(status not in _DOWN for status in statuses.values()):
            return OCCUPIED
        if any(status == "Faulted" for status in statuses.values()):
            return FAULTED
        return UNAVAILABLE
    status = statuses.get(connector)
    if status is None:
        return REJECTED
    if status == "Faulted":
        return FAULTED
    if status == "Unavailable":
        return UNAVAILABLE
    if status not in _FREE or connector in specific:
        return OCCUPIED
    # Taking this connector must leave one free connector per connector-0 reservation.
    left = [c for c in _free(statuses, specific) if c != connector]
    if len(left) < len(station_wide):
        return OCCUPIED
    return ACCEPTED


def plan(
    statuses: Mapping[int, str],
    reservations: Iterable[Reservation],
    held_before: Iterable[int] = (),
) -> dict[int, ConnectorReservations]:
    """Every connector's reservations. `held_before`: the connectors that
    connector-0 reservations held in the previous plan (see the module doc)."""
    reservations = list(reservations)
    specific = _specific(reservations)
    station_wide = tuple(_station_wide(reservations))
    free = _free(statuses, specific, held_before)
    held = set(free) if station_wide and len(free) <= len(station_wide) else set()
    result: dict[int, ConnectorReservations] = {}
    for connector in statuses:
        if connector in specific:
            result[connector] = ConnectorReservations(holds=(specific[connector],))
        elif connector in held:
            result[connector] = ConnectorReservations(holds=station_wide)
        else:
            result[connector] = ConnectorReservations(open=station_wide)
    return result


def held_by_station(view: Mapping[int, ConnectorReservations]) -> frozenset[int]:
    """The connectors that connector-0 reservations hold in `view` (for `held_before`)."""
    return frozenset(
        c for c, share in view.items() if share.holds and share.holds[0].connector == 0
    )


def ended_by_status(
    statuses: Mapping[int, str], reservations: Iterable[Reservation]
) -> list[Reservation]:
    """The reservations the connectors' statuses end."""
    reservations = list(reservations)
    all_down = bool(statuses) and all(s in _DOWN for s in statuses.values())
    return [
        r
        for r in reservations
        if (r.connector == 0 and all_down)
        or (r.connector != 0 and statuses.get(r.connector) in _DOWN)
    ]


def gate(id_tag: str, known: Mapping[str, Any] | None, holds: Sequence[Reservation]) -> Gate:
    """May `id_tag` use a connector held for `holds`?

    `known` is the idTagInfo the station has for `id_tag` (local list or
    cache), None if it has none. A different idTag passes only through its
    parentIdTag, and only reservations made with a parentIdTag let a group in.
    """
    if not holds or any(same_tag(id_tag, r.id_tag) for r in holds):
        return Gate.PASS
    if all(r.parent_id_tag is None for r in holds):
        return Gate.REFUSE
    if known is None:
        return Gate.ASK
    parent = known.get("parentIdTag")
    if isinstance(parent, str) and any(fits(id_tag, parent, r) for r in holds):
        return Gate.PASS
    return Gate.REFUSE


def usable(
    id_tag: str, parent_id_tag: str | None, share: ConnectorReservations
) -> Reservation | None:
    """The reservation a transaction of `id_tag` starting on this connector fulfils."""
    return next((r for r in (*share.holds, *share.open) if fits(id_tag, parent_id_tag, r)), None)
