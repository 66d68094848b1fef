"""OCPP 2.0.1 C Authorization: Authorize (C01), the authorization cache
(C10-C12, AuthCacheCtrlr), offline rules (C13-C16) and ClearCache (C11).

The decisions are 1.6's block's (local list, cache, LocalPreAuthorize,
LocalAuthorizeOffline, OfflineTxForUnknownIdEnabled), made on an idTagInfo;
2.0.1's idTokenInfo is read into that shape here: cacheExpiryDateTime is
the expiry and the groupIdToken the parent.
"""

from __future__ import annotations

from typing import Any

from ocppstation.actors.v16.authorization import Auth
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v201.evse_messages import id_token


def tag_info(info: dict[str, Any]) -> dict[str, Any]:
    """An idTokenInfo as the idTagInfo the decisions read."""
    out: dict[str, Any] = {"status": info.get("status", "Invalid")}
    if "cacheExpiryDateTime" in info:
        out["expiryDate"] = info["cacheExpiryDateTime"]
    group = info.get("groupIdToken")
    if group:
        out["parentIdTag"] = group["idToken"]
    return out


class Authorization(Auth):
    def authorize_payload(self, id_tag: str) -> dict[str, Any]:
        return {"idToken": dump(id_token(id_tag))}

    def tag_info(self, result: dict[str, Any]) -> dict[str, Any]:
        return tag_info(result["idTokenInfo"])

    def as_tag_info(self, info: dict[str, Any]) -> dict[str, Any]:
        return tag_info(info)
