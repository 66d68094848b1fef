"""OCPP 2.0.1 N09/N10 CustomerInformation: the pure rules, then end to end
against the dev CSMS on real websockets, in virtual time."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v201 import customer_information as ci
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, quiet
from tests.test_v201_e2e import CP, any_csms201, charging, csms201, station201, wait_event

__all__ = ["any_csms201", "csms201"]

TOKEN = {"idToken": "TAG-1", "type": "ISO14443"}
CERTIFICATE = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "a" * 64,
    "issuerKeyHash": "b" * 64,
    "serialNumber": "1f",
}

# -- pure rules --------------------------------------------------------------------


@given(
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_judge_invalid_without_a_customer_rejected_without_work(
    report: bool, clear: bool, token: bool, certificate: bool, identifier: bool
) -> None:
    payload: dict[str, Any] = {"requestId": 1, "report": report, "clear": clear}
    if token:
        payload["idToken"] = TOKEN
    if certificate:
        payload["customerCertificate"] = CERTIFICATE
    if identifier:
        payload["customerIdentifier"] = "customer-42"
    status = ci.judge(ci.read(payload)).value
    if not (token or certificate or identifier):
        assert status == "Invalid"  # libocpp: naming no one wins over the flags
    elif not (report or clear):
        assert status == "Rejected"
    else:
        assert status == "Accepted"


@given(st.text(max_size=3000), st.integers(min_value=1, max_value=600))
def test_pages_split_the_report_in_order_with_tbc_on_all_but_the_last(text: str, size: int) -> None:
    notes = ci.pages(text, 7, "2026-01-01T00:00:00Z", size)
    assert "".join(n.data for n in notes) == text
    assert [n.seq_no for n in notes] == list(range(len(notes)))
    assert [n.tbc for n in notes] == [True] * (len(notes) - 1) + [False]
    assert all(len(n.data) <= size and n.request_id == 7 for n in notes)
    assert len(notes) == max(1, -(-len(text) // size))


def test_the_report_names_cache_list_and_transactions() -> None:
    request = ci.read({"requestId": 1, "report": True, "clear": False, "idToken": TOKEN})
    held = ci.Held(
        cached={"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z"},
        listed={"status": "Blocked", "parentIdTag": "FLEET"},
        transactions=(ci.StoredTransaction("tx-1", 2, "2026-01-01T00:00:00Z", None),),
    )
    lines = ci.report(request, held).splitlines()
    assert lines == [
        "idToken TAG-1: authorization cache: Accepted, until 2030-01-01T00:00:00Z",
        "idToken TAG-1: local list: Blocked, group FLEET",
        "idToken TAG-1: transaction tx-1 on EVSE 2, started 2026-01-01T00:00:00Z, running",
    ]
    assert ci.report(request, ci.Held()) == ""


# -- end to end ----------------------------------------------------------------------


def notes_of(csms: DevCsms, request_id: int) -> list[dict[str, Any]]:
    """The NotifyCustomerInformation pages of `request_id`, waited for up to the last."""

    def pages() -> list[dict[str, Any]]:
        return [
            c.payload
            for c in csms.calls("NotifyCustomerInformation")
            if c.payload["requestId"] == request_id
        ]

    csms.wait_for(lambda _: any(p.get("tbc") is False for p in pages()), timeout=5)
    return pages()


def customer_information(csms: DevCsms, request_id: int, **fields: Any) -> str:
    payload = {"requestId": request_id, "report": False, "clear": False, **fields}
    return str(csms.call(CP, "CustomerInformation", payload)["status"])


def test_n09_the_report_follows_the_answer_with_what_the_station_holds(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    listed = {"idToken": TOKEN, "idTokenInfo": {"status": "Accepted"}}
    answer = csms201.call(
        CP,
        "SendLocalList",
        {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [listed]},
    )
    assert answer["status"] == "Accepted"
    tx_id = charging(station, csms201)  # Authorize puts TAG-1 in the cache
    quiet(station)

    mark = csms201.log.mark()
    assert customer_information(csms201, 11, report=True, idToken=TOKEN) == "Accepted"
    [note] = notes_of(csms201, 11)
    assert (note["seqNo"], note["tbc"]) == (0, False)
    assert note["generatedAt"]
    lines = note["data"].splitlines()
    assert "idToken TAG-1: authorization cache: Accepted" in lines
    assert "idToken TAG-1: local list: Accepted" in lines
    assert any(f"transaction {tx_id} on EVSE 1" in line for line in lines)
    # The pages are what the answer promised: on the wire after it.
    [answered] = [
        e
        for e in csms201.log.entries(mark)
        if e.direction == "in" and e.kind == "result" and e.action == "CustomerInformation"
    ]
    [sent] = [e for e in csms201.log.entries(mark) if e.action == "NotifyCustomerInformation"][:1]
    assert answered.seq < sent.seq

    # Nothing held of a certificate or a vendor identifier: one empty page.
    assert customer_information(csms201, 12, report=True, customerCertificate=CERTIFICATE) == (
        "Accepted"
    )
    assert [n["data"] for n in notes_of(csms201, 12)] == [""]


def test_n10_clear_deletes_the_cache_entry_and_leaves_the_csms_list(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    listed = {"idToken": TOKEN, "idTokenInfo": {"status": "Accepted"}}
    csms201.call(
        CP,
        "SendLocalList",
        {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [listed]},
    )
    charging(station, csms201)
    station.unplug(1)
    wait_event(csms201, "Ended")
    quiet(station)

    # Report and clear at once: the report is of what was held before.
    assert customer_information(csms201, 21, report=True, clear=True, idToken=TOKEN) == ("Accepted")
    before = "\n".join(n["data"] for n in notes_of(csms201, 21))
    assert "authorization cache" in before
    assert customer_information(csms201, 22, report=True, idToken=TOKEN) == "Accepted"
    after = "\n".join(n["data"] for n in notes_of(csms201, 22)).splitlines()
    assert not any("authorization cache" in line for line in after)
    assert "idToken TAG-1: local list: Accepted" in after
    # A clear alone still sends its (empty) notification: the request is answered whole.
    assert customer_information(csms201, 23, clear=True, idToken=TOKEN) == "Accepted"
    assert [n["data"] for n in notes_of(csms201, 23)] == [""]


def test_n09_rejected_without_report_or_clear_invalid_without_a_customer(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    assert customer_information(csms201, 31, idToken=TOKEN) == "Rejected"
    assert customer_information(csms201, 32, report=True) == "Invalid"
    assert customer_information(csms201, 33, clear=True) == "Invalid"
    assert customer_information(csms201, 34, report=True, customerIdentifier="c-1") == "Accepted"
    notes_of(csms201, 34)
    assert {c.payload["requestId"] for c in csms201.calls("NotifyCustomerInformation")} == {34}


def test_a_long_report_is_paged() -> None:
    text = "x" * (ci.DATA_PAGE * 2 + 5)
    notes = [dump(n) for n in ci.pages(text, 5, "2026-01-01T00:00:00Z")]
    assert [(n["seqNo"], n["tbc"], len(n["data"])) for n in notes] == [
        (0, True, 512),
        (1, True, 512),
        (2, False, 5),
    ]


def test_n09_a_report_over_one_page_goes_in_pages_that_join_up(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    sessions = 6  # about 110 characters a transaction: more than one 512-character page
    for n in range(sessions):
        evse = 1 + n % 2
        # Counted on the wire: a status wait would find the last session's.
        station.plug(evse)
        station.tag(evse, "TAG-1")
        wait_event(csms201, "Started", n + 1)
        quiet(station)
        station.unplug(evse)
        wait_event(csms201, "Ended", n + 1)
    quiet(station)
    assert customer_information(csms201, 41, report=True, idToken=TOKEN) == "Accepted"
    notes = notes_of(csms201, 41)
    assert len(notes) >= 2
    assert [n["seqNo"] for n in notes] == list(range(len(notes)))
    assert [n["tbc"] for n in notes] == [True] * (len(notes) - 1) + [False]
    assert all(len(n["data"]) <= ci.DATA_PAGE for n in notes)
    lines = "".join(n["data"] for n in notes).splitlines()
    assert sum(1 for line in lines if " transaction " in line) == sessions


def test_n09_against_both_peers_the_pages_pass_the_strict_schema(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    charging(station, any_csms201)
    quiet(station)
    payload = {"requestId": 51, "report": True, "clear": True, "idToken": TOKEN}
    assert any_csms201.call(CP, "CustomerInformation", payload) == {"status": "Accepted"}
    any_csms201.wait_for(
        lambda _: any(
            c.payload["requestId"] == 51 for c in any_csms201.calls("NotifyCustomerInformation")
        ),
        timeout=5,
    )
    [note] = [
        c.payload
        for c in any_csms201.calls("NotifyCustomerInformation")
        if c.payload["requestId"] == 51
    ]
    assert "authorization cache" in note["data"] and note["tbc"] is False
