"""What an EVSE tells the CSMS, as the version in use words it.

The connector knows what happened (a status, a transaction begun or ended,
meter values sampled); an `EvseMessages` turns that into the version's
message. 1.6's is protocol/v16/evse_messages.py; the tree hands the
connector the one for the version in use, so the EVSE builds no payload.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from ocppstation.protocol.txqueue import TransactionId


@dataclass(frozen=True)
class Outgoing:
    """A CALL to send (or to queue): its action and its wire payload."""

    action: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class TxRef:
    """Which transaction a message is about, and its place in that transaction."""

    # 2.0.1: the station's own id, known from the start; 1.6: the CSMS's,
    # None until its StartTransaction is answered (put in at send time).
    transaction_id: TransactionId | None
    seq_no: int  # 0 for the message that opens it; 2.0.1's seqNo
    offline: bool = False  # what it reports happened while the CSMS could not hear it


class StartTrigger(StrEnum):
    """What completed the conditions of a transaction's start."""

    AUTHORIZED = "Authorized"
    CABLE_PLUGGED_IN = "CablePluggedIn"
    REMOTE_START = "RemoteStart"


class EvseMessages(Protocol):
    def new_transaction_id(self) -> TransactionId | None:
        """The id of a transaction starting now, if the station gives it (2.0.1)."""
        ...

    def status(self, connector: int, status: str, error_code: str, timestamp: str) -> Outgoing:
        """The connector's status changed (or the CSMS asked for it).

        `status` and `error_code` are 1.6's words (the EVSE's status machine
        is the finer one); a version with fewer maps them.
        """
        ...

    def reported(self, status: str, error_code: str) -> Hashable:
        """What the CSMS is told of this status: two that tell it the same
        need not both be sent."""
        ...

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
        signed: Mapping[str, Any] | None = None,
    ) -> Outgoing:
        """A transaction began (queued: it must reach the CSMS). `signed` is
        the meter's signature of the start register, where the version
        carries one (2.0.1's signedMeterValue)."""
        ...

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
        """The condition a transaction started without arrived (the driver's
        authorization, `id_tag`, or the EV): the message that says so, or None
        where a transaction never starts early (1.6)."""
        ...

    def state_changed(
        self, connector: int, status: str, timestamp: str, *, tx: TxRef, cause: str | None = None
    ) -> Outgoing | None:
        """The status changed inside a transaction: the message that says
        so (2.0.1's charging state), or None where the status says it all.
        `cause` is a stop Reason (Local, DeAuthorized) that ended the
        authorization but not the transaction (2.0.1 TxStopPoint)."""
        ...

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
        """A transaction ended (`reason` is 1.6's Reason), with the meter
        values kept for its end; `signed` as for `started`, of the end register."""
        ...

    def meter_values(
        self,
        connector: int,
        values: Sequence[dict[str, Any]],
        transaction_id: TransactionId | None = None,
        *,
        tx: TxRef | None = None,
    ) -> Outgoing:
        """Meter values sampled on the connector, in a transaction (`tx`, queued
        with it) or not. `transaction_id` is for one sent at once (a trigger)."""
        ...
