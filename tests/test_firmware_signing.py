"""The pure parts of signed firmware and GetLog: the signing certificate, the
signature, the signed job and its statuses, the security log's lines."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.files.station_log import records_between
from ocppstation.protocol.v16.firmware import (
    FirmwareJob,
    Phase,
    install_delay,
    signed_trigger_status,
    status_owed,
    trigger_status,
)
from ocppstation.protocol.v16.firmware_signing import (
    firmware_signature_problem,
    signing_certificate,
    signing_certificate_problem,
)
from tests.test_signed_firmware_e2e import Manufacturer

NOW = datetime(2026, 1, 1, tzinfo=UTC)
IMAGE = b"an image " * 1000


@pytest.mark.parametrize("rsa_key", [False, True])
def test_a_signature_is_checked_over_the_file_or_its_digest(rsa_key: bool) -> None:
    maker = Manufacturer(rsa_key=rsa_key)
    leaf = signing_certificate(maker.signing_certificate)
    signature = maker.sign(IMAGE)
    digest = hashlib.sha256(IMAGE).digest()
    assert firmware_signature_problem(IMAGE, signature, leaf) is None
    assert firmware_signature_problem(digest, signature, leaf, prehashed=True) is None
    # Base64 as a CSMS may wrap it.
    wrapped = "\n".join(signature[i : i + 64] for i in range(0, len(signature), 64))
    assert firmware_signature_problem(IMAGE, wrapped, leaf) is None
    assert firmware_signature_problem(IMAGE + b"x", signature, leaf) == (
        "the signature does not match the firmware"
    )
    other = signing_certificate(Manufacturer(rsa_key=rsa_key).signing_certificate)
    assert firmware_signature_problem(IMAGE, signature, other) is not None


def test_what_is_not_a_signature() -> None:
    maker = Manufacturer()
    leaf = signing_certificate(maker.signing_certificate)
    assert firmware_signature_problem(IMAGE, "not base64!", leaf) == "the signature is not base64"
    assert firmware_signature_problem(IMAGE, "", leaf) == "the signature is empty"
    garbage = base64.b64encode(b"\x00" * 70).decode()
    assert firmware_signature_problem(IMAGE, garbage, leaf) is not None
    # A digest of the wrong length cannot be a SHA-256.
    assert firmware_signature_problem(b"short", maker.sign(IMAGE), leaf, prehashed=True)


def test_a_signing_certificate_must_chain_to_a_manufacturer_root() -> None:
    maker, stranger = Manufacturer(), Manufacturer("Stranger")
    pem = maker.signing_certificate
    assert signing_certificate_problem(pem, [maker.root], NOW) is None
    assert signing_certificate_problem(pem, [stranger.root, maker.root], NOW) is None
    assert signing_certificate_problem(pem, [], NOW) == (
        "no ManufacturerRootCertificate is installed"
    )
    assert signing_certificate_problem(pem, [stranger.root], NOW) == (
        "does not chain to an installed ManufacturerRootCertificate"
    )
    assert "not valid now" in str(
        signing_certificate_problem(pem, [maker.root], datetime(2040, 1, 1, tzinfo=UTC))
    )
    assert "not PEM" in str(signing_certificate_problem("nonsense", [maker.root], NOW))


def test_an_intermediate_may_come_with_the_signing_certificate() -> None:
    maker = Manufacturer(intermediate=True)
    assert signing_certificate_problem(maker.signing_certificate, [maker.root], NOW) is None
    # Without its intermediate the leaf reaches no root.
    leaf_only = maker.signing_certificate.split("-----END CERTIFICATE-----")[0]
    leaf_only += "-----END CERTIFICATE-----\n"
    assert signing_certificate_problem(leaf_only, [maker.root], NOW) is not None


SIGNED = {
    "requestId": 17,
    "retries": 1,
    "firmware": {
        "location": "https://fw.example/v3.bin",
        "retrieveDateTime": "2026-01-01T01:00:00Z",
        "installDateTime": "2026-01-01T03:00:00Z",
        "signingCertificate": "PEM",
        "signature": "c2ln",
    },
}


@given(phase=st.sampled_from(Phase), digest=st.none() | st.text(max_size=64))
def test_a_signed_job_survives_its_json(phase: Phase, digest: str | None) -> None:
    job = FirmwareJob.from_signed_request(SIGNED).at(phase, digest=digest)
    assert job.signed and job.request_id == 17
    assert FirmwareJob.from_json(job.to_json()) == job


def test_a_job_stored_by_the_previous_release_is_unsigned() -> None:
    old = {
        "location": "ftp://h/fw.bin",
        "retrieve_date": "2026-01-01T00:00:00Z",
        "retries": 2,
        "retry_interval": 60,
        "phase": "downloaded",
    }
    job = FirmwareJob.from_json(old)
    assert not job.signed and job.installable


def test_the_signed_statuses_of_each_phase() -> None:
    job = FirmwareJob.from_signed_request(SIGNED)
    early, late = NOW, NOW + timedelta(hours=4)
    assert install_delay(job, early) == 3 * 3600
    assert install_delay(job, late) == 0
    triggered = {phase: signed_trigger_status(job.at(phase), early) for phase in Phase}
    assert triggered == {
        Phase.SCHEDULED: "DownloadScheduled",
        Phase.DOWNLOADING: "Downloading",
        Phase.DOWNLOADED: "Downloaded",
        Phase.VERIFIED: "InstallScheduled",
        Phase.INSTALLING: "Installing",
        Phase.DOWNLOAD_FAILED: "Idle",
        Phase.INSTALL_FAILED: "Idle",
        Phase.INSTALLED: "Idle",
        Phase.INVALID_SIGNATURE: "Idle",
        Phase.VERIFICATION_FAILED: "Idle",
    }
    assert signed_trigger_status(job.at(Phase.VERIFIED), late) == "SignatureVerified"
    assert signed_trigger_status(None, early) == "Idle"
    # The 1.6 trigger says what its enum can.
    assert trigger_status(job.at(Phase.VERIFIED)) == "Downloaded"
    assert status_owed(job.at(Phase.INVALID_SIGNATURE)) == "InvalidSignature"
    # Signed, installable is verified; unsigned, downloaded.
    assert job.at(Phase.VERIFIED).installable and not job.at(Phase.DOWNLOADED).installable


def test_the_security_log_is_one_loggers_records() -> None:
    lines = [
        "2026-01-01T00:00:00.000Z INFO ocppstation.security: security event A",
        "2026-01-01T00:00:01.000Z INFO ocppstation.firmware: download complete",
        "2026-01-01T00:00:02.000Z ERROR ocppstation.security: refused: it said x: y",
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "2026-01-01T00:00:03.000Z WARNING ocppstation.securityish: not this one",
        "2026-01-01T00:00:04.000Z INFO ocppstation.security.sub: below it",
    ]
    assert records_between(lines, None, None, "ocppstation.security") == [
        lines[0],
        lines[2],
        lines[3],
        lines[4],
        lines[6],
    ]
    second = datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    assert records_between(lines, second, second, "ocppstation.security") == lines[2:5]
    assert records_between(lines, None, None) == lines
