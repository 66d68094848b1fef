"""OCPP 1.6 Core: RemoteStartTransaction (5.11), RemoteStopTransaction (5.12),
UnlockConnector (5.18).

The block picks the connector and says Accepted or Rejected; the connector
then runs the transaction as if a driver had presented the idTag (it
authorizes first when AuthorizeRemoteTxRequests says so). A remote start
that carries a chargingProfile is refused unless the smart charging block
takes it as the coming transaction's TxProfile.
"""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call_result
from ocpp.v16.enums import RemoteStartStopStatus, UnlockStatus

from ocppstation.actors.evse.connector import RemoteStart, StopTransaction, UnlockCable
from ocppstation.actors.link.block import Block, Reply
from ocppstation.actors.runtime.context import PROFILES, evse_path
from ocppstation.actors.v16.smart_charging import RemoteStartProfile
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v16.reservation import same_tag

# How long the block waits for connectors (all together) and the profiles actor.
ASK_TIMEOUT = 2.0
UNLOCK_TIMEOUT = 5.0


def may_claim(id_tag: str, reserved_for: list[list[str | None]]) -> bool:
    """Whether a remote start for `id_tag` may go to a connector held for
    `reserved_for` ([idTag, parentIdTag] pairs; empty: not reserved). A
    reservation made with a parentIdTag may let the idTag in: the connector
    asks the auth actor, which knows or learns the idTag's group."""
    if not reserved_for:
        return True
    return any(same_tag(id_tag, str(tag)) or parent is not None for tag, parent in reserved_for)


def pick_connector(
    id_tag: str, wanted: int | None, states: dict[int, dict[str, Any]]
) -> int | None:
    """The connector a remote start for `id_tag` goes to, or None (Rejected).

    Only a free, operative connector qualifies (Available, Preparing, or
    Reserved for this driver). With none named, one with a cable already in
    is where the driver is, and one reserved for this driver is theirs.
    """
    free = {
        n: s
        for n, s in states.items()
        if s["transaction_id"] is None
        and s["operative"]
        and s["status"] in ("Available", "Preparing", "Reserved")
        and may_claim(id_tag, s.get("reserved_for", []))
    }
    if wanted is not None:
        return wanted if wanted in free else None
    waiting = [n for n, s in free.items() if s["status"] == "Preparing"]
    reserved = [n for n, s in free.items() if s["status"] == "Reserved"]
    candidates = waiting or reserved or sorted(free)
    return candidates[0] if candidates else None


class RemoteControl(Block):
    def handle(self, call: Call) -> Reply:
        payload = call.payload
        match call.action:
            case "RemoteStartTransaction":
                start = call_result.RemoteStartTransaction(self._remote_start(payload))
                return dump(start), None
            case "RemoteStopTransaction":
                stop = call_result.RemoteStopTransaction(
                    self._remote_stop(payload["transactionId"])
                )
                return dump(stop), None
            case "UnlockConnector":
                unlock = call_result.UnlockConnector(self._unlock(payload["connectorId"]))
                return dump(unlock), None
        raise NotSupported(call.action)

    def _states(self) -> dict[int, dict[str, Any]]:
        """Every live connector's state, asked in parallel."""
        evses = [n for n in self.ctx.config.evse_numbers if n not in self.ctx.given_up]
        return self.ctx.snapshots(evses, ASK_TIMEOUT)

    def _remote_start(self, payload: dict[str, Any]) -> RemoteStartStopStatus:
        evse = pick_connector(payload["idTag"], payload.get("connectorId"), self._states())
        if evse is None:
            return RemoteStartStopStatus.rejected
        if "chargingProfile" in payload and not self._remote_profile(evse, payload):
            return RemoteStartStopStatus.rejected
        self.ctx.registry.tell(evse_path(evse, "connector"), RemoteStart(payload["idTag"]))
        return RemoteStartStopStatus.accepted

    def _remote_profile(self, evse: int, payload: dict[str, Any]) -> bool:
        """Whether the request's chargingProfile is taken as the coming
        transaction's TxProfile (the profiles actor keeps it until then)."""
        request = RemoteStartProfile(evse, payload["idTag"], payload["chargingProfile"])
        try:
            refused = self.ctx.registry.ask(PROFILES, request, timeout=ASK_TIMEOUT)
        except Exception as exc:  # a limit nobody can enforce is no reason to start
            refused = f"the profiles actor did not answer ({exc})"
        if refused:
            self.log.info("RemoteStartTransaction with a profile refused: %s", refused)
        return not refused

    def _remote_stop(self, transaction_id: int) -> RemoteStartStopStatus:
        for evse, state in self._states().items():
            if state["transaction_id"] == transaction_id:
                self.ctx.registry.tell(evse_path(evse, "connector"), StopTransaction("Remote"))
                return RemoteStartStopStatus.accepted
        return RemoteStartStopStatus.rejected

    def _unlock(self, connector: int) -> UnlockStatus:
        if connector not in self.ctx.config.evse_numbers or connector in self.ctx.given_up:
            return UnlockStatus.not_supported
        try:
            path = evse_path(connector, "connector")
            return UnlockStatus(self.ctx.registry.ask(path, UnlockCable(), timeout=UNLOCK_TIMEOUT))
        except Exception as exc:  # a connector that cannot be asked has not unlocked
            self.log.error("unlock of %s failed: %s", connector, exc)
            return UnlockStatus.unlock_failed
