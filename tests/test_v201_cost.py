"""OCPP 2.0.1 I Tariff and cost end to end: the CSMS's tariff and cost texts on
the EVSE's display (status() and DisplayChanged), against the dev CSMS and
ocpp-rpc strict, over real websockets, in virtual time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import DisplayChanged, Online
from ocppstation.actors.runtime.supervisor import ChildRestarted
from ocppstation.actors.v201.tariff_and_cost import COST, FINAL_COST_HOLD, cost_text
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, log_of, quiet, wait_display, wait_status
from tests.test_v201_e2e import CP, any_csms201, charging, csms201, station201, wait_event

__all__ = ["any_csms201", "csms201"]  # the 2.0.1 peers, as fixtures here


def text(content: str) -> dict[str, Any]:
    return {"format": "UTF8", "content": content}


def set_variables(peer: Any, **values: str) -> None:
    data = [
        {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": k}, "attributeValue": v}
        for k, v in values.items()
    ]
    answer = peer.call(CP, "SetVariables", {"setVariableData": data})
    assert {r["attributeStatus"] for r in answer["setVariableResult"]} == {"Accepted"}


def test_cost_text() -> None:
    assert cost_text(1.5, "EUR", final=False) == "Cost so far: 1.50 EUR"
    assert cost_text("12.345", "USD", final=True) == "Total cost: 12.34 USD"
    assert cost_text("n/a", "EUR", final=True) is None


def test_i01_i02_i03_tariff_running_and_final_cost(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    csms201.set_reply(
        "Authorize",
        lambda cp, payload: {
            "idTokenInfo": {"status": "Accepted", "personalMessage": text("0.30 EUR/kWh")}
        },
    )

    answers: dict[str, dict[str, Any]] = {
        "Updated": {"totalCost": 1.25, "updatedPersonalMessage": text("Now 0.25 EUR/kWh")},
        "Ended": {"totalCost": 4.2},
    }

    def transaction_event(cp: str, payload: dict[str, Any]) -> dict[str, Any]:
        return answers.get(payload["eventType"], {})

    csms201.set_reply("TransactionEvent", transaction_event)
    station = station201(csms201, make_station)
    station.tag(1, "TAG-1")
    wait_display(station, 1, "0.30 EUR/kWh")  # I01: before the session starts
    station.plug(1)
    wait_event(csms201, "Updated")
    wait_display(station, 1, "Now 0.25 EUR/kWh\nCost so far: 1.25 EUR")
    tx_id = str(wait_event(csms201, "Started")[0]["transactionInfo"]["transactionId"])
    # Later Updated events say no cost, so the CostUpdated's is the last word.
    answers["Updated"] = {}
    quiet(station)
    # I02 by CostUpdated: always answered, shown at that transaction's EVSE.
    assert csms201.call(CP, "CostUpdated", {"totalCost": 2.5, "transactionId": tx_id}) == {}
    wait_display(station, 1, "Now 0.25 EUR/kWh\nCost so far: 2.50 EUR")
    assert "display" not in station.status()["evses"][1]
    unknown = {"totalCost": 1, "transactionId": "no-such-transaction"}
    assert csms201.call(CP, "CostUpdated", unknown) == {}
    station.unplug(1)
    wait_event(csms201, "Ended")
    wait_display(station, 1, "Now 0.25 EUR/kWh\nTotal cost: 4.20 EUR")  # I03
    quiet(station)
    clock.advance(FINAL_COST_HOLD)
    wait_display(station, 1, "")


def test_i01_a_tariff_goes_when_the_ev_never_comes(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    csms201.set_reply(
        "Authorize",
        lambda cp, payload: {
            "idTokenInfo": {"status": "Accepted", "personalMessage": text("0.30 EUR/kWh")}
        },
    )
    station = station201(csms201, make_station)
    station.tag(2, "TAG-2")
    wait_display(station, 2, "0.30 EUR/kWh")
    wait_status(station, 2, "Preparing")
    quiet(station)
    clock.advance(60)  # EVConnectionTimeOut
    wait_status(station, 2, "Available")
    wait_display(station, 2, "")


def test_i_cost_disabled_shows_no_cost(csms201: DevCsms, make_station: StationFactory) -> None:
    csms201.set_reply("TransactionEvent", lambda cp, payload: {"totalCost": 9})
    station = station201(csms201, make_station)
    answer = csms201.call(
        CP,
        "SetVariables",
        {
            "setVariableData": [
                {
                    "component": {"name": "TariffCostCtrlr"},
                    "variable": {"name": "Enabled", "instance": "Cost"},
                    "attributeValue": "false",
                }
            ]
        },
    )
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    tx_id = charging(station, csms201)
    assert csms201.call(CP, "CostUpdated", {"totalCost": 2.5, "transactionId": tx_id}) == {}
    quiet(station)
    assert "display" not in station.status()["evses"][0]


def test_i04_i05_fallback_messages_while_offline(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    set_variables(
        csms201,
        TariffFallbackMessage="0.40 EUR/kWh",
        TotalCostFallbackMessage="Your receipt: example.com/r",
        Currency="EUR",
    )
    charging(station, csms201)
    # The card came from the CSMS without a tariff text: the fallback (I04).
    wait_display(station, 1, "0.40 EUR/kWh")
    quiet(station)
    csms201.stop()
    log_of(station).wait_for(lambda e: isinstance(e, Online) and not e.online, timeout=5)
    wait_display(station, 2, "0.40 EUR/kWh")  # idle, offline: what charging here costs
    station.unplug(1)
    wait_display(station, 1, "0.40 EUR/kWh\nYour receipt: example.com/r")  # I05


def test_i_on_ocpp_rpc_strict(any_csms201: Any, make_station: StationFactory) -> None:
    any_csms201.set_reply("TransactionEvent", {"totalCost": 3})
    station = station201(any_csms201, make_station)
    tx_id = charging(station, any_csms201)
    wait_display(station, 1, "Cost so far: 3.00 EUR")
    # The start's later events (its charging state) say no cost now, so the
    # CostUpdated's is the last word.
    any_csms201.set_reply("TransactionEvent", {})
    quiet(station)
    answer = any_csms201.call(CP, "CostUpdated", {"totalCost": 3.5, "transactionId": tx_id})
    assert answer == {}
    wait_display(station, 1, "Cost so far: 3.50 EUR")
    any_csms201.set_reply("TransactionEvent", {"totalCost": 3.75})
    station.unplug(1)
    wait_display(station, 1, "Total cost: 3.75 EUR")


def test_i_a_restarted_cost_block_shows_its_transactions_texts_again(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    csms201.set_reply("TransactionEvent", {"totalCost": 2})
    station = station201(csms201, make_station)
    charging(station, csms201)
    wait_display(station, 1, "Cost so far: 2.00 EUR")
    mark = log_of(station).mark()
    station.crash(COST)
    log_of(station).wait_for(lambda e: isinstance(e, ChildRestarted) and e.path == COST, timeout=10)
    # Blank while it was down (nothing stands behind the text), then the
    # stored text of the transaction still running.
    log_of(station).wait_for(
        lambda e: (
            isinstance(e, DisplayChanged) and (e.evse, e.text) == (1, "Cost so far: 2.00 EUR")
        ),
        timeout=5,
        since=mark,
    )
    shown = [
        e.text for e in log_of(station).all(mark) if isinstance(e, DisplayChanged) and e.evse == 1
    ]
    assert shown == ["", "Cost so far: 2.00 EUR"]


def test_i_the_texts_of_the_open_transaction_survive_a_station_restart(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    csms201.set_reply(
        "Authorize",
        lambda cp, payload: {
            "idTokenInfo": {"status": "Accepted", "personalMessage": text("0.30 EUR/kWh")}
        },
    )
    answers: dict[str, dict[str, Any]] = {
        "Updated": {"totalCost": 1.25, "updatedPersonalMessage": text("Now 0.25 EUR/kWh")},
    }
    csms201.set_reply("TransactionEvent", lambda cp, payload: answers.get(payload["eventType"], {}))
    data = {"DataDir": str(tmp_path)}
    station = station201(csms201, make_station, Internal=data)
    station.tag(1, "TAG-1")
    station.plug(1)
    wait_display(station, 1, "Now 0.25 EUR/kWh\nCost so far: 1.25 EUR")
    tx_id = str(wait_event(csms201, "Started")[0]["transactionInfo"]["transactionId"])
    quiet(station)
    station.stop()

    # The next process ends the transaction (PowerLoss) and still shows what
    # its driver saw, held as an ended session's texts are.
    station = station201(csms201, make_station, Internal=data)
    log_of(station).wait_for(
        lambda e: (
            isinstance(e, DisplayChanged)
            and (e.evse, e.text) == (1, "Now 0.25 EUR/kWh\nCost so far: 1.25 EUR")
        ),
        timeout=5,
    )
    # The transaction's EVSE is known too: its final cost shows there.
    assert csms201.call(CP, "CostUpdated", {"totalCost": 4.2, "transactionId": tx_id}) == {}
    wait_display(station, 1, "Now 0.25 EUR/kWh\nTotal cost: 4.20 EUR")
    quiet(station)
    clock.advance(FINAL_COST_HOLD)
    wait_display(station, 1, "")
    station.stop()

    # Over: a third run shows nothing of it.
    station = station201(csms201, make_station, Internal=data)
    quiet(station)
    assert "display" not in station.status()["evses"][0]
