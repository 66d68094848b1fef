"""The 1.6 connector status table, by property."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol.v16.connector_status import (
    TRANSITIONS,
    ConnectorState,
    Event,
    InvalidTransition,
    Status,
    step,
)

events = st.lists(st.sampled_from(list(Event)), max_size=60)


def run(sequence: list[Event]) -> list[ConnectorState]:
    state = ConnectorState()
    states = [state]
    for event in sequence:
        try:
            state = step(state, event)
        except InvalidTransition:
            continue
        states.append(state)
    return states


@given(events)
def test_plugged_follows_the_cable(sequence: list[Event]) -> None:
    state = ConnectorState()
    for event in sequence:
        try:
            new = step(state, event)
        except InvalidTransition:
            continue
        if event is Event.PLUG:
            assert new.plugged
        elif event in (Event.UNPLUG, Event.EV_GONE):
            assert not new.plugged
        else:
            assert new.plugged == state.plugged
        state = new


@given(events)
def test_energy_statuses_need_a_cable(sequence: list[Event]) -> None:
    for state in run(sequence):
        # SuspendedEV may have lost its cable (StopTransactionOnEVSideDisconnect false).
        if state.status in (Status.CHARGING, Status.SUSPENDED_EVSE, Status.FINISHING):
            assert state.plugged
        if state.status is Status.AVAILABLE:
            assert not state.plugged


@given(events)
def test_faulted_is_left_only_by_clear(sequence: list[Event]) -> None:
    state = ConnectorState()
    for event in sequence:
        try:
            new = step(state, event)
        except InvalidTransition:
            continue
        if state.status is Status.FAULTED and new.status is not Status.FAULTED:
            assert event is Event.CLEAR
        state = new


@given(st.sampled_from([s for s in Status if s is not Status.FAULTED]), st.booleans())
def test_every_status_but_faulted_can_fault(status: Status, plugged: bool) -> None:
    assert step(ConnectorState(status, plugged), Event.FAULT) == ConnectorState(
        Status.FAULTED, plugged
    )


def test_table_targets_are_statuses_and_session_path() -> None:
    assert all(isinstance(target, Status) for target in TRANSITIONS.values())
    state = ConnectorState()
    for event, expected in [
        (Event.PLUG, Status.PREPARING),
        (Event.START, Status.CHARGING),
        (Event.EV_SUSPEND, Status.SUSPENDED_EV),
        (Event.RESUME, Status.CHARGING),
        (Event.STOP, Status.FINISHING),
        (Event.UNPLUG, Status.AVAILABLE),
    ]:
        state = step(state, event)
        assert state.status is expected


def test_leaving_unavailable_with_a_cable_in_is_preparing() -> None:
    state = step(ConnectorState(), Event.DISABLE)
    state = step(state, Event.PLUG)
    assert state == ConnectorState(Status.UNAVAILABLE, plugged=True)
    assert step(state, Event.ENABLE).status is Status.PREPARING


def test_a_second_plug_is_refused() -> None:
    state = step(ConnectorState(), Event.PLUG)
    try:
        step(state, Event.PLUG)
    except InvalidTransition as exc:
        assert "plug" in str(exc)
    else:
        raise AssertionError("plugging twice must be refused")
