"""OCPP 2.0.1 I Tariff and cost (I01-I06), for a station that calculates no
cost itself: the CSMS's tariff and cost texts, shown on the EVSE's display.

What it shows at an EVSE is the driver's text, handed to the display
messages block (`DriverText`), which ranks it above NormalCycle messages
(protocol/v201/display_messages.py):

- I01: the idTokenInfo.personalMessage of the Authorize that let the driver
  in (the CSMS's answer is read from the bus: rpc sends one CALL at a time,
  so an Authorize's answer is the one after its MessageSent), or of a
  TransactionEventResponse; TransactionEventResponse.updatedPersonalMessage
  replaces it. Shown while TariffCostCtrlr.Enabled[Tariff] and
  Available[Tariff].
- I02, I03: totalCost of a TransactionEventResponse (running, and final
  in the answer to Ended) and CostUpdated's totalCost for that transaction's
  EVSE, shown with TariffCostCtrlr.Currency while Enabled[Cost] and
  Available[Cost]. CostUpdated is always answered (its response has no
  status); one for a transaction the station does not know is logged, as
  libocpp does. The answers come from the outbox (`TransactionAnswered`),
  so a queued message answered after a reconnect still counts, while its
  EVSE has no newer session.
- I04: TariffFallbackMessage for a driver the CSMS gave no tariff text
  (authorized offline, from the cache or the list, or without a
  personalMessage) and on an idle EVSE while the station is offline.
- I05: TotalCostFallbackMessage when a transaction ends while offline.
- A final cost (or a stopped session's last text) shows for
  `FINAL_COST_HOLD` seconds on the station's clock, or until the next
  driver; a driver's tariff text goes when the EVSE is Available again
  without a session (the EV never came).

What each EVSE shows its driver is stored with the transaction it belongs
to (storage's `driver_texts`, migration 0013) whenever it changes, and
deleted when it is over: a restarted block (or station, with a data dir)
shows the same texts again. A transaction that ended meanwhile (a new
process ends the last one's with PowerLoss before this block starts) is
held as any ended session is, with I05's fallback if offline, and its
final cost is still taken from the CSMS's answer or a CostUpdated. The
Authorize personal messages not yet matched to a session are in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ocpp.v201 import call_result

from ocppstation.actors.events import (
    ConfigChanged,
    ConnectorChanged,
    MessageAnswered,
    MessageSent,
    Online,
    TokenJudged,
    TransactionAnswered,
    TransactionStarted,
    TransactionStopped,
)
from ocppstation.actors.link.block import Block, Reply
from ocppstation.actors.link.rpc import link_ready
from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.context import StationContext
from ocppstation.actors.storage.driver_texts import DriverText as StoredText
from ocppstation.actors.v201.display_messages import DISPLAY, DriverText
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump

COST = "cost"
FINAL_COST_HOLD = 60.0
SNAPSHOT_TIMEOUT = 2.0
STORAGE_TIMEOUT = 5.0
# Personal messages of Authorize answers not yet matched to an EVSE, and
# transactions whose EVSE is remembered for a late answer, are bounded.
KNOWN = 64
_SETTINGS = frozenset(
    {
        Setting.TARIFF_ENABLED,
        Setting.TARIFF_AVAILABLE,
        Setting.COST_ENABLED,
        Setting.COST_AVAILABLE,
        Setting.TARIFF_FALLBACK_MESSAGE,
        Setting.TOTAL_COST_FALLBACK_MESSAGE,
        Setting.CURRENCY,
    }
)


@dataclass
class _Evse:
    transaction_id: str | None = None  # of the session under way
    tariff: str | None = None
    cost: str | None = None
    held: int = 0  # the seq of the hold timer of an ended session's text
    holding: bool = False  # an ended session's text shows until its hold is over
    shown: str | None = None
    # The transaction the tariff and cost texts are of (None: a driver's
    # tariff before the session, or nothing), and what storage has of them.
    texts_of: str | None = None
    stored: StoredText | None = None


@dataclass(frozen=True)
class _HoldOver:
    evse: int
    seq: int


def personal_message(info: Any) -> str | None:
    """The content of an idTokenInfo's personalMessage, or None."""
    if not isinstance(info, dict):
        return None
    return content(info.get("personalMessage"))


def content(message: Any) -> str | None:
    """The text of a MessageContent, or None."""
    if isinstance(message, dict) and message.get("content"):
        return str(message["content"])
    return None


def cost_text(total: Any, currency: str, *, final: bool) -> str | None:
    """A totalCost as the driver reads it: two decimals and the currency."""
    try:
        amount = Decimal(str(total)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    words = "Total cost" if final else "Cost so far"
    return f"{words}: {amount} {currency}".rstrip()


_WANTED = (
    ConnectorChanged,
    TokenJudged,
    TransactionStarted,
    TransactionStopped,
    Online,
    ConfigChanged,
)


def _wanted(event: object) -> object | None:
    # Sorted on the publisher's thread: every CALL and answer is published,
    # and waking this actor for each would cost the message path a hand-off.
    match event:
        case MessageSent(action="Authorize") | MessageAnswered(action="Authorize"):
            return event
        case TransactionAnswered(action="TransactionEvent"):
            return event
    return event if isinstance(event, _WANTED) else None


class TariffAndCost(Block):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place, ctx)
        self.evses = {n: _Evse() for n in ctx.config.evse_numbers}
        self.transactions: OrderedDict[str, int] = OrderedDict()
        self.personal: OrderedDict[str, str | None] = OrderedDict()
        self.asked: str | None = None  # the idToken of the Authorize in flight
        self.online = False
        self._unsubscribe = lambda: None

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward(self.actor_ref, _wanted)
        self.online = link_ready(self.ctx)
        stored = self.ctx.storage().driver_texts.all().get(timeout=STORAGE_TIMEOUT)
        for evse, snapshot in self.ctx.snapshots(self.evses, SNAPSHOT_TIMEOUT).items():
            if snapshot.get("transaction_id") is not None:
                self._bind(evse, str(snapshot["transaction_id"]))
        for text in stored:
            self._restore(text)
        self._refresh()

    def _restore(self, text: StoredText) -> None:
        """What EVSE `text.evse` showed before this block (or the station) restarted."""
        state = self.evses.get(text.evse)
        if state is None:
            return
        state.stored = text
        self._note(text.transaction_id, text.evse)
        if state.transaction_id not in (None, text.transaction_id):
            return  # a newer session runs there: the row goes at the next refresh
        state.tariff, state.cost, state.texts_of = text.tariff, text.cost, text.transaction_id
        if state.transaction_id is None:
            # Ended: before the restart (held then), or by it (PowerLoss at the
            # new process's start) or while this block was down.
            if not text.ended:
                self._ended_offline(state)
            self._hold(text.evse)

    def teardown(self) -> None:
        self._unsubscribe()
        for evse, state in self.evses.items():
            if state.shown is not None:
                # What this block knew goes with it (see the module docstring).
                self.ctx.registry.tell(DISPLAY, DriverText(evse, None))

    def receive(self, message: Any) -> Any:
        match message:
            case MessageSent(action="Authorize", payload=payload):
                self.asked = str(payload.get("idToken", {}).get("idToken", "")) or None
            case MessageAnswered(action="Authorize", payload=result) if self.asked:
                info = (result or {}).get("idTokenInfo")
                self._remember(self.asked, personal_message(info))
                self.asked = None
            case TokenJudged():
                self._judged(message)
            case TransactionAnswered(action="TransactionEvent"):
                self._answered(message)
            case TransactionStarted(evse=evse) if evse in self.evses:
                self._bind(evse, str(message.transaction_id))
                self._refresh()  # its texts are stored with it from now on
            case TransactionStopped(evse=evse) if evse in self.evses:
                self._stopped(evse)
            case Online(online=online):
                self.online = online
                self._refresh()
            case ConfigChanged(setting=setting) if setting in _SETTINGS:
                self._refresh()
            case _HoldOver(evse=evse, seq=seq):
                state = self.evses.get(evse)
                if state is not None and state.held == seq and state.transaction_id is None:
                    state.tariff = state.cost = None
                    state.texts_of = None
                    state.holding = False
                    self._refresh()
            case ConnectorChanged(evse=evse, status="Available") if evse in self.evses:
                state = self.evses[evse]
                if state.transaction_id is None and not state.holding:
                    # A driver who never plugged in (EVConnectionTimeOut) is shown no more.
                    state.tariff = state.cost = None
                    state.texts_of = None
                    self._refresh()
            case MessageSent() | MessageAnswered() | TransactionAnswered():
                pass
            case TransactionStarted() | TransactionStopped() | ConfigChanged():
                pass
            case ConnectorChanged():
                pass
            case _:
                return super().receive(message)
        return None

    # -- settings ---------------------------------------------------------------

    def _tariff_on(self) -> bool:
        s = self.ctx.setting
        return bool(s(Setting.TARIFF_AVAILABLE, True)) and bool(s(Setting.TARIFF_ENABLED, True))

    def _cost_on(self) -> bool:
        s = self.ctx.setting
        return bool(s(Setting.COST_AVAILABLE, True)) and bool(s(Setting.COST_ENABLED, True))

    def _text(self, setting: Setting) -> str | None:
        return str(self.ctx.setting(setting, "") or "") or None

    def _currency(self) -> str:
        return str(self.ctx.setting(Setting.CURRENCY, "") or "")

    # -- the CSMS's CostUpdated -----------------------------------------------------

    def handle(self, call: Call) -> Reply:
        if call.action != "CostUpdated":
            raise NotSupported(call.action)
        transaction_id = str(call.payload["transactionId"])
        evse = self.transactions.get(transaction_id)
        if evse is None:
            evse = self._find(transaction_id)
        if evse is None:
            # The response has no status to refuse with.
            self.log.error("CostUpdated for transaction %s, which is not known", transaction_id)
        elif self._cost_on():
            state = self.evses[evse]
            final = state.transaction_id != transaction_id
            state.cost = cost_text(call.payload["totalCost"], self._currency(), final=final)
            self._refresh()
        return dump(call_result.CostUpdated()), None

    def _find(self, transaction_id: str) -> int | None:
        for evse, snapshot in self.ctx.snapshots(self.evses, SNAPSHOT_TIMEOUT).items():
            if str(snapshot.get("transaction_id")) == transaction_id:
                self._bind(evse, transaction_id)
                return evse
        return None

    # -- what the station hears ------------------------------------------------------

    def _remember(self, token: str, text: str | None) -> None:
        self.personal[token] = text
        self.personal.move_to_end(token)
        while len(self.personal) > KNOWN:
            self.personal.popitem(last=False)

    def _judged(self, event: TokenJudged) -> None:
        personal = self.personal.pop(event.id_tag, None)
        state = self.evses.get(event.evse)
        if state is None or not event.accepted or state.transaction_id is not None:
            return  # refused, or a card that stops the session under way
        # A new driver: what the last one was shown is over.
        state.held += 1
        state.holding = False
        state.cost = None
        state.texts_of = None
        state.tariff = personal if event.source == "csms" and personal else None
        if state.tariff is None:
            state.tariff = self._text(Setting.TARIFF_FALLBACK_MESSAGE)
        self._refresh()

    def _bind(self, evse: int, transaction_id: str) -> None:
        state = self.evses[evse]
        if state.transaction_id != transaction_id:
            state.transaction_id = transaction_id
            state.texts_of = transaction_id
            state.held += 1
            state.holding = False
        self._note(transaction_id, evse)

    def _note(self, transaction_id: str, evse: int) -> None:
        """Remember `transaction_id`'s EVSE, for a late answer or CostUpdated."""
        self.transactions[transaction_id] = evse
        self.transactions.move_to_end(transaction_id)
        while len(self.transactions) > KNOWN:
            self.transactions.popitem(last=False)

    def _answered(self, event: TransactionAnswered) -> None:
        info = event.payload.get("transactionInfo") or {}
        transaction_id = str(info.get("transactionId"))
        kind = event.payload.get("eventType")
        evse = event.evse if event.evse is not None else self.transactions.get(transaction_id)
        if evse is None or evse not in self.evses:
            return
        if kind == "Started":
            self._bind(evse, transaction_id)
        state = self.evses[evse]
        if state.transaction_id not in (None, transaction_id):
            return  # a late answer about a session before this one
        if self.transactions.get(transaction_id) != evse:
            return
        result = event.result
        if self._tariff_on():
            text = content(result.get("updatedPersonalMessage")) or personal_message(
                result.get("idTokenInfo")
            )
            if text:
                state.tariff = text
        if self._cost_on() and result.get("totalCost") is not None:
            final = kind == "Ended"
            state.cost = cost_text(result["totalCost"], self._currency(), final=final)
            if final:
                self._hold(evse)
        self._refresh()

    def _stopped(self, evse: int) -> None:
        state = self.evses[evse]
        state.transaction_id = None
        self._ended_offline(state)
        self._hold(evse)
        self._refresh()

    def _ended_offline(self, state: _Evse) -> None:
        if not self.online and self._cost_on():
            # I05: no total cost can come now; say where the driver finds it.
            fallback = self._text(Setting.TOTAL_COST_FALLBACK_MESSAGE)
            if fallback:
                state.cost = fallback

    def _hold(self, evse: int) -> None:
        state = self.evses[evse]
        state.held += 1
        state.holding = True
        self.ctx.call_later(FINAL_COST_HOLD, self.actor_ref, _HoldOver(evse, state.held))

    # -- to the display -----------------------------------------------------------

    def _refresh(self) -> None:
        tariff_on, cost_on = self._tariff_on(), self._cost_on()
        for evse, state in self.evses.items():
            parts = [t for t, on in ((state.tariff, tariff_on), (state.cost, cost_on)) if on and t]
            text = "\n".join(parts) if parts else None
            if text is None and not self.online and tariff_on and state.transaction_id is None:
                # I04: offline, an idle EVSE shows what charging here costs.
                text = self._text(Setting.TARIFF_FALLBACK_MESSAGE)
            if text != state.shown:
                state.shown = text
                self.ctx.registry.tell(DISPLAY, DriverText(evse, text))
            self._store(evse, state)

    def _store(self, evse: int, state: _Evse) -> None:
        """Keep what EVSE `evse` shows of its transaction in storage (see the docstring)."""
        record = None
        if state.texts_of is not None and (state.tariff or state.cost):
            ended = state.transaction_id is None
            record = StoredText(evse, state.texts_of, state.tariff, state.cost, ended)
        if record == state.stored:
            return
        texts = self.ctx.storage().driver_texts
        try:
            if record is None:
                texts.delete(evse).get(timeout=STORAGE_TIMEOUT)
            else:
                texts.put(record).get(timeout=STORAGE_TIMEOUT)
        except Exception:
            # The display goes on from memory; only a restart would lose the text.
            self.log.exception("could not store EVSE %d's tariff and cost texts", evse)
            return
        state.stored = record
