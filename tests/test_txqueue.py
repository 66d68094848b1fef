"""The transaction-message queue rules, by property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol.txqueue import Failure, Unresolvable, after_failure
from ocppstation.protocol.v16.txqueue import resolve


@given(st.integers(0, 20), st.integers(0, 20), st.floats(0, 1000))
def test_offline_never_counts_nor_drops(attempts: int, max_attempts: int, interval: float) -> None:
    retry = after_failure(Failure.OFFLINE, attempts, max_attempts, interval)
    assert (retry.drop, retry.attempts, retry.wait) == (False, attempts, None)


@given(
    st.sampled_from([Failure.TIMEOUT, Failure.ERROR]),
    st.integers(1, 10),
    st.floats(0.5, 100),
)
def test_a_message_is_tried_exactly_max_attempts_times(
    failure: Failure, max_attempts: int, interval: float
) -> None:
    attempts, tries, waits = 0, 0, []
    while True:
        tries += 1  # a send
        retry = after_failure(failure, attempts, max_attempts, interval)
        attempts = retry.attempts
        if retry.drop:
            break
        assert retry.wait is not None
        waits.append(retry.wait)
    assert tries == max_attempts
    assert waits == sorted(waits)  # the waits only grow
    assert waits == [interval * n for n in range(1, max_attempts)]


def test_resolve_fills_the_csms_id_and_leaves_starts_alone() -> None:
    ids = {7: 1234}
    assert resolve("StopTransaction", {"meterStop": 5}, 7, ids) == {
        "meterStop": 5,
        "transactionId": 1234,
    }
    start = {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "t"}
    assert resolve("StartTransaction", start, 7, {}) == start
    with pytest.raises(Unresolvable):
        resolve("MeterValues", {"connectorId": 1, "meterValue": []}, 8, ids)
