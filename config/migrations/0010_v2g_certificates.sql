-- 0010_v2g_certificates: ISO 15118 Plug & Charge certificates.
--
-- The roots of ISO 15118 (V2GRootCertificate, MORootCertificate) next to the
-- Security Whitepaper's, and the station's own V2GCertificate (the SECC's,
-- with its key). SQLite cannot change a CHECK in place, so the table is
-- made again with the same ids. csr_key gets a second row: the key of the
-- V2G signing request in flight (id 2), beside the ChargePointCertificate's
-- (id 1), so that neither request forgets the other's key.
CREATE TABLE certificate_0010 (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    use  TEXT NOT NULL CHECK (use IN (
             'CentralSystemRootCertificate',
             'ManufacturerRootCertificate',
             'V2GRootCertificate',
             'MORootCertificate',
             'ChargePointCertificate',
             'V2GCertificate')),
    pem  TEXT NOT NULL,
    key  TEXT CHECK (key IS NULL OR use IN ('ChargePointCertificate', 'V2GCertificate'))
);
INSERT INTO certificate_0010 (id, use, pem, key) SELECT id, use, pem, key FROM certificate;
DROP TABLE certificate;
ALTER TABLE certificate_0010 RENAME TO certificate;

CREATE TABLE csr_key_0010 (
    id  INTEGER PRIMARY KEY CHECK (id IN (1, 2)),
    key TEXT NOT NULL
);
INSERT INTO csr_key_0010 (id, key) SELECT id, key FROM csr_key;
DROP TABLE csr_key;
ALTER TABLE csr_key_0010 RENAME TO csr_key;
