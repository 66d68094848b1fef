"""OCPP 2.0.1 L Firmware management end to end: UpdateFirmware and
FirmwareStatusNotification on real websockets, real HTTP(S) and FTP
servers, signatures made here, virtual time.

Named after the use cases they follow: L01 (secure firmware update), L02
(non-secure), L03 (scheduled), L04 (an untrusted signing certificate);
L01.FR.24 (a new request cancels), L01.FR.06/07 (waiting for a transaction,
AllowNewSessionsPendingFirmwareUpdate), the triggered status, a request while
installing (Rejected) and an update that outlives a restart of the station.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.files.transfer_jobs import TransferFailed
from ocppstation.actors.station import Station
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.firmware import DEFAULT_RETRY_INTERVAL, FirmwareJob, Phase
from ocppstation.protocol.v201.firmware import certificate_missing, job_from_request, trigger_status
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.peer import LogEntry
from tests import test_v201_e2e
from tests.conftest import StationFactory, log_of
from tests.file_servers import FtpServer, HttpFileServer, make_tls
from tests.test_firmware_e2e import (
    CP,
    FSN,
    IMAGE,
    logged,
    recording_installer,
    sent,
    settled,
    wait_sent,
)
from tests.test_signed_firmware_e2e import MANUFACTURER_ROOT, Manufacturer, wait_event
from tests.test_v201_e2e import charging, station201

# The 2.0.1 peers, as fixtures of this module.
csms201 = test_v201_e2e.csms201
any_csms201 = test_v201_e2e.any_csms201


def booted(peer: Any, make_station: StationFactory, tmp_path: Path, **sections: Any) -> Station:
    """A 2.0.1 station with two EVSEs and a data dir of its own (the job is stored there)."""
    internal = {"DataDir": str(tmp_path / "data"), **sections.pop("Internal", {})}
    station = station201(peer, make_station, Internal=internal, **sections)
    logged(peer, "StatusNotification", 2)
    return station


def trust(peer: Any, maker: Manufacturer) -> None:
    payload = {"certificateType": MANUFACTURER_ROOT, "certificate": maker.root_pem}
    assert peer.call(CP, "InstallCertificate", payload) == {"status": "Accepted"}


def update(
    peer: Any,
    request_id: int,
    location: str,
    at: dt.datetime,
    maker: Manufacturer | None = None,
    *,
    install_at: dt.datetime | None = None,
    signature: str | None = None,
    **extra: Any,
) -> str:
    firmware: dict[str, Any] = {"location": location, "retrieveDateTime": ocpp_timestamp(at)}
    if maker is not None:
        firmware["signingCertificate"] = maker.signing_certificate
        firmware["signature"] = signature if signature is not None else maker.sign(IMAGE)
    if install_at is not None:
        firmware["installDateTime"] = ocpp_timestamp(install_at)
    payload = {"requestId": request_id, "firmware": firmware, **extra}
    return str(peer.call(CP, "UpdateFirmware", payload)["status"])


def statuses(peer: Any, since: int = 0) -> list[tuple[str, int | None]]:
    return [(e.payload["status"], e.payload.get("requestId")) for e in sent(peer, FSN, since)]


def trigger(peer: Any) -> dict[str, Any]:
    """TriggerMessage(FirmwareStatusNotification): Accepted, then the notification."""
    mark = peer.log.mark()
    request = {"requestedMessage": "FirmwareStatusNotification"}
    assert peer.call(CP, "TriggerMessage", request) == {"status": "Accepted"}
    answer = peer.log.wait_for(
        lambda e: e.kind == "result" and e.action == "TriggerMessage", since=mark
    )
    notification = peer.log.wait_call(FSN, CP, since=mark)
    assert answer.seq < notification.seq
    return dict(notification.payload)


def unavailable(peer: Any, since: int = 0, until: int | None = None) -> list[int]:
    return sorted(
        e.payload["evseId"]
        for e in sent(peer, "StatusNotification", since)
        if e.payload["connectorStatus"] == "Unavailable" and (until is None or e.seq < until)
    )


def wait_unavailable(peer: Any, evse: int, since: int) -> LogEntry:
    return peer.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.direction == "in"
            and e.action == "StatusNotification"
            and e.payload["evseId"] == evse
            and e.payload["connectorStatus"] == "Unavailable"
        ),
        timeout=5,
        since=since,
    )


def boot_after(peer: Any, since: int) -> LogEntry:
    return peer.log.wait_call("BootNotification", CP, timeout=10, since=since)


# -- L01 Secure firmware update -------------------------------------------------------


def test_l01_a_signed_update_in_the_order_of_the_spec_and_the_version_at_the_next_boot(
    any_csms201: Any, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    with HttpFileServer() as server:
        server.files["/fw/v2.bin"] = IMAGE
        station = booted(any_csms201, make_station, tmp_path)
        got, station.firmware_installer = recording_installer("2.0.1-new")
        trust(any_csms201, maker)
        mark = any_csms201.log.mark()
        assert update(any_csms201, 41, server.url("/fw/v2.bin"), clock.wall(), maker) == (
            "Accepted"
        )
        boot = boot_after(any_csms201, mark)
        installed = wait_sent(any_csms201, "Installed", since=boot.seq)
        updated = wait_event(any_csms201, "FirmwareUpdated", since=mark)
    assert statuses(any_csms201, mark) == [
        ("Downloading", 41),
        ("Downloaded", 41),
        ("SignatureVerified", 41),
        ("Installing", 41),
        ("InstallRebooting", 41),
        ("Installed", 41),
    ]
    assert got == [IMAGE]
    assert boot.payload["reason"] == "FirmwareUpdate"
    assert boot.payload["chargingStation"]["firmwareVersion"] == "2.0.1-new"
    rebooting = wait_sent(any_csms201, "InstallRebooting", since=mark)
    assert rebooting.seq < boot.seq < installed.seq
    # Every EVSE Unavailable between SignatureVerified and Installing (L01.FR.07).
    verified = wait_sent(any_csms201, "SignatureVerified", since=mark)
    installing = wait_sent(any_csms201, "Installing", since=mark)
    assert unavailable(any_csms201, verified.seq, installing.seq) == [1, 2]
    assert updated.payload["techInfo"] == "2.0.1-new"


def test_l01_fr03_an_invalid_signature_is_reported_and_nothing_installed(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = booted(csms201, make_station, tmp_path)
        got, station.firmware_installer = recording_installer()
        trust(csms201, maker)
        mark = csms201.log.mark()
        tampered = maker.sign(IMAGE + b"!")
        assert update(
            csms201, 7, server.url("/fw.bin"), clock.wall(), maker, signature=tampered
        ) == ("Accepted")
        wait_sent(csms201, "InvalidSignature", since=mark)
        event = wait_event(csms201, "InvalidFirmwareSignature", since=mark)
        settled(station)
    assert statuses(csms201, mark) == [
        ("Downloading", 7),
        ("Downloaded", 7),
        ("InvalidSignature", 7),
    ]
    assert "does not match" in event.payload["techInfo"]
    assert got == []
    assert unavailable(csms201, mark) == []
    assert sent(csms201, "BootNotification", mark) == []
    assert trigger(csms201) == {"status": "Idle"}


# -- L04 An untrusted signing certificate ---------------------------------------------


def test_l01_fr22_a_certificate_not_under_a_manufacturer_root_is_invalid(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    known, stranger = Manufacturer("Known"), Manufacturer("Stranger")
    with HttpFileServer() as server:
        booted(csms201, make_station, tmp_path)
        trust(csms201, known)
        mark = csms201.log.mark()
        assert update(csms201, 3, server.url("/fw.bin"), clock.wall(), stranger) == (
            "InvalidCertificate"
        )
        event = wait_event(csms201, "InvalidFirmwareSigningCertificate", since=mark)
        # A signature with no certificate to check it by is no better.
        payload = {
            "requestId": 4,
            "firmware": {
                "location": server.url("/fw.bin"),
                "retrieveDateTime": ocpp_timestamp(clock.wall()),
                "signature": known.sign(IMAGE),
            },
        }
        assert csms201.call(CP, "UpdateFirmware", payload) == {"status": "InvalidCertificate"}
    assert event.payload["type"] == "InvalidFirmwareSigningCertificate"
    assert server.requests == []
    assert statuses(csms201, mark) == []


# -- L02 Non-secure firmware update, over FTP, waiting for a transaction ---------------


def test_l02_an_unsigned_update_over_ftp_waits_for_the_transaction_to_end(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    with FtpServer(tmp_path / "ftp") as ftp:
        (ftp.root / "fw").mkdir()
        (ftp.root / "fw" / "v3.bin").write_bytes(IMAGE)
        station = booted(csms201, make_station, tmp_path)
        got, station.firmware_installer = recording_installer("3.0")
        charging(station, csms201, evse=1)
        mark = csms201.log.mark()
        assert update(csms201, 5, ftp.url("/fw/v3.bin"), clock.wall()) == "Accepted"
        wait_sent(csms201, "InstallScheduled", since=mark)
        # L01.FR.07: the EVSE not in use is Unavailable meanwhile; the other charges on.
        wait_unavailable(csms201, 2, mark)
        assert unavailable(csms201, mark) == [2]
        assert trigger(csms201) == {"status": "InstallScheduled", "requestId": 5}
        assert got == []
        station.unplug(1)
        boot = boot_after(csms201, mark)
        wait_sent(csms201, "Installed", since=boot.seq)
    assert statuses(csms201, mark) == [
        ("Downloading", 5),
        ("Downloaded", 5),
        ("InstallScheduled", 5),
        ("InstallScheduled", 5),  # triggered
        ("Installing", 5),
        ("InstallRebooting", 5),
        ("Installed", 5),
    ]
    assert got == [IMAGE]
    assert boot.payload["chargingStation"]["firmwareVersion"] == "3.0"
    # The session's end went out before the installation.
    ended = csms201.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "TransactionEvent"
            and e.payload["eventType"] == "Ended"
        ),
        since=mark,
    )
    assert ended.seq < wait_sent(csms201, "Installing", since=mark).seq


def test_l01_fr06_new_sessions_allowed_while_the_update_waits(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = booted(csms201, make_station, tmp_path)
        got, station.firmware_installer = recording_installer()
        set_variable = {
            "setVariableData": [
                {
                    "component": {"name": "ChargingStation"},
                    "variable": {"name": "AllowNewSessionsPendingFirmwareUpdate"},
                    "attributeValue": "true",
                }
            ]
        }
        answer = csms201.call(CP, "SetVariables", set_variable)
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        charging(station, csms201, evse=1)
        mark = csms201.log.mark()
        assert update(csms201, 6, server.url("/fw.bin"), clock.wall()) == "Accepted"
        wait_sent(csms201, "InstallScheduled", since=mark)
        # A new session on the other EVSE while the update waits.
        charging(station, csms201, evse=2, tag="TAG-2")
        assert unavailable(csms201, mark) == []
        station.unplug(1)
        station.unplug(2)
        wait_sent(csms201, "Installed", since=mark)
    assert got == [IMAGE]


# -- L03 Scheduled, over HTTPS --------------------------------------------------------


def test_l03_download_and_install_scheduled_over_https(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer(rsa_key=True, intermediate=True)
    tls = make_tls(tmp_path / "tls")
    with HttpFileServer(tls) as server:
        server.files["/fw.bin"] = IMAGE
        station = booted(
            csms201,
            make_station,
            tmp_path,
            Internal={"FileTransferCaFile": str(tls.ca_file)},
        )
        got, station.firmware_installer = recording_installer()
        trust(csms201, maker)
        mark = csms201.log.mark()
        start = clock.wall()
        status = update(
            csms201,
            9,
            server.url("/fw.bin"),
            start + dt.timedelta(hours=1),
            maker,
            install_at=start + dt.timedelta(hours=3),
        )
        assert status == "Accepted"
        wait_sent(csms201, "DownloadScheduled", since=mark)
        assert trigger(csms201) == {"status": "DownloadScheduled", "requestId": 9}
        clock.advance(3599)
        assert server.requests == []
        clock.advance(1)
        wait_sent(csms201, "InstallScheduled", since=mark)
        clock.advance(2 * 3600 - 1)
        assert got == []
        assert unavailable(csms201, mark) == []
        clock.advance(1)
        wait_sent(csms201, "Installed", since=mark)
    assert statuses(csms201, mark) == [
        ("DownloadScheduled", 9),
        ("DownloadScheduled", 9),  # triggered
        ("Downloading", 9),
        ("Downloaded", 9),
        ("SignatureVerified", 9),
        ("InstallScheduled", 9),
        ("Installing", 9),
        ("InstallRebooting", 9),
        ("Installed", 9),
    ]
    assert got == [IMAGE]


# -- L01.FR.24 A new request cancels; retries; the triggered status ---------------------


def test_l01_fr24_a_new_update_cancels_the_one_under_way(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    with HttpFileServer() as stuck, HttpFileServer() as server:
        stuck.release.clear()  # the first download hangs until we let it go
        server.files["/new.bin"] = IMAGE
        station = booted(csms201, make_station, tmp_path)
        got, station.firmware_installer = recording_installer()
        assert trigger(csms201) == {"status": "Idle"}
        mark = csms201.log.mark()
        assert update(csms201, 1, stuck.url("/old.bin"), clock.wall()) == "Accepted"
        stuck.wait_requests(1, "GET")
        assert trigger(csms201) == {"status": "Downloading", "requestId": 1}
        assert update(csms201, 2, server.url("/new.bin"), clock.wall()) == "AcceptedCanceled"
        wait_sent(csms201, "Installed", since=mark)
        settled(station)
        stuck.release.set()
        assert trigger(csms201) == {"status": "Idle"}
    assert got == [IMAGE]
    assert statuses(csms201, mark) == [
        ("Downloading", 1),
        ("Downloading", 1),  # triggered
        ("Downloading", 2),
        ("Downloaded", 2),
        ("Installing", 2),
        ("InstallRebooting", 2),
        ("Installed", 2),
        ("Idle", None),  # triggered
    ]


def test_a_download_that_fails_after_its_retries(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    with HttpFileServer() as server:
        station = booted(csms201, make_station, tmp_path)
        got, station.firmware_installer = recording_installer()
        mark = csms201.log.mark()
        events = log_of(station).mark()
        status = update(
            csms201, 8, server.url("/missing.bin"), clock.wall(), retries=1, retryInterval=30
        )
        assert status == "Accepted"
        log_of(station).wait_for(
            lambda e: isinstance(e, TransferFailed) and e.retry_in == 30, timeout=5, since=events
        )
        clock.advance(30)
        wait_sent(csms201, "DownloadFailed", since=mark)
        settled(station)
    assert len(server.requests) == 2
    assert statuses(csms201, mark) == [("Downloading", 8), ("DownloadFailed", 8)]
    assert got == []


def test_while_installing_a_new_update_is_rejected(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    release = threading.Event()
    got: list[bytes] = []

    def slow(path: Path) -> bool:
        got.append(path.read_bytes())
        release.wait(30)
        return True

    try:
        with HttpFileServer() as server:
            server.files["/fw.bin"] = IMAGE
            station = booted(csms201, make_station, tmp_path)
            station.firmware_installer = slow
            mark = csms201.log.mark()
            assert update(csms201, 1, server.url("/fw.bin"), clock.wall()) == "Accepted"
            wait_sent(csms201, "Installing", since=mark)
            assert trigger(csms201) == {"status": "Installing", "requestId": 1}
            assert update(csms201, 2, server.url("/fw.bin"), clock.wall()) == "Rejected"
            release.set()
            wait_sent(csms201, "Installed", since=mark)
    finally:
        release.set()
    assert got == [IMAGE]
    assert {rid for _, rid in statuses(csms201, mark)} == {1}


def test_the_update_survives_a_restart_of_the_station(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        first = booted(csms201, make_station, tmp_path)
        trust(csms201, maker)
        mark = csms201.log.mark()
        install_at = clock.wall() + dt.timedelta(hours=1)
        status = update(
            csms201, 21, server.url("/fw.bin"), clock.wall(), maker, install_at=install_at
        )
        assert status == "Accepted"
        wait_sent(csms201, "InstallScheduled", since=mark)
        first.stop()

        second = booted(csms201, make_station, tmp_path)
        got, second.firmware_installer = recording_installer()
        assert trigger(csms201) == {"status": "InstallScheduled", "requestId": 21}
        clock.advance(3600)
        wait_sent(csms201, "Installed", since=mark)
    assert got == [IMAGE]
    assert len(server.requests) == 1  # not fetched again


# -- the pure parts (protocol/v201/firmware.py) ------------------------------------------


def test_a_request_becomes_1_6s_signed_job() -> None:
    payload = {
        "requestId": 3,
        "retries": 0,
        "firmware": {"location": "ftp://h/fw.bin", "retrieveDateTime": "2026-01-01T00:00:00Z"},
    }
    job = job_from_request(payload)
    assert (job.request_id, job.signed, job.signature, job.retries) == (3, True, None, 0)
    assert job.retry_interval == DEFAULT_RETRY_INTERVAL
    assert certificate_missing(payload["firmware"]) is None
    assert certificate_missing({"signature": "AAAA"}) is not None


def test_what_a_trigger_says_where_the_job_is() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    later = ocpp_timestamp(now + dt.timedelta(hours=1))
    job = FirmwareJob("http://h/fw", ocpp_timestamp(now), 0, 0, request_id=1)
    verified = job.at(Phase.VERIFIED)

    def said(j: FirmwareJob | None, *, rebooting: bool = False, waiting: bool = False) -> str:
        return trigger_status(j, now, rebooting=rebooting, waiting=waiting)

    assert said(None) == "Idle"
    assert said(job.at(Phase.DOWNLOADING)) == "Downloading"
    assert said(verified) == "Downloaded"  # unsigned: no signature was verified
    assert said(verified.at(Phase.VERIFIED, signature="AAAA")) == "SignatureVerified"
    assert said(verified.at(Phase.VERIFIED, install_date=later)) == "InstallScheduled"
    assert said(verified, waiting=True) == "InstallScheduled"
    assert said(job.at(Phase.INSTALLED), rebooting=True) == "InstallRebooting"
    assert said(job.at(Phase.DOWNLOAD_FAILED)) == "Idle"  # ended: nothing under way
