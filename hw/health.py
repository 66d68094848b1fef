"""When a failing driver becomes a connector fault, and when it stops being one. Pure.

A serial device that drops out for a second (a USB hub resetting, one CRC
error, the driver restarting) must not end a charging session; one that
stays away must be reported. So a driver's failures are debounced, for each
source (meter, board link, reader) on its own:

- a spell of trouble starts with the first failure;
- it is *reported* (the connector goes Faulted) once it has lasted `delay`
  seconds without the driver having been healthy for `delay` seconds in a
  row since: a device that flaps (fails, comes back, fails) is reported too;
- a reported spell is *cleared* once the driver has been healthy for `delay`
  seconds in a row;
- a spell that ends before it was reported only shows in the log.

`delay` 0 reports and clears at once. Times are monotonic seconds; the
actor calls `check` at `next_check()` (a timer) and after every change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Health:
    code: str = ""  # the OCPP error code to report for this source
    detail: str = ""
    failing: bool = False  # failed and not healthy again yet
    since: float | None = None  # start of the current spell of trouble
    healthy_at: float | None = None  # when it last became healthy within the spell
    reported: bool = False

    @property
    def in_spell(self) -> bool:
        return self.since is not None


def fail(health: Health, code: str, detail: str, now: float) -> Health:
    since = health.since if health.since is not None else now
    return replace(health, code=code, detail=detail, failing=True, since=since, healthy_at=None)


def recover(health: Health, now: float) -> Health:
    if not health.failing:
        return health
    return replace(health, failing=False, healthy_at=now)


def check(health: Health, now: float, delay: float) -> Health:
    """Report or clear what is due at `now`."""
    if health.since is None:
        return health
    if health.failing:
        if not health.reported and now - health.since >= delay:
            return replace(health, reported=True)
        return health
    assert health.healthy_at is not None
    if now - health.healthy_at >= delay:
        return Health(code=health.code)  # the spell is over
    return health


def next_check(health: Health, delay: float) -> float | None:
    """When `check` may change something next; None if nothing is pending."""
    if health.since is None:
        return None
    if health.failing:
        return None if health.reported else health.since + delay
    assert health.healthy_at is not None
    return health.healthy_at + delay
