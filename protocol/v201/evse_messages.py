"""OCPP 2.0.1's words for what an EVSE tells the CSMS (see protocol/evse_messages.py).

A transaction is TransactionEvent Started, Updated and Ended (E01-E15),
numbered by seqNo from 0, under the station's own transactionId; a status
is StatusNotification per connector (G01), in 2.0.1's five states. The
EVSE's status machine is 1.6's, finer than 2.0.1's: Preparing, Charging,
SuspendedEV, SuspendedEVSE and Finishing are all Occupied to the CSMS, and
the charging state inside a transaction says the rest (`state_changed`).

Each EVSE has one connector today, numbered 1 within it.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from ocpp.v201 import call
from ocpp.v201.datatypes import AdditionalInfoType, EVSEType, IdTokenType, TransactionType
from ocpp.v201.enums import (
    ChargingStateEnumType,
    ConnectorStatusEnumType,
    IdTokenEnumType,
    MeasurandEnumType,
    ReasonEnumType,
    TransactionEventEnumType,
    TriggerReasonEnumType,
)

from ocppstation.protocol.evse_messages import Outgoing, StartTrigger, TxRef
from ocppstation.protocol.payloads import action, dump
from ocppstation.protocol.txqueue import TransactionId

CONNECTOR = 1  # the connector's number within its EVSE

_STATUS = {
    "Available": ConnectorStatusEnumType.available,
    "Preparing": ConnectorStatusEnumType.occupied,
    "Charging": ConnectorStatusEnumType.occupied,
    "SuspendedEV": ConnectorStatusEnumType.occupied,
    "SuspendedEVSE": ConnectorStatusEnumType.occupied,
    "Finishing": ConnectorStatusEnumType.occupied,
    "Reserved": ConnectorStatusEnumType.reserved,
    "Unavailable": ConnectorStatusEnumType.unavailable,
    "Faulted": ConnectorStatusEnumType.faulted,
}

_CHARGING_STATE = {
    "Preparing": ChargingStateEnumType.ev_connected,
    "Charging": ChargingStateEnumType.charging,
    "SuspendedEV": ChargingStateEnumType.suspended_ev,
    "SuspendedEVSE": ChargingStateEnumType.suspended_evse,
    "Finishing": ChargingStateEnumType.ev_connected,
}

# 1.6's stop Reason -> 2.0.1's stoppedReason and the triggerReason of the Ended event.
_STOP: Mapping[str, tuple[ReasonEnumType, TriggerReasonEnumType]] = {
    "Local": (ReasonEnumType.local, TriggerReasonEnumType.stop_authorized),
    "Remote": (ReasonEnumType.remote, TriggerReasonEnumType.remote_stop),
    "EVDisconnected": (ReasonEnumType.ev_disconnected, TriggerReasonEnumType.ev_communication_lost),
    "DeAuthorized": (ReasonEnumType.de_authorized, TriggerReasonEnumType.deauthorized),
    "PowerLoss": (ReasonEnumType.power_loss, TriggerReasonEnumType.abnormal_condition),
    "EmergencyStop": (ReasonEnumType.emergency_stop, TriggerReasonEnumType.abnormal_condition),
    "HardReset": (ReasonEnumType.immediate_reset, TriggerReasonEnumType.reset_command),
    "SoftReset": (ReasonEnumType.immediate_reset, TriggerReasonEnumType.reset_command),
    "Reboot": (ReasonEnumType.reboot, TriggerReasonEnumType.reset_command),
    # 2.0.1 has no stoppedReason for an unlock; the trigger says it.
    "UnlockCommand": (ReasonEnumType.other, TriggerReasonEnumType.unlock_command),
    "Other": (ReasonEnumType.other, TriggerReasonEnumType.abnormal_condition),
    # Started by the authorization, and the EV never came (EVConnectionTimeOut).
    "Timeout": (ReasonEnumType.timeout, TriggerReasonEnumType.ev_connect_timeout),
    # 2.0.1 only: TxStopPoint EnergyTransfer ended it when the EV stopped drawing.
    "StoppedByEV": (ReasonEnumType.stopped_by_ev, TriggerReasonEnumType.charging_state_changed),
    # 2.0.1 only: a token of AuthCtrlr.MasterPassGroupId stopped every transaction (C16).
    "MasterPass": (ReasonEnumType.master_pass, TriggerReasonEnumType.stop_authorized),
}

_STOPPED_BY_TOKEN = frozenset({"Local", "MasterPass"})

_METER_TRIGGER = {
    "Sample.Periodic": TriggerReasonEnumType.meter_value_periodic,
    "Sample.Clock": TriggerReasonEnumType.meter_value_clock,
    "Trigger": TriggerReasonEnumType.trigger,
}

_MEASURANDS = frozenset(m.value for m in MeasurandEnumType)


def connector_status(status: str) -> ConnectorStatusEnumType:
    """2.0.1's word for the EVSE's (1.6-grained) status."""
    return _STATUS[status]


def sampled_value(value: Mapping[str, Any]) -> dict[str, Any] | None:
    """A 1.6-shaped sampled value in 2.0.1's shape (a number, unitOfMeasure);
    None for a measurand 2.0.1 does not have (Temperature, RPM)."""
    measurand = value.get("measurand", "Energy.Active.Import.Register")
    if measurand not in _MEASURANDS:
        return None
    out: dict[str, Any] = {"value": float(value["value"])}
    for key in ("context", "measurand", "phase", "location", "signedMeterValue"):
        if key in value:
            out[key] = value[key]
    if "unit" in value:
        out["unitOfMeasure"] = {"unit": value["unit"]}
    return out


def meter_values_201(values: Sequence[Mapping[str, Any]]) -> list[Any]:
    """1.6-shaped meterValue entries in 2.0.1's shape; entries left empty are dropped.

    Plain dicts, which `dump` takes as they are (the schema checks them).
    """
    out: list[Any] = []
    for entry in values:
        sampled = [s for v in entry["sampledValue"] if (s := sampled_value(v)) is not None]
        if sampled:
            out.append({"timestamp": entry["timestamp"], "sampledValue": sampled})
    return out


def id_token(
    value: str, token_type: str | None = None, additional: Sequence[tuple[str, str]] = ()
) -> IdTokenType:
    """An idToken; a card held to the reader is ISO14443 unless told otherwise.
    `additional` is its additionalInfo, (additionalIdToken, type) pairs."""
    kind = IdTokenEnumType(token_type) if token_type else IdTokenEnumType.iso14443
    info = [AdditionalInfoType(additional_id_token=a, type=t) for a, t in additional]
    return IdTokenType(id_token=value, type=kind, additional_info=info or None)


def _out(message: object) -> Outgoing:
    return Outgoing(action(message), dump(message))


def _transaction_id(tx: TxRef) -> str:
    if not isinstance(tx.transaction_id, str):
        raise TypeError(f"a 2.0.1 transactionId is the station's string, not {tx.transaction_id!r}")
    return tx.transaction_id


def _register(
    timestamp: str, wh: int, context: str, signed: Mapping[str, Any] | None = None
) -> Any:
    """A meterValue of the energy register alone, as a transaction's start or
    end has; with the meter's signature of it when SignReadings asks."""
    value: dict[str, Any] = {
        "value": float(wh),
        "context": context,
        "measurand": "Energy.Active.Import.Register",
        "unitOfMeasure": {"unit": "Wh"},
    }
    if signed is not None:
        value["signedMeterValue"] = dict(signed)
    return {"timestamp": timestamp, "sampledValue": [value]}


def _context(values: Sequence[Mapping[str, Any]]) -> str:
    for entry in values:
        for sampled in entry.get("sampledValue", ()):
            return str(sampled.get("context", "Sample.Periodic"))
    return "Sample.Periodic"


class V201EvseMessages:
    def new_transaction_id(self) -> TransactionId | None:
        # Unique without coordination (identifierString[36]): a restored
        # backup or a second station can never reuse one.
        return str(uuid.uuid4())

    def reported(self, status: str, error_code: str) -> Hashable:
        return connector_status(status)

    def status(self, connector: int, status: str, error_code: str, timestamp: str) -> Outgoing:
        return _out(
            call.StatusNotification(
                timestamp=timestamp,
                connector_status=connector_status(status),
                evse_id=connector,
                connector_id=CONNECTOR,
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
        signed: Mapping[str, Any] | None = None,
    ) -> Outgoing:
        return _out(
            call.TransactionEvent(
                event_type=TransactionEventEnumType.started,
                timestamp=timestamp,
                trigger_reason=TriggerReasonEnumType(trigger.value),
                seq_no=tx.seq_no,
                offline=tx.offline or None,
                transaction_info=TransactionType(
                    transaction_id=_transaction_id(tx),
                    charging_state=ChargingStateEnumType.ev_connected,
                    remote_start_id=remote_start_id,
                ),
                # None yet when the EV's connection started it (TxStartPoint EVConnected).
                id_token=id_token(id_tag, token_type) if id_tag else None,
                evse=EVSEType(id=connector, connector_id=CONNECTOR),
                meter_value=[_register(timestamp, meter_start_wh, "Transaction.Begin", signed)],
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
        stopped_reason, trigger = _STOP[reason]
        values = meter_values_201(data)
        if not any(
            s.get("context") == "Transaction.End" for entry in values for s in entry["sampledValue"]
        ):
            # The register at the end, which a CSMS bills by, even when no
            # TxEnded measurand asked for it.
            values.append(_register(timestamp, meter_stop_wh, "Transaction.End", signed))
        return _out(
            call.TransactionEvent(
                event_type=TransactionEventEnumType.ended,
                timestamp=timestamp,
                trigger_reason=trigger,
                seq_no=tx.seq_no,
                offline=tx.offline or None,
                transaction_info=TransactionType(
                    transaction_id=_transaction_id(tx),
                    charging_state=ChargingStateEnumType.idle,
                    stopped_reason=stopped_reason,
                ),
                evse=EVSEType(id=connector, connector_id=CONNECTOR),
                meter_value=values or None,
                # The token that stopped it (E07), a master pass's included (C16).
                id_token=id_token(id_tag) if reason in _STOPPED_BY_TOKEN else None,
            )
        )

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
        return _out(
            call.TransactionEvent(
                event_type=TransactionEventEnumType.updated,
                timestamp=timestamp,
                trigger_reason=TriggerReasonEnumType(trigger.value),
                seq_no=tx.seq_no,
                offline=tx.offline or None,
                transaction_info=TransactionType(transaction_id=_transaction_id(tx)),
                id_token=id_token(id_tag, token_type) if id_tag else None,
                evse=EVSEType(id=connector, connector_id=CONNECTOR),
            )
        )

    def state_changed(
        self, connector: int, status: str, timestamp: str, *, tx: TxRef, cause: str | None = None
    ) -> Outgoing | None:
        state = _CHARGING_STATE.get(status)
        if state is None:
            return None
        trigger = TriggerReasonEnumType.charging_state_changed
        if cause is not None:
            trigger = _STOP[cause][1]  # StopAuthorized, Deauthorized
        return _out(
            call.TransactionEvent(
                event_type=TransactionEventEnumType.updated,
                timestamp=timestamp,
                trigger_reason=trigger,
                seq_no=tx.seq_no,
                offline=tx.offline or None,
                transaction_info=TransactionType(
                    transaction_id=_transaction_id(tx), charging_state=state
                ),
            )
        )

    def meter_values(
        self,
        connector: int,
        values: Sequence[dict[str, Any]],
        transaction_id: TransactionId | None = None,
        *,
        tx: TxRef | None = None,
    ) -> Outgoing:
        converted = meter_values_201(values)
        if tx is None:
            # Outside a transaction (or asked for by a trigger): MeterValues (J01).
            return _out(call.MeterValues(evse_id=connector, meter_value=converted))
        return _out(
            call.TransactionEvent(
                event_type=TransactionEventEnumType.updated,
                timestamp=converted[0]["timestamp"] if converted else values[0]["timestamp"],
                trigger_reason=_METER_TRIGGER.get(
                    _context(values), TriggerReasonEnumType.meter_value_periodic
                ),
                seq_no=tx.seq_no,
                offline=tx.offline or None,
                transaction_info=TransactionType(transaction_id=_transaction_id(tx)),
                meter_value=converted or None,
            )
        )


EVSE_MESSAGES = V201EvseMessages()
