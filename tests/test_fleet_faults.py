"""`ocppstation fleet`: the mix of station kinds, the fault commands typed at
a running fleet and the Ray mode: the pure parts (hypothesis) and whole
fleets, run as the real command against the dev CSMS and ocpp-rpc."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.tools import fleet_plan as plan
from ocppstation.tools.csms import DevCsms

CLI = [sys.executable, "-m", "ocppstation.tools.cli", "fleet"]

# -- the pure parts -----------------------------------------------------------------

shares = (
    st.lists(st.integers(0, 100), min_size=1, max_size=6)
    .filter(any)
    .map(lambda ws: [w / sum(ws) for w in ws])
)


@given(shares, st.integers(0, 3000), st.integers(0, 2**32))
def test_kinds_get_their_share_within_rounding_the_same_for_a_seed(
    parts: list[float], count: int, seed: int
) -> None:
    ids = plan.station_ids("CP", count)
    assigned = plan.assign_kinds(parts, ids, seed)
    assert assigned == plan.assign_kinds(parts, ids, seed)
    assert len(assigned) == count
    got = Counter(assigned)
    for k, share in enumerate(parts):
        assert abs(got[k] - share * count) < 1
    assert sum(plan.kind_counts(parts, count)) == count


def test_another_seed_another_assignment() -> None:
    ids = plan.station_ids("CP", 200)
    assert plan.assign_kinds([0.5, 0.5], ids, 1) != plan.assign_kinds([0.5, 0.5], ids, 2)


def test_kinds_in_a_template_and_their_errors_name_the_key() -> None:
    tpl = plan.parse_template(
        {
            "kinds": [
                {"share": 0.7, "evses": 2, "Core": {"MeterValueSampleInterval": 5}},
                {"share": 0.3, "evses": 1, "ocpp": "2.0.1"},
            ]
        }
    )
    assert tpl.kinds[0] == plan.Kind(0.7, 2, None, {"Core": {"MeterValueSampleInterval": 5}})
    assert tpl.kinds[1].ocpp == "2.0.1"
    for bad, key in [
        ({"kinds": {}}, "kinds"),
        ({"kinds": [{"evses": 1}]}, "kinds[0].share"),
        ({"kinds": [{"share": 1.5}]}, "kinds[0].share"),
        ({"kinds": [{"share": 0.5}, {"share": 0.4}]}, "kinds: the shares"),
        ({"kinds": [{"share": 1, "evses": 0}]}, "kinds[0].evses"),
        ({"kinds": [{"share": 1, "ocpp": "2.1"}]}, "kinds[0].ocpp"),
        ({"kinds": [{"share": 1, "Core": 3}]}, "kinds[0].Core"),
    ]:
        with pytest.raises(plan.TemplateError, match=key.replace("[", r"\[")):
            plan.parse_template(bad)


verbs = st.sampled_from(sorted(plan.FAULT_VERBS))


@given(st.integers(1, 400), st.floats(0.01, 100), st.integers(0, 2**32), st.integers(0, 50))
def test_a_share_selects_its_part_the_same_each_run(
    count: int, percent: float, seed: int, number: int
) -> None:
    ids = plan.station_ids("CP", count)
    text = f"{percent}%"
    hit = plan.select(text, ids, seed, number)
    assert hit == plan.select(text, ids, seed, number)
    assert hit == sorted(set(hit)) and set(hit) <= set(ids)
    assert len(hit) == max(1, round(count * percent / 100))


@given(st.integers(1, 300), st.integers(0, 9), st.integers(0, 9))
def test_a_glob_selects_exactly_the_ids_it_matches(count: int, low: int, high: int) -> None:
    ids = plan.station_ids("CP", count)
    pattern = f"CP00[{min(low, high)}-{max(low, high)}]*"
    expected = [i for i in ids if i[:4] == "CP00" and min(low, high) <= int(i[4]) <= max(low, high)]
    if expected:
        assert plan.select(pattern, ids, 0, 0) == expected
    else:
        with pytest.raises(plan.CommandError, match="no station matches"):
            plan.select(pattern, ids, 0, 0)


@given(verbs, st.sampled_from(["CP0001", "CP00[1-5]*", "5%", "100%"]))
def test_commands_parse_with_their_arguments(verb: str, stations: str) -> None:
    fewest, _, _ = plan.FAULT_VERBS[verb]
    args = ["evses/1/meter", "OtherError"][:fewest] if verb != "fault" else ["1", "OtherError"]
    cmd = plan.parse_command(" ".join([verb.upper(), stations, *args]))
    assert cmd == plan.FaultCommand(verb, stations, tuple(args))
    assert cmd.console_line().split()[0] == verb


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("", "empty"),
        ("explode CP0001", "unknown command"),
        ("crash", "which stations"),
        ("crash CP0001", "crash STATIONS PATH"),
        ("disconnect CP0001 now", "disconnect STATIONS"),
        ("kill 0%", "above 0%"),
        ("kill 101%", "at most 100%"),
        ("kill x%", "not a share"),
    ],
)
def test_a_bad_command_says_why(line: str, why: str) -> None:
    with pytest.raises(plan.CommandError, match=why):
        plan.parse_command(line)


def test_an_unknown_station_is_an_error() -> None:
    with pytest.raises(plan.CommandError, match="no station 'CP9'"):
        plan.select("CP9", ["CP0001"], 0, 0)


# -- whole fleets -------------------------------------------------------------------


class Fleet:
    """`ocppstation fleet` in a subprocess: commands in on stdin, each
    answer line (`ok`/`error`) and every other line of stdout collected."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.answers: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        self.started = threading.Event()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self.err.extend, args=(self.proc.stderr,), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.out.append(line)
            if line.startswith(("ok", "error")):
                self.answers.put(line.rstrip("\n"))
            elif "stations started" in line:
                self.started.set()

    def wait_started(self, timeout: float = 60) -> None:
        assert self.started.wait(timeout), self._why()

    def ask(self, line: str, timeout: float = 30) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        try:
            return self.answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer to {line!r}; {self._why()}") from None

    def end(self, timeout: float = 60) -> tuple[int, str]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for reader in self.readers:
            reader.join(timeout)
        return self.proc.returncode, "".join(self.err)

    def _why(self) -> str:
        if self.proc.poll() is not None:
            return f"fleet exited {self.proc.returncode}: {''.join(self.err)}"
        return "".join(self.out[-5:])


def _run(args: list[str], timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"kinds": [{"share": 0.5}, {"share": 0.4}]}, "kinds: the shares"),
        ({"kinds": [{"share": 1, "evses": 99}]}, "kinds[0].evses"),
        ({"kinds": [{"share": 1, "Core": {"MeterValueSampleInterval": "soon"}}]}, "kinds[0]"),
    ],
)
def test_a_bad_kind_is_one_line_naming_key_and_file_and_exit_2(
    tmp_path: Path, body: dict[str, Any], key: str
) -> None:
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(body))
    done = _run(["--csms", "ws://127.0.0.1:1", "--stations", "3", "--template", str(path)])
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and str(path) in lines[0], done.stderr
    assert "Traceback" not in done.stderr


MIX: dict[str, Any] = {
    "atg": {"enabled": False},
    "kinds": [
        {"share": 0.5, "evses": 2, "Core": {"MeterValueSampleInterval": 30}},
        {"share": 0.5, "evses": 1, "ocpp": "2.0.1"},
    ],
}


@pytest.mark.slow
def test_a_mixed_fleet_boots_each_kind_with_its_version_and_evses(tmp_path: Path) -> None:
    (tmp_path / "mix.json").write_text(json.dumps(MIX))
    report = tmp_path / "r.json"
    ids = plan.station_ids("CP", 4)
    kinds = plan.assign_kinds([0.5, 0.5], ids, 3)
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=("ocpp1.6", "ocpp2.0.1")) as csms:
        fleet = Fleet(
            [
                *("--csms", csms.url, "--stations", "4", "--workers", "2", "--seed", "3"),
                *("--template", str(tmp_path / "mix.json"), "--report", str(report)),
                *("--data-dir", str(tmp_path / "data")),
            ]
        )
        try:
            fleet.wait_started()
            for cp_id, kind in zip(ids, kinds, strict=True):
                boot = csms.wait_for(
                    lambda e, cp=cp_id: (  # type: ignore[misc]
                        e.kind == "call" and e.action == "BootNotification" and e.cp_id == cp
                    ),
                    timeout=60,
                )
                # 1.6 names the model at the top, 2.0.1 inside chargingStation.
                assert ("chargingStation" in boot.payload) == (kind == 1), cp_id
                # Every EVSE says its status on boot: 2 for the first kind, 1 for the second.
                evses = 2 if kind == 0 else 1
                csms.wait_for(
                    lambda e, cp=cp_id, n=evses: (  # type: ignore[misc]
                        e.kind == "call"
                        and e.action == "StatusNotification"
                        and e.cp_id == cp
                        and e.payload.get("connectorId", e.payload.get("evseId")) == n
                    ),
                    timeout=30,
                )
        finally:
            code, err = fleet.end()
        assert code == 0, err
    body = json.loads(report.read_text())
    assert [(k["stations"], k["evses"], k["ocpp"]) for k in body["kinds"]] == [
        (2, 2, "1.6"),
        (2, 1, "2.0.1"),
    ]


CHARGING: dict[str, Any] = {
    # Long sessions: a kill lands inside one.
    "atg": {"charge_min": 120, "charge_max": 120, "first_delay_max": 0.5, "plug_to_tag": 0.2},
}


@pytest.mark.slow
def test_typed_faults_hit_their_stations_and_kill_restarts_them_from_their_data(
    tmp_path: Path,
) -> None:
    (tmp_path / "t.json").write_text(json.dumps(CHARGING))
    with DevCsms(port=0, heartbeat_interval=60) as csms:
        fleet = Fleet(
            [
                *("--csms", csms.url, "--stations", "4", "--workers", "2", "--seed", "5"),
                *("--template", str(tmp_path / "t.json"), "--data-dir", str(tmp_path / "d")),
            ]
        )
        try:
            fleet.wait_started()
            for cp_id in plan.station_ids("CP", 4):
                csms.log.wait_call("StartTransaction", cp_id, timeout=30)
            # A bad command is one error line and the fleet goes on.
            assert fleet.ask("explode CP0001").startswith("error unknown command 'explode'")
            assert fleet.ask("crash CP0009 rpc").startswith("error no station 'CP0009'")
            assert fleet.ask("fault CP0001 1 Nonsense").startswith("error fault CP0001 1")
            answer = fleet.ask("crash CP000[12] evses/1/meter")
            assert answer == "ok crash CP000[12] evses/1/meter: 2 stations: CP0001 CP0002"
            mark = csms.log.mark()
            answer = fleet.ask("disconnect 50%")
            assert answer.startswith("ok disconnect 50%: 2 stations: "), answer
            # Each link came back: the CSMS sees the station connect again.
            for cp_id in answer.split(": ")[-1].split():
                csms.wait_for(
                    lambda e, cp=cp_id: e.kind == "connect" and e.cp_id == cp,  # type: ignore[misc]
                    timeout=30,
                    since=mark,
                )
            # kill: CP0001's worker (w0, CP0001 and CP0002) dies at once, its
            # open transactions end as at a power loss when it boots again.
            mark = csms.log.mark()
            answer = fleet.ask("kill CP0001", timeout=60)
            assert answer.startswith("ok kill CP0001: killed and restarted worker w0"), answer
            assert answer.endswith("CP0001 CP0002")
            for cp_id in ("CP0001", "CP0002"):
                csms.log.wait_call("BootNotification", cp_id, timeout=30, since=mark)
                stop = csms.log.wait_call("StopTransaction", cp_id, timeout=30, since=mark)
                assert stop.payload.get("reason") == "PowerLoss"
            # The other worker's stations were not touched.
            assert not csms.log.calls("BootNotification", "CP0003", since=mark)
            assert fleet.ask("crash CP0002 evses/1/meter").startswith("ok crash CP0002")
        finally:
            code, err = fleet.end()
        assert code == 0, err


@pytest.mark.slow
def test_a_fleet_against_the_strict_ocpp_rpc_peer(tmp_path: Path) -> None:
    from tests.peers.rpc_peer import OcppRpcPeer, unavailable_reason

    if why := unavailable_reason():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(why)
    (tmp_path / "mix.json").write_text(
        json.dumps({**CHARGING, "kinds": [{"share": 0.5, "evses": 2}, {"share": 0.5}]})
    )
    peer = OcppRpcPeer(heartbeat_interval=60)
    peer.start()
    try:
        fleet = Fleet(
            [
                *("--csms", peer.url, "--stations", "2", "--workers", "1"),
                *("--template", str(tmp_path / "mix.json"), "--data-dir", str(tmp_path / "d")),
            ]
        )
        try:
            fleet.wait_started()
            for cp_id in ("CP0001", "CP0002"):
                peer.log.wait_call("StartTransaction", cp_id, timeout=30)
            answer = fleet.ask("crash CP* evses/1/meter")
            assert answer == "ok crash CP* evses/1/meter: 2 stations: CP0001 CP0002"
            # A kill's PowerLoss stops and boots, checked by ocpp-rpc's schemas too.
            mark = peer.log.mark()
            assert fleet.ask("kill 50%", timeout=60).startswith("ok kill 50%: killed")
            for cp_id in ("CP0001", "CP0002"):
                peer.log.wait_call("BootNotification", cp_id, timeout=30, since=mark)
                stop = peer.log.wait_call("StopTransaction", cp_id, timeout=30, since=mark)
                assert stop.payload.get("reason") == "PowerLoss"
        finally:
            code, err = fleet.end()
        assert code == 0, err
    finally:
        peer.stop()
    assert peer.validation_failures == [], peer.validation_failures


@pytest.mark.slow
def test_a_fleet_on_ray_shards_gathers_their_figures_and_takes_commands(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")
    (tmp_path / "t.json").write_text(json.dumps(CHARGING))
    report = tmp_path / "r.json"
    # A local Ray cluster of this machine (no ADDRESS), one actor process per shard.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    with DevCsms(port=0, heartbeat_interval=60) as csms:
        fleet = Fleet(
            [
                *("--csms", csms.url, "--stations", "2", "--workers", "2", "--ray"),
                *("--template", str(tmp_path / "t.json"), "--data-dir", str(tmp_path / "d")),
                *("--report", str(report), "--summary-every", "1"),
            ],
            env=env,
        )
        try:
            fleet.wait_started(timeout=120)
            for cp_id in ("CP0001", "CP0002"):
                csms.log.wait_call("StartTransaction", cp_id, timeout=30)
            answer = fleet.ask("crash CP000? evses/1/meter")
            assert answer == "ok crash CP000? evses/1/meter: 2 stations: CP0001 CP0002"
            mark = csms.log.mark()
            answer = fleet.ask("kill CP0002", timeout=90)
            assert answer.startswith("ok kill CP0002: killed and restarted worker w1"), answer
            csms.log.wait_call("BootNotification", "CP0002", timeout=60, since=mark)
            stop = csms.log.wait_call("StopTransaction", "CP0002", timeout=30, since=mark)
            assert stop.payload.get("reason") == "PowerLoss"
            assert not csms.log.calls("BootNotification", "CP0001", since=mark)
        finally:
            code, err = fleet.end(timeout=90)
        assert code == 0, err
    body = json.loads(report.read_text())
    # What a killed shard counted since its last report (up to a second) dies with it.
    assert body["workers"] == 2 and body["totals"]["transactions_started"] >= 1
    assert body["totals"]["faults"] >= 2  # CP0001's crash, CP0002 killed
    # Two Ray actor processes, neither the driver.
    pids = {shard["pid"] for shard in body["shards"]}
    assert len(pids) == 2 and fleet.proc.pid not in pids
    assert any("on Ray" in line for line in fleet.out)


def test_ray_asked_for_but_not_installed_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # A `ray` that cannot be imported, found before any installed one.
    (tmp_path / "ray.py").write_text("raise ImportError('not here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = subprocess.run(
        [*CLI, "--csms", "ws://127.0.0.1:1", "--stations", "1", "--ray"],
        capture_output=True,
        text=True,
        timeout=10,
        env=env,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--ray" in lines[0] and "ocppstation[ray]" in lines[0], done.stderr
