"""OCPP 2.0.1 B Provisioning: BootNotification (B01-B04), Heartbeat (G02),
StatusNotification per connector (G01) on registration.

The boot cycle is 1.6's (the registration block this extends): every new
connection boots until the CSMS accepts; Pending and Rejected retry after
the interval; once Accepted a reconnect only re-announces. What differs is
the words: BootNotification names the chargingStation and why it booted
(the run's boot reason: PowerUp, RemoteReset, ...), the station as a whole
has no status of its own (no connector 0), and a status is a connector's
(evseId, connectorId).
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call, call_result
from ocpp.v201.datatypes import ChargingStationType
from ocpp.v201.enums import BootReasonEnumType, RegistrationStatusEnumType

from ocppstation.actors.link.rpc import submit
from ocppstation.actors.v16.registration import Registration
from ocppstation.protocol.evse_messages import EvseMessages
from ocppstation.protocol.payloads import parse
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v201.evse_messages import EVSE_MESSAGES


class Provisioning(Registration):
    messages: EvseMessages = EVSE_MESSAGES

    def boot_call(self, reason: str) -> object:
        cfg = self.ctx.config

        def optional(name: str) -> str | None:
            return cfg.value("Internal", name) or None

        return call.BootNotification(
            charging_station=ChargingStationType(
                vendor_name=cfg.value("Internal", "ChargePointVendor"),
                model=cfg.value("Internal", "ChargePointModel"),
                serial_number=optional("ChargePointSerialNumber"),
                firmware_version=self.ctx.firmware.version or optional("FirmwareVersion"),
            ),
            reason=BootReasonEnumType(reason),
        )

    def read_boot(self, result: dict[str, Any]) -> tuple[str, int]:
        answer = parse(call_result.BootNotification, result)
        return str(RegistrationStatusEnumType(answer.status).value), int(answer.interval)

    def heartbeat_call(self) -> object:
        return call.Heartbeat()

    def _announce_station(self) -> None:
        pass  # 2.0.1 reports connectors only; the station's availability is in the device model

    def _send_status(self, connector: int, status: str, error: str, info: str = "") -> None:
        if connector == 0:
            return
        out = self.messages.status(connector, status, error, ocpp_timestamp(self.ctx.clock.wall()))
        submit(self.ctx, out.action, out.payload)
