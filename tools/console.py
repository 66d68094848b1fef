"""The station console: one command per line in, one answer per line out.

A public interface (test rigs script it), so its words stay stable: every
answer is a single line starting `ok` or `error`. See `HELP`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import IO, Any

from ocppstation.actors import events as ev
from ocppstation.actors.runtime.supervisor import ChildCrashed
from ocppstation.actors.station import Station, StationError
from ocppstation.protocol.ev_needs import EvNeeds

HELP = (
    "commands: plug N | unplug N | tag N IDTAG | pnc N EMAID | needs N KWH [DEPARTURE_S] | "
    "fault N ERRORCODE | clear N | "
    "status | "
    "crash PATH | revive N | disconnect | wait registered [TIMEOUT] | "
    "wait status N STATUS [TIMEOUT] | help | quit"
)

# How long `crash` waits to see the actor's supervisor report the crash.
CRASH_TIMEOUT = 5.0
# `wait ...` without a TIMEOUT, in seconds.
WAIT_TIMEOUT = 30.0

# What `wait status` may wait for: the statuses the station's connectors take.
STATUSES = {
    s.lower(): s
    for s in (
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
}

# The 1.6 ChargePointErrorCode values a hardware fault may carry.
ERROR_CODES = frozenset(
    {
        "ConnectorLockFailure",
        "EVCommunicationError",
        "GroundFailure",
        "HighTemperature",
        "InternalError",
        "LocalListConflict",
        "OtherError",
        "OverCurrentFailure",
        "OverVoltage",
        "PowerMeterFailure",
        "PowerSwitchFailure",
        "ReaderFailure",
        "ResetFailure",
        "UnderVoltage",
        "WeakSignal",
    }
)


class Quit(Exception):
    """The console was told to quit."""


class Console:
    def __init__(
        self,
        station: Station,
        *,
        crash_timeout: float = CRASH_TIMEOUT,
        wait_timeout: float = WAIT_TIMEOUT,
    ) -> None:
        self.station = station
        self.crash_timeout = crash_timeout
        self.wait_timeout = wait_timeout
        # name: (fewest, most arguments, the command)
        self._commands: dict[str, tuple[int, int, Callable[[list[str]], str]]] = {
            "plug": (1, 1, lambda a: self._evse_call(self.station.plug, a)),
            "unplug": (1, 1, lambda a: self._evse_call(self.station.unplug, a)),
            "tag": (2, 3, lambda a: self._evse_call(self.station.tag, a)),
            "pnc": (2, 2, self._pnc),
            "needs": (2, 3, self._needs),
            "fault": (2, 2, self._fault),
            "clear": (1, 1, lambda a: self._evse_call(self.station.clear, a)),
            "status": (
                0,
                0,
                lambda a: json.dumps(self.station.status(), separators=(",", ":")),
            ),
            "crash": (1, 1, self._crash),
            "revive": (1, 1, lambda a: self._evse_call(self.station.revive, a)),
            "disconnect": (0, 0, lambda a: self._done(self.station.disconnect)),
            "wait": (1, 4, self._wait),
            "help": (0, 0, lambda a: HELP),
            "quit": (0, 0, self._quit),
        }

    def handle(self, line: str) -> str:
        """The one-line answer to one command line; raises Quit on `quit`."""
        words = line.split()
        if not words:
            return "error empty command; " + HELP
        name, args = words[0].lower(), words[1:]
        if name not in self._commands:
            return f"error unknown command {name!r}; {HELP}"
        fewest, most, run = self._commands[name]
        if not fewest <= len(args) <= most:
            count = str(fewest) if fewest == most else f"{fewest} to {most}"
            return f"error {name} takes {count} argument{'s' if most != 1 else ''}; {HELP}"
        try:
            answer = run(args)
        except StationError as exc:
            return f"error {exc}"
        return f"ok {answer}".rstrip()

    def serve(self, lines: IO[str], out: IO[str]) -> None:
        for line in lines:
            if not line.strip():
                continue
            try:
                answer = self.handle(line)
            except Quit:
                print("ok bye", file=out, flush=True)
                return
            print(answer, file=out, flush=True)

    def _evse_call(self, action: Callable[..., None], args: list[str]) -> str:
        try:
            evse = int(args[0])
        except ValueError:
            raise StationError(f"EVSE must be a number, not {args[0]!r}") from None
        action(evse, *args[1:])
        return ""

    def _pnc(self, args: list[str]) -> str:
        """An ISO 15118 EV with a contract for the eMAID, from the station's test MO root."""
        contract = self.station.contract_issuer.contract(args[1])
        self._evse_call(lambda n: self.station.plug(n, contract=contract), args[:1])
        return ""

    def _needs(self, args: list[str]) -> str:
        """An ISO 15118 AC EV that wants KWH kWh (by DEPARTURE_S seconds from now)."""
        try:
            energy_wh = round(float(args[1]) * 1000)
            departure = int(args[2]) if len(args) > 2 else None
        except ValueError:
            raise StationError(f"needs: not a number in {' '.join(args[1:])!r}") from None
        needs = EvNeeds(energy_wh=energy_wh, departure_in=departure)
        self._evse_call(lambda n: self.station.plug(n, needs=needs), args[:1])
        return ""

    def _fault(self, args: list[str]) -> str:
        if args[1] not in ERROR_CODES:
            raise StationError(
                f"unknown error code {args[1]!r}; one of {', '.join(sorted(ERROR_CODES))}"
            )
        return self._evse_call(self.station.fault, args)

    def _crash(self, args: list[str]) -> str:
        """Crash the actor at PATH; ok once its supervisor has seen it crash.

        A Crash told to an actor that is stopping (its part restarting) or
        that its supervisor no longer counts is lost: that is an error, not ok.
        """
        path = args[0]
        crashed = threading.Event()

        def seen(event: Any) -> None:
            if isinstance(event, ChildCrashed) and event.path == path:
                crashed.set()

        unsubscribe = self.station.subscribe(seen)
        try:
            self.station.crash(path)
            if not crashed.wait(self.crash_timeout):
                raise StationError(
                    f"{path} did not crash within {self.crash_timeout:g} s"
                    " (stopping or restarting when told?)"
                )
        finally:
            unsubscribe()
        return ""

    def _wait(self, args: list[str]) -> str:
        """`wait registered [TIMEOUT]`, `wait status N STATUS [TIMEOUT]`: ok once
        it holds (at once if it does already), `error timeout ...` otherwise."""
        what, rest = args[0].lower(), args[1:]
        if what == "registered" and len(rest) <= 1:
            timeout = self._timeout(rest)
            return self._wait_until(
                lambda e: isinstance(e, ev.RegistrationChanged) and e.status == "Accepted",
                lambda: self.station.ctx.registration.accepted,
                timeout,
                lambda: f"the CSMS has not accepted it ({self.station.ctx.registration.status})",
            )
        if what == "status" and 2 <= len(rest) <= 3:
            evse = self._evse(rest[0])
            status = STATUSES.get(rest[1].lower())
            if status is None:
                raise StationError(
                    f"unknown status {rest[1]!r}; one of {', '.join(STATUSES.values())}"
                )
            timeout = self._timeout(rest[2:])
            return self._wait_until(
                lambda e: (
                    isinstance(e, ev.ConnectorChanged) and (e.evse, e.status) == (evse, status)
                ),
                lambda: self._status_of(evse) == status,
                timeout,
                lambda: f"EVSE {evse} is {self._status_of(evse)}, not {status}",
            )
        raise StationError("wait registered [TIMEOUT] | wait status N STATUS [TIMEOUT]")

    def _wait_until(
        self,
        happened: Callable[[Any], bool],
        holds: Callable[[], bool],
        timeout: float,
        otherwise: Callable[[], str],
    ) -> str:
        done = threading.Event()

        def seen(event: Any) -> None:
            if happened(event):
                done.set()

        # Subscribed before looking: a change between the look and the wait is not lost.
        unsubscribe = self.station.subscribe(seen)
        try:
            if holds() or done.wait(timeout):
                return ""
        finally:
            unsubscribe()
        # Said at the time out, so that it tells the state then.
        raise StationError(f"timeout after {timeout:g} s: {otherwise()}")

    def _status_of(self, evse: int) -> str:
        for entry in self.station.status()["evses"]:
            if entry["evse"] == evse:
                return str(entry["status"])
        return "unknown"

    def _evse(self, text: str) -> int:
        try:
            evse = int(text)
        except ValueError:
            raise StationError(f"EVSE must be a number, not {text!r}") from None
        if evse not in self.station.hardware:
            raise StationError(
                f"no EVSE {evse} (this station has 1 to {len(self.station.hardware)})"
            )
        return evse

    def _timeout(self, args: list[str]) -> float:
        if not args:
            return self.wait_timeout
        try:
            timeout = float(args[0])
        except ValueError:
            raise StationError(f"TIMEOUT must be seconds, not {args[0]!r}") from None
        if not 0 <= timeout <= 86400:
            raise StationError(f"TIMEOUT must be 0 to 86400 s, not {args[0]}")
        return timeout

    @staticmethod
    def _done(action: Callable[..., None], *args: str) -> str:
        action(*args)
        return ""

    @staticmethod
    def _quit(args: list[str]) -> str:
        raise Quit
