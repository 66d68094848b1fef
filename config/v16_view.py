"""OCPP 1.6's configuration keys as a view onto the device-model store.

Each 1.6 key's value lives at an address (config/device_model.py): a key
with a 2.0.1 counterpart lives there, so a station that speaks both reads
one value; a key 2.0.1 has no variable for lives in `LEGACY` under its 1.6
name; an integrator's Custom key in `CUSTOM`. The specification has no
mapping table; a 1.6 key whose meaning 2.0.1 changed (LocalAuthListMaxLength,
an entry count, against LocalAuthListCtrlr.Entries' maxLimit) stays legacy
rather than be stretched. `v16_variable` describes a key the way the device
model describes any variable (data type, limits, values, mutability).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ocppstation.config import keys_v16
from ocppstation.config.device_model import (
    Address,
    Characteristics,
    DataType,
    Mutability,
    VariableSpec,
)
from ocppstation.config.settings_catalog import CUSTOM, LEGACY, SETTING_ADDRESSES, Setting


def _p(component: str, variable: str, instance: str | None = None) -> Address:
    return Address(component, variable, variable_instance=instance)


# Where each 1.6 key lives; every key of keys_v16.KEYS is here (a test says so).
_V16: Mapping[str, Address] = {
    "AllowOfflineTxForUnknownId": _p("AuthCtrlr", "OfflineTxForUnknownIdEnabled"),
    "AuthorizationCacheEnabled": _p("AuthCacheCtrlr", "Enabled"),
    "AuthorizeRemoteTxRequests": _p("AuthCtrlr", "AuthorizeRemoteStart"),
    "BlinkRepeat": _p(LEGACY, "BlinkRepeat"),
    "ClockAlignedDataInterval": _p("AlignedDataCtrlr", "Interval"),
    "ConnectionTimeOut": _p("TxCtrlr", "EVConnectionTimeOut"),
    # 2.0.1 keeps it per connector (Connector.PhaseRotation); 1.6 has one list.
    "ConnectorPhaseRotation": _p(LEGACY, "ConnectorPhaseRotation"),
    "ConnectorPhaseRotationMaxLength": _p(LEGACY, "ConnectorPhaseRotationMaxLength"),
    "GetConfigurationMaxKeys": _p(LEGACY, "GetConfigurationMaxKeys"),
    "HeartbeatInterval": _p("OCPPCommCtrlr", "HeartbeatInterval"),
    "LightIntensity": _p(LEGACY, "LightIntensity"),
    "LocalAuthorizeOffline": _p("AuthCtrlr", "LocalAuthorizeOffline"),
    "LocalPreAuthorize": _p("AuthCtrlr", "LocalPreAuthorize"),
    "MaxEnergyOnInvalidId": _p("TxCtrlr", "MaxEnergyOnInvalidId"),
    "MeterValuesAlignedData": _p("AlignedDataCtrlr", "Measurands"),
    "MeterValuesAlignedDataMaxLength": _p(LEGACY, "MeterValuesAlignedDataMaxLength"),
    "MeterValuesSampledData": _p("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "MeterValuesSampledDataMaxLength": _p(LEGACY, "MeterValuesSampledDataMaxLength"),
    "MeterValueSampleInterval": _p("SampledDataCtrlr", "TxUpdatedInterval"),
    "MinimumStatusDuration": _p(LEGACY, "MinimumStatusDuration"),
    "NumberOfConnectors": _p(LEGACY, "NumberOfConnectors"),
    "ResetRetries": _p("OCPPCommCtrlr", "ResetRetries"),
    "StopTransactionOnEVSideDisconnect": _p("TxCtrlr", "StopTxOnEVSideDisconnect"),
    "StopTransactionOnInvalidId": _p("TxCtrlr", "StopTxOnInvalidId"),
    "StopTxnAlignedData": _p("AlignedDataCtrlr", "TxEndedMeasurands"),
    "StopTxnAlignedDataMaxLength": _p(LEGACY, "StopTxnAlignedDataMaxLength"),
    "StopTxnSampledData": _p("SampledDataCtrlr", "TxEndedMeasurands"),
    "StopTxnSampledDataMaxLength": _p(LEGACY, "StopTxnSampledDataMaxLength"),
    "SupportedFeatureProfiles": _p(LEGACY, "SupportedFeatureProfiles"),
    "SupportedFeatureProfilesMaxLength": _p(LEGACY, "SupportedFeatureProfilesMaxLength"),
    "TransactionMessageAttempts": _p("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"),
    "TransactionMessageRetryInterval": _p(
        "OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"
    ),
    "UnlockConnectorOnEVSideDisconnect": _p(LEGACY, "UnlockConnectorOnEVSideDisconnect"),
    "WebSocketPingInterval": _p("OCPPCommCtrlr", "WebSocketPingInterval"),
    "LocalAuthListEnabled": _p("LocalAuthListCtrlr", "Enabled"),
    "LocalAuthListMaxLength": _p(LEGACY, "LocalAuthListMaxLength"),
    "SendLocalListMaxLength": _p("LocalAuthListCtrlr", "ItemsPerMessage"),
    "ReserveConnectorZeroSupported": _p("ReservationCtrlr", "NonEvseSpecific"),
    "ChargeProfileMaxStackLevel": _p("SmartChargingCtrlr", "ProfileStackLevel"),
    "ChargingScheduleAllowedChargingRateUnit": _p("SmartChargingCtrlr", "RateUnit"),
    "ChargingScheduleMaxPeriods": _p("SmartChargingCtrlr", "PeriodsPerSchedule"),
    "ConnectorSwitch3to1PhaseSupported": _p("SmartChargingCtrlr", "Phases3to1"),
    "MaxChargingProfilesInstalled": _p(LEGACY, "MaxChargingProfilesInstalled"),
    "SupportedFileTransferProtocols": _p("OCPPCommCtrlr", "FileTransferProtocols"),
    "AdditionalRootCertificateCheck": _p("SecurityCtrlr", "AdditionalRootCertificateCheck"),
    "AuthorizationKey": _p("SecurityCtrlr", "BasicAuthPassword"),
    "CertificateSignedMaxChainSize": _p("SecurityCtrlr", "MaxCertificateChainSize"),
    "CertificateStoreMaxLength": _p("SecurityCtrlr", "CertificateEntries"),
    "CpoName": _p("SecurityCtrlr", "OrganizationName"),
    "SecurityProfile": _p("SecurityCtrlr", "SecurityProfile"),
    # California Pricing: 2.0.1 has its own (TariffCostCtrlr, issue 10); these
    # hold 1.6's JSON texts and stay legacy rather than be stretched onto them.
    **{
        key: _p(LEGACY, key)
        for key in (
            "CustomDisplayCostAndPrice",
            "NumberOfDecimalsForCostValues",
            "DefaultPrice",
            "DefaultPriceText",
            "TimeOffset",
            "NextTimeOffsetTransitionDateTime",
            "TimeOffsetNextTransition",
            "CustomIdleFeeAfterStop",
            "SupportedLanguages",
            "CustomMultiLanguageMessages",
            "Language",
            "WaitForSetUserPriceTimeout",
        )
    },
    # Plug & Charge: 2.0.1's ISO15118Ctrlr differs in shape; legacy, as the pricing keys.
    **{
        key: _p(LEGACY, key)
        for key in (
            "ISO15118PnCEnabled",
            "ISO15118CertificateManagementEnabled",
            "CentralContractValidationAllowed",
            "ContractValidationOffline",
            "CertSigningWaitMinimum",
            "CertSigningRepeatTimes",
            "SeccLeafSubjectCommonName",
            "SeccLeafSubjectCountry",
            "SeccLeafSubjectOrganization",
            "OcspRequestInterval",
        )
    },
}
V16_ADDRESSES: Mapping[str, Address] = MappingProxyType(dict(_V16))

_KEY_AT = {address: key for key, address in _V16.items()}


def v16_address(key: str, table: Mapping[str, keys_v16.KeySpec] = keys_v16.KEYS) -> Address:
    """Where the 1.6 key `key` (its canonical name) lives in the store."""
    place = _V16.get(key)
    if place is not None:
        return place
    spec = table.get(key)
    if spec is None or spec.profile != keys_v16.CUSTOM:
        raise KeyError(f"{key!r} is not a configuration key of this station")
    return Address(CUSTOM, key)


def v16_key(setting: Setting) -> str:
    """The 1.6 key a 1.6 station keeps `setting` in."""
    return _KEY_AT[SETTING_ADDRESSES[setting]]


_DATA_TYPES = {
    keys_v16.Kind.BOOL: DataType.boolean,
    keys_v16.Kind.INT: DataType.integer,
    keys_v16.Kind.STRING: DataType.string,
}


def v16_variable(spec: keys_v16.KeySpec, table: Mapping[str, keys_v16.KeySpec]) -> VariableSpec:
    """The device model's description of a 1.6 key: its place and characteristics."""
    if spec.kind is keys_v16.Kind.CSL:
        data_type = DataType.member_list
    elif spec.write_only:
        data_type = DataType.password_string
    else:
        data_type = _DATA_TYPES[spec.kind]
    is_text = data_type in (DataType.string, DataType.password_string)
    characteristics = Characteristics(
        data_type,
        min_limit=None if is_text else spec.minimum,
        max_limit=spec.max_length if is_text else spec.maximum,
        values_list=spec.allowed if spec.items is keys_v16.Items.ENUM else (),
    )
    if spec.readonly:
        mutability = Mutability.read_only
    elif spec.write_only:
        mutability = Mutability.write_only
    else:
        mutability = Mutability.read_write
    return VariableSpec(v16_address(spec.name, table), characteristics, mutability)
