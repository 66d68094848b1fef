"""A station wired to fake serial devices only; the Hardware config; the CLI tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.station import Station
from ocppstation.config.loader import ConfigError, load
from ocppstation.hw.simulated import SimulatedEvse
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.fake_device import FakeMeter
from tests.conftest import quiet
from tests.hw_rig import CP, Rig, status_seen

CARDS = {1: "0A00F1E2D3", 2: "62E3086CED"}


@pytest.mark.slow
def test_two_evses_on_serial_boards_meters_and_readers_run_full_sessions(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    worlds = {n: SimulatedEvse() for n in (1, 2)}
    readers = {}
    for n, world in worlds.items():
        rig.board(n, world)
        rig.meter(n, world)
        readers[n] = rig.reader(n)
    station = rig.start(evses=2, Core={"MeterValueSampleInterval": 10})
    mark = csms.log.mark()

    for n, world in worlds.items():
        world.plug(clock.monotonic())
        status_seen(csms, n, "Preparing", since=mark)
        readers[n].present(CARDS[n])
        status_seen(csms, n, "Charging", since=mark)
    starts = {
        e.payload["connectorId"]: e for e in csms.log.calls("StartTransaction", CP, since=mark)
    }
    assert starts.keys() == {1, 2}
    assert starts[1].payload["idTag"] == CARDS[1]
    assert all(w.relay_closed for w in worlds.values())

    quiet(station)
    clock.advance(10)
    for n in (1, 2):
        values = csms.log.wait_for(
            lambda e, n=n: (
                e.kind == "call" and e.action == "MeterValues" and e.payload["connectorId"] == n
            ),
            since=mark,
        )
        sampled = values.payload["meterValue"][0]["sampledValue"]
        energy = next(s for s in sampled if s["measurand"] == "Energy.Active.Import.Register")
        assert float(energy["value"]) == pytest.approx(61, abs=1)  # from the Modbus registers

    quiet(station)
    clock.advance(10)
    for n, world in worlds.items():
        readers[n].present(CARDS[n])
        status_seen(csms, n, "Finishing", since=mark)
        world.unplug(clock.monotonic())
        status_seen(csms, n, "Available", since=mark)
    # Stops go through the outbox, behind the samples: wait for both.
    csms.log.wait_for(lambda e: len(csms.log.calls("StopTransaction", CP, since=mark)) >= 2)
    stops = csms.log.calls("StopTransaction", CP, since=mark)
    assert sorted(s.payload["reason"] for s in stops) == ["Local", "Local"]
    assert all(s.payload["meterStop"] == pytest.approx(122, abs=2) for s in stops)
    assert not any(w.relay_closed for w in worlds.values())


def test_a_missing_port_refuses_the_start_naming_the_key(
    rig: Rig, tmp_path: Path, clock: FakeClock
) -> None:
    config = rig.config(
        2, Hardware={"evses": {"2": {"meter": {"driver": "sdm630", "port": str(tmp_path / "no")}}}}
    )
    station = Station(config, clock=clock)
    with pytest.raises(ConfigError, match=r"Hardware\.evses\.2\.meter\.port: .*does not exist"):
        station.start()
    assert not station.running
    assert station.registry.paths() == []


@pytest.mark.parametrize(
    "hardware,where,problem",
    [
        ({"evses": {"3": {}}}, "Hardware.evses.3", "no EVSE 3"),
        ({"evses": {"1": {"meter": {"driver": "sdm630"}}}}, "Hardware.evses.1.meter", "port"),
        ({"evses": {"1": {"meter": {"driver": "sdm999", "port": "p"}}}}, "driver", "one of"),
        ({"reader": {"driver": "rdm6300"}}, "Hardware.reader", "port"),
        (
            {
                "evses": {"1": {"board": {"driver": "serial", "port": "/dev/x"}}},
                "reader": {"driver": "lines", "port": "/dev/x"},
            },
            "Hardware.reader.port",
            "already used by Hardware.evses.1.board",
        ),
        (
            {"evses": {"1": {"meter": {"driver": "modbus", "port": "p"}}}},
            "Hardware.evses.1.meter",
            "needs a 'registers' map",
        ),
    ],
)
def test_bad_hardware_sections_are_refused_with_file_and_key(
    tmp_path: Path, hardware: dict, where: str, problem: str
) -> None:
    from ocppstation.hw.devices import parse

    path = tmp_path / "station.json"
    import json

    path.write_text(json.dumps({"Internal": {"Evses": 2}, "Hardware": hardware}))
    with pytest.raises(ConfigError) as caught:
        parse(load(path))
    message = str(caught.value)
    assert message.startswith(str(path))
    assert where in message and problem in message


def test_simulated_entries_and_loop_urls_need_no_device(clock: FakeClock) -> None:
    from ocppstation.hw.devices import check_ports, parse

    config = load(
        None,
        {
            "Internal": {"Evses": 2},
            "Hardware": {
                "evses": {
                    "1": {"board": {"driver": "simulated"}, "meter": {"driver": "simulated"}},
                    "2": {"reader": {"driver": "lines", "port": "loop://"}},
                }
            },
        },
    )
    hardware = parse(config)
    check_ports(hardware, config.source)
    assert hardware.evse(1).board is None and hardware.evse(1).meter is None
    assert hardware.evse(2).reader is not None


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ocppstation.tools.cli", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_fake_device_prints_its_port_and_hw_probe_reads_it(tmp_path: Path) -> None:
    link = tmp_path / "ttyMETER"
    fake = _cli("fake-device", "sdm630", "--pty", "--link", str(link))
    try:
        assert fake.stdout is not None
        assert fake.stdout.readline().strip() == str(link)
        probe = subprocess.run(
            [
                sys.executable,
                "-m",
                "ocppstation.tools.cli",
                "hw",
                "probe",
                "--meter",
                "sdm630",
                "--port",
                str(link),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert probe.returncode == 0, probe.stdout + probe.stderr
        lines = dict(line.split(" ", 1) for line in probe.stdout.splitlines()[1:])
        assert float(lines["power_w"]) == pytest.approx(22080)
        assert float(lines["voltage_l1_v"]) == pytest.approx(230)
        # A unit nobody answers for is a clear failure, not a hang.
        absent = subprocess.run(
            [
                sys.executable,
                "-m",
                "ocppstation.tools.cli",
                "hw",
                "probe",
                "--meter",
                "sdm630",
                "--port",
                str(link),
                "--unit",
                "9",
                "--timeout",
                "0.2",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert absent.returncode == 1
        assert "did not answer" in absent.stdout
        assert fake.stdin is not None
        fake.stdin.write("quit\n")
        fake.stdin.flush()
        assert fake.wait(timeout=10) == 0
    finally:
        fake.kill()


def test_hw_probe_reads_a_board_and_a_reader_in_process(tmp_path: Path) -> None:
    import argparse
    import io
    import threading

    from ocppstation.tools import hw_probe
    from ocppstation.tools.fake_device import FakeBoard, FakeReader

    world = SimulatedEvse()
    world.plug(0)
    with FakeBoard(world) as board:
        out = io.StringIO()
        args = argparse.Namespace(
            meter=None, reader=None, board=True, port=board.path, baudrate=None, timeout=0.5
        )
        assert hw_probe.run(args, out) == 0
        assert "ST B 0 0 32.0 -" in out.getvalue()

    class Said(io.StringIO):
        """Output that tells when anything was written."""

        def __init__(self) -> None:
            super().__init__()
            self.written = threading.Event()

        def write(self, text: str) -> int:
            count = super().write(text)
            self.written.set()
            return count

    with FakeReader() as reader:
        out = Said()
        args = argparse.Namespace(
            meter=None,
            reader="rdm6300",
            board=False,
            port=reader.path,
            baudrate=None,
            timeout=0.1,
            wait=5.0,
        )
        # The card comes once the probe listens: it says so first.
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(hw_probe.run(args, out)))
        thread.start()
        assert out.written.wait(timeout=5)
        reader.present(CARDS[2])
        thread.join(timeout=10)
        assert result == [0], out.getvalue()
        assert f"ok card {CARDS[2]}" in out.getvalue()


def test_the_fake_meter_answers_only_its_own_unit(tmp_path: Path) -> None:
    from ocppstation.hw.errors import DeviceTimeout
    from ocppstation.hw.meters import register_map
    from ocppstation.hw.serial_io import ModbusMeter, PortSettings

    with FakeMeter(SimulatedEvse(), unit=3) as fake:
        meter = ModbusMeter(PortSettings(fake.path, timeout=0.2), 1, register_map("sdm630"))
        with pytest.raises(DeviceTimeout):
            meter.read()
        meter.close()
        meter = ModbusMeter(PortSettings(fake.path, timeout=0.2), 3, register_map("sdm630"))
        assert meter.read().voltage_v == (230.0, 230.0, 230.0)
        meter.close()


def test_run_refuses_a_missing_port_with_exit_2_and_the_key(tmp_path: Path) -> None:
    import json

    config = tmp_path / "station.json"
    config.write_text(
        json.dumps(
            {
                "Internal": {"Evses": 1, "CentralSystemURI": "ws://127.0.0.1:9"},
                "Hardware": {
                    "evses": {"1": {"board": {"driver": "serial", "port": "/dev/ttyNOPE9"}}}
                },
            }
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "ocppstation.tools.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert f"{config}: Hardware.evses.1.board.port: /dev/ttyNOPE9 does not exist" in run.stderr


def test_the_serial_devices_implement_the_ports(tmp_path: Path) -> None:
    from ocppstation.hw.meters import register_map
    from ocppstation.hw.ports import ChargeController, IdReader, PowerMeter
    from ocppstation.hw.serial_io import BoardLink, CardReader, ModbusMeter, PortSettings
    from ocppstation.tools.fake_device import FakeBoard, FakeReader

    world = SimulatedEvse()
    with FakeMeter(world) as m, FakeBoard(world) as b, FakeReader() as r:
        meter = ModbusMeter(PortSettings(m.path), 1, register_map("sdm630"))
        board = BoardLink(PortSettings(b.path), lambda _: None, lambda _: None)
        reader = CardReader(PortSettings(r.path), "rdm6300", lambda _: None, lambda _: None)
        try:
            assert isinstance(meter, PowerMeter)
            assert isinstance(board, ChargeController)
            assert isinstance(reader, IdReader)
        finally:
            meter.close()
            board.close()
            reader.close()


def test_the_simulated_ev_draws_up_to_the_offered_current_and_its_own_maximum() -> None:
    world = SimulatedEvse(ev_max_current_a=16.0)
    world.plug(0)
    world.allow_power(True, 0)
    assert world.read(0).current_a == (16.0, 16.0, 16.0)
    world.set_offered_current(10, 0)
    assert world.read(3600).energy_wh == pytest.approx(10 * 230 * 3)
    world.ev_suspend(True, 3600)
    assert world.read(7200).power_w == 0
