"""The worker side of `ocppstation fleet`: a shard of stations in one process.

What a worker is given (`Job`), the station kinds it builds (`Profile`),
its counters and the `Shard` that runs its stations through the embedding
API with the ATG and the chaos plan. Used by the parent's worker processes
(tools/fleet.py) and by Ray actors (tools/fleet_ray.py), so that neither
imports the other.
"""

from __future__ import annotations

import collections
import functools
import heapq
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ocppstation.tools import cliargs
from ocppstation.tools import fleet_plan as plan

# How often a worker sends its counters; the parent's summary is coarser.
REPORT_EVERY = 1.0

log = logging.getLogger("ocppstation.fleet")


@dataclass(frozen=True)
class Job:
    """What one worker is given (pickled to a spawned process or a Ray actor)."""

    index: int
    ids: list[str]
    all_ids: list[str]
    csms: str
    evses: int  # the command line's: a kind without its own
    ocpp: str
    data_dir: str
    seed: int
    template: dict[str, Any]
    log_level: str
    # A Ray shard on another machine removes its stations' dirs itself.
    temporary: bool = False


@dataclass(frozen=True)
class Profile:
    """One station as its kind makes it."""

    kind: int
    evses: int
    ocpp: str
    station: dict[str, Any]  # config overrides: the template's, then the kind's
    slot: int  # its first EVSE's place among the fleet's EVSEs (the ATG's cards)


def profiles(
    tpl: plan.Template, ids: list[str], seed: int, evses: int, ocpp: str
) -> dict[str, Profile]:
    """Every station's kind, EVSEs, version and config (the same in every process)."""
    kinds = tpl.kinds or (plan.Kind(),)
    assigned = plan.assign_kinds([k.share for k in kinds], ids, seed)
    out: dict[str, Profile] = {}
    slot = 0
    for cp_id, k in zip(ids, assigned, strict=True):
        kind = kinds[k]
        n = kind.evses or evses
        station = plan.deep_merge(tpl.station, kind.config)
        out[cp_id] = Profile(k, n, kind.ocpp or ocpp, station, slot)
        slot += n
    return out


def overrides(csms: str, cp_id: str, profile: Profile) -> dict[str, Any]:
    """A station's config overrides: its kind's, then what the fleet fixes."""
    return plan.deep_merge(
        profile.station,
        {
            "Internal": {
                "CentralSystemURI": csms,
                "ChargePointId": cp_id,
                "Evses": profile.evses,
                "OcppVersions": [profile.ocpp],
            }
        },
    )


# -- the worker ------------------------------------------------------------------

# What Counters counts (cumulative); the rest of a snapshot are gauges.
COUNTED = ("sent", "received", "started", "stopped", "reconnects", "atg_errors", "faults")


@dataclass
class Counters:
    """One worker's stations folded from their events; the bus calls `on`
    from actor threads, the reporter reads `snapshot`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    connected: set[str] = field(default_factory=set)
    ever_up: set[str] = field(default_factory=set)
    booted: set[str] = field(default_factory=set)
    charging: set[tuple[str, int]] = field(default_factory=set)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    in_flight: dict[str, float] = field(default_factory=dict)

    def on(self, cp_id: str, event: Any) -> None:
        from ocppstation.actors import events as ev

        now = time.monotonic()
        with self.lock:
            match event:
                case ev.MessageSent():
                    self.counts["sent"] += 1
                    # rpc has one CALL in flight per station: the next answer is its.
                    self.in_flight[cp_id] = now
                case ev.MessageAnswered(error=error):
                    sent_at = self.in_flight.pop(cp_id, None)
                    if error is None:
                        if sent_at is not None:
                            self.latencies.append(now - sent_at)
                    else:
                        code = error.split(":", 1)[0] if ":" in error else "NoAnswer"
                        self.errors[code] = self.errors.get(code, 0) + 1
                case ev.CallReceived():
                    self.counts["received"] += 1
                case ev.LinkChanged(up=True):
                    if cp_id in self.ever_up:
                        self.counts["reconnects"] += 1
                    self.ever_up.add(cp_id)
                    self.connected.add(cp_id)
                case ev.LinkChanged(up=False):
                    self.connected.discard(cp_id)
                case ev.RegistrationChanged(status=status):
                    if status == "Accepted":
                        self.booted.add(cp_id)
                case ev.TransactionStarted(evse=evse):
                    self.counts["started"] += 1
                    self.charging.add((cp_id, evse))
                case ev.TransactionStopped(evse=evse):
                    self.counts["stopped"] += 1
                    self.charging.discard((cp_id, evse))

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n

    def snapshot(self) -> dict[str, Any]:
        """The cumulative counters and the answer times since the last snapshot."""
        with self.lock:
            latencies, self.latencies = self.latencies, []
            return {
                "connected": len(self.connected),
                "booted": len(self.booted),
                "charging": len(self.charging),
                **{what: self.counts[what] for what in COUNTED},
                "errors": dict(self.errors),
                "latencies": latencies,
            }


Event = tuple[float, str, int, str, str]


def _events(job: Job, tpl: plan.Template, kinds: dict[str, Profile], t0: float) -> Iterator[Event]:
    """Every ATG action and chaos step of this worker's stations as
    (at, station, evse, kind, argument), merged in time order."""
    streams: list[Iterator[Event]] = []
    for cp_id in job.ids:
        p = kinds[cp_id]
        for evse in range(1, p.evses + 1):
            streams.append(_stamped(tpl.atg, job.seed, cp_id, evse, p.slot + evse - 1, t0))
    mine = set(job.ids)
    chaos = [
        (t0 + step.at, cp_id, 0, step.kind, step.path)
        for n, step in enumerate(tpl.chaos)
        for cp_id in plan.chaos_targets(step, n, job.all_ids, job.seed)
        if cp_id in mine
    ]
    streams.append(iter(chaos))
    return heapq.merge(*streams)


def _stamped(
    atg: plan.Atg, seed: int, cp_id: str, evse: int, slot: int, t0: float
) -> Iterator[Event]:
    for a in plan.schedule(atg, seed, cp_id, evse, slot):
        yield (t0 + a.at, cp_id, evse, a.kind, a.id_tag)


class Shard:
    """One worker's stations, their counters, the ATG and chaos thread, and
    the fault commands; run by a worker process or a Ray actor."""

    def __init__(self, job: Job) -> None:
        logging.basicConfig(
            level=job.log_level,
            stream=sys.stderr,
            format=f"%(asctime)s w{job.index} %(levelname)s %(name)s: %(message)s",
        )
        cliargs.quiet_injected_crashes()
        from ocppstation.actors.station import Station
        from ocppstation.config.loader import load

        self.job = job
        self.tpl = plan.parse_template(job.template)
        self.kinds = profiles(self.tpl, job.all_ids, job.seed, job.evses, job.ocpp)
        self.counters = Counters()
        self.halt = threading.Event()
        self.stations: dict[str, Any] = {}
        for cp_id in job.ids:
            config = load(None, overrides(job.csms, cp_id, self.kinds[cp_id]))
            seed = plan.station_seed(job.seed, cp_id)
            data = Path(job.data_dir) / cp_id
            data.mkdir(mode=0o700, parents=True, exist_ok=True)
            station = Station(config, data_dir=data, seed=seed)
            station.subscribe(functools.partial(self.counters.on, cp_id))
            self.stations[cp_id] = station
        self.driver = threading.Thread(target=self._drive, name="fleet-atg", daemon=True)

    def start(self) -> dict[str, Any]:
        """Start the stations and the driver; where they run (for the report)."""
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="fleet-start") as pool:
            list(pool.map(lambda s: s.start(), self.stations.values()))
        self.driver.start()
        return {"stations": len(self.stations), "host": socket.gethostname(), "pid": os.getpid()}

    def snapshot(self) -> dict[str, Any]:
        return self.counters.snapshot()

    def command(self, cmd: plan.FaultCommand, targets: list[str]) -> dict[str, str]:
        """Each target's console answer to the command (`ok ...` / `error ...`)."""
        from ocppstation.tools.console import Console

        answers: dict[str, str] = {}
        for cp_id in targets:
            station = self.stations.get(cp_id)
            if station is None:
                answers[cp_id] = "error not in this worker"
                continue
            answers[cp_id] = Console(station).handle(cmd.console_line())
            if answers[cp_id].startswith("ok"):
                self.counters.count("faults")
        return answers

    def stop(self) -> dict[str, Any]:
        self.halt.set()
        self.driver.join(5.0)
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="fleet-stop") as pool:
            list(pool.map(lambda s: s.stop(), self.stations.values()))
        if self.job.temporary:
            for cp_id in self.stations:
                shutil.rmtree(Path(self.job.data_dir) / cp_id, ignore_errors=True)
        return self.counters.snapshot()

    def _drive(self) -> None:
        for at, cp_id, evse, kind, arg in _events(self.job, self.tpl, self.kinds, time.monotonic()):
            if self.halt.wait(max(0.0, at - time.monotonic())):
                return
            station = self.stations[cp_id]
            try:
                if kind == "plug":
                    station.plug(evse)
                elif kind == "unplug":
                    station.unplug(evse)
                elif kind == "tag":
                    station.tag(evse, arg)
                elif kind == "crash":
                    self.counters.count("faults")
                    station.crash(arg)
                elif kind == "disconnect":
                    self.counters.count("faults")
                    station.disconnect()
            except Exception as exc:  # an EVSE that is down misses its driver: counted, not fatal
                log.info("%s EVSE %d %s: %s", cp_id, evse, kind, exc)
                self.counters.count("atg_errors")


def run_worker(job: Job, conn: Connection) -> None:
    """A worker process: start its stations, report and take commands over
    `conn` until told to stop, stop them.

    Its own pipe, not a queue shared with the other workers: `kill` SIGKILLs
    a worker, and one killed while holding a shared queue's lock would
    block every other writer."""
    # The parent owns Ctrl-C: it tells every worker through `conn`.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    shard = Shard(job)
    lock = threading.Lock()

    def send(*message: Any) -> None:
        with lock:
            conn.send(message)

    send("started", job.index, shard.start())

    def commands() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the parent is gone: stop
                shard.halt.set()
                return
            if message[0] == "stop":
                shard.halt.set()
                return
            _, number, cmd, targets = message
            send("answer", job.index, (number, shard.command(cmd, targets)))

    threading.Thread(target=commands, name="fleet-commands", daemon=True).start()
    while not shard.halt.wait(REPORT_EVERY):
        send("stats", job.index, shard.snapshot())
    send("done", job.index, shard.stop())
