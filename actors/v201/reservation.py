"""OCPP 2.0.1 H Reservation: ReserveNow (H01), CancelReservation (H02), the
reserved EVSE used (H03) or not (H04), ReservationStatusUpdate;
ReservationCtrlr.

1.6's reservations actor with its wording hooks overridden: the same
rules (`protocol.v16.reservation`), the same store (reservations survive a
restart), the same shares told to the connectors, which show Reserved and
let only the reserved idToken or its groupIdToken through; a transaction
for the reservation carries its id in the Started TransactionEvent and
ends it. How a 2.0.1 request reads in 1.6's terms is
`protocol.v201.reservation`.

- ReservationCtrlr.Enabled false (or Available false) refuses every
  ReserveNow and CancelReservation (libocpp: H01.FR.01's "not configured to
  accept reservations" applies to cancelling too).
- ReservationStatusUpdate is sent when a reservation expires (Expired) or
  the station removes it because its EVSE (or every EVSE, for the
  station's reservation) went Faulted or Inoperative (Removed). One that
  ran out while the station was off is reported Expired once the CSMS
  accepted the boot. Updates the station cannot send now (offline, not yet
  accepted) wait in memory for `Online`, as libocpp keeps its
  non-transaction messages in memory: they are not transaction messages,
  so they are not persisted, and an actor restart forgets them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp.v201 import call, call_result
from ocpp.v201.enums import (
    CancelReservationStatusEnumType,
    ReservationUpdateStatusEnumType,
    ReserveNowStatusEnumType,
)

from ocppstation.actors.events import Online
from ocppstation.actors.link.rpc import NotRegistered, Outcome, submit
from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.context import StationContext
from ocppstation.actors.v16.reservation import Ending, Reservations
from ocppstation.config.device_model import Address
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.errors import OfflineError
from ocppstation.protocol.payloads import action, dump
from ocppstation.protocol.v16.reservation import REJECTED, Reservation
from ocppstation.protocol.v201.reservation import (
    ANY_TYPE,
    as_v16,
    request,
    target,
    update_status,
)

CTRLR = "ReservationCtrlr"


@dataclass(frozen=True)
class _Reported:
    reservation_id: int
    status: str
    outcome: Outcome


def _online(event: object) -> object | None:
    return event if isinstance(event, Online) else None


class Reservations201(Reservations):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place, ctx)
        # ReservationStatusUpdates waiting for the CSMS: (reservationId, status).
        self.owed: list[tuple[int, str]] = []
        self._unsubscribe_online: Callable[[], None] = lambda: None

    def setup(self) -> None:
        # Before 1.6's setup, which reports what ran out while the station was off.
        self._unsubscribe_online = self.ctx.forward(self.actor_ref, _online)
        super().setup()

    def teardown(self) -> None:
        self._unsubscribe_online()
        super().teardown()

    def receive(self, message: Any) -> Any:
        match message:
            case Online(online=True):
                owed, self.owed = self.owed, []
                for reservation_id, status in owed:
                    self._report(reservation_id, status)
            case Online():
                pass
            case _Reported(outcome=Outcome(error=OfflineError() | NotRegistered())):
                # Lost with the link: sent again when the station is back.
                self.owed.append((message.reservation_id, message.status))
            case _Reported(outcome=Outcome(error=error)) if error is not None:
                self.log.warning(
                    "ReservationStatusUpdate of %d not taken: %s", message.reservation_id, error
                )
            case _Reported():
                pass
            case _:
                return super().receive(message)
        return None

    def _enabled(self) -> bool:
        return self.ctx.setting(Setting.RESERVATION_AVAILABLE, True) is not False and (
            self.ctx.setting(Setting.RESERVATION_ENABLED, True) is not False
        )

    def _types(self) -> dict[int, str]:
        """Each EVSE's connector type, from the device model (one connector each)."""
        view = self.ctx.settings.view
        types: dict[int, str] = {}
        for evse in self.statuses:
            kind = view.at(Address("Connector", "ConnectorType", evse=evse, connector=1))
            types[evse] = kind if isinstance(kind, str) else ANY_TYPE
        return types

    def requested(self, payload: dict[str, Any]) -> Reservation | str:
        req = request(payload)
        if not self._enabled():
            self.log.info("reservation %d rejected: %s is not enabled", req.id, CTRLR)
            return REJECTED
        connector = target(
            req,
            self._types(),
            self.statuses,
            self.reservations.values(),
            non_evse_specific=bool(self.ctx.setting(Setting.RESERVE_CONNECTOR_ZERO, False)),
        )
        if isinstance(connector, str):
            self.log.info(
                "reservation %d (EVSE %s, type %s): %s",
                req.id,
                req.evse,
                req.connector_type,
                connector,
            )
            return connector
        return as_v16(req, connector)

    def cancelled_id(self, payload: dict[str, Any]) -> int | None:
        return int(payload["reservationId"]) if self._enabled() else None

    def reserve_answer(self, status: str) -> dict[str, Any]:
        return dump(call_result.ReserveNow(ReserveNowStatusEnumType(status)))

    def cancel_answer(self, status: str) -> dict[str, Any]:
        return dump(call_result.CancelReservation(CancelReservationStatusEnumType(status)))

    def ended(self, reservation: Reservation, ending: Ending) -> None:
        status = update_status(ending)
        if status is None:
            return
        if self.ctx.registration.online:
            self._report(reservation.id, status)
        else:
            self.owed.append((reservation.id, status))

    def _report(self, reservation_id: int, status: str) -> None:
        message = call.ReservationStatusUpdate(
            reservation_id=reservation_id,
            reservation_update_status=ReservationUpdateStatusEnumType(status),
        )
        # Told, not waited for: the answer is empty; only a lost link matters.
        submit(
            self.ctx,
            action(message),
            dump(message),
            self.actor_ref,
            lambda outcome: _Reported(reservation_id, status, outcome),
        )
