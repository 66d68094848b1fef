"""The storage actor against real SQLite files.

Every test talks to a running Storage actor through its proxy, the way other
actors will. Durability is checked the hard ways: an actor crashed under a
supervisor, and a separate process killed with SIGKILL right after (or while)
it writes. Nothing sleeps: waits are on queues, pipes and the registry, all
with timeouts.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pykka
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ocppstation.actors.storage.db as storage_module
import ocppstation.actors.storage.transactions as transactions_module
from ocppstation.actors.runtime.base import ChildExited, Crash, Place
from ocppstation.actors.runtime.registry import Registry
from ocppstation.actors.runtime.supervisor import ChildSpec, Supervisor
from ocppstation.actors.storage.connection import StorageError
from ocppstation.actors.storage.db import Storage
from ocppstation.actors.storage.migrations import (
    Migration,
    apply_migrations,
    check_migrations,
    load_migrations,
)
from ocppstation.actors.storage.queue import QueuedMessage
from ocppstation.actors.storage.transactions import TxRecord
from ocppstation.tools.csms import DevCsms
from tests.addresses import at
from tests.conftest import StationFactory

WAIT = 10.0
LATEST = len(load_migrations())


class Db:
    """A Storage actor whose stores are called through its proxy and waited on.

    ``db.queue.push(...)`` asks the actor's ``queue`` store, as
    ``ctx.storage().queue.push(...).get()`` does in the station.
    """

    def __init__(
        self, ref: pykka.ActorRef[Any], proxy: pykka.ActorProxy[Any] | None = None
    ) -> None:
        self.ref = ref
        self._proxy = ref.proxy() if proxy is None else proxy

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._proxy, name)
        if isinstance(found, pykka.ActorProxy):  # a store: traversed, not called
            return Db(self.ref, found)
        method: Callable[..., Any] = found

        def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs).get(timeout=WAIT)

        return call


def open_db(path: Path | None, **kwargs: Any) -> Db:
    return Db(Storage.start(Place("storage", None, Registry()), path, **kwargs))


def close_db(db: Db) -> None:
    if db.ref.is_alive():
        db.ref.stop(timeout=WAIT)


@contextmanager
def running(path: Path | None, **kwargs: Any) -> Iterator[Db]:
    db = open_db(path, **kwargs)
    try:
        yield db
    finally:
        close_db(db)


class _Parent(pykka.ThreadingActor):
    """Stands in for a supervisor: passes each ChildExited to the test."""

    use_daemon_thread = True

    def __init__(self, exits: queue.Queue[ChildExited]) -> None:
        super().__init__()
        self.exits = exits

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExited):
            self.exits.put(message)


def start_failure(path: Path) -> BaseException:
    """Start a Storage on ``path`` that is expected to fail; return why it did."""
    exits: queue.Queue[ChildExited] = queue.Queue()
    parent = _Parent.start(exits)
    try:
        Storage.start(Place("storage", parent, Registry()), path)
        exited = exits.get(timeout=WAIT)
    finally:
        parent.stop()
    assert exited.reason is not None, "storage started on a database it should refuse"
    return exited.reason


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "station.sqlite"


# -- migrations --


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, LATEST + 1))
    assert migrations[0].label == "0001_initial"


def test_migration_lists_with_gaps_or_duplicates_are_refused() -> None:
    with pytest.raises(ValueError, match="0003_c"):
        check_migrations([Migration(1, "a", ""), Migration(3, "c", "")])
    with pytest.raises(ValueError, match="0001_b"):
        check_migrations([Migration(1, "a", ""), Migration(1, "b", "")])


def test_an_empty_file_is_migrated_to_the_latest_version_in_wal(db_path: Path) -> None:
    with running(db_path) as db:
        assert db.queue.size() == 0
    assert user_version(db_path) == LATEST
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")}
    finally:
        conn.close()
    assert {"setting", "availability", "auth_cache", "local_list", "tx", "queue"} <= tables


def test_reopening_is_idempotent_and_keeps_the_data(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ocppstation")
    with running(db_path) as db:
        db.settings.put(at("HeartbeatInterval"), "120")
    assert sum("migrated from version 0" in r.getMessage() for r in caplog.records) == 1
    caplog.clear()
    for _ in range(2):
        with running(db_path) as db:
            assert db.settings.overlay() == {at("HeartbeatInterval"): "120"}
    assert not any("migrated" in r.getMessage() for r in caplog.records)
    assert user_version(db_path) == LATEST


def test_a_database_from_a_newer_release_is_refused_and_left_alone(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    reason = start_failure(db_path)
    assert isinstance(reason, StorageError)
    assert str(db_path) in str(reason)
    assert "newer" in str(reason)
    assert user_version(db_path) == LATEST + 1


def test_a_file_that_is_not_sqlite_is_refused_naming_it(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    reason = start_failure(db_path)
    assert isinstance(reason, StorageError)
    assert str(db_path) in str(reason)
    assert "not an SQLite database" in str(reason)


def test_a_damaged_page_inside_a_valid_file_is_refused_naming_it(db_path: Path) -> None:
    with running(db_path) as db:
        for i in range(300):
            db.queue.push("MeterValues", {"n": i, "pad": "x" * 200}, None)
    page = 4096
    pages = db_path.stat().st_size // page
    assert pages > 8
    with db_path.open("r+b") as f:
        # Near the end: one of the queue's pages, written last.
        f.seek((pages - 2) * page)
        f.write(b"\xa5" * page)
    reason = start_failure(db_path)
    assert isinstance(reason, StorageError)
    assert str(db_path) in str(reason)
    assert "database is corrupt" in str(reason)


def test_a_failing_migration_is_rolled_back_whole(db_path: Path) -> None:
    steps = [
        Migration(1, "one", "CREATE TABLE a (x INTEGER);"),
        Migration(2, "two", "CREATE TABLE b (x INTEGER);\nINSERT INTO missing VALUES (1);"),
    ]
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        with pytest.raises(StorageError, match="0002_two"):
            apply_migrations(conn, steps, str(db_path))
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema")}
        assert "a" in names
        assert "b" not in names
        assert not conn.in_transaction
        # Fixed, it applies from where it stopped.
        steps[1] = Migration(2, "two", "CREATE TABLE b (x INTEGER);")
        assert apply_migrations(conn, steps, str(db_path)) == (1, 2)
    finally:
        conn.close()


# -- files --


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_folder_and_the_file_it_creates_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "made" / "station.sqlite"
    with running(path) as db:
        db.csr_key.put("-----BEGIN PRIVATE KEY-----...")
        assert mode_of(path.parent) == 0o700
        assert mode_of(path) == 0o600
        # SQLite gives the WAL and its index the database file's mode.
        for companion in ("-wal", "-shm"):
            assert mode_of(Path(f"{path}{companion}")) == 0o600
    with running(path) as db:
        assert db.csr_key.get() == "-----BEGIN PRIVATE KEY-----..."
    assert mode_of(path) == 0o600


def test_an_existing_folder_and_file_keep_their_modes(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    path = folder / "station.sqlite"
    with running(path) as db:
        db.settings.put(at("HeartbeatInterval"), "60")
    path.chmod(0o640)
    with running(path) as db:
        assert db.settings.overlay() == {at("HeartbeatInterval"): "60"}
    assert (mode_of(folder), mode_of(path)) == (0o750, 0o640)


def test_a_station_creates_its_data_dir_owner_only(
    csms: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    make_station(csms, Internal={"DataDir": str(data)})
    assert mode_of(data) == 0o700
    assert mode_of(data / "cp-test.sqlite") == 0o600


# -- options --


def test_in_memory_storage_works_and_warns_once_per_process(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_module, "_in_memory_warned", False)
    caplog.set_level(logging.WARNING, logger="ocppstation")
    for _ in range(2):
        with running(None) as db:
            db.settings.put(at("K"), "V")
            assert db.settings.overlay() == {at("K"): "V"}
    warnings = [r for r in caplog.records if "in memory" in r.getMessage()]
    assert len(warnings) == 1


def test_synchronous_normal_is_accepted_and_unknown_modes_are_refused(db_path: Path) -> None:
    with running(db_path, synchronous="normal") as db:
        db.availability.put(0, "Inoperative")
    with running(db_path) as db:
        assert db.availability.all() == {0: "Inoperative"}
    with pytest.raises(ValueError, match="OFF"):
        Storage(Place("storage", None, Registry()), db_path, synchronous="OFF")


# -- round trips --


def test_config_overlay_round_trip(db_path: Path) -> None:
    with running(db_path) as db:
        assert db.settings.overlay() == {}
        db.settings.put(at("HeartbeatInterval"), "60")
        db.settings.put(at("MeterValuesSampledData"), "Energy.Active.Import.Register,SoC")
        db.settings.put(at("HeartbeatInterval"), "300")
        assert db.settings.overlay() == {
            at("HeartbeatInterval"): "300",
            at("MeterValuesSampledData"): "Energy.Active.Import.Register,SoC",
        }
        with pytest.raises(TypeError):
            db.settings.put(at("HeartbeatInterval"), 300)


def test_availability_round_trip(db_path: Path) -> None:
    with running(db_path) as db:
        assert db.availability.all() == {}
        db.availability.put(0, "Inoperative")
        db.availability.put(2, "Inoperative")
        db.availability.put(2, "Operative")
        assert db.availability.all() == {0: "Inoperative", 2: "Operative"}
        with pytest.raises(ValueError, match="Scheduled"):
            db.availability.put(1, "Scheduled")
        with pytest.raises(ValueError):
            db.availability.put(-1, "Operative")
        assert db.availability.all() == {0: "Inoperative", 2: "Operative"}


def test_authorization_cache_round_trip(db_path: Path) -> None:
    accepted = {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z", "parentIdTag": "G1"}
    with running(db_path) as db:
        assert db.auth_cache.get("04A1B2") is None
        assert db.auth_cache.size() == 0
        db.auth_cache.put("04A1B2", accepted)
        db.auth_cache.put("CAFE", {"status": "Blocked"})
        assert db.auth_cache.get("04A1B2") == accepted
        # OCPP 1.6: an IdToken is case-insensitive.
        assert db.auth_cache.get("04a1b2") == accepted
        db.auth_cache.put("04a1b2", {"status": "Expired"})
        assert db.auth_cache.get("04A1B2") == {"status": "Expired"}
        assert db.auth_cache.size() == 2
        db.auth_cache.clear()
        assert db.auth_cache.size() == 0
        assert db.auth_cache.get("CAFE") is None


def test_authorization_cache_remembers_when_each_entry_was_last_used(db_path: Path) -> None:
    with running(db_path) as db:
        db.auth_cache.put("OLD", {"status": "Accepted"})  # as before migration 0012
        db.auth_cache.put("A", {"status": "Accepted"}, 100.0)
        assert db.auth_cache.last_used("OLD") is None
        assert db.auth_cache.last_used("a") == 100.0
        db.auth_cache.touch("A", 250.5)
        assert db.auth_cache.last_used("A") == 250.5
        assert db.auth_cache.last_used("NOBODY") is None
    with sqlite3.connect(db_path) as conn:
        # Touched last, it is the latest in line (the order an eviction reads).
        order = conn.execute("SELECT id_tag FROM auth_cache ORDER BY stored").fetchall()
    assert [r[0] for r in order] == ["OLD", "A"]


def test_local_list_full_and_differential_updates(db_path: Path) -> None:
    with running(db_path) as db:
        assert db.local_list.version() == 0
        assert db.local_list.get("A") is None
        db.local_list.replace(
            3,
            [
                {"idTag": "A", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "B", "idTagInfo": {"status": "Blocked", "parentIdTag": "G"}},
                {"idTag": "C"},  # no idTagInfo: not in the list
            ],
        )
        assert db.local_list.version() == 3
        assert db.local_list.size() == 2
        assert db.local_list.get("b") == {"status": "Blocked", "parentIdTag": "G"}
        assert db.local_list.get("C") is None
        db.local_list.update(
            4,
            [
                {"idTag": "A"},  # delete
                {"idTag": "B", "idTagInfo": {"status": "Accepted"}},  # change
                {"idTag": "D", "idTagInfo": {"status": "Accepted"}},  # add
            ],
        )
        assert db.local_list.version() == 4
        assert db.local_list.get("A") is None
        assert db.local_list.get("B") == {"status": "Accepted"}
        assert db.local_list.get("D") == {"status": "Accepted"}
        # One bad entry rejects the whole update: nothing of it is applied.
        with pytest.raises(TypeError):
            db.local_list.update(5, [{"idTag": "E", "idTagInfo": {}}, {"idTagInfo": {}}])
        assert db.local_list.version() == 4
        assert db.local_list.get("E") is None
        db.local_list.replace(6, [])
        assert db.local_list.size() == 0
        assert db.local_list.version() == 6


def test_transaction_life_cycle(db_path: Path) -> None:
    with running(db_path) as db:
        assert db.transactions.open() == []
        first = db.transactions.begin(1, "04A1B2", 1000, "2025-01-01T10:00:00Z", reservation_id=7)
        second = db.transactions.begin(2, "CAFE", 50, "2025-01-01T10:01:00Z")
        assert second > first
        assert db.transactions.get(first) == TxRecord(
            local_id=first,
            connector=1,
            id_tag="04A1B2",
            meter_start=1000,
            started_at="2025-01-01T10:00:00Z",
            transaction_id=None,
            last_meter=1000,
            last_at="2025-01-01T10:00:00Z",
            stopped=False,
            reservation_id=7,
        )
        db.transactions.set_id(first, 4242)
        db.transactions.meter(first, 1500, "2025-01-01T10:05:00Z")
        rec = db.transactions.get(first)
        assert (rec.transaction_id, rec.last_meter, rec.last_at) == (
            4242,
            1500,
            "2025-01-01T10:05:00Z",
        )
        assert [t.local_id for t in db.transactions.open()] == [first, second]
        db.transactions.end(first, 1700, "2025-01-01T10:06:00Z", "EVDisconnected")
        rec = db.transactions.get(first)
        assert rec.stopped
        assert (rec.meter_stop, rec.stopped_at, rec.stop_reason) == (
            1700,
            "2025-01-01T10:06:00Z",
            "EVDisconnected",
        )
        assert (rec.last_meter, rec.last_at) == (1700, "2025-01-01T10:06:00Z")
        assert [t.local_id for t in db.transactions.open()] == [second]
        # A second stop, or a meter reading after the stop, is a bug upstream.
        with pytest.raises(ValueError, match="already stopped"):
            db.transactions.end(first, 1800, "2025-01-01T10:07:00Z", "Local")
        with pytest.raises(ValueError, match="stopped"):
            db.transactions.meter(first, 1800, "2025-01-01T10:07:00Z")
        assert db.transactions.get(first) == rec
        # The real id may still arrive after the stop (StartTransaction answered late).
        db.transactions.end(second, 60, "2025-01-01T10:08:00Z", None)
        db.transactions.set_id(second, 4243)
        assert db.transactions.get(second).transaction_id == 4243
        assert db.transactions.get(999) is None
        for call in (
            lambda: db.transactions.set_id(999, 1),
            lambda: db.transactions.meter(999, 1, "t"),
            lambda: db.transactions.end(999, 1, "t", "Local"),
        ):
            with pytest.raises(KeyError, match="999"):
                call()


def test_queue_round_trip(db_path: Path) -> None:
    payload = {
        "connectorId": 1,
        "transactionId": -1,
        "meterValue": [
            {
                "timestamp": "2025-01-01T10:00:00Z",
                "sampledValue": [{"value": "1.5", "measurand": "Power.Active.Import"}],
            }
        ],
        "unicode": "Grüße, 充电",
        "lone surrogate": "\ud800",
        "float": 0.1,
        "nothing": None,
        "flag": True,
    }
    with running(db_path) as db:
        local = db.transactions.begin(1, "T", 0, "t0")
        a = db.queue.push("MeterValues", payload, local)
        b = db.queue.push("StopTransaction", {"meterStop": 10}, None)
        assert b > a
        assert db.queue.size() == 2
        db.queue.attempted(a, 3)
        assert db.queue.all() == [
            QueuedMessage(a, "MeterValues", payload, local, 3),
            QueuedMessage(b, "StopTransaction", {"meterStop": 10}, None, 0),
        ]
        assert db.queue.head() == db.queue.all()[:1]
        assert db.queue.head(5) == db.queue.all()
        db.queue.delete(a)
        db.queue.delete(a)  # an answer handled twice is harmless
        assert [m.seq for m in db.queue.all()] == [b]
        # What cannot be stored is refused in the caller, and nothing is stored.
        with pytest.raises(ValueError):
            db.queue.push("MeterValues", {"value": float("nan")}, None)
        with pytest.raises(TypeError):
            db.queue.push("MeterValues", ["not", "a", "dict"], None)
        with pytest.raises(sqlite3.IntegrityError):
            db.queue.push("MeterValues", {}, 12345)  # no such transaction
        assert db.queue.size() == 1


def test_pruning_keeps_transactions_that_queued_messages_refer_to(db_path: Path) -> None:
    with running(db_path) as db:
        done, seq = db.transactions.begin_and_queue(1, "A", 0, "t0", None, "StartTransaction", {})
        stop_seq = db.transactions.end_and_queue(done, 5, "t1", "Local", "StopTransaction", {})
        running_tx = db.transactions.begin(2, "B", 0, "t2")
        assert db.transactions.prune() == 0  # done still has queued messages
        db.queue.delete(seq)
        db.queue.delete(stop_seq)
        assert db.transactions.prune() == 1
        assert db.transactions.get(done) is None
        assert db.transactions.get(running_tx) is not None
        # A pruned id is never handed out again.
        assert db.transactions.begin(1, "C", 0, "t3") > running_tx


# -- the atomic helpers --


def test_begin_meter_and_end_helpers_store_both_halves(db_path: Path) -> None:
    with running(db_path) as db:
        local, start_seq = db.transactions.begin_and_queue(
            1, "A", 100, "t0", 3, "StartTransaction", {"meterStart": 100}
        )
        meter_seq = db.transactions.meter_and_queue(local, 150, "t1", "MeterValues", {"v": 150})
        stop_seq = db.transactions.end_and_queue(
            local, 200, "t2", "Local", "StopTransaction", {"v": 200}
        )
        assert start_seq < meter_seq < stop_seq
        assert db.queue.all() == [
            QueuedMessage(start_seq, "StartTransaction", {"meterStart": 100}, local, 0),
            QueuedMessage(meter_seq, "MeterValues", {"v": 150}, local, 0),
            QueuedMessage(stop_seq, "StopTransaction", {"v": 200}, local, 0),
        ]
        rec = db.transactions.get(local)
        assert rec.stopped
        assert rec.reservation_id == 3
        assert rec.meter_stop == 200
        # A second stop queues no second StopTransaction.
        with pytest.raises(ValueError, match="already stopped"):
            db.transactions.end_and_queue(local, 300, "t3", "Local", "StopTransaction", {})
        assert db.queue.size() == 3


def test_a_transaction_counts_its_queued_messages_across_a_reopen(db_path: Path) -> None:
    # The count is 2.0.1's next seqNo: it must survive a restart and never repeat.
    with running(db_path) as db:
        local, _ = db.transactions.begin_and_queue(
            1, "A", 0, "t0", None, "TransactionEvent", {}, transaction_id="tx-1"
        )
        db.transactions.meter_and_queue(local, 10, "t1", "TransactionEvent", {})
        rec = db.transactions.get(local)
        assert (rec.transaction_id, rec.events) == ("tx-1", 2)
    with running(db_path) as db:
        db.transactions.end_and_queue(local, 20, "t2", "Local", "TransactionEvent", {})
        assert db.transactions.get(local).events == 3
        # A message of no transaction counts for none.
        db.queue.push("SecurityEventNotification", {}, None)
        assert db.transactions.get(local).events == 3


def test_helpers_roll_back_both_halves_when_the_second_fails(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(db_path) as db:
        local = db.transactions.begin(1, "A", 100, "t0")

        def broken(*args: Any) -> int:
            raise sqlite3.OperationalError("disk I/O error (simulated)")

        # Fails after the transaction row was written, inside the same commit.
        monkeypatch.setattr(transactions_module, "insert_message", broken)
        with pytest.raises(sqlite3.OperationalError):
            db.transactions.end_and_queue(local, 200, "t2", "Local", "StopTransaction", {})
        with pytest.raises(sqlite3.OperationalError):
            db.transactions.meter_and_queue(local, 150, "t1", "MeterValues", {})
        with pytest.raises(sqlite3.OperationalError):
            db.transactions.begin_and_queue(2, "B", 0, "t0", None, "StartTransaction", {})
        monkeypatch.undo()
        assert [t.local_id for t in db.transactions.open()] == [local]
        rec = db.transactions.get(local)
        assert (rec.stopped, rec.last_meter) == (False, 100)
        assert db.queue.size() == 0
        # And the actor is still usable.
        db.transactions.end_and_queue(local, 200, "t2", "Local", "StopTransaction", {})
        assert db.queue.size() == 1


# -- persistence --


def test_everything_survives_a_crash_of_the_actor_under_its_supervisor(db_path: Path) -> None:
    registry = Registry()
    root = Supervisor.start(
        Place("", None, registry),
        [ChildSpec("storage", lambda place: Storage.start(place, db_path))],
    )
    try:
        db = Db(registry.require("storage"))
        db.settings.put(at("HeartbeatInterval"), "90")
        db.availability.put(1, "Inoperative")
        db.auth_cache.put("A", {"status": "Accepted"})
        db.local_list.replace(2, [{"idTag": "L", "idTagInfo": {"status": "Accepted"}}])
        local, seq = db.transactions.begin_and_queue(
            1, "A", 10, "t0", None, "StartTransaction", {"i": 1}
        )
        db.transactions.set_id(local, 77)
        db.transactions.meter(local, 20, "t1")
        db.queue.attempted(seq, 2)

        old = registry.require("storage")
        old.tell(Crash("test"))
        db = Db(registry.wait_for("storage", WAIT, not_ref=old))

        assert db.settings.overlay() == {at("HeartbeatInterval"): "90"}
        assert db.availability.all() == {1: "Inoperative"}
        assert db.auth_cache.get("a") == {"status": "Accepted"}
        assert db.local_list.version() == 2
        assert db.local_list.get("L") == {"status": "Accepted"}
        [rec] = db.transactions.open()
        assert (rec.local_id, rec.transaction_id, rec.last_meter, rec.last_at) == (
            local,
            77,
            20,
            "t1",
        )
        assert db.queue.all() == [QueuedMessage(seq, "StartTransaction", {"i": 1}, local, 2)]
    finally:
        root.stop(timeout=WAIT)


def test_queue_order_and_ids_keep_growing_across_restarts(db_path: Path) -> None:
    with running(db_path) as db:
        first = [db.queue.push("MeterValues", {"n": n}, None) for n in range(3)]
        t1 = db.transactions.begin(1, "A", 0, "t0")
    with running(db_path) as db:
        second = [db.queue.push("MeterValues", {"n": n}, None) for n in range(3, 6)]
        db.queue.delete(first[1])
        assert [m.payload["n"] for m in db.queue.all()] == [0, 2, 3, 4, 5]
        assert first + second == sorted(first + second)
        for m in db.queue.all():
            db.queue.delete(m.seq)
        db.transactions.end(t1, 0, "t1", "Local")
        assert db.transactions.prune() == 1
    with running(db_path) as db:
        # Emptied queue, pruned transactions: neither id goes back.
        assert db.queue.push("MeterValues", {}, None) > second[-1]
        assert db.transactions.begin(1, "B", 0, "t2") > t1


# -- kill -9 --

_WRITER = r"""
import sys
from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.registry import Registry
from ocppstation.actors.storage.db import Storage
from ocppstation.config.v16_view import V16_ADDRESSES

at = V16_ADDRESSES.__getitem__
path, mode = sys.argv[1], sys.argv[2]
db = Storage.start(Place("storage", None, Registry()), path, synchronous=sys.argv[3]).proxy()

def call(future):
    return future.get(timeout=30)

if mode == "once":
    call(db.settings.put(at("HeartbeatInterval"), "90"))
    call(db.availability.put(0, "Inoperative"))
    call(db.auth_cache.put("A", {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z"}))
    call(db.local_list.replace(5, [{"idTag": "L", "idTagInfo": {"status": "Accepted"}}]))
    local, seq = call(
        db.transactions.begin_and_queue(1, "A", 10, "t0", 4, "StartTransaction", {"i": 1}))
    call(db.transactions.set_id(local, 77))
    call(db.transactions.meter(local, 20, "t1"))
    call(db.queue.attempted(seq, 2))
    print("done", local, seq, flush=True)
    sys.stdin.readline()  # stay alive, holding the database, until killed
else:
    # Sessions one after another; each line is printed only once its write
    # was acknowledged, so the test knows what must have survived.
    i = 0
    while True:
        i += 1
        local, start = call(db.transactions.begin_and_queue(
            1, f"T{i}", i * 100, f"s{i}", None, "StartTransaction", {"i": i}))
        print("begin", i, local, start, flush=True)
        seq = call(db.transactions.meter_and_queue(
            local, i * 100 + 50, f"m{i}", "MeterValues", {"i": i}))
        print("meter", i, local, seq, flush=True)
        seq = call(db.transactions.end_and_queue(
            local, i * 100 + 99, f"e{i}", "Local", "StopTransaction", {"i": i}))
        print("end", i, local, seq, flush=True)
        call(db.queue.delete(start))
        print("delete", i, local, start, flush=True)
"""


@contextmanager
def writer(db_path: Path, mode: str, synchronous: str = "FULL") -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db_path), mode, synchronous],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=WAIT)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def kill9(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=WAIT) == -signal.SIGKILL


def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"writer exited early with {proc.wait(timeout=WAIT)}"
    return line


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_acknowledged_writes_survive_kill_9(db_path: Path, synchronous: str) -> None:
    with writer(db_path, "once", synchronous) as proc:
        word, local, seq = read_line(proc).split()
        assert word == "done"
        kill9(proc)
    # Killed, not closed: the writes are in the WAL, not yet checkpointed.
    assert Path(f"{db_path}-wal").exists()
    with running(db_path) as db:
        assert db.settings.overlay() == {at("HeartbeatInterval"): "90"}
        assert db.availability.all() == {0: "Inoperative"}
        assert db.auth_cache.get("A") == {
            "status": "Accepted",
            "expiryDate": "2030-01-01T00:00:00Z",
        }
        assert db.local_list.version() == 5
        assert db.local_list.get("L") == {"status": "Accepted"}
        [rec] = db.transactions.open()
        assert (rec.local_id, rec.transaction_id, rec.reservation_id) == (int(local), 77, 4)
        assert (rec.last_meter, rec.last_at) == (20, "t1")
        assert db.queue.all() == [
            QueuedMessage(int(seq), "StartTransaction", {"i": 1}, int(local), 2)
        ]


@pytest.mark.parametrize("acknowledged", [1, 6, 41, 250])
def test_kill_9_in_the_middle_of_writing_loses_nothing_acknowledged(
    db_path: Path, acknowledged: int
) -> None:
    with writer(db_path, "stream") as proc:
        lines = [read_line(proc).split() for _ in range(acknowledged)]
        # The writer is busy with the next write when the signal lands.
        kill9(proc)
    with running(db_path) as db:
        queued = db.queue.all()
        txs = {t.local_id: t for t in db.transactions.open()}
        queued_by_tx: dict[int, list[str]] = {}
        for m in queued:
            queued_by_tx.setdefault(m.local_tx, []).append(m.action)
        for word, i, local, seq in lines:
            n, local_id, seq_n = int(i), int(local), int(seq)
            rec = db.transactions.get(local_id)
            assert rec is not None
            if word == "begin":
                assert rec.meter_start == n * 100
            elif word == "meter":
                assert rec.last_meter >= n * 100 + 50
            elif word == "end":
                assert rec.stopped
                assert rec.meter_stop == n * 100 + 99
                assert any(m.seq == seq_n and m.action == "StopTransaction" for m in queued)
            elif word == "delete":
                assert all(m.seq != seq_n for m in queued)
        # Whatever the moment of the kill, the helpers left no half-done step:
        # a stopped transaction has its StopTransaction queued, an open one
        # still has its StartTransaction (deleted only after the stop).
        all_tx = {m.local_tx for m in queued}
        for local_id in all_tx:
            rec = db.transactions.get(local_id)
            actions = queued_by_tx[local_id]
            if rec.stopped:
                assert "StopTransaction" in actions
            else:
                assert "StartTransaction" in actions
        assert len(txs) <= 1, "only the session in progress can be open"
        for rec in txs.values():
            assert "StartTransaction" in queued_by_tx.get(rec.local_id, [])
        seqs = [m.seq for m in queued]
        assert seqs == sorted(seqs)


# -- property: the queue behaves like a list --

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_payloads = st.dictionaries(st.text(max_size=8), _json, max_size=4)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.sampled_from(["MeterValues", "StopTransaction"]), _payloads),
        # An index into the model's queue; out of range deletes a seq that
        # does not exist, which must change nothing.
        st.tuples(st.just("delete"), st.integers(min_value=0, max_value=12)),
        st.tuples(st.just("attempt"), st.integers(min_value=0, max_value=12)),
        st.tuples(st.just("restart")),
    ),
    max_size=30,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_ops)
def test_queue_all_equals_a_model_list_under_pushes_deletes_and_restarts(
    ops: list[tuple[Any, ...]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "station.sqlite"
        model: list[QueuedMessage] = []
        last_seq = 0
        db = open_db(path)
        try:
            for op in ops:
                if op[0] == "push":
                    seq = db.queue.push(op[1], op[2], None)
                    assert seq > last_seq
                    last_seq = seq
                    model.append(QueuedMessage(seq, op[1], op[2], None, 0))
                elif op[0] == "delete":
                    if op[1] < len(model):
                        db.queue.delete(model.pop(op[1]).seq)
                    else:
                        db.queue.delete(last_seq + 1 + op[1])
                elif op[0] == "attempt":
                    if op[1] < len(model):
                        m = model[op[1]]
                        db.queue.attempted(m.seq, m.attempts + 1)
                        model[op[1]] = QueuedMessage(
                            m.seq, m.action, m.payload, m.local_tx, m.attempts + 1
                        )
                else:
                    close_db(db)
                    db = open_db(path)
                assert db.queue.all() == model
                assert db.queue.head(2) == model[:2]
                assert db.queue.size() == len(model)
        finally:
            close_db(db)


def test_deferred_meter_values_share_one_fsync_and_each_stays_atomic(db_path: Path) -> None:
    """Group commit: samples nobody waits for are committed together, each
    told on only once durable, in order; a failing one is undone alone; a
    delete of an answered message neither waits for them nor fsyncs."""
    told: queue.Queue[int] = queue.Queue()
    with running(db_path, deferred_window=0.05) as db:
        local, start_seq = db.transactions.begin_and_queue(
            1, "A", 0, "t0", None, "StartTransaction", {"n": -1}
        )
        proxy = db.ref.proxy()
        before = proxy.commits.get(timeout=WAIT)
        tx = proxy.transactions
        for n in range(30):
            tx.meter_and_queue_then(local, n, "t", "MeterValues", {"n": n}, told.put)
        tx.meter_and_queue_then(999, 1, "t", "MeterValues", {"n": 999}, told.put)
        for n in range(30, 40):
            tx.meter_and_queue_then(local, n, "t", "MeterValues", {"n": n}, told.put)
        seqs = [told.get(timeout=WAIT) for _ in range(40)]
        assert sorted(seqs) == seqs and start_seq < seqs[0]
        assert told.empty()  # nothing for the failed one
        assert 1 <= proxy.commits.get(timeout=WAIT) - before <= 3
        synced = proxy.commits.get(timeout=WAIT)
        db.queue.delete(start_seq)
        assert proxy.commits.get(timeout=WAIT) == synced
        assert [json_n(m) for m in db.queue.all()] == list(range(40))
    # What was told on is in the file.
    with running(db_path) as db:
        assert db.queue.size() == 40
        [record] = db.transactions.open()
        assert record.last_meter == 39


def json_n(message: QueuedMessage) -> int:
    return int(message.payload["n"])
