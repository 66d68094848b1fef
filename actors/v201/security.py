"""OCPP 2.0.1 A Security and M ISO 15118 certificate management: the
station's certificates (A02-A05, M03-M05) and security events (A04).

The store, the checks, the key of the signing request in flight, `ctx.tls`
and the SignCertificate / CertificateSigned flow are the 1.6 security
actor's (actors/v16/security.py); this block answers in 2.0.1's words:
InstallCertificate, GetInstalledCertificateIds, DeleteCertificate,
CertificateSigned, and SignCertificate with its certificateType when
TriggerMessage SignChargingStationCertificate asks for it.

Decisions:

- Certificates are stored under 1.6's names where both versions have the
  type (a CSMSRootCertificate is a CentralSystemRootCertificate), so a
  station that changes version keeps its roots and its own certificate.
- V2GRootCertificate and MORootCertificate are installed, listed and
  deleted like the other roots (the same store as 1.6's Plug & Charge
  DataTransfer, actors/v16/plug_and_charge.py).
- A CertificateSigned for a V2GCertificate is checked as 1.6's Plug & Charge
  checks it (against the V2G roots, which must exist, and the key of our V2G
  signing request, made by the iso15118 block's round:
  actors/v201/iso15118.py); taken, that block stops its retries. Refused,
  it is the event InvalidChargingStationCertificate.
- V2GCertificateChain (M03) is our V2G chain: the leaf, its sub-CAs as
  childCertificateHashData; listed when named or when no type is.
- DeleteCertificate of the station's own ChargingStationCertificate is
  Failed (M04.FR.06), as is deleting the last CSMS root the link needs.
- Security events go out in 2.0.1's names (InvalidCsmsCertificate,
  InvalidChargingStationCertificate: actors/security_events.py translates
  the whitepaper's words for a station speaking 2.0.1); the message itself
  is 1.6's.
- No CertSigningRepeatTimes retries: a SignCertificate the CSMS does not
  follow up waits for the next trigger.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from ocpp.v201 import call, call_result
from ocpp.v201.datatypes import CertificateHashDataChainType, CertificateHashDataType
from ocpp.v201.enums import (
    CertificateSignedStatusEnumType,
    CertificateSigningUseEnumType,
    DeleteCertificateStatusEnumType,
    GetCertificateIdUseEnumType,
    GetInstalledCertificateStatusEnumType,
    HashAlgorithmEnumType,
    InstallCertificateStatusEnumType,
)

from ocppstation.actors.runtime.context import PNC
from ocppstation.actors.v16.plug_and_charge import V2GTaken
from ocppstation.actors.v16.security import (
    CHARGE_POINT_CERTIFICATE,
    OWN_CERTIFICATES,
    V2G_CERTIFICATE,
    Security,
)
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v16.certificates import (
    CertificateProblem,
    CertificateUse,
    HashData,
    hash_data,
    parse_chain,
    signed_by,
)

__all__ = ["STORED_AS", "Security201"]

# 2.0.1's certificate type -> the use it is stored under.
STORED_AS: dict[str, str] = {
    GetCertificateIdUseEnumType.csms_root_certificate.value: CertificateUse.CENTRAL_SYSTEM_ROOT,
    GetCertificateIdUseEnumType.manufacturer_root_certificate.value: (
        CertificateUse.MANUFACTURER_ROOT
    ),
    GetCertificateIdUseEnumType.v2g_root_certificate.value: CertificateUse.V2G_ROOT,
    GetCertificateIdUseEnumType.mo_root_certificate.value: CertificateUse.MO_ROOT,
}
# Listed when GetInstalledCertificateIds names no type, in this order.
_LISTED = (*STORED_AS, GetCertificateIdUseEnumType.v2g_certificate_chain.value)


class Security201(Security):
    def answer(self, call: Call) -> dict[str, Any]:
        payload = call.payload
        match call.action:
            case "InstallCertificate":
                use = STORED_AS.get(payload["certificateType"])
                if use is None:
                    self.log.warning("InstallCertificate %s refused", payload["certificateType"])
                    rejected = InstallCertificateStatusEnumType.rejected
                    return dump(call_result.InstallCertificate(rejected))
                installed = InstallCertificateStatusEnumType(
                    self._install(use, payload["certificate"])
                )
                return dump(call_result.InstallCertificate(installed))
            case "GetInstalledCertificateIds":
                return dump(self._installed_ids(payload.get("certificateType") or _LISTED))
            case "DeleteCertificate":
                wanted = HashData.from_json(payload["certificateHashData"])
                status = self._delete_201(wanted)
                return dump(call_result.DeleteCertificate(DeleteCertificateStatusEnumType(status)))
            case "CertificateSigned":
                status = self._certificate_signed(
                    payload["certificateChain"], payload.get("certificateType")
                )
                return dump(call_result.CertificateSigned(CertificateSignedStatusEnumType(status)))
        raise AssertionError(f"routed here by mistake: {call.action}")

    def sign_payload(self, csr: str) -> dict[str, Any]:
        return dump(
            call.SignCertificate(
                csr=csr, certificate_type=CertificateSigningUseEnumType.charging_station_certificate
            )
        )

    def _installed_ids(self, types: Iterable[str]) -> call_result.GetInstalledCertificateIds:
        types = list(types)
        chain = [
            CertificateHashDataChainType(
                certificate_type=GetCertificateIdUseEnumType(kind),
                certificate_hash_data=_hash_type(found),
            )
            for kind in dict.fromkeys(types)  # a type named twice is listed once
            if kind in STORED_AS
            for found in self._hashes(STORED_AS[kind])
        ]
        if GetCertificateIdUseEnumType.v2g_certificate_chain.value in types:
            chain += self._v2g_chain()
        if not chain:
            return call_result.GetInstalledCertificateIds(
                GetInstalledCertificateStatusEnumType.notFound
            )
        return call_result.GetInstalledCertificateIds(
            GetInstalledCertificateStatusEnumType.accepted, certificate_hash_data_chain=chain
        )

    def _v2g_chain(self) -> list[CertificateHashDataChainType]:
        """Our V2G chain (M03): the leaf, its sub-CAs as childCertificateHashData."""
        roots = [parse_chain(c.pem)[0] for c in self.installed if c.use == CertificateUse.V2G_ROOT]
        out = []
        for stored in self._of(V2G_CERTIFICATE):
            try:
                certs = parse_chain(stored.pem)
                named = [hash_data(c, i) for c, i in pairwise(certs)]
                named += [hash_data(certs[-1], r) for r in roots if signed_by(certs[-1], r)][:1]
            except CertificateProblem:
                continue
            if not named:
                continue
            out.append(
                CertificateHashDataChainType(
                    certificate_type=GetCertificateIdUseEnumType.v2g_certificate_chain,
                    certificate_hash_data=_hash_type(named[0]),
                    child_certificate_hash_data=[_hash_type(n) for n in named[1:]] or None,
                )
            )
        return out

    def _delete_201(self, wanted: HashData) -> str:
        if self._names_own_certificate(wanted):
            self.log.warning("DeleteCertificate refused: it names our own certificate")
            return DeleteCertificateStatusEnumType.failed.value
        return self._delete(wanted)

    def _names_own_certificate(self, wanted: HashData) -> bool:
        """Whether `wanted` is the leaf of our ChargingStationCertificate chain.

        A leaf's issuerKeyHash is of its issuer's key: the next in its chain,
        or, for a chain of one, the root it was issued under.
        """
        roots = [parse_chain(c.pem)[0] for c in self.installed if c.use not in OWN_CERTIFICATES]
        for stored in self._of(CHARGE_POINT_CERTIFICATE):
            try:
                leaf, *issuers = parse_chain(stored.pem)
            except CertificateProblem:
                continue
            for issuer in [*issuers, *roots]:
                try:
                    if hash_data(leaf, issuer, wanted.hash_algorithm) == wanted:
                        return True
                except CertificateProblem:  # an issuer key we cannot hash names nothing
                    continue
        return False

    def _certificate_signed(self, chain: str, kind: str | None) -> str:
        if kind == CertificateSigningUseEnumType.v2g_certificate.value:
            why = self._v2g_signed(chain)
            if why is not None:
                return self._reject_signed(f"V2GCertificate: {why}")
            self.ctx.registry.tell(PNC, V2GTaken())
            return CertificateSignedStatusEnumType.accepted.value
        return self._accept_signed(chain)


def _hash_type(found: HashData) -> CertificateHashDataType:
    return CertificateHashDataType(
        hash_algorithm=HashAlgorithmEnumType(found.hash_algorithm),
        issuer_name_hash=found.issuer_name_hash,
        issuer_key_hash=found.issuer_key_hash,
        serial_number=found.serial_number,
    )
