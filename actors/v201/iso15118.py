"""OCPP 2.0.1 M ISO 15118 certificate management and C Authorize of a contract.

The 1.6 Plug & Charge block (actors/v16/plug_and_charge.py) sends the 2.0.1
payloads inside DataTransfer; in 2.0.1 they are the messages themselves.
This block is that actor with the transport swapped (`_send`, `_answer`),
so the decisions stay in one place (`protocol.v16.plug_and_charge`):

- Authorize of an EV's contract (`Station.plug(n, contract=...)`): idToken
  type eMAID, the chain when CentralContractValidationAllowed and
  iso15118CertificateHashData; idTokenInfo and certificateStatus decide,
  and the transaction's idToken is the eMAID with type eMAID.
- Get15118EVCertificate (the EV's EXI request relayed, action Install or
  Update; the exiResponse back to the ISO 15118 stack) and
  GetCertificateStatus (cached in storage's ocsp, renewed before it turns
  stale), from `Station.iso15118`.
- SignCertificate with certificateType V2GCertificate: TriggerMessage
  SignV2GCertificate tells this block `V2GSignRound` after its answer;
  retried CertSigningWaitMinimum, doubling, CertSigningRepeatTimes times
  until the security block (which answers CertificateSigned and keeps the
  V2G key) tells `V2GTaken`; and again, unasked, when the V2G certificate
  ends within 30 days (checked every 12 hours, as libocpp does).

Decisions:

- The switches are the 1.6 keys in their legacy place
  (ISO15118PnCEnabled, CentralContractValidationAllowed,
  ContractValidationOffline, OcspRequestInterval, the Secc* subject): 2.0.1's
  ISO15118Ctrlr is not in the device model yet.
- The V2G signing round needs ISO15118PnCEnabled only: 2.0.1 has no
  separate certificate management switch.
- No DataTransfer handlers are registered: 2.0.1's CSMS sends the
  certificate messages directly (routed to the security block).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocppstation.actors.link.rpc import Outcome, submit
from ocppstation.actors.v16.plug_and_charge import PlugAndCharge, _pnc_enabled
from ocppstation.protocol.v16 import plug_and_charge as pnc

__all__ = ["Iso15118"]


class Iso15118(PlugAndCharge):
    def setup(self) -> None:
        self._arm_timers()

    def _send(
        self,
        message_id: str,
        payload: dict[str, Any],
        wrap: Callable[[Outcome], object] | None = None,
    ) -> None:
        pnc.write_request(message_id, payload)  # the same check as in 1.6
        if wrap is None:
            submit(self.ctx, message_id, payload)
        else:
            submit(self.ctx, message_id, payload, reply_to=self.actor_ref, wrap=wrap)

    def _answer(self, message_id: str, result: dict[str, Any]) -> dict[str, Any]:
        return pnc.read_answer(message_id, pnc.dumps(result))

    def _signing_enabled(self) -> bool:
        return _pnc_enabled(self.ctx)
