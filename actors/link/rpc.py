"""The rpc actor: our outbound CALL queue and the dispatch of the CSMS's CALLs.

It wraps the sans-I/O `Session`: one CALL of ours in flight, the rest queued
in order; results, errors and timeouts resolve the caller's Future. Inbound
CALLs go to the actor that owns the action (`routes`), which answers with
`Answer`; an action we know but route nowhere is NotSupported.

While the link is down, or before the CSMS accepted our BootNotification,
calls fail fast (OfflineError / NotRegistered) instead of piling up: the
persisted queue of transactional messages will sit in front of `_enqueue`.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pykka

from ocppstation.actors.events import CallReceived, MessageAnswered, MessageSent
from ocppstation.actors.runtime.base import Applied, Place, Supervised
from ocppstation.actors.runtime.context import REGISTRATION, RPC, WEBSOCKET, StationContext
from ocppstation.protocol.errors import (
    GenericError,
    InternalError,
    NotSupported,
    OcppError,
    OfflineError,
    OutgoingPayloadInvalid,
)
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import action, dump
from ocppstation.protocol.session import (
    CallFailed,
    CallSucceeded,
    Dropped,
    IncomingCall,
    SendFrame,
    Session,
)
from ocppstation.protocol.validation import Validator

log = logging.getLogger("ocppstation.rpc")

# Before Accepted, OCPP 1.6 lets a station send nothing but BootNotification.
_ALLOWED_UNREGISTERED = frozenset({"BootNotification"})


class NotRegistered(Exception):
    """The CSMS has not accepted our BootNotification yet."""


@dataclass(frozen=True)
class Outcome:
    action: str
    request: dict[str, Any]
    result: dict[str, Any] | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class Submit:
    action: str
    payload: dict[str, Any]
    future: Future[dict[str, Any]] = field(default_factory=Future, compare=False)
    # Told `wrap(outcome)` (or the Outcome) when the call ends.
    reply_to: pykka.ActorRef[Any] | None = field(default=None, compare=False)
    wrap: Callable[[Outcome], object] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Inbound:
    """A CSMS CALL for the actor that owns its action; answer with `Answer`."""

    call: Call


@dataclass(frozen=True)
class Answer:
    """The answer to an Inbound call.

    `then` is told to `notify` once the answer is on its way to the wire, so
    whatever the answer promised (a triggered message, a reset) comes after it.
    """

    call: Call
    result: dict[str, Any] | OcppError
    notify: pykka.ActorRef[Any] | None = None
    then: object = None


@dataclass(frozen=True)
class LinkUp:
    generation: int
    # The connection's own CALL timeout (a 2.0.1 network profile's messageTimeout).
    call_timeout: float | None = None


@dataclass(frozen=True)
class LinkDown:
    generation: int
    reason: str


@dataclass(frozen=True)
class FrameIn:
    generation: int
    text: str
    # The reading thread's credit for this frame (see WebSocketLink._serve):
    # given back once the frame is handled, so a flood waits in TCP, not here.
    credit: threading.Semaphore | None = field(default=None, compare=False, repr=False)

    def done(self) -> None:
        if self.credit is not None:
            self.credit.release()


@dataclass(frozen=True)
class LinkState:
    """Told to the registration block whenever the link goes up or down."""

    up: bool


@dataclass(frozen=True)
class LinkQuery:
    """Ask: is the link up? (for an actor that started after it came up)"""


@dataclass(frozen=True)
class Closing:
    """Ask: the tree is about to stop (a reset, the station stopping). Every CSMS
    CALL not answered yet, and every one that arrives from now on, is answered
    at once with an InternalError that says so, while the link can still
    carry it; answers the blocks give later are dropped. Answers how many
    CSMS CALLs this rpc has taken in so far, so that the asker can wait for
    a burst to end before it lets the link close."""


@dataclass(frozen=True)
class ReadyQuery:
    """Ask: may calls go out now (link up and Accepted)?"""


@dataclass(frozen=True)
class _CheckTimeout:
    pass


@dataclass(frozen=True)
class _Applied:
    token: int


@dataclass(frozen=True)
class _HeldTooLong:
    seq: int


# The longest a CSMS CALL waits for the answers before it to be handled.
EFFECTS_TIMEOUT = 5.0
# CSMS CALLs taken in and not yet answered (held included), beyond which more
# are refused at once: the bound on what a flooding CSMS makes us keep.
MAX_OPEN_CALLS = 32


def link_ready(ctx: StationContext) -> bool:
    """Whether calls may go out now; False while rpc is not running yet (the
    Online event tells an actor later)."""
    try:
        return bool(ctx.registry.ask(RPC, ReadyQuery(), timeout=2))
    except Exception:  # no rpc yet, or restarting
        return False


def submit(
    ctx: StationContext,
    action: str,
    payload: dict[str, Any],
    reply_to: pykka.ActorRef[Any] | None = None,
    wrap: Callable[[Outcome], object] | None = None,
) -> Future[dict[str, Any]]:
    """Send a CALL through the station's rpc actor.

    Returns a Future of the CALLRESULT payload. With `reply_to`, the actor is
    also told `wrap(outcome)` (or the Outcome itself) when the call ends, so
    actors never block waiting for the CSMS.
    """
    message = Submit(action, payload, reply_to=reply_to, wrap=wrap)
    if not ctx.registry.tell(RPC, message):
        _finish(message, error=OfflineError("the rpc actor is not running"))
    return message.future


def _finish(
    message: Submit,
    result: dict[str, Any] | None = None,
    error: Exception | None = None,
    applied: Callable[[], None] | None = None,
) -> bool:
    """End `message`'s call: resolve its future, tell whoever asked to be told.

    With `applied`, the caller is told the outcome inside `Applied` and
    `applied` runs once it has handled it; returns whether it was told.
    """
    if not message.future.done():
        if error is not None:
            message.future.set_exception(error)
        else:
            message.future.set_result(result or {})
    if message.reply_to is None:
        return False
    outcome = Outcome(message.action, message.payload, result if error is None else None, error)
    told = message.wrap(outcome) if message.wrap else outcome
    try:
        message.reply_to.tell(told if applied is None else Applied(told, applied))
    except pykka.ActorDeadError:
        log.debug("%s finished after its caller stopped", message.action)
        return False
    return True


def send(
    ctx: StationContext,
    message: object,
    reply_to: pykka.ActorRef[Any] | None = None,
    wrap: Callable[[Outcome], object] | None = None,
) -> Future[dict[str, Any]]:
    """`submit` for a typed call (an `ocpp` package call dataclass)."""
    return submit(ctx, action(message), dump(message), reply_to, wrap)


# Names under which a CSMS sends a password (1.6 ChangeConfiguration, 2.0.1
# SetVariables); a frame that names one is not logged, mangled or not.
_SECRET_NAMES = ("authorizationkey", "basicauthpassword")


def _tell_quietly(ref: pykka.ActorRef[Any], message: object) -> None:
    """For a callback run in another actor: an rpc that restarted meanwhile
    holds no CALLs for it any more, and the other actor must not fail for that."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        log.debug("rpc restarted before %r", message)


def _stopping(call: Call) -> InternalError:
    return InternalError(f"{call.action}: the station is restarting; try again once it is back")


def _loggable(text: str) -> str:
    lowered = text.lower()
    if any(name in lowered for name in _SECRET_NAMES):
        return f"({len(text)} characters naming a secret, not logged)"
    return text


class Rpc(Supervised):
    def __init__(self, place: Place, ctx: StationContext, routes: Mapping[str, str]) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.routes = dict(routes)
        self.version = ctx.config.ocpp_version
        self.validator = Validator(self.version)
        self.configured_timeout = float(ctx.config.value("Internal", "CallTimeout"))
        self.call_timeout = self.configured_timeout
        self.session: Session | None = None
        self.generation = -1
        self.queue: deque[Submit] = deque()
        self.in_flight: dict[str, Submit] = {}
        # Answers of the CSMS an actor is still handling, and the CSMS's
        # CALLs that wait for them (see _dispatch).
        self._tokens = itertools.count(1)
        self.applying: set[int] = set()
        self.held: deque[Call] = deque()
        self.hold_seq = 0
        # CSMS CALLs handed to a block and not answered yet, by unique id.
        self.unanswered: dict[str, Call] = {}
        # A reconnect asked for while CSMS CALLs are open (new credentials set
        # by one of them): it waits until they are answered on this connection.
        self.reconnect: Reconnect | None = None
        self.closing = False
        self.calls_in = 0

    def setup(self) -> None:
        # A restarted rpc may have missed the link's LinkUp: ask it to say again.
        self.ctx.registry.tell(WEBSOCKET, SayLinkState())

    def teardown(self) -> None:
        # The next rpc starts a new session: the station must see this one end
        # (its calls failed, the registration block re-announcing on the next LinkUp).
        if self.session is not None:
            self._link_down("rpc stopped")
        else:
            self._fail_all(OfflineError("rpc stopped"))

    def receive(self, message: Any) -> Any:
        match message:
            case Submit():
                self._enqueue(message)
            case FrameIn(generation=g) if g == self.generation and self.session:
                try:
                    self._handle_events(self.session.receive(message.text, self._now()))
                finally:
                    message.done()
            case FrameIn():
                message.done()
                log.debug("dropped a frame from an old connection")
            case Answer() if self.closing and message.call.unique_id not in self.unanswered:
                log.info("%s answered after the station began stopping", message.call.action)
            case Reconnect() if self.unanswered and self.session is not None:
                self.reconnect = message
            case Reconnect():
                self.ctx.registry.tell(WEBSOCKET, message)
            case Answer():
                self.unanswered.pop(message.call.unique_id, None)
                self._answer(message.call, message.result)
                if self.reconnect is not None and not self.unanswered:
                    # After the answer, in this actor's order: it leaves first.
                    self.ctx.registry.tell(WEBSOCKET, self.reconnect)
                    self.reconnect = None
                if message.notify is not None:
                    try:
                        message.notify.tell(message.then)
                    except pykka.ActorDeadError:
                        log.info("%s answered after its handler stopped", message.call.action)
            case LinkUp(generation=g) if g == self.generation and self.session:
                pass  # a repeat (after our SayLinkState): keep the live session
            case LinkUp():
                if self.session is not None:
                    self._link_down("replaced by a new connection")
                self.generation = message.generation
                self.call_timeout = message.call_timeout or self.configured_timeout
                self.session = Session(
                    self.validator, call_timeout=self.call_timeout, version=self.version
                )
                self.ctx.registry.tell(REGISTRATION, LinkState(True))
            case LinkDown(generation=g) if g == self.generation:
                self._link_down(message.reason)
            case LinkDown():
                pass
            case LinkQuery():
                return self.session is not None
            case Closing():
                self._close_calls()
                return self.calls_in
            case ReadyQuery():
                return self.session is not None and self.ctx.registration.accepted
            case _Applied(token=token):
                self.applying.discard(token)
                self._release()
            case _HeldTooLong(seq=seq) if seq == self.hold_seq and self.held:
                log.warning(
                    "answers still being handled after %.0f s: handling %d CSMS call(s) anyway",
                    EFFECTS_TIMEOUT,
                    len(self.held),
                )
                self.applying.clear()
                self._release()
            case _HeldTooLong():
                pass
            case _CheckTimeout():
                if self.session:
                    self._handle_events(self.session.poll(self._now()))
            case _:
                return super().receive(message)
        return None

    # -- outbound -------------------------------------------------------------

    def _enqueue(self, message: Submit) -> None:
        if self.session is None:
            _finish(message, error=OfflineError(f"{message.action}: link is down"))
        elif not self.ctx.registration.accepted and message.action not in _ALLOWED_UNREGISTERED:
            _finish(
                message, error=NotRegistered(f"{message.action}: the CSMS has not accepted us yet")
            )
        else:
            self.queue.append(message)
            self._pump()

    def _pump(self) -> None:
        while self.session and self.session.outstanding is None and self.queue:
            message = self.queue.popleft()
            try:
                unique_id, text = self.session.send_call(
                    message.action, message.payload, self._now()
                )
            except OutgoingPayloadInvalid as exc:
                # Our own bug: refuse to put it on the wire, and say so loudly.
                log.error("refused to send an invalid %s: %s", message.action, exc)
                _finish(message, error=exc)
                continue
            self.in_flight[unique_id] = message
            self.ctx.bus.publish(MessageSent(message.action, message.payload))
            self._send(text)
            self.ctx.call_later(self.call_timeout, self.actor_ref, _CheckTimeout())

    def _send(self, text: str) -> None:
        self.ctx.registry.tell(WEBSOCKET, Outgoing(self.generation, text))

    # -- inbound --------------------------------------------------------------

    def _handle_events(self, events: list[Any]) -> None:
        for event in events:
            match event:
                case SendFrame():
                    self._send(event.text)
                case IncomingCall():
                    self._dispatch(event.call)
                case CallSucceeded():
                    self._resolve(event.unique_id, event.action, event.payload, None)
                case CallFailed():
                    self._resolve(event.unique_id, event.action, None, event.error)
                case Dropped():
                    log.warning(
                        "dropped from the CSMS: %s: %.200s", event.reason, _loggable(event.text)
                    )
        self._pump()

    def _resolve(
        self, unique_id: str, action: str, payload: dict[str, Any] | None, error: Exception | None
    ) -> None:
        message = self.in_flight.pop(unique_id, None)
        self.ctx.bus.publish(
            MessageAnswered(action, payload, None if error is None else str(error))
        )
        if message is None:
            return
        token = next(self._tokens)
        if _finish(
            message, payload, error, partial(_tell_quietly, self.actor_ref, _Applied(token))
        ):
            # What this answer changes must be in force before the CSMS's next
            # CALL is judged (see _dispatch).
            self.applying.add(token)

    def _dispatch(self, call: Call) -> None:
        """Hand a CSMS CALL to its block, in order, once everything the frames
        before it changed is in force.

        The rule: a CALL is judged on the state as of its arrival. An answer
        of the CSMS (a StartTransaction's transactionId, say) takes effect in
        the actor that asked, not here; so while an actor is still handling
        an answer that arrived before this CALL, the CALL waits (`held`),
        and the CALLs after it wait behind it. Nothing else waits: our own
        CALLs and answers go on, so a handler that sends a CALL of its own
        cannot deadlock us, and EFFECTS_TIMEOUT bounds any wait.
        """
        self.calls_in += 1
        self.ctx.bus.publish(CallReceived(call.action, call.payload))
        if self.closing:
            self._answer(call, _stopping(call))
            return
        if len(self.unanswered) + len(self.held) >= MAX_OPEN_CALLS:
            # OCPP-J allows the CSMS one CALL in flight; a flood beyond this is
            # answered at once rather than queued without bound.
            self._answer(
                call,
                GenericError(
                    f"{call.action}: {MAX_OPEN_CALLS} CSMS CALLs are open already;"
                    " send the next once one is answered"
                ),
            )
            return
        if self.applying or self.held:
            self.held.append(call)
            if len(self.held) == 1:
                self.hold_seq += 1
                self.ctx.call_later(EFFECTS_TIMEOUT, self.actor_ref, _HeldTooLong(self.hold_seq))
            return
        self._route(call)

    def _release(self) -> None:
        while self.held and not self.applying:
            self._route(self.held.popleft())

    def _route(self, call: Call) -> None:
        target = self.routes.get(call.action)
        if target is None:
            self._answer(call, NotSupported(f"{call.action}: not supported"))
        elif self.ctx.registry.tell(target, Inbound(call)):
            self.unanswered[call.unique_id] = call
        else:
            # Supported, only not now: the block is restarting. NotSupported
            # would tell the CSMS never to try again.
            self._answer(call, InternalError(f"{call.action}: {target} is restarting"))

    def _close_calls(self) -> None:
        self.closing = True
        waiting = [*self.unanswered.values(), *self.held]
        self.unanswered.clear()
        self.held.clear()
        for call in waiting:
            self._answer(call, _stopping(call))

    def _answer(self, call: Call, result: dict[str, Any] | OcppError) -> None:
        if self.session is None:
            log.info("link went down before %s was answered", call.action)
            return
        if isinstance(result, OcppError):
            self._send(self.session.reply_error(call, result))
            return
        try:
            self._send(self.session.reply(call, result))
        except OutgoingPayloadInvalid as exc:
            log.error("our answer to %s is invalid, sending InternalError: %s", call.action, exc)
            self._send(self.session.reply_error(call, InternalError("invalid response")))

    # -- link -----------------------------------------------------------------

    def _link_down(self, reason: str) -> None:
        # Cleared first: the failure events must not pump queued calls into
        # the session that is closing.
        session, self.session = self.session, None
        # Their answers would go to a connection that is gone.
        self.reconnect = None  # the link is replaced anyway
        self.held.clear()
        self.applying.clear()
        self.unanswered.clear()
        if session is not None:
            self._handle_events(session.close(self._now()))
        self._fail_all(OfflineError(f"link down: {reason}"))
        self.ctx.registry.tell(REGISTRATION, LinkState(False))

    def _fail_all(self, error: Exception) -> None:
        pending = [*self.in_flight.values(), *self.queue]
        self.in_flight.clear()
        self.queue.clear()
        for message in pending:
            if not message.future.done():
                _finish(message, error=error)

    def _now(self) -> float:
        return self.ctx.clock.monotonic()


@dataclass(frozen=True)
class Outgoing:
    """A frame for the websocket actor to put on the connection `generation`."""

    generation: int
    text: str


@dataclass(frozen=True)
class SayLinkState:
    """Asks the websocket actor to repeat LinkUp (after an rpc restart)."""


@dataclass(frozen=True)
class Reconnect:
    """Close cleanly and connect again at once (new credentials). Told to rpc,
    which passes it to the websocket once the CSMS CALLs it holds are answered,
    so the answer to the CALL that set the credentials goes out first."""

    reason: str
