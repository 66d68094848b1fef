"""OCPP 2.0.1's device model: the station's catalog, and the rules over it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from ocppstation.protocol.v201.device_model import IllTyped, from_wire, to_wire

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
