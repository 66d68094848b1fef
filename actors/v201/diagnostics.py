"""OCPP 2.0.1 N01 Retrieve log information: GetLog and LogStatusNotification.

2.0.1's GetLog is the Security Whitepaper's, so this is 1.6's log uploads
block (`actors/v16/diagnostics.py`): DiagnosticsLog or SecurityLog within
oldestTimestamp and latestTimestamp, zipped and uploaded over HTTP(S) or
FTP with retries and retryInterval, Accepted with the file's name (or
Rejected for a protocol not in OCPPCommCtrlr.FileTransferProtocols, or a
station that keeps no log), then Uploading and Uploaded, UploadFailure,
PermissionDenied, NotSupportedOperation or BadMessage, all with the
requestId. TriggerMessage(LogStatusNotification) gets Uploading with the
requestId while one runs, Idle without one otherwise.

What is 2.0.1's: a GetLog while another upload runs is AcceptedCanceled,
and the upload it cancels is reported AcceptedCanceled with its own
requestId (N01.FR.20, as EVerest's System module does), after the answer
and before the new upload's Uploading.
"""

from __future__ import annotations

from typing import Any

from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.context import StationContext
from ocppstation.actors.v16.diagnostics import LOG_STATUS, LogStatusChanged, Uploads, _LogUpload

__all__ = ["Diagnostics201"]

CANCELED = "AcceptedCanceled"


class Diagnostics201(Uploads):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place, ctx)
        # The uploads replaced whose CSMS has not been told yet, oldest first.
        self.canceled: list[dict[str, Any]] = []

    def _canceled(self, upload_: _LogUpload) -> None:
        if upload_.request_id is None:
            return  # a GetDiagnostics: 1.6's, never routed here
        self.ctx.bus.publish(LogStatusChanged(CANCELED, upload_.file_name, upload_.request_id))
        self.canceled.append(upload_.payload(CANCELED))

    def _upload(self) -> None:
        # Told once the new GetLog's answer is on its way: the old request's
        # end follows that answer, then the new one's Uploading.
        for payload in self.canceled:
            self.statuses.send(LOG_STATUS, payload)
        self.canceled.clear()
        super()._upload()
