"""OCPP 1.6 Core: DataTransfer (5.6) from the CSMS.

Answered by the handler registered for the vendorId (see
actors/hooks/data_transfer.py), an embedder's or a block's (California
Pricing, actors/v16/california_pricing.py): UnknownVendorId without one.
What a handler's answer promises (its `after`) runs in this block once the
answer is on its way (a `Then`), so it never overtakes the answer.
"""

from __future__ import annotations

from ocppstation.actors.hooks.data_transfer import After
from ocppstation.actors.link.block import Block, Reply
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call


class DataTransfer(Block):
    def handle(self, call: Call) -> Reply:
        if call.action != "DataTransfer":
            raise NotSupported(call.action)
        payload = call.payload
        vendor = payload["vendorId"]
        after: After | None = None
        try:
            answer, after = self.ctx.data_transfer.handle(
                vendor, payload.get("messageId"), payload.get("data")
            )
        except Exception:
            # A handler's bug is the vendor's message refused, not the block down.
            self.log.exception("DataTransfer handler for %s failed", vendor)
            answer = {"status": "Rejected"}
        if after is None:
            return answer, None
        promised = after

        def run() -> None:
            try:
                promised()
            except Exception:  # told, not asked: a bug here would take the block down
                self.log.exception("DataTransfer %s: what the answer promised failed", vendor)

        return answer, self.later(run)
