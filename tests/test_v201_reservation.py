"""OCPP 2.0.1 H Reservation: end to end against 2.0.1 CSMS peers, and the
pure mapping onto 1.6's rules (protocol/v201/reservation.py) with hypothesis.

Named after the Part 2 use cases they follow (H01 reserve, H02 cancel,
H03 use, H04 expire).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import Online, TokenJudged
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.reservation import (
    ACCEPTED,
    REJECTED,
    Reservation,
    reserve_status,
)
from ocppstation.protocol.v201.reservation import (
    ANY_TYPE,
    EXPIRED,
    REMOVED,
    Request,
    as_v16,
    request,
    serves,
    target,
    update_status,
)
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of, quiet, wait_status
from tests.test_v201_e2e import CP, any_csms201, csms201, events, station201, wait_event

__all__ = ["any_csms201", "csms201"]  # the 2.0.1 peers, as fixtures here

NON_EVSE_SPECIFIC = {"Reservation": {"ReserveConnectorZeroSupported": True}}


def reserve(
    peer: Any,
    clock: FakeClock,
    token: str,
    reservation_id: int = 1,
    *,
    evse: int | None = None,
    seconds: float = 600,
    group: str | None = None,
    connector_type: str | None = None,
) -> str:
    payload: dict[str, Any] = {
        "id": reservation_id,
        "expiryDateTime": ocpp_timestamp(clock.wall() + timedelta(seconds=seconds)),
        "idToken": {"idToken": token, "type": "ISO14443"},
    }
    if evse is not None:
        payload["evseId"] = evse
    if group is not None:
        payload["groupIdToken"] = {"idToken": group, "type": "Central"}
    if connector_type is not None:
        payload["connectorType"] = connector_type
    return str(peer.call(CP, "ReserveNow", payload)["status"])


def cancel(peer: Any, reservation_id: int) -> str:
    return str(peer.call(CP, "CancelReservation", {"reservationId": reservation_id})["status"])


def status_sent(peer: Any, evse: int, status: str, since: int = 0) -> Any:
    return peer.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.direction == "in"
            and e.action == "StatusNotification"
            and e.payload["evseId"] == evse
            and e.payload["connectorStatus"] == status
        ),
        timeout=5,
        since=since,
    )


def updates(peer: Any) -> list[tuple[int, str]]:
    return [
        (e.payload["reservationId"], e.payload["reservationUpdateStatus"])
        for e in peer.calls("ReservationStatusUpdate")
    ]


def refused(station: Any, token: str) -> TokenJudged:
    """Wait for the station to turn `token` away for another's reservation."""
    judged: TokenJudged = log_of(station).wait_for(
        lambda e: isinstance(e, TokenJudged) and e.id_tag == token, timeout=5
    )
    assert (judged.accepted, judged.source) == (False, "reservation")
    return judged


def started_on(peer: Any, evse: int, since: int = 0) -> dict[str, Any]:
    def mine() -> list[dict[str, Any]]:
        return [
            e
            for e in events(peer, since)
            if e["eventType"] == "Started" and e["evse"]["id"] == evse
        ]

    peer.wait_for(lambda _: bool(mine()), timeout=5)
    return mine()[-1]


# -- H01 ReserveNow, H03 use the reserved EVSE --------------------------------------


def test_h01_h03_a_reserved_evse_is_reserved_and_only_its_token_starts_there(
    any_csms201: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(any_csms201, make_station)
    mark = any_csms201.log.mark()
    assert reserve(any_csms201, clock, "OWNER", 11, evse=1) == "Accepted"
    status_sent(any_csms201, 1, "Reserved", since=mark)
    wait_status(station, 1, "Reserved")
    # A stranger's card is refused at once: no group could let it in.
    station.tag(1, "STRANGER")
    refused(station, "STRANGER")
    assert not any_csms201.calls("Authorize")
    station.plug(1)
    wait_status(station, 1, "Preparing")
    left = log_of(station).mark()
    station.unplug(1)
    wait_status(station, 1, "Reserved", since=left)
    assert not [e for e in events(any_csms201) if e["eventType"] == "Started"]
    station.tag(1, "OWNER")
    station.plug(1)
    started = started_on(any_csms201, 1)
    assert started["reservationId"] == 11
    assert started["idToken"]["idToken"] == "OWNER"
    status_sent(any_csms201, 1, "Occupied", since=mark)
    # Used up: nothing left to cancel, and nothing to report.
    assert cancel(any_csms201, 11) == "Rejected"
    assert updates(any_csms201) == []


def test_h03_a_remote_start_for_the_reserved_token_uses_the_reservation(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    assert reserve(csms201, clock, "OWNER", 12, evse=2) == "Accepted"
    wait_status(station, 2, "Reserved")
    answer = csms201.call(
        CP,
        "RequestStartTransaction",
        {"idToken": {"idToken": "OWNER", "type": "Central"}, "remoteStartId": 5, "evseId": 2},
    )
    assert answer["status"] == "Accepted"
    station.plug(2)
    started = started_on(csms201, 2)
    assert (started["reservationId"], started["transactionInfo"]["remoteStartId"]) == (12, 5)
    assert cancel(csms201, 12) == "Rejected"


def test_h01_the_answer_says_why_an_evse_cannot_be_reserved(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    assert reserve(csms201, clock, "TAG", 1, evse=9) == "Rejected"  # no such EVSE
    assert reserve(csms201, clock, "TAG", 1, evse=1, seconds=-1) == "Rejected"  # expired
    # Without evseId while NonEvseSpecific is false (H01.FR.19).
    assert reserve(csms201, clock, "TAG", 1) == "Rejected"
    station.plug(1)
    wait_status(station, 1, "Preparing")
    assert reserve(csms201, clock, "TAG", 1, evse=1) == "Occupied"
    station.fault(2, "GroundFailure")
    wait_status(station, 2, "Faulted")
    assert reserve(csms201, clock, "TAG", 2, evse=2) == "Faulted"
    station.clear(2)
    wait_status(station, 2, "Available")
    answer = csms201.call(
        CP, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}}
    )
    assert answer == {"status": "Accepted"}
    wait_status(station, 2, "Unavailable")
    assert reserve(csms201, clock, "TAG", 3, evse=2) == "Unavailable"
    station.unplug(1)
    wait_status(station, 1, "Available")
    assert reserve(csms201, clock, "TAG", 4, evse=1) == "Accepted"
    # Reserved already, by another reservation.
    assert reserve(csms201, clock, "OTHER", 5, evse=1) == "Occupied"


def test_h01_a_reservation_of_the_same_id_replaces_the_first(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    assert reserve(csms201, clock, "TAG", 7, evse=1) == "Accepted"
    wait_status(station, 1, "Reserved")
    mark = log_of(station).mark()
    assert reserve(csms201, clock, "TAG", 7, evse=2) == "Accepted"
    wait_status(station, 2, "Reserved", since=mark)
    wait_status(station, 1, "Available", since=mark)
    assert cancel(csms201, 7) == "Accepted"
    wait_status(station, 2, "Available", since=mark)
    assert cancel(csms201, 7) == "Rejected"


def test_h01_connector_type_unknown_serves_any_type(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    # The station's connectors are of type Unknown: any requested type fits them.
    station = station201(csms201, make_station)
    assert reserve(csms201, clock, "TAG", 3, evse=2, connector_type="cType2") == "Accepted"
    wait_status(station, 2, "Reserved")


def test_h01_the_station_keeps_an_evse_free_for_a_reservation_without_evse(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station, **NON_EVSE_SPECIFIC)
    assert reserve(csms201, clock, "ANYWHERE", 20, connector_type="cType2") == "Accepted"
    # Two free EVSEs for one reservation: neither is held yet.
    assert [e["status"] for e in station.status()["evses"]] == ["Available", "Available"]
    station.tag(1, "STRANGER")
    station.plug(1)
    wait_status(station, 1, "Charging")
    # As many free EVSEs as unassigned reservations: all of them Reserved.
    wait_status(station, 2, "Reserved")
    status_sent(csms201, 2, "Reserved")
    assert reserve(csms201, clock, "ANOTHER", 21) == "Occupied"
    station.tag(2, "ANYWHERE")
    station.plug(2)
    assert started_on(csms201, 2)["reservationId"] == 20
    assert cancel(csms201, 20) == "Rejected"


def test_h01_a_group_token_may_use_the_reservation(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    def authorize(cp_id: str, payload: Any) -> dict[str, Any]:
        token = payload["idToken"]["idToken"]
        info: dict[str, Any] = {"status": "Accepted"}
        if token == "MEMBER":
            info["groupIdToken"] = {"idToken": "FLEET", "type": "Central"}
        return {"idTokenInfo": info}

    csms201.set_reply("Authorize", authorize)
    station = station201(csms201, make_station)
    assert reserve(csms201, clock, "OWNER", 30, evse=1, group="FLEET") == "Accepted"
    wait_status(station, 1, "Reserved")
    # Not of the group: the CSMS is asked, and its answer keeps it out.
    station.tag(1, "OUTSIDER")
    refused(station, "OUTSIDER")
    assert [c.payload["idToken"]["idToken"] for c in csms201.calls("Authorize")] == ["OUTSIDER"]
    station.tag(1, "MEMBER")
    station.plug(1)
    started = started_on(csms201, 1)
    assert started["idToken"]["idToken"] == "MEMBER"
    assert started["reservationId"] == 30


def test_h01_reservations_disabled_are_rejected(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station201(csms201, make_station)
    assert reserve(csms201, clock, "TAG", 40, evse=1) == "Accepted"
    answer = csms201.call(
        CP,
        "SetVariables",
        {
            "setVariableData": [
                {
                    "component": {"name": "ReservationCtrlr"},
                    "variable": {"name": "Enabled"},
                    "attributeValue": "false",
                }
            ]
        },
    )
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert reserve(csms201, clock, "TAG", 41, evse=2) == "Rejected"
    assert cancel(csms201, 40) == "Rejected"


# -- H02 CancelReservation, H04 expiry, Removed ----------------------------------------


def test_h02_cancel_frees_the_evse_without_an_update(
    any_csms201: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(any_csms201, make_station)
    assert cancel(any_csms201, 99) == "Rejected"
    assert reserve(any_csms201, clock, "TAG", 50, evse=2) == "Accepted"
    wait_status(station, 2, "Reserved")
    mark = any_csms201.log.mark()
    assert cancel(any_csms201, 50) == "Accepted"
    status_sent(any_csms201, 2, "Available", since=mark)
    assert updates(any_csms201) == []


def test_h04_an_expired_reservation_is_reported_expired(
    any_csms201: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(any_csms201, make_station)
    assert reserve(any_csms201, clock, "LATE", 60, evse=1, seconds=120) == "Accepted"
    status_sent(any_csms201, 1, "Reserved")
    answered(station, "StatusNotification", 3)
    mark = log_of(station).mark()
    clock.advance(119)
    assert updates(any_csms201) == []
    clock.advance(1)
    wait_status(station, 1, "Available", since=mark)
    any_csms201.wait_for(lambda _: bool(updates(any_csms201)), timeout=5)
    assert updates(any_csms201) == [(60, EXPIRED)]
    assert cancel(any_csms201, 60) == "Rejected"


def test_h04_an_expiry_while_offline_is_reported_once_the_csms_hears_again(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    assert reserve(csms201, clock, "LATE", 61, evse=2, seconds=60) == "Accepted"
    wait_status(station, 2, "Reserved")
    quiet(station)
    mark = log_of(station).mark()
    csms201.drop(CP)
    log_of(station).wait_for(lambda e: isinstance(e, Online) and not e.online, timeout=5)
    clock.advance(60)
    wait_status(station, 2, "Available", since=mark)
    assert updates(csms201) == []
    clock.advance(5)  # the reconnect backoff
    csms201.wait_for(lambda _: bool(updates(csms201)), timeout=5)
    assert updates(csms201) == [(61, EXPIRED)]


def test_h01_a_reservation_whose_evse_goes_inoperative_or_faulted_is_reported_removed(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    assert reserve(csms201, clock, "TAG", 70, evse=2) == "Accepted"
    wait_status(station, 2, "Reserved")
    answer = csms201.call(
        CP, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}}
    )
    assert answer == {"status": "Accepted"}
    wait_status(station, 2, "Unavailable")
    csms201.wait_for(lambda _: bool(updates(csms201)), timeout=5)
    assert updates(csms201) == [(70, REMOVED)]
    assert reserve(csms201, clock, "TAG", 71, evse=1) == "Accepted"
    wait_status(station, 1, "Reserved")
    station.fault(1, "GroundFailure")
    wait_status(station, 1, "Faulted")
    csms201.wait_for(lambda _: len(updates(csms201)) >= 2, timeout=5)
    assert updates(csms201) == [(70, REMOVED), (71, REMOVED)]
    assert cancel(csms201, 71) == "Rejected"


# -- persisted ---------------------------------------------------------------------------


def test_reservations_survive_a_restart(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path)}
    first = station201(csms201, make_station, Internal=data)
    assert reserve(csms201, clock, "KEPT", 81, evse=1) == "Accepted"
    assert reserve(csms201, clock, "SHORT", 82, evse=2, seconds=60) == "Accepted"
    wait_status(first, 1, "Reserved")
    wait_status(first, 2, "Reserved")
    first.stop()
    clock.advance(120)  # the short one runs out while the station is off
    mark = csms201.log.mark()
    second = station201(csms201, make_station, Internal=data)
    status_sent(csms201, 1, "Reserved", since=mark)
    status_sent(csms201, 2, "Available", since=mark)
    # Reported once the CSMS accepted the boot.
    csms201.wait_for(lambda _: bool(updates(csms201)), timeout=5)
    assert updates(csms201) == [(82, EXPIRED)]
    second.tag(1, "KEPT")
    second.plug(1)
    started = started_on(csms201, 1, since=mark)
    assert started["reservationId"] == 81
    wait_event(csms201, "Started")
    assert cancel(csms201, 81) == "Rejected"


# -- the pure mapping ------------------------------------------------------------------

TYPES = st.sampled_from([ANY_TYPE, "cType2", "cCCS2", "sType2"])
STATUSES = st.sampled_from(["Available", "Preparing", "Charging", "Faulted", "Unavailable"])
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def stations(draw: st.DrawFn) -> tuple[dict[int, str], dict[int, str]]:
    count = draw(st.integers(1, 4))
    types = {evse: draw(TYPES) for evse in range(1, count + 1)}
    statuses = {evse: draw(STATUSES) for evse in types}
    return types, statuses


@st.composite
def requests(draw: st.DrawFn) -> Request:
    return Request(
        id=draw(st.integers(1, 5)),
        expiry=NOW + timedelta(minutes=draw(st.integers(1, 60))),
        id_token=draw(st.sampled_from(["A", "B"])),
        group=draw(st.none() | st.just("G")),
        evse=draw(st.none() | st.integers(-1, 5)),
        connector_type=draw(st.none() | TYPES),
    )


@given(stations(), requests(), st.booleans())
def test_target_names_an_evse_of_the_type_or_the_station_or_refuses(
    station: tuple[dict[int, str], dict[int, str]], req: Request, non_evse_specific: bool
) -> None:
    types, statuses = station
    got = target(req, types, statuses, (), non_evse_specific=non_evse_specific)
    fitting = {e for e, kind in types.items() if serves(req.connector_type, kind)}
    if req.evse is not None:
        assert got == (req.evse if req.evse in fitting else REJECTED)
    elif not non_evse_specific or not fitting:
        assert got == REJECTED
    elif fitting == set(types):
        assert got == 0  # every EVSE would do: the station's reservation, 1.6's connector 0
    elif isinstance(got, int):
        assert got in fitting
        assert reserve_status(got, statuses, (), zero_supported=True) == ACCEPTED
        # The first that could take it.
        assert all(
            reserve_status(e, statuses, (), zero_supported=True) != ACCEPTED
            for e in fitting
            if e < got
        )
    else:
        assert got != ACCEPTED
        assert all(
            reserve_status(e, statuses, (), zero_supported=True) != ACCEPTED for e in fitting
        )


@given(stations(), requests())
def test_a_typed_reservation_never_lands_where_its_own_replacement_would_stand_in_the_way(
    station: tuple[dict[int, str], dict[int, str]], req: Request
) -> None:
    # The reservation it replaces does not count against it (H01.FR.02).
    types, statuses = station
    itself = [Reservation(req.id, e, "X", None, req.expiry) for e in list(types)[:1]]
    alone = target(req, types, statuses, (), non_evse_specific=True)
    again = target(req, types, statuses, itself, non_evse_specific=True)
    assert alone == again


@given(TYPES, TYPES)
def test_unknown_serves_any_type_and_otherwise_only_its_own(a: str, b: str) -> None:
    assert serves(a, b) == serves(b, a)
    assert serves(a, b) == (ANY_TYPE in (a, b) or a == b)
    assert serves(None, a)


@given(requests(), st.integers(0, 5))
def test_a_request_reads_and_maps_onto_1_6(req: Request, connector: int) -> None:
    payload: dict[str, Any] = {
        "id": req.id,
        "expiryDateTime": ocpp_timestamp(req.expiry),
        "idToken": {"idToken": req.id_token, "type": "ISO14443"},
    }
    if req.group is not None:
        payload["groupIdToken"] = {"idToken": req.group, "type": "Central"}
    if req.evse is not None:
        payload["evseId"] = req.evse
    if req.connector_type is not None:
        payload["connectorType"] = req.connector_type
    assert request(payload) == req
    mapped = as_v16(req, connector)
    assert (mapped.id, mapped.connector, mapped.id_tag, mapped.parent_id_tag, mapped.expiry) == (
        req.id,
        connector,
        req.id_token,
        req.group,
        req.expiry,
    )


def test_only_expiry_and_removal_are_reported() -> None:
    from ocppstation.actors.v16.reservation import Ending

    assert {e: update_status(e) for e in Ending} == {
        Ending.CANCELLED: None,
        Ending.USED: None,
        Ending.EXPIRED: EXPIRED,
        Ending.REMOVED: REMOVED,
    }
