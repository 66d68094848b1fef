"""Meter values as OCPP 1.6 puts them on the wire, and clock alignment.

`sampled_values` turns one reading into the sampledValue list for the
measurands a station is configured with (MeterValuesSampledData and
friends); a measurand the hardware cannot give (SoC without an EV that
reports it) is left out rather than sent as a made-up number. Per-phase
measurands are sent once per phase with `phase` set, as 1.6 section 3.16.3
describes. `next_aligned` says when the next ClockAlignedDataInterval
boundary falls: boundaries are counted from midnight UTC, so every station
of a fleet samples at the same wall-clock moments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from ocppstation.hw.ports import MeterReading
from ocppstation.hw.signed_readings import SignedReading

# The 1.6 measurands this station can produce, with their units.
UNITS: dict[str, str] = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Current.Import": "A",
    "Voltage": "V",
    "Current.Offered": "A",
    "SoC": "Percent",
}
SUPPORTED = frozenset(UNITS)
_PHASES = ("L1", "L2", "L3")


def register_wh(reading: MeterReading) -> int:
    """The energy register as OCPP carries it (whole Wh), the same everywhere.

    meterStart, meterStop, the stored last value and the sampled values must
    agree: a PowerLoss stop below the last MeterValues would read as energy
    flowing backwards.
    """
    return round(reading.energy_wh)


def parse_measurands(csl: str) -> list[str]:
    """A comma separated list of measurands, in order, without blanks or repeats."""
    seen: list[str] = []
    for item in (part.strip() for part in csl.split(",")):
        if item and item not in seen:
            seen.append(item)
    return seen


def _number(value: float) -> str:
    # Integers stay integers on the wire ("61", not "61.0"); others keep 3 decimals.
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}".rstrip("0")


def sampled_values(
    reading: MeterReading,
    measurands: Iterable[str],
    context: str,
    *,
    offered_a: float | None = None,
    signed: bool = False,
    public_key: bool = True,
) -> list[dict[str, Any]]:
    """The sampledValue entries for `reading`, in the order of `measurands`.

    `signed` (2.0.1 SignReadings) adds the meter's signature, where it gives
    one, to the energy register as `signedMeterValue` (2.0.1's shape; only
    2.0.1 asks for it), with its public key unless `public_key` is False.
    """
    values: list[dict[str, Any]] = []

    def add(measurand: str, value: float, phase: str | None = None) -> None:
        entry: dict[str, Any] = {
            "value": _number(value),
            "context": context,
            "measurand": measurand,
            "unit": UNITS[measurand],
        }
        if phase is not None:
            entry["phase"] = phase
        if measurand == "SoC":
            entry["location"] = "EV"
        values.append(entry)

    for measurand in measurands:
        match measurand:
            case "Energy.Active.Import.Register":
                add(measurand, register_wh(reading))
                if signed and reading.signed is not None:
                    values[-1]["signedMeterValue"] = signed_meter_value(reading.signed, public_key)
            case "Power.Active.Import":
                add(measurand, round(reading.power_w))
            case "Current.Import":
                for phase, amps in zip(_PHASES, reading.current_a, strict=False):
                    add(measurand, round(amps, 3), phase)
            case "Voltage":
                for phase, volts in zip(_PHASES, reading.voltage_v, strict=False):
                    add(measurand, round(volts, 3), f"{phase}-N")
            case "Current.Offered" if offered_a is not None:
                add(measurand, round(offered_a, 3))
            case "SoC" if reading.soc_percent is not None:
                add(measurand, round(reading.soc_percent))
    return values


def signed_meter_value(signed: SignedReading, public_key: bool = True) -> dict[str, Any]:
    """2.0.1's signedMeterValue of a signed reading; publicKey empty unless `public_key`
    (it is required, PublicKeyWithSignedMeterValue says whether it is filled)."""
    return {
        "signedMeterData": signed.data,
        "signingMethod": signed.signing_method,
        "encodingMethod": signed.encoding_method,
        "publicKey": signed.public_key if public_key else "",
    }


def meter_value(timestamp: str, sampled: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"timestamp": timestamp, "sampledValue": list(sampled)}


def next_aligned(now: datetime, interval_s: int) -> datetime:
    """The first boundary of `interval_s` seconds strictly after `now`, from midnight UTC."""
    if interval_s <= 0:
        raise ValueError("a clock-aligned interval must be positive")
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (now - midnight).total_seconds()
    steps = int(elapsed // interval_s) + 1
    return midnight + timedelta(seconds=steps * interval_s)
