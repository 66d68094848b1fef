"""OCPP 2.0.1 L Firmware management: UpdateFirmware (L01 secure, L02
unsigned, L03 scheduled, L04 with an untrusted certificate) and
FirmwareStatusNotification.

The machinery is 1.6's firmware block (`actors/v16/firmware_management.py`)
running its signed job (`protocol/v201/firmware.py` says why): schedule,
download with retries, the signature against the signing certificate that
must chain to a ManufacturerRootCertificate (L01.FR.22: InvalidCertificate
and the security event InvalidFirmwareSigningCertificate), InvalidSignature
and InvalidFirmwareSignature (L01.FR.03), installDateTime, the hold on
every EVSE and the wait for transactions (L01.FR.06, L01.FR.07), the file
hashed again before it is installed, the reboot (BootNotification reason
FirmwareUpdate, the installer's version in firmwareVersion), and the job
stored across it. What is 2.0.1's here:

- Every status goes out as FirmwareStatusNotification with the requestId
  (L01.FR.20): Downloading, Downloaded (or DownloadScheduled, DownloadFailed),
  SignatureVerified (signed only; or InvalidSignature), InstallScheduled,
  Installing, InstallRebooting (about to reboot to activate the new firmware,
  as the status's definition reads), then Installed after the boot (or
  InstallationFailed, InstallVerificationFailed).
- InstallScheduled also when the installation must wait for transactions
  to end, once per update (libocpp does so; OCTT TC_L_15_CS expects it).
- ChargingStation.AllowNewSessionsPendingFirmwareUpdate true: EVSEs are not
  held while transactions run, only once none does (then held as always,
  so none starts under the installer).
- A new UpdateFirmware while one runs cancels it (AcceptedCanceled,
  L01.FR.24); once the installer runs it is Rejected.
- TriggerMessage(FirmwareStatusNotification): Idle without a requestId when
  nothing is under way, else where the update is, with its requestId.
"""

from __future__ import annotations

from typing import Any

from ocppstation.actors.files.transfer_jobs import Handler
from ocppstation.actors.v16.firmware_management import (
    ASK_TIMEOUT,
    FIRMWARE_STATUS,
    Firmware,
)
from ocppstation.config.device_model import Address
from ocppstation.protocol.v16.firmware import FirmwareJob
from ocppstation.protocol.v201.firmware import (
    certificate_missing,
    job_from_request,
    trigger_status,
)

__all__ = ["ALLOW_NEW_SESSIONS", "Firmware201"]

ALLOW_NEW_SESSIONS = Address("ChargingStation", "AllowNewSessionsPendingFirmwareUpdate")


class Firmware201(Firmware):
    # The last status sent, with the requestId it was for: not said twice.
    last: tuple[int | None, str] | None = None

    def handlers(self) -> dict[str, Handler]:
        return {"UpdateFirmware": self._signed_update_firmware}

    def _certificate_problem(self, firmware: dict[str, Any]) -> str | None:
        missing = certificate_missing(firmware)
        if missing is not None:
            return missing
        pem = firmware.get("signingCertificate")
        return None if pem is None else self._signing_certificate_problem(pem)

    def _signed_job(self, payload: dict[str, Any]) -> FirmwareJob:
        return job_from_request(payload)

    def _firmware_message(self, status: str) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {"status": status}
        job = self.job
        if job is not None and job.request_id is not None:
            payload["requestId"] = job.request_id
        return FIRMWARE_STATUS, payload

    def _status(self, status: str, then: object = None) -> None:
        self.last = (None if self.job is None else self.job.request_id, status)
        super()._status(status, then)

    def _waiting_for_transactions(self) -> None:
        super()._waiting_for_transactions()
        job = self.job
        if job is not None and self.last != (job.request_id, "InstallScheduled"):
            self._status("InstallScheduled")

    def _waiting(self) -> bool:
        job = self.job
        return job is not None and job.installable and self.held and not self.checking

    def _triggered(self, message: str) -> None:
        if message != FIRMWARE_STATUS:
            super()._triggered(message)
            return
        job = self.job
        status = trigger_status(
            job, self.ctx.clock.wall(), rebooting=self.rebooting, waiting=self._waiting()
        )
        payload: dict[str, Any] = {"status": status}
        if status != "Idle" and job is not None and job.request_id is not None:
            payload["requestId"] = job.request_id  # L01.FR.20: none when Idle
        self.statuses.send(FIRMWARE_STATUS, payload)

    def _tell_connectors(self, on: bool) -> bool | None:
        if on and not self.checking and self.ctx.settings.view.at(ALLOW_NEW_SESSIONS) is True:
            # Sessions may start meanwhile: hold nobody until none runs.
            evses = [n for n in self.ctx.config.evse_numbers if n not in self.down]
            states = self.ctx.snapshots(evses, ASK_TIMEOUT)
            if any(state.get("transaction_id") is not None for state in states.values()):
                return False
        return super()._tell_connectors(on)
