"""The EVSE's hardware as its connector sees it: the board hub and the simulated meter.

`Board` (path `evses/N/board`) is what the connector talks to: it forwards
pilot and fault changes (`HwChanged`), switches power, unlocks, and answers
`ReadHw`. Behind it stands either the simulated EV and charger
(`hw/simulated.py`) or a serial charge controller driven by the `controller`
actor (`actors/drivers.py`). It also collects the health of the EVSE's
serial drivers (controller, meter, reader): a driver that fails tells it
`DriverFailed`, one that works `DriverHealthy`, and the pure debounce in
`hw/health.py` decides when that becomes a fault the connector reports.

The hub does no I/O of its own, so a driver crash-looping on a vanished
port never takes the fault state with it. Hardware outlives these actors: a
restarted hub reads the state anew and asks the drivers how they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pykka

from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import PROFILES, StationContext, evse_path
from ocppstation.hw import board_protocol as bp
from ocppstation.hw import health
from ocppstation.hw.devices import EvseDevices
from ocppstation.hw.ports import Pilot
from ocppstation.hw.simulated import HwState

# Driver sources, in the order their faults take precedence, and their codes.
CONTROLLER, METER, READER = "controller", "meter", "reader"
SOURCE_CODES = {
    # Without the board the station can neither see nor signal the EV's pilot.
    CONTROLLER: "EVCommunicationError",
    METER: "PowerMeterFailure",
    READER: "ReaderFailure",
}


@dataclass(frozen=True)
class HwChanged:
    """Board to connector: the pilot or fault state is now `state`."""

    state: HwState


@dataclass(frozen=True)
class AllowPower:
    on: bool


@dataclass(frozen=True)
class ReadHw:
    pass


@dataclass(frozen=True)
class Unlock:
    """Ask: release the cable lock; answers "Unlocked", "UnlockFailed" or "NotSupported"."""


@dataclass(frozen=True)
class HasLock:
    """Ask: does this EVSE have a cable lock (False for a tethered cable)?"""


@dataclass(frozen=True)
class ReadMeter:
    pass


@dataclass(frozen=True)
class OfferCurrent:
    """Tell the EV how much current it may draw (the pilot's duty cycle)."""

    amps: float


@dataclass(frozen=True)
class OfferWanted:
    """Hub to the profiles actor, when the hub starts: which current to offer?

    A restarted hub, or a serial board that reset, knows nothing of smart
    charging's limit; the profiles actor answers with OfferCurrent.
    """

    evse: int


@dataclass(frozen=True)
class ReadOffered:
    """Ask: the current per phase offered to the EV now (None if not known)."""


@dataclass(frozen=True)
class DriverFailed:
    """Driver to hub: `source` failed (or did not start) because of `detail`."""

    source: str
    detail: str


@dataclass(frozen=True)
class DriverHealthy:
    """Driver to hub: `source` talks to its device again."""

    source: str


@dataclass(frozen=True)
class ReportHealth:
    """Hub to a driver: tell me DriverHealthy if you are (after a hub restart)."""

    reply_to: str


@dataclass(frozen=True)
class ControllerReport:
    """Controller driver to hub: the board's state line."""

    status: bp.Status


@dataclass(frozen=True)
class ControllerCommand:
    """Ask, hub to controller driver: one command of the board protocol."""

    name: str
    value: str | None = None


@dataclass(frozen=True)
class DeviceHealthChanged:
    """Event: how a driver of EVSE `evse` is doing, as the hub sees it.

    `state` is "failing" (not reported yet), "reported" (the connector shows
    the fault), "recovering" (answers again, not yet long enough) or "ok".
    Published after the timers it implies are armed.
    """

    evse: int
    source: str
    state: str
    detail: str = ""


def _label(state: health.Health) -> str:
    if not state.in_spell:
        return "ok"
    if state.failing:
        return "reported" if state.reported else "failing"
    return "recovering"


@dataclass(frozen=True)
class _Check:
    source: str


class Board(Supervised):
    def __init__(
        self,
        place: Place,
        ctx: StationContext,
        evse: int,
        devices: EvseDevices | None = None,
        *,
        fault_delay: float = 10.0,
        drivers: tuple[str, ...] = (),
    ) -> None:
        """`drivers`: paths of the drivers that report to this hub (asked after a restart)."""
        super().__init__(place)
        self.ctx = ctx
        self.evse = evse
        devices = devices or EvseDevices()
        self.serial = devices.board
        self.hw = ctx.hardware[evse] if self.serial is None else None
        self.drivers = drivers
        self.delays = {
            CONTROLLER: devices.board.fault_delay if devices.board else fault_delay,
            METER: devices.meter.fault_delay if devices.meter else fault_delay,
            READER: devices.reader.fault_delay if devices.reader else fault_delay,
        }
        self.device = HwState(Pilot.A, None)
        self.health: dict[str, health.Health] = {}
        self.timers: dict[str, int | None] = {}
        self.labels: dict[str, str] = {}
        self.forwarded: HwState | None = None
        # What the station wants of a serial board; re-applied when its driver
        # comes back, since the board may have reset or tripped its watchdog.
        self.want_power = False
        self.want_lock = False
        self.want_current = devices.board.max_current if devices.board else None
        self._unsubscribe = lambda: None

    def setup(self) -> None:
        if self.hw is not None:
            me = self.actor_ref

            def on_change(state: HwState) -> None:
                try:
                    me.tell(HwChanged(state))
                except pykka.ActorDeadError:
                    pass  # between a crash and teardown; the successor reads the state anew

            self._unsubscribe = self.hw.subscribe(on_change)
            self.device = self.hw.state()
        for path in self.drivers:
            self.ctx.registry.tell(path, ReportHealth(self.path))
        self.ctx.registry.tell(PROFILES, OfferWanted(self.evse))
        self._forward(force=True)

    def teardown(self) -> None:
        self._unsubscribe()
        for timer in self.timers.values():
            self.ctx.cancel(timer)

    def receive(self, message: Any) -> Any:
        match message:
            case HwChanged():
                self.device = message.state
                self._forward()
            case ControllerReport(status=status):
                self.device = HwState(status.pilot, status.fault())
                self._forward()
            case DriverFailed():
                self._failed(message.source, message.detail)
            case DriverHealthy():
                self._recovered(message.source)
            case _Check(source=source):
                self._settle(source)
            case AllowPower(on=on):
                self._allow_power(on)
            case OfferCurrent(amps=amps):
                self._offer(amps)
            case ReadOffered():
                return self.hw.offered_a if self.hw is not None else self.want_current
            case ReadHw():
                return self._combined()
            case Unlock():
                return self._unlock()
            case HasLock():
                return self._has_lock()
            case _:
                return super().receive(message)
        return None

    # -- outputs -----------------------------------------------------------------

    def _now(self) -> float:
        return self.ctx.clock.monotonic()

    def _command(self, name: str, value: str | None = None) -> None:
        """One board command through the controller driver; raises what it raises."""
        assert self.serial is not None
        # Shorter than the connector's own ask of us, so it hears why.
        timeout = min(self.serial.port.timeout + 0.5, 1.8)
        self.ctx.registry.ask(
            evse_path(self.evse, CONTROLLER), ControllerCommand(name, value), timeout=timeout
        )

    def _allow_power(self, on: bool) -> None:
        if self.hw is not None:
            self.hw.allow_power(on, self._now())
            return
        assert self.serial is not None
        self.want_power = on
        if on and self.serial.lock:
            self.want_lock = True
            self._command("LOCK", "1")  # no energy on a cable that can be pulled
        self._command("POWER", "1" if on else "0")
        if not on and self.serial.lock:
            self.want_lock = False
            self._command("LOCK", "0")

    def _offer(self, amps: float) -> None:
        if self.hw is not None:
            self.hw.set_offered_current(amps, self._now())
            return
        assert self.serial is not None
        self.want_current = max(0.0, min(amps, self.serial.max_current))
        try:
            self._command("CUR", f"{self.want_current:.1f}")
        except Exception as exc:
            # Told, so raising would crash the hub; the driver re-sends CUR
            # (want_current) when the board answers again.
            self.log.warning("offered current not sent to the board: %s", exc)

    def _has_lock(self) -> bool:
        if self.hw is not None:
            return self.hw.has_lock
        assert self.serial is not None
        return bool(self.serial.lock)

    def _unlock(self) -> str:
        if self.hw is not None:
            if not self.hw.has_lock:
                return "NotSupported"  # a tethered cable has no lock to release
            return "Unlocked" if self.hw.unlock(self._now()) else "UnlockFailed"
        assert self.serial is not None
        if not self.serial.lock:
            return "NotSupported"  # a tethered cable has no lock to release
        self.want_lock = False
        try:
            self._command("LOCK", "0")
        except Exception as exc:  # refused, or no board: the lock did not move
            self.log.error("unlock failed: %s", exc)
            return "UnlockFailed"
        return "Unlocked"

    def _reapply(self) -> None:
        """Bring a (re)connected board to what the station wants."""
        try:
            if self.want_current is not None:
                self._command("CUR", f"{self.want_current:.1f}")
            if self.serial is not None and self.serial.lock:
                self._command("LOCK", "1" if self.want_lock else "0")
            self._command("POWER", "1" if self.want_power else "0")
        except Exception as exc:
            # The driver fails itself on a link error and comes back to us.
            self.log.warning("could not bring the board up to date: %s", exc)

    # -- faults --------------------------------------------------------------------

    def _failed(self, source: str, detail: str) -> None:
        before = self.health.get(source, health.Health())
        code = SOURCE_CODES.get(source, "OtherError")
        after = health.fail(before, code, detail, self._now())
        self.health[source] = after
        if not before.in_spell:
            self.log.warning(
                "%s failing: %s; reported as %s unless it recovers within %g s",
                source,
                detail,
                code,
                self.delays.get(source, 0.0),
            )
        else:
            self.log.info("%s failing again: %s", source, detail)
        self._settle(source)

    def _recovered(self, source: str) -> None:
        before = self.health.get(source, health.Health())
        self.health[source] = health.recover(before, self._now())
        if before.failing:
            self.log.info("%s answers again", source)
        if source == CONTROLLER and self.serial is not None:
            self._reapply()
        self._settle(source)

    def _settle(self, source: str) -> None:
        before = self.health.get(source, health.Health())
        now = self._now()
        delay = self.delays.get(source, 0.0)
        after = health.check(before, now, delay)
        self.health[source] = after
        if after.reported and not before.reported:
            self.log.error(
                "%s out for %.1f s: reporting %s", source, now - (after.since or now), after.code
            )
        if before.in_spell and not after.in_spell:
            assert before.since is not None
            # The gap a session rode through (or the fault just cleared).
            self.log.warning(
                "%s outage over: %.1f s from the first failure to a stable recovery (%s)",
                source,
                now - before.since,
                "was reported" if before.reported else "too short to report",
            )
        self.ctx.cancel(self.timers.pop(source, None))
        due = health.next_check(after, delay)
        if due is not None:
            self.timers[source] = self.ctx.call_later(
                max(due - now, 0.0), self.actor_ref, _Check(source)
            )
        self._forward()
        # Also the first word from a driver, so that a start can be waited on.
        if source not in self.labels or _label(after) != self.labels[source] or after.failing:
            self.labels[source] = _label(after)
            self.ctx.bus.publish(
                DeviceHealthChanged(self.evse, source, _label(after), after.detail)
            )

    def _combined(self) -> HwState:
        fault = self.device.fault
        if fault is None:
            for source in SOURCE_CODES:
                state = self.health.get(source)
                if state is not None and state.reported:
                    fault = state.code
                    break
        return HwState(self.device.pilot, fault)

    def _forward(self, force: bool = False) -> None:
        state = self._combined()
        if force or state != self.forwarded:
            self.forwarded = state
            self.ctx.registry.tell(evse_path(self.evse, "connector"), HwChanged(state))


class Meter(Supervised):
    """The simulated meter: reads the simulated EVSE's register."""

    def __init__(self, place: Place, ctx: StationContext, evse: int) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.hw = ctx.hardware[evse]

    def receive(self, message: Any) -> Any:
        if isinstance(message, ReadMeter):
            return self.hw.read(self.ctx.clock.monotonic())
        return super().receive(message)
