"""The storage actor: sole owner of the station's SQLite database.

Everything that must survive a crash or ``kill -9`` goes through here: the
configuration overlay, connector availability, the authorization cache and
local list, reservations, transactions, and the queue of transactional messages. Other
actors call the public methods through a proxy and wait with a timeout::

    storage = ctx.registry.proxy(STORAGE)
    seq = storage.queue_push("MeterValues", payload, local_id).get(timeout=2)

Every method that writes has committed (WAL, ``synchronous=FULL`` unless told
otherwise) when it returns, so an acknowledged write is on disk before the
caller acts on it. sqlite3 objects are bound to the thread that made them, so
the connection is opened in ``setup()`` and closed in ``teardown()``, both in
the actor's own thread.

Misuse (an unknown transaction, a second stop, a bad value) raises in the
asker; pykka returns exceptions from asks, so the storage actor itself lives
on. A database that cannot be opened (corrupt, written by a newer release,
unreadable) makes ``setup()`` raise StorageError naming the file, which
counts as a crash and goes to the supervisor.

Schema migrations are the numbered files ``config/migrations/NNNN_name.sql``
(see ``load_migrations`` and ``apply_migrations``).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ocppstation.actors.runtime.base import Place, Supervised

__all__ = [
    "AVAILABILITY_VALUES",
    "SYNCHRONOUS_MODES",
    "Migration",
    "QueuedMessage",
    "Storage",
    "StorageError",
    "StoredCertificate",
    "StoredReservation",
    "TxRecord",
    "apply_migrations",
    "check_migrations",
    "load_migrations",
    "schema_version",
]

SYNCHRONOUS_MODES = ("FULL", "NORMAL")
AVAILABILITY_VALUES = ("Operative", "Inoperative")

_MIGRATIONS_PACKAGE = "ocppstation.config"
_MIGRATIONS_FOLDER = "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_in_memory_warned = False
_in_memory_lock = threading.Lock()


class StorageError(Exception):
    """The database cannot be used; the message names the file and why."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


@dataclass(frozen=True)
class TxRecord:
    """One transaction as stored; ``stopped`` is set by tx_end."""

    local_id: int
    connector: int
    id_tag: str
    meter_start: int
    started_at: str
    transaction_id: int | None
    last_meter: int
    last_at: str
    stopped: bool
    reservation_id: int | None
    meter_stop: int | None = None
    stopped_at: str | None = None
    stop_reason: str | None = None


@dataclass(frozen=True)
class StoredCertificate:
    id: int
    use: str
    pem: str
    key: str | None


@dataclass(frozen=True)
class StoredReservation:
    """A reservation as stored; ``expiry`` is the CSMS's expiryDate (OCPP text)."""

    reservation_id: int
    connector: int
    id_tag: str
    parent_id_tag: str | None
    expiry: str


@dataclass(frozen=True)
class QueuedMessage:
    """A transactional message waiting for the CSMS's answer."""

    seq: int
    action: str
    payload: dict[str, Any]
    local_tx: int | None
    attempts: int


# -- migrations --


@dataclass(frozen=True)
class Migration:
    """One numbered schema step; ``version`` is what user_version becomes."""

    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def check_migrations(migrations: Sequence[Migration]) -> None:
    """Refuse gaps, duplicates and disorder: each step assumes the previous one."""
    for expected, m in enumerate(migrations, start=1):
        if m.version != expected:
            msg = f"migration {m.label}: expected version {expected:04d} in this position"
            raise ValueError(msg)


@cache
def load_migrations() -> tuple[Migration, ...]:
    """The migrations shipped in ``ocppstation.config/migrations``, in order.

    Read with importlib.resources, so they come from wherever the package is
    installed (a wheel needs the ``migrations/*.sql`` package-data line).
    Other files in the folder are ignored; a ``.sql`` file with a bad name is
    an error, because silently skipping a migration would be worse.
    """
    folder = resources.files(_MIGRATIONS_PACKAGE).joinpath(_MIGRATIONS_FOLDER)
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            msg = f"migration file {entry.name!r} is not named NNNN_name.sql"
            raise ValueError(msg)
        found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    check_migrations(found)
    return tuple(found)


def schema_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def apply_migrations(
    conn: sqlite3.Connection, migrations: Sequence[Migration], source: str
) -> tuple[int, int]:
    """Bring the database up to the last migration; return (before, after).

    Each step runs in its own transaction together with the ``PRAGMA
    user_version`` that records it (the version lives in the file header and
    is rolled back with everything else), so a crash or a failing statement
    leaves the database at the previous version, never half-way. A version
    higher than any known migration means a newer release wrote the file:
    opening it could silently lose what that release stores, so it is refused.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    check_migrations(migrations)
    before = schema_version(conn)
    latest = migrations[-1].version if migrations else 0
    if before > latest:
        raise StorageError(
            source,
            f"schema version {before} is newer than this ocppstation knows ({latest});"
            " it was written by a newer release; refusing to open it",
        )
    for m in migrations[before:]:
        # executescript() commits any open transaction before it runs, so the
        # BEGIN has to be part of the script itself. IMMEDIATE takes the write
        # lock up front: a second process migrating the same file waits or
        # fails instead of interleaving.
        script = f"BEGIN IMMEDIATE;\n{m.sql}\n;\nPRAGMA user_version = {m.version};\nCOMMIT;\n"
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(source, f"migration {m.label} failed: {exc}") from exc
    return before, schema_version(conn)


# -- the actor --


# SQLite's names for a file it cannot read as a database at all.
_DAMAGED = {"SQLITE_CORRUPT": "database is corrupt", "SQLITE_NOTADB": "not an SQLite database"}


def _describe(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    return f"{_DAMAGED[name]} ({exc})" if name in _DAMAGED else f"cannot use the database: {exc}"


def _dump(value: dict[str, Any], what: str) -> str:
    if not isinstance(value, dict):
        msg = f"{what} must be a dict, not {type(value).__name__}"
        raise TypeError(msg)
    # allow_nan=False: NaN is not JSON and no CSMS would accept it later, so
    # it is refused now, in the caller, rather than at send time after a crash.
    # ASCII escapes: json.loads turns "\ud800" from a CSMS into a lone
    # surrogate, which cannot be encoded as UTF-8 for SQLite but escapes fine.
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        msg = f"{what} must be a str, not {type(value).__name__}"
        raise TypeError(msg)
    return value


_TX_COLUMNS = (
    "local_id, connector, id_tag, meter_start, started_at, transaction_id,"
    " last_meter, last_at, stopped, reservation_id, meter_stop, stopped_at, stop_reason"
)


def _tx_record(row: tuple[Any, ...]) -> TxRecord:
    (local_id, connector, id_tag, meter_start, started_at, transaction_id,
     last_meter, last_at, stopped, reservation_id, meter_stop, stopped_at,
     stop_reason) = row  # fmt: skip
    return TxRecord(
        local_id=local_id,
        connector=connector,
        id_tag=id_tag,
        meter_start=meter_start,
        started_at=started_at,
        transaction_id=transaction_id,
        last_meter=last_meter,
        last_at=last_at,
        stopped=bool(stopped),
        reservation_id=reservation_id,
        meter_stop=meter_stop,
        stopped_at=stopped_at,
        stop_reason=stop_reason,
    )


class Storage(Supervised):
    """Owns the SQLite database; call its methods through a proxy.

    ``path`` None keeps the database in memory: nothing survives the actor,
    which suits tests and demos and nothing else (a warning says so once per
    process). ``synchronous`` is SQLite's setting in WAL mode: FULL syncs the
    WAL on every commit, so a write survives power loss once acknowledged;
    NORMAL survives a crash or ``kill -9`` of the process but may lose the
    last commits on power loss, in exchange for no fsync per write.
    """

    def __init__(self, place: Place, path: str | Path | None, *, synchronous: str = "FULL") -> None:
        # Checked before registering: a refused Storage never appears in the registry.
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            msg = f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}"
            raise ValueError(msg)
        super().__init__(place)
        self._file = None if path is None else Path(path)
        self._synchronous = mode
        self._conn: sqlite3.Connection | None = None

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
        self._conn = conn

    def teardown(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        if self._file is not None:
            try:
                self._file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(self.source, f"cannot create its folder: {exc}") from exc
        try:
            # isolation_level=None: transactions are begun and committed here
            # explicitly, never implicitly by the sqlite3 module.
            return sqlite3.connect(self.source, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(self.source, f"cannot open: {exc}") from exc

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

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(self.source, "database is not open")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction; anything raised inside rolls it all back."""
        conn = self._db()
        # IMMEDIATE: take the write lock at the start, so a busy database
        # fails here and not half-way through.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT may already have rolled back (SQLite does so on
            # some I/O errors); only roll back what is still open.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- configuration overlay --

    def config_overlay(self) -> dict[str, str]:
        """Every key set at runtime, with its value as OCPP text."""
        rows = self._db().execute("SELECT key, value FROM config_overlay ORDER BY key")
        return dict(rows.fetchall())

    def put_config(self, key: str, value: str) -> None:
        _require_str(key, "key")
        _require_str(value, "value")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO config_overlay (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- availability --

    def availability(self) -> dict[int, str]:
        """Connectors whose availability was ever set; absent ones are as configured."""
        rows = self._db().execute("SELECT connector, value FROM availability ORDER BY connector")
        return dict(rows.fetchall())

    def put_availability(self, connector: int, value: str) -> None:
        if value not in AVAILABILITY_VALUES:
            msg = f"availability must be one of {AVAILABILITY_VALUES}, not {value!r}"
            raise ValueError(msg)
        if connector < 0:
            msg = f"connector must be 0 (the station) or more, not {connector}"
            raise ValueError(msg)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO availability (connector, value) VALUES (?, ?)"
                " ON CONFLICT (connector) DO UPDATE SET value = excluded.value",
                (connector, value),
            )

    # -- firmware update --

    def firmware_job(self) -> dict[str, Any] | None:
        """The firmware update in progress, as the firmware actor stored it, or None."""
        row = self._db().execute("SELECT job FROM firmware_job WHERE id = 1").fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put_firmware_job(self, job: dict[str, Any] | None) -> None:
        """Store the firmware update in progress; None: there is none."""
        text = None if job is None else _dump(job, "job")
        with self._write() as conn:
            if text is None:
                conn.execute("DELETE FROM firmware_job")
            else:
                conn.execute(
                    "INSERT INTO firmware_job (id, job) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET job = excluded.job",
                    (text,),
                )

    # -- authorization cache --

    def cache_get(self, id_tag: str) -> dict[str, Any] | None:
        """The idTagInfo last stored for ``id_tag`` (case-insensitive), or None.

        Expiry is the caller's business: it knows the time, this actor does not.
        """
        row = self._db().execute("SELECT info FROM auth_cache WHERE id_tag = ?", (id_tag,))
        found = row.fetchone()
        return None if found is None else json.loads(found[0])

    def cache_put(self, id_tag: str, info: dict[str, Any]) -> None:
        _require_str(id_tag, "id_tag")
        text = _dump(info, "idTagInfo")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO auth_cache (id_tag, info, stored)"
                " VALUES (?, ?, (SELECT coalesce(max(stored), 0) + 1 FROM auth_cache))"
                " ON CONFLICT (id_tag) DO UPDATE"
                " SET info = excluded.info, stored = excluded.stored",
                (id_tag, text),
            )
            # An eviction policy (AuthorizationCache size limit) belongs here,
            # in the same transaction, choosing victims by `stored`.

    def cache_clear(self) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM auth_cache")

    def cache_size(self) -> int:
        count: int = self._db().execute("SELECT count(*) FROM auth_cache").fetchone()[0]
        return count

    # -- local authorization list --

    def local_list_version(self) -> int:
        """The listVersion last stored, 0 if no list was ever sent."""
        row = self._db().execute("SELECT version FROM local_list_version WHERE id = 1").fetchone()
        return 0 if row is None else int(row[0])

    def local_list_get(self, id_tag: str) -> dict[str, Any] | None:
        """The idTagInfo the local list holds for ``id_tag`` (case-insensitive)."""
        row = self._db().execute("SELECT info FROM local_list WHERE id_tag = ?", (id_tag,))
        found = row.fetchone()
        return None if found is None else json.loads(found[0])

    def local_list_size(self) -> int:
        count: int = self._db().execute("SELECT count(*) FROM local_list").fetchone()[0]
        return count

    def local_list_known(self, id_tags: list[str]) -> set[str]:
        """Those of ``id_tags`` the list holds (matched case-insensitively)."""
        db = self._db()
        return {
            tag
            for tag in id_tags
            if db.execute("SELECT 1 FROM local_list WHERE id_tag = ?", (tag,)).fetchone()
        }

    def local_list_replace(self, version: int, entries: list[dict[str, Any]]) -> None:
        """A Full update: the list becomes ``entries``, at ``version``.

        Entries without idTagInfo are not in the new list. Version rules
        (VersionMismatch) are the auth actor's; this only stores.
        """
        rows = self._local_list_rows(entries)
        with self._write() as conn:
            conn.execute("DELETE FROM local_list")
            self._apply_local_list(conn, rows)
            self._set_local_list_version(conn, version)

    def local_list_update(self, version: int, entries: list[dict[str, Any]]) -> None:
        """A Differential update: upsert entries with idTagInfo, delete the rest."""
        rows = self._local_list_rows(entries)
        with self._write() as conn:
            self._apply_local_list(conn, rows)
            self._set_local_list_version(conn, version)

    @staticmethod
    def _local_list_rows(entries: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
        # Everything is checked before the transaction starts, so a bad entry
        # rejects the whole update instead of leaving part of it applied.
        rows: list[tuple[str, str | None]] = []
        for entry in entries:
            if not isinstance(entry, dict):
                msg = f"a local list entry must be a dict, not {type(entry).__name__}"
                raise TypeError(msg)
            id_tag = _require_str(entry.get("idTag"), "idTag")
            info = entry.get("idTagInfo")
            rows.append((id_tag, None if info is None else _dump(info, "idTagInfo")))
        return rows

    @staticmethod
    def _apply_local_list(conn: sqlite3.Connection, rows: list[tuple[str, str | None]]) -> None:
        for id_tag, info in rows:
            if info is None:
                conn.execute("DELETE FROM local_list WHERE id_tag = ?", (id_tag,))
            else:
                conn.execute(
                    "INSERT INTO local_list (id_tag, info) VALUES (?, ?)"
                    " ON CONFLICT (id_tag) DO UPDATE SET info = excluded.info",
                    (id_tag, info),
                )

    @staticmethod
    def _set_local_list_version(conn: sqlite3.Connection, version: int) -> None:
        conn.execute(
            "INSERT INTO local_list_version (id, version) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (int(version),),
        )

    # -- reservations --

    def reservations(self) -> list[StoredReservation]:
        """Every reservation in force (not used, cancelled or found expired), by id."""
        rows = self._db().execute(
            "SELECT id, connector, id_tag, parent_id_tag, expiry FROM reservation ORDER BY id"
        )
        return [StoredReservation(*row) for row in rows]

    def reservation_put(
        self,
        reservation_id: int,
        connector: int,
        id_tag: str,
        parent_id_tag: str | None,
        expiry: str,
    ) -> None:
        """Store a reservation; one with the same id is replaced (ReserveNow's rule)."""
        _require_str(id_tag, "id_tag")
        _require_str(expiry, "expiry")
        if parent_id_tag is not None:
            _require_str(parent_id_tag, "parent_id_tag")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO reservation (id, connector, id_tag, parent_id_tag, expiry)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " connector = excluded.connector, id_tag = excluded.id_tag,"
                " parent_id_tag = excluded.parent_id_tag, expiry = excluded.expiry",
                (reservation_id, connector, id_tag, parent_id_tag, expiry),
            )

    def reservation_delete(self, reservation_id: int) -> bool:
        """Forget a reservation; False if there was none (idempotent, like queue_delete)."""
        with self._write() as conn:
            cur = conn.execute("DELETE FROM reservation WHERE id = ?", (reservation_id,))
            return cur.rowcount > 0

    # -- charging profiles --

    def charging_profiles(self) -> list[tuple[int, dict[str, Any]]]:
        """Every installed charging profile as (connector, csChargingProfiles), by id."""
        rows = self._db().execute("SELECT connector, profile FROM charging_profile ORDER BY id")
        return [(connector, json.loads(text)) for connector, text in rows]

    def charging_profile_put(
        self, connector: int, profile: dict[str, Any], replaces: list[int]
    ) -> None:
        """Install `profile` on `connector`, removing the profiles it replaces, in one commit.

        A profile with the same chargingProfileId is replaced in any case.
        """
        text = _dump(profile, "profile")
        profile_id = int(profile["chargingProfileId"])
        purpose = _require_str(profile.get("chargingProfilePurpose"), "chargingProfilePurpose")
        with self._write() as conn:
            conn.executemany("DELETE FROM charging_profile WHERE id = ?", [(i,) for i in replaces])
            conn.execute(
                "INSERT INTO charging_profile (id, connector, purpose, stack_level, profile)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " connector = excluded.connector, purpose = excluded.purpose,"
                " stack_level = excluded.stack_level, profile = excluded.profile",
                (profile_id, connector, purpose, int(profile["stackLevel"]), text),
            )

    def charging_profiles_delete(self, ids: list[int]) -> None:
        """Forget these profiles; unknown ids are not an error (cleared twice is cleared)."""
        with self._write() as conn:
            conn.executemany("DELETE FROM charging_profile WHERE id = ?", [(i,) for i in ids])

    # -- certificates (Security Whitepaper) --

    def certificates(self) -> list[StoredCertificate]:
        """Every installed certificate, oldest first."""
        rows = self._db().execute("SELECT id, use, pem, key FROM certificate ORDER BY id")
        return [StoredCertificate(*row) for row in rows]

    def certificate_put(
        self, use: str, pem: str, key: str | None = None, replaces: list[int] | None = None
    ) -> int:
        """Install a certificate, removing the ones it replaces, in one commit; its id."""
        _require_str(pem, "pem")
        with self._write() as conn:
            conn.executemany("DELETE FROM certificate WHERE id = ?", [(i,) for i in replaces or []])
            cur = conn.execute(
                "INSERT INTO certificate (use, pem, key) VALUES (?, ?, ?)", (use, pem, key)
            )
            return int(cur.lastrowid or 0)

    def certificate_delete(self, certificate_id: int) -> bool:
        """Forget a certificate; False if there was none."""
        with self._write() as conn:
            cur = conn.execute("DELETE FROM certificate WHERE id = ?", (certificate_id,))
            return cur.rowcount > 0

    def csr_key(self) -> str | None:
        """The private key of the signing request in flight, PEM, if any."""
        row = self._db().execute("SELECT key FROM csr_key WHERE id = 1").fetchone()
        return None if row is None else str(row[0])

    def csr_key_put(self, key: str | None) -> None:
        """Keep (or, with None, forget) the key of the signing request in flight."""
        with self._write() as conn:
            if key is None:
                conn.execute("DELETE FROM csr_key")
            else:
                conn.execute(
                    "INSERT INTO csr_key (id, key) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET key = excluded.key",
                    (key,),
                )

    # -- transactions --

    def tx_begin(
        self,
        connector: int,
        id_tag: str,
        meter_start: int,
        started_at: str,
        reservation_id: int | None = None,
    ) -> int:
        """Record a started transaction; return its local id (never reused).

        A transaction with a ``reservation_id`` uses that reservation up: it is
        deleted in the same commit, so a crash never leaves both.
        """
        with self._write() as conn:
            return self._insert_tx(conn, connector, id_tag, meter_start, started_at, reservation_id)

    def tx_set_id(self, local_id: int, transaction_id: int) -> None:
        """Record the transactionId the CSMS gave (also after the stop)."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE tx SET transaction_id = ? WHERE local_id = ?", (transaction_id, local_id)
            )
            if cur.rowcount != 1:
                raise KeyError(f"no transaction with local id {local_id}")

    def tx_meter(self, local_id: int, meter_wh: int, at: str) -> None:
        """Record the last known meter reading of a running transaction."""
        with self._write() as conn:
            self._update_meter(conn, local_id, meter_wh, at)

    def tx_end(self, local_id: int, meter_stop: int, stopped_at: str, reason: str | None) -> None:
        """Mark a transaction stopped; a second stop is refused (ValueError)."""
        with self._write() as conn:
            self._end_tx(conn, local_id, meter_stop, stopped_at, reason)

    def tx_open(self) -> list[TxRecord]:
        """Transactions not stopped, oldest first: what a restart must end."""
        rows = self._db().execute(
            f"SELECT {_TX_COLUMNS} FROM tx WHERE stopped = 0 ORDER BY local_id"
        )
        return [_tx_record(row) for row in rows]

    def tx_get(self, local_id: int) -> TxRecord | None:
        row = self._db().execute(f"SELECT {_TX_COLUMNS} FROM tx WHERE local_id = ?", (local_id,))
        found = row.fetchone()
        return None if found is None else _tx_record(found)

    def tx_prune(self) -> int:
        """Forget stopped transactions that no queued message refers to.

        Returns how many were removed. Local ids are never reused afterwards.
        """
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM tx WHERE stopped = 1"
                " AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.local_tx = tx.local_id)"
            )
            return cur.rowcount

    def tx_begin_and_queue(
        self,
        connector: int,
        id_tag: str,
        meter_start: int,
        started_at: str,
        reservation_id: int | None,
        action: str,
        payload: dict[str, Any],
    ) -> tuple[int, int]:
        """tx_begin and queue_push of its StartTransaction, atomically.

        Returns (local id, seq). Either both are stored or neither: a restart
        never finds a transaction whose start will not be sent, or the reverse.
        The reservation it uses, if any, is gone in the same commit.
        """
        text = _dump(payload, "payload")
        _require_str(action, "action")
        with self._write() as conn:
            local_id = self._insert_tx(
                conn, connector, id_tag, meter_start, started_at, reservation_id
            )
            return local_id, self._insert_message(conn, action, text, local_id)

    def tx_meter_and_queue(
        self, local_id: int, meter_wh: int, at: str, action: str, payload: dict[str, Any]
    ) -> int:
        """tx_meter and queue_push of its MeterValues in one commit; returns seq.

        One fsync instead of two per sample, which matters with many EVSEs
        sampling every second on slow flash.
        """
        text = _dump(payload, "payload")
        _require_str(action, "action")
        with self._write() as conn:
            self._update_meter(conn, local_id, meter_wh, at)
            return self._insert_message(conn, action, text, local_id)

    def tx_end_and_queue(
        self,
        local_id: int,
        meter_stop: int,
        stopped_at: str,
        reason: str | None,
        action: str,
        payload: dict[str, Any],
    ) -> int:
        """tx_end and queue_push of its StopTransaction, atomically; returns seq.

        After a crash, a transaction is either still open (and gets a
        PowerLoss stop) or stopped with its StopTransaction queued: never
        stopped twice, never stopped without a message.
        """
        text = _dump(payload, "payload")
        _require_str(action, "action")
        with self._write() as conn:
            self._end_tx(conn, local_id, meter_stop, stopped_at, reason)
            return self._insert_message(conn, action, text, local_id)

    @staticmethod
    def _insert_tx(
        conn: sqlite3.Connection,
        connector: int,
        id_tag: str,
        meter_start: int,
        started_at: str,
        reservation_id: int | None,
    ) -> int:
        _require_str(id_tag, "id_tag")
        _require_str(started_at, "started_at")
        cur = conn.execute(
            "INSERT INTO tx (connector, id_tag, meter_start, started_at, reservation_id,"
            " last_meter, last_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (connector, id_tag, meter_start, started_at, reservation_id, meter_start, started_at),
        )
        assert cur.lastrowid is not None
        if reservation_id is not None:
            conn.execute("DELETE FROM reservation WHERE id = ?", (reservation_id,))
        return cur.lastrowid

    @staticmethod
    def _stopped(conn: sqlite3.Connection, local_id: int) -> bool:
        row = conn.execute("SELECT stopped FROM tx WHERE local_id = ?", (local_id,)).fetchone()
        if row is None:
            raise KeyError(f"no transaction with local id {local_id}")
        return bool(row[0])

    def _update_meter(
        self, conn: sqlite3.Connection, local_id: int, meter_wh: int, at: str
    ) -> None:
        _require_str(at, "at")
        if self._stopped(conn, local_id):
            msg = f"transaction {local_id} is stopped; its meter values are final"
            raise ValueError(msg)
        conn.execute(
            "UPDATE tx SET last_meter = ?, last_at = ? WHERE local_id = ?",
            (meter_wh, at, local_id),
        )

    def _end_tx(
        self,
        conn: sqlite3.Connection,
        local_id: int,
        meter_stop: int,
        stopped_at: str,
        reason: str | None,
    ) -> None:
        _require_str(stopped_at, "stopped_at")
        if self._stopped(conn, local_id):
            # Refused, not ignored: a second stop would mean a second
            # StopTransaction for one transaction.
            msg = f"transaction {local_id} is already stopped"
            raise ValueError(msg)
        conn.execute(
            "UPDATE tx SET stopped = 1, meter_stop = ?, stopped_at = ?, stop_reason = ?,"
            " last_meter = ?, last_at = ? WHERE local_id = ?",
            (meter_stop, stopped_at, reason, meter_stop, stopped_at, local_id),
        )

    # -- queue of transactional messages --

    def queue_push(self, action: str, payload: dict[str, Any], local_tx: int | None) -> int:
        """Store a message to send; return its seq (grows across restarts)."""
        text = _dump(payload, "payload")
        _require_str(action, "action")
        with self._write() as conn:
            return self._insert_message(conn, action, text, local_tx)

    def queue_all(self) -> list[QueuedMessage]:
        """Every queued message, in the order it must be sent."""
        return self._queued(
            "SELECT seq, action, payload, local_tx, attempts FROM queue ORDER BY seq", ()
        )

    def queue_head(self, limit: int = 1) -> list[QueuedMessage]:
        """The first ``limit`` messages in send order.

        For draining a long backlog: reading all of 10,000 queued messages
        takes tens of ms, so reading them all again after each answer would not do.
        """
        return self._queued(
            "SELECT seq, action, payload, local_tx, attempts FROM queue ORDER BY seq LIMIT ?",
            (limit,),
        )

    def queue_delete(self, seq: int) -> None:
        """Forget a message once answered; an unknown seq is not an error.

        Idempotent on purpose: an answer handled twice (or after the message
        was dropped for too many attempts) must not crash its caller.
        """
        with self._write() as conn:
            conn.execute("DELETE FROM queue WHERE seq = ?", (seq,))

    def queue_attempted(self, seq: int, attempts: int) -> None:
        """Record how many times a message was sent without an answer."""
        with self._write() as conn:
            conn.execute("UPDATE queue SET attempts = ? WHERE seq = ?", (attempts, seq))

    def queue_len(self) -> int:
        count: int = self._db().execute("SELECT count(*) FROM queue").fetchone()[0]
        return count

    def _queued(self, sql: str, params: tuple[Any, ...]) -> list[QueuedMessage]:
        return [
            QueuedMessage(seq, action, json.loads(payload), local_tx, attempts)
            for seq, action, payload, local_tx, attempts in self._db().execute(sql, params)
        ]

    @staticmethod
    def _insert_message(
        conn: sqlite3.Connection, action: str, payload_text: str, local_tx: int | None
    ) -> int:
        cur = conn.execute(
            "INSERT INTO queue (action, payload, local_tx) VALUES (?, ?, ?)",
            (action, payload_text, local_tx),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid
