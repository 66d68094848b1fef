"""OCPP versions, wire errors (CALLERROR codes) and the RPC-side exceptions.

`OcppVersion` lives here rather than in its own module because every other
protocol module already imports this one; import it from
`ocppstation.protocol.errors`.

Wire error codes are spelled differently per version. The sources, and what
we send for each kind (`OcppError.code`):

- OCPP-J 1.6, 4.2.3 lists `FormationViolation` and `OccurenceConstraintViolation`
  (both misspelled). The 1.6-J errata sheet, section 5 ("known issues that will
  not be fixed"), keeps both spellings because fixing them would break
  implementations, so a 1.6 peer expects the misspelled strings.
- OCPP 2.0.1 Part 4 renames the first to `FormatViolation`, keeps the one-r
  `OccurenceConstraintViolation`, and adds `MessageTypeNotSupported` and
  `RpcFrameworkError` (mobilityhouse/ocpp PR #490 and ocpp-go PR #331 agree).
- OCPP 2.1 spells `OccurrenceConstraintViolation` correctly.

A kind that a version does not have is sent as the nearest code it does have:
1.6 has no RPC-envelope codes at all (all of its codes describe an Action or
its payload), so `RpcFrameworkError` and `MessageTypeNotSupported` become
`GenericError` there, as libocpp does for unreadable 1.6 frames. OCPP 2.1 no
longer answers unknown message types (see framing.py), so we never send
`MessageTypeNotSupported` in 2.1 and map it to `RpcFrameworkError` should an
actor build one.

On receipt we accept every spelling of every version: peers get this wrong.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class OcppVersion(StrEnum):
    """An OCPP version, valued as its websocket subprotocol name."""

    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"
    V21 = "ocpp2.1"


class ErrorKind(StrEnum):
    """What went wrong, independent of how a version spells it on the wire."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMAT_VIOLATION = "FormatViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"


_V16, _V201, _V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21

# Only the kinds whose code differs from ErrorKind's value are listed.
_WIRE_OVERRIDES: dict[tuple[ErrorKind, OcppVersion], str] = {
    (ErrorKind.FORMAT_VIOLATION, _V16): "FormationViolation",
    (ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION, _V16): "OccurenceConstraintViolation",
    (ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION, _V201): "OccurenceConstraintViolation",
    (ErrorKind.RPC_FRAMEWORK_ERROR, _V16): "GenericError",
    (ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED, _V16): "GenericError",
    (ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED, _V21): "RpcFrameworkError",
}


def wire_code(kind: ErrorKind, version: OcppVersion) -> str:
    """The errorCode string that `version` uses for `kind`."""
    return _WIRE_OVERRIDES.get((kind, version), kind.value)


class OcppError(Exception):
    """An error that travels in a CALLERROR (either direction).

    `received_code` is the exact errorCode string when the error came off the
    wire (`error_from_code`), so logs show what the peer really sent.
    """

    kind: ClassVar[ErrorKind]
    default_description: ClassVar[str] = ""

    def __init__(self, description: str = "", details: dict[str, Any] | None = None) -> None:
        self.description: str = description or self.default_description
        self.details: dict[str, Any] = dict(details) if details else {}
        self.received_code: str | None = None
        super().__init__(self.description)

    def code(self, version: OcppVersion) -> str:
        return wire_code(self.kind, version)

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.description}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r}, {self.details!r})"

    def __eq__(self, other: object) -> bool:
        # Value semantics make events holding errors comparable in tests;
        # received_code is wire metadata, not part of the value.
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, OcppError)
        return (self.description, self.details) == (other.description, other.details)

    def __hash__(self) -> int:
        return hash((type(self), self.description))


class NotImplementedAction(OcppError):
    kind = ErrorKind.NOT_IMPLEMENTED
    default_description = "The requested action is not known by the receiver"


class NotSupported(OcppError):
    kind = ErrorKind.NOT_SUPPORTED
    default_description = "The requested action is known but not supported by the receiver"


class InternalError(OcppError):
    kind = ErrorKind.INTERNAL_ERROR
    default_description = "The receiver failed internally while processing the action"


class ProtocolError(OcppError):
    kind = ErrorKind.PROTOCOL_ERROR
    default_description = "The payload does not follow the protocol for this action"


class SecurityError(OcppError):
    kind = ErrorKind.SECURITY_ERROR
    default_description = "A security issue prevented the receiver from completing the action"


class FormationViolation(OcppError):
    kind = ErrorKind.FORMAT_VIOLATION
    default_description = (
        "The payload is syntactically wrong or not structured as the action requires"
    )


class PropertyConstraintViolation(OcppError):
    kind = ErrorKind.PROPERTY_CONSTRAINT_VIOLATION
    default_description = "A field holds a value that is not allowed"


class OccurrenceConstraintViolation(OcppError):
    kind = ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION
    default_description = "A field occurs more or fewer times than allowed"


class TypeConstraintViolation(OcppError):
    kind = ErrorKind.TYPE_CONSTRAINT_VIOLATION
    default_description = "A field does not have the required data type"


class GenericError(OcppError):
    kind = ErrorKind.GENERIC_ERROR
    default_description = "An error not covered by a more specific code"


class MessageTypeNotSupported(OcppError):
    kind = ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED
    default_description = "The message type number is not supported"


class RpcFrameworkError(OcppError):
    kind = ErrorKind.RPC_FRAMEWORK_ERROR
    default_description = "The message is not a valid OCPP-J RPC message"


_CLASS_BY_KIND: dict[ErrorKind, type[OcppError]] = {
    cls.kind: cls
    for cls in (
        NotImplementedAction,
        NotSupported,
        InternalError,
        ProtocolError,
        SecurityError,
        FormationViolation,
        PropertyConstraintViolation,
        OccurrenceConstraintViolation,
        TypeConstraintViolation,
        GenericError,
        MessageTypeNotSupported,
        RpcFrameworkError,
    )
}


def error_class(kind: ErrorKind) -> type[OcppError]:
    return _CLASS_BY_KIND[kind]


# Every spelling any version uses (or that peers commonly send) -> kind.
_KIND_BY_CODE: dict[str, ErrorKind] = {kind.value: kind for kind in ErrorKind}
_KIND_BY_CODE.update(
    {
        "FormationViolation": ErrorKind.FORMAT_VIOLATION,
        "OccurenceConstraintViolation": ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    }
)


def error_from_code(
    code: str, description: str = "", details: dict[str, Any] | None = None
) -> OcppError:
    """The OcppError for a CALLERROR we received.

    An unknown code becomes GenericError; the original text stays visible in
    `received_code` and at the front of the description.
    """
    kind = _KIND_BY_CODE.get(code)
    if kind is None:
        error: OcppError = GenericError(f"unknown error code {code!r}: {description}", details)
    else:
        error = _CLASS_BY_KIND[kind](description, details)
    error.received_code = code
    return error


class OfflineError(Exception):
    """The connection is gone; a CALL could not be sent or will get no answer."""


class CallTimeout(Exception):
    """No answer to our CALL arrived before its deadline."""


class OutgoingPayloadInvalid(Exception):
    """We were about to send a payload that fails its schema: a bug on our side.

    `error` is the schema violation, mapped like an incoming one.
    """

    def __init__(self, message: str, error: OcppError | None = None) -> None:
        super().__init__(message)
        self.error = error
