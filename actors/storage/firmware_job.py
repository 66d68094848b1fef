"""The firmware update in progress, as the firmware actor stores it after every step."""

from __future__ import annotations

import json
from typing import Any

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import to_json

__all__ = ["FirmwareJobStore"]


@pykka.traversable
class FirmwareJobStore:
    """``storage.firmware_job``: table firmware_job (at most one row)."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def get(self) -> dict[str, Any] | None:
        """The firmware update in progress, as the firmware actor stored it, or None."""
        row = self._db.read().execute("SELECT job FROM firmware_job WHERE id = 1").fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, job: dict[str, Any] | None) -> None:
        """Store the firmware update in progress; None: there is none."""
        text = None if job is None else to_json(job, "job")
        with self._db.write() as conn:
            if text is None:
                conn.execute("DELETE FROM firmware_job")
            else:
                conn.execute(
                    "INSERT INTO firmware_job (id, job) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET job = excluded.job",
                    (text,),
                )
