"""Certificates of the OCPP 1.6 Security Whitepaper, without I/O.

Parsing what the CSMS sends (PEM, one certificate or a chain), the
CertificateHashData that names an installed certificate, the checks a
careful station makes before it trusts a root or its own new certificate,
and the certificate signing request for SignCertificate. The security actor
does the storing and the talking.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "CertificateProblem",
    "CertificateUse",
    "HashData",
    "chain_problem",
    "hash_data",
    "make_csr",
    "new_key",
    "parse_chain",
    "root_problem",
    "signed_by",
]


class CertificateUse(StrEnum):
    """The roots a CSMS may install: 1.6's CertificateUseEnumType, and the
    ISO 15118 roots of Plug & Charge (2.0.1's names), installed through
    2.0.1's InstallCertificate or its 1.6 DataTransfer."""

    CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate"
    MANUFACTURER_ROOT = "ManufacturerRootCertificate"
    V2G_ROOT = "V2GRootCertificate"
    MO_ROOT = "MORootCertificate"


class CertificateProblem(ValueError):
    """What the CSMS sent is not a certificate we can use; the message says why."""


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


@dataclass(frozen=True)
class HashData:
    """CertificateHashDataType: names a certificate as OCSP's CertID does."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def to_json(self) -> dict[str, str]:
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> HashData:
        return cls(
            data["hashAlgorithm"],
            data["issuerNameHash"].lower(),
            data["issuerKeyHash"].lower(),
            # Hex without leading zeros, whatever case or padding the CSMS used.
            format(int(data["serialNumber"], 16), "x") if _is_hex(data["serialNumber"]) else "",
        )


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def parse_chain(pem: str) -> list[x509.Certificate]:
    """The certificates in `pem`, in order; at least one, or CertificateProblem."""
    try:
        chain = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise CertificateProblem(f"not PEM certificates: {exc}") from exc
    if not chain:
        raise CertificateProblem("no certificate in it")
    return chain


def _key_bits(public_key: object) -> bytes:
    """The subjectPublicKey BIT STRING's contents, which OCSP's issuerKeyHash hashes."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    raise CertificateProblem(f"unsupported key type {type(public_key).__name__}")


def hash_data(
    cert: x509.Certificate, issuer: x509.Certificate | None = None, algorithm: str = "SHA256"
) -> HashData:
    """The HashData of `cert`, issued by `issuer` (itself when None: a root)."""
    issuer = issuer or cert

    def digest(data: bytes) -> str:
        h = hashes.Hash(_HASHES[algorithm]())
        h.update(data)
        return h.finalize().hex()

    return HashData(
        algorithm,
        digest(cert.issuer.public_bytes()),
        digest(_key_bits(issuer.public_key())),
        format(cert.serial_number, "x"),
    )


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer` signed `cert`."""
    return _signed_by(cert, issuer)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def root_problem(cert: x509.Certificate, now: datetime) -> str | None:
    """Why `cert` may not be installed as a root, or None."""
    if not _valid_at(cert, now):
        return "not valid now (expired or not yet valid)"
    if not _is_ca(cert):
        return "not a CA certificate"
    if not _signed_by(cert, cert):
        return "not self-signed"
    return None


def chain_problem(
    chain: Sequence[x509.Certificate],
    roots: Iterable[x509.Certificate],
    now: datetime,
    *,
    public_key: object | None = None,
    root_name: str = "CentralSystemRootCertificate",
) -> str | None:
    """Why the leaf-first `chain` may not become our certificate, or None.

    Every certificate valid now and signed by the next one; the last signed
    by one of `roots` (or one of them itself) when any roots are given; the
    leaf carrying `public_key`, the key we made the CSR with.
    """
    if not chain:
        return "empty chain"
    for cert in chain:
        if not _valid_at(cert, now):
            return f"{cert.subject.rfc4514_string()} is not valid now"
    for cert, issuer in pairwise(chain):
        if not _signed_by(cert, issuer):
            return f"{cert.subject.rfc4514_string()} is not signed by the next in the chain"
    anchors = list(roots)
    last = chain[-1]
    if anchors and not any(last == r or _signed_by(last, r) for r in anchors):
        return f"does not chain to an installed {root_name}"
    if public_key is not None and chain[0].public_key() != public_key:
        return "is not for the key of our signing request"
    return None


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh key for the ChargePointCertificate (P-256, as the whitepaper allows)."""
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(
    key: ec.EllipticCurvePrivateKey, common_name: str, organization: str, country: str = ""
) -> str:
    """The PEM CSR of SignCertificate: CN the station's identity, O the CpoName
    (for a V2GCertificate also C: the SeccLeafSubject* keys)."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if country:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()
