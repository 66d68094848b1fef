"""The local authorization rules, by property and by the spec's examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol.v16.authorization import (
    Policy,
    Verdict,
    decide,
    effective_status,
    may_stop,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
Entry = dict[str, Any] | None
STATUSES = ["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"]


def info(status: str, expires_in: float | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": status}
    if expires_in is not None:
        entry["expiryDate"] = (
            (NOW + timedelta(seconds=expires_in)).isoformat().replace("+00:00", "Z")
        )
    return entry


entries = st.one_of(
    st.none(),
    st.builds(
        info,
        st.sampled_from(STATUSES),
        st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
    ),
)
policies = st.builds(
    Policy, st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans()
)


@given(entries, entries, policies)
def test_offline_never_asks_and_online_never_refuses(
    listed: Entry, cached: Entry, policy: Policy
) -> None:
    offline = decide(online=False, listed=listed, cached=cached, policy=policy, now=NOW)
    online = decide(online=True, listed=listed, cached=cached, policy=policy, now=NOW)
    assert offline.verdict is not Verdict.ASK
    assert online.verdict is not Verdict.REJECT


@given(entries, entries, policies, st.booleans())
def test_accepting_a_known_tag_needs_it_valid_and_accepted(
    listed: Entry, cached: Entry, policy: Policy, online: bool
) -> None:
    decision = decide(online=online, listed=listed, cached=cached, policy=policy, now=NOW)
    if decision.verdict is Verdict.ACCEPT and decision.source in ("list", "cache"):
        entry = listed if decision.source == "list" else cached
        assert entry is not None
        assert effective_status(entry, NOW) == "Accepted"


@given(entries, policies)
def test_online_without_pre_authorize_always_asks(cached: Entry, policy: Policy) -> None:
    policy = Policy(False, policy.local_authorize_offline, policy.allow_offline_tx_for_unknown_id)
    decision = decide(online=True, listed=None, cached=cached, policy=policy, now=NOW)
    assert decision.verdict is Verdict.ASK


def test_the_list_wins_over_the_cache() -> None:
    decision = decide(
        online=False,
        listed=info("Blocked"),
        cached=info("Accepted"),
        policy=Policy(),
        now=NOW,
    )
    assert (decision.verdict, decision.source) == (Verdict.REJECT, "list")


def test_an_expired_cache_entry_is_refused_offline() -> None:
    decision = decide(
        online=False, listed=None, cached=info("Accepted", -1), policy=Policy(), now=NOW
    )
    assert (decision.verdict, decision.status) == (Verdict.REJECT, "Expired")


def test_unknown_offline_follows_allow_offline_tx_for_unknown_id() -> None:
    strict = decide(online=False, listed=None, cached=None, policy=Policy(), now=NOW)
    lenient = decide(
        online=False,
        listed=None,
        cached=None,
        policy=Policy(allow_offline_tx_for_unknown_id=True),
        now=NOW,
    )
    assert strict.verdict is Verdict.REJECT
    assert lenient.verdict is Verdict.ACCEPT


def test_pre_authorize_starts_a_cached_tag_at_once() -> None:
    decision = decide(
        online=True,
        listed=None,
        cached=info("Accepted", 3600),
        policy=Policy(local_pre_authorize=True),
        now=NOW,
    )
    assert (decision.verdict, decision.source) == (Verdict.ACCEPT, "cache")


def test_a_disabled_cache_is_not_consulted() -> None:
    decision = decide(
        online=False,
        listed=None,
        cached=info("Accepted"),
        policy=Policy(cache_enabled=False),
        now=NOW,
    )
    assert decision.verdict is Verdict.REJECT


def test_stopping_by_the_same_tag_or_the_same_group() -> None:
    assert may_stop("A", None, "A", None)
    assert may_stop("B", "GROUP", "A", "GROUP")
    assert not may_stop("B", "OTHER", "A", "GROUP")
    assert not may_stop("B", None, "A", None)
    assert not may_stop("B", None, "A", "GROUP")
