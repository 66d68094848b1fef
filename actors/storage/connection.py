"""The one SQLite connection of a station, as the stores use it.

The storage actor opens the connection in its own thread and attaches it
here; the stores only read through ``read()`` and write through ``write()``,
so every write is atomic and nothing else touches the connection's life.

Alone, a write is one committed transaction. In a group (``grouped``, the
storage actor's group commit) it is a savepoint inside the group's
transaction, undone alone if it fails; ``commit_group()`` makes them all
durable with one commit (one fsync) and says whether any was written.
A ``deferrable`` write is one no caller waits for (its effect is told on
by an ``after_commit`` callback), so its group may wait longer for company.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
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
        self.grouped = False
        self.commits = 0  # durable commits made, for benchmarks and tests
        self.urgent_writes = 0  # writes someone waits for, so far
        self._written = False  # a write of the open group has taken place
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
    def write(self, *, deferrable: bool = False) -> Iterator[sqlite3.Connection]:
        """One atomic write; anything raised inside undoes it all."""
        if not deferrable:
            self.urgent_writes += 1
        if self.grouped:
            with self._savepoint() as conn:
                yield conn
            return
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
        self.commits += 1
        self._run_after()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` on this thread once what is written now is durable
        (dropped if that commit fails)."""
        self._after.append(callback)
        if not self.grouped and self._conn is not None and not self._conn.in_transaction:
            self._run_after()

    def _run_after(self) -> None:
        callbacks, self._after = self._after, []
        for callback in callbacks:
            callback()

    @contextmanager
    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        conn = self.read()
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
        conn.execute("SAVEPOINT write")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO write")
                conn.execute("RELEASE write")
            raise
        conn.execute("RELEASE write")
        self._written = True

    def pending(self) -> bool:
        """Whether the open group holds writes not yet committed."""
        return self._written

    def commit_group(self) -> bool:
        """Commit the open group; whether it had written anything. On a failed
        commit everything in it is rolled back and the error raised."""
        conn = self._conn
        written, self._written = self._written, False
        if conn is None or not conn.in_transaction:
            self._run_after()
            return False
        try:
            conn.execute("COMMIT")
        except BaseException:
            self._after.clear()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if written:
            self.commits += 1
        self._run_after()
        return written
