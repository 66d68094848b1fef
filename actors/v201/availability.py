"""OCPP 2.0.1 G Availability: ChangeAvailability (G03, G04) for the station,
an EVSE or a connector.

Each EVSE keeps its own operative state (stored, so it survives a reboot)
and answers Scheduled while a transaction runs; the station as a whole is
every EVSE at once. The StatusNotifications follow from the connectors'
status changes.
"""

from __future__ import annotations

from ocpp.v201 import call_result
from ocpp.v201.enums import ChangeAvailabilityStatusEnumType

from ocppstation.actors.link.block import Reply
from ocppstation.actors.v16.availability import Availability as V16Availability
from ocppstation.actors.v16.availability import overall
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump

STORAGE_TIMEOUT = 10.0


class Availability(V16Availability):
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
        if operative:
            for n in evses:
                self._revive(n)  # made Operative, an EVSE that gave up starts again
        answers = [self._ask(n, operative) for n in evses if n not in self.ctx.given_up]
        status = ChangeAvailabilityStatusEnumType(overall(answers).value)
        return dump(call_result.ChangeAvailability(status)), None
