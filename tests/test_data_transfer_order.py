"""A DataTransfer's answer goes on the wire before what it promises: a
handler's `Reply.after` runs once the answer is on its way (the wire order
of tests/test_wire_order.py), end to end against the dev CSMS."""

from __future__ import annotations

import json
import threading

from ocppstation.actors.hooks.data_transfer import Reply
from ocppstation.protocol.v16 import plug_and_charge as pnc
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.peer import LogEntry
from tests.conftest import StationFactory, answered, quiet
from tests.pki import Ca
from tests.test_pnc import CP, pnc_station


def _trigger_and_its_sign(csms: DevCsms, since: int) -> tuple[LogEntry, LogEntry]:
    """The station's answer to the trigger and the SignCertificate it promised."""
    [trigger] = [
        e
        for e in csms.log.entries(since)
        if e.direction == "out"
        and e.kind == "call"
        and e.action == "DataTransfer"
        and e.payload.get("messageId") == "TriggerMessage"
    ]
    answer = csms.log.wait_for(
        lambda e: e.direction == "in" and e.kind == "result" and e.unique_id == trigger.unique_id,
        since=since,
        timeout=5,
    )
    sign = csms.log.wait_for(
        lambda e: (
            e.direction == "in"
            and e.kind == "call"
            and e.action == "DataTransfer"
            and e.payload.get("messageId") == "SignCertificate"
        ),
        since=since,
        timeout=5,
    )
    return answer, sign


def test_the_sign_v2g_trigger_is_answered_before_its_sign_certificate(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = pnc_station(make_station, csms)
    install = {"certificateType": "V2GRootCertificate", "certificate": Ca("v2g").pem}
    assert csms.pnc(CP, "InstallCertificate", install)["data"] == {"status": "Accepted"}
    for _ in range(5):  # a race would show now and then, not every time
        quiet(station)
        mark = csms.log.mark()
        trigger = {"requestedMessage": "SignV2GCertificate"}
        assert csms.pnc(CP, "TriggerMessage", trigger)["data"] == {"status": "Accepted"}
        answer, sign = _trigger_and_its_sign(csms, mark)
        assert answer.seq < sign.seq
        assert json.loads(sign.payload["data"])["certificateType"] == "V2GCertificate"


def test_the_trigger_handler_promises_the_sign_certificate_and_does_not_send_it(
    make_station: StationFactory, csms: DevCsms
) -> None:
    """The handler itself, without rpc: nothing is sent until its `after` runs."""
    station = pnc_station(make_station, csms)
    install = {"certificateType": "V2GRootCertificate", "certificate": Ca("v2g").pem}
    assert csms.pnc(CP, "InstallCertificate", install)["data"] == {"status": "Accepted"}
    quiet(station)
    mark = csms.log.mark()
    data = pnc.write_request("TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
    answer, after = station.ctx.data_transfer.handle(pnc.VENDOR_ID, "TriggerMessage", data)
    assert answer["status"] == "Accepted" and after is not None
    # A round trip later (the PnC block has long handled its mailbox): still nothing.
    csms.call(CP, "GetConfiguration", {"key": ["HeartbeatInterval"]})
    quiet(station)
    assert not [e for e in csms.log.entries(mark) if e.payload and _is_sign(e)]
    after()
    csms.log.wait_for(_is_sign, since=mark, timeout=5)


def _is_sign(e: LogEntry) -> bool:
    return (
        e.direction == "in"
        and e.kind == "call"
        and e.action == "DataTransfer"
        and e.payload.get("messageId") == "SignCertificate"
    )


def test_an_embedders_after_runs_once_and_its_failure_costs_nothing(
    make_station: StationFactory, csms: DevCsms
) -> None:
    station = make_station(csms)
    answered(station, "StatusNotification", 3)
    ran = threading.Event()

    def promise(data: str | None) -> Reply:
        return Reply("Accepted", data, after=ran.set)

    def broken(_: str | None) -> Reply:
        def fail() -> None:
            raise RuntimeError("the vendor's bug")

        return Reply("Accepted", None, after=fail)

    station.register_data_transfer("acme", "promise", promise)
    station.register_data_transfer("acme", "broken", broken)
    request = {"vendorId": "acme", "messageId": "promise", "data": "x"}
    assert csms.call(CP, "DataTransfer", request) == {"status": "Accepted", "data": "x"}
    assert ran.wait(5)
    request = {"vendorId": "acme", "messageId": "broken"}
    assert csms.call(CP, "DataTransfer", request) == {"status": "Accepted"}
    # The block lives on: a plain (status, data) handler still answers.
    station.register_data_transfer("acme", "plain", lambda data: ("Rejected", "no"))
    request = {"vendorId": "acme", "messageId": "plain"}
    assert csms.call(CP, "DataTransfer", request) == {"status": "Rejected", "data": "no"}
