"""The connector actor: one EVSE's status machine and its transaction.

It turns hardware events (pilot, faults) and identifications into OCPP 1.6
status changes through the table in `protocol.v16.connector_status`, and runs
a simple transaction: Authorize, StartTransaction, periodic MeterValues,
StopTransaction. Every call to the CSMS is asynchronous; the answer comes
back as a message, so the actor never blocks on the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocppstation.actors.base import Place, Supervised
from ocppstation.actors.context import StationContext, evse_path
from ocppstation.actors.events import (
    ConnectorChanged,
    MeterSampled,
    TransactionStarted,
    TransactionStopped,
)
from ocppstation.actors.hardware import AllowPower, HwChanged, ReadHw, ReadMeter, Unlock
from ocppstation.actors.rpc import Outcome, submit
from ocppstation.hw.ports import MeterReading, Pilot
from ocppstation.hw.simulated import HwState
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.connector_status import (
    ConnectorState,
    Event,
    InvalidTransition,
    Status,
    step,
)

_SESSION = (Status.CHARGING, Status.SUSPENDED_EV, Status.SUSPENDED_EVSE)
_ACCEPTED = {"idTagInfo": {"status": "Accepted"}}


@dataclass(frozen=True)
class Present:
    """An identification (RFID card) presented at this EVSE."""

    id_tag: str


@dataclass(frozen=True)
class Announce:
    """Send your StatusNotification now (from the chargepoint)."""


@dataclass(frozen=True)
class RemoteStart:
    """The CSMS asked for a transaction here (already accepted by the chargepoint)."""

    id_tag: str


@dataclass(frozen=True)
class StopTransaction:
    """Stop the running transaction, if any, with an OCPP 1.6 Reason."""

    reason: str


@dataclass(frozen=True)
class UnlockCable:
    """Ask: UnlockConnector for this connector; answers the UnlockStatus."""


@dataclass(frozen=True)
class SetAvailability:
    """Ask: Operative or Inoperative; answers Accepted, Scheduled or Rejected."""

    operative: bool


@dataclass(frozen=True)
class _Authorized:
    id_tag: str
    outcome: Outcome


@dataclass(frozen=True)
class _Started:
    id_tag: str
    meter_start: int
    outcome: Outcome


@dataclass(frozen=True)
class _AuthTimeout:
    seq: int


@dataclass(frozen=True)
class _Sample:
    pass


@dataclass
class Transaction:
    id_tag: str
    meter_start: int
    transaction_id: int | None = None  # None until the CSMS answers


class Connector(Supervised):
    def __init__(self, place: Place, ctx: StationContext, evse: int) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.evse = evse
        self.state = ConnectorState()
        self.error_code = "NoError"
        self.authorized: str | None = None
        self.auth_seq = 0
        self.tx: Transaction | None = None
        self.sample_timer: int | None = None
        self.pilot = Pilot.A
        self.last_reading = MeterReading(energy_wh=0.0, power_w=0.0)
        self.operative = True
        self.scheduled_operative: bool | None = None  # applied when the transaction ends

    def setup(self) -> None:
        # The hardware may have changed while we were down (or never started).
        try:
            hw = self.ctx.registry.ask(evse_path(self.evse, "board"), ReadHw(), timeout=2)
        except Exception:  # no board yet: it tells us when it starts
            return
        self._hardware(hw, announce=False)

    def teardown(self) -> None:
        self.ctx.cancel(self.sample_timer)

    def snapshot(self) -> dict[str, Any]:
        return {
            "status": self.state.status.value,
            "error_code": self.error_code,
            "plugged": self.state.plugged,
            "transaction_id": self.tx.transaction_id if self.tx else None,
            "id_tag": self.tx.id_tag if self.tx else self.authorized,
            "operative": self.operative,
        }

    def receive(self, message: Any) -> Any:
        match message:
            case HwChanged():
                self._hardware(message.state)
            case Present():
                self._present(message.id_tag)
            case _Authorized():
                self._authorized(message)
            case _AuthTimeout(seq=s) if s == self.auth_seq and self.authorized:
                self.authorized = None
                self._apply(Event.TIMEOUT)
            case _AuthTimeout():
                pass
            case _Started():
                self._started(message)
            case _Sample():
                self._sample()
            case Announce():
                self._notify()
            case RemoteStart():
                self._remote_start(message.id_tag)
            case StopTransaction():
                self._stop_transaction(message.reason)
            case UnlockCable():
                return self._unlock()
            case SetAvailability():
                return self._set_availability(message.operative)
            case _:
                return super().receive(message)
        return None

    # -- hardware --------------------------------------------------------------

    def _hardware(self, hw: HwState, announce: bool = True) -> None:
        if hw.fault is not None and self.state.status is not Status.FAULTED:
            self.error_code = hw.fault
            if self.tx is not None:
                self._stop_transaction("Other")
            self._apply(Event.FAULT)
            return
        if hw.fault is None and self.state.status is Status.FAULTED:
            self.error_code = "NoError"
            self._apply(Event.CLEAR)
        previous, self.pilot = self.pilot, hw.pilot
        plugged = hw.pilot in (Pilot.B, Pilot.C, Pilot.D)
        if plugged and not self.state.plugged:
            self._apply(Event.PLUG)
            if self.authorized and self.tx is None:
                self._start_transaction(self.authorized)
        elif not plugged and self.state.plugged:
            if self.tx is not None:
                self._stop_transaction("EVDisconnected")
            self._apply(Event.UNPLUG)
        elif self.tx is not None and self.tx.transaction_id is not None and previous != hw.pilot:
            if hw.pilot is Pilot.B and self.state.status is Status.CHARGING:
                self._apply(Event.EV_SUSPEND)
            elif hw.pilot in (Pilot.C, Pilot.D) and self.state.status is Status.SUSPENDED_EV:
                self._apply(Event.RESUME)

    # -- identification and transactions ----------------------------------------

    def _present(self, id_tag: str) -> None:
        if self.tx is not None:
            if id_tag == self.tx.id_tag:
                self._stop_transaction("Local")
            else:
                self.log.info("tag %s ignored: transaction of %s running", id_tag, self.tx.id_tag)
            return
        if self.state.status in (Status.FAULTED, Status.UNAVAILABLE):
            self.log.info("tag %s ignored: connector %s", id_tag, self.state.status.value)
            return
        submit(
            self.ctx,
            "Authorize",
            {"idTag": id_tag},
            reply_to=self.actor_ref,
            wrap=lambda outcome: _Authorized(id_tag, outcome),
        )

    def _authorized(self, message: _Authorized) -> None:
        result = message.outcome.result
        status = result["idTagInfo"]["status"] if result else "Offline"
        if status != "Accepted":
            self.log.info("tag %s not accepted: %s", message.id_tag, status)
            return
        if self.tx is not None:
            return
        self.authorized = message.id_tag
        if self.state.plugged:
            self._start_transaction(message.id_tag)
            return
        self.auth_seq += 1
        timeout = float(self.ctx.config.value("Core", "ConnectionTimeOut"))
        self.ctx.call_later(timeout, self.actor_ref, _AuthTimeout(self.auth_seq))
        self._apply(Event.AUTHORIZE)

    def _start_transaction(self, id_tag: str) -> None:
        self.authorized = None
        self.auth_seq += 1
        meter_start = int(self._read().energy_wh)
        self.tx = Transaction(id_tag, meter_start)
        submit(
            self.ctx,
            "StartTransaction",
            {
                "connectorId": self.evse,
                "idTag": id_tag,
                "meterStart": meter_start,
                "timestamp": self._now(),
            },
            reply_to=self.actor_ref,
            wrap=lambda outcome: _Started(id_tag, meter_start, outcome),
        )

    def _started(self, message: _Started) -> None:
        tx = self.tx
        result = message.outcome.result
        if tx is None or tx.id_tag != message.id_tag:
            return
        if result is None:
            # Offline transactions need the persisted queue (next step); until
            # then a start the CSMS never saw is not a transaction.
            self.log.warning("StartTransaction failed: %s", message.outcome.error)
            self.tx = None
            return
        tx.transaction_id = int(result["transactionId"])
        if result["idTagInfo"]["status"] != "Accepted":
            self._publish_started(tx)
            self._stop_transaction("DeAuthorized")
            return
        if not self.state.plugged:
            self._publish_started(tx)
            self._stop_transaction("EVDisconnected")
            return
        # Power first, then Charging: the status must not claim what the relay has not done.
        self._board(AllowPower(True))
        interval = int(self.ctx.config.value("Core", "MeterValueSampleInterval"))
        if interval > 0:
            self.sample_timer = self.ctx.call_every(interval, self.actor_ref, _Sample())
        self._apply(Event.START)
        self._publish_started(tx)

    def _publish_started(self, tx: Transaction) -> None:
        assert tx.transaction_id is not None
        self.ctx.bus.publish(
            TransactionStarted(self.evse, tx.transaction_id, tx.id_tag, tx.meter_start)
        )

    def _stop_transaction(self, reason: str) -> None:
        tx, self.tx = self.tx, None
        if tx is None:
            return
        self._board(AllowPower(False))
        self.ctx.cancel(self.sample_timer)
        self.sample_timer = None
        meter_stop = int(self._read().energy_wh)
        if self.state.status in _SESSION:
            self._apply(Event.STOP)
        if self.scheduled_operative is not None:
            self._become(self.scheduled_operative)
            self.scheduled_operative = None
        if tx.transaction_id is None:
            self.log.warning("stopped before the CSMS confirmed the start")
            return
        submit(
            self.ctx,
            "StopTransaction",
            {
                "transactionId": tx.transaction_id,
                "idTag": tx.id_tag,
                "meterStop": meter_stop,
                "timestamp": self._now(),
                "reason": reason,
            },
        )
        self.ctx.bus.publish(TransactionStopped(self.evse, tx.transaction_id, reason, meter_stop))

    def _sample(self) -> None:
        if self.tx is None or self.tx.transaction_id is None:
            return
        reading = self._read()
        sampled = [
            {
                "value": f"{reading.energy_wh:.0f}",
                "context": "Sample.Periodic",
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            },
            {
                "value": f"{reading.power_w:.0f}",
                "context": "Sample.Periodic",
                "measurand": "Power.Active.Import",
                "unit": "W",
            },
        ]
        submit(
            self.ctx,
            "MeterValues",
            {
                "connectorId": self.evse,
                "transactionId": self.tx.transaction_id,
                "meterValue": [{"timestamp": self._now(), "sampledValue": sampled}],
            },
        )
        self.ctx.bus.publish(MeterSampled(self.evse, reading.energy_wh, reading.power_w))

    # -- CSMS requests ----------------------------------------------------------

    def _remote_start(self, id_tag: str) -> None:
        if self.tx is not None or not self.operative:
            self.log.info("remote start for %s ignored: busy or unavailable", id_tag)
            return
        # Accepted remotely: no Authorize (AuthorizeRemoteTxRequests is false here).
        self._authorized(_Authorized(id_tag, Outcome("Authorize", {}, _ACCEPTED)))

    def _unlock(self) -> str:
        if self.tx is not None:
            self._stop_transaction("UnlockCommand")
        try:
            return str(
                self.ctx.registry.ask(evse_path(self.evse, "board"), Unlock(), timeout=2)
            )
        except Exception as exc:  # no board to ask: the lock did not move
            self.log.error("unlock failed: %s", exc)
            return "UnlockFailed"

    def _set_availability(self, operative: bool) -> str:
        if self.tx is not None and operative != self.operative:
            # 1.6 5.2: a running transaction finishes first; the change waits for it.
            self.scheduled_operative = operative
            return "Scheduled"
        self.scheduled_operative = None
        self._become(operative)
        return "Accepted"

    def _become(self, operative: bool) -> None:
        if operative == self.operative:
            return
        self.operative = operative
        self._apply(Event.ENABLE if operative else Event.DISABLE)

    # -- status ----------------------------------------------------------------

    def _apply(self, event: Event) -> None:
        try:
            new = step(self.state, event)
        except InvalidTransition as exc:
            self.log.debug("ignored: %s", exc)
            return
        changed = new.status is not self.state.status
        self.state = new
        if changed:
            self._notify()

    def _notify(self) -> None:
        status = self.state.status.value
        self.ctx.bus.publish(ConnectorChanged(self.evse, status, self.error_code))
        submit(
            self.ctx,
            "StatusNotification",
            {
                "connectorId": self.evse,
                "status": status,
                "errorCode": self.error_code,
                "timestamp": self._now(),
            },
        )

    # -- helpers ---------------------------------------------------------------

    def _read(self) -> MeterReading:
        try:
            self.last_reading = self.ctx.registry.ask(
                evse_path(self.evse, "meter"), ReadMeter(), timeout=2
            )
        except Exception as exc:  # a restarting meter must not end the session
            self.log.warning("meter unreadable (%s); using the last reading", exc)
        return self.last_reading

    def _board(self, message: object) -> None:
        """Ask, not tell: the relay has switched when this returns."""
        try:
            self.ctx.registry.ask(evse_path(self.evse, "board"), message, timeout=2)
        except Exception as exc:  # a restarting board is a fault to log, not a crash
            self.log.error("board did not take %r: %s", message, exc)

    def _now(self) -> str:
        return ocpp_timestamp(self.ctx.clock.wall())
