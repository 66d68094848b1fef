"""OCPP 2.0.1 K15-K17 ISO 15118 charging needs and the EV's schedule: the pure
choice (hypothesis), then over real websockets against the dev CSMS and
ocpp-rpc in strict mode."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.station import Station
from ocppstation.protocol.errors import OcppVersion
from ocppstation.protocol.ev_needs import EvNeeds
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v201 import ev_charging
from ocppstation.protocol.validation import Validator
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, quiet, wait_status
from tests.test_v201_e2e import CP, any_csms201, csms201, events, station201
from tests.test_v201_smart_charging import profile, set_profile

__all__ = ["any_csms201", "csms201"]  # the 2.0.1 peers, as fixtures here

VALIDATOR = Validator(OcppVersion.V201)
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# -- pure ------------------------------------------------------------------------------


@st.composite
def composites(draw: st.DrawFn) -> list[dict[str, Any]]:
    starts = sorted(draw(st.sets(st.integers(1, 86_000), max_size=12)))
    out = []
    for start in [0, *starts]:
        period: dict[str, Any] = {
            "startPeriod": start,
            "limit": draw(st.floats(0, 500, allow_nan=False).map(lambda x: round(x, 1))),
        }
        if draw(st.booleans()):
            period["numberPhases"] = draw(st.integers(1, 3))
        out.append(period)
    return out


def _limit_at(periods: list[dict[str, Any]], t: int) -> float:
    return float([p for p in periods if p["startPeriod"] <= t][-1]["limit"])


@given(composites(), st.floats(1, 600, allow_nan=False), st.none() | st.integers(1, 6))
def test_the_ev_never_plans_above_the_composite_nor_its_own_maximum(
    composite: list[dict[str, Any]], ev_max: float, tuples: int | None
) -> None:
    chosen = ev_charging.chosen_periods(composite, ev_max, tuples)
    assert chosen[0]["startPeriod"] == 0
    assert [p["startPeriod"] for p in chosen] == sorted({p["startPeriod"] for p in chosen})
    if tuples is not None:
        assert len(chosen) <= tuples
    # Every second where the composite changes, and every period's start, is covered.
    for t in {p["startPeriod"] for p in composite + chosen}:
        assert _limit_at(chosen, t) <= _limit_at(composite, t)
        assert _limit_at(chosen, t) <= ev_max


@given(
    st.sampled_from(["DC", "AC_single_phase", "AC_two_phase", "AC_three_phase"]),
    st.none() | st.integers(1, 86400),
    st.none() | st.integers(1, 1024),
)
def test_needs_and_the_chosen_schedule_are_valid_2_0_1_requests(
    mode: str, departure: int | None, tuples: int | None
) -> None:
    needs = EvNeeds(mode, departure_in=departure, max_power=50_000, max_schedule_tuples=tuples)
    VALIDATOR.check_request("NotifyEVChargingNeeds", dump(ev_charging.needs_request(1, needs, NOW)))
    composite = {
        "evseId": 1,
        "duration": 3600,
        "scheduleStart": "2026-01-01T00:00:00Z",
        "chargingRateUnit": ev_charging.unit_of(needs),
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}],
    }
    request = dump(ev_charging.schedule_request(1, composite, needs))
    VALIDATOR.check_request("NotifyEVChargingSchedule", request)


def test_needs_are_checked() -> None:
    with pytest.raises(ValueError):
        EvNeeds("AC_four_phase")
    with pytest.raises(ValueError):
        EvNeeds(max_schedule_tuples=0)


# -- end to end --------------------------------------------------------------------------


def started_with_needs(station: Station, peer: Any, needs: EvNeeds) -> tuple[str, Any]:
    """The EV plugs and states its needs, a card starts the transaction."""
    mark = peer.log.mark()
    station.plug(1, needs=needs)
    stated = peer.log.wait_call("NotifyEVChargingNeeds", CP, since=mark)
    wait_status(station, 1, "Preparing")
    station.tag(1, "TAG-1")
    wait_status(station, 1, "Charging")

    def started() -> list[dict[str, Any]]:
        return [e for e in events(peer, mark) if e["eventType"] == "Started"]

    peer.wait_for(lambda _: bool(started()), timeout=5)
    return str(started()[-1]["transactionInfo"]["transactionId"]), stated


def test_k15_k17_needs_then_a_tx_profile_then_the_evs_schedule(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    needs = EvNeeds("AC_three_phase", energy_wh=30_000, departure_in=7200, max_current=20)
    needs = EvNeeds(**{**needs.__dict__, "max_schedule_tuples": 2})
    tx, stated = started_with_needs(station, any_csms201, needs)
    charging_needs = stated.payload["chargingNeeds"]
    assert stated.payload["evseId"] == 1
    assert stated.payload["maxScheduleTuples"] == 2
    assert charging_needs["requestedEnergyTransfer"] == "AC_three_phase"
    assert charging_needs["acChargingParameters"] == {
        "energyAmount": 30_000,
        "evMinCurrent": 6,
        "evMaxCurrent": 20,
        "evMaxVoltage": 400,
    }
    assert "departureTime" in charging_needs

    mark = any_csms201.log.mark()
    limits = [(0, 32), (600, 10), (1200, 16), (1800, 8)]
    assert set_profile(any_csms201, 1, profile(7, "TxProfile", limits, transactionId=tx)) == {
        "status": "Accepted"
    }
    sent = any_csms201.log.wait_call("NotifyEVChargingSchedule", CP, since=mark)
    answer = [
        e
        for e in any_csms201.log.entries(mark)
        if e.kind == "result" and e.action == "SetChargingProfile"
    ]
    assert answer and answer[0].seq < sent.seq  # the answer first
    assert sent.payload["evseId"] == 1
    assert "timeBase" in sent.payload
    schedule = sent.payload["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "A"
    assert schedule["duration"] == 7200
    # Two tuples at most: 20 A (the EV's max) first, then the lowest that follows.
    assert [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]] == [
        (0, 20.0),
        (600, 8.0),
    ]


def test_k15_rejected_needs_get_no_schedule(csms201: DevCsms, make_station: StationFactory) -> None:
    station = station201(csms201, make_station)
    csms201.set_reply("NotifyEVChargingNeeds", {"status": "Rejected"})
    tx, _ = started_with_needs(station, csms201, EvNeeds())
    quiet(station)
    mark = csms201.log.mark()
    assert set_profile(csms201, 1, profile(7, "TxProfile", [(0, 10)], transactionId=tx)) == {
        "status": "Accepted"
    }
    quiet(station)
    assert not [e for e in csms201.log.entries(mark) if e.action == "NotifyEVChargingSchedule"]


def test_k15_processing_then_the_profile_comes(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    csms201.set_reply("NotifyEVChargingNeeds", {"status": "Processing"})
    dc = EvNeeds("DC", max_current=200, max_voltage=800, max_power=50_000)
    tx, stated = started_with_needs(station, csms201, dc)
    assert stated.payload["chargingNeeds"]["dcChargingParameters"]["evMaxPower"] == 50_000
    mark = csms201.log.mark()
    watts = profile(8, "TxProfile", [(0, 11_000)], unit="W", transactionId=tx)
    assert set_profile(csms201, 1, watts) == {"status": "Accepted"}
    sent = csms201.log.wait_call("NotifyEVChargingSchedule", CP, since=mark)
    schedule = sent.payload["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "W"
    assert all(p["limit"] <= 11_000 for p in schedule["chargingSchedulePeriod"])


def test_console_needs_plugs_an_ev_that_states_them(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    from ocppstation.tools.console import Console

    station = station201(csms201, make_station)
    console = Console(station)
    mark = csms201.log.mark()
    assert console.handle("needs 1 12.5 3600") == "ok"
    stated = csms201.log.wait_call("NotifyEVChargingNeeds", CP, since=mark)
    assert stated.payload["chargingNeeds"]["acChargingParameters"]["energyAmount"] == 12_500
    assert "departureTime" in stated.payload["chargingNeeds"]
    assert console.handle("needs 1 lots").startswith("error")
