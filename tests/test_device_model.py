"""The device model's rules, the domain settings, and 1.6's keys as a view onto them."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.settings.view import SettingsView
from ocppstation.actors.storage.connection import Connection
from ocppstation.actors.storage.migrations import apply_migrations, load_migrations
from ocppstation.actors.storage.settings_store import SettingsStore
from ocppstation.config import keys_v16
from ocppstation.config.device_model import (
    NAME_MAX,
    Address,
    AddressError,
    Attribute,
    Characteristics,
    DataType,
    Mutability,
    VariableSpec,
)
from ocppstation.config.settings_catalog import (
    CUSTOM,
    LEGACY,
    SETTING_ADDRESSES,
    V201_ONLY,
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


@pytest.mark.parametrize("setting", [s for s in Setting if s not in V201_ONLY])
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


instances = st.one_of(st.none(), names)
numbers = st.one_of(st.none(), st.integers(-2, 128))


@given(names, names, instances, instances, numbers, numbers)
def test_an_address_rejects_what_the_store_could_not_give_back(
    component: str,
    variable: str,
    component_instance: str | None,
    variable_instance: str | None,
    evse: int | None,
    connector: int | None,
) -> None:
    # The store writes '' and 0 for "none", so an empty instance or a
    # number below 1 would come back as another address; 2.0.1 has neither.
    def carried(name: str | None) -> bool:
        return name is None or 1 <= len(name) <= NAME_MAX

    def numbered(number: int | None) -> bool:
        return number is None or number >= 1

    fits = (
        carried(component)
        and carried(variable)
        and carried(component_instance)
        and carried(variable_instance)
        and numbered(evse)
        and numbered(connector)
        and (connector is None or evse is not None)
    )

    def made() -> Address:
        return Address(component, variable, component_instance, variable_instance, evse, connector)

    if not fits:
        with pytest.raises(AddressError):
            made()
        return
    assert made() == made()


def _migrated() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    apply_migrations(conn, load_migrations(), "test")
    return conn


short = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=50)
addresses = st.builds(
    Address,
    short,
    short,
    st.one_of(st.none(), short),
    st.one_of(st.none(), short),
    st.one_of(st.none(), st.integers(1, 16)),
    st.none(),
).flatmap(
    lambda a: st.one_of(
        st.just(a),
        st.integers(1, 4).map(
            lambda c: Address(
                a.component, a.variable, a.component_instance, a.variable_instance, 1, c
            )
        ),
    )
)


@given(st.dictionaries(addresses, st.text(max_size=20), max_size=8))
def test_the_store_gives_back_every_address_it_was_given(values: dict[Address, str]) -> None:
    db = Connection("test")
    db.attach(_migrated())
    store = SettingsStore(db)
    for address, value in values.items():
        store.put(address, "first")
        store.put(address, value)  # a second put replaces, never adds
    assert store.overlay() == values


def test_the_store_takes_exactly_the_attribute_types_of_2_0_1() -> None:
    conn = _migrated()
    insert = "INSERT INTO setting (component, variable, attribute, value) VALUES (?, ?, ?, ?)"
    for attribute in Attribute:
        conn.execute(insert, ("C", "V", attribute.value, attribute.value))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(insert, ("C", "V", "Default", "x"))
    # Each attribute of a variable is a value of its own; the overlay is Actual's.
    store_db = Connection("test")
    store_db.attach(conn)
    assert SettingsStore(store_db).overlay() == {Address("C", "V"): "Actual"}
    assert {a.value for a in Attribute} == {"Actual", "Target", "MinSet", "MaxSet"}


@given(st.sampled_from(list(Mutability)))
def test_mutability_decides_who_may_read_and_write(mutability: Mutability) -> None:
    variable = VariableSpec(Address("C", "V"), Characteristics(DataType.string), mutability)
    assert variable.readable() is (mutability is not Mutability.write_only)
    assert variable.writable() is (mutability is not Mutability.read_only)
    assert variable.readable() or variable.writable()


@given(st.text(max_size=8), st.lists(st.sampled_from(["A", "B", "C"]), max_size=3))
def test_an_option_list_takes_one_listed_option(value: str, options: list[str]) -> None:
    rules = Characteristics(DataType.option_list, values_list=tuple(options))
    listed = not options or value in options
    assert (rules.problem(value) is None) is listed
    assert rules.problem((value,)) is not None  # a list is not one option


@given(st.text(max_size=30), st.one_of(st.none(), st.integers(0, 20)))
def test_a_string_fits_within_its_length(value: str, longest: int | None) -> None:
    for data_type in (DataType.string, DataType.password_string):
        rules = Characteristics(data_type, max_limit=longest)
        assert (rules.problem(value) is None) is (longest is None or len(value) <= longest)
        assert rules.problem(1) is not None


@given(st.one_of(st.booleans(), st.integers(), st.text(max_size=5)))
def test_a_boolean_is_only_a_boolean(value: bool | int | str) -> None:
    assert (Characteristics(DataType.boolean).problem(value) is None) is isinstance(value, bool)


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


DEFAULTS, _ = keys_v16.effective({}, 2)


@given(st.sets(st.sampled_from(sorted(DEFAULTS))))
def test_the_view_answers_a_1_6_key_and_its_setting_from_one_place(keys: set[str]) -> None:
    view = SettingsView({key: DEFAULTS[key] for key in keys})
    for key in keys:
        assert view.v16(key) == view.at(V16_ADDRESSES[key]) == DEFAULTS[key]
    for setting in Setting:
        if setting in V201_ONLY:
            assert view.get(setting, None) is None  # no 1.6 key holds it
            continue
        key = v16_key(setting)
        if key in keys:
            assert view.get(setting) == DEFAULTS[key]
        else:
            assert view.get(setting, None) is None
            assert key not in view
    assert dict(view.snapshot()) == {key: DEFAULTS[key] for key in keys}
