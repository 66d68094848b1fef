"""OCPP 2.0.1 G Availability: ChangeAvailability (G03, G04) for the station,
an EVSE or a connector.

Each EVSE keeps its own operative state (stored, so it survives a reboot)
and answers Scheduled while a transaction runs; the station as a whole is
every EVSE at once. The StatusNotifications follow from the connectors'
status changes.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call_result
from ocpp.v201.enums import ChangeAvailabilityStatusEnumType

from ocppstation.actors.evse.connector import SetAvailability
from ocppstation.actors.link.block import Block, Reply
from ocppstation.actors.runtime.context import evse_path
from ocppstation.actors.v16.availability import overall
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump

CONNECTOR_TIMEOUT = 5.0
STORAGE_TIMEOUT = 10.0


class Availability(Block):
    def handle(self, call: Call) -> Reply:
        if call.action != "ChangeAvailability":
            raise NotSupported(call.action)
        operative = call.payload["operationalStatus"] == "Operative"
        evse = call.payload.get("evse")
        evses = list(self.ctx.config.evse_numbers)
        if evse is not None:
            if evse["id"] not in evses or evse.get("connectorId", 1) != 1:
                rejected = call_result.ChangeAvailability(ChangeAvailabilityStatusEnumType.rejected)
                return dump(rejected), None
            evses = [evse["id"]]
        else:
            # The station as a whole, kept for the next boot as 1.6 keeps connector 0.
            kind = "Operative" if operative else "Inoperative"
            self.ctx.storage().availability.put(0, kind).get(timeout=STORAGE_TIMEOUT)
        answers = [self._ask(n, operative) for n in evses if n not in self.ctx.given_up]
        status = ChangeAvailabilityStatusEnumType(overall(answers).value)
        return dump(call_result.ChangeAvailability(status)), None

    def _ask(self, evse: int, operative: bool) -> Any:
        try:
            return self.ctx.registry.ask(
                evse_path(evse, "connector"), SetAvailability(operative), timeout=CONNECTOR_TIMEOUT
            )
        except Exception:  # restarting: its own stored state wins when it is back
            return "Rejected"
