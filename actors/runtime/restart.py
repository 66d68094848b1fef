"""What a supervisor does when a child exits: pure decisions, no actors.

The rules are Erlang/OTP's (supervisor behaviour, design principles):

- permanent children are always restarted, even after a normal exit;
- transient children only after an abnormal exit;
- temporary children never, not even when a one_for_all or rest_for_one
  restart stops them as collateral: they are stopped and forgotten;
- if the exited child is not restarted, no sibling is touched;
- more than ``max_restarts`` restarts within ``period`` seconds and the
  supervisor gives up (stops its children, then fails itself).

Deliberate differences from OTP, kept small:

- a transient child that exits normally is forgotten rather than kept as a
  stopped spec (so a later one_for_all restart does not revive it);
- a sibling that is not running (terminated on request, or whose start is
  pending a retry) is left alone by a restart instead of being started;
- a child may carry a `RestartBackoff`: after it crashes, its restart waits
  a delay that grows with each crash in a row, and such restarts do not
  count against the intensity. That is for drivers of devices that may be
  away for minutes (a pulled USB cable): the delay already bounds how often
  they restart, and the intensity is left to catch real crash loops.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Intensity",
    "Plan",
    "Restart",
    "RestartBackoff",
    "Strategy",
    "plan",
    "should_restart",
]


class Strategy(StrEnum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class Restart(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


@dataclass(frozen=True)
class Plan:
    """Steps to carry out, in this order: stop, forget, start."""

    stop: tuple[str, ...] = ()
    """Running siblings to stop, in reverse start order."""
    start: tuple[str, ...] = ()
    """Children to start, in start order."""
    forget: tuple[str, ...] = ()
    """Children whose spec the supervisor drops."""


def should_restart(restart: Restart, abnormal: bool) -> bool:
    """Whether a child of this restart type is restarted after an exit."""
    if restart == Restart.PERMANENT:
        return True
    if restart == Restart.TRANSIENT:
        return abnormal
    return False


def plan(
    strategy: Strategy,
    order: Sequence[str],
    restart_types: Mapping[str, Restart],
    exited: str,
    abnormal: bool,
    running: Collection[str] | None = None,
) -> Plan:
    """Decide what follows the exit of child ``exited``.

    ``order`` is the supervisor's children in start order, ``exited``
    included. ``running`` says which siblings are running now; None means all
    of them. Raises ValueError if ``exited`` is not in ``order``.
    """
    if exited not in order:
        msg = f"{exited!r} is not a child"
        raise ValueError(msg)
    if not should_restart(restart_types[exited], abnormal):
        return Plan(forget=(exited,))

    position = order.index(exited)
    if strategy == Strategy.ONE_FOR_ONE:
        affected: Sequence[str] = ()
    elif strategy == Strategy.ONE_FOR_ALL:
        affected = [c for c in order if c != exited]
    else:
        affected = order[position + 1 :]
    if running is not None:
        affected = [c for c in affected if c in running]

    collateral_temporary = {c for c in affected if restart_types[c] == Restart.TEMPORARY}
    restarted = {exited, *affected} - collateral_temporary
    return Plan(
        stop=tuple(reversed(affected)),
        start=tuple(c for c in order if c in restarted),
        forget=tuple(c for c in order if c in collateral_temporary),
    )


@dataclass(frozen=True)
class Intensity:
    """A restart budget: at most ``max_restarts`` within ``period`` seconds."""

    max_restarts: int
    period: float

    def __post_init__(self) -> None:
        if self.max_restarts < 0:
            msg = f"max_restarts must be >= 0, got {self.max_restarts}"
            raise ValueError(msg)
        if self.period <= 0:
            msg = f"period must be > 0, got {self.period}"
            raise ValueError(msg)

    def record(self, history: tuple[float, ...], now: float) -> tuple[bool, tuple[float, ...]]:
        """Count a restart at ``now``; return (allowed, new history).

        ``history`` holds the times of earlier restarts, oldest first. As in
        OTP, a restart ``period`` seconds old still counts (closed window), and
        the refused attempt is recorded too.
        """
        recent = (*(t for t in history if now - t <= self.period), now)
        return len(recent) <= self.max_restarts, recent


@dataclass(frozen=True)
class RestartBackoff:
    """How long a crashed child waits before it is started again.

    The n-th crash in a row waits ``initial * factor ** (n - 1)``, at most
    ``maximum``. A child that ran ``reset_after`` seconds before crashing
    starts again from ``initial``: it had recovered.
    """

    initial: float = 1.0
    maximum: float = 30.0
    factor: float = 2.0
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.initial <= self.maximum:
            msg = f"need 0 <= initial <= maximum, got {self.initial}, {self.maximum}"
            raise ValueError(msg)
        if self.factor < 1:
            msg = f"factor must be >= 1, got {self.factor}"
            raise ValueError(msg)
        if self.reset_after < 0:
            msg = f"reset_after must be >= 0, got {self.reset_after}"
            raise ValueError(msg)

    def next(self, failures: int, ran_for: float) -> tuple[float, int]:
        """(delay before the restart, crashes in a row including this one).

        ``failures`` is the count of crashes in a row before this one and
        ``ran_for`` how long the child ran this time.
        """
        if ran_for >= self.reset_after:
            failures = 0
        # Capped exponent: a child failing for days must not overflow a float.
        delay = self.initial * self.factor ** min(failures, 64)
        return float(min(delay, self.maximum)), failures + 1
