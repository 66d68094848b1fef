"""OCPP 2.0.1 idTokenInfo rules that neither the 1.6 decisions nor the wire
shape say: where a token may be used.

An idTokenInfo's evseId (C01, C10) lists the EVSEs the token is accepted
for; on any other it must not start. libocpp reads it so, and so here: the
token is Invalid at an EVSE the list leaves out, whatever its status says,
while the cache and the list keep what the CSMS said (the token still
charges on the EVSEs it names).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EVSE_IDS = "evseId"  # the key, in the CSMS's idTokenInfo and in the 1.6-shaped info


def allowed_at(info: Mapping[str, Any], evse: int | None) -> bool:
    """Whether `info` lets the token be used at EVSE `evse` (None: not asked for one)."""
    evses = info.get(EVSE_IDS)
    return evse is None or not evses or evse in evses


def at_evse(info: Mapping[str, Any], evse: int | None) -> dict[str, Any]:
    """`info` as it stands at EVSE `evse`: Invalid where its evseId leaves the EVSE out."""
    out = dict(info)
    if out.get("status", "Invalid") == "Accepted" and not allowed_at(info, evse):
        out["status"] = "Invalid"
    return out
