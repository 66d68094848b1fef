"""OCPP 2.0.1 C01: Authorize with every idToken type and additionalInfo, on
real websockets against the dev CSMS and ocpp-rpc strict.

A reader says what it read (`Station.tag(n, value, type, additional_info)`,
the console's `tag N VALUE [TYPE]`); the Authorize and the TransactionEvent
that starts the session carry that idToken as it was given.
"""

from __future__ import annotations

from typing import Any

import pytest

from ocppstation.actors.station import StationError
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, wait_status
from tests.test_v201_e2e import any_csms201, csms201, events, station201

__all__ = ["any_csms201", "csms201"]


@pytest.mark.parametrize("kind", ["KeyCode", "Local", "MacAddress", "ISO15693", "eMAID"])
def test_c01_a_token_of_any_type_is_authorized_and_started_as_it_was_read(
    kind: str, csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    station.tag(1, "1234", kind)
    wait_status(station, 1, "Charging")
    [asked] = csms201.calls("Authorize")
    assert asked.payload["idToken"] == {"idToken": "1234", "type": kind}
    csms201.wait_for(lambda _: any(e["eventType"] == "Started" for e in events(csms201)), 5)
    [started] = [e for e in events(csms201) if e["eventType"] == "Started"]
    assert started["idToken"] == {"idToken": "1234", "type": kind}


def test_c01_additional_info_goes_with_the_token(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    station.tag(1, "PIN-OWNER", "KeyCode", [("NL-ABC-123", "ContractId")])
    answered(station, "Authorize", 1)
    [asked] = any_csms201.calls("Authorize")
    assert asked.payload["idToken"] == {
        "idToken": "PIN-OWNER",
        "type": "KeyCode",
        "additionalInfo": [{"additionalIdToken": "NL-ABC-123", "type": "ContractId"}],
    }


def test_a_type_ocpp_does_not_know_is_refused(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    with pytest.raises(StationError, match="no idToken type 'Barcode'"):
        station.tag(1, "X", "Barcode")
