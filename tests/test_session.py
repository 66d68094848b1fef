"""The sans-I/O RPC session: examples for each path, and its invariants under hypothesis."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ocppstation.protocol.errors import (
    CallTimeout,
    FormationViolation,
    GenericError,
    InternalError,
    NotSupported,
    OcppVersion,
    OfflineError,
    OutgoingPayloadInvalid,
    PropertyConstraintViolation,
    SecurityError,
    TypeConstraintViolation,
)
from ocppstation.protocol.framing import Call
from ocppstation.protocol.session import (
    CallFailed,
    CallSucceeded,
    Dropped,
    Event,
    IncomingCall,
    SendFrame,
    Session,
    SessionBusy,
)
from ocppstation.protocol.validation import Validator

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
TIMEOUT = 30.0
BOOT = {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"}
BOOT_OK = {"status": "Accepted", "currentTime": "2024-05-01T12:00:00Z", "interval": 300}
# An action and a valid request for it, per version, in both directions.
HEARTBEAT_OK = {"currentTime": "2024-05-01T12:00:00Z"}
INCOMING = {
    V16: ("Reset", {"type": "Soft"}, {"status": "Accepted"}),
    V201: ("Reset", {"type": "Immediate"}, {"status": "Accepted"}),
    V21: ("Reset", {"type": "Immediate"}, {"status": "Accepted"}),
}


def session(version: OcppVersion = V16, **kwargs: Any) -> Session:
    return Session(Validator(version), call_timeout=TIMEOUT, version=version, **kwargs)


def frame(*parts: Any) -> str:
    return json.dumps(list(parts))


def only(events: list[Event], kind: type) -> Any:
    assert len(events) == 1, events
    assert isinstance(events[0], kind), events
    return events[0]


def sent(event: SendFrame) -> list[Any]:
    return json.loads(event.text)


# -- construction ------------------------------------------------------------------


def test_version_must_match_the_validator() -> None:
    with pytest.raises(ValueError):
        Session(Validator(V16), call_timeout=TIMEOUT, version=V201)
    with pytest.raises(ValueError):
        Session(Validator(V16), call_timeout=0)


def test_version_may_be_a_subprotocol_string() -> None:
    s = Session(Validator("ocpp1.6"), call_timeout=TIMEOUT, version="ocpp1.6")  # type: ignore[arg-type]
    assert s.version is V16


# -- our CALLs ---------------------------------------------------------------------------


def test_call_and_result() -> None:
    s = session()
    uid, text = s.send_call("BootNotification", BOOT, now=0.0)
    assert json.loads(text) == [2, uid, "BootNotification", BOOT]
    assert (s.outstanding, s.outstanding_action, s.next_deadline()) == (
        uid,
        "BootNotification",
        TIMEOUT,
    )
    events = s.receive(frame(3, uid, BOOT_OK), now=1.0)
    assert events == [CallSucceeded(uid, "BootNotification", BOOT_OK)]
    assert s.outstanding is None and s.next_deadline() is None


def test_only_one_call_at_a_time() -> None:
    s = session()
    s.send_call("Heartbeat", {}, now=0.0)
    with pytest.raises(SessionBusy):
        s.send_call("Heartbeat", {}, now=1.0)


def test_invalid_outgoing_payload_is_refused_and_nothing_is_outstanding() -> None:
    s = session()
    with pytest.raises(OutgoingPayloadInvalid) as info:
        s.send_call("BootNotification", {"chargePointVendor": "VendorX"}, now=0.0)
    assert "chargePointModel" in str(info.value)
    assert info.value.error is not None
    with pytest.raises(OutgoingPayloadInvalid):
        s.send_call("NoSuchAction", {}, now=0.0)
    with pytest.raises(OutgoingPayloadInvalid):
        s.send_call("DataTransfer", {"vendorId": "v", "data": "\ud800"}, now=0.0)
    assert s.outstanding is None


def test_timeout() -> None:
    s = session()
    uid, _ = s.send_call("Heartbeat", {}, now=10.0)
    assert s.poll(10.0 + TIMEOUT - 0.001) == []
    (failed,) = s.poll(10.0 + TIMEOUT)
    assert isinstance(failed, CallFailed) and isinstance(failed.error, CallTimeout)
    assert (failed.unique_id, failed.action) == (uid, "Heartbeat")
    assert s.outstanding is None
    assert s.poll(100.0) == []


def test_answer_after_the_deadline_is_stale_even_without_poll() -> None:
    s = session()
    uid, _ = s.send_call("Heartbeat", {}, now=0.0)
    timeout, dropped = s.receive(frame(3, uid, HEARTBEAT_OK), now=TIMEOUT + 5)
    assert isinstance(timeout, CallFailed) and isinstance(timeout.error, CallTimeout)
    assert isinstance(dropped, Dropped)


def test_call_error_received() -> None:
    s = session()
    uid, _ = s.send_call("Heartbeat", {}, now=0.0)
    text = frame(4, uid, "SecurityError", "not accepted", {"a": 1})
    failed = only(s.receive(text, 1.0), CallFailed)
    assert failed.error == SecurityError("not accepted", {"a": 1})
    assert failed.error.received_code == "SecurityError"
    assert s.outstanding is None


def test_call_error_with_unknown_code() -> None:
    s = session()
    uid, _ = s.send_call("Heartbeat", {}, now=0.0)
    failed = only(s.receive(frame(4, uid, "Vendor42", "?", {}), 1.0), CallFailed)
    assert isinstance(failed.error, GenericError)
    assert failed.error.received_code == "Vendor42"


def test_invalid_result_fails_the_call_without_answering_before_2_1() -> None:
    for version in (V16, V201):
        s = session(version)
        uid, _ = s.send_call("Heartbeat", {}, now=0.0)
        failed = only(s.receive(frame(3, uid, {"currentTime": "noon"}), 1.0), CallFailed)
        assert isinstance(failed.error, TypeConstraintViolation)
        assert "currentTime" in failed.error.description
        assert s.outstanding is None


def test_invalid_result_gets_a_callresulterror_in_2_1() -> None:
    s = session(V21)
    uid, _ = s.send_call("Heartbeat", {}, now=0.0)
    failed, reply = s.receive(frame(3, uid, {"currentTime": "noon"}), 1.0)
    assert isinstance(failed, CallFailed) and isinstance(reply, SendFrame)
    assert sent(reply)[:3] == [5, uid, "TypeConstraintViolation"]


def test_broken_answer_to_our_call_fails_it_at_once() -> None:
    s = session()
    uid, _ = s.send_call("Heartbeat", {}, now=0.0)
    failed = only(s.receive(frame(4, uid, "GenericError", "no details"), 1.0), CallFailed)
    assert isinstance(failed.error, FormationViolation)
    assert s.outstanding is None


def test_broken_result_to_our_call_in_2_1() -> None:
    s = session(V21)
    uid, _ = s.send_call("Heartbeat", {}, now=0.0)
    failed, reply = s.receive(frame(3, uid, []), 1.0)
    assert isinstance(failed, CallFailed)
    assert sent(reply)[:3] == [5, uid, "FormatViolation"]


@pytest.mark.parametrize(
    "text",
    [
        frame(3, "nobody", {}),
        frame(4, "nobody", "GenericError", "", {}),
        frame(3, "nobody", []),
        frame(4, "nobody", 1, "", {}),
        frame(3, 17, {}),
    ],
)
@pytest.mark.parametrize("version", list(OcppVersion))
def test_answers_to_unknown_ids_are_dropped(text: str, version: OcppVersion) -> None:
    s = session(version)
    uid, _ = s.send_call("Heartbeat", {}, now=0.0)
    only(s.receive(text, 1.0), Dropped)
    assert s.outstanding == uid


# -- their CALLs ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", list(OcppVersion))
def test_incoming_call_and_reply(version: OcppVersion) -> None:
    s = session(version)
    action, request, response = INCOMING[version]
    incoming = only(s.receive(frame(2, "c1", action, request), 0.0), IncomingCall)
    assert incoming.call == Call("c1", action, request)
    assert s.is_pending(incoming.call)
    assert json.loads(s.reply(incoming.call, response)) == [3, "c1", response]
    assert not s.is_pending(incoming.call)


def test_invalid_reply_is_refused_and_the_call_can_still_get_an_error() -> None:
    s = session()
    call = only(s.receive(frame(2, "c1", "Reset", {"type": "Soft"}), 0.0), IncomingCall).call
    with pytest.raises(OutgoingPayloadInvalid):
        s.reply(call, {"status": "Maybe"})
    assert s.is_pending(call)
    text = s.reply_error(call, InternalError("our response was invalid"))
    assert json.loads(text) == [4, "c1", "InternalError", "our response was invalid", {}]
    assert not s.is_pending(call)


def test_reply_error_is_truncated_and_always_encodable() -> None:
    s = session(V201)
    call = only(s.receive(frame(2, "c1", "Reset", {"type": "Immediate"}), 0.0), IncomingCall).call
    text = s.reply_error(call, NotSupported("x" * 1000, {"bad": object()}))
    code, description, details = json.loads(text)[2:]
    assert (code, len(description), details) == ("NotSupported", 255, {})


def test_duplicate_call_id_while_pending_is_dropped() -> None:
    s = session()
    only(s.receive(frame(2, "c1", "Reset", {"type": "Soft"}), 0.0), IncomingCall)
    only(s.receive(frame(2, "c1", "Reset", {"type": "Soft"}), 0.0), Dropped)
    only(s.receive(frame(2, "c1", "Reset", {"type": "Bogus"}), 0.0), Dropped)
    only(s.receive(frame(2, "c1", "Reset", None), 0.0), Dropped)


def test_unknown_action_gets_not_implemented() -> None:
    s = session()
    reply = only(s.receive(frame(2, "c1", "Teleport", {}), 0.0), SendFrame)
    assert sent(reply)[:3] == [4, "c1", "NotImplemented"]
    assert "NotImplemented" in reply.reason


@pytest.mark.parametrize(
    ("version", "code"),
    [(V16, "PropertyConstraintViolation"), (V201, "PropertyConstraintViolation")],
)
def test_invalid_request_gets_the_mapped_error(version: OcppVersion, code: str) -> None:
    s = session(version)
    reply = only(s.receive(frame(2, "c1", "Reset", {"type": "Sideways"}), 0.0), SendFrame)
    assert sent(reply)[:3] == [4, "c1", code]
    assert "type" in sent(reply)[3]


@pytest.mark.parametrize(
    ("version", "text", "expected"),
    [
        (V16, "garbage", ["-1", "GenericError"]),
        (V201, "garbage", ["-1", "RpcFrameworkError"]),
        (V21, "garbage", ["-1", "RpcFrameworkError"]),
        (V16, frame(2, "c1", "Reset", []), ["c1", "FormationViolation"]),
        (V201, frame(2, "c1", "Reset", []), ["c1", "FormatViolation"]),
        (V201, frame(2, "c1", "Reset"), ["c1", "RpcFrameworkError"]),
        (V201, frame(9, "c1"), ["c1", "MessageTypeNotSupported"]),
        (V16, frame(2, "x" * 37, "Reset", {}), ["-1", "GenericError"]),
    ],
)
def test_malformed_frames_get_one_callerror(
    version: OcppVersion, text: str, expected: list[str]
) -> None:
    reply = only(session(version).receive(text, 0.0), SendFrame)
    assert sent(reply)[0] == 4
    assert sent(reply)[1:3] == expected


def test_2_1_ignores_unknown_types_and_never_answers_send_or_callresulterror() -> None:
    s = session(V21)
    only(s.receive(frame(9, "c1"), 0.0), Dropped)
    only(s.receive(frame(6, "c2", "NotifyPeriodicEventStream", {}), 0.0), Dropped)
    only(s.receive(frame(5, "c3", "FormatViolation", "bad", {}), 0.0), Dropped)


def test_bytes_frames_are_accepted() -> None:
    s = session()
    only(s.receive(frame(2, "c1", "Reset", {"type": "Soft"}).encode(), 0.0), IncomingCall)
    assert only(s.receive(b"\xff", 0.0), SendFrame)


# -- closing -----------------------------------------------------------------------------------


def test_close_fails_the_outstanding_call_and_forgets_incoming_ones() -> None:
    s = session()
    call = only(s.receive(frame(2, "c1", "Reset", {"type": "Soft"}), 0.0), IncomingCall).call
    uid, _ = s.send_call("Heartbeat", {}, now=0.0)
    failed = only(s.close(1.0), CallFailed)
    assert failed.unique_id == uid and isinstance(failed.error, OfflineError)
    assert s.closed and s.outstanding is None and not s.is_pending(call)
    assert s.close(2.0) == []
    with pytest.raises(OfflineError):
        s.send_call("Heartbeat", {}, now=2.0)
    only(s.receive(frame(3, uid, HEARTBEAT_OK), 2.0), Dropped)


def test_close_after_the_deadline_reports_the_timeout() -> None:
    s = session()
    s.send_call("Heartbeat", {}, now=0.0)
    failed = only(s.close(TIMEOUT + 1), CallFailed)
    assert isinstance(failed.error, CallTimeout)


# -- properties --------------------------------------------------------------------------------


@given(st.sampled_from(list(OcppVersion)), st.lists(st.text() | st.binary(), max_size=5))
def test_receive_never_raises(version: OcppVersion, texts: list[str | bytes]) -> None:
    s = session(version)
    s.send_call("Heartbeat", {}, now=0.0)
    for i, text in enumerate(texts):
        events = s.receive(text, float(i))
        assert isinstance(events, list)
        assert all(isinstance(e, Event) for e in events)  # type: ignore[arg-type,misc]


ids = st.text(min_size=1, max_size=36)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
non_objects = json_values.filter(lambda v: not isinstance(v, dict))
non_strings = non_objects.filter(lambda v: not isinstance(v, str))
ALL_ACTIONS = frozenset().union(*(Validator(v).actions() for v in OcppVersion))
# CALLs with a readable id that must be refused, one way or another.
bad_calls = st.one_of(
    st.builds(lambda i, p: [2, i, "Reset", p], ids, non_objects),
    st.builds(lambda i, a: [2, i, a, {}], ids, non_strings),
    st.builds(lambda i: [2, i, "Reset"], ids),
    st.builds(lambda i: [2, i, "Reset", {}, {}], ids),
    st.builds(
        lambda i, p: [2, i, "Reset", p],
        ids,
        st.dictionaries(st.text(max_size=8).filter(lambda k: k != "type"), json_values),
    ),
    st.builds(
        lambda i, a: [2, i, a, {}],
        ids,
        st.text(max_size=20).filter(lambda a: a not in ALL_ACTIONS),
    ),
)
# Answers, well formed or not, for ids we never used.
stray_answers = st.one_of(
    st.builds(lambda i, p: [3, i, p], ids, json_values),
    st.builds(lambda i, c, d, x: [4, i, c, d, x], ids, json_values, json_values, json_values),
    st.builds(lambda i: [3, i], ids),
)


class SessionMachine(RuleBasedStateMachine):
    """Drives one session with everything at once and checks the invariants."""

    @initialize(version=st.sampled_from(list(OcppVersion)))
    def start(self, version: OcppVersion) -> None:
        self.version = version
        counter = iter(range(10**9))
        self.session = session(version, id_factory=lambda: f"ours-{next(counter)}")
        self.now = 0.0
        self.used_ids: list[str] = []
        self.settled: list[str] = []
        self.pending: dict[str, Call] = {}
        self.expected_outstanding: str | None = None

    def _apply(self, events: list[Event]) -> list[Event]:
        for event in events:
            if isinstance(event, CallSucceeded | CallFailed):
                assert event.unique_id == self.expected_outstanding
                assert event.unique_id not in self.settled
                self.settled.append(event.unique_id)
                self.expected_outstanding = None
            elif isinstance(event, IncomingCall):
                self.pending[event.call.unique_id] = event.call
        return events

    @rule()
    def send(self) -> None:
        if self.session.outstanding is not None:
            with pytest.raises(SessionBusy):
                self.session.send_call("Heartbeat", {}, self.now)
            return
        uid, text = self.session.send_call("Heartbeat", {}, self.now)
        assert uid not in self.used_ids
        self.used_ids.append(uid)
        self.expected_outstanding = uid
        assert json.loads(text)[:2] == [2, uid]

    @rule(dt=st.floats(0, 2 * TIMEOUT))
    def tick(self, dt: float) -> None:
        self.now += dt
        self._apply(self.session.poll(self.now))

    @precondition(lambda self: self.session.outstanding is not None)
    @rule(ok=st.booleans())
    def answer(self, ok: bool) -> None:
        uid = self.session.outstanding
        text = frame(3, uid, HEARTBEAT_OK) if ok else frame(4, uid, "InternalError", "", {})
        events = self._apply(self.session.receive(text, self.now))
        assert not any(isinstance(e, SendFrame) for e in events)

    @rule(parts=bad_calls)
    def malformed_call(self, parts: list[Any]) -> None:
        uid = parts[1]
        events = self._apply(self.session.receive(json.dumps(parts), self.now))
        replies = [e for e in events if isinstance(e, SendFrame)]
        if uid in self.pending:
            assert replies == []  # a duplicate id is dropped, not answered twice
            return
        assert len(replies) == 1, events
        answer = sent(replies[0])
        assert answer[0] == 4 and answer[1] in (uid, "-1")
        assert not any(isinstance(e, IncomingCall) for e in events)

    @rule(parts=stray_answers)
    def stray_answer(self, parts: list[Any]) -> None:
        if parts[1] in self.used_ids:
            return
        events = self._apply(self.session.receive(json.dumps(parts), self.now))
        assert not any(isinstance(e, SendFrame) for e in events)

    @rule(text=st.text(max_size=30))
    def garbage(self, text: str) -> None:
        self._apply(self.session.receive(text, self.now))

    @rule(uid=ids)
    def valid_call(self, uid: str) -> None:
        action, request, _ = INCOMING[self.version]
        self._apply(self.session.receive(frame(2, uid, action, request), self.now))

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def reply(self, data: st.DataObject) -> None:
        uid = data.draw(st.sampled_from(sorted(self.pending)))
        call = self.pending.pop(uid)
        _, _, response = INCOMING[self.version]
        if data.draw(st.booleans()):
            text = self.session.reply(call, response)
            assert json.loads(text) == [3, uid, response]
        else:
            text = self.session.reply_error(call, PropertyConstraintViolation("no"))
            assert json.loads(text)[:3] == [4, uid, "PropertyConstraintViolation"]

    @invariant()
    def at_most_one_outstanding_and_it_is_the_expected_one(self) -> None:
        assert self.session.outstanding == self.expected_outstanding
        deadline = self.session.next_deadline()
        assert (deadline is None) == (self.expected_outstanding is None)

    def teardown(self) -> None:
        if hasattr(self, "session"):
            self._apply(self.session.close(self.now))
            # Every CALL of ours was settled exactly once.
            assert self.settled == self.used_ids


SessionMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_session_machine = SessionMachine.TestCase
