"""The certificates of the Security Whitepaper and of ISO 15118 Plug & Charge, and the
keys of the signing requests in flight."""

from __future__ import annotations

from dataclasses import dataclass

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import require_str

__all__ = ["CHARGE_POINT_SLOT", "V2G_SLOT", "Certificates", "CsrKey", "StoredCertificate"]


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
