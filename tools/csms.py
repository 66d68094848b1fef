"""Dev CSMS: an OCPP 1.6J and 2.0.1 central system for tests, demos and manual poking.

Built on the PyPI `ocpp` package (its `ChargePoint`, `@on` routing, `Call` framing and
schema validation) and an asyncio `websockets` server, run on a private event loop in a
background thread so that synchronous test code can drive it.

`subprotocols` (default `("ocpp1.6",)`) lists what it agrees, in order of preference;
each station is served in the version its handshake settled on: the 1.6 session here,
the 2.0.1 one in `ocppstation.tools.csms_v201`. Both share the recording, scripted
replies, repeat detection and CSMS-initiated calls below; `call()` payloads are checked
against the agreed version's schemas.

Every frame is recorded at the websocket level, before the `ocpp` package parses it,
so malformed frames and CALLERRORs appear in `log` exactly as they crossed the wire.

Transaction messages are delivered at least once: a station that dies between our
answer and its own bookkeeping sends the same message again. Like a real CSMS, this
one recognises such repeats: each 1.6 StartTransaction, StopTransaction and MeterValues
whose content it has seen before from that station (in 2.0.1: each TransactionEvent
whose transactionId and seqNo it has seen) is logged with `repeat_of` (the seq of the
first), and a repeated StartTransaction (same connectorId, idTag,
meterStart and timestamp) gets the transactionId it got the first time, unless the
CSMS was made with `dedupe=False`.

Security profiles (OCPP 1.6 Security Whitepaper): `password` makes it check HTTP
Basic auth (profiles 1 and 2); `ssl`, a server context such as
`server_ssl_context(cert, key)`, makes it a wss:// CSMS (profile 2), and with
`client_ca` that context requires a client certificate signed by that CA (profile 3).
The "connect" log entry then says which TLS version was agreed and the client
certificate's commonName.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import copy
import hmac
import itertools
import json
import logging
import ssl as _ssl
import sys
import threading
import uuid
from collections.abc import Callable, Coroutine, Hashable, Iterator, Sequence
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from ocpp.charge_point import ChargePoint as _BaseChargePoint
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, validate_payload
from ocpp.routing import on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call_result as result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import (
    AuthorizationStatus,
    DataTransferStatus,
    GenericStatus,
    RegistrationStatus,
)
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ocppstation.protocol.v16 import california_pricing as pricing
from ocppstation.protocol.v16 import plug_and_charge as pnc
from ocppstation.tools.csms_v201 import (
    CsmsSettings,
    StationAnswersV201,
    now_z,
    repeat_key_v201,
)
from ocppstation.tools.peer import (
    NO_REPLY,
    CallErrorReply,
    CallErrorResponse,
    CsmsPeer,
    Direction,
    InvalidResponse,
    LateReply,
    LogEntry,
    LogShortcuts,
    MessageLog,
    PeerError,
    ScriptedReply,
    ThenCall,
    classify,
)

__all__ = [
    "NO_REPLY",
    "CallErrorReply",
    "CallErrorResponse",
    "CsmsPeer",
    "DevCsms",
    "InvalidResponse",
    "LateReply",
    "LogEntry",
    "MessageLog",
    "ThenCall",
    "main_csms",
    "server_ssl_context",
]

OCPP_VERSION = "1.6"
# Every version a DevCsms session exists for, as the CLI names them.
OCPP_VERSIONS = ("1.6", "2.0.1")
BOOT_STATUSES = ("Accepted", "Pending", "Rejected")
TRANSACTION_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})

# Which message a station CALL is, for repeat detection: (action, payload) -> a key
# equal for a re-send of the same message, or None for a CALL that is never a repeat.
RepeatKey = Callable[[str, Any], Hashable | None]

# A scripted reply may also be computed from the station's CALL payload; returning None
# falls back to the default answer.
ReplyFactory = Callable[[str, Any], ScriptedReply | None]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


def _cp_id_from_path(path: str) -> str:
    return unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])


def server_ssl_context(
    cert_file: str | Path, key_file: str | Path, client_ca: str | Path | None = None
) -> _ssl.SSLContext:
    """A TLS 1.2+ server context for `DevCsms(ssl=...)`: the certificate chain
    (leaf first) and its key, and with `client_ca` a client certificate signed
    by that CA is required (security profile 3)."""
    context = _ssl.SSLContext(_ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca is not None:
        context.verify_mode = _ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=client_ca)
    return context


def _tls_facts(ws: ServerConnection) -> dict[str, Any]:
    """For the connect entry: the TLS version and the client certificate's CN."""
    transport = ws.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return {}
    common_name = None
    peer = ssl_object.getpeercert()
    for rdn in (peer or {}).get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                common_name = value
    return {"tls": ssl_object.version(), "client_cn": common_name}


def _basic_auth_ok(header: str | None, cp_id: str, password: bytes) -> bool:
    if not header:
        return False
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    # OCPP fixes the user name to the charge point id, so match "<id>:" as a prefix
    # rather than splitting on ":" (the security whitepaper allows binary keys).
    prefix = cp_id.encode() + b":"
    return decoded.startswith(prefix) and hmac.compare_digest(decoded[len(prefix) :], password)


class _RecordingConnection:
    """The `connection` the `ocpp` package talks to: a websocket that logs every frame.

    Results carry no action on the wire, so the CALLs in flight each way are remembered
    to name the results that answer them.
    """

    def __init__(
        self,
        ws: ServerConnection,
        cp_id: str,
        log: MessageLog,
        seen: SeenMessages,
        repeat_key: RepeatKey,
    ) -> None:
        self.ws = ws
        self.cp_id = cp_id
        self._log = log
        self._seen = seen
        self._repeat_key = repeat_key
        self._open_calls: dict[tuple[str, str], str] = {}

    async def recv(self) -> str:
        while True:
            data = await self.ws.recv()
            if isinstance(data, bytes):
                # OCPP-J is text frames only; record the violation and do not route it.
                self._log.record(
                    self.cp_id,
                    "in",
                    "malformed",
                    payload={"binary_frame_bytes": len(data)},
                    text=data.decode("utf-8", "replace"),
                )
                continue
            self._record("in", data)
            return data

    async def send(self, text: str) -> None:
        # Recorded before the write so that the station's answer, which the reader task
        # may log while this write is still draining, never precedes it in the log.
        self._record("out", text)
        await self.ws.send(text)

    def abort(self) -> None:
        """Cut the TCP connection without a closing handshake, like a network loss."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    def _record(self, direction: Direction, text: str) -> None:
        kind, action, unique_id, payload, code, desc = classify(text)
        if kind == "call" and unique_id is not None and action is not None:
            self._open_calls[(direction, unique_id)] = action
        elif kind in ("result", "error") and unique_id is not None:
            answered = "out" if direction == "in" else "in"
            action = self._open_calls.pop((answered, unique_id), None)
        fields: dict[str, Any] = {
            "action": action,
            "unique_id": unique_id,
            "payload": payload,
            "text": text,
            "error_code": code,
            "error_description": desc,
        }
        key = None
        if direction == "in" and kind == "call" and action is not None:
            key = self._repeat_key(action, payload)
        if key is not None:
            self._seen.record(self._log, self.cp_id, key, fields)
        else:
            self._log.record(self.cp_id, direction, kind, **fields)


def _repeat_key_v16(action: str, payload: Any) -> Hashable | None:
    # Same content, not same unique id: a station restarted after a crash sends
    # its queued message again under a fresh id.
    if action not in TRANSACTION_ACTIONS:
        return None
    return (action, json.dumps(payload, sort_keys=True, separators=(",", ":")))


class SeenMessages:
    """The transaction messages each station sent, to mark the ones sent again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: dict[tuple[str, Hashable], int] = {}

    def record(
        self, log: MessageLog, cp_id: str, key: Hashable, fields: dict[str, Any]
    ) -> LogEntry:
        """Log a station CALL whose `key` (see `RepeatKey`) says which message it is."""
        scoped = (cp_id, key)
        # Held across the record so two links of one station cannot both be "first".
        with self._lock:
            entry = log.record(cp_id, "in", "call", repeat_of=self._first.get(scoped), **fields)
            self._first.setdefault(scoped, entry.seq)
        return entry


class _Session(_BaseChargePoint):
    """One connected station, from the CSMS side, in any OCPP version: scripted
    answers, CSMS-initiated calls and the connection's bookkeeping.

    A version's session class mixes this in before that version's `ChargePoint`,
    which brings the framing and schema version, and adds the `@on` default answers.
    """

    # The schema version for validate_payload, set by the version's ChargePoint.
    _ocpp_version: str

    def __init__(self, cp_id: str, conn: _RecordingConnection, csms: DevCsms) -> None:
        super().__init__(cp_id, conn, response_timeout=30, logger=_log)
        self.conn = conn
        self.csms = csms
        self.closed = asyncio.Event()

    async def start(self) -> None:
        """Read and route the station's frames until the connection ends.

        Unlike the package's loop, an answer that cannot go out (the station
        closed meanwhile) does not end the reading: frames the station sent
        before its close, an answer to our CALL say, are still read and handled.
        """
        while True:
            message = await self._connection.recv()
            self.logger.info("%s: receive message %s", self.id, message)
            try:
                await self.route_message(message)
            except ConnectionClosed:
                _log.info("%s: an answer could not go out; reading what is left", self.id)

    @staticmethod
    def repeat_key(action: str, payload: Any) -> Hashable | None:
        """See `RepeatKey`; each version says which of its messages may be re-sent."""
        raise NotImplementedError

    async def route_message(self, raw_msg: str) -> None:
        kind, action, unique_id, payload, _, _ = classify(raw_msg)
        if kind == "malformed":
            # Already in the log as received; the package would only log a traceback.
            return
        if kind == "call" and action is not None:
            try:
                reply = self.csms._scripted_reply(self.id, action, payload)
            except Exception as e:
                # A broken reply factory is a test bug: answer so the station is not left
                # hanging, and keep the connection (the traceback goes to the logger).
                _log.exception("scripted reply for %s failed", action)
                reply = CallErrorReply("InternalError", f"scripted reply failed: {e!r}")
            if isinstance(reply, LateReply):
                await asyncio.sleep(reply.after)
                reply = reply.reply
            if reply is NO_REPLY:
                return
            if isinstance(reply, CallErrorReply):
                frame: list[Any] = [4, unique_id, reply.code, reply.description, reply.details]
                await self._send(json.dumps(frame, separators=(",", ":")))
                return
            if isinstance(reply, dict):
                await self._send(json.dumps([3, unique_id, reply], separators=(",", ":")))
                return
            if isinstance(reply, ThenCall):
                payload = reply.payload(reply.reply) if callable(reply.payload) else reply.payload
                compact = (",", ":")
                await self._send(json.dumps([3, unique_id, reply.reply], separators=compact))
                call = [2, reply.unique_id, reply.action, payload]
                await self._send(json.dumps(call, separators=compact))
                for action, body, call_id in reply.also:
                    await self._send(json.dumps([2, call_id, action, body], separators=compact))
                return
        await super().route_message(raw_msg)

    async def call_raw(
        self, action: str, payload: dict[str, Any], timeout: float, validate: bool
    ) -> dict[str, Any]:
        """A CSMS-initiated CALL with the payload sent verbatim (keys as on the wire).

        The package's own `call()` round-trips keys through snake_case, which is lossy for
        a few OCPP names; here only its framing, validation and response queue are used.
        """
        unique_id = str(uuid.uuid4())
        if validate:
            # Validate a copy: the package re-parses some payloads with Decimal in place.
            try:
                call = Call(unique_id, action, copy.deepcopy(payload))
                await validate_payload(call, self._ocpp_version)
            except OCPPError as e:
                raise ValueError(
                    f"{action} payload is not valid OCPP {self._ocpp_version}: {e}"
                ) from e
        frame = json.dumps([2, unique_id, action, payload], separators=(",", ":"))
        async with self._call_lock:
            await self._send(frame)
            response = await self._await_response(action, unique_id, timeout)
        if isinstance(response, CallError):
            raise CallErrorResponse(
                action, response.error_code, response.error_description, response.error_details
            )
        if validate:
            checked = CallResult(unique_id, copy.deepcopy(response.payload), action)
            try:
                await validate_payload(checked, self._ocpp_version)
            except OCPPError as e:
                raise InvalidResponse(action, str(e), response.payload) from e
        answer: dict[str, Any] = response.payload
        return answer

    async def _await_response(
        self, action: str, unique_id: str, timeout: float
    ) -> CallResult | CallError:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError(f"{self.id} did not answer {action} within {timeout}s")
                get = asyncio.ensure_future(self._response_queue.get())
                done, _ = await asyncio.wait(
                    {get, closed}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                if get not in done:
                    get.cancel()
                    if closed in done:
                        raise ConnectionError(f"{self.id} disconnected before answering {action}")
                    continue
                response: CallResult | CallError = get.result()
                # A late answer to an earlier, timed-out call is skipped, as the package does.
                if response.unique_id == unique_id:
                    return response
        finally:
            closed.cancel()


class _StationSession(_Session, ChargePoint):
    """An OCPP 1.6 station: the default answers to its CALLs."""

    @staticmethod
    def repeat_key(action: str, payload: Any) -> Hashable | None:
        return _repeat_key_v16(action, payload)

    # Default answers to every OCPP 1.6 (and 1.6 security whitepaper) station-initiated
    # action. Handlers take **kwargs: the package passes the payload as snake_case kwargs.

    @on("Authorize")
    def on_authorize(self, id_tag: str, **_: Any) -> result.Authorize:
        return result.Authorize(id_tag_info=IdTagInfo(status=self.csms.tag_status(id_tag)))

    @on("BootNotification")
    def on_boot_notification(self, **_: Any) -> result.BootNotification:
        status, interval = self.csms.boot
        return result.BootNotification(
            current_time=now_z(), interval=interval, status=RegistrationStatus(status)
        )

    @on("DataTransfer")
    def on_data_transfer(
        self,
        vendor_id: str = "",
        message_id: str | None = None,
        data: str | None = None,
        **_: Any,
    ) -> result.DataTransfer:
        if vendor_id == pnc.VENDOR_ID:
            status, reply = self.csms.pnc_answer(message_id, data)
            return result.DataTransfer(status=DataTransferStatus(status), data=reply)
        return result.DataTransfer(status=DataTransferStatus.accepted)

    @on("DiagnosticsStatusNotification")
    def on_diagnostics_status(self, **_: Any) -> result.DiagnosticsStatusNotification:
        return result.DiagnosticsStatusNotification()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **_: Any) -> result.FirmwareStatusNotification:
        return result.FirmwareStatusNotification()

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> result.Heartbeat:
        return result.Heartbeat(current_time=now_z())

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> result.MeterValues:
        return result.MeterValues()

    @on("StartTransaction")
    def on_start_transaction(
        self, id_tag: str, connector_id: int, meter_start: int, timestamp: str, **_: Any
    ) -> result.StartTransaction:
        transaction_id = self.csms.start_transaction_id(
            self.id, connector_id, id_tag, meter_start, timestamp
        )
        return result.StartTransaction(
            transaction_id=transaction_id,
            id_tag_info=IdTagInfo(status=self.csms.tag_status(id_tag)),
        )

    @on("StatusNotification")
    def on_status_notification(self, **_: Any) -> result.StatusNotification:
        return result.StatusNotification()

    @on("StopTransaction")
    def on_stop_transaction(self, id_tag: str | None = None, **_: Any) -> result.StopTransaction:
        if id_tag is None:
            return result.StopTransaction()
        return result.StopTransaction(id_tag_info=IdTagInfo(status=self.csms.tag_status(id_tag)))

    @on("SecurityEventNotification")
    def on_security_event(self, **_: Any) -> result.SecurityEventNotification:
        return result.SecurityEventNotification()

    @on("SignCertificate")
    def on_sign_certificate(self, **_: Any) -> result.SignCertificate:
        return result.SignCertificate(status=GenericStatus.accepted)

    @on("LogStatusNotification")
    def on_log_status(self, **_: Any) -> result.LogStatusNotification:
        return result.LogStatusNotification()

    @on("SignedFirmwareStatusNotification")
    def on_signed_firmware_status(self, **_: Any) -> result.SignedFirmwareStatusNotification:
        return result.SignedFirmwareStatusNotification()


class _StationSessionV201(_Session, StationAnswersV201):
    """An OCPP 2.0.1 station: the answers of csms_v201 and the shared machinery."""

    @property
    def settings(self) -> CsmsSettings:
        return self.csms

    @staticmethod
    def repeat_key(action: str, payload: Any) -> Hashable | None:
        return repeat_key_v201(action, payload)


class DevCsms(LogShortcuts):
    """An OCPP 1.6J / 2.0.1 CSMS on 127.0.0.1 for tests; see the module docstring.

    All public methods are called from ordinary (non-asyncio) threads.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        boot_status: str = "Accepted",
        heartbeat_interval: int = 300,
        subprotocols: Sequence[str] = ("ocpp1.6",),
        password: str | bytes | None = None,
        known_tags: dict[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
        close_timeout: float = 2.0,
        dedupe: bool = True,
        ssl: _ssl.SSLContext | None = None,
    ) -> None:
        _check_boot_status(boot_status)
        self.host = host
        self._port = port
        # A server context: wss:// instead of ws:// (see server_ssl_context).
        self._ssl = ssl
        self._subprotocols = tuple(Subprotocol(p) for p in subprotocols)
        self._password = password.encode() if isinstance(password, str) else password
        # Mutable on purpose: a test may block a tag while the CSMS runs.
        self.known_tags: dict[str, str] = dict(known_tags or {})
        self._close_timeout = close_timeout
        self._settings_lock = threading.Lock()
        self._boot = (boot_status, heartbeat_interval)
        self._replies: dict[str, ScriptedReply | ReplyFactory] = {}
        # Survives stop()/start(): a restarted CSMS handing out transaction id 1 again
        # would make a station's replayed StopTransaction ambiguous in tests.
        self._transaction_ids = itertools.count(1)
        # Like the ids, kept across stop()/start(): it stands for the CSMS's database.
        self.dedupe = dedupe
        self._started: dict[tuple[str, int, str, int, str], int] = {}
        self._seen = SeenMessages()
        self._log = MessageLog(echo)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._abort_on_stop = False
        self._sessions: dict[str, _Session] = {}
        # remoteStartId and requestId of the console's 2.0.1 commands.
        self._request_ids = itertools.count(1)
        # Plug & Charge: the Authorize certificateStatus of an eMAID (else Accepted;
        # its idTokenInfo status is `known_tags`'), and the V2G CA that signs
        # the station's SignCertificate (None: signed by nobody, only Accepted).
        self.contract_status: dict[str, str] = {}
        self.v2g_signer: Callable[[str], str] | None = None

    @property
    def url(self) -> str:
        """ws://host:port, or wss://host:port with TLS; stations append "/" + their id."""
        scheme = "wss" if self._ssl is not None else "ws"
        return f"{scheme}://{self.host}:{self._port}"

    # -- lifecycle

    def start(self) -> None:
        """Listen; returns once the socket is bound. After stop(), reuses the same port."""
        if self._thread is not None:
            raise RuntimeError("DevCsms is already running")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = threading.Thread(
            target=lambda: asyncio.run(self._serve(ready)), name="dev-csms", daemon=True
        )
        thread.start()
        try:
            ready.result(timeout=10)
        except BaseException:
            thread.join(timeout=5)
            raise
        self._thread = thread

    def stop(self, *, abort: bool = False) -> None:
        """Close every connection (with a closing handshake, or cut if `abort`) and stop."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        self._abort_on_stop = abort
        loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout=self._close_timeout + 10)
        if thread.is_alive():
            raise RuntimeError("DevCsms did not stop in time")
        self._thread = self._loop = self._stopping = None

    def __enter__(self) -> DevCsms:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            server: Server = await serve(
                self._handle,
                self.host,
                self._port,
                subprotocols=list(self._subprotocols) or None,
                select_subprotocol=self._select_subprotocol,
                process_request=self._process_request,
                close_timeout=self._close_timeout,
                ssl=self._ssl,
            )
        except BaseException as e:
            ready.set_exception(e)
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._port = server.sockets[0].getsockname()[1]
        ready.set_result(None)
        await self._stopping.wait()
        if self._abort_on_stop:
            for session in list(self._sessions.values()):
                session.conn.abort()
        server.close()
        await server.wait_closed()

    # -- handshake

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        cp_id = _cp_id_from_path(request.path)
        if not cp_id:
            return self._reject(conn, cp_id, HTTPStatus.NOT_FOUND, "no charge point id in path")
        if self._password is not None and not _basic_auth_ok(
            request.headers.get("Authorization"), cp_id, self._password
        ):
            response = self._reject(conn, cp_id, HTTPStatus.UNAUTHORIZED, "bad credentials")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
            return response
        return None

    def _reject(self, conn: ServerConnection, cp_id: str, status: HTTPStatus, why: str) -> Response:
        self._log.record(cp_id, "in", "rejected", payload={"status": int(status), "reason": why})
        return conn.respond(status, why + "\n")

    def _select_subprotocol(
        self, conn: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        # With no subprotocols configured the server agrees none, whatever is offered:
        # that is how tests check that the station refuses such a server.
        if not self._subprotocols:
            return None
        for subprotocol in self._subprotocols:
            if subprotocol in offered:
                return subprotocol
        cp_id = _cp_id_from_path(conn.request.path) if conn.request else ""
        why = f"no common subprotocol: offered {list(offered)}, want {list(self._subprotocols)}"
        self._log.record(cp_id, "in", "rejected", payload={"status": 400, "reason": why})
        raise NegotiationError(why)

    # -- connections

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        cp_id = _cp_id_from_path(ws.request.path)
        session_class = _session_class(ws.subprotocol)
        conn = _RecordingConnection(ws, cp_id, self._log, self._seen, session_class.repeat_key)
        session = session_class(cp_id, conn, self)
        # A reconnecting station replaces its stale session: calls go to the newest link.
        self._sessions[cp_id] = session
        self._log.record(
            cp_id,
            "in",
            "connect",
            payload={
                "path": ws.request.path,
                "subprotocol": ws.subprotocol,
                "authorization": _redacted(ws.request.headers),
                **_tls_facts(ws),
            },
        )
        try:
            await session.start()
        except ConnectionClosed:
            pass
        finally:
            if self._sessions.get(cp_id) is session:
                del self._sessions[cp_id]
            session.closed.set()
            self._log.record(
                cp_id,
                "in",
                "disconnect",
                payload={"code": ws.close_code, "reason": ws.close_reason},
            )

    def _session(self, cp_id: str) -> _Session:
        try:
            return self._sessions[cp_id]
        except KeyError:
            raise ConnectionError(
                f"{cp_id} is not connected (connected: {sorted(self._sessions) or 'none'})"
            ) from None

    def _run(self, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("DevCsms is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    # -- settings

    @property
    def boot(self) -> tuple[str, int]:
        with self._settings_lock:
            return self._boot

    def set_boot(self, status: str, interval: int | None = None) -> None:
        """Change the answer to the next BootNotification (status, heartbeat interval)."""
        _check_boot_status(status)
        with self._settings_lock:
            self._boot = (status, self._boot[1] if interval is None else interval)

    def set_reply(self, action: str, reply: ScriptedReply | ReplyFactory | None) -> None:
        """Script the answer to a station-initiated `action`; None restores the default.

        `reply` is a CALLRESULT payload sent verbatim (no validation, so invalid answers
        can be tested), a `CallErrorReply`, `NO_REPLY`, a `ThenCall`, a `LateReply`
        (a slow CSMS), or a callable `(cp_id, payload) -> one of those | None`
        (None: answer as by default).
        """
        with self._settings_lock:
            if reply is None:
                self._replies.pop(action, None)
            else:
                self._replies[action] = reply

    def _scripted_reply(self, cp_id: str, action: str, payload: Any) -> ScriptedReply | None:
        with self._settings_lock:
            reply = self._replies.get(action)
        if callable(reply):
            return reply(cp_id, payload)
        return reply

    def tag_status_name(self, id_tag: str) -> str:
        """The authorization status of an idTag (1.6) or idToken (2.0.1): its entry in
        `known_tags`, else Accepted; each version's session makes its own enum of it."""
        return self.known_tags.get(id_tag, "Accepted")

    def tag_status(self, id_tag: str) -> AuthorizationStatus:
        return AuthorizationStatus(self.tag_status_name(id_tag))

    def next_request_id(self) -> int:
        """A fresh id for a 2.0.1 request that names one (remoteStartId, requestId)."""
        with self._settings_lock:
            return next(self._request_ids)

    def subprotocol(self, cp_id: str) -> str | None:
        """The subprotocol agreed with the connected station `cp_id` (ConnectionError if
        it is not connected)."""
        return self._session(cp_id).conn.ws.subprotocol

    def next_transaction_id(self) -> int:
        with self._settings_lock:
            return next(self._transaction_ids)

    def start_transaction_id(
        self, cp_id: str, connector_id: int, id_tag: str, meter_start: int, timestamp: str
    ) -> int:
        """The transactionId for a StartTransaction: a new one, or with `dedupe` the
        one this very start (same station, connector, idTag, meterStart, timestamp)
        already got, so a re-sent start does not open a second transaction."""
        key = (cp_id, connector_id, id_tag, meter_start, timestamp)
        with self._settings_lock:
            known = self._started.get(key) if self.dedupe else None
            if known is not None:
                return known
            transaction_id = next(self._transaction_ids)
            if self.dedupe:
                self._started[key] = transaction_id
            return transaction_id

    # -- test-facing interface (CsmsPeer)

    def call(
        self,
        cp_id: str,
        action: str,
        payload: dict[str, Any],
        timeout: float = 10.0,
        *,
        validate: bool = True,
    ) -> dict[str, Any]:
        """Send a CSMS-initiated CALL and return the station's CALLRESULT payload.

        Raises CallErrorResponse on a CALLERROR, InvalidResponse if the answer fails the
        schema, TimeoutError if none comes, ConnectionError if the station is not (or no
        longer) connected, ValueError if `payload` itself is invalid (use validate=False
        or send_raw to send invalid CALLs on purpose).
        """

        async def go() -> dict[str, Any]:
            return await self._session(cp_id).call_raw(action, payload, timeout, validate)

        return self._run(go(), timeout + 5)

    # California Pricing (1.6 DataTransfer, vendor org.openchargealliance.costmsg)

    def set_user_price(
        self, cp_id: str, id_tag: str, text: str, extra: Sequence[pricing.Text] = ()
    ) -> dict[str, Any]:
        """SetUserPrice: the price text for `id_tag`; returns DataTransfer.conf."""
        return self.call(cp_id, "DataTransfer", pricing.set_user_price_request(id_tag, text, extra))

    def running_cost(
        self,
        cp_id: str,
        transaction_id: int,
        cost: float,
        *,
        text: str | None = None,
        trigger: dict[str, Any] | None = None,
        qr: str | None = None,
        state: str = "Charging",
    ) -> dict[str, Any]:
        """RunningCost of a transaction; `trigger` is its triggerMeterValue
        (atTime, atEnergykWh, atPowerkW, atCPStatus)."""
        request = pricing.running_cost_request(
            transaction_id,
            cost,
            timestamp=now_z(),
            price_text=text,
            state=state,
            trigger=trigger,
            qr_code_text=qr,
        )
        return self.call(cp_id, "DataTransfer", request)

    def final_cost(
        self,
        cp_id: str,
        transaction_id: int,
        cost: float,
        *,
        text: str | None = None,
        qr: str | None = None,
    ) -> dict[str, Any]:
        """FinalCost of a transaction: the total, its text and a QR code's text."""
        request = pricing.final_cost_request(transaction_id, cost, price_text=text, qr_code_text=qr)
        return self.call(cp_id, "DataTransfer", request)

    # ISO 15118 Plug & Charge (1.6 DataTransfer, vendor org.openchargealliance.iso15118pnc)

    def pnc(self, cp_id: str, message_id: str, request: dict[str, Any]) -> dict[str, Any]:
        """Send the 2.0.1 `message_id` request wrapped in DataTransfer; returns
        DataTransfer.conf with its `data` read as JSON where it is JSON."""
        payload = {"vendorId": pnc.VENDOR_ID, "messageId": message_id, "data": pnc.dumps(request)}
        answer = self.call(cp_id, "DataTransfer", payload)
        try:
            answer["data"] = json.loads(answer["data"])
        except (KeyError, ValueError):
            pass
        return answer

    def pnc_answer(self, message_id: str | None, data: str | None) -> tuple[str, str | None]:
        """The answer to a station's Plug & Charge DataTransfer: (status, data)."""
        try:
            request = pnc.read_request(str(message_id), data)
        except pnc.PncError as e:
            return "Rejected", str(e)[:500]
        match message_id:
            case "Authorize":
                emaid = request["idToken"]["idToken"]
                status = self.tag_status_name(emaid)
                reply: dict[str, Any] = {
                    "idTokenInfo": {"status": status},
                    "certificateStatus": self.contract_status.get(emaid, "Accepted"),
                }
            case "SignCertificate":
                reply = {"status": "Accepted"}
                if self.v2g_signer is not None:
                    # Signed a moment later, as a CSMS's CA would.
                    self._sign_later(request["csr"])
            case "Get15118EVCertificate":
                reply = {"status": "Accepted", "exiResponse": request["exiRequest"]}
            case "GetCertificateStatus":
                reply = {"status": "Accepted", "ocspResult": "MA=="}
            case _:
                return "UnknownMessageId", None
        return "Accepted", pnc.write_answer(str(message_id), reply)

    def _sign_later(self, csr: str) -> None:
        signer = self.v2g_signer
        loop = self._loop
        if signer is None or loop is None:
            return
        chain = signer(csr)
        cp_ids = sorted(self._sessions)

        def send() -> None:
            for cp_id in cp_ids:
                request = {"certificateChain": chain, "certificateType": "V2GCertificate"}
                threading.Thread(
                    target=self.pnc, args=(cp_id, "CertificateSigned", request), daemon=True
                ).start()

        loop.call_soon_threadsafe(send)

    def send_raw(self, cp_id: str, text: str) -> None:
        """Write `text` as one websocket text frame; any answer shows up in `log`."""

        async def go() -> None:
            await self._session(cp_id)._send(text)

        self._run(go(), 5)

    def send_raw_many(self, cp_id: str, texts: Sequence[str], timeout: float = 60.0) -> None:
        """Write each of `texts` as a text frame, back to back without waiting for
        answers (a flooding CSMS)."""

        async def go() -> None:
            session = self._session(cp_id)
            for text in texts:
                await session._send(text)

        self._run(go(), timeout)

    def drop(self, cp_id: str, timeout: float = 5.0) -> None:
        """Cut the station's connection without a closing handshake; returns once the
        CSMS has recorded the disconnect, so a later wait_connected() means a reconnect."""

        async def go() -> None:
            session = self._session(cp_id)
            session.conn.abort()
            await session.closed.wait()

        self._run(go(), timeout)


def _session_class(subprotocol: str | None) -> type[_Session]:
    if subprotocol == "ocpp2.0.1":
        return _StationSessionV201
    # 1.6 also when no subprotocol was agreed (DevCsms(subprotocols=())): that is how
    # tests see what a station does with a server that ignores its offer.
    return _StationSession


def _check_boot_status(status: str) -> None:
    if status not in BOOT_STATUSES:
        raise ValueError(f"boot status must be one of {BOOT_STATUSES}, not {status!r}")


def _redacted(headers: Headers) -> str | None:
    # Tests only need to know which scheme was offered, never the secret.
    value = headers.get("Authorization")
    return None if value is None else value.split(" ", 1)[0] + " ***"


# -- command line


_HELP = (
    "commands: reset CPID Soft|Hard; change CPID KEY VALUE; get CPID [KEY...]; "
    "start CPID IDTAG [CONNECTOR]; stop CPID TXID; trigger CPID MESSAGE [CONNECTOR]; "
    "call CPID ACTION {json}; raw CPID TEXT; drop CPID; boot STATUS [INTERVAL]; "
    "userprice CPID IDTAG TEXT; runningcost CPID TXID COST [TEXT]; "
    "finalcost CPID TXID COST [QRTEXT [TEXT]]; "
    "pnc CPID MESSAGEID {json} (Plug & Charge DataTransfer); "
    "list; help; quit. "
    "To a 2.0.1 station: reset CPID Immediate|OnIdle [EVSE]; "
    "change CPID COMPONENT.VARIABLE VALUE; get CPID [COMPONENT.VARIABLE...] (none: "
    "GetBaseReport FullInventory); start CPID IDTOKEN [EVSE]; stop CPID TXID; "
    "trigger CPID MESSAGE [EVSE]; monitor CPID COMPONENT.VARIABLE TYPE VALUE [SEVERITY] "
    "(SetVariableMonitoring); monitors CPID [CRITERION...] (GetMonitoringReport); "
    "unmonitor CPID ID... (ClearVariableMonitoring)"
)

# The commands whose CALL differs in 2.0.1; call, raw and drop are the same in both.
_V201_COMMANDS = frozenset({"reset", "change", "get", "start", "stop", "trigger"})


class _CommandError(Exception):
    pass


def _as_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _CommandError(f"{what} must be an integer, not {text!r}") from None


def _speaks_201(csms: DevCsms, cp_id: str) -> bool:
    try:
        return csms.subprotocol(cp_id) == "ocpp2.0.1"
    except ConnectionError:
        # Let the command's own checks and then the call report it, as for 1.6.
        return False


def _component_variable(key: str) -> dict[str, Any]:
    component, dot, variable = key.partition(".")
    if not (component and dot and variable):
        raise _CommandError(f"a 2.0.1 KEY is COMPONENT.VARIABLE, not {key!r}")
    return {"component": {"name": component}, "variable": {"name": variable}}


def _command_201(csms: DevCsms, name: str, line: str) -> tuple[str, dict[str, Any]]:
    """The 2.0.1 CALL for one of `_V201_COMMANDS`: (action, payload)."""
    words = line.split()

    def need(count: int, usage: str) -> None:
        if len(words) < count:
            raise _CommandError(f"usage: {usage}")

    payload: dict[str, Any]
    if name == "reset":
        need(3, "reset CPID Immediate|OnIdle [EVSE]")
        payload = {"type": words[2]}
        if len(words) > 3:
            payload["evseId"] = _as_int(words[3], "EVSE")
        return "Reset", payload
    if name == "change":
        parts = line.split(None, 3)
        if len(parts) < 4:
            raise _CommandError("usage: change CPID COMPONENT.VARIABLE VALUE")
        data = dict(_component_variable(parts[2]), attributeValue=parts[3])
        return "SetVariables", {"setVariableData": [data]}
    if name == "get":
        need(2, "get CPID [COMPONENT.VARIABLE...]")
        if not words[2:]:
            # 2.0.1 has no "all keys" GetVariables; the report comes as NotifyReports.
            payload = {"requestId": csms.next_request_id(), "reportBase": "FullInventory"}
            return "GetBaseReport", payload
        return "GetVariables", {"getVariableData": [_component_variable(k) for k in words[2:]]}
    if name == "start":
        need(3, "start CPID IDTOKEN [EVSE]")
        payload = {
            # Central: the token is the CSMS's own, not read from a card.
            "idToken": {"idToken": words[2], "type": "Central"},
            "remoteStartId": csms.next_request_id(),
        }
        if len(words) > 3:
            payload["evseId"] = _as_int(words[3], "EVSE")
        return "RequestStartTransaction", payload
    if name == "stop":
        # 2.0.1 transaction ids are the station's strings.
        need(3, "stop CPID TXID")
        return "RequestStopTransaction", {"transactionId": words[2]}
    assert name == "trigger", name
    need(3, "trigger CPID MESSAGE [EVSE]")
    payload = {"requestedMessage": words[2]}
    if len(words) > 3:
        payload["evse"] = {"id": _as_int(words[3], "EVSE")}
    return "TriggerMessage", payload


def _command(csms: DevCsms, line: str) -> str | None:
    """Run one CLI command; returns its one-line answer, or None for quit."""
    words = line.split()
    if not words:
        return ""
    name = words[0].lower()

    def need(count: int, usage: str) -> None:
        if len(words) < count:
            raise _CommandError(f"usage: {usage}")

    action: str
    payload: dict[str, Any]
    if name == "quit":
        return None
    if name == "help":
        return "ok " + _HELP
    if name == "list":
        return "ok " + " ".join(sorted(csms.connected()))
    if name == "boot":
        need(2, "boot Accepted|Pending|Rejected [INTERVAL]")
        interval = _as_int(words[2], "INTERVAL") if len(words) > 2 else None
        try:
            csms.set_boot(words[1], interval)
        except ValueError as e:
            raise _CommandError(str(e)) from None
        return "ok boot {} {}".format(*csms.boot)
    if name == "raw":
        parts = line.split(None, 2)
        if len(parts) < 3:
            raise _CommandError("usage: raw CPID TEXT")
        csms.send_raw(parts[1], parts[2])
        return "ok sent"
    if name == "drop":
        need(2, "drop CPID")
        csms.drop(words[1])
        return "ok dropped"
    if name in _V201_COMMANDS and len(words) > 1 and _speaks_201(csms, words[1]):
        action, payload = _command_201(csms, name, line)
    elif name == "reset":
        need(3, "reset CPID Soft|Hard")
        action, payload = "Reset", {"type": words[2]}
    elif name == "change":
        parts = line.split(None, 3)
        if len(parts) < 4:
            raise _CommandError("usage: change CPID KEY VALUE")
        words = parts
        action, payload = "ChangeConfiguration", {"key": parts[2], "value": parts[3]}
    elif name == "get":
        need(2, "get CPID [KEY...]")
        action, payload = "GetConfiguration", ({"key": words[2:]} if words[2:] else {})
    elif name == "start":
        need(3, "start CPID IDTAG [CONNECTOR]")
        action, payload = "RemoteStartTransaction", {"idTag": words[2]}
        if len(words) > 3:
            payload["connectorId"] = _as_int(words[3], "CONNECTOR")
    elif name == "stop":
        need(3, "stop CPID TXID")
        action, payload = "RemoteStopTransaction", {"transactionId": _as_int(words[2], "TXID")}
    elif name == "trigger":
        need(3, "trigger CPID MESSAGE [CONNECTOR]")
        action, payload = "TriggerMessage", {"requestedMessage": words[2]}
        if len(words) > 3:
            payload["connectorId"] = _as_int(words[3], "CONNECTOR")
    elif name in _PRICING_COMMANDS:
        action, payload = _pricing_command(name, line)
        words = line.split()
    elif name in _MONITORING_COMMANDS:
        action, payload = _monitoring_command(csms, name, words)
    elif name == "pnc":
        parts = line.split(None, 3)
        if len(parts) < 4:
            raise _CommandError("usage: pnc CPID MESSAGEID {json}")
        words = parts
        action, payload = (
            "DataTransfer",
            {
                "vendorId": pnc.VENDOR_ID,
                "messageId": parts[2],
                "data": parts[3],
            },
        )
    elif name == "call":
        parts = line.split(None, 3)
        if len(parts) < 3:
            raise _CommandError("usage: call CPID ACTION {json}")
        words = parts
        try:
            payload = json.loads(parts[3]) if len(parts) > 3 else {}
        except ValueError as e:
            raise _CommandError(f"payload is not JSON: {e}") from None
        if not isinstance(payload, dict):
            raise _CommandError("payload must be a JSON object")
        action = parts[2]
    else:
        raise _CommandError(f"unknown command {name!r}; try help")
    answer = csms.call(words[1], action, payload)
    return "ok " + json.dumps(answer, separators=(",", ":"))


_PRICING_COMMANDS = frozenset({"userprice", "runningcost", "finalcost"})
# 2.0.1 N monitoring: the monitors' messages (SetMonitoringBase, SetMonitoringLevel by call).
_MONITORING_COMMANDS = frozenset({"monitor", "monitors", "unmonitor"})


def _monitoring_command(csms: DevCsms, name: str, words: list[str]) -> tuple[str, dict[str, Any]]:
    """The 2.0.1 monitoring CALL of `monitor`, `monitors` or `unmonitor`."""
    if name == "monitor":
        if len(words) < 5:
            raise _CommandError("usage: monitor CPID COMPONENT.VARIABLE TYPE VALUE [SEVERITY]")
        try:
            value = float(words[4])
        except ValueError:
            raise _CommandError(f"VALUE must be a number, not {words[4]!r}") from None
        severity = _as_int(words[5], "SEVERITY") if len(words) > 5 else 5
        data = dict(_component_variable(words[2]), type=words[3], value=value, severity=severity)
        return "SetVariableMonitoring", {"setMonitoringData": [data]}
    if name == "monitors":
        if len(words) < 2:
            raise _CommandError("usage: monitors CPID [CRITERION...]")
        payload: dict[str, Any] = {"requestId": csms.next_request_id()}
        if words[2:]:
            payload["monitoringCriteria"] = words[2:]
        return "GetMonitoringReport", payload
    if len(words) < 3:
        raise _CommandError("usage: unmonitor CPID ID...")
    return "ClearVariableMonitoring", {"id": [_as_int(w, "ID") for w in words[2:]]}


def _cost(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _CommandError(f"COST must be a number, not {text!r}") from None


def _pricing_command(name: str, line: str) -> tuple[str, dict[str, Any]]:
    """The DataTransfer of a California Pricing command: (action, payload)."""
    if name == "userprice":
        parts = line.split(None, 3)
        if len(parts) < 4:
            raise _CommandError("usage: userprice CPID IDTAG TEXT")
        return "DataTransfer", pricing.set_user_price_request(parts[2], parts[3])
    if name == "runningcost":
        parts = line.split(None, 4)
        if len(parts) < 4:
            raise _CommandError("usage: runningcost CPID TXID COST [TEXT]")
        return "DataTransfer", pricing.running_cost_request(
            _as_int(parts[2], "TXID"),
            _cost(parts[3]),
            timestamp=now_z(),
            price_text=parts[4] if len(parts) > 4 else None,
        )
    parts = line.split(None, 5)
    if len(parts) < 4:
        raise _CommandError("usage: finalcost CPID TXID COST [QRTEXT [TEXT]]")
    return "DataTransfer", pricing.final_cost_request(
        _as_int(parts[2], "TXID"),
        _cost(parts[3]),
        qr_code_text=parts[4] if len(parts) > 4 else None,
        price_text=parts[5] if len(parts) > 5 else None,
    )


def _subprotocols(versions: str) -> tuple[str, ...]:
    """Turn "2.0.1,1.6" into ("ocpp2.0.1", "ocpp1.6"); ValueError for anything else."""
    names = [v.strip() for v in versions.split(",")]
    bad = [v for v in names if v not in OCPP_VERSIONS]
    if bad or len(set(names)) != len(names):
        raise ValueError(
            f"{versions!r} is not a comma list of distinct versions out of "
            + ", ".join(OCPP_VERSIONS)
        )
    return tuple("ocpp" + v for v in names)


# -- short lines, for the demo's 80 columns ---------------------------------------------

# Fields a person reading along does not need: the time is in the line's stamp.
_UNSAID = frozenset(
    {"timestamp", "currentTime", "chargeBoxSerialNumber", "context", "serialNumber", "seqNo"}
)
# Values that say "nothing to see" (a status without an error).
_UNSAID_VALUES = frozenset({"NoError"})
_SHORT_KEYS = {
    "chargePointModel": "model",
    "chargePointVendor": "vendor",
    "connectorId": "conn",
    "connectorStatus": "status",
    "evseId": "evse",
    "firmwareVersion": "fw",
    "idTag": "tag",
    "idToken": "token",
    "meterStart": "start",
    "meterStop": "stop",
    "transactionId": "tx",
    "triggerReason": "trigger",
    "eventType": "event",
    "chargingState": "state",
    "vendorName": "vendor",
}
_SHORT_MEASURANDS = {
    "Energy.Active.Import.Register": "energy",
    "Power.Active.Import": "power",
    "Current.Import": "current",
    "Current.Offered": "offered",
    "Voltage": "voltage",
    "SoC": "soc",
}


def _leaves(value: Any, key: str = "") -> Iterator[str]:
    """`key=value` for each scalar in a payload, depth first; a sampled value
    (value with its unit or measurand) as one `measurand=value unit`."""
    if isinstance(value, dict):
        if "value" in value and ("unit" in value or "measurand" in value):
            name = value.get("measurand", "Energy.Active.Import.Register")
            unit = value.get("unit") or value.get("unitOfMeasure", {}).get("unit", "")
            yield f"{_SHORT_MEASURANDS.get(name, name)}={value['value']}{unit}"
            return
        for k, v in value.items():
            if k not in _UNSAID:
                yield from _leaves(v, _SHORT_KEYS.get(k) or k)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, key)
    elif value is not None and value not in _UNSAID_VALUES:
        yield f"{key}={value}" if key else str(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def brief_line(entry: LogEntry, width: int = 60) -> str:
    """`entry` in at most `width` characters: `<-` what the CSMS heard, `->`
    what it said, the action, then as many of the payload's fields as fit
    (no message ids, no timestamps). The full frame is `entry.line()`."""
    arrow = "<-" if entry.direction == "in" else "->"
    match entry.kind:
        case "call":
            fields = " ".join(_leaves(entry.payload))
            text = f"{arrow} {entry.action} {fields}"
        case "result":
            fields = " ".join(_leaves(entry.payload)) or "ok"
            text = f"{arrow} {entry.action}: {fields}"
        case "error":
            text = f"{arrow} {entry.action}: {entry.error_code} {entry.error_description or ''}"
        case "connect":
            payload = entry.payload if isinstance(entry.payload, dict) else {}
            text = f"{entry.cp_id} connected ({payload.get('subprotocol') or 'no subprotocol'})"
        case "disconnect":
            payload = entry.payload if isinstance(entry.payload, dict) else {}
            text = f"{entry.cp_id} disconnected (code {payload.get('code')})"
        case _:
            text = f"{arrow} {entry.kind} {entry.text or entry.payload}"
    return _clip(text.rstrip(), width)


def main_csms(argv: list[str] | None = None) -> int:
    """`ocppstation csms`: run the dev CSMS, print every message, obey stdin commands."""
    from ocppstation.tools import cliargs

    commands = _HELP.removeprefix("commands: ").replace(". To a 2.0.1", "; to a 2.0.1")
    parser = cliargs.parser(
        "ocppstation csms",
        description="Run the dev OCPP 1.6J / 2.0.1 CSMS. Prints every message; reads "
        "commands from stdin (type 'help').",
        epilog="Commands on stdin, one a line, answered on stdout:\n  "
        + commands.replace("; ", "\n  "),
    )
    parser.add_argument(
        "--ocpp",
        default="1.6",
        metavar="VERSIONS",
        help="OCPP version(s) to agree, in order of preference: 1.6, 2.0.1 or a comma "
        "list such as 2.0.1,1.6 (default: 1.6)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=cliargs.port, default=9000, help="0 picks a free port")
    parser.add_argument(
        "--boot",
        choices=BOOT_STATUSES,
        default="Accepted",
        help="the answer to every BootNotification",
    )
    parser.add_argument(
        "--interval",
        type=cliargs.int_range(1, 86400),
        default=300,
        help="heartbeat interval (s) given in the boot answer",
    )
    parser.add_argument(
        "--password", help="require HTTP Basic auth with this password (default: none)"
    )
    parser.add_argument(
        "--tls-cert",
        metavar="FILE",
        type=cliargs.readable_file,
        help="serve wss:// with this certificate (PEM, leaf first; default: plain ws://)",
    )
    parser.add_argument(
        "--tls-key",
        metavar="FILE",
        type=cliargs.readable_file,
        help="the --tls-cert's private key (PEM; needed with --tls-cert, default: none)",
    )
    parser.add_argument(
        "--client-ca",
        metavar="FILE",
        type=cliargs.readable_file,
        help="require client certificates signed by this CA (PEM): security profile 3 "
        "(default: none asked for)",
    )
    parser.add_argument(
        "--no-dedupe",
        action="store_true",
        help="give a re-sent StartTransaction a new transactionId (default: the same one)",
    )
    args = parser.parse_args(argv)
    try:
        subprotocols = _subprotocols(args.ocpp)
    except ValueError as e:
        # One line, not argparse's usage block: the option's help says what is allowed.
        print(f"ocppstation csms: error: argument --ocpp: {e}", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.client_ca and not args.tls_cert:
        parser.error("--client-ca needs --tls-cert and --tls-key")
    context = None
    if args.tls_cert:
        try:
            context = server_ssl_context(args.tls_cert, args.tls_key, args.client_ca)
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            print(f"ocppstation csms: error: cannot load the TLS files: {e}", file=sys.stderr)
            return 2

    print_lock = threading.Lock()

    def say(text: str) -> None:
        # One lock for both message lines (I/O thread) and answers (main thread) so
        # lines never interleave.
        with print_lock:
            print(text, flush=True)

    csms = DevCsms(
        args.host,
        args.port,
        boot_status=args.boot,
        heartbeat_interval=args.interval,
        password=args.password,
        echo=say,
        dedupe=not args.no_dedupe,
        ssl=context,
        subprotocols=subprotocols,
    )
    try:
        csms.start()
    except OSError as e:
        print(f"error: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    say(f"listening {csms.url} (stations connect to {csms.url}/CHARGEPOINTID)")
    try:
        for line in sys.stdin:
            try:
                answer = _command(csms, line.strip())
            except _CommandError as e:
                answer = f"error {e}"
            except CallErrorResponse as e:
                answer = f"error CALLERROR {e.code} {e.description!r}"
            except (TimeoutError, ConnectionError, PeerError, ValueError) as e:
                answer = f"error {e}"
            if answer is None:
                say("ok bye")
                return 0
            if answer:
                say(answer)
        # Standard input closed (e.g. started in the background): keep serving.
        print("stdin closed; serving until interrupted", file=sys.stderr)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        csms.stop()
    return 0
