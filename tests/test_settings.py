"""The settings actor and the station's SettingsView: with a real SQLite storage
actor, without one, and end to end over real websockets against the dev CSMS."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import ConfigChanged, EventBus
from ocppstation.actors.link.rpc import Answer, Inbound
from ocppstation.actors.runtime.base import Crash, Place, Supervised
from ocppstation.actors.runtime.context import RPC, StationContext
from ocppstation.actors.runtime.registry import Registry
from ocppstation.actors.station import EventLog, Station
from ocppstation.actors.storage.db import Storage
from ocppstation.actors.v16.configuration import SETTINGS, STORAGE, Settings, settings_view
from ocppstation.config import keys_v16
from ocppstation.config.loader import load
from ocppstation.protocol.errors import (
    NotSupported,
    OccurrenceConstraintViolation,
    OcppError,
    OcppVersion,
)
from ocppstation.protocol.framing import Call
from ocppstation.protocol.validation import Validator
from ocppstation.tools.csms import CallErrorResponse, DevCsms
from tests.addresses import at
from tests.conftest import StationFactory

WAIT = 5.0
KEY = "a-sixteen-chars!"
VALIDATOR = Validator(OcppVersion("ocpp1.6"))


class SyncRpc:
    """Stands in for the rpc actor's ref: records what is told to it, in the
    teller's own thread, so a test sees the order of tells and events (the
    test also tells it the events it wants in the same journal)."""

    actor_urn = "urn:test:rpc"

    def __init__(self, journal: list[Any]) -> None:
        self.journal = journal
        self.answered = threading.Condition()

    def is_alive(self) -> bool:
        return True

    def tell(self, message: object) -> None:
        with self.answered:
            self.journal.append(message)
            self.answered.notify_all()
        # As the real rpc does: the answer's follow-up is told back once it is sent.
        if isinstance(message, Answer) and message.notify is not None:
            message.notify.tell(message.then)

    def wait_count(self, count: int) -> None:
        with self.answered:
            assert self.answered.wait_for(lambda: len(self.journal) >= count, WAIT)

    def wait_answer(self) -> Answer:
        with self.answered:
            self.answered.wait_for(lambda: any(isinstance(m, Answer) for m in self.journal), WAIT)
        answers = [m for m in self.journal if isinstance(m, Answer)]
        assert answers, "no Answer told to rpc"
        self.journal.remove(answers[0])
        return answers[0]


@pykka.traversable
class _BrokenSettings:
    def overlay(self) -> dict[str, str]:
        return {}

    def put(self, key: str, value: str) -> None:
        raise OSError("disk I/O error")


class BrokenStorage(Supervised):
    """A storage actor whose disk is gone: reads work, writes fail."""

    def __init__(self, place: Place) -> None:
        self.settings = _BrokenSettings()
        super().__init__(place)


class Env:
    """One station's registry, bus and actors, without the rest of the tree."""

    def __init__(self, tmp_path: Path, **sections: Any) -> None:
        overrides: dict[str, Any] = {"Internal": {"Evses": 2}}
        overrides.update(sections)
        self.config = load(None, overrides)
        self.registry = Registry()
        self.bus = EventBus()
        self.ctx = StationContext(self.config, self.registry, FakeClock(), self.bus, {})
        self.database = tmp_path / "station.sqlite"
        self.events = EventLog(self.bus)
        self.refs: list[Any] = []

    def start_storage(self, kind: type[Supervised] = Storage, *, in_memory: bool = False) -> Any:
        place = Place(STORAGE, None, self.registry)
        if kind is Storage:
            ref = Storage.start(place, None if in_memory else self.database)
        else:
            ref = kind.start(place)
        self.refs.append(ref)
        return ref

    def start_settings(self) -> Any:
        ref = Settings.start(Place(SETTINGS, None, self.registry), self.ctx)
        self.refs.append(ref)
        return ref.proxy()

    def stop_all(self) -> None:
        for ref in reversed(self.refs):
            if ref.is_alive():
                ref.stop(timeout=WAIT)
        self.refs.clear()

    def overlay(self) -> dict[str, str]:
        return self.registry.proxy(STORAGE).settings.overlay().get(timeout=WAIT)

    def changes(self) -> list[ConfigChanged]:
        return [e for e in self.events.all() if isinstance(e, ConfigChanged)]


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    envs: list[Env] = []

    def make(**sections: Any) -> Env:
        env = Env(tmp_path, **sections)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.stop_all()
        env.events.close()


def get(settings: Any, keys: list[str] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = settings.get_configuration(keys).get(timeout=WAIT)
    VALIDATOR.check_response("GetConfiguration", answer)
    return answer


def change(settings: Any, key: str, value: str) -> str:
    answer: dict[str, Any] = settings.change_configuration(key, value).get(timeout=WAIT)
    VALIDATOR.check_response("ChangeConfiguration", answer)
    return str(answer["status"])


def by_key(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["key"]: entry for entry in answer["configurationKey"]}


# -- GetConfiguration ------------------------------------------------------------------


def test_all_keys_in_table_order_without_the_authorization_keys_value(make_env) -> None:
    env = make_env(
        Security={"SecurityProfile": 1, "AuthorizationKey": KEY},
        Core={"SupportedFeatureProfiles": "Core,RemoteTrigger"},
    )
    env.start_storage()
    settings = env.start_settings()
    answer = get(settings)
    names = [entry["key"] for entry in answer["configurationKey"]]
    assert names == [n for n in keys_v16.KEYS if n in settings_view(env.ctx)]
    assert "unknownKey" not in answer
    entries = by_key(answer)
    assert entries["AuthorizationKey"] == {"key": "AuthorizationKey", "readonly": False}
    assert KEY not in repr(answer)
    assert entries["NumberOfConnectors"] == {
        "key": "NumberOfConnectors",
        "readonly": True,
        "value": "2",
    }
    assert entries["StopTransactionOnInvalidId"]["value"] == "true"
    assert entries["MeterValuesSampledData"]["value"] == (
        "Energy.Active.Import.Register,Power.Active.Import"
    )
    # Internal keys and keys of profiles the station does not support are not OCPP keys here.
    assert "ChargePointId" not in entries
    assert "LocalAuthListEnabled" not in entries


def test_listed_keys_answer_known_ones_and_name_the_unknown(make_env) -> None:
    env = make_env()
    settings = env.start_settings()
    answer = get(
        settings,
        [
            "heartbeatinterval",
            "HeartbeatInterval",
            "Bogus",
            "ChargePointId",
            "Bogus",
            "BlinkRepeat",
        ],
    )
    assert answer["configurationKey"] == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}
    ]
    assert answer["unknownKey"] == ["Bogus", "ChargePointId", "BlinkRepeat"]


def test_more_keys_than_get_configuration_max_keys_is_an_occurrence_violation(make_env) -> None:
    env = make_env(Core={"GetConfigurationMaxKeys": 2})
    settings = env.start_settings()
    assert len(get(settings, ["HeartbeatInterval", "Bogus"])["configurationKey"]) == 1
    with pytest.raises(OccurrenceConstraintViolation, match="GetConfigurationMaxKeys is 2"):
        settings.get_configuration(["A", "B", "C"]).get(timeout=WAIT)
    # All keys (no list) is not a request for more than the limit.
    assert len(get(settings)["configurationKey"]) > 2
    assert len(get(settings, [])["configurationKey"]) > 2


# -- ChangeConfiguration -----------------------------------------------------------------


def test_accepted_change_is_persisted_shown_and_published(make_env) -> None:
    env = make_env()
    env.start_storage()
    settings = env.start_settings()
    view = settings_view(env.ctx)
    seen_at_event: list[Any] = []
    env.bus.subscribe(
        lambda e: seen_at_event.append(view.v16(e.key)) if isinstance(e, ConfigChanged) else None
    )
    assert change(settings, "meterValueSampleInterval", " 30 ") == "Accepted"
    assert env.overlay() == {at("MeterValueSampleInterval"): "30"}
    assert view.v16("MeterValueSampleInterval") == 30
    assert env.changes() == [ConfigChanged("MeterValueSampleInterval", 30)]
    assert seen_at_event == [30]  # the view showed it before anyone was told
    assert by_key(get(settings))["MeterValueSampleInterval"]["value"] == "30"


def test_a_change_survives_restarting_settings_and_storage(make_env) -> None:
    env = make_env()
    env.start_storage()
    settings = env.start_settings()
    assert change(settings, "MeterValuesSampledData", "SoC,Current.Import.L1") == "Accepted"
    env.stop_all()
    env.start_storage()
    settings = env.start_settings()
    assert settings_view(env.ctx).v16("MeterValuesSampledData") == ("SoC", "Current.Import.L1")
    entry = by_key(get(settings, ["MeterValuesSampledData"]))["MeterValuesSampledData"]
    assert entry["value"] == "SoC,Current.Import.L1"


@pytest.mark.parametrize(
    "key,value,status",
    [
        ("NumberOfConnectors", "3", "Rejected"),  # read-only
        ("SupportedFeatureProfiles", "Core", "Rejected"),  # read-only
        ("HeartbeatInterval", "often", "Rejected"),  # not an integer
        ("HeartbeatInterval", "-5", "Rejected"),  # out of range
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus", "Rejected"),
        ("SecurityProfile", "1", "Rejected"),  # no AuthorizationKey yet
        ("Bogus", "1", "NotSupported"),
        ("CentralSystemURI", "ws://elsewhere", "NotSupported"),  # Internal, not OCPP
    ],
)
def test_refused_changes_change_nothing(make_env, key: str, value: str, status: str) -> None:
    env = make_env()
    env.start_storage()
    settings = env.start_settings()
    before = dict(settings_view(env.ctx).snapshot())
    assert change(settings, key, value) == status
    assert env.overlay() == {}
    assert dict(settings_view(env.ctx).snapshot()) == before
    assert env.changes() == []


def test_a_change_that_cannot_be_persisted_is_rejected_and_not_applied(make_env) -> None:
    env = make_env()
    env.start_storage(BrokenStorage)
    settings = env.start_settings()
    assert change(settings, "HeartbeatInterval", "30") == "Rejected"
    assert settings_view(env.ctx).v16("HeartbeatInterval") == 300
    assert env.changes() == []


def test_without_storage_changes_live_as_long_as_the_station(make_env) -> None:
    env = make_env()
    settings = env.start_settings()
    assert change(settings, "HeartbeatInterval", "30") == "Accepted"
    env.stop_all()
    settings = env.start_settings()  # a restarted tree, same Station
    assert settings_view(env.ctx).v16("HeartbeatInterval") == 30
    assert by_key(get(settings, ["HeartbeatInterval"]))["HeartbeatInterval"]["value"] == "30"


def test_a_database_in_memory_still_keeps_changes_across_restarts_of_the_tree(make_env) -> None:
    env = make_env()
    env.start_storage(in_memory=True)
    settings = env.start_settings()
    assert change(settings, "ConnectionTimeOut", "45") == "Accepted"
    env.stop_all()
    env.start_storage(in_memory=True)  # empty again
    env.start_settings()
    assert settings_view(env.ctx).v16("ConnectionTimeOut") == 45


def test_a_stale_stored_value_is_skipped_with_a_warning(make_env, caplog) -> None:
    env = make_env()
    storage = env.start_storage().proxy()
    storage.settings.put(at("HeartbeatInterval"), "often").get(timeout=WAIT)
    storage.settings.put(at("NoLongerAKey"), "1").get(timeout=WAIT)
    storage.settings.put(at("ConnectionTimeOut"), "90").get(timeout=WAIT)
    with caplog.at_level(logging.WARNING):
        env.start_settings()
        view = settings_view(env.ctx)
        view_ready = view.v16("ConnectionTimeOut")
    assert view_ready == 90
    assert view.v16("HeartbeatInterval") == 300
    assert "HeartbeatInterval" in caplog.text
    assert "NoLongerAKey" in caplog.text


def test_the_authorization_key_is_written_never_read_back_nor_told(make_env, caplog) -> None:
    env = make_env()
    env.start_storage()
    settings = env.start_settings()
    with caplog.at_level(logging.DEBUG):
        assert change(settings, "AuthorizationKey", KEY) == "Accepted"
        assert change(settings, "AuthorizationKey", "too-short") == "Rejected"
    assert settings_view(env.ctx).v16("AuthorizationKey") == KEY  # the link needs it
    assert env.changes() == [ConfigChanged("AuthorizationKey", None)]
    assert by_key(get(settings, ["AuthorizationKey"]))["AuthorizationKey"] == {
        "key": "AuthorizationKey",
        "readonly": False,
    }
    assert KEY not in caplog.text
    assert "too-short" not in caplog.text
    # With a key, profile 1 may now be chosen, and then never lowered.
    assert change(settings, "SecurityProfile", "1") == "Accepted"
    assert change(settings, "SecurityProfile", "0") == "Rejected"
    assert change(settings, "AuthorizationKey", "") == "Rejected"


# -- the view ------------------------------------------------------------------------------


def test_the_view_exists_before_settings_starts_and_is_kept_across_restarts(make_env) -> None:
    env = make_env(Core={"HeartbeatInterval": 42})
    view = settings_view(env.ctx)
    assert view.v16("HeartbeatInterval") == 42  # file over defaults, no overlay yet
    assert view.v16("BlinkRepeat", None) is None
    with pytest.raises(KeyError, match="BlinkRepeat"):
        view.v16("BlinkRepeat")
    env.start_storage()
    settings = env.start_settings()
    assert change(settings, "HeartbeatInterval", "7") == "Accepted"
    old = env.registry.require(SETTINGS)
    old.tell(Crash("test"))  # no supervisor here: start a new one by hand
    old.actor_stopped.wait(WAIT)
    env.start_settings()
    assert settings_view(env.ctx) is view
    assert view.v16("HeartbeatInterval") == 7


def test_readers_in_other_threads_always_see_a_whole_value(make_env) -> None:
    env = make_env()
    env.start_storage()
    settings = env.start_settings()
    view = settings_view(env.ctx)
    stop = threading.Event()
    bad: list[Any] = []

    def read() -> None:
        while not stop.is_set():
            value = view.v16("MeterValueSampleInterval")
            if not isinstance(value, int) or "HeartbeatInterval" not in view.snapshot():
                bad.append(value)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for n in range(1, 60):
            assert change(settings, "MeterValueSampleInterval", str(n)) == "Accepted"
    finally:
        stop.set()
        for reader in readers:
            reader.join(WAIT)
    assert bad == []
    assert view.v16("MeterValueSampleInterval") == 59


# -- the CSMS's calls, as rpc routes them ---------------------------------------------------


def test_inbound_calls_are_answered_to_rpc_before_the_change_is_published(make_env) -> None:
    env = make_env()
    env.start_storage()
    journal: list[Any] = []
    rpc = SyncRpc(journal)
    env.registry.register(RPC, rpc)  # type: ignore[arg-type]
    env.bus.subscribe(lambda e: rpc.tell(e) if isinstance(e, ConfigChanged) else None)
    env.start_settings()

    call = Call("1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "30"})
    env.registry.tell(SETTINGS, Inbound(call))
    rpc.wait_count(2)
    # Told to rpc first: a reaction to the change (a reconnect) cannot cut it off.
    answer, changed = journal
    assert isinstance(answer, Answer)
    assert (answer.call, answer.result) == (call, {"status": "Accepted"})
    assert changed == ConfigChanged("HeartbeatInterval", 30)
    journal.clear()

    call = Call("2", "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    env.registry.tell(SETTINGS, Inbound(call))
    assert rpc.wait_answer().result == {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "30"}],
        "unknownKey": ["Nope"],
    }

    call = Call("3", "Reset", {"type": "Soft"})
    env.registry.tell(SETTINGS, Inbound(call))
    assert isinstance(rpc.wait_answer().result, NotSupported)


def test_too_many_keys_from_the_csms_get_a_callerror(make_env) -> None:
    env = make_env(Core={"GetConfigurationMaxKeys": 1})
    rpc = SyncRpc([])
    env.registry.register(RPC, rpc)  # type: ignore[arg-type]
    env.start_settings()
    call = Call("1", "GetConfiguration", {"key": ["HeartbeatInterval", "ConnectionTimeOut"]})
    env.registry.tell(SETTINGS, Inbound(call))
    result = rpc.wait_answer().result
    assert isinstance(result, OccurrenceConstraintViolation)
    assert isinstance(result, OcppError)


# -- end to end: the dev CSMS over real websockets ----------------------------------------------

CP = "cp-test"


def booted(station: Station) -> None:
    from ocppstation.actors.events import RegistrationChanged

    assert station.recorded is not None
    station.recorded.wait_for(
        lambda e: isinstance(e, RegistrationChanged) and e.status == "Accepted", WAIT
    )


def test_tc_019_retrieve_all_configuration_keys(
    any_csms: Any, make_station: StationFactory
) -> None:
    station = make_station(any_csms, Security={"SecurityProfile": 0, "AuthorizationKey": KEY})
    booted(station)
    answer = any_csms.call(CP, "GetConfiguration", {})
    entries = by_key(answer)
    core_required = [s.name for s in keys_v16.KEYS.values() if s.profile == "Core" and s.required]
    assert set(core_required) <= set(entries)
    assert entries["NumberOfConnectors"]["value"] == "2"
    assert entries["HeartbeatInterval"] == {
        "key": "HeartbeatInterval",
        "readonly": False,
        "value": "300",
    }
    assert "value" not in entries["AuthorizationKey"]
    assert "unknownKey" not in answer or answer["unknownKey"] == []


def test_tc_019_retrieve_listed_configuration_keys_with_an_unknown_one(
    any_csms: Any, make_station: StationFactory
) -> None:
    station = make_station(any_csms)
    booted(station)
    answer = any_csms.call(
        CP,
        "GetConfiguration",
        {"key": ["ConnectionTimeOut", "NotAKey", "SupportedFeatureProfiles"]},
    )
    assert answer["configurationKey"] == [
        {"key": "ConnectionTimeOut", "readonly": False, "value": "60"},
        {
            "key": "SupportedFeatureProfiles",
            "readonly": True,
            "value": "Core,FirmwareManagement,LocalAuthListManagement,Reservation,"
            "SmartCharging,RemoteTrigger",
        },
    ]
    assert answer["unknownKey"] == ["NotAKey"]


def test_tc_021_change_configuration_takes_effect_and_is_read_back(
    any_csms: Any, make_station: StationFactory
) -> None:
    station = make_station(any_csms)
    booted(station)
    assert station.recorded is not None
    mark = station.recorded.mark()
    answer = any_csms.call(
        CP, "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "15"}
    )
    assert answer == {"status": "Accepted"}
    station.recorded.wait_for(
        lambda e: e == ConfigChanged("MeterValueSampleInterval", 15), WAIT, since=mark
    )
    read = any_csms.call(CP, "GetConfiguration", {"key": ["MeterValueSampleInterval"]})
    assert read["configurationKey"][0]["value"] == "15"


@pytest.mark.parametrize(
    "key,value,status",
    [
        pytest.param("GetConfigurationMaxKeys", "5", "Rejected", id="read-only"),
        pytest.param("HeartbeatInterval", "soon", "Rejected", id="not-an-integer"),
        pytest.param("StopTransactionOnInvalidId", "maybe", "Rejected", id="not-a-boolean"),
        pytest.param("MeterValuesSampledData", "Voltage.N", "Rejected", id="bad-measurand"),
        pytest.param("NoSuchKey", "1", "NotSupported", id="unknown-key"),
    ],
)
def test_tc_040_1_tc_040_2_change_configuration_refused_or_not_supported(
    csms: DevCsms, make_station: StationFactory, key: str, value: str, status: str
) -> None:
    station = make_station(csms)
    booted(station)
    assert csms.call(CP, "ChangeConfiguration", {"key": key, "value": value}) == {"status": status}


def test_get_configuration_beyond_the_limit_over_the_wire(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms, Core={"GetConfigurationMaxKeys": 2})
    booted(station)
    with pytest.raises(CallErrorResponse) as caught:
        csms.call(CP, "GetConfiguration", {"key": ["HeartbeatInterval", "ConnectionTimeOut", "X"]})
    # OCPP-J 1.6 spells the code with one "r" (fixed in 2.0.1).
    assert caught.value.code == "OccurenceConstraintViolation"


def test_a_change_survives_a_station_restart_with_a_database(
    csms: DevCsms, clock: FakeClock, tmp_path: Path
) -> None:
    config = load(
        None,
        {
            "Internal": {
                "CentralSystemURI": csms.url,
                "ChargePointId": CP,
                "Evses": 1,
                "RetryBackOffRandomRange": 0,
            }
        },
    )
    for attempt in range(2):
        station = Station(config, clock=clock, data_dir=tmp_path, record_events=True)
        with station:
            booted(station)
            if attempt == 0:
                answer = csms.call(
                    CP, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "123"}
                )
                assert answer == {"status": "Accepted"}
            else:
                read = csms.call(CP, "GetConfiguration", {"key": ["HeartbeatInterval"]})
                assert read["configurationKey"][0]["value"] == "123"


def test_a_change_survives_a_soft_reset_without_a_database(
    csms: DevCsms, make_station: StationFactory
) -> None:
    station = make_station(csms)
    booted(station)
    answer = csms.call(CP, "ChangeConfiguration", {"key": "ConnectionTimeOut", "value": "33"})
    assert answer == {"status": "Accepted"}
    mark = csms.log.mark()
    assert csms.call(CP, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    # The tree was rebuilt in-process (a new storage in memory, a new settings).
    csms.log.wait_call("BootNotification", CP, since=mark)
    read = csms.call(CP, "GetConfiguration", {"key": ["ConnectionTimeOut"]})
    assert read["configurationKey"][0]["value"] == "33"
