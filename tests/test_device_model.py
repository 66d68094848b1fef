"""The device model's rules, the domain settings, and 1.6's keys as a view onto them."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.storage.migrations import apply_migrations, load_migrations
from ocppstation.config import keys_v16
from ocppstation.config.device_model import (
    NAME_MAX,
    Address,
    AddressError,
    Characteristics,
    DataType,
    Mutability,
)
from ocppstation.config.settings_catalog import (
    CUSTOM,
    LEGACY,
    SETTING_ADDRESSES,
    Setting,
    setting_at,
)
from ocppstation.config.v16_view import V16_ADDRESSES, v16_address, v16_key, v16_variable

KEYS = sorted(keys_v16.KEYS)


def test_every_1_6_key_has_one_address_and_no_two_share_one() -> None:
    assert set(V16_ADDRESSES) == set(keys_v16.KEYS)
    addresses = list(V16_ADDRESSES.values())
    assert len(set(addresses)) == len(addresses)
    # A key without a 2.0.1 counterpart keeps its 1.6 name, in the legacy component.
    for key, address in V16_ADDRESSES.items():
        if address.component == LEGACY:
            assert address.variable == key


@pytest.mark.parametrize("setting", list(Setting))
def test_every_setting_is_a_1_6_key_of_a_1_6_station(setting: Setting) -> None:
    key = v16_key(setting)
    assert V16_ADDRESSES[key] == SETTING_ADDRESSES[setting]
    assert setting_at(SETTING_ADDRESSES[setting]) is setting


def test_no_two_settings_share_an_address() -> None:
    assert len(set(SETTING_ADDRESSES.values())) == len(SETTING_ADDRESSES)


def test_a_custom_key_lives_in_the_custom_component_and_an_unknown_one_nowhere() -> None:
    sections = {"Custom": {"Vendor.Mode": {"type": "string", "value": "eco"}}}
    table = keys_v16.station_table(sections)
    assert v16_address("Vendor.Mode", table) == Address(CUSTOM, "Vendor.Mode")
    with pytest.raises(KeyError):
        v16_address("NotAKey", table)


names = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=60)


@given(names, names, st.one_of(st.none(), st.integers(1, 128)), st.booleans())
def test_an_address_takes_names_2_0_1_can_carry(
    component: str, variable: str, evse: int | None, with_connector: bool
) -> None:
    connector = 1 if with_connector else None
    fits = len(component) <= NAME_MAX and len(variable) <= NAME_MAX and (evse or not connector)
    if not fits:
        with pytest.raises(AddressError):
            Address(component, variable, evse=evse, connector=connector)
        return
    address = Address(component, variable, evse=evse, connector=connector)
    text = str(address)
    assert text.startswith(component) and text.endswith(f".{variable}")
    assert (f"@{evse}" in text) is (evse is not None)


@given(
    st.integers(-100, 100),
    st.one_of(st.none(), st.integers(-50, 50)),
    st.one_of(st.none(), st.integers(-50, 50)),
)
def test_an_integer_fits_exactly_within_its_limits(
    value: int, low: int | None, high: int | None
) -> None:
    rules = Characteristics(DataType.integer, min_limit=low, max_limit=high)
    inside = (low is None or value >= low) and (high is None or value <= high)
    assert (rules.problem(value) is None) is inside
    assert rules.problem(True) is not None  # a boolean is no number
    assert rules.problem("7") is not None


@given(st.lists(st.sampled_from(["A", "B", "C", "D"]), max_size=4).map(tuple))
def test_a_member_list_takes_only_listed_values(members: tuple[str, ...]) -> None:
    rules = Characteristics(DataType.member_list, values_list=("A", "B", "C"))
    assert (rules.problem(members) is None) is ("D" not in members)
    assert rules.problem("A") is not None  # one value is not a list


def _text_for(spec: keys_v16.KeySpec) -> st.SearchStrategy[str]:
    match spec.kind:
        case keys_v16.Kind.BOOL:
            return st.sampled_from(["true", "false", "TRUE"])
        case keys_v16.Kind.INT:
            return st.integers(-(10**6), 10**6).map(str)
        case keys_v16.Kind.CSL:
            options = spec.allowed or ("Energy.Active.Import.Register", "SoC", "Voltage.L1")
            return st.lists(st.sampled_from(options), max_size=3).map(",".join)
    return st.text(max_size=50)


@given(st.data())
def test_a_value_1_6_accepts_fits_the_device_model_description_of_its_key(
    data: st.DataObject,
) -> None:
    key = data.draw(st.sampled_from(KEYS))
    spec = keys_v16.KEYS[key]
    variable = v16_variable(spec, keys_v16.KEYS)
    assert variable.address == V16_ADDRESSES[key]
    expected = (
        Mutability.read_only
        if spec.readonly
        else Mutability.write_only
        if spec.write_only
        else Mutability.read_write
    )
    assert variable.mutability is expected
    text = data.draw(_text_for(spec))
    try:
        value = keys_v16.parse(key, text)
    except keys_v16.ConfigValueError:
        return
    assert variable.characteristics.problem(value) is None


def test_migration_0006_moves_each_stored_1_6_key_to_its_address() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrations = load_migrations()
    apply_migrations(conn, migrations[:5], "test")
    stored = {
        "HeartbeatInterval": "600",  # a 2.0.1 variable
        "MinimumStatusDuration": "5",  # 1.6 only: legacy
        "TransactionMessageAttempts": "4",  # a variable with an instance
        "Vendor.Mode": "eco",  # an integrator's key
    }
    conn.executemany("INSERT INTO config_overlay (key, value) VALUES (?, ?)", stored.items())
    apply_migrations(conn, migrations, "test")
    rows = conn.execute(
        "SELECT component, variable, variable_instance, attribute, value FROM setting"
    ).fetchall()
    moved = {(Address(c, v, variable_instance=i or None), a): value for c, v, i, a, value in rows}
    assert moved == {
        (V16_ADDRESSES["HeartbeatInterval"], "Actual"): "600",
        (Address(LEGACY, "MinimumStatusDuration"), "Actual"): "5",
        (
            Address("OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent"),
            "Actual",
        ): "4",
        (Address(CUSTOM, "Vendor.Mode"), "Actual"): "eco",
    }
    assert "config_overlay" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
