"""Where the link dials: the CSMS of each connection attempt.

Without `Endpoints` (OCPP 1.6) the websocket dials the configured CSMS
(Internal.CentralSystemURI) under the live SecurityProfile, as it always
has. A version with network profiles (2.0.1's B09/B10,
actors/v201/network_profiles.py) hands the websocket an `Endpoints`: it
says which profile to dial, hears of each failed attempt and of each
connection, and decides when to move on to the next profile.

Called on the websocket actor's thread only; an implementation shared with
other actors keeps its own lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Endpoint", "Endpoints"]


@dataclass(frozen=True)
class Endpoint:
    """One CSMS to dial: its URL (without the ChargePointId) and the security
    profile of the connection (Basic auth, TLS, client certificate)."""

    csms_url: str
    security_profile: int
    # The configuration slot it is (2.0.1); None: the configured CSMS.
    slot: int | None = None
    # How long a CALL on this connection waits for its answer (2.0.1's
    # messageTimeout); None: Internal.CallTimeout.
    message_timeout: float | None = None

    def describe(self) -> str:
        where = "the configured CSMS" if self.slot is None else f"network profile {self.slot}"
        return f"{where} ({self.csms_url}, security profile {self.security_profile})"


class Endpoints(Protocol):
    def current(self) -> Endpoint:
        """What the next attempt dials."""
        ...

    def failed(self) -> Endpoint | None:
        """An attempt on `current()` failed; the endpoint the station moves
        to if it moves to another one now, else None."""
        ...

    def connected(self) -> None:
        """The attempt on `current()` made a connection."""
        ...
