"""A station of the largest supported size boots against a real CSMS."""

from __future__ import annotations

from typing import Any

import pytest

from ocppstation.tools.csms import DevCsms, LogEntry
from tests.conftest import StationFactory, answered
from tests.test_v201_e2e import any_csms201, charging, events

__all__ = ["any_csms201"]  # the 2.0.1 peers, as a fixture here

CP = "cp-test"
EVSES = 128
# Generous: about 0.2 to 0.6 s on 2 cores, but CI machines are shared.
BOOT_TIMEOUT = 60.0


@pytest.mark.slow
def test_128_evses_report_every_connector_once_in_order_after_one_boot(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms, evses=EVSES)
    expected = list(range(EVSES + 1))
    seen: list[int] = []

    def last_connector(entry: LogEntry) -> bool:
        if (
            entry.kind == "call"
            and entry.direction == "in"
            and entry.action == "StatusNotification"
        ):
            seen.append(entry.payload["connectorId"])
        return seen[-1:] == [EVSES]

    csms.log.wait_for(last_connector, BOOT_TIMEOUT)
    # Let the station take in every answer, so nothing is still on its way out.
    answered(station, "StatusNotification", EVSES + 1, timeout=BOOT_TIMEOUT)

    boots = csms.log.calls("BootNotification", CP)
    notes = csms.log.calls("StatusNotification", CP)
    assert len(boots) == 1
    assert [e.payload["connectorId"] for e in notes] == expected
    assert boots[0].seq < notes[0].seq
    assert {e.payload["status"] for e in notes} == {"Available"}
    assert {e.payload["errorCode"] for e in notes} == {"NoError"}
    # Every one was answered: none failed, none was retried.
    assert all(csms.log.reply_to(e) is not None for e in notes)
    # And nothing else: one BootNotification, the start's security event, 129
    # StatusNotifications.
    (startup,) = csms.log.calls("SecurityEventNotification", CP)
    assert startup.payload["type"] == "StartupOfTheDevice"
    assert len(csms.log.calls()) == 2 + len(expected)


@pytest.mark.slow
def test_a_2_0_1_station_of_128_evses_boots_and_charges_at_its_first_and_last_evse(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = make_station(any_csms201, evses=EVSES, Internal={"OcppVersions": ["2.0.1"]})
    answered(station, "StatusNotification", EVSES, timeout=BOOT_TIMEOUT)
    notes = any_csms201.calls("StatusNotification")
    # One per connector (2.0.1 has no connector 0), each EVSE's connector 1.
    assert sorted(e.payload["evseId"] for e in notes) == list(range(1, EVSES + 1))
    assert {e.payload["connectorId"] for e in notes} == {1}
    assert {e.payload["connectorStatus"] for e in notes} == {"Available"}
    assert len(any_csms201.calls("BootNotification")) == 1
    ids = {evse: charging(station, any_csms201, evse, f"TAG-{evse}") for evse in (1, EVSES)}
    assert len(set(ids.values())) == 2
    for evse in (1, EVSES):
        station.unplug(evse)
    any_csms201.wait_for(
        lambda _: sum(e["eventType"] == "Ended" for e in events(any_csms201)) == 2,
        timeout=BOOT_TIMEOUT,
    )
    ended = {e["evse"]["id"] for e in events(any_csms201) if e["eventType"] == "Ended"}
    assert ended == {1, EVSES}
