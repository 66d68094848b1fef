"""`ocppstation fleet --ray`: the fleet's shards as Ray actors.

The same `Shard` a worker process runs, one per Ray actor (spread over the
cluster's nodes); the driver (the `ocppstation fleet` process) asks each
for its counters every second and sends it the typed fault commands, so the
summary, the report and the commands are the same as on one machine. Ray
is an optional extra (`pip install 'ocppstation[ray]'`): nothing else
imports this module.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import ray
from ray.exceptions import RayActorError

from ocppstation.tools import fleet_plan as plan
from ocppstation.tools.fleet_shard import REPORT_EVERY, Job, Shard


class RayPool:
    """`fleet.Pool` over Ray actors: one `Shard` each."""

    def __init__(self, jobs: list[Job], address: str) -> None:
        self.jobs = jobs
        self.address = address or None  # None: a local cluster of this machine
        self.actors: dict[int, Any] = {}
        # What each future in flight is: (kind, worker, the actor's generation, extra)
        self.futures: dict[Any, tuple[str, int, int, Any]] = {}
        self.generation: dict[int, int] = {}
        self.next_stats: dict[int, float] = {}
        self.polling: set[int] = set()
        self.stopping = False
        self.dead = False

    def start(self) -> None:
        ray.init(address=self.address, ignore_reinit_error=True, logging_level=logging.ERROR)
        # Threaded: the counters and a command are answered while start() or
        # a slow crash is still running. SPREAD: shards on as many nodes as can be.
        shard: Any = ray.remote(Shard)
        self.remote: Any = shard.options(
            max_concurrency=4, num_cpus=1, scheduling_strategy="SPREAD"
        )
        for job in self.jobs:
            self._spawn(job.index)

    def _spawn(self, k: int) -> None:
        self.generation[k] = self.generation.get(k, -1) + 1
        actor = self.remote.remote(self.jobs[k])
        self.actors[k] = actor
        self._track(actor.start.remote(), "started", k)
        self.next_stats[k] = time.monotonic() + REPORT_EVERY

    def _track(self, future: Any, kind: str, k: int, extra: Any = None) -> None:
        self.futures[future] = (kind, k, self.generation[k], extra)

    def recv(self, timeout: float) -> list[tuple[str, int, Any]]:
        now = time.monotonic()
        if not self.stopping:
            for k, at in self.next_stats.items():
                if at <= now and k not in self.polling:
                    self.polling.add(k)
                    self.next_stats[k] = now + REPORT_EVERY
                    self._track(self.actors[k].snapshot.remote(), "stats", k)
        if not self.futures:
            time.sleep(timeout)  # nothing in flight to wait on
            return []
        ready, _ = ray.wait(list(self.futures), num_returns=1, timeout=timeout)
        if ready:
            more, _ = ray.wait(list(self.futures), num_returns=len(self.futures), timeout=0)
            ready = list({*ready, *more})
        out: list[tuple[str, int, Any]] = []
        for future in ready:
            kind, k, generation, extra = self.futures.pop(future)
            if kind == "stats":
                self.polling.discard(k)
            if generation != self.generation[k]:
                continue  # from an actor killed since
            try:
                value = ray.get(future)
            except RayActorError:
                self.dead = True
                continue
            out.append((kind, k, (extra, value) if kind == "answer" else value))
        return out

    def command(self, worker: int, number: int, cmd: plan.FaultCommand, ids: list[str]) -> None:
        self._track(self.actors[worker].command.remote(cmd, ids), "answer", worker, number)

    def kill(self, worker: int) -> None:
        # ray.kill ends the actor's process at once (SIGKILL on its node):
        # the stations' data dirs are all that is left, as after a power loss.
        ray.kill(self.actors[worker], no_restart=True)
        self.polling.discard(worker)
        self._spawn(worker)

    def failed(self) -> bool:
        return self.dead

    def stop(self) -> None:
        self.stopping = True
        for k, actor in self.actors.items():
            self._track(actor.stop.remote(), "done", k)

    def finish(self, timeout: float) -> None:
        for actor in self.actors.values():
            ray.kill(actor, no_restart=True)
        ray.shutdown()
