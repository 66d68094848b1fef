"""Boot, heartbeat and status reporting over real websockets, in virtual time."""

from __future__ import annotations

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import ConnectFailed, LinkChanged, RegistrationChanged
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of

CP = "cp-test"


def registered(station: Station, status: str) -> None:
    log_of(station).wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == status, timeout=5
    )


def statuses(peer, since: int = 0) -> list[int]:
    return [e.payload["connectorId"] for e in peer.log.calls("StatusNotification", since=since)]


def test_tc_001_cold_boot_reports_every_connector_then_heartbeats(
    any_csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(any_csms, evses=2)
    boot = any_csms.log.wait_call("BootNotification", CP)
    assert boot.payload["chargePointVendor"] == "ocppstation"
    for connector in (0, 1, 2):
        any_csms.log.wait_for(
            lambda e, c=connector: (
                e.action == "StatusNotification"
                and e.kind == "call"
                and e.payload["connectorId"] == c
            )
        )
    assert statuses(any_csms) == [0, 1, 2]
    assert not any_csms.log.calls("Heartbeat")
    answered(station, "StatusNotification", 3)
    mark = any_csms.log.mark()
    clock.advance(60)
    any_csms.log.wait_call("Heartbeat", CP, since=mark)


def test_tc_002_pending_boot_answers_calls_and_boots_again_after_the_interval(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    csms.set_boot("Pending", 30)
    station = make_station(csms)
    registered(station, "Pending")
    # While Pending the station answers the CSMS but sends nothing of its own.
    answer = csms.call(CP, "TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert answer["status"] == "Accepted"
    csms.set_boot("Accepted", 60)
    mark = csms.log.mark()
    clock.advance(30)
    csms.log.wait_call("BootNotification", CP, since=mark)
    csms.log.wait_for(
        lambda e: (
            e.action == "StatusNotification" and e.kind == "call" and e.payload["connectorId"] == 2
        ),
        since=mark,
    )
    boots_and_beats = [
        e.action for e in csms.log.calls(since=0) if e.action in ("BootNotification", "Heartbeat")
    ]
    # The triggered Heartbeat must not have gone out before acceptance.
    assert boots_and_beats[:2] == ["BootNotification", "BootNotification"]


def test_rejected_boot_sends_nothing_else_and_retries(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    csms.set_boot("Rejected", 45)
    station = make_station(csms)
    registered(station, "Rejected")
    mark = csms.log.mark()
    clock.advance(44)
    assert not csms.log.calls("BootNotification", since=mark)
    clock.advance(1)
    csms.log.wait_call("BootNotification", CP, since=mark)
    others = [
        e.action for e in csms.log.calls() if e.direction == "in" and e.action != "BootNotification"
    ]
    assert others == []


def test_reconnect_after_disconnect_reports_statuses_without_booting(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    mark = csms.log.mark()
    station.disconnect()
    log_of(station).wait_for(lambda e: isinstance(e, LinkChanged) and not e.up, timeout=5)
    clock.advance(2)
    csms.log.wait_connected(CP)
    csms.log.wait_for(
        lambda e: (
            e.action == "StatusNotification" and e.kind == "call" and e.payload["connectorId"] == 2
        ),
        since=mark,
    )
    assert not csms.log.calls("BootNotification", since=mark)
    assert statuses(csms, since=mark) == [0, 1, 2]


def test_reconnect_after_the_csms_restarts(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    csms.stop()
    mark = csms.log.mark()
    csms.start()
    # Each failed attempt doubles the wait; step time until the station is back.
    for _ in range(6):
        clock.advance(64)
        try:
            csms.log.wait_connected(CP, timeout=1.0)
            break
        except TimeoutError:
            continue
    csms.log.wait_for(
        lambda e: (
            e.action == "StatusNotification" and e.kind == "call" and e.payload["connectorId"] == 2
        ),
        since=mark,
    )
    assert not csms.log.calls("BootNotification", since=mark)


@pytest.mark.parametrize(
    "password,connects", [("s3cret-pass-0123", True), ("wrong-password-99", False)]
)
def test_basic_auth_security_profile_1(
    make_station: StationFactory, password: str, connects: bool
) -> None:
    with DevCsms(port=0, password="s3cret-pass-0123") as csms:
        station = make_station(csms, Security={"SecurityProfile": 1, "AuthorizationKey": password})
        if connects:
            csms.log.wait_call("BootNotification", CP)
            return
        failed = log_of(station).wait_for(lambda e: isinstance(e, ConnectFailed), timeout=5)
        assert "401" in failed.reason
        assert not csms.log.calls("BootNotification")


def test_refuses_a_csms_that_agrees_no_subprotocol(make_station: StationFactory) -> None:
    with DevCsms(port=0, subprotocols=()) as csms:
        station = make_station(csms)
        failed = log_of(station).wait_for(lambda e: isinstance(e, ConnectFailed), timeout=5)
        assert "subprotocol" in failed.reason
        assert not csms.log.calls("BootNotification")
        assert station.status()["link"] == "down"


def test_tc_035_an_idle_station_keeps_its_heartbeat(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(csms)  # the CSMS's boot answer says 60 s
    answered(station, "StatusNotification", 3)
    for beat in range(1, 4):
        mark = csms.log.mark()
        clock.advance(60)
        csms.log.wait_call("Heartbeat", CP, since=mark)
        answered(station, "Heartbeat", beat)
    assert len(csms.log.calls("Heartbeat")) == 3
