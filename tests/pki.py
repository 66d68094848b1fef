"""Certificates for the TLS tests, made with cryptography: a CA, server
certificates for 127.0.0.1 and localhost, client certificates, as PEM text
(what `TlsMaterial` holds) and as files (what ssl's server contexts load).

Keys are P-256 ECDSA. Everything is valid from 2025 to 2031: on the real
clock (TLS handshakes check it) and on the stations' virtual one, which
starts on 2026-01-01.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, as PEM text."""

    cert_pem: str
    key_pem: str

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        """The certificate and key as `name.pem` and `name.key` in `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        cert, key = folder / f"{name}.pem", folder / f"{name}.key"
        cert.write_text(self.cert_pem)
        key.write_text(self.key_pem)
        return cert, key


class Ca:
    """A self-signed root that issues leaf certificates."""

    def __init__(self, name: str = "ocppstation test root") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder(_name(name), _name(name), self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
        )
        self.cert = builder.sign(self._key, hashes.SHA256())
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def write(self, folder: Path, name: str = "ca") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.pem"
        path.write_text(self.pem)
        return path

    def server(self, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Issued:
        """A server certificate naming `hosts` (IP addresses or DNS names)."""
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        return self._issue(hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, names)

    def client(self, common_name: str) -> Issued:
        """A client certificate (a ChargePointCertificate) for `common_name`."""
        return self._issue(common_name, ExtendedKeyUsageOID.CLIENT_AUTH, [])

    def sign(self, csr_pem: str) -> str:
        """What a CSMS answers a SignCertificate with: a client certificate for the CSR."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        cert = (
            _builder(csr.subject, self.cert.subject, csr.public_key())  # type: ignore[arg-type]
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def _issue(
        self, common_name: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder(_name(common_name), self.cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return Issued(
            cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode("ascii"),
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
    )
