"""TxStopPoint (2.0.1 E06): which conditions end a transaction."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol.v201.tx_points import DEFAULT, OFFERED, Conditions, StopPoint, ends

conditions = st.builds(Conditions, st.booleans(), st.booleans(), st.booleans())
point_sets = st.sets(st.sampled_from(OFFERED))


@given(point_sets, conditions)
def test_more_stop_points_never_end_a_transaction_later(points: set[str], now: Conditions) -> None:
    for extra in OFFERED:
        assert ends(points | {extra}, now) >= ends(points, now)


@given(point_sets)
def test_nothing_ends_while_every_condition_holds(points: set[str]) -> None:
    assert not ends(points, Conditions(ev_connected=True, authorized=True, energy_transfer=True))


@given(conditions)
def test_power_path_closed_is_connected_and_authorized(now: Conditions) -> None:
    both = ends({StopPoint.EV_CONNECTED, StopPoint.AUTHORIZED}, now)
    assert ends({StopPoint.POWER_PATH_CLOSED}, now) == both


@given(conditions)
def test_data_signed_alone_never_ends_one(now: Conditions) -> None:
    assert not ends({StopPoint.DATA_SIGNED}, now)


def test_the_default_ends_when_the_ev_leaves_or_the_driver_stops() -> None:
    assert ends(DEFAULT, Conditions(ev_connected=False, authorized=True, energy_transfer=False))
    assert ends(DEFAULT, Conditions(ev_connected=True, authorized=False, energy_transfer=True))
    assert not ends(DEFAULT, Conditions(ev_connected=True, authorized=True, energy_transfer=False))


def test_only_ev_connected_outlives_the_driver_and_only_authorized_the_cable() -> None:
    deauthorized = Conditions(ev_connected=True, authorized=False, energy_transfer=False)
    unplugged = Conditions(ev_connected=False, authorized=True, energy_transfer=False)
    assert not ends({"EVConnected"}, deauthorized)
    assert not ends({"Authorized"}, unplugged)
    assert ends({"EnergyTransfer"}, deauthorized)
