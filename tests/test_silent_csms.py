"""A CSMS that stops answering, then answers slowly: the station keeps its
console responsive and its memory bounded, and loses nothing it queued.

The station runs as its own process (`ocppstation run --console`) with a
data dir, charging and sampling every second, against a dev CSMS that goes
silent (accepts every frame, answers none) and later answers each CALL
late. Real time: the timeouts and retries are the station's own.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from ocppstation.tools.csms import NO_REPLY, DevCsms, LateReply
from tests.test_flood import _rss_kib, _station_process

pytestmark = pytest.mark.slow

# What the station sends on its own while charging.
ACTIONS = ("MeterValues", "TransactionEvent", "StatusNotification", "Heartbeat")
SAMPLE = {"1.6": "MeterValues", "2.0.1": "TransactionEvent"}


# The station's line for a sample it has stored (tools/live.py, on stderr).
_SAMPLED = re.compile(r"evse 1 +[\d.]+ Wh")


def _when(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _samples(csms: DevCsms, action: str) -> list[str]:
    """The distinct samples the CSMS received, by their meter timestamp, in order."""
    seen: list[str] = []
    for e in csms.log.entries():
        if e.kind != "call" or e.action != action or e.repeat_of is not None:
            continue
        if action == "TransactionEvent" and e.payload.get("eventType") != "Updated":
            continue
        for value in e.payload.get("meterValue", []):
            seen.append(value["timestamp"])
    return seen


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_silent_then_slow_csms_loses_nothing_and_the_console_stays_quick(
    tmp_path: Path, version: str
) -> None:
    with _station_process(
        tmp_path,
        version,
        Internal={"CallTimeout": 2},
        # Enough attempts that the silence drops nothing (MessageAttempts would).
        Core={
            "MeterValueSampleInterval": 1,
            "TransactionMessageRetryInterval": 1,
            "TransactionMessageAttempts": 50,
        },
    ) as (csms, pid, console, err):
        assert console("plug 1").startswith("ok")
        assert console("tag 1 TAG-1").startswith("ok")
        action = SAMPLE[version]
        csms.log.wait_for(lambda e: e.kind == "call" and e.action == action, timeout=20)
        before = _rss_kib(pid)
        for name in ACTIONS:
            csms.set_reply(name, NO_REPLY)
        # Silent: samples pile up in the queue (each line: one stored), the
        # console answers at once.
        stored = 0
        while stored < 8:
            stored += bool(_SAMPLED.search(err.next(30)))
        asked = time.monotonic()
        assert console("status").startswith("ok")
        silent_latency = time.monotonic() - asked
        # Slow: every answer a quarter of a second late (the CSMS's own
        # slowness; nothing in the test waits on it).
        back = datetime.now(UTC)
        for name in ACTIONS:
            csms.set_reply(name, LateReply(0.25))
        # Delivery is in order: once a sample taken after now arrives, the
        # queue built while silent has drained.
        csms.log.wait_for(
            lambda e: (
                e.kind == "call"
                and e.action == action
                and e.repeat_of is None
                and any(_when(v["timestamp"]) > back for v in e.payload.get("meterValue", []))
            ),
            timeout=60,
        )
        asked = time.monotonic()
        assert console("status").startswith("ok")
        slow_latency = time.monotonic() - asked
        after = _rss_kib(pid)
        print(
            f"{version}: console {silent_latency * 1000:.0f} ms silent, "
            f"{slow_latency * 1000:.0f} ms slow; RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB"
        )
        assert after - before < 5 * 1024, (before, after)
        samples = _samples(csms, action)
        assert samples == sorted(samples), "samples out of order"
        assert len(samples) == len(set(samples)), "a sample doubled"
        # One a second: a lost sample would leave a gap of two.
        times = [_when(t) for t in samples]
        gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
        assert len(times) >= 5 and max(gaps) < 1.9, gaps
