"""GetDiagnostics end to end: real websockets, real upload servers, virtual time.

Named after the OCTT 1.6 cases they follow: TC_045_1 (get diagnostics) and
TC_045_2 (upload failed). The others cover the time window, FTP, retries
in virtual time and the log file of a station with a data dir.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.files.transfer_jobs import TransferFailed
from ocppstation.actors.station import Station
from ocppstation.actors.v16.diagnostics import DiagnosticsStatusChanged
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.firmware import parse_timestamp
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of
from tests.file_servers import FtpServer, HttpFileServer, refused_url
from tests.test_firmware_e2e import CP, logged, statuses, wait_sent

DSN = "DiagnosticsStatusNotification"


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    # The station's log holds what the process's logging lets through; the CLI
    # lets INFO through, pytest by default only WARNING.
    caplog.set_level(logging.INFO, logger="ocppstation")
    yield


def booted(peer: Any, make_station: StationFactory, **sections: Any) -> Station:
    station = make_station(peer, evses=1, **sections)
    answered(station, "StatusNotification", 2)
    logged(peer, "StatusNotification", 2)
    return station


def unzip(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name).decode() for name in zf.namelist()}


def log_lines(files: dict[str, str]) -> list[str]:
    (name,) = [n for n in files if n.endswith(".log")]
    return files[name].splitlines()


def test_tc_045_1_get_diagnostics(any_csms: Any, make_station: StationFactory) -> None:
    with HttpFileServer() as server:
        booted(any_csms, make_station)
        logging.getLogger("ocppstation.test").info("a line for the CSMS")
        mark = any_csms.log.mark()
        answer = any_csms.call(CP, "GetDiagnostics", {"location": server.url("/diag/")})
        name = answer["fileName"]
        assert name.startswith("diagnostics-cp-test-") and name.endswith(".zip")
        wait_sent(any_csms, "Uploaded", since=mark, action=DSN)
        assert statuses(any_csms, mark, DSN) == ["Uploading", "Uploaded"]
        # The answer with the file name came first.
        result = any_csms.log.wait_for(
            lambda e: e.kind == "result" and e.action == "GetDiagnostics", since=mark
        )
        assert result.seq < any_csms.log.wait_call(DSN, CP, since=mark).seq
        files = unzip(server.uploads[f"/diag/{name}"])
    about = json.loads(files["station.json"])
    assert about["chargePointId"] == CP
    assert about["startTime"] is None
    assert any("a line for the CSMS" in line for line in log_lines(files))


def test_the_archive_holds_only_the_window_asked_for(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    say = logging.getLogger("ocppstation.test")
    with HttpFileServer() as server:
        station = booted(csms, make_station)
        start = clock.wall()
        say.info("before the window")
        clock.advance(3600)
        say.info("inside the window")
        clock.advance(3600)
        say.info("after the window")
        mark = csms.log.mark()
        answer = csms.call(
            CP,
            "GetDiagnostics",
            {
                "location": server.url("/diag"),
                "startTime": ocpp_timestamp(start + timedelta(minutes=30)),
                "stopTime": ocpp_timestamp(start + timedelta(minutes=90)),
            },
        )
        wait_sent(csms, "Uploaded", since=mark, action=DSN)
        lines = log_lines(unzip(server.uploads[f"/diag/{answer['fileName']}"]))
    said = [line.rsplit(": ", 1)[1] for line in lines if "ocppstation.test" in line]
    assert said == ["inside the window"]
    stamps = [parse_timestamp(line.split(" ", 1)[0]) for line in lines if line[:1].isdigit()]
    assert stamps and all(
        start + timedelta(minutes=30) <= t <= start + timedelta(minutes=90) for t in stamps
    )
    assert station.status()["registration"] == "Accepted"


def test_tc_045_2_get_diagnostics_upload_failed(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    with HttpFileServer() as server:
        server.put_status = 403
        station = booted(any_csms, make_station)
        events = log_of(station)
        since = events.mark()
        mark = any_csms.log.mark()
        answer = any_csms.call(
            CP,
            "GetDiagnostics",
            {"location": server.url("/diag/"), "retries": 1, "retryInterval": 20},
        )
        assert "fileName" in answer
        failed = events.wait_for(lambda e: isinstance(e, TransferFailed), timeout=5, since=since)
        assert (failed.kind, failed.attempt, failed.retry_in) == ("diagnostics", 1, 20)
        assert "HTTP 403" in failed.error
        clock.advance(19)
        assert len(server.requests) == 1
        clock.advance(1)
        wait_sent(any_csms, "UploadFailed", since=mark, action=DSN)
        assert len(server.requests) == 2
        assert server.uploads == {}
    assert statuses(any_csms, mark, DSN) == ["Uploading", "UploadFailed"]


def test_ftp_upload_and_a_refused_one(
    csms: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    with FtpServer(tmp_path / "ftp") as server:
        (server.root / "diag").mkdir()
        booted(csms, make_station)
        mark = csms.log.mark()
        answer = csms.call(CP, "GetDiagnostics", {"location": server.url("/diag/")})
        wait_sent(csms, "Uploaded", since=mark, action=DSN)
        stored = server.root / "diag" / answer["fileName"]
        assert "station.json" in unzip(stored.read_bytes())

        mark = csms.log.mark()
        csms.call(
            CP, "GetDiagnostics", {"location": server.url("/diag/", user="reader"), "retries": 0}
        )
        wait_sent(csms, "UploadFailed", since=mark, action=DSN)
    assert statuses(csms, mark, DSN) == ["Uploading", "UploadFailed"]


def test_an_upload_retries_until_the_server_is_there(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    events = log_of(station)
    since = events.mark()
    mark = csms.log.mark()
    csms.call(
        CP,
        "GetDiagnostics",
        {"location": refused_url(path="/diag/"), "retries": 2, "retryInterval": 60},
    )
    for attempt in (1, 2):
        events.wait_for(
            lambda e, n=attempt: isinstance(e, TransferFailed) and e.attempt == n,
            timeout=5,
            since=since,
        )
        clock.advance(60)
    last = events.wait_for(
        lambda e: isinstance(e, TransferFailed) and e.retry_in is None, timeout=5, since=since
    )
    assert last.attempt == 3
    wait_sent(csms, "UploadFailed", since=mark, action=DSN)
    changes = [e.status for e in events.all(since) if isinstance(e, DiagnosticsStatusChanged)]
    assert changes == ["Uploading", "UploadFailed"]


def test_a_station_with_a_data_dir_uploads_its_log_file(
    csms: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with HttpFileServer() as server:
        booted(csms, make_station, Internal={"DataDir": str(data)})
        logging.getLogger("ocppstation.test").warning("written to the file")
        log_file = data / "logs" / f"{CP}.log"
        assert "written to the file" in log_file.read_text()
        mark = csms.log.mark()
        answer = csms.call(CP, "GetDiagnostics", {"location": server.url("/")})
        wait_sent(csms, "Uploaded", since=mark, action=DSN)
        lines = log_lines(unzip(server.uploads[f"/{answer['fileName']}"]))
    assert any("written to the file" in line for line in lines)


def test_an_unsupported_protocol_fails_at_once(csms: DevCsms, make_station: StationFactory) -> None:
    booted(csms, make_station)
    mark = csms.log.mark()
    answer = csms.call(CP, "GetDiagnostics", {"location": "sftp://127.0.0.1/diag/"})
    assert "fileName" in answer
    wait_sent(csms, "UploadFailed", since=mark, action=DSN)
