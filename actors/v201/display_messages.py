"""OCPP 2.0.1 O Display messages: SetDisplayMessage (O01, O02, O03, O06),
GetDisplayMessages with NotifyDisplayMessages (O04), ClearDisplayMessage (O05).

The block owns what each EVSE's display shows in 2.0.1: the CSMS's message
in force there, chosen by the pure rules of protocol/v201/display_messages.py,
or the driver's tariff or cost text the tariff and cost block
(tariff_and_cost.py) tells it (`DriverText`). Each change is published as
`DisplayChanged`, the event 1.6's California Pricing feeds too, so
`Station.status()` and an embedder's display follow either version alike.

- Messages are stored (storage's `display_messages`, migration 0009) and
  survive a restart; a transaction-bound one is deleted when its
  transaction ends, and on start when its transaction runs nowhere any more
  (it ended while the block was down, or with the previous run). One whose
  endDateTime has passed is deleted at that time (a timer on the station's
  clock, armed for the next window that opens or closes).
- The EVSEs' states come from the connectors: a snapshot of each when the
  block starts, again at every `ConnectorChanged`, `TransactionStarted` and
  `TransactionStopped` of that EVSE.
- GetDisplayMessages answers Unknown when nothing matches, as the spec
  asks, and otherwise Accepted followed by one NotifyDisplayMessages with
  every match (tbc false), as libocpp does.
- Several NormalCycle messages in force at an EVSE take turns, each shown
  for `Internal.DisplayCycleSeconds` (a timer per turn on the station's
  clock; the pure `dm.shown` says whose turn it is). 2.0.1 has no
  DisplayMessageCtrlr variable for it and libocpp leaves the cycling to the
  embedder's display, so it is an Internal setting; 10 s by default, long
  enough to read a line of text, short enough that a driver waiting at the
  plug sees each message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocpp.v201 import call_result
from ocpp.v201.enums import ClearMessageStatusEnumType, DisplayMessageStatusEnumType
from ocpp.v201.enums import GetDisplayMessagesStatusEnumType as GetStatus

from ocppstation.actors.events import (
    ConfigChanged,
    ConnectorChanged,
    DisplayChanged,
    DisplayMessagesChanged,
    TransactionStarted,
    TransactionStopped,
)
from ocppstation.actors.link.block import Block, Reply
from ocppstation.actors.link.rpc import submit
from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.context import StationContext
from ocppstation.config.settings_catalog import Setting
from ocppstation.config.v201_components import (
    DISPLAY_FORMATS,
    DISPLAY_MESSAGES_MAX,
    DISPLAY_PRIORITIES,
    DISPLAY_STATES,
)
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v201 import display_messages as dm

DISPLAY = "display"
STORAGE_TIMEOUT = 10.0
SNAPSHOT_TIMEOUT = 2.0
# A window further away than this is looked at again then (the clock may be set meanwhile).
LONGEST_WAIT = 3600.0
_DISPLAY_SETTINGS = frozenset(
    {Setting.DISPLAY_MESSAGES_ENABLED, Setting.DISPLAY_MESSAGES_AVAILABLE}
)


@dataclass(frozen=True)
class DriverText:
    """From the tariff and cost block: the driver's tariff or cost text at `evse`
    (None: nothing of theirs to show)."""

    evse: int
    text: str | None


@dataclass(frozen=True)
class _Tick:
    seq: int


def _members(value: object, default: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, tuple | list):
        return tuple(str(v) for v in value)
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return default


class DisplayMessages(Block):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place, ctx)
        # id -> (the MessageInfo as stored, the rules' reading of it)
        self.messages: dict[int, tuple[dict[str, Any], dm.Message]] = {}
        self.views = {n: dm.EvseView("Available") for n in ctx.config.evse_numbers}
        self.driver: dict[int, str | None] = {}
        self.shown: dict[int, DisplayChanged] = {}
        # Each EVSE's NormalCycle rotation: in memory, a restart starts it over.
        self.rotations: dict[int, dm.Rotation] = {}
        self.dwell = float(ctx.config.value("Internal", "DisplayCycleSeconds"))
        self.timer: int | None = None
        self.tick = 0
        self.counted: int | None = None  # the message count last published
        self._unsubscribe = lambda: None

    # -- lifecycle ------------------------------------------------------------------

    def setup(self) -> None:
        wanted = (ConnectorChanged, TransactionStarted, TransactionStopped, ConfigChanged)
        self._unsubscribe = self.ctx.forward_kinds(self.actor_ref, *wanted)
        for seq, info in self.ctx.storage().display_messages.all().get(timeout=STORAGE_TIMEOUT):
            self.messages[int(info["id"])] = (info, dm.parse(info, seq))
        snapshots = self.ctx.snapshots(self.views, timeout=SNAPSHOT_TIMEOUT)
        for evse, snapshot in snapshots.items():
            self.views[evse] = _view(snapshot)
        if len(snapshots) == len(self.views):
            # Every EVSE answered: a transaction none of them runs has ended.
            running = {v.transaction_id for v in self.views.values()}
            self._delete(
                [
                    i
                    for i, (_, m) in self.messages.items()
                    if m.transaction_id not in (None, *running)
                ]
            )
        self._refresh()

    def teardown(self) -> None:
        self._unsubscribe()
        self.ctx.cancel(self.timer)
        for evse, event in self.shown.items():
            if event.text:
                # Nothing stands behind the text while the block is down (a
                # restart, a reset); the next one shows what is in force.
                self.ctx.bus.publish(DisplayChanged(evse, ""))

    def receive(self, message: Any) -> Any:
        match message:
            case DriverText(evse=evse, text=text) if evse in self.views:
                self.driver[evse] = text
                self._refresh()
            case ConnectorChanged(evse=evse) | TransactionStarted(evse=evse) if evse in self.views:
                self._look_at(evse)
            case TransactionStopped(evse=evse, transaction_id=transaction_id):
                if transaction_id is not None:
                    # O02: a transaction's message ends with it.
                    self._delete(
                        [
                            i
                            for i, (_, m) in self.messages.items()
                            if m.transaction_id == str(transaction_id)
                        ]
                    )
                if evse in self.views:
                    self._look_at(evse)
            case ConfigChanged(setting=setting) if setting in _DISPLAY_SETTINGS:
                self._refresh()
            case _Tick(seq=seq) if seq == self.tick:
                self.timer = None
                self._refresh()
            case ConnectorChanged() | TransactionStarted() | ConfigChanged() | _Tick():
                pass
            case _:
                return super().receive(message)
        return None

    # -- the CSMS's calls -----------------------------------------------------------

    def handle(self, call: Call) -> Reply:
        match call.action:
            case "SetDisplayMessage":
                return self._set(call.payload["message"]), None
            case "GetDisplayMessages":
                return self._get(call.payload)
            case "ClearDisplayMessage":
                return self._clear(int(call.payload["id"])), None
        raise NotSupported(call.action)

    def _available(self) -> bool:
        s = self.ctx.setting
        return bool(s(Setting.DISPLAY_MESSAGES_AVAILABLE, True)) and bool(
            s(Setting.DISPLAY_MESSAGES_ENABLED, True)
        )

    def _running(self) -> set[str]:
        snapshots = self.ctx.snapshots(self.views, timeout=SNAPSHOT_TIMEOUT)
        return {str(s["transaction_id"]) for s in snapshots.values() if s.get("transaction_id")}

    def _set(self, info: dict[str, Any]) -> dict[str, Any]:
        s = self.ctx.setting
        status = dm.judge(
            info,
            available=self._available(),
            priorities=_members(s(Setting.DISPLAY_PRIORITIES, None), DISPLAY_PRIORITIES),
            formats=_members(s(Setting.DISPLAY_FORMATS, None), DISPLAY_FORMATS),
            states=_members(s(Setting.DISPLAY_STATES, None), DISPLAY_STATES),
            running=self._running() if info.get("transactionId") is not None else (),
            stored=self.messages,
            most=DISPLAY_MESSAGES_MAX,
        )
        if status == "Accepted":
            stored = dict(info)
            seq = self.ctx.storage().display_messages.put(stored).get(timeout=STORAGE_TIMEOUT)
            self.messages[int(info["id"])] = (stored, dm.parse(stored, seq))
            self.log.info("display message %s set (%s)", info["id"], info["priority"])
            self._refresh()
        answer = call_result.SetDisplayMessage(DisplayMessageStatusEnumType(status))
        return dump(answer)

    def _get(self, payload: dict[str, Any]) -> Reply:
        chosen = [
            info
            for info, message in self.messages.values()
            if dm.matches(message, payload.get("id"), payload.get("priority"), payload.get("state"))
        ]
        if not chosen:
            return dump(call_result.GetDisplayMessages(GetStatus.unknown)), None
        request_id = int(payload["requestId"])
        notify = {"requestId": request_id, "messageInfo": chosen, "tbc": False}

        def send() -> None:
            submit(self.ctx, "NotifyDisplayMessages", notify)

        return dump(call_result.GetDisplayMessages(GetStatus.accepted)), self.later(send)

    def _clear(self, message_id: int) -> dict[str, Any]:
        found = message_id in self.messages
        if found:
            self._delete([message_id])
            self._refresh()
        status = (
            ClearMessageStatusEnumType.accepted if found else ClearMessageStatusEnumType.unknown
        )
        return dump(call_result.ClearDisplayMessage(status))

    # -- what shows -----------------------------------------------------------------

    def _delete(self, ids: list[int]) -> None:
        if not ids:
            return
        self.ctx.storage().display_messages.delete(ids).get(timeout=STORAGE_TIMEOUT)
        for i in ids:
            self.messages.pop(i, None)
        self.log.info("display messages %s removed", ids)

    def _look_at(self, evse: int) -> None:
        snapshot = self.ctx.snapshots([evse], timeout=SNAPSHOT_TIMEOUT).get(evse)
        if snapshot is not None:
            self.views[evse] = _view(snapshot)
        self._refresh()

    def _refresh(self) -> None:
        now = self.ctx.clock.wall()
        self._delete([i for i, (_, m) in self.messages.items() if dm.expired(m, now)])
        messages = [m for _, m in self.messages.values()] if self._available() else []
        changed: list[DisplayChanged] = []
        turns: list[datetime] = []
        for evse, view in self.views.items():
            shown = dm.shown(
                messages,
                evse,
                view,
                now,
                self.driver.get(evse),
                self.rotations.get(evse),
                self.dwell,
            )
            if shown.rotation is None:
                self.rotations.pop(evse, None)
            else:
                self.rotations[evse] = shown.rotation
            if shown.next_turn is not None:
                turns.append(shown.next_turn)
            m = shown.message
            event = DisplayChanged(
                evse,
                shown.text,
                None,
                None if m is None else m.id,
                None if m is None else m.priority,
                None if m is None else m.format,
                None if m is None else m.language,
            )
            if self.shown.get(evse) != event and (evse in self.shown or shown.text):
                self.shown[evse] = event
                changed.append(event)
        # Armed before the changes are published: whoever waits for one may
        # move virtual time at once and still see the next turn.
        self._arm(now, messages, turns)
        for event in changed:
            self.ctx.bus.publish(event)
        # Every set, clear and deletion ends here: the device model reports
        # DisplayMessageCtrlr.DisplayMessages live from it.
        if self.counted != len(self.messages):
            self.counted = len(self.messages)
            self.ctx.bus.publish(DisplayMessagesChanged(self.counted))

    def _arm(self, now: datetime, messages: list[dm.Message], turns: list[datetime]) -> None:
        self.ctx.cancel(self.timer)
        self.timer = None
        self.tick += 1
        edges = [t for t in (dm.next_change(messages, now), *turns) if t is not None]
        if not edges:
            return
        wait = min((min(edges) - now).total_seconds(), LONGEST_WAIT)
        self.timer = self.ctx.call_later(max(wait, 0.0), self.actor_ref, _Tick(self.tick))


def _view(snapshot: dict[str, Any]) -> dm.EvseView:
    transaction_id = snapshot.get("transaction_id")
    return dm.EvseView(
        str(snapshot.get("status", "Available")),
        None if transaction_id is None else str(transaction_id),
    )
