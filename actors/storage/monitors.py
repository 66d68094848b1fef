"""OCPP 2.0.1's variable monitors (SetVariableMonitoring), by id, across restarts."""

from __future__ import annotations

import json
from typing import Any

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import require_str, to_json

__all__ = ["MonitorStore"]


@pykka.traversable
class MonitorStore:
    """``storage.monitors``: table variable_monitor.

    A row is a custom monitor or the CSMS's version of a preconfigured one;
    the rules that read them are protocol/v201/monitoring.py.
    """

    def __init__(self, db: Connection) -> None:
        self._db = db

    def all(self) -> list[tuple[str, dict[str, Any]]]:
        """Every stored monitor as (kind, monitor), by id."""
        rows = self._db.read().execute("SELECT kind, monitor FROM variable_monitor ORDER BY id")
        return [(str(kind), dict(json.loads(text))) for kind, text in rows.fetchall()]

    def put(self, kind: str, monitor: dict[str, Any]) -> None:
        """Store `monitor` under its id, replacing one of that id."""
        require_str(kind, "kind")
        text = to_json(monitor, "monitor")
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO variable_monitor (id, kind, monitor) VALUES (?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, monitor = excluded.monitor",
                (int(monitor["id"]), kind, text),
            )

    def delete(self, ids: list[int]) -> int:
        """Delete the monitors of `ids`; returns how many there were."""
        return self._db.delete_in("variable_monitor", "id", ids)

    def delete_kind(self, kinds: list[str]) -> int:
        """Delete every monitor of the `kinds` (SetMonitoringBase); returns how many."""
        return self._db.delete_in("variable_monitor", "kind", kinds)
