"""The settings actors ask for, by a name of the domain, and where each lives.

Actors read `ctx.setting(Setting.HEARTBEAT_INTERVAL, ...)`, never a 1.6 key
string. A `Setting` is an address in the device model
(config/device_model.py): the 2.0.1 component and variable that hold it,
from the component configurations of OCPP 2.0.1 Part 2 appendix 3
(OCPPCommCtrlr.HeartbeatInterval, TxCtrlr.EVConnectionTimeOut, ...), or
`LEGACY` for what only 1.6 has. How 1.6's keys map onto the same
addresses is config/v16_view.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from ocppstation.config.device_model import Address

# 1.6 keys that 2.0.1 has no variable for, under their own names: a
# component of our own (2.0.1 lets a station add components).
LEGACY = "OCPP16LegacyCtrlr"
# An integrator's own keys (the config file's Custom section).
CUSTOM = "CustomCtrlr"


class Setting(StrEnum):
    """A setting the station's actors read, named for what it governs."""

    # Link and registration
    HEARTBEAT_INTERVAL = "HeartbeatInterval"
    WEBSOCKET_PING_INTERVAL = "WebSocketPingInterval"
    SECURITY_PROFILE = "SecurityProfile"
    BASIC_AUTH_PASSWORD = "BasicAuthPassword"
    ORGANIZATION_NAME = "OrganizationName"
    MAX_CERTIFICATE_CHAIN_SIZE = "MaxCertificateChainSize"
    CERTIFICATE_ENTRIES = "CertificateEntries"
    TRANSACTION_MESSAGE_ATTEMPTS = "TransactionMessageAttempts"
    TRANSACTION_MESSAGE_RETRY_INTERVAL = "TransactionMessageRetryInterval"
    FILE_TRANSFER_PROTOCOLS = "FileTransferProtocols"
    FEATURE_PROFILES = "FeatureProfiles"
    NETWORK_CONFIGURATION_PRIORITY = "NetworkConfigurationPriority"
    NETWORK_PROFILE_CONNECTION_ATTEMPTS = "NetworkProfileConnectionAttempts"
    # Authorization
    AUTHORIZE_REMOTE_START = "AuthorizeRemoteStart"
    LOCAL_PRE_AUTHORIZE = "LocalPreAuthorize"
    LOCAL_AUTHORIZE_OFFLINE = "LocalAuthorizeOffline"
    OFFLINE_TX_FOR_UNKNOWN_ID = "OfflineTxForUnknownId"
    AUTH_CACHE_ENABLED = "AuthCacheEnabled"
    LOCAL_LIST_ENABLED = "LocalListEnabled"
    LOCAL_LIST_MAX_ENTRIES = "LocalListMaxEntries"
    LOCAL_LIST_ITEMS_PER_MESSAGE = "LocalListItemsPerMessage"
    MASTER_PASS_GROUP_ID = "MasterPassGroupId"
    # Transactions at the EVSE
    EV_CONNECTION_TIMEOUT = "EVConnectionTimeOut"
    STOP_TX_ON_EV_SIDE_DISCONNECT = "StopTxOnEVSideDisconnect"
    UNLOCK_ON_EV_SIDE_DISCONNECT = "UnlockOnEVSideDisconnect"
    STOP_TX_ON_INVALID_ID = "StopTxOnInvalidId"
    MAX_ENERGY_ON_INVALID_ID = "MaxEnergyOnInvalidId"
    MINIMUM_STATUS_DURATION = "MinimumStatusDuration"
    TX_START_POINT = "TxStartPoint"
    TX_STOP_POINT = "TxStopPoint"
    SIGN_SAMPLED_READINGS = "SignSampledReadings"
    SIGN_ALIGNED_READINGS = "SignAlignedReadings"
    PUBLIC_KEY_WITH_SIGNED_METER_VALUE = "PublicKeyWithSignedMeterValue"
    # Metering
    SAMPLE_INTERVAL = "SampleInterval"
    SAMPLED_MEASURANDS = "SampledMeasurands"
    SAMPLED_MEASURANDS_AT_END = "SampledMeasurandsAtEnd"
    ALIGNED_INTERVAL = "AlignedInterval"
    ALIGNED_MEASURANDS = "AlignedMeasurands"
    ALIGNED_MEASURANDS_AT_END = "AlignedMeasurandsAtEnd"
    # Reservations and smart charging
    RESERVE_CONNECTOR_ZERO = "ReserveConnectorZero"
    RESERVATION_ENABLED = "ReservationEnabled"
    RESERVATION_AVAILABLE = "ReservationAvailable"
    PROFILE_MAX_STACK_LEVEL = "ProfileMaxStackLevel"
    RATE_UNITS = "RateUnits"
    PERIODS_PER_SCHEDULE = "PeriodsPerSchedule"
    MAX_PROFILES_INSTALLED = "MaxProfilesInstalled"

    # Display messages, tariff and cost (2.0.1 O, I)
    DISPLAY_MESSAGES_ENABLED = "DisplayMessagesEnabled"
    DISPLAY_MESSAGES_AVAILABLE = "DisplayMessagesAvailable"
    DISPLAY_FORMATS = "DisplayFormats"
    DISPLAY_PRIORITIES = "DisplayPriorities"
    DISPLAY_STATES = "DisplayStates"
    TARIFF_ENABLED = "TariffEnabled"
    TARIFF_AVAILABLE = "TariffAvailable"
    COST_ENABLED = "CostEnabled"
    COST_AVAILABLE = "CostAvailable"
    TARIFF_FALLBACK_MESSAGE = "TariffFallbackMessage"
    TOTAL_COST_FALLBACK_MESSAGE = "TotalCostFallbackMessage"
    CURRENCY = "Currency"


def _at(component: str, variable: str, instance: str | None = None) -> Address:
    return Address(component, variable, variable_instance=instance)


SETTING_ADDRESSES: Mapping[Setting, Address] = MappingProxyType(
    {
        Setting.HEARTBEAT_INTERVAL: _at("OCPPCommCtrlr", "HeartbeatInterval"),
        Setting.WEBSOCKET_PING_INTERVAL: _at("OCPPCommCtrlr", "WebSocketPingInterval"),
        Setting.SECURITY_PROFILE: _at("SecurityCtrlr", "SecurityProfile"),
        Setting.BASIC_AUTH_PASSWORD: _at("SecurityCtrlr", "BasicAuthPassword"),
        Setting.ORGANIZATION_NAME: _at("SecurityCtrlr", "OrganizationName"),
        Setting.MAX_CERTIFICATE_CHAIN_SIZE: _at("SecurityCtrlr", "MaxCertificateChainSize"),
        Setting.CERTIFICATE_ENTRIES: _at("SecurityCtrlr", "CertificateEntries"),
        Setting.TRANSACTION_MESSAGE_ATTEMPTS: _at(
            "OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"
        ),
        Setting.TRANSACTION_MESSAGE_RETRY_INTERVAL: _at(
            "OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"
        ),
        Setting.FILE_TRANSFER_PROTOCOLS: _at("OCPPCommCtrlr", "FileTransferProtocols"),
        Setting.NETWORK_CONFIGURATION_PRIORITY: _at(
            "OCPPCommCtrlr", "NetworkConfigurationPriority"
        ),
        Setting.NETWORK_PROFILE_CONNECTION_ATTEMPTS: _at(
            "OCPPCommCtrlr", "NetworkProfileConnectionAttempts"
        ),
        Setting.FEATURE_PROFILES: _at("OCPP16LegacyCtrlr", "SupportedFeatureProfiles"),
        Setting.AUTHORIZE_REMOTE_START: _at("AuthCtrlr", "AuthorizeRemoteStart"),
        Setting.LOCAL_PRE_AUTHORIZE: _at("AuthCtrlr", "LocalPreAuthorize"),
        Setting.LOCAL_AUTHORIZE_OFFLINE: _at("AuthCtrlr", "LocalAuthorizeOffline"),
        Setting.OFFLINE_TX_FOR_UNKNOWN_ID: _at("AuthCtrlr", "OfflineTxForUnknownIdEnabled"),
        Setting.AUTH_CACHE_ENABLED: _at("AuthCacheCtrlr", "Enabled"),
        Setting.LOCAL_LIST_ENABLED: _at("LocalAuthListCtrlr", "Enabled"),
        Setting.LOCAL_LIST_MAX_ENTRIES: _at("OCPP16LegacyCtrlr", "LocalAuthListMaxLength"),
        Setting.LOCAL_LIST_ITEMS_PER_MESSAGE: _at("LocalAuthListCtrlr", "ItemsPerMessage"),
        Setting.MASTER_PASS_GROUP_ID: _at("AuthCtrlr", "MasterPassGroupId"),
        Setting.EV_CONNECTION_TIMEOUT: _at("TxCtrlr", "EVConnectionTimeOut"),
        Setting.STOP_TX_ON_EV_SIDE_DISCONNECT: _at("TxCtrlr", "StopTxOnEVSideDisconnect"),
        Setting.UNLOCK_ON_EV_SIDE_DISCONNECT: _at(
            "OCPP16LegacyCtrlr", "UnlockConnectorOnEVSideDisconnect"
        ),
        Setting.STOP_TX_ON_INVALID_ID: _at("TxCtrlr", "StopTxOnInvalidId"),
        Setting.MAX_ENERGY_ON_INVALID_ID: _at("TxCtrlr", "MaxEnergyOnInvalidId"),
        Setting.MINIMUM_STATUS_DURATION: _at("OCPP16LegacyCtrlr", "MinimumStatusDuration"),
        Setting.TX_START_POINT: _at("TxCtrlr", "TxStartPoint"),
        Setting.TX_STOP_POINT: _at("TxCtrlr", "TxStopPoint"),
        Setting.SIGN_SAMPLED_READINGS: _at("SampledDataCtrlr", "SignReadings"),
        Setting.SIGN_ALIGNED_READINGS: _at("AlignedDataCtrlr", "SignReadings"),
        Setting.PUBLIC_KEY_WITH_SIGNED_METER_VALUE: _at(
            "OCPPCommCtrlr", "PublicKeyWithSignedMeterValue"
        ),
        Setting.SAMPLE_INTERVAL: _at("SampledDataCtrlr", "TxUpdatedInterval"),
        Setting.SAMPLED_MEASURANDS: _at("SampledDataCtrlr", "TxUpdatedMeasurands"),
        Setting.SAMPLED_MEASURANDS_AT_END: _at("SampledDataCtrlr", "TxEndedMeasurands"),
        Setting.ALIGNED_INTERVAL: _at("AlignedDataCtrlr", "Interval"),
        Setting.ALIGNED_MEASURANDS: _at("AlignedDataCtrlr", "Measurands"),
        Setting.ALIGNED_MEASURANDS_AT_END: _at("AlignedDataCtrlr", "TxEndedMeasurands"),
        Setting.RESERVE_CONNECTOR_ZERO: _at("ReservationCtrlr", "NonEvseSpecific"),
        Setting.RESERVATION_ENABLED: _at("ReservationCtrlr", "Enabled"),
        Setting.RESERVATION_AVAILABLE: _at("ReservationCtrlr", "Available"),
        Setting.PROFILE_MAX_STACK_LEVEL: _at("SmartChargingCtrlr", "ProfileStackLevel"),
        Setting.RATE_UNITS: _at("SmartChargingCtrlr", "RateUnit"),
        Setting.PERIODS_PER_SCHEDULE: _at("SmartChargingCtrlr", "PeriodsPerSchedule"),
        Setting.MAX_PROFILES_INSTALLED: _at("OCPP16LegacyCtrlr", "MaxChargingProfilesInstalled"),
        Setting.DISPLAY_MESSAGES_ENABLED: _at("DisplayMessageCtrlr", "Enabled"),
        Setting.DISPLAY_MESSAGES_AVAILABLE: _at("DisplayMessageCtrlr", "Available"),
        Setting.DISPLAY_FORMATS: _at("DisplayMessageCtrlr", "SupportedFormats"),
        Setting.DISPLAY_PRIORITIES: _at("DisplayMessageCtrlr", "SupportedPriorities"),
        Setting.DISPLAY_STATES: _at("DisplayMessageCtrlr", "SupportedStates"),
        Setting.TARIFF_ENABLED: _at("TariffCostCtrlr", "Enabled", "Tariff"),
        Setting.TARIFF_AVAILABLE: _at("TariffCostCtrlr", "Available", "Tariff"),
        Setting.COST_ENABLED: _at("TariffCostCtrlr", "Enabled", "Cost"),
        Setting.COST_AVAILABLE: _at("TariffCostCtrlr", "Available", "Cost"),
        Setting.TARIFF_FALLBACK_MESSAGE: _at("TariffCostCtrlr", "TariffFallbackMessage"),
        Setting.TOTAL_COST_FALLBACK_MESSAGE: _at("TariffCostCtrlr", "TotalCostFallbackMessage"),
        Setting.CURRENCY: _at("TariffCostCtrlr", "Currency"),
    }
)
_SETTING_AT = {address: setting for setting, address in SETTING_ADDRESSES.items()}

# Settings only 2.0.1 has: no 1.6 key holds them, and a 1.6 station reads
# their default (a transaction starts once the EV is connected and authorized).
V201_ONLY: frozenset[Setting] = frozenset(
    {
        Setting.TX_START_POINT,
        Setting.TX_STOP_POINT,
        Setting.MASTER_PASS_GROUP_ID,
        Setting.SIGN_SAMPLED_READINGS,
        Setting.SIGN_ALIGNED_READINGS,
        Setting.PUBLIC_KEY_WITH_SIGNED_METER_VALUE,
        Setting.NETWORK_CONFIGURATION_PRIORITY,
        Setting.NETWORK_PROFILE_CONNECTION_ATTEMPTS,
        Setting.RESERVATION_ENABLED,
        Setting.RESERVATION_AVAILABLE,
        Setting.DISPLAY_MESSAGES_ENABLED,
        Setting.DISPLAY_MESSAGES_AVAILABLE,
        Setting.DISPLAY_FORMATS,
        Setting.DISPLAY_PRIORITIES,
        Setting.DISPLAY_STATES,
        Setting.TARIFF_ENABLED,
        Setting.TARIFF_AVAILABLE,
        Setting.COST_ENABLED,
        Setting.COST_AVAILABLE,
        Setting.TARIFF_FALLBACK_MESSAGE,
        Setting.TOTAL_COST_FALLBACK_MESSAGE,
        Setting.CURRENCY,
    }
)


def setting_at(address: Address) -> Setting | None:
    """The domain setting stored at `address`, if an actor reads one there."""
    return _SETTING_AT.get(address)
