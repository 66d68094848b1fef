"""A connector's meter values: its timers, the meter readings and the MeterValues.

`Metering` is not an actor but a part of the connector, running on its
thread: the timers it arms target the connector, whose `receive()` hands
`Sample` and `Aligned` back to it. The transaction stays the connector's;
what is sampled, and how it goes on the wire, is the pure
`protocol.v16.metering`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from ocppstation.actors.evse.hardware import ReadMeter, ReadOffered
from ocppstation.actors.evse.transaction import Transaction
from ocppstation.actors.link.rpc import submit
from ocppstation.actors.runtime.context import StationContext, evse_path
from ocppstation.config.settings_catalog import Setting
from ocppstation.hw.ports import MeterReading
from ocppstation.protocol.evse_messages import EvseMessages
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.metering import (
    meter_value,
    next_aligned,
    parse_measurands,
    register_wh,
    sampled_values,
    signed_meter_value,
)

# A storage write is an fsync; generous, since a slow flash card is not a bug.
STORAGE_TIMEOUT = 10.0
# meterValue entries kept for one StopTransaction's transactionData.
TRANSACTION_DATA_LIMIT = 100

# How a connector queues a transaction message: seq, action, payload, local id.
Enqueue = Callable[[int, str, dict[str, Any], int], None]


@dataclass(frozen=True)
class Sample:
    """MeterValueSampleInterval is up (a periodic timer, only during a transaction)."""


@dataclass(frozen=True)
class Aligned:
    """A ClockAlignedDataInterval boundary."""


class Metering:
    def __init__(
        self,
        ctx: StationContext,
        evse: int,
        messages: EvseMessages,
        actor_ref: pykka.ActorRef[Any],
        log: logging.Logger,
        enqueue: Enqueue,
    ) -> None:
        self.ctx = ctx
        self.evse = evse
        self.messages = messages
        self.actor_ref = actor_ref
        self.log = log
        self.enqueue = enqueue
        self.sample_timer: int | None = None
        self.aligned_timer: int | None = None
        self.last_reading = MeterReading(energy_wh=0.0, power_w=0.0)

    # -- timers ------------------------------------------------------------------

    def arm_sampling(self, running: bool) -> None:
        """(Re)arm MeterValueSampleInterval; `running` is whether a transaction is."""
        self.stop_sampling()
        interval = int(self.ctx.setting(Setting.SAMPLE_INTERVAL, 60))
        if running and interval > 0:
            self.sample_timer = self.ctx.call_every(interval, self.actor_ref, Sample())

    def stop_sampling(self) -> None:
        self.ctx.cancel(self.sample_timer)
        self.sample_timer = None

    def arm_aligned(self) -> None:
        self.ctx.cancel(self.aligned_timer)
        self.aligned_timer = None
        interval = int(self.ctx.setting(Setting.ALIGNED_INTERVAL, 0))
        if interval <= 0:
            return
        wall = self.ctx.clock.wall()
        delay = (next_aligned(wall, interval) - wall).total_seconds()
        self.aligned_timer = self.ctx.call_later(delay, self.actor_ref, Aligned())

    def cancel(self) -> None:
        self.ctx.cancel(self.sample_timer)
        self.ctx.cancel(self.aligned_timer)

    # -- readings ----------------------------------------------------------------

    def read(self) -> MeterReading:
        try:
            self.last_reading = self.ctx.registry.ask(
                evse_path(self.evse, "meter"), ReadMeter(), timeout=2
            )
        except Exception as exc:  # a restarting meter must not end the session
            self.log.warning("meter unreadable (%s); using the last reading", exc)
        return self.last_reading

    def offered(self) -> float | None:
        """The current the board offers the EV now: smart charging's limit, or its rating."""
        try:
            amps = self.ctx.registry.ask(evse_path(self.evse, "board"), ReadOffered(), timeout=2)
        except Exception:  # a restarting board: Current.Offered is left out this once
            return None
        return None if amps is None else float(amps)

    # -- meter values ------------------------------------------------------------

    def sample(
        self, tx: Transaction, stored: Callable[[MeterReading], None] | None = None
    ) -> MeterReading:
        """Sample.Periodic values, sent and kept for the stop; the reading they show.
        `stored(reading)` runs once the values are durable (at once if none were sent)."""
        reading = self.read()
        now = self._now()
        self._send(tx, reading, Setting.SAMPLED_MEASURANDS, "Sample.Periodic", now, stored)
        self.keep_for_stop(tx, reading, Setting.SAMPLED_MEASURANDS_AT_END, "Sample.Periodic", now)
        return reading

    def aligned(self, tx: Transaction | None) -> None:
        """Sample.Clock values, in a transaction or not, and the timer for the next."""
        self.arm_aligned()
        reading = self.read()
        now = self._now()
        self._send(tx, reading, Setting.ALIGNED_MEASURANDS, "Sample.Clock", now)
        if tx is not None:
            self.keep_for_stop(tx, reading, Setting.ALIGNED_MEASURANDS_AT_END, "Sample.Clock", now)

    def triggered(self, tx: Transaction | None, context: str = "Trigger") -> None:
        """A MeterValues on request: sent now, not queued (it answers a question)."""
        reading = self.read()
        sampled = self._sampled(reading, Setting.SAMPLED_MEASURANDS, context, tx)
        if sampled:
            transaction_id = tx.transaction_id if tx is not None else None
            values = self.messages.meter_values(
                self.evse, [meter_value(self._now(), sampled)], transaction_id
            )
            submit(self.ctx, values.action, values.payload)

    def keep_for_stop(
        self, tx: Transaction, reading: MeterReading, key: Setting, context: str, now: str
    ) -> None:
        """Add the values `key` asks for to the StopTransaction's transactionData."""
        sampled = self._sampled(reading, key, context, tx, kept=True)
        if sampled:
            tx.data.append(meter_value(now, sampled))
            if len(tx.data) > TRANSACTION_DATA_LIMIT:
                # A long session must not grow one message without bound: keep
                # the Transaction.Begin entry and the most recent ones.
                del tx.data[1]

    def _send(
        self,
        tx: Transaction | None,
        reading: MeterReading,
        key: Setting,
        context: str,
        now: str,
        stored: Callable[[MeterReading], None] | None = None,
    ) -> None:
        sampled = self._sampled(reading, key, context, tx)
        if (not sampled or tx is None) and stored is not None:
            stored(reading)  # nothing of it waits for the storage
        if not sampled:
            return
        # In 1.6 queued without the transaction's id: the outbox puts it in when it sends.
        ref = tx.next_ref(not self.ctx.registration.online) if tx is not None else None
        values = self.messages.meter_values(self.evse, [meter_value(now, sampled)], tx=ref)
        if tx is None:
            # Outside a transaction meter values are not transaction messages:
            # sent if online, not queued (1.6 4.7).
            submit(self.ctx, values.action, values.payload)
            return
        # Not waited for (the hot path: one per EVSE and interval): storage
        # tells the outbox once the values are durable, after a group commit.
        action, payload, local_id = values.action, values.payload, tx.local_id

        def durable(seq: int) -> None:
            self.enqueue(seq, action, payload, local_id)
            if stored is not None:
                stored(reading)

        self.ctx.storage().transactions.meter_and_queue_then(
            local_id, register_wh(reading), now, action, payload, durable
        )

    def signed_register(
        self, reading: MeterReading, tx: Transaction | None
    ) -> dict[str, Any] | None:
        """The signedMeterValue of a transaction's start or end register, when
        SampledDataCtrlr.SignReadings asks and the meter signs; `tx` None is
        the start (the transaction's first value, made before its Transaction)."""
        if reading.signed is None or not bool(
            self.ctx.setting(Setting.SIGN_SAMPLED_READINGS, False)
        ):
            return None
        public = self._public_key(tx, kept=False)
        if public and tx is not None:
            tx.public_key_sent = True
        return signed_meter_value(reading.signed, public)

    def _public_key(self, tx: Transaction | None, *, kept: bool) -> bool:
        """Whether the meter's public key goes with a signed value now
        (PublicKeyWithSignedMeterValue). OncePerTransaction: with the first
        one sent of a transaction; values kept for its end are sent last, so
        they carry it never (the start register, signed too, always went first)."""
        with_key = self.ctx.setting(Setting.PUBLIC_KEY_WITH_SIGNED_METER_VALUE, "Never")
        if with_key == "Never":
            return False
        if with_key != "OncePerTransaction" or tx is None:
            return True  # outside a transaction there is no once to keep to
        return not kept and not tx.public_key_sent

    def _sampled(
        self,
        reading: MeterReading,
        key: Setting,
        context: str,
        tx: Transaction | None = None,
        *,
        kept: bool = False,
    ) -> list[dict[str, Any]]:
        measurands = self._measurands(key)
        offered = self.offered() if "Current.Offered" in measurands else None
        aligned = key in (Setting.ALIGNED_MEASURANDS, Setting.ALIGNED_MEASURANDS_AT_END)
        sign = Setting.SIGN_ALIGNED_READINGS if aligned else Setting.SIGN_SAMPLED_READINGS
        public = self._public_key(tx, kept=kept)
        values = sampled_values(
            reading,
            measurands,
            context,
            offered_a=offered,
            signed=bool(self.ctx.setting(sign, False)),
            public_key=public,
        )
        signed_one = any("signedMeterValue" in v for v in values)
        if public and tx is not None and not kept and signed_one:
            tx.public_key_sent = True
        return values

    def _measurands(self, key: Setting) -> list[str]:
        value = self.ctx.setting(key, "")
        text = value if isinstance(value, str) else ",".join(value)
        return parse_measurands(text)

    def _now(self) -> str:
        return ocpp_timestamp(self.ctx.clock.wall())
