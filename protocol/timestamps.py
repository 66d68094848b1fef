"""OCPP timestamps: RFC 3339 in UTC with a Z, to the millisecond, and back."""

from __future__ import annotations

from datetime import UTC, datetime


def ocpp_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("an OCPP timestamp needs a timezone-aware datetime")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 date-time as the CSMS may send it, timezone-aware.

    RFC 3339 allows a lower-case t and z, which the validator accepts and
    Python 3.11's fromisoformat does not; ValueError for anything else.
    """
    moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone offset")
    return moment
