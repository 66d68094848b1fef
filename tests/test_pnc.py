"""ISO 15118 Plug & Charge over 1.6 DataTransfer: the pure rules, then end to end."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import TransactionStarted, V2GCertificateChanged
from ocppstation.actors.station import StationError
from ocppstation.hw.simulated import ContractIssuer
from ocppstation.protocol.v16 import plug_and_charge as pnc
from ocppstation.protocol.v16.certificates import parse_chain
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of, quiet, wait_status
from tests.pki import Ca

CP = "cp-test"
ON = {"ISO15118PnCEnabled": True, "ISO15118CertificateManagementEnabled": True}

# -- pure rules ------------------------------------------------------------------------


@given(st.integers(min_value=-5, max_value=10_000), st.integers(min_value=-3, max_value=20))
def test_sign_retries_double_from_the_minimum_and_stop_after_repeat_times(
    wait: int, times: int
) -> None:
    delays = pnc.sign_retry_delays(wait, times)
    if wait <= 0:
        assert delays == []
        return
    assert len(delays) == max(times, 0)
    assert all(b == 2 * a for a, b in pairwise(delays))
    assert not delays or delays[0] == wait


@given(
    st.dictionaries(st.text(max_size=3), st.floats(0, 10_000, allow_nan=False), max_size=6),
    st.floats(0, 10_000, allow_nan=False),
    st.integers(1, 5_000),
)
def test_ocsp_answers_are_renewed_before_they_turn_stale(
    fetched: dict[str, float], now: float, interval: int
) -> None:
    due, wait = pnc.ocsp_refresh(fetched, now, interval)
    if not fetched:
        assert (due, wait) == ([], None)
        return
    assert wait is not None and wait > 0
    for request, at in fetched.items():
        if request in due:
            # Due before it stops counting: from 90 % of its life (or a clock gone back).
            assert not 0 <= now - at < 0.9 * interval
        else:
            assert pnc.ocsp_fresh(at, now, interval)
            assert wait <= at + 0.9 * interval - now + 1e-6


def test_a_v2g_certificate_is_renewed_within_30_days_of_its_end() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert not pnc.v2g_renewal_due(now + timedelta(days=31), now)
    assert pnc.v2g_renewal_due(now + timedelta(days=30), now)
    assert pnc.v2g_renewal_due(now - timedelta(days=1), now)


statuses = st.sampled_from(
    ["Accepted", "Blocked", "ConcurrentTx", "Expired", "Invalid", "NoCredit", "Unknown"]
)
certificate_statuses = st.none() | st.sampled_from(
    ["Accepted", "CertificateRevoked", "CertificateExpired", "ContractCancelled"]
)


@given(statuses, certificate_statuses)
def test_a_contract_charges_only_when_token_and_certificate_are_accepted(
    status: str, certificate: str | None
) -> None:
    answer: dict[str, Any] = {"idTokenInfo": {"status": status}}
    if certificate is not None:
        answer["certificateStatus"] = certificate
    accepted, info = pnc.decide_authorize(answer)
    assert accepted == (status == "Accepted" and certificate in (None, "Accepted"))
    assert (info["status"] == "Accepted") == accepted
    assert info["status"] in {"Accepted", "Blocked", "ConcurrentTx", "Expired", "Invalid"}


@given(st.text(max_size=30))
def test_whatever_the_data_a_request_is_read_or_refused(data: str) -> None:
    for message_id in pnc.FROM_CSMS:
        try:
            pnc.read_request(message_id, data)
        except pnc.PncError:
            pass


def test_the_csr_subject_follows_libocpps_fallbacks() -> None:
    assert pnc.csr_subject("", "", "", "", "SN1") is None
    assert pnc.csr_subject("", "", "", "CPO", "SN1") == pnc.Subject("SN1", "CPO", "DE")
    assert pnc.csr_subject("CN", "Org", "NL", "CPO", "SN1") == pnc.Subject("CN", "Org", "NL")


def test_authorize_of_a_contract_is_a_valid_201_request() -> None:
    issuer = ContractIssuer()
    contract = issuer.contract("NL-ABC-C12345678")
    chain = parse_chain(contract.chain_pem)
    payload = pnc.authorize_request(
        pnc.Contract(contract.emaid, contract.chain_pem), chain, True, [issuer.root]
    )
    data = pnc.write_request("Authorize", payload)
    assert json.loads(data)["idToken"] == {"idToken": "NL-ABC-C12345678", "type": "eMAID"}
    [named] = payload["iso15118CertificateHashData"]
    assert int(named["serialNumber"], 16) == chain[0].serial_number


# -- end to end --------------------------------------------------------------------------


def pnc_station(make_station: StationFactory, csms: DevCsms, **keys: Any) -> Any:
    station = make_station(csms, PnC={**ON, **keys}, Security={"CpoName": "Example CPO"})
    answered(station, "StatusNotification", 3)
    return station


def transfer(csms: DevCsms, message_id: str, data: str) -> dict[str, Any]:
    payload = {"vendorId": pnc.VENDOR_ID, "messageId": message_id, "data": data}
    return csms.call(CP, "DataTransfer", payload)


def test_not_enabled_is_unknown_vendor(make_station: StationFactory, csms: DevCsms) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    request = {"requestedMessage": "SignV2GCertificate"}
    assert csms.pnc(CP, "TriggerMessage", request) == {"status": "UnknownVendorId"}


def test_roots_are_installed_listed_and_deleted(
    make_station: StationFactory, csms: DevCsms
) -> None:
    pnc_station(make_station, csms)
    v2g, mo = Ca("v2g"), Ca("mo")
    garbage = {"certificateType": "V2GRootCertificate", "certificate": "garbage"}
    assert csms.pnc(CP, "InstallCertificate", garbage)["data"] == {"status": "Rejected"}
    for kind, ca in (("V2GRootCertificate", v2g), ("MORootCertificate", mo)):
        answer = csms.pnc(
            CP, "InstallCertificate", {"certificateType": kind, "certificate": ca.pem}
        )
        assert answer == {"status": "Accepted", "data": {"status": "Accepted"}}
    listed = csms.pnc(CP, "GetInstalledCertificateIds", {})["data"]
    kinds = [c["certificateType"] for c in listed["certificateHashDataChain"]]
    assert kinds == ["V2GRootCertificate", "MORootCertificate"]
    only = csms.pnc(CP, "GetInstalledCertificateIds", {"certificateType": ["MORootCertificate"]})
    [entry] = only["data"]["certificateHashDataChain"]
    delete = {"certificateHashData": entry["certificateHashData"]}
    assert csms.pnc(CP, "DeleteCertificate", delete)["data"] == {"status": "Accepted"}
    assert csms.pnc(CP, "DeleteCertificate", delete)["data"] == {"status": "NotFound"}


def test_malformed_is_rejected_and_the_station_goes_on(
    make_station: StationFactory, csms: DevCsms
) -> None:
    pnc_station(make_station, csms)
    assert transfer(csms, "InstallCertificate", "not json")["status"] == "Rejected"
    assert transfer(csms, "InstallCertificate", '{"certificate": "x"}')["status"] == "Rejected"
    assert transfer(csms, "TriggerMessage", '{"requestedMessage": "Nope"}')["status"] == "Rejected"
    assert transfer(csms, "Other", "{}")["status"] == "UnknownMessageId"
    assert csms.pnc(CP, "GetInstalledCertificateIds", {})["data"] == {"status": "NotFound"}


def test_triggered_v2g_csr_is_signed_checked_and_retried(
    make_station: StationFactory, csms: DevCsms, clock: FakeClock
) -> None:
    station = pnc_station(
        make_station,
        csms,
        SeccLeafSubjectCommonName="DEPNX100001",
        SeccLeafSubjectCountry="NL",
        CertSigningWaitMinimum=30,
        CertSigningRepeatTimes=1,
    )
    v2g = Ca("v2g")
    install = {"certificateType": "V2GRootCertificate", "certificate": v2g.pem}
    assert csms.pnc(CP, "InstallCertificate", install)["data"] == {"status": "Accepted"}
    mark = csms.log.mark()
    trigger = {"requestedMessage": "SignV2GCertificate"}
    assert csms.pnc(CP, "TriggerMessage", trigger)["data"] == {"status": "Accepted"}
    sent = csms.log.wait_call("DataTransfer", CP, since=mark)
    assert sent.payload["messageId"] == "SignCertificate"
    request = json.loads(sent.payload["data"])
    assert request["certificateType"] == "V2GCertificate"
    csr = x509.load_pem_x509_csr(request["csr"].encode())
    assert csr.subject.rfc4514_string() == "C=NL,O=Example CPO,CN=DEPNX100001"

    # Not answered by a CertificateSigned: sent again after CertSigningWaitMinimum.
    quiet(station)
    mark = csms.log.mark()
    clock.advance(31)
    again = csms.log.wait_call("DataTransfer", CP, since=mark)
    assert again.payload["messageId"] == "SignCertificate"
    csr_pem = json.loads(again.payload["data"])["csr"]

    other = Ca("not ours").sign(csr_pem)
    signed = {"certificateChain": other, "certificateType": "V2GCertificate"}
    assert csms.pnc(CP, "CertificateSigned", signed)["data"] == {"status": "Rejected"}
    signed["certificateChain"] = v2g.sign(csr_pem)
    assert csms.pnc(CP, "CertificateSigned", signed)["data"] == {"status": "Accepted"}


def test_an_iso15118_ev_charges_with_its_emaid(make_station: StationFactory, csms: DevCsms) -> None:
    station = pnc_station(make_station, csms)
    contract = station.contract_issuer.contract("NL-ABC-C12345678")
    install = {
        "certificateType": "MORootCertificate",
        "certificate": station.contract_issuer.root_pem,
    }
    assert csms.pnc(CP, "InstallCertificate", install)["data"] == {"status": "Accepted"}
    mark = csms.log.mark()
    station.plug(1, contract=contract)
    sent = csms.log.wait_call("DataTransfer", CP, since=mark)
    assert sent.payload["messageId"] == "Authorize"
    request = json.loads(sent.payload["data"])
    assert request["idToken"] == {"idToken": "NL-ABC-C12345678", "type": "eMAID"}
    assert "certificate" in request
    started = csms.log.wait_call("StartTransaction", CP, since=mark)
    assert started.payload["idTag"] == "NL-ABC-C12345678"
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)


def test_a_revoked_contract_does_not_charge(make_station: StationFactory, csms: DevCsms) -> None:
    station = pnc_station(make_station, csms)
    csms.contract_status["NL-ABC-C00000001"] = "CertificateRevoked"
    mark = csms.log.mark()
    station.plug(1, contract=station.contract_issuer.contract("NL-ABC-C00000001"))
    csms.log.wait_call("DataTransfer", CP, since=mark)
    answered(station, "DataTransfer")
    wait_status(station, 1, "Preparing")
    quiet(station)
    assert not csms.log.calls("StartTransaction", CP)


def test_offline_a_contract_of_an_installed_mo_root_is_accepted(
    make_station: StationFactory, csms: DevCsms, clock: FakeClock
) -> None:
    from ocppstation.tools.peer import NO_REPLY

    station = pnc_station(make_station, csms, ContractValidationOffline=True)
    root = station.contract_issuer.root_pem
    install = {"certificateType": "MORootCertificate", "certificate": root}
    assert csms.pnc(CP, "InstallCertificate", install)["data"] == {"status": "Accepted"}
    csms.set_reply("DataTransfer", NO_REPLY)
    mark = csms.log.mark()
    station.plug(1, contract=station.contract_issuer.contract("NL-ABC-C00000002"))
    csms.log.wait_call("DataTransfer", CP, since=mark)
    csms.set_reply("DataTransfer", None)
    # Past CallTimeout (10 s), a second at a time: the call's timer is armed
    # by rpc as it sends, which the CSMS may see first.
    for _ in range(30):
        clock.advance(1)
        if csms.log.calls("StartTransaction", CP):
            break
    started = csms.log.wait_call("StartTransaction", CP, since=mark)
    assert started.payload["idTag"] == "NL-ABC-C00000002"


def test_console_pnc_plugs_an_ev_with_a_contract(
    make_station: StationFactory, csms: DevCsms
) -> None:
    from ocppstation.tools.console import Console

    station = pnc_station(make_station, csms)
    console = Console(station)
    mark = csms.log.mark()
    assert console.handle("pnc 1 NL-ABC-C00000003") == "ok"
    started = csms.log.wait_call("StartTransaction", CP, since=mark)
    assert started.payload["idTag"] == "NL-ABC-C00000003"


def test_against_the_ocpp_rpc_strict_peer(make_station: StationFactory) -> None:
    """Install, trigger and Authorize from an independent CSMS that checks every frame."""
    from tests.peers.rpc_peer import OcppRpcPeer, unavailable_reason

    if why := unavailable_reason():
        pytest.skip(why)
    peer = OcppRpcPeer(heartbeat_interval=60)
    peer.start()
    try:
        station = pnc_station(make_station, peer)
        authorized = pnc.write_answer(
            "Authorize",
            {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "Accepted"},
        )
        peer.set_reply("DataTransfer", {"status": "Accepted", "data": authorized})
        root = station.contract_issuer.root_pem
        install = {"certificateType": "MORootCertificate", "certificate": root}
        answer = peer.call(
            CP,
            "DataTransfer",
            {
                "vendorId": pnc.VENDOR_ID,
                "messageId": "InstallCertificate",
                "data": pnc.dumps(install),
            },
        )
        assert json.loads(answer["data"]) == {"status": "Accepted"}
        bad = {"vendorId": pnc.VENDOR_ID, "messageId": "InstallCertificate", "data": "{"}
        assert peer.call(CP, "DataTransfer", bad)["status"] == "Rejected"
        mark = peer.log.mark()
        station.plug(1, contract=station.contract_issuer.contract("NL-ABC-C00000004"))
        started = peer.log.wait_call("StartTransaction", CP, since=mark)
        assert started.payload["idTag"] == "NL-ABC-C00000004"
    finally:
        peer.stop()
    assert peer.validation_failures == [], peer.validation_failures


def sent_of(csms: DevCsms, message_id: str) -> list[Any]:
    return [c for c in csms.log.calls("DataTransfer", CP) if c.payload["messageId"] == message_id]


def test_the_iso15118_stack_relays_and_ocsp_answers_are_cached(
    make_station: StationFactory, csms: DevCsms, clock: FakeClock
) -> None:
    station = pnc_station(make_station, csms, OcspRequestInterval=86400)
    request = {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install"}
    answer = station.iso15118("Get15118EVCertificate", {**request, "exiRequest": "AAEC"})
    assert answer == {"status": "Accepted", "exiResponse": "AAEC"}

    issuer = ContractIssuer()
    leaf = parse_chain(issuer.contract("NL-ABC-C00000005").chain_pem)[0]
    ocsp = {"ocspRequestData": pnc.ocsp_request_data(leaf, issuer.root)}
    assert station.iso15118("GetCertificateStatus", ocsp)["ocspResult"] == "MA=="
    assert station.iso15118("GetCertificateStatus", ocsp)["status"] == "Accepted"
    asked = sent_of(csms, "GetCertificateStatus")
    assert len(asked) == 1  # the second came from the cache
    # Renewed before it turns stale (at 90 % of OcspRequestInterval), unasked.
    mark = csms.log.mark()
    clock.advance(0.9 * 86400 + 1)
    csms.log.wait_call("DataTransfer", CP, since=mark)
    quiet(station)
    clock.advance(0.1 * 86400)
    station.iso15118("GetCertificateStatus", ocsp)  # the renewed answer, still fresh
    assert len(sent_of(csms, "GetCertificateStatus")) == 2

    with pytest.raises(StationError):
        station.iso15118("GetCertificateStatus", {"ocspRequestData": {}})


def test_dev_csms_pnc_command_and_a_disabled_station_ignores_the_contract(
    make_station: StationFactory, csms: DevCsms
) -> None:
    from ocppstation.tools.csms import _command

    station = make_station(csms, PnC={"ISO15118CertificateManagementEnabled": True})
    answered(station, "StatusNotification", 3)
    answer = _command(csms, f"pnc {CP} GetInstalledCertificateIds {{}}")
    assert answer == 'ok {"status":"UnknownVendorId"}'
    station.plug(1, contract=station.contract_issuer.contract("NL-ABC-C00000006"))
    wait_status(station, 1, "Preparing")
    quiet(station)
    assert not sent_of(csms, "Authorize")


def test_dev_csms_with_a_v2g_signer_completes_the_signing_round(
    make_station: StationFactory, csms: DevCsms
) -> None:
    pnc_station(make_station, csms)
    v2g = Ca("v2g")
    install = {"certificateType": "V2GRootCertificate", "certificate": v2g.pem}
    assert csms.pnc(CP, "InstallCertificate", install)["data"] == {"status": "Accepted"}
    csms.v2g_signer = v2g.sign
    mark = csms.log.mark()
    trigger = {"requestedMessage": "SignV2GCertificate"}
    assert csms.pnc(CP, "TriggerMessage", trigger)["data"] == {"status": "Accepted"}
    signed = csms.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "DataTransfer"
            and e.payload.get("messageId") == "CertificateSigned"
        ),
        since=mark,
        timeout=5,
    )
    reply = csms.log.wait_for(
        lambda e: e.kind == "result" and e.unique_id == signed.unique_id,
        since=signed.seq,
        timeout=5,
    )
    assert json.loads(reply.payload["data"]) == {"status": "Accepted"}


def test_the_v2g_certificate_taken_goes_to_the_embedders_iso15118_stack(
    make_station: StationFactory, csms: DevCsms, caplog: pytest.LogCaptureFixture
) -> None:
    station = pnc_station(make_station, csms)
    assert station.v2g_credentials() is None
    v2g = Ca("v2g")
    install = {"certificateType": "V2GRootCertificate", "certificate": v2g.pem}
    assert csms.pnc(CP, "InstallCertificate", install)["data"] == {"status": "Accepted"}
    csms.v2g_signer = v2g.sign
    mark = log_of(station).mark()
    trigger = {"requestedMessage": "SignV2GCertificate"}
    with caplog.at_level("DEBUG"):
        assert csms.pnc(CP, "TriggerMessage", trigger)["data"] == {"status": "Accepted"}
        changed = log_of(station).wait_for(
            lambda e: isinstance(e, V2GCertificateChanged), 5, since=mark
        )
    # The CSMS's round ends with the station's answer to its CertificateSigned.
    signed = csms.log.wait_for(
        lambda e: e.kind == "call" and e.payload.get("messageId") == "CertificateSigned",
        timeout=5,
    )
    csms.log.wait_for(lambda e: e.kind == "result" and e.unique_id == signed.unique_id, timeout=5)
    credentials = station.v2g_credentials()
    assert credentials is not None
    chain_pem, key_pem = credentials
    assert chain_pem == changed.chain_pem
    leaf = parse_chain(chain_pem)[0]
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    # The key is the one the certificate was signed for, and no log line holds it.
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()
    assert leaf.issuer == parse_chain(v2g.pem)[0].subject
    body = key_pem.splitlines()[1]
    assert body not in caplog.text
    assert "PRIVATE KEY" not in caplog.text


def test_ocsp_answers_outlive_a_restart_in_1_6_too(
    make_station: StationFactory, csms: DevCsms, tmp_path: Any
) -> None:
    from ocppstation.protocol.ev_needs import EvNeeds

    data = {"Internal": {"DataDir": str(tmp_path)}}
    sections = {"PnC": ON, "Security": {"CpoName": "Example CPO"}, **data}
    station = make_station(csms, **sections)
    answered(station, "StatusNotification", 3)
    issuer = ContractIssuer()
    leaf = parse_chain(issuer.contract("NL-ABC-C00000007").chain_pem)[0]
    ocsp = {"ocspRequestData": pnc.ocsp_request_data(leaf, issuer.root)}
    assert station.iso15118("GetCertificateStatus", ocsp)["status"] == "Accepted"
    station.stop()
    station = make_station(csms, cp_id=CP, **sections)
    answered(station, "StatusNotification", 3)
    assert station.iso15118("GetCertificateStatus", ocsp)["status"] == "Accepted"
    assert len(sent_of(csms, "GetCertificateStatus")) == 1
    # 1.6 has no message for an EV's charging needs: nothing is sent, the EV plugs.
    mark = csms.log.mark()
    station.plug(1, needs=EvNeeds())
    wait_status(station, 1, "Preparing")
    quiet(station)
    calls = {e.action for e in csms.log.entries(mark) if e.kind == "call"}
    assert calls <= {"StatusNotification"}
