"""`ocppstation fleet`: many stations against one CSMS, on this machine.

The parent process parses the flags, spreads the stations over worker
processes and prints a summary from the counters the workers send it over a
queue. Each worker runs its stations through the embedding API (each its
own supervision tree and data dir), an automatic transaction generator
(ATG) driving their simulated EVs and card readers, and the template's chaos
plan. What is decided (ids, shares, schedules, targets, percentiles) is in
the pure `fleet_plan`.
"""

from __future__ import annotations

import argparse
import functools
import heapq
import json
import logging
import multiprocessing
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocppstation.tools import cliargs
from ocppstation.tools import fleet_plan as plan

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
QS = (50, 95, 99)
# How often a worker sends its counters; the parent's summary is coarser.
REPORT_EVERY = 1.0
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0

log = logging.getLogger("ocppstation.fleet")


def _csms_url(text: str) -> str:
    if not text.startswith(("ws://", "wss://")) or text[-3:] == "://":
        raise argparse.ArgumentTypeError(f"not a ws:// or wss:// URL: {text!r}")
    return text.rstrip("/")


def _id_prefix(text: str) -> str:
    # The id goes into the URL path and a 1.6 identity is at most 48 chars.
    if not text or len(text) > 40 or not all(c.isalnum() or c in "-_." for c in text):
        raise argparse.ArgumentTypeError("1-40 letters, digits, '-', '_' or '.'")
    return text


def build_parser() -> cliargs.OneLineParser:
    p = cliargs.parser(
        "ocppstation fleet",
        description="Run N stations against one CSMS, spread over worker processes, "
        "each with an automatic transaction generator; print a summary every few "
        "seconds and, with --report, write the figures as JSON at the end.",
    )
    p.add_argument("--csms", type=_csms_url, required=True, help="CSMS URL, ws://host:port/path")
    p.add_argument(
        "--stations", type=cliargs.int_range(1, 100_000), required=True, help="how many stations"
    )
    p.add_argument("--evses", type=cliargs.int_range(1, 32), default=1, help="EVSEs per station")
    p.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6", help="the version spoken")
    p.add_argument("--id-prefix", type=_id_prefix, default="CP", help="station ids: PREFIX0001...")
    p.add_argument(
        "--workers",
        type=cliargs.int_range(1, 1024),
        default=os.cpu_count() or 1,
        help="worker processes (default: one per core)",
    )
    p.add_argument(
        "--data-dir",
        type=cliargs.directory,
        help="each station's data in DIR/ID (default: a temporary directory, removed at the end)",
    )
    p.add_argument(
        "--seed",
        type=cliargs.int_range(0, 2**63),
        default=0,
        help="seed of the ATG and the chaos plan: the same seed, the same run",
    )
    p.add_argument(
        "--duration",
        type=cliargs.positive,
        help="stop after this many seconds once every station started (default: until Ctrl-C)",
    )
    p.add_argument(
        "--template",
        type=cliargs.readable_file,
        help='JSON: {"station": config overrides, "atg": {...}, "chaos": [...]}',
    )
    p.add_argument("--report", help="write the run's figures over time to FILE as JSON")
    p.add_argument("--html", help="write the report as a self-contained HTML page to FILE")
    p.add_argument(
        "--summary-every", type=cliargs.positive, default=5.0, help="seconds between summary lines"
    )
    p.add_argument(
        "--log-level", type=cliargs.log_level, default="WARNING", help="the stations' log level"
    )
    return p


@dataclass(frozen=True)
class Job:
    """What one worker is given (pickled to a spawned process)."""

    index: int
    ids: list[str]
    all_ids: list[str]
    csms: str
    evses: int
    ocpp: str
    data_dir: str
    seed: int
    template: dict[str, Any]
    log_level: str


def overrides(job: Job, cp_id: str, station: dict[str, Any]) -> dict[str, Any]:
    """A station's config overrides: the template's, then what the fleet fixes."""
    return plan.deep_merge(
        station,
        {
            "Internal": {
                "CentralSystemURI": job.csms,
                "ChargePointId": cp_id,
                "Evses": job.evses,
                "OcppVersions": [job.ocpp],
            }
        },
    )


# -- the worker ------------------------------------------------------------------


@dataclass
class Counters:
    """One worker's stations folded from their events; the bus calls `on`
    from actor threads, the reporter reads `snapshot`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    connected: set[str] = field(default_factory=set)
    ever_up: set[str] = field(default_factory=set)
    booted: set[str] = field(default_factory=set)
    charging: set[tuple[str, int]] = field(default_factory=set)
    sent: int = 0
    received: int = 0
    started: int = 0
    stopped: int = 0
    reconnects: int = 0
    atg_errors: int = 0
    faults: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    in_flight: dict[str, float] = field(default_factory=dict)

    def on(self, cp_id: str, event: Any) -> None:
        from ocppstation.actors import events as ev

        now = time.monotonic()
        with self.lock:
            match event:
                case ev.MessageSent():
                    self.sent += 1
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
                    self.received += 1
                case ev.LinkChanged(up=True):
                    if cp_id in self.ever_up:
                        self.reconnects += 1
                    self.ever_up.add(cp_id)
                    self.connected.add(cp_id)
                case ev.LinkChanged(up=False):
                    self.connected.discard(cp_id)
                case ev.RegistrationChanged(status=status):
                    if status == "Accepted":
                        self.booted.add(cp_id)
                case ev.TransactionStarted(evse=evse):
                    self.started += 1
                    self.charging.add((cp_id, evse))
                case ev.TransactionStopped(evse=evse):
                    self.stopped += 1
                    self.charging.discard((cp_id, evse))

    def count(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)

    def snapshot(self) -> dict[str, Any]:
        """The cumulative counters and the answer times since the last snapshot."""
        with self.lock:
            latencies, self.latencies = self.latencies, []
            return {
                "connected": len(self.connected),
                "booted": len(self.booted),
                "charging": len(self.charging),
                "sent": self.sent,
                "received": self.received,
                "started": self.started,
                "stopped": self.stopped,
                "reconnects": self.reconnects,
                "atg_errors": self.atg_errors,
                "faults": self.faults,
                "errors": dict(self.errors),
                "latencies": latencies,
            }


def _events(job: Job, tpl: plan.Template, t0: float) -> Iterator[tuple[float, str, int, str, str]]:
    """Every ATG action and chaos step of this worker's stations as
    (at, station, evse, kind, argument), merged in time order."""
    streams: list[Iterator[tuple[float, str, int, str, str]]] = []
    for cp_id in job.ids:
        base = job.all_ids.index(cp_id) * job.evses
        for evse in range(1, job.evses + 1):
            streams.append(_stamped(tpl.atg, job.seed, cp_id, evse, base + evse - 1, t0))
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
) -> Iterator[tuple[float, str, int, str, str]]:
    for a in plan.schedule(atg, seed, cp_id, evse, slot):
        yield (t0 + a.at, cp_id, evse, a.kind, a.id_tag)


def _drive(
    stations: dict[str, Any], job: Job, tpl: plan.Template, counters: Counters, stop: Any
) -> None:
    for at, cp_id, evse, kind, arg in _events(job, tpl, time.monotonic()):
        if stop.wait(max(0.0, at - time.monotonic())):
            return
        station = stations[cp_id]
        try:
            if kind == "plug":
                station.plug(evse)
            elif kind == "unplug":
                station.unplug(evse)
            elif kind == "tag":
                station.tag(evse, arg)
            elif kind == "crash":
                counters.count("faults")
                station.crash(arg)
            elif kind == "disconnect":
                counters.count("faults")
                station.disconnect()
        except Exception as exc:  # an EVSE that is down misses its driver: counted, not fatal
            log.info("%s EVSE %d %s: %s", cp_id, evse, kind, exc)
            counters.count("atg_errors")


def run_worker(job: Job, out: Any, stop: Any) -> None:
    """A worker process: start its stations, drive them until `stop`, stop them."""
    # The parent owns Ctrl-C: it tells every worker through `stop`.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=job.log_level,
        stream=sys.stderr,
        format=f"%(asctime)s w{job.index} %(levelname)s %(name)s: %(message)s",
    )
    cliargs.quiet_injected_crashes()
    from ocppstation.actors.station import Station
    from ocppstation.config.loader import load

    tpl = plan.parse_template(job.template)
    counters = Counters()
    stations: dict[str, Any] = {}
    for cp_id in job.ids:
        config = load(None, overrides(job, cp_id, dict(tpl.station)))
        seed = plan.station_seed(job.seed, cp_id)
        station = Station(config, data_dir=Path(job.data_dir) / cp_id, seed=seed)
        station.subscribe(functools.partial(counters.on, cp_id))
        stations[cp_id] = station
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="fleet-start") as pool:
        list(pool.map(lambda s: s.start(), stations.values()))
    out.put(("started", job.index, len(stations)))
    driver = threading.Thread(
        target=_drive, args=(stations, job, tpl, counters, stop), name="fleet-atg", daemon=True
    )
    driver.start()
    while not stop.wait(REPORT_EVERY):
        out.put(("stats", job.index, counters.snapshot()))
    driver.join(5.0)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="fleet-stop") as pool:
        list(pool.map(lambda s: s.stop(), stations.values()))
    out.put(("done", job.index, counters.snapshot()))


# -- the parent --------------------------------------------------------------------


@dataclass
class Summary:
    """The parent's view: the last counters of each worker and the answer
    times since the last line."""

    stations: int
    t0: float
    last: dict[int, dict[str, Any]] = field(default_factory=dict)
    window: list[float] = field(default_factory=list)
    all_latencies: list[float] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    _prev_messages: int = 0
    _prev_at: float = 0.0

    def take(self, worker: int, counters: dict[str, Any]) -> None:
        self.window.extend(counters["latencies"])
        self.all_latencies.extend(counters["latencies"])
        self.last[worker] = counters

    def total(self, key: str) -> int:
        return sum(int(c[key]) for c in self.last.values())

    def sample(self, now: float) -> dict[str, Any]:
        messages = self.total("sent") + self.total("received")
        dt = now - (self._prev_at or self.t0)
        rate = (messages - self._prev_messages) / dt if dt > 0 else 0.0
        self._prev_messages, self._prev_at = messages, now
        window, self.window = self.window, []
        row = {
            "t": round(now - self.t0, 3),
            "connected": self.total("connected"),
            "booted": self.total("booted"),
            "charging": self.total("charging"),
            "messages": messages,
            "messages_per_s": round(rate, 2),
            "answer_ms": _ms(plan.percentiles(window, QS)),
            "answers": len(window),
            "errors": plan.merge_counts([c["errors"] for c in self.last.values()]),
            "reconnects": self.total("reconnects"),
            "transactions_started": self.total("started"),
            "transactions_stopped": self.total("stopped"),
            "atg_errors": self.total("atg_errors"),
            "faults": self.total("faults"),
        }
        self.samples.append(row)
        return row

    def line(self, row: dict[str, Any]) -> str:
        ms = row["answer_ms"]
        answer = " ".join(f"{k} {'-' if v is None else f'{v:.1f}'}" for k, v in ms.items())
        errors = ", ".join(f"{k} {n}" for k, n in row["errors"].items()) or "none"
        return (
            f"{row['t']:7.1f}s  {row['connected']}/{self.stations} connected, "
            f"{row['booted']} booted, {row['charging']} charging | "
            f"{row['messages_per_s']:.1f} msg/s | answer ms {answer} | "
            f"errors: {errors} | reconnects {row['reconnects']}"
        )

    def report(self, args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
        return {
            "stations": args.stations,
            "evses": args.evses,
            "ocpp": args.ocpp,
            "workers": len(self.last),
            "seed": args.seed,
            "elapsed_s": round(elapsed, 3),
            "samples": self.samples,
            "totals": {
                "messages": self.total("sent") + self.total("received"),
                "answer_ms": _ms(plan.percentiles(self.all_latencies, QS)),
                "answers": len(self.all_latencies),
                "errors": plan.merge_counts([c["errors"] for c in self.last.values()]),
                "reconnects": self.total("reconnects"),
                "booted_max": max((s["booted"] for s in self.samples), default=0),
                "transactions_started": self.total("started"),
                "transactions_stopped": self.total("stopped"),
                "atg_errors": self.total("atg_errors"),
                "faults": self.total("faults"),
            },
        }


def _ms(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: None if v is None else round(v * 1000, 3) for k, v in values.items()}


def _fail(flag: str, why: str) -> int:
    print(f"ocppstation fleet: error: argument {flag}: {why}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    template: dict[str, Any] = {}
    if args.template:
        try:
            template = json.loads(Path(args.template).read_text())
            tpl = plan.parse_template(template)
        except (ValueError, OSError) as exc:  # JSONDecodeError and TemplateError are ValueErrors
            return _fail("--template", str(exc).splitlines()[0])
    else:
        tpl = plan.parse_template({})
    ids = plan.station_ids(args.id_prefix, args.stations)
    for flag, target in (("--report", args.report), ("--html", args.html)):
        if target:
            try:
                Path(target).write_text("")
            except OSError as exc:
                return _fail(flag, f"cannot write {target}: {exc.strerror}")
    temporary = args.data_dir is None
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="ocppstation-fleet-"))
    try:
        # Here, not in a worker, so that an unusable DIR is one line and exit 2.
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return _fail("--data-dir", f"cannot make {data_dir}: {exc.strerror}")
    jobs = [
        Job(
            k,
            share,
            ids,
            args.csms,
            args.evses,
            args.ocpp,
            str(data_dir),
            args.seed,
            template,
            args.log_level,
        )
        for k, share in enumerate(plan.split(ids, args.workers))
    ]
    # The template's station section is checked once here, so a bad one is
    # one line and exit 2 rather than a traceback in every worker.
    from ocppstation.config.loader import ConfigError, load

    try:
        load(None, overrides(jobs[0], ids[0], dict(tpl.station)))
    except ConfigError as exc:
        return _fail("--template", f"station: {exc}")
    try:
        return _run(args, jobs, data_dir)
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


def _run(args: argparse.Namespace, jobs: list[Job], data_dir: Path) -> int:
    # Spawn, not fork: a forked child of a process with threads (the
    # parent's queue feeder) may inherit a held lock.
    mp = multiprocessing.get_context("spawn")
    out = mp.Queue()
    stop = mp.Event()
    interrupted = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: interrupted.set())
    procs = [
        mp.Process(target=run_worker, args=(job, out, stop), name=f"fleet-w{job.index}")
        for job in jobs
    ]
    for p in procs:
        p.start()
    print(
        f"fleet: {args.stations} stations x {args.evses} EVSEs, OCPP {args.ocpp}, "
        f"{len(procs)} workers, data in {data_dir}",
        flush=True,
    )
    started: set[int] = set()
    done: set[int] = set()
    summary = Summary(args.stations, time.monotonic())
    status = EXIT_OK

    def drain(timeout: float) -> None:
        try:
            kind, worker, body = out.get(timeout=timeout)
        except queue.Empty:
            return
        if kind == "started":
            started.add(worker)
        elif kind in ("stats", "done"):
            summary.take(worker, body)
            if kind == "done":
                done.add(worker)

    begun = time.monotonic()
    while len(started) < len(procs) and not interrupted.is_set():
        drain(0.2)
        if any(not p.is_alive() for p in procs if p.exitcode is not None) or (
            time.monotonic() - begun > START_TIMEOUT
        ):
            print("fleet: a worker failed to start its stations", file=sys.stderr)
            status = EXIT_FAILED
            break
    summary.t0 = time.monotonic()
    next_line = summary.t0 + args.summary_every
    end = None if args.duration is None else summary.t0 + args.duration
    if status == EXIT_OK and not interrupted.is_set():
        print(f"fleet: all {args.stations} stations started", flush=True)
        while not interrupted.is_set() and (end is None or time.monotonic() < end):
            drain(min(0.2, max(0.0, next_line - time.monotonic())))
            if time.monotonic() >= next_line:
                print(summary.line(summary.sample(time.monotonic())), flush=True)
                next_line += args.summary_every
            if any(p.exitcode not in (None, 0) for p in procs):
                print("fleet: a worker died", file=sys.stderr)
                status = EXIT_FAILED
                break
    # Stopping: a second Ctrl-C must not end the parent before its workers.
    stop.set()
    deadline = time.monotonic() + STOP_TIMEOUT
    while len(done) < len(procs) and time.monotonic() < deadline:
        drain(0.2)
        if all(p.exitcode is not None for p in procs) and out.empty():
            break
    for p in procs:
        p.join(max(0.1, deadline - time.monotonic()))
        if p.is_alive():
            p.terminate()
    elapsed = time.monotonic() - summary.t0
    row = summary.sample(time.monotonic())
    print(summary.line(row) + "  (final)", flush=True)
    report = summary.report(args, elapsed)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1) + "\n")
    if args.html:
        Path(args.html).write_text(plan.html_report(report))
    return status


if __name__ == "__main__":
    sys.exit(main())
