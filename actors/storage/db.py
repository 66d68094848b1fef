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
``certificates``, ``csr_key`` and ``ocsp`` (certificates.py), ``firmware_job``,
``network_profiles`` (2.0.1's SetNetworkProfile), ``display_messages``
(2.0.1's SetDisplayMessage), ``monitors`` (2.0.1's SetVariableMonitoring),
``driver_texts`` (2.0.1's tariff and cost texts per EVSE),
``transactions`` (with
the steps that queue their message in the same commit) and ``queue``.

Every method that writes has committed (WAL, ``synchronous=FULL`` unless told
otherwise) when its caller gets the answer, so an acknowledged write is on
disk before the caller acts on it.

Group commit: a store method marked ``deferred`` is one nobody waits for
(its result is told on by an ``after_commit`` callback); the actor keeps
such calls until ``DEFERRED_WINDOW`` after the first, or until any other
call needs the database, and runs them all in one transaction with one
fsync, each a savepoint undone alone if it fails. A method marked
``commutes`` (the delete of an answered message) runs at once without
flushing them: it touches no row they do. So 128 EVSEs sampling every
second cost about ten fsyncs a second, not 128.

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

from pykka.messages import ProxyCall

from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.storage.auth_cache import AuthCache
from ocppstation.actors.storage.availability import AvailabilityStore
from ocppstation.actors.storage.certificates import Certificates, CsrKey, OcspCache
from ocppstation.actors.storage.connection import COMMUTES, DEFERRED, Connection, StorageError
from ocppstation.actors.storage.display_messages import DisplayMessageStore
from ocppstation.actors.storage.driver_texts import DriverTextStore
from ocppstation.actors.storage.firmware_job import FirmwareJobStore
from ocppstation.actors.storage.local_list import LocalList
from ocppstation.actors.storage.migrations import apply_migrations, load_migrations
from ocppstation.actors.storage.monitors import MonitorStore
from ocppstation.actors.storage.network_profiles import NetworkProfileStore
from ocppstation.actors.storage.profiles import ChargingProfiles
from ocppstation.actors.storage.queue import MessageQueue
from ocppstation.actors.storage.reservations import Reservations
from ocppstation.actors.storage.settings_store import SettingsStore
from ocppstation.actors.storage.transactions import Transactions

__all__ = ["SYNCHRONOUS_MODES", "Storage"]

SYNCHRONOUS_MODES = ("FULL", "NORMAL")

DEFERRED_WINDOW = 0.1
"""Seconds the first deferred call waits at most for company before its commit."""
GROUP_LIMIT = 256
"""Deferred calls in one commit at most."""

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType]

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
        deferred_window: float = DEFERRED_WINDOW,
    ) -> None:
        # Checked before registering: a refused Storage never appears in the registry.
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            msg = f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}"
            raise ValueError(msg)
        self._file = None if path is None else Path(path)
        self._synchronous = mode
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
        self.ocsp = OcspCache(self._db)
        self.firmware_job = FirmwareJobStore(self._db)
        self.network_profiles = NetworkProfileStore(self._db)
        self.display_messages = DisplayMessageStore(self._db)
        self.monitors = MonitorStore(self._db)
        self.driver_texts = DriverTextStore(self._db)
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
        self._db.synchronous = self._synchronous

    @property
    def commits(self) -> int:
        """fsync'd commits so far (benchmarks read it through a proxy)."""
        return self._db.synced_commits

    # -- group commit --

    def _actor_loop_running(self) -> None:
        """pykka's receive loop, except for group commit (module docstring):
        deferred calls wait in `deferred` for their common commit."""
        deferred: list[Any] = []
        due = 0.0
        # A ThreadingActor's inbox is a queue.Queue; pykka's type hides its timeout.
        inbox = cast("queue.Queue[Any]", self.actor_inbox)
        while not self.actor_stopped.is_set():
            if deferred:
                left = due - time.monotonic()
                try:
                    envelope = inbox.get(timeout=left) if left > 0 else None
                except queue.Empty:
                    envelope = None
                if envelope is None:
                    self._flush(deferred)
                    continue
            else:
                envelope = inbox.get()
            kind = self._kind(envelope.message)
            if kind == DEFERRED:
                if not deferred:
                    due = time.monotonic() + self._deferred_window
                deferred.append(envelope)
                if len(deferred) >= GROUP_LIMIT:
                    self._flush(deferred)
                continue
            if kind != COMMUTES:
                # Anything else may read what they write, or must come after it.
                self._flush(deferred)
            self._deliver(envelope)
        self._flush(deferred)

    def _kind(self, message: Any) -> str | None:
        if not isinstance(message, ProxyCall):
            return None
        target: Any = self
        for name in message.attr_path:
            target = getattr(target, name, None)
        return getattr(target, "storage_kind", None)

    def _flush(self, deferred: list[Any]) -> None:
        """Run the deferred calls in one transaction, commit, then answer them."""
        if not deferred:
            return
        done: list[tuple[Any, Any, _ExcInfo | None]] = []
        try:
            with self._db.group():
                for envelope in deferred:
                    try:
                        done.append((envelope, self._handle_receive(envelope.message), None))
                    except Exception:
                        done.append((envelope, None, sys.exc_info()))  # type: ignore[arg-type]
        except Exception:
            failed = sys.exc_info()
            self.log.error("%d deferred writes not committed: %s", len(deferred), failed[1])
            done = [(envelope, None, failed) for envelope in deferred]  # type: ignore[misc]
        deferred.clear()
        for envelope, result, failure in done:
            if envelope.reply_to is None:
                continue
            if failure is None:
                envelope.reply_to.set(result)
            else:
                envelope.reply_to.set_exception(failure)

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
