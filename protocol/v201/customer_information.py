"""OCPP 2.0.1 N09/N10 CustomerInformation: the rules, sans I/O.

The CSMS names a customer by idToken, customerCertificate (its hash data)
or customerIdentifier and asks for a report of what the station holds
about them (`report`), for that data to go (`clear`), or both. What is
decided here:

- `judge`: libocpp's order. Neither report nor clear is Rejected (there is
  nothing to do); no customer named is Invalid, and that wins (there is no
  one to do it for), so a request naming no one is Invalid whatever its
  flags. Otherwise Accepted.
- `report`: the lines of text the station's data gives for the customer:
  the authorization cache entry, the local list entry and the transactions
  still stored with that token. A certificate or a customerIdentifier is
  named in the report, and nothing stored here is keyed by them (the
  station keeps no customer certificates in 2.0.1, no vendor identifiers).
- `pages`: NotifyCustomerInformation messages of at most `DATA_PAGE`
  characters each (the schema's string[512]), seqNo from 0, tbc on all but
  the last; an empty report is one message with empty data (N09.FR.04's
  "no data" is still an answer the CSMS waits for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ocpp.v201 import call
from ocpp.v201.enums import CustomerInformationStatusEnumType

DATA_PAGE = 512  # NotifyCustomerInformationRequest.data is string[512]


@dataclass(frozen=True)
class Request:
    """A CustomerInformationRequest, read from its validated payload."""

    request_id: int
    report: bool
    clear: bool
    id_token: str | None = None
    token_type: str | None = None
    certificate: Mapping[str, Any] | None = None  # CertificateHashDataType, camelCase
    identifier: str | None = None

    @property
    def names_someone(self) -> bool:
        return (
            self.id_token is not None or self.certificate is not None or self.identifier is not None
        )


@dataclass(frozen=True)
class StoredTransaction:
    """A transaction the station still stores for the customer's token."""

    transaction_id: str | int | None
    evse: int
    started_at: str
    stopped_at: str | None


@dataclass(frozen=True)
class Held:
    """What the station holds keyed by the customer's idToken (1.6-shaped idTagInfo)."""

    cached: Mapping[str, Any] | None = None
    listed: Mapping[str, Any] | None = None
    transactions: Sequence[StoredTransaction] = ()


def read(payload: Mapping[str, Any]) -> Request:
    token = payload.get("idToken")
    return Request(
        request_id=int(payload["requestId"]),
        report=bool(payload["report"]),
        clear=bool(payload["clear"]),
        id_token=str(token["idToken"]) if token else None,
        token_type=str(token["type"]) if token else None,
        certificate=payload.get("customerCertificate"),
        identifier=payload.get("customerIdentifier"),
    )


def judge(request: Request) -> CustomerInformationStatusEnumType:
    if not request.names_someone:
        return CustomerInformationStatusEnumType.invalid
    if not (request.report or request.clear):
        return CustomerInformationStatusEnumType.rejected
    return CustomerInformationStatusEnumType.accepted


def _info(info: Mapping[str, Any]) -> str:
    parts = [str(info.get("status", "Invalid"))]
    if info.get("expiryDate"):
        parts.append(f"until {info['expiryDate']}")
    if info.get("parentIdTag"):
        parts.append(f"group {info['parentIdTag']}")
    return ", ".join(parts)


def report(request: Request, held: Held) -> str:
    """The report's text, one line per item; empty when the station holds nothing."""
    lines: list[str] = []
    if request.id_token is not None:
        if held.cached is not None:
            lines.append(f"idToken {request.id_token}: authorization cache: {_info(held.cached)}")
        if held.listed is not None:
            lines.append(f"idToken {request.id_token}: local list: {_info(held.listed)}")
        for tx in held.transactions:
            end = f", ended {tx.stopped_at}" if tx.stopped_at else ", running"
            lines.append(
                f"idToken {request.id_token}: transaction {tx.transaction_id} on EVSE {tx.evse},"
                f" started {tx.started_at}{end}"
            )
    return "\n".join(lines)


def pages(
    text: str, request_id: int, generated_at: str, size: int = DATA_PAGE
) -> list[call.NotifyCustomerInformation]:
    """The report as NotifyCustomerInformation messages, in order."""
    chunks = [text[i : i + size] for i in range(0, len(text), size)] or [""]
    last = len(chunks) - 1
    return [
        call.NotifyCustomerInformation(
            data=chunk,
            seq_no=n,
            generated_at=generated_at,
            request_id=request_id,
            tbc=n < last,
        )
        for n, chunk in enumerate(chunks)
    ]
