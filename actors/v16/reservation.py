"""The reservations actor: ReserveNow and CancelReservation, expiry, and what connectors hold.

It owns the station's reservations (persisted in storage, so they survive a
restart) and follows the connectors' statuses from the bus
(`ConnectorChanged`). After every change it works out, with the pure
`protocol.v16.reservation.plan`, what each connector holds and tells the
connectors that changed `ReservedFor`; a connector that holds reservations
shows Reserved and lets only their idTags (or groups) through. A connector
that (re)starts asks with `ReservationsWanted`; one that starts a
transaction for a reservation reports `ReservationUsed` (storage already
deleted it together with the transaction, in one commit).

Connectors only ever tell this actor; it never waits on them, so the two
cannot deadlock.

Expiry runs on the scheduler (the station's clock, virtual in tests) and is
checked against the wall clock when the timer fires, so a wall clock that
jumped still ends each reservation at its expiryDate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ocpp.v16 import call_result
from ocpp.v16.enums import CancelReservationStatus, ReservationStatus

from ocppstation.actors.events import ConnectorChanged
from ocppstation.actors.link.rpc import Answer, Inbound
from ocppstation.actors.messages import ReservationsWanted, ReservationUsed, ReservedFor
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import EVSES, RPC, StationContext, evse_path
from ocppstation.actors.runtime.supervisor import ChildTerminated
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.timestamps import ocpp_timestamp, parse_timestamp
from ocppstation.protocol.v16.reservation import (
    ACCEPTED,
    REJECTED,
    ConnectorReservations,
    Reservation,
    ended_by_status,
    held_by_station,
    plan,
    reserve_status,
)

STORAGE_TIMEOUT = 10.0
# How long setup waits for a running connector to say its status.
SNAPSHOT_TIMEOUT = 2.0


class Ending(StrEnum):
    """Why a reservation ended, for `Reservations.ended` (2.0.1 tells the CSMS some)."""

    CANCELLED = "cancelled"  # CancelReservation
    USED = "used"  # a transaction started for it
    EXPIRED = "expired"
    REMOVED = "removed"  # its connector (or every connector) went Faulted or Unavailable


@dataclass(frozen=True)
class _Changed:
    evse: int
    status: str


@dataclass(frozen=True)
class _Gone:
    evse: int


@dataclass(frozen=True)
class _Expired:
    reservation_id: int
    generation: int


@dataclass(frozen=True)
class _Publish:
    """After an answer is on its way: tell the connectors, so Reserved follows the conf."""


def _wanted(event: object) -> object | None:
    match event:
        case ConnectorChanged():
            return _Changed(event.evse, event.status)
        case ChildTerminated(path=path):
            pieces = path.split("/")
            if len(pieces) == 2 and pieces[0] == EVSES and pieces[1].isdigit():
                return _Gone(int(pieces[1]))
    return None


class Reservations(Supervised):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.reservations: dict[int, Reservation] = {}
        # Connectors start Available; each one publishes every change from there.
        self.statuses: dict[int, str] = dict.fromkeys(ctx.config.evse_numbers, "Available")
        self.shares: dict[int, ConnectorReservations] = {}
        self.timers: dict[int, tuple[int, int]] = {}  # reservation id -> (generation, timer id)
        self.generation = 0
        self._unsubscribe: Callable[[], None] = lambda: None

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward(self.actor_ref, _wanted)
        self._read_statuses()
        now = self.ctx.clock.wall()
        for stored in self.ctx.storage().reservations.all().get(timeout=STORAGE_TIMEOUT):
            reservation = Reservation(
                stored.reservation_id,
                stored.connector,
                stored.id_tag,
                stored.parent_id_tag,
                parse_timestamp(stored.expiry),
            )
            if reservation.expiry <= now:
                # It ran out while the station was down: no connector to tell.
                self.log.info("reservation %d expired while stopped", reservation.id)
                self.ctx.storage().reservations.delete(reservation.id).get(timeout=STORAGE_TIMEOUT)
                self.ended(reservation, Ending.EXPIRED)
                continue
            self.reservations[reservation.id] = reservation
            self._arm(reservation)
        # Everyone: a connector may still hold what a reservation that ended
        # while we were down (used, expired) left it.
        self._publish(everyone=True)

    def teardown(self) -> None:
        self._unsubscribe()
        for _, timer in self.timers.values():
            self.ctx.cancel(timer)

    def receive(self, message: Any) -> Any:
        match message:
            case Inbound():
                self._inbound(message.call)
            case _Changed():
                self._changed(message.evse, message.status)
            case _Gone() if message.evse in self.statuses:
                # An EVSE that gave up is reported Faulted and takes no new
                # reservation; its own stays stored in case the station restarts.
                self.statuses[message.evse] = "Faulted"
                self._publish()
            case ReservationsWanted():
                self._tell(message.evse, self.shares.get(message.evse, ConnectorReservations()))
            case ReservationUsed():
                self._used(message.reservation_id, message.evse)
            case _Expired():
                self._expired(message)
            case _Publish():
                self._publish()
            case _:
                return super().receive(message)
        return None

    # -- CSMS calls ---------------------------------------------------------------

    def _inbound(self, call: Call) -> None:
        match call.action:
            case "ReserveNow":
                result = self.reserve_answer(self._reserve_now(call.payload))
            case "CancelReservation":
                result = self.cancel_answer(self._cancel(call.payload))
            case _:
                self.ctx.registry.tell(RPC, Answer(call, NotSupported(call.action)))
                return
        # The connectors hear of it once the answer is on its way: the
        # StatusNotification (Reserved, Available) must follow the conf.
        self.ctx.registry.tell(RPC, Answer(call, result, self.actor_ref, _Publish()))

    # -- what a version words differently (2.0.1: actors/v201/reservation.py) --------

    def requested(self, payload: dict[str, Any]) -> Reservation | str:
        """The reservation a ReserveNow asks for, or the status refusing it
        before the rules are asked."""
        if "Reservation" not in self.ctx.setting(Setting.FEATURE_PROFILES, ()):
            self.log.info(
                "reservation %s rejected: the profile is not supported", payload["reservationId"]
            )
            return REJECTED
        return Reservation(
            int(payload["reservationId"]),
            int(payload["connectorId"]),
            payload["idTag"],
            payload.get("parentIdTag"),
            parse_timestamp(payload["expiryDate"]),
        )

    def cancelled_id(self, payload: dict[str, Any]) -> int | None:
        """The reservation a CancelReservation names; None refuses it unheard."""
        return int(payload["reservationId"])

    def reserve_answer(self, status: str) -> dict[str, Any]:
        return dump(call_result.ReserveNow(ReservationStatus(status)))

    def cancel_answer(self, status: str) -> dict[str, Any]:
        return dump(call_result.CancelReservation(CancelReservationStatus(status)))

    def ended(self, reservation: Reservation, ending: Ending) -> None:
        """A reservation ended (after storage forgot it); 1.6 tells the CSMS nothing."""

    # -- the rules -------------------------------------------------------------------

    def _reserve_now(self, payload: dict[str, Any]) -> str:
        reservation = self.requested(payload)
        if isinstance(reservation, str):
            return reservation
        if reservation.expiry <= self.ctx.clock.wall():
            self.log.info("reservation %d rejected: it expired already", reservation.id)
            return REJECTED
        status = reserve_status(
            reservation.connector,
            self.statuses,
            self.reservations.values(),
            zero_supported=bool(self.ctx.setting(Setting.RESERVE_CONNECTOR_ZERO, False)),
            replacing=reservation.id,
        )
        if status != ACCEPTED:
            self.log.info(
                "reservation %d of connector %d: %s", reservation.id, reservation.connector, status
            )
            return status
        # Stored before it is answered: an Accepted reservation survives a crash.
        self.ctx.storage().reservations.put(
            reservation.id,
            reservation.connector,
            reservation.id_tag,
            reservation.parent_id_tag,
            ocpp_timestamp(reservation.expiry),
        ).get(timeout=STORAGE_TIMEOUT)
        self.reservations[reservation.id] = reservation
        self._arm(reservation)
        return ACCEPTED

    def _cancel(self, payload: dict[str, Any]) -> str:
        reservation_id = self.cancelled_id(payload)
        if reservation_id is None or reservation_id not in self.reservations:
            return REJECTED
        self._end(reservation_id, Ending.CANCELLED, "cancelled")
        return ACCEPTED

    # -- what happens to reservations -------------------------------------------------

    def _changed(self, evse: int, status: str) -> None:
        if evse not in self.statuses:
            return
        self.statuses[evse] = status
        for reservation in ended_by_status(self.statuses, self.reservations.values()):
            # Only what this change brings about: a station-wide reservation
            # when no connector is left, or the reservation of this connector.
            if reservation.connector in (0, evse):
                why = f"connector {reservation.connector} is {status}"
                self._end(reservation.id, Ending.REMOVED, why)
        self._publish()

    def _used(self, reservation_id: int, evse: int) -> None:
        if reservation_id in self.reservations:
            self._end(reservation_id, Ending.USED, f"used on connector {evse}")
            self._publish()

    def _expired(self, message: _Expired) -> None:
        armed = self.timers.get(message.reservation_id)
        if armed is None or armed[0] != message.generation:
            return  # replaced, cancelled or used since
        reservation = self.reservations[message.reservation_id]
        if reservation.expiry > self.ctx.clock.wall():
            self._arm(reservation)  # the wall clock was set back: not yet
            return
        self._end(reservation.id, Ending.EXPIRED, "expired")
        self._publish()

    def _end(self, reservation_id: int, ending: Ending, why: str) -> None:
        reservation = self.reservations.pop(reservation_id, None)
        _, timer = self.timers.pop(reservation_id, (0, None))
        self.ctx.cancel(timer)
        self.ctx.storage().reservations.delete(reservation_id).get(timeout=STORAGE_TIMEOUT)
        self.log.info("reservation %d ended: %s", reservation_id, why)
        if reservation is not None:
            self.ended(reservation, ending)

    def _arm(self, reservation: Reservation) -> None:
        _, old = self.timers.pop(reservation.id, (0, None))
        self.ctx.cancel(old)
        self.generation += 1
        delay = max((reservation.expiry - self.ctx.clock.wall()).total_seconds(), 0.0)
        timer = self.ctx.call_later(
            delay, self.actor_ref, _Expired(reservation.id, self.generation)
        )
        self.timers[reservation.id] = (self.generation, timer)

    # -- telling the connectors --------------------------------------------------------

    def _publish(self, *, everyone: bool = False) -> None:
        """Work out every connector's share and tell those whose share changed."""
        shares = plan(self.statuses, self.reservations.values(), held_by_station(self.shares))
        for evse, share in shares.items():
            if everyone or self.shares.get(evse) != share:
                self._tell(evse, share)
        self.shares = shares

    def _tell(self, evse: int, share: ConnectorReservations) -> None:
        # A connector that is not running asks when it starts (ReservationsWanted).
        self.ctx.registry.tell(evse_path(evse, "connector"), ReservedFor(share))

    def _read_statuses(self) -> None:
        """The status of the connectors running now (all of them, but one restarting)."""
        # One not running publishes its status when it is back.
        for evse, state in self.ctx.snapshots(self.statuses, SNAPSHOT_TIMEOUT).items():
            self.statuses[evse] = state["status"]
