"""The station picks its supervision tree by the OCPP version in use."""

from __future__ import annotations

import pytest

from ocppstation.actors import versions
from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import EventBus
from ocppstation.actors.runtime.context import StationContext
from ocppstation.actors.runtime.registry import Registry
from ocppstation.actors.station import Station, StationError
from ocppstation.config.loader import StationConfig, load
from ocppstation.protocol.errors import OcppVersion


class _Speaking(StationConfig):
    """A configuration that names a version the station has no tree for yet."""

    @property
    def ocpp_version(self) -> OcppVersion:
        return OcppVersion.V21


def _ctx(config: StationConfig) -> StationContext:
    return StationContext(config, Registry(), FakeClock(), EventBus(), {})


def test_version_16_builds_the_16_tree() -> None:
    config = load(None, {"Internal": {"Evses": 1}})
    assert config.ocpp_version is OcppVersion.V16
    names = [spec.id for spec in versions.station_tree(_ctx(config))]
    assert names[:2] == ["scheduler", "storage"]
    assert "link" in names and "evses" in names


def test_every_tree_is_keyed_by_a_known_subprotocol() -> None:
    assert set(versions.TREES) <= set(OcppVersion)
    assert OcppVersion.V16 in versions.TREES


def test_a_version_without_a_tree_is_refused_by_name() -> None:
    base = load(None, {"Internal": {"Evses": 1}})
    config = _Speaking(base.sections, base.source)
    with pytest.raises(versions.UnsupportedVersion, match=r"ocpp2\.1 is not supported.*ocpp1\.6"):
        versions.station_tree(_ctx(config))


def test_station_start_with_an_unsupported_version_fails_cleanly() -> None:
    base = load(None, {"Internal": {"Evses": 1}})
    station = Station(_Speaking(base.sections, base.source), clock=FakeClock())
    with pytest.raises(versions.UnsupportedVersion):
        station.start()
    assert not station.running
    with pytest.raises(StationError):
        station.tag(1, "CARD")
