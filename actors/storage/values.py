"""Checks on what the stores are asked to keep, made in the asker's ask before any write."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["require_str", "to_json"]


def to_json(value: dict[str, Any], what: str) -> str:
    if not isinstance(value, dict):
        msg = f"{what} must be a dict, not {type(value).__name__}"
        raise TypeError(msg)
    # allow_nan=False: NaN is not JSON and no CSMS would accept it later, so
    # it is refused now, in the caller, rather than at send time after a crash.
    # ASCII escapes: json.loads turns "\ud800" from a CSMS into a lone
    # surrogate, which cannot be encoded as UTF-8 for SQLite but escapes fine.
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        msg = f"{what} must be a str, not {type(value).__name__}"
        raise TypeError(msg)
    return value
