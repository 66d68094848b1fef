"""The chargepoint actor: registration with the CSMS and the station's heartbeat.

Boot follows OCPP 1.6 section 4.2: BootNotification on every new connection
until the CSMS accepts us; Pending and Rejected retry after the interval the
CSMS gave (Rejected sends nothing else meanwhile); once Accepted, a reconnect
in the same run only re-announces connector statuses. It also answers the
station-wide CSMS calls routed to it and stands in for an EVSE whose
supervisor gave up, reporting it Faulted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ocppstation.actors.events import (
    ConfigApplied,
    ConfigChanged,
    Online,
    RegistrationChanged,
    ResetRequested,
)
from ocppstation.actors.evse.connector import (
    Announce,
    RemoteStart,
    SetAvailability,
    StopTransaction,
    TriggerMeterValues,
    UnlockCable,
)
from ocppstation.actors.files.transfer_jobs import TriggerStatus
from ocppstation.actors.link.rpc import (
    Answer,
    Inbound,
    LinkQuery,
    LinkState,
    Outcome,
    submit,
)
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import PROFILES, RPC, SECURITY, StationContext, evse_path
from ocppstation.actors.runtime.supervisor import ChildRestarted, ChildTerminated
from ocppstation.actors.v16.diagnostics import DIAGNOSTICS_STATUS, LOG_STATUS, UPLOADS
from ocppstation.actors.v16.firmware_management import (
    FIRMWARE,
    FIRMWARE_STATUS,
    SIGNED_FIRMWARE_STATUS,
)
from ocppstation.actors.v16.security import SignRequested, event_payload, report_event
from ocppstation.actors.v16.smart_charging import RemoteStartProfile
from ocppstation.protocol.errors import NotSupported, OcppError
from ocppstation.protocol.framing import Call
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.reservation import same_tag


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
class _FollowUp:
    run: Callable[[], None]


@dataclass(frozen=True)
class _Reannounce:
    evse: int


def _evse_of(path: str, part: str | None) -> int | None:
    """N for `evses/N` (part None) or `evses/N/part`, else None."""
    pieces = path.split("/")
    want = 2 if part is None else 3
    if len(pieces) != want or pieces[0] != "evses" or not pieces[1].isdigit():
        return None
    if part is not None and pieces[2] != part:
        return None
    return int(pieces[1])


STORAGE_TIMEOUT = 10.0


def _may_claim(id_tag: str, reserved_for: list[list[str | None]]) -> bool:
    """Whether a remote start for `id_tag` may go to a connector held for
    `reserved_for` ([idTag, parentIdTag] pairs; empty: not reserved). A
    reservation made with a parentIdTag may let the idTag in: the connector
    asks the auth actor, which knows or learns the idTag's group."""
    if not reserved_for:
        return True
    return any(same_tag(id_tag, str(tag)) or parent is not None for tag, parent in reserved_for)


def _wanted(event: object) -> object | None:
    """The bus events the chargepoint reacts to, as its own messages."""
    match event:
        case ChildTerminated(path=path) if (evse := _evse_of(path, None)) is not None:
            return EvseDown(evse, event.reason)
        case ConfigChanged(key="HeartbeatInterval"):
            return event
        case ChildRestarted(path=path) if (evse := _evse_of(path, "connector")) is not None:
            return _Reannounce(evse)  # a restarted connector may now say something else
    return None


# How long one announce round may wait for connectors to say their state.
ANNOUNCE_TIMEOUT = 2.0


@dataclass(frozen=True)
class EvseDown:
    evse: int
    reason: str


class ChargePoint(Supervised):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.registration = "Unknown"
        self.link_up = False
        self.boot_attempt = 0
        self.heartbeat_timer: int | None = None
        self.down: dict[int, str] = {}
        self.operative = True  # connector 0: the station as a whole
        self._unsubscribe = lambda: None

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward(self.actor_ref, _wanted)
        stored = self.ctx.storage().availability.all().get(timeout=10)
        self.operative = stored.get(0, "Operative") == "Operative"
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
            case _Beat():
                self._beat()
            case Inbound():
                self._inbound(message.call)
            case _Reannounce() if self.link_up and self.registration == "Accepted":
                self._announce_one(message.evse)
            case _Reannounce():
                pass
            case ConfigChanged(key="HeartbeatInterval"):
                if self.heartbeat_timer is not None:
                    self._arm_heartbeat(int(message.value))
                    self.ctx.registration.record(self.registration, int(message.value))
                self.ctx.bus.publish(ConfigApplied(self.path, message.key))
            case _FollowUp():
                message.run()
            case EvseDown():
                self.down[message.evse] = message.reason
                self._send_status(message.evse, "Faulted", "InternalError", message.reason)
            case _:
                return super().receive(message)
        return None

    # -- registration ----------------------------------------------------------

    def _link_changed(self, up: bool) -> None:
        was_up, self.link_up = self.link_up, up
        if not up:
            if was_up:
                self.ctx.bus.publish(Online(False))
            return
        if was_up:
            return
        if self.registration == "Accepted":
            self._announce()
            self.ctx.bus.publish(Online(True))
        else:
            self._boot()

    def _boot(self) -> None:
        self.boot_attempt += 1
        attempt = self.boot_attempt
        cfg = self.ctx.config
        payload = {
            "chargePointVendor": cfg.value("Internal", "ChargePointVendor"),
            "chargePointModel": cfg.value("Internal", "ChargePointModel"),
            "chargePointSerialNumber": cfg.value("Internal", "ChargePointSerialNumber"),
            "chargeBoxSerialNumber": cfg.value("Internal", "ChargeBoxSerialNumber"),
            # After an installation, the version it reported (the config's is the old one).
            "firmwareVersion": self.ctx.firmware.version
            or cfg.value("Internal", "FirmwareVersion"),
        }
        submit(
            self.ctx,
            "BootNotification",
            {k: v for k, v in payload.items() if v},
            reply_to=self.actor_ref,
            wrap=lambda outcome: _BootDone(attempt, outcome),
        )

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
        status = result["status"]
        interval = int(result["interval"]) or int(
            self.ctx.config.value("Core", "HeartbeatInterval")
        )
        first = status == "Accepted" and not self.ctx.registration.accepted
        self.ctx.registration.record(status, interval if status == "Accepted" else None)
        if status == "Accepted":
            self._arm_heartbeat(interval)
            if first:
                self._started_up()
            self._announce()
            self.ctx.bus.publish(Online(True))
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

    def _arm_heartbeat(self, interval: int) -> None:
        self.ctx.cancel(self.heartbeat_timer)
        self.heartbeat_timer = self.ctx.call_every(interval, self.actor_ref, _Beat())

    def _set_registration(self, status: str) -> None:
        if status != self.registration:
            self.registration = status
            self.ctx.bus.publish(RegistrationChanged(status))

    def _beat(self) -> None:
        if self.link_up and self.registration == "Accepted":
            submit(self.ctx, "Heartbeat", {})

    def _announce(self) -> None:
        """StatusNotification for connector 0, then every connector, in order."""
        self._announce_station()
        evses = self.ctx.config.evse_numbers
        # Ask all connectors first and collect after: the asks run in parallel,
        # and one deadline bounds the whole round.
        pending = {n: self._ask_snapshot(n, to_report=True) for n in evses if n not in self.down}
        deadline = time.monotonic() + ANNOUNCE_TIMEOUT
        for evse in evses:
            self._announce_one(evse, pending.get(evse), deadline)

    def _announce_station(self) -> None:
        self._send_status(0, "Available" if self.operative else "Unavailable", "NoError")

    def _ask_snapshot(self, evse: int, *, to_report: bool = False) -> Any:
        """A future of the connector's snapshot, or None if it is not there.

        `to_report`: we are about to send it as the connector's status, and the
        connector must know (MinimumStatusDuration compares with what was sent).
        """
        path = evse_path(evse, "connector")
        if self.ctx.registry.get(path) is None:
            return None
        proxy = self.ctx.registry.proxy(path)
        return proxy.report() if to_report else proxy.snapshot()

    def _announce_one(self, evse: int, snapshot: Any = None, deadline: float | None = None) -> None:
        if evse in self.down:
            self._send_status(evse, "Faulted", "InternalError", self.down[evse])
            return
        future = snapshot if snapshot is not None else self._ask_snapshot(evse, to_report=True)
        if deadline is None:
            deadline = time.monotonic() + ANNOUNCE_TIMEOUT
        try:
            state = future.get(timeout=max(deadline - time.monotonic(), 0.001))
        except Exception:  # None, restarting or slow: it reports itself
            self.ctx.registry.tell(evse_path(evse, "connector"), Announce())
            return
        self._send_status(evse, state["status"], state["error_code"])

    def _send_status(self, connector: int, status: str, error: str, info: str = "") -> None:
        payload: dict[str, Any] = {
            "connectorId": connector,
            "status": status,
            "errorCode": error,
            "timestamp": ocpp_timestamp(self.ctx.clock.wall()),
        }
        if info:
            payload["info"] = info[:50]
        submit(self.ctx, "StatusNotification", payload)

    # -- CSMS calls --------------------------------------------------------------

    def _inbound(self, call: Call) -> None:
        follow_up: Callable[[], None] | None = None
        result: dict[str, Any] | OcppError
        try:
            result, follow_up = self._handle(call)
        except OcppError as exc:
            result = exc
        # Whatever the answer promised (a triggered message, a reset) is done
        # when rpc says the answer is on its way: never before it on the wire.
        if follow_up is None:
            self.ctx.registry.tell(RPC, Answer(call, result))
        else:
            self.ctx.registry.tell(RPC, Answer(call, result, self.actor_ref, _FollowUp(follow_up)))

    def _handle(self, call: Call) -> tuple[dict[str, Any], Callable[[], None] | None]:
        payload = call.payload
        match call.action:
            case "TriggerMessage":
                return self._trigger(payload)
            case "ExtendedTriggerMessage":
                return self._extended_trigger(payload)
            case "RemoteStartTransaction":
                return self._remote_start(payload), None
            case "RemoteStopTransaction":
                return self._remote_stop(payload["transactionId"]), None
            case "UnlockConnector":
                return {"status": self._unlock(payload["connectorId"])}, None
            case "ChangeAvailability":
                return self._change_availability(payload["connectorId"], payload["type"])
            case "Reset":
                kind = payload["type"]
                # Answer first: after this the tree (this actor too) is restarted.
                return {"status": "Accepted"}, partial(self._reset, kind)
            case "DataTransfer":
                answer = self.ctx.data_transfer.handle(
                    payload["vendorId"], payload.get("messageId"), payload.get("data")
                )
                return answer, None
        raise NotSupported(f"{call.action} is not supported yet")

    # -- remote control --------------------------------------------------------------

    def _snapshots(self) -> dict[int, dict[str, Any]]:
        """Every live connector's state, asked in parallel."""
        evses = [n for n in self.ctx.config.evse_numbers if n not in self.down]
        return self.ctx.snapshots(evses, ANNOUNCE_TIMEOUT)

    def _remote_start(self, payload: dict[str, Any]) -> dict[str, Any]:
        states = self._snapshots()
        id_tag = payload["idTag"]
        free = {
            n: s
            for n, s in states.items()
            if s["transaction_id"] is None
            and s["operative"]
            and s["status"] in ("Available", "Preparing", "Reserved")
            and _may_claim(id_tag, s.get("reserved_for", []))
        }
        wanted = payload.get("connectorId")
        if wanted is not None:
            evse = wanted if wanted in free else None
        else:
            # No connector named: one with a cable already in is where the driver is,
            # and one reserved for this driver is theirs.
            waiting = [n for n, s in free.items() if s["status"] == "Preparing"]
            reserved = [n for n, s in free.items() if s["status"] == "Reserved"]
            evse = (waiting or reserved or sorted(free) or [None])[0]
        if evse is None:
            return {"status": "Rejected"}
        if "chargingProfile" in payload and not self._remote_profile(evse, payload):
            return {"status": "Rejected"}
        self.ctx.registry.tell(evse_path(evse, "connector"), RemoteStart(payload["idTag"]))
        return {"status": "Accepted"}

    def _remote_profile(self, evse: int, payload: dict[str, Any]) -> bool:
        """Whether the request's chargingProfile is taken as the coming
        transaction's TxProfile (the profiles actor keeps it until then)."""
        request = RemoteStartProfile(evse, payload["idTag"], payload["chargingProfile"])
        try:
            refused = self.ctx.registry.ask(PROFILES, request, timeout=ANNOUNCE_TIMEOUT)
        except Exception as exc:  # a limit nobody can enforce is no reason to start
            refused = f"the profiles actor did not answer ({exc})"
        if refused:
            self.log.info("RemoteStartTransaction with a profile refused: %s", refused)
        return not refused

    def _remote_stop(self, transaction_id: int) -> dict[str, Any]:
        for evse, state in self._snapshots().items():
            if state["transaction_id"] == transaction_id:
                self.ctx.registry.tell(evse_path(evse, "connector"), StopTransaction("Remote"))
                return {"status": "Accepted"}
        return {"status": "Rejected"}

    def _unlock(self, connector: int) -> str:
        if connector not in self.ctx.config.evse_numbers or connector in self.down:
            return "NotSupported"
        try:
            return str(
                self.ctx.registry.ask(evse_path(connector, "connector"), UnlockCable(), timeout=5)
            )
        except Exception as exc:  # a connector that cannot be asked has not unlocked
            self.log.error("unlock of %s failed: %s", connector, exc)
            return "UnlockFailed"

    def _change_availability(
        self, connector: int, kind: str
    ) -> tuple[dict[str, Any], Callable[[], None] | None]:
        operative = kind == "Operative"
        if connector != 0 and connector not in self.ctx.config.evse_numbers:
            return {"status": "Rejected"}, None
        targets = list(self.ctx.config.evse_numbers) if connector == 0 else [connector]
        answers = []
        for evse in targets:
            if evse in self.down:
                continue
            try:
                answers.append(
                    self.ctx.registry.ask(
                        evse_path(evse, "connector"), SetAvailability(operative), timeout=5
                    )
                )
            except Exception:  # restarting: its own state wins when it is back
                answers.append("Rejected")
        follow_up = None
        if connector == 0:
            storage = self.ctx.storage()
            storage.availability.put(0, kind).get(timeout=STORAGE_TIMEOUT)
        if connector == 0 and operative != self.operative:
            self.operative = operative
            follow_up = self._announce_station
        if "Scheduled" in answers:
            return {"status": "Scheduled"}, follow_up
        if answers and all(a == "Rejected" for a in answers):
            return {"status": "Rejected"}, follow_up
        return {"status": "Accepted"}, follow_up

    def _trigger_meter_values(self, evses: list[int]) -> None:
        for evse in evses:
            if evse not in self.down:
                self.ctx.registry.tell(evse_path(evse, "connector"), TriggerMeterValues())

    def _reset(self, kind: str) -> None:
        # Stored before the reset: sent now, or after it if the link is down.
        report_event(self.ctx, "ResetOrReboot", f"{kind} reset requested by the CSMS")
        self.ctx.bus.publish(ResetRequested(kind))

    def _extended_trigger(
        self, payload: dict[str, Any]
    ) -> tuple[dict[str, Any], Callable[[], None] | None]:
        """The whitepaper's trigger: TriggerMessage's messages, and a new certificate."""
        match payload["requestedMessage"]:
            case "SignChargePointCertificate":
                return {"status": "Accepted"}, partial(
                    self.ctx.registry.tell, SECURITY, SignRequested()
                )
            case "BootNotification" | "Heartbeat" | "MeterValues" | "StatusNotification":
                return self._trigger(payload)
            case "FirmwareStatusNotification":
                # The firmware actor knows; here it means the signed firmware status.
                return {"status": "Accepted"}, partial(
                    self.ctx.registry.tell, FIRMWARE, TriggerStatus(SIGNED_FIRMWARE_STATUS)
                )
            case "LogStatusNotification":
                # The uploads actor knows GetLog's.
                return {"status": "Accepted"}, partial(
                    self.ctx.registry.tell, UPLOADS, TriggerStatus(LOG_STATUS)
                )
            case _:
                return {"status": "NotImplemented"}, None

    def _trigger(self, payload: dict[str, Any]) -> tuple[dict[str, Any], Callable[[], None] | None]:
        requested = payload["requestedMessage"]
        connector = payload.get("connectorId")
        if connector is not None and not 0 <= connector <= self.ctx.config.evses:
            # 1.6 5.17: a connector that does not exist is a Rejected trigger.
            return {"status": "Rejected"}, None
        follow_up: Callable[[], None]
        if requested == "MeterValues":
            targets = [connector] if connector else list(self.ctx.config.evse_numbers)
            follow_up = partial(self._trigger_meter_values, targets)
        elif requested == "BootNotification":
            follow_up = self._boot
        elif requested == "Heartbeat":
            follow_up = self._beat
        elif requested == "StatusNotification" and connector is None:
            follow_up = self._announce
        elif requested == "StatusNotification" and connector == 0:
            follow_up = self._announce_station
        elif requested == "StatusNotification":
            follow_up = partial(self._announce_one, connector)
        elif requested == FIRMWARE_STATUS:
            # The firmware actor knows what is under way (Idle when nothing is).
            follow_up = partial(self.ctx.registry.tell, FIRMWARE, TriggerStatus(requested))
        elif requested == DIAGNOSTICS_STATUS:
            # The uploads actor knows which upload is under way (Idle when none is).
            follow_up = partial(self.ctx.registry.tell, UPLOADS, TriggerStatus(requested))
        else:
            return {"status": "NotImplemented"}, None
        return {"status": "Accepted"}, follow_up
