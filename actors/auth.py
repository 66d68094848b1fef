"""The auth actor: who may start or stop a transaction, online or not.

A connector tells it `Identify`; the answer comes back as `Identified`. The
decision follows `protocol.v16.authorization.decide` over the Local
Authorization List and the Authorization Cache (both in storage); when that
says ask, an Authorize goes to the CSMS, and if the link is down meanwhile
the offline rules decide after all. Every idTagInfo the CSMS gives
(Authorize, StartTransaction and StopTransaction answers) refreshes the cache
when AuthorizationCacheEnabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pykka

from ocppstation.actors.base import Place, Supervised
from ocppstation.actors.context import RPC, STORAGE, StationContext
from ocppstation.actors.events import Online
from ocppstation.actors.rpc import Answer, Inbound, Outcome, ReadyQuery, submit
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.v16.authorization import Policy, Verdict, decide

STORAGE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Identify:
    """May `id_tag` charge? The answer goes to `reply_to` as `Identified`."""

    id_tag: str
    reply_to: pykka.ActorRef[Any]


@dataclass(frozen=True)
class Identified:
    id_tag: str
    accepted: bool
    info: dict[str, Any]  # the idTagInfo behind the decision (parentIdTag included)
    source: str  # list, cache, unknown or csms


@dataclass(frozen=True)
class Learned:
    """An idTagInfo the CSMS gave for `id_tag` (from any answer): cache it."""

    id_tag: str
    info: dict[str, Any]


@dataclass(frozen=True)
class _Asked:
    request: Identify
    outcome: Outcome


class Auth(Supervised):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.online = False
        self._unsubscribe = lambda: None

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward(
            self.actor_ref, lambda e: e if isinstance(e, Online) else None
        )
        try:
            self.online = bool(self.ctx.registry.ask(RPC, ReadyQuery(), timeout=2))
        except Exception:  # no rpc yet: Online tells us
            self.online = False

    def teardown(self) -> None:
        self._unsubscribe()

    def receive(self, message: Any) -> Any:
        match message:
            case Online():
                self.online = message.online
            case Identify():
                self._identify(message)
            case _Asked():
                self._asked(message)
            case Learned():
                self._learn(message.id_tag, message.info)
            case Inbound():
                self._inbound(message)
            case _:
                return super().receive(message)
        return None

    def _policy(self) -> Policy:
        s = self.ctx.setting
        return Policy(
            local_pre_authorize=bool(s("LocalPreAuthorize", False)),
            local_authorize_offline=bool(s("LocalAuthorizeOffline", True)),
            allow_offline_tx_for_unknown_id=bool(s("AllowOfflineTxForUnknownId", False)),
            cache_enabled=bool(s("AuthorizationCacheEnabled", True)),
            local_list_enabled=bool(s("LocalAuthListEnabled", True)),
        )

    def _identify(self, request: Identify, *, online: bool | None = None) -> None:
        storage = self._storage()
        policy = self._policy()
        listed = storage.local_list_get(request.id_tag).get(timeout=STORAGE_TIMEOUT)
        cached = storage.cache_get(request.id_tag).get(timeout=STORAGE_TIMEOUT)
        decision = decide(
            online=self.online if online is None else online,
            listed=listed,
            cached=cached,
            policy=policy,
            now=self._now(),
        )
        if decision.verdict is Verdict.ASK:
            submit(
                self.ctx,
                "Authorize",
                {"idTag": request.id_tag},
                reply_to=self.actor_ref,
                wrap=lambda outcome: _Asked(request, outcome),
            )
            return
        known = (listed if decision.source == "list" else cached) or {}
        info = {**known, "status": decision.status}
        self._reply(request, decision.verdict is Verdict.ACCEPT, info, decision.source)

    def _asked(self, message: _Asked) -> None:
        result = message.outcome.result
        if result is None:
            # No answer (link lost, timeout): decide as a station that is offline.
            self.log.info(
                "Authorize of %s failed (%s)", message.request.id_tag, message.outcome.error
            )
            self._identify(message.request, online=False)
            return
        info = dict(result["idTagInfo"])
        self._learn(message.request.id_tag, info)
        self._reply(message.request, info.get("status") == "Accepted", info, "csms")

    def _learn(self, id_tag: str, info: dict[str, Any]) -> None:
        if not bool(self.ctx.setting("AuthorizationCacheEnabled", True)):
            return
        self._storage().cache_put(id_tag, info).get(timeout=STORAGE_TIMEOUT)

    def _reply(self, request: Identify, accepted: bool, info: dict[str, Any], source: str) -> None:
        try:
            request.reply_to.tell(Identified(request.id_tag, accepted, info, source))
        except pykka.ActorDeadError:
            self.log.info("no one left to tell about %s", request.id_tag)

    def _inbound(self, message: Inbound) -> None:
        call = message.call
        if call.action != "ClearCache":
            result: dict[str, Any] | NotSupported = NotSupported(call.action)
        elif not bool(self.ctx.setting("AuthorizationCacheEnabled", True)):
            result = {"status": "Rejected"}
        else:
            self._storage().cache_clear().get(timeout=STORAGE_TIMEOUT)
            result = {"status": "Accepted"}
        self.ctx.registry.tell(RPC, Answer(call, result))

    def _storage(self) -> Any:
        return self.ctx.registry.require(STORAGE).proxy()

    def _now(self) -> datetime:
        return self.ctx.clock.wall()
