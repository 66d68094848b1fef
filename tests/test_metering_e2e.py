"""Meter values end to end: sampled, clock-aligned and in the StopTransaction (TC_070, TC_071)."""

from __future__ import annotations

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import ConnectorChanged, TransactionStarted
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of

CP = "cp-test"


def start_charging(station: Station, evse: int = 1) -> int:
    station.plug(evse)
    station.tag(evse, "TAG-1")
    started = log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), 5)
    return started.transaction_id


def test_tc_070_sampled_values_carry_every_configured_measurand(
    any_csms, make_station: StationFactory, clock: FakeClock
) -> None:
    measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"
    station = make_station(
        any_csms,
        Core={"MeterValueSampleInterval": 30, "MeterValuesSampledData": measurands},
    )
    answered(station, "StatusNotification", 3)
    tx = start_charging(station)
    mark = any_csms.log.mark()
    clock.advance(30)
    values = any_csms.log.wait_call("MeterValues", CP, since=mark)
    assert values.payload["transactionId"] == tx
    sampled = values.payload["meterValue"][0]["sampledValue"]
    assert [(v["measurand"], v.get("phase")) for v in sampled] == [
        ("Energy.Active.Import.Register", None),
        ("Power.Active.Import", None),
        ("Current.Import", "L1"),
        ("Current.Import", "L2"),
        ("Current.Import", "L3"),
        ("Voltage", "L1-N"),
        ("Voltage", "L2-N"),
        ("Voltage", "L3-N"),
    ]
    assert all(v["context"] == "Sample.Periodic" for v in sampled)


def test_tc_071_clock_aligned_values_fall_on_the_boundaries(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    # The fake clock starts at midnight: 15-minute boundaries are :15, :30, ...
    station = make_station(
        csms,
        Core={
            "ClockAlignedDataInterval": 900,
            "MeterValuesAlignedData": "Energy.Active.Import.Register",
            "MeterValueSampleInterval": 0,
        },
    )
    answered(station, "StatusNotification", 3)
    clock.advance(600)  # 00:10: nothing yet
    tx = start_charging(station)
    mark = csms.log.mark()
    clock.advance(300)  # 00:15
    aligned = [
        csms.log.wait_for(
            lambda e, n=n: (
                e.kind == "call" and e.action == "MeterValues" and e.payload["connectorId"] == n
            ),
            since=mark,
        )
        for n in (1, 2)
    ]
    in_tx, idle = aligned
    assert in_tx.payload["transactionId"] == tx
    assert "transactionId" not in idle.payload  # outside a transaction: not a tx message
    for entry in aligned:
        value = entry.payload["meterValue"][0]
        assert value["timestamp"] == "2026-01-01T00:15:00.000Z"
        assert value["sampledValue"][0]["context"] == "Sample.Clock"


def test_stop_transaction_carries_transaction_data(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(
        csms,
        Core={
            "MeterValueSampleInterval": 60,
            "StopTxnSampledData": "Energy.Active.Import.Register",
        },
    )
    answered(station, "StatusNotification", 3)
    start_charging(station)
    answered(station, "StartTransaction")
    clock.advance(60)
    answered(station, "MeterValues")
    station.tag(1, "TAG-1")
    stop = csms.log.wait_call("StopTransaction", CP)
    data = stop.payload["transactionData"]
    contexts = [entry["sampledValue"][0]["context"] for entry in data]
    assert contexts == ["Transaction.Begin", "Sample.Periodic", "Transaction.End"]
    energies = [int(entry["sampledValue"][0]["value"]) for entry in data]
    assert energies[0] == 0 and energies == sorted(energies)
    assert energies[-1] == stop.payload["meterStop"]


def test_an_ev_leaving_does_not_end_the_transaction_when_so_configured(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms, Core={"StopTransactionOnEVSideDisconnect": False})
    answered(station, "StatusNotification", 3)
    start_charging(station)
    station.unplug(1)
    log_of(station).wait_for(
        lambda e: isinstance(e, ConnectorChanged) and e.status == "SuspendedEV", 5
    )
    assert not csms.log.calls("StopTransaction")
    station.plug(1)  # back: the transaction charges again
    log_of(station).wait_for(
        lambda e: isinstance(e, ConnectorChanged) and e.status == "Charging",
        5,
        since=log_of(station).mark() - 2,
    )
    station.tag(1, "TAG-1")
    stop = csms.log.wait_call("StopTransaction", CP)
    assert stop.payload["reason"] == "Local"


def test_a_tag_refused_in_the_start_answer_stops_the_transaction(
    csms: DevCsms, make_station: StationFactory
) -> None:
    csms.set_reply(
        "StartTransaction",
        lambda cp_id, payload: {"transactionId": 77, "idTagInfo": {"status": "Blocked"}},
    )
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    station.plug(1)
    station.tag(1, "TAG-1")
    stop = csms.log.wait_call("StopTransaction", CP)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (77, "DeAuthorized")


def test_max_energy_on_invalid_id_suspends_instead_of_stopping(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    csms.set_reply(
        "StartTransaction",
        lambda cp_id, payload: {"transactionId": 78, "idTagInfo": {"status": "Invalid"}},
    )
    station = make_station(
        csms,
        Core={
            "StopTransactionOnInvalidId": False,
            "MaxEnergyOnInvalidId": 100,
            "MeterValueSampleInterval": 10,
        },
    )
    answered(station, "StatusNotification", 3)
    start_charging(station)
    for _ in range(3):  # 22.08 kW: about 61 Wh per 10 s, over 100 Wh by the second
        answered(station, "StartTransaction")
        clock.advance(10)
    log_of(station).wait_for(
        lambda e: isinstance(e, ConnectorChanged) and e.status == "SuspendedEVSE", 5
    )
    assert not csms.log.calls("StopTransaction")
