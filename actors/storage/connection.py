"""The one SQLite connection of a station, as the stores use it.

The storage actor opens the connection in its own thread and attaches it
here; the stores only read through ``read()`` and write through ``write()``,
so every write is one committed transaction and nothing else touches the
connection's life.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Connection", "StorageError"]


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
    def write(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction; anything raised inside rolls it all back."""
        conn = self.read()
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
