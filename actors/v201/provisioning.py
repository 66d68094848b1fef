"""OCPP 2.0.1 B Provisioning: BootNotification (B01-B04), Heartbeat (G02),
StatusNotification per connector (G01) on registration.

The boot cycle is 1.6's (the registration block this extends): every new
connection boots until the CSMS accepts; Pending and Rejected retry after
the interval; once Accepted a reconnect only re-announces. What differs is
the words: BootNotification names the chargingStation and why it booted
(the run's boot reason: PowerUp, RemoteReset, ...), the station as a whole
has no status of its own (no connector 0), and a status is a connector's
(evseId, connectorId).

A registration is with one CSMS: when the link falls back to a network
profile of another CSMS (B10, actors/v201/network_profiles.py), that one
never accepted the station, so it boots there, with the run's boot reason.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call, call_result
from ocpp.v201.datatypes import ChargingStationType
from ocpp.v201.enums import BootReasonEnumType, RegistrationStatusEnumType

from ocppstation.actors.link.rpc import submit
from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.context import StationContext
from ocppstation.actors.v16.registration import Registration, _BootDone
from ocppstation.actors.v201.network_profiles import NetworkProfiles
from ocppstation.protocol.evse_messages import EvseMessages
from ocppstation.protocol.payloads import parse
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v201.evse_messages import EVSE_MESSAGES


class Provisioning(Registration):
    messages: EvseMessages = EVSE_MESSAGES

    def __init__(
        self, place: Place, ctx: StationContext, network: NetworkProfiles | None = None
    ) -> None:
        super().__init__(place, ctx)
        self.network = network

    def _link_changed(self, up: bool) -> None:
        moved = up and not self.link_up and self.network is not None and self.network.elsewhere()
        if moved and self.registration == "Accepted":
            self.log.info("the link reaches another CSMS than the one that accepted the boot")
            self.registration = "Unknown"
            self.ctx.registration.record("Unknown")
        super()._link_changed(up)

    def _booted(self, done: _BootDone) -> None:
        super()._booted(done)
        if self.network is not None and self.registration == "Accepted":
            self.network.registered()

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
