"""What an EVSE tells the CSMS, as the version in use words it.

The connector knows what happened (a status, a transaction begun or ended,
meter values sampled); an `EvseMessages` turns that into the version's
message. 1.6's is protocol/v16/evse_messages.py; the tree hands the
connector the one for the version in use, so the EVSE builds no payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ocppstation.protocol.txqueue import TransactionId


@dataclass(frozen=True)
class Outgoing:
    """A CALL to send (or to queue): its action and its wire payload."""

    action: str
    payload: dict[str, Any]


class EvseMessages(Protocol):
    def status(self, connector: int, status: str, error_code: str, timestamp: str) -> Outgoing:
        """The connector's status changed (or the CSMS asked for it)."""
        ...

    def started(
        self,
        connector: int,
        id_tag: str,
        meter_start_wh: int,
        timestamp: str,
        reservation_id: int | None,
    ) -> Outgoing:
        """A transaction began (queued: it must reach the CSMS)."""
        ...

    def stopped(
        self,
        id_tag: str,
        meter_stop_wh: int,
        timestamp: str,
        reason: str,
        data: Sequence[dict[str, Any]] = (),
    ) -> Outgoing:
        """A transaction ended, with the meter values kept for its end."""
        ...

    def meter_values(
        self,
        connector: int,
        values: Sequence[dict[str, Any]],
        transaction_id: TransactionId | None = None,
    ) -> Outgoing:
        """Meter values sampled on the connector, in a transaction or not."""
        ...
