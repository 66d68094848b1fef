"""OCPP 2.0.1 M ISO 15118 certificate management and Authorize of a contract,
over real websockets against the dev CSMS and ocpp-rpc in strict mode."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.station import Station
from ocppstation.hw.simulated import ContractIssuer
from ocppstation.protocol.v16 import plug_and_charge as pnc
from ocppstation.protocol.v16.certificates import parse_chain
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, quiet, wait_status
from tests.pki import NOT_BEFORE, Ca
from tests.test_v201_e2e import CP, any_csms201, csms201, events, station201
from tests.test_v201_security import ids, install, security_event

__all__ = ["any_csms201", "csms201"]  # the 2.0.1 peers, as fixtures here

PNC_ON = {"ISO15118PnCEnabled": True, "CertSigningWaitMinimum": 60, "CertSigningRepeatTimes": 2}
SECURITY = {"CpoName": "Example CPO"}


def pnc201(peer: Any, make_station: StationFactory, **sections: Any) -> Station:
    pnc_keys = {**PNC_ON, **sections.pop("PnC", {})}
    return station201(peer, make_station, PnC=pnc_keys, Security=SECURITY, **sections)


def test_an_ev_with_a_contract_is_authorized_by_its_emaid_and_charges(
    any_csms201: Any, make_station: StationFactory
) -> None:
    station = pnc201(any_csms201, make_station)
    issuer = station.contract_issuer
    assert install(any_csms201, issuer.root_pem, "MORootCertificate") == "Accepted"
    mark = any_csms201.log.mark()
    contract = issuer.contract("NL-ABC-C20100001")
    station.plug(1, contract=contract)
    request = any_csms201.log.wait_call("Authorize", CP, since=mark).payload
    assert request["idToken"] == {"idToken": "NL-ABC-C20100001", "type": "eMAID"}
    assert request["certificate"] == contract.chain_pem
    [named] = request["iso15118CertificateHashData"]
    leaf = parse_chain(contract.chain_pem)[0]
    assert int(named["serialNumber"], 16) == leaf.serial_number
    any_csms201.wait_for(
        lambda e: any(
            p["eventType"] == "Started" or "idToken" in p for p in events(any_csms201, mark)
        ),
        timeout=5,
    )
    tokens = [p["idToken"] for p in events(any_csms201, mark) if "idToken" in p]
    assert tokens[0] == {"idToken": "NL-ABC-C20100001", "type": "eMAID"}


def test_a_revoked_contract_does_not_charge(csms201: DevCsms, make_station: StationFactory) -> None:
    station = pnc201(csms201, make_station)
    csms201.contract_status["NL-ABC-C20100002"] = "CertificateRevoked"
    mark = csms201.log.mark()
    station.plug(1, contract=station.contract_issuer.contract("NL-ABC-C20100002"))
    csms201.log.wait_call("Authorize", CP, since=mark)
    answered(station, "Authorize")
    wait_status(station, 1, "Preparing")
    quiet(station)
    assert not [p for p in events(csms201, mark) if "idToken" in p]


def test_pnc_off_no_contract_is_read(csms201: DevCsms, make_station: StationFactory) -> None:
    station = pnc201(csms201, make_station, PnC={"ISO15118PnCEnabled": False})
    mark = csms201.log.mark()
    station.plug(1, contract=station.contract_issuer.contract("NL-ABC-C20100003"))
    wait_status(station, 1, "Preparing")
    quiet(station)
    assert not csms201.log.calls("Authorize", CP)
    trigger = {"requestedMessage": "SignV2GCertificate"}
    assert csms201.call(CP, "TriggerMessage", trigger) == {"status": "Rejected"}
    assert not [e for e in csms201.log.entries(mark) if e.action == "SignCertificate"]


def test_get_15118_ev_certificate_and_ocsp_are_relayed_and_cached_across_a_restart(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Any
) -> None:
    data = {"Internal": {"DataDir": str(tmp_path)}}
    station = pnc201(csms201, make_station, PnC={"OcspRequestInterval": 86400}, **data)
    for action in ("Install", "Update"):
        request = {
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": action,
            "exiRequest": "AAEC",
        }
        mark = csms201.log.mark()
        answer = station.iso15118("Get15118EVCertificate", request)
        assert answer == {"status": "Accepted", "exiResponse": "AAEC"}
        assert csms201.log.wait_call("Get15118EVCertificate", CP, since=mark).payload == request

    issuer = ContractIssuer()
    leaf = parse_chain(issuer.contract("NL-ABC-C20100004").chain_pem)[0]
    ocsp = {"ocspRequestData": pnc.ocsp_request_data(leaf, issuer.root)}
    assert station.iso15118("GetCertificateStatus", ocsp)["ocspResult"] == "MA=="
    assert len(csms201.log.calls("GetCertificateStatus", CP)) == 1
    station.stop()

    # Kept in the database: a restarted station answers from it.
    station = pnc201(csms201, make_station, cp_id=CP, PnC={"OcspRequestInterval": 86400}, **data)
    assert station.iso15118("GetCertificateStatus", ocsp)["status"] == "Accepted"
    assert len(csms201.log.calls("GetCertificateStatus", CP)) == 1
    # Renewed before it turns stale, unasked.
    mark = csms201.log.mark()
    clock.advance(0.9 * 86400 + 1)
    renewal = csms201.log.wait_call("GetCertificateStatus", CP, since=mark)
    assert renewal.payload == ocsp
    quiet(station)
    clock.advance(0.1 * 86400)
    assert station.iso15118("GetCertificateStatus", ocsp)["status"] == "Accepted"
    assert len(csms201.log.calls("GetCertificateStatus", CP)) == 2


def test_triggered_v2g_sign_certificate_checked_signed_listed_and_retried(
    any_csms201: Any, make_station: StationFactory, clock: FakeClock
) -> None:
    station = pnc201(any_csms201, make_station)
    v2g = Ca("v2g")
    mark = any_csms201.log.mark()
    trigger = {"requestedMessage": "SignV2GCertificate"}
    assert any_csms201.call(CP, "TriggerMessage", trigger) == {"status": "Accepted"}
    request = any_csms201.log.wait_call("SignCertificate", CP, since=mark)
    assert request.payload["certificateType"] == "V2GCertificate"
    csr = x509.load_pem_x509_csr(request.payload["csr"].encode())
    assert csr.is_signature_valid
    org = csr.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    assert org[0].value == "Example CPO"

    # Unanswered: sent again after CertSigningWaitMinimum.
    quiet(station)
    mark = any_csms201.log.mark()
    clock.advance(61)
    again = any_csms201.log.wait_call("SignCertificate", CP, since=mark)
    assert again.payload["certificateType"] == "V2GCertificate"
    quiet(station)

    chain = v2g.sign(again.payload["csr"])
    signed = {"certificateChain": chain, "certificateType": "V2GCertificate"}
    mark = any_csms201.log.mark()
    # No V2G root installed: nothing to check it against.
    assert any_csms201.call(CP, "CertificateSigned", signed) == {"status": "Rejected"}
    security_event(any_csms201, "InvalidChargingStationCertificate", since=mark)
    assert install(any_csms201, v2g.pem, "V2GRootCertificate") == "Accepted"
    # Another key's certificate is not ours.
    other = {**signed, "certificateChain": v2g.client("someone").cert_pem}
    assert any_csms201.call(CP, "CertificateSigned", other) == {"status": "Rejected"}
    assert any_csms201.call(CP, "CertificateSigned", signed) == {"status": "Accepted"}
    assert station.ctx.tls.current.client_chain != chain  # the link's certificate is not it

    [listed] = ids(any_csms201, "V2GCertificateChain")["certificateHashDataChain"]
    everything = ids(any_csms201)["certificateHashDataChain"]
    assert [c["certificateType"] for c in everything] == [
        "V2GRootCertificate",
        "V2GCertificateChain",
    ]
    leaf = parse_chain(chain)[0]
    assert listed["certificateType"] == "V2GCertificateChain"
    assert int(listed["certificateHashData"]["serialNumber"], 16) == leaf.serial_number
    # Taken: no more retries.
    mark = any_csms201.log.mark()
    clock.advance(300)
    quiet(station)
    assert not [e for e in any_csms201.log.entries(mark) if e.action == "SignCertificate"]


def test_garbage_for_every_root_type_is_rejected(
    any_csms201: Any, make_station: StationFactory
) -> None:
    pnc201(any_csms201, make_station)
    for use in (
        "V2GRootCertificate",
        "MORootCertificate",
        "CSMSRootCertificate",
        "ManufacturerRootCertificate",
    ):
        assert install(any_csms201, "garbage", use) == "Rejected"
        assert install(any_csms201, Ca(use).pem, use) == "Accepted"
    listed = ids(any_csms201)["certificateHashDataChain"]
    assert len(listed) == 4


def _signed_until(ca: Ca, csr_pem: str, until: datetime) -> str:
    """A V2G CA's answer to `csr_pem`, valid until `until`."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    cert = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.cert.subject)
        .public_key(csr.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca._key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def test_a_v2g_certificate_near_its_end_is_renewed_unasked(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = pnc201(csms201, make_station)
    v2g = Ca("v2g")
    assert install(csms201, v2g.pem, "V2GRootCertificate") == "Accepted"
    mark = csms201.log.mark()
    trigger = {"requestedMessage": "SignV2GCertificate"}
    assert csms201.call(CP, "TriggerMessage", trigger) == {"status": "Accepted"}
    request = csms201.log.wait_call("SignCertificate", CP, since=mark)
    quiet(station)
    # Valid for 40 days: no renewal at the next check.
    chain = _signed_until(v2g, request.payload["csr"], clock.wall() + timedelta(days=40))
    signed = {"certificateChain": chain, "certificateType": "V2GCertificate"}
    assert csms201.call(CP, "CertificateSigned", signed) == {"status": "Accepted"}
    mark = csms201.log.mark()
    clock.advance(12 * 3600 + 1)
    quiet(station)
    assert not [e for e in csms201.log.entries(mark) if e.action == "SignCertificate"]
    # Eleven days on, it ends within 30: the next check asks for a new one.
    clock.advance(11 * 86400)
    renewal = csms201.log.wait_call("SignCertificate", CP, since=mark)
    assert renewal.payload["certificateType"] == "V2GCertificate"


def test_unanswered_a_contract_of_an_installed_mo_root_is_accepted_offline(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    from ocppstation.tools.peer import NO_REPLY

    station = pnc201(csms201, make_station, PnC={"ContractValidationOffline": True})
    issuer = station.contract_issuer
    assert install(csms201, issuer.root_pem, "MORootCertificate") == "Accepted"
    csms201.set_reply("Authorize", NO_REPLY)
    mark = csms201.log.mark()
    station.plug(1, contract=issuer.contract("NL-ABC-C20100005"))
    csms201.log.wait_call("Authorize", CP, since=mark)
    csms201.set_reply("Authorize", None)

    def token_events() -> list[dict[str, Any]]:
        return [p for p in events(csms201, mark) if "idToken" in p]

    # Past the call's timeout, a second at a time (its timer is armed as it is sent).
    for _ in range(90):
        clock.advance(1)
        if token_events():
            break
    csms201.wait_for(lambda _: bool(token_events()), timeout=5)
    assert token_events()[0]["idToken"] == {"idToken": "NL-ABC-C20100005", "type": "eMAID"}


def test_dev_csms_with_a_v2g_signer_completes_the_round(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = pnc201(csms201, make_station)
    v2g = Ca("v2g")
    assert install(csms201, v2g.pem, "V2GRootCertificate") == "Accepted"
    csms201.v2g_signer = v2g.sign
    mark = csms201.log.mark()
    trigger = {"requestedMessage": "SignV2GCertificate"}
    assert csms201.call(CP, "TriggerMessage", trigger) == {"status": "Accepted"}
    signed = csms201.log.wait_for(
        lambda e: e.kind == "call" and e.action == "CertificateSigned", since=mark, timeout=5
    )
    reply = csms201.log.wait_for(
        lambda e: e.kind == "result" and e.unique_id == signed.unique_id,
        since=signed.seq,
        timeout=5,
    )
    assert reply.payload == {"status": "Accepted"}
    [listed] = ids(csms201, "V2GCertificateChain")["certificateHashDataChain"]
    assert listed["certificateType"] == "V2GCertificateChain"
    # The new chain's OCSP status is asked for, and kept for the ISO 15118 stack.
    asked = csms201.log.wait_call("GetCertificateStatus", CP, since=signed.seq)
    data = asked.payload["ocspRequestData"]
    assert data["serialNumber"] == listed["certificateHashData"]["serialNumber"]
    quiet(station)
    assert station.iso15118("GetCertificateStatus", asked.payload)["status"] == "Accepted"
    assert len(csms201.log.calls("GetCertificateStatus", CP)) == 1
