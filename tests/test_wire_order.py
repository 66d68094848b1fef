"""Wire order: what the CSMS answered is in force before its next CALL is judged.

The CSMS answers a station CALL and sends a CALL of its own as the very next
frame (`ThenCall`), as conformance tests and real CSMSs do. The answer takes
effect in the actor that asked (the outbox, the registration block), the
CALL in another; rpc hands the CALL on only once the answer is handled.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocppstation.actors.events import TransactionStarted, TransactionStopped
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms, LogEntry, ThenCall
from tests.conftest import StationFactory, answered, log_of, wait_status

CP = "cp-test"
_ids = itertools.count(1)


def booted(csms: DevCsms, make_station: StationFactory, **sections: Any) -> Station:
    station = make_station(csms, **sections)
    answered(station, "StatusNotification", 3)
    return station


def tx_profile(transaction_id: int, limit: float = 10.0) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 100 + transaction_id,
            "transactionId": transaction_id,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        },
    }


def answer_start_then(csms: DevCsms, action: str, payload: Any) -> tuple[str, int]:
    """Answer the next StartTransaction and send `action` as the very next frame."""
    transaction_id = 700 + next(_ids)
    unique_id = f"then-{transaction_id}"

    def reply(_cp: str, _start: Any) -> ThenCall:
        body = payload(transaction_id) if callable(payload) else payload
        answer = {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}}
        return ThenCall(answer, action, body, unique_id)

    csms.set_reply("StartTransaction", reply)
    return unique_id, transaction_id


def reply_to(csms: DevCsms, unique_id: str) -> LogEntry:
    return csms.log.wait_for(
        lambda e: e.direction == "in" and e.unique_id == unique_id and e.kind != "call",
        timeout=10,
    )


def start(station: Station) -> None:
    station.plug(1)
    station.tag(1, "TAG-1")


def test_a_tx_profile_sent_right_after_the_start_answer_is_accepted(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    unique_id, transaction_id = answer_start_then(csms, "SetChargingProfile", tx_profile)
    start(station)
    assert reply_to(csms, unique_id).payload == {"status": "Accepted"}
    log_of(station).wait_for(
        lambda e: isinstance(e, TransactionStarted) and e.transaction_id == transaction_id, 5
    )


def test_a_remote_stop_right_after_the_start_answer_stops_that_transaction(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    unique_id, transaction_id = answer_start_then(
        csms, "RemoteStopTransaction", lambda tx: {"transactionId": tx}
    )
    mark = log_of(station).mark()
    start(station)
    assert reply_to(csms, unique_id).payload == {"status": "Accepted"}
    stopped = log_of(station).wait_for(lambda e: isinstance(e, TransactionStopped), 5, mark)
    assert (stopped.transaction_id, stopped.reason) == (transaction_id, "Remote")


def test_triggered_meter_values_right_after_the_start_answer_carry_its_id(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    trigger = {"requestedMessage": "MeterValues", "connectorId": 1}
    unique_id, transaction_id = answer_start_then(csms, "TriggerMessage", trigger)
    mark = csms.log.mark()
    start(station)
    assert reply_to(csms, unique_id).payload == {"status": "Accepted"}
    values = csms.log.wait_for(
        lambda e: e.kind == "call" and e.action == "MeterValues", timeout=5, since=mark
    )
    assert values.payload.get("transactionId") == transaction_id


def test_a_composite_schedule_right_after_the_start_answer_sees_the_transaction(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    unique_id, _ = answer_start_then(
        csms, "GetCompositeSchedule", {"connectorId": 1, "duration": 60}
    )
    start(station)
    assert reply_to(csms, unique_id).payload["status"] == "Accepted"
    wait_status(station, 1, "Charging")


def test_a_change_of_configuration_right_after_the_boot_answer_is_in_force(
    csms: DevCsms, make_station: StationFactory
) -> None:
    change = {"key": "HeartbeatInterval", "value": "77"}
    boot = {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 300}
    csms.set_reply("BootNotification", ThenCall(boot, "ChangeConfiguration", change, "cfg"))
    station = make_station(csms)
    assert reply_to(csms, "cfg").payload == {"status": "Accepted"}
    answered(station, "StatusNotification", 2)
    # The boot's interval was applied first, then the CSMS's change over it.
    assert station.setting("HeartbeatInterval") == 77
    assert station.ctx.registration.heartbeat_interval == 77


def burst(transaction_id: int, actions: list[str]) -> list[tuple[str, dict[str, Any]]]:
    payloads = {
        "SetChargingProfile": tx_profile(transaction_id),
        "TriggerMessage": {"requestedMessage": "MeterValues", "connectorId": 1},
        "GetCompositeSchedule": {"connectorId": 1, "duration": 60},
        "RemoteStopTransaction": {"transactionId": transaction_id},
    }
    return [(action, payloads[action]) for action in actions]


# A CSMS's burst right after the start's answer; a RemoteStop, if any, last
# (what follows a stop would be judged on a transaction that is ending).
bursts = st.tuples(
    st.lists(
        st.sampled_from(["SetChargingProfile", "TriggerMessage", "GetCompositeSchedule"]),
        min_size=0,
        max_size=3,
    ),
    st.booleans(),
).map(lambda drawn: [*drawn[0], *(["RemoteStopTransaction"] if drawn[1] else [])])


@pytest.mark.slow
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(bursts.filter(bool), min_size=1, max_size=3))
def test_each_call_after_an_answer_is_judged_on_the_state_as_of_its_arrival(
    csms: DevCsms, make_station: StationFactory, sessions: list[list[str]]
) -> None:
    station = booted(csms, make_station)
    for actions in sessions:
        transaction_id = 700 + next(_ids)
        calls = [
            (action, payload, f"burst-{transaction_id}-{n}")
            for n, (action, payload) in enumerate(burst(transaction_id, actions))
        ]
        answer = {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}}
        first, *rest = calls
        csms.set_reply("StartTransaction", ThenCall(answer, *first, also=tuple(rest)))
        mark = log_of(station).mark()
        start(station)
        # Each was sent before the station could say anything more: each is
        # judged with the transaction the answer just gave.
        for action, _, unique_id in calls:
            assert reply_to(csms, unique_id).payload["status"] == "Accepted", action
        if actions[-1] != "RemoteStopTransaction":
            station.unplug(1)
        stopped = log_of(station).wait_for(lambda e: isinstance(e, TransactionStopped), 5, mark)
        assert stopped.transaction_id == transaction_id
        if actions[-1] == "RemoteStopTransaction":
            assert stopped.reason == "Remote"
            station.unplug(1)
        wait_status(station, 1, "Available", since=mark)
    station.stop()
