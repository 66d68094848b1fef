"""The OCPP 1.6 connector status machine, as one table.

Every transition the station may take lives in `TRANSITIONS`; anything not in
it is refused, so a hardware event that makes no sense in the current state
(unplugging a cable that was never plugged) cannot corrupt the status the
CSMS sees. `plugged` is kept beside the status because some transitions
(leaving Unavailable or Faulted) land on a different status depending on
whether a cable is in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Status(StrEnum):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class Event(StrEnum):
    PLUG = "plug"
    UNPLUG = "unplug"
    EV_GONE = (
        "ev_gone"  # unplugged, but the transaction goes on (StopTransactionOnEVSideDisconnect)
    )
    AUTHORIZE = "authorize"  # an identification accepted before the cable is in
    TIMEOUT = "timeout"  # ConnectionTimeOut ran out in Preparing
    START = "start"  # transaction started and energy may flow
    EV_SUSPEND = "ev_suspend"
    EVSE_SUSPEND = "evse_suspend"
    RESUME = "resume"
    STOP = "stop"  # transaction ended, cable still in
    RESERVE = "reserve"
    RESERVATION_END = "reservation_end"
    DISABLE = "disable"
    ENABLE = "enable"
    FAULT = "fault"
    CLEAR = "clear"


S, E = Status, Event

_IN_SESSION = (S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE)

TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (S.AVAILABLE, E.PLUG): S.PREPARING,
    (S.AVAILABLE, E.AUTHORIZE): S.PREPARING,
    (S.AVAILABLE, E.RESERVE): S.RESERVED,
    (S.AVAILABLE, E.DISABLE): S.UNAVAILABLE,
    (S.PREPARING, E.PLUG): S.PREPARING,
    (S.PREPARING, E.AUTHORIZE): S.PREPARING,
    (S.PREPARING, E.START): S.CHARGING,
    (S.PREPARING, E.UNPLUG): S.AVAILABLE,
    (S.PREPARING, E.TIMEOUT): S.AVAILABLE,
    (S.PREPARING, E.STOP): S.AVAILABLE,
    (S.PREPARING, E.DISABLE): S.UNAVAILABLE,
    **{(s, E.EV_SUSPEND): S.SUSPENDED_EV for s in _IN_SESSION},
    **{(s, E.EVSE_SUSPEND): S.SUSPENDED_EVSE for s in _IN_SESSION},
    **{(s, E.RESUME): S.CHARGING for s in _IN_SESSION},
    **{(s, E.STOP): S.FINISHING for s in _IN_SESSION},
    # The EV left mid-session: the transaction ends with it (EVDisconnected)...
    **{(s, E.UNPLUG): S.AVAILABLE for s in _IN_SESSION},
    # ...unless the station keeps it going without the EV.
    **{(s, E.EV_GONE): S.SUSPENDED_EV for s in _IN_SESSION},
    (S.FINISHING, E.UNPLUG): S.AVAILABLE,
    (S.FINISHING, E.AUTHORIZE): S.PREPARING,
    (S.FINISHING, E.STOP): S.FINISHING,
    (S.FINISHING, E.DISABLE): S.UNAVAILABLE,
    (S.RESERVED, E.RESERVATION_END): S.AVAILABLE,
    (S.RESERVED, E.AUTHORIZE): S.PREPARING,
    (S.RESERVED, E.PLUG): S.PREPARING,
    (S.RESERVED, E.DISABLE): S.UNAVAILABLE,
    (S.UNAVAILABLE, E.ENABLE): S.AVAILABLE,
    **{(s, E.FAULT): S.FAULTED for s in Status if s is not S.FAULTED},
    (S.FAULTED, E.CLEAR): S.AVAILABLE,
}

# Events that only move the cable while the status itself must hold.
_CABLE_ONLY = {
    (S.UNAVAILABLE, E.PLUG),
    (S.UNAVAILABLE, E.UNPLUG),
    (S.FAULTED, E.PLUG),
    (S.FAULTED, E.UNPLUG),
    (S.RESERVED, E.UNPLUG),
    (S.FINISHING, E.PLUG),
    (S.SUSPENDED_EV, E.PLUG),  # the EV is back to a transaction that went on
}


class InvalidTransition(ValueError):
    def __init__(self, status: Status, event: Event) -> None:
        super().__init__(f"{event.value} is not allowed in {status.value}")
        self.status = status
        self.event = event


@dataclass(frozen=True)
class ConnectorState:
    status: Status = Status.AVAILABLE
    plugged: bool = False


def _plugged_after(state: ConnectorState, event: Event) -> bool:
    if event is E.PLUG:
        return True
    if event in (E.UNPLUG, E.EV_GONE):
        return False
    return state.plugged


def step(state: ConnectorState, event: Event) -> ConnectorState:
    """The state after `event`, or InvalidTransition if the table forbids it."""
    plugged = _plugged_after(state, event)
    if (state.status, event) in _CABLE_ONLY:
        return replace(state, plugged=plugged)
    if (
        (event is E.PLUG and state.plugged)
        or (event is E.START and not plugged)
        or (event in (E.EV_GONE, E.EVSE_SUSPEND, E.RESUME) and not state.plugged)
    ):
        # A second cable, energy (or its suspension by us) with no cable, or
        # an EV leaving that was never there: the hardware report is wrong.
        raise InvalidTransition(state.status, event)
    try:
        status = TRANSITIONS[(state.status, event)]
    except KeyError:
        raise InvalidTransition(state.status, event) from None
    if event is E.TIMEOUT and plugged:
        # Cable in, no identification in time: the session is over, and the
        # connector waits for the cable to go (it is not free while it is in).
        status = S.FINISHING
    elif status is S.AVAILABLE and plugged:
        # Leaving Unavailable or Faulted with a cable still in: the session
        # is being prepared again, not free for the next driver.
        status = S.PREPARING
    elif status is S.FINISHING and not plugged:
        # A transaction that outlived its cable ends with nothing to finish.
        status = S.AVAILABLE
    return ConnectorState(status, plugged)
