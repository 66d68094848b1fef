"""The charge controller board driver end to end: fake board on a pty, station, dev CSMS."""

from __future__ import annotations

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import ConnectorChanged
from ocppstation.hw.simulated import SimulatedEvse
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.fake_device import FakeBoard
from tests.conftest import quiet
from tests.hw_rig import (
    CP,
    FAULT_DELAY,
    WAIT,
    Rig,
    health,
    recorded,
    restart_delayed,
    status_seen,
    statuses,
)

pytestmark = pytest.mark.slow

CONTROLLER1 = "evses/1/controller"


def commands(fake: FakeBoard) -> list[str]:
    return [f"{c.name} {c.value}" if c.value else c.name for c in fake.commands]


def test_pilot_states_drive_the_connector_and_power_is_locked_and_switched(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    world = SimulatedEvse()
    board = rig.board(1, world)
    rig.meter(1, world)
    station = rig.start(evses=1)
    assert commands(board)[:2] == ["HELLO", "STATUS"]
    mark = csms.log.mark()
    world.plug(clock.monotonic())
    status_seen(csms, 1, "Preparing", since=mark)
    station.tag(1, "TAG-1")
    status_seen(csms, 1, "Charging", since=mark)
    # Locked before the relay closes; the EV then draws (pilot C).
    sent = commands(board)
    assert sent.index("LOCK 1") < sent.index("POWER 1")
    assert world.relay_closed and board.locked
    world.ev_suspend(True, clock.monotonic())
    status_seen(csms, 1, "SuspendedEV", since=mark)
    world.ev_suspend(False, clock.monotonic())
    status_seen(csms, 1, "Charging", since=csms.log.mark() - 1)
    station.tag(1, "TAG-1")
    stop = csms.log.wait_call("StopTransaction", CP, since=mark)
    assert stop.payload["reason"] == "Local"
    status_seen(csms, 1, "Finishing", since=mark)
    sent = commands(board)
    assert sent.index("POWER 0", sent.index("POWER 1")) < len(sent) - 1
    assert sent[-1] == "LOCK 0"
    assert not world.relay_closed and not board.locked
    world.unplug(clock.monotonic())
    status_seen(csms, 1, "Available", since=mark)


def test_faults_the_board_reports_reach_the_csms_at_once(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    world = SimulatedEvse()
    board = rig.board(1, world)
    rig.start(evses=1)
    mark = csms.log.mark()
    world.fault("GroundFailure", clock.monotonic())  # the board's RCD trips
    status_seen(csms, 1, "Faulted", "GroundFailure", since=mark)
    world.clear_fault(clock.monotonic())
    status_seen(csms, 1, "Available", since=mark)
    board.jam()
    status_seen(csms, 1, "Faulted", "ConnectorLockFailure", since=mark)
    board.jam(False)
    status_seen(csms, 1, "Available", since=csms.log.mark() - 1)


def test_a_lock_that_jams_when_asked_refuses_power_and_faults_the_connector(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    world = SimulatedEvse()
    board = rig.board(1, world)
    station = rig.start(evses=1)
    # After the hub brought the new board up to date (CUR, LOCK, POWER).
    board.wait_until(lambda: any(c.name == "POWER" for c in board.commands))
    board.jammed = True  # silently: the board finds out when it tries to move it
    mark = csms.log.mark()
    world.plug(clock.monotonic())
    status_seen(csms, 1, "Preparing", since=mark)
    station.tag(1, "TAG-1")
    csms.log.wait_call("StartTransaction", CP, since=mark)
    status_seen(csms, 1, "Faulted", "ConnectorLockFailure", since=mark)
    stop = csms.log.wait_call("StopTransaction", CP, since=mark)
    assert stop.payload["reason"] == "Other"
    assert not world.relay_closed  # no energy on a cable that is not locked
    answer = csms.call(CP, "UnlockConnector", {"connectorId": 1})
    assert answer == {"status": "UnlockFailed"}


@pytest.mark.parametrize("fault", ["unplug", "timeout", "garbage", "checksum"])
def test_a_lost_board_link_is_ev_communication_error_until_it_is_back(
    rig: Rig, clock: FakeClock, csms: DevCsms, fault: str
) -> None:
    world = SimulatedEvse()
    board = rig.board(1, world)
    station = rig.start(evses=1)
    mark_csms, mark = csms.log.mark(), recorded(station).mark()
    if fault == "unplug":
        board.unplug()
    elif fault == "timeout":
        board.mute = True
    elif fault == "garbage":
        board.garbage = True
    else:
        board.bad_checksum = True
    clock.advance(1)  # keepalive PING (garbage and checksum need a line to spoil)
    health(station, 1, "controller", "failing", since=mark)
    restart_delayed(station, CONTROLLER1, since=mark)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Faulted", "EVCommunicationError", since=mark_csms)
    delayed = restart_delayed(station, CONTROLLER1, count=2, since=mark)

    board.replug()
    board.mute = board.garbage = board.bad_checksum = False
    world.plug(clock.monotonic())  # the EV arrived while the link was down
    clock.advance(delayed.delay)
    health(station, 1, "controller", "recovering", since=mark)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Preparing", since=mark_csms)
    assert statuses(csms, 1, since=mark_csms)[0] == ("Faulted", "EVCommunicationError")


def test_a_board_reset_is_a_blip_and_the_outputs_are_restored(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    world = SimulatedEvse()
    board = rig.board(1, world)
    rig.meter(1, world)
    station = rig.start(evses=1)
    world.plug(clock.monotonic())
    station.tag(1, "TAG-1")
    recorded(station).wait_for(
        lambda e: isinstance(e, ConnectorChanged) and e.status == "Charging", WAIT
    )
    mark_csms, mark = csms.log.mark(), recorded(station).mark()
    board.reset()  # relay drops, BOOT line
    delayed = restart_delayed(station, CONTROLLER1, since=mark)
    assert not world.relay_closed
    quiet(station)
    clock.advance(delayed.delay)
    health(station, 1, "controller", "recovering", since=mark)
    # The hub puts back what the station wants.
    board.wait_until(lambda: world.relay_closed and board.locked)
    quiet(station)
    clock.advance(FAULT_DELAY)
    health(station, 1, "controller", "ok", since=mark)
    assert not [s for s in statuses(csms, 1, since=mark_csms) if s[0] == "Faulted"]


def test_the_offered_current_reaches_the_pilot(rig: Rig, clock: FakeClock, csms: DevCsms) -> None:
    from ocppstation.actors.evse.hardware import OfferCurrent

    world = SimulatedEvse()
    board = rig.board(1, world, max_current=20)
    station = rig.start(evses=1)
    # The hub brought the board to its max_current when the driver came up.
    board.wait_until(lambda: world.offered_a == 20)
    station.registry.tell("evses/1/board", OfferCurrent(13.5))
    board.wait_until(lambda: world.offered_a == 13.5)
    assert board.status().current_a == 13.5
    station.registry.tell("evses/1/board", OfferCurrent(63))  # capped at max_current
    board.wait_until(lambda: world.offered_a == 20)
