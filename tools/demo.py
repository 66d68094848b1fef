"""`ocppstation demo`: a dev CSMS and a 2-EVSE station running one session.

Everything is real but the car: websockets on loopback, the actor tree, the
schemas. The script waits on the station's events, never on fixed pauses, so
it runs as fast as the configured intervals allow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import IO, Any

from rich.console import Console as RichConsole

from ocppstation.actors import events as ev
from ocppstation.actors.station import Station
from ocppstation.config.loader import load
from ocppstation.tools.csms import DevCsms, MessageLog, brief_line
from ocppstation.tools.live import LiveScreen, LiveState, describe

STEP_TIMEOUT = 15.0
SAMPLES = 3
# Every line fits a terminal of 80 columns; the stamp and who said it take 19.
WIDTH = 80
STAMP = len(f"{0:7.2f}s {'csms':<7} | ")


def clip(line: str, width: int = WIDTH) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


def _available(message: Any) -> bool:
    """EVSE 1 reported Available, in either version's words."""
    p = message.payload
    return (p.get("connectorId"), p.get("status")) == (1, "Available") or (
        p.get("evseId"),
        p.get("connectorStatus"),
    ) == (1, "Available")


def run_demo(out: IO[str], version: str = "1.6", *, live: bool = False) -> int:
    """One session on EVSE 1, spoken in OCPP `version` ("1.6" or "2.0.1").

    `live`: the live table on `out` (a terminal), the lines scrolling above
    it; else lines only, each at most WIDTH characters.
    """
    lock = threading.Lock()
    t0 = time.monotonic()
    screen: LiveScreen | None = None

    def say(who: str, text: str, at: float | None = None) -> None:
        if screen is not None:
            screen.line(who, text)
            return
        stamp = (time.monotonic() if at is None else at) - t0
        with lock:
            print(clip(f"{stamp:7.2f}s {who:<7} | {text}"), file=out, flush=True)

    def station_line(event: Any) -> None:
        text = describe(event)
        if text is not None:
            say("station", text)

    subprotocol = f"ocpp{version}"
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=(subprotocol,)) as csms:
        relay_done = threading.Event()
        relay = threading.Thread(
            target=_relay,
            args=(csms.log, lambda entry: say("csms", brief_line(entry, WIDTH - STAMP), entry.at)),
            kwargs={"done": relay_done},
            name="demo-csms-lines",
            daemon=True,
        )
        relay.start()
        config = load(
            None,
            {
                "Internal": {
                    "CentralSystemURI": csms.url,
                    "ChargePointId": "demo-cp",
                    "Evses": 2,
                    "OcppVersions": [version],
                },
                "Core": {"MeterValueSampleInterval": 1, "HeartbeatInterval": 60},
            },
        )
        if live:
            title = f"ocppstation demo: {config.charge_point_id}  OCPP {version}"
            screen = LiveScreen(
                LiveState.of(config.evse_numbers, title),
                RichConsole(file=out),
                prefix="station",
                t0=t0,
            )
        station = Station(config, record_events=True)
        station.subscribe(screen if screen is not None else station_line)
        if screen is not None:
            screen.__enter__()
        events = station.recorded
        assert events is not None
        mark = 0

        def step(what: str, act: Callable[[], object], until: Callable[[Any], bool]) -> Any:
            nonlocal mark
            say("script", what)
            act()
            found = events.wait_for(until, STEP_TIMEOUT, since=mark)
            mark = events.mark()
            return found

        def connector(evse: int, status: str) -> Callable[[Any], bool]:
            return lambda e: (
                isinstance(e, ev.ConnectorChanged)
                and (e.evse, e.status)
                == (
                    evse,
                    status,
                )
            )

        step(
            "start the station; wait for the CSMS to accept it",
            station.start,
            lambda e: isinstance(e, ev.RegistrationChanged) and e.status == "Accepted",
        )
        if screen is not None:
            screen.seed(station.status())
        try:
            step("plug an EV into EVSE 1", lambda: station.plug(1), connector(1, "Preparing"))
            step(
                "present card DEMO-TAG at EVSE 1",
                lambda: station.tag(1, "DEMO-TAG"),
                connector(1, "Charging"),
            )
            for n in range(1, SAMPLES + 1):
                step(
                    f"charge: meter sample {n} of {SAMPLES}",
                    lambda: None,
                    lambda e: isinstance(e, ev.MeterSampled),
                )
            step(
                "present the same card again to stop",
                lambda: station.tag(1, "DEMO-TAG"),
                lambda e: isinstance(e, ev.TransactionStopped),
            )
            seen = csms.log.mark()
            step("unplug the EV", lambda: station.unplug(1), connector(1, "Available"))
            csms.log.wait_for(
                lambda m: m.kind == "call" and m.action == "StatusNotification" and _available(m),
                STEP_TIMEOUT,
                since=seen,
            )
            say("script", "done: one session, start to finish")
        finally:
            events.close()
            station.stop()
            # The disconnect is the last line the CSMS saw; say it before leaving.
            relay_done.set()
            relay.join(STEP_TIMEOUT)
            if screen is not None:
                screen.__exit__()
    return 0


def _relay(log: MessageLog, say: Callable[[Any], None], *, done: threading.Event) -> None:
    """Say each entry of the CSMS's log as it comes, until `done` and all said."""
    said = 0
    while True:
        finished = done.is_set()
        for entry in log.entries(said):
            say(entry)
            said += 1
        if finished:
            return
        try:
            log.wait_for(lambda _: True, 0.1, since=said)
        except TimeoutError:
            pass  # nothing new: look at `done` again
