"""The station: its actor tree, and the Python API for embedding it.

The tree is the version's (actors/versions.py; 1.6: actors/v16/tree.py).

`Station` is what an embedder (and the console, and the tests) holds: start
it from a config, act on the simulated hardware, subscribe to events, stop.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ocpp.v201.enums import IdTokenEnumType

from ocppstation.actors.clock import Clock, SystemClock
from ocppstation.actors.events import (
    DisplayChanged,
    EventBus,
    MessageAnswered,
    MessageSent,
    ResetRequested,
    VersionChosen,
)
from ocppstation.actors.evse.connector import Present, StopTransaction
from ocppstation.actors.evse.tree import revive
from ocppstation.actors.files.station_log import StationLog
from ocppstation.actors.hooks.data_transfer import Handler as DataTransferHandler
from ocppstation.actors.hooks.firmware import Installer
from ocppstation.actors.link.rpc import Closing, submit
from ocppstation.actors.link.websocket import Drop
from ocppstation.actors.messages import ContractPresented, EvNeedsStated, Iso15118Relay
from ocppstation.actors.runtime.base import Crash, Place
from ocppstation.actors.runtime.context import (
    PNC,
    PROFILES,
    REGISTRATION,
    RPC,
    WEBSOCKET,
    StationContext,
    evse_path,
)
from ocppstation.actors.runtime.registry import Registry
from ocppstation.actors.runtime.supervisor import Strategy, Supervisor, SupervisorGaveUp
from ocppstation.actors.v16.security import V2G_CERTIFICATE
from ocppstation.actors.versions import station_tree
from ocppstation.config.loader import StationConfig
from ocppstation.hw import devices as hwconfig
from ocppstation.hw.signed_readings import ReadingSigner
from ocppstation.hw.simulated import ContractIssuer, EvContract, SimulatedEvse
from ocppstation.protocol.errors import OcppVersion
from ocppstation.protocol.ev_needs import EvNeeds

ASK_TIMEOUT = 5.0
# How long a soft reset waits for the CSMS to answer the StopTransactions.
RESET_GRACE = 10.0
# Before the tree stops, how long without a new CSMS CALL counts as the end of
# a burst, and the longest the link is kept open for one (real time: it is
# about frames on the wire, not the station's clock).
CLOSE_QUIET = 0.05
CLOSE_DRAIN = 2.0


# 2.0.1's IdTokenEnumType: what a reader may say it read.
_TOKEN_TYPES = tuple(t.value for t in IdTokenEnumType)


class StationError(RuntimeError):
    """A request to the station that cannot be carried out (bad EVSE, dead actor)."""


class Station:
    """One charging station: build it, `start()`, drive it, `stop()`.

    Thread-safe: every method may be called from any thread.
    """

    def __init__(
        self,
        config: StationConfig,
        *,
        clock: Clock | None = None,
        data_dir: str | Path | None = None,
        seed: int | None = None,
        record_events: bool = False,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.data_dir = Path(data_dir) if data_dir else None
        self.bus = EventBus()
        self.registry = Registry()
        # Made on first use: a station without Plug & Charge needs no keys.
        self._contract_issuer: ContractIssuer | None = None
        self.hardware = {
            n: SimulatedEvse(
                voltage_v=float(config.value("Simulation", "VoltageV")),
                phases=int(config.value("Simulation", "Phases")),
                max_current_a=float(config.value("Simulation", "MaxCurrentA")),
                fixed_cable=bool(config.value("Simulation", "FixedCable")),
                signer=(
                    ReadingSigner(meter_id=f"{config.charge_point_id}-{n}")
                    if config.value("Simulation", "SignedMeter")
                    else None
                ),
            )
            for n in config.evse_numbers
        }
        data_dir = self.data_dir or (
            Path(config.value("Internal", "DataDir"))
            if config.value("Internal", "DataDir")
            else None
        )
        database = data_dir / f"{config.charge_point_id}.sqlite" if data_dir else None
        if data_dir is not None:
            # Owner-only: the database in it holds the station's private keys.
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.ctx = StationContext(
            config,
            self.registry,
            self.clock,
            self.bus,
            self.hardware,
            random.Random(seed),
            database=database,
            data_dir=data_dir,
        )
        # The station's own log, read back by GetDiagnostics.
        self.station_log = StationLog(
            self.clock,
            data_dir / "logs" if data_dir is not None else None,
            config.charge_point_id,
        )
        self.ctx.firmware.log = self.station_log
        # Before start, so that nothing the station does is missed (tests, demo).
        self.recorded = EventLog(self.bus) if record_events else None
        self._root: Any = None
        self._stopped = threading.Event()
        self._lifecycle = threading.RLock()
        self.on_hard_reset: Callable[[], None] | None = None
        self._failed = threading.Event()
        self._gave_up: str | None = None
        # Left by a run whose root supervisor gave up (the process is then
        # restarted from outside): the next run boots with reason Watchdog.
        self._watchdog_mark = data_dir / "gave-up" if data_dir is not None else None
        self._unsubscribe_reset = self.bus.subscribe(self._on_event)
        # What each EVSE's display shows, for status(); whatever block fed it.
        self.displays = Displays(self.bus)

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> Station:
        with self._lifecycle:
            if self._root is not None:
                raise StationError("the station is already started")
            self.station_log.attach()
            try:
                self._start_tree(self._first_boot_reason())
            except Exception:
                self.station_log.detach()
                raise
        return self

    def _first_boot_reason(self) -> str:
        mark = self._watchdog_mark
        if mark is None or not mark.exists():
            return "PowerUp"
        mark.unlink(missing_ok=True)
        return "Watchdog"

    def _start_tree(self, boot_reason: str = "PowerUp") -> None:
        # A new tree is a reboot: it registers with the CSMS afresh.
        self.ctx.registration.clear(boot_reason)
        self.ctx.given_up.clear()
        place = Place("", None, self.registry)

        def on_root_event(event: object) -> None:
            if isinstance(event, SupervisorGaveUp) and event.path == "":
                # The root stopped every part: nothing will restart them.
                self._gave_up = event.reason
                if self._watchdog_mark is not None:
                    self._watchdog_mark.write_text(f"{event.reason}\n")
                self._failed.set()
            self.bus.publish(event)

        self._root = Supervisor.start(
            place,
            station_tree(self.ctx),
            strategy=Strategy.REST_FOR_ONE,
            max_restarts=5,
            period=30.0,
            on_event=on_root_event,
        )

    def _close_calls(self, *, drain: bool = True) -> None:
        """Before the tree stops: every CSMS CALL still open gets its answer
        (an InternalError) while the link can carry it (actors/link/rpc.py);
        with `drain`, also those of a burst still arriving."""
        if self.registry.get(RPC) is None:
            return
        # A CSMS may be sending CALLs in a burst: the link closes once they have
        # stopped coming (every one so far answered), or after CLOSE_DRAIN.
        deadline = time.monotonic() + CLOSE_DRAIN
        pause = threading.Event()
        try:
            taken = self.registry.ask(RPC, Closing(), timeout=ASK_TIMEOUT)
            while drain and time.monotonic() < deadline:
                pause.wait(CLOSE_QUIET)
                now_taken = self.registry.ask(RPC, Closing(), timeout=ASK_TIMEOUT)
                if now_taken == taken:
                    break
                taken = now_taken
        except Exception as exc:  # rpc stopping or gone: nothing left to answer through
            logging.getLogger("ocppstation.station").info("open CALLs not answered: %s", exc)

    def wait_failed(self, timeout: float | None = None) -> str | None:
        """Block until the root supervisor gives up (too many restarts of its
        parts); the reason, or None if it did not within `timeout`.

        Once it has, the station runs nothing: an embedder should stop it and
        restart the process (the CLI exits with EXIT_GAVE_UP). Open
        transactions are ended as at a power loss by the next start, from
        the database, and queued messages wait there.
        """
        self._failed.wait(timeout)
        return self._gave_up

    def stop(self, timeout: float = 10.0) -> None:
        self._unsubscribe_reset()
        # Stopping is the embedder's choice, not the CSMS's: no waiting for a burst.
        self._close_calls(drain=False)
        with self._lifecycle:
            root, self._root = self._root, None
        if root is not None and root.is_alive():
            root.stop(block=True, timeout=timeout)
        self.station_log.detach()
        scratch, self.ctx.firmware.scratch = self.ctx.firmware.scratch, None
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        self._stopped.set()

    def reset(self, kind: str = "Soft", boot_reason: str = "LocalReset") -> None:
        """What the CSMS's Reset does: end transactions, then a fresh tree boots.

        `boot_reason` is what the next 2.0.1 BootNotification says: an
        embedder's reset is a LocalReset; the CSMS's come as RemoteReset,
        ScheduledReset (OnIdle, after waiting) or FirmwareUpdate.

        Soft waits (up to RESET_GRACE seconds) for every StopTransaction to be
        answered; Hard only for them to be sent. `on_hard_reset`, when given, replaces the
        in-process restart of a Hard reset (e.g. with a real reboot).
        """
        reason = "SoftReset" if kind == "Soft" else "HardReset"
        running = [e["evse"] for e in self.status()["evses"] if e.get("transaction_id")]
        # Soft waits for the CSMS's answers; Hard only until the stops are on the
        # wire (until the queue is persisted, that is all that keeps them).
        done_type = MessageAnswered if kind == "Soft" else MessageSent
        log = self.record()
        try:
            for evse in running:
                self.registry.tell(evse_path(evse, "connector"), StopTransaction(reason))
            if running:
                stopped = 0

                def done(event: object) -> bool:
                    nonlocal stopped
                    if isinstance(event, done_type) and event.action == "StopTransaction":
                        stopped += 1
                    elif (
                        isinstance(event, MessageSent)
                        and event.action == "TransactionEvent"
                        and event.payload.get("eventType") == "Ended"
                    ):
                        stopped += 1  # 2.0.1: on the wire (its answer is not told apart)
                    return stopped >= len(running)

                try:
                    log.wait_for(done, RESET_GRACE)
                except TimeoutError:
                    logging.getLogger("ocppstation.station").warning(
                        "%s reset: not every StopTransaction went out in time", kind
                    )
        finally:
            log.close()
        self._close_calls()
        if kind == "Hard" and self.on_hard_reset is not None:
            self.on_hard_reset()
            return
        with self._lifecycle:
            root, self._root = self._root, None
            if root is not None and root.is_alive():
                root.stop(block=True, timeout=10.0)
            self._start_tree(boot_reason)

    def _on_event(self, event: object) -> None:
        # Not in the publishing actor's thread: both stop that actor.
        if isinstance(event, ResetRequested):
            threading.Thread(
                target=self.reset,
                args=(event.kind, event.boot_reason),
                name="station-reset",
                daemon=True,
            ).start()
        elif isinstance(event, VersionChosen):
            threading.Thread(
                target=self._speak, args=(event.version,), name="station-version", daemon=True
            ).start()

    def _speak(self, version: OcppVersion) -> None:
        """The CSMS chose another of the offered versions: that version's tree
        runs from now on (the tree of one version cannot speak another)."""
        with self._lifecycle:
            if self._root is None or version is self.config.ocpp_version:
                return
            root, self._root = self._root, None
            if root.is_alive():
                root.stop(block=True, timeout=10.0)
            self.config = self.config.speaking(version)
            self.ctx = dataclasses.replace(self.ctx, config=self.config)
            self._start_tree()

    def data_transfer(
        self,
        vendor_id: str,
        message_id: str | None = None,
        data: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send a DataTransfer to the CSMS and return its answer (status, data).

        Raises OfflineError / NotRegistered when it cannot be sent now: vendor
        messages are not transaction messages and are not queued.
        """
        payload: dict[str, Any] = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        return submit(self.ctx, "DataTransfer", payload).result(timeout=timeout)

    @property
    def firmware_installer(self) -> Installer | None:
        """Installs a downloaded firmware file: called on a worker thread with its
        path, returns True or the new version (a non-empty str, which the next
        BootNotification carries) when installed; raising counts as failed. A
        reboot (the Hard reset path, so `on_hard_reset`) follows success. None:
        the command in Internal.FirmwareInstallCommand, the path as last
        argument, which may print `FirmwareVersion=<version>`."""
        return self.ctx.firmware.installer

    @firmware_installer.setter
    def firmware_installer(self, installer: Installer | None) -> None:
        self.ctx.firmware.installer = installer

    def register_data_transfer(
        self, vendor_id: str, message_id: str | None, handler: DataTransferHandler
    ) -> None:
        """Answer the CSMS's DataTransfer for `vendor_id` (and `message_id`, or all)."""
        self.ctx.data_transfer.register(vendor_id, message_id, handler)

    def __enter__(self) -> Station:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._root is not None and self._root.is_alive()

    # -- the physical world --------------------------------------------------------

    @property
    def contract_issuer(self) -> ContractIssuer:
        """The simulation's test mobility operator: its `root_pem` is the
        MORootCertificate to install, `contract(emaid)` an EV's contract."""
        if self._contract_issuer is None:
            self._contract_issuer = ContractIssuer()
        return self._contract_issuer

    def v2g_credentials(self) -> tuple[str, str] | None:
        """The station's V2GCertificate chain (PEM, leaf first) and its private
        key (PEM), for the embedder's ISO 15118 stack (the SECC's TLS server
        certificate); None until a CSMS has signed one. The key is a secret:
        it is handed over here and never logged."""
        stored = self.registry.proxy("storage").certificates.all().get(timeout=5.0)
        own = [c for c in stored if c.use == V2G_CERTIFICATE and c.key is not None]
        return None if not own else (own[-1].pem, str(own[-1].key))

    def iso15118(
        self, message_id: str, request: dict[str, Any], timeout: float = 30.0
    ) -> dict[str, Any]:
        """What an ISO 15118 stack asks the CSMS through the station (1.6 Plug &
        Charge): Get15118EVCertificate (the EV's EXI request relayed) or
        GetCertificateStatus (OCSP, cached per OcspRequestInterval); the 2.0.1
        answer. StationError when Plug & Charge is off or the CSMS did not answer."""
        try:
            future = self.registry.ask(PNC, Iso15118Relay(message_id, request), timeout=5.0)
        except Exception as exc:
            raise StationError(f"{message_id} not sent: {exc}") from None
        if future is None:
            raise StationError(f"{message_id} not sent: Plug & Charge is off here")
        try:
            return dict(future.result(timeout))
        except Exception as exc:
            raise StationError(f"{message_id}: {exc}") from None

    def plug(
        self, evse: int, contract: EvContract | None = None, needs: EvNeeds | None = None
    ) -> None:
        """An EV plugged into `evse`; with `contract`, an ISO 15118 EV that
        offers it for Plug & Charge (ISO15118PnCEnabled: the station
        authorizes the eMAID, by DataTransfer in 1.6, and charges with it);
        with `needs`, an ISO 15118 EV that states its charging needs (2.0.1:
        NotifyEVChargingNeeds, and its schedule once a TxProfile comes)."""
        self._simulated(evse).plug(self.clock.monotonic())
        if needs is not None:
            self.registry.tell(PROFILES, EvNeedsStated(evse, needs))
        if contract is not None:
            offered = ContractPresented(evse, contract.emaid, contract.chain_pem)
            if not self.registry.tell(PNC, offered):
                raise StationError("no Plug & Charge here: the contract was not read")

    def unplug(self, evse: int) -> None:
        self._simulated(evse).unplug(self.clock.monotonic())

    def fault(self, evse: int, error_code: str) -> None:
        self._simulated(evse).fault(error_code, self.clock.monotonic())

    def clear(self, evse: int) -> None:
        self._simulated(evse).clear_fault(self.clock.monotonic())

    def ev_suspend(self, evse: int, suspended: bool = True) -> None:
        self._simulated(evse).ev_suspend(suspended, self.clock.monotonic())

    def tag(
        self,
        evse: int,
        id_tag: str,
        token_type: str | None = None,
        additional_info: Sequence[tuple[str, str]] = (),
    ) -> None:
        """An RFID card held to the reader of `evse`; in 2.0.1 any idToken
        type (KeyCode for a PIN, Local, MacAddress, ...) with its
        additionalInfo as (additionalIdToken, type) pairs. Raises StationError
        for a type OCPP does not know."""
        if token_type is not None and token_type not in _TOKEN_TYPES:
            raise StationError(f"no idToken type {token_type!r}; one of {', '.join(_TOKEN_TYPES)}")
        self._hw(evse)
        presented = Present(id_tag, token_type, tuple(additional_info))
        if not self.registry.tell(evse_path(evse, "connector"), presented):
            raise StationError(f"EVSE {evse} is down: the card was not read")

    def _simulated(self, evse: int) -> SimulatedEvse:
        """The simulated car and charger of `evse`; refused where the hardware is real."""
        simulated = self._hw(evse)
        if hwconfig.parse(self.config).evse(evse).board is not None:
            raise StationError(
                f"EVSE {evse} has a real charge controller: its cable and faults are physical"
            )
        return simulated

    def _hw(self, evse: int) -> SimulatedEvse:
        try:
            return self.hardware[evse]
        except KeyError:
            raise StationError(
                f"no EVSE {evse} (this station has 1 to {len(self.hardware)})"
            ) from None

    # -- fault injection -------------------------------------------------------------

    def crash(self, path: str) -> None:
        """The actor at `path` fails as if by a bug."""
        if not self.registry.tell(path, Crash(f"crash {path} requested")):
            known = ", ".join(self.registry.paths())
            raise StationError(f"no running actor at {path!r} (running: {known})")

    def revive(self, evse: int) -> None:
        """Start again an EVSE that gave up (too many restarts): an operator
        who fixed the cause brings it back without a reboot. A Reset, or the
        CSMS making it Operative, does the same."""
        self._hw(evse)
        if evse not in self.ctx.given_up:
            raise StationError(f"EVSE {evse} has not given up")
        try:
            revive(self.ctx, evse)
        except Exception as exc:
            raise StationError(f"EVSE {evse} did not start: {exc}") from None

    def disconnect(self) -> None:
        """Cut the websocket abruptly; the link reconnects after its backoff."""
        if not self.registry.tell(WEBSOCKET, Drop()):
            raise StationError("the websocket actor is not running")

    # -- observing -----------------------------------------------------------------

    def subscribe(self, subscriber: Callable[[Any], None]) -> Callable[[], None]:
        """Call `subscriber(event)` for every station event; returns unsubscribe.

        The subscriber runs in an actor's thread: hand the event on, don't block.
        Among them is `ConfigChanged` for each configuration change the CSMS
        made, an integrator's Custom keys included: subscribe, then read the
        current value with `setting`, and no change is missed.
        """
        return self.bus.subscribe(subscriber)

    def setting(self, key: str, default: Any = None) -> Any:
        """The current, typed value of configuration key `key` (exact name,
        standard or Custom), or `default` if the station does not have it."""
        return self.ctx.settings.view.v16(key, default)

    def record(self) -> EventLog:
        """Keep every event from now on, to wait on; `close()` it when done."""
        return EventLog(self.bus)

    def status(self) -> dict[str, Any]:
        """Registration, link and per-EVSE state, as the console prints it."""
        snapshot: dict[str, Any] = {"id": self.config.charge_point_id}
        try:
            snapshot.update(self.registry.proxy(REGISTRATION).state().get(timeout=ASK_TIMEOUT))
        except Exception:  # a restarting actor shows as unknown, not as an error
            snapshot.update({"registration": "unknown", "link": "unknown"})
        evses = []
        for n in self.hardware:
            entry: dict[str, Any] = {"evse": n}
            try:
                proxy = self.registry.proxy(evse_path(n, "connector"))
                entry.update(proxy.snapshot().get(timeout=ASK_TIMEOUT))
            except Exception:  # given up or restarting
                entry.update({"status": "down", "transaction_id": None})
            display = self.displays.get(n)
            if display is not None:
                entry["display"] = {"text": display.text, "qr": display.qr}
                if display.message_id is not None:
                    entry["display"].update(
                        id=display.message_id,
                        priority=display.priority,
                        format=display.format,
                        language=display.language,
                    )
            evses.append(entry)
        snapshot["evses"] = evses
        try:
            # Durable commits since the storage actor started: group commit's measure.
            snapshot["commits"] = self.ctx.storage().commits.get(timeout=ASK_TIMEOUT)
        except Exception:
            snapshot["commits"] = None
        return snapshot


class Displays:
    """The last `DisplayChanged` of each EVSE; thread-safe (the bus calls from any actor)."""

    def __init__(self, bus: EventBus) -> None:
        self._lock = threading.Lock()
        self._shown: dict[int, DisplayChanged] = {}
        self._unsubscribe = bus.subscribe(self._add)

    def _add(self, event: Any) -> None:
        if isinstance(event, DisplayChanged):
            with self._lock:
                self._shown[event.evse] = event

    def get(self, evse: int) -> DisplayChanged | None:
        with self._lock:
            return self._shown.get(evse)

    def close(self) -> None:
        self._unsubscribe()


class EventLog:
    """Every event from subscription on, kept in order; wait on them by predicate."""

    def __init__(self, bus: EventBus) -> None:
        self._events: list[Any] = []
        self._cond = threading.Condition()
        self._unsubscribe = bus.subscribe(self._add)

    def _add(self, event: Any) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def mark(self) -> int:
        with self._cond:
            return len(self._events)

    def all(self, since: int = 0) -> list[Any]:
        with self._cond:
            return self._events[since:]

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float, since: int = 0) -> Any:
        """The first event at index >= `since` matching `predicate`, or TimeoutError."""
        with self._cond:
            checked = since
            deadline = time.monotonic() + timeout
            while True:
                for event in self._events[checked:]:
                    if predicate(event):
                        return event
                checked = max(checked, len(self._events))
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n  ".join(repr(e) for e in self._events[-10:])
                    raise TimeoutError(f"no matching station event in {timeout}s; last:\n  {tail}")
                self._cond.wait(left)

    def close(self) -> None:
        self._unsubscribe()
