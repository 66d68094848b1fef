"""GetLog end to end (OCPP 1.6 Security Whitepaper): real websockets, real upload
servers, virtual time.

Named after the OCTT 1.6 case it follows: TC_079_CS (get security log). The
others cover the DiagnosticsLog and its time window, failures after retries
and what LogStatusNotification tells of them (PermissionDenied over FTP and
HTTP, NotSupportedOperation, BadMessage), a GetLog that replaces an upload
under way (AcceptedCanceled), one the station cannot do (Rejected), and
ExtendedTriggerMessage(LogStatusNotification).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.files.transfer_jobs import TransferFailed
from ocppstation.actors.v16.diagnostics import LogStatusChanged
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.firmware import parse_timestamp
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.peer import LogEntry
from tests.conftest import StationFactory, log_of
from tests.file_servers import FtpServer, HttpFileServer, refused_url
from tests.test_diagnostics_e2e import booted, info_logs, log_lines, unzip  # noqa: F401
from tests.test_firmware_e2e import CP, sent, wait_sent

LSN = "LogStatusNotification"


def get_log(
    peer: Any, location: str, request_id: int, log_type: str = "SecurityLog", **extra: Any
) -> dict[str, Any]:
    log = {"remoteLocation": location, **extra.pop("log", {})}
    payload = {"logType": log_type, "requestId": request_id, "log": log, **extra}
    return dict(peer.call(CP, "GetLog", payload))


def log_statuses(peer: Any, since: int = 0) -> list[tuple[str, int | None]]:
    return [(e.payload["status"], e.payload.get("requestId")) for e in sent(peer, LSN, since)]


def wait_log(peer: Any, status: str, since: int = 0) -> LogEntry:
    return wait_sent(peer, status, since=since, action=LSN)


def logger_of(line: str) -> str:
    """The logger of a station log line: `<time> <LEVEL> <logger>: <message>`."""
    return line.split(" ", 3)[2].rstrip(":")


def trigger_log(peer: Any) -> dict[str, Any]:
    """ExtendedTriggerMessage(LogStatusNotification): Accepted, then the
    LogStatusNotification after the answer; its payload."""
    mark = peer.log.mark()
    request = {"requestedMessage": "LogStatusNotification"}
    assert peer.call(CP, "ExtendedTriggerMessage", request) == {"status": "Accepted"}
    answer = peer.log.wait_for(
        lambda e: e.kind == "result" and e.action == "ExtendedTriggerMessage", since=mark
    )
    notification = peer.log.wait_call(LSN, CP, since=mark)
    assert answer.seq < notification.seq
    return dict(notification.payload)


def test_tc_079_get_security_log(any_csms: Any, make_station: StationFactory) -> None:
    with HttpFileServer() as server:
        booted(any_csms, make_station)
        logging.getLogger("ocppstation.test").info("an ordinary line")
        # A security event of the station's own: a firmware signing certificate
        # it will not trust (no manufacturer root is installed).
        refused = {
            "requestId": 1,
            "firmware": {
                "location": "http://127.0.0.1:1/fw.bin",
                "retrieveDateTime": "2026-01-01T00:00:00Z",
                "signingCertificate": "-----BEGIN CERTIFICATE-----\nno\n-----END CERTIFICATE-----",
                "signature": "AAAA",
            },
        }
        answer = any_csms.call(CP, "SignedUpdateFirmware", refused)
        assert answer == {"status": "InvalidCertificate"}
        any_csms.log.wait_call("SecurityEventNotification", CP)
        mark = any_csms.log.mark()
        answer = get_log(any_csms, server.url("/logs/"), 79)
        assert answer["status"] == "Accepted"
        name = answer["filename"]
        assert name.startswith("security-cp-test-") and name.endswith(".zip")
        wait_log(any_csms, "Uploaded", since=mark)
        # The answer with the file name came first.
        result = any_csms.log.wait_for(
            lambda e: e.kind == "result" and e.action == "GetLog", since=mark
        )
        assert result.seq < any_csms.log.wait_call(LSN, CP, since=mark).seq
        files = unzip(server.uploads[f"/logs/{name}"])
    assert log_statuses(any_csms, mark) == [("Uploading", 79), ("Uploaded", 79)]
    lines = log_lines(files)
    assert any("security event InvalidFirmwareSigningCertificate" in line for line in lines)
    # Only the security logger's lines: nothing ordinary.
    timed = [line for line in lines if line[:1].isdigit()]
    assert timed and {logger_of(line) for line in timed} == {"ocppstation.security"}
    assert not any("an ordinary line" in line for line in lines)
    about = json.loads(files["station.json"])
    assert (about["logType"], about["requestId"]) == ("SecurityLog", 79)


def test_the_diagnostics_log_holds_the_window_asked_for(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    say = logging.getLogger("ocppstation.test")
    with HttpFileServer() as server:
        booted(csms, make_station)
        start = clock.wall()
        say.info("before the window")
        clock.advance(3600)
        say.info("inside the window")
        clock.advance(3600)
        say.info("after the window")
        mark = csms.log.mark()
        window = {
            "oldestTimestamp": ocpp_timestamp(start + timedelta(minutes=30)),
            "latestTimestamp": ocpp_timestamp(start + timedelta(minutes=90)),
        }
        answer = get_log(csms, server.url("/diag"), 5, "DiagnosticsLog", log=window)
        assert answer["status"] == "Accepted"
        assert answer["filename"].startswith("diagnostics-cp-test-")
        wait_log(csms, "Uploaded", since=mark)
        files = unzip(server.uploads[f"/diag/{answer['filename']}"])
    lines = log_lines(files)
    said = [line.rsplit(": ", 1)[1] for line in lines if "ocppstation.test" in line]
    assert said == ["inside the window"]
    stamps = [parse_timestamp(line.split(" ", 1)[0]) for line in lines if line[:1].isdigit()]
    assert stamps and all(
        start + timedelta(minutes=30) <= t <= start + timedelta(minutes=90) for t in stamps
    )
    assert log_statuses(csms, mark) == [("Uploading", 5), ("Uploaded", 5)]


def test_an_upload_failure_after_its_retries(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(any_csms, make_station)
    events = log_of(station)
    since = events.mark()
    mark = any_csms.log.mark()
    answer = get_log(
        any_csms, refused_url(path="/logs/"), 8, "DiagnosticsLog", retries=2, retryInterval=60
    )
    assert answer["status"] == "Accepted"
    for attempt in (1, 2):
        failed = events.wait_for(
            lambda e, n=attempt: isinstance(e, TransferFailed) and e.attempt == n,
            timeout=5,
            since=since,
        )
        assert (failed.kind, failed.retry_in) == ("log", 60)
        clock.advance(59)
        assert log_statuses(any_csms, mark) == [("Uploading", 8)]
        clock.advance(1)
    last = events.wait_for(
        lambda e: isinstance(e, TransferFailed) and e.retry_in is None, timeout=5, since=since
    )
    assert last.attempt == 3
    wait_log(any_csms, "UploadFailure", since=mark)
    assert log_statuses(any_csms, mark) == [("Uploading", 8), ("UploadFailure", 8)]
    changes = [e.status for e in events.all(since) if isinstance(e, LogStatusChanged)]
    assert changes == ["Uploading", "UploadFailure"]


def test_ftp_upload_and_a_login_refused_is_permission_denied(
    csms: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    with FtpServer(tmp_path / "ftp") as server:
        (server.root / "logs").mkdir()
        booted(csms, make_station)
        mark = csms.log.mark()
        answer = get_log(csms, server.url("/logs/"), 1)
        wait_log(csms, "Uploaded", since=mark)
        stored = server.root / "logs" / answer["filename"]
        assert "station.json" in unzip(stored.read_bytes())

        # A wrong password: 530.
        mark = csms.log.mark()
        wrong = server.url("/logs/").replace(":secret@", ":wrong@")
        assert get_log(csms, wrong, 2, retries=0)["status"] == "Accepted"
        wait_log(csms, "PermissionDenied", since=mark)
        assert log_statuses(csms, mark) == [("Uploading", 2), ("PermissionDenied", 2)]

        # A user who may read but not write: 550 "Not enough privileges".
        mark = csms.log.mark()
        assert get_log(csms, server.url("/logs/", user="reader"), 3, retries=0)
        wait_log(csms, "PermissionDenied", since=mark)
    assert sorted(p.name for p in (server.root / "logs").iterdir()) == [answer["filename"]]


@pytest.mark.parametrize(
    ("http_status", "reported"),
    [
        (401, "PermissionDenied"),
        (403, "PermissionDenied"),
        (405, "NotSupportedOperation"),
        (400, "BadMessage"),
        (500, "UploadFailure"),
    ],
)
def test_what_an_http_refusal_is_reported_as(
    csms: DevCsms, make_station: StationFactory, http_status: int, reported: str
) -> None:
    with HttpFileServer() as server:
        server.put_status = http_status
        booted(csms, make_station)
        mark = csms.log.mark()
        assert get_log(csms, server.url("/logs/"), 4, retries=0)["status"] == "Accepted"
        wait_log(csms, reported, since=mark)
    assert log_statuses(csms, mark) == [("Uploading", 4), (reported, 4)]
    # Only LogStatusNotification: GetDiagnostics' notification is not involved.
    assert sent(csms, "DiagnosticsStatusNotification", mark) == []


def test_a_new_get_log_cancels_the_upload_under_way(
    any_csms: Any, make_station: StationFactory
) -> None:
    with HttpFileServer() as stuck, HttpFileServer() as server:
        stuck.release.clear()  # the first upload hangs until we let it go
        booted(any_csms, make_station)
        mark = any_csms.log.mark()
        first = get_log(any_csms, stuck.url("/logs/"), 1)
        assert first["status"] == "Accepted"
        stuck.wait_requests(1, "PUT")
        second = get_log(any_csms, server.url("/logs/"), 2, "DiagnosticsLog")
        assert second["status"] == "AcceptedCanceled"
        wait_log(any_csms, "Uploaded", since=mark)
        assert f"/logs/{second['filename']}" in server.uploads
        # The first one's upload ends now, and nobody hears of it.
        stuck.release.set()
        stuck.wait_upload(f"/logs/{first['filename']}")
        assert trigger_log(any_csms) == {"status": "Idle"}
    assert log_statuses(any_csms, mark) == [
        ("Uploading", 1),
        ("Uploading", 2),
        ("Uploaded", 2),
        ("Idle", None),
    ]


def test_a_get_log_the_station_cannot_do_is_rejected(
    csms: DevCsms, make_station: StationFactory
) -> None:
    with HttpFileServer() as server:
        # A station that uploads over HTTPS only.
        booted(csms, make_station, FirmwareManagement={"SupportedFileTransferProtocols": "HTTPS"})
        mark = csms.log.mark()
        assert get_log(csms, "sftp://127.0.0.1/logs/", 6) == {"status": "Rejected"}
        assert get_log(csms, server.url("/logs/"), 7) == {"status": "Rejected"}
        assert trigger_log(csms) == {"status": "Idle"}
    assert server.requests == []
    assert log_statuses(csms, mark) == [("Idle", None)]


def test_a_get_log_replaces_a_get_diagnostics_under_way(
    csms: DevCsms, make_station: StationFactory
) -> None:
    with HttpFileServer() as stuck, HttpFileServer() as server:
        stuck.release.clear()
        booted(csms, make_station)
        mark = csms.log.mark()
        csms.call(CP, "GetDiagnostics", {"location": stuck.url("/diag/")})
        stuck.wait_requests(1, "PUT")
        assert get_log(csms, server.url("/logs/"), 3)["status"] == "AcceptedCanceled"
        wait_log(csms, "Uploaded", since=mark)
        stuck.release.set()
    diagnostics = [e.payload["status"] for e in sent(csms, "DiagnosticsStatusNotification", mark)]
    assert diagnostics == ["Uploading"]


def test_extended_trigger_of_the_log_status(any_csms: Any, make_station: StationFactory) -> None:
    with HttpFileServer() as server:
        booted(any_csms, make_station)
        assert trigger_log(any_csms) == {"status": "Idle"}
        server.release.clear()
        mark = any_csms.log.mark()
        get_log(any_csms, server.url("/logs/"), 11)
        server.wait_requests(1, "PUT")
        assert trigger_log(any_csms) == {"status": "Uploading", "requestId": 11}
        # GetDiagnostics' own trigger does not speak of a GetLog.
        request = {"requestedMessage": "DiagnosticsStatusNotification"}
        before = any_csms.log.mark()
        assert any_csms.call(CP, "TriggerMessage", request) == {"status": "Accepted"}
        triggered = any_csms.log.wait_call("DiagnosticsStatusNotification", CP, since=before)
        assert triggered.payload == {"status": "Idle"}
        server.release.set()
        wait_log(any_csms, "Uploaded", since=mark)
        assert trigger_log(any_csms) == {"status": "Idle"}
