"""What outlives an actor's restart inside one run: small thread-safe holders.

Each is written by one actor (or by a supervisor's event hook) and read by
others from any thread, so every one keeps its value behind a lock and hands
out immutable values. A new station tree (a reset) clears what is about
the run (the registration, the EVSEs given up); certificates stay.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


class RegistrationState:
    """The CSMS's answer to this run's BootNotification, kept across actor restarts.

    Only a reboot boots again (1.6 4.2): a registration or rpc actor restarted
    inside the run carries on from here instead of sending a BootNotification
    the CSMS would take for a reboot. Written by the registration block; a new
    station tree (a reset) clears it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status = "Unknown"
        self._heartbeat_interval: int | None = None
        self._boot_reason = "PowerUp"
        self._online = False

    @property
    def online(self) -> bool:
        """Link up and accepted: what the station does now reaches the CSMS now
        (2.0.1 marks what happened otherwise `offline`)."""
        with self._lock:
            return self._online

    def set_online(self, online: bool) -> None:
        with self._lock:
            self._online = online

    @property
    def boot_reason(self) -> str:
        """Why this run began, in 2.0.1's BootReason words (PowerUp, RemoteReset, ...)."""
        with self._lock:
            return self._boot_reason

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"

    @property
    def heartbeat_interval(self) -> int | None:
        with self._lock:
            return self._heartbeat_interval

    def record(self, status: str, heartbeat_interval: int | None = None) -> None:
        with self._lock:
            self._status = status
            if heartbeat_interval is not None:
                self._heartbeat_interval = heartbeat_interval

    def clear(self, boot_reason: str = "PowerUp") -> None:
        with self._lock:
            self._status = "Unknown"
            self._heartbeat_interval = None
            self._boot_reason = boot_reason
            self._online = False


@dataclass(frozen=True)
class TlsMaterial:
    """What the link needs for security profiles 2 and 3, as PEM text."""

    # The CentralSystemRootCertificates the CSMS's server certificate must chain to.
    csms_roots: tuple[str, ...] = ()
    # The ChargePointCertificate (leaf first, then any intermediates) and its
    # unencrypted private key: the client certificate of security profile 3.
    client_chain: str | None = None
    client_key: str | None = None


class TlsHolder:
    """The station's current TlsMaterial, replaced whole by the security actor.

    Read by the link when it connects (from its I/O thread), so a certificate
    installed or renewed is used from the next connection on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._material = TlsMaterial()

    @property
    def current(self) -> TlsMaterial:
        with self._lock:
            return self._material

    def replace(self, material: TlsMaterial) -> None:
        with self._lock:
            self._material = material


class GivenUp:
    """The EVSEs whose supervisor gave up restarting them in this run.

    Written by the evses supervisor's event hook before the news goes out on
    the bus, so whoever hears an EVSE went down finds it here; the blocks
    report such an EVSE Faulted and refuse work for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._evses: dict[int, str] = {}
        # Set by the tree: starts EVSE n's subtree again (actors/evse/tree.py revive).
        self.respawn: Callable[[int], None] | None = None
        # Set by the tree: stops EVSE n's subtree and starts it again (a reset of it).
        self.restart: Callable[[int], None] | None = None

    def add(self, evse: int, reason: str) -> None:
        with self._lock:
            self._evses[evse] = reason

    def reason(self, evse: int) -> str | None:
        """Why `evse` is down, or None while it runs."""
        with self._lock:
            return self._evses.get(evse)

    def __contains__(self, evse: object) -> bool:
        with self._lock:
            return evse in self._evses

    def discard(self, evse: int) -> None:
        with self._lock:
            self._evses.pop(evse, None)

    def clear(self) -> None:
        with self._lock:
            self._evses.clear()
