"""protocol/payloads.py: the ocpp package's dataclasses to and from the wire."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.v16 import call, call_result
from ocpp.v201 import call as call201

from ocppstation.protocol.payloads import action, dump, parse


def test_a_call_goes_out_in_camel_case_without_absent_fields() -> None:
    message = call.StatusNotification(connector_id=1, error_code="NoError", status="Available")
    assert dump(message) == {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    assert action(message) == "StatusNotification"


def test_nested_objects_are_converted_both_ways() -> None:
    wire = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 7,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            },
        },
    }
    message = parse(call.SetChargingProfile, wire)
    assert message.connector_id == 1
    assert message.cs_charging_profiles["charging_profile_id"] == 7
    assert dump(message) == wire


def test_a_2_0_1_message_and_its_soc_spelling() -> None:
    wire = {
        "evseId": 1,
        "meterValue": [
            {
                "timestamp": "2026-01-01T00:00:00Z",
                "sampledValue": [{"value": 50, "measurand": "SoC"}],
            }
        ],
    }
    assert dump(parse(call201.MeterValues, wire)) == wire


def test_a_result_is_parsed_into_its_dataclass() -> None:
    wire = {"transactionId": 5, "idTagInfo": {"status": "Accepted"}}
    result = parse(call_result.StartTransaction, wire)
    assert result.transaction_id == 5
    assert result.id_tag_info == {"status": "Accepted"}


def test_only_dataclasses_are_dumped() -> None:
    with pytest.raises(TypeError):
        dump({"connectorId": 1})


@given(st.integers(min_value=0, max_value=2**31 - 1), st.text(min_size=1, max_size=20))
def test_round_trip(connector: int, id_tag: str) -> None:
    wire = {"connectorId": connector, "idTag": id_tag}
    assert dump(parse(call.RemoteStartTransaction, wire)) == wire


def _reference(message: object) -> object:
    """What the ocpp package itself would send: its own conversions over asdict()."""
    from dataclasses import asdict

    from ocpp.charge_point import remove_nones, snake_to_camel_case

    return json.loads(json.dumps(snake_to_camel_case(remove_nones(asdict(message)))))


sampled = st.fixed_dictionaries(
    {"value": st.text(max_size=5)},
    optional={
        "measurand": st.sampled_from(["SoC", "Voltage", "Energy.Active.Import.Register"]),
        "unit": st.one_of(st.none(), st.just("Wh")),
        "phase": st.sampled_from(["L1", "L2-N"]),
    },
)


@given(
    st.integers(0, 128),
    st.lists(st.lists(sampled, min_size=1, max_size=3), max_size=3),
    st.one_of(st.none(), st.integers(1, 99)),
)
def test_dump_sends_what_the_ocpp_package_sends(
    connector: int, values: list[list[dict[str, object]]], tx: int | None
) -> None:
    meter_value = [{"timestamp": "2026-01-01T00:00:00Z", "sampled_value": v} for v in values]
    message = call.MeterValues(connector_id=connector, meter_value=meter_value, transaction_id=tx)
    assert dump(message) == _reference(message)
