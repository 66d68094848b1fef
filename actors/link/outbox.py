"""The outbox: transaction messages (and security events) delivered in order, as queued.

Connectors write their transaction messages (1.6: StartTransaction,
in-transaction MeterValues, StopTransaction) to the database (through the
storage actor) before anything else, then tell the outbox `Enqueued`. The
outbox keeps the same queue in memory, sends the head through the rpc actor
when the station is online, deletes it from the database only when the CSMS
has answered, and follows `protocol.txqueue` for failures. On start it
reloads the queue, so what was queued before a crash or kill -9 goes out
after it.

Which messages open and close a transaction and where its id goes is the
version's (`TransactionMessages`, 1.6: protocol/v16/txqueue.py). When the
answer that gives a transaction its id arrives, the id is stored and the
connector is told (`TransactionIdKnown`), and every later message of that
transaction is sent with it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import pykka

from ocppstation.actors.events import Online, RetryScheduled, TransactionAnswered
from ocppstation.actors.link.rpc import NotRegistered, Outcome, link_ready, submit
from ocppstation.actors.messages import Learned
from ocppstation.actors.runtime.base import Applied, Place, Supervised
from ocppstation.actors.runtime.context import AUTH, OUTBOX, StationContext, evse_path
from ocppstation.actors.storage.queue import QueuedMessage
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.errors import CallTimeout, OfflineError
from ocppstation.protocol.txqueue import (
    Failure,
    TransactionId,
    TransactionMessages,
    Unresolvable,
    after_failure,
)

ASK_TIMEOUT = 10.0
# How long an answer that gives a transaction its id waits for its connector.
CONNECTOR_WAIT = 2.0


@dataclass(frozen=True)
class Enqueued:
    """A message the connector has just stored; send it after the ones before it."""

    message: QueuedMessage
    connector: int


def tell_stored(
    ctx: StationContext,
    seq: int,
    action: str,
    payload: dict[str, Any],
    local_tx: int | None = None,
    connector: int = 0,
) -> bool:
    """Tell the outbox about a message just stored as `seq`; False if it is not running
    (the message waits in the database: the outbox loads the queue when it starts)."""
    message = QueuedMessage(seq, action, payload, local_tx, 0)
    return ctx.registry.tell(OUTBOX, Enqueued(message, connector))


@dataclass(frozen=True)
class WhenDelivered:
    """Tell `message` to `notify` once everything queued now has left the queue.

    At once when nothing is queued or the station is offline: what waits
    then is persisted, and the asker (a reboot, say) need not wait for the
    network.
    """

    notify: pykka.ActorRef[Any]
    message: object


@dataclass(frozen=True)
class TransactionIdKnown:
    """To the connector: the CSMS answered the message that opened `local_tx`."""

    local_tx: int
    transaction_id: TransactionId
    id_tag_info: dict[str, Any]


@dataclass(frozen=True)
class StartDropped:
    """To the connector: the message opening its transaction was dropped undelivered."""

    local_tx: int


@dataclass(frozen=True)
class _Done:
    seq: int
    outcome: Outcome


@dataclass(frozen=True)
class _Retry:
    seq: int


@dataclass(frozen=True)
class _Wake:
    pass


@dataclass(frozen=True)
class QueueState:
    length: int
    in_flight: int | None


class Outbox(Supervised):
    def __init__(self, place: Place, ctx: StationContext, messages: TransactionMessages) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.messages = messages
        self.queue: deque[QueuedMessage] = deque()
        self.connectors: dict[int, int] = {}  # local_tx -> connector
        self.transaction_ids: dict[int, TransactionId] = {}
        self.in_flight: int | None = None
        # Seqs only grow (AUTOINCREMENT), so anything at or below the highest
        # seq loaded by setup() is known. Later Enqueued may arrive out of seq
        # order (two connectors storing at once), so only setup's bound dedupes.
        self.loaded_up_to = 0
        self.waiting: int | None = None  # seq held back until its retry timer
        self.online = False
        # WhenDelivered askers: the last seq queued when they asked, whom to tell what.
        self.waiters: list[tuple[int, WhenDelivered]] = []
        self._unsubscribe = lambda: None

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward_kinds(self.actor_ref, Online)
        storage = self.ctx.storage()
        for tx in storage.transactions.open().get(timeout=ASK_TIMEOUT):
            self._remember(tx.local_id, tx.connector, tx.transaction_id)
        for message in storage.queue.all().get(timeout=ASK_TIMEOUT):
            self.queue.append(message)
            self.loaded_up_to = max(self.loaded_up_to, message.seq)
            if message.local_tx is not None and message.local_tx not in self.connectors:
                record = storage.transactions.get(message.local_tx).get(timeout=ASK_TIMEOUT)
                if record is not None:
                    self._remember(record.local_id, record.connector, record.transaction_id)
        self.online = link_ready(self.ctx)
        self._pump()

    def teardown(self) -> None:
        self._unsubscribe()

    def state(self) -> QueueState:
        return QueueState(len(self.queue), self.in_flight)

    def queued(self) -> list[tuple[str, dict[str, Any]]]:
        """What waits to be delivered, in order: (action, payload) of transaction messages."""
        return [(m.action, dict(m.payload)) for m in self.queue if m.local_tx is not None]

    def receive(self, message: Any) -> Any:
        match message:
            case Enqueued() if message.message.seq <= self.loaded_up_to:
                # Already loaded from the database by our setup: sent once, not twice.
                pass
            case Enqueued():
                self.queue.append(message.message)
                if message.message.local_tx is not None:
                    self.connectors.setdefault(message.message.local_tx, message.connector)
                self._pump()
            case Online():
                self.online = message.online
                if not self.online:
                    self._release_waiters(None)
                self._pump()
            case WhenDelivered():
                if self.queue and self.online:
                    self.waiters.append((self.queue[-1].seq, message))
                else:
                    _tell(message)
            case _Done():
                self._done(message.seq, message.outcome)
            case _Retry(seq=seq) if seq == self.waiting:
                self.waiting = None
                self._pump()
            case _Retry() | _Wake():
                self._pump()
            case _:
                return super().receive(message)
        return None

    def _remember(
        self, local_tx: int, connector: int, transaction_id: TransactionId | None
    ) -> None:
        self.connectors[local_tx] = connector
        if transaction_id is not None:
            self.transaction_ids[local_tx] = transaction_id

    # -- sending ----------------------------------------------------------------

    def _pump(self) -> None:
        while self.online and self.in_flight is None and self.waiting is None and self.queue:
            head = self.queue[0]
            try:
                payload = self.messages.resolve(
                    head.action, head.payload, head.local_tx, self.transaction_ids
                )
            except Unresolvable as exc:
                # Its opening message was dropped: the CSMS has no transaction to
                # attach this to. Loud, because a CSMS operator will miss it.
                self.log.error("dropping %s #%d: %s", head.action, head.seq, exc)
                self._forget(head)
                continue
            self.in_flight = head.seq
            seq = head.seq
            submit(
                self.ctx,
                head.action,
                payload,
                reply_to=self.actor_ref,
                wrap=lambda outcome, seq=seq: _Done(seq, outcome),  # type: ignore[misc]
            )

    def _done(self, seq: int, outcome: Outcome) -> None:
        if seq != self.in_flight or not self.queue or self.queue[0].seq != seq:
            return
        self.in_flight = None
        head = self.queue[0]
        if outcome.error is None:
            self._delivered(head, outcome.result or {})
            self._forget(head)
            self._pump()
            return
        if isinstance(outcome.error, OfflineError | NotRegistered):
            failure = Failure.OFFLINE
        elif isinstance(outcome.error, CallTimeout):
            failure = Failure.TIMEOUT
        else:
            failure = Failure.ERROR
        if failure is Failure.OFFLINE:
            self.online = False  # the Online event brings us back
            return
        if failure is Failure.ERROR and head.local_tx is None:
            # Not a transaction message (a security event): a CSMS that answered
            # with an error, NotImplemented say, will answer so again, and the
            # transaction messages behind it must not wait for its retries.
            self.log.warning("dropping %s #%d: %s", head.action, head.seq, outcome.error)
            self._forget(head)
            self._pump()
            return
        retry = after_failure(
            failure,
            head.attempts,
            int(self.ctx.setting(Setting.TRANSACTION_MESSAGE_ATTEMPTS, 3)),
            float(self.ctx.setting(Setting.TRANSACTION_MESSAGE_RETRY_INTERVAL, 60)),
        )
        self.log.warning(
            "%s #%d failed (%s, attempt %d): %s",
            head.action,
            head.seq,
            failure.value,
            retry.attempts,
            outcome.error,
        )
        if retry.drop:
            self.log.error("dropping %s #%d after %d attempts", head.action, seq, retry.attempts)
            if self.messages.opens(head.action, head.payload) and head.local_tx is not None:
                self._tell_connector(head.local_tx, StartDropped(head.local_tx))
            self._forget(head)
            self._pump()
            return
        updated = QueuedMessage(head.seq, head.action, head.payload, head.local_tx, retry.attempts)
        self.queue[0] = updated
        self.ctx.storage().queue.attempted(seq, retry.attempts).get(timeout=ASK_TIMEOUT)
        self.waiting = seq
        self.ctx.call_later(retry.wait or 0.0, self.actor_ref, _Retry(seq))
        self.ctx.bus.publish(RetryScheduled(head.action, seq, retry.wait or 0.0))

    def _delivered(self, head: QueuedMessage, result: dict[str, Any]) -> None:
        delivered = self.messages.delivered(head.action, head.payload, result)
        evse = None if head.local_tx is None else self.connectors.get(head.local_tx)
        self.ctx.bus.publish(TransactionAnswered(evse, head.action, dict(head.payload), result))
        if delivered.token_info is not None and delivered.token:
            self.ctx.registry.tell(AUTH, Learned(delivered.token, dict(delivered.token_info)))
        transaction_id = delivered.transaction_id
        if transaction_id is None or head.local_tx is None:
            return
        self.transaction_ids[head.local_tx] = transaction_id
        self.ctx.storage().transactions.set_id(head.local_tx, transaction_id).get(
            timeout=ASK_TIMEOUT
        )
        # Waited for: the connector has the id (and has published
        # TransactionStarted) before this answer counts as handled, so a CSMS
        # CALL about the transaction right after it finds it (rpc._dispatch).
        self._wait_for_connector(
            head.local_tx,
            TransactionIdKnown(
                head.local_tx,
                transaction_id,
                dict(delivered.here if delivered.here is not None else delivered.token_info or {}),
            ),
        )

    def _forget(self, head: QueuedMessage) -> None:
        # Waited for: a kill -9 may then re-send at most this one message, so
        # the CSMS never sees a re-sent message after a later one. The delete
        # is not fsync'd (it survives kill -9), so this costs no flash wear.
        self.ctx.storage().queue.delete(head.seq).get(timeout=ASK_TIMEOUT)
        self.queue.popleft()
        self._release_waiters(head.seq)
        if self.messages.closes(head.action, head.payload) and head.local_tx is not None:
            self.transaction_ids.pop(head.local_tx, None)
            self.connectors.pop(head.local_tx, None)

    def _release_waiters(self, delivered: int | None) -> None:
        """Tell the waiters whose messages have all left (all of them with None)."""
        done = [w for w in self.waiters if delivered is None or w[0] <= delivered]
        self.waiters = [w for w in self.waiters if w not in done]
        for _, waiter in done:
            _tell(waiter)

    def _wait_for_connector(self, local_tx: int, message: object) -> None:
        connector = self.connectors.get(local_tx)
        if connector is None:
            return
        # Told, not asked, so that a bug handling it still crashes (and
        # restarts) the connector; Applied says when it is handled.
        handled = threading.Event()
        told = self.ctx.registry.tell(
            evse_path(connector, "connector"), Applied(message, handled.set)
        )
        if told and not handled.wait(CONNECTOR_WAIT):
            # Restarting or stuck: it reads the id from storage when back.
            self.log.warning("connector %d did not take %r in time", connector, message)

    def _tell_connector(self, local_tx: int, message: object) -> None:
        connector = self.connectors.get(local_tx)
        if connector is not None:
            self.ctx.registry.tell(evse_path(connector, "connector"), message)


def _tell(waiter: WhenDelivered) -> None:
    try:
        waiter.notify.tell(waiter.message)
    except pykka.ActorDeadError:
        pass  # it stopped waiting
