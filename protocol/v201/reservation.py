"""OCPP 2.0.1 H Reservation (H01-H04) in the words of 1.6's rules.

The rules are 1.6's (`protocol.v16.reservation`): what a ReserveNow is
answered, which connectors are held, who may use them, when a status ends
a reservation. A 2.0.1 ReserveNow is read into 1.6's `Reservation` here:

- evseId N is 1.6's connector N (an EVSE has one connector); without one
  the reservation is the station's, 1.6's connector 0, and needs
  ReservationCtrlr.NonEvseSpecific (H01.FR.19; the 1.6 key
  ReserveConnectorZeroSupported is the same place). So H01.FR.20's "as
  many free EVSEs as unassigned reservations: all of them Reserved" is
  1.6's connector-0 plan.
- groupIdToken is 1.6's parentIdTag, as authorization reads idTokenInfo's
  groupIdToken: a token of that group may use the reservation (H01.FR.09).
- connectorType: an EVSE serves it when its connector has that type; the
  type Unknown, on either side, serves any (libocpp does the same, and
  this station's connectors all report Unknown: nothing configures another yet).
  With an evseId, an EVSE without the type is Rejected (libocpp). Without
  one: when every EVSE has the type it is the station's reservation as
  above; when only some do, the first of those that takes a reservation
  now is reserved as if named (1.6's rules know no pools of EVSEs, and a
  reservation that names its EVSE is what storage keeps), and when none
  does the answer is what 1.6's rules say of those EVSEs alone.
- ReservationStatusUpdate: Expired when its time ran out (H04), Removed
  when the station ended it otherwise (its EVSE Faulted or Inoperative).
  Cancelled, replaced or used, the CSMS knows already (libocpp the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocppstation.protocol.timestamps import parse_timestamp
from ocppstation.protocol.v16.reservation import (
    ACCEPTED,
    OCCUPIED,
    REJECTED,
    Reservation,
    reserve_status,
)

# ConnectorEnumType's "Unknown": a connector (or a request) of no stated type.
ANY_TYPE = "Unknown"

EXPIRED = "Expired"
REMOVED = "Removed"


@dataclass(frozen=True)
class Request:
    """A ReserveNow as 2.0.1 words it."""

    id: int
    expiry: datetime
    id_token: str
    group: str | None = None
    evse: int | None = None
    connector_type: str | None = None


def request(payload: Mapping[str, Any]) -> Request:
    """Read a (schema-valid) ReserveNowRequest."""
    group = payload.get("groupIdToken")
    evse = payload.get("evseId")
    return Request(
        id=int(payload["id"]),
        expiry=parse_timestamp(payload["expiryDateTime"]),
        id_token=str(payload["idToken"]["idToken"]),
        group=str(group["idToken"]) if group else None,
        evse=int(evse) if evse is not None else None,
        connector_type=payload.get("connectorType"),
    )


def serves(wanted: str | None, has: str | None) -> bool:
    """Does a connector of type `has` serve a request for `wanted`?"""
    return wanted in (None, ANY_TYPE) or has in (None, ANY_TYPE) or wanted == has


def target(
    req: Request,
    types: Mapping[int, str],
    statuses: Mapping[int, str],
    reservations: Iterable[Reservation],
    *,
    non_evse_specific: bool,
) -> int | str:
    """The 1.6 connector `req` reserves (0: the station's), or the status refusing it.

    `types` is each EVSE's connector type (1..N), `statuses` and
    `reservations` what 1.6's rules read.
    """
    if req.evse is not None:
        if req.evse not in types or not serves(req.connector_type, types[req.evse]):
            return REJECTED
        return req.evse
    if not non_evse_specific:
        return REJECTED
    fitting = sorted(evse for evse, kind in types.items() if serves(req.connector_type, kind))
    if not fitting:
        return REJECTED
    if len(fitting) == len(types):
        return 0
    reservations = list(reservations)
    for evse in fitting:
        status = reserve_status(evse, statuses, reservations, zero_supported=True, replacing=req.id)
        if status == ACCEPTED:
            return evse
    # As if the station had only those EVSEs: Occupied, Faulted or Unavailable.
    among = {evse: statuses[evse] for evse in fitting if evse in statuses}
    theirs = [r for r in reservations if r.connector in among]
    status = reserve_status(0, among, theirs, zero_supported=True, replacing=req.id)
    return OCCUPIED if status == ACCEPTED else status


def as_v16(req: Request, connector: int) -> Reservation:
    return Reservation(req.id, connector, req.id_token, req.group, req.expiry)


def update_status(ending: str) -> str | None:
    """The ReservationStatusUpdate an ending sends (`actors.v16.reservation.Ending`), if any."""
    return {"expired": EXPIRED, "removed": REMOVED}.get(ending)
