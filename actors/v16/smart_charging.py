"""The profiles actor: charging profiles, composite schedules, and the current each EVSE offers.

It answers SetChargingProfile, ClearChargingProfile and GetCompositeSchedule
(OCPP 1.6 Smart Charging), keeps the installed profiles in SQLite, and
pushes the limit in force to every EVSE's board as the current to offer
(`OfferCurrent`, which the simulated EV then draws no more than). The
limit is worked out again whenever it may change: a profile set or
cleared, a transaction beginning or ending, and on a timer at the next
period boundary, validity edge or recurrence (on the station's clock, so
tests run it in virtual time). What is computed is in the pure
`protocol.v16.smart_charging`; this actor holds the state and does the I/O.

Decisions:

- The ChargePointMaxProfile is the grid connection's limit: connectors
  with a running transaction share it (equal parts; one needing less leaves
  the rest to the others; an EV whose part is below its minChargingRate gets
  none), idle connectors are offered what is left over. GetCompositeSchedule
  for one connector shows its profiles capped by the ChargePointMaxProfile,
  not its share (the share depends on who else charges, as 1.6 notes).
- Where no profile limits, the EVSE's rated current is offered and reported
  (1.6 has no "no limit" on the wire).
- A TxProfile lives as long as its transaction: it is deleted when the
  transaction ends. One that came with a RemoteStartTransaction waits here
  until that transaction begins (same connector, same idTag), at most
  ConnectionTimeOut plus CallTimeout.
- Limits go out rounded down to 0.1 A (or W), never above what applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pykka

from ocppstation.actors.events import (
    ChargingProfilesChanged,
    LimitChanged,
    TransactionStarted,
    TransactionStopped,
)
from ocppstation.actors.evse.hardware import OfferCurrent, OfferWanted
from ocppstation.actors.link.rpc import Answer, Inbound
from ocppstation.actors.messages import EvNeedsStated, TransactionBegins, TransactionEnds
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import RPC, StationContext, evse_path
from ocppstation.config.settings_catalog import Setting
from ocppstation.hw.devices import parse as parse_hardware
from ocppstation.protocol.errors import NotSupported, OcppError
from ocppstation.protocol.framing import Call
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.smart_charging import (
    DEFAULT_PHASES,
    ChargingProfile,
    InForce,
    ProfileError,
    Purpose,
    Session,
    Unit,
    check_profile,
    composite_schedule,
    floor_tenth,
    from_amps,
    limits_in_force,
    parse_profile,
    parse_time,
    profile_payload,
    seconds_until,
    share,
    units_allowed,
    wire_schedule,
)

__all__ = ["ACTIONS", "Profiles", "RemoteStartProfile", "TransactionBegins", "TransactionEnds"]

# The CSMS calls this actor answers (station.ROUTES sends them here).
ACTIONS = ("SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule")
SMART_CHARGING = "SmartCharging"
STORAGE_TIMEOUT = 10.0
# The longest composite schedule we work out: a month covers every recurrence.
MAX_COMPOSITE_DURATION = 31 * 24 * 3600
# A board asked to change its offer answers at once when simulated; a serial
# one sends a command and may take its driver's timeout.
BOARD_TIMEOUT = 2.0


@dataclass(frozen=True)
class RemoteStartProfile:
    """Ask, from the remote control block: a RemoteStartTransaction for `evse` and
    `id_tag` carries this chargingProfile. Answers None when it will be that
    transaction's TxProfile, or the reason it is refused (then the
    RemoteStartTransaction is Rejected)."""

    evse: int
    id_tag: str
    profile: dict[str, Any]


@dataclass(frozen=True)
class _Tick:
    seq: int


@dataclass(frozen=True)
class _PendingExpired:
    evse: int
    seq: int


@dataclass(frozen=True)
class _Pending:
    id_tag: str
    profile: ChargingProfile
    seq: int


def _wanted(event: object) -> object | None:
    # TransactionStopped too: a transaction a connector ends at start-up
    # (PowerLoss, from an earlier run) does not come as TransactionEnds.
    if isinstance(event, (TransactionStarted, TransactionStopped)):
        return event
    return None


class Profiles(Supervised):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.evses = ctx.config.evse_numbers
        self.voltage = float(ctx.config.value("Internal", "SupplyVoltage"))
        self.min_offer = float(ctx.config.value("Internal", "MinimumChargingCurrent"))
        hardware = parse_hardware(ctx.config)
        self.rated: dict[int, float] = {}
        self.phases: dict[int, int] = {}
        for n in self.evses:
            board = hardware.evse(n).board
            self.rated[n] = (
                board.max_current
                if board is not None
                else float(ctx.config.value("Simulation", "MaxCurrentA"))
            )
            # A serial board does not say how it is wired; three phases is the
            # careful guess (it makes a single-phase limit the smaller current).
            self.phases[n] = (
                DEFAULT_PHASES
                if board is not None
                else int(ctx.config.value("Simulation", "Phases"))
            )
        self.profiles: dict[int, ChargingProfile] = {}
        self.sessions: dict[int, Session] = {}
        self.pending: dict[int, _Pending] = {}
        self.offers: dict[int, float] = {}
        self.timer: int | None = None
        self.seq = 0  # of the boundary timer: only the latest one counts
        self.pending_seq = 0
        self.counted: int | None = None  # the profile count last published
        # Subscribed before our thread runs: a connector that starts right
        # after us may end or begin a transaction before our setup.
        self._unsubscribe = ctx.forward(self.actor_ref, _wanted)

    # -- lifecycle ---------------------------------------------------------------

    def setup(self) -> None:
        storage = self.ctx.storage()
        for connector, data in storage.profiles.all().get(timeout=STORAGE_TIMEOUT):
            try:
                profile = self.stored_profile(data, connector)
            except ProfileError as exc:  # written by another release: not ours to guess at
                self.log.warning("stored charging profile skipped: %s", exc)
                continue
            self.profiles[profile.id] = profile
        for record in storage.transactions.open().get(timeout=STORAGE_TIMEOUT):
            self.sessions[record.connector] = Session(
                parse_time(record.started_at), record.transaction_id
            )
        self._apply()

    def teardown(self) -> None:
        self._unsubscribe()
        self.ctx.cancel(self.timer)

    def receive(self, message: Any) -> Any:
        match message:
            case Inbound(call=call):
                self._inbound(call)
            case RemoteStartProfile():
                return self._remote_start(message)
            case TransactionBegins():
                self._began(message)
            # 1.6 transaction ids are the CSMS's integers.
            case TransactionStarted(evse=evse, transaction_id=int(tid)) if evse in self.sessions:
                self._identified(evse, tid)
            case TransactionStarted():
                pass
            case TransactionEnds(evse=evse) | TransactionStopped(evse=evse):
                self._stopped(evse)
            case OfferWanted(evse=evse):
                # A (re)started board knows nothing of our limit: send it again.
                self.offers.pop(evse, None)
                self._apply()
            case _Tick(seq=seq) if seq == self.seq:
                self._apply()
            case _Tick():
                pass
            case _PendingExpired(evse=evse, seq=seq):
                if (pending := self.pending.get(evse)) is not None and pending.seq == seq:
                    self.log.info("TxProfile %d for %s expired unused", pending.profile.id, evse)
                    del self.pending[evse]
            case EvNeedsStated(evse=evse):
                # ISO 15118 charging needs have no 1.6 message (2.0.1's profiles block sends them).
                self.log.info("EVSE %d: the EV's charging needs go unsaid in OCPP 1.6", evse)
            case _:
                return super().receive(message)
        return None

    # -- CSMS calls ----------------------------------------------------------------

    def _inbound(self, call: Call) -> None:
        result: dict[str, Any] | OcppError
        try:
            if not self.enabled():
                raise NotSupported(f"{call.action}: this station does not do Smart Charging")
            match call.action:
                case "SetChargingProfile":
                    result = self._set(
                        call.payload["connectorId"], call.payload["csChargingProfiles"]
                    )
                case "ClearChargingProfile":
                    result = self._clear(call.payload)
                case "GetCompositeSchedule":
                    result = self._composite(call.payload)
                case _:
                    raise NotSupported(f"{call.action} is not answered here")
        except OcppError as exc:
            result = exc
        self.ctx.registry.tell(RPC, Answer(call, result))

    # -- hooks: what the 2.0.1 block (actors/v201/smart_charging.py) says its own way ----

    def enabled(self) -> bool:
        """Whether the station does smart charging now."""
        return SMART_CHARGING in self.ctx.setting(Setting.FEATURE_PROFILES, ())

    def stored_profile(self, data: Mapping[str, Any], connector: int) -> ChargingProfile:
        """A profile as storage gave it back; ProfileError if it names nothing."""
        return parse_profile(data, connector)

    def stored_payload(self, profile: ChargingProfile) -> dict[str, Any]:
        """What storage keeps of a profile installed without a CSMS call (a remote start's)."""
        return profile_payload(profile)

    def constrained(self, in_force: InForce) -> InForce:
        """The limits in force, under whatever else limits them (2.0.1's external ones)."""
        return in_force

    def _check(self, data: Mapping[str, Any], connector: int) -> ChargingProfile:
        """The profile, if a careful station takes it; ProfileError says why not."""
        profile = parse_profile(data, connector)
        allowed = self.ctx.setting(Setting.RATE_UNITS, ("Current", "Power"))
        check_profile(
            profile,
            connectors=len(self.evses),
            max_stack_level=int(self.ctx.setting(Setting.PROFILE_MAX_STACK_LEVEL, 10)),
            max_periods=int(self.ctx.setting(Setting.PERIODS_PER_SCHEDULE, 96)),
            allowed_units=units_allowed(allowed),
            now=self.ctx.clock.wall(),
        )
        return profile

    def _replaced(self, profile: ChargingProfile) -> list[int]:
        """Installed profiles the new one replaces: same id, or same connector,
        stack level and purpose (1.6 section 5.16)."""
        key = (profile.connector, profile.stack_level, profile.purpose)
        return [
            p.id
            for p in self.profiles.values()
            if p.id == profile.id or (p.connector, p.stack_level, p.purpose) == key
        ]

    def _room_for(self, profile: ChargingProfile, waiting: int = 0) -> bool:
        limit = int(self.ctx.setting(Setting.MAX_PROFILES_INSTALLED, 64))
        return len(self.profiles) - len(self._replaced(profile)) + waiting + 1 <= limit

    def _set(self, connector: int, data: dict[str, Any]) -> dict[str, Any]:
        try:
            profile = self._check(data, connector)
        except ProfileError as exc:
            self.log.info("SetChargingProfile refused: %s", exc)
            return {"status": "Rejected"}
        if profile.purpose is Purpose.TX:
            session = self.sessions.get(connector)
            if session is None:
                self.log.info("TxProfile refused: no transaction on connector %d", connector)
                return {"status": "Rejected"}
            if profile.transaction_id not in (None, session.transaction_id):
                self.log.info(
                    "TxProfile refused: transaction %s is not the one on connector %d (%s)",
                    profile.transaction_id,
                    connector,
                    session.transaction_id,
                )
                return {"status": "Rejected"}
        if not self._room_for(profile):
            self.log.info("SetChargingProfile refused: MaxChargingProfilesInstalled reached")
            return {"status": "Rejected"}
        self._install(profile, data)
        return {"status": "Accepted"}

    def _install(self, profile: ChargingProfile, data: dict[str, Any]) -> None:
        # Stored before it counts: an Accepted profile survives a crash.
        replaced = self._replaced(profile)
        self.ctx.storage().profiles.put(profile.connector, data, replaced).get(
            timeout=STORAGE_TIMEOUT
        )
        for pid in replaced:
            del self.profiles[pid]
        self.profiles[profile.id] = profile
        self._apply()

    def _clear(self, payload: dict[str, Any]) -> dict[str, Any]:
        pid = payload.get("id")
        criteria = {
            "connector": payload.get("connectorId"),
            "purpose": payload.get("chargingProfilePurpose"),
            "stack_level": payload.get("stackLevel"),
        }
        given = {k: v for k, v in criteria.items() if v is not None}
        matched = [pid] if pid in self.profiles else []
        # With an id that matches nothing, the other fields may still say what
        # to clear; an id alone that matches nothing clears nothing.
        if not matched and (pid is None or given):
            matched = [
                p.id
                for p in self.profiles.values()
                if given.get("connector", p.connector) == p.connector
                and given.get("purpose", p.purpose.value) == p.purpose.value
                and given.get("stack_level", p.stack_level) == p.stack_level
            ]
        if not matched:
            return {"status": "Unknown"}
        self._forget(matched)
        self._apply()
        return {"status": "Accepted"}

    def _forget(self, ids: list[int]) -> None:
        self.ctx.storage().profiles.delete(ids).get(timeout=STORAGE_TIMEOUT)
        for pid in ids:
            self.profiles.pop(pid, None)

    def _composite(self, payload: dict[str, Any]) -> dict[str, Any]:
        connector, duration = payload["connectorId"], payload["duration"]
        if not 0 <= connector <= len(self.evses) or duration <= 0:
            return {"status": "Rejected"}
        # A CSMS asking for years would tie this actor up; the answer's own
        # duration says how far the schedule really goes.
        duration = min(duration, MAX_COMPOSITE_DURATION)
        unit = Unit(payload.get("chargingRateUnit") or self._default_unit())
        now = self.ctx.clock.wall()
        composite = composite_schedule(
            self.profiles.values(),
            connector,
            now,
            duration,
            unit,
            sessions=self.sessions,
            connectors=self.evses,
            voltage=self.voltage,
        )
        wired = self.evses if connector == 0 else [connector]
        phases = max(self.phases[n] for n in wired)
        unlimited = sum(from_amps(self.rated[n], unit, self.phases[n], self.voltage) for n in wired)
        return {
            "status": "Accepted",
            "connectorId": connector,
            "scheduleStart": ocpp_timestamp(composite.start),
            "chargingSchedule": wire_schedule(composite, unlimited, phases),
        }

    def _default_unit(self) -> str:
        # The request may leave the unit to us: the first the station allows.
        allowed = sorted(units_allowed(self.ctx.setting(Setting.RATE_UNITS, ())))
        return allowed[0].value if allowed else Unit.A.value

    # -- RemoteStartTransaction's TxProfile -------------------------------------------

    def _remote_start(self, message: RemoteStartProfile) -> str | None:
        if not self.enabled():
            return "this station does not do Smart Charging"
        try:
            profile = self._check(message.profile, message.evse)
        except ProfileError as exc:
            return str(exc)
        if profile.purpose is not Purpose.TX:
            return f"a RemoteStartTransaction's profile must be a TxProfile, not {profile.purpose}"
        if profile.transaction_id is not None:
            return "the transaction has no id yet: a transactionId cannot match it"
        waiting = sum(1 for evse in self.pending if evse != message.evse)
        if not self._room_for(profile, waiting):
            return "MaxChargingProfilesInstalled reached"
        self.pending_seq += 1
        self.pending[message.evse] = _Pending(message.id_tag, profile, self.pending_seq)
        lifetime = float(self.ctx.setting(Setting.EV_CONNECTION_TIMEOUT, 60)) + float(
            self.ctx.config.value("Internal", "CallTimeout")
        )
        expired = _PendingExpired(message.evse, self.pending_seq)
        self.ctx.call_later(lifetime, self.actor_ref, expired)
        return None

    # -- transactions --------------------------------------------------------------------

    def _began(self, event: TransactionBegins) -> None:
        self.sessions[event.evse] = Session(parse_time(event.started_at))
        pending = self.pending.pop(event.evse, None)
        if pending is not None and pending.id_tag.casefold() == event.id_tag.casefold():
            self._install(pending.profile, self.stored_payload(pending.profile))
            return
        if pending is not None:
            self.log.info("TxProfile %d dropped: another transaction began", pending.profile.id)
        self._apply()

    def _identified(self, evse: int, transaction_id: int) -> None:
        self.sessions[evse] = Session(self.sessions[evse].start, transaction_id)
        # Only a TxProfile naming a transaction cares that its id is now known.
        if any(
            p.purpose is Purpose.TX and p.connector == evse and p.transaction_id is not None
            for p in self.profiles.values()
        ):
            self._apply()

    def _stopped(self, evse: int) -> None:
        # Told twice for most stops (TransactionEnds, then the event): the
        # second finds nothing to do.
        ran = self.sessions.pop(evse, None) is not None
        ended = [
            p.id for p in self.profiles.values() if p.purpose is Purpose.TX and p.connector == evse
        ]
        if ended:
            self._forget(ended)  # a TxProfile lives as long as its transaction
        if ran or ended:
            self._apply()

    # -- the limit in force -----------------------------------------------------------------

    def _apply(self) -> None:
        """Work out what every EVSE may offer now, tell the boards that changed,
        and look again at the next moment anything may change."""
        now = self.ctx.clock.wall()
        self._expire(now)
        in_force = limits_in_force(
            self.profiles.values(),
            now,
            sessions=self.sessions,
            connectors=self.evses,
            voltage=self.voltage,
        )
        in_force = self.constrained(in_force)
        offers = share(
            in_force,
            charging=set(self.sessions),
            phases=self.phases,
            rated=self.rated,
            min_offer=self.min_offer,
        )
        rounded = {evse: floor_tenth(amps) for evse, amps in offers.items()}
        taken = self._push({e: a for e, a in rounded.items() if self.offers.get(e) != a})
        self.ctx.cancel(self.timer)
        self.seq += 1
        self.timer = self.ctx.call_later(
            seconds_until(in_force.next_change, now), self.actor_ref, _Tick(self.seq)
        )
        # Last, so that whoever waits for these finds the next timer armed.
        for evse, amps in taken.items():
            self.ctx.bus.publish(LimitChanged(evse, amps))
        # Every change of the installed profiles ends here (set, cleared, a
        # transaction's end, expiry, our start): 2.0.1 reports the count live.
        if self.counted != len(self.profiles):
            self.counted = len(self.profiles)
            self.ctx.bus.publish(ChargingProfilesChanged(self.counted))

    def _push(self, offers: Mapping[int, float]) -> dict[int, float]:
        # Asked, not told, and all at once: when this returns the EVs see the
        # new offer, and one slow serial board does not hold up the others.
        futures = {}
        for evse, amps in offers.items():
            ref = self.ctx.registry.get(evse_path(evse, "board"))
            if ref is None:
                continue  # not running: it asks (OfferWanted) when it starts
            try:
                futures[evse] = (amps, ref.ask(OfferCurrent(amps), block=False))
            except pykka.ActorDeadError:
                continue
        taken: dict[int, float] = {}
        for evse, (amps, future) in futures.items():
            try:
                future.get(timeout=BOARD_TIMEOUT)
            except Exception as exc:  # the board restarts and asks again
                self.log.warning("board %d did not take %.1f A: %s", evse, amps, exc)
                continue
            self.offers[evse] = taken[evse] = amps
        return taken

    def _expire(self, now: datetime) -> None:
        over = [
            p.id for p in self.profiles.values() if p.valid_to is not None and p.valid_to <= now
        ]
        if over:
            self.log.info("charging profiles %s expired (validTo)", over)
            self._forget(over)
