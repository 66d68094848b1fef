"""The pure restart decisions: OTP rules as examples and as invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.runtime.restart import (
    Intensity,
    Plan,
    Restart,
    RestartBackoff,
    Strategy,
    plan,
)

P, TR, TE = Restart.PERMANENT, Restart.TRANSIENT, Restart.TEMPORARY
ORDER = ("a", "b", "c", "d")


def types(**kinds: Restart) -> dict[str, Restart]:
    return {c: kinds.get(c, P) for c in ORDER}


# -- examples --


def test_one_for_one_restarts_only_the_exited_child() -> None:
    assert plan(Strategy.ONE_FOR_ONE, ORDER, types(), "b", True) == Plan(start=("b",))


def test_one_for_all_stops_the_others_in_reverse_and_starts_all_in_order() -> None:
    assert plan(Strategy.ONE_FOR_ALL, ORDER, types(), "b", True) == Plan(
        stop=("d", "c", "a"), start=("a", "b", "c", "d")
    )


def test_rest_for_one_touches_only_later_siblings() -> None:
    assert plan(Strategy.REST_FOR_ONE, ORDER, types(), "b", True) == Plan(
        stop=("d", "c"), start=("b", "c", "d")
    )


def test_permanent_is_restarted_even_after_a_normal_exit() -> None:
    assert plan(Strategy.ONE_FOR_ONE, ORDER, types(), "a", False).start == ("a",)


def test_transient_restarted_only_after_an_abnormal_exit() -> None:
    kinds = types(b=TR)
    assert plan(Strategy.ONE_FOR_ALL, ORDER, kinds, "b", True).start == ORDER
    assert plan(Strategy.ONE_FOR_ALL, ORDER, kinds, "b", False) == Plan(forget=("b",))


def test_temporary_is_never_restarted_and_siblings_are_left_alone() -> None:
    for abnormal in (True, False):
        assert plan(Strategy.ONE_FOR_ALL, ORDER, types(b=TE), "b", abnormal) == Plan(forget=("b",))


def test_temporary_sibling_stopped_as_collateral_is_forgotten_not_restarted() -> None:
    # OTP: "never restarted (even when ... a sibling's death causes the
    # temporary process to be terminated)".
    result = plan(Strategy.REST_FOR_ONE, ORDER, types(c=TE, d=TR), "b", True)
    assert result == Plan(stop=("d", "c"), start=("b", "d"), forget=("c",))


def test_siblings_not_running_are_neither_stopped_nor_started() -> None:
    result = plan(Strategy.ONE_FOR_ALL, ORDER, types(), "b", True, running={"a", "d"})
    assert result == Plan(stop=("d", "a"), start=("a", "b", "d"))


def test_unknown_child_is_an_error() -> None:
    with pytest.raises(ValueError, match="'x'"):
        plan(Strategy.ONE_FOR_ONE, ORDER, types(), "x", True)


def test_intensity_follows_otp_counting() -> None:
    budget = Intensity(max_restarts=2, period=10.0)
    ok1, h = budget.record((), 0.0)
    ok2, h = budget.record(h, 1.0)
    ok3, h = budget.record(h, 2.0)
    assert (ok1, ok2, ok3) == (True, True, False)
    # The refused attempt counts too, and a restart exactly period old counts.
    assert budget.record((0.0,), 10.0) == (True, (0.0, 10.0))
    assert budget.record((0.0,), 10.5) == (True, (10.5,))


def test_zero_max_restarts_gives_up_on_the_first_restart() -> None:
    assert Intensity(0, 5.0).record((), 123.0) == (False, (123.0,))


@pytest.mark.parametrize(("max_restarts", "period"), [(-1, 1.0), (1, 0.0), (1, -2.0)])
def test_intensity_rejects_nonsense(max_restarts: int, period: float) -> None:
    with pytest.raises(ValueError):
        Intensity(max_restarts, period)


# -- invariants --


@st.composite
def situations(
    draw: st.DrawFn,
) -> tuple[Strategy, list[str], dict[str, Restart], str, bool, set[str] | None]:
    order = draw(st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=8, unique=True))
    kinds = {c: draw(st.sampled_from(list(Restart))) for c in order}
    exited = draw(st.sampled_from(order))
    running = draw(st.none() | st.sets(st.sampled_from(order)))
    return (
        draw(st.sampled_from(list(Strategy))),
        order,
        kinds,
        exited,
        draw(st.booleans()),
        running,
    )


@given(situations())
def test_plan_invariants(
    s: tuple[Strategy, list[str], dict[str, Restart], str, bool, set[str] | None],
) -> None:
    strategy, order, kinds, exited, abnormal, running = s
    result = plan(strategy, order, kinds, exited, abnormal, running=running)
    index = order.index
    restarted = kinds[exited] == P or (kinds[exited] == TR and abnormal)

    # stop: running siblings only, never the exited child, in reverse order.
    assert exited not in result.stop
    assert len(set(result.stop)) == len(result.stop)
    assert [index(c) for c in result.stop] == sorted((index(c) for c in result.stop), reverse=True)
    if running is not None:
        assert set(result.stop) <= running
    # start: a subset of the children, in start order, never temporary.
    assert set(result.start) <= set(order)
    assert [index(c) for c in result.start] == sorted(index(c) for c in result.start)
    assert all(kinds[c] != TE for c in result.start)
    # every stopped sibling is either restarted or forgotten, never both.
    assert set(result.stop) <= set(result.start) | set(result.forget)
    assert not set(result.start) & set(result.forget)
    assert set(result.start) - {exited} <= set(result.stop)

    if not restarted:
        assert result.stop == () and result.start == ()
        assert result.forget == (exited,)
        return
    assert exited in result.start
    assert all(kinds[c] == TE for c in result.forget)
    if strategy == Strategy.ONE_FOR_ONE:
        assert result == Plan(start=(exited,))
    elif strategy == Strategy.REST_FOR_ONE:
        assert all(index(c) > index(exited) for c in result.stop)
    else:
        expected = {c for c in order if c != exited and (running is None or c in running)}
        assert set(result.stop) == expected


@given(
    st.integers(min_value=0, max_value=5),
    st.floats(min_value=0.1, max_value=100.0),
    st.lists(st.floats(min_value=0.0, max_value=50.0), max_size=30),
)
def test_intensity_never_allows_more_than_max_in_any_window(
    max_restarts: int, period: float, gaps: list[float]
) -> None:
    budget = Intensity(max_restarts, period)
    history: tuple[float, ...] = ()
    allowed_at: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap
        allowed, history = budget.record(history, now)
        if not allowed:
            # The supervisor gives up here: nothing after counts.
            break
        allowed_at.append(now)
        # The history only keeps what can still matter.
        assert all(now - t <= period for t in history)
    for start in allowed_at:
        # Same arithmetic as the budget (t - start), not start + period.
        in_window = [t for t in allowed_at if 0 <= t - start <= period]
        assert len(in_window) <= max_restarts


@given(st.integers(min_value=1, max_value=5), st.floats(min_value=0.1, max_value=100.0))
def test_intensity_allows_restarts_spaced_further_than_period(
    max_restarts: int, period: float
) -> None:
    budget = Intensity(max_restarts, period)
    history: tuple[float, ...] = ()
    for k in range(20):
        allowed, history = budget.record(history, k * period * 1.01 + k)
        assert allowed


# -- restart backoff --


def test_backoff_doubles_up_to_the_maximum_and_resets_after_a_good_run() -> None:
    backoff = RestartBackoff(initial=1, maximum=10, factor=2, reset_after=60)
    failures, delays = 0, []
    for _ in range(6):
        delay, failures = backoff.next(failures, ran_for=0.5)
        delays.append(delay)
    assert delays == [1, 2, 4, 8, 10, 10]
    assert failures == 6
    assert backoff.next(failures, ran_for=60) == (1, 1)


@pytest.mark.parametrize(
    "kwargs", [{"initial": -1}, {"initial": 5, "maximum": 1}, {"factor": 0.5}, {"reset_after": -1}]
)
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RestartBackoff(**kwargs)


@given(
    initial=st.floats(0, 10),
    extra=st.floats(0, 100),
    factor=st.floats(1, 4),
    runs=st.lists(st.floats(0, 200), max_size=40),
)
def test_backoff_delays_stay_within_bounds_and_never_shrink_in_a_crash_loop(
    initial: float, extra: float, factor: float, runs: list[float]
) -> None:
    backoff = RestartBackoff(initial, initial + extra, factor, reset_after=100)
    failures, previous = 0, 0.0
    for ran_for in runs:
        delay, after = backoff.next(failures, ran_for)
        assert initial <= delay <= backoff.maximum
        if ran_for >= backoff.reset_after:
            assert (delay, after) == (initial, 1)
        else:
            assert after == failures + 1
            assert delay >= previous
        failures, previous = after, delay
