"""ChangeConfiguration takes effect at once: timers re-armed, the link reconnected."""

from __future__ import annotations

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import (
    ConfigApplied,
    ConfigChanged,
    ConnectFailed,
    TransactionStarted,
)
from ocppstation.actors.station import Station
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, answered, log_of

CP = "cp-test"
KEY = "s3cret-pass-0123"


def change(peer: DevCsms, station: Station, key: str, value: str, applied_by: str = "") -> None:
    mark = log_of(station).mark()
    assert peer.call(CP, "ChangeConfiguration", {"key": key, "value": value}) == {
        "status": "Accepted"
    }
    if applied_by:
        log_of(station).wait_for(
            lambda e: isinstance(e, ConfigApplied) and (e.path, e.key) == (applied_by, key),
            5,
            since=mark,
        )
    else:
        log_of(station).wait_for(lambda e: isinstance(e, ConfigChanged) and e.key == key, 5)


def test_a_new_heartbeat_interval_applies_at_once(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(csms)  # the CSMS's boot answer says 60 s
    answered(station, "StatusNotification", 3)
    change(csms, station, "HeartbeatInterval", "20", applied_by="registration")
    mark = csms.log.mark()
    clock.advance(20)
    csms.log.wait_call("Heartbeat", CP, since=mark)


def test_a_new_sample_interval_applies_to_the_running_transaction(
    csms: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = make_station(csms, Core={"MeterValueSampleInterval": 300})
    answered(station, "StatusNotification", 3)
    station.plug(1)
    station.tag(1, "TAG-1")
    log_of(station).wait_for(lambda e: isinstance(e, TransactionStarted), 5)
    change(csms, station, "MeterValueSampleInterval", "15", applied_by="evses/1/connector")
    mark = csms.log.mark()
    clock.advance(15)
    csms.log.wait_call("MeterValues", CP, since=mark)


def test_a_new_authorization_key_is_used_for_the_next_connection(
    make_station: StationFactory,
) -> None:
    with DevCsms(port=0, password=KEY) as csms:
        station = make_station(csms, Security={"SecurityProfile": 1, "AuthorizationKey": KEY})
        answered(station, "StatusNotification", 3)
        mark = log_of(station).mark()
        # The CSMS rotates the key but (here) forgot to update its own side: the
        # station reconnects with the new one at once and is refused with it.
        change(csms, station, "AuthorizationKey", "another-pass-4567")
        refused = log_of(station).wait_for(lambda e: isinstance(e, ConnectFailed), 5, since=mark)
        assert "401" in refused.reason
