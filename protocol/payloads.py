"""Typed payloads: the `ocpp` package's call and call_result dataclasses, to and from the wire.

Blocks build what they send and read what they receive through the `ocpp`
package's dataclasses (`ocpp.v16.call`, `ocpp.v16.call_result`, and the
same for 2.0.1 and 2.1), so a field name is checked by the type checker and
not spelled inline in a dict. The wire is camelCase JSON, already validated
against the official schemas by the session; these two functions only
convert. Nested objects stay plain mappings inside a parsed message (the
dataclasses type them as `dict` or a datatype, and the schema already
checked their shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

T = TypeVar("T")


def parse(cls: type[T], payload: Mapping[str, Any]) -> T:
    """The message `cls` (an `ocpp` dataclass) read from a validated wire payload."""
    return cls(**camel_to_snake_case(dict(payload)))


def dump(message: object) -> dict[str, Any]:
    """The wire payload of an `ocpp` dataclass: camelCase, absent fields left out,
    enum members as their plain string values."""
    if not is_dataclass(message) or isinstance(message, type):
        raise TypeError(f"not an ocpp message: {message!r}")
    return _fields(message)


# The same output as the package's remove_nones + snake_to_camel_case over
# asdict(), in one pass: no deep copy first, and each key's spelling worked
# out once (the package's rules have special cases, e.g. soc -> SoC). It is
# on the hot path: every MeterValues goes through it.
@cache
def _camel(key: str) -> str:
    converted: dict[str, Any] = snake_to_camel_case({key: None})
    return next(iter(converted))


def _fields(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(message):
        value = getattr(message, f.name)
        if value is not None:
            out[_camel(f.name)] = _wire(value)
    return out


def _wire(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_wire(v) for v in value if v is not None]
    # The package's enums are (str, Enum): equal to their value, but str()
    # and repr() of one are the member's name, which no log or store wants.
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    return value


def action(message: object) -> str:
    """The OCPP action a call dataclass stands for (its class name)."""
    return type(message).__name__
