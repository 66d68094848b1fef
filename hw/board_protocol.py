"""The charge-controller board's line protocol: pure, lines in and messages out.

Documented for firmware authors in docs/hw-protocol.md; this module is the
reference. Every line is ASCII, `PAYLOAD*CC\\n`, where CC is the XOR of the
payload's bytes in two upper-case hex digits (as in NMEA 0183), so a line
damaged on the wire is refused instead of misread.

Host to board: `HELLO seq`, `STATUS seq`, `PING seq`, `POWER seq 0|1`,
`CUR seq amps`, `LOCK seq 0|1`. The board answers each with `OK seq` or
`ERR seq reason`, and sends `ST pilot relay lock amps errors` whenever its
state changes (and before answering STATUS), and `BOOT version` after a reset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ocppstation.hw.errors import ChecksumError, Garbage
from ocppstation.hw.ports import Pilot

PROTOCOL_VERSION = "1"
MAX_LINE = 120  # bytes, newline included; longer is garbage
MAX_SEQ = 65535
COMMANDS = ("HELLO", "STATUS", "PING", "POWER", "CUR", "LOCK")
_WORD = re.compile(r"^[A-Za-z0-9_.,+-]{1,64}$")

# Board error names and the OCPP 1.6 ChargePointErrorCode each one means,
# in the order of precedence when several are active at once.
ERROR_CODES: dict[str, str] = {
    "rcd": "GroundFailure",
    "overcurrent": "OverCurrentFailure",
    "overvoltage": "OverVoltage",
    "undervoltage": "UnderVoltage",
    "relay": "PowerSwitchFailure",
    "lock": "ConnectorLockFailure",
    "temp": "HighTemperature",
    "pilot": "EVCommunicationError",
    "internal": "InternalError",
}
UNKNOWN_ERROR = "OtherError"


@dataclass(frozen=True)
class Command:
    """Host to board. `value` is the argument of POWER, CUR and LOCK."""

    name: str
    seq: int
    value: str | None = None


@dataclass(frozen=True)
class Reply:
    seq: int
    ok: bool
    reason: str = ""
    extra: tuple[str, ...] = ()  # HELLO's answer: protocol version, firmware


@dataclass(frozen=True)
class Status:
    pilot: Pilot
    relay: bool
    locked: bool | None  # None: the board has no lock
    current_a: float
    errors: tuple[str, ...] = field(default_factory=tuple)

    def fault(self) -> str | None:
        """The OCPP error code this state means, None when healthy."""
        if self.errors:
            ranked = sorted(
                self.errors,
                key=lambda e: list(ERROR_CODES).index(e) if e in ERROR_CODES else len(ERROR_CODES),
            )
            return ERROR_CODES.get(ranked[0], UNKNOWN_ERROR)
        if self.pilot in (Pilot.E, Pilot.F):
            # No cause named: the pilot itself is wrong, so the EV cannot be talked to.
            return "EVCommunicationError"
        return None


@dataclass(frozen=True)
class Boot:
    version: str


Message = Command | Reply | Status | Boot


def line_checksum(payload: bytes) -> int:
    value = 0
    for byte in payload:
        value ^= byte
    return value


def frame(payload: str) -> bytes:
    data = payload.encode("ascii")
    if b"*" in data or b"\n" in data or b"\r" in data:
        raise ValueError(f"payload may not contain '*' or line breaks: {payload!r}")
    line = data + b"*%02X\n" % line_checksum(data)
    if len(line) > MAX_LINE:
        raise ValueError(f"line longer than {MAX_LINE} bytes: {payload!r}")
    return line


def _amps(value: float) -> str:
    return f"{value:.1f}"


def encode(message: Message) -> bytes:
    match message:
        case Command(name=name, seq=seq, value=value):
            if name not in COMMANDS:
                raise ValueError(f"unknown command {name!r}")
            return frame(f"{name} {seq}" + (f" {value}" if value is not None else ""))
        case Reply(seq=seq, ok=True, extra=extra):
            return frame(" ".join(("OK", str(seq), *extra)))
        case Reply(seq=seq, ok=False, reason=reason):
            return frame(f"ERR {seq} {reason or 'error'}")
        case Status():
            lock = "-" if message.locked is None else str(int(message.locked))
            errors = ",".join(message.errors) or "-"
            return frame(
                f"ST {message.pilot.value} {int(message.relay)} {lock} "
                f"{_amps(message.current_a)} {errors}"
            )
        case Boot(version=version):
            return frame(f"BOOT {version}")
    raise TypeError(f"not a board message: {message!r}")


def power(seq: int, on: bool) -> Command:
    return Command("POWER", seq, "1" if on else "0")


def lock(seq: int, locked: bool) -> Command:
    return Command("LOCK", seq, "1" if locked else "0")


def offer(seq: int, amps: float) -> Command:
    return Command("CUR", seq, _amps(amps))


def decode(line: bytes) -> Message:
    """One line (with or without its newline) to a message; Garbage otherwise."""
    text = line.rstrip(b"\r\n")
    star = text.rfind(b"*")
    if star < 0 or len(text) - star != 3:
        raise Garbage(f"no *checksum: {line[:MAX_LINE]!r}")
    payload, sent = text[:star], text[star + 1 :]
    try:
        expected = int(sent, 16)
    except ValueError:
        raise Garbage(f"checksum is not hex: {line[:MAX_LINE]!r}") from None
    if line_checksum(payload) != expected:
        raise ChecksumError(f"checksum {sent.decode(errors='replace')}: {line[:MAX_LINE]!r}")
    try:
        words = payload.decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise Garbage(f"not ASCII: {line[:MAX_LINE]!r}") from None
    if not all(_WORD.match(w) for w in words):
        raise Garbage(f"bad field in {payload!r}")
    try:
        return _parse(words)
    except (ValueError, IndexError) as exc:
        raise Garbage(f"{exc}: {payload!r}") from None


def _seq(word: str) -> int:
    seq = int(word)
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"sequence number out of range: {seq}")
    return seq


def _flag(word: str) -> bool:
    if word not in ("0", "1"):
        raise ValueError(f"expected 0 or 1, got {word!r}")
    return word == "1"


def _parse(words: list[str]) -> Message:
    kind, args = words[0], words[1:]
    if kind in COMMANDS:
        wants_value = kind in ("POWER", "CUR", "LOCK")
        if len(args) != 1 + wants_value:
            raise ValueError(f"{kind} takes {1 + wants_value} fields")
        value = args[1] if wants_value else None
        if kind in ("POWER", "LOCK"):
            _flag(value or "")
        elif kind == "CUR":
            amps = float(value or "")
            if not 0 <= amps <= 80:
                raise ValueError(f"current out of range: {amps}")
        return Command(kind, _seq(args[0]), value)
    if kind == "OK":
        if not args:
            raise ValueError("OK needs a sequence number")
        return Reply(_seq(args[0]), True, extra=tuple(args[1:]))
    if kind == "ERR":
        if len(args) != 2:
            raise ValueError("ERR takes a sequence number and a reason")
        return Reply(_seq(args[0]), False, args[1])
    if kind == "ST":
        if len(args) != 5:
            raise ValueError("ST takes 5 fields")
        pilot = Pilot(args[0])
        locked = None if args[2] == "-" else _flag(args[2])
        current = float(args[3])
        if not 0 <= current <= 80:
            raise ValueError(f"current out of range: {current}")
        errors = () if args[4] == "-" else tuple(e for e in args[4].split(",") if e)
        return Status(pilot, _flag(args[1]), locked, current, errors)
    if kind == "BOOT":
        if len(args) != 1:
            raise ValueError("BOOT takes one field")
        return Boot(args[0])
    raise ValueError(f"unknown message {kind!r}")


class LineSplitter:
    """Bytes in, complete lines out; an overlong line comes out as it is, to be refused."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        lines: list[bytes] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    lines.append(bytes(self._buffer))
                    self._buffer.clear()
                break
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if line.strip():
                lines.append(line)
        return lines
