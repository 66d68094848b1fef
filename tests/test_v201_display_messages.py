"""OCPP 2.0.1 O Display messages: the pure rules (hypothesis) and the block end to end
against the dev CSMS and ocpp-rpc strict, over real websockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.clock import FakeClock
from ocppstation.actors.events import DisplayChanged
from ocppstation.actors.runtime.supervisor import ChildRestarted
from ocppstation.actors.v201.display_messages import DISPLAY
from ocppstation.protocol.v201 import display_messages as dm
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, log_of, quiet, wait_display, wait_status
from tests.test_v201_e2e import CP, any_csms201, charging, csms201, station201

__all__ = ["any_csms201", "csms201"]  # the 2.0.1 peers, as fixtures here

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def info(
    message_id: int,
    text: str = "hello",
    priority: str = "NormalCycle",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": message_id,
        "priority": priority,
        "message": {"format": extra.pop("format", "UTF8"), "content": text},
        **extra,
    }


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# -- the rules -----------------------------------------------------------------

_times = st.one_of(st.none(), st.integers(-3600, 3600).map(lambda s: NOW + timedelta(seconds=s)))
_messages = st.builds(
    dm.Message,
    id=st.integers(0, 20),
    priority=st.sampled_from(dm.PRIORITIES),
    content=st.text(min_size=1, max_size=5),
    state=st.one_of(st.none(), st.sampled_from(dm.STATES)),
    start=_times,
    end=_times,
    transaction_id=st.one_of(st.none(), st.sampled_from(["tx-1", "tx-2"])),
    evse=st.one_of(st.none(), st.integers(1, 2)),
    order=st.integers(0, 100),
)
_views = st.builds(
    dm.EvseView,
    status=st.sampled_from(["Available", "Charging", "Faulted", "Unavailable", "Preparing"]),
    transaction_id=st.one_of(st.none(), st.sampled_from(["tx-1", "tx-2"])),
)


@given(st.lists(_messages, max_size=8), _views, st.integers(1, 2))
def test_what_shows_may_show_and_an_always_front_one_wins(
    messages: list[dm.Message], view: dm.EvseView, evse: int
) -> None:
    chosen = dm.in_force(messages, evse, view, NOW)
    applicable = [m for m in messages if dm.applies(m, evse, view, NOW)]
    if chosen is None:
        assert not applicable
        return
    assert chosen in applicable
    if any(m.priority == "AlwaysFront" for m in applicable):
        assert chosen.priority == "AlwaysFront"
    ranks = [dm.PRIORITIES.index(m.priority) for m in applicable]
    assert dm.PRIORITIES.index(chosen.priority) == min(ranks)


@given(st.lists(_messages, max_size=8), _views, st.integers(1, 2))
def test_an_expired_or_not_yet_started_message_never_wait_display(
    messages: list[dm.Message], view: dm.EvseView, evse: int
) -> None:
    shown = dm.shown(messages, evse, view, NOW, None)
    if shown.message is not None:
        assert shown.message.end is None or shown.message.end > NOW
        assert shown.message.start is None or shown.message.start <= NOW
        assert shown.message.transaction_id in (None, view.transaction_id)
        assert shown.message.state in (None, dm.evse_state(view))


@given(st.lists(_messages, max_size=8), _views, st.text(min_size=1, max_size=5))
def test_the_drivers_text_yields_only_to_front_messages(
    messages: list[dm.Message], view: dm.EvseView, text: str
) -> None:
    shown = dm.shown(messages, 1, view, NOW, text)
    front = dm.in_force(messages, 1, view, NOW)
    if front is not None and front.priority in ("AlwaysFront", "InFront"):
        assert shown.message == front
    else:
        assert shown == dm.Shown(text)


@given(st.lists(_messages, max_size=8))
def test_the_next_change_is_a_window_edge_after_now(messages: list[dm.Message]) -> None:
    at = dm.next_change(messages, NOW)
    edges = {t for m in messages for t in (m.start, m.end) if t is not None}
    if at is None:
        assert all(t <= NOW for t in edges)
    else:
        assert at in edges and at > NOW
        assert all(t <= NOW or t >= at for t in edges)


def test_judged_in_libocpps_order() -> None:
    def judge(message: dict[str, Any], **overrides: Any) -> str:
        args: dict[str, Any] = {
            "available": True,
            "priorities": dm.PRIORITIES,
            "formats": ("ASCII", "UTF8"),
            "states": dm.STATES,
            "running": ["tx-1"],
            "stored": [1, 2],
            "most": 3,
        }
        return dm.judge(message, **{**args, **overrides})

    assert judge(info(3)) == "Accepted"
    assert judge(info(3), available=False) == "Rejected"
    assert judge(info(3, priority="InFront"), priorities=("NormalCycle",)) == "NotSupportedPriority"
    assert judge(info(3, format="HTML")) == "NotSupportedMessageFormat"
    assert judge(info(3, transactionId="tx-9")) == "UnknownTransaction"
    assert judge(info(3, transactionId="tx-1")) == "Accepted"
    assert judge(info(3, state="Charging"), states=("Idle",)) == "NotSupportedState"
    assert judge(info(4), stored=[1, 2, 3]) == "Rejected"  # full
    assert judge(info(2), stored=[1, 2, 3]) == "Accepted"  # the same id replaces


def test_a_transaction_bound_message_beats_a_general_one_of_its_priority() -> None:
    general = dm.parse(info(1, "all", order=5))
    bound = dm.parse(info(2, "yours", transactionId="tx-1"), order=1)
    view = dm.EvseView("Charging", "tx-1")
    assert dm.in_force([general, bound], 1, view, NOW) == bound
    assert dm.in_force([general, bound], 1, dm.EvseView("Available"), NOW) == general


DWELL = 10.0
_normal = st.lists(
    st.builds(
        dm.Message,
        id=st.integers(0, 50),
        priority=st.just("NormalCycle"),
        content=st.text(min_size=1, max_size=3),
        transaction_id=st.one_of(st.none(), st.just("tx-1")),
        order=st.integers(0, 100),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda m: m.id,
)


@given(_normal, st.integers(1, 4))
def test_normal_cycle_messages_take_turns_each_for_the_dwell_time(
    messages: list[dm.Message], rounds: int
) -> None:
    view = dm.EvseView("Charging", "tx-1")
    now, rotation = NOW, None
    seen: list[int] = []
    for _ in range(rounds * len(messages)):
        shown = dm.shown(messages, 1, view, now, None, rotation, DWELL)
        assert shown.message is not None
        seen.append(shown.message.id)
        rotation = shown.rotation
        if len(messages) == 1:
            assert shown.next_turn is None
            now += timedelta(seconds=DWELL)
            continue
        assert shown.next_turn == now + timedelta(seconds=DWELL)
        # Until its turn is over the same message stays.
        later = dm.shown(
            messages, 1, view, now + timedelta(seconds=DWELL / 2), None, rotation, DWELL
        )
        assert later.message == shown.message and later.rotation == rotation
        now = shown.next_turn
    # Round and round in cycle order: every message once a round.
    order = [m.id for m in dm.cycle(messages)]
    assert seen == order * rounds


@given(st.lists(_messages, max_size=8), _views, st.integers(-60, 60), st.integers(0, 20))
def test_front_messages_win_over_the_rotation_and_pause_it(
    messages: list[dm.Message], view: dm.EvseView, ago: int, shown_id: int
) -> None:
    rotation = dm.Rotation(shown_id, NOW - timedelta(seconds=ago))
    shown = dm.shown(messages, 1, view, NOW, None, rotation, DWELL)
    applicable = [m for m in messages if dm.applies(m, 1, view, NOW)]
    fronts = [m for m in applicable if m.priority != "NormalCycle"]
    if fronts:
        assert shown.message == dm.in_force(messages, 1, view, NOW)
        assert shown.rotation == rotation and shown.next_turn is None
        if any(m.priority == "AlwaysFront" for m in applicable):
            assert shown.message is not None and shown.message.priority == "AlwaysFront"
    elif applicable:
        assert shown.message is not None and shown.message in applicable
        assert shown.rotation is not None and shown.rotation.id == shown.message.id
        assert shown.next_turn is None or shown.next_turn > NOW


@given(_normal, st.integers(0, 2))
def test_a_message_that_goes_hands_over_to_the_first_in_turn(
    messages: list[dm.Message], gone: int
) -> None:
    view = dm.EvseView("Charging", "tx-1")
    order = dm.cycle(messages)
    leaving = order[gone % len(order)]
    rotation = dm.Rotation(leaving.id, NOW)
    rest = [m for m in messages if m.id != leaving.id]
    shown = dm.shown(rest, 1, view, NOW, None, rotation, DWELL)
    if rest:
        assert shown.message == dm.cycle(rest)[0]
    else:
        assert shown.message is None and shown.text == ""


# -- end to end ------------------------------------------------------------------


def set_message(peer: Any, message: dict[str, Any]) -> str:
    return str(peer.call(CP, "SetDisplayMessage", {"message": message})["status"])


def test_o01_o04_o05_set_get_and_clear(any_csms201: Any, make_station: StationFactory) -> None:
    station = station201(any_csms201, make_station)
    assert set_message(any_csms201, info(1, "Welcome")) == "Accepted"
    wait_display(station, 1, "Welcome")
    wait_display(station, 2, "Welcome")
    assert station.status()["evses"][0]["display"] == {
        "text": "Welcome",
        "qr": None,
        "id": 1,
        "priority": "NormalCycle",
        "format": "UTF8",
        "language": None,
    }
    urgent = info(
        2, "Out of order soon", "AlwaysFront", display={"name": "Display", "evse": {"id": 2}}
    )
    assert set_message(any_csms201, urgent) == "Accepted"
    wait_display(station, 2, "Out of order soon")
    assert station.status()["evses"][0]["display"]["text"] == "Welcome"
    # The same id replaces.
    assert set_message(any_csms201, info(1, "Hello again")) == "Accepted"
    wait_display(station, 1, "Hello again")

    answer = any_csms201.call(CP, "GetDisplayMessages", {"requestId": 7, "priority": "AlwaysFront"})
    assert answer == {"status": "Accepted"}
    any_csms201.wait_for(lambda e: bool(any_csms201.calls("NotifyDisplayMessages")), timeout=5)
    [notify] = any_csms201.calls("NotifyDisplayMessages")
    assert notify.payload["requestId"] == 7
    assert notify.payload["tbc"] is False
    assert [m["id"] for m in notify.payload["messageInfo"]] == [2]
    assert notify.payload["messageInfo"][0]["message"]["content"] == "Out of order soon"
    nothing = {"requestId": 8, "id": [42]}
    assert any_csms201.call(CP, "GetDisplayMessages", nothing) == {"status": "Unknown"}

    assert any_csms201.call(CP, "ClearDisplayMessage", {"id": 2}) == {"status": "Accepted"}
    wait_display(station, 2, "Hello again")
    assert any_csms201.call(CP, "ClearDisplayMessage", {"id": 2}) == {"status": "Unknown"}
    assert set_message(any_csms201, info(3, "<b>x</b>", format="HTML")) == (
        "NotSupportedMessageFormat"
    )
    assert set_message(any_csms201, info(4, transactionId="nope")) == "UnknownTransaction"


def test_o02_a_transaction_message_shows_for_its_transaction_and_ends_with_it(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    assert set_message(csms201, info(1, "Idle here", state="Idle")) == "Accepted"
    wait_display(station, 1, "Idle here")
    tx_id = charging(station, csms201)
    bound = info(2, "Charging for you", "InFront", transactionId=tx_id)
    assert set_message(csms201, bound) == "Accepted"
    wait_display(station, 1, "Charging for you")
    assert station.status()["evses"][1]["display"]["text"] == "Idle here"
    # A restart of the block keeps it: its transaction still runs.
    station.crash(DISPLAY)
    log_of(station).wait_for(
        lambda e: isinstance(e, ChildRestarted) and e.path == DISPLAY, timeout=10
    )
    wait_display(station, 1, "Charging for you")
    station.unplug(1)
    wait_display(station, 1, "Idle here")
    answer = csms201.call(CP, "GetDisplayMessages", {"requestId": 1, "id": [2]})
    assert answer == {"status": "Unknown"}  # gone with its transaction


def test_o03_a_message_shows_within_its_window_on_the_stations_clock(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    now = clock.wall()
    window = info(
        1,
        "Maintenance tonight",
        "InFront",
        startDateTime=z(now + timedelta(minutes=10)),
        endDateTime=z(now + timedelta(minutes=30)),
    )
    assert set_message(csms201, window) == "Accepted"
    assert "display" not in station.status()["evses"][0]
    clock.advance(600)
    wait_display(station, 1, "Maintenance tonight")
    clock.advance(1200)
    wait_display(station, 1, "")
    # Expired: removed.
    answer = csms201.call(CP, "GetDisplayMessages", {"requestId": 1})
    assert answer == {"status": "Unknown"}


def test_o_messages_survive_a_restart_and_a_faulted_state_shows_its_own(
    csms201: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path)}
    station = station201(csms201, make_station, Internal=data)
    assert set_message(csms201, info(1, "Welcome")) == "Accepted"
    assert set_message(csms201, info(2, "Call 0800", "InFront", state="Faulted")) == "Accepted"
    wait_display(station, 1, "Welcome")
    station.stop()
    station = station201(csms201, make_station, Internal=data)
    wait_display(station, 1, "Welcome")
    station.fault(1, "GroundFailure")
    wait_status(station, 1, "Faulted")
    wait_display(station, 1, "Call 0800")
    answer = csms201.call(CP, "GetDisplayMessages", {"requestId": 3})
    assert answer == {"status": "Accepted"}
    csms201.wait_for(lambda e: bool(csms201.calls("NotifyDisplayMessages")), timeout=5)
    ids = [m["id"] for m in csms201.calls("NotifyDisplayMessages")[-1].payload["messageInfo"]]
    assert sorted(ids) == [1, 2]


def test_o02_a_message_of_a_transaction_a_restart_ended_is_gone(
    csms201: DevCsms, make_station: StationFactory, tmp_path: Path
) -> None:
    data = {"DataDir": str(tmp_path)}
    station = station201(csms201, make_station, Internal=data)
    assert set_message(csms201, info(1, "Welcome")) == "Accepted"
    tx_id = charging(station, csms201)
    assert set_message(csms201, info(2, "Yours", "InFront", transactionId=tx_id)) == "Accepted"
    wait_display(station, 1, "Yours")
    station.stop()
    # The next run ends the transaction (PowerLoss): its message goes with it.
    station = station201(csms201, make_station, Internal=data)
    wait_display(station, 1, "Welcome")
    answer = csms201.call(CP, "GetDisplayMessages", {"requestId": 1, "id": [2]})
    assert answer == {"status": "Unknown"}


def test_o_a_restarted_display_block_shows_what_is_in_force_again(
    csms201: DevCsms, make_station: StationFactory
) -> None:
    station = station201(csms201, make_station)
    assert set_message(csms201, info(1, "Welcome")) == "Accepted"
    wait_display(station, 2, "Welcome")
    station.crash(DISPLAY)
    log_of(station).wait_for(
        lambda e: isinstance(e, ChildRestarted) and e.path == DISPLAY, timeout=10
    )
    wait_display(station, 2, "Welcome")
    cleared = [e for e in log_of(station).all() if isinstance(e, DisplayChanged) and e.evse == 2]
    # Blank while it was down, then the message again.
    assert [e.text for e in cleared] == ["Welcome", "", "Welcome"]


def test_o_normal_cycle_messages_rotate_and_front_ones_win(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(csms201, make_station)
    dwell = float(station.config.value("Internal", "DisplayCycleSeconds"))
    for n, text in ((1, "Welcome"), (2, "Free parking"), (3, "Open 24/7")):
        assert set_message(csms201, info(n, text)) == "Accepted"
    wait_display(station, 1, "Welcome")  # the first set, and the others wait their turn
    for text in ("Free parking", "Open 24/7", "Welcome", "Free parking"):
        quiet(station)
        clock.advance(dwell)
        wait_display(station, 1, text)
    assert station.status()["evses"][0]["display"]["id"] == 2
    # InFront shows before the NormalCycle ones, and AlwaysFront before that.
    assert set_message(csms201, info(4, "Card reader down", "InFront")) == "Accepted"
    wait_display(station, 1, "Card reader down")
    assert set_message(csms201, info(5, "Closing now", "AlwaysFront")) == "Accepted"
    wait_display(station, 1, "Closing now")
    quiet(station)
    clock.advance(dwell * 3)  # no rotation behind a front message
    quiet(station)
    assert station.status()["evses"][0]["display"]["id"] == 5
    assert csms201.call(CP, "ClearDisplayMessage", {"id": 5}) == {"status": "Accepted"}
    wait_display(station, 1, "Card reader down")
    assert csms201.call(CP, "ClearDisplayMessage", {"id": 4}) == {"status": "Accepted"}
    # The rotation goes on after the message last shown.
    wait_display(station, 1, "Open 24/7")
    assert station.status()["evses"][0]["display"] == {
        "text": "Open 24/7",
        "qr": None,
        "id": 3,
        "priority": "NormalCycle",
        "format": "UTF8",
        "language": None,
    }
    quiet(station)
    clock.advance(dwell)
    wait_display(station, 1, "Welcome")
    shown = [
        e.message_id for e in log_of(station).all() if isinstance(e, DisplayChanged) and e.evse == 1
    ]
    assert shown == [1, 2, 3, 1, 2, 4, 5, 4, 3, 1]
