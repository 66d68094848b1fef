"""OCPP 2.0.1 K15-K17 ISO 15118 charging needs and the EV's schedule, without I/O.

`needs_request` is the NotifyEVChargingNeeds for an EV's needs; once a
TxProfile is installed for its transaction, `chosen_schedule` is the
schedule the (simulated) EV picks within the composite schedule's limits
for NotifyEVChargingSchedule: each period at most the composite's limit
(and at most the EV's own maximum), in no more periods than the EV takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ocpp.v201 import call
from ocpp.v201.datatypes import (
    ACChargingParametersType,
    ChargingNeedsType,
    ChargingSchedulePeriodType,
    ChargingScheduleType,
    DCChargingParametersType,
)
from ocpp.v201.enums import ChargingRateUnitEnumType, EnergyTransferModeEnumType

from ocppstation.protocol.ev_needs import EvNeeds

__all__ = [
    "chosen_periods",
    "chosen_schedule",
    "horizon",
    "needs_request",
    "schedule_request",
    "unit_of",
]

# How far the EV plans when it gave no departure time: a day, as the composite allows.
DEFAULT_HORIZON = 86400


def _z(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def needs_request(evse: int, needs: EvNeeds, now: datetime) -> call.NotifyEVChargingNeeds:
    """NotifyEVChargingNeeds for `needs` stated at EVSE `evse` at `now`."""
    ac = dc = None
    if needs.dc:
        dc = DCChargingParametersType(
            ev_max_current=needs.max_current,
            ev_max_voltage=needs.max_voltage,
            energy_amount=needs.energy_wh,
            ev_max_power=needs.max_power,
        )
    else:
        ac = ACChargingParametersType(
            energy_amount=needs.energy_wh,
            ev_min_current=needs.min_current,
            ev_max_current=needs.max_current,
            ev_max_voltage=needs.max_voltage,
        )
    departure = None
    if needs.departure_in is not None:
        departure = _z(now + timedelta(seconds=needs.departure_in))
    return call.NotifyEVChargingNeeds(
        charging_needs=ChargingNeedsType(
            requested_energy_transfer=EnergyTransferModeEnumType(needs.requested_energy_transfer),
            departure_time=departure,
            ac_charging_parameters=ac,
            dc_charging_parameters=dc,
        ),
        evse_id=evse,
        max_schedule_tuples=needs.max_schedule_tuples,
    )


def unit_of(needs: EvNeeds) -> str:
    """The unit the EV plans in: amperes for AC, watts for DC (with a max power)."""
    return "W" if needs.dc and needs.max_power is not None else "A"


def _ev_max(needs: EvNeeds) -> float:
    return float(
        needs.max_power if unit_of(needs) == "W" and needs.max_power else needs.max_current
    )


def horizon(needs: EvNeeds) -> int:
    """How many seconds the EV's schedule covers: until its departure, or a day."""
    if needs.departure_in is not None and needs.departure_in > 0:
        return min(needs.departure_in, DEFAULT_HORIZON)
    return DEFAULT_HORIZON


def chosen_periods(
    composite: Sequence[Mapping[str, Any]], ev_max: float, max_tuples: int | None
) -> list[dict[str, Any]]:
    """The EV's periods under the composite's (startPeriod ascending, the
    first at 0): each the composite's limit capped at `ev_max`, equal
    neighbours merged, and past `max_tuples` the rest folded into the last
    period at the lowest limit among them, so no period exceeds the
    composite anywhere it covers."""
    out: list[dict[str, Any]] = []
    for period in composite:
        limit = min(float(period["limit"]), ev_max)
        chosen = {"startPeriod": int(period["startPeriod"]), "limit": limit}
        if "numberPhases" in period:
            chosen["numberPhases"] = int(period["numberPhases"])
        if out and {k: v for k, v in out[-1].items() if k != "startPeriod"} == {
            k: v for k, v in chosen.items() if k != "startPeriod"
        }:
            continue
        out.append(chosen)
    if max_tuples is not None and len(out) > max_tuples:
        kept, rest = out[: max_tuples - 1], out[max_tuples - 1 :]
        last = dict(rest[0])
        last["limit"] = min(p["limit"] for p in rest)
        phases = [p["numberPhases"] for p in rest if "numberPhases" in p]
        if phases:
            last["numberPhases"] = min(phases)
        out = [*kept, last]
    return out


def chosen_schedule(
    composite: Mapping[str, Any], needs: EvNeeds, schedule_id: int = 1
) -> ChargingScheduleType:
    """The ChargingScheduleType the EV picks within `composite` (a
    CompositeScheduleType in the EV's unit)."""
    periods = chosen_periods(
        composite["chargingSchedulePeriod"], _ev_max(needs), needs.max_schedule_tuples
    )
    return ChargingScheduleType(
        id=schedule_id,
        charging_rate_unit=ChargingRateUnitEnumType(composite["chargingRateUnit"]),
        charging_schedule_period=[
            ChargingSchedulePeriodType(
                start_period=p["startPeriod"],
                limit=p["limit"],
                number_phases=p.get("numberPhases"),
            )
            for p in periods
        ],
        start_schedule=composite["scheduleStart"],
        duration=int(composite["duration"]),
    )


def schedule_request(
    evse: int, composite: Mapping[str, Any], needs: EvNeeds, schedule_id: int = 1
) -> call.NotifyEVChargingSchedule:
    """NotifyEVChargingSchedule: the EV's choice, its timeBase the composite's start."""
    return call.NotifyEVChargingSchedule(
        time_base=composite["scheduleStart"],
        charging_schedule=chosen_schedule(composite, needs, schedule_id),
        evse_id=evse,
    )
