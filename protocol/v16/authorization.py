"""Who may charge: the OCPP 1.6 local authorization rules, as one pure function.

The station knows an idTag from its Local Authorization List and its
Authorization Cache (both hold the idTagInfo the CSMS gave). `decide` says
whether to accept at once, refuse at once, or ask the CSMS (Authorize), from
the configuration keys that govern it (1.6 sections 3.5 and 9.1):

- online, LocalPreAuthorize: a valid Accepted entry starts at once (the CSMS
  still judges it through StartTransaction); anything else is asked;
- online otherwise: always asked;
- offline, LocalAuthorizeOffline: a valid Accepted entry is accepted, a known
  entry that is not valid (blocked, expired, invalid) is refused;
- offline, an identifier not known (or not to be used offline): accepted only
  with AllowOfflineTxForUnknownId.

The Local Authorization List wins over the cache: it is what the CSMS set on
purpose, while the cache only remembers past answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ocppstation.protocol.timestamps import parse_timestamp


class Verdict(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    ASK = "ask"  # send Authorize (online) and use its answer


@dataclass(frozen=True)
class Policy:
    local_pre_authorize: bool = False
    local_authorize_offline: bool = True
    allow_offline_tx_for_unknown_id: bool = False
    cache_enabled: bool = True
    local_list_enabled: bool = True


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    status: str  # the idTagInfo status that stands behind the verdict
    source: str  # "list", "cache", "unknown" or "csms"


def parse_expiry(info: dict[str, Any]) -> datetime | None:
    text = info.get("expiryDate")
    if not text:
        return None
    return parse_timestamp(text)


def effective_status(info: dict[str, Any], now: datetime) -> str:
    """The status of a stored idTagInfo at `now`: Accepted turns Expired with time."""
    status = str(info.get("status", "Invalid"))
    expiry = parse_expiry(info)
    if status == "Accepted" and expiry is not None and expiry <= now:
        return "Expired"
    return status


def decide(
    *,
    online: bool,
    listed: dict[str, Any] | None,
    cached: dict[str, Any] | None,
    policy: Policy,
    now: datetime,
) -> Decision:
    known, source = None, "unknown"
    if policy.local_list_enabled and listed is not None:
        known, source = listed, "list"
    elif policy.cache_enabled and cached is not None:
        known, source = cached, "cache"
    status = effective_status(known, now) if known is not None else "Unknown"
    if online:
        if policy.local_pre_authorize and status == "Accepted":
            return Decision(Verdict.ACCEPT, status, source)
        return Decision(Verdict.ASK, status, "csms")
    if known is not None and policy.local_authorize_offline:
        verdict = Verdict.ACCEPT if status == "Accepted" else Verdict.REJECT
        return Decision(verdict, status, source)
    if policy.allow_offline_tx_for_unknown_id:
        return Decision(Verdict.ACCEPT, "Accepted", "unknown")
    return Decision(Verdict.REJECT, "Invalid" if known is None else status, source)


def may_stop(
    stopping_tag: str,
    stopping_parent: str | None,
    started_tag: str,
    started_parent: str | None,
) -> bool:
    """1.6 3.6: the same identifier, or one of the same group (parentIdTag), may stop."""
    if stopping_tag == started_tag:
        return True
    return started_parent is not None and stopping_parent == started_parent
