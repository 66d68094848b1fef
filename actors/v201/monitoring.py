"""OCPP 2.0.1 N Diagnostics, monitoring: SetVariableMonitoring (N04),
ClearVariableMonitoring (N06), SetMonitoringBase (N03), SetMonitoringLevel
(N05), GetMonitoringReport with NotifyMonitoringReport (N02), and the
NotifyEvents the monitors trip (N07, N08).

The block keeps the station's monitors: the hard-wired and preconfigured
ones the pure rules (protocol/v201/monitoring.py) build from the catalog,
and the CSMS's (storage's `monitors`, migration 0011; a preconfigured one
the CSMS changed is stored under its id too). The rules decide; this actor
stores, watches and sends.

- Values come from the device model (device_model.py): a snapshot when the
  block starts (`ValuesQuery`), then every `VariableChanged` it publishes.
  MonitoringCtrlr's ActiveMonitoringBase and ActiveMonitoringLevel are
  read-only variables there; SetMonitoringBase and SetMonitoringLevel set
  them through the device model (`SetInternally`), so they are stored,
  reported and read back like any other.
- A hardware problem of a connector (Faulted, or an error code with its
  status) is a HardWiredNotification on that connector's AvailabilityState
  (trigger Alerting, techCode the error code, severity 1), cleared when it
  goes; the hard-wired Delta monitors on the same variables report every
  change as well.
- Periodic monitors run on the station's scheduler (ctx.call_every;
  clock-aligned ones ctx.call_later to the next aligned time on the
  station's wall clock, armed again each time they fire).
- Events go out as NotifyEvent (one event each, seqNo 0, tbc false)
  through the outbox's persisted queue, so they keep their order and
  survive a restart; offline, those above OfflineQueuingSeverity are
  dropped instead of queued.
- eventIds count up from 1 in each run of the block: the CSMS tells events
  apart by them only within a connection's stream.
- GetMonitoringReport reports the monitors active under the monitoring
  base, grouped per variable, in NotifyMonitoringReports paged by
  DeviceDataCtrlr's ItemsPerMessage and BytesPerMessage of GetReport. The
  station supports all three criteria, so it never answers NotSupported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ocpp.v201 import call, call_result
from ocpp.v201.datatypes import ClearMonitoringResultType, EventDataType
from ocpp.v201.enums import (
    EventNotificationEnumType,
    EventTriggerEnumType,
    GenericDeviceModelStatusEnumType,
    GenericStatusEnumType,
    MonitorBaseEnumType,
    MonitorEnumType,
)

from ocppstation.actors.events import (
    ConnectorChanged,
    Online,
    TransactionStarted,
    TransactionStopped,
)
from ocppstation.actors.link.block import Block, Reply
from ocppstation.actors.link.outbox import tell_stored
from ocppstation.actors.link.rpc import link_ready, send
from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.context import StationContext
from ocppstation.actors.v201.device_model import (
    SETTINGS,
    SetInternally,
    ValuesQuery,
    VariableChanged,
)
from ocppstation.config import v201_components
from ocppstation.config.device_model import Address
from ocppstation.config.v201_components import Value
from ocppstation.protocol.errors import (
    FormationViolation,
    InternalError,
    NotSupported,
    OccurrenceConstraintViolation,
    OcppError,
)
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v201 import device_model as rules
from ocppstation.protocol.v201 import monitoring as mon
from ocppstation.protocol.v201.evse_messages import CONNECTOR, connector_status

MONITORING = "monitoring"
STORAGE_TIMEOUT = 10.0
ASK_TIMEOUT = 5.0
SNAPSHOT_TIMEOUT = 2.0
# A hardware fault is severity 1 (Hardware Failure) in Part 2's levels.
FAULT_SEVERITY = 1
# What a NotifyMonitoringReport holds besides its monitors (requestId, seqNo, ...).
REPORT_OVERHEAD = 200

_CTRLR = "MonitoringCtrlr"
_ENABLED = Address(_CTRLR, "Enabled")
_BASE = Address(_CTRLR, "ActiveMonitoringBase")
_LEVEL = Address(_CTRLR, "ActiveMonitoringLevel")
_OFFLINE_SEVERITY = Address(_CTRLR, "OfflineQueuingSeverity")


@dataclass(frozen=True)
class EventJudged:
    """Published for each event a monitor or notification raised: `queued` for the
    CSMS, or dropped (offline, above OfflineQueuingSeverity)."""

    address: Address
    kind: str  # EventNotificationEnumType
    severity: int
    queued: bool


@dataclass(frozen=True)
class _Period:
    """A periodic monitor's timer fired (stale when `arming` is not the current one)."""

    monitor: int
    arming: int


class Monitoring(Block):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place, ctx)
        config = ctx.config
        self.catalog = v201_components.catalog(
            {n: 1 for n in config.evse_numbers}, config.custom_variables
        )
        hard_wired, self.factory = mon.builtin(self.catalog)
        self.monitors: dict[int, mon.Monitor] = {m.id: m for m in [*hard_wired, *self.factory]}
        self.values: dict[Address, Value | None] = {}
        self.references: dict[int, Value | None] = {}
        self.transactions: dict[int, str] = {}  # EVSE -> its running transaction
        self.problems: dict[int, str] = {}  # EVSE -> the error code reported
        self.timers: dict[int, int] = {}  # monitor id -> timer id
        self.arming = 0
        self.online = False
        self.event_id = 0
        self._unsubscribe = lambda: None

    # -- lifecycle ------------------------------------------------------------------

    def setup(self) -> None:
        wanted = (VariableChanged, ConnectorChanged, TransactionStarted, TransactionStopped, Online)
        self._unsubscribe = self.ctx.forward_kinds(self.actor_ref, *wanted)
        values = self.ctx.registry.ask(SETTINGS, ValuesQuery(), timeout=ASK_TIMEOUT)
        self.values.update(values)
        for kind, raw in self.ctx.storage().monitors.all().get(timeout=STORAGE_TIMEOUT):
            monitor = mon.Monitor.from_stored(kind, raw)
            if monitor is None or monitor.address not in self.catalog:
                self.log.warning("ignored stored monitor %s (not in the model)", raw.get("id"))
                continue
            self.monitors[monitor.id] = monitor
        for monitor in self.monitors.values():
            self.references[monitor.id] = self._value(monitor.address)
        snapshots = self.ctx.snapshots(self.ctx.config.evse_numbers, timeout=SNAPSHOT_TIMEOUT)
        for evse, snapshot in snapshots.items():
            if snapshot.get("transaction_id") is not None:
                self.transactions[evse] = str(snapshot["transaction_id"])
            error = str(snapshot.get("error_code", "NoError"))
            if snapshot.get("status") == "Faulted" or error != "NoError":
                # Reported before this start (or it was): not again.
                self.problems[evse] = error
        self.online = link_ready(self.ctx)
        self._arm()

    def teardown(self) -> None:
        self._unsubscribe()
        for timer in self.timers.values():
            self.ctx.cancel(timer)

    def receive(self, message: Any) -> Any:
        match message:
            case VariableChanged(address=address, value=value):
                self._changed(address, value)
            case ConnectorChanged(evse=evse, status=status, error_code=error_code):
                self._connector(evse, status, error_code)
            case TransactionStarted(evse=evse, transaction_id=transaction_id):
                self.transactions[evse] = str(transaction_id)
            case TransactionStopped(evse=evse):
                self.transactions.pop(evse, None)
            case Online(online=online):
                self.online = online
            case _Period(monitor=monitor_id, arming=arming) if arming == self.arming:
                self._periodic(monitor_id)
            case _Period():
                pass
            case _:
                return super().receive(message)
        return None

    # -- the CSMS's calls -----------------------------------------------------------

    def handle(self, call_: Call) -> Reply:
        try:
            return self._handle(call_)
        except OcppError:
            raise
        except Exception:
            # A bug here must not restart the blocks after us (rest_for_one).
            self.log.exception("%s failed", call_.action)
            raise InternalError(f"{call_.action} failed") from None

    def _handle(self, call_: Call) -> Reply:
        payload = call_.payload
        match call_.action:
            case "SetVariableMonitoring":
                self._limits("SetVariableMonitoring", payload, payload["setMonitoringData"])
                return self._set(payload["setMonitoringData"]), None
            case "ClearVariableMonitoring":
                self._limits("ClearVariableMonitoring", payload, payload["id"])
                return self._clear([int(i) for i in payload["id"]]), None
            case "SetMonitoringBase":
                return self._base(MonitorBaseEnumType(payload["monitoringBase"])), None
            case "SetMonitoringLevel":
                return self._level(int(payload["severity"])), None
            case "GetMonitoringReport":
                return self._report(payload)
        raise NotSupported(call_.action)

    def _limit(self, name: str, instance: str, component: str = _CTRLR) -> int:
        value = self._value(Address(component, name, variable_instance=instance))
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def _limits(self, instance: str, payload: dict[str, Any], items: list[Any]) -> None:
        """MonitoringCtrlr's ItemsPerMessage and BytesPerMessage of `instance`: more
        items is OccurrenceConstraintViolation, more bytes FormationViolation (N04.FR.09,
        N06.FR.09 and their like)."""
        most = self._limit("ItemsPerMessage", instance)
        if most and len(items) > most:
            raise OccurrenceConstraintViolation(
                f"{len(items)} items; ItemsPerMessage[{instance}] is {most}"
            )
        size = len(json.dumps(payload, separators=(",", ":")).encode())
        largest = self._limit("BytesPerMessage", instance)
        if largest and size > largest:
            raise FormationViolation(f"{size} bytes; BytesPerMessage[{instance}] is {largest}")

    def _set(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        working = dict(self.monitors)
        results = []
        accepted: list[mon.Monitor] = []
        for item in items:
            judged = mon.judge(item, self.catalog, working, mon.next_id(working.values()))
            results.append(judged.result)
            if judged.monitor is not None:
                working[judged.monitor.id] = judged.monitor
                accepted.append(judged.monitor)
        store = self.ctx.storage().monitors
        for monitor in accepted:
            store.put(monitor.kind.value, monitor.stored()).get(timeout=STORAGE_TIMEOUT)
            # A delta counts from the value as it is when the monitor is set.
            self.references[monitor.id] = self._value(monitor.address)
            self.log.info(
                "monitor %d: %s %g on %s (severity %d)",
                monitor.id,
                monitor.type.value,
                monitor.value,
                monitor.address,
                monitor.severity,
            )
        self.monitors = working
        if accepted:
            self._arm()
        return dump(call_result.SetVariableMonitoring(set_monitoring_result=results))

    def _clear(self, ids: list[int]) -> dict[str, Any]:
        results = []
        gone = []
        for monitor_id in ids:
            status = mon.clear_status(self.monitors.get(monitor_id))
            results.append(ClearMonitoringResultType(status=status, id=monitor_id))
            if status.value == "Accepted":
                gone.append(monitor_id)
        if gone:
            self.ctx.storage().monitors.delete(gone).get(timeout=STORAGE_TIMEOUT)
            for monitor_id in gone:
                self.monitors.pop(monitor_id, None)
                self.references.pop(monitor_id, None)
            self.log.info("monitors %s cleared", gone)
            self._arm()
        # The ocpp package types the field as a list of statuses; the schema's are results.
        answer = call_result.ClearVariableMonitoring(clear_monitoring_result=results)  # type: ignore[arg-type]
        return dump(answer)

    def _base(self, base: MonitorBaseEnumType) -> dict[str, Any]:
        store = self.ctx.storage().monitors
        if base is not MonitorBaseEnumType.all:
            kinds = [mon.CUSTOM.value]
            if base is MonitorBaseEnumType.factory_default:
                kinds.append(mon.PRECONFIGURED.value)
            store.delete_kind(kinds).get(timeout=STORAGE_TIMEOUT)
        self.monitors = mon.rebased(base, self.monitors, self.factory)
        self.references = {
            i: self.references.get(i, self._value(m.address)) for i, m in self.monitors.items()
        }
        self._set_variable(_BASE, base.value)
        self.log.info("monitoring base %s", base.value)
        self._arm()
        answer = call_result.SetMonitoringBase(GenericDeviceModelStatusEnumType.accepted)
        return dump(answer)

    def _level(self, severity: int) -> dict[str, Any]:
        if not 0 <= severity <= 9:
            return dump(call_result.SetMonitoringLevel(GenericStatusEnumType.rejected))
        self._set_variable(_LEVEL, severity)
        return dump(call_result.SetMonitoringLevel(GenericStatusEnumType.accepted))

    def _set_variable(self, address: Address, value: Value) -> None:
        # Stored and shown by the device model; ours at once, before its event comes.
        self.ctx.registry.ask(SETTINGS, SetInternally(address, value), timeout=ASK_TIMEOUT)
        self.values[address] = value

    def _report(self, payload: dict[str, Any]) -> Reply:
        if not self._enabled():
            answer = call_result.GetMonitoringReport(GenericDeviceModelStatusEnumType.rejected)
            return dump(answer), None
        chosen = mon.selected(
            self._active(), payload.get("monitoringCriteria"), payload.get("componentVariable")
        )
        if not chosen:
            empty = call_result.GetMonitoringReport(
                GenericDeviceModelStatusEnumType.empty_result_set
            )
            return dump(empty), None
        data = mon.monitoring_data(chosen)
        items = self._limit("ItemsPerMessage", "GetReport", "DeviceDataCtrlr") or 100
        size = self._limit("BytesPerMessage", "GetReport", "DeviceDataCtrlr") or 65536
        paged = rules.pages(data, items, size, REPORT_OVERHEAD)
        request_id = int(payload["requestId"])

        def notify() -> None:
            generated = ocpp_timestamp(self.ctx.clock.wall())
            for seq_no, page in enumerate(paged):
                send(
                    self.ctx,
                    call.NotifyMonitoringReport(
                        request_id=request_id,
                        seq_no=seq_no,
                        generated_at=generated,
                        monitor=page,
                        tbc=seq_no < len(paged) - 1,
                    ),
                )

        accepted = call_result.GetMonitoringReport(GenericDeviceModelStatusEnumType.accepted)
        return dump(accepted), self.later(notify)

    # -- watching -----------------------------------------------------------------

    def _value(self, address: Address) -> Value | None:
        if address in self.values:
            return self.values[address]
        variable = self.catalog.get(address)
        return None if variable is None else variable.default

    def _int(self, address: Address, default: int) -> int:
        value = self._value(address)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def _enabled(self) -> bool:
        return self._value(_ENABLED) is True

    def _base_now(self) -> str:
        return str(self._value(_BASE) or MonitorBaseEnumType.all.value)

    def _active(self) -> list[mon.Monitor]:
        base = self._base_now()
        return [m for m in self.monitors.values() if mon.active(m, base)]

    def _transaction_of(self, monitor: mon.Monitor) -> str | None:
        evse = monitor.address.evse
        if evse is not None:
            return self.transactions.get(evse)
        return next(iter(self.transactions.values()), None)

    def _watching(self, monitor: mon.Monitor) -> bool:
        """Whether `monitor` may report now (a transaction one: while one runs)."""
        return not monitor.transaction or self._transaction_of(monitor) is not None

    def _changed(self, address: Address, value: Value | None) -> None:
        old = self._value(address)
        self.values[address] = value
        if address == _BASE:
            self._arm()
        for monitor in self._active():
            if monitor.address != address or monitor.periodic:
                continue
            trip, reference = mon.evaluate(monitor, old, value, self.references.get(monitor.id))
            self.references[monitor.id] = reference
            if trip is None or not self._watching(monitor):
                continue
            cleared = trip.cleared if trip.trigger is EventTriggerEnumType.alerting else None
            self._event(
                address,
                trip.trigger,
                value,
                monitor.severity,
                monitor.kind,
                monitor=monitor,
                cleared=cleared,
            )

    def _connector(self, evse: int, status: str, error_code: str) -> None:
        """A hardware problem appearing or going (a HardWiredNotification)."""
        address = Address("Connector", "AvailabilityState", evse=evse, connector=CONNECTOR)
        if address not in self.catalog:
            return
        problem = status == "Faulted" or error_code != "NoError"
        reported = self.problems.get(evse)
        # The state as of this change (the device model's event may come after).
        actual: Value = str(connector_status(status).value)
        if problem and reported != error_code:
            self.problems[evse] = error_code
            self._event(
                address,
                EventTriggerEnumType.alerting,
                actual,
                FAULT_SEVERITY,
                EventNotificationEnumType.hard_wired_notification,
                tech_code=error_code,
                cleared=False,
            )
        elif not problem and reported is not None:
            del self.problems[evse]
            self._event(
                address,
                EventTriggerEnumType.alerting,
                actual,
                FAULT_SEVERITY,
                EventNotificationEnumType.hard_wired_notification,
                tech_code=reported,
                cleared=True,
            )

    def _periodic(self, monitor_id: int) -> None:
        monitor = self.monitors.get(monitor_id)
        if monitor is None or not mon.active(monitor, self._base_now()):
            return
        if monitor.type is MonitorEnumType.periodic_clock_aligned:
            self._arm_one(monitor)  # one-shot: the next aligned time
        if self._watching(monitor):
            self._event(
                monitor.address,
                EventTriggerEnumType.periodic,
                self._value(monitor.address),
                monitor.severity,
                monitor.kind,
                monitor=monitor,
            )

    def _arm(self) -> None:
        """(Re)arm every active periodic monitor's timer, cancelling the old ones."""
        for timer in self.timers.values():
            self.ctx.cancel(timer)
        self.timers.clear()
        self.arming += 1
        for monitor in self._active():
            if not monitor.periodic:
                continue
            try:
                self._arm_one(monitor)
            except (ValueError, OverflowError):
                # One stored monitor the scheduler cannot take must not stop the rest.
                self.log.exception("monitor %d: no timer for period %g", monitor.id, monitor.value)

    def _arm_one(self, monitor: mon.Monitor) -> None:
        message = _Period(monitor.id, self.arming)
        if monitor.type is MonitorEnumType.periodic:
            self.timers[monitor.id] = self.ctx.call_every(monitor.value, self.actor_ref, message)
            return
        now = self.ctx.clock.wall()
        wait = (mon.next_aligned(now, monitor.value) - now).total_seconds()
        self.timers[monitor.id] = self.ctx.call_later(max(wait, 0.0), self.actor_ref, message)

    def _event(
        self,
        address: Address,
        trigger: EventTriggerEnumType,
        actual: Value | None,
        severity: int,
        kind: EventNotificationEnumType,
        *,
        monitor: mon.Monitor | None = None,
        tech_code: str | None = None,
        cleared: bool | None = None,
    ) -> None:
        """Queue the NotifyEvent, if it reports (see the module docstring)."""
        if not self._enabled() or severity > self._int(_LEVEL, 9):
            return
        if not self.online and not mon.kept_offline(severity, self._int(_OFFLINE_SEVERITY, 9)):
            self.log.info("offline: dropped the severity %d event of %s", severity, address)
            self.ctx.bus.publish(EventJudged(address, kind.value, severity, queued=False))
            return
        variable = self.catalog.get(address)
        text = ""
        if variable is not None and actual is not None:
            text = rules.to_wire(variable.spec.characteristics, actual)
        self.event_id += 1
        now = ocpp_timestamp(self.ctx.clock.wall())
        data = EventDataType(
            event_id=self.event_id,
            timestamp=now,
            trigger=trigger,
            actual_value=text[: v201_components.VALUE_SIZE],
            event_notification_type=kind,
            component=rules.component_type(address),
            variable=rules.variable_type(address),
            tech_code=None if tech_code is None else tech_code[:50],
            cleared=cleared,
            transaction_id=(
                self._transaction_of(monitor)
                if monitor is not None and monitor.transaction
                else None
            ),
            variable_monitoring_id=None if monitor is None else monitor.id,
        )
        payload = dump(call.NotifyEvent(generated_at=now, seq_no=0, event_data=[data]))
        action = "NotifyEvent"
        seq = self.ctx.storage().queue.push(action, payload, None).get(timeout=STORAGE_TIMEOUT)
        tell_stored(self.ctx, seq, action, payload)
        self.ctx.bus.publish(EventJudged(address, kind.value, severity, queued=True))
