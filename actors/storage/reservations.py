"""Reservations the CSMS made (ReserveNow), kept until used, cancelled or expired."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import require_str

__all__ = ["Reservations", "StoredReservation", "forget_reservation"]


@dataclass(frozen=True)
class StoredReservation:
    """A reservation as stored; ``expiry`` is the CSMS's expiryDate (OCPP text)."""

    reservation_id: int
    connector: int
    id_tag: str
    parent_id_tag: str | None
    expiry: str


@pykka.traversable
class Reservations:
    """``storage.reservations``: table reservation."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def all(self) -> list[StoredReservation]:
        """Every reservation in force (not used, cancelled or found expired), by id."""
        rows = self._db.read().execute(
            "SELECT id, connector, id_tag, parent_id_tag, expiry FROM reservation ORDER BY id"
        )
        return [StoredReservation(*row) for row in rows]

    def put(
        self,
        reservation_id: int,
        connector: int,
        id_tag: str,
        parent_id_tag: str | None,
        expiry: str,
    ) -> None:
        """Store a reservation; one with the same id is replaced (ReserveNow's rule)."""
        require_str(id_tag, "id_tag")
        require_str(expiry, "expiry")
        if parent_id_tag is not None:
            require_str(parent_id_tag, "parent_id_tag")
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO reservation (id, connector, id_tag, parent_id_tag, expiry)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " connector = excluded.connector, id_tag = excluded.id_tag,"
                " parent_id_tag = excluded.parent_id_tag, expiry = excluded.expiry",
                (reservation_id, connector, id_tag, parent_id_tag, expiry),
            )

    def delete(self, reservation_id: int) -> bool:
        """Forget a reservation; False if there was none (idempotent, like queue.delete)."""
        with self._db.write() as conn:
            return forget_reservation(conn, reservation_id)


def forget_reservation(conn: sqlite3.Connection, reservation_id: int) -> bool:
    """Delete a reservation inside the caller's write (a transaction that uses it up)."""
    cur = conn.execute("DELETE FROM reservation WHERE id = ?", (reservation_id,))
    return cur.rowcount > 0
