"""Real file servers on 127.0.0.1 for the firmware and diagnostics tests.

- `HttpFileServer`: the standard library's http.server in a thread, HTTP or
  HTTPS (with `make_tls`'s CA and server certificate, made with
  cryptography), serving GET from `files` and storing PUT in `uploads`.
  It can be told to fail (`fail`: statuses to answer first, per path;
  `put_status`: answer every PUT so) and to hold its answers until
  `release` is set, so a test can look at the station mid-transfer.
- `FtpServer`: pyftpdlib, with a user who may write, one who may only read,
  and anonymous read-only access.
- `refused_url`: a port nothing listens on.

Nothing here sleeps: waiters block on conditions.
"""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.pki import Ca

# -- TLS ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca_file: Path  # what the station must trust
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_tls(folder: Path, ca_name: str = "ocppstation test CA") -> Tls:
    """A fresh CA and a server certificate for 127.0.0.1 and localhost, signed by it."""
    ca = Ca(ca_name)
    cert_file, key_file = ca.server().write(folder, "server")
    return Tls(ca.write(folder), cert_file, key_file)


# -- HTTP(S) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]


class HttpFileServer:
    def __init__(self, tls: Tls | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.fail: dict[str, list[int]] = {}
        self.put_status: int | None = None
        self.release = threading.Event()
        self.release.set()
        self.requests: list[Request] = []
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            self._server.socket = tls.server_context().wrap_socket(
                self._server.socket, server_side=True
            )
            self.scheme = "https"
        # A short poll: shutdown() waits for it.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="test-http", daemon=True
        )

    def __enter__(self) -> HttpFileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def wait_requests(self, count: int, method: str | None = None, timeout: float = 5.0) -> None:
        def enough() -> bool:
            return len([r for r in self.requests if method in (None, r.method)]) >= count

        with self._cond:
            if not self._cond.wait_for(enough, timeout):
                raise TimeoutError(f"{count} {method or ''} requests expected: {self.requests}")

    def wait_upload(self, path: str, timeout: float = 5.0) -> bytes:
        """The body PUT at `path`, once it has been stored."""
        with self._cond:
            if not self._cond.wait_for(lambda: path in self.uploads, timeout):
                raise TimeoutError(f"nothing uploaded to {path}: {list(self.uploads)}")
            return self.uploads[path]

    def _record(self, request: Request) -> None:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        files = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _failing(self) -> int | None:
                with files._cond:
                    pending = files.fail.get(self.path)
                    return pending.pop(0) if pending else None

            def do_GET(self) -> None:
                files._record(Request("GET", self.path, dict(self.headers)))
                files.release.wait(30)
                status = self._failing()
                if status is not None:
                    self._answer(status)
                elif self.path in files.files:
                    self._answer(200, files.files[self.path])
                else:
                    self._answer(404)

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                files._record(Request("PUT", self.path, dict(self.headers)))
                files.release.wait(30)
                status = self._failing() or files.put_status
                if status is not None:
                    self._answer(status)
                    return
                with files._cond:
                    files.uploads[self.path] = body
                    files._cond.notify_all()
                self._answer(201)

        return Handler


# -- FTP ---------------------------------------------------------------------------------


class FtpServer:
    """pyftpdlib on 127.0.0.1: `station`/`secret` may write, `reader`/`secret` and
    anonymous may only read; all see `root`."""

    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():
            # pyftpdlib is built on asyncore/asynchat, which Python 3.11 calls deprecated.
            warnings.simplefilter("ignore", DeprecationWarning)
            from pyftpdlib.authorizers import DummyAuthorizer
            from pyftpdlib.handlers import FTPHandler
            from pyftpdlib.servers import FTPServer

        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        authorizer = DummyAuthorizer()
        authorizer.add_user("station", "secret", str(root), perm="elradfmw")
        authorizer.add_user("reader", "secret", str(root), perm="elr")
        authorizer.add_anonymous(str(root))
        # No 3 s penalty for a wrong password: the tests try one on purpose.
        handler = type(
            "Handler", (FTPHandler,), {"authorizer": authorizer, "auth_failed_timeout": 0}
        )
        self._server = FTPServer(("127.0.0.1", 0), handler)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-ftp", daemon=True)

    def _serve(self) -> None:
        # One poll round per call, so that the stop flag is seen; closed in this thread.
        while not self._stop.is_set():
            self._server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self._server.close_all()

    def __enter__(self) -> FtpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._server.address[1])

    def url(self, path: str = "/", user: str | None = "station") -> str:
        credentials = "" if user is None else f"{user}:secret@"
        return f"ftp://{credentials}127.0.0.1:{self.port}{path}"


def refused_url(scheme: str = "http", path: str = "/firmware.bin") -> str:
    """A URL on a port of 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}{path}"
