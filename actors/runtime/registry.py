"""Path-to-actor lookup for one station.

Actors are addressed by path (``evses/3/meter``) rather than by ref because a
restart replaces the ref. One Registry belongs to one station; it is not
process-global so that several stations can run side by side in one process
(tests do).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka
from pykka import ActorDeadError, ActorRef

__all__ = ["Registry"]


class Registry:
    """Thread-safe map from path to the ActorRef currently serving it."""

    def __init__(self) -> None:
        # A Condition rather than a plain lock so that wait_for() can block
        # until a supervisor (re)registers a path.
        self._cond = threading.Condition()
        self._refs: dict[str, ActorRef[Any]] = {}
        self._proxies: dict[str, tuple[str, pykka.ActorProxy[Any]]] = {}

    def register(self, path: str, ref: ActorRef[Any]) -> None:
        """Point ``path`` at ``ref``, replacing whatever was there."""
        with self._cond:
            self._refs[path] = ref
            self._cond.notify_all()

    def unregister(self, path: str, ref: ActorRef[Any] | None = None) -> None:
        """Forget ``path``; with ``ref``, only if ``path`` still points at it.

        The ``ref`` guard lets a late cleanup of an old incarnation run without
        removing the replacement that a restart has already registered.
        """
        with self._cond:
            current = self._refs.get(path)
            if current is None:
                return
            if ref is not None and current.actor_urn != ref.actor_urn:
                return
            del self._refs[path]
            self._cond.notify_all()

    def get(self, path: str) -> ActorRef[Any] | None:
        """The live actor at ``path``, or None.

        A crashed actor stays registered until its supervisor handles the exit;
        it is reported as absent meanwhile so callers never get a corpse.
        """
        with self._cond:
            ref = self._refs.get(path)
        if ref is None or not ref.is_alive():
            return None
        return ref

    def require(self, path: str) -> ActorRef[Any]:
        """Like get(), but raise LookupError naming the path when absent."""
        ref = self.get(path)
        if ref is None:
            msg = f"no live actor registered at {path!r}"
            raise LookupError(msg)
        return ref

    def paths(self) -> list[str]:
        """All registered paths, sorted (dead ones included, see get())."""
        with self._cond:
            return sorted(self._refs)

    def tell(self, path: str, message: object) -> bool:
        """Send without waiting; False if nobody alive is at ``path``.

        Never raises ActorDeadError: a message to an actor that is restarting
        is lost exactly like one sent a moment before it crashed, and callers
        must already cope with that.
        """
        ref = self.get(path)
        if ref is None:
            return False
        try:
            ref.tell(message)
        except ActorDeadError:
            return False
        return True

    def ask(self, path: str, message: object, timeout: float) -> Any:
        """Ask the actor at ``path``; raises LookupError or pykka's errors."""
        return self.require(path).ask(message, timeout=timeout)

    def proxy(self, path: str) -> pykka.ActorProxy[Any]:
        """A proxy for the actor at ``path`` (bound to this incarnation).

        Kept per incarnation: building a pykka proxy introspects the actor
        (about 0.4 ms here), too dear for paths asked on every meter sample.
        """
        ref = self.require(path)
        with self._cond:
            cached = self._proxies.get(path)
            if cached is not None and cached[0] == ref.actor_urn:
                return cached[1]
        proxy = ref.proxy()
        with self._cond:
            self._proxies[path] = (ref.actor_urn, proxy)
        return proxy

    def wait_for(
        self, path: str, timeout: float, *, not_ref: ActorRef[Any] | None = None
    ) -> ActorRef[Any]:
        """Block until a live actor (other than ``not_ref``) is at ``path``.

        Raises TimeoutError. Tests use ``not_ref`` to wait for a restart.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                ref = self._refs.get(path)
                if (
                    ref is not None
                    and ref.is_alive()
                    and (not_ref is None or ref.actor_urn != not_ref.actor_urn)
                ):
                    return ref
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    msg = f"no live actor at {path!r} within {timeout} s"
                    raise TimeoutError(msg)
                self._cond.wait(remaining)
