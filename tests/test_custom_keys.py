"""An integrator's own configuration keys (the config file's Custom section):
the declarations, the loader's refusals, and the keys end to end over real
websockets, where they must behave exactly like the OCPP 1.6 keys."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ocppstation.actors.events import ConfigChanged, RegistrationChanged
from ocppstation.actors.station import Station
from ocppstation.config import keys_v16 as k
from ocppstation.config.keys_v16 import KEYS, ConfigValueError, KeyTable, Kind, Status
from ocppstation.config.loader import ConfigError, load
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory

WAIT = 5.0
CP = "cp-test"

# The brief's example, plus a list and a key that needs a reboot.
CUSTOM: dict[str, Any] = {
    "FanSpeedPercent": {"type": "integer", "value": 40, "minimum": 0, "maximum": 100},
    "DisplayText": {"type": "string", "value": "Welcome", "maxLength": 50, "readonly": False},
    "SiteId": {"type": "string", "value": "north-7", "readonly": True},
    "LedModes": {
        "type": "CSL",
        "value": "Idle,Charging",
        "allowed": ["Idle", "Charging", "Fault"],
        "maxItems": 2,
    },
    "CoolingEnabled": {"type": "boolean", "value": True, "rebootRequired": True},
}
NAMES = list(CUSTOM)


def station_values(custom: dict[str, Any], overlay: dict[str, str] | None = None) -> Any:
    sections = {"Custom": custom}
    return k.station_table(sections), k.effective(sections, 2, overlay)


# -- the table ------------------------------------------------------------------------------


def test_custom_keys_follow_the_standard_ones_in_the_order_declared() -> None:
    table, (values, skipped) = station_values(CUSTOM)
    assert list(table) == [*KEYS, *NAMES]
    assert list(values)[-len(NAMES) :] == NAMES
    assert skipped == []
    assert values["FanSpeedPercent"] == 40
    assert values["LedModes"] == ("Idle", "Charging")
    assert values["CoolingEnabled"] is True
    spec = table["FanSpeedPercent"]
    assert (spec.kind, spec.minimum, spec.maximum, spec.where) == (
        Kind.INT,
        0,
        100,
        "Custom.FanSpeedPercent",
    )
    assert table["SiteId"].readonly and not table["DisplayText"].readonly
    assert table["CoolingEnabled"].reboot


def test_without_custom_keys_the_table_is_the_standard_one() -> None:
    assert k.station_table({}) is KEYS
    assert k.station_table({"Custom": {}}) is KEYS


def test_custom_keys_are_found_in_any_case_and_answer_with_their_own_name() -> None:
    table, _ = station_values(CUSTOM)
    found = k.lookup("fanspeedPERCENT", table)
    assert found is not None and found.name == "FanSpeedPercent"
    assert k.lookup("HeartbeatInterval", table) is KEYS["HeartbeatInterval"]
    assert k.lookup("FanSpeedPercent") is None  # not a key of the standard table


def test_a_key_table_refuses_two_keys_that_differ_only_in_case() -> None:
    with pytest.raises(ValueError):
        KeyTable([KEYS["HeartbeatInterval"], k.declare("heartbeatINTERVAL", CUSTOM["SiteId"])])


@pytest.mark.parametrize(
    "key,text,status,value",
    [
        ("FanSpeedPercent", "75", Status.ACCEPTED, 75),
        ("fanspeedpercent", " 0 ", Status.ACCEPTED, 0),
        ("FanSpeedPercent", "101", Status.REJECTED, None),
        ("FanSpeedPercent", "-1", Status.REJECTED, None),
        ("FanSpeedPercent", "fast", Status.REJECTED, None),
        ("DisplayText", "Hello, driver", Status.ACCEPTED, "Hello, driver"),
        ("DisplayText", "x" * 51, Status.REJECTED, None),
        ("DisplayText", "two\nlines", Status.REJECTED, None),
        ("SiteId", "south-2", Status.REJECTED, None),
        ("LedModes", "fault", Status.ACCEPTED, ("Fault",)),
        ("LedModes", "", Status.ACCEPTED, ()),
        ("LedModes", "Idle,Charging,Fault", Status.REJECTED, None),
        ("LedModes", "Blink", Status.REJECTED, None),
        ("CoolingEnabled", "FALSE", Status.REBOOT_REQUIRED, False),
        ("CoolingEnabled", "no", Status.REJECTED, None),
        ("NotDeclared", "1", Status.NOT_SUPPORTED, None),
    ],
)
def test_change_configuration_rules_hold_for_custom_keys(
    key: str, text: str, status: Status, value: Any
) -> None:
    table, (values, _) = station_values(CUSTOM)
    change = k.validate_change(key, text, values, table)
    assert change.status is status, change.reason
    assert change.value == value
    if status is Status.REJECTED:
        assert change.reason


# -- declared limits hold for any value ------------------------------------------------------

bounds = st.integers(k.INT_MIN, k.INT_MAX)


@given(st.data(), bounds, bounds, st.integers(-(2**40), 2**40))
def test_integer_limits_are_enforced_for_any_value(
    data: st.DataObject, a: int, b: int, number: int
) -> None:
    low, high = min(a, b), max(a, b)
    start = data.draw(st.integers(low, high))
    declaration = {"type": "integer", "value": start, "minimum": low, "maximum": high}
    table, (values, _) = station_values({"Level": declaration})
    change = k.validate_change("Level", str(number), values, table)
    if low <= number <= high:
        assert (change.status, change.value) == (Status.ACCEPTED, number)
    else:
        assert change.status is Status.REJECTED
    # The declared value itself is held to the same limits.
    inside = low <= number <= high
    try:
        k.declare("Level", {**declaration, "value": number})
    except ConfigValueError as exc:
        assert not inside and exc.problem.startswith("value ")
    else:
        assert inside


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(st.integers(0, 30), st.integers(0, 30), text)
def test_string_lengths_are_enforced_for_any_value(a: int, b: int, candidate: str) -> None:
    shortest, longest = min(a, b), max(a, b)
    declaration = {"type": "string", "value": "v" * shortest}
    declaration.update(minLength=shortest, maxLength=longest)
    table, (values, _) = station_values({"Label": declaration})
    change = k.validate_change("Label", candidate, values, table)
    fits = shortest <= len(candidate) <= longest
    clean = not any(ord(c) < 32 or ord(c) == 127 for c in candidate)
    if fits and clean:
        assert (change.status, change.value) == (Status.ACCEPTED, candidate)
    else:
        assert change.status is Status.REJECTED


words = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(lambda c: c != ","))


@given(
    st.lists(words.filter(bool), min_size=1, max_size=6, unique_by=str.lower),
    st.integers(1, 6),
    st.lists(st.integers(0, 5), max_size=8),
)
def test_list_items_and_their_number_are_enforced_for_any_value(
    allowed: list[str], max_items: int, picks: list[int]
) -> None:
    declaration = {"type": "CSL", "value": "", "allowed": allowed, "maxItems": max_items}
    table, (values, _) = station_values({"Modes": declaration})
    # Allowed items have no spaces, so "not allowed" is never one of them.
    items = [allowed[i] if i < len(allowed) else "not allowed" for i in picks]
    change = k.validate_change("Modes", ",".join(items), values, table)
    known = all(i < len(allowed) for i in picks)
    distinct = len({allowed[i].lower() for i in picks if i < len(allowed)}) == len(picks)
    if known and distinct and len(picks) <= max_items:
        assert change.status is Status.ACCEPTED
        assert k.render("Modes", change.value, table) == ",".join(items)
    else:
        assert change.status is Status.REJECTED


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=8,
)
properties = st.sampled_from(
    [
        *("type", "value", "readonly", "rebootRequired", "minimum", "maximum"),
        *("minLength", "maxLength", "allowed", "maxItems", "colour"),
    ]
)
small = st.integers(-3, 3)
flags = {"readonly": st.booleans(), "rebootRequired": st.booleans()}


def near(kind: str, values: st.SearchStrategy[Any], **limits: Any) -> st.SearchStrategy[Any]:
    """Declarations of `kind` close to right, so many pass and the checks run deep."""
    return st.fixed_dictionaries(
        {"type": st.just(kind), "value": values}, optional={**flags, **limits}
    )


near_valid = st.one_of(
    near("boolean", st.booleans() | small),
    near("integer", small | st.booleans(), minimum=small, maximum=small),
    near("string", st.sampled_from(["", "A", "abc", "a\n", 3]), minLength=small, maxLength=small),
    near(
        "CSL",
        st.sampled_from(["", "A", "a,B", "A,A", "C", "A,"]),
        allowed=st.lists(st.sampled_from(["A", "a", "B", " C", "D,E"]), max_size=3),
        maxItems=small,
    ),
)
declarations = near_valid | st.dictionaries(
    properties,
    st.sampled_from(["boolean", "integer", "string", "CSL", "float"]) | json_values,
    max_size=6,
)


names = st.sampled_from(["Fan", "Fan.Speed", "X-1", "heartbeatINTERVAL"]) | st.text(max_size=12)


@settings(max_examples=300)
@given(names, st.one_of(near_valid, near_valid, declarations))
def test_any_declaration_is_a_key_or_the_declared_error(name: str, declaration: Any) -> None:
    try:
        table = k.station_table({"Custom": {name: declaration}})
    except ConfigValueError as exc:
        assert exc.problem
        event("refused")
        return
    event("accepted")
    spec = table[name]
    # What was accepted is a key whose own value passes its own rules.
    assert spec.default is not None
    assert k.parse(name, k.render(name, spec.default, table), table) == spec.default


@given(
    st.dictionaries(
        st.sampled_from([*NAMES, "Gone"]) | st.text(max_size=10),
        st.sampled_from(["", "0", "100", "101", "true", "Fault", "Idle,Fault,Charging"])
        | st.text(max_size=30),
        max_size=6,
    )
)
def test_any_stored_overlay_leaves_custom_keys_within_their_limits(overlay: dict[str, str]) -> None:
    table, (values, skipped) = station_values(CUSTOM, overlay)
    assert {key for key, _ in skipped} <= set(overlay)
    for name in NAMES:
        text = k.render(name, values[name], table)
        assert k.parse(name, text, table) == values[name]
    assert values["SiteId"] == "north-7"  # read-only: the file's value, always


def test_an_overlay_outside_a_narrowed_declaration_is_skipped_with_why() -> None:
    narrowed = {**CUSTOM, "FanSpeedPercent": {**CUSTOM["FanSpeedPercent"], "maximum": 50}}
    _, (values, skipped) = station_values(narrowed, {"FanSpeedPercent": "80", "DisplayText": "Hi"})
    assert values["FanSpeedPercent"] == 40
    assert values["DisplayText"] == "Hi"
    assert skipped == [("FanSpeedPercent", "must be from 0 to 50 (got 80)")]


# -- the loader ---------------------------------------------------------------------------------


def write(tmp_path: Path, content: dict[str, Any]) -> Path:
    path = tmp_path / "station.json"
    path.write_text(json.dumps(content))
    return path


def one(declaration: Any) -> dict[str, Any]:
    return {"Custom": {"Fan": declaration}}


@pytest.mark.parametrize(
    "content,key,words",
    [
        (
            {"Custom": {"HeartbeatInterval": {"type": "integer", "value": 1}}},
            "Custom.HeartbeatInterval",
            "shadows the OCPP key HeartbeatInterval (Core.HeartbeatInterval)",
        ),
        (
            {"Custom": {"authorizationKEY": {"type": "string", "value": "x"}}},
            "Custom.authorizationKEY",
            "shadows the OCPP key AuthorizationKey",
        ),
        (  # a key of a profile this station does not support is still OCPP's
            {"Custom": {"localauthlistenabled": {"type": "boolean", "value": True}}},
            "Custom.localauthlistenabled",
            "shadows the OCPP key LocalAuthListEnabled",
        ),
        (
            {
                "Custom": {
                    "Fan": {"type": "boolean", "value": True},
                    "FAN": {"type": "boolean", "value": False},
                }
            },
            "Custom.FAN",
            "is Fan again",
        ),
        (one({"type": "float", "value": 1.5}), "Custom.Fan", "type must be one of boolean"),
        (one({"value": 1}), "Custom.Fan", "type must be one of"),
        (one({"type": "integer"}), "Custom.Fan", "value is missing"),
        (one({"type": "integer", "value": 1, "colour": "red"}), "Custom.Fan", "'colour'"),
        (one({"type": "integer", "value": 1, "maxLength": 3}), "Custom.Fan", "only for string"),
        (one({"type": "string", "value": "a", "maximum": 3}), "Custom.Fan", "only for integer"),
        (
            one({"type": "integer", "value": 140, "minimum": 0, "maximum": 100}),
            "Custom.Fan",
            "value must be from 0 to 100 (got 140)",
        ),
        (one({"type": "integer", "value": "40"}), "Custom.Fan", "value must be integer"),
        (
            one({"type": "integer", "value": 5, "minimum": 10, "maximum": 1}),
            "Custom.Fan",
            "minimum 10 is above maximum 1",
        ),
        (one({"type": "integer", "value": 5, "maximum": 1.5}), "Custom.Fan", "maximum must be"),
        (
            one({"type": "string", "value": "Welcome", "maxLength": 3}),
            "Custom.Fan",
            "value must be 0 to 3 characters long",
        ),
        (one({"type": "string", "value": "", "maxLength": 501}), "Custom.Fan", "maxLength must"),
        (one({"type": "boolean", "value": "yes"}), "Custom.Fan", "value must be boolean"),
        (one({"type": "boolean", "value": True, "readonly": 1}), "Custom.Fan", "readonly must"),
        (
            one({"type": "boolean", "value": True, "rebootRequired": "yes"}),
            "Custom.Fan",
            "rebootRequired must be true or false",
        ),
        (one({"type": "CSL", "value": "A"}), "Custom.Fan", "allowed must be a non-empty list"),
        (
            one({"type": "CSL", "value": "A", "allowed": ["A", "a"]}),
            "Custom.Fan",
            "allowed lists 'a' twice",
        ),
        (
            one({"type": "CSL", "value": "A", "allowed": ["A", "B,C"]}),
            "Custom.Fan",
            "without commas",
        ),
        (
            one({"type": "CSL", "value": "A,C", "allowed": ["A", "B"]}),
            "Custom.Fan",
            "value 'C' is not one of A, B",
        ),
        (
            one({"type": "CSL", "value": "A,B", "allowed": ["A", "B"], "maxItems": 1}),
            "Custom.Fan",
            "value has 2 items, more than 1",
        ),
        (one(40), "Custom.Fan", "must be a declaration"),
        (
            {"Custom": {"Fan speed": {"type": "integer", "value": 1}}},
            "Custom.Fan speed",
            "printable ASCII",
        ),
        ({"Custom": {"F" * 51: {"type": "integer", "value": 1}}}, "Custom." + "F" * 51, "1 to 50"),
        ({"Custom": ["Fan"]}, "Custom", "JSON object"),
    ],
)
def test_the_loader_refuses_bad_declarations_naming_file_and_key(
    tmp_path: Path, content: dict[str, Any], key: str, words: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: {key}: ")
    assert caught.value.key == key
    assert words in caught.value.problem


def test_an_unknown_section_names_custom_among_the_known(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, {"Vendor": {}}))
    assert "Custom" in caught.value.problem


def test_a_file_with_custom_keys_loads_and_gives_the_stations_table(tmp_path: Path) -> None:
    config = load(write(tmp_path, {"Custom": CUSTOM}))
    assert list(config.keys)[-len(NAMES) :] == NAMES
    assert config.keys is config.keys  # built once per configuration


def test_overrides_merge_into_declarations_property_by_property(tmp_path: Path) -> None:
    path = write(tmp_path, {"Custom": CUSTOM})
    overrides: dict[str, Any] = {
        "Custom": {
            "FanSpeedPercent": {"value": 70},
            "Extra": {"type": "integer", "value": 1},
        }
    }
    config = load(path, overrides)
    custom = config["Custom"]
    assert custom["FanSpeedPercent"] == {**CUSTOM["FanSpeedPercent"], "value": 70}
    assert custom["SiteId"] == CUSTOM["SiteId"]
    assert list(config.keys)[-1] == "Extra"
    # The configuration holds its own copies: the caller's dicts may change later.
    overrides["Custom"]["Extra"]["value"] = 2
    assert config["Custom"]["Extra"]["value"] == 1
    again = config.with_overrides({"Custom": {"FanSpeedPercent": {"value": 10}}})
    assert again["Custom"]["FanSpeedPercent"]["maximum"] == 100
    assert config["Custom"]["FanSpeedPercent"]["value"] == 70


def test_an_override_that_breaks_a_declaration_is_blamed_on_the_command_line(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, {"Custom": CUSTOM})
    with pytest.raises(ConfigError) as caught:
        load(path, {"Custom": {"FanSpeedPercent": {"value": 170}}})
    assert caught.value.source == f"{path} with the command line"
    assert caught.value.key == "Custom.FanSpeedPercent"
    assert "value must be from 0 to 100 (got 170)" in caught.value.problem


# -- end to end: the dev CSMS over real websockets ------------------------------------------------


def booted(station: Station, since: int = 0) -> None:
    assert station.recorded is not None
    station.recorded.wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Accepted", WAIT, since=since
    )


def configure(csms: DevCsms, key: str, value: str) -> str:
    answer = csms.call(CP, "ChangeConfiguration", {"key": key, "value": value})
    return str(answer["status"])


def read(csms: DevCsms, *keys: str) -> dict[str, dict[str, Any]]:
    answer = csms.call(CP, "GetConfiguration", {"key": list(keys)} if keys else {})
    return {entry["key"]: entry for entry in answer["configurationKey"]}


def test_get_configuration_lists_custom_keys_after_the_standard_ones(
    any_csms: Any, make_station: StationFactory
) -> None:
    # Against ocpp-rpc in strict mode too: the answer must pass OCPP's schema.
    station = make_station(any_csms, Custom=CUSTOM)
    booted(station)
    entries = read(any_csms)
    names = list(entries)
    assert names[-len(NAMES) :] == NAMES
    assert "HeartbeatInterval" in names[: -len(NAMES)]
    assert entries["FanSpeedPercent"] == {
        "key": "FanSpeedPercent",
        "readonly": False,
        "value": "40",
    }
    assert entries["SiteId"] == {"key": "SiteId", "readonly": True, "value": "north-7"}
    assert entries["LedModes"]["value"] == "Idle,Charging"
    assert entries["CoolingEnabled"]["value"] == "true"
    answer = any_csms.call(CP, "GetConfiguration", {"key": ["sitEID", "NoSuchKey"]})
    assert answer["configurationKey"] == [{"key": "SiteId", "readonly": True, "value": "north-7"}]
    assert answer["unknownKey"] == ["NoSuchKey"]


def test_an_accepted_change_reaches_a_subscriber_the_view_and_the_csms(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms, Custom=CUSTOM)
    booted(station)
    heard: queue.Queue[ConfigChanged] = queue.Queue()
    # As the README shows an embedder: subscribe, then read the current value.
    station.subscribe(lambda e: heard.put(e) if isinstance(e, ConfigChanged) else None)
    assert station.setting("FanSpeedPercent") == 40
    assert configure(csms, "fanSpeedPercent", "85") == "Accepted"
    assert heard.get(timeout=WAIT) == ConfigChanged("FanSpeedPercent", 85)
    assert station.setting("FanSpeedPercent") == 85
    assert read(csms, "FanSpeedPercent")["FanSpeedPercent"]["value"] == "85"
    assert configure(csms, "LedModes", "fault,idle") == "Accepted"
    assert heard.get(timeout=WAIT) == ConfigChanged("LedModes", ("Fault", "Idle"))
    assert station.setting("LedModes") == ("Fault", "Idle")


def test_the_readme_pattern_follows_a_custom_key(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms, Custom=CUSTOM)
    booted(station)
    changed = threading.Event()
    station.subscribe(lambda e: changed.set() if isinstance(e, ConfigChanged) else None)
    speeds: list[int] = []

    def fan_control() -> None:
        while True:
            changed.clear()
            speeds.append(station.setting("FanSpeedPercent"))
            if speeds[-1] == 85 or not changed.wait(WAIT):
                return

    worker = threading.Thread(target=fan_control)
    worker.start()
    assert configure(csms, "FanSpeedPercent", "85") == "Accepted"
    worker.join(WAIT)
    assert not worker.is_alive()
    assert speeds[0] in (40, 85) and speeds[-1] == 85


@pytest.mark.parametrize(
    "key,value,status",
    [
        pytest.param("SiteId", "south-2", "Rejected", id="read-only"),
        pytest.param("FanSpeedPercent", "101", "Rejected", id="above-maximum"),
        pytest.param("FanSpeedPercent", "-5", "Rejected", id="below-minimum"),
        pytest.param("DisplayText", "x" * 51, "Rejected", id="too-long"),
        pytest.param("LedModes", "Idle,Fault,Charging", "Rejected", id="too-many-items"),
        pytest.param("LedModes", "Rainbow", "Rejected", id="not-allowed"),
        pytest.param("FanSpeedPercentage", "1", "NotSupported", id="not-declared"),
    ],
)
def test_refused_custom_changes_change_nothing(
    csms: DevCsms, make_station: StationFactory, key: str, value: str, status: str
) -> None:
    station = make_station(csms, Custom=CUSTOM)
    booted(station)
    before = read(csms)
    assert configure(csms, key, value) == status
    assert read(csms) == before
    assert station.recorded is not None
    assert not [e for e in station.recorded.all() if isinstance(e, ConfigChanged)]


def test_custom_changes_survive_a_station_restart_with_a_data_dir(
    csms: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    sections = {"Internal": {"DataDir": str(tmp_path)}, "Custom": CUSTOM}
    station = make_station(csms, **sections)
    booted(station)
    assert configure(csms, "DisplayText", "Out of order") == "Accepted"
    assert configure(csms, "FanSpeedPercent", "5") == "Accepted"
    station.stop()
    assert list(tmp_path.glob("*.sqlite")), "the station kept no database"

    again = make_station(csms, **sections)
    booted(again)
    entries = read(csms, "DisplayText", "FanSpeedPercent", "SiteId")
    assert entries["DisplayText"]["value"] == "Out of order"
    assert entries["FanSpeedPercent"]["value"] == "5"
    assert entries["SiteId"]["value"] == "north-7"
    assert again.setting("DisplayText") == "Out of order"


def test_a_reboot_required_key_takes_effect_and_is_announced_after_a_reset(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms, Custom=CUSTOM)
    booted(station)
    assert station.recorded is not None
    assert configure(csms, "CoolingEnabled", "false") == "RebootRequired"
    # Stored for the next start; what runs keeps the value it has.
    assert read(csms, "CoolingEnabled")["CoolingEnabled"]["value"] == "true"
    assert station.setting("CoolingEnabled") is True
    assert not [e for e in station.recorded.all() if isinstance(e, ConfigChanged)]

    mark = station.recorded.mark()
    assert csms.call(CP, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    station.recorded.wait_for(lambda e: e == ConfigChanged("CoolingEnabled", False), WAIT, mark)
    booted(station, since=mark)
    assert read(csms, "CoolingEnabled")["CoolingEnabled"]["value"] == "false"
    assert station.setting("CoolingEnabled") is False
