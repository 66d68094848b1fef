"""kill -9 during 2.0.1 transactions, and a CSMS that goes away: nothing lost, nothing doubled.

Real station processes (`ocppstation run --console` speaking 2.0.1, with a
data dir) charge on two EVSEs against the dev CSMS and are killed with
SIGKILL at moments chosen by a seeded `random.Random` from what the CSMS has
just seen (a Started, some Updated events, a status), then restarted on the
same data dir; between some cycles the CSMS is down and comes back on the
same port. At the end a last session runs to completion, and the CSMS log
must show for every transaction: one Started with seqNo 0, one Ended, and
seqNo 0..n without a gap or a duplicate (a re-send after a kill between the
CSMS's answer and the station's bookkeeping is legal and is recognised by
transactionId and seqNo). Transactions a kill cut off end with PowerLoss.

Set KILL9_SEED to replay a run; the seed is printed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from ocppstation.tools.cli import console_argv
from ocppstation.tools.csms import DevCsms
from tests.test_cli import Lines

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("KILL9_KILLS", "12"))  # the long form sets KILL9_KILLS
STEP_TIMEOUT = 60.0  # any single wait: a bound on a hang, not a pace (a loaded machine is slow)
V201 = ("ocpp2.0.1",)


class _Station:
    def __init__(self, config: Path, data: Path) -> None:
        self.proc = subprocess.Popen(
            console_argv(config, data),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdout and self.proc.stderr
        self.out = Lines(self.proc.stdout)
        self.err = Lines(self.proc.stderr)

    def send(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.out.next(STEP_TIMEOUT)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(STEP_TIMEOUT)


def _events(csms: DevCsms) -> list[dict[str, Any]]:
    return [
        e.payload
        for e in csms.log.entries()
        if e.kind == "call" and e.direction == "in" and e.action == "TransactionEvent"
    ]


def _count(csms: DevCsms, event_type: str) -> int:
    """Distinct events: a re-send after a kill is not a new one."""
    return sum(
        1
        for e in csms.log.entries()
        if e.kind == "call"
        and e.direction == "in"
        and e.action == "TransactionEvent"
        and e.repeat_of is None
        and e.payload["eventType"] == event_type
    )


def _wait_registered(csms: DevCsms) -> None:
    """Accepted and announced: both EVSEs' statuses after the newest boot."""
    mark = csms.log.mark()

    def announced(_: object) -> bool:
        entries = csms.log.entries(mark)
        boots = [
            i for i, e in enumerate(entries) if e.kind == "call" and e.action == "BootNotification"
        ]
        if not boots:
            return False
        after = entries[boots[-1] :]
        return sum(1 for e in after if e.kind == "result" and e.action == "StatusNotification") >= 2

    csms.log.wait_for(announced, STEP_TIMEOUT)


def _wait_started(csms: DevCsms, tag: str) -> None:
    csms.log.wait_for(
        lambda _: any(
            e.kind == "call"
            and e.action == "TransactionEvent"
            and e.payload["eventType"] == "Started"
            and e.payload.get("idToken", {}).get("idToken") == tag
            for e in csms.log.entries()
        ),
        STEP_TIMEOUT,
    )


def _wait_events(csms: DevCsms, event_type: str, count: int) -> None:
    csms.log.wait_for(lambda _: _count(csms, event_type) >= count, STEP_TIMEOUT)


@pytest.mark.timeout(max(120, 15 * KILLS))  # the long form runs longer
def test_kill_9_and_outages_lose_and_double_no_transaction_event(tmp_path: Path) -> None:
    seed = int(os.environ.get("KILL9_SEED", random.randrange(2**32)))
    print(f"KILL9_SEED={seed}")
    rng = random.Random(seed)
    data = tmp_path / "data"
    csms = DevCsms(port=0, heartbeat_interval=60, subprotocols=V201)
    csms.start()
    port = csms.port
    config = tmp_path / "station.json"
    config.write_text(
        json.dumps(
            {
                "Internal": {
                    "CentralSystemURI": csms.url,
                    "ChargePointId": "cp-k9",
                    "Evses": 2,
                    "OcppVersions": ["2.0.1"],
                    "RetryBackOffWaitMinimum": 0.2,
                    "RetryBackOffRandomRange": 0,
                },
                "Core": {"MeterValueSampleInterval": 1},
            }
        ),
        encoding="utf-8",
    )
    peers = [csms]  # each CSMS incarnation keeps its own log
    offline_stops = 0  # sessions ended while the CSMS was down, stored before a kill
    station: _Station | None = None
    try:
        for cycle in range(KILLS):
            station = _Station(config, data)
            _wait_registered(csms)
            evse = rng.choice((1, 2))
            assert station.send(f"plug {evse}").startswith("ok")
            assert station.send(f"tag {evse} TAG-{cycle}").startswith("ok")
            outage = cycle % 3 == 1
            moment = "started" if outage else rng.choice(("started", "updated", "at once"))
            if moment != "at once":
                # This session's start: a start queued by an earlier cycle's
                # kill may reach this CSMS now and must not count for it.
                _wait_started(csms, f"TAG-{cycle}")
            if moment == "updated":
                updated = _count(csms, "Updated")
                _wait_events(csms, "Updated", updated + rng.randint(1, 3))
            if outage:
                # The CSMS goes away: what follows is queued, then the kill.
                csms.stop()
                station.send(f"unplug {evse}")
                if cycle % 2 == 1:
                    # Stored before the kill (the console's live view says so).
                    while "stopped (EVDisconnected)" not in station.err.next(STEP_TIMEOUT):
                        pass
                    offline_stops += 1
                station.kill()
                csms = DevCsms(port=port, heartbeat_interval=60, subprotocols=V201)
                csms.start()
                peers.append(csms)
            else:
                station.kill()
            station = None
        # The last session runs to completion behind whatever was queued.
        station = _Station(config, data)
        _wait_registered(csms)
        ended = _count(csms, "Ended")
        assert station.send("plug 1").startswith("ok")
        assert station.send("tag 1 FINAL").startswith("ok")
        csms.log.wait_for(
            lambda _: any(
                p["eventType"] == "Started" and p.get("idToken", {}).get("idToken") == "FINAL"
                for p in _events(csms)
            ),
            STEP_TIMEOUT,
        )
        assert station.send("unplug 1").startswith("ok")
        _wait_events(csms, "Ended", ended + 1)
        csms.log.wait_for(
            lambda _: any(
                p["eventType"] == "Ended" and p["transactionInfo"]["transactionId"] == _final(csms)
                for p in _events(csms)
            ),
            STEP_TIMEOUT,
        )
    finally:
        if station is not None:
            station.kill()
        csms.stop()
    ended_offline = [
        p
        for peer in peers
        for p in _events(peer)
        if p["eventType"] == "Ended"
        and p["transactionInfo"].get("stoppedReason") == "EVDisconnected"
    ]
    print(f"offline stops stored before a kill: {offline_stops}, seen: {len(ended_offline)}")
    # Each one reached the CSMS after the outage, marked as having happened offline.
    assert sum(1 for p in ended_offline if p.get("offline")) >= offline_stops
    _check(peers)


def _final(csms: DevCsms) -> str | None:
    for p in _events(csms):
        if p["eventType"] == "Started" and p.get("idToken", {}).get("idToken") == "FINAL":
            return str(p["transactionInfo"]["transactionId"])
    return None


def _check(peers: list[DevCsms]) -> None:
    seqs: dict[str, list[int]] = defaultdict(list)
    kinds: dict[str, dict[int, str]] = defaultdict(dict)
    reasons: dict[str, str] = {}
    for peer in peers:
        for p in _events(peer):
            tx = str(p["transactionInfo"]["transactionId"])
            seq = int(p["seqNo"])
            if seq in kinds[tx]:
                # A re-send: legal, and the same event.
                assert kinds[tx][seq] == p["eventType"], (tx, seq)
                continue
            seqs[tx].append(seq)
            kinds[tx][seq] = p["eventType"]
            if p["eventType"] == "Ended":
                reasons[tx] = p["transactionInfo"].get("stoppedReason", "Local")
    assert seqs, "no transaction reached the CSMS"
    for tx, numbers in seqs.items():
        assert sorted(numbers) == list(range(len(numbers))), (tx, sorted(numbers))
        types = [kinds[tx][n] for n in sorted(numbers)]
        assert types[0] == "Started", (tx, types)
        assert types[-1] == "Ended", (tx, types)
        assert types.count("Started") == 1 and types.count("Ended") == 1, (tx, types)
    tally = {reason: list(reasons.values()).count(reason) for reason in set(reasons.values())}
    print(f"{len(seqs)} transactions, {sum(map(len, seqs.values()))} events; ended: {tally}")
    # The kills cut sessions off: those end with PowerLoss on the next start.
    assert tally.get("PowerLoss", 0) >= 1, tally
