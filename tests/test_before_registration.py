"""A card presented before the CSMS accepts the boot (both versions).

While Pending the station may not send Authorize (1.6 4.2, 2.0.1 B02.FR.02),
so it decides alone by its offline rules; the decision is published and
logged, and a transaction it allows is told to the CSMS once accepted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import RegistrationChanged, TokenJudged
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, log_of, wait_status

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
START = {"1.6": "StartTransaction", "2.0.1": "TransactionEvent"}


@pytest.fixture(params=["1.6", "2.0.1"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pending_csms(version: str) -> Iterator[DevCsms]:
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=(SUBPROTOCOL[version],)) as peer:
        peer.set_boot("Pending", interval=30)
        yield peer


def pending_station(
    peer: DevCsms, make_station: StationFactory, version: str, *, unknown_ok: bool
) -> Station:
    station = make_station(
        peer,
        Internal={"OcppVersions": [version]},
        Core={"AllowOfflineTxForUnknownId": unknown_ok},
    )
    log_of(station).wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Pending", timeout=5
    )
    return station


def judged(station: Station) -> TokenJudged:
    event = log_of(station).wait_for(lambda e: isinstance(e, TokenJudged), timeout=5)
    assert isinstance(event, TokenJudged)
    return event


def accept(peer: DevCsms, station: Station, clock: FakeClock) -> None:
    peer.set_boot("Accepted", interval=60)
    clock.advance(30)
    log_of(station).wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Accepted", timeout=5
    )


def test_an_unknown_card_is_refused_offline_and_the_refusal_is_seen(
    pending_csms: DevCsms,
    make_station: StationFactory,
    version: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    station = pending_station(pending_csms, make_station, version, unknown_ok=False)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    with caplog.at_level("INFO", logger="ocppstation"):
        station.tag(1, "TAG-1")
        verdict = judged(station)
    assert (verdict.evse, verdict.id_tag, verdict.accepted) == (1, "TAG-1", False)
    assert (verdict.status, verdict.online) == ("Invalid", False)
    assert any(
        "TAG-1" in r.getMessage() and "decided offline" in r.getMessage() for r in caplog.records
    )
    assert station.status()["evses"][0]["transaction_id"] is None
    assert [c.action for c in pending_csms.calls()] == ["BootNotification"]


def test_a_card_the_offline_rules_allow_starts_and_is_told_once_accepted(
    pending_csms: DevCsms,
    make_station: StationFactory,
    version: str,
    clock: FakeClock,
) -> None:
    station = pending_station(pending_csms, make_station, version, unknown_ok=True)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    station.tag(1, "TAG-1")
    verdict = judged(station)
    assert (verdict.accepted, verdict.online) == (True, False)
    wait_status(station, 1, "Charging")
    # Nothing but the boot goes out while Pending.
    assert [c.action for c in pending_csms.calls()] == ["BootNotification"]
    accept(pending_csms, station, clock)
    pending_csms.wait_for(lambda e: bool(pending_csms.calls(START[version])), timeout=5)
    [start, *_] = pending_csms.calls(START[version])
    if version == "1.6":
        assert start.payload["idTag"] == "TAG-1"
    else:
        assert start.payload["eventType"] == "Started"
        assert start.payload["idToken"]["idToken"] == "TAG-1"
    assert not pending_csms.calls("Authorize")
