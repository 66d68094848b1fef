"""Smart Charging benchmark: GetCompositeSchedule with the most profiles and periods allowed.

    python -m ocppstation.tools.bench_smart              # markdown table
    python -m ocppstation.tools.bench_smart --calls 500  # more calls per figure
    python -m ocppstation.tools.bench_smart --ocpp 2.0.1 # the same in 2.0.1

The station holds MaxChargingProfilesInstalled profiles (64 by default), each
with ChargingScheduleMaxPeriods periods (96): ChargePointMaxProfiles at
every stack level on connector 0, TxDefaultProfiles at every level on 0, 1
and 2, and TxProfiles for the transactions running on 1 and 2, until the
limit is reached. Their kinds rotate through Absolute, Recurring (Daily)
and Relative, a third are in W, and their period boundaries are staggered
by a few seconds from profile to profile, so that hardly any two coincide:
the worst case for the composite, whose work grows with the boundaries.

Measured:

- the pure `composite_schedule` (what the profiles actor runs for a
  GetCompositeSchedule), for connector 1 and for 0 (every connector summed),
  over a day and over a week;
- `limits_in_force` and `share`: what the actor works out at every period
  boundary to set the EVSEs' offered current;
- end to end: a station with two charging EVSEs, the profiles installed by a
  dev CSMS on loopback through SetChargingProfile, and GetCompositeSchedule
  round trips as the CSMS sees them (validation of both frames included).

With `--ocpp 2.0.1` the profiles are 2.0.1's (the same schedules, read into
1.6's rules by `protocol.v201.smart_charging`, which the pure rows include)
and the station speaks 2.0.1. K01.FR.53 forbids a station-wide
TxDefaultProfile at a stack level an EVSE's TxDefaultProfile has, so levels
alternate between the two, and with ProfileStackLevel 10 the station holds
50 profiles rather than 64.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

DAY = 86_400
WEEK = 7 * DAY
MAX_PROFILES = 64
MAX_PERIODS = 96
MAX_STACK_LEVEL = 10
EVSES = 2
CP = "cp-bench"


def bench_profiles(
    now: datetime,
    *,
    transactions: Mapping[int, int | str],
    max_profiles: int = MAX_PROFILES,
    max_periods: int = MAX_PERIODS,
    max_stack: int = MAX_STACK_LEVEL,
    v201: bool = False,
) -> list[tuple[int, dict[str, Any]]]:
    """(connector, csChargingProfiles) for a full station; `transactions` by connector.

    `v201`: no station-wide TxDefaultProfile at an EVSE's level (K01.FR.53).
    """
    slots: list[tuple[int, str]] = [(0, "ChargePointMaxProfile")]
    slots += [(c, "TxDefaultProfile") for c in range(EVSES + 1)]
    slots += [(c, "TxProfile") for c in sorted(transactions)]

    def allowed(connector: int, purpose: str, level: int) -> bool:
        if not v201 or purpose != "TxDefaultProfile":
            return True
        return (connector == 0) == (level % 2 == 1)

    wanted: list[tuple[int, str, int]] = [
        (connector, purpose, level)
        for level in range(max_stack + 1)
        for connector, purpose in slots
        if allowed(connector, purpose, level)
    ][:max_profiles]
    out = []
    step = DAY // max_periods
    for i, (connector, purpose, level) in enumerate(wanted):
        kinds = ["Absolute", "Recurring"] if purpose == "ChargePointMaxProfile" else [
            "Absolute", "Recurring", "Relative"
        ]  # fmt: skip
        kind = kinds[i % len(kinds)]
        unit = "W" if i % 3 == 2 else "A"
        stagger = (i * 7) % step
        periods = [
            {
                "startPeriod": 0 if k == 0 else k * step + stagger,
                "limit": float(6 + (i + k) % 27) * (690 if unit == "W" else 1),
            }
            for k in range(max_periods)
        ]
        schedule: dict[str, Any] = {"chargingRateUnit": unit, "chargingSchedulePeriod": periods}
        if kind != "Relative":
            start = now - timedelta(seconds=37 * i)
            schedule["startSchedule"] = start.isoformat().replace("+00:00", "Z")
        data: dict[str, Any] = {
            "chargingProfileId": 1000 + i,
            "stackLevel": level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind,
            "chargingSchedule": schedule,
        }
        if kind == "Recurring":
            data["recurrencyKind"] = "Daily"
        if purpose == "TxProfile":
            data["transactionId"] = transactions[connector]
        out.append((connector, data))
    return out


def timed(fn: Callable[[], object], calls: int) -> list[float]:
    """Seconds per call, `calls` of them (after one call to warm up)."""
    fn()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000,
    }


def as_v201(raw: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """The bench profiles as 2.0.1 ChargingProfileTypes (evseId, profile)."""
    from ocppstation.protocol.v16.smart_charging import Purpose, parse_profile
    from ocppstation.protocol.v201.smart_charging import from_rules

    out = []
    for evse, data in raw:
        rules = parse_profile(data, evse)
        wire = from_rules(rules)
        if rules.purpose is not Purpose.TX:
            wire.pop("transactionId", None)
        out.append((evse, wire))
    return out


def pure(calls: int, v201: bool = False) -> list[dict[str, Any]]:
    from ocppstation.protocol.v16.smart_charging import (
        Session,
        Unit,
        composite_schedule,
        limits_in_force,
        parse_profile,
        share,
    )
    from ocppstation.protocol.v201.smart_charging import to_rules

    now = datetime(2026, 1, 5, 8, tzinfo=UTC)
    ids = {1: "tx-1", 2: "tx-2"} if v201 else {1: 11, 2: 12}
    sessions = {
        # 2.0.1's TxProfiles have no transactionId in the rules' shape (see
        # protocol/v201/smart_charging.py): their sessions name none either.
        1: Session(now - timedelta(minutes=20), None if v201 else 11),
        2: Session(now - timedelta(hours=3), None if v201 else 12),
    }
    raw = bench_profiles(now, transactions=ids, v201=v201)
    if v201:
        wires = as_v201(raw)
        profiles = [to_rules(wire, evse) for evse, wire in wires]
    else:
        profiles = [parse_profile(data, connector) for connector, data in raw]
    connectors = range(1, EVSES + 1)
    rows = []
    for connector in (1, 0):
        for duration, label in ((DAY, "a day"), (WEEK, "a week")):

            def run(connector: int = connector, duration: int = duration) -> object:
                return composite_schedule(
                    profiles, connector, now, duration, Unit.A, sessions=sessions,
                    connectors=connectors,
                )  # fmt: skip

            if v201 and connector == 1 and duration == DAY:
                # The mapping, once per profile, is work 1.6 does not have.
                def mapped() -> object:
                    return [to_rules(wire, evse) for evse, wire in wires]

                rows.append(
                    {"what": f"to_rules, {len(wires)} profiles", **summary(timed(mapped, calls))}
                )
            result = run()
            assert hasattr(result, "periods")
            rows.append(
                {
                    "what": f"composite_schedule, connector {connector}, {label}",
                    "periods_out": len(result.periods),
                    **summary(timed(run, calls)),
                }
            )

    def in_force() -> object:
        found = limits_in_force(profiles, now, sessions=sessions, connectors=connectors)
        return share(found, charging={1, 2}, phases={1: 3, 2: 3}, rated={1: 32.0, 2: 32.0})

    rows.append(
        {"what": "limits_in_force + share (each boundary)", **summary(timed(in_force, calls))}
    )
    return rows


def _started_on(evse: int, event: object) -> bool:
    from ocppstation.actors.events import TransactionStarted

    return isinstance(event, TransactionStarted) and event.evse == evse


def end_to_end(calls: int, v201: bool = False) -> list[dict[str, Any]]:
    from ocppstation.actors.clock import FakeClock
    from ocppstation.actors.station import Station
    from ocppstation.config.loader import load
    from ocppstation.tools.csms import DevCsms

    clock = FakeClock()
    rows = []
    subprotocols = ("ocpp2.0.1",) if v201 else ("ocpp1.6",)
    with DevCsms(port=0, heartbeat_interval=3600, subprotocols=subprotocols) as csms:
        internal: dict[str, Any] = {"CentralSystemURI": csms.url, "ChargePointId": CP}
        internal |= {"Evses": EVSES, "OcppVersions": ["2.0.1" if v201 else "1.6"]}
        config = load(None, {"Internal": internal})
        station = Station(config, clock=clock, record_events=True).start()
        try:
            assert station.recorded is not None
            csms.log.wait_call("StatusNotification", CP, timeout=10)
            transactions = {}
            for evse in range(1, EVSES + 1):
                station.plug(evse)
                station.tag(evse, f"TAG-{evse}")
                started = station.recorded.wait_for(partial(_started_on, evse), 10)
                transactions[evse] = started.transaction_id
            raw = bench_profiles(clock.wall(), transactions=transactions, v201=v201)
            for connector, data in as_v201(raw) if v201 else raw:
                if v201:
                    request = {"evseId": connector, "chargingProfile": data}
                else:
                    request = {"connectorId": connector, "csChargingProfiles": data}
                answer = csms.call(CP, "SetChargingProfile", request)
                if answer["status"] != "Accepted":
                    raise RuntimeError(f"profile {data}: {answer}")
            where = "evseId" if v201 else "connectorId"
            label = "evseId" if v201 else "connector"
            for connector in (1, 0):
                request = {where: connector, "duration": DAY, "chargingRateUnit": "A"}
                answer = csms.call(CP, "GetCompositeSchedule", request)
                schedule = answer["schedule" if v201 else "chargingSchedule"]
                periods = len(schedule["chargingSchedulePeriod"])

                def call(request: dict[str, Any] = request) -> object:
                    return csms.call(CP, "GetCompositeSchedule", request)

                rows.append(
                    {
                        "what": f"GetCompositeSchedule round trip, {label} {connector}, a day",
                        "periods_out": periods,
                        **summary(timed(call, calls)),
                    }
                )
        finally:
            station.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per figure")
    parser.add_argument("--json", action="store_true", help="rows as JSON")
    parser.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6", help="OCPP version")
    args = parser.parse_args(argv)
    started = time.monotonic()
    v201 = args.ocpp == "2.0.1"
    rows = pure(args.calls, v201) + end_to_end(args.calls, v201)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    held = len(bench_profiles(datetime.now(UTC), transactions={1: 1, 2: 2}, v201=v201))
    print(f"OCPP {args.ocpp}: {held} profiles x {MAX_PERIODS} periods, {EVSES} EVSEs charging\n")
    print("| what | periods in the answer | ms per call, median / p95 |")
    print("|---|---:|---:|")
    for row in rows:
        periods = row.get("periods_out", "")
        print(f"| {row['what']} | {periods} | {row['median_ms']:.2f} / {row['p95_ms']:.2f} |")
    print(
        f"\nPython {platform.python_version()}, {platform.system()} {platform.machine()}; "
        f"{args.calls} calls per figure; total {time.monotonic() - started:.1f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
