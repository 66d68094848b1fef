"""A charging session end to end: plug, card, charge with meter values, stop."""

from __future__ import annotations

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import MeterSampled, TransactionStarted
from tests.conftest import StationFactory, answered, log_of, wait_status

CP = "cp-test"


def test_tc_003_tc_068_plug_first_charges_and_stops_on_the_same_card(
    any_csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(any_csms, evses=2, Core={"MeterValueSampleInterval": 10})
    answered(station, "StatusNotification", 3)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    station.tag(1, "TAG-1")
    any_csms.log.wait_call("Authorize", CP)
    start = any_csms.log.wait_call("StartTransaction", CP)
    assert start.payload["connectorId"] == 1
    assert start.payload["idTag"] == "TAG-1"
    assert start.payload["meterStart"] == 0
    wait_status(station, 1, "Charging")
    assert station.recorded is not None
    started = station.recorded.wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)

    # 32 A x 230 V x 3 phases = 22.08 kW; 10 s of it is 61.33 Wh.
    mark = any_csms.log.mark()
    clock.advance(10)
    values = any_csms.log.wait_call("MeterValues", CP, since=mark)
    assert values.payload["transactionId"] == started.transaction_id
    sampled = {s["measurand"]: s for s in values.payload["meterValue"][0]["sampledValue"]}
    assert sampled["Energy.Active.Import.Register"]["value"] == "61"
    assert sampled["Power.Active.Import"]["value"] == "22080"
    station.recorded.wait_for(lambda e: isinstance(e, MeterSampled), timeout=5)

    answered(station, "MeterValues")
    clock.advance(20)
    station.tag(1, "TAG-1")
    stop = any_csms.log.wait_call("StopTransaction", CP)
    assert stop.payload["transactionId"] == started.transaction_id
    assert stop.payload["reason"] == "Local"
    assert stop.payload["meterStop"] == 184  # 30 s at 22.08 kW
    wait_status(station, 1, "Finishing")
    station.unplug(1)
    wait_status(station, 1, "Available", since=station.recorded.mark() - 1)
    assert station.status()["evses"][0]["transaction_id"] is None


def test_tc_004_1_card_first_then_plug_then_card_stops(
    any_csms, make_station: StationFactory
) -> None:
    station = make_station(any_csms)
    answered(station, "StatusNotification", 3)
    station.tag(2, "TAG-2")
    wait_status(station, 2, "Preparing")
    station.plug(2)
    any_csms.log.wait_call("StartTransaction", CP)
    wait_status(station, 2, "Charging")
    station.tag(2, "TAG-2")
    stop = any_csms.log.wait_call("StopTransaction", CP)
    assert stop.payload["reason"] == "Local"
    wait_status(station, 2, "Finishing")
    station.unplug(2)
    wait_status(station, 2, "Available", since=1)


def test_tc_005_1_the_ev_unplugging_ends_the_transaction(
    any_csms, make_station: StationFactory
) -> None:
    station = make_station(any_csms)
    answered(station, "StatusNotification", 3)
    station.plug(1)
    station.tag(1, "TAG-1")
    wait_status(station, 1, "Charging")
    station.unplug(1)
    stop = any_csms.log.wait_call("StopTransaction", CP)
    assert stop.payload["reason"] == "EVDisconnected"
    wait_status(station, 1, "Available", since=1)


@pytest.mark.parametrize("status", ["Blocked", "Expired", "Invalid"])
def test_tc_023_a_refused_card_does_not_start(
    csms, make_station: StationFactory, status: str
) -> None:
    csms.known_tags["REFUSED"] = status
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    station.plug(1)
    station.tag(1, "REFUSED")
    answered(station, "Authorize")
    station.tag(1, "GOOD")
    csms.log.wait_call("StartTransaction", CP)
    assert [e.payload["idTag"] for e in csms.log.calls("StartTransaction")] == ["GOOD"]


def test_tc_004_2_connection_timeout_returns_to_available(
    csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(csms, Core={"ConnectionTimeOut": 30})
    answered(station, "StatusNotification", 3)
    station.tag(1, "TAG-1")
    wait_status(station, 1, "Preparing")
    clock.advance(30)
    wait_status(station, 1, "Available", since=1)
    assert not csms.log.calls("StartTransaction")


def test_minimum_status_duration_sends_only_statuses_that_held(
    csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(csms, Core={"MinimumStatusDuration": 5})
    answered(station, "StatusNotification", 3)
    mark = csms.log.mark()
    station.plug(1)
    wait_status(station, 1, "Preparing")
    station.unplug(1)  # back to Available within the 5 s: Preparing never held
    wait_status(station, 1, "Available", since=1)
    station.plug(2)
    wait_status(station, 2, "Preparing")
    clock.advance(5)
    held = csms.log.wait_for(
        lambda e: e.kind == "call" and e.action == "StatusNotification", since=mark
    )
    assert (held.payload["connectorId"], held.payload["status"]) == (2, "Preparing")
    answered(station, "StatusNotification", 4)
    # Connector 1 came back to the Available the CSMS knows: nothing to report.
    assert len(csms.log.calls("StatusNotification", since=mark)) == 1


def test_connection_timeout_with_the_cable_first_ends_the_incipient_session(
    csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(csms, Core={"ConnectionTimeOut": 30})
    answered(station, "StatusNotification", 3)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    clock.advance(30)
    wait_status(station, 1, "Finishing")
    mark = log_of(station).mark()
    station.tag(1, "LATE")  # a card after the timeout starts a new session
    start = csms.log.wait_call("StartTransaction", CP)
    assert start.payload["idTag"] == "LATE"
    wait_status(station, 1, "Charging", since=mark)
