"""A fuzzing CSMS, driven by hypothesis and the official schemas of 1.6 and 2.0.1.

Batches of frames go to a running station: garbage text, JSON that is no
OCPP-J frame, answers to CALLs never made, binary frames, and CALLs of every
CSMS-initiated action of the version with payloads built from the action's
schema, its property names given values of any type (so most are invalid,
some valid). Every CALL with a readable unique id gets exactly one answer,
with a code the version knows; answers to nothing get none; the station
stays connected throughout, and answers a Heartbeat trigger at the end.

The long form (more examples) runs with FUZZ_EXAMPLES set; see README.
"""

from __future__ import annotations

import itertools
import json
import os
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import LinkChanged
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of

CP = "cp-test"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
REPLY_TIMEOUT = 15.0

CODES = {
    "1.6": {
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
    },
    "2.0.1": {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormatViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
        "MessageTypeNotSupported",
        "RpcFrameworkError",
    },
}
# CSMS-initiated actions whose valid form would reboot the station, reconnect it
# elsewhere, or fetch URLs: fuzzed, they would only test the CSMS's patience.
SKIPPED = {
    "Reset",
    "ChangeConfiguration",
    "SetVariables",
    "SetNetworkProfile",
    "UpdateFirmware",
    "SignedUpdateFirmware",
    "GetDiagnostics",
    "GetLog",
    "PublishFirmware",
    "CustomerInformation",
}


def _csms_actions(version: str) -> dict[str, dict[str, Any]]:
    """Each CSMS-initiated action's request schema (by the package's file names)."""
    folder = resources.files("ocpp") / ("v16" if version == "1.6" else "v201") / "schemas"
    station_sends = {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "SecurityEventNotification",
        "SignCertificate",
        "LogStatusNotification",
        "SignedFirmwareStatusNotification",
        "TransactionEvent",
        "NotifyReport",
        "NotifyEvent",
        "ClearedChargingLimit",
        "NotifyChargingLimit",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "NotifyMonitoringReport",
        "ReportChargingProfiles",
        "ReservationStatusUpdate",
        "PublishFirmwareStatusNotification",
        "Get15118EVCertificate",
        "GetCertificateStatus",
    }
    actions = {}
    for entry in folder.iterdir():
        name = entry.name.removesuffix(".json")
        if not entry.name.endswith(".json") or name.endswith("Response"):
            continue
        action = name.removesuffix("Request") if version != "1.6" else name
        if action in SKIPPED or (action in station_sends and action != "DataTransfer"):
            continue
        actions[action] = json.loads(entry.read_text("utf-8"))
    return actions


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=60),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=6,
)


def _payload(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    names = sorted(schema.get("properties", {}))
    enums = [v for prop in schema.get("properties", {}).values() for v in prop.get("enum", [])]
    value = json_values | (st.sampled_from(enums) if enums else st.nothing())
    if not names:
        return st.dictionaries(st.text(max_size=10), value, max_size=3)
    return st.dictionaries(st.sampled_from(names), value, max_size=len(names)) | json_values


def _frames(version: str) -> st.SearchStrategy[tuple[str, Any]]:
    actions = _csms_actions(version)
    call = st.sampled_from(sorted(actions)).flatmap(
        lambda a: _payload(actions[a]).map(lambda p: ("call", (a, p)))
    )
    garbage = st.one_of(
        st.text(max_size=80).map(lambda t: ("text", t)),
        st.lists(json_values, max_size=5).map(lambda f: ("text", json.dumps(f, allow_nan=True))),
        st.sampled_from(['[3,"nobody",{}]', '[4,"nobody","GenericError","",{}]']).map(
            lambda t: ("text", t)
        ),
        st.sampled_from(["", "[", "[2]", '[2,1,"Heartbeat",{}]', "{}", "null"]).map(
            lambda t: ("text", t)
        ),
    )
    return st.one_of(call, call, garbage)


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_fuzzing_csms_gets_true_answers_and_the_station_stays_up(
    version: str, make_station: StationFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING")
    subprotocol = f"ocpp{version}"
    ids = itertools.count()
    sent = {"frames": 0, "calls": 0, "errors": 0}
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=(subprotocol,)) as csms:
        station = make_station(csms, Internal={"OcppVersions": [version]})
        answered(station, "StatusNotification", 2)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(st.lists(_frames(version), min_size=1, max_size=12))
        def batch(frames: list[tuple[str, Any]]) -> None:
            texts, expected = [], []
            for kind, body in frames:
                if kind == "call":
                    uid = f"fz{next(ids)}"
                    action, payload = body
                    texts.append(json.dumps([2, uid, action, payload]))
                    expected.append(uid)
                else:
                    texts.append(body)
            # Last, a CALL of an action no OCPP has: rpc answers it
            # NotImplemented itself, in the order it read the frames, so once
            # its answer is in, so is every answer to this batch's garbage
            # (without it those could land in the next batch: a flaky replay).
            sentinel = f"fz{next(ids)}-end"
            texts.append(json.dumps([2, sentinel, "FuzzSentinel", {}]))
            expected.append(sentinel)
            mark = csms.log.mark()
            csms.send_raw_many(CP, texts)
            sent["frames"] += len(texts) - 1  # the fuzzed ones, not the sentinel
            sent["calls"] += len(expected) - 1
            want = set(expected)

            def all_answered(_: object) -> bool:
                got = {
                    e.unique_id
                    for e in csms.log.entries(mark)
                    if e.kind in ("result", "error") and e.direction == "in"
                }
                return want <= got

            csms.wait_for(all_answered, timeout=REPLY_TIMEOUT)
            replies = [
                e
                for e in csms.log.entries(mark)
                if e.kind in ("result", "error") and e.direction == "in"
            ]
            for uid in want:
                assert sum(1 for e in replies if e.unique_id == uid) == 1, uid
            assert not any(e.unique_id == "nobody" for e in replies)
            codes = {e.error_code for e in replies if e.kind == "error"}
            sent["errors"] += sum(1 for e in replies if e.kind == "error")
            assert codes <= CODES[version], codes
            assert CP in csms.connected()

        batch()
        print(
            f"{version}: {sent['frames']} frames, {sent['calls']} CALLs,"
            f" {sent['errors']} CALLERRORs"
        )
        # Still the same station, working: a triggered Heartbeat comes.
        mark = csms.log.mark()
        answer = csms.call(CP, "TriggerMessage", {"requestedMessage": "Heartbeat"})
        assert answer == {"status": "Accepted"}
        csms.log.wait_call("Heartbeat", CP, since=mark)
        boots = csms.calls("BootNotification")
        assert len(boots) == 1  # never restarted by what it was sent
    # No traceback: no actor crashed and no handler failed on what it was sent.
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert not tracebacks, [r.getMessage() for r in tracebacks][:5]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_frame_over_the_size_limit_costs_the_connection_not_the_station(
    version: str, make_station: StationFactory, clock: FakeClock
) -> None:
    """websockets refuses a message over 1 MiB (close 1009): the station
    reconnects, carries on registered, and answers as before."""
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=(f"ocpp{version}",)) as csms:
        station = make_station(csms, Internal={"OcppVersions": [version]})
        answered(station, "StatusNotification", 2)
        mark = csms.log.mark()
        huge = {"vendorId": "fuzz", "data": "A" * (2 << 20)}
        csms.send_raw(CP, json.dumps([2, "huge", "DataTransfer", huge]))
        csms.log.wait_for(lambda e: e.kind == "disconnect", timeout=10, since=mark)
        # Published once the reconnect timer is armed (on the virtual clock).
        log_of(station).wait_for(
            lambda e: isinstance(e, LinkChanged) and not e.up and e.retry_in is not None,
            timeout=10,
        )
        clock.advance(10)
        csms.log.wait_for(lambda e: e.kind == "connect", timeout=10, since=mark)
        csms.wait_for(lambda _: CP in csms.connected(), timeout=10)
        # Registered as before: no new boot, and it answers.
        answer = csms.call(CP, "TriggerMessage", {"requestedMessage": "Heartbeat"})
        assert answer == {"status": "Accepted"}
        csms.log.wait_call("Heartbeat", CP, since=mark)
        assert len(csms.calls("BootNotification")) == 1
        assert not [e for e in csms.log.entries(mark) if e.unique_id == "huge" and e.kind != "call"]
