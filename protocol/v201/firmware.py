"""OCPP 2.0.1 L Firmware management, the pure parts: how an UpdateFirmware
becomes 1.6's `FirmwareJob`, and what a triggered FirmwareStatusNotification says.

2.0.1's UpdateFirmware is the Security Whitepaper's SignedUpdateFirmware
with the signingCertificate and signature made optional (L01 signed, L02
unsigned), so the job is 1.6's signed one: it always has a requestId and
reports in the signed vocabulary, and a job without a signature is checked
by nothing but its own digest (the file installed is the file downloaded).

Decisions worth knowing:

- A signature without a signingCertificate cannot be checked: it is
  refused as InvalidCertificate (the station holds no firmware signing
  certificate of its own). A certificate without a signature is checked
  (L01.FR.22) and the file then installed unsigned, as the spec has no
  status for a signature that is missing.
- A triggered FirmwareStatusNotification (L01.FR.25, L01.FR.26) says Idle,
  without a requestId, when nothing is under way, including once a job
  ended (libocpp says Idle after Installed too); otherwise the status of
  where the job is: InstallScheduled also while the installation waits for
  transactions to end, as libocpp reports it then (OCTT TC_L_15_CS).

Nothing here has threads, I/O or clocks: time comes in as arguments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocppstation.protocol.v16.firmware import (
    FirmwareJob,
    Phase,
    install_delay,
    retrying,
    signed_trigger_status,
)

__all__ = ["certificate_missing", "job_from_request", "trigger_status"]


def job_from_request(payload: dict[str, Any]) -> FirmwareJob:
    """The job a 2.0.1 UpdateFirmwareRequest asks for (already schema-valid)."""
    firmware = payload["firmware"]
    return FirmwareJob(
        location=firmware["location"],
        retrieve_date=firmware["retrieveDateTime"],
        request_id=int(payload["requestId"]),
        install_date=firmware.get("installDateTime"),
        signing_certificate=firmware.get("signingCertificate"),
        signature=firmware.get("signature"),
        **retrying(payload),
    )


def certificate_missing(firmware: dict[str, Any]) -> str | None:
    """Why a signature cannot be checked for want of a certificate, or None."""
    if firmware.get("signature") is not None and firmware.get("signingCertificate") is None:
        return "a signature without a signingCertificate to check it with"
    return None


def trigger_status(
    job: FirmwareJob | None, now: datetime, *, rebooting: bool, waiting: bool
) -> str:
    """The status a TriggerMessage(FirmwareStatusNotification) gets now;
    `waiting`: the installation waits for transactions to end."""
    if job is None:
        return "Idle"
    if rebooting:
        return "InstallRebooting"
    if job.phase is Phase.VERIFIED:
        if waiting or install_delay(job, now) > 0:
            return "InstallScheduled"
        return "SignatureVerified" if job.signature is not None else "Downloaded"
    return signed_trigger_status(job, now)
