"""The queue of transactional messages waiting for the CSMS's answer, in send order."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import pykka

from ocppstation.actors.storage.connection import Connection, commutes
from ocppstation.actors.storage.values import require_str, to_json

__all__ = ["MessageQueue", "QueuedMessage", "insert_message"]


@dataclass(frozen=True)
class QueuedMessage:
    """A transactional message waiting for the CSMS's answer."""

    seq: int
    action: str
    payload: dict[str, Any]
    local_tx: int | None
    attempts: int


@pykka.traversable
class MessageQueue:
    """``storage.queue``: table queue; seq grows across restarts, even once emptied."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def push(self, action: str, payload: dict[str, Any], local_tx: int | None) -> int:
        """Store a message to send; return its seq."""
        text = to_json(payload, "payload")
        require_str(action, "action")
        with self._db.write() as conn:
            return insert_message(conn, action, text, local_tx)

    def all(self) -> list[QueuedMessage]:
        """Every queued message, in the order it must be sent."""
        return self._queued(
            "SELECT seq, action, payload, local_tx, attempts FROM queue ORDER BY seq", ()
        )

    def head(self, limit: int = 1) -> list[QueuedMessage]:
        """The first ``limit`` messages in send order.

        For draining a long backlog: reading all of 10,000 queued messages
        takes tens of ms, so reading them all again after each answer would not do.
        """
        return self._queued(
            "SELECT seq, action, payload, local_tx, attempts FROM queue ORDER BY seq LIMIT ?",
            (limit,),
        )

    @commutes
    def delete(self, seq: int) -> None:
        """Forget a message once answered; an unknown seq is not an error.

        Idempotent on purpose: an answer handled twice (or after the message
        was dropped for too many attempts) must not crash its caller.
        Not fsync'd (it survives kill -9, not a power loss, which would only
        send the answered message again), and it commutes with deferred
        writes: theirs are new rows.
        """
        with self._db.write(synced=False) as conn:
            conn.execute("DELETE FROM queue WHERE seq = ?", (seq,))

    def attempted(self, seq: int, attempts: int) -> None:
        """Record how many times a message was sent without an answer."""
        with self._db.write() as conn:
            conn.execute("UPDATE queue SET attempts = ? WHERE seq = ?", (attempts, seq))

    def size(self) -> int:
        count: int = self._db.read().execute("SELECT count(*) FROM queue").fetchone()[0]
        return count

    def _queued(self, sql: str, params: tuple[Any, ...]) -> list[QueuedMessage]:
        return [
            QueuedMessage(seq, action, json.loads(payload), local_tx, attempts)
            for seq, action, payload, local_tx, attempts in self._db.read().execute(sql, params)
        ]


def insert_message(
    conn: sqlite3.Connection, action: str, payload_text: str, local_tx: int | None
) -> int:
    """Queue a message inside the caller's write (a transaction step queued with it)."""
    cur = conn.execute(
        "INSERT INTO queue (action, payload, local_tx) VALUES (?, ?, ?)",
        (action, payload_text, local_tx),
    )
    assert cur.lastrowid is not None
    if local_tx is not None:
        # In the same commit: the count is the next message's place (2.0.1 seqNo).
        conn.execute("UPDATE tx SET events = events + 1 WHERE local_id = ?", (local_tx,))
    return cur.lastrowid
