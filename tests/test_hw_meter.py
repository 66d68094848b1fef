"""The Modbus meter driver end to end: fake SDM630 on a pty, station, dev CSMS.

Faults are caused at the fake device; what the CSMS sees over the websocket
is checked. Virtual time drives polling, backoff and the fault delay; the
serial I/O (and its 0.2 s timeouts) is real.
"""

from __future__ import annotations

import logging

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import ConnectorChanged, MeterSampled, TransactionStarted
from ocppstation.actors.runtime.supervisor import ChildTerminated
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

pytestmark = pytest.mark.slow

METER1 = "evses/1/meter"


def charge(rig: Rig, evse: int, tag: str) -> TransactionStarted:
    station = rig.station
    assert station is not None
    mark = recorded(station).mark()
    station.plug(evse)
    station.tag(evse, tag)
    started = recorded(station).wait_for(
        lambda e: isinstance(e, TransactionStarted) and e.evse == evse, WAIT, since=mark
    )
    recorded(station).wait_for(
        lambda e: isinstance(e, ConnectorChanged) and (e.evse, e.status) == (evse, "Charging"),
        WAIT,
        since=mark,
    )
    return started


def energy(values: object) -> float:
    sampled = values.payload["meterValue"][0]["sampledValue"]  # type: ignore[attr-defined]
    return float(next(s["value"] for s in sampled if s.get("measurand", "").startswith("Energy")))


def test_meter_values_come_from_the_modbus_meter(rig: Rig, clock: FakeClock, csms: DevCsms) -> None:
    fake = rig.meter(1)
    station = rig.start(evses=1, Core={"MeterValueSampleInterval": 10})
    charge(rig, 1, "TAG-1")
    served = fake.requests
    quiet(station)
    mark = csms.log.mark()
    clock.advance(10)
    values = csms.log.wait_call("MeterValues", CP, since=mark)
    # 22.08 kW for 10 s, read from float32 kWh registers.
    assert energy(values) == pytest.approx(61, abs=1)
    assert fake.requests > served
    sample = recorded(station).wait_for(lambda e: isinstance(e, MeterSampled), WAIT)
    assert sample.power_w == pytest.approx(22080)


def test_a_brief_meter_outage_leaves_the_session_running_and_shows_in_the_log(
    rig: Rig, clock: FakeClock, csms: DevCsms, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ocppstation")
    fake = rig.meter(1)
    station = rig.start(evses=1, Core={"MeterValueSampleInterval": 10})
    started = charge(rig, 1, "TAG-1")
    quiet(station)
    mark_csms, mark = csms.log.mark(), recorded(station).mark()

    fake.unplug()
    clock.advance(POLL)  # the poll finds the port gone
    health(station, 1, "meter", "failing", since=mark)
    delayed = restart_delayed(station, METER1, since=mark)
    fake.replug()
    clock.advance(delayed.delay)  # well inside the fault delay
    health(station, 1, "meter", "recovering", since=mark)
    clock.advance(FAULT_DELAY)
    health(station, 1, "meter", "ok", since=mark)

    quiet(station)
    clock.advance(10)
    values = csms.log.wait_call("MeterValues", CP, since=mark_csms)
    assert values.payload["transactionId"] == started.transaction_id
    assert energy(values) > 0
    assert ("Faulted", "PowerMeterFailure") not in statuses(csms, 1, since=mark_csms)
    assert station.status()["evses"][0]["transaction_id"] == started.transaction_id
    assert any(
        "meter outage over" in r.getMessage() and "too short" in r.getMessage()
        for r in caplog.records
    )


def test_a_meter_gone_for_long_is_faulted_and_the_other_evse_keeps_charging(
    rig: Rig, clock: FakeClock, csms: DevCsms
) -> None:
    fake = rig.meter(1)
    station = rig.start(evses=2, Core={"MeterValueSampleInterval": 10})
    charge(rig, 1, "TAG-1")
    other = charge(rig, 2, "TAG-2")
    quiet(station)
    mark_csms = csms.log.mark()
    clock.advance(10)
    sampled = csms.log.wait_for(
        lambda e: e.kind == "call" and e.action == "MeterValues" and e.payload["connectorId"] == 1,
        since=mark_csms,
    )
    quiet(station)
    mark_csms, mark = csms.log.mark(), recorded(station).mark()

    fake.unplug()
    clock.advance(POLL)
    health(station, 1, "meter", "failing", since=mark)  # its fault timer armed
    restart_delayed(station, METER1, since=mark)
    quiet(station)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Faulted", "PowerMeterFailure", since=mark_csms)
    stop = csms.log.wait_call("StopTransaction", CP, since=mark_csms)
    assert stop.payload["reason"] == "Other"
    # The last register read before the outage.
    assert stop.payload["meterStop"] == pytest.approx(energy(sampled), abs=1)

    # Far more restarts than EvseMaxRestarts allows: the EVSE stays, waiting.
    for n in range(2, 6):
        delayed = restart_delayed(station, METER1, count=n, since=mark)
        quiet(station)
        clock.advance(delayed.delay)
    restart_delayed(station, METER1, count=6, since=mark)
    assert not any(
        isinstance(e, ChildTerminated) and e.path == "evses/1" for e in recorded(station).all()
    )
    # EVSE 2 went on charging all along.
    values = [
        e
        for e in csms.log.calls("MeterValues", CP, since=mark_csms)
        if e.payload["connectorId"] == 2
    ]
    assert values and values[-1].payload["transactionId"] == other.transaction_id

    fake.replug()
    mark_csms = csms.log.mark()
    quiet(station)
    clock.advance(4)  # restart_delay_max
    health(station, 1, "meter", "recovering", since=mark)
    quiet(station)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Preparing", since=mark_csms)  # the cable is still in
    station.unplug(1)
    status_seen(csms, 1, "Available", since=mark_csms)


def _break(fake: FakeMeter, fault: str) -> None:
    if fault == "unplug":
        fake.unplug()
    elif fault == "timeout":
        fake.mute = True
    elif fault == "crc":
        fake.bad_crc = True
    elif fault == "garbage":
        fake.garbage = True
    elif fault == "exception":
        fake.exception = 4


def _mend(fake: FakeMeter, fault: str) -> None:
    fake.replug()
    fake.mute = fake.bad_crc = fake.garbage = False
    fake.exception = None


@pytest.mark.parametrize("fault", ["unplug", "timeout", "crc", "garbage", "exception"])
def test_each_meter_fault_is_power_meter_failure_until_it_is_mended(
    rig: Rig, clock: FakeClock, csms: DevCsms, fault: str
) -> None:
    fake = rig.meter(1)
    station = rig.start(evses=1)
    mark_csms, mark = csms.log.mark(), recorded(station).mark()
    _break(fake, fault)
    clock.advance(POLL)
    failed = health(station, 1, "meter", "failing", since=mark)
    expected = {
        "unplug": "port gone",
        "timeout": "did not answer",
        "crc": "checksum",
        "garbage": "",
        "exception": "slave device failure",
    }[fault]
    assert expected in failed.detail
    restart_delayed(station, METER1, since=mark)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Faulted", "PowerMeterFailure", since=mark_csms)
    # The restart due in that time failed too (still broken) before we mend.
    delayed = restart_delayed(station, METER1, count=2, since=mark)

    _mend(fake, fault)
    clock.advance(delayed.delay)
    health(station, 1, "meter", "recovering", since=mark)
    clock.advance(FAULT_DELAY)
    status_seen(csms, 1, "Available", since=mark_csms)
    assert statuses(csms, 1, since=mark_csms) == [
        ("Faulted", "PowerMeterFailure"),
        ("Available", "NoError"),
    ]
