"""The certificates of the Security Whitepaper and of ISO 15118 Plug & Charge, and the
keys of the signing requests in flight."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import require_str

__all__ = [
    "CHARGE_POINT_SLOT",
    "V2G_SLOT",
    "Certificates",
    "CsrKey",
    "OcspAnswer",
    "OcspCache",
    "StoredCertificate",
]


@dataclass(frozen=True)
class StoredCertificate:
    id: int
    use: str
    pem: str
    key: str | None


@pykka.traversable
class Certificates:
    """``storage.certificates``: table certificate."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def all(self) -> list[StoredCertificate]:
        """Every installed certificate, oldest first."""
        rows = self._db.read().execute("SELECT id, use, pem, key FROM certificate ORDER BY id")
        return [StoredCertificate(*row) for row in rows]

    def put(
        self, use: str, pem: str, key: str | None = None, replaces: list[int] | None = None
    ) -> int:
        """Install a certificate, removing the ones it replaces, in one commit; its id."""
        require_str(pem, "pem")
        with self._db.write() as conn:
            conn.executemany("DELETE FROM certificate WHERE id = ?", [(i,) for i in replaces or []])
            cur = conn.execute(
                "INSERT INTO certificate (use, pem, key) VALUES (?, ?, ?)", (use, pem, key)
            )
            return int(cur.lastrowid or 0)

    def delete(self, certificate_id: int) -> bool:
        """Forget a certificate; False if there was none."""
        with self._db.write() as conn:
            cur = conn.execute("DELETE FROM certificate WHERE id = ?", (certificate_id,))
            return cur.rowcount > 0


# Which signing request a key in csr_key belongs to (migration 0010).
CHARGE_POINT_SLOT = 1
V2G_SLOT = 2


@pykka.traversable
class CsrKey:
    """``storage.csr_key``: table csr_key, so a restart between SignCertificate and
    CertificateSigned does not lose the private key. One row per kind of
    request: the ChargePointCertificate's and the V2GCertificate's (Plug & Charge)."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def get(self, slot: int = CHARGE_POINT_SLOT) -> str | None:
        """The private key of the signing request in flight, PEM, if any."""
        row = self._db.read().execute("SELECT key FROM csr_key WHERE id = ?", (slot,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str | None, slot: int = CHARGE_POINT_SLOT) -> None:
        """Keep (or, with None, forget) the key of the signing request in flight."""
        with self._db.write() as conn:
            if key is None:
                conn.execute("DELETE FROM csr_key WHERE id = ?", (slot,))
            else:
                conn.execute(
                    "INSERT INTO csr_key (id, key) VALUES (?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET key = excluded.key",
                    (slot, key),
                )


@dataclass(frozen=True)
class OcspAnswer:
    """A GetCertificateStatus answer kept for its request (the ocspRequestData's JSON)."""

    request: str
    answer: dict[str, Any]
    fetched_at: float  # wall clock, seconds since the epoch


@pykka.traversable
class OcspCache:
    """``storage.ocsp``: table ocsp_answer (migration 0014), the CSMS's OCSP
    answers for Plug & Charge in 1.6 and 2.0.1, by their request."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def all(self) -> list[OcspAnswer]:
        rows = self._db.read().execute(
            "SELECT request, answer, fetched_at FROM ocsp_answer ORDER BY request"
        )
        return [OcspAnswer(str(r), json.loads(a), float(t)) for r, a, t in rows.fetchall()]

    def get(self, request: str) -> OcspAnswer | None:
        row = (
            self._db.read()
            .execute("SELECT answer, fetched_at FROM ocsp_answer WHERE request = ?", (request,))
            .fetchone()
        )
        return None if row is None else OcspAnswer(request, json.loads(row[0]), float(row[1]))

    def put(self, entry: OcspAnswer) -> None:
        """Keep `entry`, replacing an older answer to the same request."""
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO ocsp_answer (request, answer, fetched_at) VALUES (?, ?, ?)"
                " ON CONFLICT (request) DO UPDATE SET answer = excluded.answer,"
                " fetched_at = excluded.fetched_at",
                (entry.request, json.dumps(entry.answer), entry.fetched_at),
            )

    def delete(self, request: str) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM ocsp_answer WHERE request = ?", (request,))
