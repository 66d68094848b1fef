"""The station's maintenance hold on a connector (used by firmware installation)."""

from __future__ import annotations

from ocppstation.actors.events import TransactionStarted
from ocppstation.actors.evse.connector import Maintenance
from ocppstation.actors.runtime.context import STORAGE, evse_path
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of, wait_status


def test_a_hold_makes_idle_connectors_unavailable_and_waits_for_a_transaction(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    station.plug(2)
    station.tag(2, "TAG-2")
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
    wait_status(station, 2, "Charging")
    mark = log_of(station).mark()

    assert station.registry.ask(evse_path(1, "connector"), Maintenance(True), timeout=5) is True
    assert station.registry.ask(evse_path(2, "connector"), Maintenance(True), timeout=5) is False
    wait_status(station, 1, "Unavailable", since=mark)
    # The transaction goes on; the hold takes the connector when it ends.
    station.tag(2, "TAG-2")
    wait_status(station, 2, "Unavailable", since=mark)
    assert station.registry.ask(evse_path(2, "connector"), Maintenance(True), timeout=5) is True

    # Not the CSMS's choice: nothing is stored, and letting go restores Available.
    stored = station.registry.proxy(STORAGE).availability.all().get(timeout=5)
    assert stored == {}
    for evse in (1, 2):
        station.registry.ask(evse_path(evse, "connector"), Maintenance(False), timeout=5)
    wait_status(station, 1, "Available", since=mark)
    station.unplug(2)
    wait_status(station, 2, "Available", since=mark)


def test_a_hold_keeps_the_csms_choice_when_let_go(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms, evses=1)
    answered(station, "StatusNotification", 2)
    connector = evse_path(1, "connector")
    mark = log_of(station).mark()
    station.registry.ask(connector, Maintenance(True), timeout=5)
    wait_status(station, 1, "Unavailable", since=mark)
    assert csms.call(
        "cp-test", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}
    ) == {"status": "Accepted"}
    station.registry.ask(connector, Maintenance(False), timeout=5)
    # Still Inoperative: the CSMS said so meanwhile.
    assert station.status()["evses"][0]["status"] == "Unavailable"
    csms.call("cp-test", "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    wait_status(station, 1, "Available", since=mark)
