"""Reconnect delays, after libocpp's RetryBackOff* settings.

The wait doubles from RetryBackOffWaitMinimum for RetryBackOffRepeatTimes
attempts and then stays there, plus a random part of up to
RetryBackOffRandomRange seconds so that a fleet of stations that lost the
same CSMS does not come back in lockstep.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    wait_minimum: float
    random_range: float
    repeat_times: int

    def delay(self, attempt: int, rnd: float) -> float:
        """Seconds to wait before reconnect attempt `attempt` (0-based).

        `rnd` in [0, 1) comes from the caller so that this stays pure.
        """
        doublings = min(max(attempt, 0), self.repeat_times)
        return self.wait_minimum * (2**doublings) + self.random_range * rnd

    def longest(self) -> float:
        return self.wait_minimum * (2**self.repeat_times) + self.random_range
