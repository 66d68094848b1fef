"""Fault injection: crashed actors, an EVSE that gives up, garbage from the CSMS."""

from __future__ import annotations

import json

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import (
    ConnectorChanged,
    LinkChanged,
    MessageAnswered,
    TransactionStarted,
    TransactionStopped,
)
from ocppstation.actors.link.rpc import SayLinkState
from ocppstation.actors.runtime.supervisor import ChildRestarted, ChildTerminated
from ocppstation.actors.station import Station, StationError
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of, wait_status

CP = "cp-test"


def test_a_crashed_meter_restarts_alone_and_the_session_goes_on(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(csms, Core={"MeterValueSampleInterval": 10})
    answered(station, "StatusNotification", 3)
    station.plug(1)
    station.tag(1, "TAG-1")
    log_of(station).wait_for(
        lambda e: isinstance(e, ConnectorChanged) and e.status == "Charging", timeout=5
    )
    # The CSMS's answer to the start must be in before virtual time jumps.
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
    connects = len([e for e in csms.log if e.kind == "connect"])
    old = station.registry.require("evses/1/meter")
    station.crash("evses/1/meter")
    restarted = log_of(station).wait_for(lambda e: isinstance(e, ChildRestarted), timeout=5)
    assert restarted.path == "evses/1/meter"
    assert station.registry.wait_for("evses/1/meter", 5, not_ref=old) is not old
    # Only the meter: its siblings and the link are the same actors as before.
    assert not any(
        isinstance(e, ChildRestarted) and e.path != "evses/1/meter" for e in log_of(station).all()
    )
    mark = csms.log.mark()
    clock.advance(10)
    values = csms.log.wait_call("MeterValues", CP, since=mark)
    energy = values.payload["meterValue"][0]["sampledValue"][0]
    assert energy["measurand"] == "Energy.Active.Import.Register"
    assert float(energy["value"]) > 0  # the hardware kept counting through the crash
    assert len([e for e in csms.log if e.kind == "connect"]) == connects
    assert station.status()["link"] == "up"


def test_an_evse_past_its_restart_intensity_is_faulted_and_the_others_work(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    # max_restarts=3 within 5 s: three crashes are restarted, the fourth gives up.
    for _ in range(3):
        ref = station.registry.wait_for("evses/1/connector", 5)
        station.crash("evses/1/connector")
        station.registry.wait_for("evses/1/connector", 5, not_ref=ref)
    station.crash("evses/1/connector")
    gone = log_of(station).wait_for(
        lambda e: isinstance(e, ChildTerminated) and e.path == "evses/1", timeout=5
    )
    assert gone.path == "evses/1"
    faulted = csms.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "StatusNotification"
            and e.payload["connectorId"] == 1
            and e.payload["status"] == "Faulted"
        )
    )
    assert faulted.payload["errorCode"] == "InternalError"
    assert station.status()["evses"][0]["status"] == "down"
    with pytest.raises(Exception, match="EVSE 1 is down"):
        station.tag(1, "TAG-1")
    station.plug(2)
    station.tag(2, "TAG-2")
    start = csms.log.wait_call("StartTransaction", CP)
    assert start.payload["connectorId"] == 2
    assert station.status()["link"] == "up"


def test_an_evse_that_gives_up_ends_its_transaction_at_once(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    station.plug(1)
    station.tag(1, "TAG-1")
    started = log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
    for _ in range(3):
        ref = station.registry.wait_for("evses/1/connector", 5)
        station.crash("evses/1/connector")
        station.registry.wait_for("evses/1/connector", 5, not_ref=ref)
    mark = csms.log.mark()
    station.crash("evses/1/connector")
    # Not at the next start of the process: now, at the last known meter value.
    stop = csms.log.wait_call("StopTransaction", CP, since=mark)
    assert stop.payload["transactionId"] == started.transaction_id
    assert stop.payload["reason"] == "Other"
    assert stop.payload["meterStop"] >= started.meter_start
    stopped = log_of(station).wait_for(lambda e: isinstance(e, TransactionStopped), timeout=5)
    assert (stopped.evse, stopped.reason) == (1, "Other")
    assert station.status()["evses"][0]["status"] == "down"


def _give_up(station: Station) -> None:
    """Crash EVSE 1's connector past its restart intensity (3 in 5 s)."""
    for _ in range(3):
        ref = station.registry.wait_for("evses/1/connector", 5)
        station.crash("evses/1/connector")
        station.registry.wait_for("evses/1/connector", 5, not_ref=ref)
    station.crash("evses/1/connector")
    log_of(station).wait_for(
        lambda e: isinstance(e, ChildTerminated) and e.path == "evses/1", timeout=5
    )


def _status_of_1(csms: DevCsms, status: str, since: int) -> None:
    csms.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "StatusNotification"
            and e.payload["connectorId"] == 1
            and e.payload["status"] == status
        ),
        since=since,
    )


def test_an_operator_brings_an_evse_that_gave_up_back(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    with pytest.raises(StationError, match="has not given up"):
        station.revive(1)
    _give_up(station)
    mark = csms.log.mark()
    station.revive(1)
    _status_of_1(csms, "Available", mark)
    assert station.status()["evses"][0]["status"] == "Available"
    # It charges again, and has its restart intensity back.
    station.plug(1)
    station.tag(1, "TAG-1")
    start = csms.log.wait_call("StartTransaction", CP, since=mark)
    assert start.payload["connectorId"] == 1
    ref = station.registry.wait_for("evses/1/connector", 5)
    station.crash("evses/1/connector")
    station.registry.wait_for("evses/1/connector", 5, not_ref=ref)


def test_change_availability_operative_retries_an_evse_that_gave_up(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    _give_up(station)
    mark = csms.log.mark()
    answer = csms.call(CP, "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    assert answer == {"status": "Accepted"}
    _status_of_1(csms, "Available", mark)
    station.plug(1)
    wait_status(station, 1, "Preparing")


def test_a_crashed_websocket_reconnects_without_a_new_boot(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    mark = csms.log.mark()
    station.crash("link/websocket")
    log_of(station).wait_for(lambda e: isinstance(e, LinkChanged) and e.up, timeout=5, since=1)
    csms.log.wait_for(
        lambda e: (
            e.kind == "call" and e.action == "StatusNotification" and e.payload["connectorId"] == 2
        ),
        since=mark,
    )
    assert not csms.log.calls("BootNotification", since=mark)


GARBAGE = [
    # (frame, expected message id, expected error code)
    ("this is not json", "-1", "GenericError"),
    ("[2, 42]", "-1", "GenericError"),
    ('{"not": "an array"}', "-1", "GenericError"),
    ('[2, "g-1", "NoSuchAction", {}]', "g-1", "NotImplemented"),
    ('[2, "g-2", "Reset", {"type": "Sideways"}]', "g-2", "PropertyConstraintViolation"),
    # OCPP 1.6-J spells it with one "r"; the wire must match the spec, not English.
    ('[2, "g-3", "Reset", {}]', "g-3", "OccurenceConstraintViolation"),
    ('[2, "g-4", "Reset", {"type": 7}]', "g-4", "TypeConstraintViolation"),
    ('[2, "g-5", "Reset", {"type": "Soft", "extra": 1}]', "g-5", "FormationViolation"),
    ('[2, "g-6", "Reset", "Soft"]', "g-6", "FormationViolation"),
    ('[9, "g-7", "Reset", {}]', "g-7", "GenericError"),
]


@pytest.mark.parametrize("frame,unique_id,code", GARBAGE)
def test_garbage_from_the_csms_gets_the_right_callerror_and_the_station_stays_up(
    csms: DevCsms, make_station: StationFactory, frame: str, unique_id: str, code: str
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    mark = csms.log.mark()
    csms.send_raw(CP, frame)
    reply = csms.log.wait_for(lambda e: e.kind == "error" and e.direction == "in", since=mark)
    sent = json.loads(reply.text)
    assert sent[0] == 4
    assert (sent[1], sent[2]) == (unique_id, code)
    assert isinstance(sent[3], str) and sent[3]
    # Still up, and still answering: a valid call gets its proper answer.
    answer = csms.call(CP, "TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert answer == {"status": "Accepted"}
    csms.log.wait_call("Heartbeat", CP, since=mark)
    assert station.status()["registration"] == "Accepted"


def test_an_answer_to_nothing_is_dropped_without_reply(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    mark = csms.log.mark()
    csms.send_raw(CP, '[3, "never-asked", {}]')
    csms.send_raw(CP, '[4, "never-asked", "GenericError", "", {}]')
    csms.call(CP, "TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert not [e for e in csms.log.entries(mark) if e.kind == "error" and e.direction == "in"]


def test_a_repeated_link_up_keeps_the_call_in_flight(
    csms: DevCsms, make_station: StationFactory
) -> None:
    """A restarted rpc asks the websocket to repeat LinkUp; the live session must stay."""
    station = make_station(csms)
    answered(station, "StatusNotification", 3)

    def repeat_link_up_first(cp_id: str, payload: object) -> None:
        # Runs in the CSMS before it answers: the repeat reaches the station first.
        station.registry.tell("link/websocket", SayLinkState())
        return None  # then answer as usual

    csms.set_reply("Heartbeat", repeat_link_up_first)
    csms.call(CP, "TriggerMessage", {"requestedMessage": "Heartbeat"})
    answer = log_of(station).wait_for(
        lambda e: isinstance(e, MessageAnswered) and e.action == "Heartbeat", timeout=5
    )
    assert answer.error is None
    assert answer.payload is not None and "currentTime" in answer.payload


def test_a_reader_failure_is_reported_without_ending_the_session(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    station.plug(1)
    station.tag(1, "TAG-1")
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
    wait_status(station, 1, "Charging")
    station.fault(1, "ReaderFailure")
    report = csms.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "StatusNotification"
            and e.payload["errorCode"] == "ReaderFailure"
        )
    )
    assert report.payload["status"] == "Charging"
    station.clear(1)
    cleared = csms.log.wait_call("StatusNotification", CP, since=report.seq + 1)
    assert (cleared.payload["status"], cleared.payload["errorCode"]) == ("Charging", "NoError")
    assert not csms.log.calls("StopTransaction")


@pytest.mark.parametrize("path", ["link/rpc", "link", "registration", "storage"])
def test_a_restarted_part_rejoins_without_a_new_boot(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, path: str
) -> None:
    # Only a reboot boots (1.6 4.2). A part restarted inside the run finds the
    # registration the CSMS gave, the connectors are announced again, and the
    # heartbeat goes on at the CSMS's interval.
    csms.set_boot("Accepted", 50)
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    mark = csms.log.mark()
    events = log_of(station).mark()
    station.crash(path)
    log_of(station).wait_for(
        lambda e: isinstance(e, ChildRestarted) and e.path == path, timeout=5, since=events
    )
    answered(station, "StatusNotification", 6)
    clock.advance(50)
    csms.log.wait_call("Heartbeat", CP, since=mark)
    assert not csms.log.calls("BootNotification", since=mark)


def test_a_dropped_frame_naming_a_secret_is_not_logged(
    csms: DevCsms, make_station: StationFactory, caplog: pytest.LogCaptureFixture
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    secret = "s3cret-dropped-0123"
    # An answer to nothing: the station drops it, with a warning.
    csms.send_raw(CP, '[3, "nothing", {"key": "AuthorizationKey", "value": "' + secret + '"}]')
    answer = csms.call(CP, "TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert answer == {"status": "Accepted"}
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ocppstation.rpc")]
    assert any("naming a secret, not logged" in line for line in lines), lines
    assert not [r for r in caplog.records if secret in r.getMessage()]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_every_call_after_an_accepted_reset_gets_a_true_answer(
    version: str, make_station: StationFactory
) -> None:
    # Hostile run: Reset then CALLs 2 ms apart got NotSupported "... is not
    # running" for supported actions, or no answer at all, while the tree stopped.
    subprotocol = f"ocpp{version}"
    if version == "1.6":
        reset = {"type": "Soft"}
        calls = [
            ("GetConfiguration", {"key": ["HeartbeatInterval"]}),
            ("ClearCache", {}),
            ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
            ("DataTransfer", {"vendorId": "acme"}),
        ]
    else:
        reset = {"type": "Immediate"}
        calls = [
            (
                "GetVariables",
                {
                    "getVariableData": [
                        {
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                        }
                    ]
                },
            ),
            ("ClearCache", {}),
            ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
            ("DataTransfer", {"vendorId": "acme"}),
        ]
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=(subprotocol,)) as csms:
        station = make_station(csms, Internal={"OcppVersions": [version]})
        answered(station, "StatusNotification", 2)
        csms.send_raw(CP, json.dumps([2, "reset", "Reset", reset]))
        for n in range(120):
            action, payload = calls[n % len(calls)]
            try:
                csms.send_raw(CP, json.dumps([2, f"c{n}", action, payload]))
            except Exception:
                break  # the connection is gone: what was not sent cannot be answered
        csms.wait_for(lambda e: len(csms.calls("BootNotification")) == 2, timeout=15)
        entries = csms.log.entries()
        gone = next(i for i, e in enumerate(entries) if e.kind == "disconnect")
        sent = {e.unique_id for e in entries[:gone] if e.kind == "call" and e.direction == "out"}
        replies = {
            e.unique_id: e for e in entries if e.kind in ("result", "error") and e.direction == "in"
        }
        assert "reset" in sent and replies["reset"].kind == "result"
        unanswered = sorted(uid for uid in sent if uid not in replies)
        assert not unanswered, f"{len(unanswered)} of {len(sent)} CALLs never answered"
        codes = {e.error_code for e in replies.values() if e.kind == "error"}
        assert codes <= {"InternalError"}, codes
        assert len(sent) > 10  # the burst reached the station before it closed the link
