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

from ocppstation.actors import events as ev
from ocppstation.actors.station import Station
from ocppstation.config.loader import load
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.live import LiveView

STEP_TIMEOUT = 15.0
SAMPLES = 3


def _available(message: Any) -> bool:
    """EVSE 1 reported Available, in either version's words."""
    p = message.payload
    return (p.get("connectorId"), p.get("status")) == (1, "Available") or (
        p.get("evseId"),
        p.get("connectorStatus"),
    ) == (1, "Available")


def run_demo(out: IO[str], version: str = "1.6") -> int:
    """One session on EVSE 1, spoken in OCPP `version` ("1.6" or "2.0.1")."""
    lock = threading.Lock()
    t0 = time.monotonic()

    def say(who: str, text: str) -> None:
        with lock:
            print(f"{time.monotonic() - t0:7.2f}s {who:<7} | {text}", file=out, flush=True)

    subprotocol = f"ocpp{version}"
    with DevCsms(
        port=0,
        heartbeat_interval=60,
        echo=lambda text: say("csms", text),
        subprotocols=(subprotocol,),
    ) as csms:
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
        station = Station(config, record_events=True)
        station.subscribe(LiveView(out, lock=lock, t0=t0))
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
    return 0
