"""The dev CSMS's OCPP 2.0.1 side: its answers to a station that agreed `ocpp2.0.1`.

`DevCsms` (`ocppstation.tools.csms`) serves such a station with a session made of
`StationAnswersV201` and its own shared machinery (recording, scripted replies,
CSMS-initiated calls, `send_raw`, `drop`). Only what is particular to 2.0.1 lives here:
the default answers and the rule for re-sent messages. This module does not import
csms.py, which imports it: the settings the answers read are `CsmsSettings`.

Re-sends: in 2.0.1 a transaction's messages are TransactionEvents numbered by `seqNo`
within their `transactionInfo.transactionId`, so one with a pair seen before from the
same station is the same message sent again (`repeat_of`), whatever else differs
(`offline` flips when a queued event is replayed after a reconnect).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any, Protocol

from ocpp.routing import on
from ocpp.v201 import ChargePoint
from ocpp.v201 import call_result as result
from ocpp.v201.datatypes import IdTokenInfoType
from ocpp.v201.enums import (
    AuthorizationStatusEnumType,
    AuthorizeCertificateStatusEnumType,
    DataTransferStatusEnumType,
    GenericStatusEnumType,
    GetCertificateStatusEnumType,
    Iso15118EVCertificateStatusEnumType,
    NotifyEVChargingNeedsStatusEnumType,
    RegistrationStatusEnumType,
)

__all__ = ["CsmsSettings", "StationAnswersV201", "now_z", "repeat_key_v201"]


class CsmsSettings(Protocol):
    """What the answers read of the CSMS (`DevCsms` is one)."""

    @property
    def boot(self) -> tuple[str, int]:
        """The BootNotification answer: (status, heartbeat interval)."""
        ...

    def tag_status_name(self, id_tag: str) -> str:
        """The authorization status of a token, as its enum value."""
        ...


def now_z() -> str:
    """The current UTC time as the dev CSMS writes it, 1.6 and 2.0.1 alike: milliseconds
    and "Z"."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def repeat_key_v201(action: str, payload: Any) -> Hashable | None:
    """TransactionEvents are the same message when transactionId and seqNo agree."""
    if action != "TransactionEvent" or not isinstance(payload, dict):
        return None
    info = payload.get("transactionInfo")
    if not isinstance(info, dict) or "transactionId" not in info or "seqNo" not in payload:
        # Invalid, so never answered as a transaction message: nothing to be a repeat of.
        return None
    # Through JSON so that odd (unhashable) values in an invalid frame still make a key.
    return (action, json.dumps([info["transactionId"], payload["seqNo"]]))


class StationAnswersV201(ChargePoint):
    """A valid default answer to every station-initiated OCPP 2.0.1 CALL.

    The base of DevCsms's 2.0.1 session, which provides `settings`. Handlers take
    **kwargs: the package passes the payload as snake_case kwargs, and optional fields
    a handler does not look at must not break it.
    """

    @property
    def settings(self) -> CsmsSettings:
        raise NotImplementedError

    def _token_info(self, id_token: dict[str, Any]) -> IdTokenInfoType:
        # The same known_tags rule as 1.6 idTags, read in 2.0.1's larger status enum so a
        # test can also block a token as e.g. NotAtThisTime.
        status = self.settings.tag_status_name(str(id_token.get("id_token", "")))
        return IdTokenInfoType(status=AuthorizationStatusEnumType(status))

    # -- B Provisioning, G Availability

    @on("BootNotification")
    def on_boot_notification(self, **_: Any) -> result.BootNotification:
        status, interval = self.settings.boot
        return result.BootNotification(
            current_time=now_z(), interval=interval, status=RegistrationStatusEnumType(status)
        )

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> result.Heartbeat:
        return result.Heartbeat(current_time=now_z())

    @on("StatusNotification")
    def on_status_notification(self, **_: Any) -> result.StatusNotification:
        return result.StatusNotification()

    @on("NotifyReport")
    def on_notify_report(self, **_: Any) -> result.NotifyReport:
        return result.NotifyReport()

    # -- C Authorization, E Transactions, J Meter values

    @on("Authorize")
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> result.Authorize:
        if id_token.get("type") != "eMAID":
            return result.Authorize(id_token_info=self._token_info(id_token))
        # An ISO 15118 contract: its certificate's status as 1.6's Plug & Charge answers it.
        statuses = getattr(self.settings, "contract_status", {})
        certificate = statuses.get(str(id_token.get("id_token", "")), "Accepted")
        return result.Authorize(
            id_token_info=self._token_info(id_token),
            certificate_status=AuthorizeCertificateStatusEnumType(certificate),
        )

    @on("TransactionEvent")
    def on_transaction_event(
        self, id_token: dict[str, Any] | None = None, **_: Any
    ) -> result.TransactionEvent:
        # idTokenInfo only answers an idToken: without one the station asked nothing.
        if id_token is None:
            return result.TransactionEvent()
        return result.TransactionEvent(id_token_info=self._token_info(id_token))

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> result.MeterValues:
        return result.MeterValues()

    # -- A Security, M Certificates

    @on("SecurityEventNotification")
    def on_security_event(self, **_: Any) -> result.SecurityEventNotification:
        return result.SecurityEventNotification()

    @on("SignCertificate")
    def on_sign_certificate(
        self, csr: str = "", certificate_type: str | None = None, **_: Any
    ) -> result.SignCertificate:
        # As the 1.6 session: accepted, though no CertificateSigned follows unless a test
        # sends one, or (a V2GCertificate) the CSMS has a `v2g_signer`, whose chain
        # goes out a moment later, as a CSMS's CA would send it.
        signer = getattr(self.settings, "v2g_signer", None)
        send = getattr(self.settings, "call", None)
        if certificate_type == "V2GCertificate" and signer is not None and send is not None:
            signed = {"certificateChain": signer(csr), "certificateType": "V2GCertificate"}
            later = threading.Thread(
                target=send, args=(self.id, "CertificateSigned", signed), daemon=True
            )
            asyncio.get_running_loop().call_soon(later.start)
        return result.SignCertificate(status=GenericStatusEnumType.accepted)

    @on("Get15118EVCertificate")
    def on_get_15118_ev_certificate(
        self, exi_request: str = "", **_: Any
    ) -> result.Get15118EVCertificate:
        # No contract-certificate backend: the EXI comes back as it came, Accepted,
        # as the 1.6 Plug & Charge answer does (a test sees it relayed both ways).
        return result.Get15118EVCertificate(
            status=Iso15118EVCertificateStatusEnumType.accepted, exi_response=exi_request
        )

    @on("GetCertificateStatus")
    def on_get_certificate_status(self, **_: Any) -> result.GetCertificateStatus:
        # No OCSP responder: a token answer ("MA==", an empty DER sequence), as in 1.6.
        return result.GetCertificateStatus(
            status=GetCertificateStatusEnumType.accepted, ocsp_result="MA=="
        )

    # -- L Firmware, N Diagnostics

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **_: Any) -> result.FirmwareStatusNotification:
        return result.FirmwareStatusNotification()

    @on("PublishFirmwareStatusNotification")
    def on_publish_firmware_status(self, **_: Any) -> result.PublishFirmwareStatusNotification:
        return result.PublishFirmwareStatusNotification()

    @on("LogStatusNotification")
    def on_log_status(self, **_: Any) -> result.LogStatusNotification:
        return result.LogStatusNotification()

    @on("NotifyEvent")
    def on_notify_event(self, **_: Any) -> result.NotifyEvent:
        return result.NotifyEvent()

    @on("NotifyMonitoringReport")
    def on_notify_monitoring_report(self, **_: Any) -> result.NotifyMonitoringReport:
        return result.NotifyMonitoringReport()

    @on("NotifyCustomerInformation")
    def on_notify_customer_information(self, **_: Any) -> result.NotifyCustomerInformation:
        return result.NotifyCustomerInformation()

    # -- K Smart charging

    @on("NotifyChargingLimit")
    def on_notify_charging_limit(self, **_: Any) -> result.NotifyChargingLimit:
        return result.NotifyChargingLimit()

    @on("ClearedChargingLimit")
    def on_cleared_charging_limit(self, **_: Any) -> result.ClearedChargingLimit:
        return result.ClearedChargingLimit()

    @on("ReportChargingProfiles")
    def on_report_charging_profiles(self, **_: Any) -> result.ReportChargingProfiles:
        return result.ReportChargingProfiles()

    @on("NotifyEVChargingNeeds")
    def on_notify_ev_charging_needs(self, **_: Any) -> result.NotifyEVChargingNeeds:
        return result.NotifyEVChargingNeeds(status=NotifyEVChargingNeedsStatusEnumType.accepted)

    @on("NotifyEVChargingSchedule")
    def on_notify_ev_charging_schedule(self, **_: Any) -> result.NotifyEVChargingSchedule:
        return result.NotifyEVChargingSchedule(status=GenericStatusEnumType.accepted)

    # -- H Reservation, O Display messages, P Data transfer

    @on("ReservationStatusUpdate")
    def on_reservation_status_update(self, **_: Any) -> result.ReservationStatusUpdate:
        return result.ReservationStatusUpdate()

    @on("NotifyDisplayMessages")
    def on_notify_display_messages(self, **_: Any) -> result.NotifyDisplayMessages:
        return result.NotifyDisplayMessages()

    @on("DataTransfer")
    def on_data_transfer(self, **_: Any) -> result.DataTransfer:
        # As the 1.6 session: any vendor's data is welcome.
        return result.DataTransfer(status=DataTransferStatusEnumType.accepted)
