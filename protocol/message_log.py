"""The OCPP message log's rules: its line format, reading it back, pairing
each CALL with its answer, day files, and keeping secrets out of it.

Pure: no threads, files or clock reads; the writer (actors/link/message_log.py)
and the viewer (tools/log_view.py) bring those.

One line per entry, one JSON object each, so any tool reads it back:

    {"ts":"2026-03-04T12:00:00.123456Z","dir":"out","conn":"ws://h/cp1","frame":"[2,\\"1\\",...]"}
    {"ts":"...","dir":"event","conn":"ws://h/cp1","event":"connected","detail":{"subprotocol":"ocpp1.6"}}

`frame` is the frame's text as it went over the wire (secrets masked).
Lines are split on "\\n" only: JSON escapes every control character inside
a string, but not U+2028, which `str.splitlines` would split on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, cast

Direction = Literal["in", "out", "event"]
DIRECTIONS: tuple[Direction, ...] = ("in", "out", "event")
MASK = "***"

# Connection events the link writes (the `event` of a "dir":"event" entry).
CONNECTING = "connecting"
CONNECTED = "connected"
CLOSED = "closed"
FAILED = "failed"
DROPPED = "dropped"  # lines the writer could not keep up with
LIMIT = "limit"  # the day's size bound was reached; later lines of the day are not written


class LogFormatError(ValueError):
    """A line that is not a message log entry."""


@dataclass(frozen=True)
class Entry:
    ts: datetime  # timezone-aware, UTC
    dir: Direction
    conn: str  # the URL the station dialled (it ends with the station's id)
    frame: str = ""  # for "in" and "out": the frame's text
    event: str = ""  # for "event": what happened
    detail: Mapping[str, Any] = field(default_factory=dict)  # for "event": JSON values


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    if not text.endswith("Z"):
        raise LogFormatError(f"not a UTC timestamp: {text!r}")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise LogFormatError(f"not a UTC timestamp: {text!r}") from exc


def format_line(entry: Entry) -> str:
    """The entry as one line, without its newline."""
    obj: dict[str, Any] = {"ts": format_ts(entry.ts), "dir": entry.dir, "conn": entry.conn}
    if entry.dir == "event":
        obj["event"] = entry.event
        if entry.detail:
            obj["detail"] = dict(entry.detail)
    else:
        obj["frame"] = entry.frame
    # default=str: an event's detail that JSON cannot carry is written as its
    # text rather than losing the line.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def parse_line(line: str) -> Entry:
    """The entry a line of the log holds; raises LogFormatError."""
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise LogFormatError(f"not JSON: {line[:80]!r}") from exc
    if not isinstance(obj, dict):
        raise LogFormatError(f"not a JSON object: {line[:80]!r}")
    direction = obj.get("dir")
    if direction not in DIRECTIONS:
        raise LogFormatError(f"unknown direction {direction!r}")
    ts, conn = obj.get("ts"), obj.get("conn")
    if not isinstance(ts, str) or not isinstance(conn, str):
        raise LogFormatError("ts and conn must be strings")
    if direction == "event":
        event, detail = obj.get("event"), obj.get("detail", {})
        if not isinstance(event, str) or not isinstance(detail, dict):
            raise LogFormatError("an event needs a name and a detail object")
        return Entry(parse_ts(ts), "event", conn, event=event, detail=detail)
    frame = obj.get("frame")
    if not isinstance(frame, str):
        raise LogFormatError("a frame entry needs its frame as a string")
    return Entry(parse_ts(ts), cast(Direction, direction), conn, frame=frame)


def parse_lines(text: str) -> Iterator[Entry]:
    """Every entry of a log's text; lines that are not entries are skipped
    (the last one may be half written)."""
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            yield parse_line(line)
        except LogFormatError:
            continue


# -- day files ---------------------------------------------------------------


def day_file(ts: datetime) -> str:
    """The name of the file that holds `ts`'s entries: the UTC day."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d") + ".log"


def day_of_file(name: str) -> date | None:
    """The day a file of the log holds, or None for any other file."""
    if not name.endswith(".log") or len(name) != len("2026-03-04.log"):
        return None
    try:
        return date.fromisoformat(name.removesuffix(".log"))
    except ValueError:
        return None


def expired(names: Iterable[str], today: date, keep_days: int) -> list[str]:
    """The day files to delete: all but the last `keep_days` days (today included)."""
    oldest_kept = today - timedelta(days=max(keep_days, 1) - 1)
    return sorted(n for n in names if (d := day_of_file(n)) is not None and d < oldest_kept)


# -- frames --------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """What a frame says, read leniently: a log shows broken frames too."""

    kind: Literal["call", "result", "error", "other"]
    message_id: str | None = None
    action: str | None = None
    payload: Any = None
    error_code: str | None = None


def classify(text: str) -> Frame:
    try:
        msg = json.loads(text)
    except ValueError:
        return Frame("other")
    if not isinstance(msg, list) or len(msg) < 3 or not isinstance(msg[1], str):
        return Frame("other")
    match msg[0]:
        case 2 if len(msg) >= 4 and isinstance(msg[2], str):
            return Frame("call", msg[1], msg[2], msg[3])
        case 3:
            return Frame("result", msg[1], payload=msg[2])
        case 4 if len(msg) >= 4:
            code = msg[2] if isinstance(msg[2], str) else str(msg[2])
            return Frame("error", msg[1], payload=msg[4] if len(msg) > 4 else None, error_code=code)
    return Frame("other")


def connector_of(payload: Any) -> int | None:
    """The connector (1.6) or EVSE (2.0.1) a payload is about, if it names one."""
    if not isinstance(payload, dict):
        return None
    for key in ("connectorId", "evseId"):
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    evse = payload.get("evse")
    if isinstance(evse, dict) and isinstance(evse.get("id"), int):
        return cast(int, evse["id"])
    return None


@dataclass(frozen=True)
class Exchange:
    """A CALL and its answer, or an entry that pairs with nothing (an event,
    a broken frame, an answer to no CALL the log holds)."""

    first: Entry
    answer: Entry | None = None
    kind: Literal["call", "result", "error", "other", "event"] = "other"
    action: str | None = None
    message_id: str | None = None
    connector: int | None = None

    @property
    def rtt(self) -> float | None:
        """Seconds from the CALL to its answer."""
        if self.answer is None or self.kind != "call":
            return None
        return (self.answer.ts - self.first.ts).total_seconds()

    @property
    def error(self) -> bool:
        """A CALLERROR answered, or the entry itself is an error or unreadable."""
        if self.kind in ("error", "other"):
            return True
        return self.answer is not None and classify(self.answer.frame).kind == "error"


class Pairing:
    """Pairs entries as they come: a CALL with the answer of the same id
    from the other side of the same connection."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, Direction, str], int] = {}
        self.exchanges: list[Exchange] = []

    def add(self, entry: Entry) -> Exchange:
        """The exchange `entry` opens or completes (completed in place)."""
        if entry.dir == "event":
            return self._append(Exchange(entry, kind="event"))
        frame = classify(entry.frame)
        if frame.kind == "call" and frame.message_id is not None:
            self._open[(entry.conn, entry.dir, frame.message_id)] = len(self.exchanges)
            return self._append(
                Exchange(
                    entry,
                    kind="call",
                    action=frame.action,
                    message_id=frame.message_id,
                    connector=connector_of(frame.payload),
                )
            )
        if frame.kind in ("result", "error") and frame.message_id is not None:
            caller: Direction = "out" if entry.dir == "in" else "in"
            index = self._open.pop((entry.conn, caller, frame.message_id), None)
            if index is not None:
                done = self.exchanges[index]
                done = Exchange(
                    done.first,
                    entry,
                    done.kind,
                    done.action,
                    done.message_id,
                    done.connector,
                )
                self.exchanges[index] = done
                return done
            return self._append(Exchange(entry, kind=frame.kind, message_id=frame.message_id))
        return self._append(Exchange(entry, kind="other"))

    def _append(self, exchange: Exchange) -> Exchange:
        self.exchanges.append(exchange)
        return exchange


def pair(entries: Iterable[Entry]) -> list[Exchange]:
    """The exchanges of a log, in the order their first entry was written."""
    pairing = Pairing()
    for entry in entries:
        pairing.add(entry)
    return pairing.exchanges


def readable(entry: Entry, action: str | None = None, width: int = 100) -> str:
    """One short line for a person: time, direction, action, payload."""
    clock = entry.ts.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]
    if entry.dir == "event":
        detail = " ".join(f"{k}={v}" for k, v in entry.detail.items())
        return _clip(f"{clock} -- {entry.event} {entry.conn} {detail}".rstrip(), width)
    arrow = "<-" if entry.dir == "in" else "->"
    frame = classify(entry.frame)
    match frame.kind:
        case "call":
            what = f"{frame.action} [{frame.message_id}]"
        case "result":
            what = f"{action or '?'} result [{frame.message_id}]"
        case "error":
            what = f"{action or '?'} ERROR {frame.error_code} [{frame.message_id}]"
        case _:
            return _clip(f"{clock} {arrow} (unreadable) {entry.frame}", width)
    payload = json.dumps(frame.payload, ensure_ascii=False, separators=(",", ":"))
    return _clip(f"{clock} {arrow} {what} {payload}", width)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# -- secrets ---------------------------------------------------------------------

_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """HTTP headers fit for a log: credentials replaced by MASK."""
    return {k: MASK if k.lower() in _CREDENTIAL_HEADERS else v for k, v in headers.items()}


def _is_secret_variable(obj: Mapping[str, Any]) -> bool:
    component, variable = obj.get("component"), obj.get("variable")
    if not isinstance(component, dict) or not isinstance(variable, dict):
        return False
    return (
        str(component.get("name", "")).lower() == "securityctrlr"
        and str(variable.get("name", "")).lower() == "basicauthpassword"
    )


def _mask(value: Any) -> tuple[Any, bool]:
    """`value` with every secret in it masked, and whether there was one.

    Structure, not action, decides: a 1.6 configuration key/value pair (in
    ChangeConfiguration or a GetConfiguration answer) and a 2.0.1
    component/variable (SetVariables, GetVariables, NotifyReport), wherever
    in a frame they sit, so a frame the station does not expect is covered too.
    """
    if isinstance(value, list):
        masked = [_mask(v) for v in value]
        return [m for m, _ in masked], any(hit for _, hit in masked)
    if not isinstance(value, dict):
        return value, False
    out: dict[str, Any] = {}
    hit = False
    for k, v in value.items():
        out[k], h = _mask(v)
        hit = hit or h
    key = out.get("key")
    if isinstance(key, str) and key.lower() == "authorizationkey" and "value" in out:
        out["value"], hit = MASK, True
    if _is_secret_variable(out):
        if "attributeValue" in out:
            out["attributeValue"], hit = MASK, True
        attributes = out.get("variableAttribute")
        if isinstance(attributes, list):
            for attribute in attributes:
                if isinstance(attribute, dict) and "value" in attribute:
                    attribute["value"], hit = MASK, True
    return out, hit


def mask_frame(text: str, secrets: Iterable[str] = ()) -> str:
    """A frame's text fit for a log: the AuthorizationKey / BasicAuthPassword
    in it replaced by MASK, and so is any of the `secrets` (the values the
    station knows), so that a frame too broken to read leaks nothing either.
    A frame with nothing to hide is returned as it is, byte for byte."""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed, hit = None, False
    else:
        parsed, hit = _mask(parsed)
    if hit:
        text = json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))
    for secret in secrets:
        # A short value would blank out ordinary words; keys are 16+ characters.
        if len(secret) >= 8:
            text = text.replace(secret, MASK)
            escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
            if escaped != secret:
                text = text.replace(escaped, MASK)
    return text
