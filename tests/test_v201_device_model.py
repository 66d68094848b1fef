"""OCPP 2.0.1's device model: the station's catalog, and the rules over it."""

from __future__ import annotations

import itertools
import json
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import fastjsonschema
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from ocpp.v201 import call, call_result
from ocpp.v201.datatypes import (
    ComponentType,
    ComponentVariableType,
    EVSEType,
    GetVariableDataType,
    ReportDataType,
    SetVariableDataType,
    VariableAttributeType,
    VariableType,
)
from ocpp.v201.enums import (
    ComponentCriterionEnumType,
    GetVariableStatusEnumType,
    ReportBaseEnumType,
    SetVariableStatusEnumType,
)

from ocppstation.config import keys_v16
from ocppstation.config.device_model import (
    Address,
    Attribute,
    Characteristics,
    DataType,
    Mutability,
)
from ocppstation.config.settings_catalog import LEGACY, SETTING_ADDRESSES
from ocppstation.config.v16_view import V16_ADDRESSES
from ocppstation.config.v201_components import (
    CONNECTOR,
    EVSE,
    CatalogError,
    Value,
    Variable,
    catalog,
    declare,
)
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v201.device_model import (
    IllTyped,
    address_of,
    base_report,
    component_type,
    from_wire,
    get_request,
    get_variables,
    message_limits,
    notify_report_pages,
    report,
    set_request,
    set_variable,
    set_variables,
    split_report,
    to_wire,
    variable_type,
)

STATION = {1: 2, 2: 1}
CATALOG = catalog(STATION)

# -- the catalog --------------------------------------------------------------

_FITTING_TYPES = {
    keys_v16.Kind.BOOL: {DataType.boolean},
    keys_v16.Kind.INT: {DataType.integer},
    keys_v16.Kind.CSL: {DataType.member_list, DataType.sequence_list},
    keys_v16.Kind.STRING: {DataType.string, DataType.password_string},
}
# 1.6 spells the charging-rate units out where 2.0.1 uses the symbols.
_RATE_UNITS = {"Current": "A", "Power": "W"}


def _as_201(key: str, value: keys_v16.Value) -> keys_v16.Value:
    if key == "ChargingScheduleAllowedChargingRateUnit" and isinstance(value, tuple):
        return tuple(_RATE_UNITS[v] for v in value)
    return value


_SHARED = sorted(
    (key, address) for key, address in V16_ADDRESSES.items() if address.component != LEGACY
)


def test_every_setting_2_0_1_has_is_in_the_catalog() -> None:
    shared = {a for a in SETTING_ADDRESSES.values() if a.component != LEGACY}
    assert shared - set(CATALOG) == set()


@pytest.mark.parametrize(("key", "address"), _SHARED, ids=[k for k, _ in _SHARED])
def test_a_shared_key_has_a_type_that_holds_what_1_6_writes(key: str, address: Address) -> None:
    spec = keys_v16.KEYS[key]
    variable = CATALOG[address]
    characteristics = variable.spec.characteristics
    assert characteristics.data_type in _FITTING_TYPES[spec.kind]
    if spec.write_only:
        assert variable.spec.mutability is Mutability.write_only
    if spec.kind is keys_v16.Kind.INT:
        # Every integer 1.6 accepts, 2.0.1 accepts too.
        if characteristics.min_limit is not None:
            assert spec.minimum is not None and spec.minimum >= characteristics.min_limit
        if characteristics.max_limit is not None:
            assert spec.maximum is not None and spec.maximum <= characteristics.max_limit
    if spec.kind is keys_v16.Kind.STRING and characteristics.max_limit is not None:
        assert spec.max_length <= characteristics.max_limit
    if spec.kind is keys_v16.Kind.CSL and spec.allowed and characteristics.values_list:
        allowed = _as_201(key, spec.allowed)
        assert isinstance(allowed, tuple)
        assert set(allowed) <= set(characteristics.values_list)
    if spec.default is not None:
        assert characteristics.problem(_as_201(key, spec.default)) is None


def test_1_6_measurands_2_0_1_lacks_are_only_rpm_and_temperature() -> None:
    listed = CATALOG[Address("SampledDataCtrlr", "TxUpdatedMeasurands")].spec.characteristics
    assert set(keys_v16.MEASURANDS) - set(listed.values_list) == {"RPM", "Temperature"}


def test_every_default_fits_its_variable_and_actual_comes_first() -> None:
    for address, variable in CATALOG.items():
        assert variable.address == address
        assert variable.attributes[0] is Attribute.actual
        if variable.default is not None:
            assert variable.spec.characteristics.problem(variable.default) is None


def test_the_brief_s_variables_are_all_there() -> None:
    def has(component: str, variable: str, instance: str | None = None, **at: Any) -> bool:
        return Address(component, variable, variable_instance=instance, **at) in CATALOG

    for name in ("SecurityProfile", "BasicAuthPassword", "Identity", "OrganizationName"):
        assert has("SecurityCtrlr", name)
    assert CATALOG[
        Address("SecurityCtrlr", "BasicAuthPassword")
    ].spec.characteristics.data_type is (DataType.password_string)
    assert has("OCPPCommCtrlr", "MessageTimeout", "Default")
    for instance in ("GetReport", "GetVariables", "SetVariables"):
        assert has("DeviceDataCtrlr", "ItemsPerMessage", instance)
        assert has("DeviceDataCtrlr", "BytesPerMessage", instance)
    for name in ("Available", "AvailabilityState", "Model", "VendorName", "SupplyPhases"):
        assert has("ChargingStation", name)
    for name in ("Enabled", "Entries", "Available", "ItemsPerMessage", "BytesPerMessage"):
        assert has("LocalAuthListCtrlr", name)
    for name in ("TxStartPoint", "TxStopPoint", "TxBeforeAcceptedEnabled"):
        assert has("TxCtrlr", name)
    assert has("AlignedDataCtrlr", "SendDuringIdle")
    assert has("ClockCtrlr", "TimeSource")


def test_each_evse_and_connector_has_its_component() -> None:
    evses = {a.evse for a in CATALOG if a.component == EVSE}
    connectors = {(a.evse, a.connector) for a in CATALOG if a.component == CONNECTOR}
    assert evses == {1, 2}
    assert connectors == {(1, 1), (1, 2), (2, 1)}
    power = CATALOG[Address(EVSE, "Power", evse=2)]
    assert power.attributes == (Attribute.actual, Attribute.max_set)
    assert power.spec.characteristics.unit == "W"
    for name in ("Available", "AvailabilityState", "ConnectorType", "SupplyPhases"):
        assert Address(CONNECTOR, name, evse=1, connector=2) in CATALOG
    assert Address(CONNECTOR, "Available", evse=2, connector=2) not in CATALOG


def test_an_evse_counts_from_one() -> None:
    with pytest.raises(CatalogError):
        catalog({0: 1})
    with pytest.raises(CatalogError):
        catalog({1: 0})


# -- custom variables ---------------------------------------------------------

FAN = {
    "component": "AcmeCtrlr",
    "variable": "FanSpeed",
    "data_type": "integer",
    "unit": "rpm",
    "min": 0,
    "max": 5000,
    "default": 1200,
    "reboot_required": True,
}


def test_a_custom_variable_joins_the_catalog() -> None:
    modes = {
        "component": "AcmeCtrlr",
        "variable": "Modes",
        "variable_instance": "Night",
        "data_type": "MemberList",
        "values": ["Quiet", "Eco", "Boost"],
        "default": ["Quiet", "Eco"],
        "attributes": ["Actual", "Target"],
    }
    lamp = {"component": EVSE, "evse": 2, "variable": "Lamp", "data_type": "boolean"}
    station = catalog(STATION, [FAN, modes, lamp])
    fan = station[Address("AcmeCtrlr", "FanSpeed")]
    assert fan.reboot_required and fan.default == 1200
    assert fan.spec.characteristics.max_limit == 5000
    assert station[Address("AcmeCtrlr", "Modes", variable_instance="Night")].default == (
        "Quiet",
        "Eco",
    )
    assert station[Address(EVSE, "Lamp", evse=2)].default is None
    assert len(station) == len(CATALOG) + 3


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"data_type": "float"}, "data_type 'float'"),
        ({"mutability": "Sometimes"}, "mutability 'Sometimes'"),
        ({"default": 9000}, "above 5000"),
        ({"default": "fast"}, "not a number"),
        ({"min": 10, "max": 1}, "min is above max"),
        ({"attributes": ["MaxSet"]}, "start with Actual"),
        ({"attributes": ["Actual", "Highest"]}, "attributes"),
        ({"values": ["a"]}, "only for a list type"),
        ({"evse": True}, "wrong type"),
        ({"variable": ""}, "variable name"),
        ({"connector": 1}, "names its EVSE"),
    ],
)
def test_a_bad_custom_variable_is_refused_by_name(change: dict[str, Any], words: str) -> None:
    with pytest.raises(CatalogError) as caught:
        declare([{"component": "X", "variable": "Y", "data_type": "boolean"}, {**FAN, **change}])
    assert "custom variable 2 (AcmeCtrlr." in str(caught.value)
    assert words in str(caught.value)


def test_a_custom_variable_may_not_take_a_standard_place_or_a_missing_evse() -> None:
    heartbeat = {
        "component": "OCPPCommCtrlr",
        "variable": "HeartbeatInterval",
        "data_type": "integer",
    }
    with pytest.raises(CatalogError, match="already has"):
        catalog(STATION, [heartbeat])
    with pytest.raises(CatalogError, match="no EVSE 3"):
        catalog(STATION, [{"component": EVSE, "evse": 3, "variable": "V", "data_type": "string"}])
    with pytest.raises(CatalogError, match="no connector 2"):
        catalog(
            STATION,
            [
                {
                    "component": CONNECTOR,
                    "evse": 2,
                    "connector": 2,
                    "variable": "V",
                    "data_type": "string",
                }
            ],
        )
    with pytest.raises(CatalogError, match="declared twice"):
        declare([FAN, FAN])


def test_a_variable_lists_actual_first() -> None:
    base = CATALOG[Address("OCPPCommCtrlr", "HeartbeatInterval")]
    with pytest.raises(ValueError):
        Variable(base.spec, (Attribute.target,))
    with pytest.raises(ValueError):
        Variable(base.spec, default=0)  # below its minimum of 1


# -- wire strings -------------------------------------------------------------

_SAFE_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
_ITEM = st.text(
    st.characters(codec="ascii", categories=("L", "N", "P"), exclude_characters=","),
    min_size=1,
    max_size=12,
)


@st.composite
def _typed(draw: st.DrawFn) -> tuple[Characteristics, Value]:
    """A data type's characteristics and a value that fits them."""
    data_type = draw(st.sampled_from(list(DataType)))
    match data_type:
        case DataType.boolean:
            return Characteristics(data_type), draw(st.booleans())
        case DataType.integer:
            low = draw(st.integers(-(2**31), 2**31 - 1))
            high = draw(st.integers(low, 2**31 - 1))
            return Characteristics(data_type, min_limit=low, max_limit=high), draw(
                st.integers(low, high)
            )
        case DataType.decimal:
            number = draw(
                st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6)
            )
            return Characteristics(data_type), number
        case DataType.option_list:
            options = draw(st.lists(_ITEM, min_size=1, max_size=6, unique=True))
            return Characteristics(data_type, values_list=tuple(options)), draw(
                st.sampled_from(options)
            )
        case DataType.member_list | DataType.sequence_list:
            options = draw(st.lists(_ITEM, max_size=8, unique=True))
            listed = draw(st.booleans()) and bool(options)
            items = (
                draw(st.lists(st.sampled_from(options), unique=True))
                if listed
                else draw(st.lists(_ITEM, unique=True, max_size=5))
            )
            values_list = tuple(options) if listed else ()
            return Characteristics(data_type, values_list=values_list), tuple(items)
        case DataType.date_time:
            moment = draw(
                st.datetimes(
                    min_value=datetime(1970, 1, 1),
                    max_value=datetime(2200, 1, 1),
                    timezones=st.just(UTC) | st.just(timezone(timedelta(hours=-5))),
                )
            )
            text = moment.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds"])))
            if draw(st.booleans()):
                text = text.replace("+00:00", "Z")
            return Characteristics(data_type), text
        case _:
            return Characteristics(data_type, max_limit=60), draw(_SAFE_TEXT)


@given(_typed())
def test_a_value_survives_the_wire(case: tuple[Characteristics, Value]) -> None:
    characteristics, value = case
    text = to_wire(characteristics, value)
    back = from_wire(characteristics, text)
    assert back == value
    assert type(back) is (float if characteristics.data_type is DataType.decimal else type(value))
    assert to_wire(characteristics, back) == text


@pytest.mark.parametrize(
    ("data_type", "text", "words"),
    [
        (DataType.boolean, "yes", "not true or false"),
        (DataType.boolean, "", "not true or false"),
        (DataType.integer, "1.5", "not an integer"),
        (DataType.integer, "0x10", "not an integer"),
        (DataType.integer, "99999999999", "beyond 32 bits"),
        (DataType.decimal, "1e5", "not a decimal"),
        (DataType.decimal, "nan", "not a decimal"),
        (DataType.option_list, "", "empty option"),
        (DataType.member_list, "a,,b", "empty item"),
        (DataType.sequence_list, "a,b,a", "twice"),
        (DataType.date_time, "2026-12-03 10:00:00", "RFC 3339"),
        (DataType.date_time, "2026-12-03T10:00:00", "RFC 3339"),
        (DataType.date_time, "2026-02-30T10:00:00Z", "calendar"),
    ],
)
def test_an_ill_typed_string_says_why(data_type: DataType, text: str, words: str) -> None:
    with pytest.raises(IllTyped, match=words):
        from_wire(Characteristics(data_type), text)


def test_wire_strings_keep_to_the_variable() -> None:
    heartbeat = CATALOG[Address("OCPPCommCtrlr", "HeartbeatInterval")].spec.characteristics
    assert from_wire(heartbeat, "+30") == 30
    with pytest.raises(IllTyped, match="below 1") as caught:
        from_wire(heartbeat, "0")
    assert caught.value.reason_code == "ValueTooLow"
    measurands = CATALOG[Address("AlignedDataCtrlr", "Measurands")].spec.characteristics
    assert from_wire(measurands, "Voltage, Frequency") == ("Voltage", "Frequency")
    with pytest.raises(IllTyped, match="Temperature not in"):
        from_wire(measurands, "Voltage,Temperature")
    password = CATALOG[Address("SecurityCtrlr", "BasicAuthPassword")].spec.characteristics
    with pytest.raises(IllTyped, match="shorter than 16"):
        from_wire(password, "short")
    assert from_wire(Characteristics(DataType.boolean), "TRUE") is True
    assert to_wire(Characteristics(DataType.decimal), 1e20) == "100000000000000000000"
    assert to_wire(Characteristics(DataType.decimal), 0.1) == "0.1"


# -- GetVariables and SetVariables --------------------------------------------


def _get(
    component: str,
    variable: str,
    *,
    instance: str | None = None,
    evse: int | None = None,
    connector: int | None = None,
    attribute: Attribute | None = None,
) -> GetVariableDataType:
    where = None if evse is None else EVSEType(id=evse, connector_id=connector)
    return GetVariableDataType(
        ComponentType(component, evse=where), VariableType(variable, instance), attribute
    )


def _set(text: str, address: Address, attribute: Attribute | None = None) -> SetVariableDataType:
    return SetVariableDataType(text, component_type(address), variable_type(address), attribute)


HEARTBEAT = Address("OCPPCommCtrlr", "HeartbeatInterval")
PASSWORD = Address("SecurityCtrlr", "BasicAuthPassword")
POWER = Address(EVSE, "Power", evse=1)


def test_get_variables_answers_each_item_in_order() -> None:
    results = get_variables(
        [
            _get("OCPPCommCtrlr", "HeartbeatInterval"),
            _get("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent"),
            _get("OCPPCommCtrlr", "MessageAttempts"),
            _get("NoSuchCtrlr", "HeartbeatInterval"),
            _get("OCPPCommCtrlr", "HeartbeatInterval", evse=1),
            _get("OCPPCommCtrlr", "Heartbeat"),
            _get("OCPPCommCtrlr", "HeartbeatInterval", attribute=Attribute.max_set),
            _get("SecurityCtrlr", "BasicAuthPassword"),
            _get(CONNECTOR, "ConnectorType", evse=1, connector=2),
            _get(CONNECTOR, "ConnectorType", evse=1, connector=3),
            _get(EVSE, "Power", evse=1, attribute=Attribute.max_set),
            _get("TxCtrlr", "TxStopPoint", attribute=Attribute.actual),
            _get("", "HeartbeatInterval"),
        ],
        CATALOG,
        {HEARTBEAT: 42, PASSWORD: "0123456789abcdef"},
        {(POWER, Attribute.max_set): 22000.0},
    )
    status = GetVariableStatusEnumType
    assert [(r.attribute_status, r.attribute_value) for r in results] == [
        (status.accepted, "42"),
        (status.accepted, "3"),
        (status.unknown_variable, None),
        (status.unknown_component, None),
        (status.unknown_component, None),
        (status.unknown_variable, None),
        (status.not_supported_attribute_type, None),
        (status.rejected, None),
        (status.accepted, "Unknown"),
        (status.unknown_component, None),
        (status.accepted, "22000"),
        (status.accepted, "EVConnected,Authorized"),
        (status.unknown_component, None),
    ]
    assert results[7].attribute_status_info is not None
    assert results[7].attribute_status_info.reason_code == "WriteOnly"
    assert results[10].attribute_type is Attribute.max_set
    assert results[0].attribute_type is None  # as asked: Actual by default


def test_a_variable_without_a_value_reads_empty() -> None:
    (result,) = get_variables([_get(EVSE, "Power", evse=1)], CATALOG, {})
    assert result.attribute_status is GetVariableStatusEnumType.accepted
    assert result.attribute_value == ""


def test_a_value_is_cut_to_reporting_value_size() -> None:
    name = Address("SecurityCtrlr", "OrganizationName")
    values = {name: "x" * 2000, Address("DeviceDataCtrlr", "ReportingValueSize"): 10}
    (result,) = get_variables([_get("SecurityCtrlr", "OrganizationName")], CATALOG, values)
    assert result.attribute_value == "x" * 10


def test_set_variable_rules() -> None:
    status = SetVariableStatusEnumType

    def outcome(text: str, address: Address, attribute: Attribute | None = None) -> Any:
        result, value = set_variable(_set(text, address, attribute), CATALOG, {})
        info = result.attribute_status_info
        return result.attribute_status, value, info and info.reason_code

    assert outcome("30", HEARTBEAT) == (status.accepted, 30, None)
    assert outcome("0", HEARTBEAT) == (status.rejected, None, "ValueTooLow")
    assert outcome("often", HEARTBEAT) == (status.rejected, None, "InvalidValue")
    assert outcome("30", HEARTBEAT, Attribute.target) == (
        status.not_supported_attribute_type,
        None,
        None,
    )
    assert outcome("2", Address("SecurityCtrlr", "SecurityProfile")) == (
        status.rejected,
        None,
        "ReadOnly",
    )
    assert outcome("30", Address("OCPPCommCtrlr", "Nope")) == (status.unknown_variable, None, None)
    assert outcome("30", Address("NopeCtrlr", "HeartbeatInterval")) == (
        status.unknown_component,
        None,
        None,
    )
    assert outcome("0123456789abcdef", PASSWORD) == (status.accepted, "0123456789abcdef", None)
    assert outcome("PowerPathClosed,Authorized", Address("TxCtrlr", "TxStopPoint"))[1] == (
        "PowerPathClosed",
        "Authorized",
    )
    # A start point the EVSE does not honour is refused, not stored and ignored.
    assert outcome("EnergyTransfer", Address("TxCtrlr", "TxStartPoint"))[0] == status.rejected


def test_a_rejected_password_is_not_repeated_back() -> None:
    result, _ = set_variable(_set("hunter2", PASSWORD), CATALOG, {})
    assert result.attribute_status is SetVariableStatusEnumType.rejected
    assert "hunter2" not in str(dump(result))


def test_a_custom_variable_that_needs_a_reboot_says_so() -> None:
    station = catalog(STATION, [FAN])
    result, value = set_variable(_set("2000", Address("AcmeCtrlr", "FanSpeed")), station, {})
    assert result.attribute_status is SetVariableStatusEnumType.reboot_required
    assert value == 2000


def test_an_actual_stays_between_min_set_and_max_set() -> None:
    station = catalog(
        STATION,
        [
            {
                "component": "AcmeCtrlr",
                "variable": "Current",
                "data_type": "decimal",
                "unit": "A",
                "min": 0,
                "max": 63,
                "attributes": ["Actual", "MinSet", "MaxSet"],
            }
        ],
    )
    current = Address("AcmeCtrlr", "Current")
    results, changes = set_variables(
        [
            _set("32", current, Attribute.max_set),
            _set("6", current, Attribute.min_set),
            _set("40", current),
            _set("16.5", current),
            _set("33", current, Attribute.min_set),
            _set("5", current, Attribute.max_set),
        ],
        station,
        {},
    )
    assert [r.attribute_status.value for r in results] == [
        "Accepted",
        "Accepted",
        "Rejected",
        "Accepted",
        "Rejected",
        "Rejected",
    ]
    assert changes == {
        (current, Attribute.max_set): 32.0,
        (current, Attribute.min_set): 6.0,
        (current, Attribute.actual): 16.5,
    }


def test_set_request_and_get_request_take_wire_dicts() -> None:
    raw = {
        "attributeValue": "12",
        "component": {"name": EVSE, "evse": {"id": 1}},
        "variable": {"name": "Power"},
        "attributeType": "MaxSet",
    }
    request = set_request(raw)
    assert request.component.evse == EVSEType(id=1)
    assert request.attribute_type is Attribute.max_set
    got = get_request({"component": {"name": "ClockCtrlr"}, "variable": {"name": "TimeSource"}})
    (result,) = get_variables([got], CATALOG, {})
    assert result.attribute_value == "Heartbeat"


# Strategies over the catalog: a writable variable and a value that fits it.
_WRITABLE = sorted(
    (a for a, v in CATALOG.items() if v.spec.writable()), key=lambda a: (str(a), a.evse or 0)
)
_READ_ONLY = sorted(
    (a for a, v in CATALOG.items() if v.spec.mutability is Mutability.read_only), key=str
)


@st.composite
def _fitting(draw: st.DrawFn, address: Address) -> str:
    c = CATALOG[address].spec.characteristics
    match c.data_type:
        case DataType.boolean:
            return draw(st.sampled_from(["true", "false"]))
        case DataType.integer | DataType.decimal:
            low = int(c.min_limit) if c.min_limit is not None else -(2**31)
            high = int(c.max_limit) if c.max_limit is not None else 2**31 - 1
            return str(draw(st.integers(low, high)))
        case DataType.option_list:
            return draw(st.sampled_from(c.values_list))
        case DataType.member_list | DataType.sequence_list:
            pool = st.sampled_from(c.values_list) if c.values_list else _ITEM
            return ",".join(draw(st.lists(pool, unique=True, max_size=4)))
        case DataType.date_time:
            return "2026-12-03T10:00:00Z"
        case _:
            low = int(c.min_limit or 0)
            high = int(c.max_limit or 100)
            return draw(st.text(st.characters(codec="ascii"), min_size=low, max_size=high))


@given(st.data())
def test_an_accepted_value_reads_back(data: st.DataObject) -> None:
    address = data.draw(st.sampled_from(_WRITABLE))
    text = data.draw(_fitting(address))
    result, value = set_variable(_set(text, address), CATALOG, {})
    assert result.attribute_status is SetVariableStatusEnumType.accepted, result
    assert value is not None
    (read,) = get_variables(
        [GetVariableDataType(component_type(address), variable_type(address))],
        CATALOG,
        {address: value},
    )
    if CATALOG[address].spec.mutability is Mutability.write_only:
        assert read.attribute_status is GetVariableStatusEnumType.rejected
    else:
        assert read.attribute_status is GetVariableStatusEnumType.accepted
        assert read.attribute_value is not None
        characteristics = CATALOG[address].spec.characteristics
        assert from_wire(characteristics, read.attribute_value) == from_wire(characteristics, text)


@given(st.sampled_from(_READ_ONLY), st.text(max_size=30), st.sampled_from([None, *Attribute]))
def test_a_read_only_variable_is_never_set(
    address: Address, text: str, attribute: Attribute | None
) -> None:
    result, value = set_variable(_set(text, address, attribute), CATALOG, {})
    assert value is None
    assert result.attribute_status in (
        SetVariableStatusEnumType.rejected,
        SetVariableStatusEnumType.not_supported_attribute_type,
    )


_NAMES = st.text(st.characters(codec="ascii", categories=("L",)), min_size=0, max_size=8)


@given(
    _NAMES,
    _NAMES,
    st.none() | st.integers(0, 4),
    st.none() | st.integers(0, 3),
    st.text(max_size=10),
)
def test_an_unknown_address_is_never_accepted(
    component: str, variable: str, evse: int | None, connector: int | None, text: str
) -> None:
    where = None if evse is None else EVSEType(id=evse, connector_id=connector)
    known = address_of(ComponentType(component, evse=where), VariableType(variable))
    assume(known is None or known not in CATALOG)
    comp, var = ComponentType(component, evse=where), VariableType(variable)
    (got,) = get_variables([GetVariableDataType(comp, var)], CATALOG, {})
    result, value = set_variable(SetVariableDataType(text, comp, var), CATALOG, {})
    assert got.attribute_status in (
        GetVariableStatusEnumType.unknown_component,
        GetVariableStatusEnumType.unknown_variable,
    )
    assert value is None
    assert result.attribute_status in (
        SetVariableStatusEnumType.unknown_component,
        SetVariableStatusEnumType.unknown_variable,
    )


# -- reports ------------------------------------------------------------------


def _schema(name: str) -> Any:
    text = (resources.files("ocpp") / "v201" / "schemas" / f"{name}.json").read_text()
    return fastjsonschema.compile(json.loads(text))


NOTIFY_REPORT = _schema("NotifyReportRequest")


def _notify(page: list[ReportDataType], seq_no: int = 0, tbc: bool = False) -> dict[str, Any]:
    message = call.NotifyReport(
        request_id=7,
        generated_at="2026-12-03T10:00:00Z",
        seq_no=seq_no,
        report_data=page,
        tbc=tbc,
    )
    payload = dump(message)
    NOTIFY_REPORT(payload)
    return payload


def _addresses(data: list[ReportDataType]) -> list[tuple[str, str, str | None, Any]]:
    return [
        (d.component.name, d.variable.name, d.variable.instance, d.component.evse) for d in data
    ]


def test_full_inventory_has_every_variable_with_its_characteristics() -> None:
    values = {PASSWORD: "0123456789abcdef", HEARTBEAT: 90}
    data = base_report(ReportBaseEnumType.full_inventory, CATALOG, values)
    assert len(data) == len(CATALOG)
    assert all(d.variable_characteristics is not None for d in data)
    by_name = {(d.component.name, d.variable.name): d for d in data}
    password = by_name[("SecurityCtrlr", "BasicAuthPassword")]
    assert [a.value for a in password.variable_attribute] == [None]
    assert password.variable_attribute[0].mutability is Mutability.write_only
    assert by_name[("OCPPCommCtrlr", "HeartbeatInterval")].variable_attribute[0].value == "90"
    assert "0123456789abcdef" not in json.dumps(_notify(data))


def test_configuration_inventory_has_the_writable_variables() -> None:
    data = base_report(ReportBaseEnumType.configuration_inventory, CATALOG, {})
    writable = [a for a, v in CATALOG.items() if v.spec.writable()]
    assert len(data) == len(writable)
    assert all(a.mutability is not Mutability.read_only for d in data for a in d.variable_attribute)
    _notify(data)


def test_summary_inventory_is_availability_and_problems() -> None:
    problem = Address("ChargingStation", "Problem")
    quiet = base_report(ReportBaseEnumType.summary_inventory, CATALOG, {})
    assert {d.variable.name for d in quiet} == {"AvailabilityState"}
    # The station, 2 EVSEs and 3 connectors.
    assert len(quiet) == 6
    loud = base_report(ReportBaseEnumType.summary_inventory, CATALOG, {problem: True})
    assert len(loud) == 7
    _notify(loud)


def test_get_report_by_component_and_variable() -> None:
    def asked(*wanted: dict[str, Any]) -> list[tuple[str, str, str | None, Any]]:
        return _addresses(report(None, list(wanted), CATALOG, {}))

    whole = asked({"component": {"name": "AuthCacheCtrlr"}})
    assert len(whole) == sum(1 for a in CATALOG if a.component == "AuthCacheCtrlr")
    attempts = asked(
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "MessageAttempts"}}
    )
    assert attempts == [("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent", None)]
    # No EVSE named: every EVSE; an EVSE without a connector: all its connectors.
    assert len(asked({"component": {"name": EVSE}, "variable": {"name": "Power"}})) == 2
    assert len(asked({"component": {"name": CONNECTOR, "evse": {"id": 1}}})) == 8
    assert len(asked({"component": {"name": CONNECTOR, "evse": {"id": 1, "connectorId": 2}}})) == 4
    assert asked({"component": {"name": "NoSuchCtrlr"}}) == []
    assert asked({"component": {"name": "TxCtrlr"}, "variable": {"name": "Nope"}}) == []


def test_get_report_by_criteria() -> None:
    criterion = ComponentCriterionEnumType
    cache_off = {Address("AuthCacheCtrlr", "Enabled"): False}
    enabled = {d.component.name for d in report([criterion.enabled], None, CATALOG, cache_off)}
    # Components without an Enabled variable count as enabled.
    assert "AuthCacheCtrlr" not in enabled
    assert {"OCPPCommCtrlr", "LocalAuthListCtrlr", EVSE} <= enabled
    assert report([criterion.problem], None, CATALOG, {}) == []
    problem = {Address("ChargingStation", "Problem"): True}
    assert {d.component.name for d in report([criterion.problem], None, CATALOG, problem)} == {
        "ChargingStation"
    }
    # Both filters: what matches both.
    both = report(
        [criterion.enabled],
        [ComponentVariableType(ComponentType("AuthCacheCtrlr"))],
        CATALOG,
        cache_off,
    )
    assert both == []
    assert len(report(None, None, CATALOG, {})) == len(CATALOG)


# -- NotifyReport paging ------------------------------------------------------


def _item(n: int, size: int) -> ReportDataType:
    return ReportDataType(
        component=ComponentType(f"C{n}"),
        variable=VariableType("V"),
        variable_attribute=[VariableAttributeType(value="x" * size)],
    )


def _bytes(page: list[ReportDataType]) -> int:
    return len(json.dumps([dump(i) for i in page], separators=(",", ":")).encode())


@given(
    st.lists(st.integers(0, 400), max_size=40),
    st.integers(1, 8),
    st.integers(2, 1500),
)
def test_pages_keep_to_both_limits_and_keep_every_item(
    sizes: list[int], items: int, limit: int
) -> None:
    data = [_item(n, size) for n, size in enumerate(sizes)]
    pages = split_report(data, items, limit)
    assert [i for page in pages for i in page] == data
    for page in pages:
        assert 1 <= len(page) <= items
        assert len(page) == 1 or _bytes(page) <= limit
    # Greedy: no page could have taken the next page's first item.
    for page, after in itertools.pairwise(pages):
        assert len(page) == items or _bytes([*page, after[0]]) > limit


def test_pages_number_from_zero_with_tbc_on_all_but_the_last() -> None:
    data = base_report(ReportBaseEnumType.full_inventory, CATALOG, {})
    pages = list(notify_report_pages(data, 10, 4000, overhead=200))
    assert [p.seq_no for p in pages] == list(range(len(pages)))
    assert [p.tbc for p in pages] == [True] * (len(pages) - 1) + [False]
    for seq_no, tbc, page in pages:
        payload = _notify(page, seq_no, tbc)
        assert len(json.dumps(payload, separators=(",", ":"))) <= 4000
    assert list(notify_report_pages([], 10, 4000)) == []
    with pytest.raises(ValueError):
        split_report(data, 0, 4000)


def test_get_and_set_results_are_schema_valid() -> None:
    gets = get_variables(
        [_get("OCPPCommCtrlr", "HeartbeatInterval"), _get("SecurityCtrlr", "BasicAuthPassword")],
        CATALOG,
        {},
    )
    _schema("GetVariablesResponse")(dump(call_result.GetVariables(get_variable_result=gets)))
    sets, _ = set_variables(
        [_set("x", HEARTBEAT), _set("5", HEARTBEAT), _set("1", Address("X", "Y"))], CATALOG, {}
    )
    _schema("SetVariablesResponse")(dump(call_result.SetVariables(set_variable_result=sets)))


def test_message_limits_come_from_device_data_ctrlr() -> None:
    items = Address("DeviceDataCtrlr", "ItemsPerMessage", variable_instance="GetReport")
    assert message_limits("GetReport", CATALOG, {items: 7}) == (7, 65536)
    assert message_limits("SetVariables", CATALOG, {}) == (100, 65536)
    with pytest.raises(KeyError):
        message_limits("Other", CATALOG, {})


def test_custom_variables_read_from_toml() -> None:
    entries = tomllib.loads(
        """
        [[variable]]
        component = "AcmeCtrlr"
        variable = "Greeting"
        data_type = "string"
        max = 20
        default = "hello"

        [[variable]]
        component = "AcmeCtrlr"
        variable = "Rates"
        data_type = "SequenceList"
        values = ["Low", "High"]
        default = ["High", "Low"]
        """
    )["variable"]
    station = catalog(STATION, entries)
    assert station[Address("AcmeCtrlr", "Rates")].default == ("High", "Low")
    with pytest.raises(CatalogError, match=r"custom variable 1 \(AcmeCtrlr.Greeting\): default"):
        catalog(STATION, [{**entries[0], "default": "x" * 21}])


def test_a_nameless_variable_of_a_known_component_is_an_unknown_variable() -> None:
    (result,) = get_variables([_get("OCPPCommCtrlr", "")], CATALOG, {})
    assert result.attribute_status is GetVariableStatusEnumType.unknown_variable
