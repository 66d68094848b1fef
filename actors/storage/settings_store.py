"""The settings overlay: values set at runtime, laid over the station's config file.

Keyed by the device model's place (config/device_model.py), whichever OCPP
version set it; migration 0006 moved the 1.6-key rows here.
"""

from __future__ import annotations

import pykka

from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.values import require_str
from ocppstation.config.device_model import Address, Attribute

__all__ = ["SettingsStore"]

_COLUMNS = "component, component_instance, evse, connector, variable, variable_instance"


def _row(address: Address) -> tuple[str, str, int, int, str, str]:
    return (
        address.component,
        address.component_instance or "",
        address.evse or 0,
        address.connector or 0,
        address.variable,
        address.variable_instance or "",
    )


def _address(row: tuple[str, str, int, int, str, str]) -> Address:
    component, component_instance, evse, connector, variable, variable_instance = row
    return Address(
        component,
        variable,
        component_instance or None,
        variable_instance or None,
        evse or None,
        connector or None,
    )


@pykka.traversable
class SettingsStore:
    """``storage.settings``: table setting (the Actual attribute of each place)."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def overlay(self, attribute: Attribute = Attribute.actual) -> dict[Address, str]:
        """Every place set at runtime, with its value as OCPP text (of `attribute`)."""
        rows = self._db.read().execute(
            f"SELECT {_COLUMNS}, value FROM setting WHERE attribute = ? ORDER BY {_COLUMNS}",
            (attribute.value,),
        )
        return {_address(row[:6]): row[6] for row in rows.fetchall()}

    def put(self, address: Address, value: str, attribute: Attribute = Attribute.actual) -> None:
        require_str(value, "value")
        with self._db.write() as conn:
            conn.execute(
                f"INSERT INTO setting ({_COLUMNS}, attribute, value)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                f" ON CONFLICT ({_COLUMNS}, attribute) DO UPDATE SET value = excluded.value",
                (*_row(address), attribute.value, value),
            )
