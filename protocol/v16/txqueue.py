"""The rules of the persisted queue of transaction messages (OCPP 1.6 4.7, 9.1).

StartTransaction, StopTransaction and in-transaction MeterValues must reach
the CSMS, in order, even across network loss and restarts. This module holds
the pure decisions the outbox actor follows:

- `after_failure`: what to do when a send failed. Offline (or not yet
  accepted) is not the CSMS refusing anything: wait for the link, without
  counting an attempt. A timeout or a CALLERROR counts; after
  TransactionMessageAttempts the message is dropped, and before that the wait
  grows as TransactionMessageRetryInterval times the attempts made.
- `resolve`: a message queued before its transaction had a CSMS id carries
  only our local id; at send time the real transactionId goes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

TRANSACTIONAL = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})


class Failure(StrEnum):
    OFFLINE = "offline"  # link down or not Accepted: nothing was delivered
    TIMEOUT = "timeout"
    ERROR = "error"  # the CSMS answered with a CALLERROR


@dataclass(frozen=True)
class Retry:
    drop: bool
    attempts: int  # attempts counted so far, to persist
    wait: float | None  # seconds until the next try; None = when back online


def after_failure(
    failure: Failure, attempts: int, max_attempts: int, retry_interval: float
) -> Retry:
    if failure is Failure.OFFLINE:
        return Retry(drop=False, attempts=attempts, wait=None)
    attempts += 1
    if attempts >= max(max_attempts, 1):
        return Retry(drop=True, attempts=attempts, wait=None)
    return Retry(drop=False, attempts=attempts, wait=retry_interval * attempts)


class Unresolvable(ValueError):
    """The transaction's StartTransaction never got an id: the message cannot be sent."""


def resolve(
    action: str,
    payload: Mapping[str, Any],
    local_tx: int | None,
    transaction_ids: Mapping[int, int],
) -> dict[str, Any]:
    """The payload to send, with the CSMS's transactionId filled in where needed."""
    resolved = dict(payload)
    if action == "StartTransaction" or local_tx is None:
        return resolved
    transaction_id = transaction_ids.get(local_tx)
    if transaction_id is None:
        raise Unresolvable(f"{action} of local transaction {local_tx} has no CSMS id")
    resolved["transactionId"] = transaction_id
    return resolved
