"""A transaction as the EVSE keeps it while it runs, whatever the version,
and how one the EVSE can no longer run is ended from the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ocppstation.actors.events import TransactionStopped
from ocppstation.actors.link.outbox import tell_stored
from ocppstation.actors.runtime.context import StationContext
from ocppstation.actors.storage.transactions import TxRecord
from ocppstation.hw.ports import MeterReading
from ocppstation.protocol.evse_messages import EvseMessages, TxRef
from ocppstation.protocol.txqueue import TransactionId

STORAGE_TIMEOUT = 10.0


@dataclass
class Transaction:
    id_tag: str
    meter_start: int
    local_id: int  # ours, in the database; the CSMS's id comes later
    transaction_id: TransactionId | None = None  # 1.6: None until the CSMS answers
    parent_id_tag: str | None = None
    # meterValue entries for StopTransaction's transactionData (StopTxn*Data).
    data: list[dict[str, Any]] = field(default_factory=list)
    energy_cap_wh: float | None = None  # MaxEnergyOnInvalidId, once the CSMS refused the tag
    events: int = 1  # messages queued for it: the next one's place (its start is 0)
    # 2.0.1's TxStartPoint may start it before both conditions of power hold:
    # what it still waits for ("authorization", "ev"), or None once charging may run.
    pending: str | None = None
    # 2.0.1: the driver ended the authorization, but no TxStopPoint ended the
    # transaction with it (e.g. EVConnected alone): it runs on without energy.
    deauthorized: bool = False
    # 2.0.1 PublicKeyWithSignedMeterValue OncePerTransaction: the meter's key
    # went with a signed value of it. In memory: after a connector restart the
    # next signed value carries it again, which costs a CSMS nothing.
    public_key_sent: bool = False
    # The token that ended the authorization, when not the one that began it
    # (one of its group, a master pass).
    stopped_by: str | None = None

    def ref(self, offline: bool = False) -> TxRef:
        """The reference its next message would have, not yet counted."""
        return TxRef(self.transaction_id, self.events, offline)

    def next_ref(self, offline: bool = False) -> TxRef:
        """The reference of its next message; counted as queued (storage counts it too)."""
        ref = self.ref(offline)
        self.events += 1
        return ref

    def over_energy_cap(self, reading: MeterReading) -> bool:
        return self.energy_cap_wh is not None and reading.energy_wh >= self.energy_cap_wh

    def held_back(self, reading: MeterReading) -> bool:
        """No energy for it whatever the EV or the limit says."""
        return self.deauthorized or self.over_energy_cap(reading)


def end_stored(
    ctx: StationContext, messages: EvseMessages, record: TxRecord, reason: str, at: str
) -> None:
    """End a transaction the database says is open, at its last known meter
    value: stored and queued in one commit, then the outbox and the bus told.

    For one whose EVSE cannot end it itself: left by a previous run (PowerLoss,
    at `record.last_at`), or on an EVSE that gave up (Other, now).
    """
    stop = messages.stopped(
        record.id_tag,
        record.last_meter,
        at,
        reason,
        connector=record.connector,
        tx=TxRef(record.transaction_id, record.events, not ctx.registration.online),
    )
    seq = (
        ctx.storage()
        .transactions.end_and_queue(
            record.local_id, record.last_meter, at, reason, stop.action, stop.payload
        )
        .get(timeout=STORAGE_TIMEOUT)
    )
    if not tell_stored(ctx, seq, stop.action, stop.payload, record.local_id, record.connector):
        logging.getLogger("ocppstation.evse").warning(
            "outbox not running; %s #%d waits in the database", stop.action, seq
        )
    ctx.bus.publish(
        TransactionStopped(record.connector, record.transaction_id, reason, record.last_meter)
    )
