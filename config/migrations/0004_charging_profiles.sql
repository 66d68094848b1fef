-- 0004_charging_profiles: the charging profiles the CSMS installed
-- (SetChargingProfile, or a RemoteStartTransaction's TxProfile), so that the
-- limits they set hold across a restart.
--
-- id is the CSMS's chargingProfileId: a profile with a known id replaces that
-- profile, whatever its connector. connector 0 is the station as a whole.
-- profile is the csChargingProfiles object as received, in JSON; purpose and
-- stack_level repeat what it says, for looking profiles up without parsing.
CREATE TABLE charging_profile (
    id          INTEGER PRIMARY KEY,
    connector   INTEGER NOT NULL CHECK (connector >= 0),
    purpose     TEXT NOT NULL
                CHECK (purpose IN ('ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile')),
    stack_level INTEGER NOT NULL CHECK (stack_level >= 0),
    profile     TEXT NOT NULL
);
