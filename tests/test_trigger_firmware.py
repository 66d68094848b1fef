"""TriggerMessage for FirmwareStatusNotification and DiagnosticsStatusNotification:
the present status (Idle when nothing is under way), sent after the answer."""

from __future__ import annotations

from typing import Any

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.v16.firmware_management import FirmwareStatusChanged
from tests.conftest import StationFactory, log_of
from tests.file_servers import HttpFileServer
from tests.test_firmware_e2e import (
    CP,
    FSN,
    IMAGE,
    booted,
    recording_installer,
    settled,
    update,
    wait_sent,
)

DSN = "DiagnosticsStatusNotification"


def trigger(peer: Any, message: str, **extra: Any) -> str:
    """Trigger `message`, check it is Accepted and sent after the answer; its status."""
    mark = peer.log.mark()
    answer = peer.call(CP, "TriggerMessage", {"requestedMessage": message, **extra})
    assert answer == {"status": "Accepted"}
    result = peer.log.wait_for(
        lambda e: e.kind == "result" and e.action == "TriggerMessage", since=mark
    )
    notification = peer.log.wait_call(message, CP, since=mark)
    assert result.seq < notification.seq
    return str(notification.payload["status"])


def test_idle_when_nothing_is_under_way(any_csms: Any, make_station: StationFactory) -> None:
    booted(any_csms, make_station)
    assert trigger(any_csms, FSN) == "Idle"
    assert trigger(any_csms, DSN) == "Idle"
    # These messages are about the station: a connectorId changes nothing.
    assert trigger(any_csms, FSN, connectorId=1) == "Idle"


def test_downloading_while_a_download_runs(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = booted(any_csms, make_station)
        station.firmware_installer = recording_installer()[1]
        server.release.clear()  # the download hangs until we let it go
        update(any_csms, server.url("/fw.bin"), clock.wall())
        server.wait_requests(1)
        mark = any_csms.log.mark()
        assert trigger(any_csms, FSN) == "Downloading"
        server.release.set()
        wait_sent(any_csms, "Installed", since=mark)
        settled(station)
        changes = [e.status for e in log_of(station).all() if isinstance(e, FirmwareStatusChanged)]
        # Triggered statuses are answers, not changes.
        assert changes == ["Downloading", "Downloaded", "Installing", "Installed", "Idle"]


def test_uploading_while_an_upload_runs(any_csms: Any, make_station: StationFactory) -> None:
    with HttpFileServer() as server:
        booted(any_csms, make_station)
        server.release.clear()
        mark = any_csms.log.mark()
        any_csms.call(CP, "GetDiagnostics", {"location": server.url("/diag/")})
        server.wait_requests(1, "PUT")
        assert trigger(any_csms, DSN) == "Uploading"
        server.release.set()
        wait_sent(any_csms, "Uploaded", since=mark, action=DSN)
    sent = [e.payload["status"] for e in any_csms.log.calls(DSN, CP, since=mark)]
    assert sent == ["Uploading", "Uploading", "Uploaded"]
