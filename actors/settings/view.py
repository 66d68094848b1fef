"""The station's OCPP keys as a read-only view, shared by every actor.

The settings actor (actors/settings.py) is the only writer; everyone else
reads typed values from here without asking an actor. Why readers need no
lock: the view holds one reference to an immutable mapping, which the
settings actor replaces in a single attribute store (atomic in Python); a
reader sees the old mapping or the new one, whole, never a mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ocppstation.config import keys_v16
from ocppstation.config.keys_v16 import Value
from ocppstation.config.loader import StationConfig

_MISSING: Any = object()


class SettingsView:
    """The station's OCPP keys as typed values, for reading from any thread.

    Values are bool, int, str, or a tuple of str for a CSL; see `keys_v16`.
    Only keys the station has are here (no optional key it lacks, no key of
    a feature profile it does not support).
    """

    def __init__(self, values: Mapping[str, Value]) -> None:
        self._values: Mapping[str, Value] = MappingProxyType(dict(values))

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """The value of `key` (exact name), or `default`; KeyError without one."""
        try:
            return self._values[key]
        except KeyError:
            if default is not _MISSING:
                return default
            raise KeyError(f"{key!r} is not a configuration key of this station") from None

    def snapshot(self) -> Mapping[str, Value]:
        """Every key at one moment: read several keys that must agree from this."""
        return self._values

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def _replace(self, values: Mapping[str, Value]) -> None:
        # The one write: a single reference store (see the module docstring).
        self._values = MappingProxyType(dict(values))


class StationSettings:
    """What outlives the settings actor, one per station: the view everyone
    reads, and the in-memory overlay used when the station has no database."""

    def __init__(self, config: StationConfig) -> None:
        # Before the settings actor has read the stored overlay, the file and
        # the defaults are the best answer there is, and never an empty one.
        values, _ = keys_v16.effective(config.sections, config.evses)
        self.view = SettingsView(values)
        self.memory_overlay: dict[str, str] = {}
