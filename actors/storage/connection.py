"""The one SQLite connection of a station, as the stores use it.

The storage actor opens the connection in its own thread and attaches it
here; the stores only read through ``read()`` and write through ``write()``,
so every write is atomic and nothing else touches the connection's life.

A write is one committed transaction, fsync'd (``synchronous`` FULL) unless
it is ``synced=False``: then it survives a crash or ``kill -9`` of the
process (WAL) but may be lost at a power loss, for writes whose loss only
means a message sent twice. A group (``group()``, the storage actor's
group commit of deferred calls) makes many writes one transaction, each a
savepoint undone alone if it fails, and one fsync; ``after_commit``
callbacks run once what they follow is durable.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["COMMUTES", "DEFERRED", "Connection", "StorageError", "commutes", "deferred"]

DEFERRED = "deferred"
COMMUTES = "commutes"

_Method = TypeVar("_Method", bound=Callable[..., Any])


def deferred(method: _Method) -> _Method:
    """Mark a store method nobody waits for: the storage actor may hold it
    for a group commit (actors/storage/db.py)."""
    method.storage_kind = DEFERRED  # type: ignore[attr-defined]
    return method


def commutes(method: _Method) -> _Method:
    """Mark a store method that touches no row a deferred one writes: it
    runs without flushing them first."""
    method.storage_kind = COMMUTES  # type: ignore[attr-defined]
    return method


class StorageError(Exception):
    """The database cannot be used; the message names the file and why."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class Connection:
    """The storage actor's connection, shared by its stores (all on the actor's thread)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._conn: sqlite3.Connection | None = None
        self.synchronous = "FULL"  # the storage's mode, restored after an unsynced write
        self.synced_commits = 0  # fsync'd commits (FULL), for benchmarks and tests
        self.commits = 0  # every commit
        self._grouped = False
        self._after: list[Callable[[], None]] = []

    def attach(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def detach(self) -> sqlite3.Connection | None:
        conn, self._conn = self._conn, None
        return conn

    def read(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(self.source, "database is not open")
        return self._conn

    @contextmanager
    def write(self, *, synced: bool = True) -> Iterator[sqlite3.Connection]:
        """One atomic write; anything raised inside undoes it all."""
        if self._grouped:
            with self._savepoint() as conn:
                yield conn
            return
        conn = self.read()
        unsynced = not synced and self.synchronous == "FULL"
        if unsynced:
            conn.execute("PRAGMA synchronous = NORMAL")
        try:
            # IMMEDIATE: take the write lock at the start, so a busy database
            # fails here and not half-way through.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # A failed COMMIT may already have rolled back (SQLite does so on
                # some I/O errors); only roll back what is still open.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            if unsynced:
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        self._committed(synced=not unsynced and self.synchronous == "FULL")

    def delete_in(self, table: str, column: str, values: Sequence[object]) -> int:
        """Delete, in one write, the rows of `table` whose `column` is one of
        `values`; how many there were. `table` and `column` are the store's
        own names, never input."""
        if not values:
            return 0
        marks = ", ".join("?" for _ in values)
        with self.write() as conn:
            cursor = conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", list(values))
        return int(cursor.rowcount)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` on this thread once what was written is durable (at
        once outside a group; dropped if the group's commit fails)."""
        if self._grouped:
            self._after.append(callback)
        else:
            callback()

    @contextmanager
    def group(self) -> Iterator[None]:
        """Writes inside are one transaction, committed (fsync'd) at the end;
        then the after_commit callbacks run. A failed commit rolls all back
        and raises."""
        conn = self.read()
        conn.execute("BEGIN IMMEDIATE")
        self._grouped = True
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            self._after.clear()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._grouped = False
        self._committed(synced=self.synchronous == "FULL")
        callbacks, self._after = self._after, []
        for callback in callbacks:
            callback()

    def _committed(self, *, synced: bool) -> None:
        self.commits += 1
        if synced:
            self.synced_commits += 1

    @contextmanager
    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        conn = self.read()
        conn.execute("SAVEPOINT write")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO write")
                conn.execute("RELEASE write")
            raise
        conn.execute("RELEASE write")
