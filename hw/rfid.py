"""RFID reader streams: RDM6300 frames, one card per line, and debouncing. Pure.

RDM6300-style 125 kHz readers send, while a card is held to them, a 14-byte
frame over and over: STX (0x02), ten ASCII hex characters (a version byte
and the 4-byte card number), two ASCII hex characters of checksum (the XOR
of the five data bytes) and ETX (0x03). Other readers print one card number
per line. Both decoders take bytes as they come and return what they found:
cards, and `Bad` for bytes that are not a frame, so the driver decides what
garbage means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

STX, ETX = 0x02, 0x03
FRAME_LENGTH = 14
_HEX = frozenset(b"0123456789ABCDEFabcdef")
# Longer lines than this are not card numbers; the buffer stays bounded.
MAX_LINE = 64
_CARD_LINE = re.compile(rb"^[0-9A-Za-z]{1,32}$")

IdFormat = Literal["hex", "decimal"]


@dataclass(frozen=True)
class Card:
    """A card read; `number` is the 10 hex characters (RDM6300) or the line."""

    number: str


@dataclass(frozen=True)
class Bad:
    """Bytes that were skipped, and why."""

    reason: str
    raw: bytes


def checksum(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def encode_rdm6300(number: str) -> bytes:
    """The frame a reader sends for card `number` (10 hex characters)."""
    data = bytes.fromhex(number)
    if len(data) != 5:
        raise ValueError(f"an RDM6300 card number is 10 hex characters, got {number!r}")
    return bytes([STX]) + number.upper().encode() + b"%02X" % checksum(data) + bytes([ETX])


def id_tag(number: str, fmt: IdFormat = "hex") -> str:
    """The OCPP idTag for a card: the hex number, or the 10-digit decimal printed on cards.

    EM4100 cards usually carry the last four bytes as a decimal number on
    their face, which is what people type into a CSMS.
    """
    if fmt == "decimal" and len(number) == 10:
        try:
            return f"{int(number[2:], 16):010d}"
        except ValueError:
            return number
    return number.upper()


class Rdm6300Decoder:
    """Bytes in, cards and bad frames out; resynchronises on the next STX."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Card | Bad]:
        self._buffer += data
        found: list[Card | Bad] = []
        while self._buffer:
            start = self._buffer.find(STX)
            if start < 0:
                found.append(Bad("no STX", bytes(self._buffer)))
                self._buffer.clear()
                break
            if start > 0:
                found.append(Bad("bytes before STX", bytes(self._buffer[:start])))
                del self._buffer[:start]
            if len(self._buffer) < FRAME_LENGTH:
                # A frame cut short by a new STX is garbage; otherwise wait for more.
                restart = self._buffer.find(STX, 1)
                if restart < 0:
                    break
                found.append(Bad("frame cut short", bytes(self._buffer[:restart])))
                del self._buffer[:restart]
                continue
            frame = bytes(self._buffer[:FRAME_LENGTH])
            problem = _frame_problem(frame)
            if problem is None:
                found.append(Card(frame[1:11].decode().upper()))
                del self._buffer[:FRAME_LENGTH]
            else:
                # A real frame may start inside this one (a byte was lost):
                # resume at the next STX in it, else after it.
                restart = frame.find(bytes([STX]), 1)
                skip = restart if restart > 0 else FRAME_LENGTH
                found.append(Bad(problem, frame[:skip]))
                del self._buffer[:skip]
        return found


def _frame_problem(frame: bytes) -> str | None:
    if frame[-1] != ETX:
        return "no ETX"
    body = frame[1:13]
    if not all(byte in _HEX for byte in body):
        return "not hex"
    data = bytes.fromhex(body[:10].decode())
    if checksum(data) != int(body[10:], 16):
        return "checksum"
    return None


class LineDecoder:
    """One card number per line (CR, LF or CRLF); blank lines are ignored."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Card | Bad]:
        self._buffer += data.replace(b"\r", b"\n")
        found: list[Card | Bad] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    found.append(Bad("line too long", bytes(self._buffer)))
                    self._buffer.clear()
                break
            line = bytes(self._buffer[:end]).strip()
            del self._buffer[: end + 1]
            if not line:
                continue
            if _CARD_LINE.match(line):
                found.append(Card(line.decode().upper()))
            else:
                found.append(Bad("not a card number", line))
        return found


@dataclass(frozen=True)
class Debounce:
    """Reports a card once while it is held; again after `window` s without it.

    A card held to the reader repeats every few tens of milliseconds; each
    sighting pushes the window on, so only taking it away (or another card)
    lets it be reported again.
    """

    window: float
    last: str | None = None
    last_seen: float = float("-inf")

    def seen(self, number: str, now: float) -> tuple[bool, Debounce]:
        report = number != self.last or now - self.last_seen >= self.window
        return report, Debounce(self.window, number, now)
