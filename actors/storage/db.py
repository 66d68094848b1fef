"""The storage actor: sole owner of the station's SQLite database.

Everything that must survive a crash or ``kill -9`` goes through here. The
actor owns the one connection (opened, put in WAL and migrated in
``setup()``, closed in ``teardown()``, both in its own thread, as sqlite3
requires); the tables of each concern sit behind a small store, an
attribute of the actor that pykka's proxy traverses, so a store's methods
run on the actor's thread like the actor's own::

    storage = ctx.storage()
    seq = storage.queue.push("MeterValues", payload, local_id).get(timeout=2)
    info = storage.auth_cache.get(id_tag).get(timeout=2)

The stores: ``settings`` (settings_store.py), ``availability``,
``auth_cache``, ``local_list``, ``reservations``, ``profiles``,
``certificates`` and ``csr_key`` (certificates.py), ``firmware_job``,
``network_profiles`` (2.0.1's SetNetworkProfile), ``display_messages``
(2.0.1's SetDisplayMessage), ``transactions`` (with
the steps that queue their message in the same commit) and ``queue``.

Every method that writes has committed (WAL, ``synchronous=FULL`` unless told
otherwise) when its caller gets the answer, so an acknowledged write is on
disk before the caller acts on it. Writes are committed in groups: the
actor answers no write before its commit, and keeps a group open while
more calls wait in its inbox (up to ``group_window`` seconds after the
group's first write, ``GROUP_LIMIT`` calls), so 128 EVSEs sampling at once
cost a few fsyncs, not 128. Each write is still atomic on its own (a
savepoint): one that fails is undone alone and raises in its asker.

Misuse (an unknown transaction, a second stop, a bad value) raises in the
asker; pykka returns exceptions from asks, so the storage actor itself lives
on. A database that cannot be opened (corrupt, written by a newer release,
unreadable) makes ``setup()`` raise StorageError naming the file, which
counts as a crash and goes to the supervisor.

Schema migrations are the numbered files ``config/migrations/NNNN_name.sql``
(see migrations.py). The folder and the file are created owner-only (0700,
0600; SQLite gives its -wal and -shm files the database's mode): the file
holds the station's private keys.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from pykka import Future
from pykka.messages import ProxyCall, ProxyGetAttr

from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.storage.auth_cache import AuthCache
from ocppstation.actors.storage.availability import AvailabilityStore
from ocppstation.actors.storage.certificates import Certificates, CsrKey
from ocppstation.actors.storage.connection import Connection, StorageError
from ocppstation.actors.storage.display_messages import DisplayMessageStore
from ocppstation.actors.storage.firmware_job import FirmwareJobStore
from ocppstation.actors.storage.local_list import LocalList
from ocppstation.actors.storage.migrations import apply_migrations, load_migrations
from ocppstation.actors.storage.network_profiles import NetworkProfileStore
from ocppstation.actors.storage.profiles import ChargingProfiles
from ocppstation.actors.storage.queue import MessageQueue
from ocppstation.actors.storage.reservations import Reservations
from ocppstation.actors.storage.settings_store import SettingsStore
from ocppstation.actors.storage.transactions import Transactions

__all__ = ["SYNCHRONOUS_MODES", "Storage"]

SYNCHRONOUS_MODES = ("FULL", "NORMAL")

GROUP_WINDOW = 0.005
"""Seconds a group with a waiting caller stays open for more calls."""
DEFERRED_WINDOW = 0.1
"""Seconds a group of deferrable writes only (nobody waits) stays open."""
GROUP_LIMIT = 256
"""Calls answered by one commit at most."""

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType]
# An answer held until its group is committed: the asker's future, and the
# result or the exception of its call.
_Held = tuple[Future[Any], Any, _ExcInfo | None]

_in_memory_warned = False
_in_memory_lock = threading.Lock()

# SQLite's names for a file it cannot read as a database at all.
_DAMAGED = {"SQLITE_CORRUPT": "database is corrupt", "SQLITE_NOTADB": "not an SQLite database"}


def _describe(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    return f"{_DAMAGED[name]} ({exc})" if name in _DAMAGED else f"cannot use the database: {exc}"


class Storage(Supervised):
    """Owns the SQLite database; reach its stores through a proxy.

    ``path`` None keeps the database in memory: nothing survives the actor,
    which suits tests and demos and nothing else (a warning says so once per
    process). ``synchronous`` is SQLite's setting in WAL mode: FULL syncs the
    WAL on every commit, so a write survives power loss once acknowledged;
    NORMAL survives a crash or ``kill -9`` of the process but may lose the
    last commits on power loss, in exchange for no fsync per write.
    """

    def __init__(
        self,
        place: Place,
        path: str | Path | None,
        *,
        synchronous: str = "FULL",
        group_window: float = GROUP_WINDOW,
        deferred_window: float = DEFERRED_WINDOW,
    ) -> None:
        # Checked before registering: a refused Storage never appears in the registry.
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            msg = f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}"
            raise ValueError(msg)
        self._file = None if path is None else Path(path)
        self._synchronous = mode
        self._group_window = group_window
        self._deferred_window = deferred_window
        # Made before registering (super().__init__), not in setup(): a proxy
        # learns the stores when it is built, and the connection is attached
        # to them once it is open.
        self._db = Connection(self.source)
        self.settings = SettingsStore(self._db)
        self.availability = AvailabilityStore(self._db)
        self.auth_cache = AuthCache(self._db)
        self.local_list = LocalList(self._db)
        self.reservations = Reservations(self._db)
        self.profiles = ChargingProfiles(self._db)
        self.certificates = Certificates(self._db)
        self.csr_key = CsrKey(self._db)
        self.firmware_job = FirmwareJobStore(self._db)
        self.network_profiles = NetworkProfileStore(self._db)
        self.display_messages = DisplayMessageStore(self._db)
        self.transactions = Transactions(self._db)
        self.queue = MessageQueue(self._db)
        super().__init__(place)

    @property
    def source(self) -> str:
        """The name errors and logs use for this database."""
        return ":memory:" if self._file is None else str(self._file)

    # -- lifecycle --

    def setup(self) -> None:
        if self._file is None:
            self._warn_in_memory()
        conn = self._open()
        try:
            self._prepare(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StorageError(self.source, _describe(exc)) from exc
        except BaseException:
            conn.close()
            raise
        self._db.attach(conn)
        self._db.grouped = True

    @property
    def commits(self) -> int:
        """Durable commits so far (benchmarks read it through a proxy)."""
        return self._db.commits

    # -- group commit --

    def _actor_loop_running(self) -> None:
        """pykka's receive loop, except that the answers to calls on the
        stores wait for their group's commit (module docstring). Anything
        else (stop, crash, the supervisor's messages) first commits what is
        open, then goes the usual way."""
        held: list[_Held] = []
        due = 0.0  # when the open group commits at the latest
        # A ThreadingActor's inbox is a queue.Queue; pykka's type hides its timeout.
        inbox = cast("queue.Queue[Any]", self.actor_inbox)
        while not self.actor_stopped.is_set():
            if held:
                left = due - time.monotonic()
                try:
                    envelope = inbox.get(timeout=left) if left > 0 else None
                except queue.Empty:
                    envelope = None
                if envelope is None:
                    self._commit_group(held)
                    continue
            else:
                envelope = inbox.get()
            reply_to = envelope.reply_to
            if reply_to is None or not isinstance(envelope.message, ProxyCall | ProxyGetAttr):
                self._commit_group(held)
                self._deliver(envelope)
                continue
            urgent = self._db.urgent_writes
            try:
                result: Any = self._handle_receive(envelope.message)
                failure: _ExcInfo | None = None
            except Exception:
                result, failure = None, sys.exc_info()  # type: ignore[assignment]
            now = time.monotonic()
            if not held:
                due = now + self._deferred_window
            # A call whose answer someone waits for (a read included: it may
            # have seen what is not committed yet) shortens the wait.
            deferred_only = self._db.urgent_writes == urgent and self._db.pending()
            if not deferred_only:
                due = min(due, now + self._group_window)
            held.append((reply_to, result, failure))
            if not self._db.pending() or len(held) >= GROUP_LIMIT:
                self._commit_group(held)
        self._commit_group(held)

    def _deliver(self, envelope: Any) -> None:
        """One message handled as pykka's own loop would: an asker gets the
        exception, a teller's failure stops the actor (its supervisor hears)."""
        try:
            result = self._handle_receive(envelope.message)
        except Exception:
            if envelope.reply_to is not None:
                envelope.reply_to.set_exception()
                return
            self._handle_failure(*sys.exc_info())
            try:
                self.on_failure(*sys.exc_info())
            except Exception:
                self._handle_failure(*sys.exc_info())
            return
        if envelope.reply_to is not None:
            envelope.reply_to.set(result)

    def _commit_group(self, held: list[_Held]) -> None:
        if not held and not self._db.pending():
            return
        try:
            self._db.commit_group()
        except Exception:
            failed = sys.exc_info()
            self.log.error("a group of %d writes was not committed: %s", len(held), failed[1])
            held[:] = [(future, None, failed) for future, _, _ in held]  # type: ignore[misc]
        for future, result, failure in held:
            if failure is None:
                future.set(result)
            else:
                future.set_exception(failure)
        held.clear()

    def teardown(self) -> None:
        conn = self._db.detach()
        if conn is not None:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        if self._file is not None:
            self._create_private(self._file)
        try:
            # isolation_level=None: transactions are begun and committed here
            # explicitly, never implicitly by the sqlite3 module.
            return sqlite3.connect(self.source, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(self.source, f"cannot open: {exc}") from exc

    def _create_private(self, file: Path) -> None:
        """The folder (0700) and an empty database file (0600), unless they exist.

        An existing folder or file keeps the mode its owner gave it. SQLite
        takes an empty file for a new database.
        """
        try:
            file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(self.source, f"cannot create its folder: {exc}") from exc
        try:
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise StorageError(self.source, f"cannot create: {exc}") from exc

    def _prepare(self, conn: sqlite3.Connection) -> None:
        # A file that is not SQLite fails on its first read, here; damage
        # inside a valid file is what quick_check finds (it is linear in the
        # file size, a few ms for a station's database).
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise StorageError(self.source, "database is corrupt: " + "; ".join(problems))
        if self._file is not None:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StorageError(self.source, f"cannot switch to WAL (journal_mode {mode})")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        before, after = apply_migrations(conn, load_migrations(), self.source)
        # Enabled only after migrating: a future migration that rebuilds a
        # table must run with foreign keys off, as SQLite's docs require.
        conn.execute("PRAGMA foreign_keys = ON")
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise StorageError(self.source, f"foreign key violations: {broken[:5]!r}")
        if before != after:
            self.log.info("%s: schema migrated from version %d to %d", self.source, before, after)
        else:
            self.log.debug("%s: schema version %d", self.source, after)

    def _warn_in_memory(self) -> None:
        global _in_memory_warned
        with _in_memory_lock:
            if _in_memory_warned:
                return
            _in_memory_warned = True
        self.log.warning("no database file: storage is in memory, nothing survives a restart")
