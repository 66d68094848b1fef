"""Schema validation with the real OCA schemas, and how violations map to OCPP errors."""

from __future__ import annotations

import copy
import time
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol import validation
from ocppstation.protocol.errors import (
    FormationViolation,
    NotImplementedAction,
    OccurrenceConstraintViolation,
    OcppError,
    OcppVersion,
    PropertyConstraintViolation,
    TypeConstraintViolation,
)
from ocppstation.protocol.validation import Validator

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21

BOOT = {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


def meter_values(samples: int) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "transactionId": 42,
        "meterValue": [
            {
                "timestamp": "2024-05-01T12:00:00Z",
                "sampledValue": [
                    {
                        "value": f"{1000 + i}.5",
                        "context": "Sample.Periodic",
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                        "location": "Outlet",
                    }
                    for i in range(samples)
                ],
            }
        ],
    }


def failure(validator: Validator, action: str, payload: dict[str, Any]) -> OcppError:
    with pytest.raises(OcppError) as info:
        validator.check_request(action, payload)
    return info.value


@pytest.fixture(scope="module")
def v16() -> Validator:
    return Validator(V16)


# -- loading ---------------------------------------------------------------------


@pytest.mark.parametrize("version", list(OcppVersion))
def test_every_shipped_schema_compiles(version: OcppVersion) -> None:
    folder = resources.files("ocpp") / validation._PACKAGE_DIRS[version] / "schemas"
    files = [entry for entry in folder.iterdir() if entry.name.endswith(".json")]
    assert Validator(version).compile_all() == len(files) > 0


def test_actions_per_version() -> None:
    assert {"BootNotification", "MeterValues", "RemoteStartTransaction"} <= Validator(V16).actions()
    assert "TransactionEvent" not in Validator(V16).actions()
    assert {"BootNotification", "TransactionEvent", "SetVariables"} <= Validator(V201).actions()
    assert "BatterySwap" in Validator(V21).actions()
    assert Validator(V21).send_actions() == {"NotifyPeriodicEventStream"}
    assert Validator(V16).send_actions() == frozenset()
    # Response schemas are not actions of their own.
    for version in OcppVersion:
        assert not any(a.endswith(("Response", "Request")) for a in Validator(version).actions())


def test_version_may_be_given_as_subprotocol_string() -> None:
    assert Validator("ocpp1.6").version is V16  # type: ignore[arg-type]


def test_second_validator_is_cheap_and_shares_compiled_schemas(v16: Validator) -> None:
    v16.check_request("Heartbeat", {})
    start = time.perf_counter()
    other = Validator(V16)
    other.check_request("Heartbeat", {})
    assert time.perf_counter() - start < 0.005
    assert validation._compiled[(V16, "Heartbeat")] is validation._compile(V16, "Heartbeat")


# -- what passes -------------------------------------------------------------------------


def test_valid_payloads_pass(v16: Validator) -> None:
    v16.check_request("BootNotification", BOOT)
    v16.check_request("MeterValues", meter_values(10))
    v16.check_response(
        "BootNotification",
        {"status": "Accepted", "currentTime": "2024-05-01T12:00:00.123Z", "interval": 300},
    )
    Validator(V201).check_request(
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
    )


def test_validation_never_fills_in_defaults() -> None:
    payload = {"requestId": 1}
    Validator(V201).check_request("NotifyDisplayMessages", payload)
    assert payload == {"requestId": 1}


def test_1_6_multiple_of_tenths_is_decimal_exact(v16: Validator) -> None:
    profile = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
            },
        },
    }
    v16.check_request("SetChargingProfile", profile)  # 21.4 / 0.1 is not exact in binary
    bad = copy.deepcopy(profile)
    bad["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 4.11
    error = failure(v16, "SetChargingProfile", bad)
    assert type(error) is PropertyConstraintViolation
    assert "chargingSchedulePeriod[0].limit" in error.description


# -- the mapping, one case per rule --------------------------------------------------------


def test_missing_required_field_is_occurrence(v16: Validator) -> None:
    error = failure(v16, "BootNotification", {"chargePointVendor": "VendorX"})
    assert type(error) is OccurrenceConstraintViolation
    assert "chargePointModel" in error.description
    assert error.details == {"field": "chargePointModel", "constraint": "required"}
    assert error.code(V16) == "OccurenceConstraintViolation"


def test_too_long_string_is_type(v16: Validator) -> None:
    error = failure(v16, "BootNotification", {**BOOT, "chargePointVendor": "V" * 21})
    assert type(error) is TypeConstraintViolation
    assert "chargePointVendor" in error.description
    assert "21" in error.description and "20" in error.description


def test_number_for_string_is_type(v16: Validator) -> None:
    error = failure(v16, "BootNotification", {**BOOT, "chargePointModel": 5})
    assert type(error) is TypeConstraintViolation
    assert "chargePointModel" in error.description and "string" in error.description


@pytest.mark.parametrize("value", [True, 1.5, "1", None])
def test_non_integer_for_integer_is_type(v16: Validator, value: Any) -> None:
    assert type(failure(v16, "StatusNotification", {**STATUS, "connectorId": value})) is (
        TypeConstraintViolation
    )


def test_unknown_property_is_format(v16: Validator) -> None:
    error = failure(v16, "BootNotification", {**BOOT, "firmwareColour": "blue"})
    assert type(error) is FormationViolation
    assert "firmwareColour" in error.description
    assert error.code(V16) == "FormationViolation"
    assert error.code(V201) == "FormatViolation"


def test_bad_enum_is_property(v16: Validator) -> None:
    error = failure(v16, "StatusNotification", {**STATUS, "status": "Sleeping"})
    assert type(error) is PropertyConstraintViolation
    assert "status" in error.description and "Sleeping" in error.description


@pytest.mark.parametrize(
    "stamp",
    [
        "yesterday",
        "2024-05-01",
        "2024-05-01T12:00:00",  # no offset
        "2024-02-30T12:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01 12:00:00Z",
        "2024-05-01T12:00:00+2:00",
        "٢٠٢٤-05-01T12:00:00Z",  # Arabic-Indic digits: \d would accept them
        "",
    ],
)
def test_bad_date_time_is_type(v16: Validator, stamp: str) -> None:
    error = failure(v16, "StatusNotification", {**STATUS, "timestamp": stamp})
    assert type(error) is TypeConstraintViolation
    assert "timestamp" in error.description


@pytest.mark.parametrize(
    "stamp",
    [
        "2024-05-01T12:00:00Z",
        "2024-05-01t12:00:00z",
        "2024-05-01T12:00:00.1Z",
        "2024-05-01T12:00:00.123456789+02:00",
        "2024-02-29T23:59:59-05:30",
    ],
)
def test_good_date_time_passes(v16: Validator, stamp: str) -> None:
    v16.check_request("StatusNotification", {**STATUS, "timestamp": stamp})


def test_empty_array_is_occurrence(v16: Validator) -> None:
    error = failure(v16, "MeterValues", {"connectorId": 1, "meterValue": []})
    assert type(error) is OccurrenceConstraintViolation
    assert "meterValue" in error.description


def test_too_many_items_is_occurrence() -> None:
    payload = {"requestId": 1, "componentCriteria": ["Active"] * 5}
    assert type(failure(Validator(V201), "GetReport", payload)) is OccurrenceConstraintViolation


def test_below_minimum_is_property() -> None:
    error = failure(Validator(V21), "CancelReservation", {"reservationId": -1})
    assert type(error) is PropertyConstraintViolation
    assert "reservationId" in error.description
    assert error.code(V21) == "PropertyConstraintViolation"


def test_nested_path_is_named(v16: Validator) -> None:
    payload = meter_values(3)
    payload["meterValue"][0]["sampledValue"][2]["value"] = 7
    error = failure(v16, "MeterValues", payload)
    assert "meterValue[0].sampledValue[2].value" in error.description
    assert error.details["field"] == "meterValue[0].sampledValue[2].value"


def test_payload_that_is_not_an_object(v16: Validator) -> None:
    assert type(failure(v16, "Heartbeat", [])) is TypeConstraintViolation  # type: ignore[arg-type]


def test_unknown_action_is_not_implemented(v16: Validator) -> None:
    with pytest.raises(NotImplementedAction) as info:
        v16.check_request("TransactionEvent", {})
    assert info.value.code(V16) == "NotImplemented"
    with pytest.raises(NotImplementedAction):
        v16.check_response("Teleport", {})
    with pytest.raises(NotImplementedAction):
        v16.check_send("NotifyPeriodicEventStream", {})


def test_description_stays_short_for_huge_values(v16: Validator) -> None:
    error = failure(v16, "BootNotification", {**BOOT, "chargePointVendor": "V" * 100_000})
    assert len(error.description) < 200


# -- properties -----------------------------------------------------------------------------

BOOT_LIMITS = {"chargePointVendor": 20, "chargePointModel": 20, "firmwareVersion": 50, "iccid": 20}
BOOT_OPTIONAL = {
    "chargeBoxSerialNumber",
    "chargePointSerialNumber",
    "imsi",
    "meterSerialNumber",
    "meterType",
}
not_strings = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())


@given(st.sampled_from(sorted(BOOT_LIMITS)), not_strings)
def test_any_non_string_in_a_string_field_is_type(field: str, value: Any) -> None:
    error = failure(Validator(V16), "BootNotification", {**BOOT, field: value})
    assert type(error) is TypeConstraintViolation
    assert field in error.description


@given(st.sampled_from(sorted(BOOT_LIMITS)), st.data())
def test_any_overlong_string_is_type(field: str, data: st.DataObject) -> None:
    value = data.draw(st.text(min_size=BOOT_LIMITS[field] + 1, max_size=BOOT_LIMITS[field] + 30))
    error = failure(Validator(V16), "BootNotification", {**BOOT, field: value})
    assert type(error) is TypeConstraintViolation


@given(st.text(min_size=1).filter(lambda k: k not in BOOT and k not in BOOT_LIMITS))
def test_any_unknown_key_is_format(key: str) -> None:
    if key in BOOT_OPTIONAL:
        return
    error = failure(Validator(V16), "BootNotification", {**BOOT, key: "x"})
    assert type(error) is FormationViolation


@given(st.sampled_from(sorted(BOOT)))
def test_any_missing_required_field_is_occurrence(field: str) -> None:
    payload = {k: v for k, v in BOOT.items() if k != field}
    error = failure(Validator(V16), "BootNotification", payload)
    assert type(error) is OccurrenceConstraintViolation


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(
    st.sampled_from([V16, V201, V21]),
    st.sampled_from(["BootNotification", "MeterValues", "SetChargingProfile", "Authorize"]),
    st.dictionaries(st.text(max_size=20), json_values, max_size=5),
)
def test_arbitrary_payloads_raise_only_ocpp_errors(
    version: OcppVersion, action: str, payload: dict[str, Any]
) -> None:
    try:
        Validator(version).check_request(action, payload)
    except OcppError as exc:
        assert exc.description.startswith(action)


# -- speed -------------------------------------------------------------------------------------


def test_meter_values_validation_is_fast(v16: Validator) -> None:
    payload = meter_values(10)
    v16.check_request("MeterValues", payload)
    rounds = 2000
    start = time.perf_counter()
    for _ in range(rounds):
        v16.check_request("MeterValues", payload)
    per_call = (time.perf_counter() - start) / rounds
    # Measured about 20 us; the bound only catches an accidental slow path.
    assert per_call < 0.0005


@given(
    st.one_of(
        st.integers(min_value=2**63),
        st.integers(max_value=-(2**63) - 1),
    )
)
def test_an_integer_beyond_64_bits_is_a_property_constraint_violation(huge: int) -> None:
    validator = Validator(OcppVersion.V16)
    payload = {"listVersion": huge, "updateType": "Full"}
    with pytest.raises(PropertyConstraintViolation) as caught:
        validator.check_request("SendLocalList", payload)
    assert caught.value.details == {"field": "listVersion", "constraint": "int64"}
    period = {"startPeriod": huge, "limit": 16.0}
    nested = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [period]},
        },
    }
    with pytest.raises(PropertyConstraintViolation) as caught:
        validator.check_request("SetChargingProfile", nested)
    where = "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].startPeriod"
    assert caught.value.details["field"] == where


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_every_64_bit_integer_passes_the_range_check(value: int) -> None:
    # Left to the schema (listVersion has no bound in 1.6): accepted here.
    Validator(OcppVersion.V16).check_request(
        "SendLocalList", {"listVersion": value, "updateType": "Full"}
    )
