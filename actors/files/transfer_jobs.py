"""What the firmware and the log uploads actors share: jobs built on file transfers.

Both answer the CSMS's calls at once and do the slow part (a transfer,
hashing, an installer) on a worker thread that reports back by message
(`work_on_thread`), so neither actor is ever blocked. Both send status
notifications whose answer may start the next step (`Statuses`, with its
`then=`), and send a final status again on `Online` until the CSMS has
answered it. `transfer_options` and `unsupported` read the keys that every
transfer obeys (`actors/transfer.py` does the transfers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pykka

from ocppstation.actors.files.transfer import (
    SCHEMES,
    Failure,
    TransferError,
    TransferOptions,
    protocol_of,
)
from ocppstation.actors.link.rpc import Answer, Outcome, submit
from ocppstation.actors.runtime.context import RPC, StationContext
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.errors import InternalError, NotSupported, OcppError
from ocppstation.protocol.framing import Call

__all__ = [
    "Handler",
    "Notified",
    "Statuses",
    "TransferFailed",
    "TriggerStatus",
    "answer_call",
    "internal",
    "transfer_options",
    "unsupported",
    "work_on_thread",
]

# Answers one CSMS call's payload: the result, and what to tell ourselves
# once the answer is on its way (None: nothing).
Handler = Callable[[dict[str, Any]], tuple[dict[str, Any], object]]


@dataclass(frozen=True)
class TriggerStatus:
    """Send `message` (FirmwareStatusNotification, DiagnosticsStatusNotification,
    SignedFirmwareStatusNotification or LogStatusNotification) with the present
    status now: the CSMS asked for it with (Extended)TriggerMessage."""

    message: str


@dataclass(frozen=True)
class TransferFailed:
    """One attempt failed; the next comes in `retry_in` seconds (None: that was the last)."""

    kind: str  # "firmware", "diagnostics" or "log"
    attempt: int
    error: str
    retry_in: float | None


@dataclass(frozen=True)
class Notified:
    """A status notification was answered, or failed; for `Statuses.settle`."""

    action: str
    payload: dict[str, Any]
    outcome: Outcome
    then: object


def answer_call(
    ctx: StationContext,
    me: pykka.ActorRef[Any],
    log: logging.Logger,
    call: Call,
    handlers: Mapping[str, Handler],
    owner: str,
) -> None:
    """Answer `call` with its handler's result; its follow-up is told to `me`."""
    then: object = None
    result: dict[str, Any] | OcppError
    try:
        handler = handlers.get(call.action)
        if handler is None:
            raise NotSupported(f"{call.action} is not handled by {owner}")
        result, then = handler(call.payload)
    except OcppError as exc:
        result = exc
    except Exception:
        # A bug here must not restart the tree behind us (rest_for_one):
        # the CSMS gets an error, and whatever was under way goes on.
        log.exception("%s failed", call.action)
        result, then = InternalError(f"{call.action} failed"), None
    # What the answer starts comes after it on the wire.
    notify = None if then is None else me
    ctx.registry.tell(RPC, Answer(call, result, notify, then))


class Statuses:
    """An actor's status notifications: sent, answered, and which are on their way."""

    def __init__(self, ctx: StationContext, me: pykka.ActorRef[Any], log: logging.Logger) -> None:
        self.ctx = ctx
        self.me = me
        self.log = log
        self.in_flight: set[tuple[str, str, int | None]] = set()

    def send(self, action: str, payload: dict[str, Any], then: object = None) -> None:
        """Send a status; `then` is told to the actor when it is answered or failed."""
        self.in_flight.add(_key(action, payload))
        submit(
            self.ctx,
            action,
            payload,
            reply_to=self.me,
            wrap=lambda outcome: Notified(action, payload, outcome, then),
        )

    def send_again(self, action: str, payload: dict[str, Any]) -> None:
        """Send a final status the CSMS has not answered, unless it is on its way."""
        if _key(action, payload) not in self.in_flight:
            self.send(action, payload)

    def settle(self, message: Notified, delivered: Callable[[str, dict[str, Any]], None]) -> None:
        """A status was answered (`delivered(action, payload)`) or failed; then its `then`."""
        action, payload = message.action, message.payload
        self.in_flight.discard(_key(action, payload))
        error = message.outcome.error
        if error is not None:
            # A transient status is not worth a retry; a final one is sent
            # again when the station is next online.
            self.log.info("%s %s not delivered: %s", action, payload["status"], error)
        else:
            delivered(action, payload)
        if message.then is not None:
            self.me.tell(message.then)


def work_on_thread(
    me: pykka.ActorRef[Any],
    log: logging.Logger,
    name: str,
    work: Callable[[], Any],
    done: Callable[[Any, str | None, Failure | None], object],
) -> None:
    """Run `work` on a thread of its own; tell `me` `done(result, error, kind)`."""

    def run() -> None:
        try:
            message = done(work(), None, None)
        except TransferError as exc:
            message = done(None, str(exc), exc.kind)
        except Exception as exc:  # a bug, or an installer that raised: the job ends
            log.exception("%s failed", name)
            message = done(None, f"{type(exc).__name__}: {exc}", Failure.FAILED)
        try:
            me.tell(message)
        except pykka.ActorDeadError:
            log.debug("%s finished after its actor stopped", name)

    threading.Thread(target=run, name=name, daemon=True).start()


def unsupported(ctx: StationContext, location: str) -> str | None:
    """Why the station will not transfer to or from `location`, or None."""
    protocol = protocol_of(location)
    supported = ctx.setting(Setting.FILE_TRANSFER_PROTOCOLS, tuple(SCHEMES.values()))
    if protocol is None or protocol not in supported:
        return f"{location}: not a protocol this station supports ({', '.join(supported)})"
    return None


def transfer_options(ctx: StationContext) -> TransferOptions:
    ca_file = str(internal(ctx, "FileTransferCaFile", ""))
    return TransferOptions(
        timeout=float(internal(ctx, "FileTransferTimeout", 60)),
        ca_file=ca_file or None,
    )


def internal(ctx: StationContext, key: str, default: Any) -> Any:
    """An `Internal` config value."""
    return ctx.config["Internal"].get(key, default)


def _key(action: str, payload: dict[str, Any]) -> tuple[str, str, int | None]:
    return action, str(payload["status"]), payload.get("requestId")
