"""OCPP 1.6 Core: DataTransfer (5.6) from the CSMS.

Answered by the handler the embedder registered for the vendorId (see
actors/hooks/data_transfer.py): UnknownVendorId without one.
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
        answer = self.ctx.data_transfer.handle(
            payload["vendorId"], payload.get("messageId"), payload.get("data")
        )
        return answer, None
