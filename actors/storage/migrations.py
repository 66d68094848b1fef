"""The numbered schema steps ``config/migrations/NNNN_name.sql`` and how they are applied.

Each file is one step; ``PRAGMA user_version`` records the last one applied.
Once released, a file is never edited: the schema changes in a new file.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ocppstation.actors.storage.connection import StorageError

__all__ = [
    "Migration",
    "apply_migrations",
    "check_migrations",
    "load_migrations",
    "schema_version",
]

_MIGRATIONS_PACKAGE = "ocppstation.config"
_MIGRATIONS_FOLDER = "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered schema step; ``version`` is what user_version becomes."""

    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def check_migrations(migrations: Sequence[Migration]) -> None:
    """Refuse gaps, duplicates and disorder: each step assumes the previous one."""
    for expected, m in enumerate(migrations, start=1):
        if m.version != expected:
            msg = f"migration {m.label}: expected version {expected:04d} in this position"
            raise ValueError(msg)


@cache
def load_migrations() -> tuple[Migration, ...]:
    """The migrations shipped in ``ocppstation.config/migrations``, in order.

    Read with importlib.resources, so they come from wherever the package is
    installed (a wheel needs the ``migrations/*.sql`` package-data line).
    Other files in the folder are ignored; a ``.sql`` file with a bad name is
    an error, because silently skipping a migration would be worse.
    """
    folder = resources.files(_MIGRATIONS_PACKAGE).joinpath(_MIGRATIONS_FOLDER)
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            msg = f"migration file {entry.name!r} is not named NNNN_name.sql"
            raise ValueError(msg)
        found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    check_migrations(found)
    return tuple(found)


def schema_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def apply_migrations(
    conn: sqlite3.Connection, migrations: Sequence[Migration], source: str
) -> tuple[int, int]:
    """Bring the database up to the last migration; return (before, after).

    Each step runs in its own transaction together with the ``PRAGMA
    user_version`` that records it (the version lives in the file header and
    is rolled back with everything else), so a crash or a failing statement
    leaves the database at the previous version, never half-way. A version
    higher than any known migration means a newer release wrote the file:
    opening it could silently lose what that release stores, so it is refused.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    check_migrations(migrations)
    before = schema_version(conn)
    latest = migrations[-1].version if migrations else 0
    if before > latest:
        raise StorageError(
            source,
            f"schema version {before} is newer than this ocppstation knows ({latest});"
            " it was written by a newer release; refusing to open it",
        )
    for m in migrations[before:]:
        # executescript() commits any open transaction before it runs, so the
        # BEGIN has to be part of the script itself. IMMEDIATE takes the write
        # lock up front: a second process migrating the same file waits or
        # fails instead of interleaving.
        script = f"BEGIN IMMEDIATE;\n{m.sql}\n;\nPRAGMA user_version = {m.version};\nCOMMIT;\n"
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(source, f"migration {m.label} failed: {exc}") from exc
    return before, schema_version(conn)
