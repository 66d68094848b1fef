"""One EVSE's subtree: its hardware drivers and its connector, under a supervisor.

The connector speaks through `messages`, the version's EvseMessages.
"""

from __future__ import annotations

from typing import Any

from ocppstation.actors.evse.connector import Connector
from ocppstation.actors.evse.drivers import evse_hardware
from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.context import StationContext
from ocppstation.actors.runtime.supervisor import ChildSpec, Restart, Strategy, Supervisor
from ocppstation.protocol.evse_messages import EvseMessages


def evse_spec(
    ctx: StationContext, evse: int, started: set[int], messages: EvseMessages
) -> ChildSpec:
    # Only the connector's first start in this tree recovers transactions left
    # open by a previous run (PowerLoss); a later restart resumes them, also
    # one of the whole evses subtree after a crash of an actor before it.
    def connector(place: Place) -> Any:
        recover = evse not in started
        started.add(evse)
        return Connector.start(place, ctx, evse, messages, recover=recover)

    def parts(place: Place) -> Any:
        return Supervisor.start(
            place,
            # Board hub, then meter and any serial drivers (actors/drivers.py).
            [*evse_hardware(ctx, evse), ChildSpec("connector", connector)],
            strategy=Strategy.ONE_FOR_ONE,
            max_restarts=int(ctx.config.value("Internal", "EvseMaxRestarts")),
            period=float(ctx.config.value("Internal", "EvseRestartPeriod")),
            on_event=ctx.bus.publish,
            # Driver restart backoff runs on the station's clock.
            later=ctx.call_later,
        )

    # Temporary: an EVSE that exhausted its restarts stays down (reported
    # Faulted) instead of dragging the rest of the station with it.
    return ChildSpec(str(evse), parts, restart=Restart.TEMPORARY)


def reset_evse(ctx: StationContext, evse: int) -> None:
    """Stop EVSE `evse`'s drivers and connector and start them again (2.0.1
    B11/B12 with an evseId); one that had given up comes back as by revive.
    The registration block announces it either way."""
    if evse in ctx.given_up:
        revive(ctx, evse)
    elif ctx.given_up.restart is not None:
        ctx.given_up.restart(evse)


def revive(ctx: StationContext, evse: int) -> bool:
    """Start an EVSE that gave up again (an operator's call, or the CSMS making
    it Operative); False if it had not given up. Its supervisor is new, with
    its restart intensity whole; the registration block announces it."""
    if evse not in ctx.given_up or ctx.given_up.respawn is None:
        return False
    ctx.given_up.respawn(evse)
    return True
