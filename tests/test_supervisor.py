"""Supervisors, the Supervised base and the Registry, with real actors.

Nothing here sleeps: tests wait on the registry (wait_for a new incarnation)
or on a Journal (a Condition over what the actors did), always with timeouts.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest
from pykka import ActorRef

from ocppstation.actors.runtime.base import ChildExited, Crash, InjectedCrash, Place, Supervised
from ocppstation.actors.runtime.registry import Registry
from ocppstation.actors.runtime.restart import Restart, RestartBackoff, Strategy
from ocppstation.actors.runtime.supervisor import (
    ChildCrashed,
    ChildRestartDelayed,
    ChildRestarted,
    ChildSpec,
    ChildTerminated,
    Supervisor,
    SupervisorGaveUp,
)

WAIT = 5.0


class Journal:
    """What the actors did, in order, for tests to wait on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[Any] = []

    def add(self, item: Any) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    @property
    def items(self) -> list[Any]:
        with self._cond:
            return list(self._items)

    def wait_until(self, predicate: Callable[[list[Any]], bool], timeout: float = WAIT) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self._items), timeout):
                raise AssertionError(f"timed out; journal: {self._items!r}")

    def of(self, kind: type) -> list[Any]:
        return [i for i in self.items if isinstance(i, kind)]


class Worker(Supervised):
    """A child that journals its setup and teardown, and can be told to fail."""

    def __init__(
        self,
        place: Place,
        journal: Journal,
        fail_setup: Callable[[], bool] = lambda: False,
        on_teardown: Callable[[Worker], None] | None = None,
    ) -> None:
        super().__init__(place)
        self.journal = journal
        self.fail_setup = fail_setup
        self.on_teardown = on_teardown

    def setup(self) -> None:
        self.journal.add(("setup", self.path))
        if self.fail_setup():
            raise RuntimeError("setup failed on purpose")

    def teardown(self) -> None:
        self.journal.add(("teardown", self.path))
        if self.on_teardown is not None:
            self.on_teardown(self)

    def receive(self, message: Any) -> Any:
        if message == "ping":
            return "pong"
        if message == "quit":
            self.stop()
            return None
        return super().receive(message)


def worker(
    id: str,
    journal: Journal,
    restart: Restart = Restart.PERMANENT,
    shutdown: float = 5.0,
    **kwargs: Any,
) -> ChildSpec:
    def start(place: Place) -> ActorRef[Any]:
        # Journaled in the supervisor's thread, so the order is the start order.
        journal.add(("spawn", place.path))
        return Worker.start(place, journal, **kwargs)

    return ChildSpec(id, start, restart, shutdown)


def spawns(journal: Journal) -> list[str]:
    return [p for kind, p in journal.of(tuple) if kind == "spawn"]


def teardowns(journal: Journal) -> list[str]:
    return [p for kind, p in journal.of(tuple) if kind == "teardown"]


class Tree:
    """Starts root supervisors for one test and stops them afterwards."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.journal = Journal()
        self.events = Journal()
        self.roots: list[ActorRef[Any]] = []

    def root(self, children: list[ChildSpec], **kwargs: Any) -> ActorRef[Any]:
        kwargs.setdefault("on_event", self.events.add)
        ref = Supervisor.start(Place("", None, self.registry), children, **kwargs)
        self.roots.append(ref)
        return ref

    def sub(self, id: str, children: list[ChildSpec], **kwargs: Any) -> ChildSpec:
        kwargs.setdefault("on_event", self.events.add)
        return ChildSpec(
            id, lambda place: Supervisor.start(place, children, **kwargs), shutdown=20.0
        )

    def crash(self, path: str) -> ActorRef[Any]:
        """Crash the actor at path; return the ref that crashed."""
        old = self.registry.require(path)
        old.tell(Crash())
        return old


@pytest.fixture
def tree() -> Iterator[Tree]:
    t = Tree()
    yield t
    for ref in reversed(t.roots):
        ref.stop(timeout=20)


def urn(registry: Registry, path: str) -> str:
    return registry.require(path).actor_urn


# -- registry --


def test_registry_lookups_and_guarded_unregister(tree: Tree) -> None:
    reg = tree.registry
    ref = Worker.start(Place("w", None, reg), tree.journal)
    try:
        reg.register("w", ref)
        assert reg.get("w") is ref
        assert reg.require("w") is ref
        assert reg.paths() == ["w"]
        assert reg.ask("w", "ping", timeout=WAIT) == "pong"
        assert reg.proxy("w").path.get(timeout=WAIT) == "w"
        assert reg.tell("w", "ping")
        other = Worker.start(Place("x", None, reg), tree.journal)
        reg.unregister("w", other)  # not the current one: kept
        assert reg.get("w") is ref
        other.stop()
    finally:
        ref.stop()
    # Dead refs read as absent, and telling them is quietly refused.
    assert reg.get("w") is None
    assert not reg.tell("w", "ping")
    with pytest.raises(LookupError, match="'w'"):
        reg.require("w")
    reg.unregister("w")
    reg.unregister("x")  # Supervised registers itself on construction
    assert reg.paths() == []
    assert not reg.tell("nowhere", "ping")


def test_registry_wait_for_blocks_until_a_different_live_actor(tree: Tree) -> None:
    reg = tree.registry
    first = Worker.start(Place("w", None, reg), tree.journal)
    second = Worker.start(Place("w", None, reg), tree.journal)
    try:
        reg.register("w", first)
        with pytest.raises(TimeoutError):
            reg.wait_for("w", 0.05, not_ref=first)
        threading.Timer(0.05, reg.register, args=("w", second)).start()
        assert reg.wait_for("w", WAIT, not_ref=first) is second
    finally:
        first.stop()
        second.stop()


# -- base actor --


def test_crash_by_ask_goes_back_to_the_caller_and_the_actor_lives(tree: Tree) -> None:
    ref = Worker.start(Place("w", None, tree.registry), tree.journal)
    try:
        with pytest.raises(InjectedCrash):
            ref.ask(Crash(), timeout=WAIT)
        assert ref.ask("ping", timeout=WAIT) == "pong"
    finally:
        ref.stop()


def test_every_way_out_tells_the_parent_once(tree: Tree) -> None:
    parent = Worker.start(Place("p", None, tree.registry), tree.journal)
    exits = Journal()
    # Stand in for a supervisor: a plain actor that journals ChildExited.
    parent_ref = _Collector.start(exits)
    try:
        place = Place("p/w", parent_ref, tree.registry)
        Worker.start(place, tree.journal).stop()
        Worker.start(place, tree.journal).tell(Crash("boom"))
        Worker.start(place, tree.journal, fail_setup=lambda: True)
        exits.wait_until(lambda items: len(items) == 3)
        reasons = sorted((type(m.reason).__name__ if m.reason else "normal") for m in exits.items)
        assert reasons == ["InjectedCrash", "RuntimeError", "normal"]
        assert all(m.child_id == "w" for m in exits.items)
        # teardown ran on each of the three ways out
        assert teardowns(tree.journal).count("p/w") == 3
    finally:
        parent.stop()
        parent_ref.stop()


class _Collector(pykka.ThreadingActor):
    use_daemon_thread = True

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExited):
            self.journal.add(message)


# -- supervisor: start and stop --


def test_children_are_registered_when_start_returns_and_stop_in_reverse(tree: Tree) -> None:
    j = tree.journal
    sup = tree.root(
        [worker("a", j), tree.sub("inner", [worker("x", j), worker("y", j)]), worker("c", j)]
    )
    # No waiting: the whole subtree is registered before start() returns.
    assert tree.registry.paths() == ["a", "c", "inner", "inner/x", "inner/y"]
    assert spawns(j) == ["a", "inner/x", "inner/y", "c"]
    assert sup.proxy().which_children().get(timeout=WAIT) == [
        ("a", urn(tree.registry, "a")),
        ("inner", urn(tree.registry, "inner")),
        ("c", urn(tree.registry, "c")),
    ]
    sup.stop(timeout=WAIT)
    assert teardowns(j) == ["c", "inner/y", "inner/x", "a"]
    assert tree.registry.paths() == []
    assert tree.events.items == []


def test_a_child_that_cannot_be_spawned_fails_the_start_and_leaves_nothing(
    tree: Tree,
) -> None:
    def broken(place: Place) -> ActorRef[Any]:
        raise OSError("no such serial port")

    with pytest.raises(OSError, match="serial"):
        tree.root([worker("a", tree.journal), ChildSpec("b", broken)])
    assert tree.registry.paths() == []
    assert teardowns(tree.journal) == ["a"]


# -- supervisor: strategies --


def test_one_for_one_restarts_only_the_crashed_child(tree: Tree) -> None:
    j = tree.journal
    tree.root([worker("a", j), worker("b", j), worker("c", j)])
    before = {p: urn(tree.registry, p) for p in "abc"}
    old_b = tree.crash("b")
    new_b = tree.registry.wait_for("b", WAIT, not_ref=old_b)
    assert new_b.ask("ping", timeout=WAIT) == "pong"
    assert urn(tree.registry, "a") == before["a"]
    assert urn(tree.registry, "c") == before["c"]
    assert spawns(j) == ["a", "b", "c", "b"]
    tree.events.wait_until(lambda e: any(isinstance(x, ChildRestarted) for x in e))
    crashed = tree.events.of(ChildCrashed)
    assert [c.path for c in crashed] == ["b"]
    assert "InjectedCrash" in crashed[0].reason


def test_a_crash_is_one_warning_naming_what_restarts(
    tree: Tree, caplog: pytest.LogCaptureFixture
) -> None:
    j = tree.journal
    tree.root([worker("a", j), worker("b", j), worker("t", j, Restart.TEMPORARY)])
    with caplog.at_level("WARNING"):
        old = tree.crash("a")
        tree.registry.wait_for("a", WAIT, not_ref=old)
        tree.crash("t")
        tree.events.wait_until(lambda e: any(isinstance(x, ChildTerminated) for x in e))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert [w.split(":")[0] for w in warnings] == ["child a crashed", "child t crashed"]
    assert warnings[0].endswith("; restarting a")
    assert warnings[1].endswith("; not restarted")


def test_one_for_all_restarts_everyone_stopping_siblings_in_reverse(tree: Tree) -> None:
    j = tree.journal
    tree.root([worker("a", j), worker("b", j), worker("c", j)], strategy=Strategy.ONE_FOR_ALL)
    old = {p: tree.registry.require(p) for p in "abc"}
    tree.crash("b")
    for p in "abc":
        tree.registry.wait_for(p, WAIT, not_ref=old[p])
    assert spawns(j) == ["a", "b", "c", "a", "b", "c"]
    # b's own teardown runs in b's thread, concurrently; the collateral stops
    # are the supervisor's and come in reverse start order.
    assert [p for p in teardowns(j) if p != "b"] == ["c", "a"]


def test_rest_for_one_restarts_the_crashed_child_and_those_after_it(tree: Tree) -> None:
    j = tree.journal
    tree.root([worker("a", j), worker("b", j), worker("c", j)], strategy=Strategy.REST_FOR_ONE)
    old = {p: tree.registry.require(p) for p in "abc"}
    tree.crash("b")
    tree.registry.wait_for("b", WAIT, not_ref=old["b"])
    tree.registry.wait_for("c", WAIT, not_ref=old["c"])
    assert tree.registry.require("a") is old["a"]
    assert spawns(j) == ["a", "b", "c", "b", "c"]
    assert [p for p in teardowns(j) if p != "b"] == ["c"]


def test_a_child_dying_of_a_dead_sibling_whose_report_is_late_costs_one_restart(
    tree: Tree,
) -> None:
    # a's teardown (a database closing, say) holds back its exit report; b
    # dies meanwhile of a's absence. One restart from a covers both.
    j = tree.journal
    release = threading.Event()
    tree.root(
        [
            worker("a", j, on_teardown=lambda w: release.wait(WAIT) if w.path == "a" else None),
            worker("b", j),
            worker("c", j),
        ],
        strategy=Strategy.REST_FOR_ONE,
        max_restarts=1,
        period=60,
    )
    old = {p: tree.registry.require(p) for p in "abc"}
    tree.crash("a")
    assert old["a"].actor_stopped.wait(WAIT)
    tree.crash("b")
    new_a = tree.registry.wait_for("a", WAIT, not_ref=old["a"])
    tree.registry.wait_for("c", WAIT, not_ref=old["c"])
    release.set()
    tree.events.wait_until(lambda e: len([x for x in e if isinstance(x, ChildCrashed)]) == 2)
    assert sorted(c.path for c in tree.events.of(ChildCrashed)) == ["a", "b"]
    assert len(tree.events.of(ChildRestarted)) == 3
    assert tree.events.of(SupervisorGaveUp) == []
    assert tree.registry.require("a") is new_a
    assert spawns(j) == ["a", "b", "c", "a", "b", "c"]


def test_permanent_child_is_restarted_even_after_a_normal_exit(tree: Tree) -> None:
    tree.root([worker("a", tree.journal)])
    old = tree.registry.require("a")
    old.tell("quit")
    tree.registry.wait_for("a", WAIT, not_ref=old)
    assert tree.events.of(ChildCrashed) == []


def test_temporary_child_that_dies_is_forgotten_and_siblings_keep_running(
    tree: Tree,
) -> None:
    j = tree.journal
    sup = tree.root(
        [worker("a", j), worker("t", j, Restart.TEMPORARY), worker("c", j)],
        strategy=Strategy.ONE_FOR_ALL,
    )
    before = {p: urn(tree.registry, p) for p in "ac"}
    tree.crash("t")
    tree.events.wait_until(lambda e: any(isinstance(x, ChildTerminated) for x in e))
    assert tree.events.of(ChildTerminated)[0].path == "t"
    assert [cid for cid, _ in sup.proxy().which_children().get(timeout=WAIT)] == ["a", "c"]
    assert {p: urn(tree.registry, p) for p in "ac"} == before
    assert tree.registry.get("t") is None
    assert spawns(j) == ["a", "t", "c"]
    assert tree.events.of(ChildRestarted) == []


def test_transient_child_is_forgotten_after_a_normal_exit_only(tree: Tree) -> None:
    j = tree.journal
    sup = tree.root([worker("x", j, Restart.TRANSIENT), worker("y", j, Restart.TRANSIENT)])
    old_x = tree.crash("x")
    tree.registry.wait_for("x", WAIT, not_ref=old_x)
    tree.registry.require("y").tell("quit")
    tree.events.wait_until(lambda e: any(isinstance(x, ChildTerminated) for x in e))
    assert [c for c, _ in sup.proxy().which_children().get(timeout=WAIT)] == ["x"]


def test_temporary_sibling_stopped_by_a_restart_is_not_restarted(tree: Tree) -> None:
    j = tree.journal
    sup = tree.root(
        [worker("a", j), worker("b", j), worker("t", j, Restart.TEMPORARY)],
        strategy=Strategy.REST_FOR_ONE,
    )
    old_b = tree.crash("b")
    tree.registry.wait_for("b", WAIT, not_ref=old_b)
    assert [c for c, _ in sup.proxy().which_children().get(timeout=WAIT)] == ["a", "b"]
    assert [t.path for t in tree.events.of(ChildTerminated)] == ["t"]
    assert spawns(j) == ["a", "b", "t", "b"]


# -- supervisor: failing setups, failing starts, intensity --


def test_setup_raising_is_a_crash_and_the_restart_can_recover(tree: Tree) -> None:
    attempts = iter([True, False])  # the first setup fails, the second works
    tree.root([worker("flaky", tree.journal, fail_setup=lambda: next(attempts))])
    tree.events.wait_until(lambda e: any(isinstance(x, ChildRestarted) for x in e))
    crashed = tree.events.of(ChildCrashed)
    assert len(crashed) == 1
    assert "setup failed on purpose" in crashed[0].reason
    assert tree.registry.wait_for("flaky", WAIT).ask("ping", timeout=WAIT) == "pong"


def test_a_child_whose_setup_always_fails_leads_to_give_up_not_a_loop(tree: Tree) -> None:
    j = tree.journal
    sup = tree.root(
        [worker("ok", j), worker("bad", j, fail_setup=lambda: True)], max_restarts=2, period=60
    )
    tree.events.wait_until(lambda e: any(isinstance(x, SupervisorGaveUp) for x in e))
    assert sup.actor_stopped.wait(WAIT)
    # The first start plus max_restarts restarts; the next one was refused.
    assert spawns(j).count("bad") == 3
    assert len(tree.events.of(ChildRestarted)) == 2
    assert tree.events.of(SupervisorGaveUp)[0].path == ""
    assert "more than 2 restarts" in tree.events.of(SupervisorGaveUp)[0].reason
    assert "ok" in teardowns(j)
    assert tree.registry.paths() == []


def test_restarts_older_than_the_period_do_not_count(tree: Tree) -> None:
    now = [0.0]
    tree.root([worker("a", tree.journal)], max_restarts=1, period=10, monotonic=lambda: now[0])
    for _ in range(3):
        now[0] += 11
        old = tree.crash("a")
        tree.registry.wait_for("a", WAIT, not_ref=old)
    assert tree.events.of(SupervisorGaveUp) == []


def test_a_failing_restart_is_retried_and_counted(tree: Tree) -> None:
    j = tree.journal
    calls = [0]

    def sometimes(place: Place) -> ActorRef[Any]:
        calls[0] += 1
        if calls[0] in (2, 3):  # the first restart and its first retry fail
            raise OSError("port busy")
        return Worker.start(place, j)

    tree.root([ChildSpec("a", sometimes), worker("b", j)], strategy=Strategy.REST_FOR_ONE)
    old = {p: tree.registry.require(p) for p in "ab"}
    tree.crash("a")
    tree.registry.wait_for("a", WAIT, not_ref=old["a"])
    # b waits for a: it was stopped with a and comes back only after a does.
    tree.registry.wait_for("b", WAIT, not_ref=old["b"])
    assert calls[0] == 4
    assert [c.reason for c in tree.events.of(ChildCrashed)][1:] == [
        "start failed: OSError: port busy"
    ] * 2


# -- supervisor: escalation --


def test_a_supervisor_that_gives_up_is_restarted_by_its_parent(tree: Tree) -> None:
    j = tree.journal
    tree.root([worker("a", j), tree.sub("inner", [worker("w", j)], max_restarts=0)])
    old_inner = tree.registry.require("inner")
    old_w = tree.crash("inner/w")
    tree.registry.wait_for("inner", WAIT, not_ref=old_inner)
    tree.registry.wait_for("inner/w", WAIT, not_ref=old_w)
    tree.events.wait_until(
        lambda e: any(isinstance(x, ChildRestarted) and x.path == "inner" for x in e)
    )
    kinds = [(type(e).__name__, e.path) for e in tree.events.items]
    assert kinds == [
        ("ChildCrashed", "inner/w"),
        ("SupervisorGaveUp", "inner"),
        ("ChildCrashed", "inner"),
        ("ChildRestarted", "inner"),
    ]
    assert "SupervisorGaveUpError" in tree.events.of(ChildCrashed)[1].reason
    assert spawns(j) == ["a", "inner/w", "inner/w"]


def test_escalation_reaches_the_root_which_stops_everything(tree: Tree) -> None:
    j = tree.journal
    root = tree.root(
        [worker("a", j), tree.sub("inner", [worker("w", j)], max_restarts=0)], max_restarts=0
    )
    tree.crash("inner/w")
    assert root.actor_stopped.wait(WAIT)
    gave_up = [e.path for e in tree.events.of(SupervisorGaveUp)]
    assert gave_up == ["inner", ""]
    assert sorted(teardowns(j)) == ["a", "inner/w"]
    assert tree.registry.paths() == []


# -- supervisor: shutdown and stale reports --


def test_a_crash_during_shutdown_restarts_nothing(tree: Tree) -> None:
    j = tree.journal

    def crash_a_and_wait(me: Worker) -> None:
        # b is stopped first (reverse order); while the supervisor waits for
        # it, a crashes. Its exit report must not lead to a restart.
        a = tree.registry.get("a")
        assert a is not None
        a.tell(Crash())
        assert a.actor_stopped.wait(WAIT)

    sup = tree.root([worker("a", j), worker("b", j, on_teardown=crash_a_and_wait)])
    sup.stop(timeout=WAIT)
    assert spawns(j) == ["a", "b"]
    assert tree.events.of(ChildRestarted) == []
    assert tree.registry.paths() == []


def test_stale_exit_reports_are_ignored(tree: Tree) -> None:
    sup = tree.root([worker("a", tree.journal)])
    before = urn(tree.registry, "a")
    sup.tell(ChildExited("a", "urn:uuid:not-the-current-one", RuntimeError("old news")))
    sup.tell(ChildExited("zzz", "urn:uuid:unknown", None))
    assert sup.proxy().which_children().get(timeout=WAIT) == [("a", before)]
    assert tree.events.items == []


def test_a_hung_child_is_abandoned_after_its_shutdown_time(tree: Tree) -> None:
    release = threading.Event()
    j = tree.journal
    sup = tree.root(
        [worker("a", j), worker("hung", j, shutdown=0.2, on_teardown=lambda _: release.wait(30))]
    )
    try:
        assert sup.stop(timeout=WAIT)
        assert teardowns(j) == ["hung", "a"]
        assert tree.registry.paths() == []
    finally:
        release.set()


# -- supervisor: dynamic children --


def test_dynamic_children(tree: Tree) -> None:
    j = tree.journal
    sup = tree.root([worker("a", j)]).proxy()
    ref = sup.start_child(worker("b", j)).get(timeout=WAIT)
    assert tree.registry.require("b") is ref
    with pytest.raises(ValueError, match="already running"):
        sup.start_child(worker("b", j)).get(timeout=WAIT)
    with pytest.raises(ValueError, match="free of '/'"):
        sup.start_child(worker("b/c", j)).get(timeout=WAIT)

    sup.terminate_child("b").get(timeout=WAIT)
    assert ref.actor_stopped.is_set()
    assert sup.which_children().get(timeout=WAIT) == [("a", urn(tree.registry, "a")), ("b", None)]
    # A stopped child is not restarted when a sibling crashes.
    old_a = tree.crash("a")
    tree.registry.wait_for("a", WAIT, not_ref=old_a)
    assert tree.registry.get("b") is None

    again = sup.start_child(worker("b", j)).get(timeout=WAIT)
    assert tree.registry.require("b") is again
    sup.terminate_child("b").get(timeout=WAIT)
    sup.delete_child("b").get(timeout=WAIT)
    assert [c for c, _ in sup.which_children().get(timeout=WAIT)] == ["a"]
    with pytest.raises(LookupError):
        sup.terminate_child("b").get(timeout=WAIT)

    sup.start_child(worker("t", j, Restart.TEMPORARY)).get(timeout=WAIT)
    sup.terminate_child("t").get(timeout=WAIT)
    assert [c for c, _ in sup.which_children().get(timeout=WAIT)] == ["a"]


def test_a_restart_on_request_replaces_the_child_without_charging_the_intensity(
    tree: Tree,
) -> None:
    j = tree.journal
    sup = tree.root([worker("a", j), worker("b", j)], max_restarts=1, period=60).proxy()
    for _ in range(3):
        old = tree.registry.require("a")
        sup.restart_child("a").get(timeout=WAIT)
        assert old.actor_stopped.is_set()
        assert tree.registry.require("a") is not old
    assert [e.path for e in tree.events.of(ChildRestarted)] == ["a", "a", "a"]
    assert tree.events.of(SupervisorGaveUp) == []
    assert spawns(j).count("b") == 1  # the sibling was left alone
    sup.terminate_child("b").get(timeout=WAIT)
    sup.restart_child("b").get(timeout=WAIT)  # a stopped one is started again
    assert tree.registry.require("b").ask("ping", timeout=WAIT) == "pong"
    with pytest.raises(LookupError):
        sup.restart_child("c").get(timeout=WAIT)


def test_a_faulty_event_sink_does_not_break_the_supervisor(tree: Tree) -> None:
    def sink(event: object) -> None:
        raise RuntimeError("sink broken")

    tree.root([worker("a", tree.journal)], on_event=sink)
    old = tree.crash("a")
    tree.registry.wait_for("a", WAIT, not_ref=old)


# -- measurement --


def test_restart_latency(tree: Tree) -> None:
    rounds = 50
    tree.root([worker("a", tree.journal)], max_restarts=rounds + 1, period=60)
    for _ in range(rounds):
        old = tree.crash("a")
        tree.registry.wait_for("a", WAIT, not_ref=old)
    tree.events.wait_until(lambda e: sum(isinstance(x, ChildRestarted) for x in e) == rounds)
    latencies = [e.latency for e in tree.events.of(ChildRestarted)]
    print(
        f"\nrestart latency over {rounds} restarts: "
        f"median {statistics.median(latencies) * 1e6:.0f} us, "
        f"max {max(latencies) * 1e6:.0f} us"
    )


# -- restart backoff --


class ManualLater:
    """A `later` for supervisors whose timers the test fires by hand."""

    def __init__(self) -> None:
        self.armed = Journal()

    def __call__(self, delay: float, ref: ActorRef[Any], message: object) -> None:
        self.armed.add((delay, ref, message))

    def fire(self, n: int) -> float:
        """Deliver the n-th timer armed (0-based) once it is armed; its delay."""
        self.armed.wait_until(lambda items: len(items) > n)
        delay, ref, message = self.armed.items[n]
        ref.tell(message)
        return delay


def backoff_worker(id: str, journal: Journal, backoff: RestartBackoff, **kwargs: Any) -> ChildSpec:
    spec = worker(id, journal, **kwargs)
    return ChildSpec(spec.id, spec.start, spec.restart, spec.shutdown, backoff)


def test_a_crash_loop_with_backoff_waits_longer_each_time_and_never_gives_up(tree: Tree) -> None:
    later = ManualLater()
    j = tree.journal
    tree.root(
        [worker("ok", j), backoff_worker("dev", j, RestartBackoff(1, 4), fail_setup=lambda: True)],
        max_restarts=1,
        period=60,
        later=later,
    )
    delays = [later.fire(n) for n in range(5)]
    assert delays == [1, 2, 4, 4, 4]
    tree.events.wait_until(lambda e: len([x for x in e if isinstance(x, ChildRestarted)]) == 5)
    delayed = tree.events.of(ChildRestartDelayed)
    assert [(d.path, d.delay, d.failures) for d in delayed[:3]] == [
        ("dev", 1, 1),
        ("dev", 2, 2),
        ("dev", 4, 3),
    ]
    # Far more restarts than max_restarts=1 allows, yet nobody gave up.
    assert tree.events.of(SupervisorGaveUp) == []
    assert tree.registry.require("ok").ask("ping", timeout=WAIT) == "pong"


def test_nothing_restarts_before_the_backoff_timer_fires(tree: Tree) -> None:
    later = ManualLater()
    tree.root([backoff_worker("dev", tree.journal, RestartBackoff(5, 5))], later=later)
    tree.crash("dev")
    later.armed.wait_until(lambda items: len(items) == 1)
    assert tree.registry.get("dev") is None
    assert spawns(tree.journal) == ["dev"]
    later.fire(0)
    assert tree.registry.wait_for("dev", WAIT).ask("ping", timeout=WAIT) == "pong"


def test_backoff_starts_over_after_a_long_enough_run(tree: Tree) -> None:
    later = ManualLater()
    now = [0.0]
    tree.root(
        [backoff_worker("dev", tree.journal, RestartBackoff(1, 30, reset_after=60))],
        later=later,
        monotonic=lambda: now[0],
    )
    for n in range(3):
        tree.crash("dev")
        later.fire(n)
        # The event, not the registry: it comes after the start time is noted.
        tree.events.wait_until(
            lambda e, n=n: len([x for x in e if isinstance(x, ChildRestarted)]) > n
        )
    now[0] += 61  # the third incarnation runs a minute
    tree.crash("dev")
    assert later.fire(3) == 1
    assert [d.delay for d in tree.events.of(ChildRestartDelayed)] == [1, 2, 4, 1]


def test_a_normal_exit_of_a_backoff_child_restarts_at_once(tree: Tree) -> None:
    later = ManualLater()
    tree.root([backoff_worker("dev", tree.journal, RestartBackoff(5, 5))], later=later)
    old = tree.registry.require("dev")
    old.tell("quit")
    tree.registry.wait_for("dev", WAIT, not_ref=old)
    assert later.armed.items == []


def test_rest_for_one_stops_later_siblings_now_and_starts_them_after_the_delay(
    tree: Tree,
) -> None:
    later = ManualLater()
    j = tree.journal
    tree.root(
        [backoff_worker("dev", j, RestartBackoff(1, 1)), worker("user", j)],
        strategy=Strategy.REST_FOR_ONE,
        later=later,
    )
    user = tree.registry.require("user")
    tree.crash("dev")
    later.armed.wait_until(lambda items: len(items) == 1)
    assert user.actor_stopped.is_set()
    assert tree.registry.get("user") is None
    later.fire(0)
    tree.registry.wait_for("user", WAIT, not_ref=user)
    assert spawns(j) == ["dev", "user", "dev", "user"]


def test_terminating_a_child_waiting_for_its_restart_cancels_it(tree: Tree) -> None:
    later = ManualLater()
    sup = tree.root([backoff_worker("dev", tree.journal, RestartBackoff(1, 1))], later=later)
    tree.crash("dev")
    later.armed.wait_until(lambda items: len(items) == 1)
    sup.proxy().terminate_child("dev").get(timeout=WAIT)
    later.fire(0)
    # The stale timer changed nothing: the child stays terminated.
    assert sup.proxy().which_children().get(timeout=WAIT) == [("dev", None)]
    assert spawns(tree.journal) == ["dev"]


def test_without_a_scheduler_the_delay_runs_on_a_thread_timer(tree: Tree) -> None:
    tree.root([backoff_worker("dev", tree.journal, RestartBackoff(0.01, 0.01))])
    old = tree.crash("dev")
    assert tree.registry.wait_for("dev", WAIT, not_ref=old).ask("ping", timeout=WAIT) == "pong"


def test_a_later_that_fails_falls_back_to_a_thread_timer(tree: Tree) -> None:
    def broken(delay: float, ref: ActorRef[Any], message: object) -> None:
        raise LookupError("no scheduler")

    tree.root([backoff_worker("dev", tree.journal, RestartBackoff(0.01, 0.01))], later=broken)
    old = tree.crash("dev")
    assert tree.registry.wait_for("dev", WAIT, not_ref=old).ask("ping", timeout=WAIT) == "pong"
