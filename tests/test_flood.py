"""A CSMS that floods the station with CALLs: bounded memory, every CALL answered.

OCPP-J lets each side have one CALL in flight; a hostile run sent 5,000
GetConfiguration a second and took the station from 55 to 252 MiB, answers
up to 10 s late. Now the station reads the socket only as fast as it handles
frames (TCP pushes back) and answers CALLs beyond MAX_OPEN_CALLS at once
with a GenericError, so what it holds is bounded whatever the CSMS sends.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ocppstation.actors.link.rpc import MAX_OPEN_CALLS
from ocppstation.tools.cli import console_argv
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered
from tests.test_cli import Lines

CP = "cp-test"
FLOOD = 3000


def _replies(csms: DevCsms, prefix: str) -> dict[str, str]:
    return {
        str(e.unique_id): e.kind if e.kind == "result" else str(e.error_code)
        for e in csms.log.entries()
        if e.kind in ("result", "error")
        and e.direction == "in"
        and str(e.unique_id).startswith(prefix)
    }


def _flood(csms: DevCsms, cp_id: str, count: int, prefix: str) -> None:
    frame = '[2,"{}{}","GetConfiguration",{{"key":["HeartbeatInterval"]}}]'
    csms.send_raw_many(cp_id, [frame.format(prefix, n) for n in range(count)])


def _wait_replies(csms: DevCsms, prefix: str, count: int, timeout: float) -> None:
    seen = 0

    def one_more(e: object) -> bool:  # each log entry is looked at once
        nonlocal seen
        kind, uid = getattr(e, "kind", None), str(getattr(e, "unique_id", ""))
        answer = kind in ("result", "error") and getattr(e, "direction", None) == "in"
        if answer and uid.startswith(prefix):
            seen += 1
        return seen >= count

    csms.wait_for(one_more, timeout=timeout)


def test_a_call_flood_is_answered_whole_and_the_station_stays_responsive(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    _flood(csms, CP, FLOOD, "f")
    _wait_replies(csms, "f", FLOOD, 60)
    replies = _replies(csms, "f")
    # Each CALL answered once, as a result or as a refusal that says why.
    assert len(replies) == FLOOD
    assert set(replies.values()) <= {"result", "GenericError"}
    assert list(replies.values()).count("result") >= MAX_OPEN_CALLS
    # And the station goes on working normally.
    assert csms.call(CP, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {
        "status": "Accepted"
    }
    csms.log.wait_call("Heartbeat", CP)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _garbage(n: int) -> str:
    """One of a fuzzer's frames: not JSON, not OCPP-J, an answer to nothing, or a
    CALL with a payload of the wrong shape (each gets its CALLERROR or is dropped)."""
    kind = n % 5
    if kind == 0:
        return f"not json {n}"
    if kind == 1:
        return json.dumps([2, f"g{n}"])
    if kind == 2:
        return json.dumps([3, f"g{n}", {}])
    if kind == 3:
        return json.dumps([2, f"g{n}", "ChangeConfiguration", {"key": n, "value": [n]}])
    return json.dumps([2, f"g{n}", "DataTransfer", {"vendorId": "x" * (n % 300)}])


@pytest.mark.slow
def test_fuzzed_frames_do_not_grow_the_station_process(tmp_path: Path) -> None:
    # The hostile run's fuzzing took RSS from 54 to 115 MiB over 20,000 frames.
    with _station_process(tmp_path) as (csms, pid, _, _):
        csms.send_raw_many("cp-flood", [_garbage(n) for n in range(1000)])
        _wait_replies(csms, "g", 600, 30)  # the four kinds that are answered
        before = _rss_kib(pid)
        csms.send_raw_many("cp-flood", [_garbage(n) for n in range(1000, 21000)])
        _wait_replies(csms, "g", 600 + 12000, 100)
        after = _rss_kib(pid)
        print(f"RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB over 20000 fuzzed frames")
        assert after - before < 5 * 1024, (before, after)


@pytest.mark.slow
def test_a_flood_does_not_grow_the_station_process(tmp_path: Path) -> None:
    with _station_process(tmp_path) as (csms, pid, console, _):
        # Warm: the first answers build caches and compile schemas.
        _flood(csms, "cp-flood", 200, "w")
        _wait_replies(csms, "w", 200, 30)
        before = _rss_kib(pid)
        _flood(csms, "cp-flood", 4 * FLOOD, "f")
        _wait_replies(csms, "f", 4 * FLOOD, 100)
        after = _rss_kib(pid)
        # The console still answers after the flood.
        assert console("status").startswith("ok")
        print(f"RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB over {4 * FLOOD} CALLs")
        # Unbounded (before the fix) this grew by about 12 MiB; bounded, by well under 1.
        assert after - before < 5 * 1024, (before, after)


@contextmanager
def _station_process(
    tmp_path: Path, version: str = "1.6", **sections: dict[str, Any]
) -> Iterator[tuple[DevCsms, int, Callable[[str], str], Lines]]:
    """A station process (`ocppstation run --console`) booted against a dev CSMS
    speaking `version`; `sections` add to its config file. Yields the CSMS, the
    pid, a console (a command in, its answer line out) and the station's stderr."""
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=(f"ocpp{version}",)) as csms:
        config = tmp_path / "station.json"
        internal = {
            "CentralSystemURI": csms.url,
            "ChargePointId": "cp-flood",
            "OcppVersions": [version],
            **sections.pop("Internal", {}),
        }
        config.write_text(json.dumps({"Internal": internal, **sections}), encoding="utf-8")
        proc = subprocess.Popen(
            console_argv(config, tmp_path / "data"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert proc.stdin and proc.stdout and proc.stderr
        out, err = Lines(proc.stdout), Lines(proc.stderr)

        def console(command: str) -> str:
            assert proc.stdin is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
            return out.next(10)

        try:
            csms.log.wait_for(
                lambda e: e.kind == "result" and e.action == "StatusNotification", timeout=20
            )
            yield csms, proc.pid, console, err
        finally:
            proc.kill()
            proc.wait(10)
