"""The auth actor: who may start or stop a transaction, online or not.

A connector tells it `Identify`; the answer comes back as `Identified`. The
decision follows `protocol.v16.authorization.decide` over the Local
Authorization List and the Authorization Cache (both in storage); when that
says ask, an Authorize goes to the CSMS, and if the link is down meanwhile
the offline rules decide after all. Every idTagInfo the CSMS gives
(Authorize, StartTransaction and StopTransaction answers) refreshes the cache
when AuthorizationCacheEnabled.

A connector that is reserved sends the reservations it holds with
`Identify`: an idTag that is neither the reserved one nor of its group
(parentIdTag) is refused here, before any Authorize, unless only the CSMS
can tell its group (`protocol.v16.reservation.gate`).

It also answers SendLocalList and GetLocalListVersion by the rules of
`protocol.v16.local_list`; the list lives in storage and is used only while
LocalAuthListEnabled (a station without the Local Auth List Management
profile does not have that key, and has no list). Each update taken is
published as `LocalListChanged`. The 2.0.1 block answers them by the same
rules in its own words (the `list_*` methods, `LIST_DIALECT`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import pykka
from ocpp.v16 import call_result
from ocpp.v16.enums import ClearCacheStatus, UpdateStatus

from ocppstation.actors.events import LocalListChanged, Online
from ocppstation.actors.link.rpc import Answer, Inbound, Outcome, link_ready, submit
from ocppstation.actors.messages import Identified, Identify, Learned
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import RPC, StationContext
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v16 import local_list
from ocppstation.protocol.v16.authorization import Decision, Policy, Verdict, decide
from ocppstation.protocol.v16.reservation import Gate, gate

STORAGE_TIMEOUT = 10.0


@dataclass(frozen=True)
class _Asked:
    request: Identify
    outcome: Outcome


class Auth(Supervised):
    LIST_DIALECT: ClassVar[local_list.Dialect] = local_list.V16

    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.online = False
        self._unsubscribe = lambda: None

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward_kinds(self.actor_ref, Online)
        self.online = link_ready(self.ctx)

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
                self._learn(message.id_tag, self.as_tag_info(message.info))
            case Inbound():
                self._inbound(message)
            case _:
                return super().receive(message)
        return None

    def _policy(self) -> Policy:
        s = self.ctx.setting
        return Policy(
            local_pre_authorize=bool(s(Setting.LOCAL_PRE_AUTHORIZE, False)),
            local_authorize_offline=bool(s(Setting.LOCAL_AUTHORIZE_OFFLINE, True)),
            allow_offline_tx_for_unknown_id=bool(s(Setting.OFFLINE_TX_FOR_UNKNOWN_ID, False)),
            cache_enabled=bool(s(Setting.AUTH_CACHE_ENABLED, True)),
            local_list_enabled=self._list_enabled(),
        )

    def _list_enabled(self) -> bool:
        # Absent (False) when the profile is not supported: no list is used then.
        return bool(self.ctx.setting(Setting.LOCAL_LIST_ENABLED, False))

    def _identify(self, request: Identify, *, online: bool | None = None) -> None:
        storage = self.ctx.storage()
        policy = self._policy()
        listed = storage.local_list.get(request.id_tag).get(timeout=STORAGE_TIMEOUT)
        cached = storage.auth_cache.get(request.id_tag).get(timeout=STORAGE_TIMEOUT)
        if cached is not None and self.outlived(request.id_tag):
            cached = None
        online = self.online if online is None else online
        # What the station knows of the idTag, in the order decide() trusts it.
        if policy.local_list_enabled and listed is not None:
            known = listed
        elif policy.cache_enabled:
            known = cached
        else:
            known = None
        passage = gate(request.id_tag, known, request.reserved)
        if passage is Gate.REFUSE or (passage is Gate.ASK and not online):
            self._refuse_reserved(request, known, online=online)
            return
        if passage is Gate.ASK:
            # Only the CSMS can say whether this idTag is of the reserved group.
            self._authorize(request)
            return
        decision = decide(
            online=online,
            listed=listed,
            cached=cached,
            policy=policy,
            now=self._now(),
        )
        if decision.verdict is Verdict.ASK:
            refused = self.held_back(decision, listed, policy, online=online)
            if refused is None:
                self._authorize(request)
                return
            decision = refused
        behind = (listed if decision.source == "list" else cached) or {}
        info = {**behind, "status": decision.status}
        if decision.source == "cache" and decision.verdict is Verdict.ACCEPT:
            storage.auth_cache.touch(request.id_tag, self._now().timestamp())
        self._reply(
            request, decision.verdict is Verdict.ACCEPT, info, decision.source, online=online
        )

    def _authorize(self, request: Identify) -> None:
        submit(
            self.ctx,
            "Authorize",
            self.authorize_payload(request),
            reply_to=self.actor_ref,
            wrap=lambda outcome: _Asked(request, outcome),
        )

    # 1.6's words; 2.0.1's block overrides these three. Decisions work on
    # 1.6's idTagInfo (status, expiryDate, parentIdTag) in either version.

    def authorize_payload(self, request: Identify) -> dict[str, Any]:
        return {"idTag": request.id_tag}

    def tag_info(self, result: dict[str, Any]) -> dict[str, Any]:
        """The idTagInfo in the CSMS's answer to Authorize."""
        return dict(result["idTagInfo"])

    def as_tag_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """What the CSMS said of a token in a transaction message's answer, as an idTagInfo."""
        return info

    def at_evse(self, request: Identify, info: dict[str, Any]) -> dict[str, Any]:
        """What `info` says at the EVSE that asked; 1.6's idTagInfo holds everywhere,
        2.0.1's evseId may leave the EVSE out."""
        return info

    def outlived(self, id_tag: str) -> bool:
        """Whether ``id_tag``'s cache entry has outlived its use and is dropped
        (2.0.1's AuthCacheCtrlr.LifeTime); 1.6 keeps entries until they expire."""
        return False

    def held_back(
        self, decision: Decision, listed: dict[str, Any] | None, policy: Policy, *, online: bool
    ) -> Decision | None:
        """A refusal instead of the Authorize `decision` asks for, or None to ask.

        1.6 always asks; 2.0.1's DisablePostAuthorize may say not to.
        """
        return None

    # The Local Authorization List in the version's words: SendLocalList's
    # request as (updateType, version, entries in 1.6's shape), the limits,
    # and the two answers.

    def list_update(self, payload: dict[str, Any]) -> tuple[str, int, list[dict[str, Any]]]:
        entries = list(payload.get("localAuthorizationList") or [])
        return str(payload["updateType"]), int(payload["listVersion"]), entries

    def list_limits(self) -> local_list.Limits:
        return local_list.Limits(
            max_length=int(self.ctx.setting(Setting.LOCAL_LIST_MAX_ENTRIES, 0)),
            send_max_length=int(self.ctx.setting(Setting.LOCAL_LIST_ITEMS_PER_MESSAGE, 0)),
        )

    def list_answer(self, status: str) -> dict[str, Any]:
        return dump(call_result.SendLocalList(UpdateStatus(status)))

    def list_version_answer(self, version: int) -> dict[str, Any]:
        return dump(call_result.GetLocalListVersion(version))

    def _refuse_reserved(
        self, request: Identify, known: dict[str, Any] | None, *, online: bool = True
    ) -> None:
        self.log.info("tag %s may not use a connector reserved for another", request.id_tag)
        info = {**(known or {}), "status": (known or {}).get("status", "Invalid")}
        self._reply(request, False, info, "reservation", online=online)

    def _asked(self, message: _Asked) -> None:
        result = message.outcome.result
        if result is None:
            # No answer (link lost, timeout): decide as a station that is offline.
            self.log.info(
                "Authorize of %s failed (%s)", message.request.id_tag, message.outcome.error
            )
            self._identify(message.request, online=False)
            return
        info = self.tag_info(result)
        self._learn(message.request.id_tag, info)
        request = message.request
        if gate(request.id_tag, info, request.reserved) is not Gate.PASS:
            self._refuse_reserved(request, info)
            return
        self._reply(request, info.get("status") == "Accepted", info, "csms")

    def _learn(self, id_tag: str, info: dict[str, Any]) -> None:
        if not bool(self.ctx.setting(Setting.AUTH_CACHE_ENABLED, True)):
            return
        used = self._now().timestamp()
        self.ctx.storage().auth_cache.put(id_tag, info, used).get(timeout=STORAGE_TIMEOUT)

    def _reply(
        self,
        request: Identify,
        accepted: bool,
        info: dict[str, Any],
        source: str,
        *,
        online: bool = True,
    ) -> None:
        here = self.at_evse(request, info)
        if accepted and here.get("status") != "Accepted":
            self.log.info("tag %s is not for EVSE %s", request.id_tag, request.evse)
            accepted, info = False, here
        try:
            request.reply_to.tell(
                Identified(request.id_tag, accepted, info, source, online, request.token_type)
            )
        except pykka.ActorDeadError:
            self.log.info("no one left to tell about %s", request.id_tag)

    def _inbound(self, message: Inbound) -> None:
        call = message.call
        result: dict[str, Any] | NotSupported
        if call.action == "SendLocalList":
            result = self.list_answer(self._send_local_list(call.payload))
        elif call.action == "GetLocalListVersion":
            result = self.list_version_answer(self._list_version())
        elif call.action != "ClearCache":
            result = NotSupported(call.action)
        elif not bool(self.ctx.setting(Setting.AUTH_CACHE_ENABLED, True)):
            result = dump(call_result.ClearCache(ClearCacheStatus.rejected))
        else:
            self.ctx.storage().auth_cache.clear().get(timeout=STORAGE_TIMEOUT)
            result = dump(call_result.ClearCache(ClearCacheStatus.accepted))
        self.ctx.registry.tell(RPC, Answer(call, result))

    def _list_version(self) -> int:
        storage = self.ctx.storage()
        return local_list.reported_version(
            enabled=self._list_enabled(),
            stored_version=storage.local_list.version().get(timeout=STORAGE_TIMEOUT),
            size=storage.local_list.size().get(timeout=STORAGE_TIMEOUT),
            dialect=self.LIST_DIALECT,
        )

    def _send_local_list(self, payload: dict[str, Any]) -> str:
        storage = self.ctx.storage()
        update_type, version, entries = self.list_update(payload)
        limits = self.list_limits()
        # Only 2.0.1 limits the bytes; the request as the CSMS sent it, compact.
        size_bytes = (
            len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
            if limits.send_max_bytes
            else 0
        )
        present: set[str] = set()
        if update_type == local_list.DIFFERENTIAL and self._list_enabled():
            tags = [str(e["idTag"]) for e in entries]
            present = storage.local_list.known(tags).get(timeout=STORAGE_TIMEOUT)
        judgement = local_list.judge_update(
            enabled=self._list_enabled(),
            update_type=update_type,
            version=version,
            entries=entries,
            current_version=self._list_version(),
            current_size=storage.local_list.size().get(timeout=STORAGE_TIMEOUT),
            present=present,
            limits=limits,
            dialect=self.LIST_DIALECT,
            size_bytes=size_bytes,
        )
        if judgement.status != local_list.ACCEPTED:
            self.log.info("SendLocalList %s v%d: %s", update_type, version, judgement.reason)
            return judgement.status
        store = (
            storage.local_list.replace
            if update_type == local_list.FULL
            else storage.local_list.update
        )
        try:
            store(version, entries).get(timeout=STORAGE_TIMEOUT)
        except Exception as exc:  # a failed write leaves the old list whole
            self.log.error("SendLocalList %s v%d not stored: %s", update_type, version, exc)
            return local_list.FAILED
        self.log.info("local list %s update to version %d", update_type, version)
        try:
            size = int(storage.local_list.size().get(timeout=STORAGE_TIMEOUT))
        except Exception as exc:  # stored all the same: only the event goes without
            self.log.warning("local list size not read after the update: %s", exc)
        else:
            self.ctx.bus.publish(LocalListChanged(version, size))
        return local_list.ACCEPTED

    def _now(self) -> datetime:
        return self.ctx.clock.wall()
