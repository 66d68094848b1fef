"""The security actor: the station's certificates and security events (1.6 Security Whitepaper).

It answers InstallCertificate, GetInstalledCertificateIds, DeleteCertificate
and CertificateSigned, sends SignCertificate when asked to (ExtendedTrigger-
Message SignChargePointCertificate, or `SignRequested` from an embedder),
keeps every certificate in storage, and hands the link what TLS needs
(`ctx.tls`): the CentralSystemRootCertificates and the ChargePointCertificate
with its key. It sits before the link, so the first connection has them.

Security events (SecurityEventNotification, `report_event`, which any
actor calls) go through the outbox's persisted queue like transaction
messages: they are not lost offline or in a crash, and reach the CSMS in
order.

Decisions:

- Provisioning: certificate files named in the Internal section
  (CentralSystemRootCertificateFile, ChargePointCertificateFile with
  ChargePointKeyFile) are imported at start when not installed yet, so a
  factory-provisioned station can connect with profile 2 or 3 before any
  InstallCertificate. A deleted root that a file provides comes back on the
  next start.
- A root is accepted when it is a valid, self-signed CA certificate; the same
  certificate installed twice is stored once. CertificateStoreMaxLength,
  when set, counts the installed roots.
- CertificateSigned is accepted only for the key of our last SignCertificate,
  with every certificate valid now and the chain ending at an installed
  CentralSystemRootCertificate (when there is one); otherwise Rejected and
  the security event InvalidChargePointCertificate. The new certificate is
  used from the next connection on; with profile 3 the link reconnects at
  once (OCTT TC_074).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ocppstation.actors.events import ConfigChanged, V2GCertificateChanged
from ocppstation.actors.link.rpc import Answer, Inbound, Reconnect, submit
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import RPC, StationContext
from ocppstation.actors.runtime.holders import TlsMaterial
from ocppstation.actors.security_events import report_event
from ocppstation.actors.storage.certificates import V2G_SLOT, StoredCertificate
from ocppstation.config.loader import ConfigError, StationConfig
from ocppstation.config.settings_catalog import Setting
from ocppstation.protocol.framing import Call
from ocppstation.protocol.timestamps import ocpp_timestamp
from ocppstation.protocol.v16.certificates import (
    CertificateProblem,
    CertificateUse,
    HashData,
    chain_problem,
    hash_data,
    make_csr,
    new_key,
    parse_chain,
    root_problem,
)

STORAGE_TIMEOUT = 10.0
CHARGE_POINT_CERTIFICATE = "ChargePointCertificate"
# The SECC's certificate for ISO 15118 (Plug & Charge), signed through DataTransfer.
V2G_CERTIFICATE = "V2GCertificate"
# The station's own certificates: never counted, listed or deleted as roots.
OWN_CERTIFICATES = frozenset({CHARGE_POINT_CERTIFICATE, V2G_CERTIFICATE})
# Keys whose change is a "ReconfigurationOfSecurityParameters" security event.
_SECURITY_SETTINGS = frozenset({Setting.SECURITY_PROFILE, Setting.BASIC_AUTH_PASSWORD})


@dataclass(frozen=True)
class SignRequested:
    """Make a new key and send SignCertificate for it (a trigger, or the embedder)."""


@dataclass(frozen=True)
class InstallRoot:
    """Ask (Plug & Charge): install `pem` as a root of `use`; answers the status."""

    use: str
    pem: str


@dataclass(frozen=True)
class InstalledRoots:
    """Ask (Plug & Charge): the HashData of each root of `uses`, as (use, HashData)."""

    uses: tuple[str, ...]


@dataclass(frozen=True)
class DeleteRoot:
    """Ask (Plug & Charge): delete the root `wanted` names; answers the status."""

    wanted: HashData


@dataclass(frozen=True)
class V2GSigningRequest:
    """Ask (Plug & Charge): a new key, kept, and the PEM CSR for it with this subject."""

    common_name: str
    organization: str
    country: str


@dataclass(frozen=True)
class V2GSigned:
    """Ask (Plug & Charge): take `chain` as our V2GCertificate; answers None or why not."""

    chain: str


@dataclass(frozen=True)
class _After:
    """What an answer promised, done once the answer is on the wire."""

    steps: tuple[tuple[str, str | None], ...]  # ("report", kind/info) or ("reconnect", reason)


@dataclass(frozen=True)
class _Signed:
    """SignCertificate was answered (or failed)."""

    result: dict[str, Any] | None
    error: str | None


class Security(Supervised):
    def __init__(self, place: Place, ctx: StationContext) -> None:
        super().__init__(place)
        self.ctx = ctx
        self._unsubscribe: Callable[[], None] = lambda: None
        # Follow-ups of the call being answered (see _After).
        self.after: list[tuple[str, str | None]] = []
        # Here, not in setup(): the supervisor starts the link once this
        # returns, and its first connection must find the certificates.
        self.installed: list[StoredCertificate] = (
            self.ctx.storage().certificates.all().get(timeout=STORAGE_TIMEOUT)
        )
        self._import_provisioned()
        self._publish_tls()

    def setup(self) -> None:
        self._unsubscribe = self.ctx.forward(self.actor_ref, _wanted)

    def teardown(self) -> None:
        self._unsubscribe()

    def receive(self, message: Any) -> Any:
        match message:
            case Inbound():
                self._inbound(message.call)
            case SignRequested():
                self._sign()
            case _Signed():
                self._signed(message)
            case _After():
                self._follow_up(message.steps)
            case InstallRoot():
                return self._now(self._install(message.use, message.pem))
            case InstalledRoots():
                return [(use, found) for use in message.uses for found in self._hashes(use)]
            case DeleteRoot():
                return self._now(self._delete(message.wanted))
            case V2GSigningRequest():
                return self._v2g_csr(message)
            case V2GSigned():
                return self._v2g_signed(message.chain)
            case ConfigChanged():
                report_event(
                    self.ctx, "ReconfigurationOfSecurityParameters", f"{message.key} changed"
                )
            case _:
                return super().receive(message)
        return None

    def state(self) -> dict[str, Any]:
        return {
            "roots": {use.value: len(self._of(use.value)) for use in CertificateUse},
            "charge_point_certificate": bool(self._of(CHARGE_POINT_CERTIFICATE)),
            "v2g_certificate": bool(self._of(V2G_CERTIFICATE)),
        }

    # -- CSMS calls ----------------------------------------------------------------

    def _inbound(self, call: Call) -> None:
        result = self.answer(call)
        steps, self.after = tuple(self.after), []
        if steps:
            # The CSMS hears the answer first, then the event (OCTT TC_077, TC_078).
            self.ctx.registry.tell(RPC, Answer(call, result, self.actor_ref, _After(steps)))
        else:
            self.ctx.registry.tell(RPC, Answer(call, result))

    # 1.6's words; 2.0.1's block (actors/v201/security.py) overrides `answer`:
    # the store, the checks and the signing flow below are the same in both
    # (security events are put in 2.0.1's words where they are made).

    def answer(self, call: Call) -> dict[str, Any]:
        """The answer to a CSMS call; follow-ups go into `self.after`."""
        payload = call.payload
        match call.action:
            case "InstallCertificate":
                status = self._install(payload["certificateType"], payload["certificate"])
                return {"status": status}
            case "GetInstalledCertificateIds":
                hashes = [h.to_json() for h in self._hashes(payload["certificateType"])]
                if not hashes:
                    return {"status": "NotFound"}
                return {"status": "Accepted", "certificateHashData": hashes}
            case "DeleteCertificate":
                wanted = HashData.from_json(payload["certificateHashData"])
                return {"status": self._delete(wanted)}
            case "CertificateSigned":
                return {"status": self._accept_signed(payload["certificateChain"])}
        raise AssertionError(f"routed here by mistake: {call.action}")

    def sign_payload(self, csr: str) -> dict[str, Any]:
        """SignCertificate's payload for `csr`."""
        return {"csr": csr}

    def _now(self, status: str) -> str:
        """A status answered through DataTransfer: its follow-ups need not wait for the wire."""
        steps, self.after = tuple(self.after), []
        self._follow_up(steps)
        return status

    def _follow_up(self, steps: tuple[tuple[str, str | None], ...]) -> None:
        for step, detail in steps:
            if step == "reconnect":
                self.ctx.registry.tell(RPC, Reconnect(detail or "new certificate"))
            else:
                report_event(self.ctx, step, detail)

    def _install(self, use: str, pem: str) -> str:
        try:
            cert = _single(pem)
        except CertificateProblem as exc:
            return self._reject_root(use, str(exc))
        problem = root_problem(cert, self.ctx.clock.wall())
        if problem is not None:
            return self._reject_root(use, problem)
        if any(_same(c, cert) for c in self._of(use)):
            return "Accepted"  # installed already: once is enough
        limit = self.ctx.setting(Setting.CERTIFICATE_ENTRIES, None)
        # Every root counts, whatever it is for; our own certificate is not one.
        roots = sum(1 for c in self.installed if c.use not in OWN_CERTIFICATES)
        if isinstance(limit, int) and roots >= limit:
            self.log.warning("InstallCertificate refused: CertificateStoreMaxLength is %d", limit)
            return "Rejected"
        try:
            self._store(use, _pem(cert))
        except Exception as exc:  # the database refused: the CSMS may try again
            self.log.error("InstallCertificate %s not stored: %s", use, exc)
            return "Failed"
        self.log.info("installed %s %s", use, cert.subject.rfc4514_string())
        return "Accepted"

    def _reject_root(self, use: str, why: str) -> str:
        self.log.warning("InstallCertificate %s refused: %s", use, why)
        if use == CertificateUse.CENTRAL_SYSTEM_ROOT:
            self.after.append(("InvalidCentralSystemCertificate", why))
        return "Rejected"

    def _hashes(self, use: str) -> list[HashData]:
        """What names each installed root of `use` (a root is its own issuer)."""
        return [hash_data(_single(c.pem)) for c in self._of(use)]

    def _delete(self, wanted: HashData) -> str:
        for stored in self.installed:
            if stored.use in OWN_CERTIFICATES:
                continue  # only roots are named by GetInstalledCertificateIds
            cert = _single(stored.pem)
            if hash_data(cert, algorithm=wanted.hash_algorithm) != wanted:
                continue
            if self._in_use(stored):
                self.log.warning("DeleteCertificate refused: the link trusts only this root")
                return "Failed"
            self.ctx.storage().certificates.delete(stored.id).get(timeout=STORAGE_TIMEOUT)
            self.installed = [c for c in self.installed if c.id != stored.id]
            self._publish_tls()
            return "Accepted"
        return "NotFound"

    def _in_use(self, stored: StoredCertificate) -> bool:
        """The last CSMS root while the link needs one (profile 2 or 3) may not go."""
        if stored.use != CertificateUse.CENTRAL_SYSTEM_ROOT:
            return False
        profile = int(self.ctx.setting(Setting.SECURITY_PROFILE, 0))
        return profile >= 2 and len(self._of(CertificateUse.CENTRAL_SYSTEM_ROOT)) == 1

    # -- our own certificate -----------------------------------------------------------

    def _sign(self) -> None:
        key = new_key()
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        # Kept before the CSR leaves: the answer may come after a restart.
        self.ctx.storage().csr_key.put(key_pem).get(timeout=STORAGE_TIMEOUT)
        cfg = self.ctx.config
        identity = str(cfg.value("Internal", "ChargeBoxSerialNumber") or cfg.charge_point_id)
        csr = make_csr(key, identity, str(self.ctx.setting(Setting.ORGANIZATION_NAME, "")))
        submit(
            self.ctx,
            "SignCertificate",
            self.sign_payload(csr),
            reply_to=self.actor_ref,
            wrap=lambda outcome: _Signed(
                outcome.result, None if outcome.error is None else str(outcome.error)
            ),
        )

    def _signed(self, message: _Signed) -> None:
        if message.result is None:
            self.log.warning("SignCertificate not answered: %s", message.error)
        elif message.result.get("status") != "Accepted":
            self.log.warning("the CSMS rejected our SignCertificate")

    def _accept_signed(self, chain_pem: str) -> str:
        limit = self.ctx.setting(Setting.MAX_CERTIFICATE_CHAIN_SIZE, None)
        if isinstance(limit, int) and len(chain_pem) > limit:
            return self._reject_signed(f"chain of {len(chain_pem)} bytes, more than {limit}")
        key_pem = self.ctx.storage().csr_key.get().get(timeout=STORAGE_TIMEOUT)
        if key_pem is None:
            return self._reject_signed("no signing request of ours is waiting")
        try:
            chain = parse_chain(chain_pem)
        except CertificateProblem as exc:
            return self._reject_signed(str(exc))
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        roots = [_single(c.pem) for c in self._of(CertificateUse.CENTRAL_SYSTEM_ROOT)]
        problem = chain_problem(chain, roots, self.ctx.clock.wall(), public_key=key.public_key())
        if problem is not None:
            return self._reject_signed(problem)
        old = [c.id for c in self._of(CHARGE_POINT_CERTIFICATE)]
        self._store(CHARGE_POINT_CERTIFICATE, "".join(_pem(c) for c in chain), key_pem, old)
        self.ctx.storage().csr_key.put(None).get(timeout=STORAGE_TIMEOUT)
        self.log.info("new ChargePointCertificate %s", chain[0].subject.rfc4514_string())
        if int(self.ctx.setting(Setting.SECURITY_PROFILE, 0)) == 3:
            # The link's client certificate: a new connection uses the new one (TC_074).
            self.after.append(("reconnect", "new ChargePointCertificate"))
        return "Accepted"

    def _v2g_csr(self, subject: V2GSigningRequest) -> str:
        key = new_key()
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        # Kept before the CSR leaves, as for the ChargePointCertificate's.
        self.ctx.storage().csr_key.put(key_pem, V2G_SLOT).get(timeout=STORAGE_TIMEOUT)
        return make_csr(key, subject.common_name, subject.organization, subject.country)

    def _v2g_signed(self, chain_pem: str) -> str | None:
        """None when `chain_pem` is now our V2GCertificate, else why not."""
        limit = self.ctx.setting(Setting.MAX_CERTIFICATE_CHAIN_SIZE, None)
        if isinstance(limit, int) and len(chain_pem) > limit:
            return f"chain of {len(chain_pem)} bytes, more than {limit}"
        key_pem = self.ctx.storage().csr_key.get(V2G_SLOT).get(timeout=STORAGE_TIMEOUT)
        if key_pem is None:
            return "no V2G signing request of ours is waiting"
        try:
            chain = parse_chain(chain_pem)
        except CertificateProblem as exc:
            return str(exc)
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        # Unlike the CSMS roots, a V2G root is required: a SECC certificate
        # no EV can check is of no use.
        roots = [_single(c.pem) for c in self._of(CertificateUse.V2G_ROOT)]
        if not roots:
            return "no V2GRootCertificate is installed"
        problem = chain_problem(
            chain,
            roots,
            self.ctx.clock.wall(),
            public_key=key.public_key(),
            root_name=CertificateUse.V2G_ROOT,
        )
        if problem is not None:
            return problem
        old = [c.id for c in self._of(V2G_CERTIFICATE)]
        self._store(V2G_CERTIFICATE, "".join(_pem(c) for c in chain), key_pem, old)
        self.ctx.storage().csr_key.put(None, V2G_SLOT).get(timeout=STORAGE_TIMEOUT)
        subject = chain[0].subject.rfc4514_string()
        self.log.info("new V2GCertificate %s", subject)
        self.ctx.bus.publish(
            V2GCertificateChanged(
                "".join(_pem(c) for c in chain),
                subject,
                ocpp_timestamp(chain[0].not_valid_after_utc),
            )
        )
        return None

    def _reject_signed(self, why: str) -> str:
        self.log.warning("CertificateSigned rejected: %s", why)
        self.after.append(("InvalidChargePointCertificate", why))
        return "Rejected"

    # -- the store -------------------------------------------------------------------------

    def _of(self, use: str) -> list[StoredCertificate]:
        return [c for c in self.installed if c.use == use]

    def _store(
        self, use: str, pem: str, key: str | None = None, replaces: list[int] | None = None
    ) -> None:
        new_id = (
            self.ctx.storage()
            .certificates.put(use, pem, key, replaces)
            .get(timeout=STORAGE_TIMEOUT)
        )
        gone = set(replaces or [])
        self.installed = [c for c in self.installed if c.id not in gone]
        self.installed.append(StoredCertificate(new_id, use, pem, key))
        self._publish_tls()

    def _import_provisioned(self) -> None:
        """The factory's files (checked at start by check_provisioning), when not installed."""
        internal = self.ctx.config["Internal"]
        roots = str(internal.get("CentralSystemRootCertificateFile") or "")
        cert = str(internal.get("ChargePointCertificateFile") or "")
        key = str(internal.get("ChargePointKeyFile") or "")
        csms_root = CertificateUse.CENTRAL_SYSTEM_ROOT.value
        try:
            # Each root of a bundle on its own, as InstallCertificate would have it.
            for root in parse_chain(Path(roots).read_text()) if roots else []:
                if not any(_same(c, root) for c in self._of(csms_root)):
                    self._store(csms_root, _pem(root))
                    self.log.info("imported %s %s", csms_root, root.subject.rfc4514_string())
            if cert and key:
                pem = Path(cert).read_text()
                if not any(c.pem == pem for c in self._of(CHARGE_POINT_CERTIFICATE)):
                    old = [c.id for c in self._of(CHARGE_POINT_CERTIFICATE)]
                    self._store(CHARGE_POINT_CERTIFICATE, pem, Path(key).read_text(), old)
                    self.log.info("imported the ChargePointCertificate from %s", cert)
        except (OSError, ValueError) as exc:
            # Changed since the start's check: the station runs, the link says what it lacks.
            self.log.error("provisioning files not imported: %s", exc)

    def _publish_tls(self) -> None:
        own = self._of(CHARGE_POINT_CERTIFICATE)
        self.ctx.tls.replace(
            TlsMaterial(
                csms_roots=tuple(c.pem for c in self._of(CertificateUse.CENTRAL_SYSTEM_ROOT)),
                client_chain=own[-1].pem if own else None,
                client_key=own[-1].key if own else None,
            )
        )


PROVISIONING_KEYS = (
    "CentralSystemRootCertificateFile",
    "ChargePointCertificateFile",
    "ChargePointKeyFile",
)


def check_provisioning(config: StationConfig) -> None:
    """Refuse a start whose certificate files cannot be used, naming key and file.

    Checked when the station starts, not when the config is loaded: the files
    are on the machine that runs it.
    """
    internal = config["Internal"]
    named = {key: str(internal.get(key) or "") for key in PROVISIONING_KEYS}
    for key, name in named.items():
        if not name:
            continue
        try:
            text = Path(name).read_text()
        except OSError as exc:
            raise ConfigError(
                config.source, f"Internal.{key}", f"cannot read {name}: {exc.strerror}"
            ) from None
        try:
            if key == "ChargePointKeyFile":
                serialization.load_pem_private_key(text.encode(), password=None)
            else:
                parse_chain(text)
        except (ValueError, TypeError, CertificateProblem) as exc:
            what = "an unencrypted PEM private key" if key == "ChargePointKeyFile" else "PEM"
            raise ConfigError(
                config.source, f"Internal.{key}", f"{name} is not {what}: {exc}"
            ) from None
    cert, key = named["ChargePointCertificateFile"], named["ChargePointKeyFile"]
    if bool(cert) != bool(key):
        missing = "ChargePointKeyFile" if cert else "ChargePointCertificateFile"
        raise ConfigError(
            config.source, f"Internal.{missing}", "the certificate and its key go together"
        )


def _wanted(event: object) -> object | None:
    if isinstance(event, ConfigChanged) and event.setting in _SECURITY_SETTINGS:
        return event
    return None


def _single(pem: str) -> x509.Certificate:
    return parse_chain(pem)[0]


def _same(stored: StoredCertificate, cert: x509.Certificate) -> bool:
    return _single(stored.pem) == cert


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()
