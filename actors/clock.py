"""Injectable time.

Everything time-based in the station (heartbeat, meter sampling, retries,
reconnect backoff) reads a Clock and waits through the Scheduler, so tests
swap in a FakeClock and move time by hand.

Two kinds of time, as in the OCPP world: ``monotonic()`` for durations and
timers (never jumps), ``wall()`` for timestamps in messages (UTC, may be set
by the CSMS or NTP and may jump).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        ...

    def wall(self) -> datetime:
        """The current time of day, timezone-aware, in UTC."""
        ...


@runtime_checkable
class ManualClock(Clock, Protocol):
    """A clock that only moves when told to, and says when it did.

    A Scheduler on such a clock has no waker thread: it subscribes, and the
    clock calls every listener (in the thread that moves the clock) after
    each move. A listener returns only once its timers due by then have been
    delivered, which is what makes ``advance()`` synchronous.
    """

    def subscribe(self, listener: Callable[[], None]) -> None: ...

    def unsubscribe(self, listener: Callable[[], None]) -> None: ...


class SystemClock:
    """The real clocks of the machine."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)


_DEFAULT_START_WALL = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """Virtual time for tests; shareable by several schedulers (stations).

    ``start_mono`` is not 0 so that code treating 0 as "never" is not fooled.
    """

    def __init__(
        self,
        start_wall: datetime = _DEFAULT_START_WALL,
        start_mono: float = 1000.0,
    ) -> None:
        self._lock = threading.Lock()
        # Separate from _lock: listeners run without _lock held (a scheduler
        # that is stopping must be able to unsubscribe meanwhile), yet two
        # advances must not interleave their deliveries.
        self._advance_lock = threading.Lock()
        self._mono = start_mono
        self._wall = _as_utc(start_wall)
        self._listeners: list[Callable[[], None]] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def wall(self) -> datetime:
        with self._lock:
            return self._wall

    def advance(self, seconds: float) -> None:
        """Move both clocks forward; return once every due timer was delivered.

        Delivered means told to its target (in the target's inbox), not yet
        handled: a test still waits for the effect it wants to see. Time jumps
        in one step, so a periodic timer that missed several periods fires once
        (coalesced); call advance() repeatedly to see every period. Do not call
        it from a Scheduler's own thread (it would wait for itself).
        """
        if seconds < 0:
            msg = f"time only moves forward; got {seconds}"
            raise ValueError(msg)
        with self._advance_lock:
            with self._lock:
                self._mono += seconds
                self._wall += timedelta(seconds=seconds)
                listeners = list(self._listeners)
            errors: list[Exception] = []
            for listener in listeners:
                try:
                    listener()
                except Exception as exc:
                    # Every scheduler gets its tick even if one is stuck.
                    errors.append(exc)
            if errors:
                raise errors[0]

    def set_wall(self, wall: datetime) -> None:
        """Jump the wall clock (as a CSMS time sync would); timers unaffected."""
        with self._lock:
            self._wall = _as_utc(wall)

    def subscribe(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def subscriber_count(self) -> int:
        """How many schedulers listen (a stopped one must have left)."""
        with self._lock:
            return len(self._listeners)


def _as_utc(wall: datetime) -> datetime:
    if wall.tzinfo is None:
        msg = f"wall time must be timezone-aware: {wall!r}"
        raise ValueError(msg)
    return wall.astimezone(UTC)
