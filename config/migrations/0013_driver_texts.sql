-- 0013_driver_texts: OCPP 2.0.1 I Tariff and cost, what each EVSE's driver was shown.
--
-- The tariff and cost texts of the transaction an EVSE last ran (the
-- CSMS's personalMessage, totalCost as the driver reads it), so that a
-- restarted station still shows them for that transaction and takes its
-- final cost when the CSMS answers the transaction's end. One row per EVSE;
-- `ended` is 1 once the transaction ended (its texts shown for a while).
CREATE TABLE driver_text (
    evse           INTEGER PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    tariff         TEXT,
    cost           TEXT,
    ended          INTEGER NOT NULL DEFAULT 0
);
