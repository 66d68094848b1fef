"""OCPP 2.0.1's network connection profiles, by configuration slot, across restarts."""

from __future__ import annotations

import json
from typing import Any

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import to_json

__all__ = ["NetworkProfileStore"]


@pykka.traversable
class NetworkProfileStore:
    """``storage.network_profiles``: table network_profile.

    A profile is the connectionData of its SetNetworkProfile (camelCase, as
    on the wire); the rules that read it are protocol/v201/network_profiles.py.
    """

    def __init__(self, db: Connection) -> None:
        self._db = db

    def all(self) -> dict[int, dict[str, Any]]:
        """Every stored profile by slot."""
        rows = self._db.read().execute("SELECT slot, profile FROM network_profile ORDER BY slot")
        return {int(slot): dict(json.loads(text)) for slot, text in rows.fetchall()}

    def put(self, slot: int, profile: dict[str, Any]) -> None:
        if slot < 1:
            raise ValueError(f"a configuration slot counts from 1, not {slot}")
        text = to_json(profile, "profile")
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO network_profile (slot, profile) VALUES (?, ?)"
                " ON CONFLICT (slot) DO UPDATE SET profile = excluded.profile",
                (slot, text),
            )
