"""A test rig: fake serial devices on ptys and a station configured to drive them.

Shared by the tests/test_hw_*.py end-to-end tests. The station runs in
virtual time (FakeClock); serial I/O is real, over pseudo-terminals, with
short timeouts. Every wait is on an event or a CSMS log entry, with a timeout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.evse.hardware import DeviceHealthChanged
from ocppstation.actors.runtime.supervisor import ChildRestartDelayed
from ocppstation.actors.station import Station
from ocppstation.config.loader import load
from ocppstation.hw.simulated import SimulatedEvse
from ocppstation.tools.fake_device import FakeBoard, FakeDevice, FakeMeter, FakeReader
from tests.conftest import answered

CP = "cp-test"
WAIT = 5.0
FAULT_DELAY = 5
POLL = 5
IO_TIMEOUT = 0.5  # real serial I/O; short, yet enough for a loaded CI machine


class Rig:
    def __init__(self, tmp_path: Path, clock: FakeClock, csms: Any) -> None:
        self.tmp = tmp_path
        self.clock = clock
        self.csms = csms
        self.devices: list[FakeDevice] = []
        self.evses: dict[str, dict[str, Any]] = {}
        self.shared_reader: dict[str, Any] | None = None
        # (fake, unit, evse): a meter reading the station's simulated EVSE.
        self._station_worlds: list[tuple[FakeMeter, int, int]] = []
        self.station: Station | None = None

    def _add(self, device: FakeDevice) -> Any:
        self.devices.append(device)
        return device

    def _entry(self, evse: int) -> dict[str, Any]:
        return self.evses.setdefault(str(evse), {})

    def meter(self, evse: int, world: SimulatedEvse | None = None, **config: Any) -> FakeMeter:
        """A fake SDM630 for `evse`; without `world` it meters the station's simulated EVSE."""
        fake = self._add(
            FakeMeter(
                world or SimulatedEvse(), self.clock.monotonic, link=self.tmp / f"meter{evse}"
            )
        )
        if world is None:
            self._station_worlds.append((fake, fake.unit, evse))
        self._entry(evse)["meter"] = {
            "driver": "sdm630",
            "port": fake.path,
            "timeout": IO_TIMEOUT,
            "poll_interval": POLL,
            **config,
        }
        return fake

    def bus(self, worlds: dict[int, SimulatedEvse | None], **config: Any) -> FakeMeter:
        """Fake SDM630s on one pty, one per EVSE in `worlds`, at unit = the EVSE's number.

        A world None is the station's simulated EVSE, as for `meter`.
        """
        first, *others = worlds
        fake = self._add(
            FakeMeter(
                worlds[first] or SimulatedEvse(),
                self.clock.monotonic,
                unit=first,
                link=self.tmp / "bus",
            )
        )
        for evse in others:
            fake.add_meter(evse, worlds[evse] or SimulatedEvse())
        for evse, world in worlds.items():
            if world is None:
                self._station_worlds.append((fake, evse, evse))
            self._entry(evse)["meter"] = {
                "driver": "sdm630",
                "port": fake.path,
                "unit": evse,
                "timeout": IO_TIMEOUT,
                "poll_interval": POLL,
                **config,
            }
        return fake

    def board(self, evse: int, world: SimulatedEvse, **config: Any) -> FakeBoard:
        lock = config.pop("lock", True)
        fake = self._add(
            FakeBoard(world, self.clock.monotonic, lock=lock, link=self.tmp / f"board{evse}")
        )
        self._entry(evse)["board"] = {
            "driver": "serial",
            "port": fake.path,
            "timeout": IO_TIMEOUT,
            "lock": lock,
            **config,
        }
        return fake

    def reader(self, evse: int | None, **config: Any) -> FakeReader:
        """A fake RDM6300 for `evse`, or the station's shared one (None)."""
        mode = config.get("driver", "rdm6300")
        name = f"reader{evse}" if evse is not None else "reader"
        fake = self._add(FakeReader(mode=mode, link=self.tmp / name))
        entry = {"driver": mode, "port": fake.path, **config}
        if evse is None:
            self.shared_reader = entry
        else:
            self._entry(evse)["reader"] = entry
        return fake

    def config(self, evses: int, **sections: Any) -> Any:
        hardware: dict[str, Any] = {
            "fault_delay": FAULT_DELAY,
            "restart_delay_min": 1,
            "restart_delay_max": 4,
            "evses": self.evses,
        }
        if self.shared_reader is not None:
            hardware["reader"] = self.shared_reader
        overrides: dict[str, Any] = {
            "Internal": {
                "CentralSystemURI": self.csms.url,
                "ChargePointId": CP,
                "Evses": evses,
                "RetryBackOffRandomRange": 0,
                "RetryBackOffWaitMinimum": 2,
                "CallTimeout": 10,
            },
            "Hardware": hardware,
        }
        for name, keys in sections.items():
            overrides.setdefault(name, {}).update(keys)
        return load(None, overrides)

    def start(self, evses: int = 2, **sections: Any) -> Station:
        station = Station(
            self.config(evses, **sections), clock=self.clock, seed=1, record_events=True
        )
        for fake, unit, evse in self._station_worlds:
            fake.worlds[unit] = station.hardware[evse]
        self.station = station.start()
        answered(station, "StatusNotification", evses + 1)
        # Every driver up (its timers armed) before a test moves the clock.
        sources = {"board": "controller", "meter": "meter", "reader": "reader"}
        for key, entry in self.evses.items():
            for part in entry:
                health(station, int(key), sources[part], "ok")
        if self.shared_reader is not None:
            for n in range(1, evses + 1):
                if "reader" not in self.evses.get(str(n), {}):
                    health(station, n, "reader", "ok")
        return station

    def close(self) -> None:
        if self.station is not None:
            self.station.stop()
        for device in self.devices:
            device.close()


def recorded(station: Station) -> Any:
    assert station.recorded is not None
    return station.recorded


def health(station: Station, evse: int, source: str, state: str, since: int = 0) -> Any:
    return recorded(station).wait_for(
        lambda e: (
            isinstance(e, DeviceHealthChanged)
            and (e.evse, e.source, e.state) == (evse, source, state)
        ),
        WAIT,
        since=since,
    )


def restart_delayed(station: Station, path: str, count: int = 1, since: int = 0) -> Any:
    """The `count`-th delayed restart of `path` since `since`."""
    seen: list[Any] = []

    def match(event: object) -> bool:
        if isinstance(event, ChildRestartDelayed) and event.path == path and event not in seen:
            seen.append(event)
        return len(seen) >= count

    recorded(station).wait_for(match, WAIT, since=since)
    return seen[-1]


def status_seen(csms: Any, evse: int, status: str, code: str = "NoError", since: int = 0) -> Any:
    return csms.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.direction == "in"
            and e.action == "StatusNotification"
            and e.payload["connectorId"] == evse
            and (e.payload["status"], e.payload["errorCode"]) == (status, code)
        ),
        WAIT,
        since=since,
    )


def statuses(csms: Any, evse: int, since: int = 0) -> list[tuple[str, str]]:
    return [
        (e.payload["status"], e.payload["errorCode"])
        for e in csms.log.calls("StatusNotification", CP, since=since)
        if e.direction == "in" and e.payload["connectorId"] == evse
    ]
