"""The shape of the station's settings: OCPP 2.0.1's device model (Part 1 §4, Part 2 B).

Every setting is a variable of a component, addressed by an `Address`
(component, variable, their instances, and for per-EVSE components the EVSE
and connector); a variable has attributes (Actual, Target, MinSet, MaxSet),
of which the station keeps Actual, and characteristics (data type, unit,
limits, the values a list may hold) and a mutability. The station keeps one
store in this shape for both versions; 1.6's configuration keys are a view
onto it (config/settings_catalog.py says where each key lives). Pure: no
I/O, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from ocpp.v201.enums import AttributeEnumType, DataEnumType, MutabilityEnumType

Attribute = AttributeEnumType
Mutability = MutabilityEnumType
DataType = DataEnumType

# 2.0.1's limits on names (ComponentType.name, VariableType.name: string[0..50]).
NAME_MAX = 50


class AddressError(ValueError):
    """A component or variable name 2.0.1 would not carry."""


def _check_name(what: str, name: str) -> None:
    if not name or len(name) > NAME_MAX:
        raise AddressError(f"a {what} name is 1 to {NAME_MAX} characters, not {name!r}")


def _check_number(what: str, number: int | None) -> None:
    # EVSEType numbers both from 1; the store writes 0 for "none", so a 0
    # here would come back as a different address.
    if number is not None and number < 1:
        raise AddressError(f"an {what} number is 1 or more, not {number}")


@dataclass(frozen=True, order=True)
class Address:
    """Where a setting lives: a component's variable, as 2.0.1 addresses it."""

    component: str
    variable: str
    component_instance: str | None = None
    variable_instance: str | None = None
    evse: int | None = None
    connector: int | None = None

    def __post_init__(self) -> None:
        _check_name("component", self.component)
        _check_name("variable", self.variable)
        # An empty instance is stored as "no instance", so it is not one.
        if self.component_instance is not None:
            _check_name("component instance", self.component_instance)
        if self.variable_instance is not None:
            _check_name("variable instance", self.variable_instance)
        _check_number("EVSE", self.evse)
        _check_number("connector", self.connector)
        if self.connector is not None and self.evse is None:
            raise AddressError("a connector's component names its EVSE too")

    def __str__(self) -> str:
        def named(name: str, instance: str | None) -> str:
            return name if instance is None else f"{name}[{instance}]"

        where = "" if self.evse is None else f"@{self.evse}"
        if self.connector is not None:
            where += f".{self.connector}"
        component = named(self.component, self.component_instance)
        return f"{component}{where}.{named(self.variable, self.variable_instance)}"


@dataclass(frozen=True)
class Characteristics:
    """VariableCharacteristicsType: what values a variable may take."""

    data_type: DataType
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: tuple[str, ...] = ()

    def problem(self, value: bool | int | float | str | tuple[str, ...]) -> str | None:
        """Why `value` does not fit, or None. A list type checks every member."""
        match self.data_type:
            case DataType.boolean:
                return None if isinstance(value, bool) else "not a boolean"
            case DataType.integer | DataType.decimal:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return "not a number"
                if self.data_type is DataType.integer and not isinstance(value, int):
                    return "not an integer"
                if self.min_limit is not None and value < self.min_limit:
                    return f"below {self.min_limit:g}"
                if self.max_limit is not None and value > self.max_limit:
                    return f"above {self.max_limit:g}"
                return None
            case DataType.option_list:
                if not isinstance(value, str):
                    return "not one option"
                return self._unlisted((value,))
            case DataType.member_list | DataType.sequence_list:
                if not isinstance(value, tuple):
                    return "not a list"
                return self._unlisted(value)
            case _:  # string, passwordString, dateTime
                if not isinstance(value, str):
                    return "not a string"
                if self.max_limit is not None and len(value) > self.max_limit:
                    return f"longer than {self.max_limit:g} characters"
                return None

    def _unlisted(self, items: tuple[str, ...]) -> str | None:
        if not self.values_list:
            return None
        odd = [item for item in items if item not in self.values_list]
        return f"{', '.join(odd)} not in {','.join(self.values_list)}" if odd else None


@dataclass(frozen=True)
class VariableSpec:
    """A variable the station has: where, what values, and who may write it."""

    address: Address
    characteristics: Characteristics
    mutability: Mutability = Mutability.read_write

    def readable(self) -> bool:
        return self.mutability is not Mutability.write_only

    def writable(self) -> bool:
        return self.mutability is not Mutability.read_only
