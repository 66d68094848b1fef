"""Charging profiles the CSMS installed, so that their limits hold across a restart."""

from __future__ import annotations

import json
from typing import Any

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import require_str, to_json

__all__ = ["ChargingProfiles"]


@pykka.traversable
class ChargingProfiles:
    """``storage.profiles``: table charging_profile, keyed by chargingProfileId."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def all(self) -> list[tuple[int, dict[str, Any]]]:
        """Every installed charging profile as (connector, csChargingProfiles), by id."""
        rows = self._db.read().execute(
            "SELECT connector, profile FROM charging_profile ORDER BY id"
        )
        return [(connector, json.loads(text)) for connector, text in rows]

    def put(self, connector: int, profile: dict[str, Any], replaces: list[int]) -> None:
        """Install `profile` on `connector`, removing the profiles it replaces, in one commit.

        A profile with the same chargingProfileId is replaced in any case.
        """
        text = to_json(profile, "profile")
        profile_id = int(profile["chargingProfileId"])
        purpose = require_str(profile.get("chargingProfilePurpose"), "chargingProfilePurpose")
        with self._db.write() as conn:
            conn.executemany("DELETE FROM charging_profile WHERE id = ?", [(i,) for i in replaces])
            conn.execute(
                "INSERT INTO charging_profile (id, connector, purpose, stack_level, profile)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " connector = excluded.connector, purpose = excluded.purpose,"
                " stack_level = excluded.stack_level, profile = excluded.profile",
                (profile_id, connector, purpose, int(profile["stackLevel"]), text),
            )

    def delete(self, ids: list[int]) -> None:
        """Forget these profiles; unknown ids are not an error (cleared twice is cleared)."""
        with self._db.write() as conn:
            conn.executemany("DELETE FROM charging_profile WHERE id = ?", [(i,) for i in ids])
