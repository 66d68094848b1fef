"""Where a 1.6 key's value is stored, for tests that write the store directly."""

from __future__ import annotations

from ocppstation.config.device_model import Address
from ocppstation.config.settings_catalog import CUSTOM, LEGACY
from ocppstation.config.v16_view import V16_ADDRESSES


def at(key: str) -> Address:
    """The address of the 1.6 key `key`; a name no release had is a legacy
    one (a key an older release stored), "K"-like test names are Custom."""
    if key in V16_ADDRESSES:
        return V16_ADDRESSES[key]
    return Address(CUSTOM if len(key) < 3 else LEGACY, key)
