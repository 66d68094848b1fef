"""OCPP 2.0.1's transaction messages in the persisted queue (E01-E15, "Offline
behaviour" of Part 2 E).

Every message of a transaction is a TransactionEvent that already carries
the station's own transactionId and its seqNo, so nothing goes in at send
time. The answer to a Started says what the CSMS thinks of the idToken
(idTokenInfo, when it gives one); the transaction's id is reported as
"known" then, so the EVSE acts on that answer (StopTxOnInvalidId) as it does
in 1.6.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ocppstation.protocol.txqueue import Delivered, TransactionId
from ocppstation.protocol.v201.authorization import at_evse

TRANSACTION_EVENT = "TransactionEvent"


def _event_type(action: str, payload: Mapping[str, Any]) -> str | None:
    return str(payload.get("eventType")) if action == TRANSACTION_EVENT else None


class V201TransactionMessages:
    """The 2.0.1 `TransactionMessages` (see protocol/txqueue.py)."""

    def opens(self, action: str, payload: Mapping[str, Any]) -> bool:
        return _event_type(action, payload) == "Started"

    def closes(self, action: str, payload: Mapping[str, Any]) -> bool:
        return _event_type(action, payload) == "Ended"

    def resolve(
        self,
        action: str,
        payload: Mapping[str, Any],
        local_tx: int | None,
        transaction_ids: Mapping[int, TransactionId],
    ) -> dict[str, Any]:
        return dict(payload)

    def delivered(
        self, action: str, payload: Mapping[str, Any], result: Mapping[str, Any]
    ) -> Delivered:
        token = payload.get("idToken", {}).get("idToken") if action == TRANSACTION_EVENT else None
        info = result.get("idTokenInfo")
        transaction_id = None
        if self.opens(action, payload):
            transaction_id = str(payload["transactionInfo"]["transactionId"])
        here = None
        if info is not None and action == TRANSACTION_EVENT and "evse" in payload:
            # The cache learns what the CSMS said; the EVSE acts on what it says there.
            here = at_evse(info, int(payload["evse"]["id"]))
        return Delivered(transaction_id, str(token) if token else None, info, here)


TRANSACTION_MESSAGES = V201TransactionMessages()
