"""OCPP 2.0.1 N monitoring: the pure rules (hypothesis) and the block end to end
against the dev CSMS and ocpp-rpc strict, over real websockets, in virtual time."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.v201.enums import MonitorBaseEnumType, MonitorEnumType

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import Online, TransactionStarted
from ocppstation.actors.runtime.supervisor import ChildRestarted
from ocppstation.actors.v201.monitoring import MONITORING, EventJudged
from ocppstation.config import v201_components
from ocppstation.config.device_model import Address
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v201 import device_model as dm
from ocppstation.protocol.v201 import monitoring as mon
from ocppstation.tools.csms import DevCsms, _command, _CommandError
from ocppstation.tools.peer import CallErrorResponse
from tests.conftest import StationFactory, answered, log_of, wait_status
from tests.test_v201_e2e import CP, any_csms201, charging, csms201, station201

__all__ = ["any_csms201", "csms201"]  # the 2.0.1 peers, as fixtures here

CATALOG = v201_components.catalog({1: 1, 2: 1})
HEARTBEAT = Address("OCPPCommCtrlr", "HeartbeatInterval")
NOW = datetime(2026, 1, 1, 12, 7, 30, tzinfo=UTC)


def monitor(
    kind: MonitorEnumType, value: float, severity: int = 5, id: int = 1000, **extra: Any
) -> mon.Monitor:
    return mon.Monitor(id, HEARTBEAT, kind, value, severity, **extra)


# -- the rules -----------------------------------------------------------------

_numbers = st.one_of(st.none(), st.integers(-50, 50))


@given(st.integers(-20, 20), st.lists(_numbers, min_size=1, max_size=12))
def test_a_threshold_trips_on_crossing_and_clears_when_back(
    limit: int, values: list[int | None]
) -> None:
    upper = monitor(MonitorEnumType.upper_threshold, limit)
    lower = monitor(MonitorEnumType.lower_threshold, limit)
    for m, beyond in ((upper, lambda v: v is not None and v > limit),
                      (lower, lambda v: v is not None and v < limit)):  # fmt: skip
        old: int | None = None
        cleared_last = True  # nothing tripped yet: as if cleared
        for new in values:
            trip, _ = mon.evaluate(m, old, new, None)
            crossed = beyond(old) != beyond(new)
            assert (trip is not None) == crossed
            if trip is not None:
                assert trip.trigger.value == "Alerting"
                # Trips and clears alternate, starting with a trip.
                assert trip.cleared == (not cleared_last)
                cleared_last = trip.cleared
            old = new


@given(st.integers(0, 10), st.integers(-50, 50), st.lists(st.integers(-50, 50), max_size=12))
def test_a_delta_trips_past_its_reference_and_moves_it(
    delta: int, start: int, values: list[int]
) -> None:
    m = monitor(MonitorEnumType.delta, delta)
    reference: Any = start
    old: Any = start
    for new in values:
        trip, after = mon.evaluate(m, old, new, reference)
        if trip is None:
            assert abs(new - reference) <= delta
            assert after == reference
        else:
            assert abs(new - reference) > delta
            assert trip.trigger.value == "Delta"
            assert after == new
        reference, old = after, new


def test_a_delta_on_text_trips_at_any_change() -> None:
    m = mon.Monitor(1, Address("ChargingStation", "AvailabilityState"), MonitorEnumType.delta, 0, 8)
    assert mon.evaluate(m, "Available", "Available", "Available") == (None, "Available")
    trip, reference = mon.evaluate(m, "Available", "Faulted", "Available")
    assert trip is not None and reference == "Faulted"


_moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@given(_moments, st.integers(1, 100_000))
def test_a_clock_aligned_time_is_the_next_multiple_after_midnight(
    now: datetime, interval: int
) -> None:
    at = mon.next_aligned(now, interval)
    assert now < at <= now + timedelta(seconds=interval)
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    since = (at - midnight).total_seconds()
    assert since % interval == 0  # a multiple, or midnight itself (0)
    if since == 0 and at - now < timedelta(seconds=interval):
        # Midnight came first: no multiple of the day before lay between.
        day_before = midnight - timedelta(days=1)
        elapsed = (now - day_before).total_seconds()
        assert (int(elapsed // interval) + 1) * interval >= 86400


_kinds = st.sampled_from([mon.HARD_WIRED, mon.PRECONFIGURED, mon.CUSTOM])
_monitors = st.builds(
    mon.Monitor,
    id=st.integers(1, 2000),
    address=st.sampled_from(list(CATALOG)),
    type=st.sampled_from(list(MonitorEnumType)),
    value=st.integers(0, 100).map(float),
    severity=st.integers(0, 9),
    transaction=st.booleans(),
    kind=_kinds,
)


@given(st.lists(_monitors, max_size=10), st.sampled_from(list(MonitorBaseEnumType)))
def test_what_each_monitoring_base_keeps(
    monitors: list[mon.Monitor], base: MonitorBaseEnumType
) -> None:
    _, factory = mon.builtin(CATALOG)
    before = {m.id: m for m in monitors}
    after = mon.rebased(base, before, factory)
    hard_wired = {i for i, m in before.items() if m.kind is mon.HARD_WIRED}
    assert hard_wired <= set(after)  # always kept
    assert all(mon.active(after[i], base) for i in hard_wired)
    if base is MonitorBaseEnumType.all:
        assert after == before
        return
    assert not any(m.kind is mon.CUSTOM for m in after.values())
    if base is MonitorBaseEnumType.factory_default:
        assert all(after[m.id] == m for m in factory)
    else:  # HardWiredOnly: the preconfigured stay, inactive
        assert not any(mon.active(m, base) for m in after.values() if m.kind is mon.PRECONFIGURED)


@given(
    st.lists(_monitors, max_size=10), st.sets(st.sampled_from(["Threshold", "Delta", "Periodic"]))
)
def test_a_report_selects_by_its_criteria(monitors: list[mon.Monitor], names: set[str]) -> None:
    criteria = [f"{n}Monitoring" for n in names]
    chosen = mon.selected({m.id: m for m in monitors}.values(), criteria, None)
    kinds = {
        "Threshold": {"UpperThreshold", "LowerThreshold"},
        "Delta": {"Delta"},
        "Periodic": {"Periodic", "PeriodicClockAligned"},
    }
    allowed = set().union(*(kinds[n] for n in names)) if names else None
    for m in chosen:
        assert allowed is None or m.type.value in allowed
    assert [m.id for m in chosen] == sorted(m.id for m in chosen)


@given(st.lists(st.integers(0, 10**6), max_size=30), st.integers(1, 5), st.integers(10, 60))
def test_pages_keep_every_item_in_order_within_the_limits(
    items: list[int], per: int, size: int
) -> None:
    paged = dm.pages(items, per, size, size=lambda n: len(str(n)))
    assert [i for page in paged for i in page] == items
    assert all(1 <= len(page) <= per for page in paged)
    for page in paged:
        used = 2 + sum(len(str(n)) for n in page) + len(page) - 1
        assert len(page) == 1 or used <= size


def data(
    variable: str = "HeartbeatInterval",
    kind: str = "UpperThreshold",
    value: float = 100,
    severity: int = 5,
    component: str = "OCPPCommCtrlr",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "value": value,
        "type": kind,
        "severity": severity,
        "component": {"name": component},
        "variable": {"name": variable},
        **extra,
    }


def test_set_variable_monitoring_is_judged_in_order() -> None:
    hard_wired, factory = mon.builtin(CATALOG)
    monitors = {m.id: m for m in [*hard_wired, *factory]}

    def status(raw: dict[str, Any], known: dict[int, mon.Monitor] = monitors) -> str:
        return mon.judge(raw, CATALOG, known, mon.next_id(known.values())).result.status.value

    assert status(data()) == "Accepted"
    assert status(data(component="NoSuchCtrlr")) == "UnknownComponent"
    assert status(data(variable="NoSuchVariable")) == "UnknownVariable"
    assert status(data(severity=10)) == "Rejected"
    assert status(data("TxStartPoint", component="TxCtrlr")) == "UnsupportedMonitorType"
    # Meaningless for the variable's characteristics:
    assert status(data("BasicAuthPassword", "Delta", 0, component="SecurityCtrlr")) == "Rejected"
    assert status(data("SupplyPhases", "Delta", 1, component="ChargingStation")) == "Rejected"
    assert status(data("SecurityProfile", value=3, component="SecurityCtrlr")) == "Rejected"
    assert status(data("SecurityProfile", value=2, component="SecurityCtrlr")) == "Accepted"
    assert status(data(kind="LowerThreshold", value=1)) == "Rejected"  # minLimit 1
    assert status(data(kind="Delta", value=-1)) == "Rejected"
    assert status(data(kind="Periodic", value=0)) == "Rejected"
    assert status(data(kind="Periodic", value=mon.LONGEST_PERIOD + 1)) == "Rejected"
    assert status(data(kind="PeriodicClockAligned", value=86401)) == "Rejected"
    # By id: unknown, hard-wired, another variable's; a preconfigured one may change.
    assert status(data(id=4242)) == "Rejected"
    assert status(data(id=hard_wired[0].id)) == "Rejected"
    evse = data("AvailabilityState", "Delta", 1, 3, component="EVSE")
    evse["component"]["evse"] = {"id": 1}
    [evse_1] = [m for m in factory if m.address.component == "EVSE" and m.address.evse == 1]
    assert status({**evse, "id": factory[0].id}) == "Rejected"  # the station's, not EVSE 1's
    assert status({**evse, "id": evse_1.id}) == "Accepted"
    judged = mon.judge(data(), CATALOG, monitors, mon.next_id(monitors.values()))
    assert judged.monitor is not None and judged.monitor.id == mon.FIRST_CUSTOM_ID
    known = {**monitors, judged.monitor.id: judged.monitor}
    assert status(data(), known) == "Duplicate"
    assert status(data(severity=4), known) == "Accepted"
    assert status(data(id=judged.monitor.id, value=120), known) == "Accepted"  # replaces


_addresses = st.sampled_from(list(CATALOG))


@given(
    st.lists(
        st.tuples(
            _addresses,
            st.sampled_from(list(MonitorEnumType)),
            st.integers(-5, 100),
            st.integers(-1, 10),
            st.one_of(st.none(), st.integers(1, 12), st.just(mon.FIRST_CUSTOM_ID)),
        ),
        max_size=8,
    )
)
def test_what_is_accepted_is_sound_and_never_a_duplicate(
    items: list[tuple[Address, MonitorEnumType, int, int, int | None]],
) -> None:
    hard_wired, factory = mon.builtin(CATALOG)
    monitors = {m.id: m for m in [*hard_wired, *factory]}
    for address, kind, value, severity, given_id in items:
        raw = {
            "value": value,
            "type": kind.value,
            "severity": severity,
            "component": dump(mon.component_of(address)),
            "variable": {"name": address.variable, "instance": address.variable_instance},
        }
        if given_id is not None:
            raw["id"] = given_id
        judged = mon.judge(raw, CATALOG, monitors, mon.next_id(monitors.values()))
        if judged.result.status.value != "Accepted":
            assert judged.monitor is None and judged.result.id is None
            continue
        m = judged.monitor
        assert m is not None and judged.result.id == m.id and m.address == address
        assert 0 <= m.severity <= 9 and m.kind is not mon.HARD_WIRED
        others = [o for o in monitors.values() if o.id != m.id]
        assert all((o.address, o.type, o.severity) != (address, kind, severity) for o in others)
        monitors[m.id] = m
    assert len({m.id for m in monitors.values()}) == len(monitors)


def test_only_custom_monitors_clear() -> None:
    hard_wired, factory = mon.builtin(CATALOG)
    assert mon.clear_status(None).value == "NotFound"
    assert mon.clear_status(hard_wired[0]).value == "Rejected"
    assert mon.clear_status(factory[0]).value == "Rejected"
    assert mon.clear_status(monitor(MonitorEnumType.delta, 1)).value == "Accepted"


# -- end to end ------------------------------------------------------------------


def set_variables(peer: Any, *items: tuple[str, str, str]) -> list[str]:
    payload = {
        "setVariableData": [
            {"component": {"name": c}, "variable": {"name": v}, "attributeValue": value}
            for c, v, value in items
        ]
    }
    results = peer.call(CP, "SetVariables", payload)["setVariableResult"]
    return [r["attributeStatus"] for r in results]


def monitoring_on(peer: Any, **variables: str) -> None:
    items = [("MonitoringCtrlr", "Enabled", "true")]
    items += [("MonitoringCtrlr", k, v) for k, v in variables.items()]
    assert set_variables(peer, *items) == ["Accepted"] * len(items)


def set_monitors(peer: Any, *items: dict[str, Any]) -> list[dict[str, Any]]:
    answer = peer.call(CP, "SetVariableMonitoring", {"setMonitoringData": list(items)})
    return list(answer["setMonitoringResult"])


def notified(peer: Any, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Every event of the NotifyEvents the CSMS has heard, once `count` have come."""

    def all_events() -> list[dict[str, Any]]:
        return [e for c in peer.calls("NotifyEvent") for e in c.payload["eventData"]]

    peer.wait_for(lambda _: len(all_events()) >= count, timeout=timeout)
    return all_events()


def reported(peer: Any, request_id: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The NotifyMonitoringReports of `request_id`, once the last (tbc false) came."""

    def pages() -> list[dict[str, Any]]:
        return [
            c.payload
            for c in peer.calls("NotifyMonitoringReport")
            if c.payload["requestId"] == request_id
        ]

    peer.wait_for(lambda _: any(not p.get("tbc", False) for p in pages()), timeout=timeout)
    return sorted(pages(), key=lambda p: p["seqNo"])


def report_ids(peer: Any, request_id: int, **criteria: Any) -> list[int]:
    answer = peer.call(CP, "GetMonitoringReport", {"requestId": request_id, **criteria})
    if answer["status"] != "Accepted":
        return []
    return [
        m["id"]
        for page in reported(peer, request_id)
        for entry in page["monitor"]
        for m in entry["variableMonitoring"]
    ]


def test_n04_n02_n06_set_report_and_clear(any_csms201: Any, make_station: StationFactory) -> None:
    station201(any_csms201, make_station)
    monitoring_on(any_csms201)
    results = set_monitors(
        any_csms201,
        data(),
        data(kind="Delta", value=10, severity=6),
        data(component="NoSuchCtrlr"),
        data(variable="NoSuchVariable"),
        data("TxStartPoint", component="TxCtrlr"),
        data("BasicAuthPassword", "Delta", 0, component="SecurityCtrlr"),
        data(),  # the first again
    )
    statuses = [r["status"] for r in results]
    assert statuses == [
        "Accepted",
        "Accepted",
        "UnknownComponent",
        "UnknownVariable",
        "UnsupportedMonitorType",
        "Rejected",
        "Duplicate",
    ]
    first, second = results[0]["id"], results[1]["id"]
    assert (first, second) == (mon.FIRST_CUSTOM_ID, mon.FIRST_CUSTOM_ID + 1)
    # The same id replaces.
    [replaced] = set_monitors(any_csms201, data(value=120, id=first))
    assert replaced["status"] == "Accepted" and replaced["id"] == first

    criteria = {"monitoringCriteria": ["ThresholdMonitoring"]}
    assert report_ids(any_csms201, 1, **criteria) == [first]
    [page] = reported(any_csms201, 1)
    [entry] = page["monitor"]
    assert entry["variable"] == {"name": "HeartbeatInterval"}
    assert entry["variableMonitoring"][0]["value"] == 120
    wanted = {"componentVariable": [{"component": {"name": "OCPPCommCtrlr"}}]}
    assert report_ids(any_csms201, 2, **wanted) == [first, second]
    hard_wired = report_ids(any_csms201, 3, monitoringCriteria=["DeltaMonitoring"])
    assert second in hard_wired and min(hard_wired) == 1
    nothing = {"requestId": 4, "componentVariable": [{"component": {"name": "ReservationCtrlr"}}]}
    assert any_csms201.call(CP, "GetMonitoringReport", nothing) == {"status": "EmptyResultSet"}

    answer = any_csms201.call(CP, "ClearVariableMonitoring", {"id": [first, 1, 4242]})
    assert [(r["id"], r["status"]) for r in answer["clearMonitoringResult"]] == [
        (first, "Accepted"),
        (1, "Rejected"),  # hard-wired
        (4242, "NotFound"),
    ]
    assert report_ids(any_csms201, 5, **criteria) == []


def test_n07_thresholds_and_delta_trip_and_clear(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    assert set_variables(csms201, ("OCPPCommCtrlr", "HeartbeatInterval", "60")) == ["Accepted"]
    monitoring_on(csms201)
    upper, delta = set_monitors(csms201, data(value=100), data(kind="Delta", value=30, severity=6))
    assert set_variables(csms201, ("OCPPCommCtrlr", "HeartbeatInterval", "80")) == ["Accepted"]
    assert set_variables(csms201, ("OCPPCommCtrlr", "HeartbeatInterval", "150")) == ["Accepted"]
    events = notified(csms201, 2)
    assert [(e["variableMonitoringId"], e["trigger"], e["actualValue"]) for e in events] == [
        (upper["id"], "Alerting", "150"),
        (delta["id"], "Delta", "150"),  # 90 from the reference, 60
    ]
    assert events[0]["cleared"] is False
    assert all(e["eventNotificationType"] == "CustomMonitor" for e in events)
    assert events[0]["component"] == {"name": "OCPPCommCtrlr"}
    # Back below: cleared; 150 -> 130 is within the delta of the new reference.
    assert set_variables(csms201, ("OCPPCommCtrlr", "HeartbeatInterval", "130")) == ["Accepted"]
    assert set_variables(csms201, ("OCPPCommCtrlr", "HeartbeatInterval", "90")) == ["Accepted"]
    events = notified(csms201, 4)[2:]
    assert [(e["variableMonitoringId"], e["trigger"], e.get("cleared")) for e in events] == [
        (upper["id"], "Alerting", True),
        (delta["id"], "Delta", None),  # 60 from 150
    ]
    assert len({e["eventId"] for e in notified(csms201, 4)}) == 4


def test_n07_periodic_and_clock_aligned_monitors_report_on_the_stations_clock(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    monitoring_on(csms201)
    now = clock.wall()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    to_aligned = (mon.next_aligned(now, 900) - now).total_seconds()
    # The periodic one's first report comes a minute after the aligned one's.
    period = math.ceil(to_aligned) + 60
    periodic, aligned = set_monitors(
        csms201, data(kind="Periodic", value=period), data(kind="PeriodicClockAligned", value=900)
    )
    clock.advance(to_aligned)
    events = notified(csms201, 1)
    assert [e["variableMonitoringId"] for e in events] == [aligned["id"]]
    assert events[0]["trigger"] == "Periodic"
    stamp = datetime.fromisoformat(events[0]["timestamp"].replace("Z", "+00:00"))
    assert (stamp - midnight).total_seconds() % 900 == 0
    answered(station, "NotifyEvent")  # before the clock moves past its timeout
    clock.advance(period - to_aligned)
    events = notified(csms201, 2)
    assert events[1]["variableMonitoringId"] == periodic["id"]
    assert events[1]["actualValue"] == "300"  # HeartbeatInterval as it is
    # Cleared: no more. A delta's event after the time is the last in the queue.
    csms201.call(CP, "ClearVariableMonitoring", {"id": [periodic["id"], aligned["id"]]})
    answered(station, "NotifyEvent", 2)
    clock.advance(1800)
    [delta] = set_monitors(csms201, data(kind="Delta", value=0))
    assert set_variables(csms201, ("OCPPCommCtrlr", "HeartbeatInterval", "301")) == ["Accepted"]
    events = notified(csms201, 3)
    assert [e["variableMonitoringId"] for e in events[2:]] == [delta["id"]]


def test_n05_n03_level_and_base(csms201: DevCsms, make_station: StationFactory) -> None:
    station201(csms201, make_station)
    monitoring_on(csms201)
    assert csms201.call(CP, "SetMonitoringLevel", {"severity": 10}) == {"status": "Rejected"}
    assert csms201.call(CP, "SetMonitoringLevel", {"severity": 5}) == {"status": "Accepted"}
    loud, quiet = set_monitors(
        csms201, data(kind="Delta", value=0, severity=5), data(kind="Delta", value=0, severity=6)
    )
    assert set_variables(csms201, ("OCPPCommCtrlr", "HeartbeatInterval", "77")) == ["Accepted"]
    events = notified(csms201, 1)
    assert [e["variableMonitoringId"] for e in events] == [loud["id"]]
    get = {
        "getVariableData": [
            {
                "component": {"name": "MonitoringCtrlr"},
                "variable": {"name": "ActiveMonitoringLevel"},
            }
        ]
    }
    [level] = csms201.call(CP, "GetVariables", get)["getVariableResult"]
    assert level["attributeValue"] == "5"

    # A preconfigured monitor changed by the CSMS: FactoryDefault restores it.
    station_state = {
        "component": {"name": "ChargingStation"},
        "variable": {"name": "AvailabilityState"},
    }
    before = report_ids(csms201, 1, componentVariable=[station_state])
    [preconfigured] = before
    change = data("AvailabilityState", "Delta", 0, 2, component="ChargingStation")
    [changed] = set_monitors(csms201, {**change, "id": preconfigured})
    assert changed["status"] == "Accepted"
    answer = csms201.call(CP, "SetMonitoringBase", {"monitoringBase": "HardWiredOnly"})
    assert answer == {"status": "Accepted"}
    ids = report_ids(csms201, 2)
    assert loud["id"] not in ids and quiet["id"] not in ids and preconfigured not in ids
    assert 1 in ids  # hard-wired
    assert csms201.call(CP, "SetMonitoringBase", {"monitoringBase": "FactoryDefault"}) == {
        "status": "Accepted"
    }
    assert report_ids(csms201, 3, componentVariable=[station_state]) == [preconfigured]
    [page] = reported(csms201, 3)
    assert page["monitor"][0]["variableMonitoring"][0]["severity"] == 8  # its factory severity
    get["getVariableData"][0]["variable"]["name"] = "ActiveMonitoringBase"
    [base] = csms201.call(CP, "GetVariables", get)["getVariableResult"]
    assert base["attributeValue"] == "FactoryDefault"


def test_n04_n06_more_items_than_the_station_takes_is_a_callerror(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    too_many = [data(severity=s % 10, value=100 + s) for s in range(101)]
    with pytest.raises(CallErrorResponse) as error:
        set_monitors(csms201, *too_many)
    assert error.value.code == "OccurenceConstraintViolation"  # 2.0.1 spells it so
    with pytest.raises(CallErrorResponse) as error:
        csms201.call(CP, "ClearVariableMonitoring", {"id": list(range(101))})
    assert error.value.code == "OccurenceConstraintViolation"  # 2.0.1 spells it so
    # 100 items fit; a request past BytesPerMessage (64 KiB) does not.
    huge = [{**data(), "component": {"name": "z" * 50, "instance": "i" * 50}} for _ in range(100)]
    for item in huge:
        item["variable"] = {"name": "v" * 50, "instance": "w" * 50}
        item["customData"] = {"vendorId": "v", "pad": "p" * 500}
    with pytest.raises(CallErrorResponse) as error:
        set_monitors(csms201, *huge)
    assert error.value.code == "FormatViolation"  # 2.0.1: 1.6's FormationViolation


def test_n07_a_fault_is_a_hard_wired_notification_cleared_when_it_goes(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    monitoring_on(any_csms201)
    station.fault(1, "GroundFailure")
    wait_status(station, 1, "Faulted")
    # The station's AvailabilityState stays Available: EVSE 2 is.
    events = notified(any_csms201, 4)
    fault = [e for e in events if e["eventNotificationType"] == "HardWiredNotification"]
    assert len(fault) == 1
    assert fault[0]["trigger"] == "Alerting"
    assert fault[0]["techCode"] == "GroundFailure"
    assert fault[0]["cleared"] is False
    assert fault[0]["component"] == {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    assert fault[0]["variable"] == {"name": "AvailabilityState"}
    deltas = {
        (e["component"]["name"], e["eventNotificationType"]): e["actualValue"]
        for e in events
        if e["trigger"] == "Delta"
    }
    assert deltas[("Connector", "HardWiredMonitor")] == "Faulted"
    assert deltas[("EVSE", "PreconfiguredMonitor")] == "Faulted"
    assert deltas[("ChargingStation", "HardWiredMonitor")] == "true"  # its Problem
    station.clear(1)
    wait_status(station, 1, "Available")
    events = notified(any_csms201, 8)
    cleared = [e for e in events if e.get("cleared") is True]
    assert [e["techCode"] for e in cleared] == ["GroundFailure"]
    assert cleared[0]["actualValue"] == "Available"


def test_n07_offline_events_are_queued_by_severity(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    # Notice (7) and worse are kept; the preconfigured monitors (8) are not.
    monitoring_on(csms201, OfflineQueuingSeverity="7")
    csms201.drop(CP)
    log_of(station).wait_for(lambda e: isinstance(e, Online) and not e.online, timeout=5)
    station.fault(2, "HighTemperature")
    wait_status(station, 2, "Faulted")
    judged: list[EventJudged] = []

    def seen(e: object) -> bool:
        if isinstance(e, EventJudged):
            judged.append(e)
        return len(judged) >= 4

    log_of(station).wait_for(seen, timeout=5)
    assert sorted((j.kind, j.queued) for j in judged) == [
        ("HardWiredMonitor", True),  # the connector's AvailabilityState
        ("HardWiredMonitor", True),  # the station's Problem
        ("HardWiredNotification", True),
        ("PreconfiguredMonitor", False),  # severity 8
    ]
    clock.advance(5)  # the reconnect backoff
    events = notified(csms201, 3)
    kinds = sorted(e["eventNotificationType"] for e in events)
    assert kinds == ["HardWiredMonitor", "HardWiredMonitor", "HardWiredNotification"]
    assert all(e["component"].get("evse", {"id": 2})["id"] == 2 for e in events)


def test_n04_monitors_survive_a_restart(
    csms201: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    data_dir = {"DataDir": str(tmp_path)}
    station = station201(csms201, make_station, Internal=data_dir)
    monitoring_on(csms201)
    [kept] = set_monitors(csms201, data(kind="Delta", value=5))
    # A preconfigured monitor the CSMS changed keeps the change too.
    station_state = {
        "component": {"name": "ChargingStation"},
        "variable": {"name": "AvailabilityState"},
    }
    [preconfigured] = report_ids(csms201, 1, componentVariable=[station_state])
    change = data("AvailabilityState", "Delta", 0, 3, component="ChargingStation")
    assert set_monitors(csms201, {**change, "id": preconfigured})[0]["status"] == "Accepted"
    station.stop()
    station201(csms201, make_station, Internal=data_dir)
    criteria = {"monitoringCriteria": ["DeltaMonitoring"]}
    assert kept["id"] in report_ids(csms201, 2, **criteria)

    def station_severity(request_id: int) -> int:
        assert report_ids(csms201, request_id, componentVariable=[station_state])
        [page] = reported(csms201, request_id)
        return int(page["monitor"][0]["variableMonitoring"][0]["severity"])

    assert station_severity(3) == 3
    # Still enabled and watching after the restart.
    assert set_variables(csms201, ("OCPPCommCtrlr", "HeartbeatInterval", "400")) == ["Accepted"]
    [event] = [e for e in notified(csms201, 1) if e.get("variableMonitoringId") == kept["id"]]
    assert event["actualValue"] == "400"
    # FactoryDefault: the custom one gone, the preconfigured one as it was made.
    answer = csms201.call(CP, "SetMonitoringBase", {"monitoringBase": "FactoryDefault"})
    assert answer == {"status": "Accepted"}
    assert station_severity(4) == 8
    assert kept["id"] not in report_ids(csms201, 5, **criteria)


def test_n04_a_transaction_monitor_reports_only_while_one_runs(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    monitoring_on(csms201)
    bound, always = set_monitors(
        csms201,
        data(kind="Delta", value=0, severity=4, transaction=True),
        data(kind="Delta", value=0, severity=5),
    )

    def heartbeat(value: str) -> None:
        assert set_variables(csms201, ("OCPPCommCtrlr", "HeartbeatInterval", value)) == ["Accepted"]

    def of(monitor: dict[str, Any], value: str) -> list[dict[str, Any]]:
        """The monitor's events, once one reported `value`."""

        def mine() -> list[dict[str, Any]]:
            events = [e for c in csms201.calls("NotifyEvent") for e in c.payload["eventData"]]
            return [e for e in events if e.get("variableMonitoringId") == monitor["id"]]

        csms201.wait_for(lambda _: any(e["actualValue"] == value for e in mine()), timeout=5)
        return mine()

    heartbeat("61")  # no transaction: only the other one reports
    assert [e["actualValue"] for e in of(always, "61")] == ["61"]
    tx_id = charging(station, csms201)
    # Published once the connector has it: the block hears it before the next change.
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
    heartbeat("62")
    assert [e["actualValue"] for e in of(always, "62")] == ["61", "62"]
    # In order through the outbox: the transaction monitor's came before.
    assert [(e["actualValue"], e["transactionId"]) for e in of(bound, "62")] == [("62", tx_id)]
    assert "transactionId" not in of(always, "62")[-1]


def test_n_a_restarted_monitoring_block_keeps_its_monitors_and_watches_on(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    monitoring_on(csms201)
    [kept] = set_monitors(csms201, data(kind="Delta", value=0))
    station.crash(MONITORING)
    log_of(station).wait_for(
        lambda e: isinstance(e, ChildRestarted) and e.path == MONITORING, timeout=10
    )
    assert set_variables(csms201, ("OCPPCommCtrlr", "HeartbeatInterval", "123")) == ["Accepted"]
    [event] = notified(csms201, 1)
    assert (event["variableMonitoringId"], event["actualValue"]) == (kept["id"], "123")


def test_n_the_dev_csms_console_sets_reports_and_clears_monitors(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    # Disabled (the default): no report.
    assert _command(csms201, f"monitors {CP}") == 'ok {"status":"Rejected"}'
    monitoring_on(csms201)
    answer = str(_command(csms201, f"monitor {CP} OCPPCommCtrlr.HeartbeatInterval Delta 5 4"))
    assert answer.startswith('ok {"setMonitoringResult":[{"status":"Accepted"')
    assert _command(csms201, f"monitors {CP} DeltaMonitoring") == 'ok {"status":"Accepted"}'
    page = csms201.wait_for(lambda e: e.kind == "call" and e.action == "NotifyMonitoringReport")
    ids = [m["id"] for entry in page.payload["monitor"] for m in entry["variableMonitoring"]]
    assert mon.FIRST_CUSTOM_ID in ids
    answer = str(_command(csms201, f"unmonitor {CP} {mon.FIRST_CUSTOM_ID}"))
    assert '"status":"Accepted"' in answer
    with pytest.raises(_CommandError):
        _command(csms201, f"monitor {CP} OCPPCommCtrlr.HeartbeatInterval Delta")


def test_g_a_change_of_availability_is_a_notify_event_of_its_availability_state(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    monitoring_on(csms201)
    answer = csms201.call(
        CP, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    )
    assert answer["status"] == "Accepted"
    wait_status(station, 1, "Unavailable")
    events = notified(csms201, 2)
    deltas = {
        (e["component"]["name"], e["eventNotificationType"]): e["actualValue"]
        for e in events
        if e["trigger"] == "Delta" and e["variable"] == {"name": "AvailabilityState"}
    }
    assert deltas[("Connector", "HardWiredMonitor")] == "Unavailable"
    assert deltas[("EVSE", "PreconfiguredMonitor")] == "Unavailable"
