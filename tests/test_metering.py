"""Meter values on the wire and clock alignment, by property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.hw.ports import MeterReading
from ocppstation.protocol.errors import OcppVersion
from ocppstation.protocol.v16.metering import (
    SUPPORTED,
    UNITS,
    meter_value,
    next_aligned,
    parse_measurands,
    sampled_values,
)
from ocppstation.protocol.validation import Validator

VALIDATOR = Validator(OcppVersion.V16)

readings = st.builds(
    MeterReading,
    energy_wh=st.floats(0, 1e9),
    power_w=st.floats(0, 1e6),
    current_a=st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(0, 500)),
    voltage_v=st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(0, 500)),
    soc_percent=st.one_of(st.none(), st.floats(0, 100)),
)
measurand_lists = st.lists(st.sampled_from(sorted(SUPPORTED)), unique=True)


@given(readings, measurand_lists, st.sampled_from(["Sample.Periodic", "Sample.Clock"]))
def test_every_sampled_value_is_schema_valid(
    reading: MeterReading, measurands: list[str], context: str
) -> None:
    sampled = sampled_values(reading, measurands, context, offered_a=16)
    payload = {
        "connectorId": 1,
        "transactionId": 7,
        "meterValue": [meter_value("2026-01-01T00:00:00.000Z", sampled)],
    }
    if sampled:
        VALIDATOR.check_request("MeterValues", payload)
    assert {v["measurand"] for v in sampled} <= set(measurands)
    assert all(v["unit"] == UNITS[v["measurand"]] for v in sampled)


def test_per_phase_measurands_carry_their_phase() -> None:
    reading = MeterReading(1000, 22080, (32, 32, 32), (230, 230, 230))
    sampled = sampled_values(reading, ["Current.Import", "Voltage"], "Sample.Periodic")
    assert [(v["measurand"], v["phase"]) for v in sampled] == [
        ("Current.Import", "L1"),
        ("Current.Import", "L2"),
        ("Current.Import", "L3"),
        ("Voltage", "L1-N"),
        ("Voltage", "L2-N"),
        ("Voltage", "L3-N"),
    ]
    assert sampled[0]["value"] == "32"


def test_soc_is_left_out_when_the_ev_does_not_report_it() -> None:
    reading = MeterReading(1000, 0)
    assert sampled_values(reading, ["SoC"], "Sample.Periodic") == []
    with_soc = MeterReading(1000, 0, soc_percent=55.4)
    assert sampled_values(with_soc, ["SoC"], "Sample.Periodic")[0]["value"] == "55"


def test_parse_measurands_keeps_order_and_drops_blanks_and_repeats() -> None:
    assert parse_measurands(
        " Power.Active.Import,,Energy.Active.Import.Register,Power.Active.Import"
    ) == [
        "Power.Active.Import",
        "Energy.Active.Import.Register",
    ]


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from([1, 60, 300, 900, 3600, 7, 86400]),
)
def test_next_aligned_is_the_first_boundary_after_now(now: datetime, interval: int) -> None:
    boundary = next_aligned(now, interval)
    assert now < boundary <= now + timedelta(seconds=interval)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert (boundary - midnight).total_seconds() % interval == 0
