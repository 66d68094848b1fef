"""ISO 15118 Plug & Charge (OCA application note) over OCPP 1.6 DataTransfer.

Vendor `org.openchargealliance.iso15118pnc`; each message's `data` is the
JSON of the 2.0.1 message its messageId names, checked both ways against
the 2.0.1 schema (pure, `protocol.v16.plug_and_charge`).

From the CSMS: TriggerMessage (SignV2GCertificate), CertificateSigned,
InstallCertificate, DeleteCertificate, GetInstalledCertificateIds. Their
handlers are registered with the station's DataTransfer handlers, as the
California Pricing block's are; a valid request is applied by this block,
which keeps the certificates through the security actor (one store for
1.6's roots, 2.0.1's and these, and the V2G signing request's key).

From the station: SignCertificate (a CSR for the SECC's V2GCertificate,
subject from the Secc* keys with libocpp's fallbacks, sent again after
CertSigningWaitMinimum, doubling, CertSigningRepeatTimes times while no
CertificateSigned came) and Authorize of an ISO 15118 EV's contract
(`ContractPresented`, from `Station.plug(n, contract=...)`, where a real
station's ISO 15118 stack would hand it over): the CSMS's idTokenInfo and
certificateStatus decide, and an accepted eMAID is the transaction's idTag.
For that stack it also relays Get15118EVCertificate and GetCertificateStatus
(`Iso15118Relay`, from `Station.iso15118`), keeping an OCSP answer for
OcspRequestInterval in storage's `ocsp` (migration 0014) and asking for it
again before it turns stale (`pnc.ocsp_refresh`).

The 2.0.1 block (actors/v201/iso15118.py) is this actor with another
transport: `_send` and `_answer` carry the same 2.0.1 payloads as direct
calls instead of DataTransfer.

Decisions:

- Not enabled: while ISO15118PnCEnabled is false every message of the vendor
  is answered UnknownVendorId and a contract is not authorized (the driver
  uses a card). The CSMS's certificate messages also need
  ISO15118CertificateManagementEnabled, as in libocpp.
- A request that is not the 2.0.1 message it names is DataTransfer Rejected
  with the reason as data; a request the block cannot apply now (it is
  restarting) is Rejected too.
- The SignCertificate a trigger promises leaves after the trigger's answer:
  the handler's `Reply.after` starts the signing round once the answer is
  on its way (actors/hooks/data_transfer.py), as a TriggerMessage's
  follow-up does.
- Offline (or no answer), a contract is accepted when ContractValidationOffline
  is true and its chain ends at an installed MORootCertificate, valid now.
- A CertificateSigned refused is the security event InvalidChargePointCertificate
  (libocpp's).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from ocpp.v201 import call
from ocpp.v201.enums import CertificateSigningUseEnumType

from ocppstation.actors.hooks.data_transfer import After, Handler, Reply
from ocppstation.actors.link.rpc import Outcome, submit
from ocppstation.actors.messages import ContractPresented, Identified, Iso15118Relay
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import PNC, SECURITY, StationContext, evse_path
from ocppstation.actors.security_events import report_event
from ocppstation.actors.storage.certificates import OcspAnswer
from ocppstation.actors.v16.security import (
    V2G_CERTIFICATE,
    DeleteRoot,
    InstalledRoots,
    InstallRoot,
    V2GSigned,
    V2GSigningRequest,
)
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.payloads import dump
from ocppstation.protocol.v16 import plug_and_charge as pnc
from ocppstation.protocol.v16.certificates import (
    CertificateProblem,
    CertificateUse,
    HashData,
    chain_problem,
    parse_chain,
)

__all__ = ["FromCsms", "PlugAndCharge", "V2GSignRound", "V2GTaken", "handlers"]

APPLY_TIMEOUT = 5.0
SECURITY_TIMEOUT = 5.0
STORAGE_TIMEOUT = 5.0


@dataclass(frozen=True)
class FromCsms:
    """Ask, from a handler: apply this valid request; answers (status, 2.0.1
    answer or text, what to do once the answer is sent or None)."""

    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class V2GSignRound:
    """Tell: start a signing round for the V2GCertificate now (2.0.1's
    TriggerMessage SignV2GCertificate, once its answer is on its way)."""


@dataclass(frozen=True)
class V2GTaken:
    """Tell: a CertificateSigned for the V2GCertificate was taken: no more retries."""


@dataclass(frozen=True)
class _Sign:
    attempt: int
    seq: int


@dataclass(frozen=True)
class _Relayed:
    message_id: str
    cache_key: str | None
    future: Future[dict[str, Any]]
    outcome: Outcome


@dataclass(frozen=True)
class _RefreshOcsp:
    pass


@dataclass(frozen=True)
class _CheckV2GExpiry:
    pass


@dataclass(frozen=True)
class _Authorized:
    evse: int
    contract: pnc.Contract
    outcome: Outcome


def _renewal(request: str) -> Callable[[Outcome], object]:
    """The wrap of a renewal's answer: for the cache, nobody waits for it."""

    def wrap(outcome: Outcome) -> object:
        return _Relayed("GetCertificateStatus", request, Future(), outcome)

    return wrap


def _key(ctx: StationContext, name: str, default: Any) -> Any:
    return ctx.settings.view.v16(name, default)


def _pnc_enabled(ctx: StationContext) -> bool:
    return bool(_key(ctx, "ISO15118PnCEnabled", False))


def _management_enabled(ctx: StationContext) -> bool:
    return _pnc_enabled(ctx) and bool(_key(ctx, "ISO15118CertificateManagementEnabled", False))


def handlers(ctx: StationContext) -> dict[str | None, Handler]:
    """The iso15118pnc DataTransfer handlers, by messageId (None: any other)."""

    def other(_: str | None) -> tuple[str, str | None]:
        return ("UnknownMessageId" if _management_enabled(ctx) else "UnknownVendorId"), None

    def message(message_id: str) -> Handler:
        def handle(data: str | None) -> Reply:
            if not _management_enabled(ctx):
                return Reply("UnknownVendorId")
            try:
                payload = pnc.read_request(message_id, data)
            except pnc.PncError as exc:
                return Reply("Rejected", str(exc)[:500])
            try:
                status, reply, after = ctx.registry.ask(
                    PNC, FromCsms(message_id, payload), timeout=APPLY_TIMEOUT
                )
            except Exception:  # restarting: not taken, so not Accepted
                return Reply("Rejected", "the station could not apply it now")
            if isinstance(reply, dict):
                return Reply(str(status), pnc.write_answer(message_id, reply), after)
            return Reply(str(status), reply, after)

        return handle

    return {None: other, **{m: message(m) for m in pnc.FROM_CSMS}}


class PlugAndCharge(Supervised):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        # Bumped by each new signing round and by a CertificateSigned taken,
        # so a retry timer of an earlier round does nothing.
        self.sign_seq = 0
        self.sign_timer: int | None = None
        # GetCertificateStatus answers are in storage's ocsp, by ocspRequestData;
        # this timer asks for them again before they turn stale.
        self.ocsp_timer: int | None = None
        self.expiry_timer: int | None = None

    def setup(self) -> None:
        for message_id, handler in handlers(self.ctx).items():
            self.ctx.data_transfer.register(pnc.VENDOR_ID, message_id, handler)
        self._arm_timers()

    def teardown(self) -> None:
        self.ctx.cancel(self.sign_timer)
        self.ctx.cancel(self.ocsp_timer)
        self.ctx.cancel(self.expiry_timer)

    def _arm_timers(self) -> None:
        self._arm_ocsp_refresh()
        self.expiry_timer = self.ctx.call_every(
            pnc.V2G_EXPIRY_CHECK, self.actor_ref, _CheckV2GExpiry()
        )

    # -- the transport: 1.6 DataTransfer (2.0.1 overrides these) -------------------------

    def _send(
        self,
        message_id: str,
        payload: dict[str, Any],
        wrap: Callable[[Outcome], object] | None = None,
    ) -> None:
        """Send our 2.0.1 `message_id` request (checked: a PncError is a bug
        or, for a relayed request, the asker's); `wrap` makes the answer a
        message to this block."""
        data = pnc.write_request(message_id, payload)
        request = {"vendorId": pnc.VENDOR_ID, "messageId": message_id, "data": data}
        if wrap is None:
            submit(self.ctx, "DataTransfer", request)
        else:
            submit(self.ctx, "DataTransfer", request, reply_to=self.actor_ref, wrap=wrap)

    def _answer(self, message_id: str, result: dict[str, Any]) -> dict[str, Any]:
        """The CSMS's 2.0.1 answer in `result` (what rpc got); PncError if none."""
        if result.get("status") != "Accepted":
            raise pnc.PncError(f"DataTransfer {result.get('status')}")
        return pnc.read_answer(message_id, result.get("data"))

    def _settings_key(self, name: str, default: Any) -> Any:
        return _key(self.ctx, name, default)

    def _signing_enabled(self) -> bool:
        return _management_enabled(self.ctx)

    def receive(self, message: Any) -> Any:
        match message:
            case FromCsms():
                return self._from_csms(message.message_id, message.payload)
            case _Sign():
                if message.seq == self.sign_seq:
                    self._sign(message.attempt)
            case V2GSignRound():
                self._new_round()
                self._sign(0)
            case V2GTaken():
                self._taken()
            case ContractPresented():
                self._authorize(message.evse, pnc.Contract(message.emaid, message.chain_pem))
            case _Authorized():
                self._authorized(message)
            case Iso15118Relay():
                return self._relay(message.message_id, message.payload)
            case _Relayed():
                self._relayed(message)
            case _RefreshOcsp():
                self.ocsp_timer = None
                self._refresh_ocsp()
            case _CheckV2GExpiry():
                self._check_v2g_expiry()
            case _:
                return super().receive(message)
        return None

    # -- from the CSMS -------------------------------------------------------------

    def _from_csms(self, message_id: str, payload: dict[str, Any]) -> tuple[str, Any, After | None]:
        match message_id:
            case "TriggerMessage":
                return self._trigger(payload)
            case "CertificateSigned":
                return "Accepted", {"status": self._certificate_signed(payload)}, None
            case "InstallCertificate":
                use = pnc.INSTALL_USES[payload["certificateType"]]
                status = self._security(InstallRoot(use, payload["certificate"]))
                return "Accepted", {"status": status}, None
            case "DeleteCertificate":
                wanted = HashData.from_json(payload["certificateHashData"])
                return "Accepted", {"status": self._security(DeleteRoot(wanted))}, None
            case "GetInstalledCertificateIds":
                return "Accepted", self._installed_ids(payload.get("certificateType")), None
        raise AssertionError(f"no handler for {message_id}")

    def _security(self, message: object) -> Any:
        return self.ctx.registry.ask(SECURITY, message, timeout=SECURITY_TIMEOUT)

    def _trigger(self, payload: dict[str, Any]) -> tuple[str, Any, After | None]:
        if payload["requestedMessage"] != "SignV2GCertificate":
            return "Accepted", {"status": "NotImplemented"}, None
        if self._subject() is None:
            # libocpp's answer: the CSR would have no organization.
            return (
                "Rejected",
                "No CpoName or SeccLeafSubjectOrganization is set. Cannot trigger CSR",
                None,
            )
        self._new_round()
        seq, ctx = self.sign_seq, self.ctx

        def sign() -> None:
            # Once the answer is on its way: the SignCertificate it promises follows it.
            ctx.registry.tell(PNC, _Sign(0, seq))

        return "Accepted", {"status": "Accepted"}, sign

    def _new_round(self) -> None:
        self.sign_seq += 1
        self.ctx.cancel(self.sign_timer)
        self.sign_timer = None

    def _taken(self) -> None:
        self._new_round()  # taken: no more retries of the round
        self._v2g_ocsp()

    def _v2g_ocsp(self) -> None:
        """Ask the CSMS for the OCSP status of our new V2G chain, each
        certificate under its issuer (libocpp's OCSP cache of the SECC's
        chain, which the ISO 15118 stack staples); kept and renewed like the
        relayed ones."""
        stored = self._storage().certificates.all().get(timeout=STORAGE_TIMEOUT)
        try:
            roots = [parse_chain(c.pem)[0] for c in stored if c.use == CertificateUse.V2G_ROOT]
            chains = [parse_chain(c.pem) for c in stored if c.use == V2G_CERTIFICATE]
        except CertificateProblem as exc:
            self.log.warning("no OCSP for the V2G chain: %s", exc)
            return
        for chain in chains[-1:]:
            for payload in pnc.chain_ocsp_requests(chain, roots):
                key = pnc.dumps(payload["ocspRequestData"])
                self._send("GetCertificateStatus", payload, _renewal(key))

    def _check_v2g_expiry(self) -> None:
        """A new signing round when our V2G certificate nears its end (libocpp's
        V2G certificate expiration check), unless a round is waiting already."""
        if self.sign_timer is not None or not self._signing_enabled():
            return
        stored = self.ctx.storage().certificates.all().get(timeout=STORAGE_TIMEOUT)
        for certificate in stored:
            if certificate.use != V2G_CERTIFICATE:
                continue
            try:
                leaf = parse_chain(certificate.pem)[0]
            except CertificateProblem:
                continue
            if pnc.v2g_renewal_due(leaf.not_valid_after_utc, self.ctx.clock.wall()):
                self.log.info("the V2GCertificate ends %s: renewing it", leaf.not_valid_after_utc)
                self._new_round()
                self._sign(0)
            return

    def _subject(self) -> pnc.Subject | None:
        cfg = self.ctx.config
        return pnc.csr_subject(
            str(_key(self.ctx, "SeccLeafSubjectCommonName", "")),
            str(_key(self.ctx, "SeccLeafSubjectOrganization", "")),
            str(_key(self.ctx, "SeccLeafSubjectCountry", "")),
            str(self.ctx.setting(Setting.ORGANIZATION_NAME, "")),
            str(cfg.value("Internal", "ChargeBoxSerialNumber") or cfg.charge_point_id),
        )

    def _sign(self, attempt: int) -> None:
        subject = self._subject()
        if subject is None or not self._signing_enabled():
            return
        csr = self._security(
            V2GSigningRequest(subject.common_name, subject.organization, subject.country)
        )
        v2g = CertificateSigningUseEnumType.v2g_certificate
        self._send("SignCertificate", dump(call.SignCertificate(csr=csr, certificate_type=v2g)))
        delays = pnc.sign_retry_delays(
            int(_key(self.ctx, "CertSigningWaitMinimum", 0) or 0),
            int(_key(self.ctx, "CertSigningRepeatTimes", 0) or 0),
        )
        if attempt < len(delays):
            self.sign_timer = self.ctx.call_later(
                delays[attempt], self.actor_ref, _Sign(attempt + 1, self.sign_seq)
            )

    def _certificate_signed(self, payload: dict[str, Any]) -> str:
        kind = payload.get("certificateType")
        if kind is not None and kind != "V2GCertificate":
            why = f"certificateType {kind}: only a V2GCertificate is signed through Plug & Charge"
        else:
            why = self._security(V2GSigned(payload["certificateChain"]))
        if why is None:
            self._taken()
            return "Accepted"
        self.log.warning("CertificateSigned (V2G) rejected: %s", why)
        report_event(self.ctx, "InvalidChargePointCertificate", str(why)[:255])
        return "Rejected"

    def _installed_ids(self, types: list[str] | None) -> dict[str, Any]:
        wanted = [t for t in dict.fromkeys(types or pnc.LISTED_USES) if t in pnc.LISTED_USES]
        chain = [
            {"certificateType": kind, "certificateHashData": found.to_json()}
            for kind in wanted
            for _, found in self._security(InstalledRoots((pnc.LISTED_USES[kind],)))
        ]
        if not chain:
            return {"status": "NotFound"}
        return {"status": "Accepted", "certificateHashDataChain": chain}

    # -- a contract: Authorize -----------------------------------------------------------

    def _mo_roots(self) -> list[x509.Certificate]:
        stored = self.ctx.storage().certificates.all().get(timeout=STORAGE_TIMEOUT)
        roots = []
        for c in stored:
            if c.use == CertificateUse.MO_ROOT:
                try:
                    roots.append(parse_chain(c.pem)[0])
                except CertificateProblem:
                    continue
        return roots

    def _authorize(self, evse: int, contract: pnc.Contract) -> None:
        if not _pnc_enabled(self.ctx):
            self.log.info(
                "contract %s at EVSE %d ignored: ISO15118PnCEnabled is false", contract.emaid, evse
            )
            return
        try:
            chain = parse_chain(contract.chain_pem)
        except CertificateProblem as exc:
            self.log.warning("contract %s at EVSE %d unreadable: %s", contract.emaid, evse, exc)
            self._tell(evse, contract.emaid, False, {"status": "Invalid"})
            return
        send_chain = bool(_key(self.ctx, "CentralContractValidationAllowed", True))
        payload = pnc.authorize_request(contract, chain, send_chain, self._mo_roots())
        self._send("Authorize", payload, lambda outcome: _Authorized(evse, contract, outcome))

    def _authorized(self, message: _Authorized) -> None:
        evse, contract, result = message.evse, message.contract, message.outcome.result
        if result is None:
            self._offline(evse, contract, str(message.outcome.error))
            return
        try:
            answer = self._answer("Authorize", result)
        except pnc.PncError as exc:
            self.log.warning("Authorize of %s: no 2.0.1 Authorize answer: %s", contract.emaid, exc)
            self._tell(evse, contract.emaid, False, {"status": "Invalid"})
            return
        accepted, info = pnc.decide_authorize(answer)
        self._tell(evse, contract.emaid, accepted, info)

    # -- relays for the ISO 15118 stack ----------------------------------------------------

    def _relay(self, message_id: str, payload: dict[str, Any]) -> Future[dict[str, Any]] | None:
        if not _pnc_enabled(self.ctx) or message_id not in pnc.RELAYED:
            return None
        pnc.write_request(message_id, payload)  # a PncError goes back to the asker
        future: Future[dict[str, Any]] = Future()
        cache_key = None
        if message_id == "GetCertificateStatus":
            cache_key = pnc.dumps(payload["ocspRequestData"])
            cached = self._storage().ocsp.get(cache_key).get(timeout=STORAGE_TIMEOUT)
            if cached and pnc.ocsp_fresh(cached.fetched_at, self._wall(), self._ocsp_interval()):
                future.set_result(cached.answer)
                return future
        self._send(
            message_id,
            payload,
            lambda outcome: _Relayed(message_id, cache_key, future, outcome),
        )
        return future

    def _storage(self) -> Any:
        return self.ctx.storage()

    def _wall(self) -> float:
        return self.ctx.clock.wall().timestamp()

    def _ocsp_interval(self) -> int:
        return max(int(self._settings_key("OcspRequestInterval", 604800)), 1)

    def _arm_ocsp_refresh(self) -> None:
        """Wake when the next cached OCSP answer falls due for renewal."""
        self.ctx.cancel(self.ocsp_timer)
        self.ocsp_timer = None
        try:
            stored = self._storage().ocsp.all().get(timeout=STORAGE_TIMEOUT)
        except Exception:  # no storage now: the next answer arms it
            return
        _, wait = pnc.ocsp_refresh(
            {e.request: e.fetched_at for e in stored}, self._wall(), self._ocsp_interval()
        )
        if wait is not None:
            self.ocsp_timer = self.ctx.call_later(max(wait, 1.0), self.actor_ref, _RefreshOcsp())

    def _refresh_ocsp(self) -> None:
        if not _pnc_enabled(self.ctx):
            return
        stored = self._storage().ocsp.all().get(timeout=STORAGE_TIMEOUT)
        due, _ = pnc.ocsp_refresh(
            {e.request: e.fetched_at for e in stored}, self._wall(), self._ocsp_interval()
        )
        for request in due:
            self.log.info("renewing the OCSP answer for %s", request)
            payload = {"ocspRequestData": json.loads(request)}
            self._send("GetCertificateStatus", payload, _renewal(request))
        self._arm_ocsp_refresh()

    def _relayed(self, message: _Relayed) -> None:
        result = message.outcome.result
        if result is None:
            message.future.set_exception(
                message.outcome.error or RuntimeError("no answer from the CSMS")
            )
            return
        try:
            answer = self._answer(message.message_id, result)
        except pnc.PncError as exc:
            message.future.set_exception(exc)
            return
        if message.cache_key is not None and answer.get("status") == "Accepted":
            entry = OcspAnswer(message.cache_key, answer, self._wall())
            self._storage().ocsp.put(entry).get(timeout=STORAGE_TIMEOUT)
            self._arm_ocsp_refresh()
        message.future.set_result(answer)

    def _offline(self, evse: int, contract: pnc.Contract, why: str) -> None:
        if not bool(_key(self.ctx, "ContractValidationOffline", False)):
            self.log.info("contract %s not authorized (%s)", contract.emaid, why)
            self._tell(evse, contract.emaid, False, {"status": "Invalid"}, online=False)
            return
        roots = self._mo_roots()
        problem = (
            chain_problem(
                parse_chain(contract.chain_pem),
                roots,
                self.ctx.clock.wall(),
                root_name=CertificateUse.MO_ROOT,
            )
            if roots
            else "no MORootCertificate is installed"
        )
        accepted = problem is None
        if not accepted:
            self.log.info("contract %s not valid offline: %s", contract.emaid, problem)
        status = "Accepted" if accepted else "Invalid"
        self._tell(evse, contract.emaid, accepted, {"status": status}, online=False)

    def _tell(
        self, evse: int, emaid: str, accepted: bool, info: dict[str, Any], *, online: bool = True
    ) -> None:
        source = "csms" if online else "unknown"
        decided = Identified(emaid, accepted, info, source, online, token_type="eMAID")
        if not self.ctx.registry.tell(evse_path(evse, "connector"), decided):
            self.log.error("EVSE %d is down: contract %s not used", evse, emaid)
