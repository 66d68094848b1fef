"""Reservations end to end, named after the OCTT 1.6 cases they follow where known.

Over real websockets against the dev CSMS (and the ocpp-rpc strict peer where
the test takes `any_csms`), in virtual time: expiry included.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import ConnectorChanged
from ocppstation.actors.runtime.supervisor import ChildRestarted
from ocppstation.actors.station import Station
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of, wait_status

CP = "cp-test"


# -- end to end ------------------------------------------------------------------------------


def booted(peer: Any, make_station: StationFactory, **sections: Any) -> Station:
    start = peer.log.mark()
    station = make_station(peer, **sections)
    answered(station, "StatusNotification", 3)
    # The peer's log may trail what the station saw answered (ocpp-rpc reports
    # from another process): a test's mark must come after the boot announce.
    peer.log.wait_for(
        lambda e: (
            e.kind == "call" and e.action == "StatusNotification" and e.payload["connectorId"] == 2
        ),
        since=start,
    )
    return station


def expiry(clock: FakeClock, seconds: float) -> str:
    return ocpp_timestamp(clock.wall() + timedelta(seconds=seconds))


def reserve(
    peer: Any,
    clock: FakeClock,
    connector: int,
    id_tag: str,
    reservation_id: int = 1,
    *,
    seconds: float = 600,
    parent: str | None = None,
) -> str:
    payload: dict[str, Any] = {
        "connectorId": connector,
        "expiryDate": expiry(clock, seconds),
        "idTag": id_tag,
        "reservationId": reservation_id,
    }
    if parent is not None:
        payload["parentIdTag"] = parent
    return str(peer.call(CP, "ReserveNow", payload)["status"])


def status_sent(peer: Any, connector: int, status: str, since: int = 0) -> Any:
    return peer.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "StatusNotification"
            and e.payload["connectorId"] == connector
            and e.payload["status"] == status
        ),
        since=since,
    )


def make_unavailable(peer: Any, connector: int) -> None:
    answer = peer.call(CP, "ChangeAvailability", {"connectorId": connector, "type": "Inoperative"})
    assert answer == {"status": "Accepted"}


def test_tc_046_1_reservation_of_a_connector_local_start(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station)
    make_unavailable(any_csms, 2)  # OCTT: all unused connectors unavailable
    mark = any_csms.log.mark()
    assert reserve(any_csms, clock, 1, "RESERVED", 31) == "Accepted"
    conf = any_csms.log.wait_for(lambda e: e.kind == "result" and e.direction == "in", since=mark)
    assert status_sent(any_csms, 1, "Reserved", since=mark).seq > conf.seq
    station.tag(1, "STRANGER")  # refused at once: no Authorize for it
    station.tag(1, "RESERVED")
    asked = any_csms.log.wait_call("Authorize", CP, since=mark)
    assert asked.payload["idTag"] == "RESERVED"
    status_sent(any_csms, 1, "Preparing", since=mark)
    station.plug(1)
    start = any_csms.log.wait_call("StartTransaction", CP, since=mark)
    assert (start.payload["idTag"], start.payload["reservationId"]) == ("RESERVED", 31)
    status_sent(any_csms, 1, "Charging", since=mark)
    assert [c.payload["idTag"] for c in any_csms.log.calls("Authorize", since=mark)] == ["RESERVED"]


def test_tc_046_2_reservation_of_a_connector_remote_start(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station)
    assert reserve(any_csms, clock, 1, "RESERVED", 32) == "Accepted"
    wait_status(station, 1, "Reserved")
    # Someone else may not have it started remotely either.
    other = {"idTag": "OTHER", "connectorId": 1}
    assert any_csms.call(CP, "RemoteStartTransaction", other) == {"status": "Rejected"}
    mine = {"idTag": "RESERVED", "connectorId": 1}
    assert any_csms.call(CP, "RemoteStartTransaction", mine) == {"status": "Accepted"}
    station.plug(1)
    start = any_csms.log.wait_call("StartTransaction", CP)
    assert (start.payload["idTag"], start.payload["reservationId"]) == ("RESERVED", 32)
    wait_status(station, 1, "Charging")


def test_tc_047_reservation_of_a_connector_expires(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station)
    mark = any_csms.log.mark()
    assert reserve(any_csms, clock, 1, "LATE", 47, seconds=120) == "Accepted"
    status_sent(any_csms, 1, "Reserved", since=mark)
    clock.advance(119)
    station.tag(1, "SOMEONE")  # still reserved: refused
    clock.advance(1)
    status_sent(any_csms, 1, "Available", since=mark)
    station.tag(1, "SOMEONE")
    station.plug(1)
    start = any_csms.log.wait_call("StartTransaction", CP, since=mark)
    assert start.payload["idTag"] == "SOMEONE"
    assert "reservationId" not in start.payload
    assert len(any_csms.log.calls("Authorize", since=mark)) == 1  # not while reserved
    assert any_csms.call(CP, "CancelReservation", {"reservationId": 47}) == {"status": "Rejected"}


def test_tc_048_1_reservation_of_a_faulted_connector(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    station.fault(1, "GroundFailure")
    wait_status(station, 1, "Faulted")
    assert reserve(csms, clock, 1, "TAG") == "Faulted"


def test_tc_048_2_reservation_of_an_occupied_connector(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    assert reserve(any_csms, clock, 1, "TAG") == "Occupied"
    station.tag(2, "DRIVER")
    station.plug(2)
    wait_status(station, 2, "Charging")
    assert reserve(any_csms, clock, 2, "TAG") == "Occupied"


def test_tc_048_3_reservation_of_an_unavailable_connector(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station)
    make_unavailable(any_csms, 1)
    wait_status(station, 1, "Unavailable")
    assert reserve(any_csms, clock, 1, "TAG") == "Unavailable"


def test_a_connector_reserved_for_another_reservation_is_occupied(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    booted(csms, make_station)
    assert reserve(csms, clock, 1, "FIRST", 1) == "Accepted"
    assert reserve(csms, clock, 1, "SECOND", 2) == "Occupied"
    assert reserve(csms, clock, 1, "FIRST", 3) == "Occupied"  # same idTag, other reservation


@pytest.mark.parametrize("connector", [0, 3])
def test_tc_048_4_reservation_rejected_connector_0_unsupported_or_unknown(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, connector: int
) -> None:
    booted(csms, make_station)
    assert reserve(csms, clock, connector, "TAG") == "Rejected"


def test_a_station_without_the_reservation_profile_rejects_reservations(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    booted(csms, make_station, Core={"SupportedFeatureProfiles": "Core,RemoteTrigger"})
    assert reserve(csms, clock, 1, "TAG") == "Rejected"


def test_a_reservation_that_expired_already_is_rejected(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    booted(csms, make_station)
    assert reserve(csms, clock, 1, "TAG", seconds=-1) == "Rejected"


def test_tc_049_reservation_of_the_charge_point(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station, Reservation={"ReserveConnectorZeroSupported": True})
    make_unavailable(any_csms, 2)
    wait_status(station, 2, "Unavailable")
    mark = any_csms.log.mark()
    assert reserve(any_csms, clock, 0, "ANYWHERE", 49) == "Accepted"
    status_sent(any_csms, 1, "Reserved", since=mark)  # the one connector left is held
    station.tag(1, "STRANGER")
    station.tag(1, "ANYWHERE")
    station.plug(1)
    start = any_csms.log.wait_call("StartTransaction", CP, since=mark)
    assert (start.payload["idTag"], start.payload["reservationId"]) == ("ANYWHERE", 49)
    assert [c.payload["idTag"] for c in any_csms.log.calls("Authorize", since=mark)] == ["ANYWHERE"]


def test_a_station_wide_reservation_keeps_one_connector_for_its_driver(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station, Reservation={"ReserveConnectorZeroSupported": True})
    assert reserve(csms, clock, 0, "ANYWHERE", 50) == "Accepted"
    # Two free connectors for one reservation: neither is held yet.
    assert [e["status"] for e in station.status()["evses"]] == ["Available", "Available"]
    station.tag(1, "STRANGER")
    station.plug(1)
    wait_status(station, 1, "Charging")
    wait_status(station, 2, "Reserved")  # the last free one is kept for the reservation
    assert reserve(csms, clock, 0, "ANOTHER", 51) == "Occupied"
    station.tag(2, "ANYWHERE")
    station.plug(2)
    mine = csms.log.wait_for(
        lambda e: (
            e.kind == "call" and e.action == "StartTransaction" and e.payload["idTag"] == "ANYWHERE"
        )
    )
    assert mine.payload["reservationId"] == 50
    strangers = csms.log.calls("StartTransaction")[0]
    assert strangers.payload["idTag"] == "STRANGER" and "reservationId" not in strangers.payload


def test_tc_050_3_reservation_of_an_unavailable_charge_point(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station, Reservation={"ReserveConnectorZeroSupported": True})
    make_unavailable(csms, 0)
    wait_status(station, 1, "Unavailable")
    wait_status(station, 2, "Unavailable")
    assert reserve(csms, clock, 0, "TAG") == "Unavailable"


def test_tc_051_cancel_reservation(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station)
    mark = any_csms.log.mark()
    assert reserve(any_csms, clock, 1, "TAG", 51) == "Accepted"
    status_sent(any_csms, 1, "Reserved", since=mark)
    answer = any_csms.call(CP, "CancelReservation", {"reservationId": 51})
    assert answer == {"status": "Accepted"}
    status_sent(any_csms, 1, "Available", since=mark)
    wait_status(station, 1, "Available", since=1)


def test_tc_052_cancel_reservation_rejected(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station)
    assert reserve(any_csms, clock, 1, "TAG", 52) == "Accepted"
    wait_status(station, 1, "Reserved")
    answer = any_csms.call(CP, "CancelReservation", {"reservationId": 520})
    assert answer == {"status": "Rejected"}
    assert station.status()["evses"][0]["status"] == "Reserved"


def test_tc_053_use_a_reserved_connector_with_the_parent_id_tag(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    def authorize(cp_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        parent = {"COLLEAGUE": "FLEET", "OUTSIDER": "OTHERS"}.get(payload["idTag"])
        info: dict[str, Any] = {"status": "Accepted"}
        if parent:
            info["parentIdTag"] = parent
        return {"idTagInfo": info}

    csms.set_reply("Authorize", authorize)
    station = booted(csms, make_station)
    mark = csms.log.mark()
    assert reserve(csms, clock, 1, "OWNER", 53, parent="FLEET") == "Accepted"
    status_sent(csms, 1, "Reserved", since=mark)
    station.tag(1, "OUTSIDER")  # asked, since only the CSMS knows its group: not FLEET
    station.tag(1, "COLLEAGUE")  # asked too: FLEET, so it may
    status_sent(csms, 1, "Preparing", since=mark)
    station.plug(1)
    start = csms.log.wait_call("StartTransaction", CP, since=mark)
    assert (start.payload["idTag"], start.payload["reservationId"]) == ("COLLEAGUE", 53)
    assert [c.payload["idTag"] for c in csms.log.calls("Authorize", since=mark)] == [
        "OUTSIDER",
        "COLLEAGUE",
    ]


def test_a_reservation_with_a_known_id_moves(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    assert reserve(csms, clock, 1, "TAG", 7) == "Accepted"
    wait_status(station, 1, "Reserved")
    mark = log_of(station).mark()
    assert reserve(csms, clock, 2, "TAG", 7) == "Accepted"
    wait_status(station, 2, "Reserved", since=mark)
    wait_status(station, 1, "Available", since=mark)


def test_a_faulted_connector_ends_its_reservation(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    assert reserve(csms, clock, 1, "TAG", 8) == "Accepted"
    wait_status(station, 1, "Reserved")
    station.fault(1, "GroundFailure")
    wait_status(station, 1, "Faulted")
    mark = log_of(station).mark()
    station.clear(1)
    wait_status(station, 1, "Available", since=mark)
    assert csms.call(CP, "CancelReservation", {"reservationId": 8}) == {"status": "Rejected"}


def test_a_strangers_cable_leaves_the_connector_reserved(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    assert reserve(csms, clock, 1, "OWNER", 9) == "Accepted"
    wait_status(station, 1, "Reserved")
    mark = log_of(station).mark()
    station.plug(1)
    wait_status(station, 1, "Preparing", since=mark)
    station.tag(1, "STRANGER")
    station.unplug(1)
    wait_status(station, 1, "Reserved", since=mark)
    assert not csms.log.calls("StartTransaction")


def test_reservations_survive_a_restart(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path)}
    first = booted(csms, make_station, Internal=data)
    assert reserve(csms, clock, 1, "KEPT", 61, seconds=600) == "Accepted"
    assert reserve(csms, clock, 2, "SHORT", 62, seconds=60) == "Accepted"
    wait_status(first, 2, "Reserved")
    first.stop()
    clock.advance(120)  # the short one runs out while the station is off
    mark = csms.log.mark()
    second = booted(csms, make_station, Internal=data)
    status_sent(csms, 2, "Available", since=mark)
    status_sent(csms, 1, "Reserved", since=mark)
    assert not [
        e
        for e in csms.log.calls("StatusNotification", since=mark)
        if e.payload["connectorId"] == 2 and e.payload["status"] != "Available"
    ]
    assert csms.call(CP, "CancelReservation", {"reservationId": 62}) == {"status": "Rejected"}
    second.tag(1, "KEPT")
    second.plug(1)
    start = csms.log.wait_call("StartTransaction", CP, since=mark)
    assert start.payload["reservationId"] == 61
    # Used up: a third start of the station knows nothing of it.
    assert csms.call(CP, "CancelReservation", {"reservationId": 61}) == {"status": "Rejected"}


def test_expiry_after_a_restart_still_comes_on_time(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path)}
    first = booted(csms, make_station, Internal=data)
    assert reserve(csms, clock, 1, "TAG", 71, seconds=300) == "Accepted"
    wait_status(first, 1, "Reserved")
    first.stop()
    clock.advance(100)
    second = booted(csms, make_station, Internal=data)
    wait_status(second, 1, "Reserved")
    mark = log_of(second).mark()
    clock.advance(199)
    clock.advance(1)
    log_of(second).wait_for(
        lambda e: isinstance(e, ConnectorChanged) and (e.evse, e.status) == (1, "Available"),
        5,
        since=mark,
    )


def test_an_expiry_date_in_lower_case_is_understood(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    payload = {
        "connectorId": 1,
        "expiryDate": expiry(clock, 60).replace("T", "t").replace("Z", "z"),
        "idTag": "TAG",
        "reservationId": 5,
    }
    assert csms.call(CP, "ReserveNow", payload) == {"status": "Accepted"}
    wait_status(station, 1, "Reserved")
    mark = log_of(station).mark()
    clock.advance(60)
    wait_status(station, 1, "Available", since=mark)


def test_a_restarted_connector_is_reserved_again(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    assert reserve(csms, clock, 1, "OWNER", 12) == "Accepted"
    wait_status(station, 1, "Reserved")
    mark = log_of(station).mark()
    station.crash("evses/1/connector")
    wait_status(station, 1, "Reserved", since=mark)
    station.tag(1, "OWNER")
    station.plug(1)
    start = csms.log.wait_call("StartTransaction", CP)
    assert start.payload["reservationId"] == 12


def test_a_crash_of_the_reservations_actor_loses_no_reservation(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    station.tag(2, "DRIVER")
    station.plug(2)
    wait_status(station, 2, "Charging")
    assert reserve(csms, clock, 1, "OWNER", 13) == "Accepted"
    wait_status(station, 1, "Reserved")
    connectors = [station.registry.require(f"evses/{n}/connector") for n in (1, 2)]
    mark = log_of(station).mark()
    station.crash("reservations")
    log_of(station).wait_for(
        lambda e: isinstance(e, ChildRestarted) and e.path == "reservations", 5, mark
    )
    # After the EVSEs in the tree: they go on untouched, the transaction too.
    assert [station.registry.require(f"evses/{n}/connector") for n in (1, 2)] == connectors
    assert [e["status"] for e in station.status()["evses"]] == ["Reserved", "Charging"]
    # The new actor knows the reservation from storage.
    assert csms.call(CP, "CancelReservation", {"reservationId": 13}) == {"status": "Accepted"}
    wait_status(station, 1, "Available", since=mark)
