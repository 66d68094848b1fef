"""RFID reader drivers end to end: fake readers on ptys, station, dev CSMS."""

from __future__ import annotations

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.tools.csms import DevCsms
from tests.hw_rig import (
    CP,
    FAULT_DELAY,
    Rig,
    health,
    recorded,
    restart_delayed,
    status_seen,
    statuses,
)

pytestmark = pytest.mark.slow

CARD = "62E3086CED"


def authorized(csms: DevCsms, since: int = 0) -> list[str]:
    return [e.payload["idTag"] for e in csms.log.calls("Authorize", CP, since=since)]


def test_a_held_card_is_read_once_and_again_after_the_debounce_window(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    reader = rig.reader(1, debounce=2)
    station = rig.start(evses=2)
    mark = csms.log.mark()
    reader.present(CARD, repeat=5)  # five frames while the card is held
    csms.log.wait_call("Authorize", CP, since=mark)
    status_seen(csms, 1, "Preparing", since=mark)  # card first, cable next
    reader.present(CARD, repeat=2)
    station.plug(1)
    csms.log.wait_call("StartTransaction", CP, since=mark)
    assert authorized(csms, since=mark) == [CARD]
    clock.advance(3)  # taken away and held again: a new presentation
    reader.present(CARD)
    stop = csms.log.wait_call("StopTransaction", CP, since=mark)
    assert stop.payload["reason"] == "Local"
    assert stop.payload["idTag"] == CARD


def test_line_mode_reader_with_decimal_numbers(rig: Rig, csms: DevCsms) -> None:
    reader = rig.reader(2, driver="lines")
    rig.start(evses=2)
    mark = csms.log.mark()
    reader.present("0004123456")
    csms.log.wait_call("Authorize", CP, since=mark)
    status_seen(csms, 2, "Preparing", since=mark)
    assert authorized(csms, since=mark) == ["0004123456"]


def test_noise_restarts_the_reader_without_a_fault(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    reader = rig.reader(1)
    station = rig.start(evses=1)
    mark_csms, mark = csms.log.mark(), recorded(station).mark()
    reader.noise()
    failed = health(station, 1, "reader", "failing", since=mark)
    assert "garbage" in failed.detail
    delayed = restart_delayed(station, "evses/1/reader", since=mark)
    clock.advance(delayed.delay)
    health(station, 1, "reader", "recovering", since=mark)
    clock.advance(FAULT_DELAY)
    health(station, 1, "reader", "ok", since=mark)
    reader.present(CARD)
    csms.log.wait_call("Authorize", CP, since=mark_csms)
    status_seen(csms, 1, "Preparing", since=mark_csms)
    assert statuses(csms, 1, since=mark_csms) == [("Preparing", "NoError")]


def test_a_reader_that_keeps_sending_noise_is_reader_failure_until_it_stops(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    reader = rig.reader(1)
    station = rig.start(evses=1)
    mark_csms, mark = csms.log.mark(), recorded(station).mark()
    reader.garbage = True
    health(station, 1, "reader", "failing", since=mark)
    restart_delayed(station, "evses/1/reader", since=mark)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Available", "ReaderFailure", since=mark_csms)
    # Restarted into the same noise: it fails again, before we quiet it.
    delayed = restart_delayed(station, "evses/1/reader", count=2, since=mark)
    # Power-cycled, it is quiet; on the old pty, noise already written could
    # still trickle in after the driver flushed its input.
    reader.garbage = False
    reader.unplug()
    reader.replug()
    # That restart had opened the port (recovering) before the noise failed it.
    since = recorded(station).mark()
    clock.advance(delayed.delay)
    health(station, 1, "reader", "recovering", since=since)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Available", since=mark_csms)


def test_a_reader_gone_is_reader_failure_until_it_is_back(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    reader = rig.reader(1)
    station = rig.start(evses=2)
    mark_csms, mark = csms.log.mark(), recorded(station).mark()
    reader.unplug()
    health(station, 1, "reader", "failing", since=mark)
    restart_delayed(station, "evses/1/reader", since=mark)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Available", "ReaderFailure", since=mark_csms)
    delayed = restart_delayed(station, "evses/1/reader", count=2, since=mark)
    # EVSE 2 is not affected.
    assert all(s == ("Available", "NoError") for s in statuses(csms, 2, since=mark_csms))
    reader.replug()
    clock.advance(delayed.delay)
    health(station, 1, "reader", "recovering", since=mark)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Available", since=mark_csms)


def test_a_shared_reader_gives_the_card_to_the_evse_that_waits_for_one(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    reader = rig.reader(None)
    station = rig.start(evses=2)
    mark = csms.log.mark()
    station.plug(2)
    status_seen(csms, 2, "Preparing", since=mark)
    reader.present(CARD)
    start = csms.log.wait_call("StartTransaction", CP, since=mark)
    assert start.payload["connectorId"] == 2
    clock.advance(3)
    reader.present(CARD)  # its own session: stop it
    stop = csms.log.wait_call("StopTransaction", CP, since=mark)
    assert stop.payload["reason"] == "Local"


def test_a_shared_reader_gone_is_reported_on_every_evse_it_serves(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    reader = rig.reader(None)
    station = rig.start(evses=2)
    mark_csms, mark = csms.log.mark(), recorded(station).mark()
    reader.unplug()
    restart_delayed(station, "reader/rfid", since=mark)
    # Each EVSE's hub hears of it on its own: both fault timers armed first.
    health(station, 1, "reader", "failing", since=mark)
    health(station, 2, "reader", "failing", since=mark)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Available", "ReaderFailure", since=mark_csms)
    status_seen(csms, 2, "Available", "ReaderFailure", since=mark_csms)
    delayed = restart_delayed(station, "reader/rfid", count=2, since=mark)
    reader.replug()
    clock.advance(delayed.delay)
    health(station, 1, "reader", "recovering", since=mark)
    health(station, 2, "reader", "recovering", since=mark)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Available", since=mark_csms)
    status_seen(csms, 2, "Available", since=mark_csms)
