"""OCPP 2.0.1 N09/N10 CustomerInformation: report and clear a customer's data.

Thin: the rules are `protocol.v201.customer_information`; this block reads
what storage holds of the customer's idToken (the authorization cache, the
local list, the transactions still stored) and, for a clear, deletes the
cache entry, as libocpp does. The local list is left alone: it is the
CSMS's own list, which it changes with SendLocalList; a stored
transaction is left too, since its messages may still wait in the outbox
and it is pruned once they are delivered.

The report is read and the cache entry deleted before the answer: an
Accepted answer says it is done, so the CSMS's next CALL (an Authorize
check, another report) already sees it gone. The NotifyCustomerInformation
pages are what the answer promises: they go out after it (a `Then`).
"""

from __future__ import annotations

from ocpp.v201 import call_result

from ocppstation.actors.link.block import Block, Reply
from ocppstation.actors.link.rpc import submit
from ocppstation.protocol.errors import NotSupported
from ocppstation.protocol.framing import Call
from ocppstation.protocol.payloads import action, dump
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v201 import customer_information as ci

CUSTOMER_INFORMATION = "customer_information"
STORAGE_TIMEOUT = 10.0


class CustomerInformation(Block):
    def handle(self, call: Call) -> Reply:
        if call.action != "CustomerInformation":
            raise NotSupported(call.action)
        request = ci.read(call.payload)
        status = ci.judge(request)
        answer = dump(call_result.CustomerInformation(status=status))
        if status is not ci.CustomerInformationStatusEnumType.accepted:
            self.log.info("CustomerInformation %d: %s", request.request_id, status.value)
            return answer, None
        text = ci.report(request, self._held(request)) if request.report else ""
        if request.clear:
            self._clear(request)
        notes = ci.pages(text, request.request_id, ocpp_timestamp(self.ctx.clock.wall()))

        def send() -> None:
            for note in notes:
                submit(self.ctx, action(note), dump(note))

        return answer, self.later(send)

    def _held(self, request: ci.Request) -> ci.Held:
        if request.id_token is None:
            return ci.Held()
        storage = self.ctx.storage()
        token = request.id_token
        records = storage.transactions.of_token(token).get(timeout=STORAGE_TIMEOUT)
        return ci.Held(
            cached=storage.auth_cache.get(token).get(timeout=STORAGE_TIMEOUT),
            listed=storage.local_list.get(token).get(timeout=STORAGE_TIMEOUT),
            transactions=tuple(
                ci.StoredTransaction(r.transaction_id, r.connector, r.started_at, r.stopped_at)
                for r in records
            ),
        )

    def _clear(self, request: ci.Request) -> None:
        if request.id_token is None:
            return  # nothing here is keyed by a certificate or a customerIdentifier
        gone = self.ctx.storage().auth_cache.delete(request.id_token).get(timeout=STORAGE_TIMEOUT)
        self.log.info(
            "CustomerInformation %d: cache entry of %s %s",
            request.request_id,
            request.id_token,
            "deleted" if gone else "absent",
        )
