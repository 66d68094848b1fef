"""A simulated EV with its charger hardware, for demos, tests and fault drills.

A car cannot be real here, so `SimulatedEvse` models one together with the
charger's relay and meter. It is the physical world: it lives outside the
actor tree and outlives any actor crash, the way real hardware does, and the
board and meter actors are only its drivers. A lock guards it because both
drivers (and the console) touch it from their own threads.

Plugging moves the pilot to B; a closed relay with an EV that wants energy
moves it to C; the EV then draws the offered current, up to its own
maximum; the meter integrates power over the monotonic time it is handed, so
tests in virtual time get exact energy figures.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ocppstation.hw.ports import HwState, MeterReading, Pilot
from ocppstation.hw.signed_readings import ReadingSigner

__all__ = ["ContractIssuer", "EvContract", "HwState", "Listener", "SimulatedEvse"]


Listener = Callable[[HwState], None]

# Faults of parts that have nothing to do with the EV's circuit (the card
# reader, the modem): the pilot and the session carry on.
_BESIDE_THE_PILOT = frozenset({"ReaderFailure", "WeakSignal"})


@dataclass
class SimulatedEvse:
    voltage_v: float = 230.0
    phases: int = 3
    max_current_a: float = 32.0
    ev_wants_energy: bool = True
    ev_max_current_a: float = 32.0
    fixed_cable: bool = False
    # A meter that signs its register readings (Simulation.SignedMeter).
    signer: ReadingSigner | None = None
    _ev_present: bool = False
    _relay_closed: bool = False
    _offered_a: float | None = None  # until something offers less: the maximum
    _energy_wh: float = 0.0
    _fault: str | None = None
    _last_time: float | None = None
    _listeners: list[Listener] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- the world acting on the charger -------------------------------------

    def plug(self, now: float) -> None:
        self._change(now, lambda: setattr(self, "_ev_present", True))

    def unplug(self, now: float) -> None:
        self._change(now, lambda: setattr(self, "_ev_present", False))

    def fault(self, code: str, now: float) -> None:
        self._change(now, lambda: setattr(self, "_fault", code))

    def clear_fault(self, now: float) -> None:
        self._change(now, lambda: setattr(self, "_fault", None))

    def ev_suspend(self, suspended: bool, now: float) -> None:
        self._change(now, lambda: setattr(self, "ev_wants_energy", not suspended))

    # -- what the drivers do --------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def state(self) -> HwState:
        with self._lock:
            return HwState(self._pilot(), self._fault)

    @property
    def relay_closed(self) -> bool:
        with self._lock:
            return self._relay_closed

    @property
    def offered_a(self) -> float:
        with self._lock:
            return self._offer()

    def allow_power(self, on: bool, now: float) -> None:
        self._change(now, lambda: setattr(self, "_relay_closed", on))

    def set_offered_current(self, amps: float, now: float) -> None:
        self._change(
            now, lambda: setattr(self, "_offered_a", max(0.0, min(amps, self.max_current_a)))
        )

    @property
    def has_lock(self) -> bool:
        """A tethered (fixed) cable has no lock to release."""
        return not self.fixed_cable

    def unlock(self, now: float) -> bool:
        """Release the cable lock; False when the lock is jammed (a lock fault)."""
        with self._lock:
            return self._fault != "ConnectorLockFailure"

    def read(self, now: float) -> MeterReading:
        with self._lock:
            self._integrate(now)
            current = self._current_a()
            energy = round(self._energy_wh, 3)
            return MeterReading(
                energy_wh=energy,
                power_w=round(current * self.voltage_v * self.phases, 3),
                current_a=(current,) * self.phases,
                voltage_v=(self.voltage_v,) * self.phases,
                signed=None if self.signer is None else self.signer.sign(energy),
            )

    # -- inside ---------------------------------------------------------------

    def _offer(self) -> float:
        return self.max_current_a if self._offered_a is None else self._offered_a

    def _pilot(self) -> Pilot:
        if self._fault is not None and self._fault not in _BESIDE_THE_PILOT:
            return Pilot.F
        if not self._ev_present:
            return Pilot.A
        if self._relay_closed and self.ev_wants_energy:
            return Pilot.C
        return Pilot.B

    def _current_a(self) -> float:
        # The EV takes what the pilot offers, up to what its charger can.
        return min(self._offer(), self.ev_max_current_a) if self._pilot() is Pilot.C else 0.0

    def _integrate(self, now: float) -> None:
        if self._last_time is not None and now > self._last_time:
            power = self._current_a() * self.voltage_v * self.phases
            self._energy_wh += power * (now - self._last_time) / 3600.0
        if self._last_time is None or now > self._last_time:
            self._last_time = now

    def _change(self, now: float, mutate: Callable[[], None]) -> None:
        with self._lock:
            self._integrate(now)
            before = HwState(self._pilot(), self._fault)
            mutate()
            after = HwState(self._pilot(), self._fault)
            listeners = list(self._listeners) if after != before else []
        # Outside the lock: a listener tells an actor, which may call back in.
        for listener in listeners:
            listener(after)


# -- an ISO 15118 EV's contract (Plug & Charge) ---------------------------------


@dataclass(frozen=True)
class EvContract:
    """What an ISO 15118 EV holds for Plug & Charge: its eMAID and the
    contract certificate chain (PEM, leaf first) issued for it."""

    emaid: str
    chain_pem: str


class ContractIssuer:
    """A test mobility operator: a self-signed MO root (install `root_pem` as
    the station's MORootCertificate) that issues contract certificates.

    Certificates are valid from 2025 to 2035, on the real clock and on the
    virtual one the tests start in 2026.
    """

    NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    NOT_AFTER = dt.datetime(2035, 1, 1, tzinfo=dt.UTC)

    def __init__(self, name: str = "ocppstation test MO root") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.root = (
            self._builder(self._name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.root_pem = self.root.public_bytes(serialization.Encoding.PEM).decode()

    def _builder(
        self, subject: x509.Name, key: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.NOT_BEFORE)
            .not_valid_after(self.NOT_AFTER)
        )

    def contract(self, emaid: str) -> EvContract:
        """A contract for `emaid` (its certificate's CN, as ISO 15118 has it)."""
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, emaid)])
        leaf = (
            self._builder(subject, leaf_key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        return EvContract(emaid, leaf.public_bytes(serialization.Encoding.PEM).decode())
