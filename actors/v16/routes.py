"""OCPP 1.6: which actor answers which CSMS-initiated action.

Actions the schemas know but no block answers get NotSupported from rpc;
unknown ones NotImplemented.
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
)
from ocppstation.actors.v16.configuration import SETTINGS
from ocppstation.actors.v16.diagnostics import UPLOADS
from ocppstation.actors.v16.firmware_management import FIRMWARE

# Which actor answers which CSMS-initiated action; the rest are NotSupported.
ROUTES: Mapping[str, str] = {
    "ClearCache": AUTH,
    "GetLocalListVersion": AUTH,
    "SendLocalList": AUTH,
    "ReserveNow": RESERVATIONS,
    "CancelReservation": RESERVATIONS,
    "ChangeConfiguration": SETTINGS,
    "GetConfiguration": SETTINGS,
    "UpdateFirmware": FIRMWARE,
    "SignedUpdateFirmware": FIRMWARE,
    "GetDiagnostics": UPLOADS,
    "GetLog": UPLOADS,
    "ClearChargingProfile": PROFILES,
    "GetCompositeSchedule": PROFILES,
    "SetChargingProfile": PROFILES,
    "CertificateSigned": SECURITY,
    "DeleteCertificate": SECURITY,
    "GetInstalledCertificateIds": SECURITY,
    "InstallCertificate": SECURITY,
    "ChangeAvailability": AVAILABILITY,
    "DataTransfer": DATA_TRANSFER,
    "RemoteStartTransaction": REMOTE_CONTROL,
    "RemoteStopTransaction": REMOTE_CONTROL,
    "UnlockConnector": REMOTE_CONTROL,
    "Reset": RESET,
    "TriggerMessage": REMOTE_TRIGGER,
    "ExtendedTriggerMessage": REMOTE_TRIGGER,
}
