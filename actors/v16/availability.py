"""OCPP 1.6 Core: ChangeAvailability (5.2).

Connector 0 is the station as a whole: its availability is stored (it
survives a reboot, 1.6 4.9) and a change is announced by the registration
block once the answer is out. A connector busy with a transaction answers
Scheduled and changes when the transaction ends.
"""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call_result
from ocpp.v16.enums import AvailabilityStatus

from ocppstation.actors.evse.connector import SetAvailability
from ocppstation.actors.evse.tree import revive
from ocppstation.actors.link.block import Block, Reply, Then
from ocppstation.actors.runtime.context import REGISTRATION, evse_path
from ocppstation.actors.v16.registration import SendStatus
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump

CONNECTOR_TIMEOUT = 5.0
STORAGE_TIMEOUT = 10.0


def overall(answers: list[str]) -> AvailabilityStatus:
    """ChangeAvailability's status from the answers of the connectors it asked."""
    if "Scheduled" in answers:
        return AvailabilityStatus.scheduled
    if answers and all(a == "Rejected" for a in answers):
        return AvailabilityStatus.rejected
    return AvailabilityStatus.accepted


class Availability(Block):
    def handle(self, call: Call) -> Reply:
        if call.action != "ChangeAvailability":
            raise NotSupported(call.action)
        return self._change(call.payload["connectorId"], call.payload["type"])

    def _change(self, connector: int, kind: str) -> Reply:
        operative = kind == "Operative"
        evses = self.ctx.config.evse_numbers
        if connector != 0 and connector not in evses:
            return dump(call_result.ChangeAvailability(AvailabilityStatus.rejected)), None
        targets = evses if connector == 0 else [connector]
        if operative:
            # Made Operative, an EVSE that gave up gets another start.
            for evse in targets:
                self._revive(evse)
        answers = [self._ask(evse, operative) for evse in targets if evse not in self.ctx.given_up]
        then = None
        if connector == 0:
            storage = self.ctx.storage().availability
            before = storage.all().get(timeout=STORAGE_TIMEOUT).get(0, "Operative")
            storage.put(0, kind).get(timeout=STORAGE_TIMEOUT)
            if kind != before:
                then = Then(REGISTRATION, SendStatus(0))
        return dump(call_result.ChangeAvailability(overall(answers))), then

    def _revive(self, evse: int) -> None:
        try:
            if revive(self.ctx, evse):
                self.log.info("EVSE %d started again: made Operative", evse)
        except Exception as exc:  # still broken: it stays Faulted
            self.log.error("EVSE %d did not start again: %s", evse, exc)

    def _ask(self, evse: int, operative: bool) -> Any:
        try:
            return self.ctx.registry.ask(
                evse_path(evse, "connector"), SetAvailability(operative), timeout=CONNECTOR_TIMEOUT
            )
        except Exception:  # restarting: its own state wins when it is back
            return "Rejected"
