"""OCPP 2.0.1 live counts in the device model, end to end over real websockets:
SmartChargingCtrlr.Entries[ChargingProfiles] and DisplayMessageCtrlr.DisplayMessages
(2.0.1's and libocpp's name for the display's count) follow what is
installed, as LocalAuthListCtrlr.Entries does, and their maxLimit is the
limit the station enforces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocppstation.actors.v201.device_model import VariableChanged
from ocppstation.config.device_model import Address
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, log_of
from tests.test_v201_e2e import CP, charging, csms201, station201, wait_event
from tests.test_v201_smart_charging import profile, set_profile

__all__ = ["csms201"]  # the 2.0.1 dev CSMS, as a fixture here

PROFILES = ("SmartChargingCtrlr", "Entries", "ChargingProfiles")
MESSAGES = ("DisplayMessageCtrlr", "DisplayMessages", None)


def count(peer: Any, where: tuple[str, str, str | None]) -> int:
    component, name, instance = where
    variable = {"name": name, **({"instance": instance} if instance else {})}
    answer = peer.call(
        CP,
        "GetVariables",
        {"getVariableData": [{"component": {"name": component}, "variable": variable}]},
    )
    [result] = answer["getVariableResult"]
    assert result["attributeStatus"] == "Accepted", result
    return int(result["attributeValue"])


def max_limit(peer: Any, where: tuple[str, str, str | None]) -> float:
    component, name, instance = where
    variable = {"name": name, **({"instance": instance} if instance else {})}
    request = {
        "requestId": 9,
        "componentVariable": [{"component": {"name": component}, "variable": variable}],
    }
    mark = len(peer.calls("NotifyReport"))
    assert peer.call(CP, "GetReport", request) == {"status": "Accepted"}
    peer.wait_for(lambda _: len(peer.calls("NotifyReport")) > mark, timeout=5)
    [data] = peer.calls("NotifyReport")[-1].payload["reportData"]
    return float(data["variableCharacteristics"]["maxLimit"])


def message(message_id: int, text: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "priority": "NormalCycle",
        "message": {"format": "UTF8", "content": text},
    }


def test_entries_follow_the_profiles_and_the_display_messages(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station, SmartCharging={"MaxChargingProfilesInstalled": 3})
    assert count(csms201, PROFILES) == 0
    assert count(csms201, MESSAGES) == 0
    # maxLimit: what the station enforces (the configured 3, and 100 messages).
    assert max_limit(csms201, PROFILES) == 3
    assert max_limit(csms201, MESSAGES) == 100

    assert set_profile(csms201, 1, profile(1, "TxDefaultProfile", [(0, 16)])) == {
        "status": "Accepted"
    }
    assert set_profile(csms201, 2, profile(2, "TxDefaultProfile", [(0, 16)])) == {
        "status": "Accepted"
    }
    assert count(csms201, PROFILES) == 2
    for n in (1, 2):
        status = csms201.call(CP, "SetDisplayMessage", {"message": message(n, f"m{n}")})
        assert status == {"status": "Accepted"}
    assert count(csms201, MESSAGES) == 2
    assert csms201.call(CP, "ClearDisplayMessage", {"id": 1}) == {"status": "Accepted"}
    assert count(csms201, MESSAGES) == 1
    assert csms201.call(CP, "ClearChargingProfile", {"chargingProfileId": 2}) == {
        "status": "Accepted"
    }
    assert count(csms201, PROFILES) == 1

    # A TxProfile goes with its transaction: the count follows without a call.
    tx = charging(station, csms201)
    limited = profile(3, "TxProfile", [(0, 10)], transactionId=tx)
    assert set_profile(csms201, 1, limited) == {"status": "Accepted"}
    assert count(csms201, PROFILES) == 2
    entries = Address("SmartChargingCtrlr", "Entries", variable_instance="ChargingProfiles")
    mark = log_of(station).mark()
    station.unplug(1)
    wait_event(csms201, "Ended")
    log_of(station).wait_for(
        lambda e: isinstance(e, VariableChanged) and e.address == entries and e.value == 1,
        timeout=5,
        since=mark,
    )
    assert count(csms201, PROFILES) == 1


def test_entries_are_read_back_after_a_restart(
    csms201: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path)}
    station = station201(csms201, make_station, Internal=data)
    assert set_profile(csms201, 1, profile(1, "TxDefaultProfile", [(0, 16)])) == {
        "status": "Accepted"
    }
    status = csms201.call(CP, "SetDisplayMessage", {"message": message(1, "Welcome")})
    assert status == {"status": "Accepted"}
    station.stop()
    station201(csms201, make_station, Internal=data)
    assert count(csms201, PROFILES) == 1
    assert count(csms201, MESSAGES) == 1
