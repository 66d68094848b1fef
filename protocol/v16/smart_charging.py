"""OCPP 1.6 Smart Charging (section 3.13): charging profiles and the composite schedule.

Pure: no clock reads, no I/O; every function is handed the moment it is
about. The profiles actor (`actors/profiles.py`) owns the installed profiles
and calls in here.

How a limit is computed, per connector N, at a moment t:

- Of each purpose, the profiles *active* at t are those inside their
  validFrom/validTo window whose schedule covers t (after its start, before
  start + duration). Among them the highest stackLevel wins; at equal
  stackLevel a TxDefaultProfile installed on N beats one installed on 0.
- A TxProfile counts only on a connector with a running transaction, and
  only when its transactionId is absent or that transaction's. Where one is
  active it overrides the TxDefaultProfile; otherwise the TxDefaultProfile
  applies. That is the connector's *own* limit.
- The ChargePointMaxProfile (installed on connector 0) then caps it.
- Where nothing applies there is no limit: `None` here. On the wire, which
  needs a number, the actor reports the EVSE's rated maximum instead.

Connector 0 asks for the whole station (the grid connection): the sum of
every connector's own limit, each as if charging, capped by the
ChargePointMaxProfile. One connector without a limit makes the sum
unlimited, so only the ChargePointMaxProfile bounds it then.

Kinds: Absolute periods count from startSchedule; Relative ones from the
start of the connector's transaction (with none running, from the start of
the requested schedule, i.e. as if a transaction started now); Recurring
ones from startSchedule, repeated every day or week, in both directions
(startSchedule is an anchor; validFrom bounds the past), each occurrence
cut off by its duration and by the next occurrence.

Units: internally a limit is current per phase and a number of phases
(`Limit`). A limit in W becomes W / (voltage x phases) per phase; phases is
the period's numberPhases, 3 when absent. Combining two limits takes the
smaller current *and* the fewer phases, so the result is never above
either, in A or in W. Times are whole seconds (fractions are dropped), as
a composite's startPeriod is.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from typing import Any

from ocppstation.protocol.timestamps import ocpp_timestamp as iso

__all__ = [
    "DEFAULT_PHASES",
    "ChargingProfile",
    "ChargingSchedule",
    "CompositePeriod",
    "CompositeSchedule",
    "InForce",
    "Kind",
    "Limit",
    "ProfileError",
    "Purpose",
    "Recurrency",
    "SchedulePeriod",
    "Session",
    "Unit",
    "check_profile",
    "composite_schedule",
    "floor_tenth",
    "from_amps",
    "limit_at",
    "limits_in_force",
    "parse_profile",
    "parse_time",
    "profile_payload",
    "seconds_until",
    "share",
    "to_amps",
    "units_allowed",
    "wire_schedule",
]

DEFAULT_PHASES = 3
MAX_PHASES = 3
_RECURRENCE = {"Daily": 86_400, "Weekly": 7 * 86_400}
# What ChargingScheduleAllowedChargingRateUnit says, as chargingRateUnit values.
_KEY_UNITS = {"Current": "A", "Power": "W"}


class Purpose(StrEnum):
    CHARGE_POINT_MAX = "ChargePointMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class Kind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class Unit(StrEnum):
    A = "A"
    W = "W"


class ProfileError(ValueError):
    """A profile a careful station refuses; the message says why."""


@dataclass(frozen=True)
class SchedulePeriod:
    start: int  # seconds from the schedule's start
    limit: float
    phases: int | None = None


@dataclass(frozen=True)
class ChargingSchedule:
    unit: Unit
    periods: tuple[SchedulePeriod, ...]
    start: datetime | None = None
    duration: int | None = None
    min_rate: float | None = None


@dataclass(frozen=True)
class ChargingProfile:
    id: int
    connector: int  # where it is installed: 0 is the station as a whole
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: ChargingSchedule
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | None = None


@dataclass(frozen=True)
class Session:
    """A running transaction, as far as profiles care."""

    start: datetime
    transaction_id: int | None = None  # None until the CSMS has answered


@dataclass(frozen=True)
class Limit:
    """A limit in force: current per phase, on so many phases."""

    amps: float
    phases: int = DEFAULT_PHASES
    # The EV's minChargingRate as a current per phase, from the profile that set it.
    min_amps: float | None = field(default=None, compare=False)

    def value(self, unit: Unit, voltage: float) -> float:
        return from_amps(self.amps, unit, self.phases, voltage)

    def per_phase_on(self, phases: int) -> float:
        """The current per phase an EVSE wired for `phases` may offer.

        Fewer phases in the limit than the EVSE uses means its power spread
        over more phases: 10 A on 1 phase is 3.33 A on 3.
        """
        return self.amps * min(1.0, self.phases / phases)


@dataclass(frozen=True)
class CompositePeriod:
    start: int  # seconds from the composite's start
    limit: float | None  # None: no limit
    phases: int | None = None


@dataclass(frozen=True)
class CompositeSchedule:
    connector: int
    start: datetime
    duration: int
    unit: Unit
    periods: tuple[CompositePeriod, ...]
    min_rate: float | None = None


@dataclass(frozen=True)
class InForce:
    """What applies now: each connector's own limit, the station's cap, and
    when either may change next (a period boundary, validity, recurrence)."""

    own: Mapping[int, Limit | None]
    station: Limit | None
    next_change: datetime


# -- units ---------------------------------------------------------------------


def to_amps(value: float, unit: Unit, phases: int, voltage: float) -> float:
    """A limit in `unit` as a current per phase."""
    return value if unit is Unit.A else value / (voltage * phases)


def from_amps(amps: float, unit: Unit, phases: int, voltage: float) -> float:
    return amps if unit is Unit.A else amps * voltage * phases


def floor_tenth(value: float) -> float:
    """Down to a multiple of 0.1, as 1.6 wants limits, never above `value`.

    The epsilon keeps 8.1 (80.99999... in binary) at 8.1 instead of 8.0.
    """
    return math.floor(value * 10 + 1e-6) / 10


def units_allowed(key_value: Iterable[str]) -> frozenset[Unit]:
    """ChargingScheduleAllowedChargingRateUnit ("Current", "Power") as units."""
    return frozenset(Unit(_KEY_UNITS[item]) for item in key_value if item in _KEY_UNITS)


# -- OCPP JSON -------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """An OCPP dateTime; one without a zone is taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_schedule(raw: Mapping[str, Any]) -> ChargingSchedule:
    """A chargingSchedule object, the same in 1.6 and 2.0.1 but for 2.0.1's id.

    Raises KeyError, TypeError or ValueError for what the schema let through
    but names nothing; callers turn those into ProfileError.
    """
    periods = tuple(
        SchedulePeriod(int(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
        for p in raw["chargingSchedulePeriod"]
    )
    return ChargingSchedule(
        unit=Unit(raw["chargingRateUnit"]),
        periods=periods,
        start=maybe_time(raw.get("startSchedule")),
        duration=raw.get("duration"),
        min_rate=None if raw.get("minChargingRate") is None else float(raw["minChargingRate"]),
    )


def parse_profile(data: Mapping[str, Any], connector: int) -> ChargingProfile:
    """A csChargingProfiles object (already schema-valid) installed on `connector`.

    Raises ProfileError for values the schema lets through but that name
    nothing (a bad enum from storage, an unparsable date).
    """
    try:
        schedule = parse_schedule(data["chargingSchedule"])
        recurrency = data.get("recurrencyKind")
        return ChargingProfile(
            id=int(data["chargingProfileId"]),
            connector=connector,
            stack_level=int(data["stackLevel"]),
            purpose=Purpose(data["chargingProfilePurpose"]),
            kind=Kind(data["chargingProfileKind"]),
            schedule=schedule,
            recurrency=None if recurrency is None else Recurrency(recurrency),
            valid_from=maybe_time(data.get("validFrom")),
            valid_to=maybe_time(data.get("validTo")),
            transaction_id=data.get("transactionId"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"not a charging profile: {exc}") from None


def maybe_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


def schedule_payload(schedule: ChargingSchedule) -> dict[str, Any]:
    """The schedule as chargingSchedule JSON (2.0.1 adds its id beside)."""
    raw: dict[str, Any] = {
        "chargingRateUnit": schedule.unit.value,
        "chargingSchedulePeriod": [
            {"startPeriod": p.start, "limit": p.limit}
            | ({} if p.phases is None else {"numberPhases": p.phases})
            for p in schedule.periods
        ],
    }
    if schedule.start is not None:
        raw["startSchedule"] = iso(schedule.start)
    if schedule.duration is not None:
        raw["duration"] = schedule.duration
    if schedule.min_rate is not None:
        raw["minChargingRate"] = schedule.min_rate
    return raw


def profile_payload(profile: ChargingProfile) -> dict[str, Any]:
    """The profile as csChargingProfiles JSON (what storage keeps)."""
    data: dict[str, Any] = {
        "chargingProfileId": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": profile.purpose.value,
        "chargingProfileKind": profile.kind.value,
        "chargingSchedule": schedule_payload(profile.schedule),
    }
    if profile.transaction_id is not None:
        data["transactionId"] = profile.transaction_id
    if profile.recurrency is not None:
        data["recurrencyKind"] = profile.recurrency.value
    if profile.valid_from is not None:
        data["validFrom"] = iso(profile.valid_from)
    if profile.valid_to is not None:
        data["validTo"] = iso(profile.valid_to)
    return data


# -- what a careful station refuses ------------------------------------------------


def check_profile(
    profile: ChargingProfile,
    *,
    connectors: int,
    max_stack_level: int,
    max_periods: int,
    allowed_units: Collection[Unit],
    now: datetime,
) -> None:
    """Raise ProfileError if a station with `connectors` connectors and these
    Smart Charging keys must refuse `profile`.

    What needs the station's state (a running transaction, the number of
    profiles installed) is the actor's to check.
    """
    schedule = profile.schedule
    problems: list[str] = []
    if not 0 <= profile.connector <= connectors:
        problems.append(f"there is no connector {profile.connector}")
    if not 0 <= profile.stack_level <= max_stack_level:
        problems.append(
            f"stackLevel {profile.stack_level} is above ChargeProfileMaxStackLevel"
            f" ({max_stack_level})"
        )
    if len(schedule.periods) > max_periods:
        problems.append(
            f"{len(schedule.periods)} periods, more than ChargingScheduleMaxPeriods ({max_periods})"
        )
    if schedule.unit not in allowed_units:
        problems.append(f"chargingRateUnit {schedule.unit} is not allowed here")
    match profile.purpose:
        case Purpose.CHARGE_POINT_MAX if profile.connector != 0:
            problems.append("a ChargePointMaxProfile belongs on connector 0")
        case Purpose.CHARGE_POINT_MAX if profile.kind is Kind.RELATIVE:
            problems.append("a ChargePointMaxProfile cannot be Relative: to what?")
        case Purpose.TX if profile.connector == 0:
            problems.append("a TxProfile belongs to a connector's transaction, not to 0")
    if profile.transaction_id is not None and profile.purpose is not Purpose.TX:
        problems.append("only a TxProfile may name a transactionId")
    if profile.kind in (Kind.ABSOLUTE, Kind.RECURRING) and schedule.start is None:
        problems.append(f"an {profile.kind} profile needs a startSchedule")
    if profile.kind is Kind.RECURRING and profile.recurrency is None:
        problems.append("a Recurring profile needs a recurrencyKind")
    problems.extend(_period_problems(schedule))
    if schedule.duration is not None and schedule.duration <= 0:
        problems.append("duration must be positive")
    if schedule.min_rate is not None and schedule.min_rate < 0:
        problems.append("minChargingRate must not be negative")
    if profile.valid_from and profile.valid_to and profile.valid_to <= profile.valid_from:
        problems.append("validTo is not after validFrom: never valid")
    if profile.valid_to is not None and profile.valid_to <= now:
        problems.append("validTo has passed already")
    if problems:
        raise ProfileError("; ".join(problems))


def _period_problems(schedule: ChargingSchedule) -> list[str]:
    periods = schedule.periods
    problems = []
    if not periods:
        problems.append("no chargingSchedulePeriod")
    elif periods[0].start != 0:
        problems.append("the first period must start at 0")
    if any(b.start <= a.start for a, b in pairwise(periods)):
        problems.append("startPeriod values must increase")
    if any(p.phases is not None and not 1 <= p.phases <= MAX_PHASES for p in periods):
        problems.append(f"numberPhases must be 1 to {MAX_PHASES}")
    if any(p.limit < 0 or not math.isfinite(p.limit) for p in periods):
        problems.append("a limit must be a non-negative number")
    return problems


# -- one profile over time -----------------------------------------------------------

_Segment = tuple[int, int, Limit]  # [start, end) in epoch seconds


def _ts(moment: datetime) -> int:
    if moment.tzinfo is None:
        msg = f"times must be timezone-aware: {moment!r}"
        raise ValueError(msg)
    return math.floor(moment.timestamp())


def _limit(profile: ChargingProfile, period: SchedulePeriod, voltage: float) -> Limit:
    unit = profile.schedule.unit
    phases = period.phases or DEFAULT_PHASES
    min_rate = profile.schedule.min_rate
    return Limit(
        amps=to_amps(period.limit, unit, phases, voltage),
        phases=phases,
        min_amps=None if min_rate is None else to_amps(min_rate, unit, phases, voltage),
    )


@lru_cache(maxsize=1024)
def _period_limits(profile: ChargingProfile, voltage: float) -> tuple[Limit, ...]:
    # Worked out once per profile, not per period and call: a station with its
    # 64 profiles of 96 periods otherwise spends most of a composite here.
    return tuple(_limit(profile, period, voltage) for period in profile.schedule.periods)


def _anchor(profile: ChargingProfile, fallback: int) -> int:
    # Absolute and Recurring profiles without startSchedule are refused by
    # check_profile; one from an older store still gets a defined meaning.
    start = profile.schedule.start
    return _ts(start) if start is not None else fallback


def limit_at(
    profile: ChargingProfile, at: datetime, relative_start: datetime, voltage: float = 230.0
) -> Limit | None:
    """The limit `profile` sets at `at`, or None if it is not active then.

    `relative_start` is where a Relative profile's periods count from (the
    transaction's start). A direct evaluation, point by point: the sweep in
    `composite_schedule` is checked against it.
    """
    t = _ts(at)
    if profile.valid_from is not None and t < _ts(profile.valid_from):
        return None
    if profile.valid_to is not None and t >= _ts(profile.valid_to):
        return None
    schedule = profile.schedule
    if profile.kind is Kind.RELATIVE:
        origin = _ts(relative_start)
    elif profile.kind is Kind.ABSOLUTE:
        origin = _anchor(profile, t)
    else:
        every = _RECURRENCE[(profile.recurrency or Recurrency.DAILY).value]
        anchor = _anchor(profile, t)
        origin = anchor + (t - anchor) // every * every
    offset = t - origin
    if offset < 0 or (schedule.duration is not None and offset >= schedule.duration):
        return None
    current = None
    for period in schedule.periods:
        if period.start > offset:
            break
        current = period
    return None if current is None else _limit(profile, current, voltage)


def _segments(
    profile: ChargingProfile, lo: int, hi: int, relative_start: int, voltage: float
) -> list[_Segment]:
    """Where in [lo, hi) `profile` is active, and with what limit; in order, disjoint."""
    schedule = profile.schedule
    if profile.valid_from is not None:
        lo = max(lo, _ts(profile.valid_from))
    if profile.valid_to is not None:
        hi = min(hi, _ts(profile.valid_to))
    if lo >= hi or not schedule.periods:
        return []
    every: int | None = None
    if profile.kind is Kind.RELATIVE:
        origins = [relative_start]
    elif profile.kind is Kind.ABSOLUTE:
        origins = [_anchor(profile, lo)]
    else:
        every = _RECURRENCE[(profile.recurrency or Recurrency.DAILY).value]
        anchor = _anchor(profile, lo)
        first = anchor + (lo - anchor) // every * every
        origins = list(range(first, hi, every))
    out: list[_Segment] = []
    starts = [p.start for p in schedule.periods]
    limits = _period_limits(profile, voltage)
    for origin in origins:
        stop = math.inf if schedule.duration is None else origin + schedule.duration
        if every is not None:
            stop = min(stop, origin + every)
        stop = min(stop, hi)
        for i, start in enumerate(starts):
            s = max(origin + start, lo)
            e = min(origin + starts[i + 1], stop) if i + 1 < len(starts) else stop
            if s < e:
                out.append((int(s), int(e), limits[i]))
    return out


# -- many profiles over time -----------------------------------------------------------

_Piece = tuple[int, int, Limit | None]  # a timeline tiles its window with these


def _append(out: list[Any], start: int, end: int, value: Any) -> None:
    if out and out[-1][2] == value and out[-1][1] == start:
        out[-1] = (out[-1][0], end, value)
    else:
        out.append((start, end, value))


def _winners(
    ranked: Sequence[tuple[tuple[int, ...], list[_Segment]]], lo: int, hi: int
) -> list[_Piece]:
    """The timeline of the best-ranked active segment (lowest rank tuple wins).

    A sweep over segment boundaries with a heap of what is active: a segment
    leaves the heap lazily, once it has ended and reached the top.
    """
    starting: dict[int, list[tuple[tuple[int, ...], int, Limit]]] = {}
    bounds = {lo, hi}
    for rank, segments in ranked:
        for s, e, limit in segments:
            starting.setdefault(s, []).append((rank, e, limit))
            bounds.update((s, e))
    heap: list[tuple[tuple[int, ...], int, int, Limit]] = []
    out: list[_Piece] = []
    tie = 0
    for t, following in pairwise(sorted(b for b in bounds if lo <= b <= hi)):
        for rank, e, limit in starting.get(t, ()):
            tie += 1
            heapq.heappush(heap, (rank, e, tie, limit))
        while heap and heap[0][1] <= t:
            heapq.heappop(heap)
        _append(out, t, following, heap[0][3] if heap else None)
    return out


def _combine(
    timelines: Sequence[list[_Piece]],
    fn: Callable[[list[Limit | None]], Limit | None],
    hi: int,
) -> list[_Piece]:
    """Apply `fn` across timelines (each tiling the same window), piece by piece."""
    bounds = sorted({s for timeline in timelines for s, _, _ in timeline})
    at = [0] * len(timelines)
    out: list[_Piece] = []
    for i, t in enumerate(bounds):
        values = []
        for k, timeline in enumerate(timelines):
            while timeline[at[k]][1] <= t:
                at[k] += 1
            values.append(timeline[at[k]][2])
        _append(out, t, bounds[i + 1] if i + 1 < len(bounds) else hi, fn(values))
    return out


def _first(values: list[Limit | None]) -> Limit | None:
    return next((v for v in values if v is not None), None)


def _cap(values: list[Limit | None]) -> Limit | None:
    own, cap = values
    if cap is None:
        return own
    if own is None:
        return Limit(cap.amps, cap.phases)  # a station's cap says nothing of an EV's minimum
    return Limit(min(own.amps, cap.amps), min(own.phases, cap.phases), own.min_amps)


def _sum(values: list[Limit | None]) -> Limit | None:
    if not values or any(v is None for v in values):
        return None
    present = [v for v in values if v is not None]
    return Limit(sum(v.amps for v in present), max(v.phases for v in present))


@dataclass(frozen=True)
class _Window:
    lo: int
    hi: int
    voltage: float


def _station_max(profiles: Sequence[ChargingProfile], w: _Window) -> list[_Piece]:
    ranked = [
        ((-p.stack_level, p.id), _segments(p, w.lo, w.hi, w.lo, w.voltage))
        for p in profiles
        if p.purpose is Purpose.CHARGE_POINT_MAX
    ]
    return _winners(ranked, w.lo, w.hi)


def _own(
    profiles: Sequence[ChargingProfile], connector: int, session: Session | None, w: _Window
) -> list[_Piece]:
    """The connector's TxProfile over its TxDefaultProfile, before any station cap."""
    # Without a transaction, Relative profiles count from the window's start:
    # what a transaction starting now would get.
    origin = _ts(session.start) if session is not None else w.lo
    defaults = [
        (
            (-p.stack_level, 0 if p.connector == connector else 1, p.id),
            _segments(p, w.lo, w.hi, origin, w.voltage),
        )
        for p in profiles
        if p.purpose is Purpose.TX_DEFAULT and p.connector in (0, connector)
    ]
    tx = [
        ((-p.stack_level, p.id), _segments(p, w.lo, w.hi, origin, w.voltage))
        for p in profiles
        if p.purpose is Purpose.TX
        and p.connector == connector
        and session is not None
        and p.transaction_id in (None, session.transaction_id)
    ]
    return _combine([_winners(tx, w.lo, w.hi), _winners(defaults, w.lo, w.hi)], _first, w.hi)


def _composite_pieces(
    profiles: Sequence[ChargingProfile],
    connector: int,
    sessions: Mapping[int, Session],
    connectors: Sequence[int],
    w: _Window,
) -> list[_Piece]:
    own: list[_Piece]
    if connector == 0:
        owns = [_own(profiles, c, sessions.get(c), w) for c in connectors]
        own = _combine(owns, _sum, w.hi) if owns else [(w.lo, w.hi, None)]
    else:
        own = _own(profiles, connector, sessions.get(connector), w)
    return _combine([own, _station_max(profiles, w)], _cap, w.hi)


def composite_schedule(
    profiles: Iterable[ChargingProfile],
    connector: int,
    start: datetime,
    duration: int,
    unit: Unit,
    *,
    sessions: Mapping[int, Session] | None = None,
    connectors: Sequence[int] = (1,),
    voltage: float = 230.0,
) -> CompositeSchedule:
    """The limits for `connector` (0: the station) over [start, start + duration).

    `sessions` are the running transactions by connector; `connectors` the
    station's connectors (what connector 0 sums over). Periods tile the
    duration in order, each differing from the one before; a period's
    limit is None where nothing limits.
    """
    if duration <= 0:
        raise ValueError(f"a composite schedule needs a positive duration, not {duration}")
    lo = _ts(start)
    w = _Window(lo, lo + duration, voltage)
    pieces = _composite_pieces(list(profiles), connector, sessions or {}, connectors, w)
    periods: list[CompositePeriod] = []
    min_rates: list[float] = []
    for s, _, limit in pieces:
        if limit is None:
            period = CompositePeriod(s - lo, None)
        else:
            period = CompositePeriod(s - lo, limit.value(unit, voltage), limit.phases)
            if limit.min_amps is not None:
                min_rates.append(from_amps(limit.min_amps, unit, limit.phases, voltage))
        if periods and (periods[-1].limit, periods[-1].phases) == (period.limit, period.phases):
            continue
        periods.append(period)
    return CompositeSchedule(
        connector=connector,
        start=datetime.fromtimestamp(lo, UTC),
        duration=duration,
        unit=unit,
        periods=tuple(periods),
        min_rate=max(min_rates) if min_rates else None,
    )


def limits_in_force(
    profiles: Iterable[ChargingProfile],
    now: datetime,
    *,
    sessions: Mapping[int, Session],
    connectors: Sequence[int],
    voltage: float = 230.0,
    horizon: int = 3600,
) -> InForce:
    """Each connector's own limit and the station's cap at `now`, and when to look again.

    `next_change` is the first moment within `horizon` at which any of them
    changes, or the horizon's end: the work grows with the period boundaries
    in the horizon, and looking again in an hour costs less than a day's.
    """
    lo = _ts(now)
    w = _Window(lo, lo + horizon, voltage)
    listed = list(profiles)
    timelines = {c: _own(listed, c, sessions.get(c), w) for c in connectors}
    station = _station_max(listed, w)
    ends = [timeline[0][1] for timeline in (*timelines.values(), station)]
    return InForce(
        own={c: timeline[0][2] for c, timeline in timelines.items()},
        station=station[0][2],
        next_change=datetime.fromtimestamp(min(ends), UTC),
    )


def share(
    in_force: InForce,
    *,
    charging: Collection[int],
    phases: Mapping[int, int],
    rated: Mapping[int, float],
    min_offer: float = 0.0,
) -> dict[int, float]:
    """The current per phase to offer on each connector.

    Each connector's own limit (its EVSE's `rated` current where it has
    none) is capped by the station's ChargePointMaxProfile, which the
    `charging` connectors share: equal parts, a connector that needs less
    leaving the rest to the others. One whose part falls below its EV's
    minChargingRate gets 0 rather than charging inefficiently, and its part
    goes to the others (one connector at a time, highest number first). Idle
    connectors are offered what is left over, so that an EV that starts
    before the next sharing cannot overdraw.

    No connector is offered a current between 0 and `min_offer`: an AC
    EVSE cannot signal less than 6 A (IEC 61851-1), so such a part is 0,
    the EV pauses, and the part goes to the others.
    """
    cap = in_force.station
    total = math.inf if cap is None else cap.per_phase_on(max(phases.values(), default=1))
    want: dict[int, float] = {}
    floor: dict[int, float] = {}
    for c, own in in_force.own.items():
        limit = _cap([own, cap])
        want[c] = rated[c] if limit is None else min(rated[c], limit.per_phase_on(phases[c]))
        floor[c] = min_offer
        if own is not None and own.min_amps:
            floor[c] = max(min_offer, own.min_amps * min(1.0, own.phases / phases[c]))
    active = [c for c in sorted(charging) if c in want]
    dropped: set[int] = set()
    while True:
        offers, left = _fill({c: want[c] for c in active if c not in dropped}, total)
        low = [c for c, amps in offers.items() if amps < floor.get(c, 0.0)]
        if not low:
            break
        # One at a time, the highest number first: without it the parts of
        # the rest may be enough for them.
        dropped.add(max(low))
    result = {c: 0.0 for c in dropped} | offers
    for c in want:
        if c not in result:
            idle = min(want[c], left)
            result[c] = idle if idle >= min_offer else 0.0
    return result


def _fill(demand: Mapping[int, float], total: float) -> tuple[dict[int, float], float]:
    """Water-filling: equal parts of `total`, no one above its demand; and what is left."""
    offers: dict[int, float] = {}
    left = total
    waiting = sorted(demand, key=lambda c: demand[c])
    while waiting:
        part = left / len(waiting)
        c = waiting[0]
        if demand[c] <= part:
            offers[c] = demand[c]
            left -= demand[c]
            waiting.pop(0)
            continue
        for c in waiting:
            offers[c] = part
        return offers, 0.0
    return offers, left


# -- the wire ----------------------------------------------------------------------


def wire_schedule(
    composite: CompositeSchedule, unlimited: float, unlimited_phases: int | None = None
) -> dict[str, Any]:
    """The chargingSchedule of a GetCompositeSchedule.conf.

    1.6 has no "no limit": where there is none, `unlimited` (the rated
    maximum, in the composite's unit) stands in. Limits are rounded down to
    a multiple of 0.1, so what is reported is never above what applies.
    """
    periods: list[dict[str, Any]] = []
    for period in composite.periods:
        limit = unlimited if period.limit is None else min(period.limit, unlimited)
        phases = unlimited_phases if period.limit is None else period.phases
        entry: dict[str, Any] = {"startPeriod": period.start, "limit": floor_tenth(limit)}
        if phases is not None:
            entry["numberPhases"] = phases
        if periods and (periods[-1]["limit"], periods[-1].get("numberPhases")) == (
            entry["limit"],
            phases,
        ):
            continue
        periods.append(entry)
    schedule: dict[str, Any] = {
        "duration": composite.duration,
        "startSchedule": iso(composite.start),
        "chargingRateUnit": composite.unit.value,
        "chargingSchedulePeriod": periods,
    }
    if composite.min_rate is not None:
        schedule["minChargingRate"] = floor_tenth(composite.min_rate)
    return schedule


def seconds_until(later: datetime, now: datetime) -> float:
    return max((later - now) / timedelta(seconds=1), 0.0)
