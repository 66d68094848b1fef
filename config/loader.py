"""Load and check a station configuration file.

The file is JSON in sections named like OCPP's feature profiles (Internal,
Core, Security, ...) holding OCPP key names. It is layered over the shipped
defaults, then over that come command-line overrides. Anything wrong is
refused with a `ConfigError` naming the file, the key and the problem, because
a station builder reads that message on a charger's console, not a traceback.

The OCPP sections (Core, Security, ...) are checked against the key table in
`keys_v16`, the one description of every OCPP key; `schema.json` covers only
the station's own sections (Internal, Simulation, Hardware). The `Custom`
section declares an integrator's own keys (`keys_v16.declare`), which join
that table for this station (`StationConfig.keys`).

Layers merge key by key within a section; in Custom, property by property
within a declaration, so an override may give a declared key just a new
`value`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import fastjsonschema

from ocppstation.config import keys_v16, v201_components
from ocppstation.protocol.errors import OcppVersion

Sections = dict[str, dict[str, Any]]


class ConfigError(ValueError):
    """A configuration that cannot be used, with where and why."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


def _resource_json(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_text("utf-8"))


@cache
def _schema() -> dict[str, Any]:
    return _resource_json("schema.json")


@cache
def _validate() -> Any:
    return fastjsonschema.compile(_schema())


def defaults() -> Sections:
    return _resource_json("defaults.json")


@dataclass(frozen=True)
class StationConfig:
    """A checked configuration: read-only; change it by making a new one."""

    sections: Mapping[str, Mapping[str, Any]]
    source: str = "<defaults>"

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self.sections[section]

    def value(self, section: str, key: str) -> Any:
        return self.sections[section][key]

    @property
    def charge_point_id(self) -> str:
        return self.value("Internal", "ChargePointId")

    @property
    def csms_url(self) -> str:
        return self.value("Internal", "CentralSystemURI")

    @property
    def ocpp_versions(self) -> tuple[OcppVersion, ...]:
        """The versions offered to the CSMS, in order of preference."""
        return tuple(OcppVersion(f"ocpp{v}") for v in self.value("Internal", "OcppVersions"))

    @property
    def ocpp_version(self) -> OcppVersion:
        """The version the station's tree speaks: the first offered."""
        return self.ocpp_versions[0]

    def speaking(self, version: OcppVersion) -> StationConfig:
        """This configuration with `version` first: what a CSMS's choice makes of it."""
        rest = [v for v in self.ocpp_versions if v is not version]
        names = [v.value.removeprefix("ocpp") for v in (version, *rest)]
        return StationConfig(
            _merge(self.sections, {"Internal": {"OcppVersions": names}}), self.source
        )

    @property
    def evses(self) -> int:
        return self.value("Internal", "Evses")

    @property
    def evse_numbers(self) -> range:
        """1..Evses: the EVSE (and connector) numbers, connector 0 not included."""
        return range(1, self.evses + 1)

    @property
    def custom_variables(self) -> list[Mapping[str, Any]]:
        """The builder's own 2.0.1 variables (DeviceModel.Variables), as declared."""
        return list(self.sections.get("DeviceModel", {}).get("Variables", []))

    @cached_property
    def keys(self) -> keys_v16.KeyTable:
        """The station's OCPP key table: the 1.6 keys, then its Custom ones."""
        return keys_v16.station_table(self.sections)

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> StationConfig:
        """The same configuration with some keys replaced, checked again."""
        merged = _merge(self.sections, overrides)
        _check(merged, f"{self.source} (with overrides)")
        return StationConfig(merged, self.source)


def _merge(base: Mapping[str, Mapping[str, Any]], top: Mapping[str, Any]) -> Sections:
    merged: Sections = {name: dict(keys) for name, keys in copy.deepcopy(base).items()}
    for name, keys in top.items():
        if not isinstance(keys, Mapping):
            merged[name] = keys  # left for _check to refuse with the section's name
            continue
        section = merged.setdefault(name, {})
        if name != keys_v16.CUSTOM:
            section.update(keys)
            continue
        for key, declaration in keys.items():
            below = section.get(key)
            if isinstance(below, Mapping) and isinstance(declaration, Mapping):
                section[key] = {**below, **copy.deepcopy(dict(declaration))}
            else:
                section[key] = copy.deepcopy(declaration)
    return merged


def _check(sections: Any, source: str, *, complete: bool = True) -> None:
    """Refuse what is wrong; `complete` when `sections` is the whole layered
    configuration, so that rules between keys can be checked too."""
    if not isinstance(sections, Mapping):
        raise ConfigError(source, "", "the top level must be a JSON object of sections")
    known = _schema()["properties"]
    ocpp = (*keys_v16.SECTIONS, keys_v16.CUSTOM)
    for name, keys in sections.items():
        if name not in known and name not in ocpp:
            names = ", ".join([*known, *ocpp])
            raise ConfigError(source, name, f"unknown section (known: {names})")
        if not isinstance(keys, Mapping):
            raise ConfigError(source, name, "a section must be a JSON object of keys")
        if name in keys_v16.SECTIONS:
            _check_ocpp_section(name, keys, source)
            continue
        if name == keys_v16.CUSTOM:
            try:
                keys_v16.station_table({name: keys})
            except keys_v16.ConfigValueError as exc:
                raise ConfigError(source, f"{name}.{exc.key}", exc.problem) from None
            continue
        allowed = known[name]["properties"]
        for key in keys:
            if key not in allowed:
                raise ConfigError(source, f"{name}.{key}", "unknown key")
    if isinstance(sections.get("DeviceModel"), Mapping):
        _check_device_model(sections["DeviceModel"], source)
    try:
        _validate()({k: v for k, v in sections.items() if k not in ocpp})
    except fastjsonschema.JsonSchemaValueException as exc:
        path = ".".join(str(p) for p in exc.path[1:])
        problem = exc.message.removeprefix(exc.name or "").strip() or exc.message
        raise ConfigError(source, path, f"{problem} (got {exc.value!r})") from None
    if complete:
        values, _ = keys_v16.effective(sections, int(sections["Internal"]["Evses"]))
        for spec, problem in keys_v16.cross_problems(values):
            raise ConfigError(source, spec.where, problem)


def _check_device_model(section: Mapping[str, Any], source: str) -> None:
    """A builder's own 2.0.1 variables (DeviceModel.Variables), as the catalog reads them."""
    entries = section.get("Variables", [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise ConfigError(source, "DeviceModel.Variables", "a list of JSON objects")
    try:
        v201_components.declare(entries)
    except v201_components.CatalogError as exc:
        raise ConfigError(source, "DeviceModel.Variables", str(exc)) from None


def _check_ocpp_section(name: str, keys: Mapping[str, Any], source: str) -> None:
    for key, raw in keys.items():
        where = f"{name}.{key}"
        # Exact names here, unlike OCPP's CiString: a file is written once
        # and a wrong case is more likely a typo than intent.
        spec = keys_v16.KEYS.get(key)
        if spec is None:
            raise ConfigError(source, where, "unknown key")
        if spec.profile != name:
            raise ConfigError(source, where, f"unknown key (it belongs in {spec.profile})")
        if spec.derived_from:
            raise ConfigError(source, where, f"set by the station from {spec.derived_from}")
        try:
            keys_v16.from_json(key, raw)
        except keys_v16.ConfigValueError as exc:
            raise ConfigError(source, where, exc.problem) from None


def load(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> StationConfig:
    """Defaults, then the file at `path` (if any), then `overrides`, all checked."""
    sections = defaults()
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(source, "", f"cannot read the file ({exc.strerror})") from None
        try:
            from_file = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                source, "", f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        # Name the file's own mistakes before merging; rules between keys
        # wait for the whole configuration.
        _check(from_file, source, complete=False)
        sections = _merge(sections, from_file)
    if overrides:
        sections = _merge(sections, overrides)
        # The file was checked alone above: what fails now came from the caller.
        source = "<command line>" if path is None else f"{source} with the command line"
    _check(sections, source)
    return StationConfig(sections, source)
