"""OCPP 2.0.1 end to end: a station on real websockets against 2.0.1 CSMS peers.

Named after the Part 2 use cases they follow. The station's internal status
machine speaks 1.6's finer words (Preparing, Charging); what the CSMS sees
is 2.0.1's, which these tests read from the wire.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import ConfigApplied, Online, RegistrationChanged
from ocppstation.actors.runtime.supervisor import ChildRestarted, SupervisorGaveUp
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of, quiet, wait_status

CP = "cp-test"
V201 = ("ocpp2.0.1",)


@pytest.fixture
def csms201() -> Iterator[DevCsms]:
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=V201) as peer:
        yield peer


@pytest.fixture(params=["dev", "ocpp-rpc"])
def any_csms201(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The dev CSMS and ocpp-rpc in strict mode, both speaking ocpp2.0.1."""
    if request.param == "dev":
        with DevCsms(port=0, heartbeat_interval=60, subprotocols=V201) as peer:
            yield peer
        return
    from tests.peers.rpc_peer import OcppRpcPeer, unavailable_reason

    if why := unavailable_reason():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(why)
    peer = OcppRpcPeer(heartbeat_interval=60, subprotocols=V201)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()
    assert peer.validation_failures == [], peer.validation_failures


def station201(peer: Any, make_station: StationFactory, **sections: Any) -> Station:
    internal = {"OcppVersions": ["2.0.1"], **sections.pop("Internal", {})}
    station = make_station(peer, Internal=internal, **sections)
    answered(station, "StatusNotification", 2)
    return station


def events(peer: Any, since: int = 0) -> list[dict[str, Any]]:
    """The TransactionEvents the CSMS received, in order (re-sends left out)."""
    return [
        e.payload
        for e in peer.log.entries(since)
        if e.kind == "call"
        and e.direction == "in"
        and e.action == "TransactionEvent"
        and e.repeat_of is None
    ]


def wait_event(peer: Any, event_type: str, count: int = 1) -> list[dict[str, Any]]:
    peer.wait_for(
        lambda e: (
            sum(
                1
                for x in peer.log.entries()
                if x.kind == "call"
                and x.action == "TransactionEvent"
                and x.payload.get("eventType") == event_type
            )
            >= count
        ),
        timeout=5,
    )
    return events(peer)


def charging(station: Station, peer: Any, evse: int = 1, tag: str = "TAG-1") -> str:
    """Cable first, then the card: the authorization completes the start."""
    station.plug(evse)
    wait_status(station, evse, "Preparing")
    station.tag(evse, tag)
    wait_status(station, evse, "Charging")

    def started() -> list[dict[str, Any]]:
        return [e for e in events(peer) if e["eventType"] == "Started" and e["evse"]["id"] == evse]

    peer.wait_for(lambda _: bool(started()), timeout=5)
    return str(started()[-1]["transactionInfo"]["transactionId"])


# -- B Provisioning ------------------------------------------------------------


def test_b01_boot_names_the_station_and_why_it_booted(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station201(any_csms201, make_station)
    # The rpc peer's log trails the wire a little: wait for it, do not just read it.
    any_csms201.wait_for(lambda e: len(any_csms201.calls("StatusNotification")) >= 2, timeout=5)
    [connect] = [e for e in any_csms201.log.entries() if e.kind == "connect"]
    assert connect.payload.get("subprotocol") == "ocpp2.0.1"
    [boot] = any_csms201.calls("BootNotification")
    assert boot.payload["reason"] == "PowerUp"
    station = boot.payload["chargingStation"]
    assert (station["vendorName"], station["model"]) == ("ocppstation", "sim-ac-22")
    statuses = sorted(
        (s.payload["evseId"], s.payload["connectorId"], s.payload["connectorStatus"])
        for s in any_csms201.calls("StatusNotification")
    )
    assert statuses == [(1, 1, "Available"), (2, 1, "Available")]


def test_b02_a_pending_station_boots_again_after_the_interval(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    csms201.set_boot("Pending", interval=30)
    station = make_station(csms201, Internal={"OcppVersions": ["2.0.1"]})
    # Published once the retry timer is armed.
    log_of(station).wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Pending", timeout=5
    )
    assert not csms201.calls("StatusNotification")
    csms201.set_boot("Accepted", interval=60)
    clock.advance(30)
    log_of(station).wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Accepted", timeout=5
    )
    assert len(csms201.calls("BootNotification")) == 2
    answered(station, "StatusNotification", 2)


def test_g02_heartbeat_at_the_interval_the_csms_gave(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    clock.advance(60)
    answered(station, "Heartbeat")
    assert csms201.calls("Heartbeat")[0].payload == {}


# -- E Transactions ------------------------------------------------------------


def test_e01_a_session_is_started_updated_and_ended_with_gapless_seq_numbers(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    tx_id = charging(station, any_csms201)
    [authorize] = any_csms201.calls("Authorize")
    assert authorize.payload["idToken"] == {"idToken": "TAG-1", "type": "ISO14443"}
    station.unplug(1)
    sent = wait_event(any_csms201, "Ended")
    assert [e["seqNo"] for e in sent] == list(range(len(sent)))
    assert {e["transactionInfo"]["transactionId"] for e in sent} == {tx_id}
    started, ended = sent[0], sent[-1]
    assert started["eventType"] == "Started"
    assert started["triggerReason"] == "Authorized"  # the card completed the start
    assert started["idToken"] == {"idToken": "TAG-1", "type": "ISO14443"}
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin"
    assert any(e["transactionInfo"].get("chargingState") == "Charging" for e in sent)
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    end_values = [s for mv in ended["meterValue"] for s in mv["sampledValue"]]
    assert any(s["context"] == "Transaction.End" for s in end_values)

    # Occupied once for the whole session: Preparing and Charging are one 2.0.1 state.
    def evse1() -> list[str]:
        return [
            s.payload["connectorStatus"]
            for s in any_csms201.calls("StatusNotification")
            if s.payload["evseId"] == 1
        ]

    any_csms201.wait_for(lambda e: len(evse1()) >= 3, timeout=5)
    assert evse1() == ["Available", "Occupied", "Available"]


def test_e_a_card_first_then_the_cable_is_started_by_the_cable(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    station.tag(2, "TAG-2")
    wait_status(station, 2, "Preparing")  # authorized, waiting for the EV
    station.plug(2)
    started = wait_event(csms201, "Started")[-1]
    assert started["triggerReason"] == "CablePluggedIn"
    assert started["evse"] == {"id": 2, "connectorId": 1}


def test_e02_the_card_that_started_it_stops_it(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    charging(station, csms201)
    station.tag(1, "TAG-1")
    ended = wait_event(csms201, "Ended")[-1]
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"


def test_j02_periodic_meter_values_go_in_updated_events(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station, Core={"MeterValueSampleInterval": 10})
    charging(station, csms201)
    quiet(station)
    clock.advance(10)
    sent = wait_event(csms201, "Updated", 2)
    periodic = [e for e in sent if e["triggerReason"] == "MeterValuePeriodic"]
    assert periodic and periodic[0]["meterValue"][0]["sampledValue"][0]["context"] == (
        "Sample.Periodic"
    )
    assert [e["seqNo"] for e in sent] == list(range(len(sent)))


def test_e_an_invalid_token_in_the_answer_stops_the_transaction(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    csms201.set_reply("TransactionEvent", {"idTokenInfo": {"status": "Blocked"}})
    station.tag(1, "TAG-1")
    station.plug(1)
    ended = wait_event(csms201, "Ended")[-1]
    assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert ended["triggerReason"] == "Deauthorized"


def test_e_events_of_an_outage_are_marked_offline_and_delivered_in_order(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    tx_id = charging(station, csms201)
    quiet(station)
    csms201.drop(CP)
    log_of(station).wait_for(lambda e: isinstance(e, Online) and not e.online, timeout=5)
    station.unplug(1)
    wait_status(station, 1, "Available")
    clock.advance(5)  # the reconnect backoff
    sent = wait_event(csms201, "Ended")
    ended = sent[-1]
    assert ended["offline"] is True
    assert ended["transactionInfo"]["transactionId"] == tx_id
    assert [e["seqNo"] for e in sent] == list(range(len(sent)))


def test_e14_get_transaction_status(csms201: DevCsms, make_station: StationFactory) -> None:
    station = station201(csms201, make_station)
    tx_id = charging(station, csms201)
    answered(station, "TransactionEvent", 2)  # Started, Updated (Charging)
    answer = csms201.call(CP, "GetTransactionStatus", {"transactionId": tx_id})
    assert answer == {"ongoingIndicator": True, "messagesInQueue": False}
    assert csms201.call(CP, "GetTransactionStatus", {"transactionId": "unknown"}) == {
        "ongoingIndicator": False,
        "messagesInQueue": False,
    }
    assert csms201.call(CP, "GetTransactionStatus", {}) == {"messagesInQueue": False}


# -- F Remote control -----------------------------------------------------------


def test_f01_remote_start_then_the_cable(any_csms201: Any, make_station: StationFactory) -> None:
    station = station201(any_csms201, make_station)
    answer = any_csms201.call(
        CP,
        "RequestStartTransaction",
        {"idToken": {"idToken": "REMOTE", "type": "Central"}, "remoteStartId": 42, "evseId": 2},
    )
    assert answer == {"status": "Accepted"}
    station.plug(2)
    started = wait_event(any_csms201, "Started")[-1]
    assert started["transactionInfo"]["remoteStartId"] == 42
    assert started["idToken"] == {"idToken": "REMOTE", "type": "Central"}
    assert started["evse"]["id"] == 2


def test_f02_remote_start_with_the_cable_in_is_triggered_by_the_remote_start(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    csms201.call(
        CP,
        "RequestStartTransaction",
        {"idToken": {"idToken": "REMOTE", "type": "Central"}, "remoteStartId": 7},
    )
    started = wait_event(csms201, "Started")[-1]
    assert started["triggerReason"] == "RemoteStart"
    assert started["evse"]["id"] == 1


def test_f03_remote_stop(any_csms201: Any, make_station: StationFactory) -> None:
    station = station201(any_csms201, make_station)
    tx_id = charging(station, any_csms201)
    unknown = any_csms201.call(CP, "RequestStopTransaction", {"transactionId": "nope"})
    assert unknown == {"status": "Rejected"}
    answer = any_csms201.call(CP, "RequestStopTransaction", {"transactionId": tx_id})
    assert answer == {"status": "Accepted"}
    ended = wait_event(any_csms201, "Ended")[-1]
    assert ended["triggerReason"] == "RemoteStop"
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"


def test_f05_unlock_connector(csms201: DevCsms, make_station: StationFactory) -> None:
    station = station201(csms201, make_station)
    assert csms201.call(CP, "UnlockConnector", {"evseId": 9, "connectorId": 1}) == {
        "status": "UnknownConnector"
    }
    assert csms201.call(CP, "UnlockConnector", {"evseId": 2, "connectorId": 1}) == {
        "status": "Unlocked"
    }
    charging(station, csms201)
    assert csms201.call(CP, "UnlockConnector", {"evseId": 1, "connectorId": 1}) == {
        "status": "OngoingAuthorizedTransaction"
    }


def test_f06_trigger_message(csms201: DevCsms, make_station: StationFactory) -> None:
    station = station201(csms201, make_station)
    assert csms201.call(CP, "TriggerMessage", {"requestedMessage": "BootNotification"}) == {
        "status": "Rejected"
    }
    assert csms201.call(CP, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {
        "status": "Accepted"
    }
    answered(station, "Heartbeat")
    answer = csms201.call(
        CP,
        "TriggerMessage",
        {"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 1}},
    )
    assert answer == {"status": "Accepted"}
    answered(station, "StatusNotification", 3)
    assert csms201.calls("StatusNotification")[-1].payload["evseId"] == 2
    assert csms201.call(
        CP, "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 1}}
    ) == {"status": "Accepted"}
    values = csms201.log.wait_call("MeterValues", CP)
    assert values.payload["evseId"] == 1
    # L05's local firmware publishing is not done here.
    request = {"requestedMessage": "PublishFirmwareStatusNotification"}
    assert csms201.call(CP, "TriggerMessage", request) == {"status": "NotImplemented"}


# -- G Availability -------------------------------------------------------------


def test_g03_an_evse_made_inoperative_is_unavailable_and_stays_so(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    answer = csms201.call(
        CP, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}}
    )
    assert answer == {"status": "Accepted"}
    wait_status(station, 2, "Unavailable")
    answered(station, "StatusNotification", 3)
    last = csms201.calls("StatusNotification")[-1].payload
    assert (last["evseId"], last["connectorStatus"]) == (2, "Unavailable")


def test_g03_during_a_transaction_the_change_is_scheduled(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    charging(station, csms201)
    answer = csms201.call(CP, "ChangeAvailability", {"operationalStatus": "Inoperative"})
    assert answer == {"status": "Scheduled"}
    station.unplug(1)
    wait_status(station, 1, "Unavailable")


# -- B Reset --------------------------------------------------------------------


def test_b12_reset_on_idle_waits_for_the_transaction(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    charging(station, csms201)
    assert csms201.call(CP, "Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
    station.unplug(1)
    csms201.wait_for(lambda e: len(csms201.calls("BootNotification")) == 2, timeout=10)
    assert csms201.calls("BootNotification")[-1].payload["reason"] == "RemoteReset"


def test_b11_reset_immediate_ends_the_transaction_first(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    charging(station, csms201)
    assert csms201.call(CP, "Reset", {"type": "Immediate"}) == {"status": "Accepted"}
    csms201.wait_for(lambda e: len(csms201.calls("BootNotification")) == 2, timeout=10)
    ended = [e for e in events(csms201) if e["eventType"] == "Ended"]
    assert ended and ended[-1]["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    assert ended[-1]["triggerReason"] == "ResetCommand"
    assert csms201.calls("BootNotification")[-1].payload["reason"] == "RemoteReset"


def _evse_restarted(station: Station, evse: int) -> None:
    log_of(station).wait_for(
        lambda e: isinstance(e, ChildRestarted) and e.path == f"evses/{evse}", timeout=10
    )


def test_b11_an_evse_reset_immediate_ends_its_transaction_and_restarts_only_it(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    first = charging(station, csms201, evse=1)
    second = charging(station, csms201, evse=2, tag="TAG-2")
    statuses = len(csms201.calls("StatusNotification"))
    answer = csms201.call(CP, "Reset", {"type": "Immediate", "evseId": 1})
    assert answer == {"status": "Accepted"}
    _evse_restarted(station, 1)
    ended = [e for e in wait_event(csms201, "Ended") if e["eventType"] == "Ended"]
    assert [e["transactionInfo"]["transactionId"] for e in ended] == [first]
    assert ended[0]["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    assert ended[0]["triggerReason"] == "ResetCommand"
    # The restarted EVSE says where it is; the station did not reboot.
    csms201.wait_for(
        lambda e: any(
            s.payload["evseId"] == 1 for s in csms201.calls("StatusNotification")[statuses:]
        ),
        timeout=5,
    )
    assert len(csms201.calls("BootNotification")) == 1
    assert station.status()["evses"][1]["transaction_id"] == second


def test_b12_an_evse_reset_on_idle_waits_for_its_transaction(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    charging(station, csms201, evse=1)
    assert csms201.call(CP, "Reset", {"type": "OnIdle", "evseId": 1}) == {"status": "Scheduled"}
    assert not [e for e in log_of(station).all() if isinstance(e, ChildRestarted)]
    station.unplug(1)
    _evse_restarted(station, 1)
    assert len(csms201.calls("BootNotification")) == 1
    # An idle EVSE is reset at once.
    assert csms201.call(CP, "Reset", {"type": "OnIdle", "evseId": 2}) == {"status": "Accepted"}
    _evse_restarted(station, 2)


def test_b_a_reset_of_an_unknown_evse_is_rejected(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    answer = csms201.call(CP, "Reset", {"type": "Immediate", "evseId": 3})
    assert answer == {"status": "Rejected"}


def test_b_boot_reasons_triggered_local_reset_and_watchdog(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    csms201.set_boot("Pending", interval=300)
    station = make_station(csms201, Internal={"OcppVersions": ["2.0.1"], "DataDir": str(tmp_path)})
    csms201.wait_for(lambda e: len(csms201.calls("BootNotification")) == 1, timeout=5)
    csms201.set_boot("Accepted", interval=60)
    answer = csms201.call(CP, "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert answer == {"status": "Accepted"}
    csms201.wait_for(lambda e: len(csms201.calls("BootNotification")) == 2, timeout=5)
    answered(station, "StatusNotification", 2)
    station.reset("Soft")  # the embedder's (a local) reset
    csms201.wait_for(lambda e: len(csms201.calls("BootNotification")) == 3, timeout=10)
    answered(station, "StatusNotification", 4)
    station.stop()
    # A run whose root gave up leaves a mark; the next run boots as after a watchdog.
    (tmp_path / "gave-up").write_text("more than 5 restarts\n")
    make_station(csms201, Internal={"OcppVersions": ["2.0.1"], "DataDir": str(tmp_path)})
    csms201.wait_for(lambda e: len(csms201.calls("BootNotification")) == 4, timeout=5)
    reasons = [b.payload["reason"] for b in csms201.calls("BootNotification")]
    assert reasons == ["PowerUp", "Triggered", "LocalReset", "Watchdog"]
    assert not (tmp_path / "gave-up").exists()


# -- the RPC framework -------------------------------------------------------------


def test_an_unrouted_known_action_is_not_supported_and_an_unknown_one_not_implemented(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    # A local controller's call: a station answers it NotSupported.
    csms201.send_raw(CP, '[2,"x1","UnpublishFirmware",{"checksum":"0123456789abcdef"}]')
    csms201.send_raw(CP, '[2,"x2","NoSuchAction",{}]')
    csms201.wait_for(
        lambda e: e.kind == "error" and e.unique_id == "x2",
        timeout=5,
    )
    codes = {e.unique_id: e.error_code for e in csms201.log.entries() if e.kind == "error"}
    assert codes == {"x1": "NotSupported", "x2": "NotImplemented"}


def test_a_malformed_2_0_1_payload_gets_the_right_callerror(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    # remoteStartId missing: a required property.
    csms201.send_raw(
        CP, '[2,"m1","RequestStartTransaction",{"idToken":{"idToken":"A","type":"Central"}}]'
    )
    csms201.wait_for(lambda e: e.kind == "error" and e.unique_id == "m1", timeout=5)
    [error] = [e for e in csms201.log.entries() if e.kind == "error"]
    # 2.0.1 Part 4 keeps 1.6's spelling (2.1 corrects it); protocol/errors.py.
    assert error.error_code == "OccurenceConstraintViolation"


# -- choosing the version ----------------------------------------------------------


def test_offering_both_speaks_1_6_to_a_1_6_csms(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms, Internal={"OcppVersions": ["2.0.1", "1.6"]})
    csms.log.wait_call("BootNotification", CP, timeout=10)
    [boot] = csms.calls("BootNotification")
    assert "chargePointVendor" in boot.payload
    assert station.config.ocpp_version.value == "ocpp1.6"


def test_offering_both_speaks_2_0_1_to_a_csms_that_prefers_it(
    make_station: StationFactory,
) -> None:
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=("ocpp2.0.1", "ocpp1.6")) as peer:
        make_station(peer, Internal={"OcppVersions": ["1.6", "2.0.1"]})
        peer.log.wait_call("BootNotification", CP, timeout=10)
        boot = peer.calls("BootNotification")[-1]
        assert "chargingStation" in boot.payload


# -- the device model -----------------------------------------------------------------


def _cv(component: str, variable: str, **more: Any) -> dict[str, Any]:
    return {"component": {"name": component}, "variable": {"name": variable}, **more}


def test_b06_get_variables_answers_each_item(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station201(any_csms201, make_station, Core={"HeartbeatInterval": 120})
    answer = any_csms201.call(
        CP,
        "GetVariables",
        {
            "getVariableData": [
                _cv("OCPPCommCtrlr", "HeartbeatInterval"),
                _cv("NoSuchCtrlr", "HeartbeatInterval"),
                _cv("OCPPCommCtrlr", "NoSuchVariable"),
                _cv("SecurityCtrlr", "BasicAuthPassword"),
                _cv("OCPPCommCtrlr", "HeartbeatInterval", attributeType="MaxSet"),
                {
                    "component": {"name": "EVSE", "evse": {"id": 2}},
                    "variable": {"name": "Available"},
                },
            ]
        },
    )
    results = [(r["attributeStatus"], r.get("attributeValue")) for r in answer["getVariableResult"]]
    assert results == [
        ("Accepted", "120"),  # the config file's 1.6 key, at its 2.0.1 place
        ("UnknownComponent", None),
        ("UnknownVariable", None),
        ("Rejected", None),  # write-only: never read back
        ("NotSupportedAttributeType", None),
        ("Accepted", "true"),
    ]


def test_b05_set_variables_applies_stores_and_refuses_what_it_must(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Any
) -> None:
    station = station201(csms201, make_station, Internal={"DataDir": str(tmp_path)})
    answer = csms201.call(
        CP,
        "SetVariables",
        {
            "setVariableData": [
                _cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="45"),
                _cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="soon"),
                _cv("SecurityCtrlr", "SecurityProfile", attributeValue="2"),
                _cv("NoSuchCtrlr", "X", attributeValue="1"),
            ]
        },
    )
    statuses = [r["attributeStatus"] for r in answer["setVariableResult"]]
    assert statuses == ["Accepted", "Rejected", "Rejected", "UnknownComponent"]
    assert station.setting("HeartbeatInterval") == 45
    # The heartbeat follows at once, at the new interval (re-armed once the answer is out).
    log_of(station).wait_for(
        lambda e: isinstance(e, ConfigApplied) and e.path == "registration", timeout=5
    )
    mark = len(csms201.calls("Heartbeat"))
    clock.advance(45)
    csms201.wait_for(lambda e: len(csms201.calls("Heartbeat")) > mark, timeout=5)
    # Stored: a new process on the same data dir reads it back.
    station.stop()
    again = station201(csms201, make_station, Internal={"DataDir": str(tmp_path)}, cp_id=CP)
    assert again.setting("HeartbeatInterval") == 45


def test_b07_a_full_inventory_comes_in_notify_reports_of_bounded_size(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station201(any_csms201, make_station)
    answer = any_csms201.call(CP, "GetBaseReport", {"requestId": 7, "reportBase": "FullInventory"})
    assert answer == {"status": "Accepted"}
    any_csms201.wait_for(
        lambda e: e.kind == "call" and e.action == "NotifyReport" and not e.payload.get("tbc"),
        timeout=5,
    )
    reports = [c.payload for c in any_csms201.calls("NotifyReport")]
    assert [r["seqNo"] for r in reports] == list(range(len(reports)))
    assert all(r["requestId"] == 7 for r in reports)
    assert [r.get("tbc", False) for r in reports] == [True] * (len(reports) - 1) + [False]
    assert all(len(r["reportData"]) <= 100 for r in reports)  # ItemsPerMessage[GetReport]
    names = {
        (d["component"]["name"], d["variable"]["name"]) for r in reports for d in r["reportData"]
    }
    assert ("OCPPCommCtrlr", "HeartbeatInterval") in names
    assert ("EVSE", "AvailabilityState") in names and ("Connector", "ConnectorType") in names
    password = [
        d for r in reports for d in r["reportData"] if d["variable"]["name"] == "BasicAuthPassword"
    ]
    assert all("value" not in a for d in password for a in d["variableAttribute"])


def test_b08_get_report_filters_and_says_when_nothing_matches(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    answer = csms201.call(
        CP,
        "GetReport",
        {"requestId": 3, "componentVariable": [{"component": {"name": "TxCtrlr"}}]},
    )
    assert answer == {"status": "Accepted"}
    report = csms201.log.wait_call("NotifyReport", CP)
    assert {d["component"]["name"] for d in report.payload["reportData"]} == {"TxCtrlr"}
    empty = csms201.call(
        CP, "GetReport", {"requestId": 4, "componentVariable": [{"component": {"name": "Nope"}}]}
    )
    assert empty == {"status": "EmptyResultSet"}


def test_a_builders_own_variable_is_in_the_model(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    fan = {
        "component": "AcmeCtrlr",
        "variable": "FanSpeed",
        "data_type": "integer",
        "min": 0,
        "max": 5000,
        "default": 1200,
    }
    station201(csms201, make_station, DeviceModel={"Variables": [fan]})
    answer = csms201.call(
        CP,
        "SetVariables",
        {"setVariableData": [_cv("AcmeCtrlr", "FanSpeed", attributeValue="9000")]},
    )
    assert answer["setVariableResult"][0]["attributeStatus"] == "Rejected"
    got = csms201.call(CP, "GetVariables", {"getVariableData": [_cv("AcmeCtrlr", "FanSpeed")]})
    assert got["getVariableResult"][0]["attributeValue"] == "1200"


def test_the_availability_variables_follow_the_connectors(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    charging(station, csms201)
    csms201.call(CP, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}})
    wait_status(station, 2, "Unavailable")

    def read(component: str, evse: int | None, variable: str) -> str:
        where: dict[str, Any] = {"name": component}
        if evse is not None:
            where["evse"] = {"id": evse, **({"connectorId": 1} if component == "Connector" else {})}
        answer = csms201.call(
            CP,
            "GetVariables",
            {"getVariableData": [{"component": where, "variable": {"name": variable}}]},
        )
        return str(answer["getVariableResult"][0]["attributeValue"])

    assert read("Connector", 1, "AvailabilityState") == "Occupied"
    assert read("EVSE", 2, "AvailabilityState") == "Unavailable"
    assert read("EVSE", 2, "Available") == "false"
    assert read("ChargingStation", None, "AvailabilityState") == "Available"


# -- E TxStartPoint ---------------------------------------------------------------------


def _wait_trigger(peer: Any, trigger: str) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        return [e for e in events(peer) if e["triggerReason"] == trigger]

    peer.wait_for(lambda _: bool(found()), timeout=5)
    return found()


def _start_point(peer: Any, points: str, timeout: int | None = None) -> None:
    items = [_cv("TxCtrlr", "TxStartPoint", attributeValue=points)]
    if timeout is not None:
        items.append(_cv("TxCtrlr", "EVConnectionTimeOut", attributeValue=str(timeout)))
    answer = peer.call(CP, "SetVariables", {"setVariableData": items})
    assert {r["attributeStatus"] for r in answer["setVariableResult"]} == {"Accepted"}


def test_e_tx_start_point_ev_connected_starts_at_the_cable_and_powers_at_the_card(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    _start_point(any_csms201, "EVConnected")
    station.plug(1)
    [started] = wait_event(any_csms201, "Started")
    assert started["triggerReason"] == "CablePluggedIn"
    assert "idToken" not in started and started["seqNo"] == 0
    wait_status(station, 1, "Preparing")  # no power without a driver
    station.tag(1, "TAG-1")
    wait_status(station, 1, "Charging")
    updated = wait_event(any_csms201, "Updated", 2)
    authorized = [e for e in updated if e["triggerReason"] == "Authorized"]
    assert authorized and authorized[0]["idToken"]["idToken"] == "TAG-1"
    station.unplug(1)
    sent = wait_event(any_csms201, "Ended")
    assert [e["seqNo"] for e in sent] == list(range(len(sent)))
    assert len({e["transactionInfo"]["transactionId"] for e in sent}) == 1


def test_e_tx_start_point_ev_connected_without_a_driver_ends_when_the_ev_leaves(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    _start_point(csms201, "EVConnected")
    station.plug(2)
    wait_event(csms201, "Started")
    station.unplug(2)
    ended = wait_event(csms201, "Ended")[-1]
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"


def test_f02_a_remote_start_authorizes_the_transaction_the_cable_started(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    _start_point(csms201, "EVConnected")
    station.plug(1)
    started = wait_event(csms201, "Started")[-1]
    tx_id = started["transactionInfo"]["transactionId"]
    answer = csms201.call(
        CP,
        "RequestStartTransaction",
        {"idToken": {"idToken": "APP", "type": "Central"}, "remoteStartId": 3, "evseId": 1},
    )
    assert answer == {"status": "Accepted", "transactionId": tx_id}
    wait_status(station, 1, "Charging")
    [remote] = _wait_trigger(csms201, "RemoteStart")
    assert remote["idToken"] == {"idToken": "APP", "type": "Central"}


def test_e_tx_start_point_authorized_starts_at_the_card_and_times_out_without_an_ev(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    _start_point(csms201, "Authorized", timeout=30)
    station.tag(1, "TAG-1")
    started = wait_event(csms201, "Started")[-1]
    assert started["triggerReason"] == "Authorized" and started["idToken"]["idToken"] == "TAG-1"
    wait_status(station, 1, "Preparing")
    quiet(station)
    clock.advance(30)
    ended = wait_event(csms201, "Ended")[-1]
    assert ended["transactionInfo"]["stoppedReason"] == "Timeout"
    assert ended["triggerReason"] == "EVConnectTimeout"
    wait_status(station, 1, "Available")


def test_e_tx_start_point_authorized_powers_when_the_ev_comes(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    _start_point(csms201, "Authorized")
    station.tag(1, "TAG-1")
    wait_event(csms201, "Started")
    station.plug(1)
    wait_status(station, 1, "Charging")
    [plugged] = _wait_trigger(csms201, "CablePluggedIn")
    assert plugged["eventType"] == "Updated"


def test_b_a_root_that_gives_up_leaves_the_watchdog_mark(
    csms201: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    station = station201(csms201, make_station, Internal={"DataDir": str(tmp_path)})
    log = log_of(station)
    # The root allows 5 restarts in 30 s; each crash waits for the restart
    # before it (one told to a restarting part is lost).
    for _ in range(12):
        if station.wait_failed(0) is not None:
            break
        since = len(log.all())
        station.crash("registration")
        log.wait_for(
            lambda e: (
                (isinstance(e, ChildRestarted) and e.path == "remote_trigger")
                or isinstance(e, SupervisorGaveUp)
            ),
            timeout=10,
            since=since,
        )
    assert station.wait_failed(5) is not None
    assert "restarts" in (tmp_path / "gave-up").read_text()


# -- E TxStopPoint ----------------------------------------------------------------------


def _stop_point(peer: Any, points: str, **more: str) -> None:
    items = [_cv("TxCtrlr", "TxStopPoint", attributeValue=points)]
    items += [_cv("TxCtrlr", name, attributeValue=value) for name, value in more.items()]
    answer = peer.call(CP, "SetVariables", {"setVariableData": items})
    assert {r["attributeStatus"] for r in answer["setVariableResult"]} == {"Accepted"}


def _ended(peer: Any) -> dict[str, Any]:
    [ended] = [e for e in wait_event(peer, "Ended") if e["eventType"] == "Ended"]
    return ended


def test_e_tx_stop_point_ev_connected_outlives_the_driver_until_the_ev_leaves(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    _stop_point(any_csms201, "EVConnected")
    transaction = charging(station, any_csms201)
    station.tag(1, "TAG-1")  # the driver ends the authorization, not the transaction
    wait_status(station, 1, "SuspendedEVSE")
    stopped = _wait_trigger(any_csms201, "StopAuthorized")
    assert stopped[-1]["eventType"] == "Updated"
    assert stopped[-1]["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    assert station.status()["evses"][0]["transaction_id"] == transaction
    station.unplug(1)
    ended = _ended(any_csms201)
    assert ended["transactionInfo"]["transactionId"] == transaction
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"


def test_e_tx_stop_point_authorized_outlives_the_cable_until_the_driver_stops(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    _stop_point(csms201, "Authorized", StopTxOnEVSideDisconnect="false")
    transaction = charging(station, csms201)
    station.unplug(1)
    wait_status(station, 1, "SuspendedEV")
    assert not [e for e in events(csms201) if e["eventType"] == "Ended"]
    station.tag(1, "TAG-1")
    ended = _ended(csms201)
    assert ended["transactionInfo"]["transactionId"] == transaction
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["triggerReason"] == "StopAuthorized"


def test_e_tx_stop_point_energy_transfer_ends_when_the_ev_stops_drawing(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    _stop_point(csms201, "EnergyTransfer")
    charging(station, csms201)
    station.ev_suspend(1)
    ended = _ended(csms201)
    assert ended["transactionInfo"]["stoppedReason"] == "StoppedByEV"


def test_e_tx_stop_point_refuses_what_it_cannot_honour(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    item = _cv("TxCtrlr", "TxStopPoint", attributeValue="ParkingBayOccupancy")
    answer = csms201.call(CP, "SetVariables", {"setVariableData": [item]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Rejected"
