"""OCPP 2.0.1 K Smart charging: 2.0.1 charging profiles in the shape 1.6's rules read.

The composite schedule, stacking, validity and the sharing of the
station's limit are 1.6's (`protocol.v16.smart_charging`): a 2.0.1
ChargingProfileType is read into 1.6's `ChargingProfile` (`to_rules`), and
back (`from_rules`, for a profile a 1.6 run stored). What 2.0.1 adds is
here: its checks with their reasonCodes (K01), the criteria of
GetChargingProfiles (K09) and ClearChargingProfile (K10), and the
CompositeScheduleType of GetCompositeSchedule (K08).

Decisions:

- ChargingStationMaxProfile is 1.6's ChargePointMaxProfile. A TxProfile's
  transactionId stays in the 2.0.1 profile and is checked when it is set
  (K01.FR.03, FR.09, FR.33); in the rules' shape it has none, so it applies
  to the transaction on its EVSE, which is the one it names, since a
  TxProfile is deleted when its transaction ends.
- Only the first chargingSchedule counts: more than one is for ISO 15118's
  choice of schedules, and the station's EVs are not ISO 15118 ones; a
  profile with more is Rejected (InvalidSchedule) rather than half-used.
- ChargingStationExternalConstraints come from the station's own side,
  never from the CSMS: SetChargingProfile with it is Rejected
  (UnsupportedPurpose), as libocpp does.
- Reason codes are libocpp's (K01 names none): InvalidValue,
  InvalidSchedule, UnsupportedRateUnit, MissingParam, TxNotFound,
  InvalidStackLevel, DuplicateProfile, UnsupportedPurpose.
- Every profile is the CSO's: chargingLimitSource CSO.

Pure: no I/O; time comes in as `now`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ocppstation.protocol.timestamps import ocpp_timestamp as iso
from ocppstation.protocol.v16.smart_charging import (
    ChargingProfile,
    CompositePeriod,
    CompositeSchedule,
    InForce,
    Kind,
    Limit,
    ProfileError,
    Purpose,
    Recurrency,
    Unit,
    check_profile,
    maybe_time,
    parse_profile,
    parse_schedule,
    profile_payload,
    schedule_payload,
    wire_schedule,
)

__all__ = [
    "CSO",
    "EXTERNAL_CONSTRAINTS",
    "NOT_THE_CSMS",
    "Refusal",
    "StoredProfile",
    "capped",
    "check",
    "clear_matches",
    "composite_payload",
    "conflict",
    "constrained",
    "from_rules",
    "from_stored",
    "report_matches",
    "stored_payload",
    "to_rules",
]

CSO = "CSO"
NOT_THE_CSMS = "ChargingStationExternalConstraints are not the CSMS's"
EXTERNAL_CONSTRAINTS = "ChargingStationExternalConstraints"
STATION_MAX = "ChargingStationMaxProfile"
_TO_RULES = {
    STATION_MAX: Purpose.CHARGE_POINT_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}
_FROM_RULES = {purpose: name for name, purpose in _TO_RULES.items()}
# Where storage keeps the 2.0.1 profile inside the 1.6 shape it indexes by.
_V201_KEY = "v201"


@dataclass(frozen=True)
class Refusal:
    """A SetChargingProfile Rejected: statusInfo's reasonCode and additionalInfo."""

    reason: str
    info: str

    def status_info(self) -> dict[str, str]:
        return {"reasonCode": self.reason, "additionalInfo": self.info[:512]}


@dataclass(frozen=True)
class StoredProfile:
    """An installed profile: the rules' view and the 2.0.1 one the CSMS sent."""

    evse: int
    rules: ChargingProfile
    wire: dict[str, Any]


# -- the mapping -------------------------------------------------------------------


def to_rules(data: Mapping[str, Any], evse: int) -> ChargingProfile:
    """A (schema-valid) ChargingProfileType installed on `evse` as 1.6's rules read it.

    Raises ProfileError for what names nothing the rules know (External
    constraints, a bad date) or for more than one schedule.
    """
    try:
        purpose = _TO_RULES[data["chargingProfilePurpose"]]
    except KeyError:
        raise ProfileError(
            f"chargingProfilePurpose {data.get('chargingProfilePurpose')} is not one a CSMS sets"
        ) from None
    schedules = data.get("chargingSchedule") or []
    if len(schedules) != 1:
        raise ProfileError(f"{len(schedules)} chargingSchedules: this station takes exactly one")
    try:
        schedule = parse_schedule(schedules[0])
        recurrency = data.get("recurrencyKind")
        return ChargingProfile(
            id=int(data["id"]),
            connector=evse,
            stack_level=int(data["stackLevel"]),
            purpose=purpose,
            kind=Kind(data["chargingProfileKind"]),
            schedule=schedule,
            recurrency=None if recurrency is None else Recurrency(recurrency),
            valid_from=maybe_time(data.get("validFrom")),
            valid_to=maybe_time(data.get("validTo")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"not a charging profile: {exc}") from None


def from_rules(profile: ChargingProfile, schedule_id: int | None = None) -> dict[str, Any]:
    """The rules' profile as a ChargingProfileType (a profile 1.6 installed, as 2.0.1 shows it)."""
    raw = {
        "id": profile.id if schedule_id is None else schedule_id,
        **schedule_payload(profile.schedule),
    }
    data: dict[str, Any] = {
        "id": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": _FROM_RULES[profile.purpose],
        "chargingProfileKind": profile.kind.value,
        "chargingSchedule": [raw],
    }
    if profile.transaction_id is not None:
        data["transactionId"] = str(profile.transaction_id)
    if profile.recurrency is not None:
        data["recurrencyKind"] = profile.recurrency.value
    if profile.valid_from is not None:
        data["validFrom"] = iso(profile.valid_from)
    if profile.valid_to is not None:
        data["validTo"] = iso(profile.valid_to)
    return data


def stored_payload(wire: Mapping[str, Any], rules: ChargingProfile) -> dict[str, Any]:
    """What storage keeps: 1.6's csChargingProfiles (which it indexes) holding the 2.0.1 profile."""
    return profile_payload(rules) | {_V201_KEY: dict(wire)}


def from_stored(data: Mapping[str, Any], evse: int) -> StoredProfile:
    """A stored profile: one 2.0.1 installed, or one a 1.6 run did (the store is shared)."""
    wire = data.get(_V201_KEY)
    if isinstance(wire, Mapping):
        return StoredProfile(evse, to_rules(wire, evse), dict(wire))
    rules = parse_profile(data, evse)
    # A 1.6 TxProfile's transactionId is the CSMS's integer: nothing 2.0.1 matches.
    rules = replace(rules, transaction_id=None)
    return StoredProfile(evse, rules, from_rules(rules))


# -- K01: what SetChargingProfile refuses ---------------------------------------------


def check(
    data: Mapping[str, Any],
    evse: int,
    *,
    evses: Collection[int],
    max_stack_level: int,
    max_periods: int,
    allowed_units: Collection[str],
    phase_switching: bool,
    now: datetime,
    remote_start: bool = False,
) -> ChargingProfile | Refusal:
    """The profile in the rules' shape if the station takes it on `evse`, or why not.

    What needs the station's state (the running transaction, the other
    profiles) is `conflict`'s and the actor's. A RequestStartTransaction's
    TxProfile (`remote_start`) names no transaction: it has none yet.
    """
    purpose = data.get("chargingProfilePurpose")
    if purpose == EXTERNAL_CONSTRAINTS:
        return Refusal("UnsupportedPurpose", NOT_THE_CSMS)
    if evse != 0 and evse not in evses:
        return Refusal("InvalidValue", f"there is no EVSE {evse}")  # K01.FR.28
    if purpose == STATION_MAX and evse != 0:
        return Refusal("InvalidValue", "a ChargingStationMaxProfile belongs on evseId 0")
    if purpose == "TxProfile" and evse == 0:
        return Refusal("InvalidValue", "a TxProfile belongs to an EVSE's transaction")  # K01.FR.16
    schedules = data.get("chargingSchedule") or []
    for raw in schedules:
        if raw.get("chargingRateUnit") not in allowed_units:
            return Refusal("UnsupportedRateUnit", f"chargingRateUnit {raw.get('chargingRateUnit')}")
        for period in raw.get("chargingSchedulePeriod", ()):
            refusal = _phase_refusal(period, phase_switching)
            if refusal is not None:
                return refusal
    try:
        profile = to_rules(data, evse)
        check_profile(
            profile,
            connectors=max(evses, default=0),
            max_stack_level=max_stack_level,
            max_periods=max_periods,
            allowed_units=frozenset(Unit(u) for u in allowed_units if u in ("A", "W")),
            now=now,
        )
    except ProfileError as exc:
        # 1.6's words name its keys; the limits are 2.0.1's variables here.
        text = (
            str(exc)
            .replace("ChargeProfileMaxStackLevel", "ProfileStackLevel")
            .replace("ChargingScheduleMaxPeriods", "PeriodsPerSchedule")
            .replace("ChargePointMaxProfile", STATION_MAX)
            .replace("connector", "EVSE")
        )
        reason = "InvalidStackLevel" if "stackLevel" in text else "InvalidSchedule"
        return Refusal(reason, text)
    if purpose == "TxProfile" and not remote_start and not data.get("transactionId"):
        return Refusal("MissingParam", "a TxProfile names its transactionId")  # K01.FR.03
    return profile


def _phase_refusal(period: Mapping[str, Any], phase_switching: bool) -> Refusal | None:
    if "phaseToUse" not in period:
        return None
    # K01.FR.19, FR.20: phaseToUse only for one phase, and only where the EVSE can switch.
    if period.get("numberPhases") != 1:
        return Refusal("InvalidSchedule", "phaseToUse needs numberPhases 1")
    if not phase_switching:
        return Refusal("InvalidSchedule", "phaseToUse: ACPhaseSwitchingSupported is false")
    return None


def _overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def window(p: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
        return maybe_time(p.get("validFrom")), maybe_time(p.get("validTo"))

    (a_from, a_to), (b_from, b_to) = window(a), window(b)
    starts_before_b_ends = a_from is None or b_to is None or a_from < b_to
    ends_after_b_starts = a_to is None or b_from is None or a_to > b_from
    return starts_before_b_ends and ends_after_b_starts


def conflict(
    data: Mapping[str, Any], evse: int, installed: Iterable[StoredProfile]
) -> Refusal | None:
    """Why `data` cannot join the installed profiles (another id in its place), if it cannot.

    A profile with its own id is replaced (K01.FR.05), so it never conflicts.
    """
    pid = int(data["id"])
    purpose, level = data["chargingProfilePurpose"], int(data["stackLevel"])
    for other in installed:
        wire = other.wire
        if int(wire["id"]) == pid or wire["chargingProfilePurpose"] != purpose:
            continue
        if int(wire["stackLevel"]) != level:
            continue
        if other.evse == evse and purpose != "TxProfile" and _overlap(data, wire):
            # K01.FR.06: one purpose and stack level per EVSE at any moment.
            return Refusal("DuplicateProfile", f"profile {wire['id']} has this stack level")
        if purpose == "TxDefaultProfile" and (other.evse == 0) != (evse == 0):
            # K01.FR.53: a station-wide and an EVSE's TxDefaultProfile never share a level.
            return Refusal("DuplicateProfile", f"TxDefaultProfile {wire['id']} has this level")
        if (
            purpose == "TxProfile"
            and other.evse == evse
            and wire.get("transactionId") == data.get("transactionId")
        ):
            # K01.FR.39: one TxProfile per stack level and transaction.
            return Refusal("InvalidStackLevel", f"TxProfile {wire['id']} has this stack level")
    return None


# -- K09, K10: criteria --------------------------------------------------------------


def report_matches(profile: StoredProfile, criteria: Mapping[str, Any], evse: int | None) -> bool:
    """Whether GetChargingProfiles with this chargingProfile criterion and evseId reports it.

    evseId 0 is the station-wide profiles only (K09.FR.05); absent, every EVSE.
    Each criterion given must hold (K09.FR.03).
    """
    wire = profile.wire
    if evse is not None and profile.evse != evse:
        return False
    ids = criteria.get("chargingProfileId")
    if ids and int(wire["id"]) not in ids:
        return False
    if "chargingProfilePurpose" in criteria and (
        wire["chargingProfilePurpose"] != criteria["chargingProfilePurpose"]
    ):
        return False
    if "stackLevel" in criteria and int(wire["stackLevel"]) != criteria["stackLevel"]:
        return False
    sources = criteria.get("chargingLimitSource")
    return not sources or CSO in sources


def clear_matches(
    profile: StoredProfile, profile_id: int | None, criteria: Mapping[str, Any] | None
) -> bool:
    """Whether ClearChargingProfile with this id and criteria clears it.

    An id names one profile and the criteria are not looked at; criteria
    alone clear what matches them all; neither clears every profile.
    """
    if profile_id is not None:
        return profile.rules.id == profile_id
    if not criteria:
        return True
    wire = profile.wire
    if "evseId" in criteria and profile.evse != criteria["evseId"]:
        return False
    if "chargingProfilePurpose" in criteria and (
        wire["chargingProfilePurpose"] != criteria["chargingProfilePurpose"]
    ):
        return False
    return "stackLevel" not in criteria or int(wire["stackLevel"]) == criteria["stackLevel"]


# -- K08: the composite schedule on the wire ---------------------------------------------


def composite_payload(
    composite: CompositeSchedule, evse: int, unlimited: float, unlimited_phases: int | None
) -> dict[str, Any]:
    """A CompositeScheduleType: 1.6's chargingSchedule (the rated maximum where
    nothing limits, limits rounded down to 0.1) in 2.0.1's fields."""
    schedule = wire_schedule(composite, unlimited, unlimited_phases)
    return {
        "evseId": evse,
        "duration": schedule["duration"],
        "scheduleStart": schedule["startSchedule"],
        "chargingRateUnit": schedule["chargingRateUnit"],
        "chargingSchedulePeriod": schedule["chargingSchedulePeriod"],
    }


# -- K11-K13: external limits ------------------------------------------------------------


def _tighter(limit: Limit | None, cap: Limit | None) -> Limit | None:
    if cap is None:
        return limit
    if limit is None:
        return cap
    return Limit(min(limit.amps, cap.amps), min(limit.phases, cap.phases), limit.min_amps)


def constrained(in_force: InForce, external: Mapping[int, Limit]) -> InForce:
    """The limits in force under external ones (evseId 0: the station's), never above either."""
    return InForce(
        own={n: _tighter(limit, external.get(n)) for n, limit in in_force.own.items()},
        station=_tighter(in_force.station, external.get(0)),
        next_change=in_force.next_change,
    )


def capped(composite: CompositeSchedule, cap: Limit | None, voltage: float) -> CompositeSchedule:
    """A composite schedule under a constant external limit (in the composite's unit)."""
    if cap is None:
        return composite
    value = cap.value(composite.unit, voltage)
    periods: list[CompositePeriod] = []
    for period in composite.periods:
        if period.limit is None or period.limit > value:
            phases = cap.phases if period.phases is None else min(period.phases, cap.phases)
            period = CompositePeriod(period.start, value, phases)
        if periods and (periods[-1].limit, periods[-1].phases) == (period.limit, period.phases):
            continue
        periods.append(period)
    return replace(composite, periods=tuple(periods))
