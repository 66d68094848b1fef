"""The OCPP 1.6 key table and its pure functions (no actors), and the config
loader's check of the OCPP sections against it."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.v16.enums import ConfigurationKey, Measurand, Phase

from ocppstation.config import keys_v16 as k
from ocppstation.config.keys_v16 import (
    KEYS,
    ConfigValueError,
    Items,
    KeySpec,
    Kind,
    Source,
    Status,
    UnknownKeyError,
)
from ocppstation.config.loader import ConfigError, load

# -- the table ----------------------------------------------------------------------


def test_every_key_has_an_ocpp_name_and_a_known_section() -> None:
    ocpp_names = {key.value for key in ConfigurationKey}
    for spec in KEYS.values():
        assert spec.profile in k.SECTIONS
        if spec.source is Source.LIBOCPP:
            assert spec.name not in ocpp_names
        else:
            assert spec.name in ocpp_names, spec.name


def test_the_table_has_every_key_of_the_four_profiles_and_the_whitepaper() -> None:
    # The ocpp package's list, ISO 15118 Plug & Charge keys included (the PnC section).
    assert {key.value for key in ConfigurationKey} <= set(KEYS)


@pytest.mark.parametrize(
    "name,profile,kind,readonly,required",
    [
        ("HeartbeatInterval", "Core", Kind.INT, False, True),
        ("GetConfigurationMaxKeys", "Core", Kind.INT, True, True),
        ("NumberOfConnectors", "Core", Kind.INT, True, True),
        ("SupportedFeatureProfiles", "Core", Kind.CSL, True, True),
        ("MeterValuesSampledData", "Core", Kind.CSL, False, True),
        ("MeterValuesSampledDataMaxLength", "Core", Kind.INT, True, False),
        ("StopTransactionOnEVSideDisconnect", "Core", Kind.BOOL, False, True),
        ("WebSocketPingInterval", "Core", Kind.INT, False, False),
        ("LocalAuthListEnabled", "LocalAuthListManagement", Kind.BOOL, False, True),
        ("SendLocalListMaxLength", "LocalAuthListManagement", Kind.INT, True, True),
        ("ReserveConnectorZeroSupported", "Reservation", Kind.BOOL, True, False),
        ("ChargingScheduleAllowedChargingRateUnit", "SmartCharging", Kind.CSL, True, True),
        ("ConnectorSwitch3to1PhaseSupported", "SmartCharging", Kind.BOOL, True, False),
        ("SecurityProfile", "Security", Kind.INT, False, False),
        ("AuthorizationKey", "Security", Kind.STRING, False, False),
        ("CpoName", "Security", Kind.STRING, False, False),
    ],
)
def test_spec_facts(name: str, profile: str, kind: Kind, readonly: bool, required: bool) -> None:
    spec = KEYS[name]
    assert (spec.profile, spec.kind, spec.readonly, spec.required) == (
        profile,
        kind,
        readonly,
        required,
    )


def test_only_the_authorization_key_is_write_only() -> None:
    assert [s.name for s in KEYS.values() if s.write_only] == ["AuthorizationKey"]


def test_measurands_and_phases_are_the_1_6_enumerations() -> None:
    assert set(k.MEASURANDS) == {m.value for m in Measurand}
    phases = {p.value for p in Phase}
    for measurand, allowed in k.PHASES_OF.items():
        assert measurand in k.MEASURANDS
        assert set(allowed) <= phases


def test_defaults_parse_and_fit_their_limits() -> None:
    for spec in KEYS.values():
        if spec.default is not None:
            assert k.parse(spec.name, k.render(spec.name, spec.default)) == spec.default


def test_a_default_station_has_every_required_key_of_its_profiles() -> None:
    values, skipped = k.effective({}, number_of_connectors=2)
    assert skipped == []
    profiles = values["SupportedFeatureProfiles"]
    assert isinstance(profiles, tuple)
    for spec in KEYS.values():
        if spec.required and k.exposed(spec, profiles):
            assert spec.name in values, spec.name
    assert values["NumberOfConnectors"] == 2
    assert k.cross_problems(values) == []


def test_keys_of_unsupported_profiles_and_unset_optional_keys_are_absent() -> None:
    values, _ = k.effective({"Core": {"SupportedFeatureProfiles": "Core"}}, number_of_connectors=1)
    assert "LocalAuthListEnabled" not in values  # profile not supported
    assert "BlinkRepeat" not in values  # optional, default None
    assert "AuthorizationKey" in values  # Security keys are always there
    values, _ = k.effective({"Core": {"BlinkRepeat": 3}}, number_of_connectors=1)
    assert values["BlinkRepeat"] == 3


def test_internal_keys_are_not_ocpp_keys() -> None:
    schema = json.loads(
        resources.files("ocppstation.config").joinpath("schema.json").read_text("utf-8")
    )
    internal = set(schema["properties"]["Internal"]["properties"])
    assert internal.isdisjoint(KEYS)
    assert set(schema["properties"]).isdisjoint(k.SECTIONS)


def test_defaults_json_core_is_the_table() -> None:
    # defaults.json shows builders the Core defaults; the table is the truth.
    shipped = json.loads(
        resources.files("ocppstation.config").joinpath("defaults.json").read_text("utf-8")
    )
    for section in k.SECTIONS:
        for name, raw in shipped.get(section, {}).items():
            assert KEYS[name].profile == section
            assert k.from_json(name, raw) == KEYS[name].default, name
    core = {s.name for s in KEYS.values() if s.profile == "Core" and s.default is not None}
    assert set(shipped["Core"]) == core


def test_no_standard_key_needs_a_reboot() -> None:
    assert [s.name for s in KEYS.values() if s.reboot] == []


# -- parse and render: examples ------------------------------------------------------


@pytest.mark.parametrize(
    "key,text,value",
    [
        ("AuthorizeRemoteTxRequests", "true", True),
        ("AuthorizeRemoteTxRequests", " FALSE ", False),
        ("HeartbeatInterval", "300", 300),
        ("HeartbeatInterval", "+0042", 42),
        ("heartbeatinterval", "60", 60),  # keys are CiString
        ("MeterValuesSampledData", "", ()),
        (
            "MeterValuesSampledData",
            "energy.active.import.register, Current.Import.l1,Voltage.L2-N",
            ("Energy.Active.Import.Register", "Current.Import.L1", "Voltage.L2-N"),
        ),
        ("MeterValuesSampledData", "Current.Import.N,SoC", ("Current.Import.N", "SoC")),
        (
            "ConnectorPhaseRotation",
            "0.RST, 1.rts,2.NotApplicable",
            ("0.RST", "1.RTS", "2.NotApplicable"),
        ),
        ("SupportedFeatureProfiles", "core,RemoteTrigger", ("Core", "RemoteTrigger")),
        ("CpoName", " Spaces Kept ", " Spaces Kept "),
        ("AuthorizationKey", "0123456789abcdef", "0123456789abcdef"),
    ],
)
def test_parse_examples(key: str, text: str, value: Any) -> None:
    assert k.parse(key, text) == value


@pytest.mark.parametrize(
    "key,text,words",
    [
        ("AuthorizeRemoteTxRequests", "yes", "true or false"),
        ("HeartbeatInterval", "often", "integer"),
        ("HeartbeatInterval", "0", "from 1"),
        ("HeartbeatInterval", "1e3", "integer"),
        ("HeartbeatInterval", "9" * 13, "integer"),
        ("HeartbeatInterval", "99999999999", "2147483647"),
        ("HeartbeatInterval", "\u0661\u0662", "integer"),  # Arabic-Indic digits
        ("LightIntensity", "101", "0 to 100"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,,SoC", "empty item"),
        ("MeterValuesSampledData", "Energy", "not an OCPP 1.6 measurand"),
        ("MeterValuesSampledData", "SoC.L1", "SoC has no phase L1"),
        ("MeterValuesSampledData", "Voltage.N", "Voltage has no phase N"),
        ("MeterValuesSampledData", "Current.Import.L4", "not an OCPP 1.6 measurand"),
        ("MeterValuesSampledData", "SoC,soc", "twice"),
        ("ConnectorPhaseRotation", "0.XYZ", "connectorId.rotation"),
        ("ConnectorPhaseRotation", "RST", "connectorId.rotation"),
        ("ConnectorPhaseRotation", "1.RST,01.RTS", "twice"),
        ("SupportedFeatureProfiles", "Core,Billing", "'Billing' is not one of"),
        ("AuthorizationKey", "short", "16 to 40"),
        ("AuthorizationKey", "x" * 41, "16 to 40"),
        ("CpoName", "bad\nname", "control characters"),
        ("CpoName", "x" * 501, "500 characters"),
    ],
)
def test_parse_refusals_say_why(key: str, text: str, words: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        k.parse(key, text)
    assert words in caught.value.problem
    assert caught.value.key == k.lookup(key).name  # type: ignore[union-attr]


def test_unknown_keys_raise_the_declared_error() -> None:
    with pytest.raises(UnknownKeyError):
        k.parse("ChargePointId", "x")  # an Internal key is not an OCPP key
    with pytest.raises(UnknownKeyError):
        k.render("Bogus", "x")


def test_render_examples() -> None:
    assert k.render("StopTransactionOnInvalidId", True) == "true"
    assert k.render("StopTransactionOnInvalidId", False) == "false"
    assert k.render("HeartbeatInterval", 60) == "60"
    assert k.render("MeterValuesSampledData", ("SoC", "Voltage.L1")) == "SoC,Voltage.L1"
    assert k.render("StopTxnSampledData", ()) == ""


# -- parse and render: properties ------------------------------------------------------

_MEASURAND_ITEMS = list(k.MEASURANDS) + [
    f"{m}.{p}" for m, phases in k.PHASES_OF.items() for p in phases
]
_SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=60)


def values_of(spec: KeySpec) -> st.SearchStrategy[Any]:
    """Every valid value of a key (for its own limits)."""
    match spec.kind:
        case Kind.BOOL:
            return st.booleans()
        case Kind.INT:
            low = k.INT_MIN if spec.minimum is None else spec.minimum
            high = k.INT_MAX if spec.maximum is None else spec.maximum
            return st.integers(low, high)
        case Kind.STRING:
            texts = st.text(
                st.characters(blacklist_categories=("Cs", "Cc")),
                min_size=spec.min_length,
                max_size=spec.max_length,
            )
            return st.just("") | texts if spec.write_only else texts
    if spec.items is Items.MEASURAND:
        lists = st.lists(st.sampled_from(_MEASURAND_ITEMS), unique=True, max_size=20)
    elif spec.items is Items.PHASE_ROTATION:
        lists = st.lists(
            st.tuples(st.integers(0, 128), st.sampled_from(k.ROTATIONS)),
            unique_by=lambda item: item[0],
            max_size=20,
        ).map(lambda items: [f"{c}.{r}" for c, r in items])
    else:
        lists = st.lists(st.sampled_from(spec.allowed), unique=True)
    return lists.map(tuple).filter(lambda v: len(",".join(v)) <= k.VALUE_MAX)


keys = st.sampled_from(sorted(KEYS))


@given(st.data())
def test_parse_inverts_render_for_every_valid_value(data: st.DataObject) -> None:
    spec = KEYS[data.draw(keys)]
    value = data.draw(values_of(spec))
    text = k.render(spec.name, value)
    assert k.parse(spec.name, text) == value
    assert len(text) <= k.VALUE_MAX


@given(keys, st.text(max_size=80))
def test_random_text_parses_or_raises_the_declared_error(key: str, text: str) -> None:
    try:
        value = k.parse(key, text)
    except ConfigValueError as exc:
        assert exc.problem
        return
    # What parses renders to canonical text that parses to the same value.
    canonical = k.render(key, value)
    assert k.parse(key, canonical) == value
    assert k.render(key, k.parse(key, canonical)) == canonical


@given(keys, st.text(alphabet=",. -_+0123456789LNRSTlrstUnknowAplicbe", max_size=60))
def test_near_miss_text_parses_or_raises_the_declared_error(key: str, text: str) -> None:
    # An alphabet close to real values reaches deeper into the CSL parsers.
    try:
        value = k.parse(key, text)
    except ConfigValueError:
        return
    assert k.parse(key, k.render(key, value)) == value


@given(_SAFE_TEXT, st.text(max_size=40))
def test_any_key_any_text_raises_only_the_declared_error(key: str, text: str) -> None:
    try:
        k.parse(key, text)
    except ConfigValueError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@given(keys, json_values)
def test_from_json_raises_only_the_declared_error(key: str, raw: object) -> None:
    try:
        value = k.from_json(key, raw)
    except ConfigValueError:
        return
    assert k.parse(key, k.render(key, value)) == value


@given(_SAFE_TEXT | keys, st.text(max_size=60))
def test_validate_change_never_raises(key: str, text: str) -> None:
    current, _ = k.effective({}, number_of_connectors=2)
    change = k.validate_change(key, text, current)
    assert change.status in Status
    if change.status is Status.ACCEPTED:
        assert change.value is not None
        assert k.render(change.key, change.value) == k.render(change.key, k.parse(change.key, text))


# -- validate_change: the ChangeConfiguration decisions ----------------------------------

CURRENT, _ = k.effective({}, number_of_connectors=2)


def test_keys_of_a_profile_left_out_of_supported_feature_profiles_are_not_supported() -> None:
    current, _ = k.effective({"Core": {"SupportedFeatureProfiles": "Core"}}, number_of_connectors=2)
    change = k.validate_change("LocalAuthListEnabled", "true", current)
    assert change.status is Status.NOT_SUPPORTED


@pytest.mark.parametrize(
    "key,text,status,words",
    [
        ("HeartbeatInterval", "30", Status.ACCEPTED, ""),
        ("heartbeatINTERVAL", "30", Status.ACCEPTED, ""),
        ("HeartbeatInterval", "often", Status.REJECTED, "integer"),
        ("HeartbeatInterval", "0", Status.REJECTED, "from 1"),
        ("NumberOfConnectors", "3", Status.REJECTED, "read-only"),
        ("GetConfigurationMaxKeys", "3", Status.REJECTED, "read-only"),
        ("Bogus", "1", Status.NOT_SUPPORTED, ""),
        ("ChargePointId", "x", Status.NOT_SUPPORTED, ""),  # Internal, not OCPP
        ("BlinkRepeat", "2", Status.NOT_SUPPORTED, ""),  # optional, this station has none
        ("LocalAuthListEnabled", "false", Status.ACCEPTED, ""),
        ("ConnectorPhaseRotation", "0.RST,1.RST,2.RTS", Status.ACCEPTED, ""),
        ("ConnectorPhaseRotation", "3.RST", Status.REJECTED, "no connector 3"),
        ("MeterValuesSampledData", ",".join(k.MEASURANDS[:21]), Status.REJECTED, "more than"),
        ("SecurityProfile", "1", Status.REJECTED, "needs an AuthorizationKey"),
        ("SecurityProfile", "2", Status.REJECTED, "needs an AuthorizationKey"),
        ("SecurityProfile", "0", Status.ACCEPTED, ""),
        ("AuthorizationKey", "", Status.REJECTED, "cannot be cleared"),
        ("AuthorizationKey", "a-sixteen-chars!", Status.ACCEPTED, ""),
        ("CpoName", "Example CPO", Status.ACCEPTED, ""),
    ],
)
def test_validate_change(key: str, text: str, status: Status, words: str) -> None:
    change = k.validate_change(key, text, CURRENT)
    assert change.status is status, change
    assert words in change.reason


def test_security_profile_only_goes_up() -> None:
    with_key = {**CURRENT, "AuthorizationKey": "a-sixteen-chars!"}
    assert k.validate_change("SecurityProfile", "1", with_key).status is Status.ACCEPTED
    at_one = {**with_key, "SecurityProfile": 1}
    refused = k.validate_change("SecurityProfile", "0", at_one)
    assert refused.status is Status.REJECTED
    assert "only be raised" in refused.reason
    assert k.validate_change("SecurityProfile", "1", at_one).status is Status.ACCEPTED


def test_max_items_follow_the_stations_own_limit() -> None:
    small = {**CURRENT, "MeterValuesSampledDataMaxLength": 2}
    assert k.validate_change("MeterValuesSampledData", "SoC,Voltage", small).value == (
        "SoC",
        "Voltage",
    )
    assert (
        k.validate_change("MeterValuesSampledData", "SoC,Voltage,Frequency", small).status
        is Status.REJECTED
    )


def test_a_key_marked_for_reboot_answers_reboot_required() -> None:
    marked = dataclasses.replace(KEYS["HeartbeatInterval"], reboot=True)
    table = {**KEYS, "HeartbeatInterval": marked}
    change = k.validate_change("HeartbeatInterval", "42", CURRENT, table)
    assert change.status is Status.REBOOT_REQUIRED
    assert change.value == 42


# -- effective: layering ---------------------------------------------------------------


def test_file_over_defaults_and_overlay_over_file() -> None:
    values, skipped = k.effective(
        {"Core": {"HeartbeatInterval": 120, "MeterValueSampleInterval": 10}},
        number_of_connectors=1,
        overlay={"HeartbeatInterval": "30"},
    )
    assert values["HeartbeatInterval"] == 30
    assert values["MeterValueSampleInterval"] == 10
    assert values["ConnectionTimeOut"] == KEYS["ConnectionTimeOut"].default
    assert skipped == []


def test_a_stale_overlay_is_skipped_not_fatal() -> None:
    values, skipped = k.effective(
        {},
        number_of_connectors=1,
        overlay={
            "HeartbeatInterval": "often",
            "NumberOfConnectors": "9",
            "Gone": "1",
            "ConnectorPhaseRotation": "4.RST",
        },
    )
    assert values["HeartbeatInterval"] == 300
    assert values["NumberOfConnectors"] == 1
    assert values["ConnectorPhaseRotation"] == ("0.Unknown",)
    assert {key for key, _ in skipped} == {
        "HeartbeatInterval",
        "NumberOfConnectors",
        "Gone",
        "ConnectorPhaseRotation",
    }


@given(
    st.sampled_from([{}, {"Security": {"SecurityProfile": 1, "AuthorizationKey": "k" * 16}}]),
    st.dictionaries(
        _SAFE_TEXT | keys,
        st.sampled_from(["", "0", "1", "2", "true", "SoC", "3.RST", "k" * 20])
        | st.text(max_size=40),
        max_size=8,
    ),
)
def test_any_stored_overlay_layers_to_a_sound_configuration(
    sections: dict[str, Any], overlay: dict[str, str]
) -> None:
    # A database written by another release, or under another config file,
    # must never stop the station nor bend its rules.
    values, skipped = k.effective(sections, number_of_connectors=2, overlay=overlay)
    assert {key for key, _ in skipped} <= set(overlay)
    assert k.cross_problems(values) == []


def test_get_configuration_order_is_the_tables() -> None:
    values, _ = k.effective({}, number_of_connectors=1)
    order = [name for name in KEYS if name in values]
    assert list(values) == order


# -- the loader's check of the OCPP sections -------------------------------------------------


def write(tmp_path: Path, content: dict[str, Any]) -> Path:
    path = tmp_path / "station.json"
    path.write_text(json.dumps(content))
    return path


@pytest.mark.parametrize(
    "content,key,words",
    [
        ({"Core": {"HeartbeatInterval": "30"}}, "Core.HeartbeatInterval", "must be integer"),
        ({"Core": {"HeartbeatInterval": True}}, "Core.HeartbeatInterval", "must be integer"),
        ({"Core": {"HeartbeatInterval": 0}}, "Core.HeartbeatInterval", "from 1"),
        ({"Core": {"LocalPreAuthorize": "true"}}, "Core.LocalPreAuthorize", "boolean"),
        ({"Core": {"SecurityProfile": 1}}, "Core.SecurityProfile", "belongs in Security"),
        ({"Core": {"NumberOfConnectors": 2}}, "Core.NumberOfConnectors", "Internal.Evses"),
        ({"Core": {"heartbeatinterval": 2}}, "Core.heartbeatinterval", "unknown key"),
        (
            {"Core": {"MeterValuesSampledData": ["SoC"]}},
            "Core.MeterValuesSampledData",
            "comma separated",
        ),
        (
            {"Core": {"MeterValuesSampledData": "SoC,Temp"}},
            "Core.MeterValuesSampledData",
            "'Temp' is not an OCPP 1.6 measurand",
        ),
        (
            {
                "Core": {
                    "MeterValuesSampledData": "SoC,Voltage",
                    "MeterValuesSampledDataMaxLength": 1,
                }
            },
            "Core.MeterValuesSampledData",
            "more than MeterValuesSampledDataMaxLength",
        ),
        (
            {"Core": {"ConnectorPhaseRotation": "0.RST,1.RST,2.RST"}, "Internal": {"Evses": 1}},
            "Core.ConnectorPhaseRotation",
            "no connector 2",
        ),
        ({"Security": {"SecurityProfile": 2}}, "Security.AuthorizationKey", "profile 2"),
        ({"Security": {"AuthorizationKey": "short"}}, "Security.AuthorizationKey", "16 to 40"),
        (
            {"SmartCharging": {"ChargingScheduleMaxPeriods": -1}},
            "SmartCharging.ChargingScheduleMaxPeriods",
            "from 1",
        ),
        (
            {"Reservation": {"ReserveConnectorZeroSupported": 1}},
            "Reservation.ReserveConnectorZeroSupported",
            "boolean",
        ),
    ],
)
def test_the_loader_refuses_bad_ocpp_keys_naming_file_and_key(
    tmp_path: Path, content: dict[str, Any], key: str, words: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(str(path))
    assert caught.value.key == key
    assert words in caught.value.problem


def test_a_profile_this_release_does_not_implement_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever this release implements, a profile it does not is refused.
    monkeypatch.setattr(k, "IMPLEMENTED_PROFILES", frozenset({k.CORE}))
    path = write(tmp_path, {"Core": {"SupportedFeatureProfiles": "Core,SmartCharging"}})
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.key == "Core.SupportedFeatureProfiles"
    assert "SmartCharging: not implemented" in caught.value.problem


def test_the_loader_takes_every_profiles_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "Core": {"BlinkRepeat": 2, "MeterValuesSampledData": "Current.Import.L1,SoC"},
            "LocalAuthListManagement": {"LocalAuthListEnabled": False},
            "Reservation": {"ReserveConnectorZeroSupported": True},
            "SmartCharging": {"ChargingScheduleAllowedChargingRateUnit": "Current"},
            "FirmwareManagement": {"SupportedFileTransferProtocols": "HTTPS"},
            "Security": {"SecurityProfile": 1, "AuthorizationKey": "a-sixteen-chars!"},
        },
    )
    config = load(path)
    assert config.value("Core", "MeterValuesSampledData") == "Current.Import.L1,SoC"
    assert config.value("Security", "SecurityProfile") == 1


def test_a_password_on_the_command_line_completes_the_file(tmp_path: Path) -> None:
    # Rules between keys wait for the whole configuration.
    path = write(tmp_path, {"Security": {"SecurityProfile": 1}})
    config = load(path, {"Security": {"AuthorizationKey": "a-sixteen-chars!"}})
    assert config.value("Security", "SecurityProfile") == 1
