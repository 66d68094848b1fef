"""What every CSMS peer of the station's tests shares: the message log and its interface.

Two peers implement `CsmsPeer`: the dev CSMS in `ocppstation.tools.csms` (built on the
PyPI `ocpp` package) and the `ocpp-rpc` strict-mode peer in `tests/peers/rpc_peer.py`
(a Node.js library with its own copy of the schemas). Tests written against this
interface can be parametrised over both, so a frame that only one implementation
happens to tolerate is caught.

All times are `time.monotonic()` seconds. Directions are from the CSMS's point of view:
"in" is station to CSMS, "out" is CSMS to station.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, runtime_checkable

Direction = Literal["in", "out"]

# "call", "result" and "error" are OCPP-J frames; "malformed" is a frame that is not a
# well-formed OCPP-J message (so tests can see garbage crossing the wire); "connect",
# "disconnect" and "rejected" are connection events, kept in the same ordered log so a
# test can say "after the drop, the station connected again and booted".
Kind = Literal["call", "result", "error", "malformed", "connect", "disconnect", "rejected"]

CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4


@dataclass(frozen=True)
class LogEntry:
    """One message or connection event as a CSMS peer saw it on the wire."""

    seq: int
    at: float
    cp_id: str
    direction: Direction
    kind: Kind
    action: str | None
    unique_id: str | None
    payload: Any
    text: str
    # Only for kind "error": the CALLERROR's code and description; payload holds its details.
    error_code: str | None = None
    error_description: str | None = None
    # For a transaction message (Start/StopTransaction, MeterValues) that a peer saw
    # before with the same content: the seq of the first one. At-least-once delivery
    # makes such re-sends legal (a station killed between the CSMS's answer and its
    # own bookkeeping sends again); tests count them apart from distinct messages.
    repeat_of: int | None = None

    def line(self) -> str:
        """One readable line, for echoing and for timeout summaries."""
        arrow = "->" if self.direction == "in" else "<-"
        head = f"{self.cp_id} {arrow} CSMS {self.kind}"
        if self.kind in ("call", "result", "error"):
            head += f" {self.action or '?'} [{self.unique_id}]"
        if self.kind == "error":
            head += f" {self.error_code}: {self.error_description!r}"
        if self.repeat_of is not None:
            head += f" (repeat of #{self.repeat_of})"
        if self.kind == "malformed":
            body = self.text
        else:
            body = json.dumps(self.payload, separators=(",", ":"), default=str)
        if len(body) > 300:
            body = body[:297] + "..."
        return f"{head} {body}"


class PeerError(Exception):
    """Base for failures of a CSMS-initiated call that are not plain timeouts."""


class CallErrorResponse(PeerError):
    """The station answered a CSMS-initiated CALL with a CALLERROR."""

    def __init__(self, action: str, code: str, description: str, details: Any) -> None:
        super().__init__(f"{action}: station answered CALLERROR {code}: {description!r}")
        self.action = action
        self.code = code
        self.description = description
        self.details = details


class InvalidResponse(PeerError):
    """The station's CALLRESULT to a CSMS-initiated CALL failed schema validation."""

    def __init__(self, action: str, reason: str, payload: Any) -> None:
        super().__init__(f"{action}: station's CALLRESULT is invalid: {reason}")
        self.action = action
        self.reason = reason
        self.payload = payload


@dataclass(frozen=True)
class CallErrorReply:
    """A scripted CALLERROR answer to a station-initiated CALL (see `set_reply`)."""

    code: str = "InternalError"
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class _NoReply:
    def __repr__(self) -> str:
        return "NO_REPLY"


# A scripted non-answer: the peer records the CALL and never replies, so a test can
# drive the station's response timeout.
NO_REPLY: Final = _NoReply()


@dataclass(frozen=True)
class ThenCall:
    """A scripted answer followed at once, as the very next frame, by a CSMS CALL.

    What conformance tests and real CSMSs do: answer a StartTransaction and
    send SetChargingProfile for its transaction with no gap. `payload` is the
    CALL's payload, or made from the answer sent; the station's reply to the
    CALL shows up in the log under `unique_id`.
    """

    reply: dict[str, Any]
    action: str
    payload: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]
    unique_id: str = "then-call"
    # More CALLs in the same burst, each (action, payload, unique_id).
    also: tuple[tuple[str, dict[str, Any], str], ...] = ()


@dataclass(frozen=True)
class LateReply:
    """A scripted answer sent `after` seconds late: a slow CSMS. Only this
    station's connection waits (the peer goes on serving the others); `reply`
    None is the answer the peer would give anyway."""

    after: float
    reply: dict[str, Any] | CallErrorReply | None = None


ScriptedReply = dict[str, Any] | CallErrorReply | _NoReply | ThenCall | LateReply


def classify(text: str) -> tuple[Kind, str | None, str | None, Any, str | None, str | None]:
    """Split a raw frame into (kind, action, unique_id, payload, error_code, description).

    Results carry no action on the wire; callers fill it in from the CALL they answer.
    Anything that is not a well-formed OCPP-J array is "malformed" rather than an
    exception, because recording garbage faithfully is the point of the log.
    """
    try:
        msg = json.loads(text)
    except ValueError:
        return "malformed", None, None, None, None, None
    if not isinstance(msg, list) or len(msg) < 3 or not isinstance(msg[1], str):
        return "malformed", None, None, msg, None, None
    type_id, unique_id = msg[0], msg[1]
    if type_id == CALL and len(msg) == 4 and isinstance(msg[2], str):
        return "call", msg[2], unique_id, msg[3], None, None
    if type_id == CALLRESULT and len(msg) == 3:
        return "result", None, unique_id, msg[2], None, None
    if type_id == CALLERROR and len(msg) == 5:
        code = msg[2] if isinstance(msg[2], str) else str(msg[2])
        desc = msg[3] if isinstance(msg[3], str) else str(msg[3])
        return "error", None, unique_id, msg[4], code, desc
    return "malformed", None, unique_id, msg, None, None


class MessageLog:
    """Thread-safe, append-only record of everything a peer saw, with waiting helpers.

    Writers are the peer's I/O thread; readers are test threads, which block on the
    condition instead of sleeping.
    """

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self._entries: list[LogEntry] = []
        self._cond = threading.Condition()
        # Open connections per station id; a count, because a reconnecting station can
        # briefly have two while the peer has not yet noticed the old one is dead.
        self._open: dict[str, int] = {}
        self._echo = echo

    def record(
        self,
        cp_id: str,
        direction: Direction,
        kind: Kind,
        *,
        action: str | None = None,
        unique_id: str | None = None,
        payload: Any = None,
        text: str = "",
        error_code: str | None = None,
        error_description: str | None = None,
        repeat_of: int | None = None,
    ) -> LogEntry:
        with self._cond:
            entry = LogEntry(
                seq=len(self._entries),
                at=time.monotonic(),
                cp_id=cp_id,
                direction=direction,
                kind=kind,
                action=action,
                unique_id=unique_id,
                payload=payload,
                text=text,
                error_code=error_code,
                error_description=error_description,
                repeat_of=repeat_of,
            )
            self._entries.append(entry)
            if kind == "connect":
                self._open[cp_id] = self._open.get(cp_id, 0) + 1
            elif kind == "disconnect":
                left = self._open.get(cp_id, 0) - 1
                if left > 0:
                    self._open[cp_id] = left
                else:
                    self._open.pop(cp_id, None)
            self._cond.notify_all()
        # Outside the lock: echo may block on a slow terminal.
        if self._echo is not None:
            self._echo(entry.line())
        return entry

    def __len__(self) -> int:
        with self._cond:
            return len(self._entries)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self.entries())

    def __getitem__(self, index: int) -> LogEntry:
        with self._cond:
            return self._entries[index]

    def entries(self, since: int = 0) -> list[LogEntry]:
        """A snapshot of the entries from index `since` on."""
        with self._cond:
            return self._entries[since:]

    def mark(self) -> int:
        """The index the next entry will get: pass it as `since` to ignore the past."""
        return len(self)

    def calls(
        self,
        action: str | None = None,
        cp_id: str | None = None,
        *,
        direction: Direction | None = None,
        since: int = 0,
    ) -> list[LogEntry]:
        """CALLs, optionally of one action, one station and one direction."""
        return [
            e
            for e in self.entries(since)
            if e.kind == "call"
            and (action is None or e.action == action)
            and (cp_id is None or e.cp_id == cp_id)
            and (direction is None or e.direction == direction)
        ]

    def reply_to(self, call: LogEntry) -> LogEntry | None:
        """The CALLRESULT or CALLERROR that answered `call`, if it has been seen yet."""
        for e in self.entries(call.seq + 1):
            if (
                e.kind in ("result", "error")
                and e.unique_id == call.unique_id
                and e.cp_id == call.cp_id
                and e.direction != call.direction
            ):
                return e
        return None

    def wait_for(
        self,
        predicate: Callable[[LogEntry], bool],
        timeout: float = 5.0,
        *,
        since: int = 0,
    ) -> LogEntry:
        """Block until an entry at index >= `since` matches; return the first such entry.

        Raises TimeoutError naming the last messages, so a failing test says what the
        station did instead.
        """
        deadline = time.monotonic() + timeout
        checked = since
        with self._cond:
            while True:
                for entry in self._entries[checked:]:
                    if predicate(entry):
                        return entry
                checked = max(checked, len(self._entries))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no matching log entry within {timeout}s; last messages:\n"
                        + self._summary_locked()
                    )
                self._cond.wait(left)

    def wait_call(
        self, action: str, cp_id: str | None = None, timeout: float = 5.0, *, since: int = 0
    ) -> LogEntry:
        """Wait for a station-initiated CALL of `action`."""
        return self.wait_for(
            lambda e: (
                e.kind == "call"
                and e.direction == "in"
                and e.action == action
                and (cp_id is None or e.cp_id == cp_id)
            ),
            timeout,
            since=since,
        )

    def connected(self) -> set[str]:
        with self._cond:
            return set(self._open)

    def wait_connected(self, cp_id: str, timeout: float = 5.0) -> None:
        self._wait_state(lambda: cp_id in self._open, f"{cp_id} to connect", timeout)

    def wait_disconnected(self, cp_id: str, timeout: float = 5.0) -> None:
        self._wait_state(lambda: cp_id not in self._open, f"{cp_id} to disconnect", timeout)

    def _wait_state(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        with self._cond:
            if not self._cond.wait_for(ready, timeout):
                raise TimeoutError(
                    f"waited {timeout}s for {what}; last messages:\n" + self._summary_locked()
                )

    def summary(self, last: int = 20) -> str:
        with self._cond:
            return self._summary_locked(last)

    def _summary_locked(self, last: int = 20) -> str:
        tail = self._entries[-last:]
        if not tail:
            return "  (nothing recorded)"
        return "\n".join("  " + e.line() for e in tail)


class LogShortcuts:
    """What both CSMS peers share: address and log, and the log shortcuts.

    A peer keeps its MessageLog in `_log` and listens on `host`:`_port`.
    """

    _log: MessageLog
    host: str
    _port: int

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self._port}"

    @property
    def log(self) -> MessageLog:
        return self._log

    def wait_for(
        self, predicate: Callable[[LogEntry], bool], timeout: float = 5.0, *, since: int = 0
    ) -> LogEntry:
        return self._log.wait_for(predicate, timeout, since=since)

    def calls(self, action: str | None = None, cp_id: str | None = None) -> list[LogEntry]:
        return self._log.calls(action, cp_id)

    def connected(self) -> set[str]:
        return self._log.connected()

    def wait_connected(self, cp_id: str, timeout: float = 5.0) -> None:
        self._log.wait_connected(cp_id, timeout)


@runtime_checkable
class CsmsPeer(Protocol):
    """The test-facing interface both CSMS peers implement."""

    @property
    def url(self) -> str:
        """ws://host:port; the station appends "/" + its ChargePointId."""
        ...

    @property
    def port(self) -> int: ...

    @property
    def log(self) -> MessageLog: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def set_boot(self, status: str, interval: int | None = None) -> None: ...

    def set_reply(self, action: str, reply: ScriptedReply | None) -> None: ...

    def wait_for(
        self, predicate: Callable[[LogEntry], bool], timeout: float = 5.0, *, since: int = 0
    ) -> LogEntry: ...

    def calls(self, action: str | None = None, cp_id: str | None = None) -> list[LogEntry]: ...

    def wait_connected(self, cp_id: str, timeout: float = 5.0) -> None: ...

    def connected(self) -> set[str]: ...

    def call(
        self, cp_id: str, action: str, payload: dict[str, Any], timeout: float = 10.0
    ) -> dict[str, Any]: ...

    def send_raw(self, cp_id: str, text: str) -> None: ...

    def drop(self, cp_id: str, timeout: float = 5.0) -> None: ...
