"""OCPP 2.0.1 N01 Retrieve log information end to end: GetLog and
LogStatusNotification on real websockets, real HTTP and FTP upload servers,
virtual time.

The SecurityLog and the DiagnosticsLog with its window, failures after
retries and what they are reported as, a GetLog that cancels the upload
under way (N01.FR.20: AcceptedCanceled for both), a protocol the station
does not do (Rejected), and TriggerMessage(LogStatusNotification).
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
from ocppstation.actors.station import Station
from ocppstation.actors.v16.diagnostics import LogStatusChanged
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.tools.csms import DevCsms
from tests import test_diagnostics_e2e, test_v201_e2e
from tests.conftest import StationFactory, answered, log_of
from tests.file_servers import FtpServer, HttpFileServer, refused_url
from tests.test_diagnostics_e2e import log_lines, unzip
from tests.test_firmware_e2e import CP, logged
from tests.test_get_log_e2e import LSN, get_log, log_statuses, logger_of, wait_log

# The 2.0.1 peers, and the station's INFO lines in its log, as fixtures of this module.
csms201 = test_v201_e2e.csms201
any_csms201 = test_v201_e2e.any_csms201
info_logs = test_diagnostics_e2e.info_logs


def booted(peer: Any, make_station: StationFactory) -> Station:
    station = make_station(peer, evses=1, Internal={"OcppVersions": ["2.0.1"]})
    answered(station, "StatusNotification", 1)
    logged(peer, "StatusNotification", 1)
    return station


def trigger(peer: Any) -> dict[str, Any]:
    """TriggerMessage(LogStatusNotification): Accepted, then the notification."""
    mark = peer.log.mark()
    request = {"requestedMessage": "LogStatusNotification"}
    assert peer.call(CP, "TriggerMessage", request) == {"status": "Accepted"}
    answer = peer.log.wait_for(
        lambda e: e.kind == "result" and e.action == "TriggerMessage", since=mark
    )
    notification = peer.log.wait_call(LSN, CP, since=mark)
    assert answer.seq < notification.seq
    return dict(notification.payload)


def test_n01_the_security_log_uploaded_over_http(
    any_csms201: Any, make_station: StationFactory
) -> None:
    with HttpFileServer() as server:
        booted(any_csms201, make_station)
        logging.getLogger("ocppstation.test").info("an ordinary line")
        # A security event of the station's own: an untrusted firmware signing certificate.
        refused = {
            "requestId": 1,
            "firmware": {
                "location": "http://127.0.0.1:1/fw.bin",
                "retrieveDateTime": "2026-01-01T00:00:00Z",
                "signingCertificate": "-----BEGIN CERTIFICATE-----\nno\n-----END CERTIFICATE-----",
                "signature": "AAAA",
            },
        }
        assert any_csms201.call(CP, "UpdateFirmware", refused) == {"status": "InvalidCertificate"}
        any_csms201.log.wait_call("SecurityEventNotification", CP)
        mark = any_csms201.log.mark()
        answer = get_log(any_csms201, server.url("/logs/"), 79)
        assert answer["status"] == "Accepted"
        name = answer["filename"]
        assert name.startswith("security-cp-test-") and name.endswith(".zip")
        wait_log(any_csms201, "Uploaded", since=mark)
        result = any_csms201.log.wait_for(
            lambda e: e.kind == "result" and e.action == "GetLog", since=mark
        )
        assert result.seq < any_csms201.log.wait_call(LSN, CP, since=mark).seq
        files = unzip(server.uploads[f"/logs/{name}"])
    assert log_statuses(any_csms201, mark) == [("Uploading", 79), ("Uploaded", 79)]
    lines = log_lines(files)
    assert any("security event InvalidFirmwareSigningCertificate" in line for line in lines)
    timed = [line for line in lines if line[:1].isdigit()]
    assert timed and {logger_of(line) for line in timed} == {"ocppstation.security"}
    about = json.loads(files["station.json"])
    assert (about["logType"], about["requestId"]) == ("SecurityLog", 79)


def test_n01_the_diagnostics_log_of_a_window_over_ftp(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    say = logging.getLogger("ocppstation.test")
    with FtpServer(tmp_path / "ftp") as server:
        (server.root / "logs").mkdir()
        booted(csms201, make_station)
        start = clock.wall()
        say.info("before the window")
        clock.advance(3600)
        say.info("inside the window")
        clock.advance(3600)
        say.info("after the window")
        mark = csms201.log.mark()
        window = {
            "oldestTimestamp": ocpp_timestamp(start + timedelta(minutes=30)),
            "latestTimestamp": ocpp_timestamp(start + timedelta(minutes=90)),
        }
        answer = get_log(csms201, server.url("/logs/"), 5, "DiagnosticsLog", log=window)
        assert answer["status"] == "Accepted"
        assert answer["filename"].startswith("diagnostics-cp-test-")
        wait_log(csms201, "Uploaded", since=mark)
        files = unzip((server.root / "logs" / answer["filename"]).read_bytes())
    said = [line.rsplit(": ", 1)[1] for line in log_lines(files) if "ocppstation.test" in line]
    assert said == ["inside the window"]
    assert log_statuses(csms201, mark) == [("Uploading", 5), ("Uploaded", 5)]


def test_n01_an_upload_failure_after_its_retries(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms201, make_station)
    events = log_of(station)
    since = events.mark()
    mark = csms201.log.mark()
    answer = get_log(
        csms201, refused_url(path="/logs/"), 8, "DiagnosticsLog", retries=1, retryInterval=60
    )
    assert answer["status"] == "Accepted"
    events.wait_for(
        lambda e: isinstance(e, TransferFailed) and e.retry_in == 60, timeout=5, since=since
    )
    clock.advance(59)
    assert log_statuses(csms201, mark) == [("Uploading", 8)]
    clock.advance(1)
    wait_log(csms201, "UploadFailure", since=mark)
    assert log_statuses(csms201, mark) == [("Uploading", 8), ("UploadFailure", 8)]


@pytest.mark.parametrize(
    ("http_status", "reported"),
    [(403, "PermissionDenied"), (405, "NotSupportedOperation"), (400, "BadMessage")],
)
def test_n01_what_an_http_refusal_is_reported_as(
    csms201: DevCsms, make_station: StationFactory, http_status: int, reported: str
) -> None:
    with HttpFileServer() as server:
        server.put_status = http_status
        booted(csms201, make_station)
        mark = csms201.log.mark()
        assert get_log(csms201, server.url("/logs/"), 4, retries=0)["status"] == "Accepted"
        wait_log(csms201, reported, since=mark)
    assert log_statuses(csms201, mark) == [("Uploading", 4), (reported, 4)]


def test_n01_fr20_a_new_get_log_cancels_the_upload_under_way(
    any_csms201: Any, make_station: StationFactory
) -> None:
    with HttpFileServer() as stuck, HttpFileServer() as server:
        stuck.release.clear()  # the first upload hangs until we let it go
        station = booted(any_csms201, make_station)
        events = log_of(station).mark()
        mark = any_csms201.log.mark()
        first = get_log(any_csms201, stuck.url("/logs/"), 1)
        assert first["status"] == "Accepted"
        stuck.wait_requests(1, "PUT")
        assert trigger(any_csms201) == {"status": "Uploading", "requestId": 1}
        second = get_log(any_csms201, server.url("/logs/"), 2, "DiagnosticsLog")
        assert second["status"] == "AcceptedCanceled"
        wait_log(any_csms201, "Uploaded", since=mark)
        assert f"/logs/{second['filename']}" in server.uploads
        canceled = wait_log(any_csms201, "AcceptedCanceled", since=mark)
        # The second GetLog's answer came before the first's end.
        answer = [
            e for e in any_csms201.log.entries(mark) if e.kind == "result" and e.action == "GetLog"
        ][-1]
        stuck.release.set()
        stuck.wait_upload(f"/logs/{first['filename']}")
        assert trigger(any_csms201) == {"status": "Idle"}
    assert log_statuses(any_csms201, mark) == [
        ("Uploading", 1),
        ("Uploading", 1),  # triggered
        ("AcceptedCanceled", 1),
        ("Uploading", 2),
        ("Uploaded", 2),
        ("Idle", None),  # triggered
    ]
    assert answer.seq < canceled.seq
    changes = [
        (e.status, e.request_id)
        for e in log_of(station).all(events)
        if isinstance(e, LogStatusChanged)
    ]
    assert changes == [
        ("Uploading", 1),
        ("AcceptedCanceled", 1),
        ("Uploading", 2),
        ("Uploaded", 2),
    ]


def test_n01_a_protocol_the_station_does_not_do_is_rejected(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    booted(csms201, make_station)
    mark = csms201.log.mark()
    # OCPPCommCtrlr.FileTransferProtocols: FTP, HTTP and HTTPS.
    assert get_log(csms201, "sftp://127.0.0.1/logs/", 6) == {"status": "Rejected"}
    assert trigger(csms201) == {"status": "Idle"}
    assert log_statuses(csms201, mark) == [("Idle", None)]
