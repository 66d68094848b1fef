"""OCPP 1.6 Remote Trigger: TriggerMessage (5.17), and the Security
Whitepaper's ExtendedTriggerMessage.

The block only judges the request; the message it promises is sent by the
block that owns it (registration, a connector, firmware, uploads, security),
told once the answer is on its way so the CSMS sees the answer first.
"""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call_result
from ocpp.v16.enums import TriggerMessageStatus

from ocppstation.actors.evse.connector import TriggerMeterValues
from ocppstation.actors.files.transfer_jobs import TriggerStatus
from ocppstation.actors.link.block import Block, Reply, Then
from ocppstation.actors.runtime.context import REGISTRATION, SECURITY, evse_path
from ocppstation.actors.v16.diagnostics import DIAGNOSTICS_STATUS, LOG_STATUS, UPLOADS
from ocppstation.actors.v16.firmware_management import (
    FIRMWARE,
    FIRMWARE_STATUS,
    SIGNED_FIRMWARE_STATUS,
)
from ocppstation.actors.v16.registration import SendBoot, SendHeartbeat, SendStatus
from ocppstation.actors.v16.security import SignRequested
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump


def _answer(status: TriggerMessageStatus, then: Then | None = None) -> Reply:
    # TriggerMessage and ExtendedTriggerMessage answer alike.
    return dump(call_result.TriggerMessage(status)), then


def _accepted(then: Then) -> Reply:
    return _answer(TriggerMessageStatus.accepted, then)


_NOT_IMPLEMENTED = _answer(TriggerMessageStatus.not_implemented)


class RemoteTrigger(Block):
    def handle(self, call: Call) -> Reply:
        match call.action:
            case "TriggerMessage":
                return self._trigger(call.payload)
            case "ExtendedTriggerMessage":
                return self._extended(call.payload)
        raise NotSupported(call.action)

    def _extended(self, payload: dict[str, Any]) -> Reply:
        match payload["requestedMessage"]:
            case "SignChargePointCertificate":
                return _accepted(Then(SECURITY, SignRequested()))
            case "BootNotification" | "Heartbeat" | "MeterValues" | "StatusNotification":
                return self._trigger(payload)
            case "FirmwareStatusNotification":
                # Here it means the signed firmware's status.
                return _accepted(Then(FIRMWARE, TriggerStatus(SIGNED_FIRMWARE_STATUS)))
            case "LogStatusNotification":
                return _accepted(Then(UPLOADS, TriggerStatus(LOG_STATUS)))
        return _NOT_IMPLEMENTED

    def _trigger(self, payload: dict[str, Any]) -> Reply:
        requested = payload["requestedMessage"]
        connector = payload.get("connectorId")
        if connector is not None and not 0 <= connector <= self.ctx.config.evses:
            # 1.6 5.17: a connector that does not exist is a Rejected trigger.
            return _answer(TriggerMessageStatus.rejected)
        match requested:
            case "MeterValues":
                targets = [connector] if connector else list(self.ctx.config.evse_numbers)
                return _accepted(self.later(lambda: self._meter_values(targets)))
            case "BootNotification":
                return _accepted(Then(REGISTRATION, SendBoot()))
            case "Heartbeat":
                return _accepted(Then(REGISTRATION, SendHeartbeat()))
            case "StatusNotification":
                return _accepted(Then(REGISTRATION, SendStatus(connector)))
            # The firmware and uploads actors know what is under way (Idle when nothing is).
            case "FirmwareStatusNotification":
                return _accepted(Then(FIRMWARE, TriggerStatus(FIRMWARE_STATUS)))
            case "DiagnosticsStatusNotification":
                return _accepted(Then(UPLOADS, TriggerStatus(DIAGNOSTICS_STATUS)))
        return _NOT_IMPLEMENTED

    def _meter_values(self, evses: list[int]) -> None:
        for evse in evses:
            if evse not in self.ctx.given_up:
                self.ctx.registry.tell(evse_path(evse, "connector"), TriggerMeterValues())
