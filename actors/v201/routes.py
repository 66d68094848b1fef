"""OCPP 2.0.1: which actor answers which CSMS-initiated action.

Actions the 2.0.1 schemas know but no block answers get NotSupported from
rpc; unknown ones NotImplemented.
"""

from __future__ import annotations

from collections.abc import Mapping

from ocppstation.actors.runtime.context import (
    AUTH,
    AVAILABILITY,
    DATA_TRANSFER,
    PROFILES,
    REMOTE_CONTROL,
    REMOTE_TRIGGER,
    RESERVATIONS,
    RESET,
    SECURITY,
    TRANSACTIONS,
)
from ocppstation.actors.v16.diagnostics import UPLOADS
from ocppstation.actors.v16.firmware_management import FIRMWARE
from ocppstation.actors.v201.customer_information import CUSTOMER_INFORMATION
from ocppstation.actors.v201.device_model import SETTINGS
from ocppstation.actors.v201.display_messages import DISPLAY
from ocppstation.actors.v201.monitoring import MONITORING
from ocppstation.actors.v201.tariff_and_cost import COST

ROUTES: Mapping[str, str] = {
    "GetVariables": SETTINGS,
    "SetVariables": SETTINGS,
    "GetBaseReport": SETTINGS,
    "GetReport": SETTINGS,
    "SetNetworkProfile": SETTINGS,
    "ClearCache": AUTH,
    "SendLocalList": AUTH,
    "GetLocalListVersion": AUTH,
    "InstallCertificate": SECURITY,
    "GetInstalledCertificateIds": SECURITY,
    "DeleteCertificate": SECURITY,
    "CertificateSigned": SECURITY,
    "ChangeAvailability": AVAILABILITY,
    "DataTransfer": DATA_TRANSFER,
    "RequestStartTransaction": REMOTE_CONTROL,
    "RequestStopTransaction": REMOTE_CONTROL,
    "UnlockConnector": REMOTE_CONTROL,
    "Reset": RESET,
    "ReserveNow": RESERVATIONS,
    "CancelReservation": RESERVATIONS,
    "TriggerMessage": REMOTE_TRIGGER,
    "GetTransactionStatus": TRANSACTIONS,
    "SetDisplayMessage": DISPLAY,
    "GetDisplayMessages": DISPLAY,
    "ClearDisplayMessage": DISPLAY,
    "CostUpdated": COST,
    "SetChargingProfile": PROFILES,
    "GetChargingProfiles": PROFILES,
    "ClearChargingProfile": PROFILES,
    "GetCompositeSchedule": PROFILES,
    "UpdateFirmware": FIRMWARE,
    "GetLog": UPLOADS,
    "CustomerInformation": CUSTOMER_INFORMATION,
    "SetVariableMonitoring": MONITORING,
    "ClearVariableMonitoring": MONITORING,
    "SetMonitoringBase": MONITORING,
    "SetMonitoringLevel": MONITORING,
    "GetMonitoringReport": MONITORING,
}
