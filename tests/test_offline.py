"""Offline behaviour and persistence, each named after the OCTT 1.6 case it follows.

Reconnects are kept far away in virtual time (RetryBackOffWaitMinimum) so a
test decides when the station is back online by moving the clock.
"""

from __future__ import annotations

from pathlib import Path

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import (
    MeterSampled,
    Online,
    TokenJudged,
    TransactionStarted,
    TransactionStopped,
)
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of, wait_status

CP = "cp-test"
FAR = 1000  # seconds of virtual time before the station tries to reconnect


def offline_station(peer: DevCsms, make_station: StationFactory, **sections: dict) -> Station:
    internal = {"RetryBackOffWaitMinimum": FAR, **sections.pop("Internal", {})}
    station = make_station(peer, Internal=internal, **sections)
    answered(station, "StatusNotification", 3)
    return station


def go_offline(station: Station) -> None:
    mark = log_of(station).mark()
    station.disconnect()
    log_of(station).wait_for(lambda e: isinstance(e, Online) and not e.online, 5, since=mark)


def come_back(station: Station, clock: FakeClock) -> None:
    mark = log_of(station).mark()
    clock.advance(FAR)
    log_of(station).wait_for(lambda e: isinstance(e, Online) and e.online, 5, since=mark)


def test_tc_036_connection_loss_during_a_transaction_loses_nothing(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = offline_station(csms, make_station, Core={"MeterValueSampleInterval": 60})
    station.plug(1)
    station.tag(1, "TAG-1")
    started = log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), 5)
    go_offline(station)
    for _ in range(3):  # three samples while the CSMS cannot hear us
        mark = log_of(station).mark()
        clock.advance(60)
        log_of(station).wait_for(lambda e: isinstance(e, MeterSampled), 5, since=mark)
    station.tag(1, "TAG-1")
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStopped), 5)
    mark = csms.log.mark()
    come_back(station, clock)
    stop = csms.log.wait_call("StopTransaction", CP, since=mark)
    values = csms.log.calls("MeterValues", since=mark)
    assert len(values) == 3
    assert all(v.payload["transactionId"] == started.transaction_id for v in values)
    assert all(v.seq < stop.seq for v in values)  # in order: samples, then the stop
    energies = [int(v.payload["meterValue"][0]["sampledValue"][0]["value"]) for v in values]
    assert energies == sorted(energies) and energies[0] > 0
    assert stop.payload["transactionId"] == started.transaction_id
    assert stop.payload["meterStop"] >= energies[-1]


def test_tc_037_2_offline_start_with_an_unknown_id_when_allowed(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = offline_station(csms, make_station, Core={"AllowOfflineTxForUnknownId": True})
    go_offline(station)
    station.plug(1)
    station.tag(1, "NEVER-SEEN")
    wait_status(station, 1, "Charging")
    assert not csms.log.calls("StartTransaction")
    mark = csms.log.mark()
    come_back(station, clock)
    start = csms.log.wait_call("StartTransaction", CP, since=mark)
    assert start.payload["idTag"] == "NEVER-SEEN"
    started = log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), 5)
    assert started.transaction_id == csms.log.reply_to(start).payload["transactionId"]


def test_offline_start_of_an_unknown_id_is_refused_by_default(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = offline_station(csms, make_station)
    go_offline(station)
    station.plug(1)
    wait_status(station, 1, "Preparing")
    station.tag(1, "NEVER-SEEN")
    judged = log_of(station).wait_for(
        lambda e: isinstance(e, TokenJudged) and e.id_tag == "NEVER-SEEN", 5
    )
    assert not judged.accepted and not judged.online
    assert station.status()["evses"][0]["status"] == "Preparing"
    assert station.status()["evses"][0]["transaction_id"] is None


def test_tc_037_1_a_cached_id_starts_offline(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = offline_station(csms, make_station)
    station.plug(1)
    station.tag(1, "REGULAR")  # online: the answer is cached
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), 5)
    station.tag(1, "REGULAR")
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStopped), 5)
    station.unplug(1)
    wait_status(station, 1, "Available", since=1)
    go_offline(station)
    station.plug(1)
    station.tag(1, "REGULAR")
    wait_status(station, 1, "Charging", since=log_of(station).mark() - 1)
    assert len(csms.log.calls("Authorize")) == 1


def test_tc_061_clear_cache_forgets_cached_ids(csms: DevCsms, make_station: StationFactory) -> None:
    station = offline_station(csms, make_station)
    station.tag(1, "REGULAR")
    answered(station, "Authorize")
    assert csms.call(CP, "ClearCache", {}) == {"status": "Accepted"}
    go_offline(station)
    station.plug(1)
    station.tag(1, "REGULAR")  # no longer known: refused offline
    station.plug(2)
    wait_status(station, 2, "Preparing")
    assert station.status()["evses"][0]["transaction_id"] is None


def test_tc_069_a_card_of_the_same_group_stops_the_transaction(
    csms: DevCsms, make_station: StationFactory
) -> None:
    csms.set_reply(
        "Authorize",
        lambda cp_id, payload: {"idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}},
    )
    station = offline_station(csms, make_station)
    station.plug(1)
    station.tag(1, "DRIVER-A")
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), 5)
    station.tag(1, "DRIVER-B")
    stop = csms.log.wait_call("StopTransaction", CP)
    # StopTransaction.idTag: "the identifier which requested to stop the charging".
    assert (stop.payload["idTag"], stop.payload["reason"]) == ("DRIVER-B", "Local")


def test_a_card_of_another_group_does_not_stop_it(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = offline_station(csms, make_station)
    station.plug(1)
    station.tag(1, "DRIVER-A")
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), 5)
    station.tag(1, "STRANGER")
    answered(station, "Authorize", 2)
    assert station.status()["evses"][0]["transaction_id"] is not None
    assert not csms.log.calls("StopTransaction")


def test_tc_032_power_loss_ends_the_open_transaction_at_the_next_start(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path)}
    first = offline_station(
        csms, make_station, Internal=data, Core={"MeterValueSampleInterval": 30}
    )
    first.plug(1)
    first.tag(1, "TAG-1")
    started = log_of(first).wait_for(lambda e: isinstance(e, TransactionStarted), 5)
    mark = log_of(first).mark()
    clock.advance(30)
    sample = log_of(first).wait_for(lambda e: isinstance(e, MeterSampled), 5, since=mark)
    answered(first, "MeterValues")
    # The power goes: nothing stops the transaction (no teardown stops it).
    first.stop()
    mark = csms.log.mark()
    second = make_station(csms, Internal={**data, "RetryBackOffWaitMinimum": FAR})
    stop = csms.log.wait_call("StopTransaction", CP, since=mark)
    assert stop.payload["transactionId"] == started.transaction_id
    assert stop.payload["reason"] == "PowerLoss"
    assert stop.payload["meterStop"] == round(sample.energy_wh)
    boot = csms.log.calls("BootNotification", since=mark)
    assert boot and boot[0].seq < stop.seq  # delivered once the CSMS accepted us
    assert second.status()["evses"][0]["transaction_id"] is None


def test_queued_messages_survive_a_restart_while_offline(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path)}
    first = offline_station(
        csms, make_station, Internal=data, Core={"AllowOfflineTxForUnknownId": True}
    )
    go_offline(first)
    first.plug(1)
    first.tag(1, "OFFLINE-TAG")
    wait_status(first, 1, "Charging")
    first.tag(1, "OFFLINE-TAG")
    log_of(first).wait_for(lambda e: isinstance(e, TransactionStopped), 5)
    first.stop()
    mark = csms.log.mark()
    make_station(csms, Internal=data)
    stop = csms.log.wait_call("StopTransaction", CP, since=mark)
    start = csms.log.calls("StartTransaction", since=mark)
    assert len(start) == 1 and start[0].seq < stop.seq
    assert stop.payload["transactionId"] == csms.log.reply_to(start[0]).payload["transactionId"]
    assert stop.payload["reason"] == "Local"


def test_tc_034_unavailable_connectors_stay_unavailable_after_a_power_loss(
    csms: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path)}
    first = offline_station(csms, make_station, Internal=data)
    assert csms.call(CP, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}) == {
        "status": "Accepted"
    }
    wait_status(first, 2, "Unavailable")
    first.stop()
    mark = csms.log.mark()
    second = make_station(csms, Internal=data)
    answered(second, "StatusNotification", 3)
    reported = {
        e.payload["connectorId"]: e.payload["status"]
        for e in csms.log.calls("StatusNotification", since=mark)
    }
    assert reported == {0: "Available", 1: "Available", 2: "Unavailable"}


def test_tc_007_a_cached_id_starts_at_once_with_local_pre_authorize(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = offline_station(csms, make_station, Core={"LocalPreAuthorize": True})
    station.tag(1, "REGULAR")  # learned from the CSMS and cached
    answered(station, "Authorize")
    station.plug(1)
    station.tag(1, "REGULAR")
    start = csms.log.wait_call("StartTransaction", CP)
    assert start.payload["idTag"] == "REGULAR"
    assert len(csms.log.calls("Authorize")) == 1  # the second card was not asked about


def test_tc_037_3_an_offline_start_refused_later_is_stopped(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    csms.set_reply(
        "StartTransaction",
        lambda cp_id, payload: {"transactionId": 501, "idTagInfo": {"status": "Invalid"}},
    )
    station = offline_station(csms, make_station, Core={"AllowOfflineTxForUnknownId": True})
    go_offline(station)
    station.plug(1)
    station.tag(1, "UNKNOWN")
    wait_status(station, 1, "Charging")
    mark = csms.log.mark()
    come_back(station, clock)
    stop = csms.log.wait_call("StopTransaction", CP, since=mark)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (501, "DeAuthorized")


def test_tc_038_a_transaction_stopped_offline_is_reported_when_back(
    any_csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = offline_station(any_csms, make_station)
    station.plug(1)
    station.tag(1, "TAG-1")
    started = log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), 5)
    go_offline(station)
    station.tag(1, "TAG-1")
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStopped), 5)
    station.unplug(1)
    mark = any_csms.log.mark()
    come_back(station, clock)
    stop = any_csms.log.wait_call("StopTransaction", CP, since=mark)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (
        started.transaction_id,
        "Local",
    )


def test_tc_039_a_whole_transaction_offline_is_delivered_in_order(
    any_csms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = offline_station(any_csms, make_station, Core={"AllowOfflineTxForUnknownId": True})
    go_offline(station)
    station.plug(2)
    station.tag(2, "OFFLINE")
    wait_status(station, 2, "Charging")
    station.tag(2, "OFFLINE")
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStopped), 5)
    mark = any_csms.log.mark()
    come_back(station, clock)
    stop = any_csms.log.wait_call("StopTransaction", CP, since=mark)
    (start,) = any_csms.log.calls("StartTransaction", since=mark)
    assert start.seq < stop.seq
    answer = any_csms.log.wait_for(
        lambda e: e.kind == "result" and e.unique_id == start.unique_id, since=mark
    )
    assert stop.payload["transactionId"] == answer.payload["transactionId"]
