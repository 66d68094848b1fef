"""The live view: its model fed events, its table rendered to text; the
WARNING lines of an unreachable CSMS; the demo's lines within 80 columns."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable

import pytest
from rich.console import Console

import ocppstation.actors.runtime.supervisor as sup
from ocppstation.actors import events as ev
from ocppstation.tools.csms import brief_line
from ocppstation.tools.demo import WIDTH, run_demo
from ocppstation.tools.live import LinkWatch, LiveScreen, LiveState, render
from ocppstation.tools.peer import LogEntry

URL = "ws://127.0.0.1:9000/cp-live"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def text_of(state: LiveState, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(render(state))
    return console.export_text()


def fed(events: Iterable[object], clock: Clock | None = None) -> LiveState:
    state = LiveState.of([1, 2], "ocppstation cp-live  OCPP 1.6", now=clock or Clock())
    for event in events:
        state.apply(event)
    return state


def row(text: str, evse: int) -> str:
    (line,) = [line for line in text.splitlines() if line.strip().startswith(f"{evse} ")]
    return line


def test_a_charging_session_is_one_row_with_its_transaction_power_energy_and_offer() -> None:
    state = fed(
        [
            ev.LinkChanged(True, URL),
            ev.RegistrationChanged("Accepted"),
            ev.ConnectorChanged(1, "Preparing"),
            ev.TokenJudged(1, "TAG1", True, "Accepted", "csms", True),
            ev.ConnectorChanged(1, "Charging"),
            ev.TransactionStarted(1, 42, "TAG1", 1000),
            ev.LimitChanged(1, 16.0),
            ev.MeterSampled(1, 3500.0, 7360.0),
            ev.ConnectorChanged(2, "Faulted", "GroundFailure"),
            ev.CallReceived("RemoteStartTransaction", {"idTag": "X", "connectorId": 2}),
        ]
    )
    text = text_of(state)

    assert "cp-live" in text
    assert f"link  up  {URL}" in text
    assert "boot Accepted" in text
    assert "csms" in text and "RemoteStartTransaction" in text
    one = row(text, 1)
    assert "Charging" in one
    assert "42" in one
    assert "7.36" in one  # kW
    assert "2.500" in one  # kWh of this transaction: 3500 - 1000 Wh
    assert "16" in one  # A offered
    assert "TAG1 accepted" in one  # what the screen says of the card
    two = row(text, 2)
    assert "Faulted" in two and "GroundFailure" in two
    for header in ("EVSE", "status", "transaction", "kW", "kWh", "offered A", "display"):
        assert header in text


def test_a_stopped_session_keeps_its_energy_and_drops_its_transaction() -> None:
    state = fed(
        [
            ev.TransactionStarted(1, 7, "TAG1", 0),
            ev.MeterSampled(1, 900.0, 11000.0),
            ev.TransactionStopped(1, 7, "Local", 1234),
            ev.ConnectorChanged(1, "Finishing"),
        ]
    )
    one = row(text_of(state), 1)
    assert "Finishing" in one
    assert "1.234" in one
    assert " 7 " not in one
    assert "11.00" not in one  # no power once stopped


def test_an_unreachable_csms_shows_down_the_reason_and_the_next_attempt() -> None:
    clock = Clock()
    state = fed(
        [
            ev.ConnectFailed(URL, "connect failed: [Errno 111] Connection refused", 12.0),
            ev.ConnectFailed(URL, "connect failed: [Errno 111] Connection refused", 20.0),
        ],
        clock,
    )
    clock.now += 5
    text = text_of(state)
    assert "down" in text
    assert "Connection refused" in text
    assert "2 failed" in text
    assert "next attempt" in text and "(in 15 s)" in text
    assert "why   connect failed: [Errno 111] Connection refused" in text

    state.apply(ev.LinkChanged(True, URL))
    text = text_of(state)
    assert "link  up" in text and "next attempt" not in text


def test_a_link_lost_while_up_says_so_until_it_is_back() -> None:
    state = fed([ev.LinkChanged(True, URL), ev.LinkChanged(False, URL, "ping timeout", 3.0)])
    text = text_of(state)
    assert "link  down  next attempt" in text and "(in 3 s)" in text
    assert "why   ping timeout" in text


def test_an_evse_that_gave_up_shows_as_given_up() -> None:
    state = fed(
        [
            ev.ConnectorChanged(2, "Charging"),
            sup.ChildTerminated("evses/2", "restart intensity exceeded"),
        ]
    )
    two = row(text_of(state), 2)
    assert "given up" in two and "restart intensity exceeded" in two
    # Another actor's end is not an EVSE's.
    assert not fed([]).apply(sup.ChildTerminated("evses/2/meter", "x"))


def test_evses_no_event_has_told_of_are_filled_in_from_the_status_snapshot() -> None:
    state = fed([ev.ConnectorChanged(1, "Charging")])
    state.seed({"evses": [{"evse": 1, "status": "Available"}, {"evse": 2, "status": "Available"}]})
    text = text_of(state)
    assert "Charging" in row(text, 1)  # an event is newer than any snapshot
    assert "Available" in row(text, 2)


def test_the_screen_draws_events_and_lines_on_its_console() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None)
    screen = LiveScreen(fed([]), console, refresh_per_second=20)
    with screen:
        screen(ev.ConnectorChanged(1, "Charging"))
        screen(ev.MeterSampled(1, 10.0, 3680.0))  # in the table, not a line of its own
        screen.line("script", "hello")
    written = out.getvalue()
    assert "evse 1    Charging" in written
    assert "script  | hello" in written
    assert "Wh" not in written.split("EVSE")[0] or "3.68" in written


# -- the CSMS's reachability at WARNING ---------------------------------------------------


def test_an_unreachable_csms_is_one_warning_per_change_not_per_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = LinkWatch()
    refused = "connect failed: [Errno 111] Connection refused"
    with caplog.at_level(logging.WARNING, logger="ocppstation.link"):
        for wait in (1.0, 2.0, 4.0, 8.0):
            watch(ev.ConnectFailed(URL, refused, wait))
        watch(ev.ConnectFailed(URL, "connect failed: timed out during opening handshake", 16.0))
        watch(ev.LinkChanged(True, URL))
        watch(ev.LinkChanged(False, URL, "ping timeout", 1.0))
        watch(ev.LinkChanged(True, URL))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 5, lines
    assert "cannot reach" in lines[0] and "Connection refused" in lines[0]
    assert "next attempt in 1.0 s" in lines[0]
    assert "timed out" in lines[1]
    assert "reached again (5 failed attempts)" in lines[2]
    assert "lost the link" in lines[3] and "ping timeout" in lines[3]
    assert "reached again (0 failed attempts)" in lines[4]


# -- the demo in 80 columns -----------------------------------------------------------


def entry(kind: str, direction: str, payload: object, **kw: object) -> LogEntry:
    fields: dict[str, object] = {
        "seq": 0,
        "at": 0.0,
        "cp_id": "demo-cp",
        "direction": direction,
        "kind": kind,
        "action": "StatusNotification",
        "unique_id": "7149ff14-4089-4973-8f5f-09732e905860",
        "payload": payload,
        "text": "",
    }
    fields.update(kw)
    return LogEntry(**fields)  # type: ignore[arg-type]


def test_a_brief_csms_line_keeps_what_matters_and_fits() -> None:
    status = entry(
        "call",
        "in",
        {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": "Charging",
            "timestamp": "2026-12-03T12:51:44.611Z",
        },
    )
    assert brief_line(status) == "<- StatusNotification conn=1 status=Charging"
    assert brief_line(entry("result", "out", {})) == "-> StatusNotification: ok"
    meter = entry(
        "call",
        "in",
        {
            "connectorId": 1,
            "transactionId": 3,
            "meterValue": [
                {
                    "timestamp": "2026-12-03T12:51:45.611Z",
                    "sampledValue": [
                        {"value": "6", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                        {"value": "22080", "measurand": "Power.Active.Import", "unit": "W"},
                    ],
                }
            ],
        },
        action="MeterValues",
    )
    assert brief_line(meter) == "<- MeterValues conn=1 tx=3 energy=6Wh power=22080W"
    long = entry("call", "in", {"data": "x" * 500}, action="DataTransfer")
    assert len(brief_line(long, 40)) == 40
    assert brief_line(long, 40).endswith("...")


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_every_line_of_the_demo_fits_80_columns(version: str) -> None:
    out = io.StringIO()
    assert run_demo(out, version) == 0
    lines = out.getvalue().splitlines()
    assert "done: one session, start to finish" in out.getvalue()
    assert sum(" csms " in line for line in lines) > 10
    too_long = [line for line in lines if len(line) > WIDTH]
    assert not too_long, "\n".join(too_long)


@pytest.mark.slow
def test_the_demo_on_a_terminal_draws_the_live_table() -> None:
    # rich decides on a terminal by the file; a StringIO told it is one stands in.
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    assert run_demo(out, "1.6", live=True) == 0
    written = out.getvalue()
    assert "offered A" in written  # the table's header
    assert "ocppstation demo: demo-cp" in written
    assert "done: one session, start to finish" in written
