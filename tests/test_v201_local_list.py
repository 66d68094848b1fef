"""OCPP 2.0.1 D Local authorization list end to end: SendLocalList (D01),
GetLocalListVersion (D02), LocalAuthListCtrlr, and the list in the
authorization decisions (C13, C14).

Over real websockets against the dev CSMS (and the ocpp-rpc strict peer where
the test takes `any_csms201`), in virtual time; both peers check every frame
against the 2.0.1 schemas. The rules are 1.6's (tests/test_local_list*.py) in
their 2.0.1 dialect; the pure mapping of an AuthorizationData has a
hypothesis test at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.events import LocalListChanged, Online, TokenJudged
from ocppstation.actors.station import Station
from ocppstation.actors.v201.authorization import list_entry, tag_info
from ocppstation.protocol.v16 import local_list
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, log_of, wait_status
from tests.test_v201_e2e import CP, any_csms201, csms201, station201

__all__ = ["any_csms201", "csms201"]  # the 2.0.1 peers, as fixtures here

FAR = 1000  # virtual seconds before a dropped station reconnects


def token(value: str, kind: str = "ISO14443") -> dict[str, str]:
    return {"idToken": value, "type": kind}


def entry(value: str, status: str | None = "Accepted", **info: Any) -> dict[str, Any]:
    """An AuthorizationData; status None leaves idTokenInfo out (a removal)."""
    out: dict[str, Any] = {"idToken": token(value)}
    if status is not None:
        out["idTokenInfo"] = {"status": status, **info}
    return out


def send_list(peer: Any, version: int, update_type: str, entries: list[dict[str, Any]]) -> str:
    payload: dict[str, Any] = {"versionNumber": version, "updateType": update_type}
    if entries:  # minItems 1: an empty list is left out
        payload["localAuthorizationList"] = entries
    return str(peer.call(CP, "SendLocalList", payload)["status"])


def list_version(peer: Any) -> int:
    return int(peer.call(CP, "GetLocalListVersion", {})["versionNumber"])


def variable(peer: Any, component: str, name: str) -> str | None:
    answer = peer.call(
        CP,
        "GetVariables",
        {"getVariableData": [{"component": {"name": component}, "variable": {"name": name}}]},
    )
    [result] = answer["getVariableResult"]
    assert result["attributeStatus"] == "Accepted", result
    return result.get("attributeValue")


def entries(peer: Any) -> int:
    return int(variable(peer, "LocalAuthListCtrlr", "Entries") or "-1")


def set_variable(peer: Any, component: str, name: str, value: str) -> str:
    answer = peer.call(
        CP,
        "SetVariables",
        {
            "setVariableData": [
                {
                    "component": {"name": component},
                    "variable": {"name": name},
                    "attributeValue": value,
                }
            ]
        },
    )
    return str(answer["setVariableResult"][0]["attributeStatus"])


def go_offline(station: Station) -> None:
    mark = log_of(station).mark()
    station.disconnect()
    log_of(station).wait_for(lambda e: isinstance(e, Online) and not e.online, 5, since=mark)


def judged(station: Station, id_tag: str) -> TokenJudged:
    found = log_of(station).wait_for(
        lambda e: isinstance(e, TokenJudged) and e.id_tag == id_tag, timeout=5
    )
    assert isinstance(found, TokenJudged)
    return found


# -- D01, D02 --------------------------------------------------------------------------


def test_d01_full_then_differential_add_update_and_remove(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station201(any_csms201, make_station)
    # D02.FR.02: enabled, and no update yet.
    assert list_version(any_csms201) == 0
    assert entries(any_csms201) == 0
    assert variable(any_csms201, "LocalAuthListCtrlr", "Enabled") == "true"
    assert send_list(any_csms201, 1, "Full", [entry("A"), entry("B")]) == "Accepted"
    assert (list_version(any_csms201), entries(any_csms201)) == (1, 2)
    # D01.FR.16 add and update, D01.FR.17 remove (no idTokenInfo).
    diff = [entry("C"), entry("B", "Blocked"), entry("A", None)]
    assert send_list(any_csms201, 2, "Differential", diff) == "Accepted"
    assert (list_version(any_csms201), entries(any_csms201)) == (2, 2)
    # D01.FR.05: an empty Differential update only moves the version.
    assert send_list(any_csms201, 3, "Differential", []) == "Accepted"
    assert (list_version(any_csms201), entries(any_csms201)) == (3, 2)
    # D01.FR.04: an empty Full update empties the list, at its version.
    assert send_list(any_csms201, 9, "Full", []) == "Accepted"
    assert (list_version(any_csms201), entries(any_csms201)) == (9, 0)


def test_d01_version_rules(csms201: DevCsms, make_station: StationFactory) -> None:
    station201(csms201, make_station)
    # D01.FR.18: no update may carry 0, the version that means "no list".
    assert send_list(csms201, 0, "Full", [entry("A")]) == "Failed"
    assert send_list(csms201, 0, "Differential", []) == "Failed"
    assert send_list(csms201, -3, "Full", []) == "Failed"
    assert list_version(csms201) == 0
    assert send_list(csms201, 10, "Full", [entry("A")]) == "Accepted"
    # D01.FR.19: a Differential update must be above the current version.
    assert send_list(csms201, 10, "Differential", [entry("B")]) == "VersionMismatch"
    assert send_list(csms201, 7, "Differential", [entry("B")]) == "VersionMismatch"
    assert (list_version(csms201), entries(csms201)) == (10, 1)
    # A Full update replaces the list whatever its version: how a CSMS gets back in step.
    assert send_list(csms201, 4, "Full", [entry("B"), entry("C")]) == "Accepted"
    assert (list_version(csms201), entries(csms201)) == (4, 2)


def test_d01_an_update_the_station_cannot_take_whole_fails_and_changes_nothing(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(
        csms201,
        make_station,
        LocalAuthListManagement={"LocalAuthListMaxLength": 3, "SendLocalListMaxLength": 150},
    )
    assert send_list(csms201, 1, "Full", [entry("A")]) == "Accepted"
    refused = {
        # D01.FR.06: unique idTokens; the value alone names a token (any case, any type).
        "duplicate": [entry("B"), entry("b")],
        "same value, other type": [entry("B"), {"idToken": token("B", "Central")}],
        # A Full list needs every idTokenInfo.
        "no idTokenInfo": [entry("B"), entry("C", None)],
        # More than Entries' maxLimit (LocalAuthListMaxLength).
        "too many": [entry(t) for t in ("B", "C", "D", "E")],
    }
    for why, update in refused.items():
        assert send_list(csms201, 2, "Full", update) == "Failed", why
    assert send_list(csms201, 2, "Differential", [entry("B"), entry("C"), entry("D")]) == "Failed"
    assert (list_version(csms201), entries(csms201)) == (1, 1)


def test_d01_items_per_message_and_bytes_per_message_bound_one_update(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station, LocalAuthListManagement={"SendLocalListMaxLength": 150})
    assert variable(csms201, "LocalAuthListCtrlr", "ItemsPerMessage") == "150"
    assert variable(csms201, "LocalAuthListCtrlr", "BytesPerMessage") == "65536"
    assert variable(csms201, "LocalAuthListCtrlr", "Available") == "true"
    assert send_list(csms201, 1, "Full", [entry(f"T{n}") for n in range(151)]) == "Failed"

    def tokens(count: int, chars: int) -> list[dict[str, Any]]:
        message = {"format": "UTF8", "content": "x" * chars}
        return [entry(f"T{n}", personalMessage=message) for n in range(count)]

    # About 75 kB: more than BytesPerMessage, in fewer entries than ItemsPerMessage.
    assert send_list(csms201, 1, "Full", tokens(140, 450)) == "Failed"
    assert (list_version(csms201), entries(csms201)) == (0, 0)
    # About 50 kB fits.
    assert send_list(csms201, 1, "Full", tokens(140, 300)) == "Accepted"
    assert (list_version(csms201), entries(csms201)) == (1, 140)


def test_d02_a_disabled_list_fails_updates_and_reports_version_0(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(
        csms201,
        make_station,
        Core={"LocalPreAuthorize": True},
        LocalAuthListManagement={"LocalAuthListEnabled": False},
    )
    assert send_list(csms201, 1, "Full", [entry("LISTED")]) == "Failed"
    assert list_version(csms201) == 0  # D02.FR.03
    # Enabled by the CSMS, the list takes updates; disabled again, it is not used.
    assert set_variable(csms201, "LocalAuthListCtrlr", "Enabled", "true") == "Accepted"
    assert send_list(csms201, 5, "Full", [entry("LISTED")]) == "Accepted"
    assert list_version(csms201) == 5
    assert set_variable(csms201, "LocalAuthListCtrlr", "Enabled", "false") == "Accepted"
    assert list_version(csms201) == 0
    assert send_list(csms201, 6, "Differential", [entry("OTHER")]) == "Failed"
    station.tag(1, "LISTED")  # with the list in use it would start without asking
    asked = csms201.log.wait_call("Authorize", CP)
    assert asked.payload["idToken"]["idToken"] == "LISTED"


# -- the list in the decisions (C13, C14) ----------------------------------------------


def test_c13_offline_a_listed_token_starts_and_a_blocked_one_is_refused(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station, Internal={"RetryBackOffWaitMinimum": FAR})
    station.tag(2, "CARD")  # online: Accepted by the CSMS, and cached
    judged(station, "CARD")  # decided before the mark below, so not counted after it
    listed = [entry("CARD", "Blocked"), entry("GOOD", cacheExpiryDateTime="2030-01-01T00:00:00Z")]
    assert send_list(csms201, 1, "Full", listed) == "Accepted"
    go_offline(station)
    mark = log_of(station).mark()
    station.plug(1)
    station.tag(1, "CARD")  # the cache says Accepted, the list Blocked: the list wins
    station.tag(1, "GOOD")
    wait_status(station, 1, "Charging")
    assert station.status()["evses"][0]["id_tag"] == "GOOD"
    verdicts = [
        (e.id_tag, e.accepted, e.status, e.source, e.online)
        for e in log_of(station).all(since=mark)
        if isinstance(e, TokenJudged)
    ]
    assert verdicts == [
        ("CARD", False, "Blocked", "list", False),
        ("GOOD", True, "Accepted", "list", False),
    ]


def test_c13_offline_an_expired_entry_is_refused(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station, Internal={"RetryBackOffWaitMinimum": FAR})
    gone = entry("GONE", cacheExpiryDateTime="2020-01-01T00:00:00Z")
    assert send_list(csms201, 1, "Full", [gone]) == "Accepted"
    go_offline(station)
    station.tag(1, "GONE")
    verdict = judged(station, "GONE")
    assert (verdict.accepted, verdict.status, verdict.source) == (False, "Expired", "list")


def test_c14_online_local_pre_authorize_and_disable_post_authorize(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(
        csms201,
        make_station,
        Core={"LocalPreAuthorize": True, "AuthorizationCacheEnabled": False},
    )
    assert send_list(csms201, 1, "Full", [entry("LOCAL"), entry("BLOCKED", "Blocked")]) == (
        "Accepted"
    )
    # C14.FR.02: an Accepted entry starts at once, without an Authorize.
    station.tag(1, "LOCAL")
    station.plug(1)
    wait_status(station, 1, "Charging")
    assert not csms201.log.calls("Authorize")
    # C14.FR.03: an entry that is not Accepted is asked about...
    station.tag(2, "BLOCKED")
    asked = csms201.log.wait_call("Authorize", CP)
    assert asked.payload["idToken"]["idToken"] == "BLOCKED"
    # ...unless DisablePostAuthorize: then it is refused as the list says.
    assert set_variable(csms201, "LocalAuthListCtrlr", "DisablePostAuthorize", "true") == (
        "Accepted"
    )
    mark = log_of(station).mark()
    station.tag(2, "BLOCKED")
    verdict = log_of(station).wait_for(
        lambda e: isinstance(e, TokenJudged) and e.id_tag == "BLOCKED", timeout=5, since=mark
    )
    assert isinstance(verdict, TokenJudged)
    assert (verdict.accepted, verdict.status, verdict.source) == (False, "Blocked", "list")
    assert len(csms201.log.calls("Authorize")) == 1


def test_d01_the_list_and_its_version_survive_a_restart(
    csms201: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path), "RetryBackOffWaitMinimum": FAR}
    first = station201(csms201, make_station, Internal=data)
    assert send_list(csms201, 7, "Full", [entry("KEPT"), entry("OUT", "Blocked")]) == "Accepted"
    changed = log_of(first).wait_for(lambda e: isinstance(e, LocalListChanged), timeout=5)
    assert changed == LocalListChanged(version=7, entries=2)
    first.stop()
    second = station201(csms201, make_station, Internal=data)
    assert (list_version(csms201), entries(csms201)) == (7, 2)
    assert send_list(csms201, 7, "Differential", [entry("NEW")]) == "VersionMismatch"
    go_offline(second)
    second.plug(1)
    second.tag(1, "OUT")
    second.tag(1, "KEPT")  # offline: only the list knows these cards
    wait_status(second, 1, "Charging")
    assert second.status()["evses"][0]["id_tag"] == "KEPT"


# -- the mapping, pure -----------------------------------------------------------------

_TEXT = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=36)
_STATUS = st.sampled_from(
    ["Accepted", "Blocked", "ConcurrentTx", "Expired", "Invalid", "NoCredit", "Unknown"]
)
_INFO = st.fixed_dictionaries(
    {"status": _STATUS},
    optional={
        "cacheExpiryDateTime": st.just("2030-01-01T00:00:00Z"),
        "groupIdToken": st.builds(token, _TEXT),
        "chargingPriority": st.integers(-9, 9),
        "evseId": st.lists(st.integers(1, 9), min_size=1, max_size=3),
    },
)
_DATA = st.fixed_dictionaries(
    {"idToken": st.builds(token, _TEXT, st.sampled_from(["ISO14443", "Central", "eMAID"]))},
    optional={"idTokenInfo": _INFO},
)


@given(_DATA)
def test_an_authorization_data_reads_as_the_entry_the_decisions_use(
    data: dict[str, Any],
) -> None:
    mapped = list_entry(data)
    assert mapped["idTag"] == data["idToken"]["idToken"]
    assert ("idTagInfo" in mapped) == ("idTokenInfo" in data)
    if "idTokenInfo" not in data:
        return
    info, read = data["idTokenInfo"], mapped["idTagInfo"]
    assert read == tag_info(info)
    assert read["status"] == info["status"]
    assert read.get("expiryDate") == info.get("cacheExpiryDateTime")
    assert read.get("parentIdTag") == (info.get("groupIdToken") or {}).get("idToken")
    assert read.get("evseId") == (info.get("evseId") or None)  # where it may be used
    assert set(read) <= {"status", "expiryDate", "parentIdTag", "evseId"}


@given(st.lists(_DATA, max_size=6), st.sampled_from(["Full", "Differential"]), st.integers(-2, 4))
def test_the_2_0_1_dialect_answers_only_in_2_0_1_words(
    update: list[dict[str, Any]], update_type: str, version: int
) -> None:
    judgement = local_list.judge_update(
        enabled=True,
        update_type=update_type,
        version=version,
        entries=[list_entry(d) for d in update],
        current_version=1,
        current_size=1,
        present=set(),
        limits=local_list.Limits(max_length=5, send_max_length=5),
        dialect=local_list.V201,
    )
    assert judgement.status in {"Accepted", "Failed", "VersionMismatch"}
    if judgement.status == "Accepted":
        assert version >= 1  # D01.FR.18
        values = [d["idToken"]["idToken"].casefold() for d in update]
        assert len(set(values)) == len(values)  # D01.FR.06
    if version < 1:
        assert judgement.status == "Failed"


def test_the_2_0_1_dialect_reports_0_only_before_any_update_or_when_disabled() -> None:
    def reported(enabled: bool, stored: int, size: int, dialect: local_list.Dialect) -> int:
        return local_list.reported_version(
            enabled=enabled, stored_version=stored, size=size, dialect=dialect
        )

    assert reported(False, 5, 3, local_list.V201) == 0  # D02.FR.03
    assert reported(True, 0, 0, local_list.V201) == 0  # D02.FR.02: no update yet
    assert reported(True, 9, 0, local_list.V201) == 9  # emptied by the update of version 9
    assert reported(True, 9, 2, local_list.V201) == 9
    # 1.6 as it was: -1 without a list, 0 for an empty one.
    assert reported(False, 5, 3, local_list.V16) == -1
    assert reported(True, 9, 0, local_list.V16) == 0
