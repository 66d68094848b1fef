"""Local Auth List Management end to end, named after the OCTT 1.6 cases it follows.

Over real websockets against the dev CSMS (and the ocpp-rpc strict peer where
the test takes `any_csms`), in virtual time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import Online
from ocppstation.actors.station import Station
from ocppstation.tools.csms import CallErrorResponse, DevCsms
from tests.conftest import StationFactory, answered, log_of, wait_status

CP = "cp-test"
FAR = 1000  # virtual seconds before a dropped station reconnects


def accepted(status: str = "Accepted", **more: str) -> dict[str, Any]:
    return {"status": status, **more}


def entry(tag: str, info: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"idTag": tag} if info is None else {"idTag": tag, "idTagInfo": info}


# -- end to end --------------------------------------------------------------------------


def booted(peer: Any, make_station: StationFactory, **sections: Any) -> Station:
    station = make_station(peer, **sections)
    answered(station, "StatusNotification", 3)
    return station


def send_list(peer: Any, version: int, update_type: str, entries: list[dict[str, Any]] | None):
    payload: dict[str, Any] = {"listVersion": version, "updateType": update_type}
    if entries is not None:
        payload["localAuthorizationList"] = entries
    return peer.call(CP, "SendLocalList", payload)["status"]


def list_version(peer: Any) -> int:
    return int(peer.call(CP, "GetLocalListVersion", {})["listVersion"])


def test_tc_042_1_get_local_list_version_when_the_list_is_disabled(
    any_csms: Any, make_station: StationFactory
) -> None:
    booted(any_csms, make_station, LocalAuthListManagement={"LocalAuthListEnabled": False})
    assert list_version(any_csms) == -1


def test_tc_042_2_get_local_list_version_of_an_empty_list(
    any_csms: Any, make_station: StationFactory
) -> None:
    booted(any_csms, make_station)
    assert send_list(any_csms, 1, "Full", None) == "Accepted"
    assert list_version(any_csms) == 0


def test_tc_043_send_local_list_full_then_differential(
    any_csms: Any, make_station: StationFactory
) -> None:
    station = booted(any_csms, make_station, Core={"LocalPreAuthorize": True})
    assert send_list(any_csms, 1, "Full", [entry("ONE", accepted())]) == "Accepted"
    assert send_list(any_csms, 2, "Differential", [entry("TWO", accepted())]) == "Accepted"
    assert list_version(any_csms) == 2
    # The Charge Point authorizes the driver from the list, without asking.
    station.plug(1)
    station.tag(1, "TWO")
    start = any_csms.log.wait_call("StartTransaction", CP)
    assert start.payload["idTag"] == "TWO"
    assert not any_csms.log.calls("Authorize")


@pytest.mark.parametrize(
    "sections",
    [
        {
            "Core": {"LocalPreAuthorize": True},
            "LocalAuthListManagement": {"LocalAuthListEnabled": False},
        },
        {
            "Core": {
                "LocalPreAuthorize": True,
                "SupportedFeatureProfiles": "Core,Reservation,RemoteTrigger",
            }
        },
    ],
    ids=["disabled", "profile-not-supported"],
)
def test_tc_043_1_send_local_list_not_supported(
    any_csms: Any, make_station: StationFactory, sections: dict[str, Any]
) -> None:
    station = booted(any_csms, make_station, **sections)
    assert send_list(any_csms, 1, "Full", [entry("LISTED", accepted())]) == "NotSupported"
    assert list_version(any_csms) == -1
    # Nothing of the list was kept: with LocalPreAuthorize a listed card
    # would start at once; this one is asked about.
    station.tag(1, "LISTED")
    asked = any_csms.log.wait_call("Authorize", CP)
    assert asked.payload["idTag"] == "LISTED"


def test_tc_043_2_send_local_list_version_mismatch(
    any_csms: Any, make_station: StationFactory
) -> None:
    booted(any_csms, make_station)
    assert send_list(any_csms, 2, "Full", [entry("A", accepted())]) == "Accepted"
    assert list_version(any_csms) == 2
    assert send_list(any_csms, 5, "Differential", [entry("B", accepted())]) == "Accepted"
    assert list_version(any_csms) == 5
    assert send_list(any_csms, 5, "Differential", [entry("C", accepted())]) == "VersionMismatch"
    assert send_list(any_csms, 3, "Differential", [entry("C", accepted())]) == "VersionMismatch"
    assert list_version(any_csms) == 5


def test_tc_043_3_send_local_list_failed_when_it_does_not_fit(
    any_csms: Any, make_station: StationFactory
) -> None:
    booted(
        any_csms,
        make_station,
        LocalAuthListManagement={"LocalAuthListMaxLength": 2, "SendLocalListMaxLength": 2},
    )
    three = [entry(t, accepted()) for t in ("A", "B", "C")]
    assert send_list(any_csms, 2, "Full", three) == "Failed"  # more than SendLocalListMaxLength
    assert send_list(any_csms, 2, "Full", three[:2]) == "Accepted"
    # Two in the list already: a third would outgrow LocalAuthListMaxLength.
    assert send_list(any_csms, 3, "Differential", three[2:]) == "Failed"
    assert list_version(any_csms) == 2


def test_tc_008_1_start_with_an_id_in_the_local_list(
    any_csms: Any, make_station: StationFactory
) -> None:
    station = booted(
        any_csms,
        make_station,
        Core={"LocalPreAuthorize": True, "AuthorizationCacheEnabled": False},
        LocalAuthListManagement={"LocalAuthListEnabled": True},
    )
    assert list_version(any_csms) == 0
    assert send_list(any_csms, 1, "Full", [entry("LOCAL", accepted())]) == "Accepted"
    station.tag(1, "LOCAL")
    wait_status(station, 1, "Preparing")
    station.plug(1)
    start = any_csms.log.wait_call("StartTransaction", CP)
    assert start.payload["idTag"] == "LOCAL"
    wait_status(station, 1, "Charging")
    assert not any_csms.log.calls("Authorize")


def go_offline(station: Station) -> None:
    mark = log_of(station).mark()
    station.disconnect()
    log_of(station).wait_for(lambda e: isinstance(e, Online) and not e.online, 5, since=mark)


def test_the_list_wins_over_the_cache_offline(csms: DevCsms, make_station: StationFactory) -> None:
    station = booted(csms, make_station, Internal={"RetryBackOffWaitMinimum": FAR})
    station.tag(2, "CARD")  # online: Accepted, and cached
    answered(station, "Authorize")
    entries = [entry("CARD", accepted("Blocked")), entry("GOOD", accepted())]
    assert send_list(csms, 1, "Full", entries) == "Accepted"
    go_offline(station)
    station.plug(1)
    station.tag(1, "CARD")  # the cache says Accepted, the list Blocked
    station.tag(1, "GOOD")  # decided after CARD, in order: it is the one that starts
    wait_status(station, 1, "Charging")
    assert station.status()["evses"][0]["id_tag"] == "GOOD"


def test_the_list_wins_over_the_cache_online_with_local_pre_authorize(
    csms: DevCsms, make_station: StationFactory
) -> None:
    csms.known_tags["CARD"] = "Blocked"
    station = booted(csms, make_station, Core={"LocalPreAuthorize": True})
    station.tag(1, "CARD")  # asked: Blocked, and cached
    answered(station, "Authorize")
    assert send_list(csms, 1, "Full", [entry("CARD", accepted())]) == "Accepted"
    csms.known_tags["CARD"] = "Accepted"
    station.plug(1)
    station.tag(1, "CARD")
    start = csms.log.wait_call("StartTransaction", CP)
    assert start.payload["idTag"] == "CARD"
    assert len(csms.log.calls("Authorize")) == 1  # the list let it start at once


def test_the_list_and_its_version_survive_a_restart(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path), "RetryBackOffWaitMinimum": FAR}
    first = booted(csms, make_station, Internal=data)
    assert send_list(csms, 7, "Full", [entry("KEPT", accepted())]) == "Accepted"
    first.stop()
    second = booted(csms, make_station, Internal=data)
    assert list_version(csms) == 7
    go_offline(second)
    second.plug(1)
    second.tag(1, "KEPT")  # offline: only the list knows this card
    wait_status(second, 1, "Charging")


def test_a_list_disabled_by_the_csms_is_not_used(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station, Core={"LocalPreAuthorize": True})
    assert send_list(csms, 1, "Full", [entry("LISTED", accepted())]) == "Accepted"
    answer = csms.call(CP, "ChangeConfiguration", {"key": "LocalAuthListEnabled", "value": "false"})
    assert answer == {"status": "Accepted"}
    assert list_version(csms) == -1
    station.tag(1, "LISTED")  # with the list in use it would start without asking
    assert csms.log.wait_call("Authorize", CP).payload["idTag"] == "LISTED"


def test_an_expiry_date_in_lower_case_is_understood(
    csms: DevCsms, make_station: StationFactory
) -> None:
    """RFC 3339 allows `t` and `z`; the validator takes them, so must the station."""
    station = booted(csms, make_station, Internal={"RetryBackOffWaitMinimum": FAR})
    entries = [
        entry("LATER", accepted(expiryDate="2030-01-01t00:00:00z")),
        entry("GONE", accepted(expiryDate="2020-01-01t00:00:00.5z")),
    ]
    assert send_list(csms, 1, "Full", entries) == "Accepted"
    go_offline(station)
    station.plug(1)
    station.tag(1, "GONE")  # expired: refused offline
    station.tag(1, "LATER")
    wait_status(station, 1, "Charging")
    assert station.status()["evses"][0]["id_tag"] == "LATER"


@pytest.mark.parametrize("version", [2**63, -(2**63) - 1, 10**30])
def test_a_list_version_no_store_can_hold_is_refused_cleanly(
    csms: DevCsms, make_station: StationFactory, caplog: pytest.LogCaptureFixture, version: int
) -> None:
    booted(csms, make_station)
    payload = {"listVersion": version, "updateType": "Full", "localAuthorizationList": []}
    with pytest.raises(CallErrorResponse) as refused:
        csms.call(CP, "SendLocalList", payload, validate=False)
    assert refused.value.code == "PropertyConstraintViolation"
    # Refused before it reached storage: no traceback, and the list is as it was.
    assert not [r for r in caplog.records if r.exc_info]
    assert csms.call(CP, "GetLocalListVersion", {}) == {"listVersion": 0}
