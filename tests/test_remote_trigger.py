"""TriggerMessage: every Core message on request, sent after the answer."""

from __future__ import annotations

from typing import Any

import pytest

from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of

CP = "cp-test"


def trigger(peer: Any, message: str, connector: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"requestedMessage": message}
    if connector is not None:
        payload["connectorId"] = connector
    return peer.call(CP, "TriggerMessage", payload)


def test_triggered_meter_values_of_one_connector_come_after_the_answer(
    any_csms, make_station: StationFactory
) -> None:
    station = make_station(
        any_csms, Core={"MeterValuesSampledData": "Energy.Active.Import.Register"}
    )
    answered(station, "StatusNotification", 3)
    mark = any_csms.log.mark()
    assert trigger(any_csms, "MeterValues", 2) == {"status": "Accepted"}
    values = any_csms.log.wait_call("MeterValues", CP, since=mark)
    answer = any_csms.log.wait_for(lambda e: e.kind == "result" and e.action == "TriggerMessage")
    assert answer.seq < values.seq  # the triggered message follows the response
    assert values.payload["connectorId"] == 2
    assert values.payload["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


def test_triggered_meter_values_without_a_connector_cover_every_connector(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    mark = csms.log.mark()
    assert trigger(csms, "MeterValues") == {"status": "Accepted"}
    csms.log.wait_for(
        lambda e: len([c for c in csms.log.calls("MeterValues", since=mark)]) >= 2, since=mark
    )
    connectors = sorted(e.payload["connectorId"] for e in csms.log.calls("MeterValues", since=mark))
    assert connectors == [1, 2]


def test_triggered_meter_values_in_a_transaction_carry_its_id(
    csms: DevCsms, make_station: StationFactory
) -> None:
    from ocppstation.actors.events import TransactionStarted

    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    station.plug(1)
    station.tag(1, "TAG-1")
    started = log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), 5)
    mark = csms.log.mark()
    trigger(csms, "MeterValues", 1)
    values = csms.log.wait_call("MeterValues", CP, since=mark)
    assert values.payload["transactionId"] == started.transaction_id


@pytest.mark.parametrize(
    "message,action", [("Heartbeat", "Heartbeat"), ("BootNotification", "BootNotification")]
)
def test_triggered_heartbeat_and_boot(
    any_csms, make_station: StationFactory, message: str, action: str
) -> None:
    station = make_station(any_csms)
    answered(station, "StatusNotification", 3)
    mark = any_csms.log.mark()
    assert trigger(any_csms, message) == {"status": "Accepted"}
    any_csms.log.wait_call(action, CP, since=mark)


def test_triggered_status_of_one_connector(csms: DevCsms, make_station: StationFactory) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    mark = csms.log.mark()
    assert trigger(csms, "StatusNotification", 1) == {"status": "Accepted"}
    status = csms.log.wait_call("StatusNotification", CP, since=mark)
    assert status.payload["connectorId"] == 1


def test_a_trigger_for_a_connector_that_does_not_exist_is_rejected(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    assert trigger(csms, "StatusNotification", 9) == {"status": "Rejected"}


def test_tc_054_every_triggerable_message_follows_its_answer(
    any_csms: Any, make_station: StationFactory
) -> None:
    station = make_station(any_csms)
    answered(station, "StatusNotification", 3)
    for message, connector in [
        ("MeterValues", 1),
        ("Heartbeat", None),
        ("StatusNotification", 1),
        ("DiagnosticsStatusNotification", None),
        ("FirmwareStatusNotification", None),
    ]:
        mark = any_csms.log.mark()
        assert trigger(any_csms, message, connector) == {"status": "Accepted"}
        sent = any_csms.log.wait_call(message, CP, since=mark)
        answer = any_csms.log.wait_for(
            lambda e: e.kind == "result" and e.action == "TriggerMessage", since=mark
        )
        assert answer.seq < sent.seq, message


def test_tc_055_a_trigger_the_station_cannot_honour_is_rejected(
    any_csms: Any, make_station: StationFactory
) -> None:
    station = make_station(any_csms)
    answered(station, "StatusNotification", 3)
    mark = any_csms.log.mark()
    assert trigger(any_csms, "MeterValues", 7) == {"status": "Rejected"}
    assert not any_csms.log.calls("MeterValues", since=mark)
