"""California Pricing over 1.6 DataTransfer: the pure rules, then end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import (
    DisplayChanged,
    MessageSent,
    TransactionStarted,
    TransactionStopped,
    UserPriceAwaited,
)
from ocppstation.config import keys_v16
from ocppstation.protocol.v16 import california_pricing as cp
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of, quiet, wait_status

CP = "cp-test"

# -- pure rules ------------------------------------------------------------------------

costs = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal("1000000"), allow_nan=False, places=8
)


@given(costs, st.integers(min_value=0, max_value=cp.MAX_DECIMALS))
def test_a_cost_shows_exactly_its_decimals_and_rounds_half_up(cost: Decimal, places: int) -> None:
    text = cp.format_cost(cost, places)
    _, _, fraction = text.partition(".")
    assert len(fraction) == places
    assert abs(Decimal(text) - cost) <= Decimal(1).scaleb(-places) / 2


def test_a_cost_is_rounded_the_way_a_receipt_is() -> None:
    assert cp.format_cost(Decimal("1.2345"), 3) == "1.235"
    assert cp.format_cost(Decimal("0.1"), 3) == "0.100"
    assert cp.format_cost(Decimal("2.5"), 0) == "3"


languages = st.sampled_from(["en", "en-US", "de", "de-CH", "fr", "nl"])
texts = st.lists(
    st.builds(cp.Text, st.text(min_size=1, max_size=5), st.none() | languages), max_size=5
)


@given(texts, st.none() | languages, st.booleans())
def test_the_text_chosen_is_one_the_station_may_show(
    candidates: list[cp.Text], language: str | None, multi: bool
) -> None:
    chosen = cp.choose_text(candidates, language, multi_language=multi)
    allowed = [t for t in candidates if multi or t.language is None]
    assert (chosen is None) == (not allowed)
    if chosen is None:
        return
    assert chosen in allowed
    if multi and language and any(t.language == language for t in allowed):
        assert chosen.language == language


def test_language_exact_then_primary_then_the_stations_own() -> None:
    own = cp.Text("0.30 USD/kWh")
    german = cp.Text("0,30 EUR/kWh", "de")
    swiss = cp.Text("0.30 CHF/kWh", "de-CH")
    offered = [own, german, swiss]
    assert cp.choose_text(offered, "de-CH", multi_language=True) == swiss
    assert cp.choose_text(offered, "de-AT", multi_language=True) == german
    assert cp.choose_text(offered, "fr", multi_language=True) == own
    # Without CustomMultiLanguageMessages only the station's own text counts.
    assert cp.choose_text(offered, "de", multi_language=False) == own


kw = st.decimals(min_value=Decimal("0"), max_value=Decimal("350"), allow_nan=False, places=2)


@given(kw, kw)
def test_a_power_trigger_fires_at_once_the_first_time(now: Decimal, level: Decimal) -> None:
    assert cp.power_crossed(None, now, level)


@given(kw, kw, kw)
def test_a_power_trigger_never_fires_inside_its_hysteresis(
    last: Decimal, now: Decimal, level: Decimal
) -> None:
    if abs(now - level) < level * cp.POWER_HYSTERESIS:
        assert not cp.power_crossed(last, now, level)


@given(kw, kw, kw)
def test_a_power_trigger_fires_only_on_a_crossing(
    last: Decimal, now: Decimal, level: Decimal
) -> None:
    if cp.power_crossed(last, now, level):
        assert (last < level <= now) or (now <= level < last)


@given(
    st.floats(min_value=0, max_value=1e7, allow_nan=False),
    st.floats(min_value=0, max_value=1e7, allow_nan=False),
    st.decimals(min_value=Decimal("0"), max_value=Decimal("10000"), allow_nan=False, places=3),
)
def test_an_energy_trigger_once_reached_stays_reached(a: float, b: float, at: Decimal) -> None:
    low, high = sorted((a, b))
    if cp.energy_reached(low, at):
        assert cp.energy_reached(high, at)
    assert cp.energy_reached(float(at * 1000), at)


def test_a_trigger_time_without_a_zone_is_local_at_the_time_offset() -> None:
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    offset = cp.offset_at(now, "+01:00", "2026-03-29T01:00:00Z", "+02:00")
    assert offset == timedelta(hours=1)
    later = cp.offset_at(now + timedelta(hours=1), "+01:00", "2026-03-29T01:00:00Z", "+02:00")
    assert later == timedelta(hours=2)
    naive = datetime(2026, 3, 29, 3, 0)
    assert cp.trigger_time(naive, later) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    aware = datetime(2026, 3, 29, 3, 0, tzinfo=UTC)
    assert cp.trigger_time(aware, later) == aware


@given(st.text(max_size=12))
def test_any_time_offset_text_is_read_or_refused_never_a_crash(text: str) -> None:
    problem = cp.offset_problem(text)
    if problem is None:
        parsed = cp.parse_offset(text)
        assert parsed is None or abs(parsed) <= timedelta(hours=14, minutes=59)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@given(st.sampled_from([*cp.MESSAGE_IDS, "Other", None]), st.text(max_size=40) | st.none())
def test_any_data_parses_or_is_refused_with_a_reason(message_id: str | None, data: Any) -> None:
    try:
        cp.parse(message_id, data)
    except cp.PricingError as exc:
        assert str(exc)


@given(
    st.sampled_from(cp.MESSAGE_IDS),
    st.fixed_dictionaries(
        {},
        optional={
            "idToken": json_values,
            "transactionId": json_values,
            "cost": json_values,
            "priceText": json_values,
            "priceTextExtra": json_values,
            "triggerMeterValue": json_values,
            "qrCodeText": json_values,
        },
    ),
)
def test_json_that_fails_the_schema_is_refused_not_a_crash(
    message_id: str, data: dict[str, Any]
) -> None:
    try:
        parsed = cp.parse(message_id, json.dumps(data))
    except cp.PricingError:
        return
    assert isinstance(parsed, cp.UserPrice | cp.RunningCost | cp.FinalCost)


def test_running_cost_reads_every_field() -> None:
    data = cp.running_cost_request(
        7,
        Decimal("1.5"),
        timestamp="2026-01-01T00:00:00Z",
        price_text="1.50 so far",
        trigger={"atEnergykWh": 5, "atPowerkW": 7.5, "atCPStatus": ["SuspendedEV"]},
        qr_code_text="https://pay.example/7",
    )["data"]
    cost = cp.parse(cp.RUNNING_COST, data)
    assert isinstance(cost, cp.RunningCost)
    assert cost.transaction_id == 7 and cost.cost == Decimal("1.5")
    assert cost.trigger.at_energy_kwh == 5
    assert cost.trigger.at_power_kw == Decimal("7.5")
    assert cost.trigger.at_cp_status == ("SuspendedEV",)
    assert cp.running_display(cost, 2, "en", multi_language=False) == cp.Display(
        "1.50 so far", "https://pay.example/7"
    )


def test_the_default_price_keys_are_checked_when_the_csms_sets_them() -> None:
    values, _ = keys_v16.effective({}, 1)
    good = json.dumps({"priceText": "0.30/kWh", "priceTextOffline": "0.35/kWh"})
    assert keys_v16.validate_change("DefaultPrice", good, values).status == "Accepted"
    for bad in ("{", "[]", '{"priceTextOffline": "x"}'):
        assert keys_v16.validate_change("DefaultPrice", bad, values).status == "Rejected"
    texts = json.dumps({"priceTexts": [{"priceText": "0,30/kWh", "language": "de"}]})
    assert keys_v16.validate_change("DefaultPriceText", texts, values).status == "Accepted"
    assert keys_v16.validate_change("DefaultPriceText", '{"priceTexts": [{}]}', values).status == (
        "Rejected"
    )
    assert keys_v16.validate_change("TimeOffset", "+25:00", values).status == "Rejected"
    assert keys_v16.validate_change("TimeOffset", "-05:00", values).status == "Accepted"
    # Language must be one of SupportedLanguages (en by default).
    assert keys_v16.validate_change("Language", "de", values).status == "Rejected"
    assert keys_v16.validate_change("CustomDisplayCostAndPrice", "true", values).status == (
        "Rejected"
    )


def test_default_texts_offline_and_per_language() -> None:
    price = json.dumps({"priceText": "0.30/kWh", "priceTextOffline": "0.40/kWh offline"})
    per_language = json.dumps(
        {"priceTexts": [{"priceText": "0,30/kWh", "priceTextOffline": "0,40", "language": "de"}]}
    )
    online = cp.default_display(price, per_language, "de", offline=False, multi_language=True)
    assert online == cp.Display("0,30/kWh")
    offline = cp.default_display(price, per_language, "en", offline=True, multi_language=True)
    assert offline == cp.Display("0.40/kWh offline")


# -- end to end ------------------------------------------------------------------------

DEFAULT_PRICE = json.dumps({"priceText": "0.30 USD/kWh", "priceTextOffline": "0.30 (offline)"})


def pricing_station(make_station: StationFactory, peer: Any, **keys: Any) -> Any:
    section = {"CustomDisplayCostAndPrice": True, "DefaultPrice": DEFAULT_PRICE, **keys}
    return make_station(peer, CostAndPrice=section)


def wait_display(station: Any, evse: int, text: str, since: int = 0) -> DisplayChanged:
    event: DisplayChanged = log_of(station).wait_for(
        lambda e: isinstance(e, DisplayChanged) and (e.evse, e.text) == (evse, text),
        timeout=5,
        since=since,
    )
    return event


def index_of(station: Any, predicate: Any) -> int:
    return next(i for i, e in enumerate(log_of(station).all()) if predicate(e))


def charging(station: Any, csms: Any, tag: str = "TAG-1") -> int:
    """Plug and card at EVSE 1; the transaction id once it charges."""
    station.plug(1)
    wait_status(station, 1, "Preparing")
    station.tag(1, tag)
    csms.log.wait_call("Authorize", CP)
    started = log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
    wait_status(station, 1, "Charging")
    return int(started.transaction_id)


def test_disabled_the_messages_are_a_vendor_the_station_does_not_know(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    answer = csms.set_user_price(CP, "TAG-1", "0.25 USD/kWh")
    assert answer == {"status": "UnknownVendorId"}
    assert "display" not in station.status()["evses"][0]
    assert not any(isinstance(e, DisplayChanged) for e in log_of(station).all())


def test_the_driver_price_is_shown_from_the_authorize_and_the_start_waits_for_it(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = pricing_station(make_station, csms, WaitForSetUserPriceTimeout=5000)
    answered(station, "StatusNotification", 3)
    wait_display(station, 1, "0.30 USD/kWh")
    assert station.status()["evses"][0]["display"] == {"text": "0.30 USD/kWh", "qr": None}
    station.plug(1)
    wait_status(station, 1, "Preparing")
    station.tag(1, "TAG-1")
    csms.log.wait_call("Authorize", CP)
    answered(station, "Authorize")
    # Virtual time stands still: only the price can let the transaction go on.
    assert csms.set_user_price(CP, "TAG-1", "Your price: 0.25 USD/kWh") == {"status": "Accepted"}
    csms.log.wait_call("StartTransaction", CP)
    shown = index_of(
        station, lambda e: isinstance(e, DisplayChanged) and e.text.startswith("Your price")
    )
    start = index_of(
        station, lambda e: isinstance(e, MessageSent) and e.action == "StartTransaction"
    )
    assert shown < start
    assert station.status()["evses"][0]["display"]["text"] == "Your price: 0.25 USD/kWh"


def test_without_a_price_the_authorize_goes_on_after_the_timeout(
    make_station: StationFactory, csms: DevCsms, clock: FakeClock
) -> None:
    station = pricing_station(make_station, csms, WaitForSetUserPriceTimeout=3000)
    answered(station, "StatusNotification", 3)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    station.tag(1, "TAG-1")
    csms.log.wait_call("Authorize", CP)
    log_of(station).wait_for(lambda e: isinstance(e, UserPriceAwaited), timeout=5)
    quiet(station)
    mark = csms.log.mark()
    clock.advance(3)
    csms.log.wait_call("StartTransaction", CP, since=mark)
    assert station.status()["evses"][0]["display"]["text"] == "0.30 USD/kWh"


def test_running_cost_updates_the_display_and_an_energy_trigger_sends_meter_values(
    make_station: StationFactory, csms: DevCsms, clock: FakeClock
) -> None:
    station = pricing_station(make_station, csms, NumberOfDecimalsForCostValues=2)
    answered(station, "StatusNotification", 3)
    tx = charging(station, csms)
    # 22.08 kW: 50 Wh after 8.2 s; MeterValueSampleInterval (60 s) is far off.
    answer = csms.running_cost(CP, tx, 1.2345, trigger={"atEnergykWh": 0.05})
    assert answer == {"status": "Accepted"}
    wait_display(station, 1, "Cost so far: 1.23")
    quiet(station)
    mark = csms.log.mark()
    clock.advance(10)
    values = csms.log.wait_call("MeterValues", CP, since=mark)
    assert values.payload["transactionId"] == tx
    sampled = values.payload["meterValue"][0]["sampledValue"]
    # Other, as libocpp: the pricing trigger is no TriggerMessage.
    assert {s.get("context") for s in sampled} == {"Other"}
    energy = next(s for s in sampled if s["measurand"] == "Energy.Active.Import.Register")
    assert int(energy["value"]) >= 50


def test_a_trigger_at_a_time_sends_meter_values_then(
    make_station: StationFactory, csms: DevCsms, clock: FakeClock
) -> None:
    station = pricing_station(make_station, csms)
    answered(station, "StatusNotification", 3)
    tx = charging(station, csms)
    at = (clock.wall() + timedelta(seconds=25)).isoformat()
    text = "1.00 so far, 0.40/kWh from 18:00"
    assert csms.running_cost(CP, tx, 1, text=text, trigger={"atTime": at}) == {"status": "Accepted"}
    wait_display(station, 1, text)
    quiet(station)
    mark = csms.log.mark()
    since = log_of(station).mark()
    clock.advance(20)
    quiet(station)
    sent = log_of(station).all(since)
    assert not [e for e in sent if isinstance(e, MessageSent) and e.action == "MeterValues"]
    clock.advance(6)
    values = csms.log.wait_call("MeterValues", CP, since=mark)
    assert values.payload["transactionId"] == tx


def test_final_cost_shows_the_total_and_the_qr_code_after_the_stop(
    make_station: StationFactory, csms: DevCsms, clock: FakeClock
) -> None:
    station = pricing_station(make_station, csms)
    answered(station, "StatusNotification", 3)
    tx = charging(station, csms)
    station.tag(1, "TAG-1")
    csms.log.wait_call("StopTransaction", CP)
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStopped), timeout=5)
    answer = csms.final_cost(CP, tx, 3.456, qr="https://pay.example/r/1")
    assert answer == {"status": "Accepted"}
    shown = wait_display(station, 1, "Total: 3.456")
    assert shown.qr == "https://pay.example/r/1"
    assert station.status()["evses"][0]["display"] == {
        "text": "Total: 3.456",
        "qr": "https://pay.example/r/1",
    }
    # Shown for a while after the stop, then the idle EVSE offers its price again.
    station.unplug(1)
    wait_status(station, 1, "Available")
    quiet(station)
    mark = log_of(station).mark()
    clock.advance(61)
    assert wait_display(station, 1, "0.30 USD/kWh", since=mark).qr is None


def test_malformed_or_unknown_is_rejected_and_the_station_goes_on(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = pricing_station(make_station, csms)
    answered(station, "StatusNotification", 3)

    def transfer(message_id: str, data: str) -> dict[str, Any]:
        payload = {"vendorId": cp.VENDOR_ID, "messageId": message_id, "data": data}
        return csms.call(CP, "DataTransfer", payload)

    assert transfer("SetUserPrice", "not json")["status"] == "Rejected"
    assert transfer("SetUserPrice", '{"priceText": "no idToken"}')["status"] == "Rejected"
    assert transfer("RunningCost", '{"transactionId": "x", "cost": 1}')["status"] == "Rejected"
    # A transaction the station does not have.
    assert csms.running_cost(CP, 999, 1.0)["status"] == "Rejected"
    assert transfer("Other", "{}")["status"] == "UnknownMessageId"
    # Still answering, and still showing the default price.
    assert csms.set_user_price(CP, "TAG-9", "0.20")["status"] == "Accepted"
    assert station.status()["evses"][0]["display"]["text"] == "0.30 USD/kWh"


def test_dev_csms_console_commands_send_the_pricing_messages(
    make_station: StationFactory, csms: DevCsms
) -> None:
    from ocppstation.tools.csms import _command

    station = pricing_station(make_station, csms)
    answered(station, "StatusNotification", 3)
    assert _command(csms, f"userprice {CP} TAG-1 0.25 USD/kWh") == 'ok {"status":"Accepted"}'
    assert str(_command(csms, f"runningcost {CP} 77 1.5")).startswith('ok {"status":"Rejected"')
    assert str(_command(csms, f"finalcost {CP} 77 1.5 QR")).startswith('ok {"status":"Rejected"')


def test_against_the_ocpp_rpc_strict_peer(make_station: StationFactory) -> None:
    """The same messages from an independent CSMS that checks every frame."""
    from tests.peers.rpc_peer import OcppRpcPeer, unavailable_reason

    if why := unavailable_reason():
        pytest.skip(why)
    peer = OcppRpcPeer(heartbeat_interval=60)
    peer.start()
    try:
        station = pricing_station(make_station, peer, WaitForSetUserPriceTimeout=5000)
        answered(station, "StatusNotification", 3)
        station.plug(1)
        wait_status(station, 1, "Preparing")
        station.tag(1, "TAG-1")
        peer.log.wait_call("Authorize", CP)
        answer = peer.call(CP, "DataTransfer", cp.set_user_price_request("TAG-1", "0.25/kWh"))
        assert answer["status"] == "Accepted"
        started = log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
        wait_display(station, 1, "0.25/kWh")
        request = cp.final_cost_request(int(started.transaction_id), 2, qr_code_text="QR")
        bad = {**request, "data": "{"}
        assert peer.call(CP, "DataTransfer", bad)["status"] == "Rejected"
        assert peer.call(CP, "DataTransfer", request)["status"] == "Accepted"
        assert wait_display(station, 1, "Total: 2.000").qr == "QR"
    finally:
        peer.stop()
    assert peer.validation_failures == [], peer.validation_failures


def test_idle_the_default_price_follows_the_csms_and_the_link(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = pricing_station(make_station, csms)
    answered(station, "StatusNotification", 3)
    wait_display(station, 2, "0.30 USD/kWh")
    price = json.dumps({"priceText": "0.28 USD/kWh", "priceTextOffline": "0.28 (offline)"})
    answer = csms.call(CP, "ChangeConfiguration", {"key": "DefaultPrice", "value": price})
    assert answer == {"status": "Accepted"}
    wait_display(station, 2, "0.28 USD/kWh")
    bad = csms.call(CP, "ChangeConfiguration", {"key": "DefaultPrice", "value": "{"})
    assert bad == {"status": "Rejected"}
    csms.drop(CP)
    wait_display(station, 2, "0.28 (offline)")


def test_a_status_trigger_sends_meter_values_on_entering_it(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = pricing_station(make_station, csms)
    answered(station, "StatusNotification", 3)
    tx = charging(station, csms)
    trigger = {"atCPStatus": ["SuspendedEV"]}
    assert csms.running_cost(CP, tx, 0.5, trigger=trigger) == {"status": "Accepted"}
    wait_display(station, 1, "Cost so far: 0.500")
    mark = csms.log.mark()
    station.ev_suspend(1)
    wait_status(station, 1, "SuspendedEV")
    values = csms.log.wait_call("MeterValues", CP, since=mark)
    assert values.payload["transactionId"] == tx


def _crash_pricing(station: Any) -> None:
    """Crash the pricing block; return once rest_for_one restarted what follows it."""
    from ocppstation.actors.runtime.supervisor import ChildRestarted

    log = log_of(station)
    mark = log.mark()
    station.crash("pricing")
    log.wait_for(
        lambda e: isinstance(e, ChildRestarted) and e.path == "remote_trigger",
        timeout=10,
        since=mark,
    )


def test_a_crash_of_the_block_leaves_no_driver_waiting_and_forgets_no_session(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = pricing_station(make_station, csms, WaitForSetUserPriceTimeout=30000)
    answered(station, "StatusNotification", 3)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    station.tag(1, "TAG-1")
    log_of(station).wait_for(lambda e: isinstance(e, UserPriceAwaited), timeout=5)
    _crash_pricing(station)
    # The wait ended with the block: the session went on without the price.
    started = log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), timeout=5)
    wait_status(station, 1, "Charging")
    _crash_pricing(station)
    # The restarted block knows the session from the connector.
    tx = int(started.transaction_id)
    assert csms.running_cost(CP, tx, 2.25, text="2.25 so far") == {"status": "Accepted"}
    wait_display(station, 1, "2.25 so far")


def test_with_multi_language_messages_the_stations_language_is_chosen(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = pricing_station(
        make_station,
        csms,
        CustomMultiLanguageMessages=True,
        SupportedLanguages="en,de",
        Language="de",
        DefaultPriceText=json.dumps(
            {"priceTexts": [{"priceText": "0,30 EUR/kWh", "language": "de"}]}
        ),
        WaitForSetUserPriceTimeout=5000,
    )
    answered(station, "StatusNotification", 3)
    wait_display(station, 1, "0,30 EUR/kWh")
    station.plug(1)
    station.tag(1, "TAG-1")
    csms.log.wait_call("Authorize", CP)
    german = cp.Text("Ihr Preis: 0,25 EUR/kWh", "de-DE")
    answer = csms.set_user_price(CP, "TAG-1", "Your price: 0.25 EUR/kWh", extra=[german])
    assert answer == {"status": "Accepted"}
    wait_display(station, 1, german.content)
    csms.log.wait_call("StartTransaction", CP)


def test_a_price_after_the_card_is_shown_before_the_cable_without_waiting(
    make_station: StationFactory, csms: DevCsms
) -> None:
    from ocppstation.actors.events import TokenJudged

    station = pricing_station(make_station, csms)  # WaitForSetUserPriceTimeout 0
    answered(station, "StatusNotification", 3)
    station.tag(2, "TAG-2")
    log_of(station).wait_for(lambda e: isinstance(e, TokenJudged) and e.accepted, timeout=5)
    wait_status(station, 2, "Preparing")
    assert csms.set_user_price(CP, "TAG-2", "0.22 USD/kWh for you") == {"status": "Accepted"}
    wait_display(station, 2, "0.22 USD/kWh for you")
    assert station.status()["evses"][1]["transaction_id"] is None


def test_the_per_language_key_sets_and_reads_one_language_of_default_price_text(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = pricing_station(
        make_station,
        csms,
        SupportedLanguages="en,nl",
        Language="nl",
        CustomMultiLanguageMessages=True,  # else only the language-less DefaultPrice shows
    )
    answered(station, "StatusNotification", 3)
    nl = {"priceText": "0,30 EUR/kWh", "priceTextOffline": "0,30 EUR/kWh (offline)"}

    def change(key: str, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        return str(csms.call(CP, "ChangeConfiguration", {"key": key, "value": text})["status"])

    def read(*keys: str) -> dict[str, Any]:
        return csms.call(CP, "GetConfiguration", {"key": list(keys)})

    [unset] = read("DefaultPriceText,nl")["configurationKey"]
    assert unset == {"key": "DefaultPriceText,nl", "readonly": False, "value": ""}
    assert change("DefaultPriceText,nl", nl) == "Accepted"
    wait_display(station, 2, "0,30 EUR/kWh")
    assert change("DefaultPriceText,en", {"priceText": "0.30 EUR/kWh"}) == "Accepted"
    # Set again, the language's entry is replaced, not doubled.
    assert change("defaultpricetext,nl", {**nl, "priceText": "0,31 EUR/kWh"}) == "Accepted"
    wait_display(station, 2, "0,31 EUR/kWh")
    answer = read("DefaultPriceText,nl", "DefaultPriceText")["configurationKey"]
    assert json.loads(answer[0]["value"]) == {**nl, "priceText": "0,31 EUR/kWh"}
    whole = json.loads(answer[1]["value"])["priceTexts"]
    assert sorted(e["language"] for e in whole) == ["en", "nl"]
    # A language the station does not speak, or no priceText: refused, nothing changes.
    assert change("DefaultPriceText,fr", {"priceText": "0,30 EUR/kWh"}) == "Rejected"
    assert change("DefaultPriceText,nl", {"priceTextOffline": "x"}) == "Rejected"
    assert change("DefaultPriceText,nl", "{") == "Rejected"
    assert read("DefaultPriceText")["configurationKey"][0]["value"] == answer[1]["value"]


@given(st.sampled_from(["en", "nl", "de"]), st.text(min_size=1, max_size=20))
def test_with_price_text_replaces_only_its_language(language: str, text: str) -> None:
    start = json.dumps(
        {"priceTexts": [{"priceText": "a", "language": "en"}, {"priceText": "b", "language": "nl"}]}
    )
    value = json.dumps({"priceText": text})
    out = cp.with_price_text(start, language, value, ["en", "nl", "de"])
    assert cp.default_price_text_problem(out) is None
    entries = json.loads(out)["priceTexts"]
    assert [e["language"] for e in entries].count(language) == 1
    assert json.loads(cp.price_text_of(out, language)) == {"priceText": text}
    for other in {"en", "nl"} - {language}:
        assert cp.price_text_of(out, other) == cp.price_text_of(start, other)


def test_idle_fee_after_the_stop_until_the_cable_leaves(
    make_station: StationFactory, csms: DevCsms, clock: FakeClock
) -> None:
    station = pricing_station(make_station, csms, CustomIdleFeeAfterStop=True)
    answered(station, "StatusNotification", 3)
    tx = charging(station, csms)
    assert csms.running_cost(CP, tx, 2.0)["status"] == "Accepted"
    wait_display(station, 1, "Cost so far: 2.000")
    station.tag(1, "TAG-1")  # stopped by the card: the cable stays in
    csms.log.wait_call("StopTransaction", CP)
    wait_status(station, 1, "Finishing")
    # The CSMS counts the idle fee after the stop and shows it (state Idle).
    answer = csms.running_cost(CP, tx, 3.5, state="Idle", text="Idle fee: 3.50 so far")
    assert answer == {"status": "Accepted"}
    wait_display(station, 1, "Idle fee: 3.50 so far")
    # Plugged in, it does not expire.
    quiet(station)
    mark = log_of(station).mark()
    clock.advance(600)
    quiet(station)
    assert station.status()["evses"][0]["display"]["text"] == "Idle fee: 3.50 so far"
    assert not csms.log.calls("DataTransfer", CP, direction="in")
    assert not any(isinstance(e, DisplayChanged) for e in log_of(station).all(mark))

    station.unplug(1)
    wait_status(station, 1, "Available")
    unplugged = csms.log.wait_call("DataTransfer", CP)
    assert unplugged.payload["vendorId"] == cp.VENDOR_ID
    assert unplugged.payload["messageId"] == "ConnectorUnplugged"
    data = json.loads(unplugged.payload["data"])
    assert data["transactionId"] == tx and data["timestamp"].endswith("Z")
    # StatusNotification Available is still sent, before it.
    statuses = [c.payload["status"] for c in csms.calls("StatusNotification", CP)]
    assert statuses[-1] == "Available"
    # The FinalCost the CSMS sends after the unplug shows.
    assert csms.final_cost(CP, tx, 3.7, text="TOTAL: $3.70")["status"] == "Accepted"
    wait_display(station, 1, "TOTAL: $3.70")
    quiet(station)
    mark = log_of(station).mark()
    clock.advance(61)
    wait_display(station, 1, "0.30 USD/kWh", since=mark)


def test_idle_fee_after_the_stop_is_off_by_default_and_the_csms_may_turn_it_on(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = pricing_station(make_station, csms)
    answered(station, "StatusNotification", 3)
    tx = charging(station, csms)
    station.tag(1, "TAG-1")
    csms.log.wait_call("StopTransaction", CP)
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStopped), timeout=5)
    # Off: no session after the stop, so no RunningCost for it.
    assert csms.running_cost(CP, tx, 1.0, state="Idle")["status"] == "Rejected"
    station.unplug(1)
    wait_status(station, 1, "Available")
    quiet(station)
    assert not csms.log.calls("DataTransfer", CP, direction="in")
    change = {"key": "CustomIdleFeeAfterStop", "value": "true"}
    assert csms.call(CP, "ChangeConfiguration", change) == {"status": "Accepted"}
    got = csms.call(CP, "GetConfiguration", {"key": ["CustomIdleFeeAfterStop"]})
    assert got["configurationKey"][0] == {
        "key": "CustomIdleFeeAfterStop",
        "readonly": False,
        "value": "true",
    }
