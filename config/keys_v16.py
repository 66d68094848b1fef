"""OCPP 1.6 configuration keys: the one table, and pure functions over it.

Every key the station can have is described once, in `KEYS`: its profile
(which is also the station config file's section), type, read-only flag,
default, limits, whether the spec requires it and whether a change needs a
reboot. The config loader checks the OCPP sections of a station's file
against this table, and the settings actor answers GetConfiguration and
ChangeConfiguration from it. Nothing here has threads, I/O or clocks.

Sources of the facts (names, types, accessibility): OCPP 1.6 edition 2
chapter 9 (Core, Local Auth List Management, Reservation, Smart Charging),
the OCPP 1.6 Security Whitepaper (SecurityProfile, AuthorizationKey,
CpoName, ...), and libocpp's 1.6 profile schemas for the one key the spec
does not list (SupportedFileTransferProtocols).

Values, as OCPP sends them, are strings; in the station they are typed:

    boolean  -> bool    "true" / "false" (any case accepted, rendered lower case)
    integer  -> int     decimal, optional sign, within the key's limits
    CSL      -> tuple   comma separated items, each from the key's allowed set
    string   -> str     as given (never stripped: it may be a password)

Decisions worth knowing:

- Keys are matched case-insensitively (OCPP's keys are CiString), and the
  canonical name is what the station answers with. The items of an
  enumerated CSL are matched the same way and rendered canonically.
- A measurand in MeterValues*Data / StopTxn*Data may carry a phase suffix,
  as 1.6 section 9.1 allows ("Voltage.L1"): `Current.Import.L1`,
  `Voltage.L1-N`, `Power.Active.Import.L2`. A measurand without a phase
  means "as the meter measures it" (the total, and per phase where the
  meter has phases). Only electrical measurands take a phase (see
  `PHASES_OF`); `SoC.L1` is refused.
- An optional key whose default is None is one the station does not have
  unless its config file sets it (BlinkRepeat and LightIntensity need
  lights; MaxEnergyOnInvalidId, whose absence means no cap):
  GetConfiguration reports it unknown, ChangeConfiguration answers
  NotSupported. Keys of a feature profile that is not in
  SupportedFeatureProfiles are absent the same way. Security keys are not a
  feature profile and are always there.
- No standard key needs a reboot: the settings actor swaps the station's
  view at once and publishes ConfigChanged, and actors re-arm from it. The
  `reboot` flag stays in the table for keys that will (integrators' keys).
- SecurityProfile may only go up (whitepaper), never past what this station
  implements (`SUPPORTED_SECURITY_PROFILES`: 0 to 3), and profile 1 or 2 needs
  an AuthorizationKey. Whether the station holds the certificates profile 2
  or 3 needs is not a key: the settings actor checks that when the CSMS
  raises the profile, and a config file may ask for 2 or 3 before they are
  installed (the link then waits for them, retrying). AuthorizationKey is
  write-only: never returned with a value, never published in an event; its
  value is the HTTP Basic password as sent (16 to 40 characters, no hex
  decoding).
- Every rendered value fits the 500 characters GetConfiguration.conf allows.
- `Internal` keys (CentralSystemURI, ChargePointId, ...) are not OCPP keys:
  they live in the file's Internal section and never appear here.
- An integrator's own keys are declared in the config file's `Custom`
  section (`declare`). A station's table is `station_table(sections)`: the
  keys here, then its custom ones in the order declared, so every function
  below takes a `table` and treats both alike. A custom key may not shadow a
  standard one in any case: a CSMS asking for it could not tell them apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ocppstation.protocol.v16 import california_pricing

__all__ = [
    "CUSTOM",
    "FEATURE_PROFILES",
    "IMPLEMENTED_PROFILES",
    "KEYS",
    "MEASURANDS",
    "PHASES_OF",
    "SECTIONS",
    "SUPPORTED_SECURITY_PROFILES",
    "VALUE_MAX",
    "Change",
    "ConfigValueError",
    "Items",
    "KeySpec",
    "KeyTable",
    "Kind",
    "Status",
    "UnknownKeyError",
    "Value",
    "change_problem",
    "cross_problems",
    "declare",
    "effective",
    "exposed",
    "from_json",
    "lookup",
    "parse",
    "render",
    "station_table",
    "validate_change",
]

Value = bool | int | str | tuple[str, ...]

# GetConfiguration.conf's value and ChangeConfiguration.req's value are CiString500.
VALUE_MAX = 500
# OCPP-J integers are 32-bit signed; a key without its own limits stays inside.
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1


class Kind(StrEnum):
    BOOL = "boolean"
    INT = "integer"
    CSL = "CSL"
    STRING = "string"


class Items(StrEnum):
    """What the items of a CSL are."""

    ENUM = "enum"  # one of KeySpec.allowed
    MEASURAND = "measurand"  # a 1.6 Measurand, with an optional phase
    PHASE_ROTATION = "phase rotation"  # connectorId.Rotation, e.g. 0.RST


class Status(StrEnum):
    """ChangeConfiguration.conf's status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


class Source(StrEnum):
    SPEC = "OCPP 1.6 chapter 9"
    SECURITY = "OCPP 1.6 Security Whitepaper"
    LIBOCPP = "libocpp's 1.6 configuration (not in the 1.6 spec)"
    PNC = "OCA application note: Using ISO 15118 Plug & Charge with OCPP 1.6"
    CUSTOM = "the station config file's Custom section"


CORE = "Core"
LOCAL_AUTH = "LocalAuthListManagement"
RESERVATION = "Reservation"
SMART_CHARGING = "SmartCharging"
FIRMWARE = "FirmwareManagement"
REMOTE_TRIGGER = "RemoteTrigger"
SECURITY = "Security"
# Not a feature profile either: the California Pricing keys (libocpp's
# CostAndPrice section), always present, inert while CustomDisplayCostAndPrice is false.
COST_AND_PRICE = "CostAndPrice"
# Nor this: the Plug & Charge keys (libocpp's PnC section, with the Secc* and
# OcspRequestInterval keys libocpp keeps in Internal), always present, inert
# while ISO15118PnCEnabled is false.
PNC = "PnC"
# Not a feature profile: the config file's section of integrators' keys.
CUSTOM = "Custom"

# The values SupportedFeatureProfiles may hold (1.6 section 3.1).
FEATURE_PROFILES = (CORE, FIRMWARE, LOCAL_AUTH, RESERVATION, SMART_CHARGING, REMOTE_TRIGGER)
# What this release implements, so what a station may claim to support.
# Extend it when a profile lands (the other 1.6 profiles are issue 5).
IMPLEMENTED_PROFILES = frozenset(
    {CORE, FIRMWARE, LOCAL_AUTH, RESERVATION, SMART_CHARGING, REMOTE_TRIGGER}
)
# 0 plain, 1 HTTP Basic, 2 TLS and HTTP Basic, 3 TLS with a client certificate.
SUPPORTED_SECURITY_PROFILES = frozenset({0, 1, 2, 3})

# The 1.6 Measurand enumeration (section 7.31), in the spec's order.
MEASURANDS = (
    "Current.Export",
    "Current.Import",
    "Current.Offered",
    "Energy.Active.Export.Register",
    "Energy.Active.Import.Register",
    "Energy.Reactive.Export.Register",
    "Energy.Reactive.Import.Register",
    "Energy.Active.Export.Interval",
    "Energy.Active.Import.Interval",
    "Energy.Reactive.Export.Interval",
    "Energy.Reactive.Import.Interval",
    "Frequency",
    "Power.Active.Export",
    "Power.Active.Import",
    "Power.Factor",
    "Power.Offered",
    "Power.Reactive.Export",
    "Power.Reactive.Import",
    "RPM",
    "SoC",
    "Temperature",
    "Voltage",
)

# Which phases (1.6 Phase enumeration) make sense for which measurand: a
# line current also has a neutral; a voltage is between a line and neutral
# or between lines ("L1" alone is the spec's own example); power and energy
# are per line. Offered values, frequency, SoC and the rest are not per phase.
_LINES = ("L1", "L2", "L3")
_CURRENT_PHASES = (*_LINES, "N")
_VOLTAGE_PHASES = (*_LINES, "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1")
PHASES_OF: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "Current.Export": _CURRENT_PHASES,
        "Current.Import": _CURRENT_PHASES,
        "Voltage": _VOLTAGE_PHASES,
        **{
            m: _LINES
            for m in MEASURANDS
            if m.startswith(("Energy.", "Power.Active.", "Power.Reactive.")) or m == "Power.Factor"
        },
    }
)

# ConnectorPhaseRotation's values (1.6 section 9.1.7).
ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")
CHARGING_RATE_UNITS = ("Current", "Power")
FILE_TRANSFER_PROTOCOLS = ("FTP", "FTPS", "HTTP", "HTTPS", "SFTP")
# Those the firmware and uploads actors' transfers speak (actors/transfer.py).
IMPLEMENTED_TRANSFER_PROTOCOLS = frozenset({"FTP", "HTTP", "HTTPS"})


@dataclass(frozen=True)
class KeySpec:
    """One configuration key. `default` None: absent unless the file sets it."""

    name: str
    profile: str
    kind: Kind
    readonly: bool
    default: Value | None
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    items: Items | None = None
    allowed: tuple[str, ...] = ()
    # The read-only key whose value bounds the number of items of this CSL.
    max_items_key: str | None = None
    # A fixed bound on the number of items of a CSL (custom keys declare it).
    max_items: int | None = None
    min_length: int = 0
    max_length: int = VALUE_MAX
    reboot: bool = False
    write_only: bool = False
    # The station sets it from this Internal key; a config file may not.
    derived_from: str | None = None
    source: Source = Source.SPEC

    @property
    def where(self) -> str:
        """How the config file names it: Section.Key."""
        return f"{self.profile}.{self.name}"


def _bool(name: str, profile: str, default: bool | None, **kw: Any) -> KeySpec:
    return KeySpec(name, profile, Kind.BOOL, kw.pop("readonly", False), default, **kw)


def _int(name: str, profile: str, default: int | None, **kw: Any) -> KeySpec:
    return KeySpec(name, profile, Kind.INT, kw.pop("readonly", False), default, **kw)


def _csl(name: str, profile: str, default: str | None, **kw: Any) -> KeySpec:
    value = None if default is None else tuple(i for i in default.split(",") if i)
    return KeySpec(name, profile, Kind.CSL, kw.pop("readonly", False), value, **kw)


def _str(name: str, profile: str, default: str | None, **kw: Any) -> KeySpec:
    return KeySpec(name, profile, Kind.STRING, kw.pop("readonly", False), default, **kw)


_RO = {"readonly": True}
_REQ = {"required": True}
_MEASURANDS = {"items": Items.MEASURAND}

_TABLE: tuple[KeySpec, ...] = (
    # -- 9.1 Core ------------------------------------------------------------
    _bool("AllowOfflineTxForUnknownId", CORE, False),
    _bool("AuthorizationCacheEnabled", CORE, True),
    # Spec: R or RW, the station's choice; RW here.
    _bool("AuthorizeRemoteTxRequests", CORE, False, **_REQ),
    _int("BlinkRepeat", CORE, None, minimum=0),
    # 0 = no clock-aligned data; at most one interval per day.
    _int("ClockAlignedDataInterval", CORE, 0, minimum=0, maximum=86400, **_REQ),
    _int("ConnectionTimeOut", CORE, 60, minimum=1, **_REQ),
    _csl(
        "ConnectorPhaseRotation",
        CORE,
        "0.Unknown",
        items=Items.PHASE_ROTATION,
        allowed=ROTATIONS,
        max_items_key="ConnectorPhaseRotationMaxLength",
        **_REQ,
    ),
    _int("ConnectorPhaseRotationMaxLength", CORE, None, minimum=1, **_RO),
    # At least every key there is, so a CSMS may list them all by name.
    _int("GetConfigurationMaxKeys", CORE, 100, minimum=1, **_RO, **_REQ),
    _int("HeartbeatInterval", CORE, 300, minimum=1, **_REQ),
    _int("LightIntensity", CORE, None, minimum=0, maximum=100),  # percent
    _bool("LocalAuthorizeOffline", CORE, True, **_REQ),
    _bool("LocalPreAuthorize", CORE, False, **_REQ),
    # Wh; absent means no cap (the connector lets energy flow on).
    _int("MaxEnergyOnInvalidId", CORE, None, minimum=0),
    _csl(
        "MeterValuesAlignedData",
        CORE,
        "Energy.Active.Import.Register",
        max_items_key="MeterValuesAlignedDataMaxLength",
        **_MEASURANDS,
        **_REQ,
    ),
    _int("MeterValuesAlignedDataMaxLength", CORE, 20, minimum=1, **_RO),
    _csl(
        "MeterValuesSampledData",
        CORE,
        "Energy.Active.Import.Register,Power.Active.Import",
        max_items_key="MeterValuesSampledDataMaxLength",
        **_MEASURANDS,
        **_REQ,
    ),
    _int("MeterValuesSampledDataMaxLength", CORE, 20, minimum=1, **_RO),
    # 0 = no sampled data.
    _int("MeterValueSampleInterval", CORE, 60, minimum=0, **_REQ),
    _int("MinimumStatusDuration", CORE, 0, minimum=0),
    _int("NumberOfConnectors", CORE, None, minimum=1, derived_from="Internal.Evses", **_RO, **_REQ),
    _int("ResetRetries", CORE, 1, minimum=0, **_REQ),
    _bool("StopTransactionOnEVSideDisconnect", CORE, True, **_REQ),
    _bool("StopTransactionOnInvalidId", CORE, True, **_REQ),
    _csl(
        "StopTxnAlignedData",
        CORE,
        "",
        max_items_key="StopTxnAlignedDataMaxLength",
        **_MEASURANDS,
        **_REQ,
    ),
    _int("StopTxnAlignedDataMaxLength", CORE, 20, minimum=1, **_RO),
    _csl(
        "StopTxnSampledData",
        CORE,
        "",
        max_items_key="StopTxnSampledDataMaxLength",
        **_MEASURANDS,
        **_REQ,
    ),
    _int("StopTxnSampledDataMaxLength", CORE, 20, minimum=1, **_RO),
    _csl(
        "SupportedFeatureProfiles",
        CORE,
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
        items=Items.ENUM,
        allowed=FEATURE_PROFILES,
        max_items_key="SupportedFeatureProfilesMaxLength",
        **_RO,
        **_REQ,
    ),
    _int("SupportedFeatureProfilesMaxLength", CORE, None, minimum=1, **_RO),
    # Attempts in all, the first included: 0 would drop transaction messages.
    _int("TransactionMessageAttempts", CORE, 3, minimum=1, **_REQ),
    _int("TransactionMessageRetryInterval", CORE, 60, minimum=0, **_REQ),
    _bool("UnlockConnectorOnEVSideDisconnect", CORE, True, **_REQ),
    # 0 = no pings.
    _int("WebSocketPingInterval", CORE, 60, minimum=0),
    # -- 9.2 Local Auth List Management ---------------------------------------
    _bool("LocalAuthListEnabled", LOCAL_AUTH, True, **_REQ),
    _int("LocalAuthListMaxLength", LOCAL_AUTH, 1000, minimum=0, **_RO, **_REQ),
    _int("SendLocalListMaxLength", LOCAL_AUTH, 100, minimum=0, **_RO, **_REQ),
    # -- 9.3 Reservation ------------------------------------------------------
    _bool("ReserveConnectorZeroSupported", RESERVATION, False, **_RO),
    # -- 9.4 Smart Charging ---------------------------------------------------
    _int("ChargeProfileMaxStackLevel", SMART_CHARGING, 10, minimum=0, **_RO, **_REQ),
    _csl(
        "ChargingScheduleAllowedChargingRateUnit",
        SMART_CHARGING,
        "Current,Power",
        items=Items.ENUM,
        allowed=CHARGING_RATE_UNITS,
        **_RO,
        **_REQ,
    ),
    _int("ChargingScheduleMaxPeriods", SMART_CHARGING, 96, minimum=1, **_RO, **_REQ),
    _bool("ConnectorSwitch3to1PhaseSupported", SMART_CHARGING, False, **_RO),
    _int("MaxChargingProfilesInstalled", SMART_CHARGING, 64, minimum=0, **_RO, **_REQ),
    # -- Firmware Management: no keys in 1.6 chapter 9; libocpp has this one --
    _csl(
        "SupportedFileTransferProtocols",
        FIRMWARE,
        "FTP,HTTP,HTTPS",
        items=Items.ENUM,
        allowed=FILE_TRANSFER_PROTOCOLS,
        source=Source.LIBOCPP,
        **_RO,
    ),
    # Remote Trigger has no configuration keys.
    # -- Security Whitepaper ----------------------------------------------------
    _bool("AdditionalRootCertificateCheck", SECURITY, None, source=Source.SECURITY, **_RO),
    # "" = not set. Write-only: the CSMS must not be able to read it back.
    _str(
        "AuthorizationKey",
        SECURITY,
        "",
        min_length=16,
        max_length=40,
        write_only=True,
        source=Source.SECURITY,
    ),
    _int(
        "CertificateSignedMaxChainSize",
        SECURITY,
        None,
        minimum=0,
        maximum=10000,
        source=Source.SECURITY,
        **_RO,
    ),
    _int("CertificateStoreMaxLength", SECURITY, None, minimum=0, source=Source.SECURITY, **_RO),
    _str("CpoName", SECURITY, "", source=Source.SECURITY),
    _int("SecurityProfile", SECURITY, 0, minimum=0, maximum=3, source=Source.SECURITY),
    # -- California Pricing: the OCA application note's keys, named and typed
    # as libocpp's CostAndPrice schema has them ---------------------------------
    # Read-only as in libocpp: a CSMS cannot turn on what the display cannot show.
    _bool("CustomDisplayCostAndPrice", COST_AND_PRICE, False, source=Source.LIBOCPP, **_RO),
    _int(
        "NumberOfDecimalsForCostValues",
        COST_AND_PRICE,
        3,
        minimum=0,
        maximum=6,
        source=Source.LIBOCPP,
        **_RO,
    ),
    # JSON objects as text; "" = none (see protocol/v16/california_pricing.py).
    _str("DefaultPrice", COST_AND_PRICE, "", source=Source.LIBOCPP),
    _str("DefaultPriceText", COST_AND_PRICE, "", source=Source.LIBOCPP),
    # "" = UTC; "+01:00" style.
    _str("TimeOffset", COST_AND_PRICE, "", max_length=10, source=Source.LIBOCPP),
    _str(
        "NextTimeOffsetTransitionDateTime",
        COST_AND_PRICE,
        "",
        max_length=40,
        source=Source.LIBOCPP,
    ),
    _str("TimeOffsetNextTransition", COST_AND_PRICE, "", max_length=10, source=Source.LIBOCPP),
    # The idle fee after the stop (the pricing block's DataTransfer
    # ConnectorUnplugged). Writable: the note has the CSMS turn it on and off.
    _bool("CustomIdleFeeAfterStop", COST_AND_PRICE, False, source=Source.LIBOCPP),
    _str("SupportedLanguages", COST_AND_PRICE, "en", min_length=2, source=Source.LIBOCPP, **_RO),
    _bool("CustomMultiLanguageMessages", COST_AND_PRICE, False, source=Source.LIBOCPP, **_RO),
    _str("Language", COST_AND_PRICE, "en", min_length=2, max_length=8, source=Source.LIBOCPP),
    # Milliseconds an accepted Authorize waits for SetUserPrice (libocpp: 0).
    _int(
        "WaitForSetUserPriceTimeout",
        COST_AND_PRICE,
        0,
        minimum=0,
        maximum=30000,
        source=Source.LIBOCPP,
    ),
    # -- Plug & Charge: the application note's keys (the ocpp package knows
    # them) and libocpp's, named and typed as libocpp has them -------------------
    _bool("ISO15118PnCEnabled", PNC, False, source=Source.PNC),
    _bool("ISO15118CertificateManagementEnabled", PNC, False, source=Source.LIBOCPP),
    _bool("CentralContractValidationAllowed", PNC, True, source=Source.PNC),
    _bool("ContractValidationOffline", PNC, False, source=Source.PNC),
    # Seconds before a SignCertificate not followed by CertificateSigned is sent again.
    _int("CertSigningWaitMinimum", PNC, 30, minimum=0, source=Source.PNC),
    _int("CertSigningRepeatTimes", PNC, 2, minimum=0, source=Source.PNC),
    # The V2G CSR's subject ("" = libocpp's fallbacks: ChargeBoxSerialNumber, CpoName, DE).
    _str("SeccLeafSubjectCommonName", PNC, "", max_length=64, source=Source.LIBOCPP),
    _str("SeccLeafSubjectCountry", PNC, "", max_length=2, source=Source.LIBOCPP),
    _str("SeccLeafSubjectOrganization", PNC, "", max_length=64, source=Source.LIBOCPP),
    # Seconds a contract certificate's OCSP answer is kept.
    _int("OcspRequestInterval", PNC, 604800, minimum=86400, source=Source.LIBOCPP),
)


class KeyTable(Mapping[str, KeySpec]):
    """Key specs by canonical name, in GetConfiguration order; read-only.

    Keeps an index by lower-case name, so `lookup` (OCPP's case-insensitive
    match) costs one dict access even for a station with custom keys.
    """

    def __init__(self, specs: Iterable[KeySpec]) -> None:
        self._specs: dict[str, KeySpec] = {}
        self._by_lower: dict[str, KeySpec] = {}
        for spec in specs:
            # Callers check names first, with a message for a human; this only
            # guards the invariant that makes lookup unambiguous.
            if spec.name.lower() in self._by_lower:
                raise ValueError(f"{spec.name}: a key of that name is in the table already")
            self._specs[spec.name] = spec
            self._by_lower[spec.name.lower()] = spec

    def __getitem__(self, name: str) -> KeySpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def find(self, key: str) -> KeySpec | None:
        """The key's spec, matched case-insensitively."""
        return self._by_lower.get(key.lower())


KEYS: KeyTable = KeyTable(_TABLE)
# Config file sections holding OCPP keys, in table order (Custom is apart:
# it holds declarations, not values).
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(spec.profile for spec in _TABLE))


class ConfigValueError(ValueError):
    """A value (or key) that cannot be used; `problem` says why, for a human."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class UnknownKeyError(ConfigValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key, "not an OCPP 1.6 configuration key of this station")


def lookup(key: str, table: Mapping[str, KeySpec] = KEYS) -> KeySpec | None:
    """The key's spec, matched case-insensitively (OCPP keys are CiString)."""
    spec = table.get(key)
    if spec is not None:
        return spec
    if isinstance(table, KeyTable):
        return table.find(key)
    return next((s for n, s in table.items() if n.lower() == key.lower()), None)


def _spec(key: str, table: Mapping[str, KeySpec]) -> KeySpec:
    spec = lookup(key, table) if isinstance(key, str) else None
    if spec is None:
        raise UnknownKeyError(str(key))
    return spec


# -- parsing and rendering ----------------------------------------------------

_INT_TEXT = re.compile(r"[+-]?[0-9]{1,12}")
_ROTATION_ITEM = re.compile(r"([0-9]{1,3})\.([A-Za-z]+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PHASE_BY_LOWER = {p.lower(): p for p in (*_VOLTAGE_PHASES, "N")}
_MEASURAND_BY_LOWER = {m.lower(): m for m in MEASURANDS}


def parse(key: str, text: str, table: Mapping[str, KeySpec] = KEYS) -> Value:
    """The typed value of `text` (OCPP's string form) for `key`.

    Raises ConfigValueError (UnknownKeyError for a key not in the table) and
    nothing else, whatever `text` is. Checks everything that depends on the
    key alone; what depends on other keys is `change_problem`/`cross_problems`.
    """
    spec = _spec(key, table)
    if not isinstance(text, str):
        raise ConfigValueError(spec.name, f"must be a string of OCPP text (got {text!r})")
    if len(text) > VALUE_MAX:
        raise ConfigValueError(spec.name, f"longer than the {VALUE_MAX} characters OCPP allows")
    match spec.kind:
        case Kind.BOOL:
            word = text.strip().lower()
            if word not in ("true", "false"):
                raise ConfigValueError(spec.name, f"must be true or false (got {text!r})")
            return word == "true"
        case Kind.INT:
            digits = text.strip()
            if not _INT_TEXT.fullmatch(digits):
                raise ConfigValueError(spec.name, f"must be integer (got {text!r})")
            return _in_range(spec, int(digits))
        case Kind.CSL:
            return _csl_value(spec, text)
        case Kind.STRING:
            return _string(spec, text)
    raise AssertionError(spec.kind)  # pragma: no cover - every Kind is matched


def render(key: str, value: Value, table: Mapping[str, KeySpec] = KEYS) -> str:
    """OCPP's string form of a typed value (the inverse of `parse`)."""
    spec = _spec(key, table)
    match spec.kind:
        case Kind.BOOL:
            return "true" if value else "false"
        case Kind.CSL:
            assert isinstance(value, tuple)
            return ",".join(value)
        case _:
            return str(value)


def from_json(key: str, raw: object, table: Mapping[str, KeySpec] = KEYS) -> Value:
    """The typed value of a station config file's JSON value for `key`.

    JSON types are strict (a string "30" is not an integer); a CSL is written
    as OCPP writes it, one comma separated string.
    """
    spec = _spec(key, table)
    match spec.kind:
        case Kind.BOOL:
            if not isinstance(raw, bool):
                raise ConfigValueError(spec.name, f"must be boolean (got {raw!r})")
            return raw
        case Kind.INT:
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise ConfigValueError(spec.name, f"must be integer (got {raw!r})")
            return _in_range(spec, raw)
        case Kind.CSL:
            if not isinstance(raw, str):
                raise ConfigValueError(
                    spec.name, f"must be a string of comma separated values (got {raw!r})"
                )
            return _csl_value(spec, raw)
        case Kind.STRING:
            if not isinstance(raw, str):
                raise ConfigValueError(spec.name, f"must be a string (got {raw!r})")
            return _string(spec, raw)
    raise AssertionError(spec.kind)  # pragma: no cover


def _in_range(spec: KeySpec, number: int) -> int:
    low = INT_MIN if spec.minimum is None else spec.minimum
    high = INT_MAX if spec.maximum is None else spec.maximum
    if not low <= number <= high:
        raise ConfigValueError(spec.name, f"must be from {low} to {high} (got {number})")
    return number


def _string(spec: KeySpec, text: str) -> str:
    if text == "" and spec.write_only:
        return text  # "not set": a station without a password
    if not spec.min_length <= len(text) <= spec.max_length:
        raise ConfigValueError(
            spec.name,
            f"must be {spec.min_length} to {spec.max_length} characters long (got {len(text)})",
        )
    if _CONTROL.search(text):
        raise ConfigValueError(spec.name, "must not contain control characters")
    return text


def _csl_value(spec: KeySpec, text: str) -> tuple[str, ...]:
    if not text.strip():
        return ()
    items: list[str] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            raise ConfigValueError(spec.name, f"has an empty item in {text!r}")
        canonical = _item(spec, item)
        if canonical in items:
            raise ConfigValueError(spec.name, f"lists {canonical} twice")
        items.append(canonical)
    if spec.max_items is not None and len(items) > spec.max_items:
        raise ConfigValueError(spec.name, f"has {len(items)} items, more than {spec.max_items}")
    if spec.items is Items.PHASE_ROTATION:
        connectors = [i.split(".", 1)[0] for i in items]
        if len(set(connectors)) != len(connectors):
            raise ConfigValueError(spec.name, "gives a connector's rotation twice")
    value = tuple(items)
    if len(",".join(value)) > VALUE_MAX:
        raise ConfigValueError(spec.name, f"longer than the {VALUE_MAX} characters OCPP allows")
    return value


def _item(spec: KeySpec, item: str) -> str:
    match spec.items:
        case Items.MEASURAND:
            return _measurand(spec, item)
        case Items.PHASE_ROTATION:
            found = _ROTATION_ITEM.fullmatch(item)
            rotation = found and _choose(spec.allowed, found.group(2))
            if not found or not rotation:
                raise ConfigValueError(
                    spec.name,
                    f"{item!r} is not connectorId.rotation with a rotation in "
                    f"{', '.join(spec.allowed)}",
                )
            return f"{int(found.group(1))}.{rotation}"
        case _:
            chosen = _choose(spec.allowed, item)
            if chosen is None:
                raise ConfigValueError(
                    spec.name, f"{item!r} is not one of {', '.join(spec.allowed)}"
                )
            return chosen


def _choose(allowed: Iterable[str], item: str) -> str | None:
    return next((a for a in allowed if a.lower() == item.lower()), None)


def _measurand(spec: KeySpec, item: str) -> str:
    whole = _MEASURAND_BY_LOWER.get(item.lower())
    if whole is not None:
        return whole
    head, _, tail = item.rpartition(".")
    measurand = _MEASURAND_BY_LOWER.get(head.lower())
    phase = _PHASE_BY_LOWER.get(tail.lower())
    if measurand is None or phase is None:
        raise ConfigValueError(
            spec.name, f"{item!r} is not an OCPP 1.6 measurand (with an optional phase)"
        )
    if phase not in PHASES_OF.get(measurand, ()):
        allowed = ", ".join(PHASES_OF.get(measurand, ())) or "none"
        raise ConfigValueError(
            spec.name, f"{measurand} has no phase {phase} (phases it takes: {allowed})"
        )
    return f"{measurand}.{phase}"


# -- rules across keys ----------------------------------------------------------


def _fits(spec: KeySpec, value: Value, values: Mapping[str, Value]) -> str | None:
    """What is wrong with `value` given the station's other `values`, if anything."""
    if spec.max_items_key and isinstance(value, tuple):
        limit = values.get(spec.max_items_key)
        if isinstance(limit, int) and len(value) > limit:
            return f"has {len(value)} items, more than {spec.max_items_key} ({limit})"
    if spec.items is Items.PHASE_ROTATION and isinstance(value, tuple):
        connectors = values.get("NumberOfConnectors")
        if isinstance(connectors, int):
            for item in value:
                connector = item.split(".", 1)[0]
                if int(connector) > connectors:
                    return f"{item}: there is no connector {connector}"
    if spec.name == "SecurityProfile" and isinstance(value, int):
        if value not in SUPPORTED_SECURITY_PROFILES:
            return f"security profile {value} is not supported by this station"
        if value in (1, 2) and not values.get("AuthorizationKey"):
            return f"security profile {value} needs an AuthorizationKey"
    if spec.name == "AuthorizationKey" and not value:
        profile = values.get("SecurityProfile")
        if profile in (1, 2):
            return f"security profile {profile} needs an AuthorizationKey"
    if spec.name == "SupportedFileTransferProtocols" and isinstance(value, tuple):
        missing = [p for p in value if p not in IMPLEMENTED_TRANSFER_PROTOCOLS]
        if missing:
            return f"{', '.join(missing)}: not implemented by this release"
    if spec.profile == COST_AND_PRICE and isinstance(value, str):
        problem = _pricing_problem(spec.name, value, values)
        if problem:
            return problem
    if spec.name == "SupportedFeatureProfiles" and isinstance(value, tuple):
        missing = [p for p in value if p not in IMPLEMENTED_PROFILES]
        if missing:
            return f"{', '.join(missing)}: not implemented by this release"
    return None


def _pricing_problem(name: str, value: str, values: Mapping[str, Value]) -> str | None:
    if name == "DefaultPrice":
        return california_pricing.default_price_problem(value)
    if name == "DefaultPriceText":
        return california_pricing.default_price_text_problem(value)
    if name in ("TimeOffset", "TimeOffsetNextTransition"):
        return california_pricing.offset_problem(value)
    if name == "NextTimeOffsetTransitionDateTime":
        return california_pricing.date_time_problem(value)
    if name == "Language":
        supported = str(values.get("SupportedLanguages", ""))
        languages = [s.strip().lower() for s in supported.split(",") if s.strip()]
        if languages and value.lower() not in languages:
            return f"{value!r} is not one of SupportedLanguages ({supported})"
    return None


def cross_problems(values: Mapping[str, Value]) -> list[tuple[KeySpec, str]]:
    """Rules between keys, for a whole configuration (the loader's last check)."""
    problems: list[tuple[KeySpec, str]] = []
    for name, value in values.items():
        spec = KEYS.get(name)
        if spec is None:
            continue
        problem = _fits(spec, value, values)
        if problem is None:
            continue
        if spec.name == "SecurityProfile" and problem.endswith("needs an AuthorizationKey"):
            # Blame the key that is missing: that is what the builder must add.
            spec = KEYS["AuthorizationKey"]
        problems.append((spec, problem))
    return problems


def change_problem(spec: KeySpec, value: Value, current: Mapping[str, Value]) -> str | None:
    """Why the CSMS may not set `spec` to `value` now, if it may not."""
    if spec.name == "SecurityProfile" and isinstance(value, int):
        now = current.get("SecurityProfile", 0)
        if isinstance(now, int) and value < now:
            return f"may only be raised (it is {now})"
    if spec.name == "AuthorizationKey" and value == "":
        return "cannot be cleared"
    return _fits(spec, value, {**current, spec.name: value})


# -- integrators' keys: the Custom section ----------------------------------------

# What a declaration may say, by type. Limits are named as in JSON Schema, so
# a builder who knows one knows the other; "readonly" as in GetConfiguration.
_COMMON = frozenset({"type", "value", "readonly", "rebootRequired"})
_PROPERTIES: Mapping[Kind, frozenset[str]] = MappingProxyType(
    {
        Kind.BOOL: _COMMON,
        Kind.INT: _COMMON | {"minimum", "maximum"},
        Kind.STRING: _COMMON | {"minLength", "maxLength"},
        Kind.CSL: _COMMON | {"allowed", "maxItems"},
    }
)
# ChangeConfiguration.req's key is CiString50: printable ASCII. Spaces are
# left out because a key with one is surely a typo in a config file.
_CUSTOM_NAME = re.compile(r"[!-~]{1,50}")


def declare(name: str, declaration: object) -> KeySpec:
    """The spec of an integrator's key from its declaration in the config
    file's Custom section, e.g.

        {"type": "integer", "value": 40, "minimum": 0, "maximum": 100}

    `type` is boolean, integer, string or CSL; `value` (required) is written
    as for a standard key, a CSL as one comma separated string. Optional:
    `readonly`, `rebootRequired` (a change answers RebootRequired and takes
    effect at the next start), integer `minimum`/`maximum`, string
    `minLength`/`maxLength`, CSL `allowed` (required: the items it may
    hold, matched case-insensitively) and `maxItems`. Raises
    ConfigValueError with the key's name and what is wrong; whether the
    name shadows a standard key is `station_table`'s check.
    """
    if not isinstance(name, str) or not _CUSTOM_NAME.fullmatch(name):
        raise ConfigValueError(
            str(name), "a key name is 1 to 50 printable ASCII characters, without spaces"
        )
    if not isinstance(declaration, Mapping):
        raise ConfigValueError(
            name,
            f'must be a declaration like {{"type": "integer", "value": 0}} (got {declaration!r})',
        )
    kinds = ", ".join(kind.value for kind in Kind)
    kind_name = declaration.get("type")
    kind = next((kind for kind in Kind if kind.value == kind_name), None)
    if kind is None:
        raise ConfigValueError(name, f"type must be one of {kinds} (got {kind_name!r})")
    for prop in declaration:
        if prop in _PROPERTIES[kind]:
            continue
        owner = next((k for k, props in _PROPERTIES.items() if prop in props), None)
        if owner is not None:
            raise ConfigValueError(name, f"{prop} is only for {owner.value} keys")
        known = ", ".join(sorted(_PROPERTIES[kind]))
        raise ConfigValueError(name, f"unknown property {prop!r} (known: {known})")
    if "value" not in declaration:
        raise ConfigValueError(name, "value is missing")
    spec = KeySpec(
        name,
        CUSTOM,
        kind,
        _flag(name, declaration, "readonly"),
        None,
        reboot=_flag(name, declaration, "rebootRequired"),
        source=Source.CUSTOM,
    )
    match kind:
        case Kind.INT:
            low = _whole(name, declaration, "minimum", INT_MIN, INT_MAX)
            high = _whole(name, declaration, "maximum", INT_MIN, INT_MAX)
            if low is not None and high is not None and low > high:
                raise ConfigValueError(name, f"minimum {low} is above maximum {high}")
            spec = replace(spec, minimum=low, maximum=high)
        case Kind.STRING:
            shortest = _whole(name, declaration, "minLength", 0, VALUE_MAX)
            longest = _whole(name, declaration, "maxLength", 0, VALUE_MAX)
            shortest = 0 if shortest is None else shortest
            longest = VALUE_MAX if longest is None else longest
            if shortest > longest:
                raise ConfigValueError(name, f"minLength {shortest} is above maxLength {longest}")
            spec = replace(spec, min_length=shortest, max_length=longest)
        case Kind.CSL:
            spec = replace(
                spec,
                items=Items.ENUM,
                allowed=_allowed(name, declaration.get("allowed")),
                max_items=_whole(name, declaration, "maxItems", 1, INT_MAX),
            )
    try:
        value = from_json(name, declaration["value"], {name: spec})
    except ConfigValueError as exc:
        raise ConfigValueError(name, f"value {exc.problem}") from None
    return replace(spec, default=value)


def _flag(name: str, declaration: Mapping[str, Any], prop: str) -> bool:
    flag = declaration.get(prop, False)
    if not isinstance(flag, bool):
        raise ConfigValueError(name, f"{prop} must be true or false (got {flag!r})")
    return flag


def _whole(name: str, declaration: Mapping[str, Any], prop: str, low: int, high: int) -> int | None:
    number = declaration.get(prop)
    if number is None:
        return None
    if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
        raise ConfigValueError(
            name, f"{prop} must be an integer from {low} to {high} (got {number!r})"
        )
    return number


def _allowed(name: str, raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigValueError(
            name, f"allowed must be a non-empty list of the items a CSL may hold (got {raw!r})"
        )
    items: list[str] = []
    for item in raw:
        # Each must survive a round trip through OCPP's comma separated text.
        if (
            not isinstance(item, str)
            or not item
            or item != item.strip()
            or "," in item
            or _CONTROL.search(item)
            or len(item) > VALUE_MAX
        ):
            raise ConfigValueError(
                name,
                f"allowed item {item!r} must be text without commas, control characters "
                "or surrounding spaces",
            )
        twin = _choose(items, item)
        if twin is not None:
            raise ConfigValueError(
                name, f"allowed lists {item!r} twice (items are matched case-insensitively)"
            )
        items.append(item)
    return tuple(items)


def station_table(sections: Mapping[str, Any]) -> KeyTable:
    """A station's keys: every standard key, then those its config declares
    in the Custom section, in the order declared (GetConfiguration's order).

    Raises ConfigValueError naming the custom key at fault.
    """
    custom = sections.get(CUSTOM)
    if not custom:
        return KEYS
    if not isinstance(custom, Mapping):
        raise ConfigValueError(CUSTOM, "must be a JSON object of key declarations")
    specs: list[KeySpec] = []
    seen: dict[str, str] = {}
    for name, declaration in custom.items():
        standard = lookup(name) if isinstance(name, str) else None
        if standard is not None:
            raise ConfigValueError(
                name,
                f"shadows the OCPP key {standard.name} ({standard.where}); "
                "OCPP matches key names case-insensitively",
            )
        spec = declare(name, declaration)
        twin = seen.get(name.lower())
        if twin is not None:
            raise ConfigValueError(
                name, f"is {twin} again; OCPP matches key names case-insensitively"
            )
        seen[name.lower()] = name
        specs.append(spec)
    return KeyTable((*_TABLE, *specs))


# -- what a station has -----------------------------------------------------------


def exposed(spec: KeySpec, profiles: Iterable[str]) -> bool:
    """Whether a station supporting feature `profiles` has this key at all."""
    return spec.profile in (SECURITY, COST_AND_PRICE, PNC, CUSTOM) or spec.profile in profiles


def effective(
    sections: Mapping[str, Mapping[str, Any]],
    number_of_connectors: int,
    overlay: Mapping[str, str] | None = None,
) -> tuple[dict[str, Value], list[tuple[str, str]]]:
    """The station's keys: table defaults, then the config file's OCPP
    sections, then the overlay of values the CSMS set (OCPP text).

    The table is `station_table(sections)`: a custom key's default is the
    value its declaration gives. Returns the values of the keys the station
    has (in table order) and the overlay entries it skipped, with why: an
    overlay written by another release, or for a key this configuration no
    longer has (or now declares differently), is dropped with a warning
    rather than stopping the station. The file's sections are trusted to
    have passed the loader.
    """
    table = station_table(sections)
    values: dict[str, Value] = {}
    for spec in table.values():
        # The Custom section holds declarations, whose value is the default.
        raw = None if spec.profile == CUSTOM else sections.get(spec.profile, {}).get(spec.name)
        if spec.name == "NumberOfConnectors":
            values[spec.name] = number_of_connectors
        elif raw is not None:
            values[spec.name] = from_json(spec.name, raw)
        elif spec.default is not None:
            values[spec.name] = spec.default
    skipped: list[tuple[str, str]] = []
    for key, text in (overlay or {}).items():
        known = table.get(key)
        if known is None or known.readonly or known.name not in values:
            skipped.append((key, "not a writable key of this station"))
            continue
        try:
            value = parse(key, text, table)
        except ConfigValueError as exc:
            skipped.append((key, exc.problem))
            continue
        # The rules a ChangeConfiguration had to pass hold here too: the file
        # may have changed since (a builder raised SecurityProfile, say).
        problem = change_problem(known, value, values)
        if problem:
            skipped.append((key, problem))
            continue
        values[key] = value
    profiles = values.get("SupportedFeatureProfiles", ())
    assert isinstance(profiles, tuple)
    return {k: v for k, v in values.items() if exposed(table[k], profiles)}, skipped


# -- ChangeConfiguration ------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """The outcome of a ChangeConfiguration: status, and for Accepted or
    RebootRequired the canonical key and the typed value to apply."""

    status: Status
    key: str
    value: Value | None = None
    reason: str = ""


def validate_change(
    key: str,
    text: str,
    current: Mapping[str, Value],
    table: Mapping[str, KeySpec] = KEYS,
) -> Change:
    """What ChangeConfiguration(key, text) gets from a station whose keys are
    `current` (as `effective` returns them). Pure: nothing is applied."""
    spec = lookup(key, table) if isinstance(key, str) else None
    if spec is None or spec.name not in current:
        return Change(Status.NOT_SUPPORTED, str(key), reason="not a key of this station")
    if spec.readonly:
        return Change(Status.REJECTED, spec.name, reason="read-only")
    try:
        value = parse(spec.name, text, table)
    except ConfigValueError as exc:
        return Change(Status.REJECTED, spec.name, reason=exc.problem)
    problem = change_problem(spec, value, current)
    if problem:
        return Change(Status.REJECTED, spec.name, reason=problem)
    status = Status.REBOOT_REQUIRED if spec.reboot else Status.ACCEPTED
    return Change(status, spec.name, value)
