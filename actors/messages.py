"""What the station's parts say to its feature blocks, whatever the version.

A connector asks authorization whether an idTag may charge, hears its share
of the reservations, and tells smart charging when a transaction begins and
ends; the outbox tells authorization what the CSMS said of an idTag. The
messages live here, owned by neither side, so that the EVSE and the link
import no feature block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pykka

from ocppstation.protocol.ev_needs import EvNeeds
from ocppstation.protocol.v16.reservation import ConnectorReservations, Reservation


@dataclass(frozen=True)
class Identify:
    """May `id_tag` charge? The answer goes to `reply_to` as `Identified`."""

    id_tag: str
    reply_to: pykka.ActorRef[Any]
    # The reservations holding the connector: only their idTags or groups may use it.
    reserved: tuple[Reservation, ...] = ()
    # The EVSE asking: 2.0.1's idTokenInfo.evseId may accept a token for other EVSEs only.
    evse: int | None = None
    # 2.0.1's idToken type (None: a card, ISO14443) and additionalInfo
    # (additionalIdToken, type) as the reader gave them; 1.6 has an idTag only.
    token_type: str | None = None
    additional: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Identified:
    id_tag: str
    accepted: bool
    info: dict[str, Any]  # the idTagInfo behind the decision (parentIdTag included)
    source: str  # list, cache, unknown, csms or reservation (refused for another's reservation)
    online: bool = True  # False: decided without the CSMS (link down or boot not yet Accepted)
    token_type: str | None = None  # 2.0.1's idToken type when not a card's (eMAID: a contract)


@dataclass(frozen=True)
class ReservedFor:
    """To a connector: its share of the reservations (replaces the previous one)."""

    share: ConnectorReservations


@dataclass(frozen=True)
class ReservationsWanted:
    """From a connector that (re)started: tell me my share."""

    evse: int


@dataclass(frozen=True)
class ReservationUsed:
    """From a connector: a transaction started for this reservation (stored already)."""

    reservation_id: int
    evse: int


@dataclass(frozen=True)
class TransactionBegins:
    """Ask, from a connector, before it switches power on: the transaction
    of `id_tag` begins now (`started_at`, an OCPP timestamp). When the
    answer comes the board offers what this transaction may draw."""

    evse: int
    id_tag: str
    started_at: str


@dataclass(frozen=True)
class TransactionEnds:
    """Ask, from a connector, once power is off: its transaction is over."""

    evse: int


@dataclass(frozen=True)
class Learned:
    """An idTagInfo the CSMS gave for `id_tag` (from any answer): cache it."""

    id_tag: str
    info: dict[str, Any]


@dataclass(frozen=True)
class AwaitUserPrice:
    """Tell, from a connector, when the CSMS accepted `identified`'s idTag
    for a new session: the price block answers `UserPriceSettled` once the
    driver's price came (SetUserPrice) or the wait for it is over, and only
    then does the session go on (at once when the station shows no prices)."""

    evse: int
    identified: Identified
    reply_to: pykka.ActorRef[Any]


@dataclass(frozen=True)
class UserPriceSettled:
    """The answer to `AwaitUserPrice`: go on with the identification."""

    identified: Identified


@dataclass(frozen=True)
class ContractPresented:
    """An ISO 15118 EV at EVSE `evse` offers its contract for Plug & Charge:
    its eMAID and contract certificate chain (PEM, leaf first), as the
    station's ISO 15118 stack hands them over."""

    evse: int
    emaid: str
    chain_pem: str


@dataclass(frozen=True)
class EvNeedsStated:
    """An ISO 15118 EV at EVSE `evse` states its charging needs (to the
    profiles block; 2.0.1 sends NotifyEVChargingNeeds)."""

    evse: int
    needs: EvNeeds


@dataclass(frozen=True)
class Iso15118Relay:
    """Ask (Plug & Charge): send the CSMS the 2.0.1 `message_id` request
    (Get15118EVCertificate, GetCertificateStatus) for the ISO 15118 stack;
    answers a Future of the 2.0.1 answer, or None when it is not sent."""

    message_id: str
    payload: dict[str, Any]
