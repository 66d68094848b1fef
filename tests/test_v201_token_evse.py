"""OCPP 2.0.1 idTokenInfo.evseId: a token the CSMS accepts for some EVSEs
only does not start on another (libocpp: Invalid there), whether the answer
is an Authorize's or a TransactionEvent's; end to end against the dev CSMS."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.events import TokenJudged, TransactionStopped
from ocppstation.protocol.v201.authorization import allowed_at, at_evse
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, log_of, wait_status
from tests.test_v201_e2e import CP, csms201, events, station201, wait_event

__all__ = ["csms201"]


@given(
    st.sampled_from(["Accepted", "Blocked", "Invalid"]),
    st.lists(st.integers(min_value=1, max_value=4), max_size=3),
    st.integers(min_value=1, max_value=4),
)
def test_a_token_is_invalid_only_where_its_evse_list_leaves_the_evse_out(
    status: str, evses: list[int], evse: int
) -> None:
    info: dict[str, Any] = {"status": status}
    if evses:
        info["evseId"] = evses
    here = at_evse(info, evse)
    if status == "Accepted" and evses and evse not in evses:
        assert here["status"] == "Invalid"
    else:
        assert here["status"] == status
    assert here.get("evseId") == info.get("evseId")  # what the CSMS said is kept
    assert allowed_at(info, None)  # asked for no EVSE: nothing to leave out


def only_evse_2(_cp: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"idTokenInfo": {"status": "Accepted", "evseId": [2]}}


def test_c01_an_authorize_for_another_evse_does_not_start_here(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    csms201.set_reply("Authorize", only_evse_2)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    station.tag(1, "TAG-1")
    judged = log_of(station).wait_for(
        lambda e: isinstance(e, TokenJudged) and e.evse == 1, timeout=5
    )
    assert isinstance(judged, TokenJudged)
    assert (judged.accepted, judged.status) == (False, "Invalid")
    assert not events(csms201)
    # The cache kept the CSMS's evseId: on EVSE 2 the same token starts, from
    # the cache or another Authorize alike.
    station.plug(2)
    wait_status(station, 2, "Preparing")
    station.tag(2, "TAG-1")
    wait_status(station, 2, "Charging")
    [started] = wait_event(csms201, "Started")
    assert started["evse"]["id"] == 2


def test_e_a_transaction_event_answer_for_another_evse_ends_the_transaction(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)

    def reply(_cp: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        if payload.get("eventType") == "Started":
            return only_evse_2(_cp, payload)
        return None

    csms201.set_reply("TransactionEvent", reply)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    answer = csms201.call(
        CP,
        "RequestStartTransaction",
        {"idToken": {"idToken": "REMOTE", "type": "Central"}, "remoteStartId": 5, "evseId": 1},
    )
    assert answer["status"] == "Accepted"
    stopped = log_of(station).wait_for(
        lambda e: isinstance(e, TransactionStopped) and e.evse == 1, timeout=5
    )
    assert isinstance(stopped, TransactionStopped)
    assert stopped.reason == "DeAuthorized"  # StopTxOnInvalidId
    ended = wait_event(csms201, "Ended")[-1]
    assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
