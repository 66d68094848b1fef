"""Serial driver actors: the Modbus meter, the charge controller board, RFID readers.

Each driver talks to its device through `hw/serial_io.py`, on a port of its
own but for meters, which may share an RS-485 line (`ctx.buses`).
Let it crash: any device error (port gone, timeout, garbage, bad CRC) fails
the actor, which tells the EVSE's hub `DriverFailed` on its way out; the
supervisor restarts it after a backoff delay (outside the EVSE's restart
intensity, so a port that stays away for an hour never gives the EVSE up);
the restarted driver tells the hub `DriverHealthy` once its device answers.
Whether and when that is a connector fault is the hub's call (actors/hardware.py).

Only a told message can crash a pykka actor, so a failure met while
answering an ask (the connector reading the meter) is answered with the
error and then told to the driver itself to fail it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ocppstation.actors.evse.connector import Present
from ocppstation.actors.evse.hardware import (
    CONTROLLER,
    METER,
    READER,
    Board,
    ControllerCommand,
    ControllerReport,
    DriverFailed,
    DriverHealthy,
    Meter,
    ReadMeter,
    ReportHealth,
)
from ocppstation.actors.runtime.base import Place, Supervised
from ocppstation.actors.runtime.context import StationContext, evse_path
from ocppstation.actors.runtime.restart import RestartBackoff
from ocppstation.actors.runtime.supervisor import ChildSpec, Strategy, Supervisor
from ocppstation.hw import board_protocol as bp
from ocppstation.hw import devices as hwconfig
from ocppstation.hw.devices import BoardDevice, HardwareConfig, MeterDevice, ReaderDevice
from ocppstation.hw.errors import DeviceError, DeviceRefused, Garbage
from ocppstation.hw.ports import MeterReading
from ocppstation.hw.rfid import Bad, Card, Debounce, id_tag
from ocppstation.hw.serial_io import BoardLink, CardReader, ModbusBus, ModbusMeter

STATION_READER = "reader"
STATION_READER_DEVICE = "reader/rfid"


@dataclass(frozen=True)
class _Fail:
    """Told to a driver by itself (or its port thread): fail with `error`."""

    error: Exception


@dataclass(frozen=True)
class _Poll:
    pass


@dataclass(frozen=True)
class _FromBoard:
    message: bp.Message | DeviceError


@dataclass(frozen=True)
class _Read:
    item: Card | Bad


class Driver(Supervised):
    """Common to the drivers: health reports to the hubs, failing on device errors."""

    source: ClassVar[str]

    def __init__(self, place: Place, ctx: StationContext, hubs: tuple[str, ...]) -> None:
        super().__init__(place)
        self.ctx = ctx
        self.hubs = hubs
        self.healthy = False

    # -- for subclasses --

    def open(self) -> None:
        """Open the device and prove it answers; raise DeviceError otherwise."""

    def close(self) -> None:
        """Release the port; must cope with a half-done open()."""

    def handle(self, message: Any) -> Any:
        return super().receive(message)

    # -- lifecycle --

    def setup(self) -> None:
        self.open()
        self.healthy = True
        self._tell_hubs(DriverHealthy(self.source))

    def teardown(self) -> None:
        self.close()

    def receive(self, message: Any) -> Any:
        match message:
            case _Fail(error=error):
                raise error
            case ReportHealth(reply_to=hub) if self.healthy:
                self.ctx.registry.tell(hub, DriverHealthy(self.source))
                return None
            case ReportHealth():
                return None
            case _:
                return self.handle(message)

    def fail_later(self, error: Exception) -> None:
        """Fail through the mailbox: from an ask handler or another thread."""
        self.actor_ref.tell(_Fail(error))

    def _tell_hubs(self, message: object) -> None:
        for hub in self.hubs:
            self.ctx.registry.tell(hub, message)

    def _report_exit(self, reason: BaseException | None) -> None:
        # Every abnormal way out (setup failing, a told message raising) is
        # the device being unusable from the EVSE's point of view.
        if reason is not None and not self._exit_reported:
            self._tell_hubs(DriverFailed(self.source, str(reason)))
        super()._report_exit(reason)


class ModbusMeterDriver(Driver):
    """An energy meter over Modbus RTU; polled, and read afresh when asked."""

    source = METER

    def __init__(
        self, place: Place, ctx: StationContext, hubs: tuple[str, ...], device: MeterDevice
    ) -> None:
        super().__init__(place, ctx, hubs)
        self.device = device
        self.bus: ModbusBus | None = None
        self.meter: ModbusMeter | None = None
        self.last: MeterReading | None = None
        self.timer: int | None = None

    def open(self) -> None:
        # The line may carry other EVSEs' meters: held, not owned (ctx.buses).
        self.bus = self.ctx.buses.acquire(self.device.port)
        self.meter = ModbusMeter(
            self.device.port, self.device.unit, self.device.registers, bus=self.bus
        )
        self.last = self.meter.read()
        # Polling notices a dead meter even when nobody reads it (no session).
        self.timer = self.ctx.call_every(self.device.poll_interval, self.actor_ref, _Poll())

    def close(self) -> None:
        self.ctx.cancel(self.timer)
        # The port closes with its last meter; the others on it read on.
        bus, self.bus = self.bus, None
        if bus is not None:
            self.ctx.buses.release(bus)

    def handle(self, message: Any) -> Any:
        match message:
            case _Poll():
                assert self.meter is not None
                self.last = self.meter.read()  # a DeviceError here fails us
            case ReadMeter():
                assert self.meter is not None
                try:
                    self.last = self.meter.read()
                except DeviceError as exc:
                    self.fail_later(exc)
                    raise  # the asker keeps its last reading
                return self.last
            case _:
                return super().handle(message)
        return None


class BoardDriver(Driver):
    """The charge controller board over its line protocol (docs/hw-protocol.md)."""

    source = CONTROLLER

    def __init__(self, place: Place, ctx: StationContext, evse: int, device: BoardDevice) -> None:
        super().__init__(place, ctx, (evse_path(evse, "board"),))
        self.evse = evse
        self.device = device
        self.link: BoardLink | None = None
        self.timer: int | None = None

    def open(self) -> None:
        me = self.actor_ref

        def on_message(message: bp.Message | DeviceError) -> None:
            me.tell(_FromBoard(message))

        def on_error(error: DeviceError) -> None:
            me.tell(_Fail(error))

        self.link = BoardLink(self.device.port, on_message, on_error)
        hello = self.link.command("HELLO")
        if hello.extra and hello.extra[0] != bp.PROTOCOL_VERSION:
            raise DeviceRefused(
                f"board speaks protocol {hello.extra[0]}, we speak {bp.PROTOCOL_VERSION}"
            )
        self.log.info("board says hello: %s", " ".join(hello.extra) or "(no version)")
        # The ST line comes before the OK, through the mailbox, after setup.
        self.link.command("STATUS")
        self.timer = self.ctx.call_every(self.device.keepalive, self.actor_ref, _Poll())

    def close(self) -> None:
        self.ctx.cancel(self.timer)
        if self.link is not None:
            self.link.close()

    def handle(self, message: Any) -> Any:
        match message:
            case _FromBoard(message=bp.Status() as status):
                self._tell_hubs(ControllerReport(status))
            case _FromBoard(message=bp.Boot(version=version)):
                # Its outputs are off now; a restart brings it back to what we want.
                raise DeviceError(f"board restarted (firmware {version})")
            case _FromBoard(message=DeviceError() as error):
                raise error
            case _FromBoard(message=other):
                raise Garbage(f"unexpected from the board: {other!r}")
            case _Poll():
                assert self.link is not None
                self.link.command("PING")
            case ControllerCommand(name=name, value=value):
                assert self.link is not None
                try:
                    self.link.command(name, value)
                except DeviceRefused:
                    raise  # the board is there and said no: not a link failure
                except DeviceError as exc:
                    self.fail_later(exc)
                    raise
            case _:
                return super().handle(message)
        return None


class ReaderDriver(Driver):
    """An RFID reader: RDM6300 frames or one card per line, debounced."""

    source = READER

    def __init__(
        self,
        place: Place,
        ctx: StationContext,
        hubs: tuple[str, ...],
        device: ReaderDevice,
        evses: tuple[int, ...],
    ) -> None:
        """`evses`: where cards go; one EVSE, or those sharing the station's reader."""
        super().__init__(place, ctx, hubs)
        self.device = device
        self.evses = evses
        self.reader: CardReader | None = None
        self.debounce = Debounce(device.debounce)

    def open(self) -> None:
        me = self.actor_ref
        self.reader = CardReader(
            self.device.port,
            self.device.mode,
            lambda item: me.tell(_Read(item)),
            lambda error: me.tell(_Fail(error)),
        )

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def handle(self, message: Any) -> Any:
        match message:
            case _Read(item=Card(number=number)):
                report, self.debounce = self.debounce.seen(number, self.ctx.clock.monotonic())
                if report:
                    self._present(id_tag(number, self.device.id_format))
            case _Read(item=Bad(reason=reason, raw=raw)):
                raise Garbage(f"{reason}: {raw[:32]!r}")
            case _:
                return super().handle(message)
        return None

    def _present(self, tag: str) -> None:
        evse = self.evses[0] if len(self.evses) == 1 else self._choose(tag)
        self.log.info("card %s for EVSE %s", tag, evse)
        if evse is None or not self.ctx.registry.tell(evse_path(evse, "connector"), Present(tag)):
            self.log.warning("card %s read, but no EVSE can take it", tag)

    def _choose(self, tag: str) -> int | None:
        """For a shared reader: the EVSE this card is most likely meant for.

        Its own session first (to stop it), then a cable waiting for a card,
        then a free EVSE (the card comes before the cable).
        """
        snapshots = self.ctx.snapshots(self.evses, timeout=1.0)
        for n, snap in snapshots.items():
            # Its session (even one the CSMS has not numbered yet), or its pre-authorization.
            if snap.get("id_tag") == tag:
                return n
        for wanted in ("Preparing", "Available"):
            for n, snap in snapshots.items():
                if snap.get("status") == wanted and snap.get("id_tag") is None:
                    return n
        return None


# -- the tree ------------------------------------------------------------------------


def _backoff(hardware: HardwareConfig) -> RestartBackoff:
    return RestartBackoff(
        initial=hardware.restart_delay_min,
        maximum=hardware.restart_delay_max,
        reset_after=max(60.0, 2 * hardware.restart_delay_max),
    )


def evse_hardware(ctx: StationContext, evse: int) -> list[ChildSpec]:
    """The children of EVSE `evse` that stand for its hardware, in start order.

    The hub comes first (drivers report to it as they start), the connector
    goes after these.
    """
    hardware = hwconfig.parse(ctx.config)
    devices = hardware.evse(evse)
    backoff = _backoff(hardware)
    hub = evse_path(evse, "board")
    drivers = [
        evse_path(evse, part)
        for part, on in (
            (CONTROLLER, devices.board),
            (METER, devices.meter),
            (READER, devices.reader),
        )
        if on
    ]
    if evse in hardware.shared_reader_serves(ctx.config.evses):
        drivers.append(STATION_READER_DEVICE)
    specs = [
        ChildSpec(
            "board",
            lambda p: Board.start(
                p, ctx, evse, devices, fault_delay=hardware.fault_delay, drivers=tuple(drivers)
            ),
        )
    ]
    if devices.board is not None:
        board = devices.board
        specs.append(
            ChildSpec(CONTROLLER, lambda p: BoardDriver.start(p, ctx, evse, board), backoff=backoff)
        )
    if devices.meter is not None:
        meter = devices.meter
        specs.append(
            ChildSpec(
                METER, lambda p: ModbusMeterDriver.start(p, ctx, (hub,), meter), backoff=backoff
            )
        )
    else:
        specs.append(ChildSpec(METER, lambda p: Meter.start(p, ctx, evse)))
    if devices.reader is not None:
        reader = devices.reader
        specs.append(
            ChildSpec(
                READER,
                lambda p: ReaderDriver.start(p, ctx, (hub,), reader, (evse,)),
                backoff=backoff,
            )
        )
    return specs


def station_reader(ctx: StationContext) -> ChildSpec | None:
    """The station's shared reader under its own small supervisor, or None.

    Its own supervisor, so that its restarts wait on the station's scheduler
    and never count against the root's intensity.
    """
    hardware = hwconfig.parse(ctx.config)
    device = hardware.reader
    if device is None:
        return None
    evses = hardware.shared_reader_serves(ctx.config.evses)
    hubs = tuple(evse_path(n, "board") for n in evses)
    backoff = _backoff(hardware)

    def start(place: Place) -> Any:
        return Supervisor.start(
            place,
            [
                ChildSpec(
                    STATION_READER_DEVICE.rsplit("/", 1)[1],
                    lambda p: ReaderDriver.start(p, ctx, hubs, device, evses),
                    backoff=backoff,
                )
            ],
            strategy=Strategy.ONE_FOR_ONE,
            on_event=ctx.bus.publish,
            later=ctx.call_later,
        )

    return ChildSpec(STATION_READER, start)


def check_hardware(ctx: StationContext) -> None:
    """At start-up: the Hardware section makes sense and every port exists (ConfigError)."""
    hwconfig.check_ports(hwconfig.parse(ctx.config), ctx.config.source)
