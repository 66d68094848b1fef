"""A transaction as the EVSE keeps it while it runs, whatever the version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ocppstation.hw.ports import MeterReading
from ocppstation.protocol.txqueue import TransactionId


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

    def over_energy_cap(self, reading: MeterReading) -> bool:
        return self.energy_cap_wh is not None and reading.energy_wh >= self.energy_cap_wh
