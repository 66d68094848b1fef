-- 0003_firmware_job: the firmware update in progress (Firmware Management).
--
-- At most one row: a station runs one update at a time, and a new
-- UpdateFirmware replaces it. job is JSON as the firmware actor writes it
-- (protocol/v16/firmware.py, FirmwareJob): it is stored after every step, so
-- that the status owed to the CSMS (Installed, InstallationFailed) survives
-- the reboot an installation ends with, and a crash mid-update resumes it.
CREATE TABLE firmware_job (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    job TEXT NOT NULL
);
