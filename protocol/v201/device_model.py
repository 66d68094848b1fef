"""OCPP 2.0.1's device-model messages as pure rules: GetVariables (B06),
SetVariables (B05), GetBaseReport (B07), GetReport (B08) and NotifyReport paging.

Everything here works on the station's catalog (config/v201_components.py)
and the current values: `values` holds each variable's Actual attribute by
its address, `others` the Target, MinSet and MaxSet attributes by (address,
attribute). A variable with no value in either takes its catalog default.
Live values (ClockCtrlr.DateTime, the AvailabilityStates, EVSE.Power) come
in `values` like the rest: the caller reads them when it is asked.
Requests and results are the `ocpp.v201.datatypes` dataclasses; a request
parsed by protocol/payloads.parse keeps its nested objects as dicts, which
`get_request`, `set_request` and `component_variable` turn into dataclasses.

Wire values (attributeValue) are strings; in the station they are typed:

    boolean                 -> bool           "true" / "false" (any case in)
    integer                 -> int            decimal digits, optional sign
    decimal                 -> float          digits with an optional fraction, no exponent
    OptionList              -> str            one of valuesList
    MemberList/SequenceList -> tuple[str,...] comma separated, items stripped ("" is none)
    dateTime                -> str            RFC 3339 with a time zone, kept as given
    string, passwordString  -> str            as given, never stripped

Decisions worth knowing:

- A read of a variable that has no value answers Accepted with an empty
  attributeValue (2.0.1 leaves attributeValue out only when not Accepted).
- A value longer than DeviceDataCtrlr.ReportingValueSize is cut to it in
  GetVariables and reports, as the spec has the station truncate.
- A WriteOnly variable: GetVariables answers Rejected; reports list it with
  its attributes but never a value.
- A numeric Actual must lie within the variable's MinSet and MaxSet when it
  has them, and MinSet may not exceed MaxSet: SetVariables refuses a value
  that would break either with ValueTooLow / ValueTooHigh.
- GetReport's componentVariable matching treats what a request leaves out
  as "any": no instance matches every instance, no EVSE every EVSE, an
  EVSE without connectorId every connector of it, no variable every variable.
- ComponentCriterion: a component matches Active, Available or
  Enabled when that variable of it is true or it has no such variable, and
  Problem only when its Problem variable is true; one criterion matching
  is enough. Criteria and componentVariable together must both match.
- A passwordString variable is reported with dataType "string": 2.0.1's
  schemas do not list passwordString.
- SummaryInventory, as libocpp reads it: every AvailabilityState of the
  station, its EVSEs and connectors, and every Problem, Fallback, Overload
  or Tripped variable that is true; their Actual attribute only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from ocpp.v201.datatypes import (
    ComponentType,
    ComponentVariableType,
    EVSEType,
    GetVariableDataType,
    GetVariableResultType,
    ReportDataType,
    SetVariableDataType,
    SetVariableResultType,
    StatusInfoType,
    VariableAttributeType,
    VariableCharacteristicsType,
    VariableType,
)
from ocpp.v201.enums import (
    ComponentCriterionEnumType,
    GetVariableStatusEnumType,
    ReportBaseEnumType,
    SetVariableStatusEnumType,
)

from ocppstation.config.device_model import (
    Address,
    AddressError,
    Attribute,
    Characteristics,
    DataType,
    Mutability,
)
from ocppstation.config.v201_components import VALUE_SIZE, Value, Variable, problem
from ocppstation.protocol.payloads import dump

__all__ = [
    "Catalog",
    "IllTyped",
    "Others",
    "Page",
    "Values",
    "address_of",
    "base_report",
    "component_type",
    "component_variable",
    "from_wire",
    "get_request",
    "get_variable",
    "get_variables",
    "message_limits",
    "notify_report_pages",
    "pages",
    "report",
    "set_request",
    "set_variable",
    "set_variables",
    "split_report",
    "to_wire",
    "variable_type",
]

Catalog = Mapping[Address, Variable]
Values = Mapping[Address, Value]
Others = Mapping[tuple[Address, Attribute], Value]

_NO_OTHERS: Others = {}

# StatusInfoType.reasonCode is string[0..20]; these are Part 2's reason codes.
_READ_ONLY = "ReadOnly"
_WRITE_ONLY = "WriteOnly"
_INVALID = "InvalidValue"
_TOO_LOW = "ValueTooLow"
_TOO_HIGH = "ValueTooHigh"
_TOO_LARGE = "TooLargeElement"
# StatusInfoType.additionalInfo is string[0..512].
_INFO_MAX = 512

_REPORTING_VALUE_SIZE = Address("DeviceDataCtrlr", "ReportingValueSize")
_CONFIGURATION_VALUE_SIZE = Address("DeviceDataCtrlr", "ConfigurationValueSize")
# OCPP-J integers are 32-bit signed; a variable without its own limits stays inside.
_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1


# -- wire strings -------------------------------------------------------------


class IllTyped(ValueError):
    """A wire string that is no value of the variable; `reason_code` for StatusInfo."""

    def __init__(self, reason: str, reason_code: str = _INVALID) -> None:
        super().__init__(reason)
        self.reason_code = reason_code


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# RFC 3339 date-time with a zone; fromisoformat does the calendar check.
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def from_wire(characteristics: Characteristics, text: str) -> Value:
    """The value `text` stands for, checked against `characteristics`.

    Raises IllTyped, whose message says why, when it is not one.
    """
    value = _parse(characteristics.data_type, text)
    why = problem(characteristics, value)
    if why is not None:
        raise IllTyped(why, _reason_code(why))
    return value


def _reason_code(why: str) -> str:
    # Characteristics.problem's reasons start with what went wrong.
    for start, code in (("below", _TOO_LOW), ("above", _TOO_HIGH), ("longer", _TOO_LARGE)):
        if why.startswith(start):
            return code
    return _INVALID


def _parse(data_type: DataType, text: str) -> Value:
    match data_type:
        case DataType.boolean:
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise IllTyped(f"{text!r} is not true or false")
            return lowered == "true"
        case DataType.integer:
            if not _INTEGER.fullmatch(text):
                raise IllTyped(f"{text!r} is not an integer")
            number = int(text)
            if not _INT_MIN <= number <= _INT_MAX:
                raise IllTyped(f"{text} is beyond 32 bits", _TOO_LOW if number < 0 else _TOO_HIGH)
            return number
        case DataType.decimal:
            if not _DECIMAL.fullmatch(text):
                raise IllTyped(f"{text!r} is not a decimal number")
            decimal = float(text)
            if not math.isfinite(decimal):
                raise IllTyped(f"{text!r} is too large a number", _TOO_HIGH)
            return decimal
        case DataType.option_list:
            if not text:
                raise IllTyped("an empty option")
            return text
        case DataType.member_list | DataType.sequence_list:
            if text == "":
                return ()
            items = tuple(item.strip() for item in text.split(","))
            if "" in items:
                raise IllTyped(f"{text!r} has an empty item")
            if len(set(items)) != len(items):
                raise IllTyped(f"{text!r} lists an item twice")
            return items
        case DataType.date_time:
            if not _DATE_TIME.fullmatch(text):
                raise IllTyped(f"{text!r} is not an RFC 3339 date and time with a zone")
            try:
                datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
            except ValueError:
                raise IllTyped(f"{text!r} is no date and time on the calendar") from None
            return text
        case _:  # string, passwordString
            return text


def to_wire(characteristics: Characteristics, value: Value) -> str:
    """`value` as an attributeValue; from_wire(characteristics, it) gives it back."""
    match characteristics.data_type:
        case DataType.boolean:
            return "true" if value else "false"
        case DataType.member_list | DataType.sequence_list:
            if isinstance(value, tuple):
                return ",".join(value)
            return str(value)
        case DataType.decimal | DataType.integer if isinstance(value, float):
            if value.is_integer() and abs(value) < 2**53:
                return str(int(value))
            # Decimal's 'f' format: the shortest round-trip digits without an exponent.
            return format(Decimal(repr(value)), "f")
        case _:
            if isinstance(value, tuple):
                return ",".join(value)
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)


# -- addresses and the ocpp dataclasses ---------------------------------------


def component_type(address: Address) -> ComponentType:
    evse = None
    if address.evse is not None:
        evse = EVSEType(id=address.evse, connector_id=address.connector)
    return ComponentType(name=address.component, instance=address.component_instance, evse=evse)


def variable_type(address: Address) -> VariableType:
    return VariableType(name=address.variable, instance=address.variable_instance)


def address_of(component: ComponentType, variable: VariableType) -> Address | None:
    """The address a request names, or None when no station could have it."""
    evse = component.evse
    try:
        return Address(
            component.name,
            variable.name,
            component.instance or None,
            variable.instance or None,
            None if evse is None else evse.id,
            None if evse is None else evse.connector_id,
        )
    except AddressError:
        return None


def _evse(raw: Any) -> EVSEType | None:
    if raw is None or isinstance(raw, EVSEType):
        return raw
    return EVSEType(id=raw["id"], connector_id=raw.get("connectorId", raw.get("connector_id")))


def _component(raw: Any) -> ComponentType:
    if isinstance(raw, ComponentType):
        return ComponentType(raw.name, raw.instance, _evse(raw.evse))
    return ComponentType(
        name=raw["name"], instance=raw.get("instance"), evse=_evse(raw.get("evse"))
    )


def _variable(raw: Any) -> VariableType:
    if isinstance(raw, VariableType):
        return raw
    return VariableType(name=raw["name"], instance=raw.get("instance"))


def _attribute(raw: Any) -> Attribute | None:
    return None if raw is None else Attribute(raw)


def get_request(raw: GetVariableDataType | Mapping[str, Any]) -> GetVariableDataType:
    """A GetVariableData item, typed all the way down (it may come as wire dicts)."""
    if isinstance(raw, GetVariableDataType):
        return GetVariableDataType(
            _component(raw.component), _variable(raw.variable), _attribute(raw.attribute_type)
        )
    return GetVariableDataType(
        _component(raw["component"]),
        _variable(raw["variable"]),
        _attribute(raw.get("attributeType", raw.get("attribute_type"))),
    )


def set_request(raw: SetVariableDataType | Mapping[str, Any]) -> SetVariableDataType:
    """A SetVariableData item, typed all the way down (it may come as wire dicts)."""
    if isinstance(raw, SetVariableDataType):
        return SetVariableDataType(
            raw.attribute_value,
            _component(raw.component),
            _variable(raw.variable),
            _attribute(raw.attribute_type),
        )
    return SetVariableDataType(
        attribute_value=raw.get("attributeValue", raw.get("attribute_value", "")),
        component=_component(raw["component"]),
        variable=_variable(raw["variable"]),
        attribute_type=_attribute(raw.get("attributeType", raw.get("attribute_type"))),
    )


def component_variable(raw: ComponentVariableType | Mapping[str, Any]) -> ComponentVariableType:
    """A GetReport componentVariable item, typed all the way down."""
    if isinstance(raw, ComponentVariableType):
        variable = None if raw.variable is None else _variable(raw.variable)
        return ComponentVariableType(_component(raw.component), variable)
    variable_raw = raw.get("variable")
    return ComponentVariableType(
        _component(raw["component"]), None if variable_raw is None else _variable(variable_raw)
    )


def _component_key(address: Address) -> tuple[str, str | None, int | None, int | None]:
    return (address.component, address.component_instance, address.evse, address.connector)


def _has_component(catalog: Catalog, component: ComponentType) -> bool:
    evse = component.evse
    key = (
        component.name,
        component.instance or None,
        None if evse is None else evse.id,
        None if evse is None else evse.connector_id,
    )
    return any(_component_key(a) == key for a in catalog)


def _value_of(
    variable: Variable, attribute: Attribute, values: Values, others: Others
) -> Value | None:
    address = variable.address
    if attribute is Attribute.actual:
        return values.get(address, variable.default)
    return others.get((address, attribute))


def _cut(text: str, values: Values) -> str:
    size = values.get(_REPORTING_VALUE_SIZE, VALUE_SIZE)
    limit = size if isinstance(size, int) and not isinstance(size, bool) else VALUE_SIZE
    return text[: max(0, min(limit, VALUE_SIZE))]


def _info(reason_code: str, why: str) -> StatusInfoType:
    return StatusInfoType(reason_code=reason_code, additional_info=why[:_INFO_MAX])


# -- GetVariables (B06) -------------------------------------------------------


def get_variable(
    request: GetVariableDataType,
    catalog: Catalog,
    values: Values,
    others: Others = _NO_OTHERS,
) -> GetVariableResultType:
    """The answer to one GetVariableData item."""
    request = get_request(request)
    attribute = request.attribute_type or Attribute.actual

    def answer(
        status: GetVariableStatusEnumType,
        value: str | None = None,
        info: StatusInfoType | None = None,
    ) -> GetVariableResultType:
        return GetVariableResultType(
            attribute_status=status,
            component=request.component,
            variable=request.variable,
            attribute_type=request.attribute_type,
            attribute_value=value,
            attribute_status_info=info,
        )

    address = address_of(request.component, request.variable)
    variable = None if address is None else catalog.get(address)
    if address is None or variable is None:
        if not _has_component(catalog, request.component):
            return answer(GetVariableStatusEnumType.unknown_component)
        return answer(GetVariableStatusEnumType.unknown_variable)
    if attribute not in variable.attributes:
        return answer(GetVariableStatusEnumType.not_supported_attribute_type)
    if variable.spec.mutability is Mutability.write_only:
        return answer(
            GetVariableStatusEnumType.rejected,
            info=_info(_WRITE_ONLY, f"{address} is write-only"),
        )
    value = _value_of(variable, attribute, values, others)
    text = "" if value is None else to_wire(variable.spec.characteristics, value)
    return answer(GetVariableStatusEnumType.accepted, _cut(text, values))


def get_variables(
    requests: Iterable[GetVariableDataType],
    catalog: Catalog,
    values: Values,
    others: Others = _NO_OTHERS,
) -> list[GetVariableResultType]:
    """GetVariablesResponse.getVariableResult, one per request item, in order."""
    return [get_variable(r, catalog, values, others) for r in requests]


# -- SetVariables (B05) -------------------------------------------------------


def set_variable(
    request: SetVariableDataType,
    catalog: Catalog,
    values: Values,
    others: Others = _NO_OTHERS,
) -> tuple[SetVariableResultType, Value | None]:
    """The answer to one SetVariableData item, and the value to store when it
    is Accepted or RebootRequired (at the request's attribute type, Actual by
    default), else None. Nothing is stored here."""
    request = set_request(request)
    attribute = request.attribute_type or Attribute.actual

    def answer(
        status: SetVariableStatusEnumType, info: StatusInfoType | None = None
    ) -> SetVariableResultType:
        return SetVariableResultType(
            attribute_status=status,
            component=request.component,
            variable=request.variable,
            attribute_type=request.attribute_type,
            attribute_status_info=info,
        )

    def rejected(code: str, why: str) -> tuple[SetVariableResultType, None]:
        return answer(SetVariableStatusEnumType.rejected, _info(code, why)), None

    address = address_of(request.component, request.variable)
    variable = None if address is None else catalog.get(address)
    if address is None or variable is None:
        if not _has_component(catalog, request.component):
            return answer(SetVariableStatusEnumType.unknown_component), None
        return answer(SetVariableStatusEnumType.unknown_variable), None
    if attribute not in variable.attributes:
        return answer(SetVariableStatusEnumType.not_supported_attribute_type), None
    if variable.spec.mutability is Mutability.read_only:
        return rejected(_READ_ONLY, f"{address} is read-only")
    text = request.attribute_value
    size = values.get(_CONFIGURATION_VALUE_SIZE)
    if isinstance(size, int) and not isinstance(size, bool) and len(text) > size:
        return rejected(_TOO_LARGE, f"longer than ConfigurationValueSize ({size})")
    try:
        value = from_wire(variable.spec.characteristics, text)
    except IllTyped as e:
        # A write-only value (a password) never goes back out, not even in a reason.
        why = e.reason_code if variable.spec.mutability is Mutability.write_only else str(e)
        return rejected(e.reason_code, f"{address}: {why}")
    bounds = _bounds_problem(variable, attribute, value, values, others)
    if bounds is not None:
        return rejected(*bounds)
    status = (
        SetVariableStatusEnumType.reboot_required
        if variable.reboot_required
        else SetVariableStatusEnumType.accepted
    )
    return answer(status), value


def _number(value: Value | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _bounds_problem(
    variable: Variable, attribute: Attribute, value: Value, values: Values, others: Others
) -> tuple[str, str] | None:
    """Why a numeric value breaks the variable's MinSet / MaxSet, if it does."""
    new = _number(value)
    if new is None:
        return None

    def current(other: Attribute) -> float | None:
        if other not in variable.attributes:
            return None
        return _number(_value_of(variable, other, values, others))

    # MinSet and MaxSet bound each other; Actual and Target lie between them.
    low = None if attribute is Attribute.min_set else current(Attribute.min_set)
    high = None if attribute is Attribute.max_set else current(Attribute.max_set)
    if low is not None and new < low:
        return _TOO_LOW, f"{variable.address}: below its MinSet {low:g}"
    if high is not None and new > high:
        return _TOO_HIGH, f"{variable.address}: above its MaxSet {high:g}"
    return None


def set_variables(
    requests: Iterable[SetVariableDataType],
    catalog: Catalog,
    values: Values,
    others: Others = _NO_OTHERS,
) -> tuple[list[SetVariableResultType], dict[tuple[Address, Attribute], Value]]:
    """SetVariablesResponse.setVariableResult in order, and every value to store.

    Items are judged in order, each against the values the ones before it
    set, so a MaxSet and the Actual under it may arrive together.
    """
    actual = dict(values)
    rest = dict(others)
    changes: dict[tuple[Address, Attribute], Value] = {}
    results = []
    for raw in requests:
        request = set_request(raw)
        result, value = set_variable(request, catalog, actual, rest)
        results.append(result)
        if value is None:
            continue
        address = address_of(request.component, request.variable)
        assert address is not None  # an unknown address is never accepted
        attribute = request.attribute_type or Attribute.actual
        changes[(address, attribute)] = value
        if attribute is Attribute.actual:
            actual[address] = value
        else:
            rest[(address, attribute)] = value
    return results, changes


# -- reports (B07, B08) -------------------------------------------------------


def _characteristics(variable: Variable) -> VariableCharacteristicsType:
    c = variable.spec.characteristics
    # 2.0.1's JSON schemas have no passwordString (the text of Part 2 does):
    # on the wire a password is a string, hidden by its WriteOnly mutability.
    data_type = DataType.string if c.data_type is DataType.password_string else c.data_type
    return VariableCharacteristicsType(
        data_type=data_type,
        # Any readable variable takes monitors (N04; actors/v201/monitoring.py).
        supports_monitoring=variable.spec.mutability is not Mutability.write_only,
        unit=c.unit,
        min_limit=c.min_limit,
        max_limit=c.max_limit,
        values_list=",".join(c.values_list) or None,
    )


def _attribute_data(
    variable: Variable, attribute: Attribute, values: Values, others: Others
) -> VariableAttributeType:
    value: str | None = None
    if variable.spec.readable():
        stored = _value_of(variable, attribute, values, others)
        if stored is not None:
            value = _cut(to_wire(variable.spec.characteristics, stored), values)
    return VariableAttributeType(
        type=attribute,
        value=value,
        mutability=variable.spec.mutability,
        constant=True if variable.constant else None,
    )


def _report_data(
    variable: Variable,
    values: Values,
    others: Others,
    attributes: Sequence[Attribute] | None = None,
    with_characteristics: bool = True,
) -> ReportDataType:
    address = variable.address
    return ReportDataType(
        component=component_type(address),
        variable=variable_type(address),
        variable_attribute=[
            _attribute_data(variable, a, values, others)
            for a in (variable.attributes if attributes is None else attributes)
        ],
        variable_characteristics=_characteristics(variable) if with_characteristics else None,
    )


_PROBLEM_VARIABLES = frozenset({"Problem", "Fallback", "Overload", "Tripped"})


def _in_summary(variable: Variable, values: Values) -> bool:
    address = variable.address
    if address.variable == "AvailabilityState" and address.component in (
        "ChargingStation",
        "EVSE",
        "Connector",
    ):
        return True
    return address.variable in _PROBLEM_VARIABLES and (
        values.get(address, variable.default) is True
    )


def base_report(
    kind: ReportBaseEnumType,
    catalog: Catalog,
    values: Values,
    others: Others = _NO_OTHERS,
) -> list[ReportDataType]:
    """GetBaseReport's reportData (B07), in the catalog's order, before paging."""
    out = []
    for variable in catalog.values():
        if kind is ReportBaseEnumType.full_inventory:
            out.append(_report_data(variable, values, others))
        elif kind is ReportBaseEnumType.configuration_inventory:
            if variable.spec.writable():
                out.append(_report_data(variable, values, others))
        elif _in_summary(variable, values):
            out.append(_report_data(variable, values, others, (Attribute.actual,), False))
    return out


def _criteria_match(
    address: Address,
    criteria: Iterable[ComponentCriterionEnumType],
    catalog: Catalog,
    values: Values,
) -> bool:
    for criterion in criteria:
        flag = Address(
            address.component,
            ComponentCriterionEnumType(criterion).value,
            address.component_instance,
            None,
            address.evse,
            address.connector,
        )
        variable = catalog.get(flag)
        if variable is None:
            # A component without Active/Available/Enabled is implied to be so;
            # one without Problem has none.
            if flag.variable != ComponentCriterionEnumType.problem.value:
                return True
            continue
        if values.get(flag, variable.default) is True:
            return True
    return False


def _asked_for(address: Address, wanted: ComponentVariableType) -> bool:
    component = wanted.component
    if component.name != address.component:
        return False
    if component.instance is not None and component.instance != address.component_instance:
        return False
    evse = component.evse
    if evse is not None:
        if evse.id != address.evse:
            return False
        if evse.connector_id is not None and evse.connector_id != address.connector:
            return False
    variable = wanted.variable
    if variable is None:
        return True
    if variable.name != address.variable:
        return False
    return variable.instance is None or variable.instance == address.variable_instance


def report(
    criteria: Iterable[ComponentCriterionEnumType] | None,
    component_variables: Iterable[ComponentVariableType | Mapping[str, Any]] | None,
    catalog: Catalog,
    values: Values,
    others: Others = _NO_OTHERS,
) -> list[ReportDataType]:
    """GetReport's reportData (B08), in the catalog's order, before paging.

    An empty list is the EmptyResultSet GetReport answers with.
    """
    criteria = None if criteria is None else list(criteria)
    wanted = (
        None
        if component_variables is None
        else [component_variable(c) for c in component_variables]
    )
    out = []
    matched: dict[tuple[str, str | None, int | None, int | None], bool] = {}
    for address, variable in catalog.items():
        if wanted and not any(_asked_for(address, w) for w in wanted):
            continue
        if criteria:
            key = _component_key(address)
            if key not in matched:
                matched[key] = _criteria_match(address, criteria, catalog, values)
            if not matched[key]:
                continue
        out.append(_report_data(variable, values, others))
    return out


# -- NotifyReport paging ------------------------------------------------------


def message_limits(kind: str, catalog: Catalog, values: Values) -> tuple[int, int]:
    """DeviceDataCtrlr's ItemsPerMessage[kind] and BytesPerMessage[kind]
    ("GetReport", "GetVariables", "SetVariables") as the station has them now."""

    def limit(name: str) -> int:
        address = Address("DeviceDataCtrlr", name, variable_instance=kind)
        variable = catalog.get(address)
        if variable is None:
            raise KeyError(f"the catalog has no {address}")
        value = values.get(address, variable.default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{address} holds {value!r}, not a count")
        return value

    return limit("ItemsPerMessage"), limit("BytesPerMessage")


T = TypeVar("T")


def _size(item: object) -> int:
    return len(json.dumps(dump(item), separators=(",", ":"), ensure_ascii=False).encode())


def pages(
    items: Sequence[T],
    items_per_message: int,
    bytes_per_message: int,
    overhead: int = 0,
    size: Callable[[T], int] = _size,
) -> list[list[T]]:
    """`items` in pages of at most `items_per_message` whose JSON array takes
    at most `bytes_per_message - overhead` bytes (the rest of the message
    around it is `overhead`). An item too large for any page goes alone.
    Order and every item are kept. NotifyReport's and NotifyMonitoringReport's
    paging."""
    if items_per_message < 1:
        raise ValueError(f"ItemsPerMessage is 1 or more, not {items_per_message}")
    budget = bytes_per_message - overhead
    out: list[list[T]] = []
    page: list[T] = []
    used = 2  # the array's brackets
    for item in items:
        n = size(item)
        grown = used + n + (1 if page else 0)
        if page and (len(page) >= items_per_message or grown > budget):
            out.append(page)
            page, used = [], 2
            grown = used + n
        page.append(item)
        used = grown
    if page:
        out.append(page)
    return out


def split_report(
    report_data: Sequence[ReportDataType],
    items_per_message: int,
    bytes_per_message: int,
    overhead: int = 0,
) -> list[list[ReportDataType]]:
    """A report's data in NotifyReport pages (see `pages`)."""
    return pages(report_data, items_per_message, bytes_per_message, overhead)


class Page(NamedTuple):
    """One NotifyReport's share of a report: (seq_no, tbc, report_data)."""

    seq_no: int
    tbc: bool
    report_data: list[ReportDataType]


def notify_report_pages(
    report_data: Sequence[ReportDataType],
    items_per_message: int,
    bytes_per_message: int,
    overhead: int = 0,
) -> Iterator[Page]:
    """The NotifyReports of a report: seqNo from 0, tbc on all but the last.

    Nothing for an empty report (GetReport answers EmptyResultSet instead)."""
    pages = split_report(report_data, items_per_message, bytes_per_message, overhead)
    for seq_no, page in enumerate(pages):
        yield Page(seq_no, seq_no < len(pages) - 1, page)
