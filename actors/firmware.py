"""The firmware actor: firmware updates, log uploads and their status notifications.

UpdateFirmware (1.6 section 5.16) waits for retrieveDate on the station's
scheduler, downloads the file (HTTP, HTTPS or FTP, `actors/transfer.py`)
with the CSMS's retries and retryInterval, then holds every connector
Unavailable (`connector.Maintenance`, not stored as the CSMS's choice) and
waits until no transaction runs. Then the installer runs: the embedder's
`Station.firmware_installer`, or else the command in
`Internal.FirmwareInstallCommand` with the file's path as its last
argument. A successful installation ends with a reboot through the
Station's reset path (a Hard reset: an embedder's `on_hard_reset` reboots
the machine, otherwise the tree is built anew) and Installed is sent once
the new tree is registered; a failed one is InstallationFailed at once,
and the connectors are let go.

SignedUpdateFirmware (Security Whitepaper) is the same job, signed: it is
accepted only with a signingCertificate that chains to an installed
ManufacturerRootCertificate (else InvalidCertificate and the security event
InvalidFirmwareSigningCertificate). Its statuses go out as
SignedFirmwareStatusNotification with its requestId: DownloadScheduled
while it waits for retrieveDateTime; after the download the file's SHA-256
is checked against the signature (SignatureVerified, or InvalidSignature,
the security event InvalidFirmwareSignature and no installation);
InstallScheduled while it waits for installDateTime; just before the
installer runs the file is hashed again and must be the one verified
(else InstallVerificationFailed); InstallRebooting is answered before the
reboot. A new one while another runs cancels it (AcceptedCanceled); while
installing, it is Rejected.

The update in progress is stored (`FirmwareJob`, storage's firmware_job)
after every step, so a restart of this actor, the tree or the process picks
it up where it was (`protocol.v16.firmware.after_restart`) and a final
status the CSMS has not heard yet is sent when the station is next online.

GetDiagnostics (5.9) and GetLog (Security Whitepaper) answer with the file
name at once, then gather the station's log within the times asked for
(`actors/station_log.py`) into a zip and upload it to the location, with
retries: one upload at a time, a new request replaces the one under way
(GetLog says AcceptedCanceled then). GetLog's DiagnosticsLog is what
GetDiagnostics uploads; its SecurityLog is the lines of the
`ocppstation.security` logger, where security events are logged. GetLog's
LogStatusNotification tells a refusal (PermissionDenied), an operation the
server does not do (NotSupportedOperation) and a protocol mismatch
(BadMessage) from any other failure (UploadFailure), as the transfer layer
tells them apart. A station without a log answers GetDiagnostics without a
file name and GetLog Rejected, as does GetLog for a protocol it does not do.

Transfers, hashing and the installer run on a worker thread each and report
back by message, so this actor is never blocked and can always be asked for
its status (TriggerMessage, ExtendedTriggerMessage) or told to start over.
Anything a worker reports about a job that has since been replaced is
ignored (sequence numbers).

Events (on the station's bus, published after the timers they imply are
armed): `FirmwareStatusChanged`, `DiagnosticsStatusChanged`,
`LogStatusChanged`, `FirmwareUpdateScheduled` and `TransferFailed`.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pykka

from ocppstation.actors.base import Place, Supervised
from ocppstation.actors.connector import Maintenance
from ocppstation.actors.context import OUTBOX, RPC, StationContext, evse_path
from ocppstation.actors.events import Online, ResetRequested, TransactionStopped
from ocppstation.actors.firmware_hooks import Installer
from ocppstation.actors.outbox import WhenDelivered
from ocppstation.actors.rpc import Answer, Inbound, Outcome, submit
from ocppstation.actors.security import report_event
from ocppstation.actors.station_log import archive
from ocppstation.actors.supervisor import ChildRestarted, ChildTerminated
from ocppstation.actors.transfer import (
    SCHEMES,
    Failure,
    TransferError,
    TransferOptions,
    download,
    protocol_of,
    upload,
)
from ocppstation.protocol.errors import (
    InternalError,
    NotSupported,
    OcppError,
    PropertyConstraintViolation,
)
from ocppstation.protocol.framing import Call
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.certificates import CertificateUse, parse_chain
from ocppstation.protocol.v16.firmware import (
    FirmwareJob,
    Phase,
    after_restart,
    firmware_file_name,
    install_delay,
    log_file_name,
    parse_timestamp,
    retrying,
    seconds_until,
    signed_trigger_status,
    status_owed,
    trigger_status,
)
from ocppstation.protocol.v16.firmware_signing import (
    firmware_signature_problem,
    signing_certificate,
    signing_certificate_problem,
)

__all__ = [
    "FIRMWARE",
    "DiagnosticsStatusChanged",
    "Firmware",
    "FirmwareStatusChanged",
    "FirmwareUpdateScheduled",
    "LogStatusChanged",
    "TransferFailed",
    "TriggerStatus",
    "command_installer",
]

FIRMWARE = "firmware"
FIRMWARE_STATUS = "FirmwareStatusNotification"
SIGNED_FIRMWARE_STATUS = "SignedFirmwareStatusNotification"
DIAGNOSTICS_STATUS = "DiagnosticsStatusNotification"
LOG_STATUS = "LogStatusNotification"
SECURITY_LOGGER = "ocppstation.security"
STORAGE_TIMEOUT = 10.0
# How long one round of asking the connectors may take.
ASK_TIMEOUT = 5.0
# A connector missing from the registry (the tree is still being built, or
# it restarts) is asked again after this long.
HOLD_RECHECK = 5.0
HASH_CHUNK = 1024 * 1024

# GetLog's final status for each kind of transfer failure.
_LOG_FAILURE = {
    Failure.DENIED: "PermissionDenied",
    Failure.UNSUPPORTED: "NotSupportedOperation",
    Failure.BAD_MESSAGE: "BadMessage",
}


# -- messages and events ---------------------------------------------------------


@dataclass(frozen=True)
class TriggerStatus:
    """Send `message` (FirmwareStatusNotification, DiagnosticsStatusNotification,
    SignedFirmwareStatusNotification or LogStatusNotification) with the present
    status now: the CSMS asked for it with (Extended)TriggerMessage."""

    message: str


@dataclass(frozen=True)
class FirmwareStatusChanged:
    """A firmware status reached (a signed update's in its own vocabulary).
    Installed comes before the reboot for an UpdateFirmware (it is sent after
    it), InstallRebooting for a signed one; Idle once the CSMS has heard how
    an update ended."""

    status: str
    request_id: int | None = None


@dataclass(frozen=True)
class DiagnosticsStatusChanged:
    status: str  # Uploading, Uploaded or UploadFailed
    file_name: str


@dataclass(frozen=True)
class LogStatusChanged:
    """A GetLog upload's status: Uploading, then Uploaded or a failure."""

    status: str
    file_name: str
    request_id: int


@dataclass(frozen=True)
class FirmwareUpdateScheduled:
    """An update was accepted; the download starts in `delay` seconds."""

    location: str
    delay: float


@dataclass(frozen=True)
class TransferFailed:
    """One attempt failed; the next comes in `retry_in` seconds (None: that was the last)."""

    kind: str  # "firmware", "diagnostics" or "log"
    attempt: int
    error: str
    retry_in: float | None


@dataclass(frozen=True)
class _Schedule:
    seq: int
    first: bool = False  # right after the request: a signed one says DownloadScheduled


@dataclass(frozen=True)
class _Retrieve:
    seq: int


@dataclass(frozen=True)
class _Downloaded:
    seq: int
    file: str | None
    error: str | None


@dataclass(frozen=True)
class _Hashed:
    """The SHA-256 of the downloaded file (a signed update's), or why there is none."""

    seq: int
    digest: bytes | None
    error: str | None


@dataclass(frozen=True)
class _Hold:
    seq: int


@dataclass(frozen=True)
class _Install:
    seq: int


@dataclass(frozen=True)
class _Flushed:
    """The outbox delivered what was queued when we were ready to install."""

    seq: int


@dataclass(frozen=True)
class _Installed:
    seq: int
    ok: bool
    detail: str | None
    version: str | None = None


@dataclass(frozen=True)
class _Reboot:
    seq: int


@dataclass(frozen=True)
class _Upload:
    seq: int


@dataclass(frozen=True)
class _Uploaded:
    seq: int
    url: str | None
    error: str | None
    kind: Failure | None = None


@dataclass(frozen=True)
class _Notified:
    action: str
    payload: dict[str, Any]
    outcome: Outcome
    then: object


@dataclass(frozen=True)
class _Rehold:
    """A connector (re)started: it knows nothing of a hold in force."""


@dataclass(frozen=True)
class _EvseDown:
    evse: int


@dataclass
class _LogUpload:
    """A GetDiagnostics (request_id None) or a GetLog under way."""

    location: str
    file_name: str
    retries: int
    retry_interval: int
    start: datetime | None
    stop: datetime | None
    request_id: int | None = None
    log_type: str = "DiagnosticsLog"  # or SecurityLog
    attempts: int = 0

    @property
    def action(self) -> str:
        return DIAGNOSTICS_STATUS if self.request_id is None else LOG_STATUS

    def payload(self, status: str) -> dict[str, Any]:
        if self.request_id is None:
            return {"status": status}
        return {"status": status, "requestId": self.request_id}

    def failure_status(self, kind: Failure | None) -> str:
        if self.request_id is None:
            return "UploadFailed"
        return _LOG_FAILURE.get(kind or Failure.FAILED, "UploadFailure")


def _evse_of(path: str) -> int | None:
    pieces = path.split("/")
    if len(pieces) >= 2 and pieces[0] == "evses" and pieces[1].isdigit():
        return int(pieces[1])
    return None


def _wanted(event: object) -> object | None:
    match event:
        case Online() | TransactionStopped():
            return event
        case ChildRestarted(path=path) if path == "evses" or _evse_of(path) is not None:
            return _Rehold()
        case ChildTerminated(path=path) if path.count("/") == 1 and _evse_of(path) is not None:
            evse = _evse_of(path)
            assert evse is not None
            return _EvseDown(evse)
    return None


def _file_digest(path: Path) -> bytes:
    """SHA-256 of a file, read in chunks (a firmware image may be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.digest()


FIRMWARE_VERSION_MAX = 50  # BootNotification.firmwareVersion, CiString50
VERSION_LINE = "FirmwareVersion="
"""A command installer prints this, then the version it installed, on a line of its own."""


def command_installer(command: str, timeout: float, log: logging.Logger) -> Installer:
    """The default installer: run `command` with the firmware file as last argument;
    exit status 0 is installed, and a `FirmwareVersion=...` line on its
    standard output names the new version. No shell: the command is split like one."""
    argv = shlex.split(command)

    def install(path: Path) -> bool | str:
        if not argv:
            log.error(
                "no firmware installer: set Internal.FirmwareInstallCommand "
                "(or Station.firmware_installer)"
            )
            return False
        try:
            done = subprocess.run(
                [*argv, str(path)], capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log.error("firmware installer %s failed: %s", argv[0], exc)
            return False
        output = (done.stdout + done.stderr).strip()[-2000:]
        if done.returncode != 0:
            log.error("firmware installer exited with %d: %s", done.returncode, output)
            return False
        log.info("firmware installer done: %s", output or "(no output)")
        versions = [
            line.strip()[len(VERSION_LINE) :]
            for line in done.stdout.splitlines()
            if line.strip().startswith(VERSION_LINE)
        ]
        return versions[-1].strip() if versions and versions[-1].strip() else True

    return install


# -- the actor ------------------------------------------------------------------------


class Firmware(Supervised):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.job: FirmwareJob | None = None
        self.seq = 0  # bumped whenever the job is replaced or dropped
        self.timer: int | None = None
        self.cancel: threading.Event | None = None
        self.held = False  # connectors are held for this job
        self.checking = False  # held, and the file is hashed once more before installing
        self.rebooting = False  # installed: Installed is for the next tree to send
        self.down: set[int] = set()
        self.upload: _LogUpload | None = None
        self.upload_seq = 0
        self.upload_timer: int | None = None
        # The final status of the last upload, not answered yet: (action, payload).
        self.upload_owed: tuple[str, dict[str, Any]] | None = None
        self.in_flight: set[tuple[str, str, int | None]] = set()
        self._unsubscribe: Callable[[], None] = lambda: None

    # -- lifecycle ----------------------------------------------------------------

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward(self.actor_ref, _wanted)
        stored = self._load()
        if stored is None:
            return
        job = after_restart(stored)
        if job != stored:
            self._store(job)
        self.job = job
        self.log.info("firmware update found in phase %s", job.phase.value)
        file_there = bool(job.file and Path(job.file).is_file())
        match job.phase:
            case Phase.SCHEDULED:
                self._schedule()
            case Phase.DOWNLOADING:
                self._attempt()
            case Phase.DOWNLOADED | Phase.VERIFIED if not file_there:
                self._store(job.at(Phase.DOWNLOADING, file=None, digest=None))
                self._attempt()
            case Phase.DOWNLOADED if job.signed:
                self._verify()
            case Phase.DOWNLOADED | Phase.VERIFIED:
                self._hold()
            case _:
                self._send_owed()

    def teardown(self) -> None:
        self._unsubscribe()
        self._stop_work()
        self.ctx.cancel(self.upload_timer)

    def receive(self, message: Any) -> Any:
        match message:
            case Inbound():
                self._inbound(message.call)
            case TriggerStatus():
                self._triggered(message.message)
            case _Schedule(seq=s) if s == self.seq:
                self._schedule(first=message.first)
            case _Retrieve(seq=s) if s == self.seq:
                self._attempt()
            case _Downloaded(seq=s) if s == self.seq:
                self._downloaded(message)
            case _Hashed(seq=s) if s == self.seq:
                self._hashed(message)
            case _Hold(seq=s) if s == self.seq:
                self._hold()
            case _Install(seq=s) if s == self.seq:
                self._install()
            case _Installed(seq=s) if s == self.seq:
                self._installed(message)
            case _Reboot(seq=s) if s == self.seq:
                self.ctx.bus.publish(ResetRequested("Hard"))
            case _Upload(seq=s) if s == self.upload_seq:
                self._upload()
            case _Uploaded(seq=s) if s == self.upload_seq:
                self._uploaded(message)
            case (
                _Schedule()
                | _Retrieve()
                | _Downloaded()
                | _Hashed()
                | _Hold()
                | _Install()
                | _Installed()
                | _Reboot()
            ):
                self.log.debug("stale %r: the update was replaced", message)
            case _Upload() | _Uploaded():
                self.log.debug("stale %r: the log upload was replaced", message)
            case _Notified():
                self._notified(message)
            case Online(online=True):
                self._send_owed()
            case Online():
                pass
            case TransactionStopped() | _Rehold():
                self._rehold()
            case _Flushed(seq=s) if s == self.seq and self.checking:
                self._begin_install()
            case _Flushed():
                pass  # for a job that is gone
            case _EvseDown():
                self.down.add(message.evse)
                self._rehold()
            case _:
                return super().receive(message)
        return None

    def _triggered(self, message: str) -> None:
        job, upload = self.job, self.upload
        match message:
            case "FirmwareStatusNotification":
                self._send(FIRMWARE_STATUS, {"status": trigger_status(job)})
            case "SignedFirmwareStatusNotification":
                if self.rebooting and job is not None:
                    status = "InstallRebooting"
                else:
                    status = signed_trigger_status(job, self.ctx.clock.wall())
                payload: dict[str, Any] = {"status": status}
                if status != "Idle" and job is not None and job.request_id is not None:
                    payload["requestId"] = job.request_id
                self._send(SIGNED_FIRMWARE_STATUS, payload)
            case "DiagnosticsStatusNotification":
                busy = upload is not None and upload.request_id is None
                self._send(DIAGNOSTICS_STATUS, {"status": "Uploading" if busy else "Idle"})
            case "LogStatusNotification":
                if upload is not None and upload.request_id is not None:
                    self._send(LOG_STATUS, upload.payload("Uploading"))
                else:
                    self._send(LOG_STATUS, {"status": "Idle"})
            case _:
                self.log.warning("no status to trigger for %s", message)

    # -- the CSMS's calls ------------------------------------------------------------

    def _inbound(self, call: Call) -> None:
        then: object = None
        result: dict[str, Any] | OcppError
        try:
            if call.action == "UpdateFirmware":
                result, then = self._update_firmware(call.payload)
            elif call.action == "SignedUpdateFirmware":
                result, then = self._signed_update_firmware(call.payload)
            elif call.action == "GetDiagnostics":
                result, then = self._get_diagnostics(call.payload)
            elif call.action == "GetLog":
                result, then = self._get_log(call.payload)
            else:
                raise NotSupported(f"{call.action} is not handled by firmware")
        except OcppError as exc:
            result = exc
        except Exception:
            # A bug here must not restart the tree behind us (rest_for_one):
            # the CSMS gets an error, and whatever was under way goes on.
            self.log.exception("%s failed", call.action)
            result, then = InternalError(f"{call.action} failed"), None
        # What the answer starts comes after it on the wire.
        notify = None if then is None else self.actor_ref
        self.ctx.registry.tell(RPC, Answer(call, result, notify, then))

    def _installing(self) -> bool:
        """Too late to stop: the installer runs (or is about to), or the reboot comes."""
        job = self.job
        return (
            self.rebooting or self.checking or (job is not None and job.phase is Phase.INSTALLING)
        )

    def _update_firmware(self, payload: dict[str, Any]) -> tuple[dict[str, Any], object]:
        try:
            parse_timestamp(payload["retrieveDate"])
        except ValueError as exc:
            raise PropertyConstraintViolation(f"retrieveDate: {exc}") from None
        if self._installing():
            # UpdateFirmware.conf has no status to refuse with; the log says why.
            self.log.warning("UpdateFirmware for %s ignored: installing", payload["location"])
            return {}, None
        if self.job is not None:
            self.log.info("UpdateFirmware replaces the update of %s", self.job.location)
        self._drop_job()
        job = FirmwareJob.from_request(payload)
        self._store(job)
        self.job = job
        return {}, _Schedule(self.seq, first=True)

    def _signed_update_firmware(self, payload: dict[str, Any]) -> tuple[dict[str, Any], object]:
        firmware = payload["firmware"]
        for field in ("retrieveDateTime", "installDateTime"):
            try:
                if field in firmware:
                    parse_timestamp(firmware[field])
            except ValueError as exc:
                raise PropertyConstraintViolation(f"{field}: {exc}") from None
        if self._installing():
            self.log.warning("SignedUpdateFirmware %s rejected: installing", payload["requestId"])
            return {"status": "Rejected"}, None
        problem = self._signing_certificate_problem(firmware["signingCertificate"])
        if problem is not None:
            self.log.warning(
                "SignedUpdateFirmware %s: signing certificate %s", payload["requestId"], problem
            )
            report_event(self.ctx, "InvalidFirmwareSigningCertificate", problem)
            return {"status": "InvalidCertificate"}, None
        status = "Accepted"
        if self.job is not None and status_owed(self.job) is None:
            self.log.info("SignedUpdateFirmware cancels the update of %s", self.job.location)
            status = "AcceptedCanceled"
        self._drop_job()
        job = FirmwareJob.from_signed_request(payload)
        self._store(job)
        self.job = job
        return {"status": status}, _Schedule(self.seq, first=True)

    def _signing_certificate_problem(self, pem: str) -> str | None:
        stored = self.ctx.storage().certificates().get(timeout=STORAGE_TIMEOUT)
        roots = []
        for certificate in stored:
            if certificate.use == CertificateUse.MANUFACTURER_ROOT:
                try:
                    roots.extend(parse_chain(certificate.pem))
                except ValueError as exc:  # stored by another release: not a root of ours
                    self.log.error("stored ManufacturerRootCertificate unreadable: %s", exc)
        return signing_certificate_problem(pem, roots, self.ctx.clock.wall())

    def _get_diagnostics(self, payload: dict[str, Any]) -> tuple[dict[str, Any], object]:
        try:
            start = _when(payload.get("startTime"))
            stop = _when(payload.get("stopTime"))
        except ValueError as exc:
            raise PropertyConstraintViolation(f"startTime/stopTime: {exc}") from None
        if self.ctx.firmware.log is None:
            return {}, None  # 1.6 6.24: no file, no fileName
        self._drop_upload()
        self.upload = _LogUpload(
            location=payload["location"],
            file_name=log_file_name(
                "diagnostics", self.ctx.config.charge_point_id, self.ctx.clock.wall()
            ),
            start=start,
            stop=stop,
            **retrying(payload),
        )
        return {"fileName": self.upload.file_name}, _Upload(self.upload_seq)

    def _get_log(self, payload: dict[str, Any]) -> tuple[dict[str, Any], object]:
        wanted = payload["log"]
        try:
            start = _when(wanted.get("oldestTimestamp"))
            stop = _when(wanted.get("latestTimestamp"))
        except ValueError as exc:
            raise PropertyConstraintViolation(f"oldestTimestamp/latestTimestamp: {exc}") from None
        location, request_id = wanted["remoteLocation"], payload["requestId"]
        if self.ctx.firmware.log is None:
            self.log.warning("GetLog %s rejected: this station keeps no log", request_id)
            return {"status": "Rejected"}, None
        problem = self._unsupported(location)
        if problem:
            self.log.warning("GetLog %s rejected: %s", request_id, problem)
            return {"status": "Rejected"}, None
        status = "Accepted"
        if self.upload is not None:
            self.log.info("GetLog %s cancels the upload of %s", request_id, self.upload.file_name)
            status = "AcceptedCanceled"
        self._drop_upload()
        kind = "security" if payload["logType"] == "SecurityLog" else "diagnostics"
        self.upload = _LogUpload(
            location=location,
            file_name=log_file_name(kind, self.ctx.config.charge_point_id, self.ctx.clock.wall()),
            start=start,
            stop=stop,
            request_id=request_id,
            log_type=payload["logType"],
            **retrying(payload),
        )
        return {"status": status, "filename": self.upload.file_name}, _Upload(self.upload_seq)

    # -- firmware: schedule and download ------------------------------------------

    def _schedule(self, first: bool = False) -> None:
        job = self.job
        assert job is not None
        delay = seconds_until(parse_timestamp(job.retrieve_date), self.ctx.clock.wall())
        self.ctx.cancel(self.timer)
        self.timer = self.ctx.call_later(delay, self.actor_ref, _Retrieve(self.seq))
        self.log.info("firmware from %s to be fetched in %.0f s", job.location, delay)
        if first and job.signed and delay > 0:
            self._status("DownloadScheduled")
        self.ctx.bus.publish(FirmwareUpdateScheduled(job.location, delay))

    def _attempt(self) -> None:
        job = self.job
        assert job is not None
        self.timer = None
        first = job.attempts == 0
        job = job.at(Phase.DOWNLOADING, attempts=job.attempts + 1)
        self._store(job)
        if first:
            self._status("Downloading")
        problem = self._unsupported(job.location)
        if problem:
            self._downloaded(_Downloaded(self.seq, None, problem), final=True)
            return
        dest = self._download_folder() / firmware_file_name(job.location)
        cancel = threading.Event()
        self.cancel = cancel
        seq, location, options = self.seq, job.location, self._options()
        self.log.info("downloading firmware from %s (attempt %d)", location, job.attempts)
        self._work(
            f"firmware-download-{seq}",
            lambda: download(location, dest, options, cancel),
            lambda _size, error, _kind: _Downloaded(seq, None if error else str(dest), error),
        )

    def _downloaded(self, done: _Downloaded, *, final: bool = False) -> None:
        job = self.job
        assert job is not None
        self.cancel = None
        if done.file is not None:
            self.log.info("firmware downloaded to %s", done.file)
            self._store(job.at(Phase.DOWNLOADED, file=done.file))
            self._status("Downloaded")
            if job.signed:
                self._verify()
            else:
                # After the answer to Downloaded is on its way: the connectors'
                # Unavailable follows it, then Installing.
                self.actor_ref.tell(_Hold(self.seq))
            return
        assert done.error is not None
        if job.may_retry and not final:
            self.timer = self.ctx.call_later(
                job.retry_interval, self.actor_ref, _Retrieve(self.seq)
            )
            self.log.warning(
                "firmware download failed (%s); retry %d in %d s",
                done.error,
                job.attempts,
                job.retry_interval,
            )
            self.ctx.bus.publish(
                TransferFailed("firmware", job.attempts, done.error, float(job.retry_interval))
            )
            return
        self.log.error("firmware download failed for good: %s", done.error)
        self.ctx.bus.publish(TransferFailed("firmware", job.attempts, done.error, None))
        self._finish(job.at(Phase.DOWNLOAD_FAILED))

    # -- signed firmware: the signature, and the file before it is installed -----------

    def _verify(self) -> None:
        """Hash the downloaded file on a worker; `_hashed` checks it."""
        job = self.job
        assert job is not None and job.file is not None
        path, seq = Path(job.file), self.seq

        def work() -> bytes:
            try:
                return _file_digest(path)
            except OSError as exc:
                raise TransferError(f"cannot read {path}: {exc}") from exc

        self._work(
            f"firmware-hash-{seq}", work, lambda digest, error, _kind: _Hashed(seq, digest, error)
        )

    def _hashed(self, done: _Hashed) -> None:
        job = self.job
        assert job is not None and job.signature is not None
        if job.phase is Phase.DOWNLOADED:
            self._signature_checked(job, done)
        elif self.checking:
            self._rechecked(job, done)

    def _signature_checked(self, job: FirmwareJob, done: _Hashed) -> None:
        if done.digest is None:
            problem = done.error or "not read"
        else:
            assert job.signing_certificate is not None and job.signature is not None
            problem = firmware_signature_problem(
                done.digest,
                job.signature,
                signing_certificate(job.signing_certificate),
                prehashed=True,
            )
        if problem is not None:
            self.log.error("firmware from %s refused: %s", job.location, problem)
            if job.file:
                Path(job.file).unlink(missing_ok=True)
            report_event(self.ctx, "InvalidFirmwareSignature", problem)
            self._finish(job.at(Phase.INVALID_SIGNATURE, file=None))
            return
        assert done.digest is not None
        job = job.at(Phase.VERIFIED, digest=done.digest.hex())
        self._store(job)
        self.log.info("firmware signature verified")
        self._status("SignatureVerified")
        wait = install_delay(job, self.ctx.clock.wall())
        if wait > 0:
            self.timer = self.ctx.call_later(wait, self.actor_ref, _Hold(self.seq))
            self.log.info("firmware installation scheduled in %.0f s", wait)
            self._status("InstallScheduled")
        else:
            self.actor_ref.tell(_Hold(self.seq))

    def _rechecked(self, job: FirmwareJob, done: _Hashed) -> None:
        self.checking = False
        if done.digest is not None and done.digest.hex() == job.digest:
            self._store(job.at(Phase.INSTALLING))
            self._status("Installing", then=_Install(self.seq))
            return
        why = done.error or "the file is not the one whose signature was verified"
        self.log.error("firmware not installed: %s", why)
        report_event(self.ctx, "InvalidFirmwareSignature", f"before installing: {why}")
        if job.file:
            Path(job.file).unlink(missing_ok=True)
        self._finish(job.at(Phase.VERIFICATION_FAILED, file=None))

    # -- firmware: hold the connectors, install, reboot -------------------------------

    def _hold(self) -> None:
        """At installDateTime, hold every connector; install once none has a transaction."""
        job = self.job
        if job is None or not job.installable:
            return
        if self.checking:
            self._tell_connectors(True)  # a connector that restarted meanwhile
            return
        wait = install_delay(job, self.ctx.clock.wall())
        if wait > 0:
            self.ctx.cancel(self.timer)
            self.timer = self.ctx.call_later(wait, self.actor_ref, _Hold(self.seq))
            self.log.info("firmware installation scheduled in %.0f s", wait)
            return
        self.held = True
        ready = self._tell_connectors(True)
        if ready is None:
            # Some connector is not there (yet): ask again in a while, or when
            # it (re)starts, whichever comes first.
            self.ctx.cancel(self.timer)
            self.timer = self.ctx.call_later(HOLD_RECHECK, self.actor_ref, _Hold(self.seq))
        elif ready:
            # The StopTransactions of the sessions we waited for go out before
            # the installation and its reboot (the outbox says when).
            self.checking = True
            flushed = WhenDelivered(self.actor_ref, _Flushed(self.seq))
            if not self.ctx.registry.tell(OUTBOX, flushed):
                self._begin_install()  # no outbox now: what it holds is in storage
        else:
            self.log.info("firmware installation waits for the transactions to end")

    def _begin_install(self) -> None:
        job = self.job
        assert job is not None
        if job.signed:
            # The file may have waited on disk for hours: is it still the one verified?
            self._verify()
            return
        self.checking = False
        self._store(job.at(Phase.INSTALLING))
        self._status("Installing", then=_Install(self.seq))

    def _rehold(self) -> None:
        job = self.job
        if job is None:
            return
        if job.installable:
            self._hold()
        elif self.held and job.phase in (Phase.INSTALLING, Phase.INSTALLED):
            self._tell_connectors(True)

    def _install(self) -> None:
        job = self.job
        assert job is not None and job.file is not None
        installer = self.ctx.firmware.installer or command_installer(
            str(self._internal("FirmwareInstallCommand", "")),
            float(self._internal("FirmwareInstallTimeout", 600)),
            self.log,
        )
        path, seq, log = Path(job.file), self.seq, self.log

        def install() -> bool | str:
            log.info("installing firmware %s", path)
            return installer(path)

        self._work(
            f"firmware-install-{seq}",
            install,
            lambda ok, error, _kind: _Installed(
                seq, bool(ok) and error is None, error, ok if isinstance(ok, str) else None
            ),
        )

    def _installed(self, done: _Installed) -> None:
        job = self.job
        assert job is not None
        if not done.ok:
            self.log.error(
                "firmware installation failed%s", f": {done.detail}" if done.detail else ""
            )
            self._finish(job.at(Phase.INSTALL_FAILED))
            return
        if done.version is not None:
            if len(done.version) <= FIRMWARE_VERSION_MAX:
                self.ctx.firmware.version = done.version
            else:  # BootNotification's firmwareVersion is a CiString50
                self.log.warning("installed version %r is too long to report", done.version)
        self.log.info("firmware installed (%s); rebooting", done.version or "version not said")
        # Stored before the reboot: the next tree owes the CSMS Installed.
        job = job.at(Phase.INSTALLED)
        self._store(job)
        self.job = job
        self.rebooting = True
        report_event(self.ctx, "FirmwareUpdated", done.version)
        if job.signed:
            # The reboot once the CSMS has heard it is coming (or could not).
            self._status("InstallRebooting", then=_Reboot(self.seq))
            return
        self.ctx.bus.publish(FirmwareStatusChanged("Installed"))
        self.ctx.bus.publish(ResetRequested("Hard"))

    def _finish(self, job: FirmwareJob) -> None:
        """A final phase: stored until the CSMS has heard it, connectors let go."""
        self._store(job)
        self.job = job
        self._release()
        owed = status_owed(job)
        assert owed is not None
        self._status(owed)

    def _release(self) -> None:
        self.checking = False
        if self.held:
            self.held = False
            self._tell_connectors(False)

    def _tell_connectors(self, on: bool) -> bool | None:
        """Maintenance(on) to every connector; True when all are free of
        transactions, False when some has one, None when some is not there."""
        futures: list[tuple[int, Any]] = []
        missing = False
        for evse in self.ctx.config.evse_numbers:
            if evse in self.down:
                continue  # given up: it charges nobody
            ref = self.ctx.registry.get(evse_path(evse, "connector"))
            if ref is None:
                missing = True
                continue
            futures.append((evse, ref.ask(Maintenance(on), block=False)))
        deadline = time.monotonic() + ASK_TIMEOUT
        free = True
        for evse, future in futures:
            try:
                idle = bool(future.get(timeout=max(deadline - time.monotonic(), 0.001)))
            except Exception as exc:  # restarting: asked again when it is back
                self.log.warning("connector %d did not take the hold: %s", evse, exc)
                missing = True
                continue
            free = free and idle
        if missing and on:
            return None
        return free

    # -- log uploads: GetDiagnostics and GetLog ----------------------------------------

    def _upload(self) -> None:
        upload_ = self.upload
        assert upload_ is not None
        self.upload_timer = None
        upload_.attempts += 1
        if upload_.attempts == 1:
            self._upload_status("Uploading")
        problem = self._unsupported(upload_.location)
        if problem:
            self._uploaded(_Uploaded(self.upload_seq, None, problem), final=True)
            return
        log = self.ctx.firmware.log
        assert log is not None
        seq, options = self.upload_seq, self._options()
        about = self._about(upload_)
        location, name = upload_.location, upload_.file_name
        start, stop = upload_.start, upload_.stop
        logger = SECURITY_LOGGER if upload_.log_type == "SecurityLog" else None
        self.log.info("uploading %s to %s (attempt %d)", name, location, upload_.attempts)

        def work() -> str:
            lines = log.between(start, stop, logger)
            data = archive(name.removesuffix(".zip"), lines, about)
            return upload(location, name, data, options)

        self._work(
            f"log-upload-{seq}",
            work,
            lambda url, error, kind: _Uploaded(seq, url, error, kind),
        )

    def _uploaded(self, done: _Uploaded, *, final: bool = False) -> None:
        upload_ = self.upload
        assert upload_ is not None
        kind = "diagnostics" if upload_.request_id is None else "log"
        if done.url is not None:
            self.log.info("%s uploaded to %s", upload_.file_name, done.url)
            self._upload_done("Uploaded")
            return
        assert done.error is not None
        attempt = upload_.attempts
        if attempt < upload_.retries + 1 and not final:
            interval = upload_.retry_interval
            self.upload_timer = self.ctx.call_later(
                interval, self.actor_ref, _Upload(self.upload_seq)
            )
            self.log.warning(
                "%s upload failed (%s); retry %d in %d s", kind, done.error, attempt, interval
            )
            self.ctx.bus.publish(TransferFailed(kind, attempt, done.error, float(interval)))
            return
        self.log.error("%s upload failed for good: %s", kind, done.error)
        self.ctx.bus.publish(TransferFailed(kind, attempt, done.error, None))
        self._upload_done(upload_.failure_status(done.kind))

    def _upload_done(self, status: str) -> None:
        upload_ = self.upload
        assert upload_ is not None
        self.upload_owed = (upload_.action, upload_.payload(status))
        self._upload_status(status)
        self.upload = None
        self.upload_seq += 1

    def _drop_upload(self) -> None:
        self.ctx.cancel(self.upload_timer)
        self.upload_timer = None
        self.upload = None
        self.upload_owed = None  # a new request makes the old outcome moot
        self.upload_seq += 1

    def _about(self, upload_: _LogUpload) -> dict[str, Any]:
        internal = self.ctx.config["Internal"]
        about = {
            "chargePointId": self.ctx.config.charge_point_id,
            "chargePointVendor": internal.get("ChargePointVendor"),
            "chargePointModel": internal.get("ChargePointModel"),
            "chargePointSerialNumber": internal.get("ChargePointSerialNumber"),
            "firmwareVersion": internal.get("FirmwareVersion"),
            "generated": ocpp_timestamp(self.ctx.clock.wall()),
            "startTime": None if upload_.start is None else ocpp_timestamp(upload_.start),
            "stopTime": None if upload_.stop is None else ocpp_timestamp(upload_.stop),
        }
        if upload_.request_id is not None:
            about.update(logType=upload_.log_type, requestId=upload_.request_id)
        return about

    # -- status notifications ------------------------------------------------------

    def _firmware_message(self, status: str) -> tuple[str, dict[str, Any]]:
        """The notification a status of the current update goes out as."""
        job = self.job
        if job is not None and job.signed:
            return SIGNED_FIRMWARE_STATUS, {"status": status, "requestId": job.request_id}
        return FIRMWARE_STATUS, {"status": status}

    def _status(self, status: str, then: object = None) -> None:
        job = self.job
        self.ctx.bus.publish(FirmwareStatusChanged(status, None if job is None else job.request_id))
        self._send(*self._firmware_message(status), then)

    def _upload_status(self, status: str) -> None:
        upload_ = self.upload
        assert upload_ is not None
        if upload_.request_id is None:
            self.ctx.bus.publish(DiagnosticsStatusChanged(status, upload_.file_name))
        else:
            self.ctx.bus.publish(LogStatusChanged(status, upload_.file_name, upload_.request_id))
        self._send(upload_.action, upload_.payload(status))

    def _send(self, action: str, payload: dict[str, Any], then: object = None) -> None:
        """Send a status; `then` is told to us when it is answered or failed."""
        self.in_flight.add(_key(action, payload))
        submit(
            self.ctx,
            action,
            payload,
            reply_to=self.actor_ref,
            wrap=lambda outcome: _Notified(action, payload, outcome, then),
        )

    def _notified(self, message: _Notified) -> None:
        action, payload = message.action, message.payload
        self.in_flight.discard(_key(action, payload))
        error = message.outcome.error
        owed = status_owed(self.job)
        if error is not None:
            # A transient status is not worth a retry; a final one is sent
            # again when the station is next online (_send_owed).
            self.log.info("%s %s not delivered: %s", action, payload["status"], error)
        elif owed is not None and (action, payload) == self._firmware_message(owed):
            request_id = None if self.job is None else self.job.request_id
            self._forget_job()
            self.ctx.bus.publish(FirmwareStatusChanged("Idle", request_id))
        elif (action, payload) == self.upload_owed:
            self.upload_owed = None
        if message.then is not None:
            self.actor_ref.tell(message.then)

    def _send_owed(self) -> None:
        owed = None if self.rebooting else status_owed(self.job)
        if owed is not None:
            action, payload = self._firmware_message(owed)
            if _key(action, payload) not in self.in_flight:
                self._send(action, payload)
        if self.upload_owed is not None:
            action, payload = self.upload_owed
            if _key(action, payload) not in self.in_flight:
                self._send(action, payload)

    # -- the stored job --------------------------------------------------------------

    def _load(self) -> FirmwareJob | None:
        if self.ctx.database is not None:
            data = self.ctx.storage().firmware_job().get(timeout=STORAGE_TIMEOUT)
        else:
            data = self.ctx.firmware.remembered
        if data is None:
            return None
        try:
            return FirmwareJob.from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            # Written by another release: dropping it beats crashing on every start.
            self.log.error("ignored a stored firmware update (%s): %r", exc, data)
            return None

    def _store(self, job: FirmwareJob | None) -> None:
        data = None if job is None else job.to_json()
        self.ctx.storage().put_firmware_job(data).get(timeout=STORAGE_TIMEOUT)
        self.ctx.firmware.remembered = data
        self.job = job

    def _forget_job(self) -> None:
        job = self.job
        self._store(None)
        self.seq += 1
        if job is not None and job.file:
            Path(job.file).unlink(missing_ok=True)

    def _drop_job(self) -> None:
        """Stop whatever the current job is doing: a new one replaces it."""
        self._stop_work()
        self._release()
        if self.job is not None:
            self._forget_job()

    def _stop_work(self) -> None:
        self.seq += 1
        self.ctx.cancel(self.timer)
        self.timer = None
        if self.cancel is not None:
            self.cancel.set()
            self.cancel = None

    # -- helpers ----------------------------------------------------------------------

    def _work(
        self,
        name: str,
        work: Callable[[], Any],
        done: Callable[[Any, str | None, Failure | None], object],
    ) -> None:
        """Run `work` on a thread of its own; tell us `done(result, error, kind)`."""
        me, log = self.actor_ref, self.log

        def run() -> None:
            try:
                message = done(work(), None, None)
            except TransferError as exc:
                message = done(None, str(exc), exc.kind)
            except Exception as exc:  # a bug, or an installer that raised: the job ends
                log.exception("%s failed", name)
                message = done(None, f"{type(exc).__name__}: {exc}", Failure.FAILED)
            try:
                me.tell(message)
            except pykka.ActorDeadError:
                log.debug("%s finished after the firmware actor stopped", name)

        threading.Thread(target=run, name=name, daemon=True).start()

    def _unsupported(self, location: str) -> str | None:
        protocol = protocol_of(location)
        supported = self.ctx.setting("SupportedFileTransferProtocols", tuple(SCHEMES.values()))
        if protocol is None or protocol not in supported:
            return f"{location}: not a protocol this station supports ({', '.join(supported)})"
        return None

    def _options(self) -> TransferOptions:
        ca_file = str(self._internal("FileTransferCaFile", ""))
        return TransferOptions(
            timeout=float(self._internal("FileTransferTimeout", 60)),
            ca_file=ca_file or None,
        )

    def _download_folder(self) -> Path:
        if self.ctx.data_dir is not None:
            return self.ctx.data_dir / "firmware"
        hooks = self.ctx.firmware
        if hooks.scratch is None:
            prefix = f"ocppstation-{self.ctx.config.charge_point_id}-"
            hooks.scratch = Path(tempfile.mkdtemp(prefix=prefix))
        return hooks.scratch

    def _internal(self, key: str, default: Any) -> Any:
        return self.ctx.config["Internal"].get(key, default)


def _when(text: str | None) -> datetime | None:
    return None if text is None else parse_timestamp(text)


def _key(action: str, payload: dict[str, Any]) -> tuple[str, str, int | None]:
    return action, str(payload["status"]), payload.get("requestId")
