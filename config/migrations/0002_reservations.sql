-- 0002_reservations: reservations the CSMS made (ReserveNow), so that they
-- survive a restart until they are used, cancelled or expire.

-- id is the CSMS's reservationId: a ReserveNow with a known id replaces that
-- reservation. connector 0 reserves any connector of the station. expiry is
-- the OCPP timestamp the CSMS gave (expiryDate), in UTC.
CREATE TABLE reservation (
    id            INTEGER PRIMARY KEY,
    connector     INTEGER NOT NULL CHECK (connector >= 0),
    id_tag        TEXT NOT NULL,
    parent_id_tag TEXT,
    expiry        TEXT NOT NULL
);
