"""Firmware Management (OCPP 1.6 sections 5.8, 5.9, 6.17, 6.39), the pure parts.

An UpdateFirmware, or the Security Whitepaper's SignedUpdateFirmware,
becomes a `FirmwareJob` that moves through `Phase`s; the firmware actor
stores it after every step, because the status owed to the CSMS at the end
(Installed, InstallationFailed) must outlive the reboot that an
installation ends with, and a crash at any point must not leave the CSMS
waiting forever. What a fresh tree makes of a stored job is `after_restart`.

A signed job (it has a `request_id`) reports in SignedFirmwareStatusNotification,
whose statuses say more: DownloadScheduled, SignatureVerified or
InvalidSignature after the download, InstallScheduled while it waits for
installDateTime, InstallRebooting, InstallVerificationFailed. Its file is
checked against the signature once downloaded, and once more (its SHA-256
against the one verified) just before it is installed, since it may have
waited hours on disk (`protocol/v16/firmware_signing.py` does the checking).

Decisions worth knowing:

- `retries` counts the tries after the first (as libocpp and OCPP 2.0.1 read
  it): 0 is one attempt, never none. Absent, the station chooses
  DEFAULT_RETRIES; an absent retryInterval is DEFAULT_RETRY_INTERVAL seconds.
- FirmwareStatusNotification Idle and DiagnosticsStatusNotification Idle are
  only for a TriggerMessage (1.6 sections 7.25 and 7.27): `trigger_status`
  says Idle whenever nothing is under way, including while an update waits
  for its retrieveDate (nothing has started yet).
- A job found in INSTALLING after a restart had an installer that never said
  it was done (the process died, or the machine rebooted under it): it is
  reported InstallationFailed, because nothing confirms the installation.
- A triggered SignedFirmwareStatusNotification says what the update is
  doing (`signed_trigger_status`), DownloadScheduled and InstallScheduled
  included; Idle, without a requestId, when nothing is under way.

Nothing here has threads, I/O or clocks: time comes in as arguments.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypedDict
from urllib.parse import unquote, urlsplit

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_INTERVAL",
    "FirmwareJob",
    "Phase",
    "after_restart",
    "attempts_allowed",
    "diagnostics_file_name",
    "firmware_file_name",
    "install_delay",
    "log_file_name",
    "parse_timestamp",
    "retrying",
    "seconds_until",
    "signed_trigger_status",
    "status_owed",
    "trigger_status",
]

DEFAULT_RETRIES = 2
DEFAULT_RETRY_INTERVAL = 60
# GetDiagnostics.conf's fileName is a CiString255.
FILE_NAME_MAX = 255

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Phase(StrEnum):
    SCHEDULED = "scheduled"  # waiting for retrieveDate
    DOWNLOADING = "downloading"  # an attempt runs, or the retry interval does
    # Unsigned: waiting for transactions to end, connectors held.
    # Signed: the signature is being checked.
    DOWNLOADED = "downloaded"
    # Signed only: the signature is good; waiting for installDateTime, then
    # for transactions to end (connectors held), then the file is checked again.
    VERIFIED = "verified"
    INSTALLING = "installing"  # the installer runs
    # Done; the status is owed to the CSMS until it answers it.
    DOWNLOAD_FAILED = "download_failed"
    INSTALL_FAILED = "install_failed"
    INSTALLED = "installed"  # the reboot follows; Installed is sent after it
    INVALID_SIGNATURE = "invalid_signature"  # signed only: nothing installed
    VERIFICATION_FAILED = "verification_failed"  # signed only: the file changed since


# What the CSMS is told once a job reaches a final phase.
_OWED = {
    Phase.DOWNLOAD_FAILED: "DownloadFailed",
    Phase.INSTALL_FAILED: "InstallationFailed",
    Phase.INSTALLED: "Installed",
    Phase.INVALID_SIGNATURE: "InvalidSignature",
    Phase.VERIFICATION_FAILED: "InstallVerificationFailed",
}
# What a TriggerMessage(FirmwareStatusNotification) answers while busy.
_BUSY = {
    Phase.DOWNLOADING: "Downloading",
    Phase.DOWNLOADED: "Downloaded",
    Phase.VERIFIED: "Downloaded",
    Phase.INSTALLING: "Installing",
}


@dataclass(frozen=True)
class FirmwareJob:
    """One UpdateFirmware or SignedUpdateFirmware, as stored (JSON) between steps."""

    location: str
    retrieve_date: str  # the CSMS's retrieveDate(Time), as sent
    retries: int
    retry_interval: int
    phase: Phase = Phase.SCHEDULED
    attempts: int = 0  # download attempts made so far
    file: str | None = None  # the downloaded firmware, once there is one
    # SignedUpdateFirmware only (None for an UpdateFirmware):
    request_id: int | None = None
    install_date: str | None = None  # installDateTime, as sent; None: at once
    signing_certificate: str | None = None  # PEM
    signature: str | None = None  # base64
    digest: str | None = None  # SHA-256 (hex) of the file whose signature was verified

    @property
    def signed(self) -> bool:
        """A SignedUpdateFirmware: reported with SignedFirmwareStatusNotification."""
        return self.request_id is not None

    @property
    def installable(self) -> bool:
        """Downloaded (and, signed, verified): what is left is to hold and install."""
        return self.phase is (Phase.VERIFIED if self.signed else Phase.DOWNLOADED)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["phase"] = self.phase.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FirmwareJob:
        """Raises ValueError (or KeyError, TypeError) for what no release wrote."""
        return cls(
            location=str(data["location"]),
            retrieve_date=str(data["retrieve_date"]),
            retries=int(data["retries"]),
            retry_interval=int(data["retry_interval"]),
            phase=Phase(data["phase"]),
            attempts=int(data.get("attempts", 0)),
            file=_text(data.get("file")),
            request_id=None if data.get("request_id") is None else int(data["request_id"]),
            install_date=_text(data.get("install_date")),
            signing_certificate=_text(data.get("signing_certificate")),
            signature=_text(data.get("signature")),
            digest=_text(data.get("digest")),
        )

    @classmethod
    def from_request(cls, payload: dict[str, Any]) -> FirmwareJob:
        """The job an UpdateFirmware.req asks for (already schema-valid)."""
        return cls(
            location=payload["location"],
            retrieve_date=payload["retrieveDate"],
            **retrying(payload),
        )

    @classmethod
    def from_signed_request(cls, payload: dict[str, Any]) -> FirmwareJob:
        """The job a SignedUpdateFirmware.req asks for (already schema-valid)."""
        firmware = payload["firmware"]
        return cls(
            location=firmware["location"],
            retrieve_date=firmware["retrieveDateTime"],
            request_id=int(payload["requestId"]),
            install_date=firmware.get("installDateTime"),
            signing_certificate=firmware["signingCertificate"],
            signature=firmware["signature"],
            **retrying(payload),
        )

    def at(self, phase: Phase, **changes: Any) -> FirmwareJob:
        return replace(self, phase=phase, **changes)

    @property
    def may_retry(self) -> bool:
        """Whether a failed attempt leaves another one."""
        return self.attempts < attempts_allowed(self.retries)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class Retrying(TypedDict):
    retries: int
    retry_interval: int


def retrying(payload: dict[str, Any]) -> Retrying:
    """`retries` and `retry_interval` from a request's retries and retryInterval."""
    retries = payload.get("retries")
    interval = payload.get("retryInterval")
    return {
        "retries": DEFAULT_RETRIES if retries is None else max(int(retries), 0),
        "retry_interval": DEFAULT_RETRY_INTERVAL if interval is None else max(int(interval), 0),
    }


def attempts_allowed(retries: int) -> int:
    """Attempts in all for `retries` (the tries after the first)."""
    return max(retries, 0) + 1


def after_restart(job: FirmwareJob) -> FirmwareJob:
    """What a fresh tree carries on with, given the job it found stored."""
    if job.phase is Phase.INSTALLING:
        return job.at(Phase.INSTALL_FAILED)
    return job


def status_owed(job: FirmwareJob | None) -> str | None:
    """The FirmwareStatusNotification a finished job still owes the CSMS."""
    return None if job is None else _OWED.get(job.phase)


def trigger_status(job: FirmwareJob | None) -> str:
    """The FirmwareStatusNotification status a TriggerMessage gets now."""
    return "Idle" if job is None else _BUSY.get(job.phase, "Idle")


def install_delay(job: FirmwareJob, now: datetime) -> float:
    """How long the installation still waits for installDateTime (0: not at all)."""
    if job.install_date is None:
        return 0.0
    return seconds_until(parse_timestamp(job.install_date), now)


def signed_trigger_status(job: FirmwareJob | None, now: datetime) -> str:
    """The SignedFirmwareStatusNotification status an ExtendedTriggerMessage gets now."""
    if job is None:
        return "Idle"
    match job.phase:
        case Phase.SCHEDULED:
            return "DownloadScheduled"
        case Phase.VERIFIED if install_delay(job, now) > 0:
            return "InstallScheduled"
        case Phase.VERIFIED:
            return "SignatureVerified"
    return _BUSY.get(job.phase, "Idle")


def parse_timestamp(text: str) -> datetime:
    """An OCPP dateTime (RFC 3339); one without an offset is taken as UTC.

    RFC 3339 allows a lower-case t and z (the validator accepts them), which
    Python 3.11's fromisoformat does not.
    """
    moment = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def seconds_until(target: datetime, now: datetime) -> float:
    """How long to wait for `target`; a moment in the past is now."""
    return max((target - now).total_seconds(), 0.0)


def log_file_name(kind: str, charge_point_id: str, now: datetime) -> str:
    """The name of a log archive (`kind` is e.g. diagnostics or security): unique
    per second, safe on any server."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    station = _UNSAFE.sub("_", charge_point_id).strip("._") or "station"
    return f"{kind}-{station}-{stamp}.zip"[:FILE_NAME_MAX]


def diagnostics_file_name(charge_point_id: str, now: datetime) -> str:
    """The name of a diagnostics archive (GetDiagnostics, GetLog's DiagnosticsLog)."""
    return log_file_name("diagnostics", charge_point_id, now)


def firmware_file_name(location: str) -> str:
    """Where in the download folder the firmware at `location` is kept."""
    path = unquote(urlsplit(location).path)
    name = _UNSAFE.sub("_", path.rsplit("/", 1)[-1]).strip("._")
    return name[:100] or "firmware.bin"
