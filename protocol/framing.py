"""OCPP-J message framing: JSON arrays in, dataclasses out, and back.

`decode` is strict, because everything after it trusts the shape it returns;
what it refuses it reports as a `FrameError` saying which CALLERROR to send,
with which message id, and whether to send one at all.

Decisions per version (the specs differ; the reasons are what the texts say
and what libocpp, mobilityhouse/ocpp and ocpp-rpc do):

- A frame we cannot read far enough to trust a message id (not UTF-8, not
  JSON, not an array, empty, message type not an integer, id not a non-empty
  string of at most 36 characters) is answered with message id "-1".
  OCPP 2.0.1 Part 4 prescribes "-1" with RpcFrameworkError for this; 1.6 has
  no rule, and we follow libocpp there ("-1" with GenericError, which is what
  RpcFrameworkError maps to in 1.6). mobilityhouse drops such frames silently,
  but then a CSMS never learns why its CALL went unanswered.
- An integer message type that the version does not define: 1.6 and 2.0.1
  answer MessageTypeNotSupported (2.0.1 Part 4, "extension fallback"; 1.6
  sends it as GenericError), echoing the id when it is readable (libocpp and
  ocpp-rpc always use "-1" here; the spec keeps "-1" for unreadable ids).
  OCPP 2.1 defines types 5 (CALLRESULTERROR) and 6 (SEND) and says an
  unknown type is ignored, without an answer, so that newer peers can add
  types; we drop them. (Our source for the 2.1 rule is the spec text as
  quoted in citrineos-core PR #968, not the PDF itself; it is the
  cautious choice either way, since staying silent cannot confuse a peer.)
- A CALL whose envelope is otherwise wrong (element count, action not a
  string) is RpcFrameworkError in 2.x; a payload that is not an object is
  FormatViolation. 1.6 has no envelope code, and its FormationViolation
  covers "not conform the PDU structure", so 1.6 uses that for all three.
- An answer (CALLRESULT, CALLERROR, CALLRESULTERROR) or a SEND is never
  answered with a CALLERROR, whatever is wrong with it
  (`FrameError.reply_allowed` is False), as libocpp's "CALLERROR shall only
  follow on a CALL message" checks do.
- JSON that Python accepts but JSON does not (NaN, Infinity, numbers that
  overflow to infinity) is refused, and so are strings holding a lone UTF-16
  surrogate (legal as a JSON escape, but not encodable as UTF-8): we could
  not echo them, and storage and logs downstream would choke on them.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from ocppstation.protocol.errors import (
    ErrorKind,
    OcppError,
    OcppVersion,
    error_class,
)

CALL = 2
CALLRESULT = 3
CALLERROR = 4
# OCPP 2.1 only.
CALLRESULTERROR = 5
SEND = 6

MAX_UNIQUE_ID_LENGTH = 36
UNREADABLE_ID = "-1"

_TYPES_BY_VERSION: dict[OcppVersion, frozenset[int]] = {
    OcppVersion.V16: frozenset({CALL, CALLRESULT, CALLERROR}),
    OcppVersion.V201: frozenset({CALL, CALLRESULT, CALLERROR}),
    OcppVersion.V21: frozenset({CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND}),
}


@dataclass(frozen=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class CallResult:
    unique_id: str
    payload: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class CallError:
    unique_id: str
    code: str
    description: str
    details: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class CallResultError:
    """OCPP 2.1: the peer could not process a CALLRESULT we sent."""

    unique_id: str
    code: str
    description: str
    details: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Send:
    """OCPP 2.1: a one-way message that is never answered."""

    unique_id: str
    action: str
    payload: dict[str, Any] = field(hash=False)


Message = Call | CallResult | CallError | CallResultError | Send


class FrameError(Exception):
    """A frame that `decode` refuses.

    `error` is the OcppError to report, `unique_id` the message id to report
    it under ("-1" when the id could not be read), `reply_allowed` whether a
    CALLERROR may be sent at all, and `message_type` the type number when it
    could be read (so a caller can tell a broken answer to its own CALL).
    """

    def __init__(
        self,
        error: OcppError,
        unique_id: str = UNREADABLE_ID,
        *,
        reply_allowed: bool,
        message_type: int | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.unique_id = unique_id
        self.reply_allowed = reply_allowed
        self.message_type = message_type


def new_unique_id() -> str:
    """A fresh message id: a uuid4 string, exactly 36 characters."""
    return str(uuid.uuid4())


def encode(msg: Message) -> str:
    """Compact JSON text for `msg`.

    Raises ValueError for NaN or infinite numbers and TypeError for values
    JSON cannot hold: sending either would be a bug on our side.
    """
    frame: list[Any]
    match msg:
        case Call(unique_id, action, payload):
            frame = [CALL, unique_id, action, payload]
        case CallResult(unique_id, payload):
            frame = [CALLRESULT, unique_id, payload]
        case CallError(unique_id, code, description, details):
            frame = [CALLERROR, unique_id, code, description, details]
        case CallResultError(unique_id, code, description, details):
            frame = [CALLRESULTERROR, unique_id, code, description, details]
        case Send(unique_id, action, payload):
            frame = [SEND, unique_id, action, payload]
        case _:
            raise TypeError(f"not an OCPP-J message: {msg!r}")
    text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if _SURROGATE.search(text):
        raise ValueError("message holds a lone surrogate, which UTF-8 cannot carry")
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    # Iterative, because json.loads accepts nesting deeper than our own
    # recursion limit would allow.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _fail(
    kind: ErrorKind,
    description: str,
    unique_id: str = UNREADABLE_ID,
    *,
    reply_allowed: bool,
    message_type: int | None = None,
) -> FrameError:
    return FrameError(
        error_class(kind)(description),
        unique_id,
        reply_allowed=reply_allowed,
        message_type=message_type,
    )


def _readable_id(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_UNIQUE_ID_LENGTH:
        return value
    return None


def _describe_id(value: Any) -> str:
    if not isinstance(value, str):
        return f"message id must be a string, got {type(value).__name__}"
    if not value:
        return "message id is empty"
    return f"message id is {len(value)} characters, more than {MAX_UNIQUE_ID_LENGTH}"


def decode(text: str | bytes, version: OcppVersion = OcppVersion.V16) -> Message:
    """Parse one websocket text frame. Raises FrameError; never anything else.

    `version` may be given as its subprotocol string ("ocpp1.6").
    """
    version = OcppVersion(version)
    rpc = ErrorKind.RPC_FRAMEWORK_ERROR
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(rpc, f"frame is not UTF-8: {exc.reason}", reply_allowed=True) from None
    elif _SURROGATE.search(text):
        raise _fail(rpc, "frame is not valid Unicode text", reply_allowed=True)
    try:
        frame = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and Python's int digit limit.
        raise _fail(rpc, f"frame is not valid JSON: {exc}", reply_allowed=True) from None
    # In text that is valid Unicode, surrogates can only come from backslash-u
    # escapes, so most frames skip the walk.
    if "\\u" in text and _has_surrogate(frame):
        raise _fail(rpc, "frame holds a lone UTF-16 surrogate", reply_allowed=True)
    if not isinstance(frame, list):
        kind_name = type(frame).__name__
        raise _fail(rpc, f"frame must be a JSON array, got {kind_name}", reply_allowed=True)
    if not frame:
        raise _fail(rpc, "frame is an empty array", reply_allowed=True)

    message_type = frame[0]
    # bool is an int in Python, but `true` is not a message type number.
    if not isinstance(message_type, int) or isinstance(message_type, bool):
        raise _fail(rpc, "message type must be an integer", reply_allowed=True)

    raw_id = frame[1] if len(frame) > 1 else None
    unique_id = _readable_id(raw_id)

    if message_type not in _TYPES_BY_VERSION[version]:
        raise _fail(
            ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED,
            f"message type {message_type} is not supported in {version.value}",
            unique_id or UNREADABLE_ID,
            reply_allowed=version != OcppVersion.V21,
            message_type=message_type,
        )

    is_request = message_type == CALL
    if unique_id is None:
        reason = "frame has no message id" if len(frame) < 2 else _describe_id(raw_id)
        raise _fail(rpc, reason, reply_allowed=is_request, message_type=message_type)

    if message_type in (CALL, SEND):
        return _decode_request(frame, unique_id, message_type, version)
    if message_type == CALLRESULT:
        return _decode_result(frame, unique_id)
    return _decode_error(frame, unique_id, message_type)


def _decode_request(
    frame: list[Any], unique_id: str, message_type: int, version: OcppVersion
) -> Call | Send:
    structure = (
        ErrorKind.FORMAT_VIOLATION if version == OcppVersion.V16 else ErrorKind.RPC_FRAMEWORK_ERROR
    )
    name = "CALL" if message_type == CALL else "SEND"

    def fail(kind: ErrorKind, description: str) -> FrameError:
        return _fail(
            kind,
            description,
            unique_id,
            reply_allowed=message_type == CALL,
            message_type=message_type,
        )

    if len(frame) != 4:
        raise fail(structure, f"{name} must have 4 elements, got {len(frame)}")
    action, payload = frame[2], frame[3]
    if not isinstance(action, str):
        raise fail(structure, f"{name} action must be a string, got {type(action).__name__}")
    if not isinstance(payload, dict):
        raise fail(
            ErrorKind.FORMAT_VIOLATION,
            f"{name} payload must be a JSON object, got {type(payload).__name__}",
        )
    if message_type == CALL:
        return Call(unique_id, action, payload)
    return Send(unique_id, action, payload)


def _decode_result(frame: list[Any], unique_id: str) -> CallResult:
    if len(frame) != 3:
        description = f"CALLRESULT must have 3 elements, got {len(frame)}"
    elif not isinstance(frame[2], dict):
        description = f"CALLRESULT payload must be a JSON object, got {type(frame[2]).__name__}"
    else:
        return CallResult(unique_id, frame[2])
    raise _fail(
        ErrorKind.FORMAT_VIOLATION,
        description,
        unique_id,
        reply_allowed=False,
        message_type=CALLRESULT,
    )


def _decode_error(
    frame: list[Any], unique_id: str, message_type: int
) -> CallError | CallResultError:
    name = "CALLERROR" if message_type == CALLERROR else "CALLRESULTERROR"
    description = ""
    if len(frame) != 5:
        description = f"{name} must have 5 elements, got {len(frame)}"
    else:
        for label, value, expected in (
            ("errorCode", frame[2], str),
            ("errorDescription", frame[3], str),
            ("errorDetails", frame[4], dict),
        ):
            if not isinstance(value, expected):
                description = f"{name} {label} has the wrong type {type(value).__name__}"
                break
    if description:
        raise _fail(
            ErrorKind.FORMAT_VIOLATION,
            description,
            unique_id,
            reply_allowed=False,
            message_type=message_type,
        )
    if message_type == CALLERROR:
        return CallError(unique_id, frame[2], frame[3], frame[4])
    return CallResultError(unique_id, frame[2], frame[3], frame[4])
