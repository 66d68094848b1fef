"""The OCPP 1.6 station tree: what runs, in which order, and why.

    (root)            rest_for_one: later children depend on earlier ones
      scheduler, storage, settings, auth, outbox, security, profiles,
      link (rpc, websocket), evses (N: board, drivers, connector),
      reservations, firmware, uploads, chargepoint, reader
"""

from __future__ import annotations

from typing import Any

from ocppstation.actors.evse.drivers import check_hardware, station_reader
from ocppstation.actors.evse.tree import evse_spec
from ocppstation.actors.link.outbox import Outbox
from ocppstation.actors.link.rpc import Rpc
from ocppstation.actors.link.websocket import WebSocketLink
from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.context import (
    AUTH,
    EVSES,
    OUTBOX,
    PROFILES,
    RESERVATIONS,
    SECURITY,
    STORAGE,
    StationContext,
)
from ocppstation.actors.runtime.scheduler import Scheduler
from ocppstation.actors.runtime.supervisor import ChildSpec, Strategy, Supervisor
from ocppstation.actors.storage.db import Storage
from ocppstation.actors.v16.authorization import Auth
from ocppstation.actors.v16.chargepoint import ChargePoint
from ocppstation.actors.v16.configuration import SETTINGS, Settings
from ocppstation.actors.v16.diagnostics import UPLOADS, Uploads
from ocppstation.actors.v16.firmware_management import FIRMWARE, Firmware
from ocppstation.actors.v16.reservation import Reservations
from ocppstation.actors.v16.routes import ROUTES
from ocppstation.actors.v16.security import Security, check_provisioning
from ocppstation.actors.v16.smart_charging import Profiles


def station_tree(ctx: StationContext) -> list[ChildSpec]:
    publish = ctx.bus.publish
    # A wrong Hardware section, a missing port or an unreadable certificate file
    # stops the start here, before anything runs.
    check_hardware(ctx)
    check_provisioning(ctx.config)
    reader = station_reader(ctx)

    def link(place: Place) -> Any:
        return Supervisor.start(
            place,
            [
                ChildSpec("rpc", lambda p: Rpc.start(p, ctx, ROUTES)),
                ChildSpec("websocket", lambda p: WebSocketLink.start(p, ctx)),
            ],
            strategy=Strategy.REST_FOR_ONE,
            on_event=publish,
        )

    # Outlives restarts of the evses subtree (see _evse_spec): the specs do not.
    started: set[int] = set()

    def evses(place: Place) -> Any:
        specs = [evse_spec(ctx, n, started) for n in ctx.config.evse_numbers]
        return Supervisor.start(place, specs, strategy=Strategy.ONE_FOR_ONE, on_event=publish)

    return [
        ChildSpec("scheduler", lambda p: Scheduler.start(p, ctx.clock)),
        ChildSpec(STORAGE, lambda p: Storage.start(p, ctx.database)),
        # Right after storage (its overlay) and before every reader of the view.
        ChildSpec(SETTINGS, lambda p: Settings.start(p, ctx)),
        # Before the link: a link restart must not drop the queue's in-flight state.
        ChildSpec(AUTH, lambda p: Auth.start(p, ctx)),
        ChildSpec(OUTBOX, lambda p: Outbox.start(p, ctx)),
        # Before the link: the first connection needs its certificates (ctx.tls).
        ChildSpec(SECURITY, lambda p: Security.start(p, ctx)),
        # Before the EVSEs: their boards ask it for the current to offer when
        # they start, and a restart of it (rest_for_one) brings them up to date.
        ChildSpec(PROFILES, lambda p: Profiles.start(p, ctx)),
        ChildSpec("link", link),
        ChildSpec(EVSES, evses),
        # After the EVSEs, so that their crashes never take a running
        # transaction down. Both only tell connectors, and on start tell them
        # what they hold (reservations, a firmware hold), so a connector that
        # started before them, or asked while they restarted, loses nothing.
        ChildSpec(RESERVATIONS, lambda p: Reservations.start(p, ctx)),
        ChildSpec(FIRMWARE, lambda p: Firmware.start(p, ctx)),
        # After the EVSEs as well, so that its crashes never take a running
        # transaction down; it tells no connector, and its crash restarts
        # only what comes after it (rest_for_one).
        ChildSpec(UPLOADS, lambda p: Uploads.start(p, ctx)),
        # Before the chargepoint's first announce every connector holds its
        # reservations; its crash (it only re-announces) touches nothing else.
        ChildSpec("chargepoint", lambda p: ChargePoint.start(p, ctx)),
        # Last: it tells connectors, and its restarts touch nothing after it.
        *([reader] if reader is not None else []),
    ]
