"""Smart Charging end to end over real websockets, in virtual time.

Tests named after an OCTT 1.6 case follow that case's steps; the others
cover what the cases leave out (sharing the station's limit, period
boundaries, restarts, the refusals of a careful station). The simulated
EV draws what it is offered, so MeterValues show the limit being kept.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import (
    LimitChanged,
    MessageAnswered,
    MessageSent,
    TransactionStarted,
    TransactionStopped,
)
from ocppstation.actors.runtime.supervisor import ChildRestarted
from ocppstation.actors.station import Station
from ocppstation.tools.csms import CallErrorResponse, DevCsms
from tests.conftest import StationFactory, answered, log_of, quiet, wait_status

CP = "cp-test"
METER = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered"
SAMPLING = {"MeterValueSampleInterval": 60, "MeterValuesSampledData": METER}


def booted(peer: Any, make_station: StationFactory, **sections: Any) -> Station:
    station = make_station(peer, **sections)
    answered(station, "StatusNotification", 3)
    return station


def charging(station: Station, evse: int = 1, tag: str = "TAG-1") -> int:
    log = log_of(station)
    mark = log.mark()
    station.plug(evse)
    station.tag(evse, tag)
    started = log.wait_for(
        lambda e: isinstance(e, TransactionStarted) and e.evse == evse, timeout=5, since=mark
    )
    wait_status(station, evse, "Charging", since=mark)
    return started.transaction_id


def iso(station: Station, seconds: float = 0) -> str:
    moment = station.clock.wall() + timedelta(seconds=seconds)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def profile(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    kind: str = "Relative",
    stack: int = 0,
    unit: str = "A",
    **extra: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
    }
    for key in ("startSchedule", "duration"):
        if key in extra:
            schedule[key] = extra.pop(key)
    return {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **extra,
    }


def set_profile(peer: Any, connector: int, data: dict[str, Any]) -> str:
    answer = peer.call(
        CP, "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": data}
    )
    return str(answer["status"])


def composite(peer: Any, connector: int, duration: int, unit: str | None = "A") -> dict[str, Any]:
    payload: dict[str, Any] = {"connectorId": connector, "duration": duration}
    if unit is not None:
        payload["chargingRateUnit"] = unit
    return dict(peer.call(CP, "GetCompositeSchedule", payload))


def periods(answer: dict[str, Any]) -> list[tuple[int, float]]:
    return [
        (p["startPeriod"], p["limit"]) for p in answer["chargingSchedule"]["chargingSchedulePeriod"]
    ]


def next_values(
    peer: Any, station: Station, clock: FakeClock, seconds: float = 60
) -> dict[str, list[str]]:
    """Move time to the next sample; its values by measurand (one per phase for currents).

    Returns once the station has the CSMS's answer, so that time may move on.
    """
    mark, events = peer.log.mark(), log_of(station).mark()
    clock.advance(seconds)
    entry = peer.log.wait_call("MeterValues", CP, since=mark)
    log_of(station).wait_for(
        lambda e: isinstance(e, MessageAnswered) and e.action == "MeterValues", 5, events
    )
    values: dict[str, list[str]] = {}
    for sampled in entry.payload["meterValue"][0]["sampledValue"]:
        values.setdefault(sampled["measurand"], []).append(sampled["value"])
    return values


def boundary(station: Station, clock: FakeClock, seconds: float, *, evse: int, amps: float) -> None:
    """Move time to a period boundary and wait until the EVSE offers the new limit.

    A sample due at the very moment the limit changes may see either side of
    it (as on a real station); tests keep the two apart.
    """
    mark = log_of(station).mark()
    clock.advance(seconds)
    log_of(station).wait_for(
        lambda e: isinstance(e, LimitChanged) and (e.evse, e.amps) == (evse, amps), 5, mark
    )


# -- the OCTT 1.6 Smart Charging cases ------------------------------------------------------


def test_tc_056_tx_default_profile_limits_the_next_transaction(
    any_csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station, Core=SAMPLING)
    default = profile(1, "TxDefaultProfile", [(0, 16)])
    assert set_profile(any_csms, 1, default) == "Accepted"
    charging(station)
    values = next_values(any_csms, station, clock)
    assert values["Current.Offered"] == ["16"]
    assert values["Current.Import"] == ["16", "16", "16"]
    assert values["Power.Active.Import"] == ["11040"]  # 16 A x 230 V x 3 phases


def test_tc_057_tx_profile_for_the_running_transaction(
    any_csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station, Core=SAMPLING)
    tx = charging(station)
    assert next_values(any_csms, station, clock)["Current.Import"] == ["32", "32", "32"]
    limited = profile(2, "TxProfile", [(0, 10)], transactionId=tx)
    assert set_profile(any_csms, 1, limited) == "Accepted"
    values = next_values(any_csms, station, clock)
    assert values["Current.Offered"] == ["10"]
    assert values["Current.Import"] == ["10", "10", "10"]
    assert values["Power.Active.Import"] == ["6900"]


def test_tc_058_1_tx_profile_without_a_transaction_is_rejected(
    any_csms, make_station: StationFactory
) -> None:
    station = booted(any_csms, make_station)
    orphan = profile(3, "TxProfile", [(0, 10)], transactionId=1)
    assert set_profile(any_csms, 1, orphan) == "Rejected"
    assert station.hardware[1].offered_a == 32.0


def test_tc_058_2_tx_profile_for_another_transaction_is_rejected(
    any_csms, make_station: StationFactory
) -> None:
    station = booted(any_csms, make_station)
    tx = charging(station)
    wrong = profile(3, "TxProfile", [(0, 10)], transactionId=tx + 1)
    assert set_profile(any_csms, 1, wrong) == "Rejected"
    assert station.hardware[1].offered_a == 32.0


def test_tc_059_remote_start_with_a_charging_profile(
    any_csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station, Core=SAMPLING)
    request = {
        "idTag": "REMOTE",
        "connectorId": 1,
        "chargingProfile": profile(5, "TxProfile", [(0, 12), (270, 8)]),
    }
    assert any_csms.call(CP, "RemoteStartTransaction", request) == {"status": "Accepted"}
    wait_status(station, 1, "Preparing")
    station.plug(1)
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
    answer = composite(any_csms, 1, 600)
    assert answer["status"] == "Accepted" and answer["connectorId"] == 1
    schedule = answer["chargingSchedule"]
    assert (schedule["duration"], schedule["chargingRateUnit"]) == (600, "A")
    assert (
        schedule["startSchedule"] == answer["scheduleStart"] == iso(station).replace("Z", ".000Z")
    )
    assert periods(answer) == [(0, 12.0), (270, 8.0)]
    # The profile is followed: 12 A at first, 8 A from 4.5 minutes into the transaction.
    drawn = [next_values(any_csms, station, clock)["Current.Import"][0] for _ in range(4)]
    assert drawn == ["12", "12", "12", "12"]
    boundary(station, clock, 30, evse=1, amps=8.0)
    assert next_values(any_csms, station, clock, 30)["Current.Import"] == ["8", "8", "8"]


def test_tc_060_remote_start_with_a_profile_that_is_not_a_tx_profile_is_rejected(
    any_csms, make_station: StationFactory
) -> None:
    station = booted(any_csms, make_station)
    request = {
        "idTag": "REMOTE",
        "connectorId": 1,
        "chargingProfile": profile(5, "TxDefaultProfile", [(0, 12)]),
    }
    assert any_csms.call(CP, "RemoteStartTransaction", request) == {"status": "Rejected"}
    station.plug(1)
    wait_status(station, 1, "Preparing")
    assert not any_csms.log.calls("StartTransaction")


def test_tc_066_get_composite_schedule_of_all_three_purposes(
    any_csms, make_station: StationFactory
) -> None:
    station = booted(any_csms, make_station)
    cap = profile(
        1,
        "ChargePointMaxProfile",
        [(0, 10)],
        kind="Absolute",
        startSchedule=iso(station),
        duration=86_400,
    )
    assert set_profile(any_csms, 0, cap) == "Accepted"
    default = profile(2, "TxDefaultProfile", [(0, 6)])
    assert set_profile(any_csms, 1, default) == "Accepted"
    tx = charging(station)
    tx_profile = profile(3, "TxProfile", [(0, 8), (150, 14)], transactionId=tx, duration=300)
    assert set_profile(any_csms, 1, tx_profile) == "Accepted"
    # TxProfile 8 A, then 14 A capped at 10 A, then (the TxProfile over) the TxDefault's 6 A.
    assert periods(composite(any_csms, 1, 400)) == [(0, 8.0), (150, 10.0), (300, 6.0)]
    # The station: connector 2 has no profile of its own, so only the cap bounds it.
    assert periods(composite(any_csms, 0, 400)) == [(0, 10.0)]
    in_watts = composite(any_csms, 1, 400, "W")
    assert periods(in_watts) == [(0, 5520.0), (150, 6900.0), (300, 4140.0)]


def test_tc_067_clear_charging_profiles_by_id_by_criteria_and_all(
    any_csms, make_station: StationFactory
) -> None:
    station = booted(any_csms, make_station)
    charging(station)
    start = iso(station)
    low = profile(
        1, "TxDefaultProfile", [(0, 6), (60, 8), (200, 10)], kind="Absolute", stack=1,
        startSchedule=start, duration=400,
    )  # fmt: skip
    high = profile(2, "TxDefaultProfile", [(0, 12)], stack=2, duration=100)
    cap = profile(3, "ChargePointMaxProfile", [(0, 16)], kind="Absolute", startSchedule=start)
    for connector, data in ((1, low), (1, high), (0, cap)):
        assert set_profile(any_csms, connector, data) == "Accepted"
    assert periods(composite(any_csms, 1, 400)) == [(0, 12.0), (100, 8.0), (200, 10.0)]

    clear = lambda payload: any_csms.call(CP, "ClearChargingProfile", payload)  # noqa: E731
    assert clear({"id": 1}) == {"status": "Accepted"}
    assert periods(composite(any_csms, 1, 400)) == [(0, 12.0), (100, 16.0)]
    criteria = {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2}
    assert clear(criteria) == {"status": "Accepted"}
    assert periods(composite(any_csms, 1, 400)) == [(0, 16.0)]
    assert clear({}) == {"status": "Accepted"}
    assert periods(composite(any_csms, 1, 400)) == [(0, 32.0)]  # the EVSE's rating: no limit
    assert clear({}) == {"status": "Unknown"}
    assert clear({"id": 1}) == {"status": "Unknown"}


def test_tc_072_stacking_charging_profiles(any_csms, make_station: StationFactory) -> None:
    station = booted(any_csms, make_station)
    now = iso(station)
    window = {"validFrom": now, "validTo": iso(station, 401), "startSchedule": now}
    lower = profile(
        1, "TxDefaultProfile", [(0, 6), (100, 8), (200, 10)], kind="Absolute", stack=0,
        duration=400, **window,
    )  # fmt: skip
    upper = profile(
        2, "TxDefaultProfile", [(0, 7), (100, 9)], kind="Absolute", stack=1,
        duration=150, **window,
    )  # fmt: skip
    assert set_profile(any_csms, 1, lower) == "Accepted"
    assert set_profile(any_csms, 1, upper) == "Accepted"
    # Level 1 for its 150 s, then level 0 where it is at by then.
    assert periods(composite(any_csms, 1, 400)) == [(0, 7.0), (100, 9.0), (150, 8.0), (200, 10.0)]


def test_tc_082_tx_default_profile_set_during_a_transaction_applies_to_it(
    any_csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station, Core=SAMPLING)
    charging(station)
    default = profile(1, "TxDefaultProfile", [(0, 8)])
    assert set_profile(any_csms, 1, default) == "Accepted"
    values = next_values(any_csms, station, clock)
    assert values["Current.Offered"] == ["8"]
    assert values["Current.Import"] == ["8", "8", "8"]
    assert values["Power.Active.Import"] == ["5520"]


# -- beyond the cases -----------------------------------------------------------------------


def test_the_offer_follows_period_boundaries_in_virtual_time(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station, Core={**SAMPLING, "MeterValueSampleInterval": 90})
    set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 16), (120, 6)]))
    charging(station)
    assert next_values(csms, station, clock, 90)["Current.Import"] == ["16", "16", "16"]
    boundary(station, clock, 30, evse=1, amps=6.0)
    values = next_values(csms, station, clock, 60)
    assert values["Current.Import"] == ["6", "6", "6"]
    assert values["Current.Offered"] == ["6"]
    # 120 s at 16 A and 60 s at 6 A, on 3 x 230 V.
    expected_wh = round((16 * 120 + 6 * 60) * 230 * 3 / 3600)
    assert values["Energy.Active.Import.Register"] == [str(expected_wh)]


def test_charge_point_max_is_shared_by_the_charging_connectors(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    cap = profile(
        1, "ChargePointMaxProfile", [(0, 20)], kind="Absolute", startSchedule=iso(station)
    )
    assert set_profile(csms, 0, cap) == "Accepted"
    assert station.hardware[1].offered_a == 20.0
    log = log_of(station)
    charging(station, 1, "TAG-1")
    # Connector 1 takes the whole 20 A; connector 2, idle, is offered what is left.
    assert (station.hardware[1].offered_a, station.hardware[2].offered_a) == (20.0, 0.0)
    charging(station, 2, "TAG-2")
    log.wait_for(lambda e: isinstance(e, LimitChanged) and (e.evse, e.amps) == (2, 10.0), 5)
    assert (station.hardware[1].offered_a, station.hardware[2].offered_a) == (10.0, 10.0)
    assert periods(composite(csms, 0, 600)) == [(0, 20.0)]
    mark = log.mark()
    station.tag(2, "TAG-2")  # connector 2 stops: connector 1 gets it all back
    log.wait_for(lambda e: isinstance(e, LimitChanged) and (e.evse, e.amps) == (1, 20.0), 5, mark)


def test_a_tx_profile_ends_with_its_transaction(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    tx = charging(station)
    assert set_profile(csms, 1, profile(1, "TxProfile", [(0, 10)], transactionId=tx)) == "Accepted"
    assert station.hardware[1].offered_a == 10.0
    mark = log_of(station).mark()
    station.tag(1, "TAG-1")
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStopped), 5, mark)
    log_of(station).wait_for(lambda e: isinstance(e, LimitChanged) and e.amps == 32.0, 5, mark)
    assert csms.call(CP, "ClearChargingProfile", {"id": 1}) == {"status": "Unknown"}


def test_profiles_survive_a_restart(
    csms: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    first = booted(csms, make_station, Internal={"DataDir": str(tmp_path)})
    assert set_profile(csms, 0, profile(7, "TxDefaultProfile", [(0, 13)])) == "Accepted"
    first.stop()
    mark = csms.log.mark()
    second = make_station(csms, Internal={"DataDir": str(tmp_path)})
    csms.log.wait_call("BootNotification", CP, since=mark)
    answered(second, "StatusNotification", 3)
    assert periods(composite(csms, 2, 60)) == [(0, 13.0)]
    log_of(second).wait_for(lambda e: isinstance(e, LimitChanged) and e.evse == 2, 5)
    assert second.hardware[2].offered_a == 13.0


def test_a_profile_replaces_the_one_with_its_connector_stack_level_and_purpose(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    assert set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 10)], stack=3)) == "Accepted"
    assert set_profile(csms, 1, profile(2, "TxDefaultProfile", [(0, 14)], stack=3)) == "Accepted"
    assert station.hardware[1].offered_a == 14.0
    assert csms.call(CP, "ClearChargingProfile", {"id": 1}) == {"status": "Unknown"}
    # Same id elsewhere: replaced too.
    assert set_profile(csms, 2, profile(2, "TxDefaultProfile", [(0, 9)], stack=3)) == "Accepted"
    assert (station.hardware[1].offered_a, station.hardware[2].offered_a) == (32.0, 9.0)


@pytest.mark.parametrize(
    ("connector", "data"),
    [
        (1, profile(1, "TxDefaultProfile", [(0, 10)], stack=4)),  # above the max level 3
        (1, profile(1, "TxDefaultProfile", [(0, 10), (60, 8), (120, 6)])),  # 3 periods > 2
        (1, profile(1, "TxDefaultProfile", [(0, 7000)], unit="W")),  # only Current allowed
        (
            1,
            profile(
                1,
                "ChargePointMaxProfile",
                [(0, 10)],
                kind="Absolute",
                startSchedule="2026-01-01T00:00:00Z",
            ),
        ),
        (0, profile(1, "ChargePointMaxProfile", [(0, 10)])),  # Relative to what?
        (0, profile(1, "TxProfile", [(0, 10)])),
        (3, profile(1, "TxDefaultProfile", [(0, 10)])),  # no connector 3
        (1, profile(1, "TxDefaultProfile", [(10, 10)])),  # does not start at 0
        (1, profile(1, "TxDefaultProfile", [(0, 10)], kind="Absolute")),  # when?
    ],
)
def test_what_a_careful_station_refuses(
    csms: DevCsms, make_station: StationFactory, connector: int, data: dict[str, Any]
) -> None:
    smart = {
        "ChargeProfileMaxStackLevel": 3,
        "ChargingScheduleMaxPeriods": 2,
        "ChargingScheduleAllowedChargingRateUnit": "Current",
    }
    station = booted(csms, make_station, SmartCharging=smart)
    assert set_profile(csms, connector, data) == "Rejected"
    assert station.hardware[1].offered_a == 32.0


def test_max_charging_profiles_installed_counts_replacements_once(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station, SmartCharging={"MaxChargingProfilesInstalled": 2})
    assert set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 10)], stack=0)) == "Accepted"
    assert set_profile(csms, 1, profile(2, "TxDefaultProfile", [(0, 10)], stack=1)) == "Accepted"
    assert set_profile(csms, 1, profile(3, "TxDefaultProfile", [(0, 10)], stack=2)) == "Rejected"
    assert set_profile(csms, 1, profile(2, "TxDefaultProfile", [(0, 8)], stack=1)) == "Accepted"


def test_get_composite_schedule_for_a_connector_that_does_not_exist_is_rejected(
    any_csms, make_station: StationFactory
) -> None:
    booted(any_csms, make_station)
    assert composite(any_csms, 3, 60) == {"status": "Rejected"}


def test_the_unit_defaults_to_the_first_the_station_allows(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station, SmartCharging={"ChargingScheduleAllowedChargingRateUnit": "Power"})
    answer = composite(csms, 1, 60, unit=None)
    assert answer["chargingSchedule"]["chargingRateUnit"] == "W"
    assert periods(answer) == [(0, 22080.0)]  # 32 A rated, 3 x 230 V


def test_smart_charging_is_a_supported_feature_profile(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station)
    answer = csms.call(CP, "GetConfiguration", {"key": ["SupportedFeatureProfiles"]})
    assert "SmartCharging" in answer["configurationKey"][0]["value"].split(",")


def test_a_station_without_smart_charging_says_not_supported(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station, Core={"SupportedFeatureProfiles": "Core,RemoteTrigger"})
    with pytest.raises(CallErrorResponse) as caught:
        set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 10)]))
    assert caught.value.code == "NotSupported"


def test_a_restarted_board_is_told_its_offer_again(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    assert set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 11)])) == "Accepted"
    mark = log_of(station).mark()
    station.crash("evses/1/board")
    # A serial board forgets its current on a reset; the new hub asks again.
    log_of(station).wait_for(lambda e: isinstance(e, LimitChanged) and e.evse == 1, 5, mark)
    assert station.hardware[1].offered_a == 11.0


def test_a_crashed_profiles_actor_keeps_its_profiles_and_the_transaction_its_limit(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station, Core=SAMPLING)
    tx = charging(station)
    assert set_profile(csms, 1, profile(1, "TxProfile", [(0, 9)], transactionId=tx)) == "Accepted"
    mark = log_of(station).mark()
    station.crash("profiles")
    # rest_for_one: the EVSEs restart after it, resume the transaction, and
    # their boards are told the TxProfile's limit again.
    log = log_of(station)
    log.wait_for(lambda e: isinstance(e, ChildRestarted) and e.path == "registration", 5, mark)
    log.wait_for(lambda e: isinstance(e, LimitChanged) and e.evse == 1, 5, mark)
    assert station.status()["evses"][0]["transaction_id"] == tx
    assert station.hardware[1].offered_a == 9.0
    assert periods(composite(csms, 1, 60)) == [(0, 9.0)]
    # The new link re-announces the connectors: answered before time moves,
    # or a jump past CallTimeout fails a call the CSMS did answer.
    log.wait_for(
        lambda e: (
            isinstance(e, MessageSent)
            and e.action == "StatusNotification"
            and e.payload["connectorId"] == 2
        ),
        5,
        mark,
    )
    quiet(station)
    assert next_values(csms, station, clock)["Current.Import"] == ["9", "9", "9"]


def test_a_remote_start_waiting_with_its_profile_does_not_hold_up_a_boundary(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    assert set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 16), (120, 6)])) == "Accepted"
    charging(station, 1)
    request = {
        "idTag": "REMOTE",
        "connectorId": 2,
        "chargingProfile": profile(5, "TxProfile", [(0, 12)]),
    }
    assert csms.call(CP, "RemoteStartTransaction", request) == {"status": "Accepted"}
    answered(station, "StatusNotification", 6)  # connector 2 Preparing: nothing in flight
    boundary(station, clock, 120, evse=1, amps=6.0)


def test_a_composite_schedule_asked_for_years_is_answered_for_a_month(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station)
    answer = composite(csms, 1, 10 * 365 * 24 * 3600)
    assert answer["status"] == "Accepted"
    assert answer["chargingSchedule"]["duration"] <= 31 * 24 * 3600


def test_a_limit_below_what_the_evse_can_signal_suspends_the_session(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    # IEC 61851-1: an AC EVSE cannot offer 0 < I < 6 A. A 4 A limit pauses the
    # EV, SuspendedEVSE says why (1.6 4.9), and the next period resumes it.
    station = booted(csms, make_station, Core={**SAMPLING, "MeterValueSampleInterval": 90})
    set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 4), (120, 10)]))
    mark = csms.log.mark()
    station.plug(1)
    station.tag(1, "TAG-1")
    csms.log.wait_for(
        lambda e: e.kind == "call" and e.payload.get("status") == "SuspendedEVSE", since=mark
    )
    answered(station, "StartTransaction")
    # Straight from Preparing: the CSMS never hears of a Charging that is not.
    statuses = [e.payload["status"] for e in csms.log.calls("StatusNotification", since=mark)]
    assert statuses == ["Preparing", "SuspendedEVSE"]
    assert station.hardware[1].offered_a == 0.0
    values = next_values(csms, station, clock, 90)
    assert values["Current.Import"] == ["0", "0", "0"]
    assert values["Current.Offered"] == ["0"]
    mark = log_of(station).mark()
    boundary(station, clock, 30, evse=1, amps=10.0)
    wait_status(station, 1, "Charging", since=mark)
    assert next_values(csms, station, clock, 60)["Current.Import"] == ["10", "10", "10"]


def test_the_signalable_minimum_is_configurable(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station, Internal={"MinimumChargingCurrent": 0})
    set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 4)]))
    charging(station)
    assert station.hardware[1].offered_a == 4.0
    assert station.status()["evses"][0]["status"] == "Charging"
