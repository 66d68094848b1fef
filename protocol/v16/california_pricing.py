"""California Pricing over OCPP 1.6 DataTransfer, as pure functions.

The OCA application note "OCPP & California Pricing Requirements" carries
three CSMS messages in DataTransfer (vendorId `org.openchargealliance.costmsg`,
`data` a JSON string), as libocpp's 1.6 reads them:

- SetUserPrice: the price text for a driver's idToken, shown from the
  Authorize on (`UserPrice`).
- RunningCost: the cost so far of a transaction, its state, the prices in
  force and of the next period, and `triggerMeterValue`: when the station
  must send a MeterValues (at a time, an energy, a power, a status).
- FinalCost: the total, its text and the text of a QR code.

Everything here is pure: `parse` validates the JSON against the schema of
its message and turns it into typed payloads (a `PricingError` says why
not, and the station answers Rejected); the rest decides what a display
shows (`format_cost`, `choose_text`, `default_texts`), what time a
TimeOffset makes of a trigger without a zone, and whether a trigger fires.

Decisions worth knowing:

- Costs are `Decimal`s read from the JSON text, never floats: a price of
  0.1 must display as 0.100, not 0.1000000000000000055.
- The plain `priceText` is in the station's Language; `priceTextExtra`
  (other languages) counts only with CustomMultiLanguageMessages, as in
  libocpp.
- A trigger time without a zone is local time at the display's offset
  (TimeOffset, or TimeOffsetNextTransition from its transition on); one with
  a zone is taken as given.
- A power trigger fires at once the first time (nothing is known of the
  power yet), then on each crossing of its level by more than 5 %
  (libocpp's hysteresis, so a power hovering at the level does not flood
  the CSMS). An energy trigger fires once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import fastjsonschema

VENDOR_ID = "org.openchargealliance.costmsg"
SET_USER_PRICE = "SetUserPrice"
RUNNING_COST = "RunningCost"
FINAL_COST = "FinalCost"
MESSAGE_IDS = (SET_USER_PRICE, RUNNING_COST, FINAL_COST)
# The station's own message (idle fee after the stop): the cable has left.
CONNECTOR_UNPLUGGED = "ConnectorUnplugged"

# libocpp's defaults when the keys are absent.
DEFAULT_DECIMALS = 3
MAX_DECIMALS = 6
POWER_HYSTERESIS = Decimal("0.05")

CHARGE_POINT_STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEVSE",
    "SuspendedEV",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)

# -- schemas ------------------------------------------------------------------

_MESSAGE_CONTENT = {
    "type": "object",
    "properties": {
        "format": {"enum": ["ASCII", "HTML", "URI", "UTF8"]},
        "language": {"type": "string", "maxLength": 8},
        "content": {"type": "string", "maxLength": 512},
    },
    "required": ["content"],
}
_TEXTS = {
    "priceText": {"type": "string", "maxLength": 512},
    "priceTextExtra": {"type": "array", "items": _MESSAGE_CONTENT, "maxItems": 16},
}
_TRANSACTION_ID = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+$"}]}
_PRICE = {"type": "number"}
_CHARGING_PRICE = {
    "type": "object",
    "properties": {"kWhPrice": _PRICE, "hourPrice": _PRICE, "flatFee": _PRICE},
}
_IDLE_PRICE = {
    "type": "object",
    "properties": {"graceMinutes": {"type": "integer", "minimum": 0}, "hourPrice": _PRICE},
}
_DATE_TIME = {"type": "string", "minLength": 10, "maxLength": 40}

SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    SET_USER_PRICE: {
        "type": "object",
        "properties": {"idToken": {"type": "string", "minLength": 1, "maxLength": 36}, **_TEXTS},
        "required": ["idToken"],
    },
    RUNNING_COST: {
        "type": "object",
        "properties": {
            "transactionId": _TRANSACTION_ID,
            "timestamp": _DATE_TIME,
            "meterValue": {"type": "integer", "minimum": 0},
            "cost": _PRICE,
            "state": {"enum": ["Charging", "Idle"]},
            "chargingPrice": _CHARGING_PRICE,
            "idlePrice": _IDLE_PRICE,
            "nextPeriod": {
                "type": "object",
                "properties": {
                    "atTime": _DATE_TIME,
                    "chargingPrice": _CHARGING_PRICE,
                    "idlePrice": _IDLE_PRICE,
                },
            },
            "triggerMeterValue": {
                "type": "object",
                "properties": {
                    "atTime": _DATE_TIME,
                    "atEnergykWh": {"type": "number", "minimum": 0},
                    "atPowerkW": {"type": "number", "minimum": 0},
                    "atCPStatus": {
                        "type": "array",
                        "items": {"enum": list(CHARGE_POINT_STATUSES)},
                    },
                },
            },
            **_TEXTS,
            "qrCodeText": {"type": "string", "maxLength": 512},
        },
        "required": ["transactionId", "cost"],
    },
    FINAL_COST: {
        "type": "object",
        "properties": {
            "transactionId": _TRANSACTION_ID,
            "cost": _PRICE,
            **_TEXTS,
            "qrCodeText": {"type": "string", "maxLength": 512},
        },
        "required": ["transactionId", "cost"],
    },
}
_VALIDATORS = {name: fastjsonschema.compile(dict(schema)) for name, schema in SCHEMAS.items()}


class PricingError(ValueError):
    """A DataTransfer `data` that is not the message it claims to be."""


# -- typed payloads -----------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A text for the driver (2.0.1's MessageContent); no language: the station's."""

    content: str
    language: str | None = None
    format: str | None = None


@dataclass(frozen=True)
class ChargingPrice:
    kwh_price: Decimal | None = None
    hour_price: Decimal | None = None
    flat_fee: Decimal | None = None


@dataclass(frozen=True)
class IdlePrice:
    grace_minutes: int | None = None
    hour_price: Decimal | None = None


@dataclass(frozen=True)
class NextPeriod:
    at_time: datetime | None = None
    charging_price: ChargingPrice | None = None
    idle_price: IdlePrice | None = None


@dataclass(frozen=True)
class TriggerMeterValue:
    """When the CSMS wants a MeterValues; `at_time` may be naive (see `trigger_time`)."""

    at_time: datetime | None = None
    at_energy_kwh: Decimal | None = None
    at_power_kw: Decimal | None = None
    at_cp_status: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return (
            self.at_time is None
            and self.at_energy_kwh is None
            and self.at_power_kw is None
            and not self.at_cp_status
        )


@dataclass(frozen=True)
class UserPrice:
    id_token: str
    texts: tuple[Text, ...] = ()


@dataclass(frozen=True)
class RunningCost:
    transaction_id: int
    cost: Decimal
    state: str = "Charging"
    timestamp: datetime | None = None
    meter_value: int | None = None
    charging_price: ChargingPrice | None = None
    idle_price: IdlePrice | None = None
    next_period: NextPeriod | None = None
    trigger: TriggerMeterValue = field(default_factory=TriggerMeterValue)
    texts: tuple[Text, ...] = ()
    qr_code_text: str | None = None


@dataclass(frozen=True)
class FinalCost:
    transaction_id: int
    cost: Decimal
    texts: tuple[Text, ...] = ()
    qr_code_text: str | None = None


Pricing = UserPrice | RunningCost | FinalCost


@dataclass(frozen=True)
class Display:
    """What a display shows a driver: a text, and a QR code's text where there is one."""

    text: str
    qr: str | None = None


# -- parsing ------------------------------------------------------------------


def parse(message_id: str | None, data: str | None) -> Pricing:
    """The typed payload of a costmsg DataTransfer; PricingError if it is not one."""
    if message_id not in _VALIDATORS:
        raise PricingError(f"not a California Pricing message: {message_id!r}")
    if data is None:
        raise PricingError(f"{message_id} without data")
    try:
        # Numbers as Decimal: a cost is shown with a fixed number of decimals.
        raw = json.loads(data, parse_float=Decimal)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PricingError(f"{message_id}: data is not JSON ({exc})") from None
    try:
        _VALIDATORS[message_id](_floats(raw))
    except fastjsonschema.JsonSchemaException as exc:
        raise PricingError(f"{message_id}: {exc}") from None
    if message_id == SET_USER_PRICE:
        return UserPrice(str(raw["idToken"]), _texts(raw))
    if message_id == RUNNING_COST:
        return RunningCost(
            transaction_id=int(raw["transactionId"]),
            cost=_decimal(raw["cost"]),
            state=str(raw.get("state", "Charging")),
            timestamp=_maybe_time(raw.get("timestamp"), "timestamp"),
            meter_value=raw.get("meterValue"),
            charging_price=_charging_price(raw.get("chargingPrice")),
            idle_price=_idle_price(raw.get("idlePrice")),
            next_period=_next_period(raw.get("nextPeriod")),
            trigger=_trigger(raw.get("triggerMeterValue")),
            texts=_texts(raw),
            qr_code_text=raw.get("qrCodeText"),
        )
    return FinalCost(
        transaction_id=int(raw["transactionId"]),
        cost=_decimal(raw["cost"]),
        texts=_texts(raw),
        qr_code_text=raw.get("qrCodeText"),
    )


def _floats(value: Any) -> Any:
    """The JSON as the schema validator expects it (it knows float, not Decimal)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


def _decimal(value: Any) -> Decimal:
    number = Decimal(value) if isinstance(value, int) else value
    if not isinstance(number, Decimal) or not number.is_finite():
        raise PricingError(f"{value!r} is not a finite number")
    return number


def _maybe_decimal(value: Any) -> Decimal | None:
    return None if value is None else _decimal(value)


def _maybe_time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise PricingError(f"{what}: {value!r} is not a date and time") from None


def _texts(raw: Mapping[str, Any]) -> tuple[Text, ...]:
    texts: list[Text] = []
    if "priceText" in raw:
        texts.append(Text(str(raw["priceText"])))
    for extra in raw.get("priceTextExtra", ()):
        texts.append(Text(str(extra["content"]), extra.get("language"), extra.get("format")))
    return tuple(texts)


def _charging_price(raw: Mapping[str, Any] | None) -> ChargingPrice | None:
    if raw is None:
        return None
    return ChargingPrice(
        _maybe_decimal(raw.get("kWhPrice")),
        _maybe_decimal(raw.get("hourPrice")),
        _maybe_decimal(raw.get("flatFee")),
    )


def _idle_price(raw: Mapping[str, Any] | None) -> IdlePrice | None:
    if raw is None:
        return None
    return IdlePrice(raw.get("graceMinutes"), _maybe_decimal(raw.get("hourPrice")))


def _next_period(raw: Mapping[str, Any] | None) -> NextPeriod | None:
    if raw is None:
        return None
    return NextPeriod(
        _maybe_time(raw.get("atTime"), "nextPeriod.atTime"),
        _charging_price(raw.get("chargingPrice")),
        _idle_price(raw.get("idlePrice")),
    )


def _trigger(raw: Mapping[str, Any] | None) -> TriggerMeterValue:
    if raw is None:
        return TriggerMeterValue()
    return TriggerMeterValue(
        _maybe_time(raw.get("atTime"), "triggerMeterValue.atTime"),
        _maybe_decimal(raw.get("atEnergykWh")),
        _maybe_decimal(raw.get("atPowerkW")),
        tuple(raw.get("atCPStatus", ())),
    )


# -- what the display shows ---------------------------------------------------


def format_cost(cost: Decimal, decimals: int) -> str:
    """`cost` with exactly `decimals` decimals (NumberOfDecimalsForCostValues), half up."""
    places = max(0, min(decimals, MAX_DECIMALS))
    quantum = Decimal(1).scaleb(-places)
    try:
        rounded = cost.quantize(quantum, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the context holds: show it as it is
        return str(cost)
    return f"{rounded:f}"


def _primary(language: str) -> str:
    return language.split("-", 1)[0].lower()


def choose_text(
    texts: Sequence[Text], language: str | None, *, multi_language: bool
) -> Text | None:
    """The text to show a driver whose language is `language` (the station's Language).

    A text without a language is in the station's. Without
    CustomMultiLanguageMessages only such texts count. The exact language
    wins, then the same primary language ("en" for "en-US"), then the
    station's own text, then the first there is.
    """
    candidates = [t for t in texts if multi_language or t.language is None]
    if not candidates:
        return None
    if language:
        wanted = language.lower()
        for text in candidates:
            if (text.language or "").lower() == wanted:
                return text
        for text in candidates:
            if text.language and _primary(text.language) == _primary(wanted):
                return text
    for text in candidates:
        if text.language is None:
            return text
    return candidates[0]


def running_display(
    cost: RunningCost | FinalCost, decimals: int, language: str | None, *, multi_language: bool
) -> Display:
    """What a display shows for a RunningCost or FinalCost."""
    chosen = choose_text(cost.texts, language, multi_language=multi_language)
    amount = format_cost(cost.cost, decimals)
    if chosen is not None:
        text = chosen.content
    elif isinstance(cost, FinalCost):
        text = f"Total: {amount}"
    else:
        text = f"Cost so far: {amount}"
    return Display(text, cost.qr_code_text)


# -- the default price (keys DefaultPrice and DefaultPriceText) ---------------


def _json_object(text: str, key: str) -> Mapping[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise PricingError(f"{key} is not JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise PricingError(f"{key} must be a JSON object")
    return value


def _nonempty_string(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def default_price_problem(text: str) -> str | None:
    """What is wrong with a DefaultPrice value, if anything ("" is none)."""
    try:
        value = _json_object(text, "DefaultPrice")
    except PricingError as exc:
        return str(exc)
    if value is None:
        return None
    if not _nonempty_string(value.get("priceText")):
        return "DefaultPrice needs a priceText"
    if "priceTextOffline" in value and not _nonempty_string(value["priceTextOffline"]):
        return "DefaultPrice's priceTextOffline must be a text"
    price = value.get("chargingPrice", {})
    if not isinstance(price, dict) or any(
        not isinstance(v, int | Decimal) or isinstance(v, bool) for v in price.values()
    ):
        return "DefaultPrice's chargingPrice holds numbers"
    return None


def default_price_text_problem(text: str) -> str | None:
    """What is wrong with a DefaultPriceText value, if anything ("" is none)."""
    try:
        value = _json_object(text, "DefaultPriceText")
    except PricingError as exc:
        return str(exc)
    if value is None:
        return None
    entries = value.get("priceTexts")
    if not isinstance(entries, list):
        return "DefaultPriceText holds a list priceTexts"
    for entry in entries:
        if not isinstance(entry, dict):
            return "each of DefaultPriceText's priceTexts is an object"
        if not _nonempty_string(entry.get("priceText")):
            return "each of DefaultPriceText's priceTexts needs a priceText"
        if not (isinstance(entry.get("language"), str) and len(entry["language"]) >= 2):
            return "each of DefaultPriceText's priceTexts needs a language"
        if "priceTextOffline" in entry and not _nonempty_string(entry["priceTextOffline"]):
            return "a priceTextOffline must be a text"
    return None


# libocpp's key form for one language's default price text: the key
# "DefaultPriceText,<language>", its value {"priceText", "priceTextOffline"}.
PER_LANGUAGE = "DefaultPriceText,"


def per_language(key: str) -> str | None:
    """The language of a `DefaultPriceText,<language>` key (case-insensitive), or None."""
    if not key.lower().startswith(PER_LANGUAGE.lower()):
        return None
    return key[len(PER_LANGUAGE) :].strip()


def _price_texts(text: str) -> list[dict[str, Any]]:
    value = json.loads(text) if text else {}
    entries = value.get("priceTexts") if isinstance(value, dict) else None
    return [e for e in entries or () if isinstance(e, dict)]


def price_text_of(default_price_text: str, language: str) -> str:
    """GetConfiguration's value of `DefaultPriceText,<language>`: that
    language's entry without its language, or "" (libocpp: a language
    not set yet reads empty, so that it can be set)."""
    for entry in _price_texts(default_price_text):
        if str(entry.get("language", "")).lower() == language.lower():
            out = {k: entry[k] for k in ("priceText", "priceTextOffline") if k in entry}
            return json.dumps(out, separators=(",", ":"), ensure_ascii=False)
    return ""


def with_price_text(
    default_price_text: str, language: str, value: str, supported: Iterable[str]
) -> str:
    """DefaultPriceText with `language`'s entry set to `value`; raises
    PricingError for a language not in `supported` or a value without a
    priceText. Where libocpp appends another entry, the language's entry is
    replaced: one language, one default text."""
    languages = [s.strip().lower() for s in supported if s.strip()]
    if len(language) < 2 or language.lower() not in languages:
        raise PricingError(f"{language!r} is not one of SupportedLanguages")
    entry = _json_object(value, PER_LANGUAGE + language)
    if entry is None or not _nonempty_string(entry.get("priceText")):
        raise PricingError(f"{PER_LANGUAGE}{language} needs a priceText")
    if "priceTextOffline" in entry and not _nonempty_string(entry["priceTextOffline"]):
        raise PricingError("a priceTextOffline must be a text")
    kept = [
        e
        for e in _price_texts(default_price_text)
        if str(e.get("language", "")).lower() != language.lower()
    ]
    new = {
        "priceText": str(entry["priceText"]),
        **(
            {"priceTextOffline": str(entry["priceTextOffline"])}
            if "priceTextOffline" in entry
            else {}
        ),
        "language": language,
    }
    return json.dumps({"priceTexts": [*kept, new]}, separators=(",", ":"), ensure_ascii=False)


def default_texts(
    default_price: str, default_price_text: str, *, offline: bool
) -> tuple[Text, ...]:
    """The default price texts the keys hold: DefaultPrice's in the station's
    language, then DefaultPriceText's per language; offline, the offline
    texts (a language without one has none). Values the keys refuse are
    never stored, so anything unreadable here reads as no text."""
    wanted = "priceTextOffline" if offline else "priceText"
    texts: list[Text] = []
    try:
        price = _json_object(default_price, "DefaultPrice")
        per_language = _json_object(default_price_text, "DefaultPriceText")
    except PricingError:
        return ()
    if price is not None and _nonempty_string(price.get(wanted)):
        texts.append(Text(str(price[wanted])))
    for entry in (per_language or {}).get("priceTexts", ()):
        if isinstance(entry, dict) and _nonempty_string(entry.get(wanted)):
            texts.append(Text(str(entry[wanted]), str(entry.get("language"))))
    return tuple(texts)


def default_display(
    default_price: str,
    default_price_text: str,
    language: str | None,
    *,
    offline: bool,
    multi_language: bool,
) -> Display | None:
    """The default price shown on an idle EVSE (the offline text while offline)."""
    texts = default_texts(default_price, default_price_text, offline=offline)
    chosen = choose_text(texts, language, multi_language=multi_language)
    return None if chosen is None else Display(chosen.content)


def user_price_display(
    price: UserPrice, language: str | None, *, multi_language: bool
) -> Display | None:
    chosen = choose_text(price.texts, language, multi_language=multi_language)
    return None if chosen is None else Display(chosen.content)


# -- time offsets -------------------------------------------------------------


def parse_offset(text: str) -> timedelta | None:
    """A TimeOffset ("+01:00", "-05:30"); None for "" (UTC); ValueError if malformed."""
    if not text:
        return None
    sign, rest = text[0], text[1:]
    hours, colon, minutes = rest.partition(":")
    if (
        sign not in "+-"
        or not colon
        or not (hours.isdigit() and minutes.isdigit())
        or len(minutes) != 2
        or int(hours) > 14
        or int(minutes) > 59
    ):
        raise ValueError(f"{text!r} is not an offset like +01:00 or -05:30")
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return -delta if sign == "-" else delta


def offset_problem(text: str) -> str | None:
    try:
        parse_offset(text)
    except ValueError as exc:
        return str(exc)
    return None


def date_time_problem(text: str) -> str | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return f"{text!r} is not a date and time"
    if moment.tzinfo is None:
        return f"{text!r} has no time zone"
    return None


def offset_at(now: datetime, time_offset: str, transition_at: str, next_offset: str) -> timedelta:
    """The display's offset at `now`: TimeOffset, or TimeOffsetNextTransition
    from NextTimeOffsetTransitionDateTime on. Malformed values count as unset."""
    try:
        current = parse_offset(time_offset) or timedelta(0)
    except ValueError:
        current = timedelta(0)
    if transition_at and next_offset and date_time_problem(transition_at) is None:
        switch = datetime.fromisoformat(transition_at.replace("Z", "+00:00"))
        if now >= switch:
            try:
                return parse_offset(next_offset) or timedelta(0)
            except ValueError:
                return current
    return current


def trigger_time(at: datetime, offset: timedelta) -> datetime:
    """The moment a trigger names: one without a zone is local at `offset`."""
    if at.tzinfo is not None:
        return at
    return at.replace(tzinfo=timezone(offset))


# -- trigger decisions ----------------------------------------------------------


def energy_reached(energy_wh: float, at_kwh: Decimal) -> bool:
    """Whether the meter register has reached the trigger's energy."""
    return Decimal(str(energy_wh)) >= at_kwh * 1000


def power_crossed(last_kw: Decimal | None, now_kw: Decimal, at_kw: Decimal) -> bool:
    """Whether a power trigger fires: the first reading always; then a crossing
    of `at_kw` by more than the hysteresis, up or down, from the power last sent."""
    if last_kw is None:
        return True
    margin = at_kw * POWER_HYSTERESIS
    upward = last_kw < at_kw and now_kw >= at_kw + margin
    downward = last_kw > at_kw and now_kw <= at_kw - margin
    return upward or downward


def status_entered(previous: str | None, status: str, wanted: Iterable[str]) -> bool:
    """Whether a connector that went from `previous` to `status` fires an atCPStatus trigger."""
    return status != previous and status in set(wanted)


# -- the CSMS's side: the DataTransfer payloads --------------------------------


def _message_content(texts: Iterable[Text]) -> list[dict[str, str]]:
    out = []
    for text in texts:
        item = {"format": text.format or "UTF8", "content": text.content}
        if text.language:
            item["language"] = text.language
        out.append(item)
    return out


def data_transfer(message_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The DataTransfer.req payload carrying `data`, as JSON text."""
    return {
        "vendorId": VENDOR_ID,
        "messageId": message_id,
        "data": json.dumps(data, default=_json_number),
    }


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{value!r} is not JSON")


def connector_unplugged_request(transaction_id: int, timestamp: str) -> dict[str, Any]:
    """The station's DataTransfer ConnectorUnplugged (the note's section on
    idle fees): the cable of `transaction_id` left at `timestamp`, so the
    CSMS stops counting the idle fee and sends the FinalCost."""
    return data_transfer(
        CONNECTOR_UNPLUGGED, {"transactionId": transaction_id, "timestamp": timestamp}
    )


def set_user_price_request(
    id_token: str, price_text: str, extra: Sequence[Text] = ()
) -> dict[str, Any]:
    data: dict[str, Any] = {"idToken": id_token, "priceText": price_text}
    if extra:
        data["priceTextExtra"] = _message_content(extra)
    return data_transfer(SET_USER_PRICE, data)


def running_cost_request(
    transaction_id: int,
    cost: float | Decimal,
    *,
    timestamp: str,
    price_text: str | None = None,
    state: str = "Charging",
    meter_value: int | None = None,
    trigger: Mapping[str, Any] | None = None,
    extra: Sequence[Text] = (),
    qr_code_text: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "transactionId": transaction_id,
        "timestamp": timestamp,
        "cost": cost,
        "state": state,
    }
    if meter_value is not None:
        data["meterValue"] = meter_value
    if price_text is not None:
        data["priceText"] = price_text
    if extra:
        data["priceTextExtra"] = _message_content(extra)
    if trigger:
        data["triggerMeterValue"] = dict(trigger)
    if qr_code_text is not None:
        data["qrCodeText"] = qr_code_text
    return data_transfer(RUNNING_COST, data)


def final_cost_request(
    transaction_id: int,
    cost: float | Decimal,
    *,
    price_text: str | None = None,
    qr_code_text: str | None = None,
    extra: Sequence[Text] = (),
) -> dict[str, Any]:
    data: dict[str, Any] = {"transactionId": transaction_id, "cost": cost}
    if price_text is not None:
        data["priceText"] = price_text
    if extra:
        data["priceTextExtra"] = _message_content(extra)
    if qr_code_text is not None:
        data["qrCodeText"] = qr_code_text
    return data_transfer(FINAL_COST, data)
