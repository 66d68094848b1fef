"""The station's settings as a read-only view, shared by every actor.

One store, shaped like 2.0.1's device model: values by `Address` (component,
variable; config/device_model.py). Actors read a `Setting` (a domain name,
config/settings_catalog.py); the 1.6 settings block reads and writes 1.6
keys, which are a view onto the same places. The settings actor is the
only writer; everyone else reads typed values from here without asking an
actor. Why readers need no lock: the view holds one reference to an
immutable snapshot, which the settings actor replaces in a single attribute
store (atomic in Python); a reader sees the old snapshot or the new one,
whole, never a mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from ocppstation.config import keys_v16, v201_components
from ocppstation.config.device_model import Address
from ocppstation.config.keys_v16 import Value
from ocppstation.config.loader import StationConfig
from ocppstation.config.settings_catalog import SETTING_ADDRESSES, Setting
from ocppstation.config.v16_view import v16_address

_MISSING: Any = object()


@dataclass(frozen=True)
class _Snapshot:
    places: Mapping[Address, Value]
    # The 1.6 keys the station has, each to its place, in table order.
    keys: Mapping[str, Address]


def _snapshot(values: Mapping[str, Value], table: Mapping[str, keys_v16.KeySpec]) -> _Snapshot:
    keys = {key: v16_address(key, table) for key in values}
    places = {keys[key]: value for key, value in values.items()}
    return _Snapshot(MappingProxyType(places), MappingProxyType(keys))


class SettingsView:
    """The station's settings as typed values, for reading from any thread.

    Values are bool, int, str, or a tuple of str for a list; see `keys_v16`.
    Only settings the station has are here (no optional key it lacks, no key
    of a feature profile it does not support).
    """

    def __init__(
        self, values: Mapping[str, Value], table: Mapping[str, keys_v16.KeySpec] = keys_v16.KEYS
    ) -> None:
        self._now = _snapshot(values, table)

    def get(self, setting: Setting, default: Any = _MISSING) -> Any:
        """The value of `setting`, or `default`; KeyError without one."""
        value = self._now.places.get(SETTING_ADDRESSES[setting], _MISSING)
        if value is not _MISSING:
            return value
        if default is not _MISSING:
            return default
        raise KeyError(f"{setting.value!r} is not a setting of this station")

    def at(self, place: Address) -> Value | None:
        """The value stored at `place`, or None."""
        return self._now.places.get(place)

    def v16(self, key: str, default: Any = _MISSING) -> Any:
        """The value of the 1.6 key `key` (exact name), or `default`; KeyError without one."""
        now = self._now
        place = now.keys.get(key)
        if place is not None:
            return now.places[place]
        if default is not _MISSING:
            return default
        raise KeyError(f"{key!r} is not a configuration key of this station")

    def snapshot(self) -> Mapping[str, Value]:
        """Every 1.6 key at one moment: read several keys that must agree from this."""
        now = self._now
        return MappingProxyType({key: now.places[place] for key, place in now.keys.items()})

    def __contains__(self, key: object) -> bool:
        return key in self._now.keys

    def _replace(
        self, values: Mapping[str, Value], table: Mapping[str, keys_v16.KeySpec] = keys_v16.KEYS
    ) -> None:
        # The one write: a single reference store (see the module docstring).
        self._now = _snapshot(values, table)

    def _replace_places(self, places: Mapping[Address, v201_components.Value]) -> None:
        """The values by place (2.0.1's device model); a 1.6 key whose place is
        among them still reads (the embedding API's Station.setting)."""
        keys = {key: place for key, place in self._now.keys.items() if place in places}
        # A 2.0.1 decimal is a float, which no 1.6 key has; every Setting an
        # actor reads is an integer, a boolean, a string or a list.
        typed = cast(Mapping[Address, Value], places)
        self._now = _Snapshot(MappingProxyType(dict(typed)), MappingProxyType(keys))


class StationSettings:
    """What outlives the settings actor, one per station: the view everyone
    reads, and the in-memory overlay used when the station has no database."""

    def __init__(self, config: StationConfig) -> None:
        # Before the settings actor has read the stored overlay, the file and
        # the defaults are the best answer there is, and never an empty one.
        values, _ = keys_v16.effective(config.sections, config.evses)
        self.view = SettingsView(values, config.keys)
        self.memory_overlay: dict[Address, str] = {}
