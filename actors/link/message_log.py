"""The OCPP message log's writer: every frame in and out and every
connection event, one JSON line each, one file per UTC day.

The websocket actor and its I/O thread only put entries on a bounded queue;
one writer thread masks, formats and writes them, in queue order. Nothing
on the link ever waits for the disk: a full queue drops the entry, counts
it, and the writer says how many it missed as soon as it catches up.

Where (`Internal.MessageLogPath`): a directory; empty turns the log off;
null (the default) means `<data dir>/messages` when the station has a data
directory, and off without one. `Internal.MessageLogDays` days are kept
(today included); each day's file stops growing at
`Internal.MessageLogMaxBytes`, so the log never holds more than
MessageLogDays x MessageLogMaxBytes.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ocppstation.config.loader import StationConfig
from ocppstation.protocol import message_log as ml

log = logging.getLogger("ocppstation.link.message_log")

QUEUE_SIZE = 10_000
_STOP = object()
_FLUSH_TIMEOUT = 5.0


def log_directory(config: StationConfig, data_dir: Path | None) -> Path | None:
    """Where a station's message log goes, or None when it is off."""
    path = config.value("Internal", "MessageLogPath")
    if path is None:
        return data_dir / "messages" if data_dir is not None else None
    return Path(path) if path else None


class MessageLogWriter:
    """Thread-safe; `frame` and `event` return at once, whatever the disk does.

    `now` stamps each entry when it is handed over (the station's wall
    clock, so tests move days in virtual time); `secrets` is read on the
    writer thread and says which values the station knows must not be
    written (its AuthorizationKey).
    """

    def __init__(
        self,
        directory: Path | None,
        now: Callable[[], datetime],
        *,
        keep_days: int = 7,
        max_bytes: int = 50_000_000,
        secrets: Callable[[], Iterable[str]] = lambda: (),
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.directory = directory
        self._now = now
        self._keep_days = keep_days
        self._max_bytes = max_bytes
        self._secrets = secrets
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._lock = threading.Lock()
        self._closed = False
        self.dropped = 0  # entries lost to a full queue, in all
        self._dropped_told = 0
        self._file: IO[bytes] | None = None
        self._day = ""
        self._size = 0
        self._over = 0  # entries of the current day past the size bound
        self._failed = False
        self._thread: threading.Thread | None = None
        if directory is not None:
            self._thread = threading.Thread(
                target=self._run, name=f"message-log {directory}", daemon=True
            )
            self._thread.start()

    @classmethod
    def for_station(
        cls,
        config: StationConfig,
        data_dir: Path | None,
        now: Callable[[], datetime],
        **kwargs: Any,
    ) -> MessageLogWriter:
        return cls(
            log_directory(config, data_dir),
            now,
            keep_days=int(config.value("Internal", "MessageLogDays")),
            max_bytes=int(config.value("Internal", "MessageLogMaxBytes")),
            **kwargs,
        )

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    # -- what the link calls ---------------------------------------------------

    def frame(self, direction: ml.Direction, conn: str, text: str) -> None:
        if self.directory is not None:
            self._put(lambda ts: ml.Entry(ts, direction, conn, frame=text))

    def event(self, conn: str, name: str, **detail: Any) -> None:
        if self.directory is not None:
            self._put(lambda ts: ml.Entry(ts, "event", conn, event=name, detail=detail))

    def flush(self, timeout: float = _FLUSH_TIMEOUT) -> bool:
        """Wait until everything handed over so far is on disk."""
        if self._thread is None or not self._thread.is_alive():
            return True
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self, timeout: float = _FLUSH_TIMEOUT) -> None:
        """Write what is queued, then stop; later entries are ignored."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("message log %s: stopped with its queue still full", self.directory)
            return
        self._thread.join(timeout)

    def _put(self, make: Callable[[datetime], ml.Entry]) -> None:
        with self._lock:
            # The clock is read under the lock: two threads hand over entries,
            # and the file's timestamps must never go backwards.
            if self._closed:
                return
            try:
                self._queue.put_nowait(make(self._now()))
            except queue.Full:
                self.dropped += 1

    # -- the writer thread -------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                batch = [item]
                # Take what else is waiting, so one flush serves many lines.
                while item is not _STOP and len(batch) < 500:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    batch.append(item)
                for item in batch:
                    if item is _STOP or isinstance(item, threading.Event):
                        # Losses since the last entry are told before a flush or stop
                        # returns: no entry may come after them to tell them.
                        self._tell_dropped(self._now())
                        self._sync()
                        if not isinstance(item, threading.Event):
                            return
                        item.set()
                        continue
                    self._tell_dropped(item.ts)
                    try:
                        self._write(item)
                    except Exception:
                        # A bug here must cost one line, not the log for the rest of the run.
                        log.exception("message log: cannot write an entry")
                self._sync()
        finally:
            self._close_file()

    def _tell_dropped(self, ts: datetime) -> None:
        with self._lock:
            missed = self.dropped - self._dropped_told
            self._dropped_told = self.dropped
        if missed:
            log.warning("message log: %d entries dropped (the writer fell behind)", missed)
            self._write(ml.Entry(ts, "event", "", event=ml.DROPPED, detail={"count": missed}))

    def _write(self, entry: ml.Entry) -> None:
        if entry.dir != "event":
            entry = ml.Entry(
                entry.ts, entry.dir, entry.conn, frame=ml.mask_frame(entry.frame, self._secrets())
            )
        elif "headers" in entry.detail:
            detail = dict(entry.detail)
            detail["headers"] = ml.mask_headers(detail["headers"])
            entry = ml.Entry(entry.ts, "event", entry.conn, event=entry.event, detail=detail)
        day = ml.day_file(entry.ts)
        if day != self._day and not self._open_day(day):
            return
        line = (ml.format_line(entry) + "\n").encode("utf-8")
        if self._size + len(line) > self._max_bytes:
            self._over += 1
            if self._over == 1:
                note = ml.Entry(
                    entry.ts,
                    "event",
                    entry.conn,
                    event=ml.LIMIT,
                    detail={"max_bytes": self._max_bytes},
                )
                # Past the bound by this one line, so the file says why it ends.
                self._append((ml.format_line(note) + "\n").encode("utf-8"))
                log.warning(
                    "message log: %s reached %d bytes; nothing more is written today",
                    day,
                    self._max_bytes,
                )
            return
        self._append(line)

    def _append(self, line: bytes) -> None:
        if self._file is None:
            return
        try:
            self._file.write(line)
            self._size += len(line)
        except OSError as exc:
            self._fail(exc)

    def _open_day(self, day: str) -> bool:
        assert self.directory is not None
        self._close_file()
        self._day, self._over = day, 0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file = open(self.directory / day, "ab")  # noqa: SIM115 -- kept open all day
            self._size = self._file.tell()
            self._failed = False
        except OSError as exc:
            self._fail(exc)
            return False
        self._delete_old(day)
        return True

    def _delete_old(self, day: str) -> None:
        assert self.directory is not None
        today = ml.day_of_file(day)
        if today is None:
            return
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in ml.expired(names, today, self._keep_days):
            try:
                (self.directory / name).unlink()
            except OSError as exc:
                log.warning("message log: cannot delete %s: %s", name, exc)

    def _sync(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self._fail(exc)

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def _fail(self, exc: OSError) -> None:
        # Once per streak: a full disk must not flood the station's own log.
        if not self._failed:
            log.warning("message log %s: cannot write: %s", self.directory, exc)
            self._failed = True
