"""SignedUpdateFirmware end to end (OCPP 1.6 Security Whitepaper): real websockets,
real file servers, certificates and signatures made here, virtual time.

Named after the OCTT 1.6 cases they follow: TC_080_CS (secure firmware
update) and TC_081_CS (invalid signature). The others cover what those
leave open: a signing certificate the station must not trust, DownloadScheduled
and InstallScheduled, RSA keys and intermediates, cancelling, a file that
changed before its installation, a restart while the installation waits,
and ExtendedTriggerMessage(FirmwareStatusNotification).
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import ConnectorChanged
from ocppstation.actors.station import Station
from ocppstation.actors.v16.firmware_management import (
    FirmwareStatusChanged,
    FirmwareUpdateScheduled,
)
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.peer import LogEntry
from tests.conftest import StationFactory, log_of
from tests.file_servers import HttpFileServer
from tests.test_firmware_e2e import (
    CP,
    FSN,
    IMAGE,
    booted,
    recording_installer,
    sent,
    settled,
    unavailable,
    wait_sent,
)

SFSN = "SignedFirmwareStatusNotification"
MANUFACTURER_ROOT = "ManufacturerRootCertificate"
# The station's virtual clock starts at 2026-01-01.
VALID_FROM = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
VALID_TO = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)

# -- the manufacturer's PKI ------------------------------------------------------------

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _certificate(
    subject: str,
    key: Key,
    issuer: str,
    issuer_key: Key,
    *,
    ca: bool,
    not_after: dt.datetime = VALID_TO,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(VALID_FROM)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(*certificates: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)


class Manufacturer:
    """A firmware maker: a root CA the station may trust, and a key that signs images
    (ECDSA P-256 or RSA 2048; optionally under an intermediate CA)."""

    def __init__(
        self,
        name: str = "Maker",
        *,
        rsa_key: bool = False,
        intermediate: bool = False,
    ) -> None:
        self.name = name
        self.root_key = root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _certificate(f"{name} Root", root_key, f"{name} Root", root_key, ca=True)
        issuer, issuer_key = f"{name} Root", root_key
        chain: list[x509.Certificate] = []
        if intermediate:
            sub_key = ec.generate_private_key(ec.SECP256R1())
            chain.append(_certificate(f"{name} Sub", sub_key, issuer, issuer_key, ca=True))
            issuer, issuer_key = f"{name} Sub", sub_key
        self.key: Key = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if rsa_key
            else ec.generate_private_key(ec.SECP256R1())
        )
        signer = _certificate(
            f"{name} Firmware Signing",
            self.key,
            issuer,
            issuer_key,
            ca=False,
        )
        # The leaf first, then what it takes to reach the root.
        self.signing_certificate = _pem(signer, *reversed(chain))

    @property
    def root_pem(self) -> str:
        return _pem(self.root)

    def sign(self, data: bytes) -> str:
        if isinstance(self.key, rsa.RSAPrivateKey):
            signature = self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            signature = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()


# -- helpers ------------------------------------------------------------------------------


def station_with_data(peer: Any, make_station: StationFactory, tmp_path: Path) -> Station:
    """A booted station with a data dir of its own: its downloads go there, not to a
    temporary folder named after the station that other test runs may share."""
    return booted(peer, make_station, Internal={"DataDir": str(tmp_path / "data")})


def trust(peer: Any, maker: Manufacturer) -> None:
    payload = {"certificateType": MANUFACTURER_ROOT, "certificate": maker.root_pem}
    assert peer.call(CP, "InstallCertificate", payload) == {"status": "Accepted"}


def signed_update(
    peer: Any,
    request_id: int,
    location: str,
    maker: Manufacturer,
    at: dt.datetime,
    *,
    install_at: dt.datetime | None = None,
    signature: str | None = None,
    **extra: Any,
) -> str:
    firmware = {
        "location": location,
        "retrieveDateTime": ocpp_timestamp(at),
        "signingCertificate": maker.signing_certificate,
        "signature": signature if signature is not None else maker.sign(IMAGE),
    }
    if install_at is not None:
        firmware["installDateTime"] = ocpp_timestamp(install_at)
    payload = {"requestId": request_id, "firmware": firmware, **extra}
    return str(peer.call(CP, "SignedUpdateFirmware", payload)["status"])


def signed(peer: Any, since: int = 0) -> list[tuple[str, int | None]]:
    """The SignedFirmwareStatusNotifications sent from `since`: (status, requestId)."""
    return [(e.payload["status"], e.payload.get("requestId")) for e in sent(peer, SFSN, since)]


def wait_signed(peer: Any, status: str, since: int = 0) -> LogEntry:
    return wait_sent(peer, status, since=since, action=SFSN)


def wait_events(peer: Any, kind: str, count: int, since: int = 0) -> list[LogEntry]:
    """Wait for `count` SecurityEventNotifications of `kind`; all of them from `since`."""

    def of_kind() -> list[LogEntry]:
        events = sent(peer, "SecurityEventNotification", since)
        return [e for e in events if e.payload["type"] == kind]

    seen = 0

    def enough(entry: LogEntry) -> bool:
        nonlocal seen
        if (
            entry.kind == "call"
            and entry.direction == "in"
            and entry.action == "SecurityEventNotification"
            and entry.payload["type"] == kind
        ):
            seen += 1
        return seen >= count

    peer.log.wait_for(enough, timeout=10, since=since)
    return of_kind()


def wait_event(peer: Any, kind: str, since: int = 0) -> LogEntry:
    return wait_events(peer, kind, 1, since)[0]


def trigger_signed(peer: Any) -> dict[str, Any]:
    """ExtendedTriggerMessage(FirmwareStatusNotification): Accepted, then the
    SignedFirmwareStatusNotification, after the answer; its payload."""
    mark = peer.log.mark()
    request = {"requestedMessage": "FirmwareStatusNotification"}
    assert peer.call(CP, "ExtendedTriggerMessage", request) == {"status": "Accepted"}
    answer = peer.log.wait_for(
        lambda e: e.kind == "result" and e.action == "ExtendedTriggerMessage", since=mark
    )
    notification = peer.log.wait_call(SFSN, CP, since=mark)
    assert answer.seq < notification.seq
    return dict(notification.payload)


# -- the cases ----------------------------------------------------------------------------


def test_tc_080_secure_firmware_update(
    any_csms: Any, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    with HttpFileServer() as server:
        server.files["/fw/v2.bin"] = IMAGE
        station = station_with_data(any_csms, make_station, tmp_path)
        got, station.firmware_installer = recording_installer("2.0.0-signed")
        trust(any_csms, maker)
        mark = any_csms.log.mark()
        assert signed_update(any_csms, 41, server.url("/fw/v2.bin"), maker, clock.wall()) == (
            "Accepted"
        )
        boot = any_csms.log.wait_call("BootNotification", CP, timeout=10, since=mark)
        installed = wait_signed(any_csms, "Installed", since=boot.seq)
    assert signed(any_csms, mark) == [
        ("Downloading", 41),
        ("Downloaded", 41),
        ("SignatureVerified", 41),
        ("Installing", 41),
        ("InstallRebooting", 41),
        ("Installed", 41),
    ]
    # Nothing in the unsigned vocabulary.
    assert sent(any_csms, FSN, mark) == []
    assert got == [IMAGE]
    assert boot.payload["firmwareVersion"] == "2.0.0-signed"
    # InstallRebooting was answered before the reboot, Installed came after it.
    rebooting = wait_signed(any_csms, "InstallRebooting", since=mark)
    assert rebooting.seq < boot.seq < installed.seq
    # Connectors were held between SignatureVerified and Installing.
    verified = wait_signed(any_csms, "SignatureVerified", since=mark)
    installing = wait_signed(any_csms, "Installing", since=mark)
    held = [
        e.payload["connectorId"]
        for e in sent(any_csms, "StatusNotification", verified.seq)
        if e.seq < installing.seq and e.payload["status"] == "Unavailable"
    ]
    assert sorted(held) == [1, 2]
    updated = wait_event(any_csms, "FirmwareUpdated", since=mark)
    assert updated.payload["techInfo"] == "2.0.0-signed"


def test_tc_081_secure_firmware_update_invalid_signature(
    any_csms: Any, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    data = tmp_path / "data"
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = booted(any_csms, make_station, Internal={"DataDir": str(data)})
        got, station.firmware_installer = recording_installer()
        trust(any_csms, maker)
        mark = any_csms.log.mark()
        tampered = maker.sign(IMAGE + b"!")
        status = signed_update(
            any_csms, 7, server.url("/fw.bin"), maker, clock.wall(), signature=tampered
        )
        assert status == "Accepted"
        wait_signed(any_csms, "InvalidSignature", since=mark)
        event = wait_event(any_csms, "InvalidFirmwareSignature", since=mark)
        settled(station)
    assert signed(any_csms, mark) == [
        ("Downloading", 7),
        ("Downloaded", 7),
        ("InvalidSignature", 7),
    ]
    assert "does not match" in event.payload["techInfo"]
    # Not installed, nothing held, no reboot, the file gone.
    assert got == []
    assert unavailable(any_csms, mark) == []
    assert sent(any_csms, "BootNotification", mark) == []
    assert station.ctx.firmware.remembered is None
    assert list((data / "firmware").iterdir()) == []


def test_a_signing_certificate_the_station_does_not_trust_is_refused(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station_with_data(csms, make_station, tmp_path)
        known, stranger = Manufacturer("Known"), Manufacturer("Stranger")
        mark = csms.log.mark()
        # No manufacturer root installed: nobody is trusted.
        assert signed_update(csms, 1, server.url("/fw.bin"), known, clock.wall()) == (
            "InvalidCertificate"
        )
        trust(csms, known)
        # Signed by a maker whose root is not installed.
        assert signed_update(csms, 2, server.url("/fw.bin"), stranger, clock.wall()) == (
            "InvalidCertificate"
        )
        # Not a certificate at all.
        garbage = Manufacturer("Known")
        garbage.signing_certificate = "-----BEGIN CERTIFICATE-----\nno\n-----END CERTIFICATE-----\n"
        assert signed_update(csms, 3, server.url("/fw.bin"), garbage, clock.wall()) == (
            "InvalidCertificate"
        )
        # The root itself is no reason to trust a CentralSystemRootCertificate's signatures.
        csms_root = Manufacturer("CSMS")
        payload = {
            "certificateType": "CentralSystemRootCertificate",
            "certificate": csms_root.root_pem,
        }
        assert csms.call(CP, "InstallCertificate", payload) == {"status": "Accepted"}
        assert signed_update(csms, 4, server.url("/fw.bin"), csms_root, clock.wall()) == (
            "InvalidCertificate"
        )
        events = [
            str(e.payload.get("techInfo"))
            for e in wait_events(csms, "InvalidFirmwareSigningCertificate", 4, since=mark)
        ]
        assert "no ManufacturerRootCertificate" in events[0]
        assert "does not chain" in events[1]
        assert "not PEM" in events[2]
        assert "does not chain" in events[3]
        # Nothing was fetched or announced.
        assert server.requests == []
        assert sent(csms, SFSN, mark) == []


def test_an_expired_signing_certificate_under_a_trusted_root_is_refused(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    station_with_data(csms, make_station, tmp_path)
    trust(csms, maker)
    # A signing certificate from the trusted root that expired yesterday (station time).
    old_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(
        "Old Signing",
        old_key,
        f"{maker.name} Root",
        maker.root_key,
        ca=False,
        not_after=clock.wall() - dt.timedelta(days=1),
    )
    maker.signing_certificate, maker.key = _pem(leaf), old_key
    mark = csms.log.mark()
    assert signed_update(csms, 5, "http://127.0.0.1:1/fw.bin", maker, clock.wall()) == (
        "InvalidCertificate"
    )
    event = wait_event(csms, "InvalidFirmwareSigningCertificate", since=mark)
    assert "not valid now" in event.payload["techInfo"]


def test_download_scheduled_and_install_scheduled_with_an_rsa_key_and_an_intermediate(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer(rsa_key=True, intermediate=True)
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = station_with_data(csms, make_station, tmp_path)
        got, station.firmware_installer = recording_installer()
        trust(csms, maker)
        mark = csms.log.mark()
        events = log_of(station).mark()
        start = clock.wall()
        status = signed_update(
            csms,
            9,
            server.url("/fw.bin"),
            maker,
            start + dt.timedelta(hours=1),
            install_at=start + dt.timedelta(hours=3),
        )
        assert status == "Accepted"
        log_of(station).wait_for(
            lambda e: isinstance(e, FirmwareUpdateScheduled), timeout=5, since=events
        )
        wait_signed(csms, "DownloadScheduled", since=mark)
        assert trigger_signed(csms) == {"status": "DownloadScheduled", "requestId": 9}
        clock.advance(3599)
        assert server.requests == []
        clock.advance(1)
        wait_signed(csms, "InstallScheduled", since=mark)
        assert trigger_signed(csms) == {"status": "InstallScheduled", "requestId": 9}
        # Verified, but nothing held or installed before installDateTime.
        clock.advance(2 * 3600 - 1)
        assert unavailable(csms, mark) == []
        assert got == []
        clock.advance(1)
        wait_signed(csms, "Installed", since=mark)
    assert signed(csms, mark) == [
        ("DownloadScheduled", 9),
        ("DownloadScheduled", 9),  # triggered
        ("Downloading", 9),
        ("Downloaded", 9),
        ("SignatureVerified", 9),
        ("InstallScheduled", 9),
        ("InstallScheduled", 9),  # triggered
        ("Installing", 9),
        ("InstallRebooting", 9),
        ("Installed", 9),
    ]
    assert got == [IMAGE]


def test_a_new_signed_update_cancels_the_one_under_way(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    with HttpFileServer() as server:
        server.files["/new.bin"] = IMAGE
        station = station_with_data(csms, make_station, tmp_path)
        got, station.firmware_installer = recording_installer()
        trust(csms, maker)
        mark = csms.log.mark()
        later = clock.wall() + dt.timedelta(hours=1)
        assert signed_update(csms, 1, server.url("/old.bin"), maker, later) == "Accepted"
        wait_signed(csms, "DownloadScheduled", since=mark)
        assert signed_update(csms, 2, server.url("/new.bin"), maker, clock.wall()) == (
            "AcceptedCanceled"
        )
        wait_signed(csms, "Installed", since=mark)
        settled(station)
        # The first one's time comes and goes: it was cancelled.
        clock.advance(3600)
    assert [r.path for r in server.requests] == ["/new.bin"]
    assert got == [IMAGE]
    assert signed(csms, mark) == [
        ("DownloadScheduled", 1),
        ("Downloading", 2),
        ("Downloaded", 2),
        ("SignatureVerified", 2),
        ("Installing", 2),
        ("InstallRebooting", 2),
        ("Installed", 2),
    ]
    # Done and heard: the next one is plainly Accepted (the root outlived the reboot).
    assert signed_update(csms, 3, server.url("/new.bin"), maker, later) == "Accepted"


def test_while_installing_a_new_update_is_rejected(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    release = threading.Event()
    got: list[bytes] = []

    def slow(path: Path) -> bool:
        got.append(path.read_bytes())
        release.wait(30)
        return True

    try:
        with HttpFileServer() as server:
            server.files["/fw.bin"] = IMAGE
            station = station_with_data(csms, make_station, tmp_path)
            station.firmware_installer = slow
            trust(csms, maker)
            mark = csms.log.mark()
            assert signed_update(csms, 1, server.url("/fw.bin"), maker, clock.wall()) == (
                "Accepted"
            )
            wait_signed(csms, "Installing", since=mark)
            assert trigger_signed(csms) == {"status": "Installing", "requestId": 1}
            assert signed_update(csms, 2, server.url("/fw.bin"), maker, clock.wall()) == (
                "Rejected"
            )
            release.set()
            wait_signed(csms, "Installed", since=mark)
    finally:
        release.set()
    assert got == [IMAGE]
    assert {rid for _, rid in signed(csms, mark)} == {1}


def test_a_file_changed_before_its_installation_fails_verification(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    data = tmp_path / "data"
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = booted(csms, make_station, Internal={"DataDir": str(data)})
        got, station.firmware_installer = recording_installer()
        trust(csms, maker)
        mark = csms.log.mark()
        install_at = clock.wall() + dt.timedelta(minutes=10)
        status = signed_update(
            csms, 3, server.url("/fw.bin"), maker, clock.wall(), install_at=install_at
        )
        assert status == "Accepted"
        wait_signed(csms, "InstallScheduled", since=mark)
        (image,) = (data / "firmware").iterdir()
        image.write_bytes(b"something else entirely")
        clock.advance(600)
        wait_signed(csms, "InstallVerificationFailed", since=mark)
        event = wait_event(csms, "InvalidFirmwareSignature", since=mark)
        settled(station)
    assert "before installing" in event.payload["techInfo"]
    assert got == []
    assert [s for s, _ in signed(csms, mark)][-1] == "InstallVerificationFailed"
    assert "Installing" not in [s for s, _ in signed(csms, mark)]
    # Held for the check, let go after it; the file is gone.
    assert sorted(unavailable(csms, mark)) == [1, 2]
    assert list((data / "firmware").iterdir()) == []
    after = [
        e.status for e in log_of(station).all() if isinstance(e, ConnectorChanged) and e.evse == 1
    ]
    assert after[-1] == "Available"


def test_a_signed_download_that_fails(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    with HttpFileServer() as server:
        station = station_with_data(csms, make_station, tmp_path)
        trust(csms, maker)
        mark = csms.log.mark()
        url = server.url("/missing.bin")
        assert signed_update(csms, 12, url, maker, clock.wall(), retries=0) == "Accepted"
        wait_signed(csms, "DownloadFailed", since=mark)
        settled(station)
    assert signed(csms, mark) == [("Downloading", 12), ("DownloadFailed", 12)]


def test_the_install_schedule_survives_a_restart(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    maker = Manufacturer()
    data = str(tmp_path / "data")
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        first = booted(csms, make_station, Internal={"DataDir": data})
        trust(csms, maker)
        mark = csms.log.mark()
        install_at = clock.wall() + dt.timedelta(hours=1)
        signed_update(csms, 21, server.url("/fw.bin"), maker, clock.wall(), install_at=install_at)
        wait_signed(csms, "InstallScheduled", since=mark)
        first.stop()

        second = booted(csms, make_station, Internal={"DataDir": data})
        got, second.firmware_installer = recording_installer()
        assert trigger_signed(csms) == {"status": "InstallScheduled", "requestId": 21}
        clock.advance(3600)
        wait_signed(csms, "Installed", since=mark)
    assert got == [IMAGE]
    assert len(server.requests) == 1  # not fetched again


def test_extended_trigger_of_the_firmware_status_when_idle(
    any_csms: Any, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    station_with_data(any_csms, make_station, tmp_path)
    # Nothing under way: Idle, and no requestId.
    assert trigger_signed(any_csms) == {"status": "Idle"}
    # TriggerMessage keeps its own message.
    mark = any_csms.log.mark()
    request = {"requestedMessage": FSN}
    assert any_csms.call(CP, "TriggerMessage", request) == {"status": "Accepted"}
    assert any_csms.log.wait_call(FSN, CP, since=mark).payload == {"status": "Idle"}


def test_an_unsigned_update_reports_in_its_own_vocabulary_when_triggered(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    with HttpFileServer() as server:
        server.files["/fw.bin"] = IMAGE
        station = station_with_data(csms, make_station, tmp_path)
        station.firmware_installer = recording_installer()[1]
        server.release.clear()
        payload = {"location": server.url("/fw.bin"), "retrieveDate": ocpp_timestamp(clock.wall())}
        assert csms.call(CP, "UpdateFirmware", payload) == {}
        server.wait_requests(1)
        # The signed status of an UpdateFirmware: no requestId to give.
        assert trigger_signed(csms) == {"status": "Downloading"}
        server.release.set()
        settled(station)
    changes = [e for e in log_of(station).all() if isinstance(e, FirmwareStatusChanged)]
    assert all(e.request_id is None for e in changes)
