"""The outbox against a real CSMS: what it is told, it delivers, once."""

from __future__ import annotations

import threading

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import MessageAnswered, RetryScheduled
from ocppstation.actors.link.outbox import Enqueued, WhenDelivered
from ocppstation.actors.runtime.context import OUTBOX, STORAGE
from ocppstation.actors.security_events import report_event
from ocppstation.tools.csms import NO_REPLY, CallErrorReply, DevCsms
from tests.conftest import StationFactory, answered, log_of, wait_status
from tests.test_offline import come_back, go_offline, offline_station


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
        seq = storage.queue.push("MeterValues", payload, None).get(timeout=5)
        stored.append(storage.queue.all().get(timeout=5)[-1])
        assert stored[-1].seq == seq
    mark = csms.log.mark()
    for message in reversed(stored):
        station.registry.tell(OUTBOX, Enqueued(message, message.payload["connectorId"]))

    csms.log.wait_for(lambda e: len(csms.log.calls("MeterValues", since=mark)) >= 2)
    sent = [e.payload["connectorId"] for e in csms.log.calls("MeterValues", since=mark)]
    assert sent == [2, 1]


def test_a_security_event_the_csms_refuses_does_not_hold_up_transactions(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    # A CSMS without the Security Whitepaper answers NotImplemented: retrying
    # will not change that, and the start queued behind it must go out at once.
    csms.set_reply("SecurityEventNotification", CallErrorReply("NotImplemented", "no"))
    station = offline_station(csms, make_station, Core={"AllowOfflineTxForUnknownId": True})
    go_offline(station)
    report_event(station.ctx, "ResetOrReboot", "queued while offline")
    station.plug(1)
    station.tag(1, "TAG-1")
    wait_status(station, 1, "Charging")
    mark = csms.log.mark()
    come_back(station, clock)
    # Virtual time stands still from here: a retry of the event would never come.
    start = csms.log.wait_call("StartTransaction", "cp-test", since=mark)
    refused = csms.log.calls("SecurityEventNotification", since=mark)
    assert len(refused) == 1 and refused[0].seq < start.seq


def test_when_delivered_waits_for_what_is_queued_unless_offline(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    import pykka

    delivered = threading.Event()

    class Waiter(pykka.ThreadingActor):
        def __init__(self) -> None:
            super().__init__()
            self.told: list[object] = []

        def on_receive(self, message: object) -> None:
            self.told.append(message)
            if message == "delivered":
                delivered.set()

    waiter = Waiter.start()
    try:
        # No samples: the queue holds the StartTransaction alone.
        core = {"AllowOfflineTxForUnknownId": True, "MeterValueSampleInterval": 0}
        station = offline_station(csms, make_station, Core=core)
        outbox = station.registry.require(OUTBOX)
        # Nothing queued: told at once.
        outbox.ask(WhenDelivered(waiter, "empty"), timeout=5)
        go_offline(station)
        station.plug(1)
        station.tag(1, "TAG-1")
        wait_status(station, 1, "Charging")
        # Offline with the StartTransaction queued: told at once, it is persisted.
        outbox.ask(WhenDelivered(waiter, "offline"), timeout=5)
        assert waiter.proxy().told.get(timeout=5) == ["empty", "offline"]
        # Online with the start in flight (the CSMS holds its answer): not yet.
        csms.set_reply("StartTransaction", NO_REPLY)
        come_back(station, clock)
        csms.log.wait_call("StartTransaction", "cp-test")
        outbox.ask(WhenDelivered(waiter, "delivered"), timeout=5)
        assert waiter.proxy().told.get(timeout=5) == ["empty", "offline"]
        # Answered on its retry: now.
        csms.set_reply("StartTransaction", None)
        mark = log_of(station).mark()
        clock.advance(10)  # CallTimeout: the attempt failed
        retry = log_of(station).wait_for(lambda e: isinstance(e, RetryScheduled), 5, since=mark)
        assert (retry.action, retry.wait) == ("StartTransaction", 60)
        clock.advance(retry.wait)
        log_of(station).wait_for(
            lambda e: (
                isinstance(e, MessageAnswered)
                and e.action == "StartTransaction"
                and e.error is None
            ),
            5,
            since=mark,
        )
        assert delivered.wait(5)
        assert waiter.proxy().told.get(timeout=5) == ["empty", "offline", "delivered"]
    finally:
        waiter.stop()
