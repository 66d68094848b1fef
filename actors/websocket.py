"""The websocket actor: one OCPP-J connection to the CSMS, kept up forever.

Blocking socket work happens on an I/O thread per connection attempt; the
actor itself only reacts to what that thread reports, so it never blocks and
can always be told to send, drop or stop. Every connection gets a generation
number, and anything that mentions an older generation is ignored: that is
what keeps a late frame or close from a dead connection out of the new one.

Reconnects wait `Backoff.delay` on the station's scheduler, so tests drive
them in virtual time. Keepalive is websockets' own ping with a pong timeout;
a missed pong closes the connection, which leads to a reconnect.
"""

from __future__ import annotations

import base64
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from ocppstation.actors.base import Place, Supervised
from ocppstation.actors.context import RPC, StationContext
from ocppstation.actors.events import ConfigChanged, ConnectFailed, LinkChanged
from ocppstation.actors.rpc import FrameIn, LinkDown, LinkUp, Outgoing, SayLinkState
from ocppstation.protocol.backoff import Backoff

# A change of one of these keys needs a new connection to take effect.
_LINK_KEYS = frozenset({"AuthorizationKey", "SecurityProfile", "WebSocketPingInterval"})


@dataclass(frozen=True)
class Drop:
    """Fault injection: cut the connection abruptly, as a network loss would."""


@dataclass(frozen=True)
class _Opened:
    generation: int
    connection: ClientConnection


@dataclass(frozen=True)
class _Closed:
    generation: int
    reason: str


@dataclass(frozen=True)
class _Reconnect:
    generation: int


def station_url(csms_url: str, charge_point_id: str) -> str:
    return csms_url.rstrip("/") + "/" + urllib.parse.quote(charge_point_id, safe="")


class WebSocketLink(Supervised):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        cfg = ctx.config
        self.url = station_url(cfg.csms_url, cfg.charge_point_id)
        self.backoff = Backoff(
            wait_minimum=float(cfg.value("Internal", "RetryBackOffWaitMinimum")),
            random_range=float(cfg.value("Internal", "RetryBackOffRandomRange")),
            repeat_times=int(cfg.value("Internal", "RetryBackOffRepeatTimes")),
        )
        self.generation = 0
        self.connection: ClientConnection | None = None
        self.failures = 0  # consecutive failed attempts, for the backoff
        self._unsubscribe: Callable[[], None] = lambda: None

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward(
            self.actor_ref,
            lambda e: e if isinstance(e, ConfigChanged) and e.key in _LINK_KEYS else None,
        )
        self._attempt()

    def teardown(self) -> None:
        self._unsubscribe()
        self.generation += 1  # everything the old I/O thread says is now stale
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()
        self.ctx.registry.tell(RPC, LinkDown(self.generation - 1, "link stopped"))

    def receive(self, message: Any) -> Any:
        match message:
            case Outgoing(generation=g) if g == self.generation and self.connection:
                try:
                    self.connection.send(message.text)
                except ConnectionClosed:
                    pass  # the I/O thread reports the close and we reconnect
            case Outgoing():
                pass  # for a connection that is gone; the rpc actor already failed it
            case _Opened(generation=g) if g == self.generation:
                self.connection = message.connection
                self.failures = 0
                self.ctx.registry.tell(RPC, LinkUp(g))
                self.ctx.bus.publish(LinkChanged(True, self.url))
            case _Opened():
                message.connection.close()
            case FrameIn(generation=g) if g == self.generation:
                self.ctx.registry.tell(RPC, message)
            case FrameIn():
                pass
            case _Closed(generation=g) if g == self.generation:
                self._lost(message.reason)
            case _Reconnect(generation=g) if g == self.generation:
                self._attempt()
            case Drop():
                self._abort()
            case ConfigChanged():
                self._reconnect_now(f"{message.key} changed")
            case SayLinkState():
                if self.connection is not None:
                    self.ctx.registry.tell(RPC, LinkUp(self.generation))
            case _:
                return super().receive(message)
        return None

    def is_up(self) -> bool:
        return self.connection is not None

    # -- connection lifecycle ------------------------------------------------

    def _attempt(self) -> None:
        self.generation += 1
        threading.Thread(
            target=self._run,
            args=(self.generation,),
            name=f"ws-io-{self.generation}",
            daemon=True,
        ).start()

    def _lost(self, reason: str) -> None:
        was_up = self.connection is not None
        self.connection = None
        if was_up:
            self.ctx.registry.tell(RPC, LinkDown(self.generation, reason))
        else:
            self.failures += 1
        delay = self.backoff.delay(self.failures, self.ctx.rng.random())
        self.log.info(
            "connection to %s lost or refused (%s); retry in %.1f s", self.url, reason, delay
        )
        self.ctx.call_later(delay, self.actor_ref, _Reconnect(self.generation))
        # Published after the retry is armed, so a waiter may move time at once.
        self.ctx.bus.publish(
            LinkChanged(False, self.url, reason) if was_up else ConnectFailed(self.url, reason)
        )

    def _reconnect_now(self, reason: str) -> None:
        """A new connection with the new settings; the answer that changed them is
        already on the wire (the settings actor publishes only after rpc has it)."""
        connection, self.connection = self.connection, None
        if connection is None:
            return  # not connected: the next attempt uses the new settings anyway
        self.generation += 1
        self.ctx.registry.tell(RPC, LinkDown(self.generation - 1, reason))
        self.ctx.bus.publish(LinkChanged(False, self.url, reason))
        connection.close()
        self._attempt()

    def _abort(self) -> None:
        """No closing handshake: what a pulled cable looks like to both ends.

        The I/O thread then sees the connection die and reports it like any loss.
        """
        if self.connection is None:
            return
        try:
            self.connection.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close_socket()

    # -- the I/O thread ------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        cfg = self.ctx.config
        # The OCPP keys come from the live settings: the CSMS may have changed them.
        ping = float(self.ctx.setting("WebSocketPingInterval", 0))
        headers = {}
        if self.ctx.setting("SecurityProfile", 0) == 1:
            key = self.ctx.setting("AuthorizationKey", "")
            user_pass = f"{cfg.charge_point_id}:{key}"
            token = base64.b64encode(user_pass.encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return {
            "subprotocols": [cfg.ocpp_version],
            "additional_headers": headers,
            "open_timeout": float(cfg.value("Internal", "ConnectTimeout")),
            "ping_interval": ping or None,
            "ping_timeout": float(cfg.value("Internal", "WebsocketPongTimeout")) if ping else None,
            "close_timeout": 2,
            "proxy": None,  # a charger talks to its CSMS directly, whatever the environment says
            "compression": None,
            "user_agent_header": "ocppstation",
        }

    def _run(self, generation: int) -> None:
        """Runs on the I/O thread: connect, then read until the connection ends."""
        me = self.actor_ref

        def say(message: object) -> bool:
            try:
                me.tell(message)
            except pykka.ActorDeadError:
                return False  # the actor crashed or stopped; its successor dials anew
            return True

        try:
            # The context manager owns the connection for the thread's life.
            with connect(self.url, **self._options()) as connection:
                reason = self._serve(generation, connection, say)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError, ConnectionClosed) as exc:
            # A server may close the connection under the HTTP upgrade (TLS 1.3
            # checks a client certificate after its handshake, for one).
            reason = f"connect failed: {exc}"
        except Exception as exc:
            # Anything else escaping this thread would leave the link dead for
            # good, with no retry; log it and retry like any failure.
            self.log.exception("connection attempt to %s failed", self.url)
            reason = f"connect failed: {exc!r}"
        if reason:
            say(_Closed(generation, reason))

    def _serve(
        self, generation: int, connection: ClientConnection, say: Callable[[object], bool]
    ) -> str:
        """Read frames until the connection ends; the reason, or "" if we walked away."""
        if connection.subprotocol is None:
            # Without an agreed OCPP version neither side knows the message set.
            connection.close(code=1002, reason="no OCPP subprotocol agreed")
            return "the CSMS agreed no OCPP subprotocol"
        if not say(_Opened(generation, connection)):
            return ""
        try:
            while True:
                text = connection.recv()
                if isinstance(text, bytes):
                    text = text.decode("utf-8", errors="replace")
                # Through the actor, not straight to rpc: that keeps every
                # frame behind the LinkUp that the actor sends on _Opened.
                if not say(FrameIn(generation, text)):
                    return ""
        except ConnectionClosed as exc:
            return f"closed ({exc})"
        except OSError as exc:
            return f"socket error ({exc})"
