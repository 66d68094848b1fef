"""Sans-I/O OCPP-J RPC session: one per websocket connection.

The session owns the protocol state of a connection and nothing else. It
never reads a clock, sends or sleeps: the caller hands it frames and `now`
(monotonic seconds) and acts on the events it returns, in order:

- `SendFrame(text)`: send this frame now (a CALLERROR answering a CALL we
  refuse, or in OCPP 2.1 a CALLRESULTERROR for an answer we could not use).
- `IncomingCall(call)`: a valid request from the CSMS. Answer it exactly once
  with `reply` or `reply_error`, and send what they return.
- `CallSucceeded` / `CallFailed`: our outstanding CALL is settled.
- `Dropped(reason, text)`: a frame that gets no answer; log it.

Only one CALL of ours may be outstanding (OCPP-J: a sender waits for the
answer or a timeout before the next CALL), so `send_call` raises SessionBusy
instead of queueing; queueing and persistence belong to the caller. Time
moves only when the caller says so: `receive` and `poll` first expire a call
whose deadline has passed, so an answer arriving after its deadline is stale
even if nobody polled in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocppstation.protocol.errors import (
    CallTimeout,
    OcppError,
    OcppVersion,
    OfflineError,
    OutgoingPayloadInvalid,
    error_from_code,
)
from ocppstation.protocol.framing import (
    CALLRESULT,
    Call,
    CallError,
    CallResult,
    CallResultError,
    FrameError,
    Message,
    Send,
    decode,
    encode,
    new_unique_id,
)
from ocppstation.protocol.validation import Validator

# OCPP 2.0.1 and 2.1 limit errorDescription to 255 characters; 1.6 sets no
# limit, but nothing is gained by sending more.
MAX_ERROR_DESCRIPTION = 255


class SessionBusy(Exception):
    """A CALL of ours is still outstanding; wait for its answer or timeout."""


@dataclass(frozen=True)
class IncomingCall:
    call: Call


@dataclass(frozen=True)
class CallSucceeded:
    unique_id: str
    action: str
    payload: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class CallFailed:
    unique_id: str
    action: str
    error: Exception


@dataclass(frozen=True)
class SendFrame:
    """`reason` says why the frame exists, for the log and security events."""

    text: str
    reason: str = ""


@dataclass(frozen=True)
class Dropped:
    reason: str
    text: str


Event = IncomingCall | CallSucceeded | CallFailed | SendFrame | Dropped


@dataclass(frozen=True)
class _Outstanding:
    unique_id: str
    action: str
    deadline: float


def _error_fields(error: OcppError, version: OcppVersion) -> tuple[str, str, dict[str, Any]]:
    description = error.description
    if len(description) > MAX_ERROR_DESCRIPTION:
        description = description[: MAX_ERROR_DESCRIPTION - 3] + "..."
    return error.code(version), description, error.details


def _encode_error(message: CallError | CallResultError) -> str:
    try:
        return encode(message)
    except (TypeError, ValueError):
        # An error answer must always go out, even if an actor put something
        # unserialisable into details or a lone surrogate into the text.
        def clean(text: str) -> str:
            return text.encode("utf-8", "replace").decode("utf-8")

        return encode(
            type(message)(message.unique_id, clean(message.code), clean(message.description), {})
        )


class Session:
    """The RPC state of one connection. See the module docstring."""

    def __init__(
        self,
        validator: Validator,
        *,
        call_timeout: float,
        version: OcppVersion = OcppVersion.V16,
        id_factory: Callable[[], str] = new_unique_id,
    ) -> None:
        if call_timeout <= 0:
            raise ValueError("call_timeout must be positive")
        version = OcppVersion(version)
        if validator.version != version:
            raise ValueError(f"validator is for {validator.version}, session for {version}")
        self.version = version
        self._validator = validator
        self._call_timeout = call_timeout
        self._new_id = id_factory
        self._outstanding: _Outstanding | None = None
        self._pending_incoming: dict[str, Call] = {}
        self._closed = False

    # -- state ---------------------------------------------------------------

    @property
    def outstanding(self) -> str | None:
        """The unique id of our CALL awaiting an answer, if any."""
        return self._outstanding.unique_id if self._outstanding else None

    @property
    def outstanding_action(self) -> str | None:
        return self._outstanding.action if self._outstanding else None

    @property
    def closed(self) -> bool:
        return self._closed

    def is_pending(self, call: Call) -> bool:
        """Whether `call` came in on this session and is not answered yet.

        `reply` and `reply_error` do not insist on it: an answer for a call
        from an earlier connection, or a second answer, is ignored by the
        CSMS, while refusing would turn a harmless race into a crash. Check
        this before replying where the difference matters.
        """
        return self._pending_incoming.get(call.unique_id) == call

    def next_deadline(self) -> float | None:
        """When `poll` next has something to do, or None."""
        return self._outstanding.deadline if self._outstanding else None

    # -- outbound ------------------------------------------------------------

    def send_call(self, action: str, payload: dict[str, Any], now: float) -> tuple[str, str]:
        """Start our CALL: returns (unique_id, frame text to send).

        Raises OutgoingPayloadInvalid (nothing becomes outstanding),
        SessionBusy while another CALL is outstanding (call `poll` first if
        its deadline may have passed) and OfflineError after `close`.
        """
        if self._closed:
            raise OfflineError("the connection is closed")
        if self._outstanding is not None:
            raise SessionBusy(
                f"{self._outstanding.action} {self._outstanding.unique_id} is still outstanding"
            )
        try:
            self._validator.check_request(action, payload)
        except OcppError as exc:
            raise OutgoingPayloadInvalid(str(exc), exc) from exc
        unique_id = self._new_id()
        try:
            text = encode(Call(unique_id, action, payload))
        except (TypeError, ValueError) as exc:
            raise OutgoingPayloadInvalid(f"{action} request cannot be encoded: {exc}") from exc
        self._outstanding = _Outstanding(unique_id, action, now + self._call_timeout)
        return unique_id, text

    def reply(self, call: Call, payload: dict[str, Any]) -> str:
        """The CALLRESULT frame answering `call`.

        Raises OutgoingPayloadInvalid if `payload` fails the response schema;
        the call stays unanswered, so answer it with
        `reply_error(call, InternalError(...))`.
        """
        try:
            self._validator.check_response(call.action, payload)
        except OcppError as exc:
            raise OutgoingPayloadInvalid(str(exc), exc) from exc
        try:
            text = encode(CallResult(call.unique_id, payload))
        except (TypeError, ValueError) as exc:
            message = f"{call.action} response cannot be encoded: {exc}"
            raise OutgoingPayloadInvalid(message) from exc
        self._pending_incoming.pop(call.unique_id, None)
        return text

    def reply_error(self, call: Call, error: OcppError) -> str:
        """The CALLERROR frame answering `call`. Never raises."""
        self._pending_incoming.pop(call.unique_id, None)
        return _encode_error(CallError(call.unique_id, *_error_fields(error, self.version)))

    # -- time and connection -------------------------------------------------

    def poll(self, now: float) -> list[Event]:
        """Expire our CALL if its deadline has passed."""
        out = self._outstanding
        if out is None or now < out.deadline:
            return []
        self._outstanding = None
        error = CallTimeout(
            f"no answer to {out.action} {out.unique_id} within {self._call_timeout} s"
        )
        return [CallFailed(out.unique_id, out.action, error)]

    def close(self, now: float) -> list[Event]:
        """The connection is gone: our outstanding CALL fails with OfflineError.

        Unanswered incoming calls are forgotten; the CSMS will not accept
        answers to them on another connection.
        """
        events = self.poll(now)
        self._closed = True
        self._pending_incoming.clear()
        out = self._outstanding
        if out is not None:
            self._outstanding = None
            error = OfflineError(
                f"connection closed before {out.action} {out.unique_id} was answered"
            )
            events.append(CallFailed(out.unique_id, out.action, error))
        return events

    # -- inbound -------------------------------------------------------------

    def receive(self, text: str | bytes, now: float) -> list[Event]:
        """Process one received frame. Never raises for anything the peer sends."""
        events = self.poll(now)
        if self._closed:
            events.append(Dropped("the session is closed", _as_text(text)))
            return events
        try:
            message = decode(text, self.version)
        except FrameError as exc:
            events.extend(self._on_frame_error(exc, _as_text(text)))
            return events
        events.extend(self._dispatch(message, _as_text(text)))
        return events

    def _dispatch(self, message: Message, text: str) -> list[Event]:
        match message:
            case Call():
                return self._on_call(message, text)
            case CallResult():
                return self._on_result(message, text)
            case CallError():
                return self._on_error(message, text)
            case CallResultError(_, code, description, _):
                return [Dropped(f"CALLRESULTERROR {code}: {description}", text)]
            case Send(_, action, _):
                # The only 2.1 SEND goes from station to CSMS.
                return [Dropped(f"SEND {action} is not expected from the CSMS", text)]
        raise AssertionError(f"unhandled message {message!r}")  # pragma: no cover

    def _refuse_call(self, unique_id: str, error: OcppError) -> list[Event]:
        code, description, details = _error_fields(error, self.version)
        frame = _encode_error(CallError(unique_id, code, description, details))
        return [SendFrame(frame, f"{code}: {error.description}")]

    def _on_frame_error(self, exc: FrameError, text: str) -> list[Event]:
        if exc.reply_allowed and exc.unique_id in self._pending_incoming:
            # Answering would give the CSMS two answers under one id; the
            # call already in progress keeps the id.
            return [Dropped(f"malformed CALL reuses id {exc.unique_id} still in progress", text)]
        if exc.reply_allowed:
            return self._refuse_call(exc.unique_id, exc.error)
        out = self._outstanding
        if out is None or exc.unique_id != out.unique_id:
            return [Dropped(f"unusable frame: {exc.error}", text)]
        # A broken answer to our own CALL: no better answer will come, so fail
        # the call now instead of waiting for the timeout.
        self._outstanding = None
        events: list[Event] = [CallFailed(out.unique_id, out.action, exc.error)]
        if exc.message_type == CALLRESULT:
            events.extend(self._call_result_error(out.unique_id, exc.error))
        return events

    def _call_result_error(self, unique_id: str, error: OcppError) -> list[Event]:
        # Only OCPP 2.1 has a way to tell the CSMS its CALLRESULT was unusable;
        # before 2.1 an answer is never answered.
        if self.version != OcppVersion.V21:
            return []
        code, description, details = _error_fields(error, self.version)
        frame = _encode_error(CallResultError(unique_id, code, description, details))
        return [SendFrame(frame, f"CALLRESULTERROR {code}: {error.description}")]

    def _on_call(self, call: Call, text: str) -> list[Event]:
        if call.unique_id in self._pending_incoming:
            # A retransmission of a CALL we are still working on: the first
            # one's answer serves both, a second answer would be a protocol error.
            return [Dropped(f"duplicate CALL {call.unique_id} while still answering it", text)]
        try:
            self._validator.check_request(call.action, call.payload)
        except OcppError as exc:
            return self._refuse_call(call.unique_id, exc)
        self._pending_incoming[call.unique_id] = call
        return [IncomingCall(call)]

    def _on_result(self, result: CallResult, text: str) -> list[Event]:
        out = self._outstanding
        if out is None or result.unique_id != out.unique_id:
            return [Dropped(f"CALLRESULT for unknown or stale id {result.unique_id}", text)]
        self._outstanding = None
        try:
            self._validator.check_response(out.action, result.payload)
        except OcppError as exc:
            events: list[Event] = [CallFailed(out.unique_id, out.action, exc)]
            events.extend(self._call_result_error(out.unique_id, exc))
            return events
        return [CallSucceeded(out.unique_id, out.action, result.payload)]

    def _on_error(self, error: CallError, text: str) -> list[Event]:
        out = self._outstanding
        if out is None or error.unique_id != out.unique_id:
            return [Dropped(f"CALLERROR for unknown or stale id {error.unique_id}", text)]
        self._outstanding = None
        failure = error_from_code(error.code, error.description, error.details)
        return [CallFailed(out.unique_id, out.action, failure)]


def _as_text(text: str | bytes) -> str:
    # Dropped carries text for the log; undecodable bytes are shown escaped.
    if isinstance(text, bytes | bytearray):
        return bytes(text).decode("utf-8", errors="backslashreplace")
    return text
