-- 0005_certificates: the certificates of the Security Whitepaper.
--
-- Roots the CSMS installed (InstallCertificate) and the station's own
-- ChargePointCertificate (CertificateSigned), in PEM; key is the private key
-- of a ChargePointCertificate (PEM, unencrypted: the database file is as
-- private as a key file would be). csr_key holds the key of the signing
-- request in flight, so that a restart between SignCertificate and
-- CertificateSigned does not lose it.
CREATE TABLE certificate (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    use  TEXT NOT NULL CHECK (use IN (
             'CentralSystemRootCertificate',
             'ManufacturerRootCertificate',
             'ChargePointCertificate')),
    pem  TEXT NOT NULL,
    key  TEXT CHECK (key IS NULL OR use = 'ChargePointCertificate')
);

CREATE TABLE csr_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key TEXT NOT NULL
);
