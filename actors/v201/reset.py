"""OCPP 2.0.1 B Reset (B11, B12): Immediate, or OnIdle once no transaction runs.

Immediate ends every transaction (stoppedReason ImmediateReset) and
restarts the station; OnIdle with a transaction running answers Scheduled
and resets when the last one has ended. With an evseId only that EVSE is
reset: its drivers and connector stop and start again (B11.FR.07,
B12.FR.05); Immediate ends its transaction first, OnIdle waits for it.
The next boot's reason is RemoteReset either way, as EVerest's system
module records it for every reset the CSMS asks for.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call_result
from ocpp.v201.enums import ResetEnumType, ResetStatusEnumType

from ocppstation.actors.events import ResetRequested, TransactionStopped
from ocppstation.actors.evse.connector import StopTransaction
from ocppstation.actors.evse.tree import reset_evse
from ocppstation.actors.link.block import Block, Reply, Then
from ocppstation.actors.runtime.context import evse_path
from ocppstation.actors.security_events import report_event
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump

ASK_TIMEOUT = 2.0


class Reset(Block):
    def setup(self) -> None:
        self.on_idle = False
        # EVSEs to reset once their transaction has ended.
        self.evses_on_idle: set[int] = set()
        self._unsubscribe = self.ctx.forward_kinds(self.actor_ref, TransactionStopped)

    def teardown(self) -> None:
        self._unsubscribe()

    def receive(self, message: Any) -> Any:
        if isinstance(message, TransactionStopped):
            if message.evse in self.evses_on_idle:
                self.evses_on_idle.discard(message.evse)
                self._reset_evse(message.evse)
            if self.on_idle and not self._running():
                self._reset("Soft")
            return None
        return super().receive(message)

    def handle(self, call: Call) -> Reply:
        if call.action != "Reset":
            raise NotSupported(call.action)
        if (evse := call.payload.get("evseId")) is not None:
            return self._evse_reset(int(evse), call.payload["type"])
        if call.payload["type"] == ResetEnumType.on_idle and self._running():
            self.on_idle = True
            return dump(call_result.Reset(ResetStatusEnumType.scheduled)), None
        # Immediate ends the transactions now, as 1.6's Hard reset does.
        kind = "Hard" if call.payload["type"] == ResetEnumType.immediate else "Soft"
        answer = call_result.Reset(ResetStatusEnumType.accepted)
        return dump(answer), self.later(lambda: self._reset(kind))

    def _evse_reset(self, evse: int, kind: str) -> Reply:
        if evse not in self.ctx.config.evse_numbers:
            return dump(call_result.Reset(ResetStatusEnumType.rejected)), None
        if not self._running([evse]):
            accepted = call_result.Reset(ResetStatusEnumType.accepted)
            return dump(accepted), self.later(lambda: self._reset_evse(evse))
        self.evses_on_idle.add(evse)
        if kind == ResetEnumType.on_idle:
            return dump(call_result.Reset(ResetStatusEnumType.scheduled)), None
        # Immediate: the transaction ends first; its end resets the EVSE.
        accepted = call_result.Reset(ResetStatusEnumType.accepted)
        return dump(accepted), Then(evse_path(evse, "connector"), StopTransaction("HardReset"))

    def _reset_evse(self, evse: int) -> None:
        self.log.info("resetting EVSE %d", evse)
        reset_evse(self.ctx, evse)

    def _running(self, evses: list[int] | None = None) -> bool:
        targets = list(self.ctx.config.evse_numbers) if evses is None else evses
        states = self.ctx.snapshots(targets, ASK_TIMEOUT)
        return any(s.get("transaction_id") is not None for s in states.values())

    def _reset(self, kind: str, boot_reason: str = "RemoteReset") -> None:
        self.on_idle = False
        report_event(self.ctx, "ResetOrReboot", f"{kind} reset requested by the CSMS")
        self.ctx.bus.publish(ResetRequested(kind, boot_reason))
