"""Write tests/data/release_0005.sqlite: a station database as release 30ca844 left it.

The file is what tests/test_storage_upgrade.py opens with today's code: one
row (or a few) in every table of schema version 5, made through the storage
actor of that release, so that the upgrade test checks a real file and not
one assembled by hand. Run from a checkout of commit 30ca844 (the last one
with the flat ``Storage`` API)::

    git worktree add /tmp/release 30ca844
    cd /tmp/release && python -m tests.data.make_release_store tests/data/release_0005.sqlite

The script is kept as the record of how the file was made; it only runs
against that release, whose method names it calls through the proxy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.registry import Registry
from ocppstation.actors.storage.db import Storage
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v16.firmware import FirmwareJob
from tests.pki import Ca

WAIT = 10.0

# What the upgrade test expects back; it reads the same names from here.
OPEN_TX_ID = 4242  # the CSMS's transactionId of the open transaction
OPEN_METER_START = 1000
OPEN_LAST_METER = 1750
OPEN_LAST_AT = "2024-05-01T10:15:00Z"
FAR = "2099-01-01T00:00:00Z"


def write(path: Path) -> None:
    ref = Storage.start(Place("storage", None, Registry()), path)
    storage: Any = ref.proxy()

    def ask(name: str, *args: Any) -> Any:
        return getattr(storage, name)(*args).get(timeout=WAIT)

    ask("put_config", "HeartbeatInterval", "600")
    ask("put_config", "LocalAuthListEnabled", "true")
    ask("put_availability", 2, "Inoperative")
    ask("cache_put", "CACHED-TAG", {"status": "Accepted", "expiryDate": FAR})
    ask(
        "local_list_replace",
        3,
        [
            {"idTag": "LOCAL-TAG", "idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}},
            {"idTag": "BLOCKED-TAG", "idTagInfo": {"status": "Blocked"}},
        ],
    )
    ask("reservation_put", 7, 2, "RESERVED-TAG", "FLEET", FAR)
    ask("reservation_put", 8, 1, "USED-TAG", None, FAR)  # used up by the closed transaction
    ask(
        "charging_profile_put",
        1,
        {
            "chargingProfileId": 11,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            },
        },
        [],
    )
    ca = Ca("release 0005 root")
    own = ca.client("cp-test")
    ask("certificate_put", "CentralSystemRootCertificate", ca.pem)
    ask("certificate_put", "ChargePointCertificate", own.cert_pem, own.key_pem)
    ask("csr_key_put", ca.client("cp-test-next").key_pem)
    job = FirmwareJob("http://firmware.invalid/fw.bin", FAR, retries=2, retry_interval=60)
    ask("put_firmware_job", job.to_json())

    # A transaction the CSMS knows, still open: its StartTransaction was
    # answered (and so left the queue), its last MeterValues was not.
    start = call.StartTransaction(1, "LOCAL-TAG", OPEN_METER_START, "2024-05-01T10:00:00Z")
    open_tx, start_seq = ask(
        "tx_begin_and_queue",
        1,
        "LOCAL-TAG",
        OPEN_METER_START,
        start.timestamp,
        None,
        "StartTransaction",
        dump(start),
    )
    ask("tx_set_id", open_tx, OPEN_TX_ID)
    ask("queue_delete", start_seq)
    values = call.MeterValues(
        1,
        [{"timestamp": OPEN_LAST_AT, "sampledValue": [{"value": str(OPEN_LAST_METER)}]}],
        OPEN_TX_ID,
    )
    seq = ask(
        "tx_meter_and_queue", open_tx, OPEN_LAST_METER, OPEN_LAST_AT, "MeterValues", dump(values)
    )
    ask("queue_attempted", seq, 1)

    # A transaction made and ended offline on the reservation it used: both
    # its messages wait, and the stop carries no transactionId yet (the
    # outbox fills it in once the start is answered).
    start = call.StartTransaction(1, "USED-TAG", 500, "2024-04-30T08:00:00Z", reservation_id=8)
    closed_tx, _ = ask(
        "tx_begin_and_queue",
        1,
        "USED-TAG",
        500,
        start.timestamp,
        8,
        "StartTransaction",
        dump(start),
    )
    stop = {
        "idTag": "USED-TAG",
        "meterStop": 900,
        "timestamp": "2024-04-30T09:00:00Z",
        "reason": "Local",
    }
    ask("tx_end_and_queue", closed_tx, 900, stop["timestamp"], "Local", "StopTransaction", stop)

    event = call.SecurityEventNotification("StartupOfTheDevice", "2024-05-01T09:59:00Z", None)
    ask("queue_push", "SecurityEventNotification", dump(event), None)
    ref.stop(timeout=WAIT)


if __name__ == "__main__":
    write(Path(sys.argv[1]))
