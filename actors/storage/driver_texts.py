"""OCPP 2.0.1 I Tariff and cost: the texts each EVSE's driver was shown, across restarts."""

from __future__ import annotations

from dataclasses import dataclass

import pykka

from ocppstation.actors.storage.connection import Connection

__all__ = ["DriverText", "DriverTextStore"]


@dataclass(frozen=True)
class DriverText:
    """The tariff and cost texts of the transaction EVSE `evse` last ran."""

    evse: int
    transaction_id: str
    tariff: str | None
    cost: str | None
    ended: bool = False


@pykka.traversable
class DriverTextStore:
    """``storage.driver_texts``: table driver_text, one row per EVSE.

    Written by the tariff and cost block (actors/v201/tariff_and_cost.py)
    when what an EVSE shows its driver changes, deleted when it is over.
    """

    def __init__(self, db: Connection) -> None:
        self._db = db

    def all(self) -> list[DriverText]:
        rows = self._db.read().execute(
            "SELECT evse, transaction_id, tariff, cost, ended FROM driver_text ORDER BY evse"
        )
        return [
            DriverText(int(evse), str(tx), tariff, cost, bool(ended))
            for evse, tx, tariff, cost, ended in rows.fetchall()
        ]

    def put(self, text: DriverText) -> None:
        """Store `text` as its EVSE's (replacing what it had)."""
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO driver_text (evse, transaction_id, tariff, cost, ended)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (evse) DO UPDATE SET"
                " transaction_id = excluded.transaction_id, tariff = excluded.tariff,"
                " cost = excluded.cost, ended = excluded.ended",
                (text.evse, text.transaction_id, text.tariff, text.cost, int(text.ended)),
            )

    def delete(self, evse: int) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM driver_text WHERE evse = ?", (evse,))
