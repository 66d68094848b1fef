"""The configuration overlay: keys set at runtime, laid over the station's config file."""

from __future__ import annotations

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import require_str

__all__ = ["SettingsStore"]


@pykka.traversable
class SettingsStore:
    """``storage.settings``: table config_overlay."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def overlay(self) -> dict[str, str]:
        """Every key set at runtime, with its value as OCPP text."""
        rows = self._db.read().execute("SELECT key, value FROM config_overlay ORDER BY key")
        return dict(rows.fetchall())

    def put(self, key: str, value: str) -> None:
        require_str(key, "key")
        require_str(value, "value")
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO config_overlay (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
