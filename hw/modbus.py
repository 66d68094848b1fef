"""Modbus RTU frames for reading registers: pure, bytes in and frames out.

Only what an energy meter needs: function 0x04 (read input registers) and
0x03 (read holding registers), their answers and exception answers, and
IEEE 754 floats spread over two registers. Both sides are here, the master's
(requests out, responses in) and the slave's (the fake meter in tools/), so
one set of property tests covers both directions.

A frame is: unit address, function code, data, CRC-16 (polynomial 0xA001
reflected, initial 0xFFFF) sent low byte first.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ocppstation.hw.errors import ChecksumError, DeviceRefused, Garbage

READ_HOLDING = 0x03
READ_INPUT = 0x04
READ_FUNCTIONS = (READ_HOLDING, READ_INPUT)

# The spec's limit for one read; meters often allow fewer (see meters.json).
MAX_REGISTERS = 125

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "slave device failure",
    5: "acknowledge",
    6: "slave device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def _check_crc(frame: bytes) -> bytes:
    """The frame without its CRC, or ChecksumError."""
    if len(frame) < 4:
        raise Garbage(f"frame too short ({len(frame)} bytes): {frame.hex()}")
    body, (sent,) = frame[:-2], struct.unpack("<H", frame[-2:])
    if crc16(body) != sent:
        raise ChecksumError(f"CRC {sent:04x} should be {crc16(body):04x}: {frame.hex()}")
    return body


@dataclass(frozen=True)
class ReadRequest:
    unit: int
    function: int
    address: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.unit <= 247:
            raise ValueError(f"unit must be 0..247, got {self.unit}")
        if self.function not in READ_FUNCTIONS:
            raise ValueError(f"function must be 3 or 4, got {self.function}")
        if not 0 <= self.address <= 0xFFFF:
            raise ValueError(f"address must be 0..65535, got {self.address}")
        if not 1 <= self.count <= MAX_REGISTERS or self.address + self.count > 0x10000:
            raise ValueError(f"cannot read {self.count} registers from {self.address}")

    def encode(self) -> bytes:
        return with_crc(struct.pack(">BBHH", self.unit, self.function, self.address, self.count))

    @property
    def response_length(self) -> int:
        """Length of a normal answer: unit, function, byte count, data, CRC."""
        return 5 + 2 * self.count


REQUEST_LENGTH = 8


def decode_request(frame: bytes) -> ReadRequest:
    """A read request as a slave receives it; Garbage or ChecksumError otherwise."""
    if len(frame) != REQUEST_LENGTH:
        raise Garbage(f"a read request is 8 bytes, got {len(frame)}: {frame.hex()}")
    body = _check_crc(frame)
    unit, function, address, count = struct.unpack(">BBHH", body)
    try:
        return ReadRequest(unit, function, address, count)
    except ValueError as exc:
        raise Garbage(str(exc)) from None


def encode_response(unit: int, function: int, registers: Sequence[int]) -> bytes:
    if not 1 <= len(registers) <= MAX_REGISTERS:
        raise ValueError(f"1 to {MAX_REGISTERS} registers, got {len(registers)}")
    data = struct.pack(f">{len(registers)}H", *registers)
    return with_crc(bytes([unit, function, len(data)]) + data)


def encode_exception(unit: int, function: int, code: int) -> bytes:
    return with_crc(bytes([unit, function | 0x80, code]))


def response_length(prefix: bytes) -> int | None:
    """Total length of the answer that starts with `prefix`; None until 3 bytes are in.

    The master reads 3 bytes, asks this, then reads the rest: an exception
    answer is 5 bytes whatever was asked, a normal one says its byte count.
    """
    if len(prefix) < 3:
        return None
    if prefix[1] & 0x80:
        return 5
    return 5 + prefix[2]


def decode_response(request: ReadRequest, frame: bytes) -> tuple[int, ...]:
    """The registers answered to `request`.

    Raises ChecksumError for a bad CRC, DeviceRefused for an exception answer,
    Garbage for anything else that is not the answer to this request (another
    unit, another function, a wrong length).
    """
    body = _check_crc(frame)
    unit, function = body[0], body[1]
    if unit != request.unit:
        raise Garbage(f"answer from unit {unit}, asked unit {request.unit}: {frame.hex()}")
    if function == request.function | 0x80 and len(body) == 3:
        code = body[2]
        name = EXCEPTION_NAMES.get(code, "unknown exception")
        raise DeviceRefused(f"modbus exception {code} ({name})")
    if function != request.function:
        raise Garbage(f"answer to function {function}, asked {request.function}: {frame.hex()}")
    if len(body) < 3 or body[2] != 2 * request.count or len(body) != 3 + body[2]:
        raise Garbage(f"answer of the wrong length for {request.count} registers: {frame.hex()}")
    return struct.unpack(f">{request.count}H", body[3:])


WordOrder = Literal["high_first", "low_first"]


def float_from_registers(first: int, second: int, order: WordOrder = "high_first") -> float:
    """An IEEE 754 single from two registers (Eastron sends the high word first)."""
    high, low = (first, second) if order == "high_first" else (second, first)
    return struct.unpack(">f", struct.pack(">HH", high, low))[0]


def registers_from_float(value: float, order: WordOrder = "high_first") -> tuple[int, int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return (high, low) if order == "high_first" else (low, high)


def plan_blocks(addresses: Iterable[int], max_count: int, width: int = 2) -> list[tuple[int, int]]:
    """Group values of `width` registers into as few reads as fit in `max_count`.

    Returns (start, count) per read, in address order; every address is
    covered whole by exactly one read. The registers between two wanted
    values are read too (meters answer them), which costs a few bytes and
    saves a round trip of a few tens of milliseconds at 9600 baud.
    """
    if max_count < width:
        raise ValueError(f"max_count {max_count} is smaller than a value ({width})")
    blocks: list[tuple[int, int]] = []
    for address in sorted(set(addresses)):
        if blocks:
            start, count = blocks[-1]
            end = address + width
            if address < start + count:  # overlaps the last block: extend it
                blocks[-1] = (start, max(count, end - start))
                if blocks[-1][1] <= max_count:
                    continue
                blocks[-1] = (start, count)
            elif end - start <= max_count:
                blocks[-1] = (start, end - start)
                continue
        blocks.append((address, width))
    return blocks
