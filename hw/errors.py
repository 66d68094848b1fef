"""What can go wrong between the station and a device, as exceptions.

Every driver failure is one of these, so an actor can tell a device problem
(report a fault, let the supervisor restart the driver) from a bug. Each
carries a short `detail` that ends up in the log and in `hw probe` output.
"""

from __future__ import annotations


class DeviceError(Exception):
    """The device cannot be used right now."""

    kind = "device error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class PortGone(DeviceError):
    """The serial port cannot be opened, or vanished (cable pulled, USB re-enumerated)."""

    kind = "port gone"


class DeviceTimeout(DeviceError):
    """The device did not answer in time."""

    kind = "timeout"


class Garbage(DeviceError):
    """Bytes that are not a frame of the expected protocol."""

    kind = "garbage"


class ChecksumError(Garbage):
    """A frame whose CRC or checksum does not match its contents."""

    kind = "checksum error"


class DeviceRefused(DeviceError):
    """The device answered, but with an error (Modbus exception, board ERR)."""

    kind = "refused"
