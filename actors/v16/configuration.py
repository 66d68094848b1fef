"""The settings actor: the station's OCPP configuration keys.

It owns the keys' values and answers the CSMS's GetConfiguration and
ChangeConfiguration (routed here as `Inbound`), or the same through its ask
methods. Every other actor reads keys through the station's `SettingsView`,
never by asking this actor:

    interval = ctx.setting(Setting.HEARTBEAT_INTERVAL, 300)   # typed: int

The keys are the station's table (`StationConfig.keys`): the OCPP 1.6 keys,
then the integrator's keys declared in the config file's Custom section,
which are answered, changed, persisted and published alike.

When it starts, before its supervisor starts the next sibling, the values
are layered: the key table's defaults (`keys_v16`), then the station config
file's OCPP sections, then the overlay of values the CSMS set, read from the
storage actor. The overlay is also kept in memory for the life of the
Station object, so that without a storage actor, or with one that has no
file, it survives restarts of the tree (a Soft reset, a crash) though not
of the process.

An Accepted ChangeConfiguration is, in this order: persisted (so it survives
a crash or `kill -9` once the CSMS has heard Accepted), shown in the view,
answered, and published as `ConfigChanged` so actors re-arm their timers. A
value that cannot be persisted is answered Rejected and not applied. A
RebootRequired one (a custom key declared so) is persisted only; it takes
effect, and is published, when the settings actor next starts with it (a
Reset rebuilds the tree; a new process reads it from the database).

The view lives in `StationContext.settings` (actors/settings/view.py), so it
outlives this actor; that module says why readers need no lock.

A SecurityProfile of 2 or 3 is Rejected unless the link could use it now:
the station's TLS material (`ctx.tls`, kept by the security actor) must
hold a usable CSMS root certificate, and for 3 a client certificate and
key. The key table's own rules (only upwards, an AuthorizationKey for 1
and 2) come first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ocppstation.actors.events import ConfigChanged
from ocppstation.actors.link.rpc import Answer, Inbound
from ocppstation.actors.link.websocket import TlsUnavailable, tls_context
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import RPC, StationContext
from ocppstation.actors.settings.view import SettingsView
from ocppstation.config import keys_v16
from ocppstation.config.device_model import Address
from ocppstation.config.keys_v16 import Status, Value
from ocppstation.config.settings_catalog import setting_at
from ocppstation.config.v16_view import v16_address
from ocppstation.protocol.errors import (
    InternalError,
    NotSupported,
    OccurrenceConstraintViolation,
    OcppError,
)
from ocppstation.protocol.framing import Call
from ocppstation.protocol.v16 import california_pricing as pricing

__all__ = [
    "SETTINGS",
    "STORAGE",
    "Settings",
    "SettingsView",
    "settings_view",
]

SETTINGS = "settings"
STORAGE = "storage"
# A write to the database commits (fsync) before it returns; this is generous.
STORAGE_TIMEOUT = 5.0


@dataclass(frozen=True)
class _Publish:
    run: Callable[[], None]


def settings_view(ctx: StationContext) -> SettingsView:
    """The station's SettingsView: the same object for the station's whole life."""
    return ctx.settings.view


class Settings(Supervised):
    """Answers GetConfiguration and ChangeConfiguration; owns the view's values."""

    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.shared = ctx.settings
        self.table = ctx.config.keys
        self.persistent = False
        # Layered here, in the thread starting us, not in setup(): pykka's
        # start() returns before setup() runs, and the siblings started after
        # us read the view in their own setup. This way the view is final
        # before the supervisor even builds them.
        overlay = self._read_overlay()
        values, skipped = keys_v16.effective(
            self.ctx.config.sections, self.ctx.config.evses, overlay
        )
        for key, why in skipped:
            self.log.warning("ignored the stored value of %s: %s", key, why)
        self.values: Mapping[str, Value] = self.shared.view.snapshot()
        before = self.values
        self._apply(values)
        # A value that waited for a restart is news to whoever holds the old
        # one (an embedder across a Reset); nothing else changed for them.
        for name, value in self.values.items():
            if self.table[name].reboot and before.get(name) != value:
                self.ctx.bus.publish(self._changed(name, value))

    def receive(self, message: Any) -> Any:
        if isinstance(message, _Publish):
            message.run()
            return None
        match message:
            case Inbound():
                self._inbound(message.call)
            case _:
                return super().receive(message)
        return None

    # -- asks --------------------------------------------------------------------

    def get_configuration(self, keys: list[str] | None = None) -> dict[str, Any]:
        """GetConfiguration.conf for `keys` (None or empty: every key).

        More keys than GetConfigurationMaxKeys raise OccurrenceConstraintViolation:
        the spec gives the limit but no answer for exceeding it, and answering
        only some keys would look like a complete answer.
        """
        if not keys:
            entries = [self._entry(name) for name in self.values]
            return {"configurationKey": entries}
        limit = self.values.get("GetConfigurationMaxKeys")
        if isinstance(limit, int) and len(keys) > limit:
            raise OccurrenceConstraintViolation(
                f"{len(keys)} keys requested; GetConfigurationMaxKeys is {limit}"
            )
        entries, unknown, seen = [], [], set()
        for key in keys:
            language = pricing.per_language(key)
            if language and "DefaultPriceText" in self.values:
                entries.append(self._price_text_entry(key, language))
                continue
            spec = keys_v16.lookup(key, self.table)
            if spec is None or spec.name not in self.values:
                if key not in unknown:
                    unknown.append(key)
            elif spec.name not in seen:
                seen.add(spec.name)
                entries.append(self._entry(spec.name))
        answer: dict[str, Any] = {"configurationKey": entries}
        if unknown:
            answer["unknownKey"] = unknown
        return answer

    def change_configuration(self, key: str, value: str) -> dict[str, Any]:
        """ChangeConfiguration.conf; an accepted value is applied and published."""
        answer, publish = self._change(key, value)
        if publish is not None:
            publish()
        return answer

    # -- the CSMS's calls -----------------------------------------------------------

    def _inbound(self, call: Call) -> None:
        publish: Callable[[], None] | None = None
        result: dict[str, Any] | OcppError
        try:
            if call.action == "GetConfiguration":
                result = self.get_configuration(call.payload.get("key"))
            elif call.action == "ChangeConfiguration":
                result, publish = self._change(call.payload["key"], call.payload["value"])
            else:
                raise NotSupported(f"{call.action} is not handled by settings")
        except OcppError as exc:
            result = exc
        except Exception:
            # A bug here must not restart the tree behind us (rest_for_one):
            # the CSMS gets an error, the values stay as they were.
            self.log.exception("%s failed", call.action)
            result = InternalError(f"{call.action} failed")
        # The change is published only once rpc has the answer on its way, so
        # a key that makes the link reconnect does not cut its own answer off.
        if publish is None:
            self.ctx.registry.tell(RPC, Answer(call, result))
        else:
            self.ctx.registry.tell(RPC, Answer(call, result, self.actor_ref, _Publish(publish)))

    def _change(self, key: str, text: str) -> tuple[dict[str, Any], Callable[[], None] | None]:
        language = pricing.per_language(key)
        if language is not None and "DefaultPriceText" in self.values:
            return self._change_price_text(language, text)
        change = keys_v16.validate_change(key, text, self.values, self.table)
        if change.key == "SecurityProfile" and change.status is Status.ACCEPTED:
            problem = self._tls_problem(change.value)
            if problem is not None:
                change = replace(change, status=Status.REJECTED, value=None, reason=problem)
        spec = keys_v16.lookup(change.key, self.table)
        secret = spec is not None and spec.write_only
        if change.status not in (Status.ACCEPTED, Status.REBOOT_REQUIRED):
            shown = "(hidden)" if secret else repr(text)
            self.log.info(
                "ChangeConfiguration %s = %s: %s (%s)", key, shown, change.status, change.reason
            )
            return {"status": change.status.value}, None
        assert change.value is not None
        rendered = keys_v16.render(change.key, change.value, self.table)
        try:
            self._persist(change.key, rendered)
        except Exception:
            self.log.exception("could not persist %s; refusing the change", change.key)
            return {"status": Status.REJECTED.value}, None
        self.log.info(
            "ChangeConfiguration %s = %s: %s",
            change.key,
            "(hidden)" if secret else repr(rendered),
            change.status,
        )
        if change.status is Status.REBOOT_REQUIRED:
            # Stored for the next start; what runs now keeps the old value.
            return {"status": change.status.value}, None
        self._apply({**self.values, change.key: change.value})
        event = self._changed(change.key, None if secret else change.value)
        return {"status": change.status.value}, lambda: self.ctx.bus.publish(event)

    def _change_price_text(
        self, language: str, text: str
    ) -> tuple[dict[str, Any], Callable[[], None] | None]:
        """California Pricing's `DefaultPriceText,<language>`: one language's
        entry of DefaultPriceText, which is then changed as a whole (checked,
        persisted and published as DefaultPriceText)."""
        supported = str(self.values.get("SupportedLanguages", "")).split(",")
        try:
            whole = pricing.with_price_text(
                str(self.values["DefaultPriceText"]), language, text, supported
            )
        except (pricing.PricingError, ValueError) as exc:
            self.log.info(
                "ChangeConfiguration %s%s: Rejected (%s)", pricing.PER_LANGUAGE, language, exc
            )
            return {"status": Status.REJECTED.value}, None
        return self._change("DefaultPriceText", whole)

    def _price_text_entry(self, key: str, language: str) -> dict[str, Any]:
        try:
            value = pricing.price_text_of(str(self.values["DefaultPriceText"]), language)
        except ValueError:  # checked when set; a file's broken value reads as none
            value = ""
        return {"key": key, "readonly": False, "value": value}

    # -- helpers -----------------------------------------------------------------------

    def _tls_problem(self, profile: Value | None) -> str | None:
        """Why the link could not connect with security profile `profile` now, if not."""
        if not isinstance(profile, int) or profile < 2:
            return None
        try:
            # The very context the link would build: roots that do not load,
            # or a certificate that does not match its key, count as missing.
            tls_context(self.ctx.tls.current, profile, self.ctx.data_dir)
        except TlsUnavailable as exc:
            return str(exc)
        return None

    def _entry(self, name: str) -> dict[str, Any]:
        spec = self.table[name]
        entry: dict[str, Any] = {"key": name, "readonly": spec.readonly}
        if not spec.write_only:
            entry["value"] = keys_v16.render(name, self.values[name], self.table)
        return entry

    def _changed(self, key: str, value: Any) -> ConfigChanged:
        return ConfigChanged(key, value, setting_at(v16_address(key, self.table)))

    def _apply(self, values: Mapping[str, Value]) -> None:
        self.shared.view._replace(values, self.table)
        self.values = self.shared.view.snapshot()

    def _read_overlay(self) -> dict[str, str]:
        # What this Station set is remembered in memory too: a storage actor
        # without a file (tests, demos) starts empty after a restart of the
        # tree, and a Soft reset must not undo the CSMS's changes. With a
        # file, the database holds the same values and wins.
        remembered = self._as_keys(self.shared.memory_overlay)
        ref = self.ctx.registry.get(STORAGE)
        if ref is None:
            if STORAGE in self.ctx.registry.paths():
                # There is a storage actor, restarting: going on without it
                # would hide what the CSMS set. Fail; the supervisor retries.
                raise RuntimeError("the storage actor is not running")
            self.persistent = False
            return remembered
        self.persistent = True
        stored = self.ctx.storage().settings.overlay().get(timeout=STORAGE_TIMEOUT)
        return {**remembered, **self._as_keys(stored)}

    def _as_keys(self, overlay: Mapping[Address, str]) -> dict[str, str]:
        """The overlay by 1.6 key; an address no key of this station has keeps
        its printed form, for `effective` to skip with a warning."""
        keys = {v16_address(key, self.table): key for key in self.table}
        return {keys.get(address, str(address)): text for address, text in overlay.items()}

    def _persist(self, key: str, text: str) -> None:
        address = v16_address(key, self.table)
        if self.persistent:
            self.ctx.storage().settings.put(address, text).get(timeout=STORAGE_TIMEOUT)
        self.shared.memory_overlay[address] = text
