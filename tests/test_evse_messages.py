"""What an EVSE tells the CSMS, in 1.6's words: every message fits the official schema."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol.errors import OcppVersion
from ocppstation.protocol.evse_messages import TxRef
from ocppstation.protocol.v16.evse_messages import EVSE_MESSAGES
from ocppstation.protocol.v16.txqueue import resolve
from ocppstation.protocol.validation import Validator

V16 = Validator(OcppVersion.V16)
NOW = "2026-12-03T10:00:00Z"
STATUSES = ["Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"]
ERRORS = ["NoError", "PowerMeterFailure", "ReaderFailure", "EVCommunicationError"]
REASONS = ["Local", "Remote", "EVDisconnected", "PowerLoss", "DeAuthorized", "HardReset"]
VALUE = {"timestamp": NOW, "sampledValue": [{"value": "1200", "unit": "Wh"}]}


@given(st.integers(0, 128), st.sampled_from(STATUSES), st.sampled_from(ERRORS))
def test_a_status_is_a_valid_status_notification(connector: int, status: str, error: str) -> None:
    out = EVSE_MESSAGES.status(connector, status, error, NOW)
    assert out.action == "StatusNotification"
    V16.check_request(out.action, out.payload)
    assert out.payload == {
        "connectorId": connector,
        "status": status,
        "errorCode": error,
        "timestamp": NOW,
    }
    # Plain strings, not the package's enum members: stored and logged as they read.
    assert json.loads(json.dumps(out.payload)) == out.payload
    assert type(out.payload["status"]) is str


@given(st.integers(1, 128), st.integers(0, 10**9), st.one_of(st.none(), st.integers(1, 99)))
def test_a_start_is_a_valid_start_transaction(
    connector: int, meter: int, reservation: int | None
) -> None:
    out = EVSE_MESSAGES.started(connector, "TAG-1", meter, NOW, reservation, tx=TxRef(None, 0))
    V16.check_request(out.action, out.payload)
    assert out.payload["meterStart"] == meter
    assert out.payload.get("reservationId") == reservation


@given(st.sampled_from(REASONS), st.booleans(), st.integers(1, 2**31 - 1))
def test_a_stop_is_stored_without_its_id_and_valid_once_the_id_goes_in(
    reason: str, with_data: bool, transaction_id: int
) -> None:
    out = EVSE_MESSAGES.stopped(
        "TAG-1", 42, NOW, reason, [VALUE] if with_data else [], connector=1, tx=TxRef(None, 3)
    )
    assert "transactionId" not in out.payload
    assert ("transactionData" in out.payload) is with_data
    sent = resolve(out.action, out.payload, 7, {7: transaction_id})
    V16.check_request(out.action, sent)
    assert sent["transactionId"] == transaction_id and sent["reason"] == reason


def test_meter_values_in_and_out_of_a_transaction() -> None:
    outside = EVSE_MESSAGES.meter_values(2, [VALUE])
    V16.check_request(outside.action, outside.payload)
    assert "transactionId" not in outside.payload
    inside = EVSE_MESSAGES.meter_values(2, [VALUE], 17)
    V16.check_request(inside.action, inside.payload)
    assert inside.payload["transactionId"] == 17


def test_a_reason_or_status_1_6_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError):
        EVSE_MESSAGES.stopped("TAG-1", 1, NOW, "Aborted", connector=1, tx=TxRef(None, 1))
    with pytest.raises(ValueError):
        EVSE_MESSAGES.status(1, "Occupied", "NoError", NOW)
    with pytest.raises(TypeError):
        EVSE_MESSAGES.meter_values(1, [VALUE], "tx-from-2.0.1")
