"""OCPP 2.0.1's display messages (SetDisplayMessage), by id, across restarts."""

from __future__ import annotations

import json
from typing import Any

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import to_json

__all__ = ["DisplayMessageStore"]


@pykka.traversable
class DisplayMessageStore:
    """``storage.display_messages``: table display_message.

    A message is the MessageInfo of its SetDisplayMessage (camelCase, as on
    the wire); the rules that read it are protocol/v201/display_messages.py.
    """

    def __init__(self, db: Connection) -> None:
        self._db = db

    def all(self) -> list[tuple[int, dict[str, Any]]]:
        """Every stored message with its seq, oldest set first."""
        rows = self._db.read().execute("SELECT seq, message FROM display_message ORDER BY seq")
        return [(int(seq), dict(json.loads(text))) for seq, text in rows.fetchall()]

    def put(self, message: dict[str, Any]) -> int:
        """Store `message` under its id (replacing one of that id); returns its seq."""
        text = to_json(message, "message")
        with self._db.write() as conn:
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM display_message").fetchone()
            seq = int(row[0])
            conn.execute(
                "INSERT INTO display_message (id, seq, message) VALUES (?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, message = excluded.message",
                (int(message["id"]), seq, text),
            )
        return seq

    def delete(self, ids: list[int]) -> int:
        """Delete the messages of `ids`; returns how many there were."""
        return self._db.delete_in("display_message", "id", ids)
