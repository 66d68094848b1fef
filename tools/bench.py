"""Station benchmarks: boot time, threads, memory and crash-to-restart latency.

    python -m ocppstation.tools.bench                 # 1, 16 and 128 EVSEs, markdown table
    python -m ocppstation.tools.bench --evses 1 4 64  # other sizes
    python -m ocppstation.tools.bench --one 16        # one run of one size, as JSON
    python -m ocppstation.tools.bench --ocpp 2.0.1    # the same for an OCPP 2.0.1 station

Every run is a fresh interpreter (`--runs` of them per size, 3 by default), so
that memory and thread counts are the station's own, not left over from a
bigger station measured before it. A run starts a dev CSMS on loopback (in the
same process) and a station on the real clock, then measures:

- boot: from `station.start()` until the CSMS has received the
  StatusNotification of every connector 0..N (time stamped by the CSMS log);
  in 2.0.1, which has no connector 0, of every EVSE 1..N;
- threads and RSS once booted, for the whole process and as growth over the
  process before `start()` (the dev CSMS and the imports);
- restarts: the meter of EVSE 1 is crashed `--crashes` times; for each, the
  supervisor's own `ChildRestarted.latency` (exit report to new actor started)
  and, from outside, the time from `station.crash()` until the registry holds
  a new live actor at the path.

The per-EVSE supervisor allows Internal.EvseMaxRestarts (3) restarts in
EvseRestartPeriod (5 s), after which that EVSE gives up (by design: a broken
EVSE must not flap forever). Crashing one meter 50 times in a few seconds
would exhaust that on the fourth crash, so the benchmark's station config
raises EvseMaxRestarts; the restart path it measures is the same code.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

DEFAULT_SIZES = (1, 16, 128)
DEFAULT_CRASHES = 50
DEFAULT_RUNS = 3
CRASH_PATH = "evses/1/meter"
STEP_TIMEOUT = 10.0
# Generous: a 128-EVSE boot is well under a second on 2 cores.
BOOT_TIMEOUT = 30.0
RUN_TIMEOUT = 60.0
OCPP_VERSIONS = ("1.6", "2.0.1")


def rss_kib() -> int:
    """Resident set size of this process in KiB (VmRSS; peak RSS if /proc is absent)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux, bytes on macOS.
    return peak // 1024 if sys.platform == "darwin" else peak


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median, nearest-rank p95 and max of `samples` (seconds)."""
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0, "median": math.nan, "p95": math.nan, "max": math.nan}
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "p95": p95,
        "max": ordered[-1],
    }


def measure(evses: int, crashes: int, ocpp: str = "1.6") -> dict[str, Any]:
    """Run one station of `evses` EVSEs speaking `ocpp` and return its measurements."""
    from ocppstation.actors.runtime.supervisor import ChildRestarted, SupervisorGaveUp
    from ocppstation.actors.station import Station
    from ocppstation.config.loader import load
    from ocppstation.tools.csms import DevCsms

    cp_id = f"bench-{evses}"
    v201 = ocpp == "2.0.1"
    with DevCsms(port=0, heartbeat_interval=300, subprotocols=(f"ocpp{ocpp}",)) as csms:
        internal: dict[str, Any] = {
            "CentralSystemURI": csms.url,
            "ChargePointId": cp_id,
            "Evses": evses,
            # Every crash is restarted: the budget is what we measure past.
            "EvseMaxRestarts": crashes + 10,
        }
        if v201:
            internal["OcppVersions"] = ["2.0.1"]
        config = load(
            None,
            {
                "Internal": internal,
                # Nothing periodic during the measurement.
                "Core": {"MeterValueSampleInterval": 0, "HeartbeatInterval": 300},
            },
        )
        station = Station(config)
        threads_before = threading.active_count()
        rss_before = rss_kib()
        events = station.record()
        try:
            # 2.0.1 reports each EVSE's connector and has no connector 0 for the station.
            wanted = set(range(1, evses + 1)) if v201 else set(range(evses + 1))
            key = "evseId" if v201 else "connectorId"
            seen: set[int] = set()

            def all_reported(entry: Any) -> bool:
                if (
                    entry.kind == "call"
                    and entry.direction == "in"
                    and entry.action == "StatusNotification"
                    and entry.cp_id == cp_id
                ):
                    seen.add(entry.payload.get(key))
                return wanted <= seen

            t0 = time.monotonic()
            station.start()
            started = time.monotonic() - t0
            last = csms.log.wait_for(all_reported, BOOT_TIMEOUT)
            boot = last.at - t0
            threads = threading.active_count()
            rss = rss_kib()
            actors = len(station.registry.paths()) + 1  # the root is not registered

            restart_latency: list[float] = []
            crash_to_registered: list[float] = []
            for _ in range(crashes):
                old = station.registry.require(CRASH_PATH)
                mark = events.mark()
                t = time.perf_counter()
                station.crash(CRASH_PATH)
                station.registry.wait_for(CRASH_PATH, STEP_TIMEOUT, not_ref=old)
                crash_to_registered.append(time.perf_counter() - t)
                event = events.wait_for(
                    lambda e: (
                        (isinstance(e, ChildRestarted) and e.path == CRASH_PATH)
                        or isinstance(e, SupervisorGaveUp)
                    ),
                    STEP_TIMEOUT,
                    since=mark,
                )
                if isinstance(event, SupervisorGaveUp):
                    raise RuntimeError(f"supervisor gave up during the benchmark: {event}")
                restart_latency.append(event.latency)
        finally:
            events.close()
            station.stop()
    return {
        "evses": evses,
        "actors": actors,
        "start_returned_s": started,
        "boot_s": boot,
        "threads": threads,
        "threads_station": threads - threads_before,
        "rss_kib": rss,
        "rss_station_kib": rss - rss_before,
        "restart_latency_s": restart_latency,
        "crash_to_registered_s": crash_to_registered,
    }


def run_one_subprocess(evses: int, crashes: int, ocpp: str = "1.6") -> dict[str, Any]:
    """`measure()` in a fresh interpreter; its JSON result."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocppstation.tools.bench",
            "--one",
            str(evses),
            "--crashes",
            str(crashes),
            "--ocpp",
            ocpp,
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"benchmark of {evses} EVSEs failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def combine(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One row from several runs of a size: medians of the per-run figures, pooled samples."""
    row: dict[str, Any] = {"evses": runs[0]["evses"], "runs": len(runs)}
    for key in ("actors", "start_returned_s", "threads", "threads_station"):
        row[key] = statistics.median(r[key] for r in runs)
    for key in ("rss_kib", "rss_station_kib"):
        row[key] = statistics.median(r[key] for r in runs)
    boots = [r["boot_s"] for r in runs]
    row["boot_s"] = statistics.median(boots)
    row["boot_range_s"] = (min(boots), max(boots))
    for key in ("restart_latency_s", "crash_to_registered_s"):
        row[key] = summarize([x for r in runs for x in r[key]])
    return row


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def _triple(stats: dict[str, float]) -> str:
    return f"{_ms(stats['median'])} / {_ms(stats['p95'])} / {_ms(stats['max'])}"


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| EVSEs | actors | boot ms, median (min-max) | threads (station's) "
        "| RSS MiB (station's) | restart latency ms, median / p95 / max "
        "| crash() to new actor registered ms, median / p95 / max |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        low, high = r["boot_range_s"]
        lines.append(
            f"| {r['evses']} | {r['actors']:.0f} "
            f"| {r['boot_s'] * 1000:.0f} ({low * 1000:.0f}-{high * 1000:.0f}) "
            f"| {r['threads']:.0f} ({r['threads_station']:.0f}) "
            f"| {r['rss_kib'] / 1024:.1f} ({r['rss_station_kib'] / 1024:.1f}) "
            f"| {_triple(r['restart_latency_s'])} | {_triple(r['crash_to_registered_s'])} |"
        )
    return "\n".join(lines)


def _environment() -> str:
    import platform
    from importlib.metadata import version

    return (
        f"Python {platform.python_version()}, pykka {version('pykka')}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ocppstation.tools.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--evses", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--crashes", type=int, default=DEFAULT_CRASHES, help="per run")
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help="fresh processes per size (default 3)"
    )
    parser.add_argument(
        "--ocpp", choices=OCPP_VERSIONS, default="1.6", help="the station's OCPP version"
    )
    parser.add_argument("--one", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure(args.one, args.crashes, args.ocpp)))
        return 0
    t0 = time.monotonic()
    rows = [
        combine([run_one_subprocess(n, args.crashes, args.ocpp) for _ in range(args.runs)])
        for n in args.evses
    ]
    v201 = args.ocpp == "2.0.1"
    # The 1.6 text stays as the README quotes it; 2.0.1 names itself and its boot condition.
    version = "OCPP 2.0.1 station against a 2.0.1 dev CSMS. " if v201 else ""
    reported = "EVSEs 1..N (2.0.1 has no connector 0)" if v201 else "connectors 0..N"
    print(markdown(rows))
    print()
    print(
        f"{_environment()}. {version}Each size: {args.runs} fresh processes, each booting "
        "one station against a dev CSMS in the same process and crashing "
        f"{CRASH_PATH} {args.crashes} times; boot, threads and RSS are medians over the "
        f"runs, latencies pool all {args.runs * args.crashes} crashes. Boot = "
        "station.start() until the CSMS has "
        f"StatusNotification for {reported}. Threads and RSS: whole process once booted "
        "(in brackets: growth from starting the station). Restart latency = the supervisor's "
        "ChildRestarted.latency (exit report to new actor started). EvseMaxRestarts "
        f"is raised for the run. Total {time.monotonic() - t0:.1f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
