"""OCPP 2.0.1 O Display messages: what SetDisplayMessage accepts and what each EVSE shows.

A message is kept as the CSMS's MessageInfo (camelCase, as on the wire and
as stored), read into `Message` for the rules. Decisions worth knowing:

- SetDisplayMessage is judged in libocpp's order: Rejected while
  DisplayMessageCtrlr is not Enabled and Available, then
  NotSupportedPriority, NotSupportedMessageFormat, UnknownTransaction (a
  transactionId that is not a running transaction), NotSupportedState
  (against SupportedStates, when the station declares it); then Rejected
  when a new id would hold more than DisplayMessages' maxLimit (the same
  id replaces, so it never counts twice).
- The state a message waits for is the EVSE's: Faulted and Unavailable as
  its status says, Charging while a transaction runs there, Idle otherwise.
- A message shows on an EVSE when its window (startDateTime inclusive,
  endDateTime exclusive, on the station's clock) holds now, its state (if
  any) is the EVSE's, its transaction (if any) is the one running there and
  its display component (if it names an EVSE) is that EVSE. Of those,
  AlwaysFront beats InFront beats NormalCycle; at equal priority a
  transaction-bound one beats a general one, then the newest set.
- NormalCycle messages take turns (`shown` with a `Rotation` and a dwell
  time): each shows for the dwell time, then the next in that order, round
  and round. An AlwaysFront or InFront one (or the driver's text) pauses
  the rotation; when it goes, the rotation goes on with the message after
  the one last shown. One that stops applying hands over at once; a new one
  waits its turn, except that a message alone longer than the dwell time
  hands over at once to a newcomer.
- The driver's tariff or cost text (I Tariff and cost) is shown above
  NormalCycle messages and below AlwaysFront and InFront ones: it is about
  this driver's session, and the operator's urgent messages still win.

Pure: no I/O, no clock reads; `now` comes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

PRIORITIES = ("AlwaysFront", "InFront", "NormalCycle")
FORMATS = ("ASCII", "HTML", "URI", "UTF8")
STATES = ("Charging", "Faulted", "Idle", "Unavailable")
_RANK = {p: i for i, p in enumerate(PRIORITIES)}

# The driver's tariff or cost text ranks between InFront and NormalCycle.
_DRIVER_RANK = 1.5


@dataclass(frozen=True)
class Message:
    id: int
    priority: str
    content: str
    format: str = "UTF8"
    language: str | None = None
    state: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    transaction_id: str | None = None
    # The EVSE the display component names, None: every EVSE's display.
    evse: int | None = None
    # When it was set, to break ties (a larger one is newer).
    order: int = 0


@dataclass(frozen=True)
class EvseView:
    """What the rules need of an EVSE: its status (1.6 words) and its transaction."""

    status: str
    transaction_id: str | None = None


@dataclass(frozen=True)
class Rotation:
    """Where an EVSE's NormalCycle rotation is: the message it shows, shown since when."""

    id: int
    since: datetime


@dataclass(frozen=True)
class Shown:
    """What an EVSE's display shows: a CSMS's message, the driver's text, or nothing;
    where its NormalCycle rotation stands, and when it next turns (None: it does not)."""

    text: str
    message: Message | None = None
    rotation: Rotation | None = None
    next_turn: datetime | None = None


NOTHING = Shown("")


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    # A time without an offset is read as UTC, the station's clock's zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse(info: Mapping[str, Any], order: int = 0) -> Message:
    """A MessageInfo (already valid against the schema) as a `Message`."""
    content = info["message"]
    display = info.get("display") or {}
    evse = display.get("evse") if isinstance(display, Mapping) else None
    return Message(
        id=int(info["id"]),
        priority=str(info["priority"]),
        content=str(content["content"]),
        format=str(content.get("format", "UTF8")),
        language=content.get("language"),
        state=info.get("state"),
        start=_time(info.get("startDateTime")),
        end=_time(info.get("endDateTime")),
        transaction_id=info.get("transactionId"),
        evse=int(evse["id"]) if isinstance(evse, Mapping) and "id" in evse else None,
        order=order,
    )


def judge(
    info: Mapping[str, Any],
    *,
    available: bool,
    priorities: Sequence[str],
    formats: Sequence[str],
    states: Sequence[str] | None,
    running: Iterable[str],
    stored: Iterable[int],
    most: int | None,
) -> str:
    """SetDisplayMessage's status for `info` (see the module docstring for the order)."""
    if not available:
        return "Rejected"
    if info["priority"] not in priorities:
        return "NotSupportedPriority"
    if info["message"]["format"] not in formats:
        return "NotSupportedMessageFormat"
    transaction = info.get("transactionId")
    if transaction is not None and transaction not in set(running):
        return "UnknownTransaction"
    state = info.get("state")
    if state is not None and states is not None and state not in states:
        return "NotSupportedState"
    ids = set(stored)
    if most is not None and int(info["id"]) not in ids and len(ids) >= most:
        return "Rejected"
    return "Accepted"


def matches(
    message: Message,
    ids: Iterable[int] | None = None,
    priority: str | None = None,
    state: str | None = None,
) -> bool:
    """Whether GetDisplayMessages' criteria (each optional, all must hold) select `message`."""
    if ids is not None and message.id not in set(ids):
        return False
    if priority is not None and message.priority != priority:
        return False
    return state is None or message.state == state


def evse_state(view: EvseView) -> str:
    """The MessageState an EVSE is in."""
    if view.status == "Faulted":
        return "Faulted"
    if view.status == "Unavailable":
        return "Unavailable"
    return "Charging" if view.transaction_id is not None else "Idle"


def expired(message: Message, now: datetime) -> bool:
    return message.end is not None and now >= message.end


def applies(message: Message, evse: int, view: EvseView, now: datetime) -> bool:
    """Whether `message` may show on EVSE `evse` now."""
    if message.start is not None and now < message.start:
        return False
    if expired(message, now):
        return False
    if message.evse is not None and message.evse != evse:
        return False
    if message.transaction_id is not None and message.transaction_id != view.transaction_id:
        return False
    return message.state is None or message.state == evse_state(view)


def _key(message: Message) -> tuple[int, int, int]:
    return (
        _RANK.get(message.priority, len(PRIORITIES)),
        message.transaction_id is None,
        -message.order,
    )


def in_force(
    messages: Iterable[Message], evse: int, view: EvseView, now: datetime
) -> Message | None:
    """The CSMS's message EVSE `evse` shows now, or None."""
    candidates = [m for m in messages if applies(m, evse, view, now)]
    return min(candidates, key=_key) if candidates else None


def cycle(candidates: Iterable[Message]) -> list[Message]:
    """The NormalCycle messages of `candidates` in the order they take turns:
    a transaction's own first, then in the order they were set, so a new
    one joins the end of the round."""
    normal = (m for m in candidates if m.priority == "NormalCycle")
    return sorted(normal, key=lambda m: (m.transaction_id is None, m.order))


def turn(
    turns: Sequence[Message], previous: Rotation | None, now: datetime, dwell: float
) -> tuple[Message, Rotation, datetime | None]:
    """Whose turn it is of `turns` (not empty, in `cycle` order) now, after
    `previous`: the message, the rotation, and when the turn is over (None
    for a message alone, which turns to nothing)."""
    ids = [m.id for m in turns]
    if previous is not None and previous.id in ids:
        at = ids.index(previous.id)
        over = previous.since + timedelta(seconds=dwell)
        if len(turns) == 1:
            return turns[at], previous, None
        if now < over:
            return turns[at], previous, over
        following = turns[(at + 1) % len(turns)]
        return following, Rotation(following.id, now), _after(now, dwell, len(turns))
    first = turns[0]
    return first, Rotation(first.id, now), _after(now, dwell, len(turns))


def _after(now: datetime, dwell: float, count: int) -> datetime | None:
    return now + timedelta(seconds=dwell) if count > 1 else None


def shown(
    messages: Iterable[Message],
    evse: int,
    view: EvseView,
    now: datetime,
    driver_text: str | None = None,
    rotation: Rotation | None = None,
    dwell: float | None = None,
) -> Shown:
    """What EVSE `evse`'s display shows: the message in force, or the driver's
    tariff or cost text where it ranks higher. With a `dwell` time (seconds),
    NormalCycle messages take turns from `rotation` (see the module docstring);
    without one the message in force (`in_force`) shows."""
    candidates = [m for m in messages if applies(m, evse, view, now)]
    message = min(candidates, key=_key) if candidates else None
    if message is not None and _RANK.get(message.priority, len(PRIORITIES)) < _DRIVER_RANK:
        # Paused behind a front message: the rotation stays where it was.
        return Shown(message.content, message, rotation)
    if driver_text:
        return Shown(driver_text, None, rotation)
    if message is None:
        return Shown("", None, rotation)
    if dwell is None or dwell <= 0:
        return Shown(message.content, message)
    turns = cycle(candidates)
    chosen, rotated, over = turn(turns, rotation, now, dwell)
    return Shown(chosen.content, chosen, rotated, over)


def next_change(messages: Iterable[Message], now: datetime) -> datetime | None:
    """The next time a window opens or closes after `now`: when to look again."""
    times = [t for m in messages for t in (m.start, m.end) if t is not None and t > now]
    return min(times) if times else None
