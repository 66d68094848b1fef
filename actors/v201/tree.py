"""The OCPP 2.0.1 station tree: the version-neutral core and EVSEs with
2.0.1's blocks.

    (root)            rest_for_one: later children depend on earlier ones
      scheduler, storage, settings, auth, outbox, security, profiles,
      link (rpc, websocket), evses (N: board, drivers, connector),
      firmware (L), uploads (N01 GetLog),
      registration (B provisioning), remote_control, availability, reset,
      data_transfer, remote_trigger, transactions, display (O display
      messages), cost (I tariff and cost), monitoring (N02-N08),
      customer_information (N09/N10), reader

The order and its reasons are 1.6's (actors/v16/tree.py). The settings
actor is the device model's (device_model.py), security the 2.0.1 block
over 1.6's certificate store (security.py), profiles 1.6's actor with
2.0.1's words (smart_charging.py: K Smart charging).
"""

from __future__ import annotations

from ocppstation.actors.link.outbox import Outbox
from ocppstation.actors.runtime.context import (
    AUTH,
    AVAILABILITY,
    DATA_TRANSFER,
    OUTBOX,
    PNC,
    PROFILES,
    REGISTRATION,
    REMOTE_CONTROL,
    REMOTE_TRIGGER,
    RESERVATIONS,
    RESET,
    TRANSACTIONS,
    StationContext,
)
from ocppstation.actors.runtime.supervisor import ChildSpec
from ocppstation.actors.v16.data_transfer import DataTransfer
from ocppstation.actors.v16.diagnostics import UPLOADS
from ocppstation.actors.v16.firmware_management import FIRMWARE
from ocppstation.actors.v16.tree import core_tree
from ocppstation.actors.v201.authorization import Authorization
from ocppstation.actors.v201.availability import Availability
from ocppstation.actors.v201.customer_information import (
    CUSTOMER_INFORMATION,
    CustomerInformation,
)
from ocppstation.actors.v201.device_model import DeviceModel
from ocppstation.actors.v201.diagnostics import Diagnostics201
from ocppstation.actors.v201.display_messages import DISPLAY, DisplayMessages
from ocppstation.actors.v201.firmware import Firmware201
from ocppstation.actors.v201.iso15118 import Iso15118
from ocppstation.actors.v201.monitoring import MONITORING, Monitoring
from ocppstation.actors.v201.network_profiles import NetworkProfiles
from ocppstation.actors.v201.provisioning import Provisioning
from ocppstation.actors.v201.remote_control import RemoteControl
from ocppstation.actors.v201.remote_trigger import RemoteTrigger
from ocppstation.actors.v201.reservation import Reservations201
from ocppstation.actors.v201.reset import Reset
from ocppstation.actors.v201.routes import ROUTES
from ocppstation.actors.v201.security import Security201
from ocppstation.actors.v201.smart_charging import Profiles201
from ocppstation.actors.v201.tariff_and_cost import COST, TariffAndCost
from ocppstation.actors.v201.transactions import Transactions
from ocppstation.protocol.v201.evse_messages import EVSE_MESSAGES
from ocppstation.protocol.v201.txqueue import TRANSACTION_MESSAGES


def station_tree(ctx: StationContext) -> list[ChildSpec]:
    # One per tree: a new tree dials from the top of the priority list again.
    network = NetworkProfiles(ctx)
    head, evses_and_link, reader = core_tree(
        ctx,
        ROUTES,
        EVSE_MESSAGES,
        lambda p: DeviceModel.start(p, ctx, network),
        lambda p: Security201.start(p, ctx),
        network,
    )
    # 2.0.1's smart charging block in 1.6's place, in 1.6's order (actors/v16/tree.py).
    evses_and_link = [
        ChildSpec(PROFILES, lambda p: Profiles201.start(p, ctx)) if spec.id == PROFILES else spec
        for spec in evses_and_link
    ]
    return [
        *head,
        ChildSpec(AUTH, lambda p: Authorization.start(p, ctx)),
        ChildSpec(OUTBOX, lambda p: Outbox.start(p, ctx, TRANSACTION_MESSAGES)),
        *evses_and_link,
        # After the EVSEs for 1.6's reasons (actors/v16/tree.py): they only tell
        # connectors, and tell them on start what they hold.
        ChildSpec(RESERVATIONS, lambda p: Reservations201.start(p, ctx)),
        ChildSpec(FIRMWARE, lambda p: Firmware201.start(p, ctx)),
        ChildSpec(UPLOADS, lambda p: Diagnostics201.start(p, ctx)),
        ChildSpec(REGISTRATION, lambda p: Provisioning.start(p, ctx, network)),
        ChildSpec(REMOTE_CONTROL, lambda p: RemoteControl.start(p, ctx)),
        ChildSpec(AVAILABILITY, lambda p: Availability.start(p, ctx)),
        ChildSpec(RESET, lambda p: Reset.start(p, ctx)),
        ChildSpec(PNC, lambda p: Iso15118.start(p, ctx)),
        ChildSpec(DATA_TRANSFER, lambda p: DataTransfer.start(p, ctx)),
        ChildSpec(REMOTE_TRIGGER, lambda p: RemoteTrigger.start(p, ctx)),
        ChildSpec(TRANSACTIONS, lambda p: Transactions.start(p, ctx)),
        # The display before tariff and cost, which tells it the driver's texts.
        ChildSpec(DISPLAY, lambda p: DisplayMessages.start(p, ctx)),
        ChildSpec(COST, lambda p: TariffAndCost.start(p, ctx)),
        # After the blocks: it only reads events and queues NotifyEvents.
        ChildSpec(MONITORING, lambda p: Monitoring.start(p, ctx)),
        # N09/N10 reads and clears storage only: last, so its crash restarts no block.
        ChildSpec(CUSTOMER_INFORMATION, lambda p: CustomerInformation.start(p, ctx)),
        *reader,
    ]
