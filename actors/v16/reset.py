"""OCPP 1.6 Core: Reset (5.14).

Always Accepted: the answer goes out first, then a security event is stored
(sent now, or after the reboot if the link is down) and the station is told
to restart its tree; the Station object decides what Hard means on this
machine (its on_hard_reset hook).
"""

from __future__ import annotations

from ocpp.v16 import call_result
from ocpp.v16.enums import ResetStatus

from ocppstation.actors.events import ResetRequested
from ocppstation.actors.link.block import Block, Reply
from ocppstation.actors.security_events import report_event
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump


class Reset(Block):
    def handle(self, call: Call) -> Reply:
        if call.action != "Reset":
            raise NotSupported(call.action)
        kind = call.payload["type"]
        # Answer first: after this the tree (this actor too) is restarted.
        answer = call_result.Reset(ResetStatus.accepted)
        return dump(answer), self.later(lambda: self._reset(kind))

    def _reset(self, kind: str) -> None:
        report_event(self.ctx, "ResetOrReboot", f"{kind} reset requested by the CSMS")
        self.ctx.bus.publish(ResetRequested(kind))
