"""California Pricing (OCA application note) over OCPP 1.6 DataTransfer.

The CSMS sends SetUserPrice, RunningCost and FinalCost as DataTransfer of
vendor `org.openchargealliance.costmsg`. This block registers their
handlers with the station's DataTransfer handlers (the data transfer block
answers through them, as for an embedder's vendor); each handler validates
the `data` (pure, `protocol.v16.california_pricing`) on the data transfer
block's thread, and a valid message is then applied here, so the answer
says whether it was taken. While CustomDisplayCostAndPrice is false they
answer UnknownVendorId, as for a vendor the station does not know.

What it keeps, per EVSE, is what the display shows: the default price
(DefaultPrice, DefaultPriceText; the offline texts while offline), the
driver's price from the Authorize on, the running cost, the final cost and
its QR code text. Each change is published as `DisplayChanged`.

- An Authorize the CSMS accepted for a new session waits for the driver's
  SetUserPrice up to WaitForSetUserPriceTimeout (the connector tells
  `AwaitUserPrice` and goes on at `UserPriceSettled`), as libocpp's 1.6
  does. A price that came just before the wait began counts: the CSMS may
  send it before its Authorize.conf reaches us.
- RunningCost's triggerMeterValue makes the connector send a MeterValues
  (TriggerMeterValues): at a time (a timer), at an energy or a power (the
  meter is read every `POLL_INTERVAL` while either is armed), at a
  status. A new RunningCost replaces the triggers; the end of the
  transaction clears them.
- A FinalCost is shown for `FINAL_COST_HOLD` seconds, or until the next
  driver; then the idle EVSE shows the default price again.
- Idle fee after the stop (CustomIdleFeeAfterStop true; the note's section
  "Idle time after the transaction"): a transaction stopped with the cable
  still in keeps its session open here until the cable leaves. Its
  RunningCost (state Idle, the idle fee so far) is still taken and shown,
  and so is a FinalCost, neither of them expiring while the cable is in.
  When the connector is Available again the station queues DataTransfer
  ConnectorUnplugged {transactionId, timestamp} in the outbox (the note
  asks for it to be reliable, queued like a transaction message while
  offline; the StatusNotification Available is still sent), and the
  session's text stays `FINAL_COST_HOLD` seconds more for the FinalCost
  the CSMS sends then. A stop by the cable itself (EVDisconnected) has no
  idle time, and a stop whose transactionId the CSMS never gave has no id
  to report: both end as without the key.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pykka

from ocppstation.actors.events import (
    ConfigChanged,
    ConnectorChanged,
    DisplayChanged,
    Online,
    TokenJudged,
    TransactionStarted,
    TransactionStopped,
    UserPriceAwaited,
)
from ocppstation.actors.evse.connector import TriggerMeterValues
from ocppstation.actors.evse.hardware import ReadMeter
from ocppstation.actors.hooks.data_transfer import Handler
from ocppstation.actors.link.outbox import tell_stored
from ocppstation.actors.link.rpc import link_ready
from ocppstation.actors.messages import AwaitUserPrice, UserPriceSettled
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import PRICING, StationContext, evse_path
from ocppstation.config import keys_v16
from ocppstation.hw.ports import MeterReading
from ocppstation.protocol import txqueue
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16 import california_pricing as cp

# The data transfer block waits this long for the message to be applied.
APPLY_TIMEOUT = 5.0
METER_TIMEOUT = 2.0
STORAGE_TIMEOUT = 5.0
SNAPSHOT_TIMEOUT = 2.0
# How often an energy or power trigger looks at the meter (libocpp: every measurement).
POLL_INTERVAL = 1.0
# A SetUserPrice this recent counts for an Authorize that starts waiting now.
FRESH_PRICE = 30.0
FINAL_COST_HOLD = 60.0
# FinalCost may come after the stop: the EVSE of that many recent transactions is kept.
KNOWN_TRANSACTIONS = 64
_PRICING_KEYS = frozenset(
    spec.name for spec in keys_v16.KEYS.values() if spec.profile == keys_v16.COST_AND_PRICE
)


@dataclass(frozen=True)
class Priced:
    """Ask, from a handler: apply this valid message; answers (status, data)."""

    pricing: cp.Pricing


@dataclass(frozen=True)
class _WaitOver:
    seq: int


@dataclass(frozen=True)
class _TriggerTime:
    evse: int
    seq: int


@dataclass(frozen=True)
class _Poll:
    evse: int


@dataclass(frozen=True)
class _FinalOver:
    evse: int
    seq: int


@dataclass
class _Waiter:
    request: AwaitUserPrice
    timer: int | None


@dataclass
class _Triggers:
    energy_kwh: Decimal | None = None
    power_kw: Decimal | None = None
    last_power_kw: Decimal | None = None
    statuses: tuple[str, ...] = ()
    time_timer: int | None = None
    poll_timer: int | None = None
    seq: int = 0


@dataclass
class _Evse:
    content: cp.Display | None = None  # a driver's price or a cost; None: the default
    shown: cp.Display | None = None
    id_tag: str | None = None  # of the session under way
    # Accepted here, its session not started yet: a SetUserPrice for it shows here.
    identified: str | None = None
    status: str | None = None
    final_seq: int = 0
    final_held: bool = False
    # Stopped with the cable still in (CustomIdleFeeAfterStop): its idle time runs.
    idle: txqueue.TransactionId | None = None
    triggers: _Triggers = field(default_factory=_Triggers)


def handlers(ctx: StationContext) -> dict[str | None, Handler]:
    """The costmsg DataTransfer handlers, by messageId (None: any other)."""

    def enabled() -> bool:
        return bool(ctx.settings.view.v16("CustomDisplayCostAndPrice", False))

    def other(_: str | None) -> tuple[str, str | None]:
        return ("UnknownMessageId" if enabled() else "UnknownVendorId"), None

    def message(message_id: str) -> Handler:
        def handle(data: str | None) -> tuple[str, str | None]:
            if not enabled():
                return "UnknownVendorId", None
            try:
                pricing = cp.parse(message_id, data)
            except cp.PricingError as exc:
                return "Rejected", str(exc)[:500]
            try:
                status, reply = ctx.registry.ask(PRICING, Priced(pricing), timeout=APPLY_TIMEOUT)
            except Exception:  # restarting: not taken, so not Accepted
                return "Rejected", "the station could not apply it now"
            return str(status), reply

        return handle

    return {None: other, **{m: message(m) for m in cp.MESSAGE_IDS}}


class CaliforniaPricing(Supervised):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.online = False
        self.evses = {n: _Evse() for n in ctx.config.evse_numbers}
        self.transactions: OrderedDict[txqueue.TransactionId, int] = OrderedDict()
        self.prices: dict[str, tuple[cp.UserPrice, float]] = {}
        self.waiting: dict[int, _Waiter] = {}
        self.wait_seq = 0
        self._unsubscribe = lambda: None

    # -- lifecycle ------------------------------------------------------------------

    def setup(self) -> None:
        for message_id, handler in handlers(self.ctx).items():
            self.ctx.data_transfer.register(cp.VENDOR_ID, message_id, handler)
        wanted = (
            Online,
            ConnectorChanged,
            TokenJudged,
            TransactionStarted,
            TransactionStopped,
            ConfigChanged,
        )
        self._unsubscribe = self.ctx.forward_kinds(self.actor_ref, *wanted)
        self.online = link_ready(self.ctx)
        self._recover()
        for evse in self.evses:
            self._refresh(evse)

    def _recover(self) -> None:
        """After a restart: the sessions under way, so that their RunningCost is taken."""
        for evse, snapshot in self.ctx.snapshots(self.evses, timeout=SNAPSHOT_TIMEOUT).items():
            state = self.evses[evse]
            state.status = snapshot.get("status")
            transaction_id = snapshot.get("transaction_id")
            if transaction_id is not None:
                state.id_tag = snapshot.get("id_tag")
                self.transactions[transaction_id] = evse

    def teardown(self) -> None:
        self._unsubscribe()
        for waiter in self.waiting.values():
            # A driver must not be stuck behind a restart: go on without the price.
            self._go_on(waiter.request)
        for state in self.evses.values():
            self._clear_triggers(state)

    def receive(self, message: Any) -> Any:
        match message:
            case Priced():
                return self._apply(message.pricing)
            case AwaitUserPrice():
                self._await(message)
            case _WaitOver():
                self._wait_over(message.seq)
            case _TriggerTime(evse=evse, seq=seq):
                state = self.evses.get(evse)
                if state is not None and state.triggers.seq == seq:
                    state.triggers.time_timer = None
                    self._send_meter_values(evse)
            case _Poll():
                self._poll(message.evse)
            case _FinalOver(evse=evse, seq=seq):
                state = self.evses.get(evse)
                # While the idle fee runs the session's text stays (see the docstring).
                if (
                    state is not None
                    and state.final_seq == seq
                    and state.final_held
                    and state.idle is None
                ):
                    state.final_held = False
                    if state.id_tag is None:
                        state.content = None
                    self._refresh(evse)
            case Online():
                self.online = message.online
                for evse in self.evses:
                    self._refresh(evse)
            case ConnectorChanged():
                self._connector(message)
            case TokenJudged(evse=evse, accepted=True) if evse in self.evses:
                # Also a card the list or the cache let in, which waits for nothing.
                if self.evses[evse].id_tag is None:
                    self.evses[evse].identified = message.id_tag
            case TokenJudged():
                pass
            case TransactionStarted():
                self._started(message)
            case TransactionStopped():
                self._stopped(message)
            case ConfigChanged(key=key) if key in _PRICING_KEYS:
                for evse in self.evses:
                    self._refresh(evse)
            case ConfigChanged():
                pass
            case _:
                return super().receive(message)
        return None

    # -- settings ----------------------------------------------------------------------

    def _key(self, key: str, default: Any) -> Any:
        return self.ctx.settings.view.v16(key, default)

    def _enabled(self) -> bool:
        return bool(self._key("CustomDisplayCostAndPrice", False))

    def _language(self) -> str | None:
        return str(self._key("Language", "")) or None

    def _multi(self) -> bool:
        return bool(self._key("CustomMultiLanguageMessages", False))

    def _idle_fee(self) -> bool:
        return bool(self._key("CustomIdleFeeAfterStop", False))

    # -- the display ----------------------------------------------------------------

    def _default(self) -> cp.Display | None:
        return cp.default_display(
            str(self._key("DefaultPrice", "")),
            str(self._key("DefaultPriceText", "")),
            self._language(),
            offline=not self.online,
            multi_language=self._multi(),
        )

    def _refresh(self, evse: int) -> None:
        if not self._enabled():
            return
        state = self.evses[evse]
        wanted = state.content or self._default() or cp.Display("")
        if wanted == state.shown:
            return
        state.shown = wanted
        self.ctx.bus.publish(DisplayChanged(evse, wanted.text, wanted.qr))

    def _show(self, evse: int, display: cp.Display | None) -> None:
        state = self.evses[evse]
        state.content = display
        state.final_held = False
        self._refresh(evse)

    # -- the CSMS's messages ------------------------------------------------------

    def _apply(self, pricing: cp.Pricing) -> tuple[str, str | None]:
        match pricing:
            case cp.UserPrice():
                return self._user_price(pricing)
            case cp.RunningCost():
                return self._running_cost(pricing)
            case cp.FinalCost():
                return self._final_cost(pricing)
        return "Rejected", None

    def _user_price(self, price: cp.UserPrice) -> tuple[str, str | None]:
        display = cp.user_price_display(price, self._language(), multi_language=self._multi())
        now = self.ctx.clock.monotonic()
        here = {t for state in self.evses.values() for t in (state.id_tag, state.identified)}
        # Bounded: a price for no card here counts only while fresh.
        self.prices = {
            tag: kept
            for tag, kept in self.prices.items()
            if tag in here or now - kept[1] <= FRESH_PRICE
        }
        self.prices[price.id_token] = (price, now)
        for seq, waiter in list(self.waiting.items()):
            if waiter.request.identified.id_tag == price.id_token:
                self._show(waiter.request.evse, display)
                self._settle(seq)
        for evse, state in self.evses.items():
            # A price for a session under way, or about to start, replaces what it showed.
            if price.id_token in (state.id_tag, state.identified):
                self._show(evse, display)
        return "Accepted", None

    def _running_cost(self, cost: cp.RunningCost) -> tuple[str, str | None]:
        evse = self.transactions.get(cost.transaction_id)
        if evse is not None and self.evses[evse].idle == cost.transaction_id:
            # The idle fee after the stop: shown, with no meter values to trigger.
            self._show(evse, self._cost_display(cost))
            return "Accepted", None
        if evse is None or self.evses[evse].id_tag is None:
            return "Rejected", f"no transaction {cost.transaction_id} under way"
        self._show(evse, self._cost_display(cost))
        self._arm_triggers(evse, cost.trigger)
        return "Accepted", None

    def _final_cost(self, cost: cp.FinalCost) -> tuple[str, str | None]:
        evse = self.transactions.get(cost.transaction_id)
        if evse is None:
            return "Rejected", f"no transaction {cost.transaction_id} known"
        state = self.evses[evse]
        self._show(evse, self._cost_display(cost))
        self._clear_triggers(state)
        state.final_held = True
        state.final_seq += 1
        self.ctx.call_later(FINAL_COST_HOLD, self.actor_ref, _FinalOver(evse, state.final_seq))
        return "Accepted", None

    def _cost_display(self, cost: cp.RunningCost | cp.FinalCost) -> cp.Display:
        decimals = int(self._key("NumberOfDecimalsForCostValues", cp.DEFAULT_DECIMALS))
        return cp.running_display(cost, decimals, self._language(), multi_language=self._multi())

    # -- waiting for the driver's price ---------------------------------------------

    def _await(self, request: AwaitUserPrice) -> None:
        id_tag = request.identified.id_tag
        if request.evse in self.evses:
            # A new driver: what the last one was shown is over.
            self.evses[request.evse].final_held = False
            self.evses[request.evse].content = None
            self.evses[request.evse].identified = id_tag
        known = self.prices.get(id_tag)
        fresh = known is not None and self.ctx.clock.monotonic() - known[1] <= FRESH_PRICE
        timeout_ms = int(self._key("WaitForSetUserPriceTimeout", 0))
        if not self._enabled() or request.evse not in self.evses:
            self._go_on(request)
            return
        if known is not None and fresh:
            display = cp.user_price_display(
                known[0], self._language(), multi_language=self._multi()
            )
            self._show(request.evse, display)
            self._go_on(request)
            return
        self._refresh(request.evse)
        if timeout_ms <= 0:
            self._go_on(request)
            return
        self.wait_seq += 1
        seq = self.wait_seq
        timer = self.ctx.call_later(timeout_ms / 1000, self.actor_ref, _WaitOver(seq))
        self.waiting[seq] = _Waiter(request, timer)
        self.ctx.bus.publish(UserPriceAwaited(request.evse, id_tag, timeout_ms / 1000))

    def _go_on(self, request: AwaitUserPrice) -> None:
        try:
            request.reply_to.tell(UserPriceSettled(request.identified))
        except pykka.ActorDeadError:  # restarted meanwhile: the new one was never told
            self.log.info("EVSE %d's connector is gone; its driver presents again", request.evse)

    def _wait_over(self, seq: int) -> None:
        waiter = self.waiting.get(seq)
        if waiter is None:
            return
        waiter.timer = None
        self.log.info(
            "no SetUserPrice for %s within WaitForSetUserPriceTimeout",
            waiter.request.identified.id_tag,
        )
        self._settle(seq)

    def _settle(self, seq: int) -> None:
        waiter = self.waiting.pop(seq)
        self.ctx.cancel(waiter.timer)
        self._go_on(waiter.request)

    # -- what the connectors do ------------------------------------------------------

    def _started(self, event: TransactionStarted) -> None:
        state = self.evses.get(event.evse)
        if state is None:
            return
        self.transactions[event.transaction_id] = event.evse
        self.transactions.move_to_end(event.transaction_id)
        while len(self.transactions) > KNOWN_TRANSACTIONS:
            self.transactions.popitem(last=False)
        state.id_tag = event.id_tag
        state.identified = None
        if state.idle is not None:
            # A new session on the same cable: the last one's idle time is over.
            self.log.info("EVSE %d: idle fee of %s ends with a new session", event.evse, state.idle)
            state.idle = None
        known = self.prices.get(event.id_tag)
        if state.content is None and known is not None:
            self._show(
                event.evse,
                cp.user_price_display(known[0], self._language(), multi_language=self._multi()),
            )

    def _stopped(self, event: TransactionStopped) -> None:
        state = self.evses.get(event.evse)
        if state is None:
            return
        self._clear_triggers(state)
        if state.id_tag is not None:
            self.prices.pop(state.id_tag, None)
        state.id_tag = None
        if self._idle_after(event):
            state.idle = event.transaction_id
            self.log.info(
                "EVSE %d: transaction %s stopped, cable in: the idle fee runs until it leaves",
                event.evse,
                event.transaction_id,
            )
            self._refresh(event.evse)
            return
        if not state.final_held:
            # Until a FinalCost comes, the idle EVSE shows the default price.
            state.content = None
        self._refresh(event.evse)

    def _idle_after(self, event: TransactionStopped) -> bool:
        """Whether the idle fee runs after this stop (see the module docstring)."""
        if not (self._enabled() and self._idle_fee()):
            return False
        if event.transaction_id is None or event.reason == "EVDisconnected":
            return False
        snapshot = self.ctx.snapshots([event.evse], timeout=SNAPSHOT_TIMEOUT).get(event.evse)
        return bool(snapshot and snapshot.get("plugged"))

    def _unplugged(self, evse: int, transaction_id: txqueue.TransactionId) -> None:
        """The cable of an idle session left: tell the CSMS, reliably, and hold the text."""
        state = self.evses[evse]
        state.idle = None
        payload = cp.connector_unplugged_request(
            int(transaction_id), ocpp_timestamp(self.ctx.clock.wall())
        )
        # Queued like a security event: stored, delivered in order, kept while offline.
        seq = (
            self.ctx.storage()
            .queue.push("DataTransfer", payload, None)
            .get(timeout=STORAGE_TIMEOUT)
        )
        tell_stored(self.ctx, seq, "DataTransfer", payload)
        self.log.info("EVSE %d: ConnectorUnplugged for transaction %s", evse, transaction_id)
        state.final_held = True
        state.final_seq += 1
        self.ctx.call_later(FINAL_COST_HOLD, self.actor_ref, _FinalOver(evse, state.final_seq))

    def _connector(self, event: ConnectorChanged) -> None:
        state = self.evses.get(event.evse)
        if state is None:
            return
        previous, state.status = state.status, event.status
        if event.status == "Available" and state.idle is not None:
            self._unplugged(event.evse, state.idle)
        if state.id_tag is not None and cp.status_entered(
            previous, event.status, state.triggers.statuses
        ):
            self._send_meter_values(event.evse)
        if (
            event.status == "Available"
            and state.id_tag is None
            and not state.final_held
            and not any(w.request.evse == event.evse for w in self.waiting.values())
        ):
            # A driver who never plugged in (ConnectionTimeOut) is shown no more.
            state.content = None
            state.identified = None
            self._refresh(event.evse)

    # -- triggerMeterValue -----------------------------------------------------------

    def _arm_triggers(self, evse: int, trigger: cp.TriggerMeterValue) -> None:
        state = self.evses[evse]
        self._clear_triggers(state)
        triggers = state.triggers
        triggers.energy_kwh = trigger.at_energy_kwh
        triggers.power_kw = trigger.at_power_kw
        triggers.statuses = trigger.at_cp_status
        if trigger.at_time is not None:
            now = self.ctx.clock.wall()
            offset = cp.offset_at(
                now,
                str(self._key("TimeOffset", "")),
                str(self._key("NextTimeOffsetTransitionDateTime", "")),
                str(self._key("TimeOffsetNextTransition", "")),
            )
            delay = (cp.trigger_time(trigger.at_time, offset) - now).total_seconds()
            if delay < 0:
                self.log.warning("RunningCost trigger at %s is past: ignored", trigger.at_time)
            else:
                triggers.time_timer = self.ctx.call_later(
                    delay, self.actor_ref, _TriggerTime(evse, triggers.seq)
                )
        if triggers.energy_kwh is not None or triggers.power_kw is not None:
            triggers.poll_timer = self.ctx.call_every(POLL_INTERVAL, self.actor_ref, _Poll(evse))

    def _clear_triggers(self, state: _Evse) -> None:
        triggers = state.triggers
        self.ctx.cancel(triggers.time_timer)
        self.ctx.cancel(triggers.poll_timer)
        state.triggers = _Triggers(seq=triggers.seq + 1)

    def _poll(self, evse: int) -> None:
        state = self.evses.get(evse)
        if state is None or state.id_tag is None:
            return
        triggers = state.triggers
        if triggers.energy_kwh is None and triggers.power_kw is None:
            return
        try:
            reading: MeterReading = self.ctx.registry.ask(
                evse_path(evse, "meter"), ReadMeter(), timeout=METER_TIMEOUT
            )
        except Exception:  # a restarting meter: the next poll looks again
            return
        fire = False
        if triggers.energy_kwh is not None and cp.energy_reached(
            reading.energy_wh, triggers.energy_kwh
        ):
            triggers.energy_kwh = None  # once
            fire = True
        if triggers.power_kw is not None:
            now_kw = Decimal(str(reading.power_w)) / 1000
            if cp.power_crossed(triggers.last_power_kw, now_kw, triggers.power_kw):
                triggers.last_power_kw = now_kw
                fire = True
        if triggers.energy_kwh is None and triggers.power_kw is None:
            self.ctx.cancel(triggers.poll_timer)
            triggers.poll_timer = None
        if fire:
            self._send_meter_values(evse)

    def _send_meter_values(self, evse: int) -> None:
        if evse in self.ctx.given_up:
            return
        self.log.info("EVSE %d: MeterValues for the CSMS's pricing trigger", evse)
        # Context Other, as libocpp: no TriggerMessage asked for these values.
        self.ctx.registry.tell(evse_path(evse, "connector"), TriggerMeterValues("Other"))
