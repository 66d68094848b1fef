"""CSMS-initiated Core operations, each named after the OCTT 1.6 case it follows."""

from __future__ import annotations

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import RegistrationChanged, TransactionStarted
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of, wait_status

CP = "cp-test"


def booted(peer, make_station: StationFactory, **sections) -> Station:
    station = make_station(peer, **sections)
    answered(station, "StatusNotification", 3)
    return station


def charging(station: Station, evse: int = 1, tag: str = "TAG-1") -> int:
    station.plug(evse)
    station.tag(evse, tag)
    started = log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
    wait_status(station, evse, "Charging")
    return started.transaction_id


def test_tc_010_remote_start_with_the_cable_plugged_in_first(
    any_csms, make_station: StationFactory
) -> None:
    station = booted(any_csms, make_station)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    answer = any_csms.call(CP, "RemoteStartTransaction", {"idTag": "REMOTE", "connectorId": 1})
    assert answer == {"status": "Accepted"}
    start = any_csms.log.wait_call("StartTransaction", CP)
    assert (start.payload["connectorId"], start.payload["idTag"]) == (1, "REMOTE")
    wait_status(station, 1, "Charging")


def test_tc_011_1_remote_start_first_then_the_cable(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    answer = csms.call(CP, "RemoteStartTransaction", {"idTag": "REMOTE"})
    assert answer == {"status": "Accepted"}
    wait_status(station, 1, "Preparing")
    station.plug(1)
    start = csms.log.wait_call("StartTransaction", CP)
    assert start.payload["connectorId"] == 1
    wait_status(station, 1, "Charging")


def test_tc_011_2_remote_start_times_out_without_a_cable(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station, Core={"ConnectionTimeOut": 40})
    csms.call(CP, "RemoteStartTransaction", {"idTag": "REMOTE", "connectorId": 2})
    wait_status(station, 2, "Preparing")
    clock.advance(40)
    wait_status(station, 2, "Available", since=1)
    assert not csms.log.calls("StartTransaction")


def test_remote_start_without_a_connector_picks_the_one_with_a_cable(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    station.plug(2)
    wait_status(station, 2, "Preparing")
    csms.call(CP, "RemoteStartTransaction", {"idTag": "REMOTE"})
    start = csms.log.wait_call("StartTransaction", CP)
    assert start.payload["connectorId"] == 2


def test_tc_012_remote_stop(any_csms, make_station: StationFactory) -> None:
    station = booted(any_csms, make_station)
    tx = charging(station)
    assert any_csms.call(CP, "RemoteStopTransaction", {"transactionId": tx}) == {
        "status": "Accepted"
    }
    stop = any_csms.log.wait_call("StopTransaction", CP)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx, "Remote")
    wait_status(station, 1, "Finishing")


def test_tc_026_remote_start_rejected_on_a_busy_connector(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    charging(station, 1)
    answer = csms.call(CP, "RemoteStartTransaction", {"idTag": "OTHER", "connectorId": 1})
    assert answer == {"status": "Rejected"}


@pytest.mark.parametrize("connector", [0, 3])
def test_tc_027_remote_start_on_connector_0_or_unknown_is_rejected(
    csms: DevCsms, make_station: StationFactory, connector: int
) -> None:
    booted(csms, make_station)
    answer = csms.call(CP, "RemoteStartTransaction", {"idTag": "X", "connectorId": connector})
    assert answer == {"status": "Rejected"}
    assert not csms.log.calls("StartTransaction")


def test_tc_028_remote_stop_of_an_unknown_transaction_is_rejected(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    tx = charging(station)
    assert csms.call(CP, "RemoteStopTransaction", {"transactionId": tx + 1000}) == {
        "status": "Rejected"
    }
    assert not csms.log.calls("StopTransaction")


def test_tc_017_1_unlock_without_a_session(csms: DevCsms, make_station: StationFactory) -> None:
    booted(csms, make_station)
    assert csms.call(CP, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}


def test_tc_018_1_unlock_with_a_session_stops_it_first(
    any_csms, make_station: StationFactory
) -> None:
    station = booted(any_csms, make_station)
    tx = charging(station)
    assert any_csms.call(CP, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    stop = any_csms.log.wait_call("StopTransaction", CP)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx, "UnlockCommand")


def test_tc_017_2_unlock_of_a_fixed_cable_is_not_supported(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station, Simulation={"FixedCable": True})
    assert csms.call(CP, "UnlockConnector", {"connectorId": 1}) == {"status": "NotSupported"}


def test_tc_018_2_unlock_of_a_fixed_cable_leaves_the_session_running(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station, Simulation={"FixedCable": True})
    charging(station)
    assert csms.call(CP, "UnlockConnector", {"connectorId": 1}) == {"status": "NotSupported"}
    assert station.status()["evses"][0]["status"] == "Charging"
    assert not csms.log.calls("StopTransaction")


def test_unlock_fails_with_a_jammed_lock(csms: DevCsms, make_station: StationFactory) -> None:
    station = booted(csms, make_station)
    station.fault(1, "ConnectorLockFailure")
    wait_status(station, 1, "Faulted")
    assert csms.call(CP, "UnlockConnector", {"connectorId": 1}) == {"status": "UnlockFailed"}


def test_tc_031_unlock_of_an_unknown_connector_is_not_supported(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station)
    assert csms.call(CP, "UnlockConnector", {"connectorId": 7}) == {"status": "NotSupported"}


def test_change_availability_of_one_connector_and_back(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    answer = csms.call(CP, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    assert answer == {"status": "Accepted"}
    wait_status(station, 2, "Unavailable")
    station.tag(2, "TAG")  # ignored while unavailable
    answer = csms.call(CP, "ChangeAvailability", {"connectorId": 2, "type": "Operative"})
    assert answer == {"status": "Accepted"}
    wait_status(station, 2, "Available", since=1)
    assert not csms.log.calls("Authorize")


def test_change_availability_during_a_transaction_is_scheduled(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    charging(station)
    answer = csms.call(CP, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    assert answer == {"status": "Scheduled"}
    wait_status(station, 2, "Unavailable")  # the idle connector at once
    unavailable_0 = csms.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "StatusNotification"
            and e.payload["connectorId"] == 0
            and e.payload["status"] == "Unavailable"
        )
    )
    assert unavailable_0
    station.tag(1, "TAG-1")  # the driver ends the session
    csms.log.wait_call("StopTransaction", CP)
    wait_status(station, 1, "Unavailable")


def test_change_availability_of_an_unknown_connector_is_rejected(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station)
    answer = csms.call(CP, "ChangeAvailability", {"connectorId": 9, "type": "Inoperative"})
    assert answer == {"status": "Rejected"}


@pytest.mark.parametrize("kind", ["Soft", "Hard"])
def test_tc_013_tc_014_reset_without_a_transaction_boots_again(
    csms: DevCsms, make_station: StationFactory, kind: str
) -> None:
    station = booted(csms, make_station)
    mark = csms.log.mark()
    assert csms.call(CP, "Reset", {"type": kind}) == {"status": "Accepted"}
    csms.log.wait_call("BootNotification", CP, since=mark)
    log_of(station).wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Accepted",
        timeout=10,
        since=2,
    )
    csms.log.wait_for(
        lambda e: (
            e.kind == "call" and e.action == "StatusNotification" and e.payload["connectorId"] == 2
        ),
        since=mark,
    )


@pytest.mark.parametrize("kind,reason", [("Soft", "SoftReset"), ("Hard", "HardReset")])
def test_tc_015_tc_016_reset_with_a_transaction_stops_it_first(
    csms: DevCsms, make_station: StationFactory, kind: str, reason: str
) -> None:
    station = booted(csms, make_station)
    tx = charging(station)
    mark = csms.log.mark()
    csms.call(CP, "Reset", {"type": kind})
    stop = csms.log.wait_call("StopTransaction", CP, since=mark)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx, reason)
    boot = csms.log.wait_call("BootNotification", CP, since=mark)
    if kind == "Soft":
        assert stop.seq < boot.seq


def test_hard_reset_can_be_handed_to_the_embedder(
    csms: DevCsms, make_station: StationFactory
) -> None:
    import threading

    station = booted(csms, make_station)
    rebooted = threading.Event()
    station.on_hard_reset = rebooted.set
    csms.call(CP, "Reset", {"type": "Hard"})
    assert rebooted.wait(5)


def test_data_transfer_by_vendor_and_message(any_csms, make_station: StationFactory) -> None:
    station = booted(any_csms, make_station)
    station.register_data_transfer("com.example", "echo", lambda data: ("Accepted", data))
    answer = any_csms.call(
        CP, "DataTransfer", {"vendorId": "com.example", "messageId": "echo", "data": "hi"}
    )
    assert answer == {"status": "Accepted", "data": "hi"}
    assert any_csms.call(CP, "DataTransfer", {"vendorId": "com.example", "messageId": "x"}) == {
        "status": "UnknownMessageId"
    }
    assert any_csms.call(CP, "DataTransfer", {"vendorId": "org.other"}) == {
        "status": "UnknownVendorId"
    }


def test_the_station_sends_its_own_data_transfer(any_csms, make_station: StationFactory) -> None:
    station = booted(any_csms, make_station)
    answer = station.data_transfer("com.example", "hello", "world")
    call = any_csms.log.wait_call("DataTransfer", CP)
    assert call.payload == {"vendorId": "com.example", "messageId": "hello", "data": "world"}
    assert "status" in answer


def test_tc_062_data_transfer_for_an_unknown_vendor_is_not_accepted(
    any_csms, make_station: StationFactory
) -> None:
    booted(any_csms, make_station)
    answer = any_csms.call(CP, "DataTransfer", {"vendorId": "com.unknown", "messageId": "x"})
    assert answer == {"status": "UnknownVendorId"}
