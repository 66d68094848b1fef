"""The outbox against a real CSMS: what it is told, it delivers, once."""

from __future__ import annotations

from ocppstation.actors.context import OUTBOX, STORAGE
from ocppstation.actors.outbox import Enqueued
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered


def test_messages_told_out_of_seq_order_are_all_delivered(
    csms: DevCsms, make_station: StationFactory
) -> None:
    # Two connectors store at once: the one with the lower seq may tell the
    # outbox last. Neither message may be taken for one loaded at start.
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    storage = station.registry.proxy(STORAGE)
    stored = []
    for n in (1, 2):
        payload = {
            "connectorId": n,
            "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}],
        }
        seq = storage.queue_push("MeterValues", payload, None).get(timeout=5)
        stored.append(storage.queue_all().get(timeout=5)[-1])
        assert stored[-1].seq == seq
    mark = csms.log.mark()
    for message in reversed(stored):
        station.registry.tell(OUTBOX, Enqueued(message, message.payload["connectorId"]))

    csms.log.wait_for(lambda e: len(csms.log.calls("MeterValues", since=mark)) >= 2)
    sent = [e.payload["connectorId"] for e in csms.log.calls("MeterValues", since=mark)]
    assert sent == [2, 1]
