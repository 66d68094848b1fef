"""ISO 15118 Plug & Charge over OCPP 1.6 DataTransfer (OCA application note), without I/O.

Each message is a DataTransfer of vendor `org.openchargealliance.iso15118pnc`
whose messageId is a 2.0.1 action and whose `data` is the JSON of that
2.0.1 message. Everything that goes in or out is checked against the `ocpp`
package's 2.0.1 schema, both ways: a CSMS's malformed request is a
`PncError` (the station answers DataTransfer Rejected), and the station
never sends what the CSMS's own schema would refuse.

The decisions are pure too: which store a root goes to, the V2G CSR's
subject (libocpp's fallbacks), when an unanswered SignCertificate is sent
again, the Authorize of a contract and what its answer means for the 1.6
transaction, and how long an OCSP answer is kept and when it is renewed.
The same 2.0.1 payloads go out directly in 2.0.1 (actors/v201/iso15118.py),
so what is decided here is decided once for both versions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID
from ocpp.v201 import call
from ocpp.v201.datatypes import IdTokenType, OCSPRequestDataType
from ocpp.v201.enums import HashAlgorithmEnumType, IdTokenEnumType

from ocppstation.protocol.errors import OcppError, OcppVersion
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v16.certificates import CertificateUse, HashData, hash_data, signed_by
from ocppstation.protocol.validation import Validator

__all__ = [
    "FROM_CSMS",
    "FROM_STATION",
    "INSTALL_USES",
    "LISTED_USES",
    "RELAYED",
    "VENDOR_ID",
    "Contract",
    "PncError",
    "Subject",
    "authorize_request",
    "chain_ocsp_requests",
    "csr_subject",
    "decide_authorize",
    "dumps",
    "ocsp_fresh",
    "ocsp_refresh",
    "ocsp_request_data",
    "read_answer",
    "read_request",
    "sign_retry_delays",
    "v2g_renewal_due",
    "write_answer",
    "write_request",
]

VENDOR_ID = "org.openchargealliance.iso15118pnc"
# The messages a CSMS sends (libocpp's data_transfer_pnc_callbacks) and the station's own.
FROM_CSMS = (
    "TriggerMessage",
    "CertificateSigned",
    "InstallCertificate",
    "DeleteCertificate",
    "GetInstalledCertificateIds",
)
FROM_STATION = ("Authorize", "SignCertificate", "Get15118EVCertificate", "GetCertificateStatus")
# What the station relays for its ISO 15118 stack (`Station.iso15118`).
RELAYED = ("Get15118EVCertificate", "GetCertificateStatus")

# InstallCertificateUseEnumType -> the use it is stored under (1.6's names where
# 1.6 has the type, so the Security Whitepaper's messages see the same roots).
INSTALL_USES: Mapping[str, str] = {
    "V2GRootCertificate": CertificateUse.V2G_ROOT,
    "MORootCertificate": CertificateUse.MO_ROOT,
    "CSMSRootCertificate": CertificateUse.CENTRAL_SYSTEM_ROOT,
    "ManufacturerRootCertificate": CertificateUse.MANUFACTURER_ROOT,
}
# GetCertificateIdUseEnumType values listed, in this order, when none is named.
# V2GCertificateChain is not among them: the station's own chain is no root.
LISTED_USES: Mapping[str, str] = INSTALL_USES

_VALIDATOR = Validator(OcppVersion.V201)
# 2.0.1's AuthorizationStatus -> 1.6's (what the transaction's idTag is judged by).
_STATUS_16 = {
    "Accepted": "Accepted",
    "Blocked": "Blocked",
    "ConcurrentTx": "ConcurrentTx",
    "Expired": "Expired",
}


class PncError(ValueError):
    """What came is not the 2.0.1 message it claims to be; the message says why."""


def dumps(payload: Mapping[str, Any]) -> str:
    """The `data` text of a payload: compact JSON, as libocpp writes it."""
    return json.dumps(payload, separators=(",", ":"))


def _loads(data: str | None, what: str) -> dict[str, Any]:
    if data is None:
        raise PncError(f"{what}: no data")
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise PncError(f"{what}: data is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PncError(f"{what}: data is not a JSON object")
    return payload


def _checked(action: str, payload: dict[str, Any], *, request: bool) -> dict[str, Any]:
    try:
        if request:
            _VALIDATOR.check_request(action, payload)
        else:
            _VALIDATOR.check_response(action, payload)
    except OcppError as exc:
        raise PncError(f"{action}: {exc}") from None
    return payload


def read_request(message_id: str, data: str | None) -> dict[str, Any]:
    """A CSMS's request `data`, valid as 2.0.1's `message_id` request."""
    return _checked(message_id, _loads(data, message_id), request=True)


def write_answer(message_id: str, payload: dict[str, Any]) -> str:
    """Our answer's `data`, checked against 2.0.1's response schema (a bug if not)."""
    return dumps(_checked(message_id, payload, request=False))


def write_request(message_id: str, payload: dict[str, Any]) -> str:
    """Our request's `data`, checked against 2.0.1's request schema (a bug if not)."""
    return dumps(_checked(message_id, payload, request=True))


def read_answer(message_id: str, data: str | None) -> dict[str, Any]:
    """The CSMS's answer `data` to our `message_id`, valid as 2.0.1's response."""
    return _checked(message_id, _loads(data, message_id), request=False)


# -- the V2G certificate -------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    common_name: str
    organization: str
    country: str


def csr_subject(
    common_name: str, organization: str, country: str, cpo_name: str, serial_number: str
) -> Subject | None:
    """The V2G CSR's subject from the Secc* keys, with libocpp's fallbacks
    (CN the ChargeBoxSerialNumber, O the CpoName, C DE); None when neither
    organization key is set: libocpp then refuses to ask for a certificate."""
    if not organization and not cpo_name:
        return None
    return Subject(common_name or serial_number, organization or cpo_name, country or "DE")


def sign_retry_delays(wait_minimum: int, repeat_times: int) -> list[float]:
    """When, after each SignCertificate, to send it again while no
    CertificateSigned came: CertSigningWaitMinimum doubled each time,
    CertSigningRepeatTimes times (2.0.1's A02.FR.17 back-off, which the
    application note borrows). No wait minimum: no retries."""
    if wait_minimum <= 0:
        return []
    return [float(wait_minimum * 2**n) for n in range(max(repeat_times, 0))]


# -- the contract: Authorize -----------------------------------------------------------


@dataclass(frozen=True)
class Contract:
    """What an ISO 15118 EV shows: its eMAID and contract chain (leaf first, PEM)."""

    emaid: str
    chain_pem: str


def _ocsp_url(cert: x509.Certificate) -> str:
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return ""
    for description in access:
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            return str(description.access_location.value)[:512]
    return ""


def ocsp_request_data(cert: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """OCSPRequestDataType of `cert` (issued by `issuer`): its CertID and responder."""
    names: HashData = hash_data(cert, issuer)
    return {**names.to_json(), "responderURL": _ocsp_url(cert)}


def authorize_request(
    contract: Contract,
    chain: Sequence[x509.Certificate],
    send_chain: bool,
    roots: Sequence[x509.Certificate] = (),
) -> dict[str, Any]:
    """2.0.1's Authorize for a contract: the eMAID, the whole chain when the
    CSMS may check it (CentralContractValidationAllowed), and the OCSP hash
    data of each certificate whose issuer is known: the next in the chain,
    or for the last an installed MO root that signed it."""
    named = [ocsp_request_data(c, i) for c, i in pairwise(chain)]
    if chain:
        named += [ocsp_request_data(chain[-1], r) for r in roots if signed_by(chain[-1], r)][:1]
    request = call.Authorize(
        id_token=IdTokenType(id_token=contract.emaid, type=IdTokenEnumType.e_maid),
        certificate=contract.chain_pem[:5500] if send_chain else None,
        iso15118_certificate_hash_data=[
            OCSPRequestDataType(
                hash_algorithm=HashAlgorithmEnumType(n["hashAlgorithm"]),
                issuer_name_hash=n["issuerNameHash"],
                issuer_key_hash=n["issuerKeyHash"],
                serial_number=n["serialNumber"],
                responder_url=n["responderURL"],
            )
            for n in named[:4]
        ]
        or None,
    )
    return dump(request)


def chain_ocsp_requests(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate] = ()
) -> list[dict[str, Any]]:
    """GetCertificateStatus requests for a chain (leaf first): each
    certificate under the next, the last under an installed root that signed it."""
    named = [ocsp_request_data(c, i) for c, i in pairwise(chain)]
    if chain:
        named += [ocsp_request_data(chain[-1], r) for r in roots if signed_by(chain[-1], r)][:1]
    return [{"ocspRequestData": n} for n in named]


def decide_authorize(answer: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Whether the CSMS's Authorize answer lets the contract charge, and the
    1.6 idTagInfo it stands for: idTokenInfo Accepted and, when given, the
    certificateStatus Accepted too (a revoked contract does not charge)."""
    info = answer["idTokenInfo"]
    status = str(info["status"])
    certificate_status = answer.get("certificateStatus")
    accepted = status == "Accepted" and certificate_status in (None, "Accepted")
    # An accepted token with a refused certificate is no 1.6 status of its own.
    status_16 = "Invalid" if status == "Accepted" and not accepted else status
    tag_info: dict[str, Any] = {"status": _STATUS_16.get(status_16, "Invalid")}
    if "cacheExpiryDateTime" in info:
        tag_info["expiryDate"] = info["cacheExpiryDateTime"]
    group = info.get("groupIdToken")
    if isinstance(group, Mapping) and "idToken" in group:
        tag_info["parentIdTag"] = str(group["idToken"])[:20]
    return accepted, tag_info


def ocsp_fresh(fetched_at: float, now: float, interval: int) -> bool:
    """Whether an OCSP answer fetched at `fetched_at` still counts at `now`
    (OcspRequestInterval seconds, on the station's clock)."""
    return 0 <= now - fetched_at < interval


# An OCSP answer is asked for again once this share of OcspRequestInterval has
# passed, so a fresh one is in the cache before the old one stops counting
# (libocpp renews the cache on a timer of its own rather than on a miss).
REFRESH_AT = 0.9


def ocsp_refresh(
    fetched: Mapping[str, float], now: float, interval: int
) -> tuple[list[str], float | None]:
    """Which cached OCSP answers (request -> when fetched) to ask for again
    now, and in how many seconds the next one falls due (None: nothing
    cached). An answer fetched in the future (the clock went back) is due."""
    if not fetched:
        return [], None
    lead = interval * REFRESH_AT
    due = sorted(k for k, at in fetched.items() if not 0 <= now - at < lead)
    later = [at + lead - now for k, at in fetched.items() if k not in due]
    return due, (min(later) if later else float(lead))


# The V2G certificate is renewed (a new signing round) once it expires within
# this long; its expiry is looked at every V2G_EXPIRY_CHECK seconds (libocpp's
# V2GCertificateExpireCheckIntervalSeconds default, 12 hours).
V2G_RENEW_WITHIN = timedelta(days=30)
V2G_EXPIRY_CHECK = 12 * 3600


def v2g_renewal_due(not_after: datetime, now: datetime) -> bool:
    """Whether a V2G certificate valid until `not_after` is to be renewed at `now`."""
    return not_after - now <= V2G_RENEW_WITHIN
