"""protocol.v16.smart_charging: properties of the composite schedule, and the
checks a careful station makes of a profile before installing it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocppstation.protocol.v16.smart_charging import (
    ChargingProfile,
    ChargingSchedule,
    CompositeSchedule,
    InForce,
    Kind,
    Limit,
    ProfileError,
    Purpose,
    Recurrency,
    SchedulePeriod,
    Session,
    Unit,
    check_profile,
    composite_schedule,
    floor_tenth,
    from_amps,
    limit_at,
    limits_in_force,
    parse_profile,
    profile_payload,
    share,
    to_amps,
    units_allowed,
)

NOW = datetime(2026, 1, 5, 8, tzinfo=UTC)
VOLTAGE = 230.0
CONNECTORS = (1, 2)
DURATION = 6 * 3600

# -- strategies ----------------------------------------------------------------------


@st.composite
def schedules(draw: st.DrawFn, kind: Kind) -> ChargingSchedule:
    unit = draw(st.sampled_from(Unit))
    gaps = draw(st.lists(st.integers(1, 5400), max_size=4))
    starts = [0]
    for gap in gaps:
        starts.append(starts[-1] + gap)
    top = 64.0 if unit is Unit.A else 44_000.0
    periods = tuple(
        SchedulePeriod(
            start,
            draw(st.integers(0, int(top * 10))) / 10,
            draw(st.none() | st.integers(1, 3)),
        )
        for start in starts
    )
    start = None
    if kind is not Kind.RELATIVE:
        start = NOW + timedelta(seconds=draw(st.integers(-10 * 86_400, 10 * 86_400)))
    return ChargingSchedule(
        unit=unit,
        periods=periods,
        start=start,
        duration=draw(st.none() | st.integers(1, 30_000)),
        min_rate=draw(st.none() | st.integers(0, 100).map(lambda x: x / 10)),
    )


@st.composite
def profiles(draw: st.DrawFn, pid: int) -> ChargingProfile:
    purpose = draw(st.sampled_from(Purpose))
    if purpose is Purpose.CHARGE_POINT_MAX:
        connector, kind = 0, draw(st.sampled_from([Kind.ABSOLUTE, Kind.RECURRING]))
    else:
        connector = 1 if purpose is Purpose.TX else draw(st.sampled_from([0, 1, 2]))
        kind = draw(st.sampled_from(Kind))
    valid_from = draw(st.none() | st.integers(-7200, 7200))
    valid_to = draw(st.none() | st.integers(1, 30_000))
    return ChargingProfile(
        id=pid,
        connector=connector,
        stack_level=draw(st.integers(0, 4)),
        purpose=purpose,
        kind=kind,
        schedule=draw(schedules(kind)),
        recurrency=draw(st.sampled_from(Recurrency)) if kind is Kind.RECURRING else None,
        valid_from=None if valid_from is None else NOW + timedelta(seconds=valid_from),
        valid_to=None if valid_to is None else NOW + timedelta(seconds=valid_to),
        transaction_id=draw(st.sampled_from([None, 1, 2])) if purpose is Purpose.TX else None,
    )


@st.composite
def situations(draw: st.DrawFn) -> tuple[list[ChargingProfile], dict[int, Session]]:
    count = draw(st.integers(0, 6))
    installed = [draw(profiles(pid)) for pid in range(1, count + 1)]
    sessions: dict[int, Session] = {}
    for connector in CONNECTORS:
        if draw(st.booleans()):
            started = NOW - timedelta(seconds=draw(st.integers(0, 4 * 3600)))
            sessions[connector] = Session(started, draw(st.sampled_from([None, 1, 2])))
    return installed, sessions


# -- an independent oracle, point by point ----------------------------------------------


def best(
    candidates: list[tuple[tuple[int, ...], ChargingProfile]], t: datetime, origin: datetime
) -> Limit | None:
    active = [(rank, limit_at(p, t, origin, VOLTAGE)) for rank, p in candidates]
    present = sorted((rank, limit) for rank, limit in active if limit is not None)
    return present[0][1] if present else None


def own_at(
    installed: list[ChargingProfile], connector: int, sessions: dict[int, Session], t: datetime
) -> Limit | None:
    session = sessions.get(connector)
    origin = session.start if session else NOW
    tx = [
        ((-p.stack_level, p.id), p)
        for p in installed
        if p.purpose is Purpose.TX
        and p.connector == connector
        and session is not None
        and p.transaction_id in (None, session.transaction_id)
    ]
    defaults = [
        ((-p.stack_level, 0 if p.connector == connector else 1, p.id), p)
        for p in installed
        if p.purpose is Purpose.TX_DEFAULT and p.connector in (0, connector)
    ]
    from_tx = best(tx, t, origin)
    return from_tx if from_tx is not None else best(defaults, t, origin)


def cap_at(installed: list[ChargingProfile], t: datetime) -> Limit | None:
    maxes = [
        ((-p.stack_level, p.id), p) for p in installed if p.purpose is Purpose.CHARGE_POINT_MAX
    ]
    return best(maxes, t, NOW)


def expected_at(
    installed: list[ChargingProfile], connector: int, sessions: dict[int, Session], t: datetime
) -> tuple[float, int] | None:
    """(amps, phases) the composite should show at `t`, None for no limit."""
    if connector == 0:
        owns = [own_at(installed, c, sessions, t) for c in CONNECTORS]
        own = (
            None
            if any(o is None for o in owns)
            else (sum(o.amps for o in owns if o), max(o.phases for o in owns if o))
        )
    else:
        found = own_at(installed, connector, sessions, t)
        own = None if found is None else (found.amps, found.phases)
    cap = cap_at(installed, t)
    if cap is None:
        return own
    if own is None:
        return cap.amps, cap.phases
    return min(own[0], cap.amps), min(own[1], cap.phases)


def shown_at(composite: CompositeSchedule, offset: int) -> tuple[float | None, int | None]:
    current = None
    for period in composite.periods:
        if period.start > offset:
            break
        current = period
    assert current is not None
    return current.limit, current.phases


def probes(composite: CompositeSchedule) -> list[int]:
    """Offsets worth checking: each period's first, middle and last second."""
    ends = [p.start for p in composite.periods[1:]] + [composite.duration]
    points: set[int] = set()
    for period, end in zip(composite.periods, ends, strict=True):
        points.update({period.start, (period.start + end) // 2, end - 1})
    return sorted(points)


def amps_of(limit: float | None, unit: Unit, phases: int | None) -> float | None:
    if limit is None:
        return None
    return to_amps(limit, unit, phases or 3, VOLTAGE)


# -- properties --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(situations(), st.sampled_from([0, 1, 2]), st.sampled_from(Unit))
def test_periods_tile_the_duration_in_order(situation, connector: int, unit: Unit) -> None:
    installed, sessions = situation
    composite = composite_schedule(
        installed, connector, NOW, DURATION, unit, sessions=sessions, connectors=CONNECTORS
    )
    starts = [p.start for p in composite.periods]
    assert starts[0] == 0
    assert all(a < b for a, b in pairwise(starts))
    assert starts[-1] < DURATION
    shown = [(p.limit, p.phases) for p in composite.periods]
    assert all(a != b for a, b in pairwise(shown))


@settings(max_examples=150, deadline=None)
@given(situations(), st.sampled_from([0, 1, 2]))
def test_the_sweep_agrees_with_a_point_by_point_evaluation(situation, connector: int) -> None:
    installed, sessions = situation
    composite = composite_schedule(
        installed, connector, NOW, DURATION, Unit.A, sessions=sessions, connectors=CONNECTORS
    )
    for offset in probes(composite):
        t = NOW + timedelta(seconds=offset)
        want = expected_at(installed, connector, sessions, t)
        limit, phases = shown_at(composite, offset)
        if want is None:
            assert limit is None, offset
        else:
            assert limit == pytest.approx(want[0]), offset
            assert phases == want[1], offset


@settings(max_examples=150, deadline=None)
@given(situations(), st.sampled_from([0, 1, 2]), st.sampled_from(Unit))
def test_never_above_the_charge_point_max_profile(situation, connector: int, unit: Unit) -> None:
    installed, sessions = situation
    composite = composite_schedule(
        installed, connector, NOW, DURATION, unit, sessions=sessions, connectors=CONNECTORS
    )
    for offset in probes(composite):
        cap = cap_at(installed, NOW + timedelta(seconds=offset))
        if cap is None:
            continue
        limit, phases = shown_at(composite, offset)
        assert limit is not None, "under a ChargePointMaxProfile there is always a limit"
        assert phases is not None
        # Not above it in either unit, whichever was asked for.
        amps = to_amps(limit, unit, phases, VOLTAGE)
        assert amps <= cap.amps + 1e-9
        assert amps * VOLTAGE * phases <= cap.amps * VOLTAGE * cap.phases + 1e-6


@settings(max_examples=150, deadline=None)
@given(situations(), st.data())
def test_a_higher_stack_level_wins_where_it_is_valid(situation, data: st.DataObject) -> None:
    installed, _ = situation
    # Only TxDefaultProfiles on connector 1, no cap, no transaction: the stack decides alone.
    defaults = [p for p in installed if p.purpose is Purpose.TX_DEFAULT and p.connector == 1]
    composite = composite_schedule(defaults, 1, NOW, DURATION, Unit.A)
    offset = data.draw(st.integers(0, DURATION - 1))
    t = NOW + timedelta(seconds=offset)
    active = [(p, limit_at(p, t, NOW, VOLTAGE)) for p in defaults]
    active = [(p, limit) for p, limit in active if limit is not None]
    if not active:
        assert shown_at(composite, offset) == (None, None)
        return
    top = max(p.stack_level for p, _ in active)
    winners = [limit for p, limit in active if p.stack_level == top]
    limit, phases = shown_at(composite, offset)
    assert any(limit == pytest.approx(w.amps) and phases == w.phases for w in winners), (
        "the highest stack level active at t sets the limit"
    )


@given(
    st.floats(0, 100_000, allow_nan=False),
    st.sampled_from(Unit),
    st.integers(1, 3),
    st.floats(100, 480),
)
def test_unit_conversion_round_trips(value: float, unit: Unit, phases: int, volts: float) -> None:
    amps = to_amps(value, unit, phases, volts)
    assert from_amps(amps, unit, phases, volts) == pytest.approx(value)
    assert to_amps(from_amps(value, unit, phases, volts), unit, phases, volts) == pytest.approx(
        value
    )


@settings(max_examples=100, deadline=None)
@given(situations(), st.sampled_from([0, 1, 2]))
def test_a_composite_in_watts_is_the_one_in_amps_converted(situation, connector: int) -> None:
    installed, sessions = situation
    args = dict(sessions=sessions, connectors=CONNECTORS)
    amps = composite_schedule(installed, connector, NOW, DURATION, Unit.A, **args)
    watts = composite_schedule(installed, connector, NOW, DURATION, Unit.W, **args)
    assert [(p.start, p.phases) for p in amps.periods] == [
        (p.start, p.phases) for p in watts.periods
    ]
    for a, w in zip(amps.periods, watts.periods, strict=True):
        assert amps_of(w.limit, Unit.W, w.phases) == pytest.approx(a.limit)


@settings(max_examples=100, deadline=None)
@given(situations())
def test_limits_in_force_are_the_composites_first_period(situation) -> None:
    installed, sessions = situation
    in_force = limits_in_force(installed, NOW, sessions=sessions, connectors=CONNECTORS)
    for connector in CONNECTORS:
        composite = composite_schedule(
            installed, connector, NOW, 86_400, Unit.A, sessions=sessions, connectors=CONNECTORS
        )
        own, cap = in_force.own[connector], in_force.station
        if own is None and cap is None:
            assert composite.periods[0].limit is None
            continue
        amps = min(x.amps for x in (own, cap) if x is not None)
        assert composite.periods[0].limit == pytest.approx(amps)
    # Nothing changes before next_change.
    later = composite_schedule(
        installed,
        1,
        NOW,
        int((in_force.next_change - NOW).total_seconds()),
        Unit.A,
        sessions=sessions,
        connectors=CONNECTORS,
    )
    assert len(later.periods) == 1


@given(st.integers(0, 10_000_000))
def test_rounding_to_tenths_never_goes_up(tenths_times_100: int) -> None:
    value = tenths_times_100 / 1000
    rounded = floor_tenth(value)
    assert rounded <= value + 1e-9
    assert value - rounded < 0.1 + 1e-9
    assert math.isclose(rounded * 10, round(rounded * 10))


@settings(max_examples=100)
@given(st.integers(1, 10).flatmap(profiles))
def test_profiles_survive_storage(profile: ChargingProfile) -> None:
    again = parse_profile(profile_payload(profile), profile.connector)
    assert again == profile


# -- sharing the station's cap -------------------------------------------------------------


def in_force(own: dict[int, Limit | None], station: Limit | None) -> InForce:
    return InForce(own=own, station=station, next_change=NOW)


def test_charging_connectors_share_the_station_cap_equally() -> None:
    offers = share(
        in_force({1: None, 2: None, 3: None}, Limit(32)),
        charging={1, 2},
        phases={1: 3, 2: 3, 3: 3},
        rated={1: 32, 2: 32, 3: 32},
    )
    # The idle one may have what is left: nothing, until it starts and is shared in.
    assert offers == {1: 16.0, 2: 16.0, 3: 0.0}


def test_a_connector_that_needs_less_leaves_the_rest_to_the_others() -> None:
    offers = share(
        in_force({1: Limit(6), 2: None, 3: Limit(10)}, Limit(40)),
        charging={1, 2},
        phases={1: 3, 2: 3, 3: 3},
        rated={1: 32, 2: 32, 3: 32},
    )
    assert offers == {1: 6.0, 2: 32.0, 3: 2.0}


def test_a_part_below_the_evs_minimum_goes_to_the_others() -> None:
    offers = share(
        in_force({1: Limit(16, min_amps=10), 2: Limit(16)}, Limit(18)),
        charging={1, 2},
        phases={1: 3, 2: 3},
        rated={1: 32, 2: 32},
    )
    assert offers == {1: 0.0, 2: 16.0}


def test_fewer_phases_in_the_limit_than_on_the_evse_lowers_the_current_per_phase() -> None:
    offers = share(
        in_force({1: Limit(15, phases=1)}, None), charging={1}, phases={1: 3}, rated={1: 32}
    )
    assert offers == {1: 5.0}


def test_below_the_minimum_an_evse_can_signal_the_ev_pauses() -> None:
    offers = share(
        in_force({1: Limit(4), 2: None, 3: None}, Limit(14)),
        charging={1, 2},
        phases={1: 3, 2: 3, 3: 3},
        rated={1: 32, 2: 32, 3: 32},
        min_offer=6,
    )
    # 1's own 4 A cannot be signalled: 0, and 2 takes the cap; 3 idles on nothing.
    assert offers == {1: 0.0, 2: 14.0, 3: 0.0}


def test_a_cap_too_small_for_two_pauses_one_not_both() -> None:
    offers = share(
        in_force({1: None, 2: None}, Limit(10)),
        charging={1, 2},
        phases={1: 3, 2: 3},
        rated={1: 32, 2: 32},
        min_offer=6,
    )
    assert offers == {1: 10.0, 2: 0.0}


@given(
    own=st.dictionaries(
        st.integers(1, 6), st.none() | st.floats(0, 40).map(lambda a: Limit(a)), min_size=1
    ),
    cap=st.none() | st.floats(0, 80).map(lambda a: Limit(a)),
    charging=st.sets(st.integers(1, 6)),
    min_offer=st.sampled_from([0.0, 6.0]),
)
def test_shares_respect_every_limit_and_the_signalable_minimum(
    own: dict[int, Limit | None], cap: Limit | None, charging: set[int], min_offer: float
) -> None:
    phases = dict.fromkeys(own, 3)
    rated = dict.fromkeys(own, 32.0)
    offers = share(
        in_force(own, cap), charging=charging, phases=phases, rated=rated, min_offer=min_offer
    )
    assert offers.keys() == own.keys()
    for c, amps in offers.items():
        assert amps == 0 or amps >= min_offer
        assert amps <= rated[c] + 1e-9
        if own[c] is not None:
            assert amps <= own[c].amps + 1e-9
    if cap is not None:
        assert sum(offers[c] for c in charging if c in offers) <= cap.amps + 1e-6


def test_without_any_limit_the_rated_current_is_offered() -> None:
    offers = share(in_force({1: None}, None), charging=(), phases={1: 3}, rated={1: 32})
    assert offers == {1: 32.0}


# -- what a careful station refuses ------------------------------------------------------


def check(profile: ChargingProfile, **overrides) -> None:
    args = dict(
        connectors=2,
        max_stack_level=10,
        max_periods=5,
        allowed_units=units_allowed(["Current", "Power"]),
        now=NOW,
    )
    args.update(overrides)
    check_profile(profile, **args)


def make(**changes) -> ChargingProfile:
    base = ChargingProfile(
        id=1,
        connector=1,
        stack_level=0,
        purpose=Purpose.TX_DEFAULT,
        kind=Kind.RELATIVE,
        schedule=ChargingSchedule(Unit.A, (SchedulePeriod(0, 16),)),
    )
    schedule = changes.pop("schedule", {})
    fields = {**base.__dict__, **changes}
    fields["schedule"] = ChargingSchedule(**{**base.schedule.__dict__, **schedule})
    return ChargingProfile(**fields)


def test_a_plain_profile_passes() -> None:
    check(make())


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"connector": 3}, "no connector 3"),
        ({"stack_level": 11}, "ChargeProfileMaxStackLevel"),
        (
            {"schedule": {"periods": tuple(SchedulePeriod(i * 60, 6) for i in range(6))}},
            "ChargingScheduleMaxPeriods",
        ),
        ({"purpose": Purpose.CHARGE_POINT_MAX, "kind": Kind.ABSOLUTE}, "on connector 0"),
        ({"purpose": Purpose.CHARGE_POINT_MAX, "connector": 0}, "cannot be Relative"),
        ({"purpose": Purpose.TX, "connector": 0}, "not to 0"),
        ({"transaction_id": 3}, "only a TxProfile"),
        ({"kind": Kind.ABSOLUTE}, "needs a startSchedule"),
        ({"kind": Kind.RECURRING, "schedule": {"start": NOW}}, "needs a recurrencyKind"),
        ({"schedule": {"periods": (SchedulePeriod(10, 6),)}}, "start at 0"),
        (
            {"schedule": {"periods": (SchedulePeriod(0, 6), SchedulePeriod(0, 8))}},
            "must increase",
        ),
        ({"schedule": {"periods": (SchedulePeriod(0, 6, 4),)}}, "numberPhases"),
        ({"schedule": {"periods": (SchedulePeriod(0, -1),)}}, "non-negative"),
        ({"schedule": {"duration": 0}}, "duration must be positive"),
        ({"valid_from": NOW, "valid_to": NOW}, "never valid"),
        ({"valid_to": NOW - timedelta(seconds=1)}, "has passed"),
    ],
)
def test_refused(changes: dict, reason: str) -> None:
    with pytest.raises(ProfileError, match=reason):
        check(make(**changes))


def test_a_unit_the_station_does_not_allow_is_refused() -> None:
    with pytest.raises(ProfileError, match="chargingRateUnit W"):
        check(make(schedule={"unit": Unit.W}), allowed_units=units_allowed(["Current"]))


def test_parse_refuses_what_names_nothing() -> None:
    with pytest.raises(ProfileError):
        parse_profile({"chargingProfileId": 1}, 1)
