"""What a station does, for a person: one line per event (`describe`,
`LiveView`), or on a terminal a table refreshed in place (`LiveState`,
`render`, `LiveScreen`)."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

from rich import box
from rich.console import Console as RichConsole
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

import ocppstation.actors.runtime.supervisor as sup
from ocppstation.actors import events as ev
from ocppstation.protocol.txqueue import TransactionId


def describe(event: Any) -> str | None:
    """One human line for an event, or None for events not worth a line."""
    match event:
        case ev.LinkChanged(up=True):
            return f"link      up to {event.url}"
        case ev.LinkChanged(up=False):
            return f"link      down ({event.reason})"
        case ev.RegistrationChanged():
            return f"boot      {event.status}"
        case ev.ConnectorChanged():
            error = "" if event.error_code == "NoError" else f" ({event.error_code})"
            return f"evse {event.evse:<4} {event.status}{error}"
        case ev.TokenJudged():
            verdict = "accepted" if event.accepted else "refused"
            offline = "" if event.online else ", offline"
            return (
                f"evse {event.evse:<4} tag {event.id_tag} {verdict}: {event.status} "
                f"({event.source}{offline})"
            )
        case ev.TransactionStarted():
            return (
                f"evse {event.evse:<4} transaction {event.transaction_id} started by "
                f"{event.id_tag} at {event.meter_start} Wh"
            )
        case ev.TransactionStopped():
            return (
                f"evse {event.evse:<4} transaction {event.transaction_id} stopped "
                f"({event.reason}) at {event.meter_stop} Wh"
            )
        case ev.MeterSampled():
            return f"evse {event.evse:<4} {event.energy_wh:9.1f} Wh  {event.power_w / 1000:6.2f} kW"
        case sup.ChildCrashed():
            return f"actor     {event.path} crashed: {event.reason}"
        case sup.ChildRestarted():
            return f"actor     {event.path} restarted in {event.latency * 1000:.2f} ms"
        case sup.ChildTerminated():
            return f"actor     {event.path} terminated: {event.reason}"
        case sup.SupervisorGaveUp():
            return f"actor     {event.path} gave up: {event.reason}"
    return None


class LiveView:
    """An event subscriber that prints `describe(event)` lines with a clock."""

    def __init__(
        self,
        out: IO[str],
        prefix: str = "station",
        *,
        lock: threading.Lock | None = None,
        t0: float | None = None,
    ) -> None:
        self.out = out
        self.prefix = prefix
        # Shared with other writers to `out` so that lines never interleave.
        self._lock = lock or threading.Lock()
        self._t0 = time.monotonic() if t0 is None else t0

    def __call__(self, event: Any) -> None:
        line = describe(event)
        if line is None:
            return
        with self._lock:
            stamp = time.monotonic() - self._t0
            print(f"{stamp:7.2f}s {self.prefix:<7} | {line}", file=self.out, flush=True)


# -- the live table ------------------------------------------------------------------

_EVSE_PATH = re.compile(r"^evses/(\d+)$")


@dataclass
class EvseRow:
    """What the table shows of one EVSE, as the events told it."""

    evse: int
    status: str = "-"
    error_code: str = "NoError"
    transaction_id: TransactionId | None = None
    meter_start: int | None = None
    energy_wh: float | None = None  # the meter register at the last sample
    session_wh: float | None = None  # of the running (or the last) transaction
    power_w: float = 0.0
    offered_a: float | None = None
    given_up: str = ""
    card: str = ""  # what the station decided of the last card, as its screen would say


@dataclass
class LiveState:
    """The live view's model: pure state, changed only by `apply(event)`.

    Apart from the rendering so that a test can feed it events and read the
    table back as text. `now` is wall-clock seconds (time.time), for the
    next reconnect attempt.
    """

    evses: dict[int, EvseRow]
    title: str = "ocppstation"
    now: Callable[[], float] = time.time
    link: str = "connecting"  # connecting, up, down
    url: str = ""
    link_reason: str = ""
    retry_at: float | None = None
    failures: int = 0  # connection attempts failed since the link was last up
    registration: str = "-"
    last_csms: str = ""
    last_csms_at: float | None = None

    @classmethod
    def of(cls, evses: Iterable[int], title: str = "ocppstation", **kwargs: Any) -> LiveState:
        return cls({n: EvseRow(n) for n in evses}, title, **kwargs)

    def row(self, evse: int) -> EvseRow:
        if evse not in self.evses:
            self.evses[evse] = EvseRow(evse)
        return self.evses[evse]

    def apply(self, event: Any) -> bool:
        """Take `event` in; True if the table changed."""
        match event:
            case ev.LinkChanged(up=True):
                self.link, self.url, self.link_reason = "up", event.url, ""
                self.retry_at, self.failures = None, 0
            case ev.LinkChanged(up=False):
                self.link, self.url, self.link_reason = "down", event.url, event.reason
                self._retry(event.retry_in)
            case ev.ConnectFailed():
                self.link, self.url, self.link_reason = "down", event.url, event.reason
                self.failures += 1
                self._retry(event.retry_in)
            case ev.RegistrationChanged():
                self.registration = event.status
            case ev.CallReceived():
                self._heard(f"{event.action} {_gist(event.payload)}".rstrip())
            case ev.MessageAnswered():
                answer = event.error or _gist(event.payload or {}) or "answered"
                self._heard(f"{event.action}: {answer}")
            case ev.ConnectorChanged():
                row = self.row(event.evse)
                row.status, row.error_code, row.given_up = event.status, event.error_code, ""
                if event.status == "Available":
                    row.card = ""  # the session, and what its card was told, is over
            case ev.TokenJudged():
                verdict = "accepted" if event.accepted else f"refused: {event.status}"
                offline = "" if event.online else " (offline)"
                self.row(event.evse).card = f"{event.id_tag} {verdict}{offline}"
            case ev.TransactionStarted():
                row = self.row(event.evse)
                row.transaction_id, row.meter_start = event.transaction_id, event.meter_start
                row.session_wh = 0.0
            case ev.TransactionStopped():
                row = self.row(event.evse)
                row.transaction_id, row.power_w = None, 0.0
                if row.meter_start is not None:
                    row.session_wh = float(event.meter_stop - row.meter_start)
                row.meter_start = None
            case ev.MeterSampled():
                row = self.row(event.evse)
                row.energy_wh, row.power_w = event.energy_wh, event.power_w
                if row.meter_start is not None:
                    row.session_wh = event.energy_wh - row.meter_start
            case ev.LimitChanged():
                self.row(event.evse).offered_a = event.amps
            case sup.ChildTerminated() if found := _EVSE_PATH.match(event.path):
                row = self.row(int(found.group(1)))
                row.given_up, row.transaction_id, row.power_w = event.reason, None, 0.0
            case _:
                return False
        return True

    def seed(self, snapshot: dict[str, Any]) -> None:
        """Fill in what no event has told yet from `Station.status()`: a
        connector that never changed since it started has published nothing."""
        for entry in snapshot.get("evses", ()):
            row = self.row(int(entry["evse"]))
            if row.status == "-" and entry.get("status"):
                row.status = str(entry["status"])
            if row.transaction_id is None and entry.get("transaction_id") is not None:
                row.transaction_id = entry["transaction_id"]

    def _retry(self, retry_in: float | None) -> None:
        self.retry_at = None if retry_in is None else self.now() + retry_in

    def _heard(self, text: str) -> None:
        self.last_csms, self.last_csms_at = text, self.now()


def _gist(payload: dict[str, Any]) -> str:
    """The word of a payload a person looks for first (its status), if it has one."""
    for key in ("status", "idTagInfo", "idTokenInfo"):
        value = payload.get(key)
        if isinstance(value, dict):
            value = value.get("status")
        if isinstance(value, str):
            return value
    return ""


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def render(state: LiveState) -> RenderableType:
    """The live table of `state`: the link and the last CSMS message above one
    row per EVSE."""
    now = state.now()
    head = Text(state.title, style="bold")
    link = Text("link  ")
    if state.link == "up":
        link.append("up", style="bold green")
        link.append(f"  {state.url}")
    elif state.link == "down":
        link.append("down", style="bold red")
        if state.retry_at is None:
            link.append("  reconnecting now")
        else:
            wait = max(0.0, state.retry_at - now)
            link.append(f"  next attempt {_clock(state.retry_at)} (in {wait:.0f} s)")
        if state.failures:
            link.append(f", {state.failures} failed")
    else:
        link.append("connecting", style="yellow")
        link.append(f"  {state.url}".rstrip())
    link.append(f"  | boot {state.registration}")
    lines = [head, link]
    if state.link == "down":
        # On a line of its own, folded rather than cut: the reason is what to fix.
        lines.append(Text(f"why   {state.link_reason}", style="red", overflow="fold"))
    heard = Text("csms  ")
    if state.last_csms_at is None:
        heard.append("nothing heard yet", style="dim")
    else:
        heard.append(f"{_clock(state.last_csms_at)}  {state.last_csms}")

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    table.add_column("EVSE", justify="right")
    table.add_column("status")
    table.add_column("transaction")
    table.add_column("kW", justify="right")
    table.add_column("kWh", justify="right")
    table.add_column("offered A", justify="right")
    table.add_column("display")
    for n in sorted(state.evses):
        row = state.evses[n]
        status = Text(row.status, style=_STATUS_STYLE.get(row.status, ""))
        note = row.card
        if row.error_code != "NoError":
            note = row.error_code
        if row.given_up:
            status, note = Text("given up", style="bold red"), row.given_up
        table.add_row(
            str(n),
            status,
            "" if row.transaction_id is None else str(row.transaction_id),
            f"{row.power_w / 1000:.2f}" if row.power_w else "",
            "" if row.session_wh is None else f"{row.session_wh / 1000:.3f}",
            "" if row.offered_a is None else f"{row.offered_a:g}",
            note,
        )
    return Group(*lines, heard, table)


_STATUS_STYLE = {
    "Available": "green",
    "Preparing": "cyan",
    "Charging": "bold green",
    "SuspendedEV": "yellow",
    "SuspendedEVSE": "yellow",
    "Finishing": "cyan",
    "Reserved": "magenta",
    "Unavailable": "dim",
    "Faulted": "bold red",
}


class LiveScreen:
    """The live table on a terminal, refreshed in place, with what happens
    (the `describe` lines but meter samples, which the table shows) scrolling
    above it. A station event subscriber; `line` prints a line of its own
    (the demo's script and CSMS).

    rich draws it: a well-kept terminal library instead of cursor codes by hand.
    """

    def __init__(
        self,
        state: LiveState,
        console: RichConsole | None = None,
        *,
        prefix: str = "station",
        t0: float | None = None,
        refresh_per_second: float = 4,
    ) -> None:
        self.state = state
        self.console = console or RichConsole()
        self.prefix = prefix
        self._t0 = time.monotonic() if t0 is None else t0
        # Events arrive on actor threads; rich renders on its refresh thread.
        self._lock = threading.Lock()
        self._live = Live(
            console=self.console,
            get_renderable=self._renderable,
            refresh_per_second=refresh_per_second,
            # Logs written to a terminal's stderr go above the table, not through
            # it; a redirected stderr stays where it was sent.
            redirect_stderr=sys.stderr.isatty(),
            redirect_stdout=False,
        )

    def _renderable(self) -> RenderableType:
        with self._lock:
            return render(self.state)

    def __enter__(self) -> LiveScreen:
        self._live.start(refresh=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def seed(self, snapshot: dict[str, Any]) -> None:
        with self._lock:
            self.state.seed(snapshot)

    def __call__(self, event: Any) -> None:
        with self._lock:
            self.state.apply(event)
        text = None if isinstance(event, ev.MeterSampled) else describe(event)
        if text is not None:
            self.line(self.prefix, text)

    def line(self, who: str, text: str) -> None:
        stamp = time.monotonic() - self._t0
        self.console.print(
            Text(f"{stamp:7.2f}s {who:<7} | {text}"), soft_wrap=True, highlight=False
        )


class LinkWatch:
    """Logs, at WARNING, each change of whether the CSMS can be reached: not
    every retry (the link logs those at INFO) but the first failure, a new
    reason, and the recovery."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("ocppstation.link")
        self._failing: str | None = None  # the reason last warned about
        self._failures = 0

    def __call__(self, event: Any) -> None:
        match event:
            case ev.ConnectFailed() | ev.LinkChanged(up=False):
                self._failures += isinstance(event, ev.ConnectFailed)
                if event.reason == self._failing:
                    return
                self._failing = event.reason
                what = "lost the link to" if isinstance(event, ev.LinkChanged) else "cannot reach"
                when = (
                    "now"
                    if event.retry_in is None
                    else f"in {event.retry_in:.1f} s, then with backoff"
                )
                self.log.warning(
                    "%s the CSMS at %s: %s; next attempt %s", what, event.url, event.reason, when
                )
            case ev.LinkChanged(up=True):
                if self._failing is not None:
                    self.log.warning(
                        "the CSMS at %s is reached again (%d failed attempts)",
                        event.url,
                        self._failures,
                    )
                self._failing, self._failures = None, 0


class CurrentStderr:
    """A stream that writes to whatever `sys.stderr` is at the time: a log
    handler given it follows the live view's redirection above its table."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()
