"""UpdateFirmware end to end: real websockets, real file servers, virtual time.

Named after the OCTT 1.6 cases they follow: TC_044_1 (download and install),
TC_044_2 (download failed), TC_044_3 (installation failed). The others
cover what those cases leave open: retries in virtual time, HTTPS trust,
FTP, waiting for a transaction, the reboot with a database, and a power
loss during the installation.
"""

from __future__ import annotations

import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import TransactionStarted
from ocppstation.actors.files.transfer_jobs import TransferFailed
from ocppstation.actors.runtime.context import STORAGE
from ocppstation.actors.station import Station
from ocppstation.actors.v16.firmware_management import (
    FirmwareStatusChanged,
    FirmwareUpdateScheduled,
)
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.peer import LogEntry
from tests.conftest import StationFactory, answered, log_of, wait_status
from tests.file_servers import FtpServer, HttpFileServer, make_tls, refused_url

CP = "cp-test"
FSN = "FirmwareStatusNotification"
IMAGE = b"firmware v2 " * 10_000


def booted(
    peer: Any, make_station: StationFactory, evses: int = 2, cp_id: str = CP, **sections: Any
) -> Station:
    station = make_station(peer, evses=evses, cp_id=cp_id, **sections)
    answered(station, "StatusNotification", evses + 1)
    # The peer's log may lag behind the station (ocpp-rpc reports through a
    # pipe): a mark taken now must come after the boot.
    logged(peer, "StatusNotification", evses + 1, cp_id)
    return station


def logged(peer: Any, action: str, count: int, cp_id: str = CP) -> None:
    seen = 0

    def enough(entry: LogEntry) -> bool:
        nonlocal seen
        if entry.kind == "result" and entry.action == action and entry.cp_id == cp_id:
            seen += 1
        return seen >= count

    peer.log.wait_for(enough, timeout=5)


def sent(peer: Any, action: str, since: int = 0) -> list[LogEntry]:
    """The CALLs of `action` the station sent, from log index `since`."""
    return [e for e in peer.log.calls(action, CP, since=since) if e.direction == "in"]


def statuses(peer: Any, since: int = 0, action: str = FSN) -> list[str]:
    return [e.payload["status"] for e in sent(peer, action, since)]


def wait_sent(peer: Any, status: str, since: int = 0, action: str = FSN) -> LogEntry:
    return peer.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.direction == "in"
            and e.action == action
            and e.payload.get("status") == status
        ),
        timeout=10,
        since=since,
    )


def update(peer: Any, location: str, at: Any, **extra: Any) -> None:
    payload = {"location": location, "retrieveDate": ocpp_timestamp(at), **extra}
    assert peer.call(CP, "UpdateFirmware", payload) == {}


def recording_installer(result: bool | str = True) -> tuple[list[bytes], Any]:
    got: list[bytes] = []

    def install(path: Path) -> bool | str:
        got.append(path.read_bytes())
        return result

    return got, install


def settled(station: Station) -> None:
    """Wait until the CSMS has heard how the update ended and the station forgot it."""
    log_of(station).wait_for(
        lambda e: isinstance(e, FirmwareStatusChanged) and e.status == "Idle", timeout=10
    )


def unavailable(peer: Any, since: int) -> list[int]:
    return [
        e.payload["connectorId"]
        for e in sent(peer, "StatusNotification", since)
        if e.payload["status"] == "Unavailable"
    ]


def test_tc_044_1_firmware_update_download_and_install(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    with HttpFileServer() as server:
        server.files["/fw/v2.bin"] = IMAGE
        station = booted(any_csms, make_station)
        got, station.firmware_installer = recording_installer("2.0.0")
        mark = any_csms.log.mark()
        events = log_of(station).mark()
        update(any_csms, server.url("/fw/v2.bin"), clock.wall() + timedelta(hours=1))
        scheduled = log_of(station).wait_for(
            lambda e: isinstance(e, FirmwareUpdateScheduled), timeout=5, since=events
        )
        assert scheduled.delay == 3600
        # Nothing is fetched before retrieveDate.
        clock.advance(3599)
        assert server.requests == []
        assert statuses(any_csms, mark) == []
        clock.advance(1)

        boot = any_csms.log.wait_call("BootNotification", CP, timeout=10, since=mark)
        # The version the installer reported, not the configured one.
        assert boot.payload["firmwareVersion"] == "2.0.0"
        updated = any_csms.log.wait_for(
            lambda e: e.kind == "call" and e.action == "SecurityEventNotification", since=mark
        )
        assert updated.payload["type"] == "FirmwareUpdated"
        assert updated.payload["techInfo"] == "2.0.0"
        installed = wait_sent(any_csms, "Installed", since=boot.seq)
        assert statuses(any_csms, mark) == ["Downloading", "Downloaded", "Installing", "Installed"]
        assert got == [IMAGE]
        # Connectors were Unavailable while the firmware was installed, and
        # reported between Downloaded and Installing.
        downloaded = wait_sent(any_csms, "Downloaded", since=mark)
        installing = wait_sent(any_csms, "Installing", since=mark)
        held = [
            e
            for e in sent(any_csms, "StatusNotification", downloaded.seq)
            if e.seq < installing.seq
        ]
        assert sorted(e.payload["connectorId"] for e in held) == [1, 2]
        assert {e.payload["status"] for e in held} == {"Unavailable"}
        # After the reboot: registered, connectors Available, then Installed.
        after = sent(any_csms, "StatusNotification", boot.seq)
        assert all(e.seq < installed.seq for e in after)
        assert {e.payload["status"] for e in after} == {"Available"}


def test_tc_044_2_firmware_update_download_failed(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    with HttpFileServer() as server:
        station = booted(any_csms, make_station)
        got, station.firmware_installer = recording_installer()
        mark = any_csms.log.mark()
        update(any_csms, server.url("/fw/does_not_exist_v2.bin"), clock.wall(), retries=0)
        wait_sent(any_csms, "DownloadFailed", since=mark)
        assert statuses(any_csms, mark) == ["Downloading", "DownloadFailed"]
        assert len(server.requests) == 1
    # The old firmware stays, and so does the station: nothing held, no reboot.
    assert got == []
    assert unavailable(any_csms, mark) == []
    assert sent(any_csms, "BootNotification", mark) == []
    assert [e["status"] for e in station.status()["evses"]] == ["Available", "Available"]


def test_tc_044_3_firmware_update_installation_failed(
    any_csms: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    with HttpFileServer() as server:
        server.files["/fw/invalid.bin"] = b"not a firmware"
        station = booted(any_csms, make_station)
        got, station.firmware_installer = recording_installer(result=False)
        mark = any_csms.log.mark()
        events = log_of(station).mark()
        update(any_csms, server.url("/fw/invalid.bin"), clock.wall())
        wait_sent(any_csms, "InstallationFailed", since=mark)
    assert statuses(any_csms, mark) == [
        "Downloading",
        "Downloaded",
        "Installing",
        "InstallationFailed",
    ]
    assert got == [b"not a firmware"]
    # Held for the installation, let go after it; no reboot.
    assert sorted(unavailable(any_csms, mark)) == [1, 2]
    wait_status(station, 1, "Available", since=events)
    wait_status(station, 2, "Available", since=events)
    assert sent(any_csms, "BootNotification", mark) == []


def test_download_retries_wait_retry_interval_in_virtual_time(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        server.fail["/fw.bin"] = [503, 500]
        station = booted(csms, make_station)
        got, station.firmware_installer = recording_installer()
        mark = csms.log.mark()
        events = log_of(station)
        since = events.mark()
        update(csms, server.url("/fw.bin"), clock.wall(), retries=2, retryInterval=30)
        for attempt in (1, 2):
            failed = events.wait_for(
                lambda e, n=attempt: isinstance(e, TransferFailed) and e.attempt == n,
                timeout=5,
                since=since,
            )
            assert (failed.kind, failed.retry_in) == ("firmware", 30)
            assert "HTTP 5" in failed.error
            clock.advance(29)
            assert len(server.requests) == attempt
            clock.advance(1)
        wait_sent(csms, "Installed", since=mark)
    assert len(server.requests) == 3
    assert statuses(csms, mark) == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert got == [IMAGE]


def test_download_gives_up_after_its_retries(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    mark = csms.log.mark()
    events = log_of(station)
    since = events.mark()
    update(csms, refused_url(), clock.wall(), retries=1, retryInterval=10)
    events.wait_for(lambda e: isinstance(e, TransferFailed), timeout=5, since=since)
    clock.advance(10)
    last = events.wait_for(
        lambda e: isinstance(e, TransferFailed) and e.retry_in is None, timeout=5, since=since
    )
    assert last.attempt == 2
    wait_sent(csms, "DownloadFailed", since=mark)
    assert statuses(csms, mark) == ["Downloading", "DownloadFailed"]


def test_https_download_needs_the_ca_the_station_trusts(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    tls = make_tls(tmp_path / "tls")
    with HttpFileServer(tls) as server:
        server.files["/fw.bin"] = IMAGE
        untrusting = booted(csms, make_station, cp_id="cp-other")
        mark = csms.log.mark()
        csms.call(
            "cp-other",
            "UpdateFirmware",
            {
                "location": server.url("/fw.bin"),
                "retrieveDate": ocpp_timestamp(clock.wall()),
                "retries": 0,
            },
        )
        failed = csms.log.wait_for(
            lambda e: e.action == FSN and e.payload.get("status") == "DownloadFailed",
            timeout=10,
            since=mark,
        )
        assert failed.cp_id == "cp-other"
        untrusting.stop()

        station = booted(csms, make_station, Internal={"FileTransferCaFile": str(tls.ca_file)})
        got, station.firmware_installer = recording_installer()
        mark = csms.log.mark()
        update(csms, server.url("/fw.bin"), clock.wall())
        wait_sent(csms, "Installed", since=mark)
    assert got == [IMAGE]


def test_ftp_download_and_an_unsupported_protocol(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    with FtpServer(tmp_path / "ftp") as server:
        (server.root / "v2.bin").write_bytes(IMAGE)
        station = booted(csms, make_station)
        got, station.firmware_installer = recording_installer()
        mark = csms.log.mark()
        update(csms, "sftp://127.0.0.1/v2.bin", clock.wall())
        wait_sent(csms, "DownloadFailed", since=mark)
        mark = csms.log.mark()
        update(csms, server.url("/v2.bin"), clock.wall())
        wait_sent(csms, "Installed", since=mark)
    assert got == [IMAGE]


def test_installation_waits_for_the_running_transaction(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = booted(csms, make_station)
        got, station.firmware_installer = recording_installer()
        station.plug(1)
        station.tag(1, "TAG-1")
        log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
        wait_status(station, 1, "Charging")
        mark = csms.log.mark()
        events = log_of(station).mark()
        update(csms, server.url("/fw.bin"), clock.wall())
        wait_sent(csms, "Downloaded", since=mark)
        wait_status(station, 2, "Unavailable", since=events)
        # The idle connector is held; the one charging goes on, and nothing is installed.
        assert station.status()["evses"][0]["status"] == "Charging"
        assert "Installing" not in statuses(csms, mark)
        assert got == []
        # A remote start on the held connector is refused.
        assert csms.call(CP, "RemoteStartTransaction", {"idTag": "X", "connectorId": 2}) == {
            "status": "Rejected"
        }

        station.tag(1, "TAG-1")
        stop = csms.log.wait_call("StopTransaction", CP, since=mark)
        installing = wait_sent(csms, "Installing", since=mark)
        assert stop.seq < installing.seq
        wait_sent(csms, "Installed", since=mark)
    assert got == [IMAGE]


INSTALL_SCRIPT = """
import shutil, sys
shutil.copyfile(sys.argv[2], sys.argv[1])
ok = open(sys.argv[2], "rb").read().startswith(b"firmware")
print("copied")
print("FirmwareVersion=2.1.0-rc1")
sys.exit(0 if ok else 3)
"""


def test_the_install_command_and_the_reboot_with_a_database(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    copy = tmp_path / "installed.bin"
    data = tmp_path / "data"
    command = f'"{sys.executable}" "{script}" "{copy}"'
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = booted(
            csms,
            make_station,
            Internal={"DataDir": str(data), "FirmwareInstallCommand": command},
        )
        mark = csms.log.mark()
        update(csms, server.url("/fw.bin"), clock.wall())
        boot = csms.log.wait_call("BootNotification", CP, timeout=10, since=mark)
        wait_sent(csms, "Installed", since=boot.seq)
    assert copy.read_bytes() == IMAGE
    assert boot.payload["firmwareVersion"] == "2.1.0-rc1"  # from its FirmwareVersion= line
    # Answered, so forgotten: nothing left in the database or the download folder.
    storage = station.registry.proxy(STORAGE)
    settled(station)
    assert storage.firmware_job.get().get(timeout=5) is None
    assert list((data / "firmware").iterdir()) == []


def test_a_failing_install_command(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    command = f'"{sys.executable}" "{script}" "{tmp_path / "copy.bin"}"'
    with HttpFileServer() as server:
        server.files["/fw.bin"] = b"garbage"
        booted(csms, make_station, Internal={"FirmwareInstallCommand": command})
        mark = csms.log.mark()
        update(csms, server.url("/fw.bin"), clock.wall())
        wait_sent(csms, "InstallationFailed", since=mark)


def test_no_installer_at_all_is_an_installation_failure(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        booted(csms, make_station)
        mark = csms.log.mark()
        update(csms, server.url("/fw.bin"), clock.wall())
        wait_sent(csms, "InstallationFailed", since=mark)


def test_power_lost_during_the_installation_is_reported_after_the_restart(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    data = str(tmp_path / "data")
    release = threading.Event()

    def stuck(path: Path) -> bool:
        release.wait(30)
        return True

    try:
        with HttpFileServer() as server:
            server.files["/fw.bin"] = IMAGE
            first = booted(csms, make_station, Internal={"DataDir": data})
            first.firmware_installer = stuck
            mark = csms.log.mark()
            update(csms, server.url("/fw.bin"), clock.wall())
            wait_sent(csms, "Installing", since=mark)
        first.stop()  # the power goes while the installer runs

        mark = csms.log.mark()
        second = make_station(csms, Internal={"DataDir": data})
        boot = csms.log.wait_call("BootNotification", CP, since=mark)
        wait_sent(csms, "InstallationFailed", since=boot.seq)
        settled(second)
        assert second.registry.proxy(STORAGE).firmware_job.get().get(timeout=5) is None
    finally:
        release.set()


def test_a_new_update_replaces_a_scheduled_one(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    with HttpFileServer() as server:
        server.files["/new.bin"] = IMAGE
        station = booted(csms, make_station)
        got, station.firmware_installer = recording_installer()
        mark = csms.log.mark()
        since = log_of(station).mark()
        update(csms, server.url("/old.bin"), clock.wall() + timedelta(hours=2))
        update(csms, server.url("/new.bin"), clock.wall() + timedelta(hours=1))
        log_of(station).wait_for(
            lambda e: isinstance(e, FirmwareUpdateScheduled) and e.location.endswith("new.bin"),
            timeout=5,
            since=since,
        )
        clock.advance(7200)
        wait_sent(csms, "Installed", since=mark)
    assert [r.path for r in server.requests] == ["/new.bin"]
    assert got == [IMAGE]


def test_a_crashed_firmware_actor_leaves_the_evses_alone_and_keeps_its_update(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    from ocppstation.actors.runtime.supervisor import ChildRestarted

    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = booted(csms, make_station)
        _, station.firmware_installer = recording_installer("3.0")
        station.plug(2)
        station.tag(2, "DRIVER")
        wait_status(station, 2, "Charging")
        update(csms, server.url("/fw.bin"), clock.wall() + timedelta(hours=1))
        connectors = [station.registry.require(f"evses/{n}/connector") for n in (1, 2)]
        mark = log_of(station).mark()
        station.crash("firmware")
        log_of(station).wait_for(
            lambda e: isinstance(e, ChildRestarted) and e.path == "firmware", 5, mark
        )
        # After the EVSEs in the tree: the transaction goes on in the same actors.
        assert [station.registry.require(f"evses/{n}/connector") for n in (1, 2)] == connectors
        assert station.status()["evses"][1]["status"] == "Charging"
        # The scheduled update was stored: the new actor carries it out. Its
        # setup (which arms the retrieve timer) is over once it answers.
        assert station.registry.proxy("firmware").job.get(timeout=5) is not None
        clock.advance(3600)
        wait_sent(csms, "Downloaded")
        assert server.requests


def test_without_a_data_dir_downloads_go_to_a_folder_of_the_stations_own(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    paths: list[Path] = []

    def install(path: Path) -> bool:
        paths.append(path)
        return True

    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = booted(csms, make_station)
        station.firmware_installer = install
        mark = csms.log.mark()
        update(csms, server.url("/fw.bin"), clock.wall())
        wait_sent(csms, "Installed", since=mark)
    (path,) = paths
    # Its own: two stations of one ChargePointId (tests, or two processes) must not share it.
    assert path.parent.name.startswith(f"ocppstation-{CP}-")
    station.stop()
    assert not path.parent.exists()
