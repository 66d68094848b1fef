-- 0014_ocsp_cache: ISO 15118 Plug & Charge, the CSMS's OCSP answers (1.6 and 2.0.1).
--
-- A GetCertificateStatus answer (Accepted) by its ocspRequestData (compact
-- JSON), with when it was fetched on the station's wall clock (seconds
-- since the epoch), so a restart neither asks the CSMS again for a fresh
-- answer nor forgets which ones to refresh.
CREATE TABLE ocsp_answer (
    request    TEXT PRIMARY KEY,
    answer     TEXT NOT NULL,
    fetched_at REAL NOT NULL
);
