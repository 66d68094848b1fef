"""The log uploads actor: GetDiagnostics, GetLog and their status notifications.

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

The upload runs on a worker thread that reports back by message
(`actors/transfer_jobs.py`), so this actor is never blocked and can always
be asked for its status (TriggerMessage, ExtendedTriggerMessage) or told to
start over. Anything a worker reports about an upload that has since been
replaced is ignored (sequence numbers). Nothing is stored: the final status
of the last upload is sent again on every `Online` until the CSMS has
answered it, as long as this actor lives.

Events (on the station's bus, published after the timers they imply are
armed): `DiagnosticsStatusChanged`, `LogStatusChanged` and
`transfer_jobs.TransferFailed`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocppstation.actors.events import Online
from ocppstation.actors.files.station_log import archive
from ocppstation.actors.files.transfer import Failure, upload
from ocppstation.actors.files.transfer_jobs import (
    Notified,
    Statuses,
    TransferFailed,
    TriggerStatus,
    answer_call,
    transfer_options,
    unsupported,
    work_on_thread,
)
from ocppstation.actors.link.rpc import Inbound
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import StationContext
from ocppstation.protocol.errors import PropertyConstraintViolation
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.firmware import log_file_name, parse_timestamp, retrying

__all__ = [
    "DIAGNOSTICS_STATUS",
    "LOG_STATUS",
    "UPLOADS",
    "DiagnosticsStatusChanged",
    "LogStatusChanged",
    "Uploads",
]

UPLOADS = "uploads"
DIAGNOSTICS_STATUS = "DiagnosticsStatusNotification"
LOG_STATUS = "LogStatusNotification"
SECURITY_LOGGER = "ocppstation.security"

# GetLog's final status for each kind of transfer failure.
_LOG_FAILURE = {
    Failure.DENIED: "PermissionDenied",
    Failure.UNSUPPORTED: "NotSupportedOperation",
    Failure.BAD_MESSAGE: "BadMessage",
}


# -- messages and events ---------------------------------------------------------


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
class _Upload:
    seq: int


@dataclass(frozen=True)
class _Uploaded:
    seq: int
    url: str | None
    error: str | None
    kind: Failure | None = None


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


def _wanted(event: object) -> object | None:
    return event if isinstance(event, Online) else None


# -- the actor ------------------------------------------------------------------------


class Uploads(Supervised):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.upload: _LogUpload | None = None
        self.seq = 0  # bumped whenever the upload is replaced or done
        self.timer: int | None = None
        # The final status of the last upload, not answered yet: (action, payload).
        self.owed: tuple[str, dict[str, Any]] | None = None
        self.statuses = Statuses(ctx, self.actor_ref, self.log)
        self._unsubscribe: Callable[[], None] = lambda: None

    # -- lifecycle ----------------------------------------------------------------

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward(self.actor_ref, _wanted)

    def teardown(self) -> None:
        self._unsubscribe()
        self.ctx.cancel(self.timer)

    def receive(self, message: Any) -> Any:
        match message:
            case Inbound():
                handlers = {"GetDiagnostics": self._get_diagnostics, "GetLog": self._get_log}
                answer_call(self.ctx, self.actor_ref, self.log, message.call, handlers, UPLOADS)
            case TriggerStatus():
                self._triggered(message.message)
            case _Upload(seq=s) if s == self.seq:
                self._upload()
            case _Uploaded(seq=s) if s == self.seq:
                self._uploaded(message)
            case _Upload() | _Uploaded():
                self.log.debug("stale %r: the log upload was replaced", message)
            case Notified():
                self.statuses.settle(message, self._delivered)
            case Online(online=True):
                if self.owed is not None:
                    self.statuses.send_again(*self.owed)
            case Online():
                pass
            case _:
                return super().receive(message)
        return None

    def _triggered(self, message: str) -> None:
        upload_ = self.upload
        match message:
            case "DiagnosticsStatusNotification":
                busy = upload_ is not None and upload_.request_id is None
                self.statuses.send(DIAGNOSTICS_STATUS, {"status": "Uploading" if busy else "Idle"})
            case "LogStatusNotification":
                if upload_ is not None and upload_.request_id is not None:
                    self.statuses.send(LOG_STATUS, upload_.payload("Uploading"))
                else:
                    self.statuses.send(LOG_STATUS, {"status": "Idle"})
            case _:
                self.log.warning("no status to trigger for %s", message)

    # -- the CSMS's calls ------------------------------------------------------------

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
        return {"fileName": self.upload.file_name}, _Upload(self.seq)

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
        problem = unsupported(self.ctx, location)
        if problem:
            self.log.warning("GetLog %s rejected: %s", request_id, problem)
            return {"status": "Rejected"}, None
        status = "Accepted"
        if self.upload is not None:
            self.log.info("GetLog %s cancels the upload of %s", request_id, self.upload.file_name)
            status = "AcceptedCanceled"
            self._canceled(self.upload)
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
        return {"status": status, "filename": self.upload.file_name}, _Upload(self.seq)

    def _canceled(self, upload_: _LogUpload) -> None:
        """A new GetLog replaces `upload_`: the whitepaper tells the CSMS nothing
        more of it (2.0.1's block does)."""

    # -- the upload ---------------------------------------------------------------------

    def _upload(self) -> None:
        upload_ = self.upload
        assert upload_ is not None
        self.timer = None
        upload_.attempts += 1
        if upload_.attempts == 1:
            self._status("Uploading")
        problem = unsupported(self.ctx, upload_.location)
        if problem:
            self._uploaded(_Uploaded(self.seq, None, problem), final=True)
            return
        log = self.ctx.firmware.log
        assert log is not None
        seq, options = self.seq, transfer_options(self.ctx)
        about = self._about(upload_)
        location, name = upload_.location, upload_.file_name
        start, stop = upload_.start, upload_.stop
        logger = SECURITY_LOGGER if upload_.log_type == "SecurityLog" else None
        self.log.info("uploading %s to %s (attempt %d)", name, location, upload_.attempts)

        def work() -> str:
            lines = log.between(start, stop, logger)
            data = archive(name.removesuffix(".zip"), lines, about)
            return upload(location, name, data, options)

        work_on_thread(
            self.actor_ref,
            self.log,
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
            self._done("Uploaded")
            return
        assert done.error is not None
        attempt = upload_.attempts
        if attempt < upload_.retries + 1 and not final:
            interval = upload_.retry_interval
            self.timer = self.ctx.call_later(interval, self.actor_ref, _Upload(self.seq))
            self.log.warning(
                "%s upload failed (%s); retry %d in %d s", kind, done.error, attempt, interval
            )
            self.ctx.bus.publish(TransferFailed(kind, attempt, done.error, float(interval)))
            return
        self.log.error("%s upload failed for good: %s", kind, done.error)
        self.ctx.bus.publish(TransferFailed(kind, attempt, done.error, None))
        self._done(upload_.failure_status(done.kind))

    def _done(self, status: str) -> None:
        upload_ = self.upload
        assert upload_ is not None
        self.owed = (upload_.action, upload_.payload(status))
        self._status(status)
        self.upload = None
        self.seq += 1

    def _drop_upload(self) -> None:
        self.ctx.cancel(self.timer)
        self.timer = None
        self.upload = None
        self.owed = None  # a new request makes the old outcome moot
        self.seq += 1

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

    def _status(self, status: str) -> None:
        upload_ = self.upload
        assert upload_ is not None
        if upload_.request_id is None:
            self.ctx.bus.publish(DiagnosticsStatusChanged(status, upload_.file_name))
        else:
            self.ctx.bus.publish(LogStatusChanged(status, upload_.file_name, upload_.request_id))
        self.statuses.send(upload_.action, upload_.payload(status))

    def _delivered(self, action: str, payload: dict[str, Any]) -> None:
        if (action, payload) == self.owed:
            self.owed = None


def _when(text: str | None) -> datetime | None:
    return None if text is None else parse_timestamp(text)
