"""OCPP 2.0.1 F TriggerMessage (F06).

The block judges the request; the message it promises is sent by the block
that owns it (provisioning, a connector), told once the answer is on its
way so that the CSMS sees the answer first.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call_result
from ocpp.v201.enums import TriggerMessageStatusEnumType

from ocppstation.actors.evse.connector import TriggerMeterValues
from ocppstation.actors.files.transfer_jobs import TriggerStatus
from ocppstation.actors.link.block import Block, Reply, Then
from ocppstation.actors.runtime.context import PNC, REGISTRATION, SECURITY, evse_path
from ocppstation.actors.v16.diagnostics import LOG_STATUS, UPLOADS
from ocppstation.actors.v16.firmware_management import FIRMWARE, FIRMWARE_STATUS
from ocppstation.actors.v16.plug_and_charge import V2GSignRound
from ocppstation.actors.v16.registration import SendBoot, SendHeartbeat, SendStatus
from ocppstation.actors.v16.security import SignRequested
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump


def _answer(status: TriggerMessageStatusEnumType, then: Then | None = None) -> Reply:
    return dump(call_result.TriggerMessage(status)), then


class RemoteTrigger(Block):
    def handle(self, call: Call) -> Reply:
        if call.action != "TriggerMessage":
            raise NotSupported(call.action)
        return self._trigger(call.payload)

    def _trigger(self, payload: dict[str, Any]) -> Reply:
        accepted = TriggerMessageStatusEnumType.accepted
        evse = (payload.get("evse") or {}).get("id")
        if evse is not None and evse not in self.ctx.config.evse_numbers:
            return _answer(TriggerMessageStatusEnumType.rejected)
        match payload["requestedMessage"]:
            case "BootNotification":
                if self.ctx.registration.accepted:
                    # F06.FR.17: an accepted station does not boot again on request.
                    return _answer(TriggerMessageStatusEnumType.rejected)
                return _answer(accepted, Then(REGISTRATION, SendBoot("Triggered")))
            case "Heartbeat":
                return _answer(accepted, Then(REGISTRATION, SendHeartbeat()))
            case "StatusNotification":
                return _answer(accepted, Then(REGISTRATION, SendStatus(evse)))
            case "MeterValues":
                targets = [evse] if evse else list(self.ctx.config.evse_numbers)
                return _answer(accepted, self.later(lambda: self._meter_values(targets)))
            case "SignChargingStationCertificate":
                # A02/A03: the security block makes the key and sends SignCertificate.
                return _answer(accepted, Then(SECURITY, SignRequested()))
            case "SignV2GCertificate":
                # M: the iso15118 block makes the V2G key and sends SignCertificate.
                if not self.ctx.settings.view.v16("ISO15118PnCEnabled", False):
                    return _answer(TriggerMessageStatusEnumType.rejected)
                return _answer(accepted, Then(PNC, V2GSignRound()))
            case "FirmwareStatusNotification":
                # L01.FR.25/26: Idle, or where the update is, with its requestId.
                return _answer(accepted, Then(FIRMWARE, TriggerStatus(FIRMWARE_STATUS)))
            case "LogStatusNotification":
                return _answer(accepted, Then(UPLOADS, TriggerStatus(LOG_STATUS)))
        return _answer(TriggerMessageStatusEnumType.not_implemented)

    def _meter_values(self, evses: list[int]) -> None:
        for evse in evses:
            if evse not in self.ctx.given_up:
                self.ctx.registry.tell(evse_path(evse, "connector"), TriggerMeterValues())
