"""The two CSMS peers the station's tests talk to, tested with a tiny station of our own.

Each peer test runs against both the dev CSMS (PyPI `ocpp`) and the ocpp-rpc strict-mode
peer (npm), through the shared `CsmsPeer` interface. The tiny station is a synchronous
`websockets` client driven from the test thread; CSMS-initiated calls block, so they run
on a worker thread while the test plays the station.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from ocppstation.tools import csms as csms_module
from ocppstation.tools.csms import DevCsms, LateReply
from ocppstation.tools.peer import (
    NO_REPLY,
    CallErrorReply,
    CallErrorResponse,
    CsmsPeer,
    InvalidResponse,
    MessageLog,
    classify,
)
from tests.peers import rpc_peer
from tests.peers.rpc_peer import OcppRpcPeer, PeerUnavailable, unavailable_reason

TS = "2024-05-01T12:00:00.000Z"
T = 5.0  # generous upper bound for any single wait on loopback

STATION_ACTIONS: dict[str, dict[str, Any]] = {
    "Authorize": {"idTag": "TAG1"},
    "BootNotification": {"chargePointVendor": "Vendor", "chargePointModel": "Model"},
    "DataTransfer": {"vendorId": "com.example"},
    "DiagnosticsStatusNotification": {"status": "Idle"},
    "FirmwareStatusNotification": {"status": "Idle"},
    "Heartbeat": {},
    "MeterValues": {
        "connectorId": 1,
        "meterValue": [{"timestamp": TS, "sampledValue": [{"value": "10"}]}],
    },
    "StartTransaction": {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": TS},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    "StopTransaction": {"transactionId": 1, "meterStop": 10, "timestamp": TS, "idTag": "TAG1"},
    "SecurityEventNotification": {"type": "StartupOfTheDevice", "timestamp": TS},
    "SignCertificate": {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMII...\n"},
    "LogStatusNotification": {"status": "Idle"},
    "SignedFirmwareStatusNotification": {"status": "Idle"},
}


class TinyStation:
    """Just enough of a charge point to exercise a CSMS peer: raw OCPP-J frames."""

    def __init__(
        self,
        url: str,
        cp_id: str = "CP1",
        *,
        subprotocols: tuple[str, ...] = ("ocpp1.6",),
        password: str | None = None,
    ) -> None:
        headers = {}
        if password is not None:
            token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        self.cp_id = cp_id
        # Entered as a context manager: websockets 17.1 deprecates bare sync connect().
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(
                f"{url}/{cp_id}",
                subprotocols=[Subprotocol(p) for p in subprotocols] or None,
                additional_headers=headers,
                open_timeout=T,
            )
        )

    def send(self, frame: list[Any] | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def recv(self) -> list[Any]:
        frame: list[Any] = json.loads(self.ws.recv(timeout=T))
        return frame

    def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        unique_id = str(uuid.uuid4())
        self.send([2, unique_id, action, payload])
        answer = self.recv()
        assert answer[1] == unique_id
        return answer

    def boot(self) -> dict[str, Any]:
        answer = self.call("BootNotification", STATION_ACTIONS["BootNotification"])
        assert answer[0] == 3, answer
        payload: dict[str, Any] = answer[2]
        return payload

    def close(self) -> None:
        self._stack.close()


# -- fixtures


def _rpc_unavailable() -> str | None:
    reason = unavailable_reason()
    if reason is not None and os.environ.get("CI"):
        # In CI the independent check must not vanish silently behind a skip.
        pytest.fail(reason)
    return reason


@pytest.fixture(params=["dev", "rpc"])
def make_peer(request: pytest.FixtureRequest) -> Iterator[Callable[..., CsmsPeer]]:
    """Factory for started peers of the parametrised kind; all are stopped afterwards."""
    kind = request.param
    if kind == "rpc" and (reason := _rpc_unavailable()):
        pytest.skip(reason)
    made: list[CsmsPeer] = []

    def make(**kwargs: Any) -> CsmsPeer:
        peer: CsmsPeer = DevCsms(**kwargs) if kind == "dev" else OcppRpcPeer(**kwargs)
        peer.start()
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.stop()


@pytest.fixture
def peer(make_peer: Callable[..., CsmsPeer]) -> CsmsPeer:
    return make_peer(heartbeat_interval=60, known_tags={"BLOCKED": "Blocked"})


@pytest.fixture
def station(peer: CsmsPeer) -> Iterator[TinyStation]:
    tiny = TinyStation(peer.url)
    peer.wait_connected("CP1", T)
    yield tiny
    tiny.close()


@pytest.fixture
def worker() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


def answer_next_call(station: TinyStation, reply: Callable[[list[Any]], list[Any]]) -> list[Any]:
    """Receive the CSMS's next CALL and send reply(call); returns the CALL frame."""
    frame = station.recv()
    assert frame[0] == 2, frame
    station.send(reply(frame))
    return frame


# -- handshake and registration


def test_peer_implements_the_shared_interface(peer: CsmsPeer) -> None:
    assert isinstance(peer, CsmsPeer)
    assert peer.url == f"ws://127.0.0.1:{peer.port}" and peer.port > 0


def test_boot_accepted_agrees_ocpp16_and_logs_both_ways(
    peer: CsmsPeer, station: TinyStation
) -> None:
    assert station.ws.subprotocol == "ocpp1.6"
    answer = station.boot()
    assert answer["status"] == "Accepted" and answer["interval"] == 60
    assert answer["currentTime"].endswith("Z")

    connect = peer.wait_for(lambda e: e.kind == "connect")
    assert connect.cp_id == "CP1" and connect.payload["subprotocol"] == "ocpp1.6"
    # The station may see the answer before a peer's log does: wait, don't just look.
    reply = peer.wait_for(lambda e: e.kind == "result")
    (call,) = peer.calls("BootNotification", "CP1")
    assert call.direction == "in" and call.payload == STATION_ACTIONS["BootNotification"]
    assert peer.log.reply_to(call) == reply and reply.direction == "out"
    assert reply.action == "BootNotification" and reply.payload == answer
    assert json.loads(reply.text) == [3, call.unique_id, answer]
    assert peer.connected() == {"CP1"}


def test_boot_pending_then_accepted(peer: CsmsPeer, station: TinyStation) -> None:
    peer.set_boot("Pending", 5)
    assert (station.boot()["status"], station.boot()["interval"]) == ("Pending", 5)
    peer.set_boot("Accepted")
    answer = station.boot()
    assert answer["status"] == "Accepted" and answer["interval"] == 5


def test_boot_rejected_from_the_start(make_peer: Callable[..., CsmsPeer]) -> None:
    peer = make_peer(boot_status="Rejected", heartbeat_interval=30)
    station = TinyStation(peer.url)
    try:
        assert station.boot()["status"] == "Rejected"
    finally:
        station.close()


def test_every_station_initiated_action_gets_a_sensible_result(
    peer: CsmsPeer, station: TinyStation
) -> None:
    for action, payload in STATION_ACTIONS.items():
        answer = station.call(action, payload)
        assert answer[0] == 3, f"{action}: {answer}"

    assert station.call("Authorize", {"idTag": "BLOCKED"})[2]["idTagInfo"]["status"] == "Blocked"
    tx = [
        station.call("StartTransaction", dict(STATION_ACTIONS["StartTransaction"], idTag=tag))[2]
        for tag in ("TAG1", "BLOCKED")
    ]
    ids = [a["transactionId"] for a in tx]
    assert ids[0] < ids[1]
    assert [a["idTagInfo"]["status"] for a in tx] == ["Accepted", "Blocked"]
    stop = station.call(
        "StopTransaction", {"transactionId": ids[0], "meterStop": 5, "timestamp": TS}
    )
    assert stop[2] == {}
    assert not [e for e in peer.log if e.kind == "error"]


def test_unknown_action_gets_a_callerror(peer: CsmsPeer, station: TinyStation) -> None:
    answer = station.call("NoSuchAction", {})
    # ocpp-rpc's strict mode reports the missing schema as a ProtocolError.
    assert answer[0] == 4 and answer[2] in ("NotImplemented", "NotSupported", "ProtocolError")
    entry = peer.wait_for(lambda e: e.kind == "error" and e.direction == "out")
    assert entry.action == "NoSuchAction" and entry.error_code == answer[2]


# -- CSMS-initiated calls


def test_csms_call_answered(
    peer: CsmsPeer, station: TinyStation, worker: ThreadPoolExecutor
) -> None:
    pending: Future[dict[str, Any]] = worker.submit(
        peer.call, "CP1", "GetConfiguration", {"key": ["HeartbeatInterval"]}
    )
    call = answer_next_call(
        station,
        lambda f: [
            3,
            f[1],
            {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]},
        ],
    )
    assert call[2:] == ["GetConfiguration", {"key": ["HeartbeatInterval"]}]
    assert pending.result(T)["configurationKey"][0]["value"] == "60"

    out = peer.calls("GetConfiguration")[0]
    assert out.direction == "out" and out.unique_id == call[1]
    reply = peer.log.reply_to(out)
    assert reply is not None and reply.action == "GetConfiguration" and reply.direction == "in"


def test_csms_call_callerror_raises_with_code(
    peer: CsmsPeer, station: TinyStation, worker: ThreadPoolExecutor
) -> None:
    pending = worker.submit(peer.call, "CP1", "Reset", {"type": "Hard"})
    answer_next_call(station, lambda f: [4, f[1], "NotSupported", "no resets today", {}])
    with pytest.raises(CallErrorResponse) as caught:
        pending.result(T)
    assert caught.value.code == "NotSupported" and caught.value.action == "Reset"
    entry = peer.wait_for(lambda e: e.kind == "error" and e.direction == "in")
    assert entry.action == "Reset" and entry.error_description == "no resets today"


def test_csms_call_rejects_an_invalid_response(
    peer: CsmsPeer, station: TinyStation, worker: ThreadPoolExecutor
) -> None:
    pending = worker.submit(peer.call, "CP1", "Reset", {"type": "Soft"})
    answer_next_call(station, lambda f: [3, f[1], {"status": "Perhaps"}])
    with pytest.raises(InvalidResponse):
        pending.result(T)


def test_csms_call_refuses_an_invalid_request(peer: CsmsPeer, station: TinyStation) -> None:
    with pytest.raises(ValueError):
        peer.call("CP1", "Reset", {"type": "Medium"}, timeout=2)


def test_csms_call_to_an_unknown_station(peer: CsmsPeer) -> None:
    with pytest.raises(ConnectionError):
        peer.call("NOBODY", "Reset", {"type": "Soft"}, timeout=2)


def test_csms_call_fails_fast_when_the_station_goes_away(
    peer: CsmsPeer, station: TinyStation, worker: ThreadPoolExecutor
) -> None:
    pending = worker.submit(peer.call, "CP1", "Reset", {"type": "Soft"}, 30)
    assert station.recv()[2] == "Reset"
    station.close()
    with pytest.raises((ConnectionError, TimeoutError)) as caught:
        pending.result(T)
    assert not isinstance(caught.value, TimeoutError), "waited for the timeout"


# -- raw frames, scripted replies


def test_send_raw_and_garbage_are_recorded_as_on_the_wire(
    peer: CsmsPeer, station: TinyStation
) -> None:
    peer.send_raw("CP1", '[2,"x1","Reset",{"type":')
    assert station.ws.recv(timeout=T) == '[2,"x1","Reset",{"type":'
    out = peer.wait_for(lambda e: e.direction == "out" and e.kind == "malformed")
    assert out.text == '[2,"x1","Reset",{"type":'

    station.send('[4,"x1","FormationViolation","bad frame",{}]')
    answer = peer.wait_for(lambda e: e.direction == "in" and e.kind == "error")
    assert answer.error_code == "FormationViolation" and answer.unique_id == "x1"

    station.send("not json at all")
    garbage = peer.wait_for(lambda e: e.direction == "in" and e.kind == "malformed")
    assert garbage.text == "not json at all"


def test_scripted_replies_override_and_restore(peer: CsmsPeer, station: TinyStation) -> None:
    peer.set_reply("Heartbeat", CallErrorReply("InternalError", "scripted failure"))
    answer = station.call("Heartbeat", {})
    assert answer[0] == 4 and answer[2] == "InternalError"

    peer.set_reply("Heartbeat", {"currentTime": TS})
    assert station.call("Heartbeat", {})[2] == {"currentTime": TS}

    # No answer to the Heartbeat: the first frame back must answer the Authorize after it.
    peer.set_reply("Heartbeat", NO_REPLY)
    station.send([2, "hb", "Heartbeat", {}])
    station.send([2, "auth", "Authorize", {"idTag": "TAG1"}])
    assert station.recv()[1] == "auth"

    peer.set_reply("Heartbeat", None)
    assert station.call("Heartbeat", {})[2]["currentTime"] != TS


def test_dev_csms_reply_factory_and_its_failures() -> None:
    def authorize(cp_id: str, payload: Any) -> dict[str, Any] | None:
        if payload["idTag"] == "BOOM":
            raise RuntimeError("factory bug")
        return {"idTagInfo": {"status": "Invalid"}} if payload["idTag"] == "X" else None

    with DevCsms() as csms:
        csms.set_reply("Authorize", authorize)
        station = TinyStation(csms.url)
        try:
            assert station.call("Authorize", {"idTag": "X"})[2]["idTagInfo"]["status"] == "Invalid"
            assert station.call("Authorize", {"idTag": "Y"})[2]["idTagInfo"]["status"] == "Accepted"
            failed = station.call("Authorize", {"idTag": "BOOM"})
            assert failed[0] == 4 and failed[2] == "InternalError"
            assert station.call("Heartbeat", {})[0] == 3, "connection survived the factory bug"
        finally:
            station.close()


def test_dev_csms_late_reply_comes_late_and_as_scripted() -> None:
    with DevCsms() as csms:
        csms.set_reply("Authorize", LateReply(0.2, {"idTagInfo": {"status": "Blocked"}}))
        csms.set_reply("Heartbeat", LateReply(0.2))
        station = TinyStation(csms.url)
        try:
            asked = time.monotonic()
            assert station.call("Authorize", {"idTag": "X"})[2]["idTagInfo"]["status"] == "Blocked"
            assert time.monotonic() - asked >= 0.2
            assert "currentTime" in station.call("Heartbeat", {})[2]  # the default answer
        finally:
            station.close()


def test_dev_csms_reads_an_answer_the_station_sent_just_before_it_closed(
    worker: ThreadPoolExecutor,
) -> None:
    # The CSMS is busy answering the station's Heartbeat (late) when the
    # station answers the CSMS's CALL and closes: the answer still counts.
    with DevCsms() as csms:
        csms.set_reply("Heartbeat", LateReply(0.5))
        station = TinyStation(csms.url)
        csms.wait_connected("CP1", T)
        station.send([2, "hb", "Heartbeat", {}])
        csms.log.wait_call("Heartbeat", "CP1", timeout=T)
        pending = worker.submit(csms.call, "CP1", "ClearCache", {}, 10)
        call = station.recv()
        assert call[2] == "ClearCache"
        station.send([3, call[1], {"status": "Accepted"}])
        station.close()
        assert pending.result(T) == {"status": "Accepted"}


@pytest.mark.parametrize("dedupe", [True, False])
def test_dev_csms_marks_resent_transaction_messages(dedupe: bool) -> None:
    start = STATION_ACTIONS["StartTransaction"]
    values = STATION_ACTIONS["MeterValues"]
    with DevCsms(dedupe=dedupe) as csms:
        first = TinyStation(csms.url)
        try:
            first_id = first.call("StartTransaction", start)[2]["transactionId"]
            first.call("MeterValues", values)
            other = first.call("StartTransaction", {**start, "meterStart": 1})[2]
        finally:
            first.close()
        # As after a kill -9: a new connection, the same messages under new unique ids.
        again = TinyStation(csms.url)
        try:
            again_id = again.call("StartTransaction", start)[2]["transactionId"]
            again.call("MeterValues", values)
            third = TinyStation(csms.url, "CP2")  # same content from another station
            try:
                third_id = third.call("StartTransaction", start)[2]["transactionId"]
            finally:
                third.close()
        finally:
            again.close()
    assert other["transactionId"] != first_id
    assert (again_id == first_id) is dedupe
    assert third_id not in (first_id, other["transactionId"])
    starts = csms.log.calls("StartTransaction")
    assert [e.repeat_of for e in starts] == [None, None, starts[0].seq, None]
    resent = csms.log.calls("MeterValues")[1]
    assert resent.repeat_of == csms.log.calls("MeterValues")[0].seq
    assert f"(repeat of #{starts[0].seq})" in starts[2].line()


# -- connection loss, restart, security


def test_drop_cuts_without_closing_handshake_and_station_can_reconnect(
    peer: CsmsPeer, station: TinyStation
) -> None:
    peer.drop("CP1")
    assert "CP1" not in peer.connected()
    with pytest.raises(ConnectionClosed):
        station.ws.recv(timeout=T)
    assert station.ws.protocol.close_rcvd is None, "drop sent a close frame"
    peer.wait_for(lambda e: e.kind == "disconnect" and e.cp_id == "CP1")

    mark = peer.log.mark()
    again = TinyStation(peer.url)
    try:
        peer.wait_connected("CP1", T)
        assert again.boot()["status"] == "Accepted"
        peer.wait_for(lambda e: e.kind == "call", since=mark)
    finally:
        again.close()


def test_restart_on_the_same_port(peer: CsmsPeer, station: TinyStation) -> None:
    port = peer.port
    station.boot()
    peer.stop()
    with pytest.raises(ConnectionClosed):
        station.ws.recv(timeout=T)

    mark = peer.log.mark()
    peer.start()
    assert peer.port == port
    again = TinyStation(peer.url)
    try:
        assert again.boot()["status"] == "Accepted"
        peer.log.wait_call("BootNotification", "CP1", T, since=mark)
    finally:
        again.close()


def test_basic_auth(make_peer: Callable[..., CsmsPeer]) -> None:
    peer = make_peer(password="s3cret-key")
    for wrong in (None, "guess"):
        with pytest.raises(InvalidStatus) as caught:
            TinyStation(peer.url, password=wrong)
        assert caught.value.response.status_code == 401
    rejected = peer.wait_for(lambda e: e.kind == "rejected")
    assert rejected.cp_id == "CP1" and rejected.payload["status"] == 401

    station = TinyStation(peer.url, password="s3cret-key")
    try:
        assert station.boot()["status"] == "Accepted"
        connect = peer.wait_for(lambda e: e.kind == "connect")
        assert connect.payload["authorization"] == "Basic ***"
    finally:
        station.close()


def test_station_offering_no_subprotocol_is_refused(peer: CsmsPeer) -> None:
    with pytest.raises(InvalidStatus) as caught:
        TinyStation(peer.url, subprotocols=())
    assert caught.value.response.status_code == 400
    assert peer.wait_for(lambda e: e.kind == "rejected").payload["status"] == 400


def test_dev_csms_without_subprotocols_agrees_none() -> None:
    with DevCsms(subprotocols=()) as csms:
        station = TinyStation(csms.url)
        try:
            assert station.ws.subprotocol is None
            assert csms.wait_for(lambda e: e.kind == "connect").payload["subprotocol"] is None
        finally:
            station.close()


# -- the log itself


def test_wait_for_timeout_names_the_last_messages(peer: CsmsPeer, station: TinyStation) -> None:
    station.call("Heartbeat", {})
    with pytest.raises(TimeoutError, match="Heartbeat"):
        peer.wait_for(lambda e: e.action == "NeverSent", timeout=0.05)


def test_message_log_connection_counts_and_wait() -> None:
    log = MessageLog()
    log.record("A", "in", "connect")
    log.record("A", "in", "connect")
    log.record("A", "in", "disconnect")
    assert log.connected() == {"A"}
    log.record("A", "in", "disconnect")
    log.wait_disconnected("A", 0.01)
    with pytest.raises(TimeoutError, match="A to connect"):
        log.wait_connected("A", 0.01)


@given(st.text())
def test_classify_never_raises(text: str) -> None:
    kind = classify(text)[0]
    assert kind in ("call", "result", "error", "malformed")


@pytest.mark.parametrize(
    ("text", "kind", "action", "unique_id"),
    [
        ('[2,"1","Heartbeat",{}]', "call", "Heartbeat", "1"),
        ('[3,"1",{}]', "result", None, "1"),
        ('[4,"1","GenericError","",{}]', "error", None, "1"),
        ('[2,"1","Heartbeat"]', "malformed", None, "1"),
        ('[5,"1",{}]', "malformed", None, "1"),
        ("{}", "malformed", None, None),
        ("", "malformed", None, None),
    ],
)
def test_classify(text: str, kind: str, action: str | None, unique_id: str | None) -> None:
    assert classify(text)[:3] == (kind, action, unique_id)


def test_echo_prints_one_line_per_entry() -> None:
    lines: list[str] = []
    with DevCsms(echo=lines.append) as csms:
        station = TinyStation(csms.url)
        station.boot()
        station.close()
        csms.log.wait_disconnected("CP1", T)
    assert len(lines) == 4 and all("\n" not in line for line in lines)
    assert "CP1 -> CSMS call BootNotification" in lines[1]


# -- strict mode: the reason the second peer exists


def test_ocpp_rpc_strict_mode_rejects_what_the_schema_forbids() -> None:
    if reason := _rpc_unavailable():
        pytest.skip(reason)
    peer = OcppRpcPeer()
    peer.start()
    station = TinyStation(peer.url)
    try:
        bad = dict(STATION_ACTIONS["StartTransaction"], timestamp="yesterday")
        answer = station.call("StartTransaction", bad)
        assert answer[0] == 4 and answer[2] == "FormationViolation"
        (failure,) = peer.wait_validation_failures(1)
        assert failure["action"] == "StartTransaction" and failure["is_call"] is True
    finally:
        station.close()
        peer.stop()


def test_ocpp_rpc_peer_explains_a_missing_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(rpc_peer, "PEER_DIR", tmp_path)
    reason = unavailable_reason()
    assert reason is not None
    if "PATH" not in reason:
        assert "npm install --prefix tests/peers/ocpp_rpc" in reason
    with pytest.raises(PeerUnavailable):
        OcppRpcPeer().start()


# -- command line


def test_cli_commands(worker: ThreadPoolExecutor) -> None:
    with DevCsms(heartbeat_interval=60) as csms:
        station = TinyStation(csms.url)
        try:
            csms.wait_connected("CP1", T)
            run = csms_module._command
            assert run(csms, "list") == "ok CP1"
            assert run(csms, "help").startswith("ok commands:")
            assert run(csms, "boot Pending 7") == "ok boot Pending 7"
            assert station.boot()["status"] == "Pending"

            pending = worker.submit(run, csms, "change CP1 MeterValueSampleInterval 30")
            call = answer_next_call(station, lambda f: [3, f[1], {"status": "Accepted"}])
            assert call[2:] == [
                "ChangeConfiguration",
                {"key": "MeterValueSampleInterval", "value": "30"},
            ]
            assert pending.result(T) == 'ok {"status":"Accepted"}'

            pending = worker.submit(
                run, csms, 'call CP1 TriggerMessage {"requestedMessage": "Heartbeat"}'
            )
            call = answer_next_call(station, lambda f: [3, f[1], {"status": "Accepted"}])
            assert call[2:] == ["TriggerMessage", {"requestedMessage": "Heartbeat"}]
            assert pending.result(T).startswith("ok")

            with pytest.raises(csms_module._CommandError, match="unknown command"):
                run(csms, "frobnicate")
            with pytest.raises(csms_module._CommandError, match="usage"):
                run(csms, "reset CP1")
            assert run(csms, "quit") is None
        finally:
            station.close()


def test_cli_process_answers_every_line() -> None:
    script = "from ocppstation.tools.csms import main_csms; raise SystemExit(main_csms())"
    proc = subprocess.run(
        [sys.executable, "-c", script, "--port", "0", "--boot", "Pending"],
        input="help\nlist\nreset NOBODY Soft\nquit\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("listening ws://127.0.0.1:")
    assert lines[1].startswith("ok commands:")
    assert lines[2] == "ok "
    assert lines[3].startswith("error NOBODY is not connected")
    assert lines[4] == "ok bye"
