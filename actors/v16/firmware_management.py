"""The firmware actor: firmware updates and their status notifications.

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

Downloads, hashing and the installer run on a worker thread each and report
back by message (`actors/transfer_jobs.py`), so this actor is never blocked
and can always be asked for its status (TriggerMessage,
ExtendedTriggerMessage) or told to start over. Anything a worker reports
about a job that has since been replaced is ignored (sequence numbers).
GetDiagnostics and GetLog are the log uploads actor's (`actors/uploads.py`).

Events (on the station's bus, published after the timers they imply are
armed): `FirmwareStatusChanged`, `FirmwareUpdateScheduled` and
`transfer_jobs.TransferFailed`.
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
from pathlib import Path
from typing import Any

from ocppstation.actors.events import Online, ResetRequested, TransactionStopped
from ocppstation.actors.evse.connector import Maintenance
from ocppstation.actors.files.transfer import TransferError, download
from ocppstation.actors.files.transfer_jobs import (
    Handler,
    Notified,
    Statuses,
    TransferFailed,
    TriggerStatus,
    answer_call,
    internal,
    transfer_options,
    unsupported,
    work_on_thread,
)
from ocppstation.actors.hooks.firmware import Installer
from ocppstation.actors.link.outbox import WhenDelivered
from ocppstation.actors.link.rpc import Inbound
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import OUTBOX, StationContext, evse_path
from ocppstation.actors.runtime.supervisor import ChildRestarted, ChildTerminated
from ocppstation.actors.security_events import report_event
from ocppstation.protocol.errors import PropertyConstraintViolation
from ocppstation.protocol.v16.certificates import CertificateUse, parse_chain
from ocppstation.protocol.v16.firmware import (
    FirmwareJob,
    Phase,
    after_restart,
    firmware_file_name,
    install_delay,
    parse_timestamp,
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
    "FIRMWARE_STATUS",
    "SIGNED_FIRMWARE_STATUS",
    "Firmware",
    "FirmwareStatusChanged",
    "FirmwareUpdateScheduled",
    "command_installer",
]

FIRMWARE = "firmware"
FIRMWARE_STATUS = "FirmwareStatusNotification"
SIGNED_FIRMWARE_STATUS = "SignedFirmwareStatusNotification"
STORAGE_TIMEOUT = 10.0
# How long one round of asking the connectors may take.
ASK_TIMEOUT = 5.0
# A connector missing from the registry (the tree is still being built, or
# it restarts) is asked again after this long.
HOLD_RECHECK = 5.0
HASH_CHUNK = 1024 * 1024

# -- messages and events ---------------------------------------------------------


@dataclass(frozen=True)
class FirmwareStatusChanged:
    """A firmware status reached (a signed update's in its own vocabulary).
    Installed comes before the reboot for an UpdateFirmware (it is sent after
    it), InstallRebooting for a signed one; Idle once the CSMS has heard how
    an update ended."""

    status: str
    request_id: int | None = None


@dataclass(frozen=True)
class FirmwareUpdateScheduled:
    """An update was accepted; the download starts in `delay` seconds."""

    location: str
    delay: float


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
class _Rehold:
    """A connector (re)started: it knows nothing of a hold in force."""


@dataclass(frozen=True)
class _EvseDown:
    evse: int


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
        self.statuses = Statuses(ctx, self.actor_ref, self.log)
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

    def receive(self, message: Any) -> Any:
        match message:
            case Inbound():
                handlers = self.handlers()
                answer_call(self.ctx, self.actor_ref, self.log, message.call, handlers, FIRMWARE)
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
                self.ctx.bus.publish(ResetRequested("Hard", "FirmwareUpdate"))
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
            case Notified():
                self.statuses.settle(message, self._delivered)
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
        job = self.job
        match message:
            case "FirmwareStatusNotification":
                self.statuses.send(FIRMWARE_STATUS, {"status": trigger_status(job)})
            case "SignedFirmwareStatusNotification":
                if self.rebooting and job is not None:
                    status = "InstallRebooting"
                else:
                    status = signed_trigger_status(job, self.ctx.clock.wall())
                payload: dict[str, Any] = {"status": status}
                if status != "Idle" and job is not None and job.request_id is not None:
                    payload["requestId"] = job.request_id
                self.statuses.send(SIGNED_FIRMWARE_STATUS, payload)
            case _:
                self.log.warning("no status to trigger for %s", message)

    # -- the CSMS's calls ------------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        """The calls this block answers, by action (2.0.1's block has one of its own)."""
        return {
            "UpdateFirmware": self._update_firmware,
            "SignedUpdateFirmware": self._signed_update_firmware,
        }

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
        problem = self._certificate_problem(firmware)
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
        job = self._signed_job(payload)
        self._store(job)
        self.job = job
        return {"status": status}, _Schedule(self.seq, first=True)

    def _certificate_problem(self, firmware: dict[str, Any]) -> str | None:
        """Why a signed request's firmware cannot be trusted, or None."""
        return self._signing_certificate_problem(firmware["signingCertificate"])

    def _signed_job(self, payload: dict[str, Any]) -> FirmwareJob:
        return FirmwareJob.from_signed_request(payload)

    def _signing_certificate_problem(self, pem: str) -> str | None:
        stored = self.ctx.storage().certificates.all().get(timeout=STORAGE_TIMEOUT)
        roots = []
        for certificate in stored:
            if certificate.use == CertificateUse.MANUFACTURER_ROOT:
                try:
                    roots.extend(parse_chain(certificate.pem))
                except ValueError as exc:  # stored by another release: not a root of ours
                    self.log.error("stored ManufacturerRootCertificate unreadable: %s", exc)
        return signing_certificate_problem(pem, roots, self.ctx.clock.wall())

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
        problem = unsupported(self.ctx, job.location)
        if problem:
            self._downloaded(_Downloaded(self.seq, None, problem), final=True)
            return
        dest = self._download_folder() / firmware_file_name(job.location)
        cancel = threading.Event()
        self.cancel = cancel
        seq, location, options = self.seq, job.location, transfer_options(self.ctx)
        self.log.info("downloading firmware from %s (attempt %d)", location, job.attempts)
        work_on_thread(
            self.actor_ref,
            self.log,
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

        work_on_thread(
            self.actor_ref,
            self.log,
            f"firmware-hash-{seq}",
            work,
            lambda digest, error, _kind: _Hashed(seq, digest, error),
        )

    def _hashed(self, done: _Hashed) -> None:
        job = self.job
        assert job is not None and job.signed
        if job.phase is Phase.DOWNLOADED:
            self._signature_checked(job, done)
        elif self.checking:
            self._rechecked(job, done)

    def _signature_checked(self, job: FirmwareJob, done: _Hashed) -> None:
        problem: str | None
        if done.digest is None:
            problem = done.error or "not read"
        elif job.signature is None:
            # 2.0.1's UpdateFirmware may come unsigned (L02): only the digest is
            # kept, to know the file is unchanged when it is installed.
            problem = None
        else:
            assert job.signing_certificate is not None
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
        if job.signature is not None:
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
            self._waiting_for_transactions()

    def _waiting_for_transactions(self) -> None:
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
            str(internal(self.ctx, "FirmwareInstallCommand", "")),
            float(internal(self.ctx, "FirmwareInstallTimeout", 600)),
            self.log,
        )
        path, seq, log = Path(job.file), self.seq, self.log

        def install() -> bool | str:
            log.info("installing firmware %s", path)
            return installer(path)

        work_on_thread(
            self.actor_ref,
            self.log,
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
        self.ctx.bus.publish(ResetRequested("Hard", "FirmwareUpdate"))

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
        self.statuses.send(*self._firmware_message(status), then)

    def _delivered(self, action: str, payload: dict[str, Any]) -> None:
        owed = status_owed(self.job)
        if owed is not None and (action, payload) == self._firmware_message(owed):
            request_id = None if self.job is None else self.job.request_id
            self._forget_job()
            self.ctx.bus.publish(FirmwareStatusChanged("Idle", request_id))

    def _send_owed(self) -> None:
        owed = None if self.rebooting else status_owed(self.job)
        if owed is not None:
            self.statuses.send_again(*self._firmware_message(owed))

    # -- the stored job --------------------------------------------------------------

    def _load(self) -> FirmwareJob | None:
        if self.ctx.database is not None:
            data = self.ctx.storage().firmware_job.get().get(timeout=STORAGE_TIMEOUT)
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
        self.ctx.storage().firmware_job.put(data).get(timeout=STORAGE_TIMEOUT)
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

    def _download_folder(self) -> Path:
        if self.ctx.data_dir is not None:
            return self.ctx.data_dir / "firmware"
        hooks = self.ctx.firmware
        if hooks.scratch is None:
            prefix = f"ocppstation-{self.ctx.config.charge_point_id}-"
            hooks.scratch = Path(tempfile.mkdtemp(prefix=prefix))
        return hooks.scratch
