"""A readable, one-line-per-event view of what a station does."""

from __future__ import annotations

import threading
import time
from typing import IO, Any

import ocppstation.actors.runtime.supervisor as sup
from ocppstation.actors import events as ev


def describe(event: Any) -> str | None:
    """One human line for an event, or None for events not worth a line."""
    match event:
        case ev.LinkChanged(up=True):
            return f"link      up to {event.url}"
        case ev.LinkChanged(up=False):
            return f"link      down ({event.reason})"
        case ev.RegistrationChanged():
            return f"boot      {event.status}"
        case ev.ConnectorChanged():
            error = "" if event.error_code == "NoError" else f" ({event.error_code})"
            return f"evse {event.evse:<4} {event.status}{error}"
        case ev.TokenJudged():
            verdict = "accepted" if event.accepted else "refused"
            offline = "" if event.online else ", offline"
            return (
                f"evse {event.evse:<4} tag {event.id_tag} {verdict}: {event.status} "
                f"({event.source}{offline})"
            )
        case ev.TransactionStarted():
            return (
                f"evse {event.evse:<4} transaction {event.transaction_id} started by "
                f"{event.id_tag} at {event.meter_start} Wh"
            )
        case ev.TransactionStopped():
            return (
                f"evse {event.evse:<4} transaction {event.transaction_id} stopped "
                f"({event.reason}) at {event.meter_stop} Wh"
            )
        case ev.MeterSampled():
            return f"evse {event.evse:<4} {event.energy_wh:9.1f} Wh  {event.power_w / 1000:6.2f} kW"
        case sup.ChildCrashed():
            return f"actor     {event.path} crashed: {event.reason}"
        case sup.ChildRestarted():
            return f"actor     {event.path} restarted in {event.latency * 1000:.2f} ms"
        case sup.ChildTerminated():
            return f"actor     {event.path} terminated: {event.reason}"
        case sup.SupervisorGaveUp():
            return f"actor     {event.path} gave up: {event.reason}"
    return None


class LiveView:
    """An event subscriber that prints `describe(event)` lines with a clock."""

    def __init__(
        self,
        out: IO[str],
        prefix: str = "station",
        *,
        lock: threading.Lock | None = None,
        t0: float | None = None,
    ) -> None:
        self.out = out
        self.prefix = prefix
        # Shared with other writers to `out` so that lines never interleave.
        self._lock = lock or threading.Lock()
        self._t0 = time.monotonic() if t0 is None else t0

    def __call__(self, event: Any) -> None:
        line = describe(event)
        if line is None:
            return
        with self._lock:
            stamp = time.monotonic() - self._t0
            print(f"{stamp:7.2f}s {self.prefix:<7} | {line}", file=self.out, flush=True)
