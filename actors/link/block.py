"""A feature block: an actor that answers the CSMS calls its routing table gives it.

A block's `handle` turns a call into an answer, or raises an OcppError for
a CALLERROR. What the answer promises (a triggered message, a reset, an
announce) is a `Then`: rpc delivers it once the answer is on its way to the
wire, never before, so the CSMS always sees the answer first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocppstation.actors.link.rpc import Answer, Inbound
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import RPC, StationContext
from ocppstation.protocol.errors import OcppError
from ocppstation.protocol.framing import Call


@dataclass(frozen=True)
class Then:
    """Tell the actor at `path` the `message` once the answer is on its way."""

    path: str
    message: object


@dataclass(frozen=True)
class _Run:
    work: Callable[[], None]


Reply = tuple[dict[str, Any], Then | None]


class Block(Supervised):
    """Answers `Inbound` calls with `handle`; subclasses add their own messages."""

    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx

    def handle(self, call: Call) -> Reply:
        raise NotImplementedError

    def later(self, work: Callable[[], None]) -> Then:
        """A `Then` that runs `work` in this actor after the answer went out."""
        return Then(self.path, _Run(work))

    def receive(self, message: Any) -> Any:
        match message:
            case Inbound(call=call):
                self._answer(call)
            case _Run(work=work):
                work()
            case _:
                return super().receive(message)
        return None

    def _answer(self, call: Call) -> None:
        then: Then | None = None
        result: dict[str, Any] | OcppError
        try:
            result, then = self.handle(call)
        except OcppError as exc:
            result = exc
        target = None if then is None else self.ctx.registry.get(then.path)
        if then is not None and target is None:
            # Restarting: it announces itself when it is back, and a trigger
            # it misses is one the CSMS may send again.
            self.log.info("%s: %s is not running for its follow-up", call.action, then.path)
        message = None if then is None else then.message
        self.ctx.registry.tell(RPC, Answer(call, result, target, message))
