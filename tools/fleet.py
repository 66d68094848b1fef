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
import collections
import itertools
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
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from ocppstation.tools import cliargs
from ocppstation.tools import fleet_plan as plan
from ocppstation.tools.fleet_shard import (
    COUNTED,
    Job,
    Profile,
    overrides,
    profiles,
    run_worker,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
QS = (50, 95, 99)
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
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run one shard per Ray actor (pip install 'ocppstation[ray]'); ADDRESS "
        "of a running cluster, or none for a local one",
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
    # Where each worker runs (its last start): host and process.
    shards: dict[int, dict[str, Any]] = field(default_factory=dict)
    # The counters of workers killed and started again: theirs start at 0.
    retired: dict[str, Any] = field(default_factory=dict)
    _prev_messages: int = 0
    _prev_at: float = 0.0

    def take(self, worker: int, counters: dict[str, Any]) -> None:
        self.window.extend(counters["latencies"])
        self.all_latencies.extend(counters["latencies"])
        self.last[worker] = counters

    def total(self, key: str) -> int:
        return int(self.retired.get(key, 0)) + sum(int(c[key]) for c in self.last.values())

    def errors(self) -> dict[str, int]:
        return plan.merge_counts(
            [self.retired.get("errors", {})] + [c["errors"] for c in self.last.values()]
        )

    def retire(self, worker: int, faults: int = 0) -> None:
        """Worker `worker` is killed: keep what it counted, its next run counts from 0."""
        last = self.last.pop(worker, None)
        if last is not None:
            for what in COUNTED:
                self.retired[what] = self.retired.get(what, 0) + last[what]
            self.retired["errors"] = plan.merge_counts(
                [self.retired.get("errors", {}), last["errors"]]
            )
        self.retired["faults"] = self.retired.get("faults", 0) + faults

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
            "errors": self.errors(),
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

    def report(
        self, args: argparse.Namespace, elapsed: float, kinds: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "stations": args.stations,
            "evses": args.evses,
            "ocpp": args.ocpp,
            "kinds": kinds,
            "workers": len(self.last),
            "shards": [self.shards[k] for k in sorted(self.shards)],
            "seed": args.seed,
            "elapsed_s": round(elapsed, 3),
            "samples": self.samples,
            "totals": {
                "messages": self.total("sent") + self.total("received"),
                "answer_ms": _ms(plan.percentiles(self.all_latencies, QS)),
                "answers": len(self.all_latencies),
                "errors": self.errors(),
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


def _kinds_report(kinds: dict[str, Profile], tpl: plan.Template) -> list[dict[str, Any]]:
    counts = collections.Counter(p.kind for p in kinds.values())
    shares = [k.share for k in tpl.kinds] or [1.0]
    out = []
    for k, share in enumerate(shares):
        some = next((p for p in kinds.values() if p.kind == k), None)
        out.append(
            {
                "share": share,
                "stations": counts[k],
                "evses": None if some is None else some.evses,
                "ocpp": None if some is None else some.ocpp,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    template: dict[str, Any] = {}
    if args.template:
        try:
            template = json.loads(Path(args.template).read_text())
            tpl = plan.parse_template(template)
        except (ValueError, OSError) as exc:  # JSONDecodeError and TemplateError are ValueErrors
            return _fail("--template", f"{args.template}: {str(exc).splitlines()[0]}")
    else:
        tpl = plan.parse_template({})
    ids = plan.station_ids(args.id_prefix, args.stations)
    for flag, target in (("--report", args.report), ("--html", args.html)):
        if target:
            try:
                Path(target).write_text("")
            except OSError as exc:
                return _fail(flag, f"cannot write {target}: {exc.strerror}")
    kinds = profiles(tpl, ids, args.seed, args.evses, args.ocpp)
    # Each kind's config is checked once here, so a bad one is one line and
    # exit 2 rather than a traceback in every worker.
    from ocppstation.config.loader import ConfigError, load

    checked: set[int] = set()
    for cp_id, profile in kinds.items():
        if profile.kind in checked:
            continue
        checked.add(profile.kind)
        try:
            load(None, overrides(args.csms, cp_id, profile))
        except ConfigError as exc:
            where = f"kinds[{profile.kind}]" if tpl.kinds else "station"
            return _fail("--template", f"{args.template}: {where}: {exc}")
    if args.ray is not None:
        try:
            import ray  # noqa: F401
        except ImportError:
            return _fail("--ray", "Ray is not installed: pip install 'ocppstation[ray]'")
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
            temporary and args.ray is not None,
        )
        for k, share in enumerate(plan.split(ids, args.workers))
    ]
    pool: Pool
    if args.ray is not None:
        from ocppstation.tools.fleet_ray import RayPool

        pool = RayPool(jobs, args.ray)
    else:
        pool = ProcessPool(jobs)
    try:
        return _run(args, pool, data_dir, _kinds_report(kinds, tpl))
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


class Pool(Protocol):
    """Where the shards run: worker processes here, or Ray actors."""

    jobs: list[Job]

    def start(self) -> None: ...

    def recv(self, timeout: float) -> list[tuple[str, int, Any]]:
        """What the workers said (kind, worker, body), waiting up to `timeout`."""
        ...

    def command(self, worker: int, number: int, cmd: plan.FaultCommand, ids: list[str]) -> None: ...

    def kill(self, worker: int) -> None:
        """End the worker as a power loss does and start it again (same job)."""
        ...

    def failed(self) -> bool: ...

    def stop(self) -> None: ...

    def finish(self, timeout: float) -> None: ...


class ProcessPool:
    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        # Spawn, not fork: a forked child of a process with threads (the
        # parent's reader) may inherit a held lock.
        self.mp = multiprocessing.get_context("spawn")
        self.procs: dict[int, Any] = {}
        self.conns: dict[int, Connection] = {}
        self.dead = False

    def start(self) -> None:
        for job in self.jobs:
            self._spawn(job.index)

    def _spawn(self, k: int) -> None:
        ours, theirs = self.mp.Pipe()
        proc = self.mp.Process(target=run_worker, args=(self.jobs[k], theirs), name=f"fleet-w{k}")
        proc.start()
        theirs.close()
        self.procs[k], self.conns[k] = proc, ours

    def recv(self, timeout: float) -> list[tuple[str, int, Any]]:
        by_conn = {id(c): k for k, c in self.conns.items()}
        out: list[tuple[str, int, Any]] = []
        for conn in wait(list(self.conns.values()), timeout):
            assert isinstance(conn, Connection)
            try:
                out.append(conn.recv())
            except (EOFError, OSError):
                k = by_conn[id(conn)]
                self.conns.pop(k).close()
                if self.procs[k].exitcode not in (None, 0):
                    self.dead = True
        return out

    def command(self, worker: int, number: int, cmd: plan.FaultCommand, ids: list[str]) -> None:
        self.conns[worker].send(("command", number, cmd, ids))

    def kill(self, worker: int) -> None:
        proc = self.procs[worker]
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        conn = self.conns.pop(worker, None)
        if conn is not None:
            conn.close()
        self._spawn(worker)

    def failed(self) -> bool:
        return self.dead or any(p.exitcode not in (None, 0) for p in self.procs.values())

    def stop(self) -> None:
        for conn in self.conns.values():
            try:
                conn.send(("stop",))
            except OSError:  # that worker is gone already
                pass

    def finish(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for p in self.procs.values():
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()


@dataclass
class Pending:
    """A typed command the workers are still carrying out."""

    line: str
    cmd: plan.FaultCommand
    targets: list[str]
    waiting: set[int]
    answers: dict[str, str] = field(default_factory=dict)


def _answer(p: Pending) -> str:
    what = " ".join((p.cmd.verb, p.cmd.stations, *p.cmd.args))
    if p.cmd.verb == "kill":
        workers = ", ".join(f"w{k}" for k in sorted(p.answers))
        restarted = sorted(i for ids in p.answers.values() for i in ids.split())
        return (
            f"ok {what}: killed and restarted worker {workers}; "
            f"{len(restarted)} stations boot again from their data dirs: {' '.join(restarted)}"
        )
    failed = {i: a for i, a in p.answers.items() if not a.startswith("ok")}
    if failed:
        first = min(failed)
        return (
            f"error {what}: {len(failed)} of {len(p.targets)} stations failed; "
            f"{first}: {failed[first].removeprefix('error ')}"
        )
    return f"ok {what}: {len(p.targets)} stations: {' '.join(p.targets)}"


def _read_lines(lines: queue.Queue[str | None]) -> None:
    # A fleet started in the background (`&`) must not read its terminal:
    # the shell would stop the whole process (SIGTTIN).
    try:
        background = sys.stdin.isatty() and os.tcgetpgrp(sys.stdin.fileno()) != os.getpgrp()
    except (OSError, ValueError):  # no usable stdin at all
        background = True
    if not background:
        # stdin closed (or never open) ends only the commands, not the fleet.
        for line in sys.stdin:
            lines.put(line)
    lines.put(None)


def _run(args: argparse.Namespace, pool: Pool, data_dir: Path, kinds: list[dict[str, Any]]) -> int:
    interrupted = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: interrupted.set())
    pool.start()
    jobs = pool.jobs
    owner = {cp_id: job.index for job in jobs for cp_id in job.ids}
    all_ids = jobs[0].all_ids
    mix = ", ".join(f"{k['stations']} x {k['evses']} EVSEs OCPP {k['ocpp']}" for k in kinds)
    print(
        f"fleet: {args.stations} stations ({mix}), {len(jobs)} workers"
        f"{' on Ray' if args.ray is not None else ''}, data in {data_dir}",
        flush=True,
    )
    started: set[int] = set()
    done: set[int] = set()
    summary = Summary(args.stations, time.monotonic())
    status = EXIT_OK
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(lines,), name="fleet-stdin", daemon=True).start()
    pending: dict[int, Pending] = {}
    numbers = itertools.count()

    def drain(timeout: float) -> None:
        for kind, worker, body in pool.recv(timeout):
            if kind == "started":
                started.add(worker)
                summary.shards[worker] = {"worker": worker, **body}
                for number, p in list(pending.items()):
                    if p.cmd.verb == "kill" and worker in p.waiting:
                        p.waiting.discard(worker)
                        if not p.waiting:
                            print(_answer(pending.pop(number)), flush=True)
            elif kind in ("stats", "done"):
                summary.take(worker, body)
                if kind == "done":
                    done.add(worker)
            elif kind == "answer":
                number, answers = body
                asked = pending.get(number)
                if asked is not None:
                    asked.answers.update(answers)
                    asked.waiting.discard(worker)
                    if not asked.waiting:
                        print(_answer(pending.pop(number)), flush=True)

    def typed(line: str) -> None:
        """One command line: its answer now if it is bad, else when done."""
        number = next(numbers)
        try:
            cmd = plan.parse_command(line)
            targets = plan.select(cmd.stations, all_ids, args.seed, number)
        except plan.CommandError as exc:
            print(f"error {exc}", flush=True)
            return
        if not targets:
            print(f"error {cmd.stations}: no station", flush=True)
            return
        workers = sorted({owner[i] for i in targets})
        p = Pending(line, cmd, targets, set(workers))
        pending[number] = p
        if cmd.verb == "kill":
            # A station shares its worker process with others: only killing
            # the process is a power loss, so every station of it goes down.
            for k in workers:
                job = jobs[k]
                summary.retire(k, faults=len(job.ids))
                started.discard(k)
                p.answers[str(k)] = " ".join(job.ids)
                pool.kill(k)
            return
        by_worker: dict[int, list[str]] = {}
        for cp_id in targets:
            by_worker.setdefault(owner[cp_id], []).append(cp_id)
        for k, ids in by_worker.items():
            pool.command(k, number, cmd, ids)

    begun = time.monotonic()
    while len(started) < len(jobs) and not interrupted.is_set():
        drain(0.2)
        if pool.failed() or time.monotonic() - begun > START_TIMEOUT:
            print("fleet: a worker failed to start its stations", file=sys.stderr)
            status = EXIT_FAILED
            break
    summary.t0 = time.monotonic()
    next_line = summary.t0 + args.summary_every
    end = None if args.duration is None else summary.t0 + args.duration
    if status == EXIT_OK and not interrupted.is_set():
        print(f"fleet: all {args.stations} stations started", flush=True)
        reading = True
        while not interrupted.is_set() and (end is None or time.monotonic() < end):
            drain(min(0.1, max(0.0, next_line - time.monotonic())))
            while reading:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    break
                if line is None:
                    reading = False
                elif line.strip():
                    try:
                        typed(line)
                    except Exception as exc:  # a bad command never stops the fleet
                        log.exception("command %r", line)
                        print(f"error {line.strip()}: {exc}", flush=True)
            if time.monotonic() >= next_line:
                print(summary.line(summary.sample(time.monotonic())), flush=True)
                next_line += args.summary_every
            if pool.failed():
                print("fleet: a worker died", file=sys.stderr)
                status = EXIT_FAILED
                break
    for left in pending.values():
        print(f"error {left.line.strip()}: the fleet stopped first", flush=True)
    # Stopping: a second Ctrl-C must not end the parent before its workers.
    pool.stop()
    deadline = time.monotonic() + STOP_TIMEOUT
    while len(done) < len(jobs) and time.monotonic() < deadline:
        drain(0.2)
        if pool.failed():
            break
    pool.finish(max(0.1, deadline - time.monotonic()))
    elapsed = time.monotonic() - summary.t0
    row = summary.sample(time.monotonic())
    print(summary.line(row) + "  (final)", flush=True)
    report = summary.report(args, elapsed, kinds)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1) + "\n")
    if args.html:
        Path(args.html).write_text(plan.html_report(report))
    return status


if __name__ == "__main__":
    sys.exit(main())
