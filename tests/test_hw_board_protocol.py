"""The board line protocol and the fault debounce: examples and properties, no I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.hw import board_protocol as bp
from ocppstation.hw import health
from ocppstation.hw.errors import ChecksumError, DeviceError, Garbage
from ocppstation.hw.ports import Pilot


def test_lines_as_documented() -> None:
    # The examples in docs/hw-protocol.md, checksums included.
    assert bp.encode(bp.Command("HELLO", 1)) == b"HELLO 1*53\n"
    assert bp.encode(bp.power(7, True)) == b"POWER 7 1*59\n"
    assert bp.encode(bp.Status(Pilot.B, False, True, 16.0, ())) == b"ST B 0 1 16.0 -*50\n"
    assert bp.decode(b"ERR 7 relay*11\r\n") == bp.Reply(7, False, "relay")
    assert bp.decode(b"OK 1 1 fw-2.3*37\n") == bp.Reply(1, True, extra=("1", "fw-2.3"))


seqs = st.integers(0, bp.MAX_SEQ)
words = st.from_regex(r"[a-z0-9_.-]{1,12}", fullmatch=True)
messages = st.one_of(
    st.builds(bp.Command, st.sampled_from(["HELLO", "STATUS", "PING"]), seqs),
    st.builds(bp.power, seqs, st.booleans()),
    st.builds(bp.lock, seqs, st.booleans()),
    st.builds(bp.offer, seqs, st.floats(0, 80).map(lambda a: round(a, 1))),
    st.builds(bp.Reply, seqs, st.just(True), st.just(""), st.lists(words, max_size=3).map(tuple)),
    st.builds(bp.Reply, seqs, st.just(False), words),
    st.builds(
        bp.Status,
        st.sampled_from(list(Pilot)),
        st.booleans(),
        st.one_of(st.none(), st.booleans()),
        st.floats(0, 80).map(lambda a: round(a, 1)),
        st.lists(st.from_regex(r"[a-z]{1,12}", fullmatch=True), max_size=3).map(tuple),
    ),
    st.builds(bp.Boot, words),
)


@given(messages)
def test_every_message_round_trips(message: bp.Message) -> None:
    assert bp.decode(bp.encode(message)) == message


@given(messages, st.data())
def test_a_damaged_line_is_refused(message: bp.Message, data) -> None:
    line = bytearray(bp.encode(message))
    i = data.draw(st.integers(0, len(line) - 2))  # any byte but the newline
    new = data.draw(st.integers(0x20, 0x7E).filter(lambda b: b != line[i]))
    line[i] = new
    try:
        decoded = bp.decode(bytes(line))
    except DeviceError:
        return
    # XOR catches every single changed byte in the payload; only a change of
    # the checksum digits' case can still decode (hex is case-blind).
    assert decoded == message


@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_but_garbage(junk: bytes) -> None:
    for line in bp.LineSplitter().feed(junk + b"\n"):
        try:
            bp.decode(line)
        except Garbage:
            pass


def test_refusals_say_why() -> None:
    with pytest.raises(ChecksumError):
        bp.decode(b"ST B 0 1 16.0 -*00\n")
    with pytest.raises(Garbage, match="no \\*checksum"):
        bp.decode(b"ST B 0 1 16.0 -\n")
    with pytest.raises(Garbage, match="unknown message"):
        bp.decode(bp.frame("HELLOO 1"))
    with pytest.raises(Garbage, match="5 fields"):
        bp.decode(bp.frame("ST B 0 1"))
    with pytest.raises(Garbage, match="out of range"):
        bp.decode(bp.frame("CUR 1 99"))


@given(st.lists(messages, max_size=6), st.data())
def test_the_splitter_yields_whole_lines_across_any_chunks(sent: list[bp.Message], data) -> None:
    stream = b"".join(bp.encode(m) for m in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    splitter = bp.LineSplitter()
    lines = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        lines += splitter.feed(stream[start:end])
    assert [bp.decode(line) for line in lines] == sent


def test_status_faults_map_to_ocpp_codes_by_precedence() -> None:
    def fault(pilot: Pilot, *errors: str) -> str | None:
        return bp.Status(pilot, False, None, 0.0, errors).fault()

    assert fault(Pilot.C) is None
    assert fault(Pilot.B, "lock") == "ConnectorLockFailure"
    assert fault(Pilot.B, "temp", "rcd") == "GroundFailure"
    assert fault(Pilot.F) == "EVCommunicationError"
    assert fault(Pilot.A, "gremlins") == "OtherError"


# -- the fault debounce --


def run(events: list[tuple[float, str]], delay: float) -> list[bool]:
    """Apply fail/ok events at their times, checking at each; reported after each."""
    h, out = health.Health(), []
    for now, what in events:
        h = health.fail(h, "PowerMeterFailure", "x", now) if what == "fail" else h
        h = health.recover(h, now) if what == "ok" else h
        h = health.check(h, now, delay)
        out.append(h.reported)
    return out


def test_a_brief_outage_is_never_reported() -> None:
    assert run([(0, "fail"), (3, "ok"), (9, "check"), (20, "check")], delay=10) == [False] * 4


def test_a_lasting_outage_is_reported_and_cleared_after_a_stable_recovery() -> None:
    events = [(0, "fail"), (10, "check"), (12, "ok"), (21, "check"), (22, "check")]
    assert run(events, delay=10) == [False, True, True, True, False]


def test_a_flapping_device_is_reported() -> None:
    events = [(0, "fail"), (1, "ok"), (2, "fail"), (5, "ok"), (6, "fail"), (10, "check")]
    assert run(events, delay=10)[-1] is True


def test_zero_delay_reports_and_clears_at_once() -> None:
    assert run([(0, "fail"), (0, "ok")], delay=0) == [True, False]


@given(
    st.lists(st.tuples(st.floats(0, 5), st.sampled_from(["fail", "ok", "check"])), max_size=40),
    st.floats(0, 10),
)
def test_debounce_invariants(steps: list[tuple[float, str]], delay: float) -> None:
    h, now = health.Health(), 0.0
    for gap, what in steps:
        now += gap
        before = h
        if what == "fail":
            h = health.fail(h, "PowerMeterFailure", "x", now)
        elif what == "ok":
            h = health.recover(h, now)
        h = health.check(h, now, delay)
        if h.reported:
            # Reported only after a spell of at least `delay`.
            assert h.since is not None and now - h.since >= delay
        if before.reported and not h.reported:
            # Cleared only by a stable recovery, never while failing.
            assert not before.failing or what == "ok"
            assert not h.in_spell
        due = health.next_check(h, delay)
        if due is not None and due <= now:
            assert health.check(h, now, delay) == h or not h.failing
