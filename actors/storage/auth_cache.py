"""The authorization cache: the idTagInfo last heard for each idTag."""

from __future__ import annotations

import json
from typing import Any

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import require_str, to_json

__all__ = ["AuthCache"]


@pykka.traversable
class AuthCache:
    """``storage.auth_cache``: table auth_cache (idTags match case-insensitively)."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def get(self, id_tag: str) -> dict[str, Any] | None:
        """The idTagInfo last stored for ``id_tag`` (case-insensitive), or None.

        Expiry is the caller's business: it knows the time, this store does not.
        """
        row = self._db.read().execute("SELECT info FROM auth_cache WHERE id_tag = ?", (id_tag,))
        found = row.fetchone()
        return None if found is None else json.loads(found[0])

    def put(self, id_tag: str, info: dict[str, Any], used: float | None = None) -> None:
        """Store what the CSMS said of ``id_tag``; ``used`` is when (epoch seconds)."""
        require_str(id_tag, "id_tag")
        text = to_json(info, "idTagInfo")
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO auth_cache (id_tag, info, stored, used)"
                " VALUES (?, ?, (SELECT coalesce(max(stored), 0) + 1 FROM auth_cache), ?)"
                " ON CONFLICT (id_tag) DO UPDATE"
                " SET info = excluded.info, stored = excluded.stored, used = excluded.used",
                (id_tag, text, used),
            )
            # An eviction policy (AuthorizationCache size limit) belongs here,
            # in the same transaction, choosing victims by `stored`.

    def touch(self, id_tag: str, used: float) -> None:
        """``id_tag``'s entry authorized a driver at ``used``: the latest in line again.

        Not fsync'd (it survives kill -9, not a power cut): a use lost to one
        only makes the entry look older, and a card is no reason to wear flash."""
        with self._db.write(synced=False) as conn:
            conn.execute(
                "UPDATE auth_cache SET used = ?,"
                " stored = (SELECT coalesce(max(stored), 0) + 1 FROM auth_cache)"
                " WHERE id_tag = ?",
                (used, id_tag),
            )

    def last_used(self, id_tag: str) -> float | None:
        """When ``id_tag``'s entry was last stored or used (epoch seconds); None if
        never said (an entry from before migration 0012) or absent."""
        row = self._db.read().execute("SELECT used FROM auth_cache WHERE id_tag = ?", (id_tag,))
        found = row.fetchone()
        return None if found is None or found[0] is None else float(found[0])

    def clear(self) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM auth_cache")

    def delete(self, id_tag: str) -> bool:
        """Forget ``id_tag``'s entry (2.0.1 N10, a customer's data cleared); whether it had one."""
        with self._db.write() as conn:
            return conn.execute("DELETE FROM auth_cache WHERE id_tag = ?", (id_tag,)).rowcount > 0

    def size(self) -> int:
        count: int = self._db.read().execute("SELECT count(*) FROM auth_cache").fetchone()[0]
        return count
