"""OCPP 2.0.1 N Diagnostics, monitoring, as pure rules: which SetVariableMonitoring
is accepted (N04), which monitors trip for a change of value and what they
report (N07), which monitors a monitoring base keeps (N03), what
GetMonitoringReport selects (N02) and when a clock-aligned monitor fires next.

A monitor is `Monitor`: the variable it watches (an `Address` of the
station's catalog), its type, value, severity, transaction flag and kind
(EventNotificationEnumType: HardWiredMonitor, PreconfiguredMonitor,
CustomMonitor). Decisions worth knowing:

- SetVariableMonitoring is judged in this order: UnknownComponent (no
  variable of the component), UnknownVariable, Rejected for a severity
  outside 0-9, UnsupportedMonitorType for a threshold on a variable that is
  not a number (integer or decimal), then Rejected where the variable's
  characteristics make the monitor meaningless: a WriteOnly variable (its
  value may not be reported), a constant one with a threshold or delta (it
  never changes), an UpperThreshold at or above its maxLimit or a
  LowerThreshold at or below its minLimit (never crossed), a negative
  delta, a period under one second or over 31 days (a clock-aligned one:
  over a day). Then by id: an unknown id, a
  hard-wired monitor's, or one of another variable is Rejected; otherwise
  the id replaces that monitor. Duplicate: another monitor of the variable
  has the same type and severity. A new monitor's id is one above the
  highest in use (and never below `FIRST_CUSTOM_ID`).
- Thresholds (trigger Alerting): an UpperThreshold trips when the value
  rises above its value, a LowerThreshold when it falls below; each reports
  again with cleared true when the value is back. A value that is not a
  number (unset, say) is "not beyond".
- Delta (trigger Delta): a number trips when it differs from the reference
  by more than the monitor's value; anything else at any change. The
  reference is the value when the monitor was set (or the station
  started) and becomes the new value after each trip.
- Periodic monitors report every `value` seconds; PeriodicClockAligned at
  every multiple of `value` seconds after midnight (UTC, the station's
  clock) and at midnight itself.
- Monitoring bases: All keeps every monitor active; FactoryDefault restores
  the preconfigured monitors to their factory settings and removes the
  custom ones; HardWiredOnly removes the custom ones and leaves the
  preconfigured inactive until the next All or FactoryDefault. Hard-wired
  monitors are always active; none of them is stored.
- A monitor reports only while MonitoringCtrlr is Enabled and its severity
  is at or below ActiveMonitoringLevel; a transaction monitor only while a
  transaction runs (on its EVSE, when it watches one). Offline, an event is
  queued when its severity is at or below OfflineQueuingSeverity and
  dropped otherwise.

Pure: no I/O, no clock reads; `now` comes in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ocpp.v201.datatypes import (
    ComponentType,
    ComponentVariableType,
    MonitoringDataType,
    SetMonitoringDataType,
    SetMonitoringResultType,
    StatusInfoType,
    VariableMonitoringType,
)
from ocpp.v201.enums import (
    ClearMonitoringStatusEnumType,
    EventNotificationEnumType,
    EventTriggerEnumType,
    MonitorBaseEnumType,
    MonitorEnumType,
    MonitoringCriterionEnumType,
    SetMonitoringStatusEnumType,
)

from ocppstation.config.device_model import Address, DataType, Mutability
from ocppstation.config.v201_components import Value, Variable
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v201 import device_model as rules

__all__ = [
    "CUSTOM",
    "FIRST_CUSTOM_ID",
    "HARD_WIRED",
    "PRECONFIGURED",
    "Judged",
    "Monitor",
    "Trip",
    "active",
    "builtin",
    "clear_status",
    "component_of",
    "evaluate",
    "judge",
    "kept_offline",
    "monitoring_data",
    "next_aligned",
    "next_id",
    "rebased",
    "selected",
]

Catalog = Mapping[Address, Variable]

HARD_WIRED = EventNotificationEnumType.hard_wired_monitor
PRECONFIGURED = EventNotificationEnumType.preconfigured_monitor
CUSTOM = EventNotificationEnumType.custom_monitor
# Built-in monitors take the ids below this, so a custom one never collides
# with the built-ins of a station that gains EVSEs.
FIRST_CUSTOM_ID = 1000

# Severities of the built-in monitors (Part 2's levels: 0 Danger ... 9 Debug).
HARDWARE_FAILURE = 1
NOTICE = 7
INFORMATIONAL = 8
_PROBLEM = Address("ChargingStation", "Problem")

_THRESHOLDS = (MonitorEnumType.upper_threshold, MonitorEnumType.lower_threshold)
_PERIODIC = (MonitorEnumType.periodic, MonitorEnumType.periodic_clock_aligned)
_NUMBERS = (DataType.integer, DataType.decimal)
_CRITERIA: Mapping[MonitoringCriterionEnumType, tuple[MonitorEnumType, ...]] = {
    MonitoringCriterionEnumType.threshold_monitoring: _THRESHOLDS,
    MonitoringCriterionEnumType.delta_monitoring: (MonitorEnumType.delta,),
    MonitoringCriterionEnumType.periodic_monitoring: _PERIODIC,
}
_DAY = timedelta(days=1)
# The longest Periodic monitor taken (31 days): a longer one is a mistake.
LONGEST_PERIOD = 31 * 86400


@dataclass(frozen=True)
class Monitor:
    id: int
    address: Address
    type: MonitorEnumType
    value: float
    severity: int
    transaction: bool = False
    kind: EventNotificationEnumType = CUSTOM

    @property
    def periodic(self) -> bool:
        return self.type in _PERIODIC

    def stored(self) -> dict[str, Any]:
        """As the store keeps it (the wire's names), without its kind."""
        return {
            "id": self.id,
            "component": dump(rules.component_type(self.address)),
            "variable": dump(rules.variable_type(self.address)),
            "type": self.type.value,
            "value": self.value,
            "severity": self.severity,
            "transaction": self.transaction,
        }

    @classmethod
    def from_stored(cls, kind: str, raw: Mapping[str, Any]) -> Monitor | None:
        """A stored monitor, or None when it names no address."""
        wanted = rules.component_variable(raw)
        if wanted.variable is None:
            return None
        address = rules.address_of(wanted.component, wanted.variable)
        if address is None:
            return None
        return cls(
            int(raw["id"]),
            address,
            MonitorEnumType(raw["type"]),
            float(raw["value"]),
            int(raw["severity"]),
            bool(raw.get("transaction", False)),
            EventNotificationEnumType(kind),
        )

    def variable_monitoring(self) -> VariableMonitoringType:
        return VariableMonitoringType(
            id=self.id,
            transaction=self.transaction,
            value=self.value,
            type=self.type,
            severity=self.severity,
        )


def builtin(catalog: Catalog) -> tuple[list[Monitor], list[Monitor]]:
    """The station's hard-wired monitors and the factory settings of its
    preconfigured ones: (hard-wired, preconfigured), ids from 1.

    Hard-wired: every change of the station's Problem (a connector's
    hardware problem, severity 1) and of a connector's AvailabilityState.
    Preconfigured: every change of an EVSE's and of the station's
    AvailabilityState.
    """
    hard_wired: list[Monitor] = []
    preconfigured: list[Monitor] = []
    for address in catalog:
        if address == _PROBLEM:
            hard_wired.append(
                Monitor(0, address, MonitorEnumType.delta, 0, HARDWARE_FAILURE, kind=HARD_WIRED)
            )
        if address.variable != "AvailabilityState":
            continue
        if address.component == "Connector":
            hard_wired.append(
                Monitor(0, address, MonitorEnumType.delta, 0, NOTICE, kind=HARD_WIRED)
            )
        elif address.component in ("EVSE", "ChargingStation"):
            preconfigured.append(
                Monitor(0, address, MonitorEnumType.delta, 0, INFORMATIONAL, kind=PRECONFIGURED)
            )
    numbered = [replace(m, id=i) for i, m in enumerate([*hard_wired, *preconfigured], start=1)]
    assert len(numbered) < FIRST_CUSTOM_ID, "too many built-in monitors"
    return numbered[: len(hard_wired)], numbered[len(hard_wired) :]


# -- SetVariableMonitoring (N04) ----------------------------------------------


@dataclass(frozen=True)
class Judged:
    result: SetMonitoringResultType
    # The monitor to keep (Accepted), replacing any of its id.
    monitor: Monitor | None = None


def _component_known(catalog: Catalog, address: Address) -> bool:
    key = (address.component, address.component_instance, address.evse, address.connector)
    return any((a.component, a.component_instance, a.evse, a.connector) == key for a in catalog)


def _meaningless(variable: Variable, kind: MonitorEnumType, value: float) -> str | None:
    """Why a monitor of `kind` at `value` could never report `variable` usefully."""
    c = variable.spec.characteristics
    if variable.spec.mutability is Mutability.write_only:
        return "a WriteOnly variable's value is never reported"
    if not math.isfinite(value):
        return "the value is not a finite number"
    if kind in (*_THRESHOLDS, MonitorEnumType.delta) and variable.constant:
        return "the variable is constant"
    if kind is MonitorEnumType.upper_threshold and c.max_limit is not None and value >= c.max_limit:
        return f"the variable never exceeds its maxLimit {c.max_limit:g}"
    if kind is MonitorEnumType.lower_threshold and c.min_limit is not None and value <= c.min_limit:
        return f"the variable never goes below its minLimit {c.min_limit:g}"
    if kind is MonitorEnumType.delta and value < 0:
        return "a delta is not negative"
    if kind in _PERIODIC and value < 1:
        return "a period is one second or more"
    if kind is MonitorEnumType.periodic and value > LONGEST_PERIOD:
        return f"a period is at most {LONGEST_PERIOD} seconds"
    if kind is MonitorEnumType.periodic_clock_aligned and value > _DAY.total_seconds():
        return "a clock-aligned period is at most a day"
    return None


def judge(
    data: SetMonitoringDataType | Mapping[str, Any],
    catalog: Catalog,
    monitors: Mapping[int, Monitor],
    next_id: int,
) -> Judged:
    """One setMonitoringData's result (see the module docstring for the order);
    `next_id` is the id a new monitor gets."""
    if not isinstance(data, SetMonitoringDataType):
        data = _set_data(data)
    kind = MonitorEnumType(data.type)
    wanted = rules.component_variable({"component": data.component, "variable": data.variable})
    component, variable = wanted.component, wanted.variable
    assert variable is not None

    def answer(
        status: SetMonitoringStatusEnumType, why: str | None = None, given: int | None = None
    ) -> SetMonitoringResultType:
        info = None if why is None else StatusInfoType(reason_code="Rejected", additional_info=why)
        return SetMonitoringResultType(
            status=status,
            type=kind,
            severity=data.severity,
            component=component,
            variable=variable,
            id=given,
            status_info=info,
        )

    address = rules.address_of(component, variable)
    if address is None or not _component_known(catalog, address):
        return Judged(answer(SetMonitoringStatusEnumType.unknown_component))
    found = catalog.get(address)
    if found is None:
        return Judged(answer(SetMonitoringStatusEnumType.unknown_variable))
    rejected = SetMonitoringStatusEnumType.rejected
    if not 0 <= data.severity <= 9:
        return Judged(answer(rejected, "severity is 0 to 9"))
    if kind in _THRESHOLDS and found.spec.characteristics.data_type not in _NUMBERS:
        return Judged(answer(SetMonitoringStatusEnumType.unsupported_monitor_type))
    why = _meaningless(found, kind, float(data.value))
    if why is not None:
        return Judged(answer(rejected, why))
    existing = None if data.id is None else monitors.get(data.id)
    if data.id is not None:
        if existing is None:
            return Judged(answer(rejected, f"no monitor {data.id}"))
        if existing.kind is HARD_WIRED:
            return Judged(answer(rejected, "a hard-wired monitor cannot be changed"))
        if existing.address != address:
            return Judged(answer(rejected, f"monitor {data.id} watches another variable"))
    for other in monitors.values():
        same = (other.address, other.type, other.severity) == (address, kind, data.severity)
        if same and other.id != data.id:
            return Judged(answer(SetMonitoringStatusEnumType.duplicate))
    monitor = Monitor(
        data.id if data.id is not None else next_id,
        address,
        kind,
        float(data.value),
        int(data.severity),
        bool(data.transaction),
        CUSTOM if existing is None else existing.kind,
    )
    return Judged(answer(SetMonitoringStatusEnumType.accepted, given=monitor.id), monitor)


def _set_data(raw: Mapping[str, Any]) -> SetMonitoringDataType:
    return SetMonitoringDataType(
        value=raw["value"],
        type=raw["type"],
        severity=int(raw["severity"]),
        component=raw["component"],
        variable=raw["variable"],
        id=raw.get("id"),
        transaction=bool(raw.get("transaction", False)),
    )


def next_id(monitors: Iterable[Monitor]) -> int:
    return max([FIRST_CUSTOM_ID - 1, *(m.id for m in monitors)]) + 1


# -- ClearVariableMonitoring (N06) and SetMonitoringBase (N03) -----------------


def clear_status(monitor: Monitor | None) -> ClearMonitoringStatusEnumType:
    if monitor is None:
        return ClearMonitoringStatusEnumType.not_found
    if monitor.kind is not CUSTOM:
        return ClearMonitoringStatusEnumType.rejected
    return ClearMonitoringStatusEnumType.accepted


def active(monitor: Monitor, base: MonitorBaseEnumType | str) -> bool:
    """Whether `monitor` watches under the monitoring base `base`."""
    if monitor.kind is HARD_WIRED:
        return True
    return MonitorBaseEnumType(base) is not MonitorBaseEnumType.hard_wired_only


def rebased(
    base: MonitorBaseEnumType,
    monitors: Mapping[int, Monitor],
    factory: Iterable[Monitor],
) -> dict[int, Monitor]:
    """The monitors after SetMonitoringBase `base` (see the module docstring);
    `factory` are the preconfigured monitors' factory settings."""
    if base is MonitorBaseEnumType.all:
        return dict(monitors)
    kept = {i: m for i, m in monitors.items() if m.kind is not CUSTOM}
    if base is MonitorBaseEnumType.factory_default:
        kept.update({m.id: m for m in factory})
    return kept


# -- what trips (N07) -------------------------------------------------------------


@dataclass(frozen=True)
class Trip:
    trigger: EventTriggerEnumType
    cleared: bool = False


def _number(value: Value | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def evaluate(
    monitor: Monitor,
    old: Value | None,
    new: Value | None,
    reference: Value | None,
) -> tuple[Trip | None, Value | None]:
    """What a change from `old` to `new` trips of `monitor`, and its delta
    reference afterwards (`reference` is the one before)."""
    if monitor.type in _THRESHOLDS:
        if monitor.type is MonitorEnumType.upper_threshold:

            def beyond(v: float | None) -> bool:
                return v is not None and v > monitor.value
        else:

            def beyond(v: float | None) -> bool:
                return v is not None and v < monitor.value

        was, now = beyond(_number(old)), beyond(_number(new))
        if was == now:
            return None, reference
        return Trip(EventTriggerEnumType.alerting, cleared=was), reference
    if monitor.type is MonitorEnumType.delta:
        a, b = _number(reference), _number(new)
        # A number by more than the value; anything else at any change.
        moved = abs(b - a) > monitor.value if a is not None and b is not None else new != reference
        if moved:
            return Trip(EventTriggerEnumType.delta), new
        return None, reference
    return None, reference  # periodic monitors report on their timer


def kept_offline(severity: int, offline_queuing_severity: int) -> bool:
    return severity <= offline_queuing_severity


def next_aligned(now: datetime, interval: float) -> datetime:
    """When a PeriodicClockAligned monitor of `interval` seconds fires next after
    `now`: the next multiple of it after midnight, or the next midnight."""
    if interval <= 0:
        raise ValueError(f"an interval is positive, not {interval}")
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval >= _DAY.total_seconds():
        return day + _DAY
    elapsed = (now - day).total_seconds()
    at = day + timedelta(seconds=(math.floor(elapsed / interval) + 1) * interval)
    return min(at, day + _DAY)


# -- GetMonitoringReport (N02) ----------------------------------------------------


def selected(
    monitors: Iterable[Monitor],
    criteria: Iterable[MonitoringCriterionEnumType | str] | None,
    component_variables: Iterable[ComponentVariableType | Mapping[str, Any]] | None,
) -> list[Monitor]:
    """The monitors a GetMonitoringReport asks for, by id (criteria: any of them
    matching; componentVariable: any of them, what it leaves out is "any")."""
    types = None
    if criteria:
        types = {t for c in criteria for t in _CRITERIA[MonitoringCriterionEnumType(c)]}
    wanted = [rules.component_variable(c) for c in component_variables or ()]
    out = []
    for monitor in sorted(monitors, key=lambda m: m.id):
        if types is not None and monitor.type not in types:
            continue
        if wanted and not any(_asked_for(monitor.address, w) for w in wanted):
            continue
        out.append(monitor)
    return out


def _asked_for(address: Address, wanted: ComponentVariableType) -> bool:
    return rules._asked_for(address, wanted)  # GetReport's matching: the same rule


def monitoring_data(monitors: Sequence[Monitor]) -> list[MonitoringDataType]:
    """NotifyMonitoringReport's monitor entries: one per variable, in the order given."""
    grouped: dict[Address, list[Monitor]] = {}
    for monitor in monitors:
        grouped.setdefault(monitor.address, []).append(monitor)
    return [
        MonitoringDataType(
            component=rules.component_type(address),
            variable=rules.variable_type(address),
            variable_monitoring=[m.variable_monitoring() for m in group],
        )
        for address, group in grouped.items()
    ]


T = TypeVar("T")


def component_of(address: Address) -> ComponentType:
    return rules.component_type(address)
