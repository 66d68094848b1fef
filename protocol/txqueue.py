"""The rules of the persisted queue of transaction messages, for any version.

Transaction messages (1.6: StartTransaction, StopTransaction, in-transaction
MeterValues; 2.0.1: TransactionEvent) must reach the CSMS, in order, even
across network loss and restarts. This module holds the pure decisions the
outbox actor follows, and the shape of what a version tells it
(`TransactionMessages`):

- `after_failure`: what to do when a send failed. Offline (or not yet
  accepted) is not the CSMS refusing anything: wait for the link, without
  counting an attempt. A timeout or a CALLERROR counts; after the allowed
  attempts the message is dropped, and before that the wait grows as the
  retry interval times the attempts made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

# The CSMS's integer (1.6, given in StartTransaction.conf) or the station's
# own string (2.0.1, chosen when the transaction starts).
TransactionId = int | str


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
    """The message's transaction never got its id: the message cannot be sent."""


@dataclass(frozen=True)
class Delivered:
    """What a CSMS's answer to a queued message tells the station."""

    # The transaction's id, when this answer is the one that gives it (1.6).
    transaction_id: TransactionId | None = None
    # The idTag / idToken the message was about, and what the CSMS said of it.
    token: str | None = None
    token_info: Mapping[str, Any] | None = None
    # What the EVSE of the message acts on, where it differs from token_info
    # (2.0.1: an idTokenInfo whose evseId leaves that EVSE out is Invalid there).
    here: Mapping[str, Any] | None = None


class TransactionMessages(Protocol):
    """How one OCPP version's transaction messages are sent and answered."""

    def opens(self, action: str, payload: Mapping[str, Any]) -> bool:
        """Whether the message begins a transaction."""
        ...

    def closes(self, action: str, payload: Mapping[str, Any]) -> bool:
        """Whether the message is a transaction's last."""
        ...

    def resolve(
        self,
        action: str,
        payload: Mapping[str, Any],
        local_tx: int | None,
        transaction_ids: Mapping[int, TransactionId],
    ) -> dict[str, Any]:
        """The payload to send, with the transaction's id put in where it goes.

        Raises Unresolvable when the id it needs was never given.
        """
        ...

    def delivered(
        self, action: str, payload: Mapping[str, Any], result: Mapping[str, Any]
    ) -> Delivered: ...
