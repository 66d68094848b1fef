"""The station's event bus and the events it carries.

Embedders, the console and tests learn what the station does from here.
Publishing never blocks: a subscriber is called in the publisher's thread and
must only hand the event on (put it in a queue, set a future, tell an actor).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.errors import OcppVersion
from ocppstation.protocol.txqueue import TransactionId

log = logging.getLogger("ocppstation.events")

Subscriber = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Subscriber, ...] = ()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers = (*self._subscribers, subscriber)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)

        return unsubscribe

    def publish(self, event: object) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                # One broken subscriber must not silence the others, nor
                # crash the actor that published.
                log.exception("event subscriber failed on %r", event)


@dataclass(frozen=True)
class LinkChanged:
    up: bool
    url: str
    reason: str = ""
    # Down: seconds until the next connection attempt (None: it is being made now).
    retry_in: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ConnectFailed:
    """A connection attempt that did not lead to an OCPP link (and why)."""

    url: str
    reason: str
    # Seconds until the next attempt, armed before this event is published.
    retry_in: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RegistrationChanged:
    status: str  # Unknown, Pending, Accepted, Rejected


@dataclass(frozen=True)
class Online:
    """The station may (or may no longer) send: link up and boot Accepted."""

    online: bool


@dataclass(frozen=True)
class ConnectorChanged:
    evse: int
    status: str
    error_code: str = "NoError"


@dataclass(frozen=True)
class TokenJudged:
    """What the station decided of a card or token presented at an EVSE.

    `online` is whether the CSMS could be asked: before the CSMS accepts the
    boot, or with the link down, the station decides alone (offline rules).
    """

    evse: int
    id_tag: str
    accepted: bool
    status: str
    source: str  # "csms", "list", "cache", "unknown", "reservation"
    online: bool


@dataclass(frozen=True)
class LocalListChanged:
    """The Local Authorization List took an update (SendLocalList Accepted)."""

    version: int  # what the update carried
    entries: int  # how many the list holds now


@dataclass(frozen=True)
class ChargingProfilesChanged:
    """How many charging profiles are installed now (published when it changes;
    the 2.0.1 device model keeps SmartChargingCtrlr.Entries from it)."""

    entries: int


@dataclass(frozen=True)
class DisplayMessagesChanged:
    """How many 2.0.1 display messages the station holds now (published when it
    changes; the device model keeps DisplayMessageCtrlr.DisplayMessages from it)."""

    entries: int


@dataclass(frozen=True)
class DisplayChanged:
    """What EVSE `evse`'s display shows a driver now: a price or a cost
    (California Pricing in 1.6), and the text of a QR code where there is
    one; text "" when there is nothing to show. Version-neutral, so a real
    display follows this one event whichever version fed it."""

    evse: int
    text: str
    qr: str | None = None
    # 2.0.1's display messages: the message shown (None for another source's
    # text: a price, a cost, the driver's tariff), its priority, format and language.
    message_id: int | None = None
    priority: str | None = None
    format: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class UserPriceAwaited:
    """An accepted Authorize at `evse` waits up to `timeout` s for the driver's
    price (California Pricing's SetUserPrice) before the session goes on."""

    evse: int
    id_tag: str
    timeout: float


@dataclass(frozen=True)
class TransactionStarted:
    evse: int
    transaction_id: TransactionId  # 1.6: the CSMS's integer
    id_tag: str
    meter_start: int


@dataclass(frozen=True)
class TransactionStopped:
    evse: int
    transaction_id: TransactionId | None  # None if the CSMS has not answered its start yet
    reason: str
    meter_stop: int


@dataclass(frozen=True)
class MeterSampled:
    evse: int
    energy_wh: float
    power_w: float


@dataclass(frozen=True)
class MessageSent:
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class TransactionAnswered:
    """The CSMS answered a queued transaction message of EVSE `evse` (None: of
    no transaction), published by the outbox as it takes the answer in: what
    the answer says beyond the idTag (2.0.1's totalCost, updatedPersonalMessage)
    is for whoever shows it."""

    evse: int | None
    action: str
    payload: dict[str, Any]
    result: dict[str, Any]


@dataclass(frozen=True)
class MessageAnswered:
    action: str
    payload: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class CallReceived:
    """The CSMS sent a CALL (published as rpc takes it in, before any block handles it)."""

    action: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class RetryScheduled:
    """The outbox will send queued message `seq` (`action`) again in `wait` seconds.

    Published once the retry timer is armed, so a waiter may move time at once.
    """

    action: str
    seq: int
    wait: float


@dataclass(frozen=True)
class ResetRequested:
    """The CSMS asked for a Reset; the Station (outside the tree) carries it out."""

    kind: str  # Soft or Hard
    # Why the next run boots, in 2.0.1's BootReason words (1.6 does not say).
    boot_reason: str = "RemoteReset"


@dataclass(frozen=True)
class VersionChosen:
    """The CSMS agreed an OCPP version other than the one the tree speaks
    (of those offered); the Station starts that version's tree instead."""

    version: OcppVersion


@dataclass(frozen=True)
class ConfigChanged:
    """The CSMS changed a configuration key (ChangeConfiguration Accepted):
    an OCPP key or one of the config file's Custom keys.

    Published by the settings actor after the value is persisted and the
    station's SettingsView shows it, so a subscriber may re-arm from the view.
    A change answered RebootRequired is published when the settings actor
    next starts with it (after a Reset, or from the database in a new process).
    `value` is typed (bool, int, str or tuple of str); it is None for a
    write-only key (AuthorizationKey), whose value must not travel in events.
    `key` is the name the CSMS changed; `setting` the domain setting it
    holds, which is what the station's actors match on (None for a key no
    actor reads, such as an integrator's).
    """

    key: str
    value: Any
    # Derived from `key`: left out of equality, as events compared by key always were.
    setting: Setting | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ConfigApplied:
    """The actor at `path` has put the new value of `key` to work (timers re-armed)."""

    path: str
    key: str


@dataclass(frozen=True)
class LimitChanged:
    """EVSE `evse` now offers `amps` per phase (smart charging's limit in force,
    or the EVSE's rating where none applies). Published once the board has it."""

    evse: int
    amps: float


@dataclass(frozen=True)
class V2GCertificateChanged:
    """The station took a new V2GCertificate (the SECC's, for ISO 15118 Plug &
    Charge): an embedder's ISO 15118 stack fetches it, with its key, from
    `Station.v2g_credentials()`. The chain is PEM, leaf first; the key is not
    in the event (events are logged)."""

    chain_pem: str
    subject: str
    not_after: str
