"""OCPP-J framing: encode/decode round trips and every way decode refuses a frame."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol import errors
from ocppstation.protocol.errors import ErrorKind, OcppVersion
from ocppstation.protocol.framing import (
    Call,
    CallError,
    CallResult,
    CallResultError,
    FrameError,
    Send,
    decode,
    encode,
    new_unique_id,
)

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
ALL_VERSIONS = list(OcppVersion)

# JSON values without floats: float round trips are exact too, but NaN is
# refused on purpose and tested separately.
json_scalars = st.none() | st.booleans() | st.integers() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(), json_values, max_size=5)
unique_ids = st.text(min_size=1, max_size=36)
messages = st.one_of(
    st.builds(Call, unique_ids, st.text(), payloads),
    st.builds(CallResult, unique_ids, payloads),
    st.builds(CallError, unique_ids, st.text(), st.text(), payloads),
)


def refused(text: str | bytes, version: OcppVersion = V16) -> FrameError:
    with pytest.raises(FrameError) as info:
        decode(text, version)
    return info.value


# -- encode ----------------------------------------------------------------------


def test_encode_is_compact_and_keeps_non_ascii() -> None:
    text = encode(Call("1", "DataTransfer", {"vendorId": "Zürich", "data": "Ω"}))
    assert text == '[2,"1","DataTransfer",{"vendorId":"Zürich","data":"Ω"}]'


def test_encode_each_message_type() -> None:
    assert encode(CallResult("a", {})) == '[3,"a",{}]'
    assert encode(CallError("a", "GenericError", "x", {})) == '[4,"a","GenericError","x",{}]'
    assert encode(CallResultError("a", "FormatViolation", "", {})) == (
        '[5,"a","FormatViolation","",{}]'
    )
    assert encode(Send("a", "NotifyPeriodicEventStream", {})) == (
        '[6,"a","NotifyPeriodicEventStream",{}]'
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "\ud800", object()])
def test_encode_refuses_what_json_or_utf8_cannot_carry(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        encode(Call("1", "DataTransfer", {"data": bad}))


def test_new_unique_id_is_36_characters_and_fresh() -> None:
    ids = {new_unique_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 36 for i in ids)


@given(messages, st.sampled_from(ALL_VERSIONS))
def test_round_trip(msg: Call | CallResult | CallError, version: OcppVersion) -> None:
    text = encode(msg)
    assert decode(text, version) == msg
    assert decode(text.encode("utf-8"), version) == msg


# -- decode: what it accepts -------------------------------------------------------


def test_decode_call() -> None:
    assert decode('[2, "19223201", "Heartbeat", {}]') == Call("19223201", "Heartbeat", {})


def test_decode_version_as_plain_string() -> None:
    assert decode('[2,"1","Heartbeat",{}]', "ocpp2.0.1") == Call("1", "Heartbeat", {})  # type: ignore[arg-type]


def test_decode_accepts_36_character_id() -> None:
    uid = "x" * 36
    assert decode(json.dumps([3, uid, {}])) == CallResult(uid, {})


def test_decode_2_1_types() -> None:
    assert decode('[5,"1","FormatViolation","bad",{}]', V21) == CallResultError(
        "1", "FormatViolation", "bad", {}
    )
    assert decode('[6,"1","NotifyPeriodicEventStream",{}]', V21) == Send(
        "1", "NotifyPeriodicEventStream", {}
    )


# -- decode: unreadable frames answer under "-1" -----------------------------------


@pytest.mark.parametrize(
    "text",
    [
        b"\xff\xfe[2]",
        "not json",
        "[2,",
        "[NaN]",
        '[2,"1","DataTransfer",{"x":Infinity}]',
        '[2,"1","DataTransfer",{"x":1e400}]',
        '[2,"1","DataTransfer",{"x":"\\ud800"}]',
        "[" * 100_000,
        "9" * 5000,
        "{}",
        '"text"',
        "null",
        "[]",
        '["2","1","Heartbeat",{}]',
        '[2.0,"1","Heartbeat",{}]',
        '[true,"1","Heartbeat",{}]',
        "[null]",
    ],
)
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_unreadable_frame_is_answered_under_minus_one(text: str, version: OcppVersion) -> None:
    exc = refused(text, version)
    assert exc.unique_id == "-1"
    assert exc.reply_allowed
    assert exc.error.kind is ErrorKind.RPC_FRAMEWORK_ERROR
    # 1.6 has no RPC-level code: the nearest is GenericError.
    expected = "GenericError" if version is V16 else "RpcFrameworkError"
    assert exc.error.code(version) == expected


def test_raw_surrogate_in_text_is_refused() -> None:
    assert refused('[2,"1","DataTransfer",{"x":"\ud800"}]').unique_id == "-1"


@pytest.mark.parametrize(
    "text",
    [
        "[2]",
        '[2,1,"Heartbeat",{}]',
        '[2,null,"Heartbeat",{}]',
        '[2,"","Heartbeat",{}]',
        json.dumps([2, "x" * 37, "Heartbeat", {}]),
    ],
)
def test_call_with_unreadable_id(text: str) -> None:
    for version in ALL_VERSIONS:
        exc = refused(text, version)
        assert (exc.unique_id, exc.reply_allowed) == ("-1", True)
        assert exc.error.kind is ErrorKind.RPC_FRAMEWORK_ERROR


# -- decode: unknown message types ---------------------------------------------------


@pytest.mark.parametrize("version", [V16, V201])
def test_unknown_message_type_is_answered_before_2_1(version: OcppVersion) -> None:
    exc = refused('[6,"abc","NotifyPeriodicEventStream",{}]', version)
    assert exc.error.kind is ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED
    assert (exc.unique_id, exc.reply_allowed, exc.message_type) == ("abc", True, 6)
    expected = "GenericError" if version is V16 else "MessageTypeNotSupported"
    assert exc.error.code(version) == expected


def test_unknown_message_type_without_readable_id_uses_minus_one() -> None:
    exc = refused("[7]", V201)
    assert (exc.unique_id, exc.reply_allowed) == ("-1", True)


def test_unknown_message_type_is_ignored_in_2_1() -> None:
    exc = refused('[7,"abc"]', V21)
    assert exc.error.kind is ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED
    assert not exc.reply_allowed


# -- decode: broken CALLs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "v16_kind", "v2_kind"),
    [
        ('[2,"1","Heartbeat"]', ErrorKind.FORMAT_VIOLATION, ErrorKind.RPC_FRAMEWORK_ERROR),
        ('[2,"1","Heartbeat",{},{}]', ErrorKind.FORMAT_VIOLATION, ErrorKind.RPC_FRAMEWORK_ERROR),
        ('[2,"1",5,{}]', ErrorKind.FORMAT_VIOLATION, ErrorKind.RPC_FRAMEWORK_ERROR),
        ('[2,"1","Heartbeat",[]]', ErrorKind.FORMAT_VIOLATION, ErrorKind.FORMAT_VIOLATION),
        ('[2,"1","Heartbeat",null]', ErrorKind.FORMAT_VIOLATION, ErrorKind.FORMAT_VIOLATION),
    ],
)
def test_broken_call_keeps_its_id(text: str, v16_kind: ErrorKind, v2_kind: ErrorKind) -> None:
    for version in ALL_VERSIONS:
        exc = refused(text, version)
        assert (exc.unique_id, exc.reply_allowed) == ("1", True)
        assert exc.error.kind is (v16_kind if version is V16 else v2_kind)
    assert refused(text, V16).error.code(V16) == (
        "FormationViolation" if v16_kind is ErrorKind.FORMAT_VIOLATION else "GenericError"
    )


def test_broken_send_is_never_answered() -> None:
    assert not refused('[6,"1","NotifyPeriodicEventStream",[]]', V21).reply_allowed


# -- decode: broken answers are never answered -----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '[3,"1"]',
        '[3,"1",{},{}]',
        '[3,"1",[]]',
        '[3,"1","ok"]',
        '[4,"1","GenericError","x"]',
        '[4,"1","GenericError","x",{},1]',
        '[4,"1",5,"x",{}]',
        '[4,"1","GenericError",null,{}]',
        '[4,"1","GenericError","x",[]]',
        '[4,"1","GenericError","x",null]',
    ],
)
def test_broken_answer_keeps_id_but_gets_no_reply(text: str) -> None:
    for version in ALL_VERSIONS:
        exc = refused(text, version)
        assert (exc.unique_id, exc.reply_allowed) == ("1", False)
        assert exc.message_type == json.loads(text)[0]


@pytest.mark.parametrize("text", ["[3,5,{}]", '[4,"",  "GenericError","",{}]', "[3]"])
def test_answer_with_unreadable_id_gets_no_reply(text: str) -> None:
    exc = refused(text)
    assert (exc.unique_id, exc.reply_allowed) == ("-1", False)


# -- properties ------------------------------------------------------------------------


@given(st.text() | st.binary(), st.sampled_from(ALL_VERSIONS))
def test_decode_raises_only_frame_error(text: str | bytes, version: OcppVersion) -> None:
    try:
        decode(text, version)
    except FrameError as exc:
        assert exc.unique_id == "-1" or 0 < len(exc.unique_id) <= 36


frame_like = st.lists(
    st.one_of(st.integers(0, 7), st.text(max_size=40), payloads, json_values), max_size=6
)


@given(frame_like, st.sampled_from(ALL_VERSIONS))
def test_arbitrary_arrays(frame: list[Any], version: OcppVersion) -> None:
    text = json.dumps(frame)
    try:
        msg = decode(text, version)
    except FrameError as exc:
        # An answer never gets a reply; anything that could be a CALL does.
        if frame and frame[0] in (3, 4) and not isinstance(frame[0], bool):
            assert not exc.reply_allowed
        if frame and frame[0] == 2 and not isinstance(frame[0], bool):
            assert exc.reply_allowed
    else:
        # Whatever decodes, encodes back to the same frame.
        assert json.loads(encode(msg)) == frame


# -- wire error codes (errors.py) --------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "v16", "v201", "v21"),
    [
        (errors.FormationViolation(), "FormationViolation", "FormatViolation", "FormatViolation"),
        (
            errors.OccurrenceConstraintViolation(),
            "OccurenceConstraintViolation",
            "OccurenceConstraintViolation",
            "OccurrenceConstraintViolation",
        ),
        (errors.RpcFrameworkError(), "GenericError", "RpcFrameworkError", "RpcFrameworkError"),
        (
            errors.MessageTypeNotSupported(),
            "GenericError",
            "MessageTypeNotSupported",
            "RpcFrameworkError",
        ),
        (errors.NotImplementedAction(), "NotImplemented", "NotImplemented", "NotImplemented"),
        (errors.NotSupported(), "NotSupported", "NotSupported", "NotSupported"),
        (errors.InternalError(), "InternalError", "InternalError", "InternalError"),
        (errors.ProtocolError(), "ProtocolError", "ProtocolError", "ProtocolError"),
        (errors.SecurityError(), "SecurityError", "SecurityError", "SecurityError"),
        (
            errors.PropertyConstraintViolation(),
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
        ),
        (
            errors.TypeConstraintViolation(),
            "TypeConstraintViolation",
            "TypeConstraintViolation",
            "TypeConstraintViolation",
        ),
        (errors.GenericError(), "GenericError", "GenericError", "GenericError"),
    ],
)
def test_wire_code_per_version(error: errors.OcppError, v16: str, v201: str, v21: str) -> None:
    assert [error.code(v) for v in (V16, V201, V21)] == [v16, v201, v21]
    assert error.description  # every kind has a default description


V16_CODES = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}


def test_1_6_only_ever_sends_1_6_codes() -> None:
    assert {errors.wire_code(kind, V16) for kind in ErrorKind} == V16_CODES


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("FormationViolation", errors.FormationViolation),
        ("FormatViolation", errors.FormationViolation),
        ("OccurenceConstraintViolation", errors.OccurrenceConstraintViolation),
        ("OccurrenceConstraintViolation", errors.OccurrenceConstraintViolation),
        ("NotImplemented", errors.NotImplementedAction),
        ("RpcFrameworkError", errors.RpcFrameworkError),
        ("SecurityError", errors.SecurityError),
    ],
)
def test_error_from_code_accepts_every_spelling(code: str, cls: type[errors.OcppError]) -> None:
    error = errors.error_from_code(code, "why", {"k": 1})
    assert type(error) is cls
    assert (error.description, error.details, error.received_code) == ("why", {"k": 1}, code)


def test_error_from_unknown_code_is_generic_and_keeps_the_code() -> None:
    error = errors.error_from_code("VendorSpecific", "oops", {})
    assert type(error) is errors.GenericError
    assert error.received_code == "VendorSpecific"
    assert "VendorSpecific" in error.description
    assert error.code(V201) == "GenericError"


@given(st.text(), st.text())
def test_error_from_code_never_raises(code: str, description: str) -> None:
    assert isinstance(errors.error_from_code(code, description, {}), errors.OcppError)
