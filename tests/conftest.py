"""Shared fixtures: real CSMS peers on 127.0.0.1, virtual time, stations."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.station import EventLog, Station
from ocppstation.config.loader import load
from ocppstation.tools.csms import DevCsms

# No per-example deadline: the suite runs in parallel on loaded machines, and a
# first example that compiles a version's schemas is slow for reasons that
# are not the property under test. Hangs are caught by the pytest timeout.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture
def csms() -> Iterator[DevCsms]:
    with DevCsms(port=0, heartbeat_interval=60) as peer:
        yield peer


@pytest.fixture(params=["dev", "ocpp-rpc"])
def any_csms(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The dev CSMS and the independent ocpp-rpc strict-mode peer, in turn."""
    if request.param == "dev":
        with DevCsms(port=0, heartbeat_interval=60) as peer:
            yield peer
        return
    from tests.peers.rpc_peer import OcppRpcPeer, unavailable_reason

    if why := unavailable_reason():
        # In CI the independent check must not quietly disappear.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(why)
    peer = OcppRpcPeer(heartbeat_interval=60)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()
    # ocpp-rpc in strict mode checked every payload of ours against its schemas.
    assert peer.validation_failures == [], peer.validation_failures


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


StationFactory = Callable[..., Station]


@pytest.fixture
def rig(tmp_path: Path, clock: FakeClock, csms: DevCsms) -> Iterator[Any]:
    """Fake serial devices on pty pairs and a station wired to them (tests/hw_rig.py)."""
    from tests.hw_rig import Rig

    r = Rig(tmp_path, clock, csms)
    yield r
    r.close()


@pytest.fixture
def make_station(clock: FakeClock) -> Iterator[StationFactory]:
    """Start stations against a peer in virtual time; all stopped at the end."""
    started: list[Station] = []

    def make(peer: Any, *, evses: int = 2, cp_id: str = "cp-test", **sections: Any) -> Station:
        overrides: dict[str, Any] = {
            "Internal": {
                "CentralSystemURI": peer.url,
                "ChargePointId": cp_id,
                "Evses": evses,
                # Small and deterministic reconnect waits; the clock is virtual anyway.
                "RetryBackOffRandomRange": 0,
                "RetryBackOffWaitMinimum": 2,
                "CallTimeout": 10,
            },
        }
        for name, keys in sections.items():
            overrides.setdefault(name, {}).update(keys)
        station = Station(load(None, overrides), clock=clock, seed=1, record_events=True)
        started.append(station)
        return station.start()

    yield make
    for station in reversed(started):
        station.stop()


def answered(station: Station, action: str, count: int = 1, timeout: float = 5.0) -> None:
    """Wait until the station has processed `count` answers to `action` CALLs.

    Before moving virtual time, a test lets the station take in every answer
    in flight; otherwise a jump past CallTimeout fails a call the CSMS did answer.
    """
    from ocppstation.actors.events import MessageAnswered

    assert station.recorded is not None
    seen = 0

    def match(event: object) -> bool:
        nonlocal seen
        if isinstance(event, MessageAnswered) and event.action == action:
            seen += 1
        return seen >= count

    station.recorded.wait_for(match, timeout)


def log_of(station: Station) -> EventLog:
    """The events a test station recorded from its start (make_station records)."""
    assert station.recorded is not None, "start the station with record_events=True"
    return station.recorded


def wait_display(station: Station, evse: int, text: str, timeout: float = 5.0) -> None:
    """Wait until EVSE `evse`'s display, as status() reports it, shows `text`."""
    from ocppstation.actors.events import DisplayChanged

    log = log_of(station)
    mark = log.mark()  # before looking: a change between look and wait is kept
    display = station.status()["evses"][evse - 1].get("display", {})
    if display.get("text") == text:
        return
    log.wait_for(
        lambda e: isinstance(e, DisplayChanged) and (e.evse, e.text) == (evse, text),
        timeout=timeout,
        since=mark,
    )


def wait_status(station: Station, evse: int, status: str, since: int = 0) -> None:
    """Wait for connector `evse` to reach `status` (an event at index >= since)."""
    from ocppstation.actors.events import ConnectorChanged

    log_of(station).wait_for(
        lambda e: isinstance(e, ConnectorChanged) and (e.evse, e.status) == (evse, status),
        timeout=5,
        since=since,
    )


def quiet(station: Station, timeout: float = 5.0) -> None:
    """Wait until every CALL the station sent has its answer.

    Call before moving virtual time: a jump past CallTimeout would fail a
    call that the CSMS did answer, and a failed transactional message waits
    TransactionMessageRetryInterval before its retry.
    """
    from ocppstation.actors.events import MessageAnswered, MessageSent

    log = log_of(station)

    def settled(_: object) -> bool:
        events = log.all()
        sent = sum(isinstance(e, MessageSent) for e in events)
        return sent == sum(isinstance(e, MessageAnswered) for e in events)

    if not settled(None):
        log.wait_for(settled, timeout)
