"""OCPP 1.6's words for what an EVSE tells the CSMS (see protocol/evse_messages.py).

Built through the `ocpp` package's call dataclasses, so a field name or an
enum value is checked, except StopTransaction: it is stored before the CSMS
has given the transaction its id, and the id goes in at send time
(protocol/v16/txqueue.py); the package's dataclass requires one, so the
stored form is our own TypedDict.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from ocpp.v16 import call
from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus, Reason

from ocppstation.protocol.evse_messages import Outgoing, StartTrigger, TxRef
from ocppstation.protocol.payloads import action, dump
from ocppstation.protocol.txqueue import TransactionId


class StoredStop(TypedDict):
    """A StopTransaction as queued: everything but the CSMS's transactionId."""

    idTag: str
    meterStop: int
    timestamp: str
    reason: str
    transactionData: NotRequired[list[dict[str, Any]]]


def _out(message: object) -> Outgoing:
    return Outgoing(action(message), dump(message))


class V16EvseMessages:
    def new_transaction_id(self) -> TransactionId | None:
        return None  # the CSMS gives it, in its StartTransaction answer

    def reported(self, status: str, error_code: str) -> Hashable:
        return (status, error_code)

    def status(self, connector: int, status: str, error_code: str, timestamp: str) -> Outgoing:
        return _out(
            call.StatusNotification(
                connector_id=connector,
                error_code=ChargePointErrorCode(error_code),
                status=ChargePointStatus(status),
                timestamp=timestamp,
            )
        )

    def started(
        self,
        connector: int,
        id_tag: str,
        meter_start_wh: int,
        timestamp: str,
        reservation_id: int | None,
        *,
        tx: TxRef,
        trigger: StartTrigger = StartTrigger.AUTHORIZED,
        remote_start_id: int | None = None,
        token_type: str | None = None,
        signed: Mapping[str, Any] | None = None,  # 1.6 has no signed register
    ) -> Outgoing:
        return _out(
            call.StartTransaction(
                connector_id=connector,
                id_tag=id_tag,
                meter_start=meter_start_wh,
                timestamp=timestamp,
                reservation_id=reservation_id,
            )
        )

    def stopped(
        self,
        id_tag: str,
        meter_stop_wh: int,
        timestamp: str,
        reason: str,
        data: Sequence[dict[str, Any]] = (),
        *,
        connector: int,
        tx: TxRef,
        signed: Mapping[str, Any] | None = None,
    ) -> Outgoing:
        stop = StoredStop(
            idTag=id_tag, meterStop=meter_stop_wh, timestamp=timestamp, reason=Reason(reason).value
        )
        if data:
            stop["transactionData"] = list(data)
        return Outgoing("StopTransaction", dict(stop))

    def joined(
        self,
        connector: int,
        timestamp: str,
        *,
        tx: TxRef,
        trigger: StartTrigger,
        id_tag: str | None = None,
        token_type: str | None = None,
    ) -> Outgoing | None:
        return None  # 1.6 starts a transaction once both conditions hold

    def state_changed(
        self, connector: int, status: str, timestamp: str, *, tx: TxRef, cause: str | None = None
    ) -> Outgoing | None:
        return None  # StatusNotification says it

    def meter_values(
        self,
        connector: int,
        values: Sequence[dict[str, Any]],
        transaction_id: TransactionId | None = None,
        *,
        tx: TxRef | None = None,
    ) -> Outgoing:
        # In a transaction its id is put in at send time (protocol/v16/txqueue.py).
        if isinstance(transaction_id, str):
            raise TypeError(f"a 1.6 transactionId is the CSMS's integer, not {transaction_id!r}")
        return _out(
            call.MeterValues(
                connector_id=connector, meter_value=list(values), transaction_id=transaction_id
            )
        )


EVSE_MESSAGES = V16EvseMessages()
