"""The connector actor: one EVSE's status machine and its transaction.

It turns hardware events (pilot, faults) and identifications into OCPP 1.6
status changes through the table in `protocol.v16.connector_status`, and runs
a simple transaction: Authorize, StartTransaction, periodic MeterValues,
StopTransaction. Every call to the CSMS is asynchronous; the answer comes
back as a message, so the actor never blocks on the network. Meter readings
and MeterValues are its `Metering` (actors/metering.py), run on its thread.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from ocppstation.actors.events import (
    ConfigApplied,
    ConfigChanged,
    ConnectorChanged,
    LimitChanged,
    MeterSampled,
    TokenJudged,
    TransactionStarted,
    TransactionStopped,
)
from ocppstation.actors.evse.hardware import (
    AllowPower,
    HasLock,
    HwChanged,
    ReadHw,
    Unlock,
)
from ocppstation.actors.evse.metering import Aligned, Metering, Sample
from ocppstation.actors.evse.transaction import Transaction, end_stored
from ocppstation.actors.link.outbox import StartDropped, TransactionIdKnown, tell_stored
from ocppstation.actors.link.rpc import submit
from ocppstation.actors.messages import (
    AwaitUserPrice,
    Identified,
    Identify,
    ReservationsWanted,
    ReservationUsed,
    ReservedFor,
    TransactionBegins,
    TransactionEnds,
    UserPriceSettled,
)
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import (
    AUTH,
    PRICING,
    PROFILES,
    RESERVATIONS,
    StationContext,
    evse_path,
)
from ocppstation.config.settings_catalog import Setting
from ocppstation.hw.ports import MeterReading, Pilot
from ocppstation.hw.simulated import HwState
from ocppstation.protocol.evse_messages import EvseMessages, Outgoing, StartTrigger, TxRef
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.authorization import may_stop
from ocppstation.protocol.v16.connector_status import (
    ConnectorState,
    Event,
    InvalidTransition,
    Status,
    step,
)
from ocppstation.protocol.v16.metering import register_wh
from ocppstation.protocol.v16.reservation import (
    ConnectorReservations,
    fits,
    same_tag,
    usable,
)
from ocppstation.protocol.v201 import tx_points

_SESSION = (Status.CHARGING, Status.SUSPENDED_EV, Status.SUSPENDED_EVSE)
# What a transaction started early (2.0.1 TxStartPoint) still waits for.
AUTHORIZATION = "authorization"
EV = "ev"
# A storage write is an fsync; generous, since a slow flash card is not a bug.
STORAGE_TIMEOUT = 10.0
# Errors that leave the connector able to charge: reported, not Faulted. A
# broken RFID reader must not end the sessions that are running.
_WARNINGS = frozenset({"ReaderFailure", "WeakSignal"})
# Keys whose change re-arms one of our timers.
_TIMER_SETTINGS = frozenset({Setting.ALIGNED_INTERVAL, Setting.SAMPLE_INTERVAL})


@dataclass(frozen=True)
class Present:
    """An identification presented at this EVSE: an RFID card unless
    `token_type` says otherwise (2.0.1: KeyCode, Local, MacAddress, ...)."""

    id_tag: str
    token_type: str | None = None
    additional: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Announce:
    """Send your StatusNotification now (from the registration block)."""


@dataclass(frozen=True)
class TriggerMeterValues:
    """The CSMS asked (TriggerMessage) for a MeterValues of this connector now."""

    # The values' context: Trigger for a TriggerMessage; Other for a California
    # Pricing triggerMeterValue, which no TriggerMessage asked for (libocpp's).
    context: str = "Trigger"


@dataclass(frozen=True)
class RemoteStart:
    """The CSMS asked for a transaction here (already accepted by the remote control block)."""

    id_tag: str
    remote_start_id: int | None = None  # 2.0.1's, for the TransactionEvent that starts it
    token_type: str | None = None  # 2.0.1's idToken type, as the CSMS gave it


@dataclass(frozen=True)
class StopTransaction:
    """Stop the running transaction, if any, with an OCPP 1.6 Reason."""

    reason: str


@dataclass(frozen=True)
class MasterPassed:
    """A master pass was presented at another EVSE: end the authorization (C16)."""

    id_tag: str


@dataclass(frozen=True)
class UnlockCable:
    """Ask: UnlockConnector for this connector; answers the UnlockStatus."""


@dataclass(frozen=True)
class SetAvailability:
    """Ask: Operative or Inoperative; answers Accepted, Scheduled or Rejected."""

    operative: bool


@dataclass(frozen=True)
class Maintenance:
    """Ask: the station holds this connector Unavailable (on) or lets it go (off).

    For the station's own work, such as installing firmware: unlike
    SetAvailability it is not the CSMS's choice, so it is never stored and
    a restart ends it. A running transaction finishes first. Answers
    whether the connector is free of transactions now.
    """

    on: bool


@dataclass(frozen=True)
class _AuthTimeout:
    seq: int


@dataclass(frozen=True)
class _StatusHeld:
    seq: int


class Connector(Supervised):
    def __init__(
        self,
        place: Place,
        ctx: StationContext,
        evse: int,
        messages: EvseMessages,
        *,
        recover: bool = False,
    ) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.evse = evse
        self.messages = messages
        self.recover = recover
        self.state = ConnectorState()
        self.error_code = "NoError"
        self.authorized: str | None = None
        self.authorized_parent: str | None = None
        self.authorized_type: str | None = None  # 2.0.1's idToken type (eMAID: ISO 15118)
        self.auth_seq = 0
        self.tx: Transaction | None = None
        self.metering = Metering(ctx, evse, messages, self.actor_ref, self.log, self._enqueued)
        self.status_seq = 0  # for MinimumStatusDuration: which change a timer is about
        self.last_sent: Hashable | None = None  # what the CSMS was last told (reported)
        self._unsubscribe: Callable[[], None] = lambda: None
        self.pilot = Pilot.A
        self.operative = True
        self.scheduled_operative: bool | None = None  # applied when the transaction ends
        # Our share of the reservations, as the reservations actor last told it.
        self.reserved = ConnectorReservations()
        self.maintenance = False  # held Unavailable by the station (Maintenance)
        # A remote start waiting for its cable (or its authorization): its id, if any.
        self.remote_start: RemoteStart | None = None

    def setup(self) -> None:
        def wanted(e: object) -> object | None:
            if isinstance(e, ConfigChanged) and e.setting in _TIMER_SETTINGS:
                return e
            if isinstance(e, LimitChanged) and e.evse == self.evse:
                return e
            return None

        self._unsubscribe = self.ctx.forward(self.actor_ref, wanted)
        # The hardware may have changed while we were down (or never started).
        try:
            hw = self.ctx.registry.ask(evse_path(self.evse, "board"), ReadHw(), timeout=2)
        except Exception:  # no board yet: it tells us when it starts
            hw = None
        if hw is not None:
            self._hardware(hw)
        self._recover()
        stored = self.ctx.storage().availability.all().get(timeout=STORAGE_TIMEOUT)
        if stored.get(self.evse) == "Inoperative":
            if self.tx is not None:
                self.scheduled_operative = False  # a resumed transaction finishes first
            else:
                self._become(False)
        self.metering.arm_aligned()
        # Told, not asked: the reservations actor never waits on us either.
        self.ctx.registry.tell(RESERVATIONS, ReservationsWanted(self.evse))

    def teardown(self) -> None:
        self._unsubscribe()
        self.metering.cancel()

    def report(self) -> dict[str, Any]:
        """The snapshot the registration block is about to send the CSMS as our status."""
        self.last_sent = self._reported()
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        return {
            "status": self.state.status.value,
            "error_code": self.error_code,
            "plugged": self.state.plugged,
            "transaction_id": self.tx.transaction_id if self.tx else None,
            # Started by the EV's connection (2.0.1 TxStartPoint), waiting for a driver.
            "awaiting_authorization": self.tx is not None and self.tx.pending == AUTHORIZATION,
            "id_tag": self.tx.id_tag if self.tx else self.authorized,
            "operative": self.operative,
            # Who may use the connector while it is Reserved: [idTag, parentIdTag].
            "reserved_for": [[r.id_tag, r.parent_id_tag] for r in self.reserved.holds],
        }

    def receive(self, message: Any) -> Any:
        match message:
            case HwChanged():
                self._hardware(message.state)
            case Present():
                self._present(message)
            case Identified() if self._awaits_price(message):
                pass  # goes on at UserPriceSettled
            case Identified():
                self._identified(message)
            case UserPriceSettled():
                self._identified(message.identified)
            case _AuthTimeout(seq=s) if s == self.auth_seq and self.tx is None:
                # Card without cable, or cable without card: the incipient
                # session is cancelled (1.6 ConnectionTimeOut).
                self.authorized = None
                self.remote_start = None
                self._apply(Event.TIMEOUT)
            case _AuthTimeout(seq=s) if s == self.auth_seq and self._waiting_for(EV):
                # Started by the authorization; the EV never came (2.0.1 EVConnectionTimeOut).
                self._stop_transaction("Timeout")
                self._apply(Event.TIMEOUT)
            case _AuthTimeout():
                pass
            case TransactionIdKnown():
                self._transaction_id_known(message)
            case StartDropped():
                self.log.error(
                    "the CSMS never got the start of local transaction %d", message.local_tx
                )
            case LimitChanged():
                self._offer_changed(message.amps)
            case Sample():
                self._sample()
            case Aligned():
                self.metering.aligned(self.tx)
            case ConfigChanged(setting=Setting.ALIGNED_INTERVAL):
                self.metering.arm_aligned()
                self.ctx.bus.publish(ConfigApplied(self.path, message.key))
            case ConfigChanged(setting=Setting.SAMPLE_INTERVAL):
                self.metering.arm_sampling(running=self.tx is not None)
                self.ctx.bus.publish(ConfigApplied(self.path, message.key))
            case Announce():
                self._notify(at_once=True)
            case _StatusHeld(seq=seq) if seq == self.status_seq:
                if self._reported() != self.last_sent:
                    self._send_status()  # a flicker that came back needs no report
            case _StatusHeld():
                pass  # changed again meanwhile: only the status that held is sent
            case TriggerMeterValues():
                self.metering.triggered(self.tx, message.context)
            case RemoteStart():
                self._remote_start(message)
            case ReservedFor():
                self._reserved(message.share)
            case StopTransaction():
                self._stop_transaction(message.reason)
            case MasterPassed():
                self._deauthorize("MasterPass", message.id_tag)
            case UnlockCable():
                return self._unlock()
            case SetAvailability():
                return self._set_availability(message.operative)
            case Maintenance():
                self.maintenance = message.on
                self._show_availability()
                return self.tx is None
            case _:
                return super().receive(message)
        return None

    # -- hardware --------------------------------------------------------------

    def _hardware(self, hw: HwState) -> None:
        if hw.fault in _WARNINGS or (hw.fault is None and self.error_code in _WARNINGS):
            # The connector still charges: report the error with the status it
            # has (1.6 4.9: Faulted only when it cannot), and stop nothing.
            if hw.fault != self.error_code:
                self.error_code = hw.fault or "NoError"
                self._notify(at_once=True)
        elif hw.fault is not None and self.state.status is not Status.FAULTED:
            self.error_code = hw.fault
            if self.tx is not None:
                self._stop_transaction("Other")
            self._apply(Event.FAULT)
            return
        elif hw.fault is None and self.state.status is Status.FAULTED:
            self.error_code = "NoError"
            self._apply(Event.CLEAR)
        previous, self.pilot = self.pilot, hw.pilot
        plugged = hw.pilot in (Pilot.B, Pilot.C, Pilot.D)
        if plugged and not self.state.plugged:
            tx = self.tx
            early = self.authorized is None and tx is None and self._starts_at("EVConnected")
            if self.authorized is None and tx is None and not early:
                self._arm_connection_timeout()  # the driver has that long to identify
            self._apply(Event.PLUG)
            if self.authorized and tx is None:
                self._start_transaction(self.authorized, StartTrigger.CABLE_PLUGGED_IN)
            elif early:
                # 2.0.1 TxStartPoint EVConnected: the transaction starts now,
                # power waits for a driver's authorization.
                self._start_transaction("", StartTrigger.CABLE_PLUGGED_IN, pending=AUTHORIZATION)
            elif tx is not None and tx.pending == EV:
                self._complete(tx, StartTrigger.CABLE_PLUGGED_IN)
            elif tx is not None and not tx.held_back(self.metering.last_reading):
                self._board(AllowPower(True))  # the EV is back to its running transaction
        elif not plugged and self.state.plugged:
            self._ev_left()
        elif self.tx is not None and previous != hw.pilot:
            if hw.pilot is Pilot.B and self.state.status is Status.CHARGING:
                if self._ends(ev_connected=True, authorized=True, energy_transfer=False):
                    self._stop_transaction("StoppedByEV")  # TxStopPoint EnergyTransfer
                    return
                self._apply(Event.EV_SUSPEND)
            elif hw.pilot in (Pilot.C, Pilot.D) and self.state.status is Status.SUSPENDED_EV:
                self._apply(Event.RESUME)

    def _ev_left(self) -> None:
        tx = self.tx
        disconnect_stops = bool(self.ctx.setting(Setting.STOP_TX_ON_EV_SIDE_DISCONNECT, True))
        if self._stop_points() is not None and tx is not None:
            # 2.0.1: StopTxOnEVSideDisconnect ends the authorization; the stop
            # points say whether the transaction ends with the cable.
            authorized = not tx.deauthorized and not disconnect_stops
            ends = self._ends(ev_connected=False, authorized=authorized, energy_transfer=False)
        else:
            ends = disconnect_stops
        if tx is not None and not ends:
            # The transaction outlives the cable (1.6 9.1): no power, SuspendedEV,
            # until the driver or the CSMS ends it.
            self._board(AllowPower(False))
            self._apply(Event.EV_GONE)
        else:
            if self.tx is not None:
                self._stop_transaction("EVDisconnected")
            self._apply(Event.UNPLUG)
        if bool(self.ctx.setting(Setting.UNLOCK_ON_EV_SIDE_DISCONNECT, True)):
            self._board(Unlock())

    # -- identification and transactions ----------------------------------------

    def _present(self, presented: Present) -> None:
        id_tag = presented.id_tag
        if self.tx is None and self.state.status in (Status.FAULTED, Status.UNAVAILABLE):
            self.log.info("tag %s ignored: connector %s", id_tag, self.state.status.value)
            return
        if self.tx is not None and id_tag == self.tx.id_tag:
            # The card that started it may always stop it, without asking anyone.
            self._deauthorize("Local")
            return
        # Only while free: a reservation never stands between a driver and their own stop.
        reserved = self.reserved.holds if self.tx is None else ()
        asked = Identify(
            id_tag,
            self.actor_ref,
            reserved,
            self.evse,
            presented.token_type,
            presented.additional,
        )
        if not self.ctx.registry.tell(AUTH, asked):
            self.log.error("auth not running: tag %s not checked", id_tag)

    def _awaits_price(self, message: Identified) -> bool:
        """Whether a new session's accepted Authorize first waits for the
        driver's price (California Pricing: WaitForSetUserPriceTimeout). The
        price block answers at once when it has no price to wait for; where
        it does not run (2.0.1) nothing waits. The key is read here so that a
        station without prices never has its drivers wait on another actor."""
        if self.tx is not None or not message.accepted or message.source != "csms":
            return False
        if not self.ctx.settings.view.v16("CustomDisplayCostAndPrice", False):
            return False
        return self.ctx.registry.tell(PRICING, AwaitUserPrice(self.evse, message, self.actor_ref))

    def _judged(self, message: Identified) -> None:
        """Every decision on a card is seen: in the log, and on the bus for views."""
        status = str(message.info.get("status", "Invalid"))
        self.log.info(
            "tag %s %s: %s (%s%s)",
            message.id_tag,
            "accepted" if message.accepted else "not accepted",
            status,
            message.source,
            "" if message.online else ", decided offline",
        )
        self.ctx.bus.publish(
            TokenJudged(
                self.evse,
                message.id_tag,
                message.accepted,
                status,
                message.source,
                message.online,
            )
        )

    def _identified(self, message: Identified) -> None:
        self._judged(message)
        if message.accepted and self._is_master_pass(message.info.get("parentIdTag")):
            self._master_pass(message.id_tag)
            return
        tx = self.tx
        if tx is not None and tx.pending == AUTHORIZATION:
            if not message.accepted:
                return
            tx.parent_id_tag = message.info.get("parentIdTag")
            trigger = self._start_trigger(message.id_tag)
            remote, self.remote_start = self.remote_start, None
            token_type = (
                remote.token_type
                if remote and remote.id_tag == message.id_tag
                else message.token_type
            )
            self._complete(tx, trigger, message.id_tag, token_type)
            return
        if tx is not None:
            parent = message.info.get("parentIdTag")
            if message.accepted and may_stop(message.id_tag, parent, tx.id_tag, tx.parent_id_tag):
                self._deauthorize("Local", message.id_tag)
            else:
                self.log.info(
                    "tag %s may not stop the transaction of %s", message.id_tag, tx.id_tag
                )
            return
        if not message.accepted:
            return
        parent = message.info.get("parentIdTag")
        if self.reserved.holds and not any(
            fits(message.id_tag, parent, r) for r in self.reserved.holds
        ):
            # Reserved meanwhile (the auth actor judged it free): the reservation wins.
            self.log.info("tag %s may not use a connector reserved for another", message.id_tag)
            return
        self.authorized = message.id_tag
        self.authorized_parent = message.info.get("parentIdTag")
        self.authorized_type = message.token_type
        if self.state.plugged:
            if self.state.status is not Status.PREPARING:
                self._apply(Event.AUTHORIZE)  # e.g. Finishing with the cable still in
            self._start_transaction(message.id_tag, self._start_trigger(message.id_tag))
            return
        if self._starts_at("Authorized"):
            # 2.0.1 TxStartPoint Authorized: the transaction starts now, power
            # waits for the EV, for EVConnectionTimeOut at most.
            self._start_transaction(message.id_tag, self._start_trigger(message.id_tag), pending=EV)
        # Armed before the status changes: whoever sees Preparing finds the timer.
        self._arm_connection_timeout()
        self._apply(Event.AUTHORIZE)

    def _is_master_pass(self, group: str | None) -> bool:
        master = self.ctx.setting(Setting.MASTER_PASS_GROUP_ID, None)
        return bool(master) and group is not None and same_tag(group, str(master))

    def _master_pass(self, id_tag: str) -> None:
        """2.0.1 C16: a token of the MasterPassGroupId stops every ongoing
        transaction (this station has no UI to choose one, C16.FR.02) and
        never starts one (C16.FR.03)."""
        self.log.info("tag %s is a master pass: stopping every transaction", id_tag)
        for evse in self.ctx.config.evse_numbers:
            if evse == self.evse:
                self._deauthorize("MasterPass", id_tag)
            else:
                self.ctx.registry.tell(evse_path(evse, "connector"), MasterPassed(id_tag))

    def _arm_connection_timeout(self) -> None:
        self.auth_seq += 1
        timeout = float(self.ctx.setting(Setting.EV_CONNECTION_TIMEOUT, 60))
        self.ctx.call_later(timeout, self.actor_ref, _AuthTimeout(self.auth_seq))

    def _start_trigger(self, id_tag: str) -> StartTrigger:
        remote = self.remote_start
        if remote is not None and remote.id_tag == id_tag:
            return StartTrigger.REMOTE_START
        return StartTrigger.AUTHORIZED

    def _stop_points(self) -> tuple[str, ...] | None:
        """2.0.1's TxStopPoint; None in 1.6, whose transactions end as 1.6 says."""
        points = self.ctx.setting(Setting.TX_STOP_POINT, None)
        return None if points is None else tuple(points)

    def _ends(self, *, ev_connected: bool, authorized: bool, energy_transfer: bool) -> bool:
        """Whether the stop points end the transaction now (1.6: never by this rule)."""
        points = self._stop_points()
        now = tx_points.Conditions(ev_connected, authorized, energy_transfer)
        return points is not None and tx_points.ends(points, now)

    def _deauthorize(self, reason: str, by: str | None = None) -> None:
        """The driver (Local) or the CSMS (DeAuthorized) ends the authorization.

        In 1.6, and in 2.0.1 with a stop point it ends (Authorized,
        PowerPathClosed, EnergyTransfer), the transaction ends. Otherwise
        (2.0.1 TxStopPoint EVConnected alone) it goes on without energy,
        SuspendedEVSE, until a stop point ends it: the EV leaving.
        """
        tx = self.tx
        if tx is None:
            return
        tx.stopped_by = by
        plugged = self.state.plugged
        if self._stop_points() is None or self._ends(
            ev_connected=plugged, authorized=False, energy_transfer=False
        ):
            self._stop_transaction(reason)
            return
        self.log.info("%s ends the authorization of %s; the transaction goes on", reason, tx.id_tag)
        tx.deauthorized = True
        self._board(AllowPower(False))
        self._apply(Event.EVSE_SUSPEND, cause=reason)

    def _starts_at(self, point: str) -> bool:
        """Whether 2.0.1's TxStartPoint starts a transaction at `point` (1.6 never)."""
        return point in self.ctx.setting(Setting.TX_START_POINT, ("PowerPathClosed",))

    def _waiting_for(self, condition: str) -> bool:
        return self.tx is not None and self.tx.pending == condition

    def _start_transaction(
        self, id_tag: str, trigger: StartTrigger, pending: str | None = None
    ) -> None:
        """Begin a transaction: stored and queued first, then power.

        In OCPP 1.6 the transaction starts here, not when the CSMS answers:
        the StartTransaction waits in the outbox (offline, or behind earlier
        messages) and the answer may still refuse the idTag.
        """
        self.authorized = None
        self.auth_seq += 1
        remote, self.remote_start = self.remote_start, None
        if remote is None or remote.id_tag != id_tag:
            remote = None
        token_type, self.authorized_type = self.authorized_type, None
        reading = self.metering.read()
        meter_start = register_wh(reading)
        now = self._now()
        reservation = usable(id_tag, self.authorized_parent, self.reserved)
        reservation_id = reservation.id if reservation is not None else None
        transaction_id = self.messages.new_transaction_id()
        signed = self.metering.signed_register(reading, None)
        start = self.messages.started(
            self.evse,
            id_tag,
            meter_start,
            now,
            reservation_id,
            tx=TxRef(transaction_id, 0, self._offline()),
            trigger=trigger,
            remote_start_id=remote.remote_start_id if remote else None,
            token_type=remote.token_type if remote else token_type,
            signed=signed,
        )
        # Storage deletes the reservation in the same commit: it is used up.
        local_tx, seq = (
            self.ctx.storage()
            .transactions.begin_and_queue(
                self.evse,
                id_tag,
                meter_start,
                now,
                reservation_id,
                start.action,
                start.payload,
                transaction_id,
            )
            .get(timeout=STORAGE_TIMEOUT)
        )
        if reservation_id is not None:
            self.reserved = ConnectorReservations()  # until the reservations actor says more
            self.ctx.registry.tell(RESERVATIONS, ReservationUsed(reservation_id, self.evse))
        self.tx = Transaction(
            id_tag,
            meter_start,
            local_tx,
            transaction_id,
            parent_id_tag=self.authorized_parent,
            pending=pending,
            public_key_sent=signed is not None and bool(signed["publicKey"]),
        )
        self._enqueued(seq, start.action, start.payload, local_tx)
        self.metering.keep_for_stop(
            self.tx, reading, Setting.SAMPLED_MEASURANDS_AT_END, "Transaction.Begin", now
        )
        if pending is None:
            self._power(self.tx, now)

    def _power(self, tx: Transaction, now: str) -> None:
        # Before power: the EV is offered what this transaction may draw.
        self._profiles(TransactionBegins(self.evse, tx.id_tag, now))
        self._energize()

    def _complete(
        self,
        tx: Transaction,
        trigger: StartTrigger,
        id_tag: str | None = None,
        token_type: str | None = None,
    ) -> None:
        """The condition a transaction started without has come (2.0.1): say
        so, queued with it, and let the power flow."""
        now = self._now()
        if id_tag is not None:
            tx.id_tag = id_tag
        self.authorized = None
        self.auth_seq += 1  # no EVConnectionTimeOut for it any more
        out = self.messages.joined(
            self.evse,
            now,
            tx=tx.ref(self._offline()),
            trigger=trigger,
            id_tag=id_tag,
            token_type=token_type,
        )
        tx.pending = None
        self._queue_event(tx, out)
        self._power(tx, now)

    def _energize(self) -> None:
        # Power first, then Charging: the status must not claim what the relay has not done.
        self._board(AllowPower(True))
        self.metering.arm_sampling(running=True)
        # Nothing offered (a 0 A limit): straight to SuspendedEVSE, never
        # claiming a Charging that is not happening.
        nothing = self.metering.offered() == 0
        self._apply(Event.START, then=Event.EVSE_SUSPEND if nothing else None)

    def _offer_changed(self, amps: float) -> None:
        """Smart charging offers nothing (a 0 A limit): SuspendedEVSE until it offers again."""
        tx = self.tx
        if tx is None:
            return
        status = self.state.status
        if amps <= 0 and status in (Status.CHARGING, Status.SUSPENDED_EV):
            self._apply(Event.EVSE_SUSPEND)
        elif amps > 0 and status is Status.SUSPENDED_EVSE:
            if tx.held_back(self.metering.last_reading):
                return  # suspended for MaxEnergyOnInvalidId or the driver, not for the limit
            # Back to whatever the EV does: an EV not drawing (pilot B) is SuspendedEV.
            self._apply(Event.EV_SUSPEND if self.pilot is Pilot.B else Event.RESUME)

    def _transaction_id_known(self, message: TransactionIdKnown) -> None:
        tx = self.tx
        if tx is None or tx.local_id != message.local_tx:
            return  # already stopped: the outbox sends its stop with this id anyway
        tx.transaction_id = message.transaction_id
        self.ctx.bus.publish(
            TransactionStarted(self.evse, message.transaction_id, tx.id_tag, tx.meter_start)
        )
        # 1.6 always answers with an idTagInfo; a 2.0.1 CSMS may leave its
        # idTokenInfo out, which leaves the authorization as it was.
        status = message.id_tag_info.get("status", "Accepted")
        if status == "Accepted":
            return
        if bool(self.ctx.setting(Setting.STOP_TX_ON_INVALID_ID, True)):
            self.log.info("CSMS refused %s (%s): stopping", tx.id_tag, status)
            self._deauthorize("DeAuthorized")
            return
        # Not stopping: energy goes on up to MaxEnergyOnInvalidId, then is suspended.
        cap = self.ctx.setting(Setting.MAX_ENERGY_ON_INVALID_ID, None)
        if cap is not None:
            tx.energy_cap_wh = self.metering.last_reading.energy_wh + float(cap)
            self._check_energy_cap(self.metering.last_reading)

    def _stop_transaction(self, reason: str) -> None:
        tx, self.tx = self.tx, None
        if tx is None:
            return
        self._board(AllowPower(False))
        self._profiles(TransactionEnds(self.evse))
        self.metering.stop_sampling()
        reading = self.metering.read()
        meter_stop = register_wh(reading)
        now = self._now()
        self.metering.keep_for_stop(
            tx, reading, Setting.SAMPLED_MEASURANDS_AT_END, "Transaction.End", now
        )
        stop = self.messages.stopped(
            # 1.6: "the identifier which requested to stop"; 2.0.1 names it too.
            tx.stopped_by or tx.id_tag,
            meter_stop,
            now,
            reason,
            tx.data,
            connector=self.evse,
            tx=tx.next_ref(self._offline()),
            signed=self.metering.signed_register(reading, tx),
        )
        seq = (
            self.ctx.storage()
            .transactions.end_and_queue(
                tx.local_id, meter_stop, now, reason, stop.action, stop.payload
            )
            .get(timeout=STORAGE_TIMEOUT)
        )
        self._enqueued(seq, stop.action, stop.payload, tx.local_id)
        if self.state.status in _SESSION:
            self._apply(Event.STOP)
        if self.scheduled_operative is not None:
            self._become(self.scheduled_operative)
            self.scheduled_operative = None
        elif self.maintenance:
            self._show_availability()
        self.ctx.bus.publish(TransactionStopped(self.evse, tx.transaction_id, reason, meter_stop))

    def _sample(self) -> None:
        tx = self.tx
        if tx is None:
            return
        evse = self.evse
        # Published once the sample is durable (after the storage's group
        # commit, on its thread): what the station says it sampled survives kill -9.
        reading = self.metering.sample(
            tx, lambda r: self.ctx.bus.publish(MeterSampled(evse, r.energy_wh, r.power_w))
        )
        self._check_energy_cap(reading)

    def _check_energy_cap(self, reading: MeterReading) -> None:
        tx = self.tx
        if tx is None or not tx.over_energy_cap(reading):
            return
        if self.state.status is Status.CHARGING or self.state.status is Status.SUSPENDED_EV:
            self.log.info("MaxEnergyOnInvalidId reached for %s: suspending", tx.id_tag)
            self._board(AllowPower(False))
            self._apply(Event.EVSE_SUSPEND)

    def _enqueued(self, seq: int, action: str, payload: dict[str, Any], local_tx: int) -> None:
        if not tell_stored(self.ctx, seq, action, payload, local_tx, self.evse):
            self.log.warning("outbox not running; %s #%d waits in the database", action, seq)

    def _recover(self) -> None:
        """Transactions the database says are open on this connector.

        On the first start in a process they belong to a run that ended
        without stopping them (a crash, kill -9, power loss): they end now
        with PowerLoss at the last known meter value. On a restart of this
        actor within a run they are still going: we pick them up again.
        """
        for record in self.ctx.storage().transactions.open().get(timeout=STORAGE_TIMEOUT):
            if record.connector != self.evse:
                continue
            if self.recover:
                end_stored(self.ctx, self.messages, record, "PowerLoss", record.last_at)
            elif self.tx is None:
                # One started by the EV's connection alone has no driver yet.
                waiting = AUTHORIZATION if record.id_tag == "" else None
                self.tx = Transaction(
                    record.id_tag,
                    record.meter_start,
                    record.local_id,
                    record.transaction_id,
                    events=record.events,
                    pending=waiting,
                )
                if self.state.plugged and waiting is None:
                    self._energize()
        self.recover = False

    # -- CSMS requests ----------------------------------------------------------

    def _remote_start(self, message: RemoteStart) -> None:
        id_tag = message.id_tag
        busy = self.tx is not None and self.tx.pending != AUTHORIZATION
        if busy or not self.operative or self.maintenance:
            self.log.info("remote start for %s ignored: busy or unavailable", id_tag)
            return
        self.remote_start = message
        if bool(self.ctx.setting(Setting.AUTHORIZE_REMOTE_START, False)) or (
            self.reserved.holds and not any(same_tag(id_tag, r.id_tag) for r in self.reserved.holds)
        ):
            # Reserved for someone else: only the auth actor can tell (by the
            # parentIdTag) whether this idTag belongs to the reserved group.
            self._present(Present(id_tag, message.token_type))
            return
        self._identified(Identified(id_tag, True, {"status": "Accepted"}, "csms"))

    def _unlock(self) -> str:
        board = evse_path(self.evse, "board")
        try:
            has_lock = bool(self.ctx.registry.ask(board, HasLock(), timeout=2))
        except Exception:  # no board to ask: assume the common case, a lock
            has_lock = True
        if not has_lock:
            return "NotSupported"  # a tethered cable: nothing to release, nothing stops
        if self.tx is not None:
            self._stop_transaction("UnlockCommand")
        try:
            return str(self.ctx.registry.ask(board, Unlock(), timeout=2))
        except Exception as exc:  # no board to ask: the lock did not move
            self.log.error("unlock failed: %s", exc)
            return "UnlockFailed"

    def _set_availability(self, operative: bool) -> str:
        # Stored first, even when only scheduled: after a power loss the
        # transaction is over and the connector comes back as the CSMS wanted.
        value = "Operative" if operative else "Inoperative"
        self.ctx.storage().availability.put(self.evse, value).get(timeout=STORAGE_TIMEOUT)
        if self.tx is not None and operative != self.operative:
            # 1.6 5.2: a running transaction finishes first; the change waits for it.
            self.scheduled_operative = operative
            return "Scheduled"
        self.scheduled_operative = None
        self._become(operative)
        return "Accepted"

    def _become(self, operative: bool) -> None:
        self.operative = operative
        self._show_availability()

    def _show_availability(self) -> None:
        """Unavailable exactly while the CSMS or the station's maintenance wants it,
        except during a transaction, which finishes first."""
        if self.tx is not None:
            return
        off = not self.operative or self.maintenance
        if off != (self.state.status is Status.UNAVAILABLE):
            self._apply(Event.DISABLE if off else Event.ENABLE)

    # -- status ----------------------------------------------------------------

    def _reserved(self, share: ConnectorReservations) -> None:
        was_held = bool(self.reserved.holds)
        self.reserved = share
        if share.holds and not was_held:
            self._apply(Event.RESERVE)  # only from Available; otherwise when it is free again
        elif was_held and not share.holds:
            self._apply(Event.RESERVATION_END)

    def _apply(self, event: Event, then: Event | None = None, cause: str | None = None) -> None:
        """Step the status machine; `then` steps on before anyone is told.
        `cause`: a stop Reason that changed the charging state without ending
        the transaction (the driver's or the CSMS's deauthorization)."""
        try:
            new = step(self.state, event)
            if then is not None:
                new = step(new, then)
        except InvalidTransition as exc:
            self.log.debug("ignored: %s", exc)
            return
        if new.status is Status.AVAILABLE and self.reserved.holds:
            # Free again while still reserved (a stranger's cable left, a
            # ConnectionTimeOut ran out): Reserved, never Available to anyone.
            new = step(new, Event.RESERVE)
        changed = new.status is not self.state.status
        self.state = new
        if changed:
            # A transaction still waiting for its EV or driver has no charging state to tell.
            if self.tx is not None and self.tx.pending is None:
                self._state_changed(self.tx, cause)
            self._notify()

    def _notify(self, *, at_once: bool = False) -> None:
        """Tell the CSMS the status; after MinimumStatusDuration, if it holds that long.

        Local observers hear every change at once. `at_once` is for the CSMS
        asking (announce, trigger): it wants the present status, not a stable one.
        """
        self.status_seq += 1
        hold = float(self.ctx.setting(Setting.MINIMUM_STATUS_DURATION, 0))
        if hold > 0 and not at_once:
            self.ctx.call_later(hold, self.actor_ref, _StatusHeld(self.status_seq))
        elif at_once or self._reported() != self.last_sent:
            # A change the version words the same way (2.0.1: Charging and
            # SuspendedEV are both Occupied) is not news to the CSMS.
            self._send_status()
        # Published last, so that whoever waits for it finds the timer armed.
        status = self.state.status.value
        self.ctx.bus.publish(ConnectorChanged(self.evse, status, self.error_code))

    def _state_changed(self, tx: Transaction, cause: str | None = None) -> None:
        """Inside a transaction, what the version says of a new status (2.0.1:
        a TransactionEvent with the charging state), queued with it."""
        ref = tx.ref(self._offline())
        out = self.messages.state_changed(
            self.evse, self.state.status.value, self._now(), tx=ref, cause=cause
        )
        self._queue_event(tx, out)

    def _queue_event(self, tx: Transaction, out: Outgoing | None) -> None:
        """Queue a message of `tx` that changes no stored field of it (counted
        in the same commit), if the version has one to send."""
        if out is None:
            return
        tx.events += 1
        seq = (
            self.ctx.storage()
            .queue.push(out.action, out.payload, tx.local_id)
            .get(timeout=STORAGE_TIMEOUT)
        )
        self._enqueued(seq, out.action, out.payload, tx.local_id)

    def _offline(self) -> bool:
        return not self.ctx.registration.online

    def _reported(self) -> Hashable:
        return self.messages.reported(self.state.status.value, self.error_code)

    def _send_status(self) -> None:
        self.last_sent = self._reported()
        status = self.messages.status(
            self.evse, self.state.status.value, self.error_code, self._now()
        )
        submit(self.ctx, status.action, status.payload)

    # -- helpers ---------------------------------------------------------------

    def _board(self, message: object) -> None:
        """Ask, not tell: the relay has switched when this returns."""
        try:
            self.ctx.registry.ask(evse_path(self.evse, "board"), message, timeout=2)
        except Exception as exc:  # a restarting board is a fault to log, not a crash
            self.log.error("board did not take %r: %s", message, exc)

    def _now(self) -> str:
        return ocpp_timestamp(self.ctx.clock.wall())

    def _profiles(self, message: object) -> None:
        """Ask, not tell: the board has the new offer when this returns."""
        try:
            self.ctx.registry.ask(PROFILES, message, timeout=5)
        except Exception as exc:  # no profiles actor: the board keeps its last offer
            self.log.error("profiles did not take %r: %s", message, exc)
