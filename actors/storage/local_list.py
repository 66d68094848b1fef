"""The local authorization list (SendLocalList) and its version."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import require_str, to_json

__all__ = ["LocalList"]


@pykka.traversable
class LocalList:
    """``storage.local_list``: tables local_list and local_list_version."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def version(self) -> int:
        """The listVersion last stored, 0 if no list was ever sent."""
        row = (
            self._db.read()
            .execute("SELECT version FROM local_list_version WHERE id = 1")
            .fetchone()
        )
        return 0 if row is None else int(row[0])

    def get(self, id_tag: str) -> dict[str, Any] | None:
        """The idTagInfo the local list holds for ``id_tag`` (case-insensitive)."""
        row = self._db.read().execute("SELECT info FROM local_list WHERE id_tag = ?", (id_tag,))
        found = row.fetchone()
        return None if found is None else json.loads(found[0])

    def size(self) -> int:
        count: int = self._db.read().execute("SELECT count(*) FROM local_list").fetchone()[0]
        return count

    def known(self, id_tags: list[str]) -> set[str]:
        """Those of ``id_tags`` the list holds (matched case-insensitively)."""
        conn = self._db.read()
        return {
            tag
            for tag in id_tags
            if conn.execute("SELECT 1 FROM local_list WHERE id_tag = ?", (tag,)).fetchone()
        }

    def replace(self, version: int, entries: list[dict[str, Any]]) -> None:
        """A Full update: the list becomes ``entries``, at ``version``.

        Entries without idTagInfo are not in the new list. Version rules
        (VersionMismatch) are the authorization actor's; this only stores.
        """
        rows = _rows(entries)
        with self._db.write() as conn:
            conn.execute("DELETE FROM local_list")
            _apply(conn, rows)
            _set_version(conn, version)

    def update(self, version: int, entries: list[dict[str, Any]]) -> None:
        """A Differential update: upsert entries with idTagInfo, delete the rest."""
        rows = _rows(entries)
        with self._db.write() as conn:
            _apply(conn, rows)
            _set_version(conn, version)


def _rows(entries: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    # Everything is checked before the transaction starts, so a bad entry
    # rejects the whole update instead of leaving part of it applied.
    rows: list[tuple[str, str | None]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            msg = f"a local list entry must be a dict, not {type(entry).__name__}"
            raise TypeError(msg)
        id_tag = require_str(entry.get("idTag"), "idTag")
        info = entry.get("idTagInfo")
        rows.append((id_tag, None if info is None else to_json(info, "idTagInfo")))
    return rows


def _apply(conn: sqlite3.Connection, rows: list[tuple[str, str | None]]) -> None:
    for id_tag, info in rows:
        if info is None:
            conn.execute("DELETE FROM local_list WHERE id_tag = ?", (id_tag,))
        else:
            conn.execute(
                "INSERT INTO local_list (id_tag, info) VALUES (?, ?)"
                " ON CONFLICT (id_tag) DO UPDATE SET info = excluded.info",
                (id_tag, info),
            )


def _set_version(conn: sqlite3.Connection, version: int) -> None:
    conn.execute(
        "INSERT INTO local_list_version (id, version) VALUES (1, ?)"
        " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        (int(version),),
    )
