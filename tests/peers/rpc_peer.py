"""The second, independent CSMS peer: the npm package `ocpp-rpc` in strict mode.

`server.js` (beside this file, in `ocpp_rpc/`) runs under node as a subprocess and speaks
JSON lines over stdio; this class turns that into the same test-facing interface as
`ocppstation.tools.csms.DevCsms` (`ocppstation.tools.peer.CsmsPeer`), so tests can be
parametrised over both.

ocpp-rpc validates every payload both ways against its own copy of the OCPP 1.6 and 2.0.1
schemas (ajv, formats included). A station CALL that fails gets a CALLERROR (in `log`);
every failure is also kept in `validation_failures`, which a test can assert is empty.

`subprotocols` is the server's preference order (default `("ocpp1.6",)`); a station that
offers none of them is refused. On an `ocpp2.0.1` connection a re-sent TransactionEvent
is marked `repeat_of` by the same rule as the dev CSMS's (1.6 messages never are here).

Needs `node` on PATH and `npm ci --prefix tests/peers/ocpp_rpc` (or `npm install`) run
once; `unavailable_reason()` says what is missing so tests can skip cleanly.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import itertools
import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ocppstation.tools.csms import SeenMessages
from ocppstation.tools.csms_v201 import repeat_key_v201
from ocppstation.tools.peer import (
    NO_REPLY,
    CallErrorReply,
    CallErrorResponse,
    Direction,
    InvalidResponse,
    LogShortcuts,
    MessageLog,
    PeerError,
    ScriptedReply,
)

PEER_DIR = Path(__file__).resolve().parent / "ocpp_rpc"
SERVER_JS = PEER_DIR / "server.js"
INSTALL_HINT = "run `npm install --prefix tests/peers/ocpp_rpc` (CI: `npm ci --prefix ...`)"


class PeerUnavailable(RuntimeError):
    """node or the ocpp-rpc package is missing on this machine."""


def unavailable_reason(node: str = "node") -> str | None:
    """Why the ocpp-rpc peer cannot run here, or None if it can."""
    if shutil.which(node) is None:
        return f"`{node}` is not on PATH; the ocpp-rpc peer needs Node.js >= 18"
    if not (PEER_DIR / "node_modules" / "ocpp-rpc" / "package.json").is_file():
        return f"ocpp-rpc is not installed in {PEER_DIR}: {INSTALL_HINT}"
    return None


class OcppRpcPeer(LogShortcuts):
    """ocpp-rpc strict-mode CSMS in a node subprocess; see the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        boot_status: str = "Accepted",
        heartbeat_interval: int = 300,
        password: str | None = None,
        known_tags: dict[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
        node: str = "node",
        subprotocols: Sequence[str] = ("ocpp1.6",),
    ) -> None:
        if not subprotocols:
            # ocpp-rpc's strict mode needs a subprotocol to know which schemas apply.
            raise ValueError("OcppRpcPeer needs at least one subprotocol")
        self.host = host
        self._port = port
        self._config: dict[str, Any] = {
            "bootStatus": boot_status,
            "heartbeatInterval": heartbeat_interval,
            "password": password,
            "knownTags": dict(known_tags or {}),
            "protocols": list(subprotocols),
        }
        self._node = node
        self._echo = echo
        self._log = MessageLog(echo)
        # Kept across stop()/start(), as the dev CSMS keeps its own.
        self._seen = SeenMessages()
        self._failures: list[dict[str, Any]] = []
        self._bad_messages: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future[dict[str, Any]]] = {}
        self._proc: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []
        self._stderr: collections.deque[str] = collections.deque(maxlen=50)
        self._listening: concurrent.futures.Future[int] | None = None

    # -- lifecycle

    @property
    def validation_failures(self) -> list[dict[str, Any]]:
        """Every strict-mode schema failure ocpp-rpc reported, either direction."""
        with self._lock:
            return list(self._failures)

    def wait_validation_failures(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until ocpp-rpc reported `count` failures; its stdout may trail the wire."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._failures) >= count, timeout):
                raise TimeoutError(f"ocpp-rpc reported {len(self._failures)} of {count} failures")
            return list(self._failures)

    @property
    def bad_messages(self) -> list[dict[str, Any]]:
        """Frames ocpp-rpc found structurally non-conforming (not OCPP-J at all)."""
        with self._lock:
            return list(self._bad_messages)

    def start(self, timeout: float = 15.0) -> None:
        """Start node and return once it listens. After stop(), reuses the same port."""
        if self._proc is not None:
            raise RuntimeError("OcppRpcPeer is already running")
        reason = unavailable_reason(self._node)
        if reason is not None:
            raise PeerUnavailable(reason)
        config = dict(self._config, host=self.host, port=self._port)
        proc = subprocess.Popen(
            [self._node, str(SERVER_JS), json.dumps(config)],
            cwd=PEER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        assert proc.stdout is not None and proc.stderr is not None
        self._proc = proc
        self._listening = concurrent.futures.Future()
        self._stderr.clear()
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        try:
            self._port = self._listening.result(timeout)
        except BaseException:
            self._kill()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Close every connection with a closing handshake and end the node process."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(PeerError, TimeoutError, OSError):
                self._command({"cmd": "quit"}, timeout)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        self._kill()

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            # server.js exits by itself when its stdin closes.
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # The readers end at EOF now that the process is gone; close only after them.
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        self._proc = None
        self._threads = []

    def __enter__(self) -> OcppRpcPeer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the subprocess

    def _read_stdout(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                try:
                    event = json.loads(line)
                except ValueError:
                    self._stderr.append("stdout: " + line.rstrip())
                    continue
                self._dispatch(event)
        finally:
            self._on_exit()

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line.rstrip())

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        cp_id = str(event.get("cp_id") or "")
        if kind == "message":
            direction: Direction = "in" if event["direction"] == "in" else "out"
            fields: dict[str, Any] = {
                "action": event.get("action"),
                "unique_id": event.get("unique_id"),
                "payload": event.get("payload"),
                "text": event.get("text", ""),
                "error_code": event.get("error_code"),
                "error_description": event.get("error_description"),
            }
            key = None
            if (
                direction == "in"
                and event["kind"] == "call"
                and event.get("subprotocol") == "ocpp2.0.1"
                and isinstance(fields["action"], str)
            ):
                key = repeat_key_v201(fields["action"], fields["payload"])
            if key is not None:
                self._seen.record(self._log, cp_id, key, fields)
            else:
                self._log.record(cp_id, direction, event["kind"], **fields)
        elif kind == "reply":
            ident = event.get("id")
            with self._lock:
                future = self._pending.pop(ident, None) if isinstance(ident, int) else None
            if future is not None:
                future.set_result(event)
        elif kind == "connect":
            self._log.record(
                cp_id,
                "in",
                "connect",
                payload={
                    "path": event.get("path"),
                    "subprotocol": event.get("subprotocol"),
                    "authorization": event.get("authorization"),
                },
            )
        elif kind == "disconnect":
            self._log.record(
                cp_id,
                "in",
                "disconnect",
                payload={"code": event.get("code"), "reason": event.get("reason")},
            )
        elif kind == "rejected":
            self._log.record(
                cp_id,
                "in",
                "rejected",
                payload={"status": event.get("status"), "reason": event.get("reason")},
            )
        elif kind == "validation":
            with self._lock:
                self._failures.append(event)
                self._lock.notify_all()
            if self._echo is not None:
                self._echo(f"{cp_id} STRICT-MODE FAILURE {json.dumps(event)}")
        elif kind == "bad_message":
            with self._lock:
                self._bad_messages.append(event)
        elif kind == "listening":
            if self._listening is not None and not self._listening.done():
                self._listening.set_result(int(event["port"]))
        elif kind == "fatal":
            self._stderr.append(str(event.get("error")))

    def _on_exit(self) -> None:
        error = PeerError("ocpp-rpc peer exited; its stderr:\n" + self._stderr_tail())
        if self._listening is not None and not self._listening.done():
            self._listening.set_exception(error)
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(error)

    def _stderr_tail(self) -> str:
        return "\n".join(self._stderr) or "(empty)"

    def _command(self, cmd: dict[str, Any], timeout: float) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise RuntimeError("OcppRpcPeer is not running")
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        with self._lock:
            ident = next(self._ids)
            self._pending[ident] = future
            try:
                proc.stdin.write(json.dumps(dict(cmd, id=ident)) + "\n")
                proc.stdin.flush()
            except (OSError, ValueError) as e:
                self._pending.pop(ident, None)
                raise PeerError(
                    f"ocpp-rpc peer is gone ({e}); its stderr:\n{self._stderr_tail()}"
                ) from e
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            with self._lock:
                self._pending.pop(ident, None)
            raise TimeoutError(f"ocpp-rpc peer did not answer {cmd['cmd']} in {timeout}s") from None

    def _checked(self, reply: dict[str, Any], action: str = "") -> Any:
        if reply.get("ok"):
            return reply.get("payload")
        error: dict[str, Any] = reply.get("error") or {}
        kind, message = error.get("type"), error.get("message", "")
        if kind == "callerror":
            code = str(error.get("code"))
            # ocpp-rpc folds codes it does not know into GenericError; the wire has the truth.
            wire = [
                e
                for e in self._log.entries()
                if e.kind == "error" and e.unique_id == error.get("message_id")
            ]
            if wire and wire[-1].error_code:
                code = wire[-1].error_code
                message = wire[-1].error_description or message
            raise CallErrorResponse(action, code, message, error.get("details"))
        if kind == "invalid_response":
            raise InvalidResponse(action, message, error.get("payload"))
        if kind == "invalid_request":
            # As DevCsms words it: "ocpp2.0.1" -> "OCPP 2.0.1".
            version = str(error.get("protocol") or "ocpp1.6").removeprefix("ocpp")
            raise ValueError(f"{action} payload is not valid OCPP {version} (ocpp-rpc): {message}")
        if kind == "timeout":
            raise TimeoutError(f"station did not answer {action}: {message}")
        if kind in ("not_connected", "disconnected"):
            raise ConnectionError(message)
        raise PeerError(f"ocpp-rpc peer: {kind}: {message}")

    # -- settings

    def set_boot(self, status: str, interval: int | None = None) -> None:
        self._checked(self._command({"cmd": "set_boot", "status": status, "interval": interval}, 5))

    def set_reply(self, action: str, reply: ScriptedReply | None) -> None:
        """Script the answer to a station-initiated `action` (None restores the default).

        Unlike DevCsms, a scripted CALLRESULT still goes through strict mode: an invalid
        one is replaced by an InternalError CALLERROR.
        """
        wire: dict[str, Any] | None
        if reply is None:
            wire = None
        elif reply is NO_REPLY:
            wire = {"noreply": True}
        elif isinstance(reply, CallErrorReply):
            wire = {
                "error": {
                    "code": reply.code,
                    "description": reply.description,
                    "details": reply.details,
                }
            }
        elif isinstance(reply, dict):
            wire = {"result": reply}
        else:
            raise TypeError(f"unsupported scripted reply {reply!r}")
        self._checked(self._command({"cmd": "set_reply", "action": action, "reply": wire}, 5))

    # -- test-facing interface (CsmsPeer)

    def call(
        self, cp_id: str, action: str, payload: dict[str, Any], timeout: float = 10.0
    ) -> dict[str, Any]:
        """As DevCsms.call; the request and the answer are both checked by ocpp-rpc."""
        cmd = {
            "cmd": "call",
            "cp_id": cp_id,
            "action": action,
            "payload": payload,
            "timeout_ms": int(timeout * 1000),
        }
        answer: dict[str, Any] = self._checked(self._command(cmd, timeout + 5), action)
        return answer

    def send_raw(self, cp_id: str, text: str) -> None:
        self._checked(self._command({"cmd": "raw", "cp_id": cp_id, "text": text}, 5))

    def drop(self, cp_id: str, timeout: float = 5.0) -> None:
        """Terminate the station's socket without a closing handshake; returns after the
        disconnect is in `log`."""
        self._checked(self._command({"cmd": "drop", "cp_id": cp_id}, timeout))
