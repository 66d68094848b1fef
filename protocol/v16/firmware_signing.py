"""Signed firmware (OCPP 1.6 Security Whitepaper, Secure Firmware Update), without I/O.

Two checks, both pure:

- `signing_certificate_problem`: before a SignedUpdateFirmware is accepted,
  the signingCertificate (PEM; intermediates may follow the leaf) must be
  valid now, each certificate signed by the next, and the last one signed
  by an installed ManufacturerRootCertificate (or be one). No root
  installed means no signing certificate is trusted. The leaf must carry
  an EC or RSA key, and may not exclude digital signatures by its
  KeyUsage.
- `firmware_signature_problem`: the downloaded file against the request's
  signature (base64): a SHA-256 signature with the leaf's key, ECDSA or
  RSA PKCS#1 v1.5, as the whitepaper asks. The caller may hash the file in
  chunks itself and hand in the digest (`prehashed=True`), so a large
  image is never read into memory.

Each returns None when all is well, else the reason in words a log (and a
SecurityEventNotification's techInfo) can show.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ocppstation.protocol.v16.certificates import CertificateProblem, chain_problem, parse_chain

__all__ = ["firmware_signature_problem", "signing_certificate", "signing_certificate_problem"]


def signing_certificate(pem: str) -> x509.Certificate:
    """The leaf of a signingCertificate (CertificateProblem when it is not PEM)."""
    return parse_chain(pem)[0]


def signing_certificate_problem(
    pem: str, roots: Iterable[x509.Certificate], now: datetime
) -> str | None:
    """Why the signingCertificate `pem` may not be trusted now, or None."""
    try:
        chain = parse_chain(pem)
    except CertificateProblem as exc:
        return str(exc)
    leaf = chain[0]
    if not isinstance(leaf.public_key(), ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return f"unsupported key type {type(leaf.public_key()).__name__}"
    if not _may_sign(leaf):
        return "its KeyUsage does not allow digital signatures"
    # Validity and the links within the chain, with no anchor yet.
    problem = chain_problem(chain, [], now)
    if problem is not None:
        return problem
    anchors = list(roots)
    if not anchors:
        return "no ManufacturerRootCertificate is installed"
    for root in anchors:
        # The root as the chain's next link: it must be valid now and sign the last one.
        anchored = chain if chain[-1] == root else [*chain, root]
        if chain_problem(anchored, [], now) is None:
            return None
    return "does not chain to an installed ManufacturerRootCertificate"


def firmware_signature_problem(
    data: bytes,
    signature_b64: str,
    certificate: x509.Certificate,
    *,
    prehashed: bool = False,
) -> str | None:
    """Why `signature_b64` is not the signature of `data` by `certificate`'s key, or None.

    `data` is the firmware file, or with `prehashed` its SHA-256 digest.
    """
    try:
        signature = base64.b64decode("".join(signature_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        return "the signature is not base64"
    if not signature:
        return "the signature is empty"
    algorithm: hashes.HashAlgorithm | Prehashed = (
        Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256()
    )
    key = certificate.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        else:
            return f"unsupported key type {type(key).__name__}"
    except InvalidSignature:
        return "the signature does not match the firmware"
    except ValueError as exc:  # e.g. a digest of the wrong length
        return f"cannot verify: {exc}"
    return None


def _may_sign(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return bool(usage.digital_signature)
