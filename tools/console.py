"""The station console: one command per line in, one answer per line out.

A public interface (test rigs script it), so its words stay stable: every
answer is a single line starting `ok` or `error`. See `HELP`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO

from ocppstation.actors.station import Station, StationError

HELP = (
    "commands: plug N | unplug N | tag N IDTAG | fault N ERRORCODE | clear N | status | "
    "crash PATH | revive N | disconnect | help | quit"
)

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
    def __init__(self, station: Station) -> None:
        self.station = station
        self._commands: dict[str, tuple[int, Callable[[list[str]], str]]] = {
            "plug": (1, lambda a: self._evse_call(self.station.plug, a)),
            "unplug": (1, lambda a: self._evse_call(self.station.unplug, a)),
            "tag": (2, lambda a: self._evse_call(self.station.tag, a)),
            "fault": (2, self._fault),
            "clear": (1, lambda a: self._evse_call(self.station.clear, a)),
            "status": (0, lambda a: json.dumps(self.station.status(), separators=(",", ":"))),
            "crash": (1, lambda a: self._done(self.station.crash, a[0])),
            "revive": (1, lambda a: self._evse_call(self.station.revive, a)),
            "disconnect": (0, lambda a: self._done(self.station.disconnect)),
            "help": (0, lambda a: HELP),
            "quit": (0, self._quit),
        }

    def handle(self, line: str) -> str:
        """The one-line answer to one command line; raises Quit on `quit`."""
        words = line.split()
        if not words:
            return "error empty command; " + HELP
        name, args = words[0].lower(), words[1:]
        if name not in self._commands:
            return f"error unknown command {name!r}; {HELP}"
        arity, run = self._commands[name]
        if len(args) != arity:
            return f"error {name} takes {arity} argument{'s' if arity != 1 else ''}; {HELP}"
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

    def _fault(self, args: list[str]) -> str:
        if args[1] not in ERROR_CODES:
            raise StationError(
                f"unknown error code {args[1]!r}; one of {', '.join(sorted(ERROR_CODES))}"
            )
        return self._evse_call(self.station.fault, args)

    @staticmethod
    def _done(action: Callable[..., None], *args: str) -> str:
        action(*args)
        return ""

    @staticmethod
    def _quit(args: list[str]) -> str:
        raise Quit
