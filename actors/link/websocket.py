"""The websocket actor: one OCPP-J connection to the CSMS, kept up forever.

Blocking socket work happens on an I/O thread per connection attempt; the
actor itself only reacts to what that thread reports, so it never blocks and
can always be told to send, drop or stop. Every connection gets a generation
number, and anything that mentions an older generation is ignored: that is
what keeps a late frame or close from a dead connection out of the new one.

Reconnects wait `Backoff.delay` on the station's scheduler, so tests drive
them in virtual time. Keepalive is websockets' own ping with a pong timeout;
a missed pong closes the connection, which leads to a reconnect.

Security profiles (OCPP 1.6 Security Whitepaper), read at every attempt:
0 plain, 1 HTTP Basic auth (ChargePointId:AuthorizationKey), 2 TLS and
Basic auth, 3 TLS with the station's client certificate and no Basic auth.
Profiles 2 and 3 are over TLS only, so a ws:// CentralSystemURI is dialled as
wss://. TLS is 1.2 or higher; the CSMS's certificate must chain to one of
the installed CSMS roots (`ctx.tls`) and name the host. A station that lacks
what its profile needs (no root, no client certificate) does not dial: the
attempt fails with that reason and is retried with the backoff, so material
installed meanwhile is picked up by the next attempt.
"""

from __future__ import annotations

import base64
import logging
import os
import selectors
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect

from ocppstation.actors.events import (
    ConfigApplied,
    ConfigChanged,
    ConnectFailed,
    LinkChanged,
    VersionChosen,
)
from ocppstation.actors.link.endpoints import Endpoint, Endpoints
from ocppstation.actors.link.message_log import MessageLogWriter
from ocppstation.actors.link.rpc import FrameIn, LinkDown, LinkUp, Outgoing, Reconnect, SayLinkState
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import RPC, WEBSOCKET, StationContext
from ocppstation.actors.runtime.holders import TlsMaterial
from ocppstation.actors.security_events import report_event
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.backoff import Backoff
from ocppstation.protocol.errors import OcppVersion

# A change of one of these keys needs a new connection to take effect.
_LINK_SETTINGS = frozenset(
    {Setting.BASIC_AUTH_PASSWORD, Setting.SECURITY_PROFILE, Setting.WEBSOCKET_PING_INTERVAL}
)


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
    # The whitepaper's security event this failure is, if it is one.
    security_event: str | None = None


@dataclass(frozen=True)
class _Reconnect:
    generation: int


def station_url(csms_url: str, charge_point_id: str, security_profile: int = 0) -> str:
    """Where the station dials: `csms_url/ChargePointId`, over TLS from profile 2 on."""
    url = csms_url.rstrip("/") + "/" + urllib.parse.quote(charge_point_id, safe="")
    parts = urllib.parse.urlsplit(url)
    if security_profile >= 2 and parts.scheme.lower() == "ws":
        # Profiles 2 and 3 are TLS only: same host, port and path, over TLS.
        url = urllib.parse.urlunsplit(parts._replace(scheme="wss"))
    return url


class _SerialSSLSocket(ssl.SSLSocket):
    """An SSLSocket that only one thread at a time reads or writes.

    OpenSSL forbids two threads in one SSL connection at once, and websockets'
    sync client reads on a thread of its own while others send. With TLS 1.3
    that breaks for real: the reader takes in the server's session tickets
    just as the HTTP upgrade is written, and about one connection in a
    hundred hangs until the open timeout. So every read and write holds a
    lock, and none waits for the network while holding it: each runs
    non-blocking and waits for the socket, with the caller's timeout,
    outside the lock.
    """

    def _io_lock(self) -> threading.Lock:
        # No constructor runs for SSLSocket subclasses: made on first use
        # (dict.setdefault is atomic, so two threads get the same lock).
        lock = self.__dict__.get("_serial_lock")
        if lock is None:
            lock = self.__dict__.setdefault("_serial_lock", threading.Lock())
        return lock

    def settimeout(self, value: float | None) -> None:
        with self._io_lock():
            self.__dict__["_serial_timeout"] = value
            super().settimeout(value)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        return self._serially(selectors.EVENT_READ, super().recv, buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        return self._serially(selectors.EVENT_READ, super().recv_into, buffer, nbytes, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        # sendall() loops over send(), so it is covered too.
        return self._serially(selectors.EVENT_WRITE, super().send, data, flags)

    def _serially(self, wants: int, op: Callable[..., Any], *args: Any) -> Any:
        lock = self._io_lock()
        deadline: float | None = None
        while True:
            with lock:
                timeout = self.__dict__.get("_serial_timeout", super().gettimeout())
                if timeout == 0.0:
                    return op(*args)  # the caller wants non-blocking itself
                super().settimeout(0.0)
                try:
                    return op(*args)
                except ssl.SSLWantReadError:
                    event = selectors.EVENT_READ
                except ssl.SSLWantWriteError:
                    event = selectors.EVENT_WRITE
                except BlockingIOError:  # after shutdown(): a plain socket again
                    event = wants
                finally:
                    super().settimeout(timeout)
            left = None
            if timeout is not None:
                deadline = deadline if deadline is not None else time.monotonic() + timeout
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("timed out")
            with selectors.DefaultSelector() as selector:
                selector.register(self, event)
                selector.select(left)


class TlsUnavailable(Exception):
    """The station cannot make a TLS connection as its security profile asks
    (a root or client certificate missing or unusable); the message says why."""


def tls_context(
    material: TlsMaterial, security_profile: int, key_dir: Path | None = None
) -> ssl.SSLContext:
    """The client TLS context for a wss:// connection under `security_profile`.

    TLS 1.2 or higher; the server's certificate must chain to one of the
    installed CSMS roots and match the host name. Without roots, profiles 0
    and 1 fall back to the system's CAs; profiles 2 and 3 refuse. Profile 3
    adds the client certificate, whose key passes through a private (0600)
    temporary file in `key_dir` (or the system's temporary directory) that is
    deleted as soon as it is loaded. Raises TlsUnavailable.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, host names checked
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.sslsocket_class = _SerialSSLSocket
    if material.csms_roots:
        try:
            context.load_verify_locations(cadata="\n".join(material.csms_roots))
        except (ssl.SSLError, ValueError) as exc:
            raise TlsUnavailable(
                f"the installed CSMS root certificates are unusable: {exc}"
            ) from exc
    elif security_profile >= 2:
        raise TlsUnavailable(
            f"security profile {security_profile} needs a CSMS root certificate; none is installed"
        )
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if security_profile >= 3:
        if not (material.client_chain and material.client_key):
            raise TlsUnavailable(
                "security profile 3 needs a client certificate and its key; none is installed"
            )
        _load_client_certificate(context, material.client_chain, material.client_key, key_dir)
    return context


def _load_client_certificate(
    context: ssl.SSLContext, chain: str, key: str, key_dir: Path | None
) -> None:
    # load_cert_chain reads files only. mkstemp creates the file 0600, so the
    # key is never readable by others, and it is gone before we return.
    try:
        fd, name = tempfile.mkstemp(prefix=".tls-client-", suffix=".pem", dir=key_dir)
    except OSError as exc:
        raise TlsUnavailable(f"cannot write the client key for loading: {exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="ascii", errors="replace") as file:
            file.write(chain.rstrip("\n") + "\n" + key)
        # An empty password: an encrypted key fails instead of prompting on a tty.
        context.load_cert_chain(name, password=lambda: b"")
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise TlsUnavailable(f"the client certificate or its key is unusable: {exc}") from exc
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass


class _RoutineKeepaliveFailure(logging.Filter):
    """websockets logs a keepalive ping that failed because the link died as an
    ERROR with a traceback. For a charger a dead link is routine (it reconnects
    and says so), so it becomes one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == "keepalive ping failed":
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


class _NoSecrets(logging.Filter):
    """websockets' DEBUG trace shows every handshake header and a piece of
    every frame: the Basic credentials (AuthorizationKey, base64) and, in a
    ChangeConfiguration, the key itself. Headers that carry credentials lose
    their value, data frames their data (their size stays); nothing else in
    the trace changes."""

    _CREDENTIALS = frozenset({"authorization", "proxy-authorization"})

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple):
            return True
        if len(args) == 2 and str(args[0]).lower() in self._CREDENTIALS:
            record.args = (args[0], "(hidden)")
        elif len(args) == 1 and isinstance(args[0], Frame) and args[0].opcode in _DATA:
            frame = args[0]
            record.args = (f"{frame.opcode.name} [{len(frame.data)} bytes, data not logged]",)
        return True


_DATA = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})

# websockets' own log lines for our connections, under our name.
_WEBSOCKETS_LOG = logging.getLogger("ocppstation.link.websockets")
_WEBSOCKETS_LOG.addFilter(_RoutineKeepaliveFailure())
_WEBSOCKETS_LOG.addFilter(_NoSecrets())


def tls_security_event(exc: BaseException) -> str | None:
    """The whitepaper's security event for a failed TLS handshake, if it is one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "InvalidCentralSystemCertificate"
    if isinstance(exc, ssl.SSLError) and any(
        mark in str(exc) for mark in ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL")
    ):
        return "InvalidTLSVersion"
    return None


FRAMES_IN_FLIGHT = 16
_CHOSE = "the CSMS chose"


class WebSocketLink(Supervised):
    def __init__(
        self, place: Place, ctx: StationContext, endpoints: Endpoints | None = None
    ) -> None:
        super().__init__(place)
        self.ctx = ctx
        cfg = ctx.config
        # Which CSMS each attempt dials (2.0.1's network profiles); None: the
        # configured one under the live SecurityProfile (endpoints.py).
        self.endpoints = endpoints
        self.endpoint: Endpoint | None = None
        self.url = self._target()
        self.backoff = Backoff(
            wait_minimum=float(cfg.value("Internal", "RetryBackOffWaitMinimum")),
            random_range=float(cfg.value("Internal", "RetryBackOffRandomRange")),
            repeat_times=int(cfg.value("Internal", "RetryBackOffRepeatTimes")),
        )
        self.generation = 0
        self.connection: ClientConnection | None = None
        self.failures = 0  # consecutive failed attempts, for the backoff
        # Security events reported since the last good connection: a CSMS
        # with a bad certificate hears of it once, not at every retry.
        self.reported: set[str] = set()
        self._unsubscribe: Callable[[], None] = lambda: None
        self.messages = MessageLogWriter(None, ctx.clock.wall)

    def setup(self) -> None:
        self.messages = MessageLogWriter.for_station(
            self.ctx.config,
            self.ctx.data_dir,
            self.ctx.clock.wall,
            secrets=lambda: (str(self.ctx.setting(Setting.BASIC_AUTH_PASSWORD, "")),),
        )
        self._unsubscribe = self.ctx.forward(
            self.actor_ref,
            lambda e: e if isinstance(e, ConfigChanged) and e.setting in _LINK_SETTINGS else None,
        )
        self._attempt()

    def teardown(self) -> None:
        self._unsubscribe()
        self.generation += 1  # everything the old I/O thread says is now stale
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()
            self._log_closed(connection, "link stopped")
        self.ctx.registry.tell(RPC, LinkDown(self.generation - 1, "link stopped"))
        self.messages.close()

    def receive(self, message: Any) -> Any:
        match message:
            case Outgoing(generation=g) if g == self.generation and self.connection:
                # Logged before it is sent: its answer must not come first in the log.
                self.messages.frame("out", self.url, message.text)
                try:
                    self.connection.send(message.text)
                except ConnectionClosed:
                    # The I/O thread reports the close and we reconnect.
                    self.messages.event(self.url, "unsent", reason="connection closed")
            case Outgoing():
                pass  # for a connection that is gone; the rpc actor already failed it
            case _Opened(generation=g) if g == self.generation:
                self.connection = message.connection
                self.failures = 0
                if self.endpoints is not None:
                    self.endpoints.connected()
                self.reported.clear()
                self.ctx.registry.tell(RPC, self._link_up())
                self.ctx.bus.publish(LinkChanged(True, self.url))
            case _Opened():
                message.connection.close()
            case FrameIn(generation=g) if g == self.generation:
                if not self.ctx.registry.tell(RPC, message):
                    message.done()
            case FrameIn():
                message.done()
            case _Closed(generation=g) if g == self.generation:
                if message.security_event and message.security_event not in self.reported:
                    self.reported.add(message.security_event)
                    report_event(self.ctx, message.security_event, message.reason)
                self._lost(message.reason)
            case _Reconnect(generation=g) if g == self.generation:
                self._attempt()
            case Drop():
                self._abort()
            case ConfigChanged():
                # Through rpc: the CALL that changed it is answered first.
                if not self.ctx.registry.tell(RPC, Reconnect(f"{message.key} changed")):
                    self._reconnect_now(f"{message.key} changed")
                self.ctx.bus.publish(ConfigApplied(WEBSOCKET, message.key))
            case Reconnect():
                self._reconnect_now(message.reason)
            case SayLinkState():
                if self.connection is not None:
                    self.ctx.registry.tell(RPC, self._link_up())
            case _:
                return super().receive(message)
        return None

    def _link_up(self) -> LinkUp:
        timeout = None if self.endpoint is None else self.endpoint.message_timeout
        return LinkUp(self.generation, timeout)

    def is_up(self) -> bool:
        return self.connection is not None

    # -- connection lifecycle ------------------------------------------------

    def _target(self) -> str:
        cfg = self.ctx.config
        if self.endpoints is not None:
            self.endpoint = self.endpoints.current()
            return station_url(
                self.endpoint.csms_url, cfg.charge_point_id, self.endpoint.security_profile
            )
        profile = int(self.ctx.setting(Setting.SECURITY_PROFILE, 0))
        return station_url(cfg.csms_url, cfg.charge_point_id, profile)

    def _security_profile(self) -> int:
        if self.endpoint is not None:
            return self.endpoint.security_profile
        return int(self.ctx.setting(Setting.SECURITY_PROFILE, 0))

    def _attempt(self) -> None:
        self.generation += 1
        # The profile may have changed since the last attempt (ws:// or wss://).
        self.url = self._target()
        threading.Thread(
            target=self._run,
            args=(self.generation, self.url),
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
            moved = self.endpoints.failed() if self.endpoints is not None else None
            if moved is not None:
                self.log.warning(
                    "%s failed; moving to %s",
                    self.endpoint.describe() if self.endpoint else self.url,
                    moved.describe(),
                )
        delay = self.backoff.delay(self.failures, self.ctx.rng.random())
        self.log.info(
            "connection to %s lost or refused (%s); retry in %.1f s", self.url, reason, delay
        )
        self.ctx.call_later(delay, self.actor_ref, _Reconnect(self.generation))
        # Published after the retry is armed, so a waiter may move time at once.
        self.ctx.bus.publish(
            LinkChanged(False, self.url, reason, delay)
            if was_up
            else ConnectFailed(self.url, reason, delay)
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
        self._log_closed(connection, reason)
        self._attempt()

    def _log_closed(self, connection: ClientConnection, why: str, url: str = "") -> None:
        # The actor walked away (or the tree is about to change): the I/O
        # thread's account after the fact would come too late for a writer
        # that the teardown closes.
        self.messages.event(
            url or self.url,
            "closed",
            code=connection.close_code,
            reason=connection.close_reason,
            why=why,
        )

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

    def _options(self, url: str) -> dict[str, Any]:
        """connect()'s options for `url`; raises TlsUnavailable."""
        cfg = self.ctx.config
        # The OCPP keys come from the live settings: the CSMS may have changed them.
        ping = float(self.ctx.setting(Setting.WEBSOCKET_PING_INTERVAL, 0))
        profile = self._security_profile()
        headers = {}
        if profile in (1, 2):
            key = self.ctx.setting(Setting.BASIC_AUTH_PASSWORD, "")
            user_pass = f"{cfg.charge_point_id}:{key}"
            token = base64.b64encode(user_pass.encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        tls: dict[str, Any] = {}
        if urllib.parse.urlsplit(url).scheme.lower() == "wss":
            # Read now, not when the link started: a certificate installed or
            # renewed since is used from this connection on.
            tls["ssl"] = tls_context(self.ctx.tls.current, profile, self.ctx.data_dir)
        return {
            **tls,
            "subprotocols": list(cfg.ocpp_versions),
            "additional_headers": headers,
            "open_timeout": float(cfg.value("Internal", "ConnectTimeout")),
            "ping_interval": ping or None,
            "ping_timeout": float(cfg.value("Internal", "WebsocketPongTimeout")) if ping else None,
            "close_timeout": 2,
            "proxy": None,  # a charger talks to its CSMS directly, whatever the environment says
            "compression": None,
            "user_agent_header": "ocppstation",
            "logger": _WEBSOCKETS_LOG,
        }

    def _run(self, generation: int, url: str) -> None:
        """Runs on the I/O thread: connect, then read until the connection ends."""
        me = self.actor_ref

        def say(message: object) -> bool:
            try:
                me.tell(message)
            except pykka.ActorDeadError:
                return False  # the actor crashed or stopped; its successor dials anew
            return True

        try:
            options = self._options(url)
        except TlsUnavailable as exc:
            # Not a network problem: say so loudly, then retry like any failure
            # (the security actor may install what is missing meanwhile).
            self.log.warning("cannot connect to %s: %s", url, exc)
            self.messages.event(url, "failed", reason=str(exc))
            say(_Closed(generation, f"cannot connect: {exc}"))
            return
        event = None
        self.messages.event(
            url,
            "connecting",
            subprotocols=options["subprotocols"],
            headers=options["additional_headers"],
        )
        try:
            # The context manager owns the connection for the thread's life.
            with connect(url, **options) as connection:
                reason = self._serve(generation, connection, say, url)
            # Else it is logged already (_log_closed).
            if generation == self.generation and not reason.startswith(_CHOSE):
                self.messages.event(
                    url,
                    "closed",
                    code=connection.close_code,
                    reason=connection.close_reason,
                    why=reason,
                )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError, ConnectionClosed) as exc:
            # A refused certificate is an ssl.SSLError, which is an OSError. A
            # server that ends TLS after its handshake (TLS 1.3 checks the client
            # certificate then) closes the connection under the HTTP upgrade.
            reason = f"connect failed: {exc}"
            event = tls_security_event(exc)
        except Exception as exc:
            # Anything else escaping this thread would leave the link dead for
            # good, with no retry; log it and retry like any failure.
            self.log.exception("connection attempt to %s failed", url)
            reason = f"connect failed: {exc!r}"
        if reason.startswith("connect failed"):
            self.messages.event(url, "failed", reason=reason, security_event=event)
        if reason:
            say(_Closed(generation, reason, event))

    def _serve(
        self,
        generation: int,
        connection: ClientConnection,
        say: Callable[[object], bool],
        url: str = "",
    ) -> str:
        """Read frames until the connection ends; the reason, or "" if we walked away."""
        self.messages.event(url, "connected", subprotocol=connection.subprotocol)
        if connection.subprotocol is None:
            # Without an agreed OCPP version neither side knows the message set.
            connection.close(code=1002, reason="no OCPP subprotocol agreed")
            return "the CSMS agreed no OCPP subprotocol"
        agreed = OcppVersion(connection.subprotocol)
        if agreed is not self.ctx.config.ocpp_version:
            # Offered, so the station speaks it too, with another tree: the
            # Station builds that one, which connects again.
            connection.close(code=1000, reason="switching OCPP version")
            self.log.info("the CSMS chose %s: switching to it", agreed.value)
            self._log_closed(connection, f"{_CHOSE} {agreed.value}", url)
            self.ctx.bus.publish(VersionChosen(agreed))
            return f"{_CHOSE} {agreed.value}"
        if not say(_Opened(generation, connection)):
            return ""
        # Frames read and not yet handled by rpc: past this many the thread
        # stops reading, and a flooding CSMS meets TCP's flow control instead
        # of our memory (websockets itself buffers only a few frames).
        credit = threading.BoundedSemaphore(FRAMES_IN_FLIGHT)
        try:
            while True:
                while not credit.acquire(timeout=1.0):
                    if generation != self.generation:
                        return ""  # walked away from this connection meanwhile
                text = connection.recv()
                if isinstance(text, bytes):
                    text = text.decode("utf-8", errors="replace")
                self.messages.frame("in", url, text)
                # Through the actor, not straight to rpc: that keeps every
                # frame behind the LinkUp that the actor sends on _Opened.
                if not say(FrameIn(generation, text, credit)):
                    return ""
        except ConnectionClosed as exc:
            return f"closed ({exc})"
        except OSError as exc:
            return f"socket error ({exc})"
