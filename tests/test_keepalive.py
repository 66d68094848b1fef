"""WebSocket keepalive: a link that silently dies is noticed and replaced.

The station talks to the dev CSMS through tests/tcp_proxy.py, which can turn the
connection into a black hole: no FIN, no RST, just no bytes any more. Only a ping
that gets no pong can tell. WebSocketPingInterval (Core) and
Internal.WebsocketPongTimeout go to websockets' own keepalive, which runs on the
real clock, not on the station's virtual one: these tests wait a few real seconds
(on events, with timeouts), while the reconnect's backoff is still driven by
moving virtual time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import LinkChanged
from ocppstation.actors.runtime.context import WEBSOCKET
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of
from tests.tcp_proxy import TcpProxy

CP = "cp-test"
PING_INTERVAL = 1  # s, WebSocketPingInterval
PONG_TIMEOUT = 1  # s, Internal.WebsocketPongTimeout
CLOSE_TIMEOUT = 2  # s, the websocket actor's close_timeout for the unanswered close frame
# Real seconds from the freeze to LinkChanged(up=False): a ping is due within
# PING_INTERVAL, its pong is given up after PONG_TIMEOUT, then the closing
# handshake after CLOSE_TIMEOUT; the rest is slack for a busy machine.
NOTICED_WITHIN = PING_INTERVAL + PONG_TIMEOUT + CLOSE_TIMEOUT + 3
RETRY_WAIT = 2  # virtual s: RetryBackOffWaitMinimum as make_station sets it


@pytest.fixture
def proxy(csms: DevCsms) -> Iterator[TcpProxy]:
    # Closed before the CSMS stops, so the CSMS need not wait out a close
    # handshake on a frozen connection.
    with TcpProxy(csms.host, csms.port) as p:
        yield p


def through(proxy: TcpProxy, csms: DevCsms, make_station: StationFactory, ping: int) -> Station:
    station = make_station(
        csms,
        Core={"WebSocketPingInterval": ping},
        Internal={
            "CentralSystemURI": proxy.url_for(csms.url),
            "WebsocketPongTimeout": PONG_TIMEOUT,
        },
    )
    answered(station, "StatusNotification", 3)  # booted, connectors 0, 1 and 2 announced
    return station


def test_a_missed_pong_brings_the_link_down_and_it_comes_back_without_a_boot(
    csms: DevCsms,
    proxy: TcpProxy,
    make_station: StationFactory,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    station = through(proxy, csms, make_station, ping=PING_INTERVAL)
    assert proxy.connections == 1
    assert len(csms.log.calls("BootNotification", CP)) == 1
    mark, csms_mark = log_of(station).mark(), csms.log.mark()

    proxy.freeze()
    down = log_of(station).wait_for(
        lambda e: isinstance(e, LinkChanged) and not e.up, timeout=NOTICED_WITHIN, since=mark
    )
    assert "keepalive ping timeout" in down.reason  # noticed by the ping, not by chance

    clock.advance(RETRY_WAIT)  # the reconnect waits its backoff in virtual time
    log_of(station).wait_for(
        lambda e: isinstance(e, LinkChanged) and e.up, timeout=5, since=mark + 1
    )
    assert proxy.connections == 2  # a new connection, through the proxy again
    csms.log.wait_for(
        lambda e: (
            e.kind == "call" and e.action == "StatusNotification" and e.payload["connectorId"] == 2
        ),
        since=csms_mark,
    )
    announced = csms.log.calls("StatusNotification", CP, since=csms_mark)
    assert [c.payload["connectorId"] for c in announced] == [0, 1, 2]
    assert not csms.log.calls("BootNotification", since=csms_mark)  # same run: no new boot
    assert station.status()["link"] == "up"
    # A dead link is routine for a charger: no ERROR, no traceback in its log.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_ping_interval_0_turns_keepalive_off(
    csms: DevCsms, proxy: TcpProxy, make_station: StationFactory
) -> None:
    # Showing that a frozen link goes unnoticed would take waiting; instead look
    # at the connection websockets made: no ping interval, no keepalive thread.
    station = through(proxy, csms, make_station, ping=0)
    connection = station.registry.proxy(WEBSOCKET).connection.get(timeout=5)
    assert connection is not None
    assert connection.ping_interval is None
    assert connection.keepalive_thread is None


def test_the_csms_can_turn_keepalive_on(
    csms: DevCsms, proxy: TcpProxy, make_station: StationFactory
) -> None:
    """The counterpart of the test above, so that one cannot pass by looking at the wrong thing."""
    station = through(proxy, csms, make_station, ping=0)
    mark, csms_mark = log_of(station).mark(), csms.log.mark()
    answer = csms.call(
        CP, "ChangeConfiguration", {"key": "WebSocketPingInterval", "value": str(PING_INTERVAL)}
    )
    assert answer == {"status": "Accepted"}
    # A new connection with the new interval at once, no backoff to wait out.
    down = log_of(station).wait_for(
        lambda e: isinstance(e, LinkChanged) and not e.up, timeout=5, since=mark
    )
    assert down.reason == "WebSocketPingInterval changed"
    log_of(station).wait_for(lambda e: isinstance(e, LinkChanged) and e.up, timeout=5, since=mark)
    assert proxy.connections == 2
    connection = station.registry.proxy(WEBSOCKET).connection.get(timeout=5)
    assert (connection.ping_interval, connection.ping_timeout) == (PING_INTERVAL, PONG_TIMEOUT)
    assert connection.keepalive_thread is not None and connection.keepalive_thread.is_alive()
    assert not csms.log.calls("BootNotification", since=csms_mark)
