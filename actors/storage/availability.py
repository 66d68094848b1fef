"""Connector availability as ChangeAvailability left it, across restarts."""

from __future__ import annotations

import pykka

from ocppstation.actors.storage.connection import Connection

__all__ = ["AVAILABILITY_VALUES", "AvailabilityStore"]

AVAILABILITY_VALUES = ("Operative", "Inoperative")


@pykka.traversable
class AvailabilityStore:
    """``storage.availability``: table availability."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def all(self) -> dict[int, str]:
        """Connectors whose availability was ever set; absent ones are as configured."""
        rows = self._db.read().execute(
            "SELECT connector, value FROM availability ORDER BY connector"
        )
        return dict(rows.fetchall())

    def put(self, connector: int, value: str) -> None:
        if value not in AVAILABILITY_VALUES:
            msg = f"availability must be one of {AVAILABILITY_VALUES}, not {value!r}"
            raise ValueError(msg)
        if connector < 0:
            msg = f"connector must be 0 (the station) or more, not {connector}"
            raise ValueError(msg)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO availability (connector, value) VALUES (?, ?)"
                " ON CONFLICT (connector) DO UPDATE SET value = excluded.value",
                (connector, value),
            )
