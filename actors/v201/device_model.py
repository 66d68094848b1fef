"""OCPP 2.0.1 B device model: GetVariables (B06), SetVariables (B05),
GetBaseReport (B07), GetReport (B08) and the NotifyReports that answer them.

The settings actor of a 2.0.1 station. It owns the values of every variable
in the catalog (config/v201_components.py): when it starts, before the
supervisor starts the next sibling, they are layered as the catalog's
defaults, then what the config file sets (its 1.6-named sections map onto
the same places, config/v16_view.py), then what the CSMS set at runtime,
read back from storage. The rules of the messages are pure
(protocol/v201/device_model.py); this actor stores, shows and answers.

Every actor reads settings through the station's view (ctx.setting), by a
domain name, as in 1.6; this actor replaces the view's values whole. The
view also keeps the places only 1.6 has (MinimumStatusDuration, ...), at
their config values, so the EVSEs behave as they do in 1.6 where 2.0.1
says nothing; those are not in the device model and no report lists them.

An accepted SetVariables is, in this order: stored (it survives a crash
once the CSMS heard Accepted), shown in the view, answered, and published
as ConfigChanged once the answer is on its way. A RebootRequired one is
stored only and takes effect at the next start of this actor.

Every change of an Actual value (an accepted SetVariables once its answer
is out, a live state) is published as `VariableChanged`, which the
monitoring block (monitoring.py) judges its monitors on; it reads the
values whole with `ValuesQuery` and sets MonitoringCtrlr's read-only
base and level with `SetInternally`, stored like a SetVariables.

SetNetworkProfile (B09) is answered here too: judged by
protocol/v201/network_profiles.py, stored through the tree's
NetworkProfiles (actors/v201/network_profiles.py), which the link dials
from; a NetworkConfigurationPriority naming a slot without a profile is
Rejected, and ActiveNetworkProfile follows the link's connections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ocpp.v201 import call, call_result
from ocpp.v201.datatypes import StatusInfoType
from ocpp.v201.enums import (
    ComponentCriterionEnumType,
    GenericDeviceModelStatusEnumType,
    ReportBaseEnumType,
    SetNetworkProfileStatusEnumType,
    SetVariableStatusEnumType,
)

from ocppstation.actors.events import (
    ChargingProfilesChanged,
    ConfigChanged,
    ConnectorChanged,
    DisplayMessagesChanged,
    LocalListChanged,
)
from ocppstation.actors.link.rpc import Answer, Inbound, send
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import RPC, STORAGE, StationContext
from ocppstation.actors.v201.network_profiles import NetworkProfiles, ProfileConnected
from ocppstation.config import v201_components
from ocppstation.config.device_model import Address, Attribute
from ocppstation.config.settings_catalog import setting_at
from ocppstation.config.v16_view import v16_address
from ocppstation.config.v201_components import Value, Variable
from ocppstation.protocol.errors import (
    InternalError,
    NotSupported,
    OccurrenceConstraintViolation,
    OcppError,
)
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v201 import device_model as rules
from ocppstation.protocol.v201 import network_profiles
from ocppstation.protocol.v201.evse_messages import CONNECTOR, connector_status
from ocppstation.protocol.v201.network_profiles import NetworkProfile

SETTINGS = "settings"
STORAGE_TIMEOUT = 5.0

_DEVICE_DATA = "DeviceDataCtrlr"
_PRIORITY = Address("OCPPCommCtrlr", "NetworkConfigurationPriority")
_ACTIVE_PROFILE = Address("OCPPCommCtrlr", "ActiveNetworkProfile")
_SECURITY_PROFILE = Address("SecurityCtrlr", "SecurityProfile")
_PROBLEM = Address("ChargingStation", "Problem")
# Live, as the AvailabilityStates: kept by the authorization block's updates.
_LIST_ENTRIES = Address("LocalAuthListCtrlr", "Entries")
# Live too, from the profiles block and the display messages block. 2.0.1
# (and libocpp) name the display's count DisplayMessages, not Entries.
_PROFILE_ENTRIES = Address("SmartChargingCtrlr", "Entries", variable_instance="ChargingProfiles")
_MESSAGE_ENTRIES = Address("DisplayMessageCtrlr", "DisplayMessages")
# What bounds each count, as the station enforces it: the 1.6 key of the
# same limit (a config file may set it), so maxLimit tells the truth.
_ENFORCED = {
    _LIST_ENTRIES: "LocalAuthListMaxLength",
    _PROFILE_ENTRIES: "MaxChargingProfilesInstalled",
}
_COUNTS: Mapping[type, Address] = {
    LocalListChanged: _LIST_ENTRIES,
    ChargingProfilesChanged: _PROFILE_ENTRIES,
    DisplayMessagesChanged: _MESSAGE_ENTRIES,
}


def _enforced(
    catalog: Mapping[Address, Variable], limit: Callable[[str], object]
) -> Mapping[Address, Variable]:
    """The catalog with each count's maxLimit the limit the station enforces."""
    out = dict(catalog)
    for address, key in _ENFORCED.items():
        most = limit(key)
        entry = out.get(address)
        if entry is None or not isinstance(most, int) or isinstance(most, bool):
            continue
        characteristics = replace(entry.spec.characteristics, max_limit=most)
        out[address] = replace(entry, spec=replace(entry.spec, characteristics=characteristics))
    return out


def _limit(values: Mapping[Address, Value], variable: str, instance: str, default: int) -> int:
    value = values.get(Address(_DEVICE_DATA, variable, variable_instance=instance))
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class _Then:
    run: Callable[[], None]


@dataclass(frozen=True)
class VariableChanged:
    """Published when a variable's Actual value changes (a SetVariables, a live
    state): the monitoring block (monitoring.py) judges its monitors on it."""

    address: Address
    value: Value | None


@dataclass(frozen=True)
class ValuesQuery:
    """Asked: every Actual value the device model holds now, by address."""


@dataclass(frozen=True)
class SetInternally:
    """Asked: store and show a value the station sets itself (a read-only one such
    as MonitoringCtrlr.ActiveMonitoringLevel, set by SetMonitoringLevel)."""

    address: Address
    value: Value


class DeviceModel(Supervised):
    def __init__(
        self, place: Place, ctx: StationContext, network: NetworkProfiles | None = None
    ) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.network = network
        self.shared = ctx.settings
        config = ctx.config
        self.catalog = _enforced(
            v201_components.catalog({n: 1 for n in config.evse_numbers}, config.custom_variables),
            lambda key: self.shared.view.v16(key, None),
        )
        self.persistent = False
        self._unsubscribe: Callable[[], None] = lambda: None
        # Layered here, in the thread starting us (see actors/v16/configuration.py).
        self.values: dict[Address, Value] = {}
        self.others: dict[tuple[Address, Attribute], Value] = {}
        self.legacy: dict[Address, Value] = {}
        self.problems: set[int] = set()  # EVSEs with a hardware problem
        self._layer()
        active = network.active if network is not None else None
        if active is not None and active.slot is not None:
            # Restarted inside the run: the link is where it was.
            self.values[_ACTIVE_PROFILE] = active.slot
        self._show()

    # -- values ------------------------------------------------------------------

    def _layer(self) -> None:
        for address, variable in self.catalog.items():
            if variable.default is not None:
                self.values[address] = variable.default
        # The config file, by 1.6 key: what it names explicitly wins over a default.
        view = self.shared.view
        named = {key for section in self.ctx.config.sections.values() for key in section}
        table = self.ctx.config.keys
        for key, configured in view.snapshot().items():
            address = v16_address(key, table)
            known = self.catalog.get(address)
            if known is None:
                self.legacy[address] = configured
            elif key in named and v201_components.problem(known.spec.characteristics, configured):
                if configured not in ("", ()):  # an unset 1.6 key is no value to warn of
                    self.log.warning(
                        "config value of %s does not fit %s; default kept", key, address
                    )
            elif key in named:
                self.values[address] = configured
        for attribute, stored in self._stored().items():
            for address, text in stored.items():
                entry = self.catalog.get(address)
                if entry is None or attribute not in entry.attributes:
                    self.log.warning("ignored the stored value of %s (not in the model)", address)
                    continue
                try:
                    value = rules.from_wire(entry.spec.characteristics, text)
                except rules.IllTyped as exc:
                    self.log.warning("ignored the stored value of %s: %s", address, exc)
                    continue
                if attribute is Attribute.actual:
                    self.values[address] = value
                else:
                    self.others[(address, attribute)] = value

    def _stored(self) -> dict[Attribute, dict[Address, str]]:
        remembered: dict[Attribute, dict[Address, str]] = {
            Attribute.actual: dict(self.shared.memory_overlay)
        }
        ref = self.ctx.registry.get(STORAGE)
        if ref is None:
            if STORAGE in self.ctx.registry.paths():
                raise RuntimeError("the storage actor is not running")
            return remembered
        self.persistent = True
        store = self.ctx.storage().settings
        for attribute in Attribute:
            stored = store.overlay(attribute).get(timeout=STORAGE_TIMEOUT)
            remembered[attribute] = {**remembered.get(attribute, {}), **stored}
        return remembered

    def _show(self) -> None:
        self.shared.view._replace_places({**self.legacy, **self.values})

    def setup(self) -> None:
        wanted = (ConnectorChanged, *_COUNTS)
        self._unsubscribe = self.ctx.forward_kinds(self.actor_ref, *wanted)
        if self.persistent:
            storage = self.ctx.storage()
            size = storage.local_list.size().get(timeout=STORAGE_TIMEOUT)
            self.values[_LIST_ENTRIES] = int(size)
            # Until their blocks start and say so themselves (they come later in the tree).
            profiles = storage.profiles.all().get(timeout=STORAGE_TIMEOUT)
            self.values[_PROFILE_ENTRIES] = len(profiles)
            messages = storage.display_messages.all().get(timeout=STORAGE_TIMEOUT)
            self.values[_MESSAGE_ENTRIES] = len(messages)
        # The EVSEs announce themselves when they start; a restart of this
        # actor inside the run asks them for what it missed.
        evses = list(self.ctx.config.evse_numbers)
        for evse, state in self.ctx.snapshots(evses, STORAGE_TIMEOUT).items():
            self._availability(evse, str(state["status"]), str(state.get("error_code", "NoError")))

    def teardown(self) -> None:
        self._unsubscribe()

    def _availability(self, evse: int, status: str, error_code: str = "NoError") -> None:
        """The live AvailabilityState and Available of the EVSE, its connector and
        the station, and the station's Problem: whether any connector has a
        hardware problem (read-only variables the station keeps, never stored)."""
        before = dict(self.values)
        if status == "Faulted" or error_code != "NoError":
            self.problems.add(evse)
        else:
            self.problems.discard(evse)
        self.values[_PROBLEM] = bool(self.problems)
        state = str(connector_status(status).value)
        available = state not in ("Unavailable", "Faulted")
        for where in (
            Address("EVSE", "AvailabilityState", evse=evse),
            Address("Connector", "AvailabilityState", evse=evse, connector=CONNECTOR),
        ):
            self.values[where] = state
            self.values[
                Address(where.component, "Available", evse=where.evse, connector=where.connector)
            ] = available
        states = [
            v
            for a, v in self.values.items()
            if a.component == "EVSE" and a.variable == "AvailabilityState"
        ]
        station = "Available"
        if states and all(s == "Unavailable" for s in states):
            station = "Unavailable"
        elif states and all(s == "Faulted" for s in states):
            station = "Faulted"
        self.values[Address("ChargingStation", "AvailabilityState")] = station
        self.values[Address("ChargingStation", "Available")] = station == "Available"
        for address, value in self.values.items():
            if before.get(address) != value:
                self.ctx.bus.publish(VariableChanged(address, value))

    # -- the CSMS's calls ------------------------------------------------------------

    def receive(self, message: Any) -> Any:
        match message:
            case ConnectorChanged(evse=evse, status=status, error_code=error_code):
                self._availability(evse, status, error_code)
            case (
                LocalListChanged(entries=entries)
                | ChargingProfilesChanged(entries=entries)
                | DisplayMessagesChanged(entries=entries)
            ):
                address = _COUNTS[type(message)]
                if self.values.get(address) != entries:
                    self.values[address] = entries
                    self.ctx.bus.publish(VariableChanged(address, entries))
            case ProfileConnected(slot=slot):
                self.values[_ACTIVE_PROFILE] = slot
                self._show()
                self.ctx.bus.publish(VariableChanged(_ACTIVE_PROFILE, slot))
            case ValuesQuery():
                return dict(self.values)
            case SetInternally(address=address, value=value):
                self._set_internally(address, value)
            case _Then(run=run):
                run()
            case Inbound():
                self._inbound(message.call)
            case _:
                return super().receive(message)
        return None

    def _inbound(self, call_: Call) -> None:
        then: Callable[[], None] | None = None
        result: dict[str, Any] | OcppError
        try:
            result, then = self._handle(call_)
        except OcppError as exc:
            result = exc
        except Exception:
            # A bug here must not restart the tree behind us (rest_for_one).
            self.log.exception("%s failed", call_.action)
            result = InternalError(f"{call_.action} failed")
        if then is None:
            self.ctx.registry.tell(RPC, Answer(call_, result))
        else:
            self.ctx.registry.tell(RPC, Answer(call_, result, self.actor_ref, _Then(then)))

    def _handle(self, call_: Call) -> tuple[dict[str, Any], Callable[[], None] | None]:
        payload = call_.payload
        match call_.action:
            case "GetVariables":
                return self._get(payload["getVariableData"]), None
            case "SetVariables":
                return self._set(payload["setVariableData"])
            case "GetBaseReport":
                kind = ReportBaseEnumType(payload["reportBase"])
                data = rules.base_report(kind, self.catalog, self.values, self.others)
                return self._report(int(payload["requestId"]), data)
            case "SetNetworkProfile":
                return self._set_network_profile(payload), None
            case "GetReport":
                criteria = [
                    ComponentCriterionEnumType(c) for c in payload.get("componentCriteria", [])
                ]
                data = rules.report(
                    criteria or None,
                    payload.get("componentVariable"),
                    self.catalog,
                    self.values,
                    self.others,
                )
                return self._report(int(payload["requestId"]), data)
        raise NotSupported(f"{call_.action} is not handled by the device model")

    def _get(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        most = _limit(self.values, "ItemsPerMessage", "GetVariables", 0)
        if most and len(items) > most:
            raise OccurrenceConstraintViolation(
                f"{len(items)} getVariableData; ItemsPerMessage[GetVariables] is {most}"
            )
        requests = [rules.get_request(item) for item in items]
        results = rules.get_variables(requests, self.catalog, self.values, self.others)
        return dump(call_result.GetVariables(get_variable_result=results))

    def _set(self, items: list[dict[str, Any]]) -> tuple[dict[str, Any], Callable[[], None] | None]:
        most = _limit(self.values, "ItemsPerMessage", "SetVariables", 0)
        if most and len(items) > most:
            raise OccurrenceConstraintViolation(
                f"{len(items)} setVariableData; ItemsPerMessage[SetVariables] is {most}"
            )
        requests = [rules.set_request(item) for item in items]
        results, to_store = rules.set_variables(requests, self.catalog, self.values, self.others)
        self._check_priority(results, to_store)
        changed: list[tuple[Address, Value]] = []
        for result in results:
            status = SetVariableStatusEnumType(result.attribute_status)
            where = rules.address_of(result.component, result.variable)
            shown = where if where is None or not self._secret(where) else "(a secret)"
            self.log.info("SetVariables %s: %s", shown, status.value)
        for (address, attribute), value in to_store.items():
            variable = self.catalog[address]
            text = rules.to_wire(variable.spec.characteristics, value)
            try:
                self._persist(address, attribute, text)
            except Exception:
                self.log.exception("could not store %s; refusing the change", address)
                return self._refused(results, address), None
            if variable.reboot_required:
                continue  # stored for the next start; what runs keeps the old value
            if attribute is Attribute.actual:
                self.values[address] = value
                changed.append((address, value))
            else:
                self.others[(address, attribute)] = value
        self._show()
        answer = dump(call_result.SetVariables(set_variable_result=results))
        if not changed:
            return answer, None
        events = [self._changed(address, value) for address, value in changed]

        def publish() -> None:
            for event in events:
                self.ctx.bus.publish(event)
            for address, value in changed:
                self.ctx.bus.publish(VariableChanged(address, value))

        return answer, publish

    def _set_internally(self, address: Address, value: Value) -> None:
        variable = self.catalog[address]
        why = v201_components.problem(variable.spec.characteristics, value)
        if why:
            raise ValueError(f"{address}: {value!r} is {why}")
        text = rules.to_wire(variable.spec.characteristics, value)
        self._persist(address, Attribute.actual, text)
        self.values[address] = value
        self._show()
        self.ctx.bus.publish(self._changed(address, value))
        self.ctx.bus.publish(VariableChanged(address, value))

    def _refused(self, results: list[Any], failed: Address) -> dict[str, Any]:
        """Every result as it was, but the one that could not be stored is Rejected."""
        out = []
        for result in results:
            if rules.address_of(result.component, result.variable) == failed:
                result.attribute_status = SetVariableStatusEnumType.rejected
            out.append(result)
        return dump(call_result.SetVariables(set_variable_result=out))

    def _report(
        self, request_id: int, data: list[Any]
    ) -> tuple[dict[str, Any], Callable[[], None] | None]:
        if not data:
            empty = call_result.GetReport(GenericDeviceModelStatusEnumType.empty_result_set)
            return dump(empty), None
        items = _limit(self.values, "ItemsPerMessage", "GetReport", 100)
        size = _limit(self.values, "BytesPerMessage", "GetReport", 65536)
        pages = list(rules.notify_report_pages(data, items, size, overhead=200))
        accepted = call_result.GetReport(GenericDeviceModelStatusEnumType.accepted)

        def notify() -> None:
            generated = ocpp_timestamp(self.ctx.clock.wall())
            for page in pages:
                send(
                    self.ctx,
                    call.NotifyReport(
                        request_id=request_id,
                        generated_at=generated,
                        seq_no=page.seq_no,
                        tbc=page.tbc,
                        report_data=list(page.report_data),
                    ),
                )

        return dump(accepted), notify

    # -- network profiles (B09) ----------------------------------------------------------

    def _security_floor(self) -> int:
        """The security profile in force: a new network profile may not go below it.
        The configured one, or the one of the connection made, if higher."""
        configured = self.values.get(_SECURITY_PROFILE, 0)
        floor = int(configured) if isinstance(configured, int) else 0
        active = self.network.active if self.network is not None else None
        return max(floor, active.security_profile if active is not None else 0)

    def _set_network_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        # Read from the wire's camelCase, which is also how a profile is stored.
        slot = int(payload["configurationSlot"])
        profile = NetworkProfile.from_wire(payload["connectionData"])
        tls = self.ctx.tls.current
        verdict = network_profiles.judge(
            slot,
            profile,
            security_profile=self._security_floor(),
            csms_root=bool(tls.csms_roots),
            client_certificate=bool(tls.client_chain and tls.client_key),
        )
        if verdict.accepted:
            try:
                if self.network is None:
                    raise RuntimeError("this tree keeps no network profiles")
                self.network.store(slot, profile)
            except Exception as exc:
                self.log.exception("could not store the network profile of slot %d", slot)
                verdict = network_profiles.Verdict(
                    network_profiles.FAILED, "InternalError", f"not stored: {exc}"[:512]
                )
        self.log.info(
            "SetNetworkProfile slot %d (%s, security profile %d): %s%s",
            slot,
            profile.csms_url,
            profile.security_profile,
            verdict.status,
            f" ({verdict.info})" if verdict.info else "",
        )
        info = (
            StatusInfoType(reason_code=verdict.reason_code, additional_info=verdict.info)
            if verdict.reason_code
            else None
        )
        return dump(
            call_result.SetNetworkProfile(
                status=SetNetworkProfileStatusEnumType(verdict.status), status_info=info
            )
        )

    def _check_priority(
        self, results: list[Any], to_store: dict[tuple[Address, Attribute], Value]
    ) -> None:
        """A NetworkConfigurationPriority naming a slot without a profile is
        Rejected (as libocpp's B09 checks): the link would have nowhere to go."""
        value = to_store.get((_PRIORITY, Attribute.actual))
        if value is None or self.network is None:
            return
        members = value if isinstance(value, tuple) else (str(value),)
        why = network_profiles.priority_problem(members, self.network.known_slots())
        if why is None:
            return
        del to_store[(_PRIORITY, Attribute.actual)]
        for result in results:
            if rules.address_of(result.component, result.variable) == _PRIORITY:
                result.attribute_status = SetVariableStatusEnumType.rejected
                result.attribute_status_info = StatusInfoType(
                    reason_code="InvalidNetworkConf", additional_info=why
                )

    # -- helpers -----------------------------------------------------------------------

    def _secret(self, address: Address) -> bool:
        variable = self.catalog.get(address)
        return variable is not None and variable.spec.mutability.value == "WriteOnly"

    def _changed(self, address: Address, value: Value) -> ConfigChanged:
        key = next(
            (k for k in self.ctx.config.keys if v16_address(k, self.ctx.config.keys) == address),
            str(address),
        )
        return ConfigChanged(key, None if self._secret(address) else value, setting_at(address))

    def _persist(self, address: Address, attribute: Attribute, text: str) -> None:
        if self.persistent:
            store = self.ctx.storage().settings
            store.put(address, text, attribute).get(timeout=STORAGE_TIMEOUT)
        if attribute is Attribute.actual:
            self.shared.memory_overlay[address] = text
