"""OCPP 2.0.1 K Smart charging: SetChargingProfile (K01), GetCompositeSchedule
(K08), GetChargingProfiles with ReportChargingProfiles (K09),
ClearChargingProfile (K10), and RequestStartTransaction's TxProfile (K05).

1.6's profiles actor (actors/v16/smart_charging.py) with 2.0.1's words: it
holds the profiles in the same store, works out the composite schedule and
the limit in force with the same rules, and offers each EVSE its current
as in 1.6 (the station's limit shared by the charging EVSEs). The 2.0.1
profile is read into the rules' shape by `protocol.v201.smart_charging`,
which also keeps the checks 2.0.1 adds; the CSMS's own profile is stored
beside it, so GetChargingProfiles reports what was sent.

Decisions:

- SmartChargingCtrlr: Enabled false answers every call NotSupported;
  ProfileStackLevel, PeriodsPerSchedule and RateUnit bound a profile;
  1.6's MaxChargingProfilesInstalled (OCPP16LegacyCtrlr) bounds how many are
  installed (Entries' maxLimit is not kept apart from it).
- A profile is replaced only by one of its id (K01.FR.05); another at the
  same EVSE, purpose and stack level is Rejected (K01.FR.06), where 1.6
  replaced it.
- A TxProfile's transactionId must be the transaction on its EVSE (read
  from storage: the one the connector began, whether or not the CSMS has
  heard of it yet).
- External limits (K11-K13) come from the embedder as `ExternalLimit`
  (told to `profiles`: an energy manager, a grid signal), only while
  ExternalControlSignalsEnabled is true. One is a constant limit on an EVSE
  or the station, kept in memory (its source says it again after a
  restart), and caps the offered current and the composite schedule like a
  ChargingStationMaxProfile. Setting or changing one by more than
  LimitChangeSignificance sends NotifyChargingLimit (with the limit as a
  schedule when NotifyChargingLimitWithSchedules), lifting it
  ClearedChargingLimit.
- K15-K17 ISO 15118 charging needs: an EV's needs (`EvNeedsStated`, from
  `Station.plug(n, needs=...)`) are sent at once as NotifyEVChargingNeeds.
  Accepted or Processing, the next TxProfile installed at that EVSE (after
  SetChargingProfile's answer) has the EV choose a schedule within the
  EVSE's composite schedule (`protocol.v201.ev_charging`), sent as
  NotifyEVChargingSchedule; each later TxProfile does it again. Rejected,
  or no answer, the EV charges with what the station offers and nothing
  more is said. Needs stated again replace them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ocppstation.actors.link.rpc import Answer, Outcome, submit
from ocppstation.actors.messages import EvNeedsStated
from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.context import RPC, StationContext
from ocppstation.actors.v16.smart_charging import (
    MAX_COMPOSITE_DURATION,
    STORAGE_TIMEOUT,
    Profiles,
    RemoteStartProfile,
)
from ocppstation.config.device_model import Address
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.errors import NotSupported, OcppError
from ocppstation.protocol.ev_needs import EvNeeds
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v16.smart_charging import (
    ChargingProfile,
    InForce,
    Limit,
    ProfileError,
    Unit,
    composite_schedule,
    from_amps,
    to_amps,
)
from ocppstation.protocol.v201 import ev_charging
from ocppstation.protocol.v201.smart_charging import (
    CSO,
    EXTERNAL_CONSTRAINTS,
    NOT_THE_CSMS,
    Refusal,
    StoredProfile,
    capped,
    check,
    clear_matches,
    composite_payload,
    conflict,
    constrained,
    from_rules,
    from_stored,
    report_matches,
    stored_payload,
)

__all__ = ["ACTIONS", "ExternalLimit", "Profiles201"]

ACTIONS = (
    "SetChargingProfile",
    "GetChargingProfiles",
    "ClearChargingProfile",
    "GetCompositeSchedule",
)
CTRLR = "SmartChargingCtrlr"
ENABLED = Address(CTRLR, "Enabled")
EXTERNAL_ENABLED = Address(CTRLR, "ExternalControlSignalsEnabled")
SIGNIFICANCE = Address(CTRLR, "LimitChangeSignificance")
WITH_SCHEDULES = Address(CTRLR, "NotifyChargingLimitWithSchedules")
PHASE_SWITCHING = Address(CTRLR, "ACPhaseSwitchingSupported")


@dataclass(frozen=True)
class ExternalLimit:
    """Tell, from an embedder: EVSE `evse` (0: the station) may draw no more
    than `limit` (in `unit`, on `phases`) on `source`'s word; None lifts it."""

    evse: int
    limit: float | None
    unit: str = "A"
    phases: int = 3
    source: str = "EMS"
    grid_critical: bool | None = None


@dataclass(frozen=True)
class _Report:
    """After GetChargingProfiles' answer: the ReportChargingProfiles to send."""

    reports: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class _NeedsAnswered:
    evse: int
    needs: EvNeeds
    outcome: Outcome


@dataclass(frozen=True)
class _EvSchedule:
    """After SetChargingProfile's answer: the EV at `evse` chooses its schedule."""

    evse: int


def _status(status: str, refusal: Refusal | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status}
    if refusal is not None:
        out["statusInfo"] = refusal.status_info()
    return out


class Profiles201(Profiles):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        # Before the 1.6 setup reads the store through `stored_profile`.
        self.wire: dict[int, StoredProfile] = {}
        self.pending_wire: dict[int, dict[str, Any]] = {}
        self.external: dict[int, tuple[ExternalLimit, Limit]] = {}
        # K15: each EVSE's EV needs the CSMS took (Accepted or Processing).
        self.ev_needs: dict[int, EvNeeds] = {}
        super().__init__(place, ctx)

    # -- the 1.6 actor's hooks -----------------------------------------------------------

    def enabled(self) -> bool:
        return self.ctx.settings.view.at(ENABLED) is not False

    def stored_profile(self, data: Mapping[str, Any], connector: int) -> ChargingProfile:
        stored = from_stored(data, connector)
        self.wire[stored.rules.id] = stored
        return stored.rules

    def stored_payload(self, profile: ChargingProfile) -> dict[str, Any]:
        wire = self.pending_wire.pop(profile.connector, None) or from_rules(profile)
        running = self._running(profile.connector)
        if running is not None:
            # A remote start's TxProfile, now its transaction has begun: it is
            # reported naming the transaction it belongs to.
            wire = {**wire, "transactionId": running}
        self.wire[profile.id] = StoredProfile(profile.connector, profile, wire)
        return stored_payload(wire, profile)

    def _replaced(self, profile: ChargingProfile) -> list[int]:
        # K01.FR.05: only its own id; a profile in another's place is refused first.
        return [profile.id] if profile.id in self.profiles else []

    def _check(self, data: Mapping[str, Any], connector: int) -> ChargingProfile:
        checked = self._checked(data, connector, remote_start=True)
        if isinstance(checked, Refusal):
            raise ProfileError(f"{checked.reason}: {checked.info}")
        return checked

    def _remote_start(self, message: RemoteStartProfile) -> str | None:
        refused = super()._remote_start(message)
        if refused is None:
            self.pending_wire[message.evse] = dict(message.profile)
        return refused

    def _forget(self, ids: list[int]) -> None:
        super()._forget(ids)
        for pid in ids:
            self.wire.pop(pid, None)

    def constrained(self, in_force: InForce) -> InForce:
        return constrained(in_force, {n: limit for n, (_, limit) in self.external.items()})

    def receive(self, message: Any) -> Any:
        if isinstance(message, _Report):
            for report in message.reports:
                self._send("ReportChargingProfiles", report)
            return None
        if isinstance(message, ExternalLimit):
            self._external_limit(message)
            return None
        if isinstance(message, EvNeedsStated):
            self._needs(message.evse, message.needs)
            return None
        if isinstance(message, _NeedsAnswered):
            self._needs_answered(message)
            return None
        if isinstance(message, _EvSchedule):
            self._ev_schedule(message.evse)
            return None
        return super().receive(message)

    # -- K15-K17 ISO 15118 charging needs ----------------------------------------------------

    def _needs(self, evse: int, needs: EvNeeds) -> None:
        if evse not in self.evses:
            self.log.warning("charging needs for EVSE %s, which does not exist", evse)
            return
        self.ev_needs.pop(evse, None)
        request = dump(ev_charging.needs_request(evse, needs, self.ctx.clock.wall()))
        try:
            submit(
                self.ctx,
                "NotifyEVChargingNeeds",
                request,
                reply_to=self.actor_ref,
                wrap=lambda outcome: _NeedsAnswered(evse, needs, outcome),
            )
        except Exception as exc:  # the link restarting: the EV charges without a schedule
            self.log.warning("NotifyEVChargingNeeds not sent: %s", exc)

    def _needs_answered(self, message: _NeedsAnswered) -> None:
        result = message.outcome.result
        status = None if result is None else result.get("status")
        if status in ("Accepted", "Processing"):
            # Processing: the CSMS is still working out a schedule; a TxProfile follows.
            self.ev_needs[message.evse] = message.needs
            return
        self.log.info(
            "NotifyEVChargingNeeds at EVSE %d: %s; the EV charges without a schedule",
            message.evse,
            status or message.outcome.error,
        )

    def _ev_schedule(self, evse: int) -> None:
        needs = self.ev_needs.get(evse)
        if needs is None or self._running(evse) is None:
            self.ev_needs.pop(evse, None)
            return
        composite = self._composite_of(
            evse, ev_charging.horizon(needs), Unit(ev_charging.unit_of(needs))
        )
        request = dump(ev_charging.schedule_request(evse, composite, needs))
        self._send("NotifyEVChargingSchedule", request)

    def _send(self, action: str, payload: dict[str, Any]) -> None:
        try:
            submit(self.ctx, action, payload)
        except Exception as exc:  # the link restarting: a report the CSMS may ask for again
            self.log.warning("%s not sent: %s", action, exc)

    # -- K11-K13 external limits ------------------------------------------------------------

    def _external_limit(self, message: ExternalLimit) -> None:
        if message.evse != 0 and message.evse not in self.evses:
            self.log.warning("external limit for EVSE %s, which does not exist", message.evse)
            return
        if self.ctx.settings.view.at(EXTERNAL_ENABLED) is not True:
            self.log.info("external limit ignored: ExternalControlSignalsEnabled is false")
            return
        where = {"evseId": message.evse} if message.evse else {}
        before = self.external.pop(message.evse, None)
        if message.limit is None:
            if before is not None:
                self._apply()
                source = before[0].source
                self._send("ClearedChargingLimit", {"chargingLimitSource": source, **where})
            return
        unit = Unit(message.unit)
        limit = Limit(to_amps(message.limit, unit, message.phases, self.voltage), message.phases)
        self.external[message.evse] = (message, limit)
        self._apply()
        if before is not None and not self._significant(before[1], limit):
            return
        charging_limit: dict[str, Any] = {"chargingLimitSource": message.source}
        if message.grid_critical is not None:
            charging_limit["isGridCritical"] = message.grid_critical
        payload: dict[str, Any] = {"chargingLimit": charging_limit, **where}
        if self.ctx.settings.view.at(WITH_SCHEDULES) is True:
            period = {"startPeriod": 0, "limit": message.limit, "numberPhases": message.phases}
            schedule = {"id": 0, "chargingRateUnit": unit.value, "chargingSchedulePeriod": [period]}
            payload["chargingSchedule"] = [schedule]
        self._send("NotifyChargingLimit", payload)

    def _significant(self, before: Limit, after: Limit) -> bool:
        # K12.FR.02: a change smaller than LimitChangeSignificance (percent) goes unsaid.
        percent = self.ctx.settings.view.at(SIGNIFICANCE)
        threshold = float(percent) if isinstance(percent, int | float) else 0.0
        old, new = before.amps * before.phases, after.amps * after.phases
        return old == 0 or abs(new - old) / old * 100 > threshold

    # -- CSMS calls --------------------------------------------------------------------

    def _inbound(self, call: Call) -> None:
        result: dict[str, Any] | OcppError
        then: _Report | _EvSchedule | None = None
        try:
            if not self.enabled():
                raise NotSupported(f"{call.action}: SmartChargingCtrlr is not enabled")
            payload = call.payload
            match call.action:
                case "SetChargingProfile":
                    result = self._set201(int(payload["evseId"]), payload["chargingProfile"])
                case "GetChargingProfiles":
                    result, then = self._get_profiles(payload)
                case "ClearChargingProfile":
                    result = self._clear201(payload)
                case "GetCompositeSchedule":
                    result = self._composite201(payload)
                case _:
                    raise NotSupported(f"{call.action} is not answered here")
        except OcppError as exc:
            result = exc
        if (
            call.action == "SetChargingProfile"
            and isinstance(result, dict)
            and result.get("status") == "Accepted"
            and call.payload["chargingProfile"].get("chargingProfilePurpose") == "TxProfile"
            and int(call.payload["evseId"]) in self.ev_needs
        ):
            then = _EvSchedule(int(call.payload["evseId"]))
        notify = None if then is None else self.actor_ref
        self.ctx.registry.tell(RPC, Answer(call, result, notify, then))

    def _installed(self) -> list[StoredProfile]:
        return [self.wire[pid] for pid in sorted(self.profiles) if pid in self.wire]

    def _units(self) -> tuple[str, ...]:
        # The value is shared with 1.6, whose words for it are Current and Power.
        words = {"Current": "A", "Power": "W"}
        return tuple(words.get(u, u) for u in self.ctx.setting(Setting.RATE_UNITS, ("A", "W")))

    def _checked(
        self, data: Mapping[str, Any], evse: int, *, remote_start: bool = False
    ) -> ChargingProfile | Refusal:
        checked = check(
            data,
            evse,
            evses=self.evses,
            max_stack_level=int(self.ctx.setting(Setting.PROFILE_MAX_STACK_LEVEL, 10)),
            max_periods=int(self.ctx.setting(Setting.PERIODS_PER_SCHEDULE, 96)),
            allowed_units=self._units(),
            phase_switching=self.ctx.settings.view.at(PHASE_SWITCHING) is True,
            now=self.ctx.clock.wall(),
            remote_start=remote_start,
        )
        if isinstance(checked, Refusal):
            return checked
        return conflict(data, evse, self._installed()) or checked

    def _running(self, evse: int) -> str | None:
        for record in self.ctx.storage().transactions.open().get(timeout=STORAGE_TIMEOUT):
            if record.connector == evse and record.transaction_id is not None:
                return str(record.transaction_id)
        return None

    def _set201(self, evse: int, data: dict[str, Any]) -> dict[str, Any]:
        checked = self._checked(data, evse)
        if not isinstance(checked, Refusal) and checked.purpose.value == "TxProfile":
            running = self._running(evse)
            if running is None:  # K01.FR.09
                checked = Refusal("TxNotFound", f"no transaction on EVSE {evse}")
            elif running != data.get("transactionId"):  # K01.FR.33
                checked = Refusal("TxNotFound", f"EVSE {evse} runs transaction {running}")
        if not isinstance(checked, Refusal) and not self._room_for(checked):
            checked = Refusal("OutOfStorage", "MaxChargingProfilesInstalled reached")
        if isinstance(checked, Refusal):
            self.log.info("SetChargingProfile refused: %s (%s)", checked.reason, checked.info)
            return _status("Rejected", checked)
        self.wire[checked.id] = StoredProfile(evse, checked, dict(data))
        self._install(checked, stored_payload(data, checked))
        return _status("Accepted")

    def _get_profiles(self, payload: Mapping[str, Any]) -> tuple[dict[str, Any], _Report | None]:
        criteria = payload.get("chargingProfile") or {}
        evse = payload.get("evseId")
        matched = [p for p in self._installed() if report_matches(p, criteria, evse)]
        if not matched:
            return _status("NoProfiles"), None
        by_evse: dict[int, list[dict[str, Any]]] = {}
        for stored in matched:
            by_evse.setdefault(stored.evse, []).append(stored.wire)
        reports = [
            {
                "requestId": payload["requestId"],  # K09.FR.01
                "chargingLimitSource": CSO,
                "evseId": n,
                "chargingProfile": profiles,
                "tbc": i + 1 < len(by_evse),
            }
            for i, (n, profiles) in enumerate(sorted(by_evse.items()))
        ]
        return _status("Accepted"), _Report(tuple(reports))

    def _clear201(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        criteria = payload.get("chargingProfileCriteria")
        if criteria and criteria.get("chargingProfilePurpose") == EXTERNAL_CONSTRAINTS:
            # K10.FR.06: the CSMS cannot clear what the station's own side set.
            refusal = Refusal("InvalidValue", NOT_THE_CSMS)
            return _status("Unknown", refusal)
        pid = payload.get("chargingProfileId")
        matched = [p.rules.id for p in self._installed() if clear_matches(p, pid, criteria)]
        if not matched:
            return _status("Unknown")
        self._forget(matched)
        self._apply()
        return _status("Accepted")

    def _composite201(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        evse, duration = int(payload["evseId"]), int(payload["duration"])
        if evse != 0 and evse not in self.evses:
            return _status("Rejected", Refusal("InvalidValue", f"there is no EVSE {evse}"))
        units = self._units()
        unit = Unit(payload.get("chargingRateUnit") or (units[0] if units else "A"))
        if duration <= 0:
            return _status("Rejected", Refusal("InvalidValue", "duration must be positive"))
        return {"status": "Accepted", "schedule": self._composite_of(evse, duration, unit)}

    def _composite_of(self, evse: int, duration: int, unit: Unit) -> dict[str, Any]:
        """EVSE `evse`'s CompositeScheduleType for `duration` seconds from now."""
        # The answer's own duration says how far the schedule really goes.
        duration = min(duration, MAX_COMPOSITE_DURATION)
        composite = composite_schedule(
            self.profiles.values(),
            evse,
            self.ctx.clock.wall(),
            duration,
            unit,
            sessions=self.sessions,
            connectors=self.evses,
            voltage=self.voltage,
        )
        for n in {evse, 0}:
            if n in self.external:
                composite = capped(composite, self.external[n][1], self.voltage)
        wired = self.evses if evse == 0 else [evse]
        phases = max(self.phases[n] for n in wired)
        unlimited = sum(from_amps(self.rated[n], unit, self.phases[n], self.voltage) for n in wired)
        return composite_payload(composite, evse, unlimited, phases)
