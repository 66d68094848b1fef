"""A station of the largest supported size boots against a real CSMS."""

from __future__ import annotations

import pytest

from ocppstation.tools.csms import DevCsms, LogEntry
from tests.conftest import StationFactory, answered

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
