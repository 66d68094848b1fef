"""The station's OCPP 2.0.1 device model: every component and variable it has.

Facts from OCPP 2.0.1 Part 2, appendix "Referenced Components and
Variables" (the component configurations of functional blocks A, B, C, D,
E, G, H, I, J, K, N, O), cross-checked against which variables EVerest's libocpp
configures. A `Variable` adds to config/device_model.py's `VariableSpec`
what 2.0.1 needs beyond 1.6: which attribute types it has (Actual always;
Target, MinSet, MaxSet where the spec gives them), whether a change takes a
reboot, and the value the station starts with.

`catalog(evses)` is the whole model of one station: the controllers, one
`EVSE` component per EVSE and one `Connector` per connector. A station
builder may add its own variables (the config file's list of custom
variables, `custom=`): plain dicts as a TOML reader gives them, checked
here so a bad entry is refused by name before the station starts.

Decisions worth knowing:

- Limits follow the spec where it gives them and otherwise the station's
  1.6 key table (config/keys_v16.py), so a value 1.6 may write is one 2.0.1
  may read back: e.g. HeartbeatInterval >= 1, AlignedDataCtrlr.Interval
  within a day.
- For a text variable, min_limit and max_limit bound its length, as in
  2.0.1's VariableCharacteristicsType (config/device_model.py checks only
  the maximum; protocol/v201/device_model.py both).
- A default of None means the station has the variable but no value of its
  own until its builder or runtime supplies one (Identity, Model, DateTime,
  EVSE.Power's limit): GetVariables then answers it empty.
- Measurand lists take 2.0.1's MeasurandEnumType, which has no phase
  suffixes and no RPM or Temperature: 1.6 values with those do not fit here.
- SmartChargingCtrlr.RateUnit holds 2.0.1's "A"/"W" where 1.6's
  ChargingScheduleAllowedChargingRateUnit says "Current"/"Power": whoever
  shows the shared value to 1.6 translates.
- No standard variable needs a reboot: the station applies every change at
  once (as it does for 1.6). `reboot_required` is there for custom ones.
- SecurityProfile allows 0 (no security) because the station's 1.6 side
  does; 2.0.1 itself starts at 1.

Pure: no I/O, no threads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ocpp.v201.enums import ConnectorEnumType, MeasurandEnumType

from ocppstation.config import keys_v16
from ocppstation.config.device_model import (
    Address,
    AddressError,
    Attribute,
    Characteristics,
    DataType,
    Mutability,
    VariableSpec,
)
from ocppstation.protocol.v201 import network_profiles, tx_points

__all__ = [
    "AVAILABILITY_STATES",
    "CONNECTOR",
    "EVSE",
    "MEASURANDS",
    "CatalogError",
    "Value",
    "Variable",
    "catalog",
    "declare",
    "problem",
]

# keys_v16.Value, plus float: a decimal variable holds an int or a float.
Value = bool | int | float | str | tuple[str, ...]

EVSE = "EVSE"
CONNECTOR = "Connector"

MEASURANDS = tuple(m.value for m in MeasurandEnumType)
AVAILABILITY_STATES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
CONNECTOR_TYPES = tuple(c.value for c in ConnectorEnumType)
FILE_TRANSFER_PROTOCOLS = ("FTP", "FTPS", "HTTP", "HTTPS", "SFTP")
# TxStartPoint / TxStopPoint (E01, E06): of the spec's ParkingBayOccupancy,
# EVConnected, Authorized, DataSigned, PowerPathClosed and EnergyTransfer,
# what the EVSE honours today. A transaction starts at the first of the
# start points (PowerPathClosed: connected and authorized both) and ends
# when any stop point's condition ends (protocol/v201/tx_points.py). Other
# members are refused, not accepted and ignored.
TX_START_POINTS = ("EVConnected", "Authorized", "PowerPathClosed")
TX_STOP_POINTS = tx_points.OFFERED
DISPLAY_FORMATS = ("ASCII", "HTML", "URI", "UTF8")
DISPLAY_PRIORITIES = ("AlwaysFront", "InFront", "NormalCycle")
DISPLAY_STATES = ("Charging", "Faulted", "Idle", "Unavailable")
# How many display messages the station keeps (DisplayMessages' maxLimit).
DISPLAY_MESSAGES_MAX = 100
MONITORING_BASES = ("All", "FactoryDefault", "HardWiredOnly")
TIME_SOURCES = ("Heartbeat", "NTP", "GPS", "RealTimeClock", "MobileNetwork", "RadioTimeTransmitter")

_TEXT_TYPES = (DataType.string, DataType.password_string, DataType.date_time)
_LIST_MAX_LENGTH = keys_v16.KEYS["LocalAuthListMaxLength"].default
assert isinstance(_LIST_MAX_LENGTH, int)
_PROFILES_MAX = keys_v16.KEYS["MaxChargingProfilesInstalled"].default
assert isinstance(_PROFILES_MAX, int)

# The largest attributeValue GetVariables / NotifyReport can carry.
VALUE_SIZE = 2500


def problem(characteristics: Characteristics, value: Value) -> str | None:
    """Why `value` does not fit `characteristics`, or None.

    Characteristics.problem, and a text's shortest length, which it leaves out.
    """
    found = characteristics.problem(value)
    if found is None and isinstance(value, str) and characteristics.data_type in _TEXT_TYPES:
        shortest = characteristics.min_limit
        if shortest is not None and len(value) < shortest:
            return f"shorter than {shortest:g} characters"
    return found


class CatalogError(ValueError):
    """A custom variable the station cannot have; the message names it."""


@dataclass(frozen=True)
class Variable:
    """One variable of the station's device model."""

    spec: VariableSpec
    # Actual first; the order is the order a report lists them in.
    attributes: tuple[Attribute, ...] = (Attribute.actual,)
    reboot_required: bool = False
    default: Value | None = None
    # VariableAttributeType.constant: fixed by the hardware or build.
    constant: bool = False

    @property
    def address(self) -> Address:
        return self.spec.address

    def __post_init__(self) -> None:
        if not self.attributes or self.attributes[0] is not Attribute.actual:
            raise ValueError(f"{self.spec.address}: Actual is the first attribute")
        if len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"{self.spec.address}: an attribute type is listed twice")
        if self.default is not None:
            why = problem(self.spec.characteristics, self.default)
            if why:
                raise ValueError(f"{self.spec.address}: default {self.default!r} is {why}")


RO = Mutability.read_only
RW = Mutability.read_write
WO = Mutability.write_only


@dataclass(frozen=True)
class _Var:
    """A catalog entry before it knows its component (and EVSE or connector)."""

    name: str
    data_type: DataType
    default: Value | None = None
    mutability: Mutability = RW
    instance: str | None = None
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = (Attribute.actual,)
    constant: bool = False
    reboot_required: bool = False

    def at(
        self,
        component: str,
        evse: int | None = None,
        connector: int | None = None,
    ) -> Variable:
        address = Address(
            component, self.name, variable_instance=self.instance, evse=evse, connector=connector
        )
        characteristics = Characteristics(
            self.data_type, self.unit, self.min_limit, self.max_limit, self.values_list
        )
        return Variable(
            VariableSpec(address, characteristics, self.mutability),
            self.attributes,
            self.reboot_required,
            self.default,
            self.constant,
        )


B = DataType.boolean
I = DataType.integer  # noqa: E741 - the table reads better with one-letter types
D = DataType.decimal
S = DataType.string
OPTION = DataType.option_list
MEMBERS = DataType.member_list
SEQUENCE = DataType.sequence_list
TIME = DataType.date_time
PASSWORD = DataType.password_string


def _enabled(default: bool = True) -> tuple[_Var, _Var]:
    """Enabled and Available, which most controllers have (Part 2 §2 "Available")."""
    return (_Var("Available", B, True, RO), _Var("Enabled", B, default))


# Component name -> its variables, in the order reports list them.
_CONTROLLERS: Mapping[str, tuple[_Var, ...]] = {
    # -- A Security ----------------------------------------------------------
    "SecurityCtrlr": (
        _Var("AdditionalRootCertificateCheck", B, False, RO),
        # HTTP Basic password (A00.FR.205: 16 to 40 characters).
        _Var("BasicAuthPassword", PASSWORD, None, WO, min_limit=16, max_limit=40),
        # How many certificates the station may hold (maxLimit in the spec);
        # the certificate store fills in how many it does.
        _Var("CertificateEntries", I, None, RO, min_limit=0),
        _Var("CertSigningRepeatTimes", I, 3, min_limit=0),
        _Var("CertSigningWaitMinimum", I, 30, unit="s", min_limit=0),
        # The station's identity on the websocket URL: set by the builder.
        _Var("Identity", S, None, RO, max_limit=48),
        _Var("MaxCertificateChainSize", I, None, RO, min_limit=0, max_limit=10000),
        _Var("OrganizationName", S, "", max_limit=VALUE_SIZE),
        _Var("SecurityProfile", I, 0, RO, min_limit=0, max_limit=3),
    ),
    # -- B Provisioning ------------------------------------------------------
    "OCPPCommCtrlr": (
        _Var("ActiveNetworkProfile", I, None, RO, min_limit=0),
        _Var(
            "FileTransferProtocols",
            MEMBERS,
            ("FTP", "HTTP", "HTTPS"),
            RO,
            values_list=FILE_TRANSFER_PROTOCOLS,
        ),
        _Var("HeartbeatInterval", I, 300, unit="s", min_limit=1),
        _Var("MessageTimeout", I, 30, RO, instance="Default", unit="s", min_limit=1),
        _Var("MessageAttempts", I, 3, instance="TransactionEvent", min_limit=1),
        _Var("MessageAttemptInterval", I, 60, instance="TransactionEvent", unit="s", min_limit=0),
        # The configuration slots to try, in order (B09, B10); the valuesList
        # is the slots SetNetworkProfile may fill (B09.FR.05).
        _Var(
            "NetworkConfigurationPriority",
            SEQUENCE,
            ("1",),
            values_list=tuple(str(slot) for slot in network_profiles.SLOTS),
        ),
        _Var("NetworkProfileConnectionAttempts", I, 3, min_limit=1),
        _Var("OfflineThreshold", I, 60, unit="s", min_limit=0),
        _Var(
            "PublicKeyWithSignedMeterValue",
            OPTION,
            "Never",
            values_list=("Never", "OncePerTransaction", "EveryMeterValue"),
        ),
        _Var("QueueAllMessages", B, False),
        _Var("ResetRetries", I, 1, min_limit=0),
        _Var("RetryBackOffRandomRange", I, 10, unit="s", min_limit=0),
        _Var("RetryBackOffRepeatTimes", I, 5, min_limit=0),
        _Var("RetryBackOffWaitMinimum", I, 3, unit="s", min_limit=0),
        _Var("UnlockOnEVSideDisconnect", B, True),
        # 0 turns pings off.
        _Var("WebSocketPingInterval", I, 60, unit="s", min_limit=0),
    ),
    "DeviceDataCtrlr": (
        *(
            _Var(name, I, default, RO, instance=instance, min_limit=1)
            for instance in ("GetReport", "GetVariables", "SetVariables")
            for name, default in (("BytesPerMessage", 65536), ("ItemsPerMessage", 100))
        ),
        # SetVariables.attributeValue is string[0..1000].
        _Var("ConfigurationValueSize", I, 1000, RO, min_limit=1, max_limit=1000),
        _Var("ReportingValueSize", I, VALUE_SIZE, RO, min_limit=1, max_limit=VALUE_SIZE),
        _Var("ValueSize", I, VALUE_SIZE, RO, min_limit=1, max_limit=VALUE_SIZE),
    ),
    "ChargingStation": (
        _Var("AllowNewSessionsPendingFirmwareUpdate", B, False),
        _Var("AvailabilityState", OPTION, "Available", RO, values_list=AVAILABILITY_STATES),
        _Var("Available", B, True, RO),
        # BootNotification's chargingStation.model / vendorName lengths.
        _Var("Model", S, None, RO, max_limit=20, constant=True),
        _Var("Problem", B, False, RO),
        _Var("SupplyPhases", I, 3, RO, min_limit=0, max_limit=3, constant=True),
        _Var("VendorName", S, None, RO, max_limit=50, constant=True),
    ),
    "ClockCtrlr": (
        # The station's clock, read at the time of asking: no stored value.
        _Var("DateTime", TIME, None, RO),
        _Var("NextTimeOffsetTransitionDateTime", TIME, None),
        _Var("NtpServerUri", S, None, max_limit=512),
        _Var("NtpSource", OPTION, "DHCP", values_list=("DHCP", "manual")),
        _Var("TimeAdjustmentReportingThreshold", I, None, unit="s", min_limit=0),
        _Var("TimeOffset", S, None, max_limit=6),
        _Var("TimeOffset", S, None, instance="NextTransition", max_limit=6),
        _Var("TimeSource", SEQUENCE, ("Heartbeat",), values_list=TIME_SOURCES),
        _Var("TimeZone", S, None, max_limit=64),
    ),
    # -- C Authorization, D Local authorization list -------------------------
    "AuthCtrlr": (
        _Var("AdditionalInfoItemsPerMessage", I, None, RO, min_limit=0),
        _Var("AuthorizeRemoteStart", B, False),
        _Var("DisableRemoteAuthorization", B, False),
        _Var("Enabled", B, True),
        _Var("LocalAuthorizeOffline", B, True),
        _Var("LocalPreAuthorize", B, False),
        # IdTokenType.groupIdToken is string[0..36].
        _Var("MasterPassGroupId", S, None, max_limit=36),
        _Var("OfflineTxForUnknownIdEnabled", B, False),
    ),
    "AuthCacheCtrlr": (
        *_enabled(),
        _Var("DisablePostAuthorize", B, False),
        _Var("LifeTime", I, None, unit="s", min_limit=0),
        _Var("Policy", OPTION, "LRU", values_list=("LRU", "LFU", "FIFO", "CUSTOM")),
        _Var("Storage", I, None, RO, unit="B", min_limit=0),
    ),
    "LocalAuthListCtrlr": (
        *_enabled(),
        _Var("BytesPerMessage", I, 65536, RO, min_limit=1),
        _Var("DisablePostAuthorize", B, False),
        # Live: how many the list holds. maxLimit: how many it may (D01.FR.12),
        # 1.6's LocalAuthListMaxLength, which the station enforces in both.
        _Var("Entries", I, 0, RO, min_limit=0, max_limit=_LIST_MAX_LENGTH),
        _Var("ItemsPerMessage", I, 100, RO, min_limit=0),
        _Var("Storage", I, None, RO, unit="B", min_limit=0),
    ),
    # -- E Transactions ------------------------------------------------------
    "TxCtrlr": (
        _Var("EVConnectionTimeOut", I, 60, unit="s", min_limit=1),
        # Wh; no value means no cap.
        _Var("MaxEnergyOnInvalidId", I, None, unit="Wh", min_limit=0),
        # The spec lets the station choose RO or RW; the 1.6 key is writable.
        _Var("StopTxOnEVSideDisconnect", B, True),
        _Var("StopTxOnInvalidId", B, True),
        _Var("TxBeforeAcceptedEnabled", B, False),
        _Var("TxStartPoint", MEMBERS, ("PowerPathClosed",), values_list=TX_START_POINTS),
        _Var("TxStopPoint", MEMBERS, ("EVConnected", "Authorized"), values_list=TX_STOP_POINTS),
    ),
    # -- H Reservation -------------------------------------------------------
    "ReservationCtrlr": (
        *_enabled(),
        _Var("NonEvseSpecific", B, False, RO),
    ),
    # -- J Meter values ------------------------------------------------------
    "SampledDataCtrlr": (
        *_enabled(),
        _Var("RegisterValuesWithoutPhases", B, False),
        _Var("SignReadings", B, False),
        # 0: no meter values in TransactionEvent(Ended).
        _Var("TxEndedInterval", I, 0, unit="s", min_limit=0),
        _Var("TxEndedMeasurands", MEMBERS, (), values_list=MEASURANDS),
        _Var("TxStartedMeasurands", MEMBERS, (), values_list=MEASURANDS),
        _Var("TxUpdatedInterval", I, 60, unit="s", min_limit=0),
        _Var(
            "TxUpdatedMeasurands",
            MEMBERS,
            ("Energy.Active.Import.Register", "Power.Active.Import"),
            values_list=MEASURANDS,
        ),
    ),
    "AlignedDataCtrlr": (
        *_enabled(),
        # 0: no clock-aligned values; at most one a day.
        _Var("Interval", I, 0, unit="s", min_limit=0, max_limit=86400),
        _Var("Measurands", MEMBERS, ("Energy.Active.Import.Register",), values_list=MEASURANDS),
        _Var("SendDuringIdle", B, False),
        _Var("SignReadings", B, False),
        _Var("TxEndedInterval", I, 0, unit="s", min_limit=0, max_limit=86400),
        _Var("TxEndedMeasurands", MEMBERS, (), values_list=MEASURANDS),
    ),
    # -- I Tariff and cost, O Display messages --------------------------------
    # What the station's display can do; its messages are the display
    # messages block's (actors/v201/display_messages.py).
    "DisplayMessageCtrlr": (
        *_enabled(),
        # Live: how many messages it holds (the device model keeps it from the
        # display messages block). maxLimit: how many it may hold.
        _Var("DisplayMessages", I, 0, RO, min_limit=0, max_limit=DISPLAY_MESSAGES_MAX),
        _Var("PersonalMessageSize", I, 255, RO, min_limit=0, max_limit=512),
        _Var("QRCodeDisplayCapable", B, False, RO),
        # A text display: HTML and URI are not rendered (NotSupportedMessageFormat).
        _Var("SupportedFormats", MEMBERS, ("ASCII", "UTF8"), RO, values_list=DISPLAY_FORMATS),
        _Var(
            "SupportedPriorities", MEMBERS, DISPLAY_PRIORITIES, RO, values_list=DISPLAY_PRIORITIES
        ),
        # libocpp's: the states a message may wait for (NotSupportedState otherwise).
        _Var("SupportedStates", MEMBERS, DISPLAY_STATES, RO, values_list=DISPLAY_STATES),
    ),
    "TariffCostCtrlr": (
        *(
            var
            for instance in ("Cost", "Tariff")
            for var in (
                _Var("Available", B, True, RO, instance=instance),
                _Var("Enabled", B, True, instance=instance),
            )
        ),
        _Var("Currency", S, "EUR", max_limit=3),
        # MessageContentType.content is string[0..512].
        _Var("TariffFallbackMessage", S, "", max_limit=512),
        _Var("TotalCostFallbackMessage", S, "", max_limit=512),
    ),
    # -- N Diagnostics: monitoring ---------------------------------------------
    # The monitors themselves are the monitoring block's (actors/v201/monitoring.py).
    "MonitoringCtrlr": (
        # Off until the CSMS turns it on, as in libocpp: no NotifyEvent unasked.
        *_enabled(False),
        # Set by SetMonitoringBase and SetMonitoringLevel (N03, N05), not SetVariables.
        _Var("ActiveMonitoringBase", OPTION, "All", RO, values_list=MONITORING_BASES),
        _Var("ActiveMonitoringLevel", I, 9, RO, min_limit=0, max_limit=9),
        *(
            _Var(name, I, default, RO, instance=instance, min_limit=1)
            for instance in ("ClearVariableMonitoring", "SetVariableMonitoring")
            for name, default in (("BytesPerMessage", 65536), ("ItemsPerMessage", 100))
        ),
        # Events kept while offline: those of a severity at or below this (9 keeps all).
        _Var("OfflineQueuingSeverity", I, 9, min_limit=0, max_limit=9),
    ),
    # -- K Smart charging ----------------------------------------------------
    "SmartChargingCtrlr": (
        *_enabled(),
        _Var("ACPhaseSwitchingSupported", B, False, RO),
        # Live: how many profiles are installed. maxLimit: how many may be,
        # 1.6's MaxChargingProfilesInstalled, which bounds both versions (the
        # device model puts the configured value in).
        _Var(
            "Entries",
            I,
            0,
            RO,
            instance="ChargingProfiles",
            min_limit=0,
            max_limit=_PROFILES_MAX,
        ),
        _Var("ExternalControlSignalsEnabled", B, False),
        _Var("LimitChangeSignificance", D, 10, unit="Percent", min_limit=0, max_limit=100),
        _Var("NotifyChargingLimitWithSchedules", B, False),
        _Var("PeriodsPerSchedule", I, 96, RO, min_limit=1),
        _Var("Phases3to1", B, False, RO),
        _Var("ProfileStackLevel", I, 10, RO, min_limit=0),
        _Var("RateUnit", MEMBERS, ("A", "W"), RO, values_list=("A", "W")),
    ),
}

_EVSE_VARIABLES = (
    _Var("AvailabilityState", OPTION, "Available", RO, values_list=AVAILABILITY_STATES),
    _Var("Available", B, True, RO),
    # Actual: what it delivers now; MaxSet: what it may (the builder's rating).
    _Var(
        "Power",
        D,
        None,
        RO,
        unit="W",
        min_limit=0,
        attributes=(Attribute.actual, Attribute.max_set),
    ),
    _Var("SupplyPhases", I, 3, RO, min_limit=0, max_limit=3, constant=True),
)

_CONNECTOR_VARIABLES = (
    _Var("AvailabilityState", OPTION, "Available", RO, values_list=AVAILABILITY_STATES),
    _Var("Available", B, True, RO),
    _Var("ConnectorType", OPTION, "Unknown", RO, values_list=CONNECTOR_TYPES, constant=True),
    _Var("SupplyPhases", I, 3, RO, min_limit=0, max_limit=3, constant=True),
)


def catalog(
    evses: Mapping[int, int],
    custom: Iterable[Mapping[str, Any]] = (),
) -> Mapping[Address, Variable]:
    """Every variable of a station with `evses` (EVSE number -> connector count).

    `custom` are a builder's own variables, as `declare` reads them; they
    may not take the place of one the station already has.
    """
    for evse, connectors in evses.items():
        if evse < 1 or connectors < 1:
            raise CatalogError(f"EVSE {evse} with {connectors} connectors: both count from 1")
    out: dict[Address, Variable] = {}
    for component, variables in _CONTROLLERS.items():
        for var in variables:
            _add(out, var.at(component))
    for evse in sorted(evses):
        for var in _EVSE_VARIABLES:
            _add(out, var.at(EVSE, evse))
        for connector in range(1, evses[evse] + 1):
            for var in _CONNECTOR_VARIABLES:
                _add(out, var.at(CONNECTOR, evse, connector))
    for number, variable in enumerate(declare(custom), start=1):
        address = variable.address
        where = f"custom variable {number} ({address})"
        if address in out:
            raise CatalogError(f"{where}: the station already has this variable")
        if address.evse is not None and address.evse not in evses:
            raise CatalogError(f"{where}: the station has no EVSE {address.evse}")
        if address.connector is not None and address.connector > evses[address.evse or 0]:
            raise CatalogError(f"{where}: EVSE {address.evse} has no connector {address.connector}")
        out[address] = variable
    return MappingProxyType(out)


def _add(out: dict[Address, Variable], variable: Variable) -> None:
    # A duplicate here is a mistake in the table above, not a user's.
    assert variable.address not in out, f"{variable.address} is listed twice"
    out[variable.address] = variable


# -- custom variables ---------------------------------------------------------

_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    "component": str,
    "variable": str,
    "component_instance": str,
    "variable_instance": str,
    "evse": int,
    "connector": int,
    "data_type": str,
    "unit": str,
    "min": (int, float),
    "max": (int, float),
    "values": list,
    "mutability": str,
    "attributes": list,
    "reboot_required": bool,
    "constant": bool,
    "default": (bool, int, float, str, list),
}
_REQUIRED = ("component", "variable", "data_type")
_LIST_TYPES = (DataType.member_list, DataType.sequence_list)


def declare(entries: Iterable[Mapping[str, Any]]) -> list[Variable]:
    """A builder's custom variables, from the config file's entries (plain dicts).

    An entry names `component`, `variable` and `data_type` (a 2.0.1
    DataEnumType value, e.g. "integer", "MemberList"), and may give
    `component_instance`, `variable_instance`, `evse`, `connector`, `unit`,
    `min`, `max` (for a text type: the shortest and longest length),
    `values` (the list an OptionList, MemberList or SequenceList draws
    from), `mutability`
    ("ReadOnly", "ReadWrite", "WriteOnly"; default ReadWrite), `attributes`
    (default ["Actual"]), `reboot_required`, `constant` and `default` (as a
    TOML value: a list for a list type). A bad entry raises `CatalogError`
    naming it by position and address.
    """
    out: list[Variable] = []
    seen: set[Address] = set()
    for number, entry in enumerate(entries, start=1):
        variable = _declared(number, entry)
        if variable.address in seen:
            raise CatalogError(f"custom variable {number} ({variable.address}): declared twice")
        seen.add(variable.address)
        out.append(variable)
    return out


def _declared(number: int, entry: Mapping[str, Any]) -> Variable:
    name = f"{entry.get('component', '?')}.{entry.get('variable', '?')}"

    def bad(why: str) -> CatalogError:
        return CatalogError(f"custom variable {number} ({name}): {why}")

    if not isinstance(entry, Mapping):
        raise CatalogError(f"custom variable {number}: a table of fields, not {entry!r}")
    for key, value in entry.items():
        kinds = _FIELDS.get(key)
        if kinds is None:
            raise bad(f"unknown field {key!r} (fields: {', '.join(_FIELDS)})")
        # bool is an int to Python, but true is no EVSE number or limit.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _tuple(kinds)):
            raise bad(f"{key} = {value!r} has the wrong type")
    for key in _REQUIRED:
        if key not in entry:
            raise bad(f"no {key}")
    try:
        data_type = DataType(entry["data_type"])
    except ValueError:
        raise bad(
            f"data_type {entry['data_type']!r} is none of {', '.join(d.value for d in DataType)}"
        ) from None
    try:
        mutability = Mutability(entry.get("mutability", RW.value))
    except ValueError:
        raise bad(
            f"mutability {entry['mutability']!r} is none of "
            f"{', '.join(m.value for m in Mutability)}"
        ) from None
    try:
        attributes = tuple(Attribute(a) for a in entry.get("attributes", ["Actual"]))
    except ValueError:
        raise bad(
            f"attributes {entry['attributes']!r} are not all of "
            f"{', '.join(a.value for a in Attribute)}"
        ) from None
    if not attributes or attributes[0] is not Attribute.actual:
        raise bad("attributes start with Actual")
    if len(set(attributes)) != len(attributes):
        raise bad("an attribute type is listed twice")
    values = entry.get("values", [])
    if not all(isinstance(v, str) and v and "," not in v for v in values):
        raise bad("values are non-empty strings without commas")
    if values and data_type not in (DataType.option_list, *_LIST_TYPES):
        raise bad(f"values make sense only for a list type, not {data_type.value}")
    for key in ("min", "max"):
        limit = entry.get(key)
        if limit is not None and not math.isfinite(limit):
            raise bad(f"{key} is a finite number")
    if data_type in _TEXT_TYPES and any(entry.get(k, 0) < 0 for k in ("min", "max")):
        raise bad("a length is not negative")
    if "min" in entry and "max" in entry and entry["min"] > entry["max"]:
        raise bad("min is above max")
    try:
        address = Address(
            entry["component"],
            entry["variable"],
            entry.get("component_instance"),
            entry.get("variable_instance"),
            entry.get("evse"),
            entry.get("connector"),
        )
    except AddressError as e:
        raise bad(str(e)) from None
    default = entry.get("default")
    if isinstance(default, list):
        if data_type not in _LIST_TYPES or not all(isinstance(v, str) for v in default):
            raise bad(f"default {default!r}: a list of strings is for a list type")
        default = tuple(default)
    if isinstance(default, int) and not isinstance(default, bool) and data_type is DataType.decimal:
        default = float(default)
    characteristics = Characteristics(
        data_type,
        entry.get("unit"),
        entry.get("min"),
        entry.get("max"),
        tuple(values),
    )
    if default is not None:
        why = problem(characteristics, default)
        if why:
            raise bad(f"default {default!r} is {why}")
    return Variable(
        VariableSpec(address, characteristics, mutability),
        attributes,
        entry.get("reboot_required", False),
        default,
        entry.get("constant", False),
    )


def _tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


STANDARD_COMPONENTS: tuple[str, ...] = (*_CONTROLLERS, EVSE, CONNECTOR)
