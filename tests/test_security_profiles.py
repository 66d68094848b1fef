"""Security profiles 2 and 3 (OCPP 1.6 Security Whitepaper) on the station's link.

Real TLS on 127.0.0.1: the dev CSMS serves wss:// with a certificate from
tests/pki.py, and the station is provisioned the way a factory would:
certificate files named in its Internal section, which its security actor
imports before the link dials (see `provision`). Waits
are on the station's events and the CSMS's log, with timeouts; reconnect
backoff runs in virtual time.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import (
    ConfigApplied,
    ConnectFailed,
    LinkChanged,
    RegistrationChanged,
)
from ocppstation.actors.link.websocket import (
    TlsUnavailable,
    station_url,
    tls_context,
    tls_security_event,
)
from ocppstation.actors.runtime.context import WEBSOCKET
from ocppstation.actors.runtime.holders import TlsMaterial
from ocppstation.actors.runtime.supervisor import ChildCrashed
from ocppstation.actors.station import Station
from ocppstation.config.loader import load
from ocppstation.tools.csms import DevCsms, main_csms, server_ssl_context
from tests.conftest import answered, log_of
from tests.pki import Ca
from tests.test_cli import EXIT_TIMEOUT, csms_process

CP = "cp-test"
KEY = "s3cret-pass-0123"
WAIT = 10.0
# Later than any reconnect wait make_tls_station's backoff can reach (2 s doubled 5 times).
PAST_BACKOFF = 100.0

MakeStation = Callable[..., Station]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A server CA with a certificate for 127.0.0.1, a client CA with a
    certificate for CP, and a second CA of each kind that nobody trusts."""
    folder = tmp_path_factory.mktemp("pki")
    server_ca, client_ca, stranger = Ca("CSMS root"), Ca("station CA"), Ca("stranger")
    cert, key = server_ca.server().write(folder, "server")
    return {
        "server_ca": server_ca,
        "server_cert": cert,
        "server_key": key,
        "client_ca": client_ca,
        "client_ca_file": client_ca.write(folder, "client-ca"),
        "client": client_ca.client(CP),
        "stranger": stranger,
        "folder": folder,
    }


def roots(pki: dict[str, Any]) -> TlsMaterial:
    return TlsMaterial(csms_roots=(pki["server_ca"].pem,))


def with_client(pki: dict[str, Any], client: Any = None) -> TlsMaterial:
    client = client or pki["client"]
    return TlsMaterial(
        csms_roots=(pki["server_ca"].pem,),
        client_chain=client.cert_pem,
        client_key=client.key_pem,
    )


@pytest.fixture
def tls_csms(pki: dict[str, Any]) -> Iterator[DevCsms]:
    """Profile 2's CSMS: wss:// and HTTP Basic auth with KEY."""
    context = server_ssl_context(pki["server_cert"], pki["server_key"])
    with DevCsms(port=0, heartbeat_interval=60, password=KEY, ssl=context) as csms:
        yield csms


@pytest.fixture
def mtls_csms(pki: dict[str, Any]) -> Iterator[DevCsms]:
    """Profile 3's CSMS: wss:// that requires a client certificate from the client CA."""
    context = server_ssl_context(pki["server_cert"], pki["server_key"], pki["client_ca_file"])
    with DevCsms(port=0, heartbeat_interval=60, ssl=context) as csms:
        yield csms


def provision(folder: Path, material: TlsMaterial | None) -> dict[str, str]:
    """The Internal keys naming files with `material`, as a factory provisions a station."""
    if material is None:
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    keys: dict[str, str] = {}
    if material.csms_roots:
        roots_file = folder / "csms-roots.pem"
        roots_file.write_text("".join(material.csms_roots))
        keys["CentralSystemRootCertificateFile"] = str(roots_file)
    if material.client_chain and material.client_key:
        cert_file, key_file = folder / "cp.pem", folder / "cp.key"
        cert_file.write_text(material.client_chain)
        key_file.write_text(material.client_key)
        keys["ChargePointCertificateFile"] = str(cert_file)
        keys["ChargePointKeyFile"] = str(key_file)
    return keys


@pytest.fixture
def make_tls_station(clock: FakeClock, tmp_path: Path) -> Iterator[MakeStation]:
    """Like conftest's make_station, provisioned with `material`'s certificates."""
    started: list[Station] = []

    def make(
        url: str,
        material: TlsMaterial | None = None,
        *,
        data_dir: Path | None = None,
        **sections: Any,
    ) -> Station:
        overrides: dict[str, Any] = {
            "Internal": {
                "CentralSystemURI": url,
                "ChargePointId": CP,
                "Evses": 1,
                "RetryBackOffRandomRange": 0,
                "RetryBackOffWaitMinimum": 2,
                "CallTimeout": 10,
                **provision(tmp_path / f"provisioned-{len(started)}", material),
            },
        }
        for name, keys in sections.items():
            overrides.setdefault(name, {}).update(keys)
        station = Station(
            load(None, overrides), clock=clock, seed=1, record_events=True, data_dir=data_dir
        )
        started.append(station)
        return station.start()

    yield make
    for station in reversed(started):
        station.stop()


def profile(number: int, key: str | None = KEY) -> dict[str, Any]:
    security: dict[str, Any] = {"SecurityProfile": number}
    if key is not None:
        security["AuthorizationKey"] = key
    return security


def registered(station: Station) -> None:
    log_of(station).wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Accepted", WAIT
    )
    answered(station, "StatusNotification", 2, WAIT)


def failed(station: Station, words: str, since: int = 0) -> ConnectFailed:
    event: ConnectFailed = log_of(station).wait_for(
        lambda e: isinstance(e, ConnectFailed), WAIT, since=since
    )
    assert words in event.reason, event.reason
    return event


def fails_and_retries(station: Station, clock: FakeClock, words: str) -> None:
    """The attempt fails for `words`, and so does the next one, after the backoff."""
    failed(station, words)
    mark = log_of(station).mark()
    clock.advance(PAST_BACKOFF)
    failed(station, words, since=mark)
    assert station.running
    assert not [e for e in log_of(station).all() if isinstance(e, ChildCrashed)]


def connects(csms: DevCsms) -> list[Any]:
    return [e for e in csms.log if e.kind == "connect"]


def plain_url(csms: DevCsms) -> str:
    return csms.url.replace("wss://", "ws://", 1)


def change(csms: DevCsms, key: str, value: str) -> str:
    answer = csms.call(CP, "ChangeConfiguration", {"key": key, "value": value})
    status: str = answer["status"]
    return status


def security_profile(csms: DevCsms) -> str:
    answer = csms.call(CP, "GetConfiguration", {"key": ["SecurityProfile"]})
    value: str = answer["configurationKey"][0]["value"]
    return value


# -- the URI -------------------------------------------------------------------------


def test_profiles_2_and_3_dial_ws_uris_over_tls() -> None:
    assert station_url("ws://h:9/ocpp/", "cp 1", 2) == "wss://h:9/ocpp/cp%201"
    assert station_url("ws://h:9/ocpp", "cp", 3) == "wss://h:9/ocpp/cp"
    assert station_url("wss://h:9/ocpp", "cp", 2) == "wss://h:9/ocpp/cp"
    # Profiles 0 and 1 use the URI as given.
    assert station_url("ws://h:9/ocpp", "cp", 1) == "ws://h:9/ocpp/cp"
    assert station_url("wss://h:9/ocpp", "cp", 0) == "wss://h:9/ocpp/cp"


# -- profile 2 ---------------------------------------------------------------------------


def test_profile_2_boots_over_tls_with_the_csms_root_installed(
    tls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    # The URI says ws://; profile 2 dials it as wss://.
    station = make_tls_station(plain_url(tls_csms), roots(pki), Security=profile(2))
    registered(station)
    up = log_of(station).wait_for(lambda e: isinstance(e, LinkChanged) and e.up, WAIT)
    assert up.url == f"{tls_csms.url}/{CP}"
    (connect,) = connects(tls_csms)
    assert connect.payload["tls"] in ("TLSv1.2", "TLSv1.3")
    assert connect.payload["authorization"] == "Basic ***"
    assert connect.payload["client_cn"] is None


def test_profile_2_never_connects_to_a_csms_whose_certificate_it_cannot_verify(
    tls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any], clock: FakeClock
) -> None:
    wrong = TlsMaterial(csms_roots=(pki["stranger"].pem,))
    station = make_tls_station(tls_csms.url, wrong, Security=profile(2))
    fails_and_retries(station, clock, "certificate verify failed")
    assert connects(tls_csms) == []


def test_a_csms_certificate_it_cannot_verify_is_a_security_event_once(
    tls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any], clock: FakeClock
) -> None:
    wrong = TlsMaterial(csms_roots=(pki["stranger"].pem,))
    station = make_tls_station(tls_csms.url, wrong, Security=profile(2))
    fails_and_retries(station, clock, "certificate verify failed")
    # Queued once for the whole streak of failures, not once per attempt.
    queued = station.registry.proxy("storage").queue.all().get(timeout=5)
    assert [m.payload["type"] for m in queued] == ["InvalidCentralSystemCertificate"]
    # Once the right root is there, the CSMS hears of it.
    station.ctx.tls.replace(roots(pki))
    clock.advance(PAST_BACKOFF)
    registered(station)
    event = tls_csms.log.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "SecurityEventNotification"
            and e.payload["type"] == "InvalidCentralSystemCertificate"
        )
    )
    assert "certificate verify failed" in event.payload["techInfo"]


def test_in_2_0_1_the_same_event_has_2_0_1s_name(
    make_tls_station: MakeStation, pki: dict[str, Any], clock: FakeClock
) -> None:
    context = server_ssl_context(pki["server_cert"], pki["server_key"])
    with DevCsms(
        port=0, heartbeat_interval=60, password=KEY, ssl=context, subprotocols=("ocpp2.0.1",)
    ) as csms:
        wrong = TlsMaterial(csms_roots=(pki["stranger"].pem,))
        station = make_tls_station(
            csms.url, wrong, Security=profile(2), Internal={"OcppVersions": ["2.0.1"]}
        )
        fails_and_retries(station, clock, "certificate verify failed")
        queued = station.registry.proxy("storage").queue.all().get(timeout=5)
        # 2.0.1 Part 2 Appendix: InvalidCsmsCertificate (1.6: InvalidCentralSystemCertificate).
        assert [m.payload["type"] for m in queued] == ["InvalidCsmsCertificate"]


def test_profile_2_checks_the_host_name(
    make_tls_station: MakeStation, pki: dict[str, Any], tmp_path: Path
) -> None:
    # Signed by the right root, but for localhost only; the station dials 127.0.0.1.
    cert, key = pki["server_ca"].server(hosts=("localhost",)).write(tmp_path, "localhost")
    with DevCsms(port=0, password=KEY, ssl=server_ssl_context(cert, key)) as csms:
        station = make_tls_station(csms.url, roots(pki), Security=profile(2))
        failed(station, "IP address mismatch")
        assert connects(csms) == []


def test_profile_2_without_a_root_waits_for_one_and_then_connects(
    tls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any], clock: FakeClock
) -> None:
    station = make_tls_station(tls_csms.url, None, Security=profile(2))
    fails_and_retries(station, clock, "needs a CSMS root certificate")
    assert connects(tls_csms) == []
    # What the security actor does when the CSMS installs a root: the next
    # attempt reads it.
    station.ctx.tls.replace(roots(pki))
    clock.advance(PAST_BACKOFF)
    registered(station)


def test_profile_2_with_a_wrong_authorization_key_is_refused_by_the_csms(
    tls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    station = make_tls_station(tls_csms.url, roots(pki), Security=profile(2, "not-the-key-4567"))
    failed(station, "401")
    (rejected,) = [e for e in tls_csms.log if e.kind == "rejected"]
    assert rejected.payload["reason"] == "bad credentials"


def test_a_tls_1_1_csms_is_refused(
    make_tls_station: MakeStation, pki: dict[str, Any], clock: FakeClock
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1 itself
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.minimum_version = ssl.TLSVersion.TLSv1_1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.load_cert_chain(pki["server_cert"], pki["server_key"])
        except (ValueError, ssl.SSLError) as exc:
            pytest.skip(f"this OpenSSL cannot serve TLS 1.1: {exc}")
    with DevCsms(port=0, password=KEY, ssl=context) as old:
        if not _speaks_tls_1_1(old.port, pki):
            pytest.skip("this OpenSSL does not complete a TLS 1.1 handshake")
        station = make_tls_station(old.url, roots(pki), Security=profile(2))
        event = failed(station, "connect failed")
        assert "PROTOCOL" in event.reason.upper(), event.reason
        assert connects(old) == []


def _speaks_tls_1_1(port: int, pki: dict[str, Any]) -> bool:
    """Whether a client that allows TLS 1.1 gets a handshake from the server at `port`."""
    import socket

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.minimum_version = ssl.TLSVersion.TLSv1_1
        client.set_ciphers("DEFAULT:@SECLEVEL=0")
        client.load_verify_locations(cadata=pki["server_ca"].pem)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            return tls.version() == "TLSv1.1"
    except (OSError, ssl.SSLError):
        return False


# -- profile 3 ---------------------------------------------------------------------------


def test_profile_3_boots_with_a_client_certificate_the_csms_trusts(
    mtls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    station = make_tls_station(
        plain_url(mtls_csms), with_client(pki), data_dir=data, Security=profile(3, key=None)
    )
    registered(station)
    (connect,) = connects(mtls_csms)
    assert connect.payload["client_cn"] == CP
    assert connect.payload["authorization"] is None  # no Basic auth in profile 3
    # The key passed through a temporary file in the data dir, gone after loading.
    assert [p.name for p in data.iterdir() if p.name.startswith(".tls-client-")] == []


def test_tc_074_a_renewed_client_certificate_is_used_at_once(
    mtls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    # The station's certificates come from the CPO's CA, which the station
    # trusts as a CSMS root too: a signed chain must end at one (as libocpp checks).
    material = with_client(pki)
    material = TlsMaterial(
        (*material.csms_roots, pki["client_ca"].pem), material.client_chain, material.client_key
    )
    station = make_tls_station(mtls_csms.url, material, Security=profile(3, key=None))
    registered(station)
    mark = mtls_csms.log.mark()
    trigger = {"requestedMessage": "SignChargePointCertificate"}
    assert mtls_csms.call(CP, "ExtendedTriggerMessage", trigger) == {"status": "Accepted"}
    request = mtls_csms.log.wait_call("SignCertificate", CP, since=mark)
    chain = pki["client_ca"].sign(request.payload["csr"])  # the CSMS's CA signs it
    answer = mtls_csms.call(CP, "CertificateSigned", {"certificateChain": chain})
    assert answer == {"status": "Accepted"}
    # The station drops its connection and comes back with the new certificate,
    # whose CN is its ChargeBoxSerialNumber; the same run: no new boot.
    again = mtls_csms.log.wait_for(lambda e: e.kind == "connect", since=mark)
    assert again.payload["client_cn"] == "CB-0001"
    mtls_csms.log.wait_for(
        lambda e: e.kind == "call" and e.action == "StatusNotification", since=again.seq
    )
    assert not mtls_csms.log.calls("BootNotification", since=mark)


def test_profile_3_without_a_client_certificate_does_not_dial(
    mtls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any], clock: FakeClock
) -> None:
    station = make_tls_station(mtls_csms.url, roots(pki), Security=profile(3, key=None))
    fails_and_retries(station, clock, "needs a client certificate")
    assert connects(mtls_csms) == []


def test_the_csms_refuses_a_station_without_a_client_certificate(
    mtls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any], clock: FakeClock
) -> None:
    # Profile 2 offers no client certificate; a profile 3 CSMS ends the handshake.
    station = make_tls_station(mtls_csms.url, roots(pki), Security=profile(2))
    fails_and_retries(station, clock, "connect failed")
    assert connects(mtls_csms) == []


def test_the_csms_refuses_a_client_certificate_it_does_not_trust(
    mtls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    untrusted = with_client(pki, pki["stranger"].client(CP))
    station = make_tls_station(mtls_csms.url, untrusted, Security=profile(3, key=None))
    failed(station, "connect failed")
    assert connects(mtls_csms) == []


def test_a_client_key_that_does_not_match_its_certificate_is_reported(
    mtls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    other = pki["client_ca"].client(CP)
    mixed = TlsMaterial(
        csms_roots=(pki["server_ca"].pem,),
        client_chain=pki["client"].cert_pem,
        client_key=other.key_pem,
    )
    station = make_tls_station(mtls_csms.url, mixed, Security=profile(3, key=None))
    failed(station, "client certificate or its key is unusable")


def test_the_client_key_file_is_private_and_deleted_after_loading(
    pki: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int]] = []
    load = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: Any, *args: Any, **kwargs: Any) -> None:
        seen.append((str(certfile), os.stat(certfile).st_mode & 0o777))
        load(self, certfile, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    tls_context(with_client(pki), 3, tmp_path)
    ((path, mode),) = seen
    assert Path(path).parent == tmp_path and mode == 0o600
    assert not Path(path).exists()
    with pytest.raises(TlsUnavailable, match="needs a CSMS root"):
        tls_context(TlsMaterial(), 2)
    with pytest.raises(TlsUnavailable, match="unusable"):
        tls_context(TlsMaterial(csms_roots=("not a certificate",)), 2)
    # Profiles 0 and 1 over wss:// without roots trust the system's CAs.
    assert tls_context(TlsMaterial(), 1).verify_mode == ssl.CERT_REQUIRED


def test_tls_1_3_connections_do_not_hang_on_the_session_tickets(
    tls_csms: DevCsms, pki: dict[str, Any]
) -> None:
    # websockets' sync client reads on one thread while another writes the
    # HTTP upgrade; unless the link's socket lets one thread at a time into
    # OpenSSL, the server's session tickets arriving meanwhile hang about one
    # connection in a hundred. Many connections in a row catch that.
    context = tls_context(roots(pki), 2)
    headers = {"Authorization": "Basic " + base64.b64encode(f"{CP}:{KEY}".encode()).decode()}
    for _ in range(300):
        with connect(
            f"{tls_csms.url}/{CP}",
            ssl=context,
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers=headers,
            open_timeout=5,
            proxy=None,
        ) as ws:
            assert ws.socket.version() == "TLSv1.3"


# -- ChangeConfiguration SecurityProfile ------------------------------------------------------


def test_raising_1_to_2_reconnects_over_tls_without_booting_again(
    tls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    # Profile 1 on a wss:// URI, verified against the installed root.
    station = make_tls_station(tls_csms.url, roots(pki), Security=profile(1))
    registered(station)
    mark = log_of(station).mark()
    csms_mark = tls_csms.log.mark()
    assert change(tls_csms, "SecurityProfile", "2") == "Accepted"
    log_of(station).wait_for(
        lambda e: (
            isinstance(e, ConfigApplied) and (e.path, e.key) == (WEBSOCKET, "SecurityProfile")
        ),
        WAIT,
        since=mark,
    )
    log_of(station).wait_for(lambda e: isinstance(e, LinkChanged) and e.up, WAIT, since=mark)
    # Back online: the connectors are announced again, and no BootNotification.
    tls_csms.log.wait_call("StatusNotification", CP, WAIT, since=csms_mark)
    assert len(connects(tls_csms)) == 2
    assert len(tls_csms.calls("BootNotification")) == 1
    assert security_profile(tls_csms) == "2"


def test_raising_1_to_2_without_a_root_is_rejected(
    make_tls_station: MakeStation,
) -> None:
    with DevCsms(port=0, heartbeat_interval=60, password=KEY) as csms:
        station = make_tls_station(csms.url, None, Security=profile(1))
        registered(station)
        assert change(csms, "SecurityProfile", "2") == "Rejected"
        assert security_profile(csms) == "1"
        assert len(connects(csms)) == 1


def test_raising_0_to_2_without_an_authorization_key_is_rejected(
    make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    with DevCsms(port=0, heartbeat_interval=60) as csms:
        station = make_tls_station(csms.url, roots(pki))
        registered(station)
        assert change(csms, "SecurityProfile", "2") == "Rejected"
        assert security_profile(csms) == "0"


def test_raising_2_to_3_without_a_client_certificate_is_rejected(
    tls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    station = make_tls_station(tls_csms.url, roots(pki), Security=profile(2))
    registered(station)
    assert change(tls_csms, "SecurityProfile", "3") == "Rejected"
    assert security_profile(tls_csms) == "2"


def test_raising_2_to_3_with_a_client_certificate_reconnects_with_it(
    make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    # A CSMS that takes both: Basic auth without a certificate, or a certificate.
    context = server_ssl_context(pki["server_cert"], pki["server_key"], pki["client_ca_file"])
    context.verify_mode = ssl.CERT_OPTIONAL
    with DevCsms(port=0, heartbeat_interval=60, ssl=context) as csms:
        station = make_tls_station(csms.url, with_client(pki), Security=profile(2))
        registered(station)
        assert connects(csms)[0].payload["client_cn"] is None
        mark = csms.log.mark()
        assert change(csms, "SecurityProfile", "3") == "Accepted"
        csms.log.wait_call("StatusNotification", CP, WAIT, since=mark)
        second = connects(csms)[1]
        assert second.payload["client_cn"] == CP
        assert second.payload["authorization"] is None
        assert len(csms.calls("BootNotification")) == 1


def test_lowering_the_profile_is_rejected(
    tls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    station = make_tls_station(tls_csms.url, roots(pki), Security=profile(2))
    registered(station)
    assert change(tls_csms, "SecurityProfile", "1") == "Rejected"
    assert security_profile(tls_csms) == "2"
    assert len(connects(tls_csms)) == 1


# -- the dev CSMS's command line ----------------------------------------------------------


def test_the_csms_command_serves_tls_and_requires_client_certificates(
    make_tls_station: MakeStation, pki: dict[str, Any], tmp_path: Path
) -> None:
    proc, out, err = csms_process(
        [
            "--port",
            "0",
            "--tls-cert",
            str(pki["server_cert"]),
            "--tls-key",
            str(pki["server_key"]),
            "--client-ca",
            str(pki["client_ca_file"]),
        ],
        tmp_path,
    )
    assert proc.stdin
    try:
        first = out.next()
        assert first.startswith("listening wss://127.0.0.1:"), first
        url = first.split()[1]
        station = make_tls_station(url, with_client(pki), Security=profile(3, key=None))
        registered(station)
        proc.stdin.write(f"get {CP} SecurityProfile\n")
        proc.stdin.flush()
        while not (line := out.next()).startswith("ok "):
            pass  # the message lines printed meanwhile
        assert '"value":"3"' in line, line
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(EXIT_TIMEOUT) == 0, err.tail()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(EXIT_TIMEOUT)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()


@pytest.mark.parametrize("flags", [["--tls-cert"], ["--tls-key"], ["--client-ca"]])
def test_the_csms_command_wants_certificate_and_key_together(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Files that exist: what is checked here is the pairing, not the files.
    pem = tmp_path / "x.pem"
    pem.write_text("not read before the flags are checked\n")
    with pytest.raises(SystemExit) as exited:
        main_csms(["--port", "0", *[x for flag in flags for x in (flag, str(pem))]])
    assert exited.value.code == 2
    assert "--tls-cert" in capsys.readouterr().err


def test_the_csms_command_names_a_tls_file_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(SystemExit) as exited:
        main_csms(["--port", "0", "--tls-cert", missing, "--tls-key", missing])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--tls-cert" in err and "missing.pem" in err and "Traceback" not in err


def test_the_csms_command_says_when_it_cannot_load_the_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is no certificate\n")
    assert main_csms(["--port", "0", "--tls-cert", str(garbage), "--tls-key", str(garbage)]) == 2
    assert "cannot load the TLS files" in capsys.readouterr().err


@pytest.mark.parametrize(
    "error,kind",
    [
        (
            ssl.SSLCertVerificationError("certificate verify failed"),
            "InvalidCentralSystemCertificate",
        ),
        (ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert"), "InvalidTLSVersion"),
        (ssl.SSLError(1, "[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol"), "InvalidTLSVersion"),
        # A server that just hangs up cannot be told from any other lost connection.
        (ssl.SSLError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF"), None),
        (ConnectionRefusedError(111, "refused"), None),
    ],
)
def test_which_tls_failures_are_security_events(error: BaseException, kind: str | None) -> None:
    assert tls_security_event(error) == kind


def test_the_root_the_link_relies_on_is_not_deleted(
    tls_csms: DevCsms, make_tls_station: MakeStation, pki: dict[str, Any]
) -> None:
    station = make_tls_station(tls_csms.url, roots(pki), Security=profile(2))
    registered(station)
    listed = tls_csms.call(
        CP, "GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}
    )
    (only,) = listed["certificateHashData"]
    answer = tls_csms.call(CP, "DeleteCertificate", {"certificateHashData": only})
    assert answer == {"status": "Failed"}
    assert station.ctx.tls.current.csms_roots == roots(pki).csms_roots


def test_no_log_line_at_any_level_holds_the_authorization_key(
    make_tls_station: MakeStation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    new = "an0ther-s3cret-key-4567"
    secrets = [KEY, new]
    secrets += [base64.b64encode(f"{CP}:{s}".encode()).decode() for s in (KEY, new)]
    with DevCsms(port=0, heartbeat_interval=60, password=KEY) as csms:
        station = make_tls_station(csms.url, None, Security=profile(1))
        registered(station)
        mark = csms.log.mark()
        assert change(csms, "AuthorizationKey", new) == "Accepted"
        # It reconnects with the new key (which this CSMS does not know).
        csms.log.wait_for(lambda e: e.kind in ("connect", "rejected"), 10, since=mark)
    # The station's lines (the dev CSMS's server traces its side on its own).
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("ocppstation") and not record.name.startswith("ocppstation.tools")
    ]
    # The trace was there to leak from: the handshake's headers and the frames.
    assert any("Authorization: (hidden)" in line for line in lines)
    assert any("ChangeConfiguration" in line or "data not logged" in line for line in lines)
    assert [line for line in lines if any(secret in line for secret in secrets)] == []
