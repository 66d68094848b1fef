"""OCPP 2.0.1 B09 Set network profile and B10 fallback to the next profile.

The rules (protocol/v201/network_profiles.py) with hypothesis; then end to
end, a station on real websockets between two dev CSMSs: SetNetworkProfile,
NetworkConfigurationPriority, the move to CSMS B once CSMS A is gone for
NetworkProfileConnectionAttempts attempts, and the profiles after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import (
    ConnectFailed,
    LinkChanged,
    RegistrationChanged,
    TokenJudged,
)
from ocppstation.actors.station import Station
from ocppstation.protocol.v201 import network_profiles as rules
from ocppstation.protocol.v201.network_profiles import Dialing, NetworkProfile
from ocppstation.tools.csms import DevCsms
from ocppstation.tools.peer import NO_REPLY
from tests.conftest import StationFactory, answered, log_of, quiet

CP = "cp-test"
V201 = ("ocpp2.0.1",)


# -- the rules, pure -------------------------------------------------------------------


def _profile(**overrides: Any) -> NetworkProfile:
    fields: dict[str, Any] = {"csms_url": "ws://csms.example:9000", "security_profile": 1}
    fields.update(overrides)
    return NetworkProfile(**fields)


def _judge(
    slot: int = 2, floor: int = 1, *, root: bool = True, client: bool = True, **kw: Any
) -> rules.Verdict:
    return rules.judge(
        slot, _profile(**kw), security_profile=floor, csms_root=root, client_certificate=client
    )


def test_a_profile_the_station_can_dial_is_accepted() -> None:
    assert _judge() == rules.Verdict("Accepted")


@pytest.mark.parametrize(
    ("why", "slot", "overrides", "code"),
    [
        ("slot 0", 0, {}, "InvalidConfSlot"),
        ("slot 5", 5, {}, "InvalidConfSlot"),
        ("1.6", 2, {"ocpp_version": "OCPP16"}, "UnsupportedParam"),
        ("SOAP", 2, {"ocpp_transport": "SOAP"}, "UnsupportedParam"),
        ("http", 2, {"csms_url": "http://csms.example"}, "InvalidURL"),
        ("no host", 2, {"csms_url": "ws:///ocpp"}, "InvalidURL"),
        ("bad port", 2, {"csms_url": "ws://csms.example:x"}, "InvalidURL"),
        ("profile 4", 2, {"security_profile": 4}, "InvalidNetworkConf"),
        ("timeout", 2, {"message_timeout": 0}, "InvalidNetworkConf"),
    ],
)
def test_what_the_station_cannot_use_is_rejected(
    why: str, slot: int, overrides: dict[str, Any], code: str
) -> None:
    verdict = _judge(slot, **overrides)
    assert (verdict.status, verdict.reason_code) == ("Rejected", code), why
    assert verdict.info


def test_tls_profiles_need_their_certificates() -> None:
    assert _judge(security_profile=2, root=False).reason_code == "InvalidNetworkConf"
    assert _judge(security_profile=2, client=False).accepted
    assert _judge(security_profile=3, client=False).reason_code == "InvalidNetworkConf"
    assert _judge(security_profile=3).accepted


@given(st.integers(0, 3), st.integers(0, 3))
def test_no_downgrade_below_the_security_profile_in_force(floor: int, wanted: int) -> None:
    verdict = _judge(floor=floor, security_profile=wanted)
    assert verdict.accepted == (wanted >= floor)
    if wanted < floor:
        assert verdict.reason_code == "NoSecurityDowngrade"


_URL = st.builds(
    lambda scheme, host, port: f"{scheme}://{host}:{port}/ocpp",
    st.sampled_from(["ws", "wss"]),
    st.from_regex(r"[a-z][a-z0-9]{0,15}(\.[a-z]{2,5})?", fullmatch=True),
    st.integers(1, 65535),
)
_VPN = st.fixed_dictionaries(
    {
        "server": st.just("vpn.example"),
        "user": st.text(max_size=20),
        "password": st.text(max_size=20),
        "key": st.text(max_size=40),
        "type": st.sampled_from(["IKEv2", "IPSec", "L2TP", "PPTP"]),
    }
)
_APN = st.fixed_dictionaries(
    {"apn": st.just("internet"), "apnAuthentication": st.sampled_from(["CHAP", "NONE"])}
)
_PROFILES = st.builds(
    NetworkProfile,
    csms_url=_URL,
    security_profile=st.integers(0, 3),
    ocpp_version=st.sampled_from(["OCPP12", "OCPP15", "OCPP16", "OCPP20"]),
    ocpp_transport=st.sampled_from(["JSON", "SOAP"]),
    message_timeout=st.integers(1, 3600),
    ocpp_interface=st.sampled_from(["Wired0", "Wireless1"]),
    vpn=st.none() | _VPN,
    apn=st.none() | _APN,
)


@given(_PROFILES)
def test_a_profile_reads_back_as_it_was_written(profile: NetworkProfile) -> None:
    assert NetworkProfile.from_wire(profile.to_wire()) == profile


@given(_PROFILES, st.integers(-2, 6), st.integers(0, 3))
def test_only_2_0_1_over_json_in_an_offered_slot_is_accepted(
    profile: NetworkProfile, slot: int, floor: int
) -> None:
    verdict = rules.judge(
        slot, profile, security_profile=floor, csms_root=True, client_certificate=True
    )
    dialable = (
        slot in rules.SLOTS
        and profile.security_profile >= floor
        and profile.ocpp_version == "OCPP20"
        and profile.ocpp_transport == "JSON"
    )
    assert verdict.accepted == dialable
    assert verdict.status in ("Accepted", "Rejected")


_SLOT_LISTS = st.lists(st.integers(0, 6), max_size=6)


@given(_SLOT_LISTS, st.sets(st.integers(1, 4)))
def test_a_priority_lists_each_slot_with_a_profile_once(
    priority: list[int], stored: set[int]
) -> None:
    known = stored | {rules.BUILT_IN_SLOT}
    why = rules.priority_problem([str(s) for s in priority], known)
    fine = (
        bool(priority)
        and len(set(priority)) == len(priority)
        and all(s in known and s in rules.SLOTS for s in priority)
    )
    assert (why is None) == fine
    assert rules.priority_problem(",".join(str(s) for s in priority), known) == why


def test_a_priority_member_that_is_no_number_is_refused() -> None:
    assert rules.priority_problem(("1", "two"), {1, 2}) is not None
    assert rules.parse_priority("1,2") == (1, 2)


@given(_SLOT_LISTS, st.sets(st.integers(1, 4)), st.integers(1, 4), st.integers(1, 30))
def test_after_each_profile_fails_its_attempts_the_next_one_in_order_is_dialled(
    priority: list[int], stored: set[int], attempts: int, steps: int
) -> None:
    known = stored | {rules.BUILT_IN_SLOT}
    order = rules.dial_order(priority, known)
    assert order and len(set(order)) == len(order)
    assert all(s in known for s in order)
    now = rules.first(priority, known)
    dialled = [now.slot]
    for _ in range(steps):
        now = rules.after_failure(now, priority, known, attempts)
        dialled.append(now.slot)
    # Each slot of the order `attempts` times, then the next, wrapping around.
    expected = [order[(i // attempts) % len(order)] for i in range(steps + 1)]
    assert dialled == expected


def test_a_slot_the_priority_no_longer_lists_gives_way_to_its_top() -> None:
    assert rules.after_failure(Dialing(3, 1), (2, 1), {1, 2, 3}, 3) == Dialing(2)
    # Nothing listed has a profile: the configured CSMS, slot 1.
    assert rules.first((3, 4), {1}) == Dialing(1)


# -- end to end ---------------------------------------------------------------------


@pytest.fixture
def csms_a() -> Iterator[DevCsms]:
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=V201) as peer:
        yield peer


@pytest.fixture
def csms_b() -> Iterator[DevCsms]:
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=V201) as peer:
        yield peer


def _station(
    peer: DevCsms, make_station: StationFactory, *, security: Any = None, **internal: Any
) -> Station:
    sections = {"Security": security} if security else {}
    station = make_station(peer, Internal={"OcppVersions": ["2.0.1"], **internal}, **sections)
    answered(station, "StatusNotification", 2)
    return station


def _connection(url: str, security_profile: int = 0, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": url,
        "messageTimeout": 30,
        "securityProfile": security_profile,
        "ocppInterface": "Wired0",
    }
    data.update(overrides)
    return data


def _set_profile(peer: DevCsms, slot: int, data: dict[str, Any]) -> dict[str, Any]:
    return peer.call(CP, "SetNetworkProfile", {"configurationSlot": slot, "connectionData": data})


def _comm(variable: str) -> dict[str, Any]:
    return {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": variable}}


def _get(peer: DevCsms, variable: str) -> dict[str, Any]:
    answer = peer.call(CP, "GetVariables", {"getVariableData": [_comm(variable)]})
    [result] = answer["getVariableResult"]
    return dict(result)


def _set(peer: DevCsms, variable: str, value: str) -> dict[str, Any]:
    item = {**_comm(variable), "attributeValue": value}
    answer = peer.call(CP, "SetVariables", {"setVariableData": [item]})
    [result] = answer["setVariableResult"]
    return dict(result)


def test_b09_set_network_profile_accepts_what_it_can_dial_and_rejects_the_rest(
    csms_a: DevCsms, csms_b: DevCsms, make_station: StationFactory
) -> None:
    _station(csms_a, make_station)
    assert _get(csms_a, "ActiveNetworkProfile")["attributeValue"] == "1"
    assert _set_profile(csms_a, 2, _connection(csms_b.url)) == {"status": "Accepted"}
    refused = {
        9: _connection(csms_b.url),
        3: _connection(csms_b.url, ocppVersion="OCPP16"),
        4: _connection(csms_b.url, ocppTransport="SOAP"),
    }
    for slot, data in refused.items():
        answer = _set_profile(csms_a, slot, data)
        assert answer["status"] == "Rejected", (slot, answer)
        assert answer["statusInfo"]["reasonCode"]
    # No CSMS root installed: a TLS profile could not connect.
    answer = _set_profile(csms_a, 3, _connection(csms_b.url, security_profile=2))
    assert answer["status"] == "Rejected"
    # Stored, not used yet: the link stays where it is.
    assert _get(csms_a, "ActiveNetworkProfile")["attributeValue"] == "1"
    assert not csms_b.calls("BootNotification")


def test_b09_no_downgrade_below_the_security_profile_in_force(make_station: StationFactory) -> None:
    password = "0123456789abcdef"
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=V201, password=password) as csms:
        _station(csms, make_station, security={"SecurityProfile": 1, "AuthorizationKey": password})
        answer = _set_profile(csms, 2, _connection(csms.url, security_profile=0))
        assert (answer["status"], answer["statusInfo"]["reasonCode"]) == (
            "Rejected",
            "NoSecurityDowngrade",
        )
        assert _set_profile(csms, 2, _connection(csms.url, security_profile=1))["status"] == (
            "Accepted"
        )


def test_b09_network_configuration_priority_names_only_slots_with_a_profile(
    csms_a: DevCsms, csms_b: DevCsms, make_station: StationFactory
) -> None:
    _station(csms_a, make_station)
    refused = _set(csms_a, "NetworkConfigurationPriority", "1,2")
    assert refused["attributeStatus"] == "Rejected"
    assert refused["attributeStatusInfo"]["reasonCode"] == "InvalidNetworkConf"
    assert _get(csms_a, "NetworkConfigurationPriority")["attributeValue"] == "1"
    assert _set_profile(csms_a, 2, _connection(csms_b.url))["status"] == "Accepted"
    assert _set(csms_a, "NetworkConfigurationPriority", "2,1")["attributeStatus"] == "Accepted"
    assert _get(csms_a, "NetworkConfigurationPriority")["attributeValue"] == "2,1"
    assert _set(csms_a, "NetworkConfigurationPriority", "1,5")["attributeStatus"] == "Rejected"


def _fail_over(station: Station, clock: FakeClock, since: int, timeout: float = 5.0) -> int:
    """Move virtual time through each reconnect wait (from the station's event
    `since` on) until it connects; the number of failed attempts it took."""
    log = log_of(station)
    failures, seen = 0, since
    while True:
        event = log.wait_for(
            lambda e: isinstance(e, ConnectFailed) or (isinstance(e, LinkChanged) and e.up),
            timeout,
            since=seen,
        )
        seen = log.all().index(event, seen) + 1
        if isinstance(event, LinkChanged):
            break
        failures += 1
        assert failures < 20, "never got anywhere"
        clock.advance(event.retry_in)
    return failures


def _lose_a(station: Station, csms_a: DevCsms, clock: FakeClock, attempts: int) -> int:
    """With priority 1,2 and `attempts` per profile, CSMS A goes away and the
    station dials on until it connects; the failed attempts it took."""
    assert _set(csms_a, "NetworkConfigurationPriority", "1,2")["attributeStatus"] == "Accepted"
    answer = _set(csms_a, "NetworkProfileConnectionAttempts", str(attempts))
    assert answer["attributeStatus"] == "Accepted"
    quiet(station)
    log = log_of(station)
    mark = log.mark()
    csms_a.stop()
    down = log.wait_for(lambda e: isinstance(e, LinkChanged) and not e.up, 5, since=mark)
    seen = log.mark()
    clock.advance(down.retry_in)
    return _fail_over(station, clock, seen)


def test_b10_after_its_attempts_on_csms_a_the_station_boots_at_csms_b(
    csms_a: DevCsms,
    csms_b: DevCsms,
    make_station: StationFactory,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    data = {"DataDir": str(tmp_path)}
    station = _station(csms_a, make_station, **data)
    assert _set_profile(csms_a, 2, _connection(csms_b.url)) == {"status": "Accepted"}
    log = log_of(station)
    mark = log.mark()
    # The loss itself is no failed attempt: two failed attempts on A, then B.
    assert _lose_a(station, csms_a, clock, attempts=2) == 2
    csms_b.wait_for(lambda e: bool(csms_b.calls("BootNotification")), timeout=5)
    log.wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Accepted", 5, since=mark
    )
    answered(station, "StatusNotification", 4)
    assert _get(csms_b, "ActiveNetworkProfile")["attributeValue"] == "2"
    [boot] = csms_b.calls("BootNotification")
    assert boot.payload["reason"] == "PowerUp"

    # A new process: the profiles and the priority are where they were, and
    # with A still gone the station goes to B again.
    station.stop()
    again = make_station(csms_a, Internal={"OcppVersions": ["2.0.1"], **data})
    assert _fail_over(again, clock, 0) == 2
    csms_b.wait_for(lambda e: len(csms_b.calls("BootNotification")) >= 2, timeout=5)
    answered(again, "StatusNotification", 2)
    assert _get(csms_b, "NetworkConfigurationPriority")["attributeValue"] == "1,2"
    assert _get(csms_b, "ActiveNetworkProfile")["attributeValue"] == "2"


def test_b10_the_profile_moved_to_brings_its_message_timeout(
    csms_a: DevCsms, csms_b: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    # The tests' CallTimeout is 10 s; profile 2 says 3 s: on B an unanswered
    # CALL fails after 3 s.
    station = _station(csms_a, make_station)
    assert _set_profile(csms_a, 2, _connection(csms_b.url, messageTimeout=3)) == {
        "status": "Accepted"
    }
    assert _lose_a(station, csms_a, clock, attempts=1) == 1
    answered(station, "StatusNotification", 4)
    log = log_of(station)
    quiet(station)
    csms_b.set_reply("Authorize", NO_REPLY)
    asked = log.mark()
    station.tag(1, "TAG-1")
    csms_b.log.wait_call("Authorize", CP)
    clock.advance(3.5)
    judged = log.wait_for(lambda e: isinstance(e, TokenJudged), 5, since=asked)
    assert not judged.online  # the Authorize timed out: decided offline


def test_b10_the_profile_moved_to_brings_its_security_profile(
    csms_a: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    """A (no security) is gone; B wants Basic auth, which slot 2's profile 1 gives."""
    password = "0123456789abcdef"
    with DevCsms(port=0, heartbeat_interval=60, subprotocols=V201, password=password) as csms_b:
        station = _station(
            csms_a, make_station, security={"SecurityProfile": 0, "AuthorizationKey": password}
        )
        answer = _set_profile(csms_a, 2, _connection(csms_b.url, security_profile=1))
        assert answer == {"status": "Accepted"}
        assert _lose_a(station, csms_a, clock, attempts=1) == 1
        csms_b.wait_for(lambda e: bool(csms_b.calls("BootNotification")), timeout=5)
        [connect] = [e for e in csms_b.log.entries() if e.kind == "connect"]
        assert connect.payload.get("subprotocol") == "ocpp2.0.1"
        answered(station, "StatusNotification", 4)
        assert _get(csms_b, "ActiveNetworkProfile")["attributeValue"] == "2"


def test_b09_a_profile_that_cannot_be_stored_is_failed(
    csms_a: DevCsms, csms_b: DevCsms, make_station: StationFactory, monkeypatch: Any
) -> None:
    from ocppstation.actors.storage.network_profiles import NetworkProfileStore

    _station(csms_a, make_station)

    def broken(self: NetworkProfileStore, slot: int, profile: dict[str, Any]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(NetworkProfileStore, "put", broken)
    answer = _set_profile(csms_a, 2, _connection(csms_b.url))
    assert (answer["status"], answer["statusInfo"]["reasonCode"]) == ("Failed", "InternalError")
    # Nothing half-kept: slot 2 holds no profile the priority could name.
    assert _set(csms_a, "NetworkConfigurationPriority", "1,2")["attributeStatus"] == "Rejected"


def test_b10_a_new_priority_then_a_reset_migrates_the_station_to_csms_b(
    csms_a: DevCsms, csms_b: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    # With a database file: an in-memory one starts empty with each tree.
    station = _station(csms_a, make_station, DataDir=str(tmp_path))
    assert _set_profile(csms_a, 2, _connection(csms_b.url)) == {"status": "Accepted"}
    assert _set(csms_a, "NetworkConfigurationPriority", "2,1")["attributeStatus"] == "Accepted"
    assert not csms_b.calls("BootNotification")  # nothing moves before the reset
    assert csms_a.call(CP, "Reset", {"type": "Immediate"})["status"] == "Accepted"
    csms_b.wait_for(lambda e: bool(csms_b.calls("BootNotification")), timeout=10)
    [boot] = csms_b.calls("BootNotification")
    assert boot.payload["reason"] == "RemoteReset"
    answered(station, "StatusNotification", 4, timeout=10)
    assert _get(csms_b, "ActiveNetworkProfile")["attributeValue"] == "2"
    assert len(csms_a.calls("BootNotification")) == 1


def test_the_link_tells_the_device_model_where_it_lives() -> None:
    from ocppstation.actors.v201 import device_model, network_profiles

    # network_profiles cannot import device_model (which imports it).
    assert network_profiles._DEVICE_MODEL == device_model.SETTINGS


def test_b10_a_profile_2_fallback_dials_tls_with_the_installed_root(
    csms_a: DevCsms, make_station: StationFactory, clock: FakeClock, tmp_path: Path
) -> None:
    from ocppstation.tools.csms import server_ssl_context
    from tests.pki import Ca

    password = "0123456789abcdef"
    ca = Ca("CSMS root")
    cert, key = ca.server().write(tmp_path, "server")
    roots = tmp_path / "csms-roots.pem"
    roots.write_text(ca.pem)
    tls = server_ssl_context(cert, key)
    with DevCsms(
        port=0, heartbeat_interval=60, subprotocols=V201, password=password, ssl=tls
    ) as csms_b:
        station = _station(
            csms_a,
            make_station,
            security={"SecurityProfile": 0, "AuthorizationKey": password},
            CentralSystemRootCertificateFile=str(roots),
        )
        # ws:// with profile 2 is dialled as wss://, as the configured URL would be.
        plain = csms_b.url.replace("wss://", "ws://")
        answer = _set_profile(csms_a, 2, _connection(plain, security_profile=2))
        assert answer == {"status": "Accepted"}
        assert _set(csms_a, "NetworkConfigurationPriority", "1,2")["attributeStatus"] == (
            "Accepted"
        )
        assert _set(csms_a, "NetworkProfileConnectionAttempts", "1")["attributeStatus"] == (
            "Accepted"
        )
        quiet(station)
        log = log_of(station)
        mark = log.mark()
        csms_a.stop()
        down = log.wait_for(lambda e: isinstance(e, LinkChanged) and not e.up, 5, since=mark)
        seen = log.mark()
        clock.advance(down.retry_in)
        assert _fail_over(station, clock, seen) == 1
        csms_b.wait_for(lambda e: bool(csms_b.calls("BootNotification")), timeout=5)
        [connect] = [e for e in csms_b.log.entries() if e.kind == "connect"]
        assert connect.payload["tls"] in ("TLSv1.2", "TLSv1.3")
        assert connect.payload["authorization"] == "Basic ***"
        answered(station, "StatusNotification", 4)
        # Profile 2 is in force now: a profile 1 would be a downgrade.
        answer = _set_profile(csms_b, 3, _connection(plain, security_profile=1))
        assert answer["statusInfo"]["reasonCode"] == "NoSecurityDowngrade"
