"""The firmware update in progress, as the storage actor keeps it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_storage import running

JOB = {
    "location": "ftp://fw.example/v2.bin",
    "retrieve_date": "2026-01-01T00:00:00Z",
    "retries": 1,
    "retry_interval": 30,
    "phase": "installed",
    "attempts": 1,
    "file": "/data/firmware/v2.bin",
}


def test_one_job_at_a_time_and_it_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "station.sqlite"
    with running(path) as db:
        assert db.firmware_job.get() is None
        db.firmware_job.put({**JOB, "phase": "downloading"})
        db.firmware_job.put(JOB)  # replaces
    with running(path) as db:
        assert db.firmware_job.get() == JOB
        db.firmware_job.put(None)
        assert db.firmware_job.get() is None
        db.firmware_job.put(None)  # nothing to forget is not an error


def test_a_job_must_be_json(tmp_path: Path) -> None:
    with running(tmp_path / "station.sqlite") as db:
        with pytest.raises(TypeError):
            db.firmware_job.put(["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            db.firmware_job.put({"x": float("nan")})
        assert db.firmware_job.get() is None
