"""OCPP 2.0.1 C Authorization: Authorize (C01), the authorization cache
(C10-C12, AuthCacheCtrlr), offline rules (C13-C16) and ClearCache (C11);
D Local authorization list: SendLocalList (D01), GetLocalListVersion (D02),
LocalAuthListCtrlr.

The decisions are 1.6's block's (local list, cache, LocalPreAuthorize,
LocalAuthorizeOffline, OfflineTxForUnknownIdEnabled), made on an idTagInfo;
2.0.1's idTokenInfo is read into that shape here: cacheExpiryDateTime is
the expiry and the groupIdToken the parent.

The local list is 1.6's too: the same store (it survives a restart), the
same rules (`protocol.v16.local_list`, in its 2.0.1 dialect). An
AuthorizationData entry is read as 1.6's (`list_entry`), so the list holds
what the decisions read. Decisions worth knowing:

- The list is keyed by idToken.idToken alone, case-insensitively (IdToken
  is case-insensitive in 2.0.1 as in 1.6), where libocpp keys by value and
  type. The station's readers give a card's value and nothing of its type,
  and the stored list is 1.6's, keyed by that value: so the type is not
  kept, and two entries of one value with different types are the same
  token here, a list with both refused as holding a duplicate (D01.FR.06).
- LocalAuthListCtrlr.DisablePostAuthorize true: a token the list holds as
  anything but Accepted is refused online under LocalPreAuthorize, instead
  of being asked about with an Authorize (C14.FR.03). libocpp declares the
  variable without honouring it; the spec gives it that meaning.
- idTokenInfo.evseId: a token accepted for other EVSEs only is Invalid at
  this one (libocpp), from an Authorize, the cache or the list alike; the
  cache and the list keep the CSMS's evseId (`protocol.v201.authorization`).
- Limits: ItemsPerMessage and BytesPerMessage of LocalAuthListCtrlr bound
  one SendLocalList, 1.6's LocalAuthListMaxLength (Entries' maxLimit) the
  whole list; an update beyond them is Failed and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ocpp.v201 import call_result
from ocpp.v201.enums import SendLocalListStatusEnumType

from ocppstation.actors.messages import Identify
from ocppstation.actors.v16.authorization import STORAGE_TIMEOUT, Auth
from ocppstation.config.device_model import Address
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v16 import local_list
from ocppstation.protocol.v16.authorization import Decision, Policy, Verdict, effective_status
from ocppstation.protocol.v201.authorization import EVSE_IDS, at_evse
from ocppstation.protocol.v201.evse_messages import id_token

LIST_CTRLR = "LocalAuthListCtrlr"
BYTES_PER_MESSAGE = Address(LIST_CTRLR, "BytesPerMessage")
DISABLE_POST_AUTHORIZE = Address(LIST_CTRLR, "DisablePostAuthorize")
CACHE_LIFETIME = Address("AuthCacheCtrlr", "LifeTime")


def tag_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """An idTokenInfo as the idTagInfo the decisions read."""
    out: dict[str, Any] = {"status": info.get("status", "Invalid")}
    if "cacheExpiryDateTime" in info:
        out["expiryDate"] = info["cacheExpiryDateTime"]
    group = info.get("groupIdToken")
    if group:
        out["parentIdTag"] = group["idToken"]
    if info.get(EVSE_IDS):
        # Kept in the cache and the list: where the token may be used (at_evse).
        out[EVSE_IDS] = [int(n) for n in info[EVSE_IDS]]
    return out


def list_entry(data: Mapping[str, Any]) -> dict[str, Any]:
    """A SendLocalList AuthorizationData as 1.6's local list entry (idTag, idTagInfo).

    Without idTokenInfo it stays without idTagInfo: in a Differential
    update that removes the token (D01.FR.17), in a Full one it fails.
    """
    out: dict[str, Any] = {"idTag": str(data["idToken"]["idToken"])}
    if "idTokenInfo" in data:
        out["idTagInfo"] = tag_info(data["idTokenInfo"])
    return out


class Authorization(Auth):
    LIST_DIALECT = local_list.V201

    def authorize_payload(self, request: Identify) -> dict[str, Any]:
        return {"idToken": dump(id_token(request.id_tag, request.token_type, request.additional))}

    def tag_info(self, result: dict[str, Any]) -> dict[str, Any]:
        return tag_info(result["idTokenInfo"])

    def as_tag_info(self, info: dict[str, Any]) -> dict[str, Any]:
        return tag_info(info)

    def at_evse(self, request: Identify, info: dict[str, Any]) -> dict[str, Any]:
        return at_evse(info, request.evse)

    def outlived(self, id_tag: str) -> bool:
        # C10.FR.08: an entry not used for LifeTime seconds is removed.
        lifetime = self.ctx.settings.view.at(CACHE_LIFETIME)
        if not isinstance(lifetime, int):
            return False
        cache = self.ctx.storage().auth_cache
        used = cache.last_used(id_tag).get(timeout=STORAGE_TIMEOUT)
        if used is None or self._now().timestamp() - used <= lifetime:
            return False
        self.log.info("cache entry of %s unused for over %d s: removed", id_tag, lifetime)
        cache.delete(id_tag).get(timeout=STORAGE_TIMEOUT)
        return True

    def held_back(
        self, decision: Decision, listed: dict[str, Any] | None, policy: Policy, *, online: bool
    ) -> Decision | None:
        if not (online and policy.local_pre_authorize and policy.local_list_enabled):
            return None
        if listed is None or self.ctx.settings.view.at(DISABLE_POST_AUTHORIZE) is not True:
            return None
        status = effective_status(listed, self._now())
        if status == "Accepted":
            return None
        self.log.info("listed as %s; DisablePostAuthorize: not asking the CSMS", status)
        return Decision(Verdict.REJECT, status, "list")

    def list_update(self, payload: dict[str, Any]) -> tuple[str, int, list[dict[str, Any]]]:
        entries = [list_entry(e) for e in payload.get("localAuthorizationList") or []]
        return str(payload["updateType"]), int(payload["versionNumber"]), entries

    def list_limits(self) -> local_list.Limits:
        most_bytes = self.ctx.settings.view.at(BYTES_PER_MESSAGE)
        return local_list.Limits(
            max_length=int(self.ctx.setting(Setting.LOCAL_LIST_MAX_ENTRIES, 0)),
            send_max_length=int(self.ctx.setting(Setting.LOCAL_LIST_ITEMS_PER_MESSAGE, 0)),
            send_max_bytes=most_bytes if isinstance(most_bytes, int) else 0,
        )

    def list_answer(self, status: str) -> dict[str, Any]:
        return dump(call_result.SendLocalList(SendLocalListStatusEnumType(status)))

    def list_version_answer(self, version: int) -> dict[str, Any]:
        return dump(call_result.GetLocalListVersion(version_number=version))
