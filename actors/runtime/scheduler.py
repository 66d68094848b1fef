"""Timers for every actor of a station, on an injectable clock.

No actor sleeps: it asks the Scheduler to tell it a message later, once or
periodically. The station's actors arm timers with a told `Arm` (through
StationContext.call_later): the id and the deadline are the caller's, so
arming costs no round trip, and the timer is armed before any clock advance
told after it (one inbox, in order). The methods, through ``ref.proxy()``,
do the same and answer the id.

On a real clock a small waker thread waits (on a Condition, with a timeout)
until the next deadline and pokes the actor. On a ManualClock (FakeClock) there
is no thread: the clock calls the scheduler on every advance and waits until
the due timers are delivered, so tests run in virtual time.

Timers live in the actor's memory only: after a restart of the Scheduler they
are gone. That is why the scheduler comes first in a rest_for_one station:
its restart restarts the actors that armed the timers, and they arm them anew.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from dataclasses import dataclass
from typing import Any

import pykka
from pykka import ActorDeadError, ActorRef

from ocppstation.actors.clock import Clock, ManualClock
from ocppstation.actors.runtime.base import Place, Supervised

__all__ = ["Arm", "Scheduler", "new_timer_id"]

ADVANCE_TIMEOUT = 10.0
"""Seconds a FakeClock.advance() waits for one scheduler to deliver."""


@dataclass(frozen=True)
class _Due:
    """Fire whatever is due now (from the waker or a clock advance)."""


# Ids are unique in the process, so a caller can name its timer before the
# scheduler has it (a cancel told after the Arm finds it, in inbox order).
_timer_ids = itertools.count(1)
_timer_ids_lock = threading.Lock()


def new_timer_id() -> int:
    with _timer_ids_lock:
        return next(_timer_ids)


@dataclass(frozen=True)
class Arm:
    """Tell `message` to `target` at `origin` on the clock, then every `interval` s."""

    timer_id: int
    target: ActorRef[Any]
    message: object
    origin: float
    interval: float | None = None


def check_delay(delay: float) -> None:
    if delay < 0 or math.isnan(delay):
        msg = f"delay must be >= 0, got {delay}"
        raise ValueError(msg)


def check_interval(interval: float) -> None:
    if not interval > 0 or math.isinf(interval):
        msg = f"interval must be > 0 and finite, got {interval}"
        raise ValueError(msg)


@dataclass(slots=True)
class _Timer:
    target: ActorRef[Any]
    message: object
    # Periodic deadlines are origin + n * interval, computed afresh each time
    # rather than accumulated, so a long-running timer does not drift.
    origin: float
    interval: float | None
    n: int = 0

    @property
    def deadline(self) -> float:
        if self.interval is None:
            return self.origin
        return self.origin + self.n * self.interval


class Scheduler(Supervised):
    """Delivers ``target.tell(message)`` at deadlines on ``clock``."""

    def __init__(self, place: Place, clock: Clock) -> None:
        super().__init__(place)
        self._clock = clock
        self._timers: dict[int, _Timer] = {}
        # (deadline, id): ties fire in creation order. Cancelled or moved
        # timers leave stale entries, skipped when popped.
        self._heap: list[tuple[float, int]] = []
        self._waker: _Waker | None = None

    # -- lifecycle --

    def setup(self) -> None:
        if isinstance(self._clock, ManualClock):
            self._clock.subscribe(self._on_clock_advanced)
        else:
            self._waker = _Waker(self._clock, self.actor_ref, f"waker-{self.path}")

    def teardown(self) -> None:
        if isinstance(self._clock, ManualClock):
            self._clock.unsubscribe(self._on_clock_advanced)
        if self._waker is not None:
            self._waker.close()

    def receive(self, message: Any) -> Any:
        if isinstance(message, _Due):
            self._fire_due()
            return None
        if isinstance(message, Arm):
            timer = _Timer(message.target, message.message, message.origin, message.interval)
            self._add(timer, message.timer_id)
            return None
        return super().receive(message)

    # -- API (through proxy or ask) --

    def call_later(self, delay: float, target: ActorRef[Any], message: object) -> int:
        """Tell ``message`` to ``target`` once, ``delay`` seconds from now."""
        check_delay(delay)
        deadline = self._clock.monotonic() + delay
        return self._add(_Timer(target, message, deadline, None), new_timer_id())

    def call_every(
        self,
        interval: float,
        target: ActorRef[Any],
        message: object,
        *,
        first: float | None = None,
    ) -> int:
        """Tell ``message`` every ``interval`` s, first after ``first`` (default interval).

        If deliveries fall behind (a long clock jump), the missed periods
        fire once and the timer stays on its grid.
        """
        check_interval(interval)
        if first is not None and (first < 0 or math.isnan(first)):
            msg = f"first must be >= 0, got {first}"
            raise ValueError(msg)
        origin = self._clock.monotonic() + (interval if first is None else first)
        return self._add(_Timer(target, message, origin, interval), new_timer_id())

    def cancel(self, timer_id: int) -> None:
        """Forget a timer; unknown or already fired ids are ignored."""
        if self._timers.pop(timer_id, None) is not None:
            self._after_change()

    def cancel_all(self, target: ActorRef[Any]) -> None:
        """Forget every timer aimed at ``target``."""
        self._drop_target(target.actor_urn)
        self._after_change()

    def pending(self) -> int:
        """How many timers are armed (for tests and diagnostics)."""
        return len(self._timers)

    # -- internals --

    def _on_clock_advanced(self) -> None:
        # Runs in the thread that advanced the clock: touch no state, ask.
        try:
            self.actor_ref.ask(_Due(), timeout=ADVANCE_TIMEOUT)
        except ActorDeadError:
            pass  # stopping or crashed; it has no timers left to deliver
        except pykka.Timeout as exc:
            msg = f"scheduler {self.path!r} did not deliver within {ADVANCE_TIMEOUT} s"
            raise TimeoutError(msg) from exc

    def _add(self, timer: _Timer, timer_id: int) -> int:
        self._timers[timer_id] = timer
        heapq.heappush(self._heap, (timer.deadline, timer_id))
        # A timer due already (delay 0) fires now, on either kind of clock.
        self._fire_due()
        return timer_id

    def _fire_due(self) -> None:
        now = self._clock.monotonic()
        while self._heap and self._heap[0][0] <= now:
            deadline, timer_id = heapq.heappop(self._heap)
            timer = self._timers.get(timer_id)
            if timer is None or timer.deadline != deadline:
                continue
            if timer.interval is None:
                del self._timers[timer_id]
            else:
                # Next grid point strictly after now: missed periods coalesce.
                timer.n = max(timer.n + 1, math.floor((now - timer.origin) / timer.interval) + 1)
                while timer.deadline <= now:
                    timer.n += 1
                heapq.heappush(self._heap, (timer.deadline, timer_id))
            try:
                timer.target.tell(timer.message)
            except ActorDeadError:
                self.log.debug("target %s is dead; dropping its timers", timer.target)
                self._drop_target(timer.target.actor_urn)
        self._after_change()

    def _drop_target(self, urn: str) -> None:
        for timer_id in [i for i, t in self._timers.items() if t.target.actor_urn == urn]:
            del self._timers[timer_id]

    def _after_change(self) -> None:
        while self._heap and self._is_stale(self._heap[0]):
            heapq.heappop(self._heap)
        # Many cancellations leave the heap mostly stale; rebuild it.
        if len(self._heap) > 2 * len(self._timers) + 64:
            self._heap = [(t.deadline, i) for i, t in self._timers.items()]
            heapq.heapify(self._heap)
        if self._waker is not None:
            self._waker.set_deadline(self._heap[0][0] if self._heap else None)

    def _is_stale(self, entry: tuple[float, int]) -> bool:
        timer = self._timers.get(entry[1])
        return timer is None or timer.deadline != entry[0]


class _Waker:
    """Pokes the scheduler when the next deadline passes on a real clock.

    The only thread in the station that waits on time; it never touches the
    scheduler's state, it only tells it _Due.
    """

    def __init__(self, clock: Clock, ref: ActorRef[Any], name: str) -> None:
        self._clock = clock
        self._ref = ref
        self._cond = threading.Condition()
        self._deadline: float | None = None
        # Bumped on every set_deadline(); the waker pokes at most once per
        # generation, so it does not spin while the actor catches up.
        self._generation = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def set_deadline(self, deadline: float | None) -> None:
        with self._cond:
            self._deadline = deadline
            self._generation += 1
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        poked = -1
        with self._cond:
            while not self._closed:
                if self._deadline is None or self._generation == poked:
                    self._cond.wait()
                    continue
                remaining = self._deadline - self._clock.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                poked = self._generation
                try:
                    self._ref.tell(_Due())
                except ActorDeadError:
                    return
