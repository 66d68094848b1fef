"""Vendor DataTransfer handlers that an embedder registers with the station.

OCPP 1.6 DataTransfer carries vendor-specific requests; a station answers
UnknownVendorId or UnknownMessageId unless something here claims them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

# (status, data): status one of Accepted, Rejected (or UnknownMessageId,
# UnknownVendorId for a vendor's message it does not take); data optional text.
Handler = Callable[[str | None], tuple[str, str | None]]


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

    def handle(self, vendor_id: str, message_id: str | None, data: str | None) -> dict[str, str]:
        """The DataTransfer.conf payload for one request."""
        with self._lock:
            exact = self._handlers.get(_Key(vendor_id, message_id))
            whole_vendor = self._handlers.get(_Key(vendor_id, None))
            vendor_known = any(key.vendor_id == vendor_id for key in self._handlers)
        handler = exact or whole_vendor
        if handler is None:
            return {"status": "UnknownMessageId" if vendor_known else "UnknownVendorId"}
        status, reply = handler(data)
        answer = {"status": status}
        if reply is not None:
            answer["data"] = reply
        return answer
