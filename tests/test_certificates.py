"""protocol.v16.certificates: what a careful station checks before it trusts a certificate."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol.v16.certificates import (
    CertificateProblem,
    HashData,
    chain_problem,
    hash_data,
    make_csr,
    new_key,
    parse_chain,
    root_problem,
)

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def certificate(
    subject: str,
    public_key: object,
    signer_key: object,
    issuer: str | None = None,
    *,
    ca: bool = True,
    days: tuple[int, int] = (-1, 30),
    serial: int = 0x0ABC,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer or subject))
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer_key, hashes.SHA256())  # type: ignore[arg-type]
    )


def root(cn: str = "Root", **kwargs: object) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    return certificate(cn, key.public_key(), key, **kwargs), key  # type: ignore[arg-type]


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


# -- parsing ---------------------------------------------------------------------------


def test_a_chain_parses_in_order() -> None:
    a, _ = root("A")
    b, _ = root("B")
    assert parse_chain(pem(a, b)) == [a, b]


@pytest.mark.parametrize("text", ["", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_what_is_not_a_certificate_is_a_problem(text: str) -> None:
    with pytest.raises(CertificateProblem):
        parse_chain(text)


# -- hash data ----------------------------------------------------------------------------


def test_hash_data_of_a_root_follows_ocsp_certid() -> None:
    cert, key = root(serial=0x00F00D)
    data = hash_data(cert)
    assert data.hash_algorithm == "SHA256"
    assert data.issuer_name_hash == hashlib.sha256(cert.issuer.public_bytes()).hexdigest()
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert data.issuer_key_hash == hashlib.sha256(point).hexdigest()
    assert data.serial_number == "f00d"  # hex, no leading zeros


def test_hash_data_of_an_rsa_root_hashes_the_pkcs1_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = certificate("RSA root", key.public_key(), key)
    pkcs1 = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    assert hash_data(cert, algorithm="SHA384").issuer_key_hash == hashlib.sha384(pkcs1).hexdigest()


@given(
    serial=st.integers(1, 2**159),
    upper=st.booleans(),
    zeros=st.integers(0, 3),
)
def test_hash_data_from_the_csms_matches_whatever_the_spelling(
    serial: int, upper: bool, zeros: int
) -> None:
    ours = HashData("SHA256", "ab" * 32, "cd" * 32, format(serial, "x"))
    spelled = "0" * zeros + format(serial, "X" if upper else "x")
    theirs = {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": ("AB" if upper else "ab") * 32,
        "issuerKeyHash": ("CD" if upper else "cd") * 32,
        "serialNumber": spelled,
    }
    assert HashData.from_json(theirs) == ours
    assert HashData.from_json(ours.to_json()) == ours


# -- roots ------------------------------------------------------------------------------


def test_a_valid_self_signed_ca_is_a_root() -> None:
    cert, _ = root()
    assert root_problem(cert, NOW) is None


def test_an_expired_root_is_refused() -> None:
    cert, _ = root(days=(-30, -1))
    assert "not valid now" in (root_problem(cert, NOW) or "")


def test_a_leaf_is_not_a_root() -> None:
    cert, _ = root(ca=False)
    assert root_problem(cert, NOW) == "not a CA certificate"


def test_a_certificate_signed_by_another_key_is_not_a_root() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    cert = certificate("Fake root", key.public_key(), other)
    assert root_problem(cert, NOW) == "not self-signed"


# -- our certificate's chain ---------------------------------------------------------------------


def signed_chain(
    leaf_key: ec.EllipticCurvePrivateKey,
) -> tuple[list[x509.Certificate], x509.Certificate]:
    """leaf <- sub CA <- root: the chain (leaf first, without the root) and the root."""
    top, top_key = root("CSMS Root")
    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub = certificate("CPO Sub CA", sub_key.public_key(), top_key, "CSMS Root")
    leaf = certificate("CP-1", leaf_key.public_key(), sub_key, "CPO Sub CA", ca=False)
    return [leaf, sub], top


def test_a_chain_to_an_installed_root_for_our_key_is_accepted() -> None:
    key = new_key()
    chain, top = signed_chain(key)
    assert chain_problem(chain, [top], NOW, public_key=key.public_key()) is None
    assert chain_problem(chain, [], NOW, public_key=key.public_key()) is None  # no roots yet


def test_a_chain_to_no_installed_root_is_refused() -> None:
    key = new_key()
    chain, _ = signed_chain(key)
    stranger, _ = root("Stranger")
    assert "does not chain" in (chain_problem(chain, [stranger], NOW) or "")


def test_a_chain_in_the_wrong_order_is_refused() -> None:
    chain, top = signed_chain(new_key())
    assert "not signed by the next" in (chain_problem(chain[::-1], [top], NOW) or "")


def test_a_chain_for_another_key_is_refused() -> None:
    chain, top = signed_chain(new_key())
    assert "not for the key" in (
        chain_problem(chain, [top], NOW, public_key=new_key().public_key()) or ""
    )


def test_a_chain_not_valid_now_is_refused() -> None:
    key = new_key()
    chain, top = signed_chain(key)
    assert "not valid now" in (chain_problem(chain, [top], NOW + dt.timedelta(days=60)) or "")


# -- the signing request -----------------------------------------------------------------------


def test_the_csr_names_the_station_and_the_cpo_and_is_signed_by_the_key() -> None:
    key = new_key()
    csr = x509.load_pem_x509_csr(make_csr(key, "CB-0001", "Example CPO").encode())
    assert csr.is_signature_valid
    assert csr.public_key() == key.public_key()
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CB-0001"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example CPO"


def test_without_a_cpo_name_the_csr_has_no_organization() -> None:
    csr = x509.load_pem_x509_csr(make_csr(new_key(), "CB-0001", "").encode())
    assert not csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
