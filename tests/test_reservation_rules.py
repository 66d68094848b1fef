"""Reservations: the pure decisions of protocol.v16.reservation, and their storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.registry import Registry
from ocppstation.actors.storage.db import Storage
from ocppstation.actors.storage.reservations import StoredReservation
from ocppstation.protocol.v16.reservation import (
    ACCEPTED,
    FAULTED,
    OCCUPIED,
    REJECTED,
    UNAVAILABLE,
    ConnectorReservations,
    Gate,
    Reservation,
    ended_by_status,
    gate,
    held_by_station,
    plan,
    reserve_status,
    usable,
)

SOON = datetime(2030, 1, 1, tzinfo=UTC)
STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)


def res(rid: int, connector: int, tag: str = "A", parent: str | None = None) -> Reservation:
    return Reservation(rid, connector, tag, parent, SOON + timedelta(minutes=rid))


# -- the pure decisions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,answer",
    [
        ("Available", ACCEPTED),
        ("Reserved", OCCUPIED),  # reserved by reservation 9 below
        ("Preparing", OCCUPIED),
        ("Charging", OCCUPIED),
        ("SuspendedEV", OCCUPIED),
        ("SuspendedEVSE", OCCUPIED),
        ("Finishing", OCCUPIED),
        ("Faulted", FAULTED),
        ("Unavailable", UNAVAILABLE),
    ],
)
def test_reserve_status_of_one_connector(status: str, answer: str) -> None:
    existing = [res(9, 1)] if status == "Reserved" else []
    statuses = {1: status, 2: "Available"}
    assert reserve_status(1, statuses, existing, zero_supported=False) == answer


def test_a_reservation_with_a_known_id_replaces_it() -> None:
    statuses = {1: "Reserved", 2: "Available"}
    assert reserve_status(1, statuses, [res(9, 1)], zero_supported=False) == OCCUPIED
    assert reserve_status(1, statuses, [res(9, 1)], zero_supported=False, replacing=9) == ACCEPTED
    assert reserve_status(2, statuses, [res(9, 1)], zero_supported=False, replacing=9) == ACCEPTED


def test_connector_0_and_unknown_connectors() -> None:
    statuses = {1: "Available", 2: "Available"}
    assert reserve_status(0, statuses, [], zero_supported=False) == REJECTED
    assert reserve_status(3, statuses, [], zero_supported=True) == REJECTED
    assert reserve_status(0, statuses, [], zero_supported=True) == ACCEPTED
    # One connector each for two station-wide reservations; a third finds none.
    two = [res(1, 0), res(2, 0)]
    assert reserve_status(0, statuses, two[:1], zero_supported=True) == ACCEPTED
    assert reserve_status(0, statuses, two, zero_supported=True) == OCCUPIED
    # ...and no connector may be reserved on its own while they need both.
    assert reserve_status(1, statuses, two, zero_supported=False) == OCCUPIED
    assert reserve_status(1, statuses, two[:1], zero_supported=False) == ACCEPTED


@pytest.mark.parametrize(
    "statuses,answer",
    [
        ({1: "Unavailable", 2: "Unavailable"}, UNAVAILABLE),
        ({1: "Faulted", 2: "Unavailable"}, FAULTED),
        ({1: "Charging", 2: "Faulted"}, OCCUPIED),
        ({1: "Preparing", 2: "Finishing"}, OCCUPIED),
        ({1: "Charging", 2: "Available"}, ACCEPTED),
    ],
)
def test_reserve_status_of_the_whole_station(statuses: dict[int, str], answer: str) -> None:
    assert reserve_status(0, statuses, [], zero_supported=True) == answer


def test_plan_holds_free_connectors_only_when_a_station_wide_reservation_needs_them() -> None:
    zero = res(1, 0)
    roomy = plan({1: "Available", 2: "Available"}, [zero])
    assert roomy == {1: ConnectorReservations(open=(zero,)), 2: ConnectorReservations(open=(zero,))}
    tight = plan({1: "Charging", 2: "Available"}, [zero])
    assert tight[2] == ConnectorReservations(holds=(zero,))
    assert tight[1] == ConnectorReservations(open=(zero,))
    # A cable into the held connector keeps it held (it may be the reserved driver's).
    plugged = plan({1: "Charging", 2: "Preparing"}, [zero], held_by_station(tight))
    assert plugged[2].holds == (zero,)
    assert plan({1: "Charging", 2: "Preparing"}, [zero])[2].holds == ()


def test_a_connector_reservation_holds_its_connector_whatever_its_status() -> None:
    mine = res(4, 2, "B")
    shares = plan({1: "Available", 2: "Preparing"}, [mine])
    assert shares[2] == ConnectorReservations(holds=(mine,))
    assert shares[1] == ConnectorReservations()


def test_what_a_status_change_ends() -> None:
    one, zero = res(1, 1), res(2, 0)
    assert ended_by_status({1: "Faulted", 2: "Available"}, [one, zero]) == [one]
    assert ended_by_status({1: "Unavailable", 2: "Charging"}, [one, zero]) == [one]
    assert ended_by_status({1: "Unavailable", 2: "Faulted"}, [one, zero]) == [one, zero]
    assert ended_by_status({1: "Preparing", 2: "Charging"}, [one, zero]) == []


def test_the_gate_of_a_held_connector() -> None:
    plain, group = res(1, 1, "OWNER"), res(2, 1, "OWNER", "FLEET")
    assert gate("anyone", None, ()) is Gate.PASS
    assert gate("owner", None, (plain,)) is Gate.PASS  # IdToken is case-insensitive
    assert gate("OTHER", None, (plain,)) is Gate.REFUSE  # no group: refused without asking
    assert gate("OTHER", {"status": "Accepted", "parentIdTag": "FLEET"}, (plain,)) is Gate.REFUSE
    assert gate("OTHER", None, (group,)) is Gate.ASK
    assert gate("OTHER", {"status": "Accepted", "parentIdTag": "FLEET"}, (group,)) is Gate.PASS
    assert gate("OTHER", {"status": "Accepted", "parentIdTag": "ELSE"}, (group,)) is Gate.REFUSE
    assert gate("OTHER", {"status": "Accepted"}, (group,)) is Gate.REFUSE


def test_usable_finds_the_reservation_a_transaction_fulfils() -> None:
    group, zero = res(1, 1, "OWNER", "FLEET"), res(2, 0, "ROAMER")
    assert usable("OTHER", "FLEET", ConnectorReservations(holds=(group,))) == group
    assert usable("OTHER", None, ConnectorReservations(holds=(group,))) is None
    assert usable("roamer", None, ConnectorReservations(open=(zero,))) == zero


SITUATIONS = st.tuples(
    st.dictionaries(st.integers(1, 4), st.sampled_from(STATUSES), min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(1, 6), st.integers(0, 4)), max_size=5, unique_by=lambda t: t[0]),
)


def _free_for_station(statuses: dict[int, str], reservations: list[Reservation]) -> int:
    specific = {r.connector for r in reservations if r.connector}
    return sum(
        1 for c, s in statuses.items() if c not in specific and s in ("Available", "Reserved")
    )


@given(SITUATIONS, st.integers(0, 5), st.integers(1, 9))
def test_an_accepted_reservation_keeps_every_promise(
    situation: tuple[dict[int, str], list[tuple[int, int]]], connector: int, new_id: int
) -> None:
    statuses, pairs = situation
    existing = [res(rid, c) for rid, c in pairs if c == 0 or c in statuses]
    others = [r for r in existing if r.id != new_id]
    # Start from a station that keeps its promises (as one built by accepting only does).
    zero = sum(1 for r in others if r.connector == 0)
    specific = [r.connector for r in others if r.connector]
    if len(specific) != len(set(specific)) or _free_for_station(statuses, others) < zero:
        return
    answer = reserve_status(connector, statuses, existing, zero_supported=True, replacing=new_id)
    if answer != ACCEPTED:
        return
    after = [*others, res(new_id, connector)]
    zero_after = sum(1 for r in after if r.connector == 0)
    assert _free_for_station(statuses, after) >= zero_after
    if connector:
        assert statuses[connector] in ("Available", "Reserved")
        assert connector not in specific


@given(SITUATIONS)
def test_plan_gives_each_connector_one_kind_of_share(
    situation: tuple[dict[int, str], list[tuple[int, int]]],
) -> None:
    statuses, pairs = situation
    reservations = [res(rid, c) for rid, c in pairs if c == 0 or c in statuses]
    shares = plan(statuses, reservations)
    assert set(shares) == set(statuses)
    zero = [r for r in reservations if r.connector == 0]
    for connector, share in shares.items():
        assert not (share.holds and share.open)
        mine = [r for r in reservations if r.connector == connector]
        if mine:
            assert share.holds == (min(mine, key=lambda r: r.id),) or len(mine) > 1
        elif share.holds:
            assert list(share.holds) == sorted(zero, key=lambda r: (r.expiry, r.id))
    held = held_by_station(shares)
    free = _free_for_station(statuses, reservations)
    assert (len(held) == free) if zero and free <= len(zero) else not held


# -- storage -----------------------------------------------------------------------------


def test_storage_keeps_reservations_and_a_transaction_uses_one_up(tmp_path: Path) -> None:
    path = tmp_path / "station.sqlite"
    storage = Storage.start(Place("storage", None, Registry()), path).proxy()
    try:
        storage.reservations.put(5, 1, "A", None, "2030-01-01T00:00:00.000Z").get(timeout=5)
        storage.reservations.put(6, 0, "B", "G", "2030-01-01T00:00:00.000Z").get(timeout=5)
        storage.reservations.put(5, 2, "C", None, "2031-01-01T00:00:00.000Z").get(timeout=5)
        assert storage.reservations.all().get(timeout=5) == [
            StoredReservation(5, 2, "C", None, "2031-01-01T00:00:00.000Z"),
            StoredReservation(6, 0, "B", "G", "2030-01-01T00:00:00.000Z"),
        ]
        payload = {"connectorId": 2, "idTag": "C", "meterStart": 0, "timestamp": "t"}
        storage.transactions.begin_and_queue(2, "C", 0, "t", 5, "StartTransaction", payload).get(
            timeout=5
        )
        assert [r.reservation_id for r in storage.reservations.all().get(timeout=5)] == [6]
        assert storage.reservations.delete(6).get(timeout=5) is True
        assert storage.reservations.delete(6).get(timeout=5) is False
    finally:
        storage.stop()  # type: ignore[attr-defined]
