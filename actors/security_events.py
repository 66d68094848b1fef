"""Security events: SecurityEventNotification, the same message in 1.6's
Security Whitepaper and 2.0.1 (A04), so one piece serves both.

An event is logged where GetLog's SecurityLog finds it, stored in the queue
and delivered by the outbox like a transaction message, so one reported just
before a reboot survives it.
"""

from __future__ import annotations

import logging
from typing import Any

from ocppstation.actors.link.outbox import tell_stored
from ocppstation.actors.runtime.context import StationContext
from ocppstation.protocol.errors import OcppVersion
from ocppstation.protocol.timestamps import ocpp_timestamp

STORAGE_TIMEOUT = 10.0

# The whitepaper's names that 2.0.1 (Part 2, Appendix: security events) renamed;
# a version-neutral part (the link's TLS checks) reports in 1.6's words.
_V201_NAMES = {
    "FailedToAuthenticateAtCentralSystem": "FailedToAuthenticateAtCsms",
    "CentralSystemFailedToAuthenticate": "CsmsFailedToAuthenticate",
    "InvalidCentralSystemCertificate": "InvalidCsmsCertificate",
    "InvalidChargePointCertificate": "InvalidChargingStationCertificate",
}


def event_type(version: OcppVersion, kind: str) -> str:
    """`kind` in the words of the version the station speaks."""
    return _V201_NAMES.get(kind, kind) if version is not OcppVersion.V16 else kind


def event_payload(ctx: StationContext, kind: str, tech_info: str | None = None) -> dict[str, Any]:
    """A SecurityEventNotification's payload, logged where GetLog's SecurityLog finds it."""
    kind = event_type(ctx.config.ocpp_version, kind)
    payload: dict[str, Any] = {"type": kind, "timestamp": ocpp_timestamp(ctx.clock.wall())}
    if tech_info:
        payload["techInfo"] = tech_info[:255]
    logging.getLogger("ocppstation.security").info(
        "security event %s%s", kind, f": {tech_info}" if tech_info else ""
    )
    return payload


def report_event(ctx: StationContext, kind: str, tech_info: str | None = None) -> None:
    """Queue a SecurityEventNotification; the outbox delivers it like a transaction message.

    Any actor may call it; it returns once the event is stored, so an event
    reported just before a reboot survives it (with a database file).
    `kind` is one of the whitepaper's event types.
    """
    payload = event_payload(ctx, kind, tech_info)
    action = "SecurityEventNotification"
    seq = ctx.storage().queue.push(action, payload, None).get(timeout=STORAGE_TIMEOUT)
    tell_stored(ctx, seq, action, payload)
