"""What every station actor is handed: the wiring, and the holders it shares.

Nothing here holds actor state: the holders (holders.py) keep what outlives
an actor's restart. Actors find each other by path through the registry
because a restart gives a new ref.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pykka

from ocppstation.actors.clock import Clock
from ocppstation.actors.events import EventBus
from ocppstation.actors.hooks.data_transfer import DataTransferHandlers
from ocppstation.actors.hooks.firmware import FirmwareHooks
from ocppstation.actors.runtime.holders import (
    GivenUp,
    RegistrationState,
    TlsHolder,
)
from ocppstation.actors.runtime.registry import Registry
from ocppstation.actors.runtime.scheduler import Arm, check_delay, check_interval, new_timer_id
from ocppstation.actors.settings.view import StationSettings
from ocppstation.config.loader import StationConfig
from ocppstation.config.settings_catalog import Setting
from ocppstation.hw.serial_io import ModbusBuses
from ocppstation.hw.simulated import SimulatedEvse

SCHEDULER = "scheduler"
STORAGE = "storage"
OUTBOX = "outbox"
PROFILES = "profiles"
AUTH = "auth"
LINK = "link"
RPC = "link/rpc"
WEBSOCKET = "link/websocket"
REGISTRATION = "registration"
REMOTE_CONTROL = "remote_control"
AVAILABILITY = "availability"
RESET = "reset"
DATA_TRANSFER = "data_transfer"
PRICING = "pricing"
PNC = "pnc"
REMOTE_TRIGGER = "remote_trigger"
TRANSACTIONS = "transactions"
RESERVATIONS = "reservations"
SECURITY = "security"
EVSES = "evses"


def evse_path(evse: int, part: str | None = None) -> str:
    base = f"{EVSES}/{evse}"
    return f"{base}/{part}" if part else base


def evse_of(path: str, part: str | None = None) -> int | None:
    """N for `evses/N` (part None) or `evses/N/part`; None for any other path."""
    pieces = path.split("/")
    if len(pieces) != (2 if part is None else 3) or pieces[0] != EVSES:
        return None
    if not pieces[1].isdigit() or (part is not None and pieces[2] != part):
        return None
    return int(pieces[1])


@dataclass(frozen=True)
class StationContext:
    config: StationConfig
    registry: Registry
    clock: Clock
    bus: EventBus
    hardware: Mapping[int, SimulatedEvse]
    rng: random.Random = field(default_factory=random.Random)
    data_transfer: DataTransferHandlers = field(default_factory=DataTransferHandlers)
    # The station's SQLite file; None keeps everything in memory (no recovery).
    database: Path | None = None
    # Where the station keeps its files (database, log, firmware); None: none.
    data_dir: Path | None = None
    # The Station's installer and log for the firmware and uploads actors, kept across trees.
    firmware: FirmwareHooks = field(default_factory=FirmwareHooks)
    # Registration with the CSMS for this run (see RegistrationState).
    registration: RegistrationState = field(default_factory=RegistrationState)
    # The EVSEs whose supervisor gave up in this run.
    given_up: GivenUp = field(default_factory=GivenUp)
    # Certificates for TLS (security profiles 2 and 3), kept by the security actor.
    tls: TlsHolder = field(default_factory=TlsHolder)
    # The open Modbus lines, shared by the meter drivers on each (hw/serial_io.py).
    buses: ModbusBuses = field(default_factory=ModbusBuses)
    # The settings: read through settings.view, written only by the settings actor.
    settings: StationSettings = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", StationSettings(self.config))

    def forward(
        self, target: pykka.ActorRef[Any], wanted: Callable[[object], object | None]
    ) -> Callable[[], None]:
        """Tell `target` the message `wanted(event)` for every bus event it maps to one.

        `wanted` returns None for events the actor does not care about. Returns
        the unsubscribe function, for the actor's teardown.
        """

        def on_event(event: object) -> None:
            message = wanted(event)
            if message is not None:
                try:
                    target.tell(message)
                except pykka.ActorDeadError:
                    pass  # stopped, and about to unsubscribe in its teardown

        return self.bus.subscribe(on_event)

    def forward_kinds(self, target: pykka.ActorRef[Any], *kinds: type) -> Callable[[], None]:
        """`forward` of every bus event of one of `kinds`, as it is."""
        return self.forward(target, lambda e: e if isinstance(e, kinds) else None)

    def setting(self, setting: Setting, default: Any) -> Any:
        """The current value of `setting`, or `default` if the station lacks it."""
        return self.settings.view.get(setting, default)

    def call_later(self, delay: float, target: pykka.ActorRef[Any], message: object) -> int:
        """Arm a one-shot timer; a target that stops first simply misses it.

        Told, not asked: a timer per CALL and per sample must not cost a
        round trip. Raises LookupError while the scheduler is not running
        (its restart restarts the armer, which arms anew).
        """
        check_delay(delay)
        return self._arm(Arm(new_timer_id(), target, message, self.clock.monotonic() + delay))

    def call_every(self, interval: float, target: pykka.ActorRef[Any], message: object) -> int:
        check_interval(interval)
        origin = self.clock.monotonic() + interval
        return self._arm(Arm(new_timer_id(), target, message, origin, interval))

    def _arm(self, arm: Arm) -> int:
        if not self.registry.tell(SCHEDULER, arm):
            msg = f"no live actor registered at {SCHEDULER!r}"
            raise LookupError(msg)
        return arm.timer_id

    def cancel(self, timer_id: int | None) -> None:
        if timer_id is None:
            return
        try:
            self._scheduler().cancel(timer_id)  # no need to wait for it
        except (LookupError, pykka.ActorDeadError):
            pass  # the scheduler is restarting: its timers went with it

    def _scheduler(self) -> Any:
        return self.registry.proxy(SCHEDULER)

    def snapshots(self, evses: Iterable[int], timeout: float) -> dict[int, dict[str, Any]]:
        """The state of each running connector among `evses`, asked in parallel.

        A connector that is not running or does not answer within `timeout`
        (all of them together) is left out: it is restarting.
        """
        futures = {}
        for evse in evses:
            ref = self.registry.get(evse_path(evse, "connector"))
            if ref is not None:
                futures[evse] = self.registry.proxy(evse_path(evse, "connector")).snapshot()
        deadline = time.monotonic() + timeout
        states: dict[int, dict[str, Any]] = {}
        for evse, future in futures.items():
            try:
                states[evse] = future.get(timeout=max(deadline - time.monotonic(), 0.001))
            except Exception:  # restarting (or gone meanwhile): not there this time
                continue
        return states

    def storage(self) -> Any:
        """The storage actor's proxy: every write has committed when its future resolves."""
        return self.registry.proxy(STORAGE)
