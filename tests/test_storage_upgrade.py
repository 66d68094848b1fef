"""A database written by an earlier release opens, migrates in place and keeps everything.

tests/data/release_0005.sqlite was written by release 30ca844 (schema version
5, the flat Storage API) with tests/data/make_release_store.py; these tests
open a copy of it with today's code, read every store back, and start a
station on it.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from ocppstation.actors.events import RegistrationChanged, TransactionStopped
from ocppstation.actors.storage.migrations import load_migrations
from ocppstation.actors.storage.queue import QueuedMessage
from ocppstation.actors.storage.reservations import StoredReservation
from ocppstation.actors.storage.transactions import TxRecord
from ocppstation.tools.csms import DevCsms
from tests.addresses import at
from tests.conftest import StationFactory, log_of
from tests.data.make_release_store import (
    FAR,
    OPEN_LAST_AT,
    OPEN_LAST_METER,
    OPEN_METER_START,
    OPEN_TX_ID,
)
from tests.test_storage import running, user_version

RELEASE = Path(__file__).parent / "data" / "release_0005.sqlite"
CP = "cp-test"


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    """A copy of the release's file: the test migrates it, the original stays as it was."""
    assert user_version(RELEASE) == 5
    return Path(shutil.copyfile(RELEASE, tmp_path / f"{CP}.sqlite"))


def common_name(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_a_store_of_release_0005_is_migrated_in_place_and_read_back_whole(
    old_store: Path,
) -> None:
    with running(old_store) as db:
        assert db.settings.overlay() == {
            at("HeartbeatInterval"): "600",
            at("LocalAuthListEnabled"): "true",
        }
        assert db.availability.all() == {2: "Inoperative"}
        assert db.auth_cache.get("cached-tag") == {"status": "Accepted", "expiryDate": FAR}
        assert db.auth_cache.size() == 1
        assert db.local_list.version() == 3
        assert db.local_list.size() == 2
        assert db.local_list.get("LOCAL-TAG") == {"status": "Accepted", "parentIdTag": "FLEET"}
        assert db.local_list.get("blocked-tag") == {"status": "Blocked"}
        assert db.local_list.known(["LOCAL-TAG", "NOBODY"]) == {"LOCAL-TAG"}
        # Reservation 8 was used up by the closed transaction, in the same commit.
        assert db.reservations.all() == [StoredReservation(7, 2, "RESERVED-TAG", "FLEET", FAR)]
        [(connector, profile)] = db.profiles.all()
        assert connector == 1
        assert (profile["chargingProfileId"], profile["chargingProfilePurpose"]) == (
            11,
            "TxDefaultProfile",
        )
        assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 16.0}
        ]
        root, own = db.certificates.all()
        assert (root.use, common_name(root.pem), root.key) == (
            "CentralSystemRootCertificate",
            "release 0005 root",
            None,
        )
        assert (own.use, common_name(own.pem)) == ("ChargePointCertificate", "cp-test")
        assert own.key is not None
        serialization.load_pem_private_key(own.key.encode(), password=None)
        csr_key = db.csr_key.get()
        assert csr_key is not None
        serialization.load_pem_private_key(csr_key.encode(), password=None)
        job = db.firmware_job.get()
        assert job is not None
        assert (job["location"], job["retrieve_date"], job["phase"]) == (
            "http://firmware.invalid/fw.bin",
            FAR,
            "scheduled",
        )
        assert (job["retries"], job["retry_interval"]) == (2, 60)

        [open_tx] = db.transactions.open()
        assert open_tx == TxRecord(
            local_id=1,
            connector=1,
            id_tag="LOCAL-TAG",
            meter_start=OPEN_METER_START,
            started_at="2024-05-01T10:00:00Z",
            transaction_id=OPEN_TX_ID,
            last_meter=OPEN_LAST_METER,
            last_at=OPEN_LAST_AT,
            stopped=False,
            reservation_id=None,
            events=1,  # 0007: a transaction stored before had queued at least its start
        )
        closed = db.transactions.get(2)
        assert closed is not None
        assert (closed.stopped, closed.transaction_id, closed.reservation_id) == (True, None, 8)
        assert (closed.meter_stop, closed.stop_reason) == (900, "Local")
        queued = db.queue.all()
        assert [(m.seq, m.action, m.local_tx, m.attempts) for m in queued] == [
            (2, "MeterValues", 1, 1),
            (3, "StartTransaction", 2, 0),
            (4, "StopTransaction", 2, 0),
            (5, "SecurityEventNotification", None, 0),
        ]
        assert queued[2] == QueuedMessage(
            4,
            "StopTransaction",
            {
                "idTag": "USED-TAG",
                "meterStop": 900,
                "timestamp": "2024-04-30T09:00:00Z",
                "reason": "Local",
            },
            2,
            0,
        )
        # Ids go on from where the release left them.
        assert db.queue.push("Heartbeat", {}, None) > 5
        assert db.transactions.begin(2, "NEW", 0, "2024-05-02T00:00:00Z") > 2
    assert user_version(old_store) == len(load_migrations())
    conn = sqlite3.connect(old_store)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_a_station_started_on_a_store_of_release_0005_ends_its_open_transaction(
    csms: DevCsms, make_station: StationFactory, old_store: Path
) -> None:
    station = make_station(csms, Internal={"DataDir": str(old_store.parent)})
    power_loss = csms.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "StopTransaction"
            and e.payload.get("reason") == "PowerLoss"
        ),
        10,
    )
    assert power_loss.payload["transactionId"] == OPEN_TX_ID
    assert power_loss.payload["meterStop"] == OPEN_LAST_METER
    assert power_loss.payload["timestamp"] == OPEN_LAST_AT
    # What the release had queued went first, in its order (the station's own
    # events of this start may come in between).
    before = [e for e in csms.log.calls(cp_id=CP, direction="in") if e.seq < power_loss.seq]
    assert before[0].action == "BootNotification"
    backlog = [
        e.action
        for e in before
        if e.action != "SecurityEventNotification"
        or e.payload["timestamp"] == "2024-05-01T09:59:00Z"
    ]
    assert [a for a in backlog if a not in ("BootNotification", "StatusNotification")] == [
        "MeterValues",
        "StartTransaction",
        "StopTransaction",
        "SecurityEventNotification",
    ]
    [values] = [e for e in before if e.action == "MeterValues"]
    assert values.payload["transactionId"] == OPEN_TX_ID
    [start] = [e for e in before if e.action == "StartTransaction"]
    [stop] = [e for e in before if e.action == "StopTransaction"]
    answer = csms.log.reply_to(start)
    assert answer is not None
    assert stop.payload["transactionId"] == answer.payload["transactionId"]
    assert (stop.payload["reason"], stop.payload["meterStop"]) == ("Local", 900)
    stopped = log_of(station).wait_for(
        lambda e: isinstance(e, TransactionStopped) and e.reason == "PowerLoss", 5
    )
    assert (stopped.evse, stopped.transaction_id) == (1, OPEN_TX_ID)
    assert station.status()["evses"][0]["transaction_id"] is None


def test_a_key_the_release_changed_keeps_its_value_on_a_station_started_on_its_store(
    csms: DevCsms, make_station: StationFactory, old_store: Path
) -> None:
    # The release stored HeartbeatInterval=600 by its 1.6 key; migration 0006
    # moved it to OCPPCommCtrlr.HeartbeatInterval, where the 1.6 view finds it.
    station = make_station(csms, Internal={"DataDir": str(old_store.parent)})
    log_of(station).wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Accepted", 10
    )
    answer = csms.call(CP, "GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert answer["configurationKey"] == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "600"}
    ]
    assert station.setting("HeartbeatInterval") == 600
