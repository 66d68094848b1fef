"""OCPP 1.6's transaction messages in the persisted queue (4.7, 9.1).

StartTransaction opens a transaction and its answer gives the CSMS's
transactionId; a MeterValues or StopTransaction queued before that answer
carries only our local id, and the real transactionId goes in at send
time (`resolve`). Answers that carry an idTagInfo (StartTransaction,
StopTransaction) say what the CSMS thinks of the idTag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ocppstation.protocol.txqueue import Delivered, TransactionId, Unresolvable


def resolve(
    action: str,
    payload: Mapping[str, Any],
    local_tx: int | None,
    transaction_ids: Mapping[int, TransactionId],
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


class V16TransactionMessages:
    """The 1.6 `TransactionMessages` (see protocol/txqueue.py)."""

    def opens(self, action: str, payload: Mapping[str, Any]) -> bool:
        return action == "StartTransaction"

    def closes(self, action: str, payload: Mapping[str, Any]) -> bool:
        return action == "StopTransaction"

    def resolve(
        self,
        action: str,
        payload: Mapping[str, Any],
        local_tx: int | None,
        transaction_ids: Mapping[int, TransactionId],
    ) -> dict[str, Any]:
        return resolve(action, payload, local_tx, transaction_ids)

    def delivered(
        self, action: str, payload: Mapping[str, Any], result: Mapping[str, Any]
    ) -> Delivered:
        transaction_id = int(result["transactionId"]) if action == "StartTransaction" else None
        id_tag = payload.get("idTag")
        return Delivered(transaction_id, str(id_tag) if id_tag else None, result.get("idTagInfo"))


TRANSACTION_MESSAGES = V16TransactionMessages()
