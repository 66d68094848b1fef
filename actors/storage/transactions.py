"""Transactions as the station ran them, and the atomic steps that queue their messages.

A step of a transaction and the message that reports it are stored in one
SQLite transaction (``begin_and_queue``, ``meter_and_queue``,
``end_and_queue``), so a crash never leaves one without the other.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from ocppstation.actors.storage.connection import Connection, deferred
from ocppstation.actors.storage.queue import insert_message
from ocppstation.actors.storage.reservations import forget_reservation
from ocppstation.actors.storage.values import require_str, to_json
from ocppstation.protocol.txqueue import TransactionId

log = logging.getLogger("ocppstation.storage")

__all__ = ["Transactions", "TxRecord"]


@dataclass(frozen=True)
class TxRecord:
    """One transaction as stored; ``stopped`` is set by end."""

    local_id: int
    connector: int
    id_tag: str
    meter_start: int
    started_at: str
    transaction_id: TransactionId | None
    last_meter: int
    last_at: str
    stopped: bool
    reservation_id: int | None
    meter_stop: int | None = None
    stopped_at: str | None = None
    stop_reason: str | None = None
    # Messages queued for it so far: the place of the next one (2.0.1 seqNo).
    events: int = 0


_COLUMNS = (
    "local_id, connector, id_tag, meter_start, started_at, transaction_id,"
    " last_meter, last_at, stopped, reservation_id, meter_stop, stopped_at, stop_reason,"
    " events"
)


def _record(row: tuple[Any, ...]) -> TxRecord:
    (local_id, connector, id_tag, meter_start, started_at, transaction_id,
     last_meter, last_at, stopped, reservation_id, meter_stop, stopped_at,
     stop_reason, events) = row  # fmt: skip
    return TxRecord(
        local_id=local_id,
        connector=connector,
        id_tag=id_tag,
        meter_start=meter_start,
        started_at=started_at,
        transaction_id=transaction_id,
        last_meter=last_meter,
        last_at=last_at,
        stopped=bool(stopped),
        reservation_id=reservation_id,
        meter_stop=meter_stop,
        stopped_at=stopped_at,
        stop_reason=stop_reason,
        events=events,
    )


@pykka.traversable
class Transactions:
    """``storage.transactions``: table tx; local ids are never reused."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def begin(
        self,
        connector: int,
        id_tag: str,
        meter_start: int,
        started_at: str,
        reservation_id: int | None = None,
        transaction_id: TransactionId | None = None,
    ) -> int:
        """Record a started transaction; return its local id (never reused).

        A transaction with a ``reservation_id`` uses that reservation up: it is
        deleted in the same commit, so a crash never leaves both.
        """
        with self._db.write() as conn:
            return _insert(
                conn, connector, id_tag, meter_start, started_at, reservation_id, transaction_id
            )

    def set_id(self, local_id: int, transaction_id: TransactionId) -> None:
        """Record the transactionId the CSMS gave (also after the stop)."""
        with self._db.write() as conn:
            cur = conn.execute(
                "UPDATE tx SET transaction_id = ? WHERE local_id = ?", (transaction_id, local_id)
            )
            if cur.rowcount != 1:
                raise KeyError(f"no transaction with local id {local_id}")

    def meter(self, local_id: int, meter_wh: int, at: str) -> None:
        """Record the last known meter reading of a running transaction."""
        with self._db.write() as conn:
            _update_meter(conn, local_id, meter_wh, at)

    def end(self, local_id: int, meter_stop: int, stopped_at: str, reason: str | None) -> None:
        """Mark a transaction stopped; a second stop is refused (ValueError)."""
        with self._db.write() as conn:
            _end(conn, local_id, meter_stop, stopped_at, reason)

    def open(self) -> list[TxRecord]:
        """Transactions not stopped, oldest first: what a restart must end."""
        rows = self._db.read().execute(
            f"SELECT {_COLUMNS} FROM tx WHERE stopped = 0 ORDER BY local_id"
        )
        return [_record(row) for row in rows]

    def of_token(self, id_tag: str) -> list[TxRecord]:
        """The stored transactions of ``id_tag`` (case-insensitive, as idTags
        match), oldest first: what the station holds of a customer (2.0.1 N09)."""
        rows = self._db.read().execute(
            f"SELECT {_COLUMNS} FROM tx WHERE id_tag = ? COLLATE NOCASE ORDER BY local_id",
            (id_tag,),
        )
        return [_record(row) for row in rows]

    def get(self, local_id: int) -> TxRecord | None:
        row = self._db.read().execute(f"SELECT {_COLUMNS} FROM tx WHERE local_id = ?", (local_id,))
        found = row.fetchone()
        return None if found is None else _record(found)

    def prune(self) -> int:
        """Forget stopped transactions that no queued message refers to.

        Returns how many were removed. Local ids are never reused afterwards.
        """
        with self._db.write() as conn:
            # The queue's rows refer to tx (a foreign key): those are kept.
            cur = conn.execute(
                "DELETE FROM tx WHERE stopped = 1"
                " AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.local_tx = tx.local_id)"
            )
            return cur.rowcount

    def begin_and_queue(
        self,
        connector: int,
        id_tag: str,
        meter_start: int,
        started_at: str,
        reservation_id: int | None,
        action: str,
        payload: dict[str, Any],
        transaction_id: TransactionId | None = None,
    ) -> tuple[int, int]:
        """begin and the queueing of its StartTransaction, atomically.

        Returns (local id, seq). Either both are stored or neither: a restart
        never finds a transaction whose start will not be sent, or the reverse.
        The reservation it uses, if any, is gone in the same commit.
        """
        text = to_json(payload, "payload")
        require_str(action, "action")
        with self._db.write() as conn:
            local_id = _insert(
                conn, connector, id_tag, meter_start, started_at, reservation_id, transaction_id
            )
            return local_id, insert_message(conn, action, text, local_id)

    def meter_and_queue(
        self, local_id: int, meter_wh: int, at: str, action: str, payload: dict[str, Any]
    ) -> int:
        """meter and the queueing of its MeterValues in one commit; returns seq.

        One fsync instead of two per sample, which matters with many EVSEs
        sampling every second on slow flash.
        """
        text = to_json(payload, "payload")
        require_str(action, "action")
        with self._db.write() as conn:
            _update_meter(conn, local_id, meter_wh, at)
            return insert_message(conn, action, text, local_id)

    @deferred
    def meter_and_queue_then(
        self,
        local_id: int,
        meter_wh: int,
        at: str,
        action: str,
        payload: dict[str, Any],
        then: Callable[[int], None],
    ) -> None:
        """meter_and_queue for a caller that does not wait: `then(seq)` runs
        on the storage thread once the write is durable, so what it tells
        (the outbox) never learns of a message before it is on disk. The
        write may wait for company (group commit) up to DEFERRED_WINDOW."""
        try:
            text = to_json(payload, "payload")
            require_str(action, "action")
            with self._db.write() as conn:
                _update_meter(conn, local_id, meter_wh, at)
                seq = insert_message(conn, action, text, local_id)
        except Exception:
            # Nobody waits for the answer: say it here, or it is lost.
            log.exception("meter values of transaction %d not stored", local_id)
            raise
        self._db.after_commit(lambda: then(seq))

    def end_and_queue(
        self,
        local_id: int,
        meter_stop: int,
        stopped_at: str,
        reason: str | None,
        action: str,
        payload: dict[str, Any],
    ) -> int:
        """end and the queueing of its StopTransaction, atomically; returns seq.

        After a crash, a transaction is either still open (and gets a
        PowerLoss stop) or stopped with its StopTransaction queued: never
        stopped twice, never stopped without a message.
        """
        text = to_json(payload, "payload")
        require_str(action, "action")
        with self._db.write() as conn:
            _end(conn, local_id, meter_stop, stopped_at, reason)
            return insert_message(conn, action, text, local_id)


def _insert(
    conn: sqlite3.Connection,
    connector: int,
    id_tag: str,
    meter_start: int,
    started_at: str,
    reservation_id: int | None,
    transaction_id: TransactionId | None,
) -> int:
    require_str(id_tag, "id_tag")
    require_str(started_at, "started_at")
    cur = conn.execute(
        "INSERT INTO tx (connector, id_tag, meter_start, started_at, reservation_id,"
        " transaction_id, last_meter, last_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            connector,
            id_tag,
            meter_start,
            started_at,
            reservation_id,
            transaction_id,
            meter_start,
            started_at,
        ),
    )
    assert cur.lastrowid is not None
    if reservation_id is not None:
        forget_reservation(conn, reservation_id)
    return cur.lastrowid


def _stopped(conn: sqlite3.Connection, local_id: int) -> bool:
    row = conn.execute("SELECT stopped FROM tx WHERE local_id = ?", (local_id,)).fetchone()
    if row is None:
        raise KeyError(f"no transaction with local id {local_id}")
    return bool(row[0])


def _update_meter(conn: sqlite3.Connection, local_id: int, meter_wh: int, at: str) -> None:
    require_str(at, "at")
    if _stopped(conn, local_id):
        msg = f"transaction {local_id} is stopped; its meter values are final"
        raise ValueError(msg)
    conn.execute(
        "UPDATE tx SET last_meter = ?, last_at = ? WHERE local_id = ?",
        (meter_wh, at, local_id),
    )


def _end(
    conn: sqlite3.Connection,
    local_id: int,
    meter_stop: int,
    stopped_at: str,
    reason: str | None,
) -> None:
    require_str(stopped_at, "stopped_at")
    if _stopped(conn, local_id):
        # Refused, not ignored: a second stop would mean a second
        # StopTransaction for one transaction.
        msg = f"transaction {local_id} is already stopped"
        raise ValueError(msg)
    conn.execute(
        "UPDATE tx SET stopped = 1, meter_stop = ?, stopped_at = ?, stop_reason = ?,"
        " last_meter = ?, last_at = ? WHERE local_id = ?",
        (meter_stop, stopped_at, reason, meter_stop, stopped_at, local_id),
    )
