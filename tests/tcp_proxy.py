"""A TCP proxy on 127.0.0.1 that can turn the connections through it into a black hole.

Why it exists: a link that dies without a word (a NAT entry that expired, a cable
pulled somewhere upstream) sends neither a FIN nor a RST, so the station's socket
stays open and only the websocket keepalive can notice. Closing or aborting a
socket at either end cannot show that; a proxy in the middle that stops passing
bytes while keeping both sockets open can. Standard library only: one thread
accepts, two per connection copy bytes, one for each direction.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
from collections.abc import Callable
from types import TracebackType


class _Pair:
    """One proxied connection: the client's socket and ours to the target."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.frozen = threading.Event()

    def shutdown(self) -> None:
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
            except OSError:
                pass

    def close(self) -> None:
        self.client.close()
        self.upstream.close()


class TcpProxy:
    """Forward 127.0.0.1:`port` to `target_host`:`target_port`, until `freeze()`.

    `freeze()` affects only the connections open at the time: from then on their
    bytes are swallowed in both directions (an end's FIN too) and nothing is
    closed. Connections made later are forwarded normally.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # how often the accept loop looks at _closing
        self.port: int = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._threads: list[threading.Thread] = []
        self._start(self._accept_loop, "tcp-proxy-accept")

    @property
    def connections(self) -> int:
        """How many connections the proxy has accepted so far."""
        with self._lock:
            return len(self._pairs)

    def url_for(self, url: str) -> str:
        """`url` (ws://host:port/...) with its host and port replaced by the proxy's."""
        parts = urllib.parse.urlsplit(url)
        return parts._replace(netloc=f"127.0.0.1:{self.port}").geturl()

    def freeze(self) -> None:
        """Black-hole every connection open now; later ones pass normally."""
        with self._lock:
            for pair in self._pairs:
                pair.frozen.set()

    def close(self, timeout: float = 5.0) -> None:
        """Cut every connection and stop every thread (each joined within `timeout`)."""
        self._closing.set()
        with self._lock:
            pairs, threads = list(self._pairs), list(self._threads)
        for pair in pairs:
            pair.shutdown()
        for thread in threads:
            thread.join(timeout)
        for pair in pairs:
            pair.close()
        self._listener.close()
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            raise RuntimeError(f"proxy threads did not stop: {stuck}")

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- threads

    def _start(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # the target is down: refuse, as it would
                continue
            upstream.settimeout(None)
            pair = _Pair(client, upstream)
            with self._lock:
                if self._closing.is_set():
                    pair.close()
                    return
                self._pairs.append(pair)
                n = len(self._pairs)
            self._start(self._pump, f"tcp-proxy-{n}-up", pair, client, upstream)
            self._start(self._pump, f"tcp-proxy-{n}-down", pair, upstream, client)

    def _pump(self, pair: _Pair, source: socket.socket, sink: socket.socket) -> None:
        """Copy `source` to `sink` until EOF or an error; once frozen, swallow instead."""
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if self._closing.is_set():
                return
            if pair.frozen.is_set():
                if not data:
                    return  # swallow the FIN too: the other end must not learn of it
                continue
            try:
                if data:
                    sink.sendall(data)
                else:
                    sink.shutdown(socket.SHUT_WR)  # pass the end of stream on
                    return
            except OSError:
                pair.shutdown()
                return
