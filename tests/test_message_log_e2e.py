"""The message log of a real station on real websockets, and `ocppstation log`.

Each station runs against the dev CSMS on 127.0.0.1 in virtual time (so the
day file is the FakeClock's day); what the CSMS saw on the wire is compared
with what the station wrote.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import ConnectFailed, RegistrationChanged
from ocppstation.actors.link.message_log import MessageLogWriter
from ocppstation.actors.station import Station
from ocppstation.protocol import message_log as ml
from ocppstation.tools import cli, log_view
from ocppstation.tools.csms import DevCsms, server_ssl_context
from tests.conftest import StationFactory, answered, log_of, quiet

CP = "cp-test"
KEY = "0123456789abcdef-old"
NEW = "an0ther-s3cret-key-4567"
VERSIONS = {"1.6": ("ocpp1.6",), "2.0.1": ("ocpp2.0.1",)}


@pytest.fixture(params=list(VERSIONS))
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def start(
    make_station: StationFactory, csms: DevCsms, version: str, directory: Path, **sections: Any
) -> Station:
    internal = {"OcppVersions": [version], "MessageLogPath": str(directory)}
    station = make_station(csms, Internal=internal, **sections)
    log_of(station).wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Accepted", timeout=10
    )
    answered(station, "StatusNotification", 2)
    return station


def day_log(directory: Path, clock: FakeClock) -> list[ml.Entry]:
    path = directory / ml.day_file(clock.wall())
    return list(ml.parse_lines(path.read_text("utf-8")))


def wire(csms: DevCsms, direction: str) -> list[str]:
    """The frames the CSMS received ("in") or sent ("out"), in its order."""
    return [
        e.text
        for e in csms.log.entries()
        if e.direction == direction and e.kind in ("call", "result", "error")
    ]


def test_every_frame_the_csms_saw_is_in_the_log_in_order(
    version: str, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    directory = tmp_path / "messages"
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=VERSIONS[version]) as csms:
        station = start(make_station, csms, version, directory)
        if version == "1.6":
            csms.call(CP, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        else:
            ask = {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
            csms.call(CP, "GetVariables", {"getVariableData": [ask]})
        quiet(station)
        station.stop()  # closes the writer: everything is on disk
    entries = day_log(directory, clock)
    url = f"{csms.url}/{CP}"
    assert {e.conn for e in entries} == {url}
    assert [e.frame for e in entries if e.dir == "out"] == wire(csms, "in")
    assert [e.frame for e in entries if e.dir == "in"] == wire(csms, "out")
    events = [e for e in entries if e.dir == "event"]
    assert [e.event for e in events] == ["connecting", "connected", "closed"]
    assert events[1].detail == {"subprotocol": VERSIONS[version][0]}
    assert events[2].detail["code"] == 1000
    # The connection events frame the frames.
    assert entries[0].event == "connecting" and entries[1].event == "connected"
    assert entries[-1].event == "closed"
    exchanges = ml.pair(entries)
    boot = next(x for x in exchanges if x.action == "BootNotification")
    assert boot.answer is not None and boot.rtt is not None and boot.rtt >= 0
    assert [x for x in exchanges if x.kind == "call" and x.answer is None] == []


def test_a_station_with_a_data_dir_logs_under_it_by_default(
    make_station: StationFactory, clock: FakeClock, tmp_path: Path, csms: DevCsms
) -> None:
    station = make_station(csms, Internal={"DataDir": str(tmp_path)})
    answered(station, "StatusNotification", 3)
    station.stop()
    entries = day_log(tmp_path / "messages", clock)
    assert any(ml.classify(e.frame).action == "BootNotification" for e in entries)


def test_a_connection_refused_is_logged_as_a_failure(
    make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    with DevCsms(port=0) as csms:
        url = csms.url
    station = make_station(SimpleNamespace(url=url), Internal={"MessageLogPath": str(tmp_path)})
    log_of(station).wait_for(lambda e: isinstance(e, ConnectFailed), timeout=10)
    station.stop()
    events = [(e.event, e.detail) for e in day_log(tmp_path, clock)]
    assert events[0][0] == "connecting" and events[1][0] == "failed"
    assert "connect failed" in events[1][1]["reason"]


def test_the_log_moves_to_a_new_file_at_midnight_in_virtual_time(
    make_station: StationFactory, clock: FakeClock, tmp_path: Path, csms: DevCsms
) -> None:
    station = start(make_station, csms, "1.6", tmp_path)
    first_day = ml.day_file(clock.wall())
    answered(station, "StatusNotification", 3)
    # 2026-01-01 00:00 plus a day and a heartbeat: tomorrow's file.
    mark = csms.log.mark()
    clock.advance(timedelta(days=1).total_seconds())
    csms.log.wait_call("Heartbeat", CP, since=mark)
    quiet(station)
    station.stop()
    second_day = ml.day_file(clock.wall())
    assert second_day != first_day
    assert sorted(p.name for p in tmp_path.iterdir()) == [first_day, second_day]
    later = day_log(tmp_path, clock)
    assert any(ml.classify(e.frame).action == "Heartbeat" for e in later)


def test_a_csms_certificate_the_station_does_not_trust_is_logged(
    make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    from tests.pki import Ca

    cert, key = Ca("CSMS root").server().write(tmp_path, "server")
    stranger = Ca("stranger").write(tmp_path, "stranger")
    with DevCsms(port=0, password=KEY, ssl=server_ssl_context(cert, key)) as csms:
        internal = {
            "MessageLogPath": str(tmp_path / "m"),
            "CentralSystemRootCertificateFile": str(stranger),
        }
        station = make_station(
            csms, Internal=internal, Security={"SecurityProfile": 2, "AuthorizationKey": KEY}
        )
        log_of(station).wait_for(lambda e: isinstance(e, ConnectFailed), timeout=10)
        station.stop()
    failed = [e for e in day_log(tmp_path / "m", clock) if e.event == "failed"]
    assert failed[0].detail["security_event"] == "InvalidCentralSystemCertificate"
    assert "CERTIFICATE_VERIFY_FAILED" in failed[0].detail["reason"]
    assert failed[0].conn.startswith("wss://")


def _change_key(csms: DevCsms, version: str, new: str) -> str:
    if version == "1.6":
        answer = csms.call(CP, "ChangeConfiguration", {"key": "AuthorizationKey", "value": new})
        return str(answer["status"])
    data = {
        "attributeValue": new,
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"},
    }
    answer = csms.call(CP, "SetVariables", {"setVariableData": [data]})
    return str(answer["setVariableResult"][0]["attributeStatus"])


def test_no_secret_reaches_any_log_at_debug(
    version: str,
    make_station: StationFactory,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [KEY, NEW] + [base64.b64encode(f"{CP}:{s}".encode()).decode() for s in (KEY, NEW)]
    security = {"SecurityProfile": 1, "AuthorizationKey": KEY}
    subprotocols = VERSIONS[version]
    with DevCsms(port=0, heartbeat_interval=60, password=KEY, subprotocols=subprotocols) as csms:
        station = start(make_station, csms, version, tmp_path, Security=security)
        mark = len(log_of(station).all())
        assert _change_key(csms, version, NEW) == "Accepted"
        # It reconnects with the new key, which this CSMS refuses.
        log_of(station).wait_for(lambda e: isinstance(e, ConnectFailed), timeout=10, since=mark)
        station.stop()
    text = (tmp_path / ml.day_file(clock.wall())).read_text("utf-8")
    assert [s for s in secrets if s in text] == []
    entries = list(ml.parse_lines(text))
    changed = [e for e in entries if e.dir == "in" and ml.MASK in e.frame]
    assert changed, "the change arrived and was masked"
    refused = [e.detail["reason"] for e in entries if e.event == "failed"]
    assert refused and "401" in refused[-1]  # the handshake failure, logged
    headers = [e.detail["headers"] for e in entries if e.event == "connecting"]
    assert headers and all(h == {"Authorization": ml.MASK} for h in headers)
    # The station's own lines; the dev CSMS (tools) traces its side on its own.
    lines = [
        record.getMessage() + (record.exc_text or "")
        for record in caplog.records
        if record.name.startswith("ocppstation") and not record.name.startswith("ocppstation.tools")
    ]
    assert any("Authorization" in line for line in lines), "the trace was there to leak from"
    assert [line for line in lines if any(s in line for s in secrets)] == []


# -- `ocppstation log` ---------------------------------------------------------------


@pytest.fixture
def a_day(make_station: StationFactory, clock: FakeClock, tmp_path: Path) -> Iterator[Path]:
    """A day of a 1.6 station's log, with a CALLERROR in it."""
    directory = tmp_path / "messages"
    with DevCsms(port=0, heartbeat_interval=60) as csms:
        station = start(make_station, csms, "1.6", directory)
        csms.call(CP, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        csms.send_raw(CP, json.dumps([2, "bad-1", "NoSuchAction", {}]))
        csms.log.wait_for(lambda e: e.kind == "error" and e.unique_id == "bad-1")
        quiet(station)
        station.stop()
    yield directory


def test_the_html_view_pairs_each_call_with_its_answer(a_day: Path, tmp_path: Path) -> None:
    page = tmp_path / "view.html"
    out = io.StringIO()
    assert log_view.run(_log_args(a_day, html=str(page)), out) == 0
    text = page.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<script>" in text
    assert not any(tag in text for tag in ("src=", "href=", "<link"))  # nothing to fetch
    rows = text.split("<tr class=")[1:]
    boot = next(r for r in rows if 'data-action="BootNotification"' in r)
    # Virtual time stands still while the CSMS answers: 0 ms.
    assert "<td>0 ms</td>" in boot and "&quot;Accepted&quot;" in boot and "currentTime" in boot
    bad = next(r for r in rows if 'data-action="NoSuchAction"' in r)
    assert "error" in bad.split('"')[1] and "NotImplemented" in bad
    status = [r for r in rows if 'data-action="StatusNotification"' in r]
    assert [r.split('data-connector="')[1].split('"')[0] for r in status] == ["0", "1", "2"]
    assert "<option>GetConfiguration</option>" in text and "<option>2</option>" in text


def test_the_cli_writes_the_html_and_prints_the_lines(
    a_day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "day.html"
    assert cli.main(["log", str(a_day), "--html", str(page)]) == 0
    assert "BootNotification" in page.read_text("utf-8")
    capsys.readouterr()
    assert cli.main(["log", str(a_day)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "-- connecting" in lines[0] and "-> BootNotification [" in lines[2]
    assert any("<- BootNotification result [" in line for line in lines)
    assert cli.main(["log", str(a_day), "--day", "1999-01-01"]) == 1
    assert cli.main(["log", str(a_day), "--html", str(tmp_path / "no" / "such" / "x.html")]) == 1
    assert "argument --html" in capsys.readouterr().err


def test_follow_prints_entries_as_they_are_written(tmp_path: Path) -> None:
    now = FakeClock().wall
    writer = MessageLogWriter(tmp_path, now)
    writer.event("ws://h/cp", "connected", subprotocol="ocpp1.6")
    assert writer.flush()  # there before --follow starts: not printed
    out = io.StringIO()
    ready = threading.Event()
    follower = threading.Thread(
        target=log_view.follow, args=(tmp_path, out), kwargs={"ready": ready, "max_lines": 2}
    )
    follower.start()
    assert ready.wait(10)
    writer.frame("out", "ws://h/cp", json.dumps([2, "7", "Heartbeat", {}]))
    writer.frame("in", "ws://h/cp", json.dumps([3, "7", {"status": "Accepted"}]))
    writer.close()
    follower.join(10)
    assert not follower.is_alive()
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("-> Heartbeat [7] {}")
    assert lines[1].endswith('<- Heartbeat result [7] {"status":"Accepted"}')


def test_follow_ends_with_exit_0_on_ctrl_c(tmp_path: Path) -> None:
    writer = MessageLogWriter(tmp_path, FakeClock().wall)
    writer.event("ws://h/cp", "connected", subprotocol="ocpp1.6")
    writer.flush()
    process = subprocess.Popen(
        [sys.executable, "-m", "ocppstation.tools.cli", "log", str(tmp_path), "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(process.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        while reader.is_alive():
            writer.frame("out", "ws://h/cp", json.dumps([2, "8", "Heartbeat", {}]))
            writer.flush()
            reader.join(0.1)
        assert "-> Heartbeat [8]" in got[0]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        writer.close()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_run_message_log_flag_sets_the_key() -> None:
    parser = argparse.ArgumentParser()
    log_view.message_log_args(parser)
    internal: dict[str, Any] = {}
    log_view.message_log_overrides(parser.parse_args(["--message-log", "/tmp/m"]), internal)
    assert internal == {"MessageLogPath": "/tmp/m"}
    internal = {}
    log_view.message_log_overrides(parser.parse_args(["--message-log", ""]), internal)
    assert internal == {"MessageLogPath": ""}  # off
    internal = {}
    log_view.message_log_overrides(parser.parse_args([]), internal)
    assert internal == {}


def _log_args(directory: Path, **options: Any) -> argparse.Namespace:
    return argparse.Namespace(
        dir=str(directory),
        day=options.get("day"),
        html=options.get("html"),
        follow=options.get("follow", False),
    )


def test_a_version_switch_closes_one_connection_before_the_next_opens(
    make_station: StationFactory, clock: FakeClock, tmp_path: Path, csms: DevCsms
) -> None:
    # Offered 2.0.1 first, the 1.6 CSMS picks 1.6: the station closes and dials again.
    station = make_station(
        csms, Internal={"OcppVersions": ["2.0.1", "1.6"], "MessageLogPath": str(tmp_path)}
    )
    csms.log.wait_call("BootNotification", CP, timeout=10)
    answered(station, "StatusNotification", 3)
    station.stop()
    events = [(e.event, e.detail) for e in day_log(tmp_path, clock) if e.dir == "event"]
    names = [name for name, _ in events]
    assert names == ["connecting", "connected", "closed", "connecting", "connected", "closed"]
    assert events[1][1] == {"subprotocol": "ocpp1.6"}
    assert events[2][1]["reason"] == "switching OCPP version"
