"""OCPP 2.0.1 A/M certificate management over real websockets, against the
dev CSMS and ocpp-rpc in strict mode (every frame checked against the 2.0.1
schemas)."""

from __future__ import annotations

from typing import Any

from cryptography import x509

from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory
from tests.pki import Ca
from tests.test_v201_e2e import CP, any_csms201, csms201, station201

__all__ = ["any_csms201", "csms201"]  # the 2.0.1 peers, as fixtures here

ROOT = "CSMSRootCertificate"


def install(peer: Any, pem: str, use: str = ROOT) -> str:
    answer = peer.call(CP, "InstallCertificate", {"certificateType": use, "certificate": pem})
    return str(answer["status"])


def ids(peer: Any, *types: str) -> dict[str, Any]:
    payload = {"certificateType": list(types)} if types else {}
    return dict(peer.call(CP, "GetInstalledCertificateIds", payload))


def security_event(peer: Any, kind: str, since: int = 0) -> Any:
    return peer.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "SecurityEventNotification"
            and e.payload["type"] == kind
        ),
        since=since,
        timeout=5,
    )


def test_a05_m03_m04_roots_are_installed_listed_by_type_and_deleted(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station)
    csms_root, maker, v2g, mo = Ca("csms"), Ca("maker"), Ca("v2g"), Ca("mo")
    assert ids(any_csms201) == {"status": "NotFound"}
    assert install(any_csms201, csms_root.pem) == "Accepted"
    assert install(any_csms201, csms_root.pem) == "Accepted"  # once is enough
    assert install(any_csms201, maker.pem, "ManufacturerRootCertificate") == "Accepted"
    # ISO 15118's roots share the store; garbage is refused.
    assert install(any_csms201, "garbage", "V2GRootCertificate") == "Rejected"
    assert install(any_csms201, v2g.pem, "V2GRootCertificate") == "Accepted"
    # The link trusts the CSMS root only.
    assert station.ctx.tls.current.csms_roots == (csms_root.pem,)

    listed = ids(any_csms201)
    assert listed["status"] == "Accepted"
    kinds = [c["certificateType"] for c in listed["certificateHashDataChain"]]
    assert kinds == [ROOT, "ManufacturerRootCertificate", "V2GRootCertificate"]
    only = ids(any_csms201, ROOT)["certificateHashDataChain"]
    assert [c["certificateType"] for c in only] == [ROOT]
    hash_data = only[0]["certificateHashData"]
    assert int(hash_data["serialNumber"], 16) == csms_root.cert.serial_number
    assert ids(any_csms201, "MORootCertificate") == {"status": "NotFound"}
    assert install(any_csms201, mo.pem, "MORootCertificate") == "Accepted"
    [mo_listed] = ids(any_csms201, "MORootCertificate")["certificateHashDataChain"]
    mo_delete = {"certificateHashData": mo_listed["certificateHashData"]}
    assert any_csms201.call(CP, "DeleteCertificate", mo_delete) == {"status": "Accepted"}
    assert ids(any_csms201, "MORootCertificate") == {"status": "NotFound"}

    delete = {"certificateHashData": hash_data}
    assert any_csms201.call(CP, "DeleteCertificate", delete) == {"status": "Accepted"}
    assert any_csms201.call(CP, "DeleteCertificate", delete) == {"status": "NotFound"}
    assert station.ctx.tls.current.csms_roots == ()
    kinds = [c["certificateType"] for c in ids(any_csms201)["certificateHashDataChain"]]
    assert kinds == ["ManufacturerRootCertificate", "V2GRootCertificate"]


def test_a05_what_is_not_a_root_is_rejected_and_reported_after_the_answer(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station201(csms201, make_station)
    mark = csms201.log.mark()
    assert install(csms201, Ca().client("not a CA").cert_pem) == "Rejected"
    [answer] = [
        e
        for e in csms201.log.entries(mark)
        if e.kind == "result" and e.action == "InstallCertificate"
    ]
    event = security_event(csms201, "InvalidCsmsCertificate", since=answer.seq)
    assert answer.seq < event.seq


def test_a02_a03_triggered_sign_certificate_and_certificate_signed(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = station201(any_csms201, make_station, Security={"CpoName": "Example CPO"})
    ca = Ca()
    assert install(any_csms201, ca.pem) == "Accepted"
    mark = any_csms201.log.mark()
    trigger = {"requestedMessage": "SignChargingStationCertificate"}
    assert any_csms201.call(CP, "TriggerMessage", trigger) == {"status": "Accepted"}
    request = any_csms201.log.wait_call("SignCertificate", CP, since=mark)
    assert request.payload["certificateType"] == "ChargingStationCertificate"
    csr = x509.load_pem_x509_csr(request.payload["csr"].encode())
    assert csr.is_signature_valid

    # A certificate for another key is not ours.
    other = ca.client("someone else").cert_pem
    mark = any_csms201.log.mark()
    assert any_csms201.call(CP, "CertificateSigned", {"certificateChain": other}) == {
        "status": "Rejected"
    }
    security_event(any_csms201, "InvalidChargingStationCertificate", since=mark)

    chain = ca.sign(request.payload["csr"])
    v2g = {"certificateChain": chain, "certificateType": "V2GCertificate"}
    assert any_csms201.call(CP, "CertificateSigned", v2g) == {"status": "Rejected"}
    signed = {"certificateChain": chain, "certificateType": "ChargingStationCertificate"}
    assert any_csms201.call(CP, "CertificateSigned", signed) == {"status": "Accepted"}
    assert station.ctx.tls.current.client_chain == chain

    # M04.FR.06: our own certificate is not the CSMS's to delete.
    from ocppstation.protocol.v16.certificates import hash_data, parse_chain

    own = hash_data(parse_chain(chain)[0], ca.cert).to_json()
    assert any_csms201.call(CP, "DeleteCertificate", {"certificateHashData": own}) == {
        "status": "Failed"
    }
    assert station.ctx.tls.current.client_chain == chain


def test_certificates_are_kept_in_the_database(
    csms201: DevCsms, make_station: StationFactory, tmp_path: Any
) -> None:
    data = {"Internal": {"DataDir": str(tmp_path)}}
    station = station201(csms201, make_station, **data)
    ca = Ca()
    assert install(csms201, ca.pem, "ManufacturerRootCertificate") == "Accepted"
    station.stop()
    station201(csms201, make_station, cp_id=CP, **data)
    [entry] = ids(csms201, "ManufacturerRootCertificate")["certificateHashDataChain"]
    assert int(entry["certificateHashData"]["serialNumber"], 16) == ca.cert.serial_number
