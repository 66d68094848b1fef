"""The OCPP 1.6 station tree: what runs, in which order, and why.

    (root)            rest_for_one: later children depend on earlier ones
      scheduler, storage, settings, auth, outbox, security, profiles,
      link (rpc, websocket), evses (N: board, drivers, connector),
      reservations, firmware, uploads,
      registration, remote_control, availability, reset, pricing, pnc,
      data_transfer, remote_trigger, reader

Each block is one file named after its chapter; routes.py says which block
answers which CSMS call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ocppstation.actors.evse.drivers import check_hardware, station_reader
from ocppstation.actors.evse.tree import evse_spec
from ocppstation.actors.link.endpoints import Endpoints
from ocppstation.actors.link.outbox import Outbox
from ocppstation.actors.link.rpc import Rpc
from ocppstation.actors.link.websocket import WebSocketLink
from ocppstation.actors.runtime.base import Place
from ocppstation.actors.runtime.context import (
    AUTH,
    AVAILABILITY,
    DATA_TRANSFER,
    EVSES,
    OUTBOX,
    PNC,
    PRICING,
    PROFILES,
    REGISTRATION,
    REMOTE_CONTROL,
    REMOTE_TRIGGER,
    RESERVATIONS,
    RESET,
    SECURITY,
    STORAGE,
    StationContext,
    evse_of,
)
from ocppstation.actors.runtime.scheduler import Scheduler
from ocppstation.actors.runtime.supervisor import (
    ChildSpec,
    ChildTerminated,
    Strategy,
    Supervisor,
)
from ocppstation.actors.storage.db import Storage
from ocppstation.actors.v16.authorization import Auth
from ocppstation.actors.v16.availability import Availability
from ocppstation.actors.v16.california_pricing import CaliforniaPricing
from ocppstation.actors.v16.configuration import SETTINGS, Settings
from ocppstation.actors.v16.data_transfer import DataTransfer
from ocppstation.actors.v16.diagnostics import UPLOADS, Uploads
from ocppstation.actors.v16.firmware_management import FIRMWARE, Firmware
from ocppstation.actors.v16.plug_and_charge import PlugAndCharge
from ocppstation.actors.v16.registration import Registration, SendStatus
from ocppstation.actors.v16.remote_control import RemoteControl
from ocppstation.actors.v16.remote_trigger import RemoteTrigger
from ocppstation.actors.v16.reservation import Reservations
from ocppstation.actors.v16.reset import Reset
from ocppstation.actors.v16.routes import ROUTES
from ocppstation.actors.v16.security import Security, check_provisioning
from ocppstation.actors.v16.smart_charging import Profiles
from ocppstation.protocol.evse_messages import EvseMessages
from ocppstation.protocol.v16.evse_messages import EVSE_MESSAGES
from ocppstation.protocol.v16.txqueue import TRANSACTION_MESSAGES


def core_tree(
    ctx: StationContext,
    routes: Mapping[str, str],
    messages: EvseMessages,
    settings: Callable[[Place], Any],
    security: Callable[[Place], Any],
    endpoints: Endpoints | None = None,
) -> tuple[list[ChildSpec], list[ChildSpec], list[ChildSpec]]:
    """What every version's tree has, in three parts to put its blocks between:
    scheduler, storage, settings; security, profiles, link, evses; the reader.

    Each version brings its own settings and security actors (2.0.1's tree
    uses it too, with 1.6's smart charging until it has a block of its own),
    and the link dials `endpoints` when given (2.0.1's network profiles),
    else the configured CSMS.
    """
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
                ChildSpec("rpc", lambda p: Rpc.start(p, ctx, routes)),
                ChildSpec("websocket", lambda p: WebSocketLink.start(p, ctx, endpoints)),
            ],
            strategy=Strategy.REST_FOR_ONE,
            on_event=publish,
        )

    # Outlives restarts of the evses subtree (see _evse_spec): the specs do not.
    started: set[int] = set()

    def on_evses_event(event: object) -> None:
        # Recorded before anyone hears of it, so every block finds it.
        if isinstance(event, ChildTerminated) and (evse := evse_of(event.path)) is not None:
            ctx.given_up.add(evse, event.reason)
        publish(event)

    def evses(place: Place) -> Any:
        specs = [evse_spec(ctx, n, started, messages) for n in ctx.config.evse_numbers]
        return Supervisor.start(
            place, specs, strategy=Strategy.ONE_FOR_ONE, on_event=on_evses_event
        )

    def respawn(evse: int) -> None:
        # Not recovering: its transaction was ended when it gave up.
        started.add(evse)
        ctx.registry.proxy(EVSES).start_child(evse_spec(ctx, evse, started, messages)).get(
            timeout=10
        )
        ctx.given_up.discard(evse)
        ctx.registry.tell(REGISTRATION, SendStatus(evse))

    def restart(evse: int) -> None:
        # A running EVSE's new connector resumes from the database, as after a crash.
        ctx.registry.proxy(EVSES).restart_child(str(evse)).get(timeout=10)

    ctx.given_up.respawn = respawn
    ctx.given_up.restart = restart

    head = [
        ChildSpec("scheduler", lambda p: Scheduler.start(p, ctx.clock)),
        ChildSpec(STORAGE, lambda p: Storage.start(p, ctx.database)),
        # Right after storage (its overlay) and before every reader of the view.
        ChildSpec(SETTINGS, settings),
    ]
    middle = [
        # Before the link: the first connection needs its certificates (ctx.tls).
        ChildSpec(SECURITY, security),
        # Before the EVSEs: their boards ask it for the current to offer when
        # they start, and a restart of it (rest_for_one) brings them up to date.
        ChildSpec(PROFILES, lambda p: Profiles.start(p, ctx)),
        ChildSpec("link", link),
        ChildSpec(EVSES, evses),
    ]
    # Last: it tells connectors, and its restarts touch nothing after it.
    return head, middle, [reader] if reader is not None else []


def station_tree(ctx: StationContext) -> list[ChildSpec]:
    head, middle, reader = core_tree(
        ctx,
        ROUTES,
        EVSE_MESSAGES,
        lambda p: Settings.start(p, ctx),
        lambda p: Security.start(p, ctx),
    )
    return [
        *head,
        # Before the link: a link restart must not drop the queue's in-flight state.
        ChildSpec(AUTH, lambda p: Auth.start(p, ctx)),
        ChildSpec(OUTBOX, lambda p: Outbox.start(p, ctx, TRANSACTION_MESSAGES)),
        *middle,
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
        # Before registration's first announce every connector holds its
        # reservations; its crash (it only re-announces) touches nothing else.
        ChildSpec(REGISTRATION, lambda p: Registration.start(p, ctx)),
        # The Core blocks that only judge a call and tell connectors: after
        # the EVSEs, and a crash of one restarts only those after it.
        ChildSpec(REMOTE_CONTROL, lambda p: RemoteControl.start(p, ctx)),
        ChildSpec(AVAILABILITY, lambda p: Availability.start(p, ctx)),
        ChildSpec(RESET, lambda p: Reset.start(p, ctx)),
        # Before data_transfer: its handlers are registered when a
        # DataTransfer first comes. It tells connectors only, after the EVSEs.
        ChildSpec(PRICING, lambda p: CaliforniaPricing.start(p, ctx)),
        # Plug & Charge: the same place for the same reasons (it tells connectors only).
        ChildSpec(PNC, lambda p: PlugAndCharge.start(p, ctx)),
        ChildSpec(DATA_TRANSFER, lambda p: DataTransfer.start(p, ctx)),
        ChildSpec(REMOTE_TRIGGER, lambda p: RemoteTrigger.start(p, ctx)),
        *reader,
    ]
