-- 0006_device_model: the settings overlay keyed the way 2.0.1's device model is.
--
-- A value the CSMS set at runtime is stored at its place: component (with
-- instance, EVSE, connector), variable (with instance) and attribute type.
-- 1.6 keys are a view onto these places (config/settings_catalog.py); the
-- rows of config_overlay, keyed by 1.6 key, move to the place each key had
-- when this migration was written (the list below, fixed for good); any
-- other key is an integrator's Custom key. evse and connector 0 mean none
-- (2.0.1 numbers both from 1); an instance '' means none, so that the
-- primary key holds.
CREATE TABLE setting (
    component           TEXT NOT NULL,
    component_instance  TEXT NOT NULL DEFAULT '',
    evse                INTEGER NOT NULL DEFAULT 0,
    connector           INTEGER NOT NULL DEFAULT 0,
    variable            TEXT NOT NULL,
    variable_instance   TEXT NOT NULL DEFAULT '',
    attribute           TEXT NOT NULL DEFAULT 'Actual'
                        CHECK (attribute IN ('Actual', 'Target', 'MinSet', 'MaxSet')),
    value               TEXT NOT NULL,
    PRIMARY KEY (component, component_instance, evse, connector,
                 variable, variable_instance, attribute)
);

CREATE TEMPORARY TABLE v16_place (
    key TEXT PRIMARY KEY, component TEXT, variable TEXT, variable_instance TEXT
);
INSERT INTO v16_place (key, component, variable, variable_instance) VALUES
    ('AdditionalRootCertificateCheck', 'SecurityCtrlr', 'AdditionalRootCertificateCheck', ''),
    ('AllowOfflineTxForUnknownId', 'AuthCtrlr', 'OfflineTxForUnknownIdEnabled', ''),
    ('AuthorizationCacheEnabled', 'AuthCacheCtrlr', 'Enabled', ''),
    ('AuthorizationKey', 'SecurityCtrlr', 'BasicAuthPassword', ''),
    ('AuthorizeRemoteTxRequests', 'AuthCtrlr', 'AuthorizeRemoteStart', ''),
    ('BlinkRepeat', 'OCPP16LegacyCtrlr', 'BlinkRepeat', ''),
    ('CertificateSignedMaxChainSize', 'SecurityCtrlr', 'MaxCertificateChainSize', ''),
    ('CertificateStoreMaxLength', 'SecurityCtrlr', 'CertificateEntries', ''),
    ('ChargeProfileMaxStackLevel', 'SmartChargingCtrlr', 'ProfileStackLevel', ''),
    ('ChargingScheduleAllowedChargingRateUnit', 'SmartChargingCtrlr', 'RateUnit', ''),
    ('ChargingScheduleMaxPeriods', 'SmartChargingCtrlr', 'PeriodsPerSchedule', ''),
    ('ClockAlignedDataInterval', 'AlignedDataCtrlr', 'Interval', ''),
    ('ConnectionTimeOut', 'TxCtrlr', 'EVConnectionTimeOut', ''),
    ('ConnectorPhaseRotation', 'OCPP16LegacyCtrlr', 'ConnectorPhaseRotation', ''),
    ('ConnectorPhaseRotationMaxLength', 'OCPP16LegacyCtrlr', 'ConnectorPhaseRotationMaxLength', ''),
    ('ConnectorSwitch3to1PhaseSupported', 'SmartChargingCtrlr', 'Phases3to1', ''),
    ('CpoName', 'SecurityCtrlr', 'OrganizationName', ''),
    ('GetConfigurationMaxKeys', 'OCPP16LegacyCtrlr', 'GetConfigurationMaxKeys', ''),
    ('HeartbeatInterval', 'OCPPCommCtrlr', 'HeartbeatInterval', ''),
    ('LightIntensity', 'OCPP16LegacyCtrlr', 'LightIntensity', ''),
    ('LocalAuthListEnabled', 'LocalAuthListCtrlr', 'Enabled', ''),
    ('LocalAuthListMaxLength', 'OCPP16LegacyCtrlr', 'LocalAuthListMaxLength', ''),
    ('LocalAuthorizeOffline', 'AuthCtrlr', 'LocalAuthorizeOffline', ''),
    ('LocalPreAuthorize', 'AuthCtrlr', 'LocalPreAuthorize', ''),
    ('MaxChargingProfilesInstalled', 'OCPP16LegacyCtrlr', 'MaxChargingProfilesInstalled', ''),
    ('MaxEnergyOnInvalidId', 'TxCtrlr', 'MaxEnergyOnInvalidId', ''),
    ('MeterValueSampleInterval', 'SampledDataCtrlr', 'TxUpdatedInterval', ''),
    ('MeterValuesAlignedData', 'AlignedDataCtrlr', 'Measurands', ''),
    ('MeterValuesAlignedDataMaxLength', 'OCPP16LegacyCtrlr', 'MeterValuesAlignedDataMaxLength', ''),
    ('MeterValuesSampledData', 'SampledDataCtrlr', 'TxUpdatedMeasurands', ''),
    ('MeterValuesSampledDataMaxLength', 'OCPP16LegacyCtrlr', 'MeterValuesSampledDataMaxLength', ''),
    ('MinimumStatusDuration', 'OCPP16LegacyCtrlr', 'MinimumStatusDuration', ''),
    ('NumberOfConnectors', 'OCPP16LegacyCtrlr', 'NumberOfConnectors', ''),
    ('ReserveConnectorZeroSupported', 'ReservationCtrlr', 'NonEvseSpecific', ''),
    ('ResetRetries', 'OCPPCommCtrlr', 'ResetRetries', ''),
    ('SecurityProfile', 'SecurityCtrlr', 'SecurityProfile', ''),
    ('SendLocalListMaxLength', 'LocalAuthListCtrlr', 'ItemsPerMessage', ''),
    ('StopTransactionOnEVSideDisconnect', 'TxCtrlr', 'StopTxOnEVSideDisconnect', ''),
    ('StopTransactionOnInvalidId', 'TxCtrlr', 'StopTxOnInvalidId', ''),
    ('StopTxnAlignedData', 'AlignedDataCtrlr', 'TxEndedMeasurands', ''),
    ('StopTxnAlignedDataMaxLength', 'OCPP16LegacyCtrlr', 'StopTxnAlignedDataMaxLength', ''),
    ('StopTxnSampledData', 'SampledDataCtrlr', 'TxEndedMeasurands', ''),
    ('StopTxnSampledDataMaxLength', 'OCPP16LegacyCtrlr', 'StopTxnSampledDataMaxLength', ''),
    ('SupportedFeatureProfiles', 'OCPP16LegacyCtrlr', 'SupportedFeatureProfiles', ''),
    ('SupportedFeatureProfilesMaxLength', 'OCPP16LegacyCtrlr', 'SupportedFeatureProfilesMaxLength', ''),
    ('SupportedFileTransferProtocols', 'OCPPCommCtrlr', 'FileTransferProtocols', ''),
    ('TransactionMessageAttempts', 'OCPPCommCtrlr', 'MessageAttempts', 'TransactionEvent'),
    ('TransactionMessageRetryInterval', 'OCPPCommCtrlr', 'MessageAttemptInterval', 'TransactionEvent'),
    ('UnlockConnectorOnEVSideDisconnect', 'OCPP16LegacyCtrlr', 'UnlockConnectorOnEVSideDisconnect', ''),
    ('WebSocketPingInterval', 'OCPPCommCtrlr', 'WebSocketPingInterval', '');

INSERT INTO setting (component, variable, variable_instance, value)
SELECT coalesce(p.component, 'CustomCtrlr'), coalesce(p.variable, o.key),
       coalesce(p.variable_instance, ''), o.value
FROM config_overlay AS o LEFT JOIN v16_place AS p ON p.key = o.key;

DROP TABLE v16_place;
DROP TABLE config_overlay;
