"""The base class of every actor in the station tree.

A Supervised actor knows its place in the tree (path, parent, registry) and
always tells its parent when it exits, however it exits. pykka reports the
three ways an actor can end through different hooks (or none), so the base
class funnels them into one report:

- a normal stop runs ``on_stop``;
- an exception in a ``tell`` handler runs ``on_failure`` (not ``on_stop``);
- an exception in ``on_start`` runs neither, so it is caught here.

An exception in an ``ask`` handler goes back to the asker and the actor lives
on; that is pykka's contract and it is kept: only told messages can crash an
actor. Fault injection therefore tells ``Crash``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pykka
from pykka import ActorDeadError, ActorRef

from ocppstation.actors.runtime.registry import Registry

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "Applied",
    "ChildExited",
    "Crash",
    "InjectedCrash",
    "Place",
    "Supervised",
]


@dataclass(frozen=True)
class Place:
    """Where an actor sits: its path, who supervises it, and the registry."""

    path: str
    parent: ActorRef[Any] | None
    registry: Registry

    @property
    def id(self) -> str:
        """The last path segment: the id under which the parent knows us."""
        return self.path.rsplit("/", 1)[-1]

    def child(self, id: str) -> str:
        """The path of a child called ``id``."""
        return f"{self.path}/{id}" if self.path else id


@dataclass(frozen=True)
class Crash:
    """Told to any Supervised actor, makes it raise InjectedCrash."""

    reason: str = "injected"


@dataclass(frozen=True)
class ChildExited:
    """Told by a child to its parent when it ends; reason None means normal."""

    child_id: str
    urn: str
    reason: BaseException | None


class InjectedCrash(Exception):
    """Raised by an actor that was told Crash.

    An Exception, not a BaseException: pykka answers a BaseException in an
    actor with ActorRegistry.stop_all(), which would stop every station in the
    process instead of failing one actor.
    """


def _logger_name(path: str) -> str:
    # Dots, not slashes, so that logging's hierarchy works: configuring
    # "ocppstation.evses" also configures "ocppstation.evses.3.meter".
    return "ocppstation." + (path.replace("/", ".") if path else "root")


@dataclass(frozen=True)
class Applied:
    """`message`, with `done` to call once the receiver has handled it.

    Whoever tells it waits for what the message changes to be in force (a
    crash while handling it counts as handled: the restart is what holds).
    The receiver sees only `message`: the base class unwraps it.
    """

    message: object
    done: Callable[[], None]


class Supervised(pykka.ThreadingActor):
    """An actor that lives under a supervisor.

    Subclasses override ``setup``, ``teardown`` and ``receive`` instead of
    pykka's hooks. Extra constructor arguments come after ``place``::

        class Meter(Supervised):
            def __init__(self, place: Place, ctx: Ctx) -> None:
                super().__init__(place)
    """

    # A hung actor must never keep the process alive at exit; the supervisor
    # abandons threads that miss their shutdown deadline.
    use_daemon_thread: ClassVar[bool] = True

    def __init__(self, place: Place) -> None:
        super().__init__()
        self.place = place
        self.path = place.path
        self.log = logging.getLogger(_logger_name(place.path))
        self._exit_reported = False
        if place.path:
            # Registered before the actor's thread runs: anything told to this
            # path from now on waits in the inbox instead of being lost
            # between start() and the supervisor's own registration.
            place.registry.register(place.path, self.actor_ref)

    # -- for subclasses --

    def setup(self) -> None:
        """Acquire resources; runs in the actor's thread before any message.

        Raising here counts as a crash of this actor.
        """

    def teardown(self) -> None:
        """Release resources; runs on a normal stop and after any crash.

        It also runs when setup() raised, so it must cope with a half-done
        setup. Exceptions are logged and otherwise ignored. Never ask the
        parent from here: the parent may be blocked stopping this actor.
        """

    def receive(self, message: Any) -> Any:
        """Handle a plain (non-proxy) tell or ask message."""
        self.log.warning("unexpected message: %r", message)

    # -- pykka hooks --

    def on_start(self) -> None:
        try:
            self.setup()
        except Exception as exc:
            # pykka calls neither on_failure nor on_stop for this; mark the
            # actor dead first so that the parent, once told, never sees it
            # alive, then let pykka log the exception and finish the stop.
            self.actor_stopped.set()
            self._report_exit(exc)
            raise

    def on_stop(self) -> None:
        self._report_exit(None)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        reason = exception_value
        if reason is None:
            reason = RuntimeError(f"{exception_type!r} with no value")
        self._report_exit(reason)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise InjectedCrash(message.reason)
        if isinstance(message, Applied):
            try:
                return self.receive(message.message)
            finally:
                message.done()
        return self.receive(message)

    # -- internals --

    def _report_exit(self, reason: BaseException | None) -> None:
        if self._exit_reported:
            return
        self._exit_reported = True
        try:
            self.teardown()
        except Exception:
            self.log.exception("teardown failed")
        parent = self.place.parent
        if parent is None:
            return
        try:
            parent.tell(ChildExited(self.place.id, self.actor_urn, reason))
        except ActorDeadError:
            # The parent is stopping (it is the one stopping us, or it
            # crashed); nobody is left to restart us, which is what we want.
            self.log.debug("parent gone; exit not reported")
