"""OCPP timestamps: RFC 3339 in UTC with a Z, to the millisecond."""

from __future__ import annotations

from datetime import UTC, datetime


def ocpp_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("an OCPP timestamp needs a timezone-aware datetime")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
