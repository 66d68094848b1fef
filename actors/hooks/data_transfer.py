"""Vendor DataTransfer handlers that an embedder registers with the station.

OCPP 1.6 DataTransfer carries vendor-specific requests; a station answers
UnknownVendorId or UnknownMessageId unless something here claims them.

A handler answers `(status, data)`, or a `Reply` when the answer promises
something (a trigger's message): its `after` runs once the answer is on its
way to the wire, on the data transfer block's thread, so whatever it sends
reaches the CSMS after the answer (the wire order of actors/link/rpc.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

After = Callable[[], None]


@dataclass(frozen=True)
class Reply:
    """A handler's answer with what it promises: `after` runs once the answer went out."""

    status: str  # Accepted, Rejected (or UnknownMessageId, UnknownVendorId)
    data: str | None = None
    after: After | None = None


# (status, data): status one of Accepted, Rejected (or UnknownMessageId,
# UnknownVendorId for a vendor's message it does not take); data optional text.
Handler = Callable[[str | None], tuple[str, str | None] | Reply]


@dataclass(frozen=True)
class _Key:
    vendor_id: str
    message_id: str | None  # None: every message of the vendor


class DataTransferHandlers:
    """Thread-safe: registered from the embedder's thread, used by the data transfer block."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[_Key, Handler] = {}

    def register(self, vendor_id: str, message_id: str | None, handler: Handler) -> None:
        with self._lock:
            self._handlers[_Key(vendor_id, message_id)] = handler

    def handle(
        self, vendor_id: str, message_id: str | None, data: str | None
    ) -> tuple[dict[str, str], After | None]:
        """The DataTransfer.conf payload for one request, and what runs after it is sent."""
        with self._lock:
            exact = self._handlers.get(_Key(vendor_id, message_id))
            whole_vendor = self._handlers.get(_Key(vendor_id, None))
            vendor_known = any(key.vendor_id == vendor_id for key in self._handlers)
        handler = exact or whole_vendor
        if handler is None:
            return {"status": "UnknownMessageId" if vendor_known else "UnknownVendorId"}, None
        result = handler(data)
        reply = result if isinstance(result, Reply) else Reply(*result)
        answer = {"status": reply.status}
        if reply.data is not None:
            answer["data"] = reply.data
        return answer, reply.after
