"""The station's own log: lines stamped with the station's clock, read back by time."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.files.station_log import StationLog, archive, records_between

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def logger(caplog: pytest.LogCaptureFixture) -> Iterator[logging.Logger]:
    caplog.set_level(logging.INFO, logger="ocppstation")
    yield logging.getLogger("ocppstation.test.log")


def test_records_between_keeps_a_traceback_with_its_record() -> None:
    lines = [
        "tail of a record rotated away",
        "2026-01-01T00:00:00.000Z INFO a: one",
        "2026-01-01T00:01:00.000Z ERROR a: two",
        "Traceback (most recent call last):",
        "  boom",
        "2026-01-01T00:02:00.000Z INFO a: three",
    ]
    minute = timedelta(minutes=1)
    assert records_between(lines, None, None) == lines[1:]
    assert records_between(lines, START + minute, START + minute) == lines[2:5]
    assert records_between(lines, START + 90 * timedelta(seconds=1), None) == lines[5:]
    assert records_between(lines, None, START) == lines[1:2]


@pytest.mark.parametrize("on_disk", [True, False])
def test_lines_carry_the_station_clock(
    tmp_path: Path, logger: logging.Logger, on_disk: bool
) -> None:
    clock = FakeClock(start_wall=START)
    log = StationLog(clock, tmp_path / "logs" if on_disk else None, "cp-1")
    log.attach()
    try:
        logger.info("first")
        clock.advance(3600)
        logger.warning("second")
        try:
            raise RuntimeError("kaboom")
        except RuntimeError:
            logger.exception("third")
        lines = log.lines()
        window = log.between(START + timedelta(minutes=30), None)
    finally:
        log.detach()
    mine = [line for line in lines if "ocppstation.test.log" in line]
    assert mine[0] == "2026-01-01T00:00:00.000Z INFO ocppstation.test.log: first"
    assert mine[1] == "2026-01-01T01:00:00.000Z WARNING ocppstation.test.log: second"
    assert "RuntimeError: kaboom" in window[-1]
    assert not any("first" in line for line in window)
    assert (tmp_path / "logs" / "cp-1.log").exists() == on_disk
    logger.info("after detach")
    assert not any("after detach" in line for line in log.lines())


def test_the_file_rotates_and_is_read_back_in_order(tmp_path: Path, logger: logging.Logger) -> None:
    log = StationLog(FakeClock(start_wall=START), tmp_path, "cp-1", max_bytes=400, backups=3)
    log.attach()
    try:
        for n in range(30):
            logger.info("record %02d", n)
        lines = [line for line in log.lines() if "record" in line]
    finally:
        log.detach()
    assert len(list(tmp_path.glob("cp-1.log*"))) == 4
    numbers = [int(line.rsplit(" ", 1)[1]) for line in lines]
    assert numbers == sorted(numbers) and numbers[-1] == 29 and numbers[0] > 0


def test_memory_keeps_the_last_lines(logger: logging.Logger) -> None:
    log = StationLog(FakeClock(start_wall=START), None, "cp-1", memory_lines=5)
    log.attach()
    try:
        for n in range(20):
            logger.info("record %02d", n)
        lines = log.lines()
    finally:
        log.detach()
    assert len(lines) == 5
    assert lines[-1].endswith("record 19")


def test_the_archive_holds_the_log_and_who_made_it() -> None:
    data = archive("diag-1", ["a", "b"], {"chargePointId": "cp-1"})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["diag-1.log", "station.json"]
        assert zf.read("diag-1.log") == b"a\nb\n"
        assert json.loads(zf.read("station.json")) == {"chargePointId": "cp-1"}
