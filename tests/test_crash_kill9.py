"""kill -9 at random moments during transactions: nothing lost, nothing doubled.

Real station processes (`ocppstation run --console` with a data dir) charge on
several EVSEs against the dev CSMS and are killed with SIGKILL again and again,
then restarted on the same data dir. Sometimes the CSMS is down (stopped, and
started later on the same port), so the queue of transaction messages grows
offline and drains after a reconnect, and kills land in the middle of that
too. Kill moments are chosen by a seeded `random.Random` from what the station
or the CSMS has just done, never by the clock:

- during start-up, after a random number of CSMS log entries (boot, status,
  the replayed queue);
- during recovery, between the PowerLoss stops of transactions left open;
- right after a console answer (a card, a cable), or after the station
  reported a status, a stop or a random number of meter samples, or after the
  CSMS log grew by a random number of entries.

At the end the CSMS is up, a last session runs to completion (the queue is in
order, so its StopTransaction comes after everything queued before it), and
the CSMS log must show: every transaction started is stopped exactly once,
every stop and meter value belongs to a started transaction, meter values
arrive in order and before their stop. Re-sends (a kill between the CSMS's
answer and the station deleting the message) are legal and counted; the dev
CSMS recognises them (`repeat_of`) and gives a re-sent start the same id.

Set KILL9_SEED to replay a run; the seed is printed (shown on failure).
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ocppstation.tools.cli import console_argv
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.peer import LogEntry

# At least, over all rigs together; KILL9_KILLS sets the long form (README).
KILLS = int(os.environ.get("KILL9_KILLS", "60"))
# Independent station + CSMS pairs run side by side: most of a cycle is a
# process starting up, which leaves the other core idle.
RIGS = 2
EVSES = 3
STEP_TIMEOUT = 60.0  # any single wait: a bound on a hang, not a pace (a loaded machine is slow)
DRAIN_TIMEOUT = 60.0  # the final session waits behind the whole backlog
FINAL_TAG = "FINAL"
# meterStart, meterStop, the stored last meter value and MeterValues all use
# metering.register_wh, so a PowerLoss stop is never below the last value sent.
METER_STOP_SLACK_WH = 0
TRANSACTION_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})

_CHARGING = r"\| evse {n}\s+Charging$"
_STOPPED = r"\| evse {n}\s+transaction \S+ stopped \("
_POWER_LOSS = re.compile(r"\| evse (\d+)\s+transaction \S+ stopped \(PowerLoss\)")
_SAMPLE = re.compile(r"\| evse \d+\s+[\d.]+ Wh")
_EVSE_LINE = re.compile(
    r"\| evse (?P<evse>\d+)\s+(?:(?P<charging>Charging)$|(?P<sample>[\d.]+ Wh)"
    r"|transaction \S+ stopped \((?P<reason>\w+)\))"
)


class StationDied(AssertionError):
    pass


class StationProcess:
    """One `ocppstation run --console` process: commands in, answers and live view out."""

    def __init__(self, config: Path, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            console_argv(config, data_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Not the repo root: its `ocppstation/` folder would shadow the package.
            cwd=data_dir.parent,
        )
        self.answers: queue.Queue[str | None] = queue.Queue()
        self.lines: list[str] = []  # stderr: live view and warnings
        # (index into lines, evse, idTag): from that line on, the session there is idTag's.
        self.sessions: list[tuple[int, int, str]] = []
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read_answers, daemon=True),
            threading.Thread(target=self._read_lines, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_answers(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.answers.put(line.rstrip("\n"))
        self.answers.put(None)

    def _read_lines(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append("<eof>")
            self._cond.notify_all()

    def command(self, line: str) -> str:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise StationDied(f"station died before {line!r}:\n{self.tail()}") from None
        try:
            answer = self.answers.get(timeout=STEP_TIMEOUT)
        except queue.Empty:
            raise TimeoutError(f"no answer to {line!r}:\n{self.tail()}") from None
        if answer is None:
            raise StationDied(f"station died answering {line!r}:\n{self.tail()}")
        assert answer.startswith("ok"), f"{line!r} -> {answer!r}"
        return answer

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def heard(self) -> tuple[set[str], Counter[str], dict[str, str]]:
        """What the station said about its sessions, by idTag: which charged (so
        their start was stored), how many meter samples each stored, and how
        each stopped. Every line is printed after the database write it tells of."""
        charging: set[str] = set()
        samples: Counter[str] = Counter()
        stops: dict[str, str] = {}
        with self._cond:
            lines = list(self.lines)
        for index, line in enumerate(lines):
            found = _EVSE_LINE.search(line)
            if found is None:
                continue
            evse = int(found["evse"])
            tags = [t for at, n, t in self.sessions if n == evse and at <= index]
            if not tags:
                continue  # a transaction of an earlier run (PowerLoss)
            if found["charging"]:
                charging.add(tags[-1])
            elif found["sample"]:
                samples[tags[-1]] += 1
            elif found["reason"] != "PowerLoss":
                stops[tags[-1]] = found["reason"]
        return charging, samples, stops

    def wait_line(self, pattern: str | re.Pattern[str], count: int = 1, since: int = 0) -> None:
        """Until `count` stderr lines from index `since` on match `pattern`."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + STEP_TIMEOUT
        with self._cond:
            while True:
                found = sum(1 for line in self.lines[since:] if regex.search(line))
                if found >= count:
                    return
                if self.lines and self.lines[-1] == "<eof>":
                    raise StationDied(f"station died waiting for {regex.pattern}:\n{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{count} x {regex.pattern} not seen:\n{self.tail()}")
                self._cond.wait(left)

    def tail(self, last: int = 25) -> str:
        with self._cond:
            return "\n".join(self.lines[-last:])

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self._reap()

    def quit(self) -> None:
        self.command("quit")
        assert self.proc.wait(timeout=STEP_TIMEOUT) == 0, self.tail()
        self._reap()

    def _reap(self) -> None:
        self.proc.wait(timeout=STEP_TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=STEP_TIMEOUT)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except BrokenPipeError:
                    pass


@dataclass
class Report:
    rig: int
    kills: Counter[str] = field(default_factory=Counter)
    offline_kills: int = 0
    sessions: int = 0
    transactions: int = 0
    meter_values: int = 0
    repeats: Counter[str] = field(default_factory=Counter)
    stop_reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


class Rig:
    """One station data dir, one dev CSMS, and the random walk of kills between them."""

    def __init__(self, index: int, seed: int, root: Path, kills: int) -> None:
        self.rng = random.Random(seed)
        self.target = kills
        self.cp_id = f"cp-kill9-{index}"
        self.csms = DevCsms(port=0, heartbeat_interval=300)
        self.up = False
        self.root = root
        self.data_dir = root / "data"
        self.config = root / "station.json"
        self.report = Report(index)
        self.proc: StationProcess | None = None
        self.tags = 0
        # EVSEs sure to have an open transaction at the last kill. A status or
        # stop line is printed after the database write, so a kill may leave a
        # write done that we never heard of: in doubt, an EVSE is not in here.
        self.open_evses: set[int] = set()
        # What the stations said (see StationProcess.heard), over all runs.
        self.charged: set[str] = set()
        self.samples: Counter[str] = Counter()
        self.stopped: dict[str, str] = {}

    # -- the CSMS ---------------------------------------------------------------

    def csms_up(self) -> None:
        self.csms.start()
        self.up = True

    def csms_down(self) -> None:
        # Both ways a CSMS goes away: a clean close, and a cut connection.
        self.csms.stop(abort=self.rng.random() < 0.5)
        self.up = False

    def wait_log(self, entries: int, since: int) -> None:
        """Until the CSMS log has grown by `entries` from `since`."""
        self.csms.log.wait_for(lambda e: True, STEP_TIMEOUT, since=since + entries - 1)

    def wait_answers(self, count: int, since: int) -> None:
        """Until the CSMS has answered `count` transaction messages from `since` on.

        The CSMS logs its answer just before writing it, so a kill now lands
        before the station can delete the message: the likeliest re-send.
        """
        for _ in range(count):
            answer = self.csms.log.wait_for(
                lambda e: e.kind == "result" and e.action in TRANSACTION_ACTIONS,
                STEP_TIMEOUT,
                since=since,
            )
            since = answer.seq + 1

    # -- the station --------------------------------------------------------------

    def launch(self) -> StationProcess:
        self.proc = StationProcess(self.config, self.data_dir)
        return self.proc

    def kill(self, moment: str) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.heard(self.proc)
        self.proc = None
        self.report.kills[moment] += 1
        if not self.up:
            self.report.offline_kills += 1

    def heard(self, proc: StationProcess) -> None:
        charging, samples, stops = proc.heard()
        self.charged |= charging
        self.samples += samples
        self.stopped.update(stops)

    def new_tag(self) -> str:
        self.tags += 1
        self.report.sessions += 1
        return f"T{self.report.rig}-{self.tags}"

    # -- the run --------------------------------------------------------------------

    def run(self) -> Report:
        t0 = time.monotonic()
        try:
            while sum(self.report.kills.values()) < self.target:
                self.cycle()
            self.finish()
            self.check()
        except TimeoutError as exc:
            # The CSMS log alone rarely says why a station went quiet; its stderr does.
            tail = self.proc.tail() if self.proc is not None else "(no station running)"
            raise TimeoutError(f"{self.cp_id}: {exc}\nstation stderr:\n{tail}") from exc
        finally:
            if self.proc is not None:
                self.proc.kill()
            self.csms.stop(abort=True)
        self.report.seconds = time.monotonic() - t0
        return self.report

    def station_config(self) -> dict[str, Any]:
        return {
            "Internal": {
                "CentralSystemURI": self.csms.url,
                "ChargePointId": self.cp_id,
                "Evses": EVSES,
                # Back within a fraction of a second once the CSMS is.
                "RetryBackOffWaitMinimum": 0.2,
                "RetryBackOffRandomRange": 0,
                "RetryBackOffRepeatTimes": 1,
                "CallTimeout": 10,
            },
            "Core": {
                "MeterValueSampleInterval": 1,
                "TransactionMessageRetryInterval": 1,
                "HeartbeatInterval": 300,
                # Every card is new: offline, it must still start a transaction.
                "AllowOfflineTxForUnknownId": True,
                "StopTxnSampledData": "Energy.Active.Import.Register",
            },
            # 3 x 32 A at 210 V: 5.6 Wh a second, so most samples have a fraction
            # of a Wh and any disagreement in rounding between messages shows.
            "Simulation": {"Phases": 3, "VoltageV": 210},
        }

    def cycle(self) -> None:
        rng = self.rng
        if not self.up and rng.random() < 0.4:
            self.csms_up()
        elif self.up and rng.random() < 0.1:
            self.csms_down()
        launched = self.csms.log.mark()
        proc = self.launch()
        roll = rng.random()
        # Killed before start() returned, a recovery may be half done: in doubt.
        recovering, self.open_evses = self.open_evses, set()
        if recovering and roll < 0.12:
            # Between the PowerLoss stops of a recovery (or right after the last).
            proc.wait_line(_POWER_LOSS, rng.randint(1, len(recovering)))
            self.kill("recovery")
            return
        if self.up and recovering and roll < 0.22:
            # Each PowerLoss stop will be answered; kill right after one of them.
            self.wait_answers(rng.randint(1, len(recovering)), launched)
            self.kill("start-up-answered")
            return
        if self.up and roll < 0.32:
            # At least connect, boot and a status per connector (0..N) and answers.
            self.wait_log(rng.randint(1, 3 + 2 * (EVSES + 1)), launched)
            self.kill("start-up")
            return
        proc.command("status")  # start() has returned: recovery is done
        if roll < 0.38:
            self.kill("ready")
            return
        busy: dict[int, str] = {}
        while True:
            moment = self.step(proc, busy)
            if moment is not None or rng.random() < 0.2:
                break
        self.open_evses = set(busy)
        self.kill(moment or "session")

    def step(self, proc: StationProcess, busy: dict[int, str]) -> str | None:
        """One random thing that happens at a station; a kill moment name to kill now."""
        rng = self.rng
        free = [n for n in range(1, EVSES + 1) if n not in busy]
        options = ["start"] * 3 * bool(free) + ["toggle"]
        if busy:
            options += ["stop", "samples", "samples"] + ["log", "answered", "answered"] * self.up
        kind = rng.choice(options)
        mark = proc.mark()
        if kind == "start":
            n, tag = rng.choice(free), self.new_tag()
            first, second = (f"plug {n}", f"tag {n} {tag}")
            if rng.random() < 0.3:  # the card before the cable
                first, second = second, first
            proc.sessions.append((mark, n, tag))
            proc.command(first)
            proc.command(second)
            if rng.random() < 0.2:
                return "after-console"  # stored or not: the kill decides
            proc.wait_line(_CHARGING.format(n=n), since=mark)
            busy[n] = tag
        elif kind == "stop":
            n = rng.choice(sorted(busy))
            if rng.random() < 0.5:
                proc.command(f"tag {n} {busy[n]}")  # Local
            proc.command(f"unplug {n}")  # EVDisconnected, unless the card stopped it
            if rng.random() < 0.2:
                del busy[n]  # stopped or not: the kill decides
                return "after-console"
            proc.wait_line(_STOPPED.format(n=n), since=mark)
            del busy[n]
        elif kind == "samples":
            # A sample per charging EVSE per second: keep the wait near a second.
            count = rng.randint(1, min(4, 2 * len(busy)))
            if self.up and rng.random() < 0.5:
                since = self.csms.log.mark()
                for _ in range(count):
                    entry = self.csms.log.wait_call(
                        "MeterValues", timeout=STEP_TIMEOUT, since=since
                    )
                    since = entry.seq + 1
                return "meter-values-delivered"
            proc.wait_line(_SAMPLE, count, since=mark)
            return "meter-values-sampled"
        elif kind == "log":
            self.wait_log(rng.randint(1, 6), self.csms.log.mark())
            return "csms-log"
        elif kind == "answered":
            self.wait_answers(rng.randint(1, 3), self.csms.log.mark())
            return "answered"
        elif self.up:
            self.csms_down()
        else:
            since = self.csms.log.mark()
            self.csms_up()
            if rng.random() < 0.5:
                # Reconnected and draining: connect and a status per connector at least.
                self.wait_log(rng.randint(1, 1 + 2 * (EVSES + 1)), since)
                return "draining"
        return None

    def finish(self) -> None:
        """A last session run to completion; its stop is the last thing in the queue."""
        if not self.up:
            self.csms_up()
        proc = self.launch()
        proc.command("status")
        mark = proc.mark()
        proc.sessions.append((mark, 1, FINAL_TAG))
        proc.command("plug 1")
        proc.command(f"tag 1 {FINAL_TAG}")
        proc.wait_line(_CHARGING.format(n=1), since=mark)
        proc.command(f"tag 1 {FINAL_TAG}")
        stop = self.csms.log.wait_for(
            lambda e: (
                e.kind == "call"
                and e.action == "StopTransaction"
                and e.payload.get("idTag") == FINAL_TAG
            ),
            DRAIN_TIMEOUT,
        )
        self.csms.log.wait_for(
            lambda e: e.kind == "result" and e.unique_id == stop.unique_id,
            STEP_TIMEOUT,
            since=stop.seq,
        )
        proc.quit()
        self.heard(proc)
        self.proc = None

    # -- what the CSMS must have seen -------------------------------------------------

    def check(self) -> None:
        entries = [e for e in self.csms.log.entries() if e.cp_id == self.cp_id]
        replies = {e.unique_id: e for e in entries if e.direction == "out"}
        calls = [e for e in entries if e.direction == "in" and e.kind == "call"]
        for e in calls:
            if e.repeat_of is not None:
                self.report.repeats[e.action or "?"] += 1
        transactional = [
            e for e in calls if e.action in ("StartTransaction", "StopTransaction", "MeterValues")
        ]
        refused = [replies[e.unique_id] for e in transactional if e.unique_id in replies]
        errors = [r.line() for r in refused if r.kind == "error"]
        assert not errors, f"the CSMS refused transaction messages: {errors}"

        started: dict[int, LogEntry] = {}  # transactionId -> first StartTransaction
        for e in calls:
            if e.action != "StartTransaction":
                continue
            reply = replies.get(e.unique_id)
            if reply is None:
                continue  # killed before the CSMS answered: it must come again
            tid = reply.payload["transactionId"]
            if e.repeat_of is None:
                assert tid not in started, f"two distinct starts got id {tid}: {e.line()}"
                started[tid] = e
            else:
                first = started.get(tid)
                assert first is not None and first.seq == e.repeat_of, (
                    f"a re-sent start got another transaction: {e.line()}"
                )
        unanswered_starts = [
            e.line()
            for e in calls
            if e.action == "StartTransaction"
            and e.unique_id not in replies
            and not any(s.payload == e.payload for s in started.values())
        ]
        assert not unanswered_starts, f"starts never answered: {unanswered_starts}"

        stops: dict[int, list[LogEntry]] = defaultdict(list)
        values: dict[int, list[LogEntry]] = defaultdict(list)
        for e in calls:
            if e.action == "StopTransaction":
                stops[e.payload["transactionId"]].append(e)
            elif e.action == "MeterValues" and "transactionId" in e.payload:
                values[e.payload["transactionId"]].append(e)
        unknown = sorted((set(stops) | set(values)) - set(started))
        assert not unknown, f"stops or meter values for transactions never started: {unknown}"
        for tid, start in started.items():
            self.check_transaction(tid, start, stops.get(tid, []), values.get(tid, []))
        assert FINAL_TAG in {s.payload["idTag"] for s in started.values()}
        self.check_heard(started, values)
        self.report.transactions = len(started)
        self.report.meter_values = sum(
            1 for vs in values.values() for v in vs if v.repeat_of is None
        )
        self.check_database(started)

    def check_heard(self, started: dict[int, LogEntry], values: dict[int, list[LogEntry]]) -> None:
        """What a station said it stored reached the CSMS, and as it said."""
        by_tag: dict[str, int] = {}
        for tid, start in started.items():
            tag = start.payload["idTag"]
            assert tag not in by_tag, f"{tag} started two transactions: {by_tag[tag]}, {tid}"
            by_tag[tag] = tid
        lost = sorted(self.charged - set(by_tag))
        assert not lost, (
            f"transactions stored (the station said Charging) but never started: {lost}"
        )
        for tag, count in self.samples.items():
            delivered = sum(1 for v in values.get(by_tag[tag], []) if v.repeat_of is None)
            assert delivered >= count, (
                f"{tag}: the station stored {count} meter samples, the CSMS got {delivered}"
            )
        for tag, reason in self.stopped.items():
            stop = next(
                s
                for s in self.csms.log.calls("StopTransaction", self.cp_id)
                if s.payload["transactionId"] == by_tag[tag]
            )
            assert stop.payload["reason"] == reason, f"{tag} stopped {reason}: {stop.line()}"

    def check_transaction(
        self, tid: int, start: LogEntry, stops: list[LogEntry], values: list[LogEntry]
    ) -> None:
        distinct = [s for s in stops if s.repeat_of is None]
        assert len(distinct) == 1, (
            f"transaction {tid} ({start.payload}) stopped {len(distinct)} times: "
            + "; ".join(s.line() for s in distinct)
        )
        stop = distinct[0]
        self.report.stop_reasons[stop.payload.get("reason", "Local")] += 1
        assert start.seq < stop.seq, f"transaction {tid} stopped before it started"
        assert start.payload["timestamp"] <= stop.payload["timestamp"], stop.line()
        assert start.payload["meterStart"] <= stop.payload["meterStop"], stop.line()
        last_time, last_energy = start.payload["timestamp"], start.payload["meterStart"]
        for v in values:
            assert start.seq < v.seq < stop.seq, f"out of its transaction: {v.line()}"
            for meter_value in v.payload["meterValue"]:
                at = meter_value["timestamp"]
                energy = _energy(meter_value)
                assert at >= last_time, f"transaction {tid}: meter values out of order: {v.line()}"
                if energy is not None:
                    assert energy >= last_energy, f"transaction {tid}: energy went back: {v.line()}"
                    last_energy = energy
                last_time = at
        assert stop.payload["timestamp"] >= last_time, stop.line()
        assert stop.payload["meterStop"] >= last_energy - METER_STOP_SLACK_WH, (
            f"transaction {tid}: meterStop below the last meter value {last_energy}: {stop.line()}"
        )

    def check_database(self, started: dict[int, LogEntry]) -> None:
        """The station's own records agree: nothing queued, nothing open, nothing else."""
        db = sqlite3.connect(self.data_dir / f"{self.cp_id}.sqlite")
        try:
            queued = db.execute("SELECT action, payload FROM queue").fetchall()
            rows = db.execute("SELECT local_id, transaction_id, stopped FROM tx").fetchall()
        finally:
            db.close()
        # We quit once the CSMS logged its answer to the last stop, which may be
        # before the station deleted it: that one message may wait for the next run.
        left = [(a, p) for a, p in queued if json.loads(p).get("idTag") != FINAL_TAG]
        assert not left, f"{len(left)} messages still queued after the drain: {left}"
        assert all(stopped for _, _, stopped in rows), "a transaction is still open"
        ids = sorted(tid for _, tid, _ in rows)
        assert None not in ids, f"transactions whose start never got an id: {rows}"
        assert ids == sorted(started), "the station and the CSMS disagree on the transactions"


def _energy(meter_value: dict[str, Any]) -> float | None:
    for sampled in meter_value["sampledValue"]:
        if sampled.get("measurand", "Energy.Active.Import.Register") == (
            "Energy.Active.Import.Register"
        ):
            return float(sampled["value"])
    return None


def _rig(root: Path, seed: int = 0, kills: int = 0) -> Rig:
    rig = Rig(0, seed, root, kills)
    rig.data_dir.mkdir(parents=True)
    rig.csms_up()
    rig.config.write_text(json.dumps(rig.station_config()))
    return rig


def _run_rigs(seed: int, root: Path, run: Callable[[Rig], Report]) -> list[Report]:
    per_rig = -(-KILLS // RIGS)
    rigs = []
    for index in range(RIGS):
        folder = root / f"rig{index}"
        folder.mkdir()
        rig = Rig(index, seed * 1000 + index, folder, per_rig)
        rig.data_dir.mkdir()
        rig.csms_up()
        rig.config.write_text(json.dumps(rig.station_config()))
        rigs.append(rig)
    with ThreadPoolExecutor(max_workers=RIGS) as pool:
        return list(pool.map(run, rigs))


@pytest.mark.slow
@pytest.mark.timeout(max(300, 10 * KILLS))  # the long form runs longer
def test_kill_9_during_transactions_loses_and_doubles_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("KILL9_SEED") or random.SystemRandom().randrange(1 << 31))
    print(f"KILL9_SEED={seed}")
    t0 = time.monotonic()
    reports = _run_rigs(seed, tmp_path, Rig.run)
    kills = sum(sum(r.kills.values()) for r in reports)
    for r in reports:
        print(
            f"rig {r.rig}: {sum(r.kills.values())} kills ({r.offline_kills} with the CSMS down)"
            f" {dict(r.kills)}; {r.sessions} sessions begun, {r.transactions} transactions,"
            f" {r.meter_values} MeterValues; re-sent {dict(r.repeats)};"
            f" stops {dict(r.stop_reasons)}; {r.seconds:.1f} s"
        )
    print(f"{kills} kills in {time.monotonic() - t0:.1f} s, seed {seed}")
    assert kills >= KILLS
    assert sum(r.offline_kills for r in reports) > 0


@pytest.mark.slow
def test_a_power_loss_stop_is_not_below_the_last_meter_value(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    try:
        proc = rig.launch()
        proc.command("status")
        mark = proc.mark()
        proc.command("plug 1")
        proc.command("tag 1 T1")
        # One sample: 5.6 Wh and a little, sent as "6".
        sample = rig.csms.log.wait_call("MeterValues", timeout=STEP_TIMEOUT)
        rig.csms.log.wait_for(lambda e: e.kind == "result", STEP_TIMEOUT, since=sample.seq)
        proc.wait_line(_SAMPLE, since=mark)
        rig.kill("test")
        rig.launch().command("status")
        stop = rig.csms.log.wait_call("StopTransaction", timeout=STEP_TIMEOUT)
        sent = _energy(sample.payload["meterValue"][-1])
        assert sent is not None
        assert stop.payload["reason"] == "PowerLoss"
        assert stop.payload["meterStop"] >= sent, (
            f"meterStop {stop.payload['meterStop']}, sent {sent}"
        )
    finally:
        if rig.proc is not None:
            rig.proc.kill()
        rig.csms.stop(abort=True)
