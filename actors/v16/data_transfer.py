"""OCPP 1.6 Core: DataTransfer (5.6) from the CSMS.

Answered by the handler registered for the vendorId (see
actors/hooks/data_transfer.py), an embedder's or a block's (California
Pricing, actors/v16/california_pricing.py): UnknownVendorId without one.
"""

from __future__ import annotations

from ocppstation.actors.link.block import Block, Reply
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call


class DataTransfer(Block):
    def handle(self, call: Call) -> Reply:
        if call.action != "DataTransfer":
            raise NotSupported(call.action)
        payload = call.payload
        try:
            answer = self.ctx.data_transfer.handle(
                payload["vendorId"], payload.get("messageId"), payload.get("data")
            )
        except Exception:
            # A handler's bug is the vendor's message refused, not the block down.
            self.log.exception("DataTransfer handler for %s failed", payload["vendorId"])
            answer = {"status": "Rejected"}
        return answer, None
