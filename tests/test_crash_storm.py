"""Crash storms on every actor path: the other EVSEs keep charging.

Each actor of the tree is crashed in turn (as a bug would) while EVSE 2
charges: its transaction must never stop, and its meter values must go on
reaching the CSMS after the storm, for 1.6 and 2.0.1. The root allows 5
restarts in 30 s, so the paths are crashed in groups, each on a station of
its own; the crashes of one EVSE's parts count against that EVSE alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import TransactionStopped
from ocppstation.actors.runtime.supervisor import ChildRestarted
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of, quiet, wait_status

CP = "cp-test"
ROOT = [
    "scheduler",
    "storage",
    "settings",
    "auth",
    "outbox",
    "security",
    "profiles",
    "link",
    "link/rpc",
    "link/websocket",
    "evses",
    "registration",
    "remote_control",
    "availability",
    "reset",
    "data_transfer",
    "remote_trigger",
]
BLOCKS = {
    "1.6": ["reservations", "firmware", "uploads"],
    "2.0.1": ["reservations", "firmware", "uploads", "transactions", "display", "cost"],
}
EVSE = ["evses/1/board", "evses/1/meter", "evses/1/connector"]


def _groups(version: str) -> list[list[str]]:
    paths = ROOT + BLOCKS[version]
    # At most 4 restarts at the root per station: its intensity is 5 in 30 s.
    return [paths[i : i + 4] for i in range(0, len(paths), 4)] + [EVSE]


CASES = [(v, g) for v in ("1.6", "2.0.1") for g in _groups(v)]


def _crash(station: Station, path: str, last: str) -> None:
    """Crash `path` and wait until its supervisor has restarted all it restarts:
    at the root (rest_for_one) everything after it, up to `last`."""
    log = log_of(station)
    mark = log.mark()
    ref = station.registry.wait_for(path, 5)
    station.crash(path)
    station.registry.wait_for(path, 5, not_ref=ref)
    done = last if "/" not in path else path
    log.wait_for(lambda e: isinstance(e, ChildRestarted) and e.path == done, timeout=10, since=mark)


@pytest.mark.slow
@pytest.mark.parametrize(("version", "paths"), CASES, ids=[f"{v}:{g[0]}" for v, g in CASES])
def test_the_other_evse_keeps_charging_through_a_crash_storm(
    version: str,
    paths: list[str],
    make_station: StationFactory,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=(f"ocpp{version}",)) as csms:
        station = make_station(
            csms,
            evses=2,
            # A database file, as a charger has: what storage holds outlives its restart.
            # CallTimeout past the sampling step: moving the clock fails no call in flight.
            Internal={"OcppVersions": [version], "DataDir": str(tmp_path), "CallTimeout": 60},
            Core={"MeterValueSampleInterval": 10},
        )
        answered(station, "StatusNotification", 2)
        station.plug(2)
        wait_status(station, 2, "Preparing")
        station.tag(2, "TAG-2")
        wait_status(station, 2, "Charging")
        quiet(station)
        # The root's last child, whose restart ends a rest_for_one restart.
        last = station._root.proxy().which_children().get(timeout=5)[-1][0]
        for path in paths:
            _crash(station, path, last)
        quiet(station)
        # Its transaction ran through the storm and still reports.
        stops: list[Any] = [
            e for e in log_of(station).all() if isinstance(e, TransactionStopped) and e.evse == 2
        ]
        assert not stops, stops
        assert station.status()["evses"][1]["status"] == "Charging"
        mark = csms.log.mark()
        clock.advance(10)
        action = "MeterValues" if version == "1.6" else "TransactionEvent"
        # (A 2.0.1 EVSE restarted mid-session may first say its charging state again.)
        sample = csms.log.wait_for(
            lambda e: (
                e.kind == "call"
                and e.action == action
                and e.payload.get("triggerReason", "MeterValuePeriodic") == "MeterValuePeriodic"
            ),
            # Generous: on a loaded CI machine a reconnect after a link storm is slow.
            timeout=15,
            since=mark,
        )
        if version == "1.6":
            assert sample.payload["connectorId"] == 2
        assert station.running
