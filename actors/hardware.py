"""Board and meter actors: the drivers between an EVSE and its hardware.

Here they drive the simulated hardware; serial drivers will stand behind the
same messages. The hardware outlives these actors, so a restarted driver
reads the present state and tells the connector again instead of assuming.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pykka

from ocppstation.actors.base import Place, Supervised
from ocppstation.actors.context import StationContext, evse_path
from ocppstation.hw.simulated import HwState


@dataclass(frozen=True)
class HwChanged:
    """Board to connector: the pilot or fault state is now `state`."""

    state: HwState


@dataclass(frozen=True)
class AllowPower:
    on: bool


@dataclass(frozen=True)
class ReadHw:
    pass


@dataclass(frozen=True)
class Unlock:
    """Ask: release the cable lock; answers "Unlocked", "UnlockFailed" or "NotSupported"."""


@dataclass(frozen=True)
class ReadMeter:
    pass


class Board(Supervised):
    def __init__(self, place: Place, ctx: StationContext, evse: int) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.evse = evse
        self.hw = ctx.hardware[evse]
        self._unsubscribe = lambda: None

    def setup(self) -> None:
        me = self.actor_ref

        def on_change(state: HwState) -> None:
            try:
                me.tell(HwChanged(state))
            except pykka.ActorDeadError:
                pass  # between a crash and teardown; the successor reads the state anew

        self._unsubscribe = self.hw.subscribe(on_change)
        self._forward(self.hw.state())

    def teardown(self) -> None:
        self._unsubscribe()

    def receive(self, message: Any) -> Any:
        match message:
            case HwChanged():
                self._forward(message.state)
            case AllowPower():
                self.hw.allow_power(message.on, self.ctx.clock.monotonic())
            case ReadHw():
                return self.hw.state()
            case Unlock():
                return "Unlocked" if self.hw.unlock(self.ctx.clock.monotonic()) else "UnlockFailed"
            case _:
                return super().receive(message)
        return None

    def _forward(self, state: HwState) -> None:
        self.ctx.registry.tell(evse_path(self.evse, "connector"), HwChanged(state))


class Meter(Supervised):
    def __init__(self, place: Place, ctx: StationContext, evse: int) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.hw = ctx.hardware[evse]

    def receive(self, message: Any) -> Any:
        if isinstance(message, ReadMeter):
            return self.hw.read(self.ctx.clock.monotonic())
        return super().receive(message)
