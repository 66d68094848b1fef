"""The firmware actor: UpdateFirmware, GetDiagnostics and their status notifications.

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

The update in progress is stored (`FirmwareJob`, storage's firmware_job)
after every step, so a restart of this actor, the tree or the process picks
it up where it was (`protocol.v16.firmware.after_restart`) and a final
status the CSMS has not heard yet is sent when the station is next online.

GetDiagnostics (5.9) answers with the file name at once, then gathers the
station's log within startTime/stopTime (`actors/station_log.py`) into a
zip and uploads it to the location, with retries. A station without a log
answers without a file name, as the spec asks.

Transfers and the installer run on a worker thread each and report back
by message, so this actor is never blocked and can always be asked for its
status (TriggerMessage) or told to start over. Anything a worker reports
about a job that has since been replaced is ignored (sequence numbers).

Events (on the station's bus, published after the timers they imply are
armed): `FirmwareStatusChanged`, `DiagnosticsStatusChanged`,
`FirmwareUpdateScheduled` and `TransferFailed`.
"""

from __future__ import annotations

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
from ocppstation.actors.context import RPC, StationContext, evse_path
from ocppstation.actors.events import Online, ResetRequested, TransactionStopped
from ocppstation.actors.firmware_hooks import Installer
from ocppstation.actors.rpc import Answer, Inbound, Outcome, submit
from ocppstation.actors.security import report_event
from ocppstation.actors.station_log import archive
from ocppstation.actors.supervisor import ChildRestarted, ChildTerminated
from ocppstation.actors.transfer import (
    SCHEMES,
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
from ocppstation.protocol.v16.firmware import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_INTERVAL,
    FirmwareJob,
    Phase,
    after_restart,
    diagnostics_file_name,
    firmware_file_name,
    parse_timestamp,
    seconds_until,
    status_owed,
    trigger_status,
)

__all__ = [
    "FIRMWARE",
    "DiagnosticsStatusChanged",
    "Firmware",
    "FirmwareStatusChanged",
    "FirmwareUpdateScheduled",
    "TransferFailed",
    "TriggerStatus",
    "command_installer",
]

FIRMWARE = "firmware"
FIRMWARE_STATUS = "FirmwareStatusNotification"
DIAGNOSTICS_STATUS = "DiagnosticsStatusNotification"
STORAGE_TIMEOUT = 10.0
# How long one round of asking the connectors may take.
ASK_TIMEOUT = 5.0
# A connector missing from the registry (the tree is still being built, or
# it restarts) is asked again after this long.
HOLD_RECHECK = 5.0


# -- messages and events ---------------------------------------------------------


@dataclass(frozen=True)
class TriggerStatus:
    """Send `message` (FirmwareStatusNotification or DiagnosticsStatusNotification)
    with the present status now: the CSMS asked for it with TriggerMessage."""

    message: str


@dataclass(frozen=True)
class FirmwareStatusChanged:
    """A 1.6 FirmwareStatus reached. Installed comes before the reboot (it is
    sent after it); Idle once the CSMS has heard how an update ended."""

    status: str


@dataclass(frozen=True)
class DiagnosticsStatusChanged:
    status: str  # Uploading, Uploaded or UploadFailed
    file_name: str


@dataclass(frozen=True)
class FirmwareUpdateScheduled:
    """An UpdateFirmware was accepted; the download starts in `delay` seconds."""

    location: str
    delay: float


@dataclass(frozen=True)
class TransferFailed:
    """One attempt failed; the next comes in `retry_in` seconds (None: that was the last)."""

    kind: str  # "firmware" or "diagnostics"
    attempt: int
    error: str
    retry_in: float | None


@dataclass(frozen=True)
class _Schedule:
    seq: int


@dataclass(frozen=True)
class _Retrieve:
    seq: int


@dataclass(frozen=True)
class _Downloaded:
    seq: int
    file: str | None
    error: str | None


@dataclass(frozen=True)
class _Hold:
    seq: int


@dataclass(frozen=True)
class _Install:
    seq: int


@dataclass(frozen=True)
class _Installed:
    seq: int
    ok: bool
    detail: str | None
    version: str | None = None


@dataclass(frozen=True)
class _Upload:
    seq: int


@dataclass(frozen=True)
class _Uploaded:
    seq: int
    url: str | None
    error: str | None


@dataclass(frozen=True)
class _Notified:
    action: str
    status: str
    outcome: Outcome
    then: object


@dataclass(frozen=True)
class _Rehold:
    """A connector (re)started: it knows nothing of a hold in force."""


@dataclass(frozen=True)
class _EvseDown:
    evse: int


@dataclass
class _Diagnostics:
    location: str
    file_name: str
    retries: int
    retry_interval: int
    start: datetime | None
    stop: datetime | None
    attempts: int = 0


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
        self.rebooting = False  # installed: Installed is for the next tree to send
        self.down: set[int] = set()
        self.diagnostics: _Diagnostics | None = None
        self.diagnostics_seq = 0
        self.diagnostics_timer: int | None = None
        self.diagnostics_owed: str | None = None  # Uploaded/UploadFailed not yet answered
        self.in_flight: set[tuple[str, str]] = set()
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
        match job.phase:
            case Phase.SCHEDULED:
                self._schedule()
            case Phase.DOWNLOADING:
                self._attempt()
            case Phase.DOWNLOADED if job.file and Path(job.file).is_file():
                self._hold()
            case Phase.DOWNLOADED:
                self._store(job.at(Phase.DOWNLOADING, file=None))
                self._attempt()
            case _:
                self._send_owed()

    def teardown(self) -> None:
        self._unsubscribe()
        self._stop_work()
        self.ctx.cancel(self.diagnostics_timer)

    def receive(self, message: Any) -> Any:
        match message:
            case Inbound():
                self._inbound(message.call)
            case TriggerStatus(message=m) if m == FIRMWARE_STATUS:
                self._send(FIRMWARE_STATUS, trigger_status(self.job))
            case TriggerStatus(message=m) if m == DIAGNOSTICS_STATUS:
                self._send(DIAGNOSTICS_STATUS, "Uploading" if self.diagnostics else "Idle")
            case _Schedule(seq=s) if s == self.seq:
                self._schedule()
            case _Retrieve(seq=s) if s == self.seq:
                self._attempt()
            case _Downloaded(seq=s) if s == self.seq:
                self._downloaded(message)
            case _Hold(seq=s) if s == self.seq:
                self._hold()
            case _Install(seq=s) if s == self.seq:
                self._install()
            case _Installed(seq=s) if s == self.seq:
                self._installed(message)
            case _Upload(seq=s) if s == self.diagnostics_seq:
                self._upload()
            case _Uploaded(seq=s) if s == self.diagnostics_seq:
                self._uploaded(message)
            case _Schedule() | _Retrieve() | _Downloaded() | _Hold() | _Install() | _Installed():
                self.log.debug("stale %r: the update was replaced", message)
            case _Upload() | _Uploaded():
                self.log.debug("stale %r: the diagnostics request was replaced", message)
            case _Notified():
                self._notified(message)
            case Online(online=True):
                self._send_owed()
            case Online():
                pass
            case TransactionStopped() | _Rehold():
                self._rehold()
            case _EvseDown():
                self.down.add(message.evse)
                self._rehold()
            case _:
                return super().receive(message)
        return None

    # -- the CSMS's calls ------------------------------------------------------------

    def _inbound(self, call: Call) -> None:
        then: object = None
        result: dict[str, Any] | OcppError
        try:
            if call.action == "UpdateFirmware":
                result, then = self._update_firmware(call.payload)
            elif call.action == "GetDiagnostics":
                result, then = self._get_diagnostics(call.payload)
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

    def _update_firmware(self, payload: dict[str, Any]) -> tuple[dict[str, Any], object]:
        try:
            parse_timestamp(payload["retrieveDate"])
        except ValueError as exc:
            raise PropertyConstraintViolation(f"retrieveDate: {exc}") from None
        if self.rebooting or (self.job is not None and self.job.phase is Phase.INSTALLING):
            # UpdateFirmware.conf has no status to refuse with; the log says why.
            self.log.warning("UpdateFirmware for %s ignored: installing", payload["location"])
            return {}, None
        if self.job is not None:
            self.log.info("UpdateFirmware replaces the update of %s", self.job.location)
        self._drop_job()
        job = FirmwareJob.from_request(payload)
        self._store(job)
        self.job = job
        return {}, _Schedule(self.seq)

    def _get_diagnostics(self, payload: dict[str, Any]) -> tuple[dict[str, Any], object]:
        try:
            start = _when(payload.get("startTime"))
            stop = _when(payload.get("stopTime"))
        except ValueError as exc:
            raise PropertyConstraintViolation(f"startTime/stopTime: {exc}") from None
        if self.ctx.firmware.log is None:
            return {}, None  # 1.6 6.24: no file, no fileName
        self._drop_diagnostics()
        retries = payload.get("retries")
        interval = payload.get("retryInterval")
        self.diagnostics = _Diagnostics(
            location=payload["location"],
            file_name=diagnostics_file_name(self.ctx.config.charge_point_id, self.ctx.clock.wall()),
            retries=DEFAULT_RETRIES if retries is None else max(int(retries), 0),
            retry_interval=DEFAULT_RETRY_INTERVAL if interval is None else max(int(interval), 0),
            start=start,
            stop=stop,
        )
        return {"fileName": self.diagnostics.file_name}, _Upload(self.diagnostics_seq)

    # -- firmware: schedule and download ------------------------------------------

    def _schedule(self) -> None:
        job = self.job
        assert job is not None
        delay = seconds_until(parse_timestamp(job.retrieve_date), self.ctx.clock.wall())
        self.ctx.cancel(self.timer)
        self.timer = self.ctx.call_later(delay, self.actor_ref, _Retrieve(self.seq))
        self.log.info("firmware from %s to be fetched in %.0f s", job.location, delay)
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
            lambda _size, error: _Downloaded(seq, None if error else str(dest), error),
        )

    def _downloaded(self, done: _Downloaded, *, final: bool = False) -> None:
        job = self.job
        assert job is not None
        self.cancel = None
        if done.file is not None:
            self.log.info("firmware downloaded to %s", done.file)
            self._store(job.at(Phase.DOWNLOADED, file=done.file))
            self._status("Downloaded")
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

    # -- firmware: hold the connectors, install, reboot -------------------------------

    def _hold(self) -> None:
        """Hold every connector; install once none has a transaction."""
        job = self.job
        if job is None or job.phase is not Phase.DOWNLOADED:
            return
        self.held = True
        ready = self._tell_connectors(True)
        if ready is None:
            # Some connector is not there (yet): ask again in a while, or when
            # it (re)starts, whichever comes first.
            self.ctx.cancel(self.timer)
            self.timer = self.ctx.call_later(HOLD_RECHECK, self.actor_ref, _Hold(self.seq))
        elif ready:
            self._store(job.at(Phase.INSTALLING))
            self._status("Installing", then=_Install(self.seq))
        else:
            self.log.info("firmware installation waits for the transactions to end")

    def _rehold(self) -> None:
        job = self.job
        if job is None:
            return
        if job.phase is Phase.DOWNLOADED:
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
            lambda ok, error: _Installed(
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

    # -- diagnostics ------------------------------------------------------------------

    def _upload(self) -> None:
        diagnostics = self.diagnostics
        assert diagnostics is not None
        self.diagnostics_timer = None
        diagnostics.attempts += 1
        if diagnostics.attempts == 1:
            self._diagnostics_status("Uploading")
        problem = self._unsupported(diagnostics.location)
        if problem:
            self._uploaded(_Uploaded(self.diagnostics_seq, None, problem), final=True)
            return
        log = self.ctx.firmware.log
        assert log is not None
        seq, options = self.diagnostics_seq, self._options()
        about = self._about(diagnostics)
        location, name = diagnostics.location, diagnostics.file_name
        start, stop = diagnostics.start, diagnostics.stop
        self.log.info("uploading %s to %s (attempt %d)", name, location, diagnostics.attempts)

        def work() -> str:
            data = archive(name.removesuffix(".zip"), log.between(start, stop), about)
            return upload(location, name, data, options)

        self._work(
            f"diagnostics-upload-{seq}",
            work,
            lambda url, error: _Uploaded(seq, url, error),
        )

    def _uploaded(self, done: _Uploaded, *, final: bool = False) -> None:
        diagnostics = self.diagnostics
        assert diagnostics is not None
        if done.url is not None:
            self.log.info("diagnostics uploaded to %s", done.url)
            self._diagnostics_done("Uploaded")
            return
        assert done.error is not None
        attempt = diagnostics.attempts
        if attempt < diagnostics.retries + 1 and not final:
            interval = diagnostics.retry_interval
            self.diagnostics_timer = self.ctx.call_later(
                interval, self.actor_ref, _Upload(self.diagnostics_seq)
            )
            self.log.warning(
                "diagnostics upload failed (%s); retry %d in %d s", done.error, attempt, interval
            )
            self.ctx.bus.publish(
                TransferFailed("diagnostics", attempt, done.error, float(interval))
            )
            return
        self.log.error("diagnostics upload failed for good: %s", done.error)
        self.ctx.bus.publish(TransferFailed("diagnostics", attempt, done.error, None))
        self._diagnostics_done("UploadFailed")

    def _diagnostics_done(self, status: str) -> None:
        self.diagnostics_owed = status
        self._diagnostics_status(status)
        self.diagnostics = None
        self.diagnostics_seq += 1

    def _drop_diagnostics(self) -> None:
        self.ctx.cancel(self.diagnostics_timer)
        self.diagnostics_timer = None
        self.diagnostics = None
        self.diagnostics_owed = None  # a new request makes the old outcome moot
        self.diagnostics_seq += 1

    def _about(self, diagnostics: _Diagnostics) -> dict[str, Any]:
        internal = self.ctx.config["Internal"]
        return {
            "chargePointId": self.ctx.config.charge_point_id,
            "chargePointVendor": internal.get("ChargePointVendor"),
            "chargePointModel": internal.get("ChargePointModel"),
            "chargePointSerialNumber": internal.get("ChargePointSerialNumber"),
            "firmwareVersion": internal.get("FirmwareVersion"),
            "generated": ocpp_timestamp(self.ctx.clock.wall()),
            "startTime": None if diagnostics.start is None else ocpp_timestamp(diagnostics.start),
            "stopTime": None if diagnostics.stop is None else ocpp_timestamp(diagnostics.stop),
        }

    # -- status notifications ------------------------------------------------------

    def _status(self, status: str, then: object = None) -> None:
        self.ctx.bus.publish(FirmwareStatusChanged(status))
        self._send(FIRMWARE_STATUS, status, then)

    def _diagnostics_status(self, status: str) -> None:
        assert self.diagnostics is not None
        self.ctx.bus.publish(DiagnosticsStatusChanged(status, self.diagnostics.file_name))
        self._send(DIAGNOSTICS_STATUS, status)

    def _send(self, action: str, status: str, then: object = None) -> None:
        """Send a status; `then` is told to us when it is answered or failed."""
        self.in_flight.add((action, status))
        submit(
            self.ctx,
            action,
            {"status": status},
            reply_to=self.actor_ref,
            wrap=lambda outcome: _Notified(action, status, outcome, then),
        )

    def _notified(self, message: _Notified) -> None:
        self.in_flight.discard((message.action, message.status))
        error = message.outcome.error
        if error is not None:
            # A transient status is not worth a retry; a final one is sent
            # again when the station is next online (_send_owed).
            self.log.info("%s %s not delivered: %s", message.action, message.status, error)
        elif message.action == FIRMWARE_STATUS and message.status == status_owed(self.job):
            self._forget_job()
            self.ctx.bus.publish(FirmwareStatusChanged("Idle"))
        elif message.action == DIAGNOSTICS_STATUS and message.status == self.diagnostics_owed:
            self.diagnostics_owed = None
        if message.then is not None:
            self.actor_ref.tell(message.then)

    def _send_owed(self) -> None:
        owed = None if self.rebooting else status_owed(self.job)
        if owed is not None and (FIRMWARE_STATUS, owed) not in self.in_flight:
            self._send(FIRMWARE_STATUS, owed)
        owed = self.diagnostics_owed
        if owed is not None and (DIAGNOSTICS_STATUS, owed) not in self.in_flight:
            self._send(DIAGNOSTICS_STATUS, owed)

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
        done: Callable[[Any, str | None], object],
    ) -> None:
        """Run `work` on a thread of its own; tell us `done(result, error)`."""
        me, log = self.actor_ref, self.log

        def run() -> None:
            try:
                message = done(work(), None)
            except TransferError as exc:
                message = done(None, str(exc))
            except Exception as exc:  # a bug, or an installer that raised: the job ends
                log.exception("%s failed", name)
                message = done(None, f"{type(exc).__name__}: {exc}")
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
        # Named after the station, not random: it must be found again after a reboot.
        return Path(tempfile.gettempdir()) / f"ocppstation-{self.ctx.config.charge_point_id}"

    def _internal(self, key: str, default: Any) -> Any:
        return self.ctx.config["Internal"].get(key, default)


def _when(text: str | None) -> datetime | None:
    return None if text is None else parse_timestamp(text)
