"""OCPP 2.0.1 B09/B10: the station's network connection profiles and which
one the link dials.

One object per station tree, made by the tree and shared by three actors:
the websocket asks it where to dial (it is the link's `Endpoints`), the
device model stores what SetNetworkProfile sends and checks
NetworkConfigurationPriority against the slots that hold a profile, and
provisioning asks whether the link now reaches another CSMS than the one
that accepted the boot. The rules are pure (protocol/v201/network_profiles.py);
this keeps the profiles (read from storage once, on first use), the slot
being dialled and the one connected, behind a lock.

A new tree (a reset, a new process) starts again at the top of
NetworkConfigurationPriority, so a profile stored by SetNetworkProfile or a
priority changed by SetVariables takes effect at the next attempt that
consults the list (B10: a new priority, then a Reset), never by dropping a
working connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ocppstation.actors.link.endpoints import Endpoint
from ocppstation.actors.runtime.context import StationContext
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.v201 import network_profiles as rules
from ocppstation.protocol.v201.network_profiles import Dialing, NetworkProfile

__all__ = ["NetworkProfiles", "ProfileConnected"]

STORAGE_TIMEOUT = 5.0
# actors/v201/device_model.SETTINGS (that module imports this one).
_DEVICE_MODEL = "settings"

_log = logging.getLogger("ocppstation.network_profiles")


@dataclass(frozen=True)
class ProfileConnected:
    """Told to the device model when the link connects through a profile:
    ActiveNetworkProfile, and the security profile now in force. Told before
    the link is up for rpc, so no CALL of the new connection overtakes it."""

    slot: int
    security_profile: int


class NetworkProfiles:
    def __init__(self, ctx: StationContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._profiles: dict[int, NetworkProfile] | None = None
        self._dialing: Dialing | None = None
        self._active: Endpoint | None = None
        # The endpoint whose CSMS accepted this run's boot.
        self._registered: Endpoint | None = None

    # -- the profiles ------------------------------------------------------------

    def profiles(self) -> Mapping[int, NetworkProfile]:
        with self._lock:
            return dict(self._loaded())

    def _loaded(self) -> dict[int, NetworkProfile]:
        if self._profiles is None:
            try:
                stored = self.ctx.storage().network_profiles.all().get(timeout=STORAGE_TIMEOUT)
            except Exception:
                # Not cached: the next call asks again. Meanwhile the station
                # still has the configured CSMS to dial.
                _log.exception("cannot read the network profiles; using the configured CSMS")
                return {}
            profiles = {}
            for slot, data in stored.items():
                try:
                    profiles[slot] = NetworkProfile.from_wire(data)
                except (KeyError, TypeError, ValueError) as exc:
                    _log.warning("ignored the stored network profile of slot %d: %r", slot, exc)
            self._profiles = profiles
        return self._profiles

    def known_slots(self) -> frozenset[int]:
        """The slots that hold a profile, the built-in one included."""
        return frozenset(self.profiles()) | {rules.BUILT_IN_SLOT}

    def store(self, slot: int, profile: NetworkProfile) -> None:
        """Persist `profile` at `slot` (raises if storage fails; nothing changes then)."""
        self.ctx.storage().network_profiles.put(slot, profile.to_wire()).get(
            timeout=STORAGE_TIMEOUT
        )
        with self._lock:
            self._loaded()[slot] = profile

    # -- the link's Endpoints ----------------------------------------------------

    def _priority(self) -> tuple[int, ...]:
        value = self.ctx.setting(
            Setting.NETWORK_CONFIGURATION_PRIORITY, (str(rules.BUILT_IN_SLOT),)
        )
        try:
            return rules.parse_priority(value)
        except ValueError:
            return (rules.BUILT_IN_SLOT,)

    def _attempts(self) -> int:
        return int(self.ctx.setting(Setting.NETWORK_PROFILE_CONNECTION_ATTEMPTS, 3))

    def _endpoint(self, slot: int) -> Endpoint:
        profile = self._loaded().get(slot)
        if profile is None:  # only the built-in slot holds no stored profile
            return Endpoint(
                self.ctx.config.csms_url,
                int(self.ctx.setting(Setting.SECURITY_PROFILE, 0)),
                slot,
            )
        return Endpoint(
            profile.csms_url, profile.security_profile, slot, float(profile.message_timeout)
        )

    def current(self) -> Endpoint:
        with self._lock:
            known = set(self._loaded()) | {rules.BUILT_IN_SLOT}
            order = rules.dial_order(self._priority(), known)
            if self._dialing is None or self._dialing.slot not in order:
                self._dialing = rules.first(self._priority(), known)
            return self._endpoint(self._dialing.slot)

    def failed(self) -> Endpoint | None:
        with self._lock:
            known = set(self._loaded()) | {rules.BUILT_IN_SLOT}
            before = self._dialing or rules.first(self._priority(), known)
            self._dialing = rules.after_failure(before, self._priority(), known, self._attempts())
            if self._dialing.slot == before.slot:
                return None
            return self._endpoint(self._dialing.slot)

    def connected(self) -> None:
        with self._lock:
            if self._dialing is None:
                return
            self._dialing = Dialing(self._dialing.slot)
            active = self._active = self._endpoint(self._dialing.slot)
        assert active.slot is not None
        self.ctx.registry.tell(
            _DEVICE_MODEL, ProfileConnected(active.slot, active.security_profile)
        )

    # -- for the device model and provisioning -------------------------------------

    @property
    def active(self) -> Endpoint | None:
        """The endpoint of the connection made last (ActiveNetworkProfile)."""
        with self._lock:
            return self._active

    def registered(self) -> None:
        """The CSMS of the active connection accepted the boot."""
        with self._lock:
            self._registered = self._active

    def elsewhere(self) -> bool:
        """The active connection reaches another CSMS than the one that accepted
        the boot: the registration does not carry over."""
        with self._lock:
            if self._registered is None or self._active is None:
                return False
            return self._active.csms_url != self._registered.csms_url
