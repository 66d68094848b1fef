"""OCPP 2.0.1 C10/C12: the authorization cache's LifeTime, on real websockets
against the dev CSMS, in virtual time.

C10.FR.08 (TC_C_46_CS): an entry not used for AuthCacheCtrlr.LifeTime seconds
is removed, so the next presentation asks the CSMS again; each use starts
the LifeTime over.
"""

from __future__ import annotations

from pathlib import Path

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, wait_status
from tests.test_v201_e2e import csms201, station201

__all__ = ["csms201"]

CP = "cp-test"


def _lifetime(csms: DevCsms, seconds: int) -> None:
    item = {
        "component": {"name": "AuthCacheCtrlr"},
        "variable": {"name": "LifeTime"},
        "attributeValue": str(seconds),
    }
    answer = csms.call(CP, "SetVariables", {"setVariableData": [item]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"


def _session(station: Station, tag: str) -> None:
    """Card, cable, charge, then the card again and the cable out: the EVSE is free."""
    station.tag(1, tag)
    station.plug(1)
    wait_status(station, 1, "Charging")
    station.tag(1, tag)
    wait_status(station, 1, "Finishing")
    station.unplug(1)
    wait_status(station, 1, "Available")


def _cached_station(csms: DevCsms, make_station: StationFactory, tmp_path: Path) -> Station:
    """A 2.0.1 station that authorizes from its cache first (LocalPreAuthorize)."""
    return station201(
        csms, make_station, Internal={"DataDir": str(tmp_path)}, Core={"LocalPreAuthorize": True}
    )


def test_c10_fr08_an_entry_unused_for_its_lifetime_is_asked_about_again(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    station = _cached_station(csms201, make_station, tmp_path)
    _lifetime(csms201, 600)
    _session(station, "TAG-1")
    asked = len(csms201.calls("Authorize"))
    assert asked == 1  # the second presentation stopped it; the cache holds TAG-1
    # Within the LifeTime the cache authorizes at once; the use starts it over.
    clock.advance(500)
    _session(station, "TAG-1")
    assert len(csms201.calls("Authorize")) == asked
    clock.advance(500)
    _session(station, "TAG-1")
    assert len(csms201.calls("Authorize")) == asked
    # Unused for longer than the LifeTime: removed, the CSMS is asked again.
    clock.advance(601)
    station.tag(1, "TAG-1")
    answered(station, "Authorize", asked + 1)
    assert csms201.calls("Authorize")[-1].payload["idToken"]["idToken"] == "TAG-1"


def test_without_a_lifetime_an_entry_lives_until_it_expires(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    station = _cached_station(csms201, make_station, tmp_path)
    _session(station, "TAG-1")
    asked = len(csms201.calls("Authorize"))
    clock.advance(30 * 24 * 3600)
    _session(station, "TAG-1")
    assert len(csms201.calls("Authorize")) == asked
