"""OTP-style supervisor as a pykka actor.

A Supervisor starts its children in order, registers each under its path,
and restarts them according to its strategy and their restart types when they
exit (see restart.py for the rules). A child tells its exit with ChildExited
(the Supervised base does that on every path out), so the supervisor needs
no links or monitors: it reacts to messages in its own thread.

When restarts come faster than the intensity allows, the supervisor stops
every child and fails itself, so that its parent sees an abnormal exit and
applies its own policy: that is escalation. A root supervisor just stops and
reports SupervisorGaveUp through ``on_event``.

Children are started while the Supervisor is constructed, in the thread that
calls ``Supervisor.start()``, so the whole subtree is registered when that
returns; a child whose factory raises makes ``start()`` raise and leaves
nothing running. A child's own ``setup()`` runs later in its thread, and its
failure is handled like any crash.

A child spec may carry a ``RestartBackoff`` (restart.py): its crash is then
followed by a delayed restart, armed through ``later`` (the station passes
its scheduler, so the delay runs in the station's time; by default a timer
thread). Delayed restarts are left out of the intensity count.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka
from pykka import ActorRef

from ocppstation.actors.runtime.base import ChildExited, Place, Supervised
from ocppstation.actors.runtime.restart import Intensity, Restart, RestartBackoff, Strategy, plan

__all__ = [
    "ChildCrashed",
    "ChildRestartDelayed",
    "ChildRestarted",
    "ChildSpec",
    "ChildTerminated",
    "Later",
    "Restart",
    "RestartBackoff",
    "Strategy",
    "Supervisor",
    "SupervisorGaveUp",
    "SupervisorGaveUpError",
]


_DEFAULT_SHUTDOWN = 5.0


@dataclass(frozen=True)
class ChildSpec:
    """How to start a child and when to restart it.

    ``start`` must start the actor and return its ref without waiting for its
    setup (``lambda place: Meter.start(place, ctx)``). ``shutdown`` is how long
    the supervisor waits for a clean stop before abandoning the thread; give a
    child supervisor enough for its whole subtree. ``backoff`` delays the
    restart after a crash (see RestartBackoff).
    """

    id: str
    start: Callable[[Place], ActorRef[Any]]
    restart: Restart = Restart.PERMANENT
    shutdown: float = _DEFAULT_SHUTDOWN
    backoff: RestartBackoff | None = None


Later = Callable[[float, ActorRef[Any], object], object]
"""``later(delay, ref, message)``: tell ``message`` to ``ref`` in ``delay`` seconds."""


def thread_later(delay: float, ref: ActorRef[Any], message: object) -> None:
    """A Later on the real clock, for supervisors without a scheduler."""

    def fire() -> None:
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            pass  # the supervisor stopped meanwhile; nothing to restart

    timer = threading.Timer(delay, fire)
    timer.daemon = True
    timer.start()


# -- events published through on_event --


@dataclass(frozen=True)
class ChildCrashed:
    """A child exited abnormally, or failed to start."""

    path: str
    reason: str


@dataclass(frozen=True)
class ChildRestarted:
    """A child runs again; latency runs from the exit report to start()."""

    path: str
    latency: float


@dataclass(frozen=True)
class ChildRestartDelayed:
    """A child with a backoff crashed; it starts again in ``delay`` s.

    ``failures`` counts its crashes in a row, this one included.
    """

    path: str
    delay: float
    failures: int


@dataclass(frozen=True)
class ChildTerminated:
    """A child exited or was stopped, and will not be restarted."""

    path: str
    reason: str


@dataclass(frozen=True)
class SupervisorGaveUp:
    """The restart intensity was exceeded; the supervisor stopped its subtree."""

    path: str
    reason: str


class SupervisorGaveUpError(Exception):
    """The reason a supervisor that gave up reports to its own parent."""


@dataclass(frozen=True)
class _RetryStart:
    """Told to itself when starting children failed half-way.

    Retrying through the mailbox, as OTP does, lets a stop request queued
    meanwhile win over an endless start loop; each retry counts against the
    intensity, so a child that can never start leads to giving up.
    """

    ids: tuple[str, ...]


@dataclass(frozen=True)
class _DelayedStart:
    """Told to itself when a backoff delay is over; ``token`` tells stale ones."""

    ids: tuple[str, ...]
    token: int


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Supervisor(Supervised):
    """Starts, watches and restarts a list of children."""

    def __init__(
        self,
        place: Place,
        children: Sequence[ChildSpec],
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        period: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        on_event: Callable[[object], None] | None = None,
        later: Later | None = None,
    ) -> None:
        super().__init__(place)
        self._later = later
        # Backoff bookkeeping: when each child last started, its crashes in
        # a row, and the children waiting for a delayed start (id -> token).
        self._started_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._tokens = itertools.count(1)
        self._strategy = Strategy(strategy)
        self._intensity = Intensity(max_restarts, period)
        self._monotonic = monotonic
        self._on_event = on_event
        # Insertion order is start order; a restarted child keeps its slot.
        self._specs: dict[str, ChildSpec] = {}
        for spec in children:
            self._check_new(spec)
            self._specs[spec.id] = spec
        self._refs: dict[str, ActorRef[Any]] = {}
        self._history: tuple[float, ...] = ()
        self._stopping = False
        # Dead incarnations restarted before their own exit report came.
        self._restarted_early: set[str] = set()

        # Children start here, in the thread calling Supervisor.start(), not
        # in setup(): pykka's start() returns before on_start runs, and this
        # way the whole subtree is registered by the time start() returns.
        # The actor thread has not started yet, so no state is shared.
        try:
            for spec in list(self._specs.values()):
                self._start_child(spec)
        except Exception:
            # Like OTP's start_link: a child that cannot start fails the
            # supervisor's start, leaving nothing behind.
            self._stopping = True
            self._stop_all_children()
            raise

    # -- lifecycle --

    def teardown(self) -> None:
        # Set first: children stopped from here report their exit, and none
        # of those reports may lead to a restart.
        self._stopping = True
        self._stop_all_children()

    def receive(self, message: Any) -> Any:
        if isinstance(message, ChildExited):
            self._child_exited(message)
            return None
        if isinstance(message, _RetryStart):
            self._retry_start(message)
            return None
        if isinstance(message, _DelayedStart):
            self._delayed_start(message)
            return None
        return super().receive(message)

    # -- asks --

    def which_children(self) -> list[tuple[str, str | None]]:
        """(id, urn) per child in start order; urn None if not running."""
        return [
            (cid, ref.actor_urn if (ref := self._refs.get(cid)) is not None else None)
            for cid in self._specs
        ]

    def start_child(self, spec: ChildSpec) -> ActorRef[Any]:
        """Add and start a child, last in start order.

        A spec whose id is known but not running replaces the old spec and
        keeps its slot. Raises ValueError if that id is running, and whatever
        ``spec.start`` raises (the spec is then not kept).
        """
        if self._stopping:
            msg = f"supervisor {self.path!r} is stopping"
            raise RuntimeError(msg)
        previous = self._specs.get(spec.id)
        if previous is None:
            self._check_new(spec)
        elif spec.id in self._refs:
            msg = f"child {spec.id!r} is already running"
            raise ValueError(msg)
        self._specs[spec.id] = spec
        self._pending.pop(spec.id, None)
        try:
            return self._start_child(spec)
        except Exception:
            if previous is None:
                del self._specs[spec.id]
            else:
                self._specs[spec.id] = previous
            raise

    def terminate_child(self, id: str) -> None:
        """Stop a child without restarting it; its spec stays (unless temporary).

        Raises LookupError for an unknown id.
        """
        spec = self._specs.get(id)
        if spec is None:
            msg = f"no child {id!r}"
            raise LookupError(msg)
        if id in self._refs:
            self._stop_child(id)
            self._emit(ChildTerminated(self.place.child(id), "terminated on request"))
        elif self._pending.pop(id, None) is not None:
            self._emit(ChildTerminated(self.place.child(id), "terminated on request"))
        if spec.restart == Restart.TEMPORARY:
            del self._specs[id]

    def restart_child(self, id: str) -> None:
        """Stop a child and start it again from its spec, on request (a reset
        of one part): not a crash, so the restart intensity is not charged.
        Emits ChildRestarted. Raises LookupError for an unknown id.
        """
        if id not in self._specs:
            msg = f"no child {id!r}"
            raise LookupError(msg)
        received = time.perf_counter()
        self._pending.pop(id, None)
        self._stop_child(id)
        self._start_in_order([id], received)

    def delete_child(self, id: str) -> None:
        """Drop the spec of a stopped child. Raises LookupError / ValueError."""
        if id not in self._specs:
            msg = f"no child {id!r}"
            raise LookupError(msg)
        if id in self._refs:
            msg = f"child {id!r} is running; terminate it first"
            raise ValueError(msg)
        del self._specs[id]
        self._pending.pop(id, None)

    # -- restarts --

    def _child_exited(self, message: ChildExited) -> None:
        if self._stopping:
            return
        cid = message.child_id
        ref = self._refs.get(cid)
        if ref is None or ref.actor_urn != message.urn:
            if message.urn in self._restarted_early and message.reason is not None:
                self._restarted_early.discard(message.urn)
                why = _describe(message.reason)
                self.log.warning("child %s had crashed: %s; already restarted", cid, why)
                self._emit(ChildCrashed(self.place.child(cid), why))
                return
            # An incarnation we already stopped or replaced.
            self.log.debug("stale exit of %s (%s)", cid, message.urn)
            return
        origin = self._dead_before(cid) if message.reason is not None else None
        early = origin is not None
        if origin is not None and message.reason is not None:
            # An earlier sibling died and its report is still on its way (its
            # teardown runs first); this child most likely died of its absence.
            # One restart from that sibling covers both, and is charged once;
            # the plan stops this child's dead incarnation with the others.
            why = _describe(message.reason)
            self.log.warning("child %s crashed: %s; %s is down too", cid, why, origin)
            self._emit(ChildCrashed(self.place.child(cid), why))
            dead = self._refs[origin]
            self._restarted_early.add(dead.actor_urn)
            message = ChildExited(origin, dead.actor_urn, message.reason)
            cid, ref = origin, dead
        received = time.perf_counter()
        path = self.place.child(cid)
        del self._refs[cid]
        self.place.registry.unregister(path, ref)
        abnormal = message.reason is not None
        steps = plan(
            self._strategy,
            list(self._specs),
            {i: s.restart for i, s in self._specs.items()},
            cid,
            abnormal,
            running=self._refs.keys(),
        )
        backoff = self._specs[cid].backoff
        if message.reason is not None:
            why = _describe(message.reason)
            # One line says what broke and what happens next (the operator's question).
            if not steps.start:
                then = "not restarted"
            elif backoff is not None:
                then = f"restarting {cid} after its backoff"
            else:
                then = f"restarting {', '.join(steps.start)}"
            if early:
                # Its own reason is logged when its report comes.
                self.log.warning("child %s is down; %s", cid, then)
            else:
                self.log.warning("child %s crashed: %s; %s", cid, why, then)
                self._emit(ChildCrashed(path, why))
        else:
            why = "normal exit"
            self.log.info("child %s exited normally", cid)
        if not steps.start:
            for forgotten in steps.forget:
                del self._specs[forgotten]
            self._emit(ChildTerminated(path, why))
            return
        if abnormal and backoff is not None:
            self._delay_restart(cid, backoff, steps.stop, steps.forget, steps.start)
            return
        if not self._allow_restart(f"{cid}: {why}"):
            return
        for sibling in steps.stop:
            self._stop_child(sibling)
        for forgotten in steps.forget:
            del self._specs[forgotten]
            self._emit(
                ChildTerminated(self.place.child(forgotten), f"temporary, stopped with {cid}")
            )
        self._start_in_order(steps.start, received)

    def _dead_before(self, cid: str) -> str | None:
        """Under rest_for_one, the first running sibling before ``cid`` whose
        actor has already died (its exit report not yet handled)."""
        if self._strategy != Strategy.REST_FOR_ONE:
            return None
        for sibling in self._specs:
            if sibling == cid:
                return None
            ref = self._refs.get(sibling)
            # Only a permanent child is sure to be restarted, whatever its exit.
            permanent = self._specs[sibling].restart == Restart.PERMANENT
            if ref is not None and permanent and not ref.is_alive():
                return sibling
        return None

    def _delay_restart(
        self,
        cid: str,
        backoff: RestartBackoff,
        stop: Sequence[str],
        forget: Sequence[str],
        start: Sequence[str],
    ) -> None:
        """Carry out a plan whose starts wait for the child's backoff delay."""
        now = self._monotonic()
        ran_for = now - self._started_at.get(cid, now)
        delay, failures = backoff.next(self._failures.get(cid, 0), ran_for)
        self._failures[cid] = failures
        for sibling in stop:
            self._stop_child(sibling)
        for forgotten in forget:
            del self._specs[forgotten]
            self._emit(
                ChildTerminated(self.place.child(forgotten), f"temporary, stopped with {cid}")
            )
        token = next(self._tokens)
        for child in start:
            self._pending[child] = token
        self.log.info("restarting %s in %.3g s (crash %d in a row)", cid, delay, failures)
        self._arm(delay, _DelayedStart(tuple(start), token))
        # After arming: whoever waits for this event may move the clock at once.
        self._emit(ChildRestartDelayed(self.place.child(cid), delay, failures))

    def _arm(self, delay: float, message: _DelayedStart) -> None:
        if self._later is not None:
            try:
                self._later(delay, self.actor_ref, message)
                return
            except Exception:
                # Without this timer the child would never come back.
                self.log.exception("arming a delayed restart failed; using a thread")
        thread_later(delay, self.actor_ref, message)

    def _delayed_start(self, message: _DelayedStart) -> None:
        if self._stopping:
            return
        due = [c for c in message.ids if self._pending.get(c) == message.token]
        for child in due:
            del self._pending[child]
        pending = tuple(c for c in due if c in self._specs and c not in self._refs)
        if pending:
            self._start_in_order(pending, time.perf_counter())

    def _retry_start(self, message: _RetryStart) -> None:
        if self._stopping:
            return
        pending = tuple(c for c in message.ids if c in self._specs and c not in self._refs)
        if not pending:
            return
        if self._allow_restart(f"retry of {pending[0]}"):
            self._start_in_order(pending, time.perf_counter())

    def _allow_restart(self, what: str) -> bool:
        """Count one restart; on exceeding the intensity, give up (and raise)."""
        allowed, self._history = self._intensity.record(self._history, self._monotonic())
        if allowed:
            return True
        reason = (
            f"more than {self._intensity.max_restarts} restarts in "
            f"{self._intensity.period} s (last: {what})"
        )
        self._give_up(reason)
        return False

    def _give_up(self, reason: str) -> None:
        self.log.error("giving up: %s", reason)
        self._stopping = True
        self._stop_all_children()
        self._emit(SupervisorGaveUp(self.path, reason))
        if self.place.parent is None:
            self.stop()
            return
        # Raised from a told message (ChildExited, _RetryStart): pykka calls
        # on_failure, and the base tells the parent we exited abnormally.
        raise SupervisorGaveUpError(reason)

    def _start_in_order(self, ids: Sequence[str], received: float) -> None:
        for n, cid in enumerate(ids):
            spec = self._specs.get(cid)
            if spec is None or cid in self._refs:
                continue
            try:
                self._start_child(spec)
            except Exception as exc:
                self.log.exception("starting %s failed", cid)
                self._emit(ChildCrashed(self.place.child(cid), f"start failed: {_describe(exc)}"))
                # Later children depend on earlier ones: they wait for the
                # retry rather than start without it.
                self.actor_ref.tell(_RetryStart(tuple(ids[n:])))
                return
            latency = time.perf_counter() - received
            self.log.info("restarted %s in %.6f s", cid, latency)
            self._emit(ChildRestarted(self.place.child(cid), latency))

    # -- children --

    def _check_new(self, spec: ChildSpec) -> None:
        if not spec.id or "/" in spec.id:
            msg = f"child id must be non-empty and free of '/': {spec.id!r}"
            raise ValueError(msg)
        if spec.id in self._specs:
            msg = f"duplicate child id {spec.id!r}"
            raise ValueError(msg)

    def _start_child(self, spec: ChildSpec) -> ActorRef[Any]:
        place = Place(self.place.child(spec.id), self.actor_ref, self.place.registry)
        ref = spec.start(place)
        # Registered before anything else runs here, so a lookup right after
        # our own start (or restart) finds the child.
        self.place.registry.register(place.path, ref)
        self._refs[spec.id] = ref
        self._started_at[spec.id] = self._monotonic()
        return ref

    def _stop_child(self, cid: str) -> None:
        ref = self._refs.pop(cid, None)
        if ref is None:
            return
        self.place.registry.unregister(self.place.child(cid), ref)
        spec = self._specs.get(cid)
        timeout = spec.shutdown if spec is not None else _DEFAULT_SHUTDOWN
        try:
            ref.stop(block=True, timeout=timeout)
        except pykka.Timeout:
            # Python cannot kill a thread; the daemon thread is left behind and
            # its late exit report will be ignored as stale.
            self.log.error("%s did not stop within %s s; abandoned", cid, timeout)

    def _stop_all_children(self) -> None:
        for cid in reversed(list(self._specs)):
            self._stop_child(cid)

    def _emit(self, event: object) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            # A faulty event sink must not take the tree down with it.
            self.log.exception("on_event failed for %r", event)
