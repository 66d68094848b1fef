"""The station's own log, which GetDiagnostics and GetLog read back by time.

Every record of the `ocppstation` loggers that the process's logging lets
through (INFO and up with the CLI's default) is written as one line that
starts with the time on the station's clock:

    2026-01-01T00:00:05.000Z INFO ocppstation.firmware: download complete

The station's clock, not the record's own time, so that the times in the
log are the times in the station's OCPP messages (and a test on a FakeClock
can ask for a window of virtual time). A traceback's lines follow their
record without a time of their own and go with it.

With a data dir the log is `<DataDir>/logs/<ChargePointId>.log`, rotated at
LOG_BYTES into LOG_BACKUPS older files; without one the last MEMORY_LINES
lines are kept in memory, so that GetDiagnostics has something to send on a
station that keeps no files.

GetLog's SecurityLog is the lines of one logger and those below it
(`ocppstation.security`, where security events are logged): a record's
logger is the third field of its first line.

The handler sits on the process's `ocppstation` logger: several stations in
one process (the tests do that) each log every station's records.
"""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
import re
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ocppstation.actors.clock import Clock
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.firmware import parse_timestamp

__all__ = ["StationLog", "archive", "records_between"]

LOG_BYTES = 1_000_000
LOG_BACKUPS = 5
MEMORY_LINES = 5000
LOGGER = "ocppstation"

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (?:\S+ (\S+?):)?")


class _ClockFormatter(logging.Formatter):
    def __init__(self, clock: Clock) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._clock = clock

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return ocpp_timestamp(self._clock.wall())


class _MemoryHandler(logging.Handler):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=limit)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.extend(self.format(record).splitlines())
        except Exception:
            self.handleError(record)


class StationLog:
    """One station's log: attach when the station starts, detach when it stops."""

    def __init__(
        self,
        clock: Clock,
        folder: Path | None,
        name: str,
        *,
        max_bytes: int = LOG_BYTES,
        backups: int = LOG_BACKUPS,
        memory_lines: int = MEMORY_LINES,
    ) -> None:
        self.path = None if folder is None else folder / f"{name}.log"
        self._handler: logging.Handler
        if self.path is None:
            self._handler = _MemoryHandler(memory_lines)
        else:
            # delay: the file appears with the first record, not at construction.
            self._handler = logging.handlers.RotatingFileHandler(
                self.path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
            )
        self._handler.setFormatter(_ClockFormatter(clock))
        self._attached = False

    def attach(self) -> None:
        if self._attached:
            return
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        logging.getLogger(LOGGER).addHandler(self._handler)
        self._attached = True

    def detach(self) -> None:
        if not self._attached:
            return
        logging.getLogger(LOGGER).removeHandler(self._handler)
        self._handler.close()
        self._attached = False

    def lines(self) -> list[str]:
        """Every line kept, oldest first."""
        # Under the handler's lock: a rotation must not move files mid-read.
        self._handler.acquire()
        try:
            if isinstance(self._handler, _MemoryHandler):
                return list(self._handler.lines)
            self._handler.flush()
            return list(self._file_lines())
        finally:
            self._handler.release()

    def _file_lines(self) -> Iterator[str]:
        assert self.path is not None
        handler = self._handler
        assert isinstance(handler, logging.handlers.RotatingFileHandler)
        names = [f"{self.path}.{n}" for n in range(handler.backupCount, 0, -1)]
        for name in [*names, str(self.path)]:
            try:
                with open(name, encoding="utf-8", errors="replace") as f:
                    yield from (line.rstrip("\n") for line in f)
            except FileNotFoundError:
                continue

    def between(
        self, start: datetime | None, stop: datetime | None, logger: str | None = None
    ) -> list[str]:
        return records_between(self.lines(), start, stop, logger)


def records_between(
    lines: Iterable[str],
    start: datetime | None,
    stop: datetime | None,
    logger: str | None = None,
) -> list[str]:
    """The lines of the records logged from `start` to `stop` (both included),
    by `logger` or a logger below it when one is named.

    A line without a time belongs to the record before it; lines before the
    first timed one (the tail of a record rotated away) are dropped.
    """
    kept: list[str] = []
    keep = False
    for line in lines:
        match = _STAMP.match(line)
        if match is not None:
            try:
                moment = parse_timestamp(match[1])
            except ValueError:
                keep = False
                continue
            keep = (start is None or moment >= start) and (stop is None or moment <= stop)
            if logger is not None:
                name = match[2] or ""
                keep = keep and (name == logger or name.startswith(logger + "."))
        if keep:
            kept.append(line)
    return kept


def archive(name: str, lines: list[str], about: dict[str, Any]) -> bytes:
    """A zip of the log lines (`<name>.log`) and what station made it (`station.json`)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        text = "\n".join(lines) + ("\n" if lines else "")
        zf.writestr(f"{name}.log", text)
        zf.writestr("station.json", json.dumps(about, indent=2, sort_keys=True) + "\n")
    return buffer.getvalue()
