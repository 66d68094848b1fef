"""The pure parts of Firmware Management: the job, its phases, names and times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol.v16.firmware import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_INTERVAL,
    FirmwareJob,
    Phase,
    after_restart,
    attempts_allowed,
    diagnostics_file_name,
    firmware_file_name,
    parse_timestamp,
    seconds_until,
    status_owed,
    trigger_status,
)

REQUEST = {"location": "https://fw.example/v2/image.bin", "retrieveDate": "2026-01-01T01:00:00Z"}


def test_a_request_becomes_a_scheduled_job_with_the_station_defaults() -> None:
    job = FirmwareJob.from_request(REQUEST)
    assert job.phase is Phase.SCHEDULED
    assert (job.retries, job.retry_interval) == (DEFAULT_RETRIES, DEFAULT_RETRY_INTERVAL)
    given_ = FirmwareJob.from_request({**REQUEST, "retries": 0, "retryInterval": 30})
    assert (given_.retries, given_.retry_interval) == (0, 30)


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (1, 2), (3, 4), (-2, 1)])
def test_retries_are_the_tries_after_the_first(retries: int, attempts: int) -> None:
    assert attempts_allowed(retries) == attempts
    job = FirmwareJob.from_request({**REQUEST, "retries": retries})
    for _ in range(attempts - 1):
        job = job.at(Phase.DOWNLOADING, attempts=job.attempts + 1)
        assert job.may_retry
    job = job.at(Phase.DOWNLOADING, attempts=job.attempts + 1)
    assert not job.may_retry


@given(
    phase=st.sampled_from(Phase),
    attempts=st.integers(0, 10),
    file=st.none() | st.text(min_size=1, max_size=20),
)
def test_a_job_survives_its_json(phase: Phase, attempts: int, file: str | None) -> None:
    job = FirmwareJob.from_request(REQUEST).at(phase, attempts=attempts, file=file)
    assert FirmwareJob.from_json(job.to_json()) == job


def test_a_job_no_release_wrote_is_refused() -> None:
    data = FirmwareJob.from_request(REQUEST).to_json()
    with pytest.raises(ValueError):
        FirmwareJob.from_json({**data, "phase": "flashing"})
    with pytest.raises(KeyError):
        FirmwareJob.from_json({"phase": "scheduled"})


def test_after_a_restart_an_installer_that_never_returned_counts_as_failed() -> None:
    job = FirmwareJob.from_request(REQUEST)
    assert after_restart(job.at(Phase.INSTALLING)).phase is Phase.INSTALL_FAILED
    for phase in set(Phase) - {Phase.INSTALLING}:
        assert after_restart(job.at(phase)) == job.at(phase)


def test_final_phases_owe_the_csms_their_status_and_busy_ones_answer_a_trigger() -> None:
    job = FirmwareJob.from_request(REQUEST)
    owed = {phase: status_owed(job.at(phase)) for phase in Phase}
    assert owed == {
        Phase.SCHEDULED: None,
        Phase.DOWNLOADING: None,
        Phase.DOWNLOADED: None,
        Phase.VERIFIED: None,
        Phase.INSTALLING: None,
        Phase.DOWNLOAD_FAILED: "DownloadFailed",
        Phase.INSTALL_FAILED: "InstallationFailed",
        Phase.INSTALLED: "Installed",
        Phase.INVALID_SIGNATURE: "InvalidSignature",
        Phase.VERIFICATION_FAILED: "InstallVerificationFailed",
    }
    triggered = {phase: trigger_status(job.at(phase)) for phase in Phase}
    assert triggered == {
        Phase.SCHEDULED: "Idle",
        Phase.DOWNLOADING: "Downloading",
        Phase.DOWNLOADED: "Downloaded",
        Phase.VERIFIED: "Downloaded",
        Phase.INSTALLING: "Installing",
        Phase.DOWNLOAD_FAILED: "Idle",
        Phase.INSTALL_FAILED: "Idle",
        Phase.INSTALLED: "Idle",
        Phase.INVALID_SIGNATURE: "Idle",
        Phase.VERIFICATION_FAILED: "Idle",
    }
    assert status_owed(None) is None
    assert trigger_status(None) == "Idle"


def test_timestamps_and_waits() -> None:
    noon = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert parse_timestamp("2026-05-01T12:00:00Z") == noon
    assert parse_timestamp("2026-05-01T14:00:00.000+02:00") == noon
    assert parse_timestamp("2026-05-01T12:00:00") == noon  # no offset: UTC
    with pytest.raises(ValueError):
        parse_timestamp("tomorrow")
    assert seconds_until(noon + timedelta(minutes=5), noon) == 300
    assert seconds_until(noon - timedelta(days=1), noon) == 0


def test_file_names_are_safe_on_any_server() -> None:
    at = datetime(2026, 5, 1, 12, 30, 5, tzinfo=UTC)
    assert diagnostics_file_name("CP-001", at) == "diagnostics-CP-001-20260501T123005Z.zip"
    assert diagnostics_file_name("a b/c?", at) == "diagnostics-a_b_c-20260501T123005Z.zip"
    assert firmware_file_name("ftp://h/dir/fw%201.2.bin?x=1") == "fw_1.2.bin"
    assert firmware_file_name("https://h/") == "firmware.bin"
    assert firmware_file_name("https://h/..") == "firmware.bin"


@given(st.text(max_size=60))
def test_a_diagnostics_name_is_always_a_plain_file_name(cp_id: str) -> None:
    name = diagnostics_file_name(cp_id, datetime(2026, 1, 1, tzinfo=UTC))
    assert "/" not in name and len(name) <= 255
    assert name.startswith("diagnostics-") and name.endswith(".zip")


def test_a_retrieve_date_in_lower_case_rfc_3339_is_read() -> None:
    from datetime import UTC, datetime

    from ocppstation.protocol.v16.firmware import parse_timestamp

    assert parse_timestamp("2030-01-01t00:00:00z") == datetime(2030, 1, 1, tzinfo=UTC)
