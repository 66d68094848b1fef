"""`ocppstation fleet`: the pure plan (hypothesis) and whole fleets, run as
the real command against the dev CSMS in this process."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.tools import fleet_plan as plan
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.peer import LogEntry

CLI = [sys.executable, "-m", "ocppstation.tools.cli", "fleet"]

# -- the pure parts -----------------------------------------------------------------


@given(st.integers(1, 20_000), st.sampled_from(["CP", "X-", ""]))
def test_ids_are_unique_ordered_and_numbered_from_one(count: int, prefix: str) -> None:
    ids = plan.station_ids(prefix, count)
    assert len(set(ids)) == count
    assert ids == sorted(ids)
    assert ids[0] == prefix + "0" * (max(4, len(str(count))) - 1) + "1"


@given(st.lists(st.text(min_size=1, max_size=5), max_size=200), st.integers(1, 64))
def test_split_keeps_every_station_once_in_balanced_shares(items: list[str], workers: int) -> None:
    shares = plan.split(items, workers)
    assert [x for share in shares for x in share] == items
    assert len(shares) == min(workers, len(items))
    assert all(shares)
    sizes = [len(s) for s in shares]
    assert not sizes or max(sizes) - min(sizes) <= 1


atgs = st.builds(
    plan.Atg,
    id_tags=st.lists(st.text("ABC123", min_size=1, max_size=8), min_size=1, max_size=5).map(tuple),
    distribution=st.sampled_from(plan.DISTRIBUTIONS),
    charge_min=st.floats(0, 10),
    charge_max=st.floats(10, 100),
    delay_min=st.floats(0, 5),
    delay_max=st.floats(5, 20),
    start_probability=st.floats(0.05, 1),
)


@given(atgs, st.integers(0, 2**32), st.integers(1, 4), st.integers(0, 100))
def test_schedule_is_sessions_in_time_order_and_repeats(
    atg: plan.Atg, seed: int, evse: int, slot: int
) -> None:
    take = list(itertools.islice(plan.schedule(atg, seed, "CP0001", evse, slot), 40))
    again = list(itertools.islice(plan.schedule(atg, seed, "CP0001", evse, slot), 40))
    assert take == again
    assert [a.at for a in take] == sorted(a.at for a in take)
    for n in range(0, len(take) - 3, 4):
        plug, start, stop, unplug = take[n : n + 4]
        assert (plug.kind, start.kind, stop.kind, unplug.kind) == ("plug", "tag", "tag", "unplug")
        assert start.id_tag == stop.id_tag and start.id_tag in atg.id_tags
        charged = stop.at - start.at
        assert atg.charge_min - 1e-9 <= charged <= atg.charge_max + 1e-9
    if atg.distribution == "per_evse":
        assert {a.id_tag for a in take if a.kind == "tag"} <= {atg.id_tags[slot % len(atg.id_tags)]}


def test_round_robin_walks_the_list_and_stop_after_ends_the_sessions() -> None:
    atg = plan.Atg(id_tags=("A", "B", "C"), distribution="round_robin", stop_after=200)
    actions = list(plan.schedule(atg, 1, "CP0001", 1, 1))
    starts = [a.id_tag for a in actions[1::4]]
    assert starts[:4] == ["B", "C", "A", "B"]
    assert all(a.at <= 200 for a in actions[::4])


def test_no_start_probability_no_sessions() -> None:
    atg = plan.Atg(start_probability=0, stop_after=1000)
    assert list(plan.schedule(atg, 3, "CP0001", 1, 0)) == []


@given(st.floats(0, 100), st.integers(1, 500), st.integers(0, 1000), st.integers(0, 5))
def test_chaos_hits_its_share_of_the_fleet_the_same_each_run(
    share: float, count: int, seed: int, index: int
) -> None:
    ids = plan.station_ids("CP", count)
    step = plan.ChaosStep(10, "disconnect", share)
    hit = plan.chaos_targets(step, index, ids, seed)
    assert hit == plan.chaos_targets(step, index, ids, seed)
    assert set(hit) <= set(ids) and len(set(hit)) == len(hit)
    assert len(hit) == (max(1, round(count * share / 100)) if share > 0 else 0)


@given(st.lists(st.floats(0, 10), max_size=300))
def test_percentiles_are_samples_in_order(samples: list[float]) -> None:
    p = plan.percentiles(samples, (50, 95, 99))
    if not samples:
        assert p == {"p50": None, "p95": None, "p99": None}
        return
    assert p["p50"] in samples and p["p99"] in samples
    assert p["p50"] <= p["p95"] <= p["p99"] <= max(samples)  # type: ignore[operator]


def test_template_defaults_and_errors_name_the_field() -> None:
    assert plan.parse_template({}) == plan.Template()
    tpl = plan.parse_template(
        {
            "station": {"Core": {"MeterValueSampleInterval": 5}},
            "atg": {"charge_min": 1, "charge_max": 2, "distribution": "per_evse"},
            "chaos": [{"at": 20, "disconnect": True, "share": 10}, {"at": 5, "crash": "rpc"}],
        }
    )
    assert tpl.atg.charge_max == 2 and tpl.atg.distribution == "per_evse"
    assert [s.kind for s in tpl.chaos] == ["crash", "disconnect"]
    for bad, field in [
        ({"atg": {"charge_min": -1}}, "atg.charge_min"),
        ({"atg": {"charge_min": 9, "charge_max": 1}}, "atg.charge_min"),
        ({"atg": {"distribution": "zigzag"}}, "atg.distribution"),
        ({"atg": {"colour": 1}}, "atg.colour"),
        ({"chaos": [{"at": 1}]}, "chaos[0]"),
        ({"chaos": [{"at": 1, "disconnect": True, "share": 150}]}, "chaos[0].share"),
        ({"extra": {}}, "extra"),
    ]:
        with pytest.raises(plan.TemplateError, match=field.replace("[", r"\[")):
            plan.parse_template(bad)


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "connected": st.integers(0, 9),
                "booted": st.integers(0, 9),
                "charging": st.integers(0, 9),
                "messages_per_s": st.floats(0, 1e4),
                "reconnects": st.integers(0, 9),
                "answer_ms": st.fixed_dictionaries(
                    {q: st.none() | st.floats(0, 1e3) for q in ("p50", "p95", "p99")}
                ),
            }
        ),
        max_size=30,
    )
)
def test_the_html_report_is_one_page_with_a_plot_per_figure(rows: list[dict[str, Any]]) -> None:
    samples = [{"t": float(n), **row} for n, row in enumerate(rows)]
    page = plan.html_report({"stations": 3, "samples": samples, "totals": {"x<y": 1}})
    assert page.count("<svg") == 4 and "<script" not in page and "x&lt;y" in page


# -- the command --------------------------------------------------------------------


def _run(args: list[str], timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--csms", "http://x", "--stations", "2"], "--csms"),
        (["--csms", "ws://127.0.0.1:1", "--stations", "0"], "--stations"),
        (["--csms", "ws://127.0.0.1:1", "--stations", "2", "--ocpp", "3"], "--ocpp"),
        (["--csms", "ws://127.0.0.1:1", "--stations", "2", "--workers", "x"], "--workers"),
        (["--csms", "ws://127.0.0.1:1", "--stations", "2", "--template", "/no/such"], "--template"),
        (["--csms", "ws://127.0.0.1:1", "--stations", "2", "--data-dir", "/proc/x"], "--data-dir"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(args: list[str], flag: str) -> None:
    done = _run(args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], done.stderr


def test_a_bad_template_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for body in ("{not json", json.dumps({"atg": {"charge_min": "soon"}})):
        (tmp_path / "t.json").write_text(body)
        done = _run(
            [
                "--csms",
                "ws://127.0.0.1:1",
                "--stations",
                "1",
                "--template",
                str(tmp_path / "t.json"),
            ]
        )
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "--template" in lines[0], done.stderr


TEMPLATE: dict[str, Any] = {
    "station": {"Core": {"MeterValueSampleInterval": 2}},
    "atg": {
        "charge_min": 2,
        "charge_max": 4,
        "delay_min": 1,
        "delay_max": 2,
        "first_delay_max": 1,
        "plug_to_tag": 0.3,
        "tag_to_unplug": 0.3,
        "id_tags": ["FLEET1", "FLEET2"],
        "distribution": "round_robin",
    },
    "chaos": [
        {"at": 3, "disconnect": True, "share": 50},
        {"at": 4, "crash": "evses/1/meter", "share": 50},
    ],
}


def _started(version: str) -> Any:
    if version == "1.6":
        return lambda e: e.kind == "call" and e.action == "StartTransaction"
    return lambda e: (
        e.kind == "call"
        and e.action == "TransactionEvent"
        and e.payload.get("eventType") == "Started"
    )


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_fleet_boots_charges_reports_and_ends(tmp_path: Path, version: str) -> None:
    (tmp_path / "t.json").write_text(json.dumps(TEMPLATE))
    report = tmp_path / "report.json"
    ids = [f"CP{n:04d}" for n in range(1, 7)]
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=(f"ocpp{version}",)) as csms:
        proc = subprocess.Popen(
            [
                *CLI,
                "--csms",
                csms.url,
                "--stations",
                "6",
                "--evses",
                "2",
                "--workers",
                "2",
                "--ocpp",
                version,
                "--duration",
                "12",
                "--summary-every",
                "2",
                "--seed",
                "7",
                "--template",
                str(tmp_path / "t.json"),
                "--report",
                str(report),
                "--html",
                str(tmp_path / "report.html"),
                "--data-dir",
                str(tmp_path / "data"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for cp_id in ids:
                csms.wait_for(
                    lambda e, cp=cp_id: (
                        e.kind == "call"  # type: ignore[misc]
                        and e.action == "BootNotification"
                        and e.cp_id == cp
                    ),
                    timeout=60,
                )
            first: LogEntry = csms.wait_for(_started(version), timeout=30)
            assert first.cp_id in ids
            out, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        assert {e.cp_id for e in csms.calls("BootNotification")} == set(ids)
    assert "6/6 connected" in out
    body = json.loads(report.read_text())
    assert body["stations"] == 6 and body["ocpp"] == version and body["workers"] == 2
    assert body["samples"] and max(s["booted"] for s in body["samples"]) == 6
    totals = body["totals"]
    assert totals["transactions_started"] >= 1
    assert totals["answers"] > 0 and totals["answer_ms"]["p50"] is not None
    # The chaos plan cut half the links (each came back) and crashed half the meters.
    assert totals["faults"] == 6 and totals["reconnects"] >= 1
    assert totals["atg_errors"] == 0
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "<script" not in page
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ids


@pytest.mark.slow
def test_ctrl_c_stops_every_station_and_exits_0(tmp_path: Path) -> None:
    import signal

    with DevCsms(port=0, heartbeat_interval=60) as csms:
        proc = subprocess.Popen(
            [
                *CLI,
                "--csms",
                csms.url,
                "--stations",
                "2",
                "--workers",
                "1",
                "--data-dir",
                str(tmp_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for cp_id in ("CP0001", "CP0002"):
                csms.wait_connected(cp_id, timeout=60)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        for cp_id in ("CP0001", "CP0002"):
            csms.log.wait_disconnected(cp_id, timeout=10)
