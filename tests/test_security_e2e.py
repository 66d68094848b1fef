"""The Security Whitepaper's certificate management and security events, over real websockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import LinkChanged
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of
from tests.pki import Ca

CP = "cp-test"
ROOT = "CentralSystemRootCertificate"


def booted(peer: Any, make_station: StationFactory, **sections: Any) -> Station:
    station = make_station(peer, **sections)
    answered(station, "StatusNotification", 3)
    return station


def install(peer: Any, pem: str, use: str = ROOT) -> str:
    return peer.call(CP, "InstallCertificate", {"certificateType": use, "certificate": pem})[
        "status"
    ]


def installed(peer: Any, use: str = ROOT) -> dict[str, Any]:
    return dict(peer.call(CP, "GetInstalledCertificateIds", {"certificateType": use}))


def security_event(peer: Any, kind: str, since: int = 0) -> Any:
    return peer.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "SecurityEventNotification"
            and e.payload["type"] == kind
        ),
        since=since,
    )


def test_tc_075_tc_076_a_root_is_installed_listed_and_deleted(
    any_csms: Any, make_station: StationFactory
) -> None:
    station = booted(any_csms, make_station)
    ca = Ca()
    assert installed(any_csms) == {"status": "NotFound"}
    assert install(any_csms, ca.pem) == "Accepted"
    assert install(any_csms, ca.pem) == "Accepted"  # the same one again: still one
    listed = installed(any_csms)
    assert listed["status"] == "Accepted"
    assert len(listed["certificateHashData"]) == 1
    hash_data = listed["certificateHashData"][0]
    assert int(hash_data["serialNumber"], 16) == ca.cert.serial_number
    # The link trusts it from the next connection on.
    assert station.ctx.tls.current.csms_roots == (ca.pem,)
    assert installed(any_csms, "ManufacturerRootCertificate") == {"status": "NotFound"}

    delete = {"certificateHashData": hash_data}
    assert any_csms.call(CP, "DeleteCertificate", delete) == {"status": "Accepted"}
    assert any_csms.call(CP, "DeleteCertificate", delete) == {"status": "NotFound"}
    assert installed(any_csms) == {"status": "NotFound"}
    assert station.ctx.tls.current.csms_roots == ()


def test_tc_078_what_is_not_a_root_is_rejected_and_reported(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station)
    mark = csms.log.mark()
    assert install(csms, "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n") == (
        "Rejected"
    )
    assert install(csms, Ca().client("not a CA").cert_pem) == "Rejected"
    assert installed(csms) == {"status": "NotFound"}
    # Each refusal is reported, after its answer is on the wire.
    answers = [
        e for e in csms.log.entries(mark) if e.kind == "result" and e.action == "InstallCertificate"
    ]
    events = [security_event(csms, "InvalidCentralSystemCertificate", since=a.seq) for a in answers]
    assert len({e.seq for e in events}) == 2
    assert all(a.seq < e.seq for a, e in zip(answers, events, strict=True))


def test_the_store_holds_no_more_roots_than_certificate_store_max_length(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station, Security={"CertificateStoreMaxLength": 1})
    assert install(csms, Ca("one").pem) == "Accepted"
    assert install(csms, Ca("two").pem, "ManufacturerRootCertificate") == "Rejected"


def test_tc_074_sign_certificate_and_certificate_signed(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station, Security={"CpoName": "Example CPO"})
    ca = Ca()
    install(csms, ca.pem)
    mark = csms.log.mark()
    trigger = {"requestedMessage": "SignChargePointCertificate"}
    assert csms.call(CP, "ExtendedTriggerMessage", trigger) == {"status": "Accepted"}
    request = csms.log.wait_call("SignCertificate", CP, since=mark)
    csr = x509.load_pem_x509_csr(request.payload["csr"].encode())
    assert csr.is_signature_valid
    subject = {a.oid: a.value for a in csr.subject}
    assert subject[NameOID.COMMON_NAME] == "CB-0001"  # the ChargeBoxSerialNumber
    assert subject[NameOID.ORGANIZATION_NAME] == "Example CPO"

    chain = ca.sign(request.payload["csr"])
    answer = csms.call(CP, "CertificateSigned", {"certificateChain": chain})
    assert answer == {"status": "Accepted"}
    tls = station.ctx.tls.current
    assert tls.client_chain == chain
    assert tls.client_key is not None
    key = serialization.load_pem_private_key(tls.client_key.encode(), password=None)
    assert key.public_key() == csr.public_key()
    # That request is answered: the same chain again has no request to match.
    assert csms.call(CP, "CertificateSigned", {"certificateChain": chain}) == {"status": "Rejected"}


def test_tc_077_a_certificate_for_another_key_is_rejected_and_reported(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = booted(csms, make_station)
    ca = Ca()
    install(csms, ca.pem)
    mark = csms.log.mark()
    csms.call(CP, "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    csms.log.wait_call("SignCertificate", CP, since=mark)
    stranger = ec.generate_private_key(ec.SECP256R1())
    from cryptography.x509 import CertificateSigningRequestBuilder

    other_csr = (
        CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CB-0001")]))
        .sign(stranger, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    answer = csms.call(CP, "CertificateSigned", {"certificateChain": ca.sign(other_csr)})
    assert answer == {"status": "Rejected"}
    event = security_event(csms, "InvalidChargePointCertificate", since=mark)
    (conf,) = [
        e for e in csms.log.entries(mark) if e.kind == "result" and e.action == "CertificateSigned"
    ]
    assert conf.seq < event.seq  # the answer first, then the event
    assert "key" in event.payload["techInfo"]
    assert station.ctx.tls.current.client_chain is None


def test_certificates_survive_a_restart(
    csms: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path)}
    first = booted(csms, make_station, Internal=data)
    ca = Ca()
    install(csms, ca.pem)
    first.stop()
    second = booted(csms, make_station, Internal=data)
    assert installed(csms)["status"] == "Accepted"
    assert second.ctx.tls.current.csms_roots == (ca.pem,)


def test_provisioning_files_are_imported_at_start(
    csms: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    ca = Ca()
    root_file = tmp_path / "csms-root.pem"
    root_file.write_text(ca.pem)
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "cp.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    from cryptography.x509 import CertificateSigningRequestBuilder

    csr = (
        CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CB-0001")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    cert_file = tmp_path / "cp.pem"
    cert_file.write_text(ca.sign(csr))
    station = booted(
        csms,
        make_station,
        Internal={
            "CentralSystemRootCertificateFile": str(root_file),
            "ChargePointCertificateFile": str(cert_file),
            "ChargePointKeyFile": str(key_file),
        },
    )
    tls = station.ctx.tls.current
    assert tls.csms_roots == (ca.pem,)
    assert tls.client_chain == cert_file.read_text()
    assert installed(csms)["status"] == "Accepted"


def test_extended_trigger_message_sends_what_trigger_message_does(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station)
    mark = csms.log.mark()
    trigger = {"requestedMessage": "StatusNotification", "connectorId": 2}
    assert csms.call(CP, "ExtendedTriggerMessage", trigger) == {"status": "Accepted"}
    status = csms.log.wait_call("StatusNotification", CP, since=mark)
    assert status.payload["connectorId"] == 2
    # Its FirmwareStatusNotification is the signed one (tests/test_signed_firmware_e2e.py).
    for requested, sent in (
        ("LogStatusNotification", "LogStatusNotification"),
        ("FirmwareStatusNotification", "SignedFirmwareStatusNotification"),
    ):
        mark = csms.log.mark()
        answer = csms.call(CP, "ExtendedTriggerMessage", {"requestedMessage": requested})
        assert answer == {"status": "Accepted"}
        assert csms.log.wait_call(sent, CP, since=mark).payload == {"status": "Idle"}


def test_a_changed_authorization_key_is_a_security_event(
    csms: DevCsms, make_station: StationFactory
) -> None:
    booted(csms, make_station)
    mark = csms.log.mark()
    change = {"key": "AuthorizationKey", "value": "0123456789abcdef0123"}
    assert csms.call(CP, "ChangeConfiguration", change)["status"] == "Accepted"
    event = security_event(csms, "ReconfigurationOfSecurityParameters", since=mark)
    assert event.payload["techInfo"] == "AuthorizationKey changed"


def test_a_reset_is_a_security_event(csms: DevCsms, make_station: StationFactory) -> None:
    booted(csms, make_station)
    mark = csms.log.mark()
    assert csms.call(CP, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    event = security_event(csms, "ResetOrReboot", since=mark)
    assert event.payload["techInfo"] == "Soft reset requested by the CSMS"
    # Stored before the reset and sent while still online: the boot comes after.
    boot = csms.log.wait_call("BootNotification", CP, since=mark)
    assert boot.seq > event.seq


def test_startup_of_the_device_comes_first_after_each_boot_only(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = booted(csms, make_station)
    (startup,) = csms.log.calls("SecurityEventNotification", CP)
    assert startup.payload["type"] == "StartupOfTheDevice"
    (boot,) = csms.log.calls("BootNotification", CP)
    first_status = csms.log.calls("StatusNotification", CP)[0]
    assert boot.seq < startup.seq < first_status.seq
    # A part restarted inside the run, or a new connection, is no start.
    mark = csms.log.mark()
    station.crash("registration")
    answered(station, "StatusNotification", 6)
    events = log_of(station).mark()
    station.disconnect()
    log_of(station).wait_for(lambda e: isinstance(e, LinkChanged) and not e.up, 5, events)
    clock.advance(2)  # RetryBackOffWaitMinimum
    answered(station, "StatusNotification", 9)
    assert csms.log.calls("SecurityEventNotification", CP, since=mark) == []
    # A reset is: a new tree boots, and says so.
    assert csms.call(CP, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    again = csms.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "SecurityEventNotification"
            and e.payload["type"] == "StartupOfTheDevice"
        ),
        since=mark,
    )
    assert again.seq > csms.log.calls("BootNotification", CP, since=mark)[0].seq


def test_a_csms_that_refuses_security_events_still_gets_the_statuses(
    csms: DevCsms, make_station: StationFactory
) -> None:
    from ocppstation.tools.csms import CallErrorReply

    csms.set_reply("SecurityEventNotification", CallErrorReply("NotImplemented", "no"))
    booted(csms, make_station)
    assert [e.payload["connectorId"] for e in csms.log.calls("StatusNotification", CP)] == [
        0,
        1,
        2,
    ]
