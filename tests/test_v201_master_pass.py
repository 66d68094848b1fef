"""OCPP 2.0.1 C16: stop transactions with a master pass, and E07's stopping
token, on real websockets against the dev CSMS.

This station has no UI to choose a transaction (C16.FR.02): a token whose
group is AuthCtrlr.MasterPassGroupId ends every ongoing transaction, with
stoppedReason MasterPass and triggerReason StopAuthorized, and starts none.
"""

from __future__ import annotations

from typing import Any

from ocppstation.actors.events import TokenJudged
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, log_of, wait_status
from tests.test_v201_e2e import charging, csms201, events, station201

__all__ = ["csms201"]

CP = "cp-test"
MASTER_GROUP = "MASTERS"


def _groups(groups: dict[str, str]) -> Any:
    def answer(cp_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {"status": "Accepted"}
        group = groups.get(payload["idToken"]["idToken"])
        if group is not None:
            info["groupIdToken"] = {"idToken": group, "type": "Central"}
        return {"idTokenInfo": info}

    return answer


def _master_pass_group(csms: DevCsms, group: str) -> None:
    item = {
        "component": {"name": "AuthCtrlr"},
        "variable": {"name": "MasterPassGroupId"},
        "attributeValue": group,
    }
    answer = csms.call(CP, "SetVariables", {"setVariableData": [item]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"


def _ended(csms: DevCsms, count: int) -> list[dict[str, Any]]:
    csms.wait_for(
        lambda _: sum(e["eventType"] == "Ended" for e in events(csms)) >= count, timeout=5
    )
    return [e for e in events(csms) if e["eventType"] == "Ended"]


def test_c16_fr02_a_master_pass_stops_every_transaction(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    csms201.set_reply("Authorize", _groups({"BOSS": MASTER_GROUP}))
    station = station201(csms201, make_station, evses=3)
    _master_pass_group(csms201, MASTER_GROUP)
    one = charging(station, csms201, 1, "TAG-1")
    two = charging(station, csms201, 2, "TAG-2")
    station.tag(3, "BOSS")
    ended = _ended(csms201, 2)
    assert sorted(e["transactionInfo"]["transactionId"] for e in ended) == sorted([one, two])
    for event in ended:
        assert event["transactionInfo"]["stoppedReason"] == "MasterPass"
        assert event["triggerReason"] == "StopAuthorized"
        assert event["idToken"]["idToken"] == "BOSS"
    wait_status(station, 1, "Finishing")
    wait_status(station, 2, "Finishing")


def test_c16_fr03_a_master_pass_never_starts_a_transaction(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    csms201.set_reply("Authorize", _groups({"BOSS": MASTER_GROUP}))
    station = station201(csms201, make_station)
    _master_pass_group(csms201, MASTER_GROUP)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    mark = log_of(station).mark()
    station.tag(1, "BOSS")
    log_of(station).wait_for(lambda e: isinstance(e, TokenJudged) and e.id_tag == "BOSS", 5)
    # The master pass was judged Accepted, yet nothing starts.
    station.tag(1, "TAG-1")
    log_of(station).wait_for(
        lambda e: isinstance(e, TokenJudged) and e.id_tag == "TAG-1", 5, since=mark
    )
    wait_status(station, 1, "Charging")

    def started() -> list[str]:
        return [e["idToken"]["idToken"] for e in events(csms201) if e["eventType"] == "Started"]

    csms201.wait_for(lambda _: bool(started()), timeout=5)
    assert started() == ["TAG-1"]


def test_without_a_master_pass_group_the_same_token_is_an_ordinary_one(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    csms201.set_reply("Authorize", _groups({"BOSS": MASTER_GROUP}))
    station = station201(csms201, make_station)
    charging(station, csms201, 1, "BOSS")
    started = [e for e in events(csms201) if e["eventType"] == "Started"]
    assert [e["idToken"]["idToken"] for e in started] == ["BOSS"]


def test_e07_a_card_of_the_same_group_stops_it_and_is_named_in_the_ended_event(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    csms201.set_reply("Authorize", _groups({"DRIVER-A": "FLEET", "DRIVER-B": "FLEET"}))
    station = station201(csms201, make_station)
    charging(station, csms201, 1, "DRIVER-A")
    station.tag(1, "DRIVER-B")
    [ended] = _ended(csms201, 1)
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["idToken"]["idToken"] == "DRIVER-B"
