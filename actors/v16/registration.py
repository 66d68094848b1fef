"""OCPP 1.6 Core: BootNotification (4.2), Heartbeat (4.6), StatusNotification (4.9).

Boot follows section 4.2: BootNotification on every new connection until the
CSMS accepts us; Pending and Rejected retry after the interval the CSMS gave
(Rejected sends nothing else meanwhile); once Accepted, a reconnect in the
same run only re-announces connector statuses. This block also speaks for
connector 0 (the station as a whole) and stands in for an EVSE whose
supervisor gave up: it ends the transaction that EVSE was running and
reports it Faulted. Other blocks ask it for a boot, a heartbeat or an
announce with `SendBoot`, `SendHeartbeat` and `SendStatus`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ocpp.v16 import call, call_result
from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus, RegistrationStatus

from ocppstation.actors.events import ConfigApplied, ConfigChanged, Online, RegistrationChanged
from ocppstation.actors.evse.connector import Announce
from ocppstation.actors.evse.transaction import end_stored
from ocppstation.actors.link.rpc import LinkQuery, LinkState, Outcome, send, submit
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import RPC, StationContext, evse_of, evse_path
from ocppstation.actors.runtime.supervisor import ChildRestarted, ChildTerminated
from ocppstation.actors.security_events import event_payload
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.evse_messages import EvseMessages
from ocppstation.protocol.payloads import parse
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.evse_messages import EVSE_MESSAGES

# How long one announce round may wait for connectors to say their state.
ANNOUNCE_TIMEOUT = 2.0
STORAGE_TIMEOUT = 10.0


@dataclass(frozen=True)
class SendBoot:
    """Send a BootNotification now (a TriggerMessage asked for one)."""

    reason: str | None = None  # 2.0.1's BootReason for this one; None: the run's


@dataclass(frozen=True)
class SendHeartbeat:
    """Send a Heartbeat now, if registered."""


@dataclass(frozen=True)
class SendStatus:
    """StatusNotification for `connector` now: 0 the station, None every one."""

    connector: int | None = None


@dataclass(frozen=True)
class _Boot:
    attempt: int


@dataclass(frozen=True)
class _Beat:
    pass


@dataclass(frozen=True)
class _BootDone:
    attempt: int
    outcome: Outcome


@dataclass(frozen=True)
class _EvseDown:
    evse: int


@dataclass(frozen=True)
class _Reannounce:
    evse: int


def _wanted(event: object) -> object | None:
    """The bus events this block reacts to, as its own messages."""
    match event:
        case ChildTerminated(path=path) if (evse := evse_of(path)) is not None:
            return _EvseDown(evse)
        case ConfigChanged(setting=Setting.HEARTBEAT_INTERVAL):
            return event
        case ChildRestarted(path=path) if (
            evse := evse_of(path, "connector") or evse_of(path)
        ) is not None:
            return _Reannounce(evse)  # a restarted connector may now say something else
    return None


class Registration(Supervised):
    """1.6's words are in the methods a 2.0.1 block overrides: boot_call,
    read_boot, heartbeat_call, _announce_station and _send_status."""

    messages: EvseMessages = EVSE_MESSAGES

    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.registration = "Unknown"
        self.link_up = False
        self.boot_attempt = 0
        self.heartbeat_timer: int | None = None
        self._unsubscribe = lambda: None

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward(self.actor_ref, _wanted)
        # Restarted inside the run: the CSMS accepted us already; carry on.
        self.registration = self.ctx.registration.status
        interval = self.ctx.registration.heartbeat_interval
        if self.registration == "Accepted" and interval:
            self._arm_heartbeat(interval)
        # The link may have come up before we started and told nobody.
        try:
            up = self.ctx.registry.ask(RPC, LinkQuery(), timeout=2)
        except Exception:  # no rpc yet: it tells us when the link comes up
            up = False
        if up:
            self._link_changed(True)

    def teardown(self) -> None:
        self._unsubscribe()
        self.ctx.cancel(self.heartbeat_timer)

    def state(self) -> dict[str, Any]:
        return {"registration": self.registration, "link": "up" if self.link_up else "down"}

    def receive(self, message: Any) -> Any:
        match message:
            case LinkState():
                self._link_changed(message.up)
            case _Boot(attempt=a) if a == self.boot_attempt and self.link_up:
                self._boot()
            case _Boot():
                pass
            case _BootDone():
                self._booted(message)
            case _Beat() | SendHeartbeat():
                self._beat()
            case SendBoot():
                self._boot(message.reason)
            case _Reannounce() if self.link_up and self.registration == "Accepted":
                self._announce_one(message.evse)
            case _Reannounce():
                pass  # the next registration announces everything anyway
            case SendStatus(connector=None):
                self._announce()
            case SendStatus(connector=0):
                self._announce_station()
            case SendStatus(connector=int(connector)):
                self._announce_one(connector)
            case ConfigChanged(setting=Setting.HEARTBEAT_INTERVAL):
                if self.heartbeat_timer is not None:
                    self._arm_heartbeat(int(message.value))
                    self.ctx.registration.record(self.registration, int(message.value))
                self.ctx.bus.publish(ConfigApplied(self.path, message.key))
            case _EvseDown(evse=evse):
                self._end_transactions(evse)
                self._send_status(evse, "Faulted", "InternalError", self._down(evse) or "")
            case _:
                return super().receive(message)
        return None

    def _end_transactions(self, evse: int) -> None:
        """An EVSE that gave up runs no transaction: end its open one now, at
        its last known meter value, rather than at the next start of the
        process. (Other: 1.6's Reason has nothing closer to a failed EVSE.)"""
        records = self.ctx.storage().transactions.open().get(timeout=STORAGE_TIMEOUT)
        now = ocpp_timestamp(self.ctx.clock.wall())
        for record in records:
            if record.connector == evse:
                self.log.warning(
                    "EVSE %d gave up: ending its transaction %s", evse, record.local_id
                )
                end_stored(self.ctx, self.messages, record, "Other", now)

    def _down(self, evse: int) -> str | None:
        return self.ctx.given_up.reason(evse)

    # -- registration ----------------------------------------------------------

    def _link_changed(self, up: bool) -> None:
        was_up, self.link_up = self.link_up, up
        if not up:
            if was_up:
                self._online(False)
            return
        if was_up:
            return
        if self.registration == "Accepted":
            self._announce()
            self._online(True)
        else:
            self._boot()

    def _boot(self, reason: str | None = None) -> None:
        self.boot_attempt += 1
        attempt = self.boot_attempt
        send(
            self.ctx,
            self.boot_call(reason or self.ctx.registration.boot_reason),
            reply_to=self.actor_ref,
            wrap=lambda outcome: _BootDone(attempt, outcome),
        )

    def boot_call(self, reason: str) -> object:  # 1.6 says no reason: unused
        cfg = self.ctx.config

        def optional(name: str) -> str | None:
            return cfg.value("Internal", name) or None  # an empty one is left out

        return call.BootNotification(
            charge_point_vendor=cfg.value("Internal", "ChargePointVendor"),
            charge_point_model=cfg.value("Internal", "ChargePointModel"),
            charge_point_serial_number=optional("ChargePointSerialNumber"),
            charge_box_serial_number=optional("ChargeBoxSerialNumber"),
            # After an installation, the version it reported (the config's is the old one).
            firmware_version=self.ctx.firmware.version or optional("FirmwareVersion"),
        )

    def read_boot(self, result: dict[str, Any]) -> tuple[str, int]:
        """The registration status and heartbeat interval the CSMS answered."""
        answer = parse(call_result.BootNotification, result)
        return str(RegistrationStatus(answer.status).value), int(answer.interval)

    def heartbeat_call(self) -> object:
        return call.Heartbeat()

    def _booted(self, done: _BootDone) -> None:
        if done.attempt != self.boot_attempt:
            return
        result = done.outcome.result
        if result is None:
            # Timed out or the link dropped: the next LinkUp boots again, and a
            # live link gets another try after the shortest backoff.
            retry = float(self.ctx.config.value("Internal", "RetryBackOffWaitMinimum"))
            self.ctx.call_later(max(retry, 1.0), self.actor_ref, _Boot(self.boot_attempt))
            return
        status, interval = self.read_boot(result)
        interval = interval or int(self.ctx.config.value("Core", "HeartbeatInterval"))
        first = status == "Accepted" and not self.ctx.registration.accepted
        self.ctx.registration.record(status, interval if status == "Accepted" else None)
        if status == "Accepted":
            self._arm_heartbeat(interval)
            if first:
                self._started_up()
            self._announce()
            self._online(True)
        else:
            # Pending and Rejected: try again after the interval the CSMS gave
            # (with none given, the heartbeat interval is the station's pace).
            self.ctx.call_later(interval, self.actor_ref, _Boot(self.boot_attempt))
        # Last, so that whoever waits for this event finds the timers armed.
        self._set_registration(status)

    def _started_up(self) -> None:
        """The security event of a (re)boot, first thing once the CSMS accepted us.

        Sent at once, not queued: the station is online this very moment, and a
        CSMS that refuses it (no Security Whitepaper) holds up nothing.
        """
        submit(self.ctx, "SecurityEventNotification", event_payload(self.ctx, "StartupOfTheDevice"))

    def _online(self, online: bool) -> None:
        # The holder first: whoever hears the event finds it already true.
        self.ctx.registration.set_online(online)
        self.ctx.bus.publish(Online(online))

    def _arm_heartbeat(self, interval: int) -> None:
        self.ctx.cancel(self.heartbeat_timer)
        self.heartbeat_timer = self.ctx.call_every(interval, self.actor_ref, _Beat())

    def _set_registration(self, status: str) -> None:
        if status != self.registration:
            self.registration = status
            self.ctx.bus.publish(RegistrationChanged(status))

    def _beat(self) -> None:
        if self.link_up and self.registration == "Accepted":
            send(self.ctx, self.heartbeat_call())

    # -- status ----------------------------------------------------------------

    def _announce(self) -> None:
        """StatusNotification for connector 0, then every connector, in order."""
        self._announce_station()
        evses = self.ctx.config.evse_numbers
        # Ask all connectors first and collect after: the asks run in parallel,
        # and one deadline bounds the whole round.
        pending = {n: self._ask_report(n) for n in evses if self._down(n) is None}
        deadline = time.monotonic() + ANNOUNCE_TIMEOUT
        for evse in evses:
            self._announce_one(evse, pending.get(evse), deadline)

    def _announce_station(self) -> None:
        # Connector 0's availability is the availability block's to change; it
        # is kept in storage, so it is read here at the moment it is announced.
        stored = self.ctx.storage().availability.all().get(timeout=STORAGE_TIMEOUT)
        operative = stored.get(0, "Operative") == "Operative"
        self._send_status(0, "Available" if operative else "Unavailable", "NoError")

    def _ask_report(self, evse: int) -> Any:
        """A future of the connector's state as it is about to be reported, or None.

        The connector must know it is being reported: MinimumStatusDuration
        compares with what was last sent.
        """
        path = evse_path(evse, "connector")
        if self.ctx.registry.get(path) is None:
            return None
        return self.ctx.registry.proxy(path).report()

    def _announce_one(self, evse: int, report: Any = None, deadline: float | None = None) -> None:
        reason = self._down(evse)
        if reason is not None:
            self._send_status(evse, "Faulted", "InternalError", reason)
            return
        future = report if report is not None else self._ask_report(evse)
        if deadline is None:
            deadline = time.monotonic() + ANNOUNCE_TIMEOUT
        try:
            state = future.get(timeout=max(deadline - time.monotonic(), 0.001))
        except Exception:  # None, restarting or slow: it reports itself
            self.ctx.registry.tell(evse_path(evse, "connector"), Announce())
            return
        self._send_status(evse, state["status"], state["error_code"])

    def _send_status(self, connector: int, status: str, error: str, info: str = "") -> None:
        send(
            self.ctx,
            call.StatusNotification(
                connector_id=connector,
                error_code=ChargePointErrorCode(error),
                status=ChargePointStatus(status),
                timestamp=ocpp_timestamp(self.ctx.clock.wall()),
                info=info[:50] or None,
            ),
        )
