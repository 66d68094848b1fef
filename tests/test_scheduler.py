"""Scheduler and clocks, in virtual time (plus one short real-time check)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pykka import ActorDeadError, ActorRef

from ocppstation.actors.clock import FakeClock, ManualClock, SystemClock
from ocppstation.actors.runtime.base import Crash, Place, Supervised
from ocppstation.actors.runtime.registry import Registry
from ocppstation.actors.runtime.scheduler import Scheduler
from ocppstation.actors.runtime.supervisor import ChildSpec, Supervisor

WAIT = 5.0


class SyncTarget:
    """Stands in for an ActorRef and records tells in the scheduler's thread.

    With it a test sees exactly what was delivered by the time advance()
    returned, and in which order, without a second thread in between.
    """

    def __init__(self, name: str = "t", dead: bool = False) -> None:
        self.actor_urn = f"urn:test:{name}"
        self.dead = dead
        self._lock = threading.Lock()
        self._told: list[object] = []

    def tell(self, message: object) -> None:
        if self.dead:
            raise ActorDeadError(self.actor_urn)
        with self._lock:
            self._told.append(message)

    @property
    def told(self) -> list[object]:
        with self._lock:
            return list(self._told)

    @property
    def ref(self) -> ActorRef[Any]:
        return cast("ActorRef[Any]", self)


class Recorder(Supervised):
    """A real target actor; sets an event per message received."""

    def __init__(self, place: Place, want: int = 1) -> None:
        super().__init__(place)
        self.got: list[object] = []
        self.want = want
        self.done = threading.Event()

    def receive(self, message: Any) -> Any:
        self.got.append(message)
        if len(self.got) >= self.want:
            self.done.set()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def scheduler(clock: FakeClock) -> Iterator[Any]:
    ref = Scheduler.start(Place("scheduler", None, Registry()), clock)
    yield ref.proxy()
    ref.stop(timeout=WAIT)


def later(s: Any, delay: float, target: SyncTarget, message: object) -> int:
    return cast("int", s.call_later(delay, target.ref, message).get(timeout=WAIT))


def every(s: Any, interval: float, target: SyncTarget, message: object, **kw: Any) -> int:
    return cast("int", s.call_every(interval, target.ref, message, **kw).get(timeout=WAIT))


# -- clocks --


def test_fake_clock_moves_both_clocks_and_wall_can_jump(clock: FakeClock) -> None:
    assert clock.monotonic() == 1000.0
    assert clock.wall() == datetime(2026, 1, 1, tzinfo=UTC)
    clock.advance(90.5)
    assert clock.monotonic() == 1090.5
    assert clock.wall() == datetime(2026, 1, 1, 0, 1, 30, 500000, tzinfo=UTC)
    clock.set_wall(datetime(2030, 6, 1, 4, 0, tzinfo=timezone(timedelta(hours=2))))
    assert clock.wall() == datetime(2030, 6, 1, 2, 0, tzinfo=UTC)
    assert clock.wall().tzinfo is UTC
    assert clock.monotonic() == 1090.5
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set_wall(datetime(2030, 1, 1))  # naive


def test_system_clock_is_utc_and_not_manual() -> None:
    assert SystemClock().wall().tzinfo is UTC
    assert not isinstance(SystemClock(), ManualClock)
    assert isinstance(FakeClock(), ManualClock)


# -- virtual time --


def test_one_shot_fires_once_when_due(clock: FakeClock, scheduler: Any) -> None:
    t = SyncTarget()
    assert later(scheduler, 10, t, "once") != later(scheduler, 10, t, "other")
    scheduler.cancel_all(t.ref).get(timeout=WAIT)
    later(scheduler, 10, t, "once")
    clock.advance(9.99)
    assert t.told == []
    clock.advance(0.01)
    # No waiting: advance() returns only after delivery.
    assert t.told == ["once"]
    clock.advance(100)
    assert t.told == ["once"]
    assert scheduler.pending().get(timeout=WAIT) == 0


def test_zero_delay_fires_without_advancing(clock: FakeClock, scheduler: Any) -> None:
    t = SyncTarget()
    later(scheduler, 0, t, "now")
    every(scheduler, 5, t, "tick", first=0)
    assert t.told == ["now", "tick"]


def test_periodic_fires_every_interval(clock: FakeClock, scheduler: Any) -> None:
    t = SyncTarget()
    every(scheduler, 10, t, "tick")
    for n in range(1, 4):
        clock.advance(10)
        assert t.told == ["tick"] * n
    every(scheduler, 10, t, "tock", first=2)
    clock.advance(2)
    assert t.told[-1] == "tock"


def test_missed_periods_coalesce_and_stay_on_the_grid(clock: FakeClock, scheduler: Any) -> None:
    t = SyncTarget()
    every(scheduler, 10, t, "tick")
    clock.advance(35)  # deadlines 10, 20, 30 passed
    assert t.told == ["tick"]
    clock.advance(4.9)  # next is at 40 on the grid, not at 35 + 10
    assert t.told == ["tick"]
    clock.advance(0.1)
    assert t.told == ["tick", "tick"]


def test_cancel_and_cancel_all(clock: FakeClock, scheduler: Any) -> None:
    a, b = SyncTarget("a"), SyncTarget("b")
    one = later(scheduler, 1, a, "a1")
    later(scheduler, 2, a, "a2")
    every(scheduler, 1, a, "a-tick")
    later(scheduler, 3, b, "b1")
    scheduler.cancel(one).get(timeout=WAIT)
    scheduler.cancel(one).get(timeout=WAIT)  # twice, or unknown: ignored
    scheduler.cancel(12345).get(timeout=WAIT)
    scheduler.cancel_all(a.ref).get(timeout=WAIT)
    clock.advance(10)
    assert a.told == []
    assert b.told == ["b1"]


def test_a_dead_target_drops_its_timers_silently(clock: FakeClock, scheduler: Any) -> None:
    dead, alive = SyncTarget("dead", dead=True), SyncTarget("alive")
    every(scheduler, 1, dead, "x")
    later(scheduler, 5, dead, "y")
    every(scheduler, 1, alive, "z")
    clock.advance(1)
    assert scheduler.pending().get(timeout=WAIT) == 1
    clock.advance(1)
    assert alive.told == ["z", "z"]


def test_a_stopped_actor_as_target(clock: FakeClock, scheduler: Any) -> None:
    target = Recorder.start(Place("r", None, Registry()))
    scheduler.call_every(1, target, "tick").get(timeout=WAIT)
    target.stop(timeout=WAIT)
    clock.advance(1)
    assert scheduler.pending().get(timeout=WAIT) == 0


def test_advance_delivers_in_deadline_order_ties_in_creation_order(
    clock: FakeClock, scheduler: Any
) -> None:
    t = SyncTarget()
    later(scheduler, 7, t, "7")
    every(scheduler, 4, t, "every-4")  # due at 4, then 8 (coalesced to once)
    later(scheduler, 3, t, "3a")
    later(scheduler, 3, t, "3b")
    later(scheduler, 12, t, "12")
    clock.advance(10)
    assert t.told == ["3a", "3b", "every-4", "7"]
    clock.advance(2)
    assert t.told[4:] == ["every-4", "12"]


def test_a_real_actor_sees_the_message_after_advance(clock: FakeClock, scheduler: Any) -> None:
    target = Recorder.start(Place("r", None, Registry()), 2)
    try:
        scheduler.call_every(60, target, "heartbeat").get(timeout=WAIT)
        clock.advance(60)
        clock.advance(60)
        assert target.proxy().done.get(timeout=WAIT).wait(WAIT)
        assert target.proxy().got.get(timeout=WAIT) == ["heartbeat", "heartbeat"]
    finally:
        target.stop()


def test_bad_arguments_are_refused_to_the_caller(scheduler: Any) -> None:
    t = SyncTarget()
    for call in (
        lambda: scheduler.call_every(0, t.ref, "x"),
        lambda: scheduler.call_every(-1, t.ref, "x"),
        lambda: scheduler.call_every(1, t.ref, "x", first=-1),
        lambda: scheduler.call_later(-0.5, t.ref, "x"),
    ):
        with pytest.raises(ValueError):
            call().get(timeout=WAIT)
    assert scheduler.pending().get(timeout=WAIT) == 0


def test_several_schedulers_share_one_clock(clock: FakeClock, scheduler: Any) -> None:
    other = Scheduler.start(Place("scheduler", None, Registry()), clock)
    try:
        a, b = SyncTarget("a"), SyncTarget("b")
        later(scheduler, 5, a, "a")
        later(other.proxy(), 5, b, "b")
        clock.advance(5)
        assert (a.told, b.told) == (["a"], ["b"])
    finally:
        other.stop()
    assert clock.subscriber_count == 1


def test_a_restarted_scheduler_works_with_the_same_clock(clock: FakeClock) -> None:
    registry = Registry()
    root = Supervisor.start(
        Place("", None, registry),
        [ChildSpec("scheduler", lambda place: Scheduler.start(place, clock))],
    )
    try:
        t = SyncTarget()
        old = registry.require("scheduler")
        later(old.proxy(), 5, t, "lost with the crash")
        old.tell(Crash())
        new = registry.wait_for("scheduler", WAIT, not_ref=old)
        later(new.proxy(), 5, t, "after restart")
        clock.advance(5)
        assert t.told == ["after restart"]
        # The crashed one left the clock in its teardown.
        assert clock.subscriber_count == 1
    finally:
        root.stop(timeout=WAIT)
    assert clock.subscriber_count == 0
    clock.advance(1)  # nobody listening: fine


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=15),
    st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=10),
)
def test_each_one_shot_fires_once_in_the_advance_that_reaches_it(
    delays: list[int], steps: list[int]
) -> None:
    clock = FakeClock()
    ref = Scheduler.start(Place("scheduler", None, Registry()), clock)
    try:
        t = SyncTarget()
        for n, delay in enumerate(delays):
            # Integer delays keep the expected arithmetic exact.
            ref.proxy().call_later(delay, t.ref, (delay, n)).get(timeout=WAIT)
        told = t.told  # delay 0 fired at once
        assert told == [(0, n) for n, d in enumerate(delays) if d == 0]
        elapsed = 0
        for step in steps:
            clock.advance(step)
            elapsed += step
            expected = sorted((d, n) for n, d in enumerate(delays) if elapsed - step < d <= elapsed)
            assert t.told[len(told) :] == expected
            told = t.told
        assert len(told) == sum(1 for d in delays if d <= elapsed)
    finally:
        ref.stop(timeout=WAIT)


# -- real time --


def test_real_time_timers_fire_without_anyone_advancing() -> None:
    registry = Registry()
    scheduler = Scheduler.start(Place("scheduler", None, registry), SystemClock())
    once = Recorder.start(Place("once", None, registry))
    ticks = Recorder.start(Place("ticks", None, registry), 3)
    try:
        s = scheduler.proxy()
        s.call_later(0.05, once, "hello").get(timeout=WAIT)
        timer = s.call_every(0.02, ticks, "tick").get(timeout=WAIT)
        assert once.proxy().done.get(timeout=WAIT).wait(WAIT)
        assert ticks.proxy().done.get(timeout=WAIT).wait(WAIT)
        s.cancel(timer).get(timeout=WAIT)
        assert s.pending().get(timeout=WAIT) == 0
        assert once.proxy().got.get(timeout=WAIT) == ["hello"]
    finally:
        for ref in (ticks, once, scheduler):
            ref.stop(timeout=WAIT)


def test_scheduler_stop_ends_the_waker_thread() -> None:
    before = {t.name for t in threading.enumerate()}
    ref = Scheduler.start(Place("solo-waker-test", None, Registry()), SystemClock())
    ref.proxy().pending().get(timeout=WAIT)  # setup has run
    assert "waker-solo-waker-test" in {t.name for t in threading.enumerate()} - before
    ref.stop(timeout=WAIT)
    assert "waker-solo-waker-test" not in {t.name for t in threading.enumerate()}
