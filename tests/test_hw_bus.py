"""Several Modbus meters on one RS-485 bus: one port, one transaction at a time.

The config lets meters of different EVSEs share a port (same line settings,
different units); the station opens the port once for all of them
(`ModbusBuses`); the fake meter plays several units on one pty. End to end
over real ptys, in virtual time.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.evse.hardware import DeviceHealthChanged
from ocppstation.config.loader import ConfigError, load
from ocppstation.hw.devices import parse
from ocppstation.hw.errors import DeviceTimeout
from ocppstation.hw.meters import register_map
from ocppstation.hw.serial_io import ModbusBuses, ModbusMeter, PortSettings
from ocppstation.hw.simulated import SimulatedEvse
from ocppstation.tools import fake_device
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.fake_device import FakeMeter
from tests.conftest import quiet
from tests.hw_rig import (
    CP,
    FAULT_DELAY,
    POLL,
    WAIT,
    Rig,
    health,
    recorded,
    restart_delayed,
    status_seen,
    statuses,
)
from tests.test_hw_meter import charge, energy

METER = {1: "evses/1/meter", 2: "evses/2/meter"}


# -- config ------------------------------------------------------------------------


def _hardware(evses: dict[str, Any], **section: Any) -> Any:
    return parse(load(None, {"Internal": {"Evses": 2}, "Hardware": {"evses": evses, **section}}))


def _meter(**keys: Any) -> dict[str, Any]:
    return {"driver": "sdm630", "port": "/dev/ttyBUS", **keys}


def test_meters_of_two_evses_may_share_a_port_with_different_units() -> None:
    hardware = _hardware(
        {
            "1": {"meter": _meter(unit=1, baudrate=19200, timeout=0.3)},
            "2": {"meter": {**_meter(unit=2, baudrate=19200), "driver": "sdm120"}},
        }
    )
    one, two = hardware.evse(1).meter, hardware.evse(2).meter
    assert one is not None and two is not None
    assert one.port.port == two.port.port == "/dev/ttyBUS"
    assert (one.unit, two.unit) == (1, 2)
    # The answer timeout is the meter's own, not the line's.
    assert (one.port.timeout, two.port.timeout) == (0.3, 0.5)


@pytest.mark.parametrize(
    "evses,section,where,problem",
    [
        (
            {"1": {"meter": _meter()}, "2": {"meter": _meter()}},
            {},
            "Hardware.evses.2.meter.unit",
            "unit 1 on /dev/ttyBUS is already used by Hardware.evses.1.meter",
        ),
        (
            {"1": {"meter": _meter(unit=1)}, "2": {"meter": _meter(unit=2, baudrate=19200)}},
            {},
            "Hardware.evses.2.meter.baudrate",
            "is 19200, but Hardware.evses.1.meter on the same port /dev/ttyBUS has 9600",
        ),
        (
            {"1": {"meter": _meter(unit=1, parity="E")}, "2": {"meter": _meter(unit=2)}},
            {},
            "Hardware.evses.2.meter.parity",
            "is N, but Hardware.evses.1.meter",
        ),
        (
            {"1": {"meter": _meter(unit=1)}, "2": {"meter": _meter(unit=2, stopbits=2)}},
            {},
            "Hardware.evses.2.meter.stopbits",
            "is 2, but Hardware.evses.1.meter",
        ),
        (
            {
                "1": {"board": {"driver": "serial", "port": "/dev/ttyBUS"}},
                "2": {"meter": _meter(unit=2)},
            },
            {},
            "Hardware.evses.2.meter.port",
            "/dev/ttyBUS is already used by Hardware.evses.1.board",
        ),
        (
            {"1": {"meter": _meter(unit=1)}},
            {"reader": {"driver": "lines", "port": "/dev/ttyBUS"}},
            "Hardware.reader.port",
            "/dev/ttyBUS is already used by Hardware.evses.1.meter",
        ),
    ],
)
def test_a_shared_port_that_cannot_be_one_bus_is_refused_naming_the_key(
    evses: dict[str, Any], section: dict[str, Any], where: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _hardware(evses, **section)
    assert f"{where}: {problem}" in str(caught.value)


# -- the bus and the fake ------------------------------------------------------------


def _charging() -> SimulatedEvse:
    world = SimulatedEvse()
    world.plug(0)
    world.allow_power(True, 0)
    return world


def test_meters_on_one_bus_read_their_own_unit_from_many_threads_at_once() -> None:
    with FakeMeter(_charging(), lambda: 3600.0, unit=1) as fake:
        fake.add_meter(2, SimulatedEvse())  # idle
        settings = PortSettings(fake.path, timeout=0.5)
        buses = ModbusBuses()
        bus = buses.acquire(settings)
        assert buses.acquire(PortSettings(fake.path, timeout=0.2)) is bus
        meters = {unit: ModbusMeter(settings, unit, register_map("sdm630"), bus) for unit in (1, 2)}
        readings: dict[int, list[float]] = {1: [], 2: []}
        errors: list[Exception] = []

        def read(unit: int) -> None:
            try:
                for _ in range(15):
                    readings[unit].append(meters[unit].read().energy_wh)
            except Exception as exc:  # pragma: no cover - shown by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=read, args=(unit,)) for unit in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        # Each answer is its own unit's: 22.08 kW for an hour, and nothing.
        assert readings[1] == [pytest.approx(22080, abs=1)] * 15
        assert readings[2] == [0.0] * 15
        assert fake.asked == {1: 15, 2: 15}

        # A meter's close leaves a shared bus open; the last release closes it.
        meters[1].close()
        buses.release(bus)
        assert buses.users() == {fake.path: 1} and bus.is_open
        with pytest.raises(ValueError, match="line settings"):
            buses.acquire(PortSettings(fake.path, baudrate=19200))
        buses.release(bus)
        buses.release(bus)  # once too often: harmless
        assert buses.users() == {} and not bus.is_open


class _Out(io.StringIO):
    """stdout of the fake device: tells when a line came."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: queue.Queue[str] = queue.Queue()

    def write(self, text: str) -> int:
        written = super().write(text)
        *done, self._partial = (getattr(self, "_partial", "") + text).split("\n")
        for line in done:
            self.lines.put(line)
        return written


def test_fake_device_plays_two_meters_on_one_pty_from_the_command_line() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    fake_device.add_parser(parser.add_subparsers())
    args = parser.parse_args(["fake-device", "sdm630", "--pty", "--unit", "1", "--unit", "2"])
    commands: queue.Queue[str | None] = queue.Queue()

    def stdin() -> Iterator[str]:
        while (line := commands.get()) is not None:
            yield line

    out = _Out()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(fake_device.run(args, stdin(), out)))  # type: ignore[arg-type]
    thread.start()
    try:
        path = out.lines.get(timeout=WAIT)
        sdm630 = register_map("sdm630")
        for unit in (1, 2):
            meter = ModbusMeter(PortSettings(path, timeout=0.5), unit, sdm630)
            try:
                assert meter.read().power_w == pytest.approx(22080)
            finally:
                meter.close()
        commands.put("silent 2\n")
        assert out.lines.get(timeout=WAIT) == "ok"
        meter = ModbusMeter(PortSettings(path, timeout=0.2), 2, sdm630)
        try:
            with pytest.raises(DeviceTimeout, match="unit 2 did not answer"):
                meter.read()
        finally:
            meter.close()
    finally:
        commands.put("quit\n")
        thread.join(timeout=10)
    assert result == [0]


# -- a station with two meters on one bus ---------------------------------------------------


def _no_trouble(station: Any, evse: int, since: int) -> bool:
    return not any(
        isinstance(e, DeviceHealthChanged) and e.evse == evse and e.state != "ok"
        for e in recorded(station).all(since=since)
    )


@pytest.mark.slow
def test_two_evses_meter_their_own_sessions_over_one_bus(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    fake = rig.bus({1: None, 2: None})
    station = rig.start(evses=2, Core={"MeterValueSampleInterval": 10})
    assert station.ctx.buses.users() == {fake.path: 2}
    bus = station.ctx.buses.find(fake.path)
    assert bus is not None and bus.is_open
    mark = csms.log.mark()

    started = {1: charge(rig, 1, "TAG-1")}
    quiet(station)
    clock.advance(10)  # EVSE 1 charges alone: EVSE 2's meter stands still
    started[2] = charge(rig, 2, "TAG-2")
    quiet(station)
    mark_values = csms.log.mark()
    clock.advance(10)
    quiet(station)
    latest: dict[int, float] = {}
    for n in (1, 2):
        values = csms.log.wait_for(
            lambda e, n=n: (
                e.kind == "call" and e.action == "MeterValues" and e.payload["connectorId"] == n
            ),
            since=mark_values,
        )
        latest[n] = energy(values)
    # 22.08 kW: EVSE 1 for 20 s, EVSE 2 for 10 s, each from its own unit.
    assert latest[1] == pytest.approx(122, abs=2)
    assert latest[2] == pytest.approx(61, abs=1)

    for n in (1, 2):
        station.unplug(n)
        status_seen(csms, n, "Available", since=mark)
    csms.log.wait_for(lambda e: len(csms.log.calls("StopTransaction", CP, since=mark)) >= 2)
    stops = {
        s.payload["transactionId"]: s.payload["meterStop"]
        for s in csms.log.calls("StopTransaction", CP, since=mark)
    }
    assert set(fake.asked) == {1, 2}  # nobody asked for a unit not on the bus
    assert stops[started[1].transaction_id] == pytest.approx(122, abs=2)
    assert stops[started[2].transaction_id] == pytest.approx(61, abs=1)

    station.stop()
    assert station.ctx.buses.users() == {} and not bus.is_open


@pytest.mark.slow
def test_a_bus_unplugged_faults_both_meters_and_replugged_recovers_both(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    fake = rig.bus({1: None, 2: None})
    station = rig.start(evses=2)
    mark_csms, mark = csms.log.mark(), recorded(station).mark()

    fake.unplug()
    clock.advance(POLL)  # both polls find the line gone
    for n in (1, 2):
        failed = health(station, n, "meter", "failing", since=mark)
        assert "port gone" in failed.detail
        restart_delayed(station, METER[n], since=mark)
    clock.advance(FAULT_DELAY)
    for n in (1, 2):
        status_seen(csms, n, "Faulted", "PowerMeterFailure", since=mark_csms)
        # Its first retry (after restart_delay_min) failed too; the next one is
        # armed before time moves on, or the move would pass it by.
        restart_delayed(station, METER[n], count=2, since=mark)

    fake.replug()
    clock.advance(4)  # restart_delay_max: each driver's next try finds the line back
    for n in (1, 2):
        health(station, n, "meter", "recovering", since=mark)
    clock.advance(FAULT_DELAY)
    for n in (1, 2):
        status_seen(csms, n, "Available", since=mark_csms)
        assert statuses(csms, n, since=mark_csms) == [
            ("Faulted", "PowerMeterFailure"),
            ("Available", "NoError"),
        ]
    assert station.ctx.buses.users() == {fake.path: 2}


@pytest.mark.slow
def test_a_crashed_meter_driver_leaves_the_bus_open_for_the_other(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    fake = rig.bus({1: None, 2: None})
    station = rig.start(evses=2)
    bus = station.ctx.buses.find(fake.path)
    assert bus is not None
    mark = recorded(station).mark()

    station.crash(METER[1])
    delayed = restart_delayed(station, METER[1], since=mark)  # its teardown is done
    assert station.ctx.buses.users() == {fake.path: 1}
    assert bus.is_open and station.ctx.buses.find(fake.path) is bus

    asked = fake.asked.get(2, 0)
    assert delayed.delay <= POLL
    clock.advance(POLL)  # EVSE 2's meter polls through the same open port; 1 restarts
    fake.wait_until(lambda: fake.asked.get(2, 0) > asked, WAIT)
    health(station, 1, "meter", "recovering", since=mark)
    assert station.ctx.buses.users() == {fake.path: 2}
    assert station.ctx.buses.find(fake.path) is bus
    assert _no_trouble(station, 2, since=mark)


@pytest.mark.slow
def test_a_silent_meter_faults_its_own_evse_only(rig: Rig, clock: FakeClock, csms: DevCsms) -> None:
    fake = rig.bus({1: None, 2: None})
    station = rig.start(evses=2)
    mark_csms, mark = csms.log.mark(), recorded(station).mark()

    fake.silent.add(1)
    clock.advance(POLL)
    failed = health(station, 1, "meter", "failing", since=mark)
    assert "unit 1 did not answer" in failed.detail
    restart_delayed(station, METER[1], since=mark)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Faulted", "PowerMeterFailure", since=mark_csms)
    assert statuses(csms, 2, since=mark_csms) == []
    asked = fake.asked.get(2, 0)
    clock.advance(POLL)  # EVSE 2's meter reads on, between unit 1's timeouts
    fake.wait_until(lambda: fake.asked.get(2, 0) > asked, WAIT)
    assert _no_trouble(station, 2, since=mark)
