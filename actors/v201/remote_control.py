"""OCPP 2.0.1 F Remote control: RequestStartTransaction (F01, F02),
RequestStopTransaction (F03), UnlockConnector (F05).

As in 1.6 the block picks the EVSE and answers; the connector then runs the
transaction as if a driver had presented the idToken (authorizing first
when AuthorizeRemoteStart says so), with the remoteStartId in the
TransactionEvent that starts it.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call_result
from ocpp.v201.enums import RequestStartStopStatusEnumType, UnlockStatusEnumType

from ocppstation.actors.evse.connector import RemoteStart, StopTransaction, UnlockCable
from ocppstation.actors.link.block import Block, Reply
from ocppstation.actors.runtime.context import PROFILES, evse_path
from ocppstation.actors.v16.remote_control import pick_connector
from ocppstation.actors.v16.smart_charging import RemoteStartProfile
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import dump

ASK_TIMEOUT = 2.0
UNLOCK_TIMEOUT = 5.0


class RemoteControl(Block):
    def handle(self, call: Call) -> Reply:
        payload = call.payload
        match call.action:
            case "RequestStartTransaction":
                return dump(self._request_start(payload)), None
            case "RequestStopTransaction":
                return dump(self._request_stop(str(payload["transactionId"]))), None
            case "UnlockConnector":
                status = self._unlock(payload["evseId"], payload["connectorId"])
                return dump(call_result.UnlockConnector(status)), None
        raise NotSupported(call.action)

    def _states(self) -> dict[int, dict[str, Any]]:
        evses = [n for n in self.ctx.config.evse_numbers if n not in self.ctx.given_up]
        return self.ctx.snapshots(evses, ASK_TIMEOUT)

    def _request_start(self, payload: dict[str, Any]) -> call_result.RequestStartTransaction:
        token = payload["idToken"]
        wanted = payload.get("evseId")
        states = self._states()
        # A transaction the EV's connection started waits for a driver: a
        # remote start may authorize it (F02), so its EVSE counts as free.
        free = {
            n: {**s, "transaction_id": None} if s.get("awaiting_authorization") else s
            for n, s in states.items()
        }
        evse = pick_connector(token["idToken"], wanted, free)
        if evse is None:
            running = states.get(wanted, {}).get("transaction_id") if wanted else None
            # F01.FR.? / libocpp: a busy EVSE says which transaction it is busy with.
            return call_result.RequestStartTransaction(
                status=RequestStartStopStatusEnumType.rejected,
                transaction_id=str(running) if running else None,
            )
        if "chargingProfile" in payload and not self._profile_taken(
            evse, token["idToken"], payload["chargingProfile"]
        ):
            # K05: a profile the station cannot hold as the TxProfile refuses the start.
            return call_result.RequestStartTransaction(
                status=RequestStartStopStatusEnumType.rejected
            )
        self.ctx.registry.tell(
            evse_path(evse, "connector"),
            RemoteStart(token["idToken"], int(payload["remoteStartId"]), token["type"]),
        )
        # F02: the transaction a remote start authorizes is named in the answer.
        running = states.get(evse, {}).get("transaction_id")
        return call_result.RequestStartTransaction(
            status=RequestStartStopStatusEnumType.accepted,
            transaction_id=str(running) if running else None,
        )

    def _profile_taken(self, evse: int, id_tag: str, profile: dict[str, Any]) -> bool:
        """Whether the profiles block holds `profile` as the TxProfile of the
        transaction this start begins (F01.FR.08, F01.FR.09, K05)."""
        try:
            request = RemoteStartProfile(evse, id_tag, profile)
            refused = self.ctx.registry.ask(PROFILES, request, timeout=ASK_TIMEOUT)
        except Exception as exc:  # a limit nobody can enforce is no reason to start
            refused = f"the profiles block did not answer ({exc})"
        if refused:
            self.log.info("RequestStartTransaction with a chargingProfile refused: %s", refused)
        return not refused

    def _request_stop(self, transaction_id: str) -> call_result.RequestStopTransaction:
        for evse, state in self._states().items():
            if state["transaction_id"] == transaction_id:
                self.ctx.registry.tell(evse_path(evse, "connector"), StopTransaction("Remote"))
                return call_result.RequestStopTransaction(RequestStartStopStatusEnumType.accepted)
        return call_result.RequestStopTransaction(RequestStartStopStatusEnumType.rejected)

    def _unlock(self, evse: int, connector: int) -> UnlockStatusEnumType:
        if evse not in self.ctx.config.evse_numbers or connector != 1:
            return UnlockStatusEnumType.unknown_connector
        if evse in self.ctx.given_up:
            return UnlockStatusEnumType.unlock_failed
        state = self._states().get(evse)
        if (
            state is not None
            and state["transaction_id"] is not None
            and not state.get("awaiting_authorization")
        ):
            # F05.FR.02: an authorized transaction keeps its cable locked.
            return UnlockStatusEnumType.ongoing_authorized_transaction
        try:
            path = evse_path(evse, "connector")
            answer = str(self.ctx.registry.ask(path, UnlockCable(), timeout=UNLOCK_TIMEOUT))
        except Exception as exc:  # a connector that cannot be asked has not unlocked
            self.log.error("unlock of EVSE %s failed: %s", evse, exc)
            return UnlockStatusEnumType.unlock_failed
        # The connector answers in 1.6's words; a tethered cable has nothing to unlock.
        if answer == "Unlocked":
            return UnlockStatusEnumType.unlocked
        return UnlockStatusEnumType.unlock_failed
