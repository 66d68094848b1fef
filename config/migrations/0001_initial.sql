-- 0001_initial: everything the OCPP 1.6 Core profile must keep across a
-- crash or kill -9.
--
-- Rules for every migration file (see actors/storage.py):
-- * once released, a file is never edited; change the schema in a new file;
-- * no BEGIN/COMMIT here: the runner wraps each file in one transaction
--   together with the PRAGMA user_version that records it.

-- Keys the CSMS (or an operator) changed, laid over the station's config file.
CREATE TABLE config_overlay (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Only connectors whose availability was ever changed have a row; connector 0
-- is the station as a whole.
CREATE TABLE availability (
    connector INTEGER PRIMARY KEY CHECK (connector >= 0),
    value     TEXT NOT NULL CHECK (value IN ('Operative', 'Inoperative'))
);

-- OCPP 1.6 says an IdToken is case-insensitive, hence NOCASE on both the cache
-- and the local list. info is the idTagInfo as received, in JSON.
CREATE TABLE auth_cache (
    id_tag TEXT PRIMARY KEY COLLATE NOCASE,
    info   TEXT NOT NULL,
    -- Order of the last put: the seam for an eviction policy when the cache
    -- gets a size limit (oldest first, after invalid and expired entries).
    stored INTEGER NOT NULL
);
CREATE INDEX auth_cache_by_stored ON auth_cache (stored);

CREATE TABLE local_list (
    id_tag TEXT PRIMARY KEY COLLATE NOCASE,
    info   TEXT NOT NULL
);

-- A single row: a missing row means version 0 (no list was ever sent).
CREATE TABLE local_list_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);

-- AUTOINCREMENT, not a plain rowid: a rowid may be reused once the highest
-- rows are deleted, and local ids must grow across restarts and pruning.
CREATE TABLE tx (
    local_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    connector      INTEGER NOT NULL,
    id_tag         TEXT NOT NULL,
    meter_start    INTEGER NOT NULL,
    started_at     TEXT NOT NULL,
    reservation_id INTEGER,
    -- Given by the CSMS in its StartTransaction answer; NULL until then.
    transaction_id INTEGER,
    -- Last known meter reading: what a PowerLoss stop after a crash reports.
    last_meter     INTEGER NOT NULL,
    last_at        TEXT NOT NULL,
    stopped        INTEGER NOT NULL DEFAULT 0 CHECK (stopped IN (0, 1)),
    meter_stop     INTEGER,
    stopped_at     TEXT,
    stop_reason    TEXT
);
-- Start-up asks for the open transactions; there are at most a few.
CREATE INDEX tx_open ON tx (local_id) WHERE stopped = 0;

-- Transactional messages waiting for the CSMS's answer, sent in seq order.
-- AUTOINCREMENT for the same reason as tx: the queue is often emptied, and
-- seq must still grow.
CREATE TABLE queue (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    action   TEXT NOT NULL,
    payload  TEXT NOT NULL,
    local_tx INTEGER REFERENCES tx (local_id),
    attempts INTEGER NOT NULL DEFAULT 0
);
-- Lets the foreign key be checked without a scan when a tx row is deleted.
CREATE INDEX queue_by_local_tx ON queue (local_tx);
