"""Composite schedules worked out by hand, one situation per test.

Every expected period list is written out literally as (startPeriod, limit,
numberPhases); `NONE` is a period where nothing limits. Times are around
Monday 2026-01-05; the supply is 230 V, so 16 A on 3 phases is 11040 W.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocppstation.protocol.v16.smart_charging import (
    ChargingProfile,
    Session,
    Unit,
    composite_schedule,
    parse_profile,
    wire_schedule,
)

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
NOW = MONDAY.replace(hour=8)
NONE = (None, None)


def at(hours: float, day: datetime = MONDAY) -> str:
    return (day + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def profile(
    pid: int,
    purpose: str,
    kind: str,
    periods: list[tuple[int, float] | tuple[int, float, int]],
    *,
    connector: int = 1,
    stack: int = 0,
    unit: str = "A",
    **extra: Any,
) -> ChargingProfile:
    """A profile as the CSMS would send it, parsed the way the station does."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": p[1]} | ({"numberPhases": p[2]} if len(p) > 2 else {})
            for p in periods
        ],
    }
    for key in ("startSchedule", "duration", "minChargingRate"):
        if key in extra:
            schedule[key] = extra.pop(key)
    data = {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **extra,
    }
    return parse_profile(data, connector)


def periods(
    profiles: list[ChargingProfile],
    duration: int,
    *,
    connector: int = 1,
    start: datetime = NOW,
    unit: Unit = Unit.A,
    sessions: dict[int, Session] | None = None,
    connectors: tuple[int, ...] = (1, 2),
) -> list[tuple[int, float | None, int | None]]:
    composite = composite_schedule(
        profiles,
        connector,
        start,
        duration,
        unit,
        sessions=sessions,
        connectors=connectors,
        voltage=230.0,
    )
    return [(p.start, p.limit, p.phases) for p in composite.periods]


def test_nothing_installed_means_no_limit_for_the_whole_duration() -> None:
    assert periods([], 3600) == [(0, *NONE)]


def test_absolute_profile_that_starts_later_and_ends_before_the_window_does() -> None:
    # 16 A from 08:30 for one hour; asked at 08:00 for two hours.
    p = profile(1, "TxDefaultProfile", "Absolute", [(0, 16)], startSchedule=at(8.5), duration=3600)
    assert periods([p], 7200) == [(0, *NONE), (1800, 16.0, 3), (5400, *NONE)]


def test_absolute_profile_already_running_enters_the_window_in_its_second_period() -> None:
    # 6/8/10 A at 0/100/200 s from 07:59:10 (50 s ago), for 400 s.
    started = NOW - timedelta(seconds=50)
    p = profile(
        1,
        "TxDefaultProfile",
        "Absolute",
        [(0, 6), (100, 8), (200, 10)],
        startSchedule=started.isoformat(),
        duration=400,
    )
    # 100 s after its start is 50 s into the window; its end (400 s) is at 350.
    assert periods([p], 400) == [(0, 6.0, 3), (50, 8.0, 3), (150, 10.0, 3), (350, *NONE)]


def test_relative_profile_counts_from_the_running_transactions_start() -> None:
    # 32 A for the first hour of a transaction, then 16 A; the transaction began at 07:40.
    p = profile(1, "TxDefaultProfile", "Relative", [(0, 32), (3600, 16)])
    session = {1: Session(NOW - timedelta(minutes=20), 5)}
    assert periods([p], 7200, sessions=session) == [(0, 32.0, 3), (2400, 16.0, 3)]


def test_relative_profile_without_a_transaction_counts_from_now() -> None:
    p = profile(1, "TxDefaultProfile", "Relative", [(0, 32), (3600, 16)])
    assert periods([p], 7200) == [(0, 32.0, 3), (3600, 16.0, 3)]


def test_recurring_daily_night_tariff_seen_in_the_morning() -> None:
    # Every day from 22:00: 10 A for 8 hours, then 32 A. At 05:00 we are 7 h in.
    p = profile(
        1,
        "TxDefaultProfile",
        "Recurring",
        [(0, 10), (28800, 32)],
        recurrencyKind="Daily",
        startSchedule="2026-01-01T22:00:00Z",
    )
    assert periods([p], 3 * 3600, start=MONDAY.replace(hour=5)) == [(0, 10.0, 3), (3600, 32.0, 3)]


def test_recurring_daily_repeats_across_the_evening() -> None:
    p = profile(
        1,
        "TxDefaultProfile",
        "Recurring",
        [(0, 10), (28800, 32)],
        recurrencyKind="Daily",
        startSchedule="2026-01-01T22:00:00Z",
    )
    # 21:00 to 23:00: still yesterday's 32 A, then today's 10 A from 22:00.
    assert periods([p], 7200, start=MONDAY.replace(hour=21)) == [(0, 32.0, 3), (3600, 10.0, 3)]


def test_recurring_daily_occurrence_from_the_day_before_reaches_past_midnight() -> None:
    # 8 A from 23:00 for 2 hours, every day: at midnight an hour of it is left.
    p = profile(
        1,
        "TxDefaultProfile",
        "Recurring",
        [(0, 8)],
        recurrencyKind="Daily",
        startSchedule="2026-01-01T23:00:00Z",
        duration=7200,
    )
    assert periods([p], 3 * 3600, start=MONDAY) == [(0, 8.0, 3), (3600, *NONE)]


def test_recurring_weekly_with_a_duration_applies_on_its_weekday_only() -> None:
    # Mondays 08:00 to 12:00, anchored on Monday 2025-12-29: 20 A.
    p = profile(
        1,
        "TxDefaultProfile",
        "Recurring",
        [(0, 20)],
        recurrencyKind="Weekly",
        startSchedule="2025-12-29T08:00:00Z",
        duration=4 * 3600,
    )
    monday = periods([p], 6 * 3600, start=MONDAY.replace(hour=7))
    assert monday == [(0, *NONE), (3600, 20.0, 3), (18000, *NONE)]
    tuesday = periods([p], 6 * 3600, start=MONDAY.replace(hour=7) + timedelta(days=1))
    assert tuesday == [(0, *NONE)]


def test_stacked_tx_default_profiles_the_higher_level_wins_while_it_lasts() -> None:
    # Level 0: 6/8/10 A at 0/100/200 s for 400 s; level 1: 15 A for 150 s; both start now.
    low = profile(
        1,
        "TxDefaultProfile",
        "Absolute",
        [(0, 6), (100, 8), (200, 10)],
        stack=0,
        startSchedule=NOW.isoformat(),
        duration=400,
    )
    high = profile(
        2,
        "TxDefaultProfile",
        "Absolute",
        [(0, 15)],
        stack=1,
        startSchedule=NOW.isoformat(),
        duration=150,
    )
    assert periods([low, high], 400) == [(0, 15.0, 3), (150, 8.0, 3), (200, 10.0, 3)]


def test_tx_profile_overrides_tx_default_whatever_the_stack_levels() -> None:
    default = profile(1, "TxDefaultProfile", "Relative", [(0, 16)], stack=5)
    tx = profile(
        2,
        "TxProfile",
        "Absolute",
        [(0, 10)],
        stack=0,
        startSchedule=NOW.isoformat(),
        duration=3600,
    )
    session = {1: Session(NOW - timedelta(minutes=5), 7)}
    assert periods([default, tx], 7200, sessions=session) == [(0, 10.0, 3), (3600, 16.0, 3)]


def test_tx_profile_of_another_transaction_counts_for_nothing() -> None:
    default = profile(1, "TxDefaultProfile", "Relative", [(0, 16)])
    tx = profile(2, "TxProfile", "Relative", [(0, 10)], transactionId=7)
    other = {1: Session(NOW, 8)}
    assert periods([default, tx], 3600, sessions=other) == [(0, 16.0, 3)]
    assert periods([default, tx], 3600, sessions={1: Session(NOW, 7)}) == [(0, 10.0, 3)]


def test_charge_point_max_caps_the_connector() -> None:
    cap = profile(
        1,
        "ChargePointMaxProfile",
        "Absolute",
        [(0, 12)],
        connector=0,
        startSchedule=at(0),
    )
    default = profile(2, "TxDefaultProfile", "Relative", [(0, 16), (1800, 10)])
    assert periods([cap, default], 3600) == [(0, 12.0, 3), (1800, 10.0, 3)]


def test_mixed_units_watts_cap_and_amps_default() -> None:
    cap = profile(
        1,
        "ChargePointMaxProfile",
        "Absolute",
        [(0, 11040)],
        connector=0,
        unit="W",
        startSchedule=at(0),
    )
    default = profile(2, "TxDefaultProfile", "Relative", [(0, 20)])
    assert periods([cap, default], 3600) == [(0, 16.0, 3)]
    assert periods([cap, default], 3600, unit=Unit.W) == [(0, 11040.0, 3)]


def test_single_phase_watts_under_a_three_phase_amps_cap() -> None:
    # 4600 W on one phase is 20 A on L1; the station allows 16 A per phase:
    # 16 A on one phase, 3680 W.
    cap = profile(
        1, "ChargePointMaxProfile", "Absolute", [(0, 16)], connector=0, startSchedule=at(0)
    )
    tx = profile(2, "TxProfile", "Relative", [(0, 4600, 1)], unit="W")
    session = {1: Session(NOW, 3)}
    assert periods([cap, tx], 600, sessions=session) == [(0, 16.0, 1)]
    assert periods([cap, tx], 600, sessions=session, unit=Unit.W) == [(0, 3680.0, 1)]


def test_watts_reported_in_amps_with_its_phases() -> None:
    default = profile(1, "TxDefaultProfile", "Relative", [(0, 2300, 1), (600, 6900)], unit="W")
    assert periods([default], 1200) == [(0, 10.0, 1), (600, 10.0, 3)]
    assert periods([default], 1200, unit=Unit.W) == [(0, 2300.0, 1), (600, 6900.0, 3)]


def test_connector_zero_sums_the_connectors_then_caps_with_charge_point_max() -> None:
    # A TxDefaultProfile on 0 applies to both connectors: 2 x 16 A, capped at
    # 24 A for the first half hour only.
    everyone = profile(1, "TxDefaultProfile", "Relative", [(0, 16)], connector=0)
    cap = profile(
        2,
        "ChargePointMaxProfile",
        "Absolute",
        [(0, 24)],
        connector=0,
        startSchedule=at(7),
        duration=3 * 3600 // 2,  # until 08:30
    )
    assert periods([everyone, cap], 3600, connector=0) == [(0, 24.0, 3), (1800, 32.0, 3)]
    assert periods([everyone, cap], 3600, connector=1) == [(0, 16.0, 3)]


def test_connector_zero_is_unlimited_while_one_connector_is() -> None:
    only_one = profile(1, "TxDefaultProfile", "Relative", [(0, 10)], connector=1)
    assert periods([only_one], 3600, connector=0) == [(0, *NONE)]
    cap = profile(
        2, "ChargePointMaxProfile", "Absolute", [(0, 40)], connector=0, startSchedule=at(0)
    )
    assert periods([only_one, cap], 3600, connector=0) == [(0, 40.0, 3)]


def test_connector_zero_sums_each_connectors_own_transaction() -> None:
    # Connector 1 is 10 min into a Relative 32 A-then-6 A schedule, connector 2 idle.
    default = profile(1, "TxDefaultProfile", "Relative", [(0, 32), (1200, 6)], connector=0)
    sessions = {1: Session(NOW - timedelta(minutes=10), 1)}
    # 32 + 32 until connector 1's 20 minutes are up, 6 + 32, then 6 + 6 after
    # connector 2's (hypothetical, starting now) 20 minutes.
    assert periods([default], 1800, connector=0, sessions=sessions) == [
        (0, 64.0, 3),
        (600, 38.0, 3),
        (1200, 12.0, 3),
    ]


def test_valid_from_and_valid_to_open_a_window_in_a_lower_level() -> None:
    base = profile(1, "TxDefaultProfile", "Relative", [(0, 6)], stack=0)
    window = profile(
        2,
        "TxDefaultProfile",
        "Relative",
        [(0, 20)],
        stack=1,
        validFrom=at(8 + 10 / 60),
        validTo=at(8 + 40 / 60),
    )
    assert periods([base, window], 3600) == [(0, 6.0, 3), (600, 20.0, 3), (2400, 6.0, 3)]


def test_validity_ends_a_recurring_profile_mid_occurrence() -> None:
    p = profile(
        1,
        "TxDefaultProfile",
        "Recurring",
        [(0, 13)],
        recurrencyKind="Daily",
        startSchedule="2026-01-01T06:00:00Z",
        validTo=at(9),
    )
    assert periods([p], 7200) == [(0, 13.0, 3), (3600, *NONE)]


def test_a_connectors_own_default_beats_the_stations_at_the_same_level() -> None:
    station = profile(1, "TxDefaultProfile", "Relative", [(0, 16)], connector=0, stack=2)
    own = profile(2, "TxDefaultProfile", "Relative", [(0, 10)], connector=1, stack=2)
    assert periods([station, own], 600, connector=1) == [(0, 10.0, 3)]
    assert periods([station, own], 600, connector=2) == [(0, 16.0, 3)]


def test_on_the_wire_no_limit_is_the_rated_maximum_and_limits_round_down() -> None:
    cap = profile(
        1,
        "ChargePointMaxProfile",
        "Absolute",
        [(0, 11000)],  # 15.942 A per phase
        connector=0,
        unit="W",
        startSchedule=at(8.25),
        duration=900,
        minChargingRate=1380,  # ignored: a station cap says nothing of an EV
    )
    default = profile(2, "TxDefaultProfile", "Relative", [(0, 32)], minChargingRate=6)
    composite = composite_schedule([cap, default], 1, NOW, 3600, Unit.A, connectors=(1,))
    wire = wire_schedule(composite, unlimited=32.0, unlimited_phases=3)
    assert wire == {
        "duration": 3600,
        "startSchedule": "2026-01-05T08:00:00.000Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 32.0, "numberPhases": 3},
            {"startPeriod": 900, "limit": 15.9, "numberPhases": 3},
            {"startPeriod": 1800, "limit": 32.0, "numberPhases": 3},
        ],
        "minChargingRate": 6.0,
    }
