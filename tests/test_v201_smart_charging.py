"""OCPP 2.0.1 K Smart charging end to end over real websockets, in virtual time,
and property-based tests of the 2.0.1 <-> 1.6 rules mapping.

Named after the Part 2 use cases they follow (K01 SetChargingProfile, K05
RequestStartTransaction with a TxProfile, K08 GetCompositeSchedule, K09
GetChargingProfiles, K10 ClearChargingProfile). The offered current is the
board's (`hardware[n].offered_a`), as in tests/test_smart_charging_e2e.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import LimitChanged
from ocppstation.actors.runtime.context import PROFILES
from ocppstation.actors.station import Station
from ocppstation.actors.v201.smart_charging import ExternalLimit
from ocppstation.protocol.v16.smart_charging import (
    ChargingProfile,
    ChargingSchedule,
    Kind,
    Limit,
    Purpose,
    Recurrency,
    SchedulePeriod,
    Session,
    Unit,
    composite_schedule,
    parse_profile,
)
from ocppstation.protocol.v201 import smart_charging as k
from ocppstation.tools.csms import CallErrorResponse, DevCsms
from tests import test_v201_e2e as e2e
from tests.conftest import StationFactory, answered, log_of, wait_status
from tests.test_v201_e2e import CP, charging, station201, wait_event

# The 2.0.1 peers, shared with the other 2.0.1 tests.
csms201 = e2e.csms201
any_csms201 = e2e.any_csms201


def profile(
    pid: int,
    purpose: str,
    periods: Sequence[tuple[int, float]],
    *,
    kind: str = "Relative",
    stack: int = 0,
    unit: str = "A",
    **extra: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "id": pid,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
    }
    for key in ("startSchedule", "duration"):
        if key in extra:
            schedule[key] = extra.pop(key)
    return {
        "id": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **extra,
    }


def set_profile(peer: Any, evse: int, data: dict[str, Any]) -> dict[str, Any]:
    return dict(peer.call(CP, "SetChargingProfile", {"evseId": evse, "chargingProfile": data}))


def composite(peer: Any, evse: int, duration: int, unit: str | None = "A") -> dict[str, Any]:
    payload: dict[str, Any] = {"evseId": evse, "duration": duration}
    if unit is not None:
        payload["chargingRateUnit"] = unit
    return dict(peer.call(CP, "GetCompositeSchedule", payload))


def periods(answer: dict[str, Any]) -> list[tuple[int, float]]:
    return [(p["startPeriod"], p["limit"]) for p in answer["schedule"]["chargingSchedulePeriod"]]


def offered(station: Station, evse: int, amps: float, since: int = 0) -> None:
    """Wait until the board of `evse` offers `amps` (or already does)."""
    if station.hardware[evse].offered_a == amps:
        return
    log_of(station).wait_for(
        lambda e: isinstance(e, LimitChanged) and (e.evse, e.amps) == (evse, amps), 5, since
    )


def reports_since(peer: Any, mark: int) -> list[dict[str, Any]]:
    return [
        e.payload
        for e in peer.log.entries(mark)
        if e.kind == "call" and e.action == "ReportChargingProfiles"
    ]


def events201(peer: Any) -> list[dict[str, Any]]:
    return [e for e in e2e.events(peer) if e["eventType"] == "Started"]


def iso(station: Station, seconds: float = 0) -> str:
    moment = station.clock.wall() + timedelta(seconds=seconds)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# -- K01 SetChargingProfile ---------------------------------------------------------------


def test_k01_a_tx_default_profile_limits_the_offer_and_the_composite(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    assert set_profile(any_csms201, 0, profile(1, "TxDefaultProfile", [(0, 16)])) == {
        "status": "Accepted"
    }
    offered(station, 1, 16.0)
    offered(station, 2, 16.0)
    answer = composite(any_csms201, 1, 600)
    assert answer["status"] == "Accepted"
    schedule = answer["schedule"]
    assert (schedule["evseId"], schedule["duration"], schedule["chargingRateUnit"]) == (1, 600, "A")
    assert periods(answer) == [(0, 16.0)]


def test_k01_a_tx_profile_for_the_running_transaction(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    tx = charging(station, any_csms201)
    assert station.hardware[1].offered_a == 32.0
    mark = log_of(station).mark()
    limited = profile(2, "TxProfile", [(0, 10)], transactionId=tx)
    assert set_profile(any_csms201, 1, limited) == {"status": "Accepted"}
    offered(station, 1, 10.0, mark)
    assert periods(composite(any_csms201, 1, 60)) == [(0, 10.0)]
    # K01: a TxProfile lives as long as its transaction.
    mark = log_of(station).mark()
    station.tag(1, "TAG-1")
    wait_event(any_csms201, "Ended")
    offered(station, 1, 32.0, mark)
    assert composite(any_csms201, 1, 60)["schedule"]["chargingSchedulePeriod"][0]["limit"] == 32.0


def test_k01_tx_profiles_the_station_must_refuse(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    no_tx = set_profile(csms201, 1, profile(3, "TxProfile", [(0, 10)], transactionId="nope"))
    assert no_tx["status"] == "Rejected"
    assert no_tx["statusInfo"]["reasonCode"] == "TxNotFound"  # K01.FR.09
    tx = charging(station, csms201)
    other = set_profile(csms201, 1, profile(3, "TxProfile", [(0, 10)], transactionId=tx[:-1] + "x"))
    assert other["statusInfo"]["reasonCode"] == "TxNotFound"  # K01.FR.33
    missing = set_profile(csms201, 1, profile(3, "TxProfile", [(0, 10)]))
    assert missing["statusInfo"]["reasonCode"] == "MissingParam"  # K01.FR.03
    on_zero = set_profile(csms201, 0, profile(3, "TxProfile", [(0, 10)], transactionId=tx))
    assert on_zero["statusInfo"]["reasonCode"] == "InvalidValue"  # K01.FR.16
    assert station.hardware[1].offered_a == 32.0


def test_k01_what_a_careful_station_refuses(csms201: DevCsms, make_station: StationFactory) -> None:
    station = station201(csms201, make_station)

    def reason(evse: int, data: dict[str, Any]) -> str:
        answer = set_profile(csms201, evse, data)
        assert answer["status"] == "Rejected", answer
        return str(answer["statusInfo"]["reasonCode"])

    absolute: dict[str, Any] = {"kind": "Absolute", "startSchedule": iso(station)}
    assert reason(1, profile(1, "ChargingStationMaxProfile", [(0, 16)], **absolute)) == (
        "InvalidValue"
    )
    assert reason(0, profile(1, "ChargingStationMaxProfile", [(0, 16)])) == "InvalidSchedule"
    assert reason(0, profile(1, "ChargingStationExternalConstraints", [(0, 16)], **absolute)) == (
        "UnsupportedPurpose"
    )
    assert reason(0, profile(1, "TxDefaultProfile", [(0, 16)], stack=11)) == "InvalidStackLevel"
    many = [(60 * i, 16) for i in range(97)]  # PeriodsPerSchedule is 96
    assert reason(0, profile(1, "TxDefaultProfile", many)) == "InvalidSchedule"
    assert reason(3, profile(1, "TxDefaultProfile", [(0, 16)])) == "InvalidValue"
    phased = profile(1, "TxDefaultProfile", [(0, 16)])
    phased["chargingSchedule"][0]["chargingSchedulePeriod"][0] |= {
        "numberPhases": 1,
        "phaseToUse": 2,
    }
    assert reason(1, phased) == "InvalidSchedule"  # ACPhaseSwitchingSupported is false
    # K01.FR.06: the place of another profile (EVSE, purpose, stack level) is taken.
    assert set_profile(csms201, 1, profile(1, "TxDefaultProfile", [(0, 16)]))["status"] == (
        "Accepted"
    )
    assert reason(1, profile(2, "TxDefaultProfile", [(0, 8)])) == "DuplicateProfile"
    # K01.FR.53: nor may a station-wide one share an EVSE's level.
    assert reason(0, profile(2, "TxDefaultProfile", [(0, 8)])) == "DuplicateProfile"
    # K01.FR.05: its own id replaces it.
    assert set_profile(csms201, 1, profile(1, "TxDefaultProfile", [(0, 8)]))["status"] == (
        "Accepted"
    )
    offered(station, 1, 8.0)
    assert station.hardware[2].offered_a == 32.0


def test_k01_the_station_maximum_is_shared_in_watts(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    cap = profile(
        9,
        "ChargingStationMaxProfile",
        [(0, 13800)],  # 20 A x 230 V x 3 phases
        kind="Absolute",
        unit="W",
        startSchedule=iso(station),
    )
    assert set_profile(csms201, 0, cap) == {"status": "Accepted"}
    charging(station, csms201, 1)
    offered(station, 1, 20.0)
    mark = log_of(station).mark()
    charging(station, csms201, 2, "TAG-2")
    offered(station, 2, 10.0, mark)
    assert station.hardware[1].offered_a == 10.0
    assert periods(composite(csms201, 0, 60, "W")) == [(0, 13800.0)]


def test_k01_the_limit_follows_period_boundaries_in_virtual_time(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    stepped = profile(4, "TxDefaultProfile", [(0, 16), (300, 8)], kind="Absolute")
    stepped["chargingSchedule"][0]["startSchedule"] = iso(station)
    assert set_profile(csms201, 1, stepped)["status"] == "Accepted"
    offered(station, 1, 16.0)
    mark = log_of(station).mark()
    clock.advance(300)
    offered(station, 1, 8.0, mark)


# -- K05 RequestStartTransaction with a TxProfile -------------------------------------------


def test_k05_remote_start_with_a_tx_profile(any_csms201: Any, make_station: StationFactory) -> None:
    station = station201(any_csms201, make_station)
    for evse, limit in ((1, 12), (2, 9)):
        request = {
            "idToken": {"idToken": f"REMOTE-{evse}", "type": "Central"},
            "remoteStartId": 6 + evse,
            "evseId": evse,
            # The same stack level on both: each belongs to its own transaction.
            "chargingProfile": profile(4 + evse, "TxProfile", [(0, limit)]),
        }
        assert any_csms201.call(CP, "RequestStartTransaction", request)["status"] == "Accepted"
        station.plug(evse)
        wait_event(any_csms201, "Started", evse)
        wait_status(station, evse, "Charging")
        offered(station, evse, float(limit))
    assert periods(composite(any_csms201, 1, 60)) == [(0, 12.0)]
    started = {
        e["evse"]["id"]: e["transactionInfo"]["transactionId"] for e in events201(any_csms201)
    }
    mark = any_csms201.log.mark()
    criteria = {"requestId": 9, "chargingProfile": {"chargingProfilePurpose": "TxProfile"}}
    assert any_csms201.call(CP, "GetChargingProfiles", criteria) == {"status": "Accepted"}
    any_csms201.wait_for(lambda _: len(reports_since(any_csms201, mark)) >= 2, timeout=5)
    named = {
        r["evseId"]: [p.get("transactionId") for p in r["chargingProfile"]]
        for r in reports_since(any_csms201, mark)
    }
    assert named == {1: [started[1]], 2: [started[2]]}


def test_k05_remote_start_with_another_purpose_is_rejected(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    request = {
        "idToken": {"idToken": "REMOTE", "type": "Central"},
        "remoteStartId": 8,
        "evseId": 1,
        "chargingProfile": profile(5, "TxDefaultProfile", [(0, 12)]),
    }
    assert csms201.call(CP, "RequestStartTransaction", request)["status"] == "Rejected"


# -- K08 GetCompositeSchedule -----------------------------------------------------------------


def test_k08_composite_for_the_station_and_an_unknown_evse(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    assert set_profile(csms201, 2, profile(1, "TxDefaultProfile", [(0, 10)]))["status"] == (
        "Accepted"
    )
    # EVSE 1 has no profile: its rated 32 A counts, and the station is unlimited.
    assert periods(composite(csms201, 0, 120)) == [(0, 64.0)]
    assert set_profile(csms201, 1, profile(2, "TxDefaultProfile", [(0, 14)]))["status"] == (
        "Accepted"
    )
    whole = composite(csms201, 0, 120)
    assert whole["schedule"]["evseId"] == 0 and periods(whole) == [(0, 24.0)]
    assert composite(csms201, 3, 60)["status"] == "Rejected"
    # The unit may be left out: the first of RateUnit.
    assert composite(csms201, 2, 60, None)["schedule"]["chargingRateUnit"] == "A"


# -- K09 GetChargingProfiles, K10 ClearChargingProfile ------------------------------------------


def test_k09_reports_per_evse_and_k10_clears_by_id_and_criteria(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    for evse, data in (
        (0, profile(1, "TxDefaultProfile", [(0, 20)])),
        (1, profile(2, "TxDefaultProfile", [(0, 14)], stack=1)),
        (2, profile(3, "TxDefaultProfile", [(0, 12)], stack=1)),
    ):
        assert set_profile(any_csms201, evse, data)["status"] == "Accepted"
    mark = any_csms201.log.mark()
    answer = any_csms201.call(
        CP, "GetChargingProfiles", {"requestId": 5, "chargingProfile": {"stackLevel": 1}}
    )
    assert answer == {"status": "Accepted"}
    any_csms201.wait_for(
        lambda _: (
            sum(
                1
                for e in any_csms201.log.entries(mark)
                if e.kind == "call" and e.action == "ReportChargingProfiles"
            )
            >= 2
        ),
        timeout=5,
    )
    reports = [
        e.payload
        for e in any_csms201.log.entries(mark)
        if e.kind == "call" and e.action == "ReportChargingProfiles"
    ]
    assert [(r["requestId"], r["evseId"], r["tbc"]) for r in reports] == [
        (5, 1, True),
        (5, 2, False),
    ]
    assert all(r["chargingLimitSource"] == "CSO" for r in reports)
    assert [p["id"] for r in reports for p in r["chargingProfile"]] == [2, 3]
    nothing = {"requestId": 6, "chargingProfile": {"chargingProfileId": [99]}}
    assert any_csms201.call(CP, "GetChargingProfiles", nothing) == {"status": "NoProfiles"}

    clear = any_csms201.call(CP, "ClearChargingProfile", {"chargingProfileId": 2})
    assert clear == {"status": "Accepted"}
    offered(station, 1, 20.0)
    assert any_csms201.call(CP, "ClearChargingProfile", {"chargingProfileId": 2})["status"] == (
        "Unknown"
    )
    by_criteria = {"chargingProfileCriteria": {"evseId": 2, "stackLevel": 1}}
    assert any_csms201.call(CP, "ClearChargingProfile", by_criteria) == {"status": "Accepted"}
    offered(station, 2, 20.0)
    assert any_csms201.call(CP, "ClearChargingProfile", {}) == {"status": "Accepted"}
    offered(station, 1, 32.0)
    everything = {"requestId": 7, "chargingProfile": {}}
    assert any_csms201.call(CP, "GetChargingProfiles", everything) == {"status": "NoProfiles"}


def test_k_profiles_survive_a_restart(
    csms201: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    first = station201(csms201, make_station, Internal={"DataDir": str(tmp_path)})
    assert set_profile(csms201, 2, profile(7, "TxDefaultProfile", [(0, 13)]))["status"] == (
        "Accepted"
    )
    first.stop()
    mark = csms201.log.mark()
    second = make_station(csms201, Internal={"DataDir": str(tmp_path), "OcppVersions": ["2.0.1"]})
    csms201.log.wait_call("BootNotification", CP, since=mark)
    answered(second, "StatusNotification", 2)
    assert periods(composite(csms201, 2, 60)) == [(0, 13.0)]
    offered(second, 2, 13.0)
    answer = csms201.call(CP, "GetChargingProfiles", {"requestId": 1, "chargingProfile": {}})
    assert answer == {"status": "Accepted"}
    report = csms201.log.wait_call("ReportChargingProfiles", CP, since=mark)
    assert report.payload["chargingProfile"] == [profile(7, "TxDefaultProfile", [(0, 13)])]


def test_k_disabled_smart_charging_is_not_supported(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    variable = {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "Enabled"}}
    answer = csms201.call(
        CP, "SetVariables", {"setVariableData": [{**variable, "attributeValue": "false"}]}
    )
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    with pytest.raises(CallErrorResponse) as refused:
        csms201.call(CP, "GetCompositeSchedule", {"evseId": 1, "duration": 60})
    assert "NotSupported" in str(refused.value)


# -- the mapping, property-based ------------------------------------------------------------------

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
_times = st.integers(-3 * 86400, 3 * 86400).map(lambda s: T0 + timedelta(seconds=s))


@st.composite
def rules_profiles(draw: st.DrawFn, evse: int | None = None) -> ChargingProfile:
    purpose = draw(st.sampled_from(list(Purpose)))
    connector = 0 if purpose is Purpose.CHARGE_POINT_MAX else (evse or draw(st.integers(0, 2)))
    kinds = [Kind.ABSOLUTE, Kind.RECURRING]
    if purpose is not Purpose.CHARGE_POINT_MAX:
        kinds.append(Kind.RELATIVE)
    kind = draw(st.sampled_from(kinds))
    starts = sorted(draw(st.sets(st.integers(1, 20_000), max_size=4)))
    periods = tuple(
        SchedulePeriod(s, draw(st.integers(0, 640)) / 10, draw(st.none() | st.integers(1, 3)))
        for s in [0, *starts]
    )
    schedule = ChargingSchedule(
        unit=draw(st.sampled_from(list(Unit))),
        periods=periods,
        start=None if kind is Kind.RELATIVE else draw(_times),
        duration=draw(st.none() | st.integers(1, 90_000)),
        min_rate=draw(st.none() | st.integers(0, 100).map(lambda v: v / 10)),
    )
    valid_from = draw(st.none() | _times)
    valid_to = draw(st.none() | _times)
    return ChargingProfile(
        id=draw(st.integers(1, 10_000)),
        connector=connector,
        stack_level=draw(st.integers(0, 10)),
        purpose=purpose,
        kind=kind,
        schedule=schedule,
        recurrency=draw(st.sampled_from(list(Recurrency))) if kind is Kind.RECURRING else None,
        valid_from=valid_from,
        valid_to=valid_to,
    )


@settings(max_examples=200, deadline=None)
@given(rules_profiles())
def test_a_rules_profile_survives_the_round_trip_through_2_0_1(rules: ChargingProfile) -> None:
    wire = k.from_rules(rules)
    assert k.to_rules(wire, rules.connector) == rules
    # And what storage keeps is read back as both.
    stored = k.from_stored(k.stored_payload(wire, rules), rules.connector)
    assert (stored.rules, stored.wire) == (rules, wire)
    # A 1.6 run reads a 2.0.1 profile's stored form as the same rules profile.
    assert parse_profile(k.stored_payload(wire, rules), rules.connector) == rules


@settings(max_examples=100, deadline=None)
@given(
    st.lists(rules_profiles(), max_size=5, unique_by=lambda p: p.id),
    st.integers(0, 2),
    _times,
    st.integers(1, 2 * 86400),
    st.sampled_from(list(Unit)),
    st.booleans(),
)
def test_the_composite_of_2_0_1_profiles_is_the_rules_composite(
    profiles: list[ChargingProfile],
    evse: int,
    start: datetime,
    duration: int,
    unit: Unit,
    charging_now: bool,
) -> None:
    sessions = {1: Session(start - timedelta(seconds=90))} if charging_now else {}
    mapped = [k.to_rules(k.from_rules(p), p.connector) for p in profiles]

    def run(these: list[ChargingProfile]) -> Any:
        return composite_schedule(
            these, evse, start, duration, unit, sessions=sessions, connectors=(1, 2)
        )

    direct = run(profiles)
    assert run(mapped) == direct
    payload = k.composite_payload(direct, evse, 64.0, 3)
    assert payload["evseId"] == evse and payload["duration"] == duration
    assert payload["chargingSchedulePeriod"][0]["startPeriod"] == 0


def test_the_checks_answer_with_libocpp_reason_codes() -> None:
    limits: dict[str, Any] = {
        "evses": (1, 2),
        "max_stack_level": 10,
        "max_periods": 96,
        "allowed_units": ("A",),
        "phase_switching": False,
        "now": T0,
    }
    watts = profile(1, "TxDefaultProfile", [(0, 1000)], unit="W")
    refused = k.check(watts, 1, **limits)
    assert isinstance(refused, k.Refusal) and refused.reason == "UnsupportedRateUnit"
    two = profile(1, "TxDefaultProfile", [(0, 10)])
    two["chargingSchedule"] *= 2
    refused = k.check(two, 1, **limits)
    assert isinstance(refused, k.Refusal) and refused.reason == "InvalidSchedule"
    remote = k.check(profile(1, "TxProfile", [(0, 10)]), 1, **limits, remote_start=True)
    assert isinstance(remote, ChargingProfile) and remote.transaction_id is None


def test_k_a_profile_a_1_6_run_installed_holds_in_2_0_1(
    csms201: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    data_dir = {"DataDir": str(tmp_path)}
    with DevCsms(port=0, heartbeat_interval=60) as csms16:
        first = make_station(csms16, Internal=data_dir)
        answered(first, "StatusNotification", 3)
        legacy = {
            "chargingProfileId": 4,
            "stackLevel": 2,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11}],
            },
        }
        request = {"connectorId": 1, "csChargingProfiles": legacy}
        assert csms16.call(CP, "SetChargingProfile", request) == {"status": "Accepted"}
        first.stop()
    second = station201(csms201, make_station, Internal=data_dir)
    offered(second, 1, 11.0)
    mark = csms201.log.mark()
    answer = csms201.call(CP, "GetChargingProfiles", {"requestId": 3, "chargingProfile": {}})
    assert answer == {"status": "Accepted"}
    report = csms201.log.wait_call("ReportChargingProfiles", CP, since=mark)
    assert report.payload["evseId"] == 1
    assert report.payload["chargingProfile"] == [profile(4, "TxDefaultProfile", [(0, 11)], stack=2)]


def _set_variable(peer: Any, variable: str, value: str) -> None:
    item = {
        "component": {"name": "SmartChargingCtrlr"},
        "variable": {"name": variable},
        "attributeValue": value,
    }
    answer = peer.call(CP, "SetVariables", {"setVariableData": [item]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"


def _calls(peer: Any, action: str, mark: int = 0) -> list[dict[str, Any]]:
    return [
        e.payload
        for e in peer.log.entries(mark)
        if e.kind == "call" and e.direction == "in" and e.action == action
    ]


def test_k12_k13_an_external_limit_caps_the_offer_and_is_notified_then_cleared(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    # ExternalControlSignalsEnabled is false at first: the signal is not heeded.
    station.registry.tell(PROFILES, ExternalLimit(1, 10.0))
    assert composite(any_csms201, 1, 60)["schedule"]["chargingSchedulePeriod"][0]["limit"] == 32
    _set_variable(any_csms201, "ExternalControlSignalsEnabled", "true")
    _set_variable(any_csms201, "NotifyChargingLimitWithSchedules", "true")
    mark = any_csms201.log.mark()
    station.registry.tell(PROFILES, ExternalLimit(1, 10.0, grid_critical=True))
    offered(station, 1, 10.0)
    any_csms201.wait_for(lambda _: bool(_calls(any_csms201, "NotifyChargingLimit", mark)), 5)
    notified = _calls(any_csms201, "NotifyChargingLimit", mark)[0]
    assert notified["evseId"] == 1
    assert notified["chargingLimit"] == {"chargingLimitSource": "EMS", "isGridCritical": True}
    assert notified["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 10
    assert periods(composite(any_csms201, 1, 60)) == [(0, 10.0)]
    assert station.hardware[2].offered_a == 32.0
    # A profile below the external limit still counts: the smaller wins.
    assert set_profile(any_csms201, 1, profile(1, "TxDefaultProfile", [(0, 8)]))["status"] == (
        "Accepted"
    )
    offered(station, 1, 8.0)
    station.registry.tell(PROFILES, ExternalLimit(1, None))
    any_csms201.wait_for(lambda _: bool(_calls(any_csms201, "ClearedChargingLimit", mark)), 5)
    assert _calls(any_csms201, "ClearedChargingLimit", mark) == [
        {"chargingLimitSource": "EMS", "evseId": 1}
    ]
    assert periods(composite(any_csms201, 1, 60)) == [(0, 8.0)]
    # The station's own limit, in W, shared by nobody charging: every EVSE under it.
    station.registry.tell(PROFILES, ExternalLimit(0, 4140.0, unit="W"))  # 6 A on 3 phases
    offered(station, 2, 6.0)
    assert periods(composite(any_csms201, 0, 60)) == [(0, 6.0)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(rules_profiles(), max_size=4, unique_by=lambda p: p.id),
    st.integers(0, 2),
    st.integers(0, 640).map(lambda v: v / 10),
    st.integers(1, 3),
    st.sampled_from(list(Unit)),
)
def test_an_external_limit_never_raises_a_composite_and_caps_it(
    profiles: list[ChargingProfile], evse: int, amps: float, phases: int, unit: Unit
) -> None:
    plain = composite_schedule(profiles, evse, T0, 86400, unit, connectors=(1, 2))
    cap = Limit(amps, phases)
    limited = k.capped(plain, cap, 230.0)
    value = cap.value(unit, 230.0)
    starts = [p.start for p in plain.periods]
    for period in limited.periods:
        assert period.limit is not None and period.limit <= value + 1e-9
        # At each start of the capped schedule, it is no more than the plain one there.
        before = [p for p in plain.periods if p.start <= period.start][-1]
        assert before.limit is None or period.limit <= before.limit + 1e-9
    assert limited.periods[0].start == 0 and set(p.start for p in limited.periods) <= set(starts)
