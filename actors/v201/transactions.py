"""OCPP 2.0.1 E Transactions: GetTransactionStatus (E14).

The transactions themselves are the EVSEs' (actors/evse/connector.py, in
2.0.1's words by protocol/v201/evse_messages.py) and their messages the
outbox's; this block answers what the CSMS asks about them.
"""

from __future__ import annotations

from ocpp.v201 import call_result

from ocppstation.actors.link.block import Block, Reply
from ocppstation.actors.runtime.context import OUTBOX
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump

ASK_TIMEOUT = 2.0


def _transaction_of(payload: dict[str, object]) -> object:
    info = payload.get("transactionInfo")
    return info.get("transactionId") if isinstance(info, dict) else None


class Transactions(Block):
    def handle(self, call: Call) -> Reply:
        if call.action != "GetTransactionStatus":
            raise NotSupported(call.action)
        wanted = call.payload.get("transactionId")
        queued = self.ctx.registry.proxy(OUTBOX).queued().get(timeout=ASK_TIMEOUT)
        if wanted is None:
            # E14.FR.06: without an id, whether any transaction message waits.
            return dump(call_result.GetTransactionStatus(messages_in_queue=bool(queued))), None
        waiting = any(_transaction_of(payload) == wanted for _, payload in queued)
        states = self.ctx.snapshots(list(self.ctx.config.evse_numbers), ASK_TIMEOUT)
        ongoing = any(s.get("transaction_id") == wanted for s in states.values())
        answer = call_result.GetTransactionStatus(
            messages_in_queue=waiting, ongoing_indicator=ongoing
        )
        return dump(answer), None
