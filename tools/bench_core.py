"""Core-profile benchmarks: a full station sampling every second, and a queue drain.

    python -m ocppstation.tools.bench_core              # both parts, markdown table
    python -m ocppstation.tools.bench_core --window 5   # a shorter sampling window
    python -m ocppstation.tools.bench_core --ocpp 2.0.1 # the same for an OCPP 2.0.1 station

Both parts run the station as its own process (`ocppstation run --console`
with a data dir), so its CPU time and memory are its own, against a dev CSMS
in this process on loopback:

(a) 128 EVSEs all charging, MeterValueSampleInterval 1 and six measurands
    (Energy.Active.Import.Register, Power.Active.Import, Current.Import,
    Voltage, Current.Offered, SoC; the simulation leaves out what its
    hardware cannot give, and the table says what was sent). Over a window
    of `--window` seconds: the station's CPU share (of one core), its RSS,
    the MeterValues the CSMS received per second, the delay from a sample's
    timestamp to its arrival, and the messages queued at the end. All EVSEs
    sample at about the same moment, so the queue keeps up when each burst
    is delivered before the next: every delay under the 1 s interval.

(b) 10,000 transaction messages (StartTransaction, MeterValues with the same
    six measurands, StopTransaction) stored through the storage actor's API
    into a data dir, as a station offline for a long time would have them;
    then the station starts with the CSMS up and we time until the CSMS has
    answered the last one. Compared with a bare client (another process, the
    `websockets` sync client, one CALL at a time) sending Heartbeats to the
    same CSMS, and the same MeterValues payload.

With `--ocpp 2.0.1` the station and the dev CSMS speak 2.0.1, and a transaction's
messages are TransactionEvents: (a) counts the Updated ones carrying meterValue as
the samples; (b) queues one Started, 98 Updated with meterValue and one Ended per
transaction (seqNo 0 to 99 under its transactionId), and the bare client sends 2.0.1
Heartbeats and one of those Updated events.

Every SQLite write of the station is a commit with synchronous=FULL (an fsync
of the WAL), so the figures depend on the disk under the data dir: `--data`
chooses it, and the table names its file system.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

from ocppstation.tools.cli import console_argv
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.peer import LogEntry

MEASURANDS = (
    "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Current.Offered,SoC"
)
EVSES = 128
WINDOW_S = 20.0
QUEUED = 10_000
PER_TRANSACTION = 100  # Start + 98 MeterValues + Stop
ROUND_TRIPS = 2_000
STEP_TIMEOUT = 30.0
DRAIN_TIMEOUT = 300.0
CP_ID = "bench-core"
OCPP_VERSIONS = ("1.6", "2.0.1")


@dataclass(frozen=True)
class Version:
    """What differs between the OCPP versions: the messages counted and their names."""

    name: str
    tx_actions: frozenset[str]
    # Table words: the sampling message, and the queued one the bare client sends.
    samples: str
    queued_sample: str
    transaction: str  # what one queued transaction is made of

    @property
    def v201(self) -> bool:
        return self.name == "2.0.1"

    @property
    def subprotocol(self) -> str:
        return f"ocpp{self.name}"

    def is_sample(self, entry: LogEntry) -> bool:
        if entry.kind != "call":
            return False
        if not self.v201:
            return entry.action == "MeterValues"
        # Other Updated events (charging state, the idToken) carry no sample.
        return (
            entry.action == "TransactionEvent"
            and entry.payload.get("eventType") == "Updated"
            and bool(entry.payload.get("meterValue"))
        )

    def started_answered(self) -> Callable[[LogEntry], bool]:
        """A matcher for the CSMS's answers to the messages that start transactions."""
        if not self.v201:
            return lambda e: e.kind == "result" and e.action == "StartTransaction"
        # A result does not say which TransactionEvent it answers: the Started ones'
        # unique ids do (the log holds a call before its result).
        started: set[str | None] = set()

        def match(entry: LogEntry) -> bool:
            if entry.kind == "call" and entry.action == "TransactionEvent":
                if entry.payload.get("eventType") == "Started":
                    started.add(entry.unique_id)
                return False
            return entry.kind == "result" and entry.unique_id in started

        return match


VERSIONS = {
    "1.6": Version(
        "1.6",
        frozenset({"StartTransaction", "StopTransaction", "MeterValues"}),
        samples="MeterValues",
        queued_sample="MeterValues",
        transaction=f"a start, {PER_TRANSACTION - 2} MeterValues and a stop",
    ),
    "2.0.1": Version(
        "2.0.1",
        frozenset({"TransactionEvent"}),
        samples="TransactionEvent Updated (meterValue)",
        queued_sample="TransactionEvent Updated (meterValue)",
        transaction=(
            f"a Started, {PER_TRANSACTION - 2} Updated with meterValue and an Ended "
            "TransactionEvent, seqNo 0 to 99"
        ),
    ),
}
V16 = VERSIONS["1.6"]


# -- the station process ------------------------------------------------------------


class StationProcess:
    """`ocppstation run --console`: commands in, one answer line each out."""

    def __init__(self, config: dict[str, Any], data_dir: Path) -> None:
        config_file = data_dir / "station.json"
        config_file.write_text(json.dumps(config))
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            console_argv(config_file, data_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # The live view prints a line per sample: 128 a second is not worth keeping.
            stderr=subprocess.DEVNULL,
            text=True,
            # Not a source checkout: a repo's `ocppstation/` folder would shadow the package.
            cwd=data_dir,
        )

    def command(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError(f"station answered {line!r} with {answer!r}")
        return answer

    def commits(self) -> int:
        """The station's fsync'd SQLite commits so far (its `status`)."""
        answer = self.command("status")
        count = json.loads(answer.split(" ", 1)[1]).get("commits")
        return int(count or 0)

    def cpu_s(self) -> float:
        """User + system CPU seconds of the station process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def memory_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the station process in KiB."""
        found: dict[str, int] = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
        return found["VmRSS"], found["VmHWM"]

    def queued(self) -> int:
        """Messages in the station's queue now: a reader beside the station (WAL)."""
        db = sqlite3.connect(f"file:{self.data_dir / (CP_ID + '.sqlite')}?mode=ro", uri=True)
        try:
            count: int = db.execute("SELECT count(*) FROM queue").fetchone()[0]
        finally:
            db.close()
        return count

    def stop(self) -> None:
        try:
            self.command("quit")
            self.proc.wait(timeout=STEP_TIMEOUT)
        except Exception:  # a stuck station must not hang the benchmark
            self.proc.kill()
            self.proc.wait()


def station_config(
    csms: DevCsms, evses: int, version: Version = V16, *, message_log: bool = True
) -> dict[str, Any]:
    internal: dict[str, Any] = {
        "CentralSystemURI": csms.url,
        "ChargePointId": CP_ID,
        "Evses": evses,
        "RetryBackOffWaitMinimum": 0.2,
        "RetryBackOffRandomRange": 0,
    }
    if not message_log:
        internal["MessageLogPath"] = ""  # on by default under the data dir
    if version.v201:
        internal["OcppVersions"] = ["2.0.1"]
    return {
        "Internal": internal,
        # The 1.6 keys: a 2.0.1 station reads its sampling from them too.
        "Core": {
            "MeterValueSampleInterval": 1,
            "MeterValuesSampledData": MEASURANDS,
            "HeartbeatInterval": 300,
        },
    }


@contextmanager
def data_dir(parent: str | None) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bench-core-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def count_entries(
    csms: DevCsms, want: int, match: Callable[[LogEntry], bool], since: int, timeout: float
) -> LogEntry:
    """Wait until `want` log entries from `since` on match; return the last of them."""
    seen = 0

    def counted(entry: LogEntry) -> bool:
        nonlocal seen
        if match(entry):
            seen += 1
        return seen >= want

    return csms.log.wait_for(counted, timeout, since=since)


def _parse_ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- (a) every EVSE charging ---------------------------------------------------------------


@dataclass
class Sampling:
    evses: int
    window_s: float
    cpu_share: float  # of one core
    csms_cpu_share: float
    rss_mib: float
    peak_rss_mib: float
    commits_per_s: float
    delivered_per_s: float
    expected_per_s: float
    latency_ms: tuple[float, float, float]  # median, p95, max
    backlog: int
    sampled_values: int
    measurands: list[str]
    version: Version = V16

    @property
    def keeps_up(self) -> bool:
        # Every EVSE samples at about the same moment each second: a burst the
        # queue must clear before the next one, whatever the backlog at one instant.
        return self.latency_ms[2] < 1000 and self.delivered_per_s >= 0.95 * self.expected_per_s


def csms_for(version: Version) -> DevCsms:
    return DevCsms(port=0, heartbeat_interval=300, subprotocols=(version.subprotocol,))


def bench_sampling(
    evses: int,
    window_s: float,
    parent: str | None,
    version: Version = V16,
    *,
    message_log: bool = True,
) -> Sampling:
    with csms_for(version) as csms, data_dir(parent) as folder:
        config = station_config(csms, evses, version, message_log=message_log)
        station = StationProcess(config, folder)
        try:
            station.command("status")  # started, recovered, console up
            if version.v201:
                # A 2.0.1 station drops a card presented before its boot was accepted
                # (1.6 keeps it): plug and tag once every EVSE has reported.
                count_entries(
                    csms,
                    evses,
                    lambda e: e.kind == "call" and e.action == "StatusNotification",
                    0,
                    STEP_TIMEOUT,
                )
            mark = csms.log.mark()
            for n in range(1, evses + 1):
                station.command(f"plug {n}")
                station.command(f"tag {n} BENCH{n}")
            count_entries(csms, evses, version.started_answered(), mark, STEP_TIMEOUT)
            # Every session has sampled once: the window starts in the steady state.
            start = count_entries(csms, evses, version.is_sample, mark, STEP_TIMEOUT)
            wall_minus_mono = time.time() - time.monotonic()
            commits0 = station.commits()
            cpu0, own0, t0 = station.cpu_s(), time.process_time(), time.monotonic()
            since = csms.log.mark()
            time.sleep(window_s)  # a measurement window, not a wait for something
            cpu1, own1, t1 = station.cpu_s(), time.process_time(), time.monotonic()
            commits1 = station.commits()
            backlog = station.queued()
            rss, peak = station.memory_kib()
            values = [e for e in csms.log.entries(since) if version.is_sample(e) and e.at <= t1]
        finally:
            station.stop()
    latencies = [
        (e.at + wall_minus_mono - _parse_ts(e.payload["meterValue"][0]["timestamp"])) * 1000
        for e in values
    ]
    sample = (values or [start])[-1].payload["meterValue"][0]["sampledValue"]
    elapsed = t1 - t0
    return Sampling(
        evses=evses,
        window_s=elapsed,
        cpu_share=(cpu1 - cpu0) / elapsed,
        csms_cpu_share=(own1 - own0) / elapsed,
        rss_mib=rss / 1024,
        peak_rss_mib=peak / 1024,
        commits_per_s=(commits1 - commits0) / elapsed,
        delivered_per_s=len(values) / elapsed,
        expected_per_s=evses / 1.0,
        latency_ms=(
            statistics.median(latencies),
            _percentile(latencies, 0.95),
            max(latencies),
        ),
        backlog=backlog,
        sampled_values=len(sample),
        measurands=sorted({s["measurand"] for s in sample}),
        version=version,
    )


# -- (b) a long backlog drained -----------------------------------------------------------


def sample_payload(connector: int, at: datetime, energy_wh: float) -> dict[str, Any]:
    """A MeterValues with all six measurands, as a station with an EV reporting SoC sends."""
    from ocppstation.hw.ports import MeterReading
    from ocppstation.protocol.timestamps import ocpp_timestamp
    from ocppstation.protocol.v16.metering import meter_value, parse_measurands, sampled_values

    reading = MeterReading(
        energy_wh=energy_wh,
        power_w=22080.0,
        current_a=(32.0, 32.0, 32.0),
        voltage_v=(230.0, 230.0, 230.0),
        soc_percent=min(100.0, 20.0 + energy_wh / 500),
    )
    values = sampled_values(
        reading, parse_measurands(MEASURANDS), "Sample.Periodic", offered_a=32.0
    )
    return {"connectorId": connector, "meterValue": [meter_value(ocpp_timestamp(at), values)]}


def sample_event(
    connector: int, at: datetime, energy_wh: float, transaction_id: str, seq_no: int
) -> dict[str, Any]:
    """The 2.0.1 TransactionEvent Updated the station sends for `sample_payload`'s values,
    built by the station's own 2.0.1 words; offline, as an unheard station queues it."""
    from ocppstation.protocol.evse_messages import TxRef
    from ocppstation.protocol.v201.evse_messages import EVSE_MESSAGES

    values = sample_payload(connector, at, energy_wh)["meterValue"]
    update = EVSE_MESSAGES.meter_values(
        connector, values, tx=TxRef(transaction_id, seq_no, offline=True)
    )
    return update.payload


def fill_queue(database: Path, messages: int, connectors: int, version: Version = V16) -> None:
    """Store `messages` transaction messages the way connectors do, through the storage actor."""
    from ocppstation.actors.runtime.base import Place
    from ocppstation.actors.runtime.registry import Registry
    from ocppstation.actors.storage.db import Storage

    # NORMAL: this is only the set-up, and fsyncs would make it slower than the drain.
    ref = Storage.start(Place("storage", None, Registry()), database, synchronous="NORMAL")
    storage = ref.proxy()
    at = datetime.now(UTC) - timedelta(hours=3)
    try:
        if version.v201:
            _queue_v201(storage, messages, connectors, at)
        else:
            _queue_v16(storage, messages, connectors, at)
        queued = storage.queue.size().get(timeout=STEP_TIMEOUT)
    finally:
        ref.stop()
    if queued != messages:
        raise RuntimeError(f"stored {queued} messages, wanted {messages}")


def _queue_v16(storage: Any, messages: int, connectors: int, at: datetime) -> None:
    from ocppstation.protocol.timestamps import ocpp_timestamp

    for index in range(messages // PER_TRANSACTION):
        connector = index % connectors + 1
        tag = f"BENCH{index}"
        start = {
            "connectorId": connector,
            "idTag": tag,
            "meterStart": 0,
            "timestamp": ocpp_timestamp(at),
        }
        local, _ = storage.transactions.begin_and_queue(
            connector, tag, 0, start["timestamp"], None, "StartTransaction", start
        ).get(timeout=STEP_TIMEOUT)
        energy = 0.0
        for _ in range(PER_TRANSACTION - 2):
            at += timedelta(seconds=1)
            energy += 22080 / 3600
            payload = sample_payload(connector, at, energy)
            stamp = payload["meterValue"][0]["timestamp"]
            storage.transactions.meter_and_queue(
                local, int(energy), stamp, "MeterValues", payload
            ).get(timeout=STEP_TIMEOUT)
        at += timedelta(seconds=1)
        stop = {
            "idTag": tag,
            "meterStop": int(energy),
            "timestamp": ocpp_timestamp(at),
            "reason": "Local",
        }
        storage.transactions.end_and_queue(
            local, int(energy), stop["timestamp"], "Local", "StopTransaction", stop
        ).get(timeout=STEP_TIMEOUT)


def _queue_v201(storage: Any, messages: int, connectors: int, at: datetime) -> None:
    from ocppstation.protocol.errors import OcppVersion
    from ocppstation.protocol.evse_messages import TxRef
    from ocppstation.protocol.timestamps import ocpp_timestamp
    from ocppstation.protocol.v201.evse_messages import EVSE_MESSAGES
    from ocppstation.protocol.validation import Validator

    # One the CSMS refused would never count as answered: a bad payload fails here, not
    # as a drain timeout.
    check = Validator(OcppVersion.V201).check_request
    for index in range(messages // PER_TRANSACTION):
        connector = index % connectors + 1
        tag = f"BENCH{index}"
        # The station's own id, known before the CSMS hears of it, as in the station.
        transaction_id = str(uuid.uuid4())
        stamp = ocpp_timestamp(at)
        start = EVSE_MESSAGES.started(
            connector, tag, 0, stamp, None, tx=TxRef(transaction_id, 0, offline=True)
        )
        check(start.action, start.payload)
        local, _ = storage.transactions.begin_and_queue(
            connector, tag, 0, stamp, None, start.action, start.payload, transaction_id
        ).get(timeout=STEP_TIMEOUT)
        energy = 0.0
        for seq_no in range(1, PER_TRANSACTION - 1):
            at += timedelta(seconds=1)
            energy += 22080 / 3600
            update = sample_event(connector, at, energy, transaction_id, seq_no)
            check("TransactionEvent", update)
            storage.transactions.meter_and_queue(
                local, int(energy), update["timestamp"], "TransactionEvent", update
            ).get(timeout=STEP_TIMEOUT)
        at += timedelta(seconds=1)
        stamp = ocpp_timestamp(at)
        stop = EVSE_MESSAGES.stopped(
            tag,
            int(energy),
            stamp,
            "Local",
            connector=connector,
            tx=TxRef(transaction_id, PER_TRANSACTION - 1, offline=True),
        )
        check(stop.action, stop.payload)
        storage.transactions.end_and_queue(
            local, int(energy), stamp, "Local", stop.action, stop.payload
        ).get(timeout=STEP_TIMEOUT)


def round_trips(
    url: str, action: str, payload: dict[str, Any], count: int, version: Version = V16
) -> float:
    """Round trips per second of a bare client in its own process, one CALL at a time."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "ocppstation.tools.bench_core"),
            *("--client", url, action, json.dumps(payload), str(count)),
            *("--ocpp", version.name),
        ],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT * 4,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"the bare client failed:\n{done.stderr[-2000:]}")
    rate: float = json.loads(done.stdout)["per_s"]
    return rate


def client_main(
    url: str,
    action: str,
    payload_text: str,
    count: int,
    out: IO[str],
    subprotocol: str = "ocpp1.6",
) -> None:
    """The bare client: connect as its own charge point, send `count` CALLs in turn."""
    from websockets.sync.client import connect
    from websockets.typing import Subprotocol

    payload = json.loads(payload_text)
    with connect(f"{url}/bench-client", subprotocols=[Subprotocol(subprotocol)]) as ws:
        # Warm up the connection and the CSMS's validators before timing.
        for _ in range(20):
            ws.send(json.dumps([2, str(uuid.uuid4()), action, payload]))
            ws.recv(timeout=STEP_TIMEOUT)
        t0 = time.perf_counter()
        for _ in range(count):
            unique_id = str(uuid.uuid4())
            ws.send(json.dumps([2, unique_id, action, payload]))
            answer = json.loads(ws.recv(timeout=STEP_TIMEOUT))
            if answer[0] != 3 or answer[1] != unique_id:
                raise RuntimeError(f"unexpected answer {answer!r}")
        elapsed = time.perf_counter() - t0
    print(json.dumps({"per_s": count / elapsed}), file=out)


@dataclass
class Drain:
    messages: int
    fill_s: float
    start_to_connect_s: float
    drain_s: float  # first transaction message received to the last one answered
    per_s: float
    station_cpu_share: float
    # Medians, ms: the CSMS from a message to its answer; the station from an
    # answer to its next message (one in flight, so these add up to the pace).
    csms_turn_ms: float
    station_turn_ms: float
    # Measured before and after the drain: on a shared machine they drift.
    heartbeat_per_s: tuple[float, float]
    meter_values_per_s: tuple[float, float]  # 2.0.1: the TransactionEvent Updated
    version: Version = V16

    @property
    def heartbeats(self) -> float:
        return statistics.mean(self.heartbeat_per_s)

    @property
    def meter_values(self) -> float:
        return statistics.mean(self.meter_values_per_s)


def bench_drain(messages: int, parent: str | None, version: Version = V16) -> Drain:
    tx_actions = version.tx_actions
    with data_dir(parent) as folder, csms_for(version) as csms:
        t = time.monotonic()
        fill_queue(folder / f"{CP_ID}.sqlite", messages, connectors=4, version=version)
        fill_s = time.monotonic() - t
        if version.v201:
            sample_action = "TransactionEvent"
            values = sample_event(1, datetime.now(UTC), 1234.5, str(uuid.uuid4()), 1)
        else:
            sample_action = "MeterValues"
            values = sample_payload(1, datetime.now(UTC), 1234.5) | {"transactionId": 1}

        def client(action: str, payload: dict[str, Any]) -> float:
            return round_trips(csms.url, action, payload, ROUND_TRIPS, version)

        heartbeats = [client("Heartbeat", {})]
        meter_values = [client(sample_action, values)]
        mark = csms.log.mark()
        launched = time.monotonic()
        station = StationProcess(station_config(csms, 4, version), folder)
        try:
            connected = csms.log.wait_for(
                lambda e: e.kind == "connect" and e.cp_id == CP_ID, STEP_TIMEOUT, since=mark
            )
            first = csms.log.wait_for(
                lambda e: e.kind == "call" and e.action in tx_actions, STEP_TIMEOUT, since=mark
            )
            cpu0 = station.cpu_s()
            last = count_entries(
                csms,
                messages,
                lambda e: e.kind == "result" and e.action in tx_actions and e.cp_id == CP_ID,
                mark,
                DRAIN_TIMEOUT,
            )
            cpu1 = station.cpu_s()
            left = station.queued()
            flow = [e for e in csms.log.entries(first.seq) if e.action in tx_actions]
        finally:
            station.stop()
        heartbeats.append(client("Heartbeat", {}))
        meter_values.append(client(sample_action, values))
    if left > 1:  # the last answer may still be on its way to the delete
        raise RuntimeError(f"{left} messages still queued after the CSMS answered them all")
    drain_s = last.at - first.at
    pairs = list(pairwise(flow))
    csms_turn = [(y.at - x.at) * 1000 for x, y in pairs if x.kind == "call" and y.kind == "result"]
    station_turn = [
        (y.at - x.at) * 1000 for x, y in pairs if x.kind == "result" and y.kind == "call"
    ]
    return Drain(
        messages=messages,
        fill_s=fill_s,
        start_to_connect_s=connected.at - launched,
        drain_s=drain_s,
        per_s=messages / drain_s,
        station_cpu_share=(cpu1 - cpu0) / max(time.monotonic() - first.at, drain_s),
        csms_turn_ms=statistics.median(csms_turn),
        station_turn_ms=statistics.median(station_turn),
        heartbeat_per_s=(heartbeats[0], heartbeats[1]),
        meter_values_per_s=(meter_values[0], meter_values[1]),
        version=version,
    )


# -- report ------------------------------------------------------------------------------------


def rows_sampling(a: Sampling) -> list[str]:
    median, p95, worst = a.latency_ms
    return [
        f"| (a) {a.evses} EVSEs charging, {a.version.samples} every 1 s: station CPU "
        f"(share of one core) | {a.cpu_share * 100:.0f} % |",
        f"| (a) station RSS (peak) | {a.rss_mib:.1f} MiB ({a.peak_rss_mib:.1f}) |",
        f"| (a) fsync'd SQLite commits / s (group commit) | {a.commits_per_s:.1f} |",
        f"| (a) {a.version.samples} delivered / s (sampled: {a.expected_per_s:.0f} / s) "
        f"| {a.delivered_per_s:.1f} |",
        f"| (a) sample to CSMS ms, median / p95 / max | {median:.0f} / {p95:.0f} / {worst:.0f} |",
        f"| (a) queue keeps up over {a.window_s:.0f} s (messages queued at the end) "
        f"| {'yes' if a.keeps_up else 'no'} ({a.backlog}) |",
        f"| (a) dev CSMS CPU (share of one core) | {a.csms_cpu_share * 100:.0f} % |",
    ]


def rows_drain(b: Drain) -> list[str]:
    hb, mv = b.heartbeat_per_s, b.meter_values_per_s
    return [
        f"| (b) {b.messages:,} queued messages drained after reconnect, messages / s "
        f"| {b.per_s:.0f} ({b.drain_s:.1f} s) |",
        f"| (b) station CPU while draining (share of one core) "
        f"| {b.station_cpu_share * 100:.0f} % |",
        f"| (b) per message, ms (medians): CSMS message to answer; station answer to next "
        f"message | {b.csms_turn_ms:.2f}; {b.station_turn_ms:.2f} |",
        f"| (b) bare client round trips / s, before / after the drain: Heartbeat "
        f"| {hb[0]:.0f} / {hb[1]:.0f} |",
        f"| (b) the same, with one of the queued {b.version.queued_sample} "
        f"| {mv[0]:.0f} / {mv[1]:.0f} |",
        f"| (b) drain rate / Heartbeat round-trip rate (mean) | {b.per_s / b.heartbeats:.2f} |",
        f"| (b) drain rate / {b.version.queued_sample} round-trip rate (mean) "
        f"| {b.per_s / b.meter_values:.2f} |",
    ]


def notes_sampling(a: Sampling) -> str:
    return (
        f"(a) {a.sampled_values} sampledValues per {a.version.samples} "
        f"({', '.join(a.measurands)}); "
        "CPU from /proc over the window, after every EVSE had sampled once; delay = CSMS "
        "receipt minus the sample's timestamp; the queue keeps up if every sample arrived "
        "within the sample interval (1 s) and 95 % of the samples were delivered."
    )


def notes_drain(b: Drain) -> str:
    return (
        f"(b) {b.messages:,} messages ({b.messages // PER_TRANSACTION} transactions of "
        f"{b.version.transaction}) stored through the storage "
        f"actor in {b.fill_s:.1f} s; timed from the first transaction message the CSMS "
        f"received to its answer to the last (the station connected "
        f"{b.start_to_connect_s:.2f} s after launch); bare client: another process, "
        f"websockets' sync client, {ROUND_TRIPS} CALLs one at a time."
    )


def _file_system(path: str) -> str:
    """The file system type under `path`, from /proc/mounts (longest mount prefix)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="ascii") as mounts:
            for line in mounts:
                fields = line.split()
                mount = fields[1]
                if path.startswith(mount) and len(mount) > len(best):
                    best, kind = mount, fields[2]
    except OSError:
        pass
    return kind


def _environment(parent: str | None) -> str:
    from importlib.metadata import version

    folder = os.path.realpath(parent or tempfile.gettempdir())
    return (
        f"Python {platform.python_version()}, pykka {version('pykka')}, websockets "
        f"{version('websockets')}, ocpp {version('ocpp')}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, data dir on "
        f"{_file_system(folder)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ocppstation.tools.bench_core",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--evses", type=int, default=EVSES)
    parser.add_argument("--window", type=float, default=WINDOW_S, help="seconds of (a)")
    parser.add_argument("--messages", type=int, default=QUEUED, help="queued for (b)")
    parser.add_argument("--data", help="parent folder of the data dirs (default: the temp dir)")
    parser.add_argument("--part", choices=("a", "b", "both"), default="both")
    parser.add_argument(
        "--ocpp", choices=OCPP_VERSIONS, default="1.6", help="the station's OCPP version"
    )
    parser.add_argument(
        "--message-log",
        choices=("on", "off", "both"),
        default="on",
        help="(a) with the message log (the default with a data dir), without, or both "
        "side by side",
    )
    parser.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        url, action, payload, count = args.client
        client_main(url, action, payload, int(count), sys.stdout, VERSIONS[args.ocpp].subprotocol)
        return 0
    if args.messages % PER_TRANSACTION:
        parser.error(f"--messages must be a multiple of {PER_TRANSACTION}")
    version = VERSIONS[args.ocpp]
    t0 = time.monotonic()
    rows = ["| measurement | result |", "|---|---:|"]
    # The 1.6 text stays as the README quotes it.
    speaks = (
        ', OCPP 2.0.1: Internal.OcppVersions ["2.0.1"]), dev CSMS speaking 2.0.1'
        if version.v201
        else "), dev CSMS"
    )
    notes = [
        f"{_environment(args.data)}. Station: its own process (`ocppstation run --console`, "
        f"SQLite synchronous=FULL{speaks} in the benchmark's process, loopback."
    ]
    if args.part in ("a", "both"):
        without = None
        if args.message_log in ("off", "both"):
            without = bench_sampling(args.evses, args.window, args.data, version, message_log=False)
        sampling = without
        if args.message_log in ("on", "both"):
            sampling = bench_sampling(args.evses, args.window, args.data, version)
        assert sampling is not None
        rows += rows_sampling(sampling)
        if without is not None and sampling is not without:
            rows.append(
                f"| (a) station CPU, message log off / on (the rest of (a): on) | "
                f"{without.cpu_share * 100:.0f} % / {sampling.cpu_share * 100:.0f} % |"
            )
        notes.append(notes_sampling(sampling))
    if args.part in ("b", "both"):
        drain = bench_drain(args.messages, args.data, version)
        rows += rows_drain(drain)
        notes.append(notes_drain(drain))
    print("\n".join(rows))
    print()
    print(" ".join([*notes, f"Total {time.monotonic() - t0:.0f} s."]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
