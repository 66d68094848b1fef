"""OCPP 2.0.1 B Reset (B11, B12): Immediate, or OnIdle once no transaction runs.

Immediate ends every transaction (stoppedReason ImmediateReset) and
restarts the station; OnIdle with a transaction running answers Scheduled
and resets when the last one has ended. A reset of one EVSE is not
supported (Rejected), which B11 allows.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call_result
from ocpp.v201.enums import ResetEnumType, ResetStatusEnumType

from ocppstation.actors.events import ResetRequested, TransactionStopped
from ocppstation.actors.link.block import Block, Reply
from ocppstation.actors.security_events import report_event
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump

ASK_TIMEOUT = 2.0


class Reset(Block):
    def setup(self) -> None:
        self.on_idle = False
        self._unsubscribe = self.ctx.forward(
            self.actor_ref, lambda e: e if isinstance(e, TransactionStopped) else None
        )

    def teardown(self) -> None:
        self._unsubscribe()

    def receive(self, message: Any) -> Any:
        if isinstance(message, TransactionStopped):
            if self.on_idle and not self._running():
                self._reset("Soft")
            return None
        return super().receive(message)

    def handle(self, call: Call) -> Reply:
        if call.action != "Reset":
            raise NotSupported(call.action)
        if call.payload.get("evseId") is not None:
            return dump(call_result.Reset(ResetStatusEnumType.rejected)), None
        if call.payload["type"] == ResetEnumType.on_idle and self._running():
            self.on_idle = True
            return dump(call_result.Reset(ResetStatusEnumType.scheduled)), None
        # Immediate ends the transactions now, as 1.6's Hard reset does.
        kind = "Hard" if call.payload["type"] == ResetEnumType.immediate else "Soft"
        answer = call_result.Reset(ResetStatusEnumType.accepted)
        return dump(answer), self.later(lambda: self._reset(kind))

    def _running(self) -> bool:
        states = self.ctx.snapshots(list(self.ctx.config.evse_numbers), ASK_TIMEOUT)
        return any(s.get("transaction_id") is not None for s in states.values())

    def _reset(self, kind: str) -> None:
        self.on_idle = False
        report_event(self.ctx, "ResetOrReboot", f"{kind} reset requested by the CSMS")
        self.ctx.bus.publish(ResetRequested(kind))
