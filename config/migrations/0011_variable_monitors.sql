-- 0011_variable_monitors: OCPP 2.0.1's variable monitors (N04-N06).
--
-- The monitors SetVariableMonitoring set (kind CustomMonitor) and the
-- CSMS's changes to a preconfigured one (kind PreconfiguredMonitor, under
-- that monitor's id), by id; hard-wired monitors and the factory settings
-- of preconfigured ones are the station's code and never stored.
-- `monitor` is the monitor as JSON: component, variable (as the wire's
-- ComponentType / VariableType), type, value, severity, transaction.
CREATE TABLE variable_monitor (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,
    monitor TEXT NOT NULL
);
