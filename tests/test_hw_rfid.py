"""RFID reader streams and debouncing: examples and properties, no I/O."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.hw.rfid import (
    ETX,
    STX,
    Bad,
    Card,
    Debounce,
    LineDecoder,
    Rdm6300Decoder,
    encode_rdm6300,
    id_tag,
)

numbers = st.binary(min_size=5, max_size=5).map(lambda b: b.hex().upper())


def test_a_known_rdm6300_frame() -> None:
    # Card 0x62 0xE3 0x08 0x6C 0xED: XOR is 0x08.
    frame = encode_rdm6300("62E3086CED")
    assert frame == b"\x0262E3086CED08\x03"
    assert Rdm6300Decoder().feed(frame) == [Card("62E3086CED")]


@given(st.lists(numbers, max_size=8), st.data())
def test_frames_survive_any_split_into_chunks(cards: list[str], data) -> None:
    stream = b"".join(encode_rdm6300(c) for c in cards)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = Rdm6300Decoder()
    found = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        found += decoder.feed(stream[start:end])
    assert found == [Card(c) for c in cards]


@given(numbers, st.binary(max_size=40), numbers)
def test_after_garbage_the_decoder_finds_the_next_good_frame(
    before: str, junk: bytes, after: str
) -> None:
    decoder = Rdm6300Decoder()
    found = decoder.feed(encode_rdm6300(before) + junk + encode_rdm6300(after))
    cards = [f for f in found if isinstance(f, Card)]
    assert cards[0] == Card(before)
    assert cards[-1] == Card(after)
    # Only junk can add anything (a Bad, or a card that junk happens to spell).
    if not junk:
        assert found == [Card(before), Card(after)]


@given(numbers, st.integers(1, 12))
def test_a_wrong_checksum_or_end_is_bad_not_a_card(number: str, position: int) -> None:
    frame = bytearray(encode_rdm6300(number))
    frame[position] = ord("G") if position < 13 else 0x04
    found = Rdm6300Decoder().feed(bytes(frame))
    assert Card(number) not in found
    assert any(isinstance(f, Bad) for f in found)


def test_bad_frames_say_why() -> None:
    assert Rdm6300Decoder().feed(b"\x0262E3086CED09\x03") == [
        Bad("checksum", b"\x0262E3086CED09\x03")
    ]
    assert Rdm6300Decoder().feed(b"noise") == [Bad("no STX", b"noise")]
    half = bytes([STX]) + b"62E30"
    decoder = Rdm6300Decoder()
    assert decoder.feed(half) == []
    found = decoder.feed(encode_rdm6300("0102030405"))
    assert found == [Bad("no ETX", half), Card("0102030405")]
    assert ETX == 0x03


def test_line_mode_takes_one_card_per_line_in_any_line_ending() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"0004123456\r\n04a2b3") == [Card("0004123456")]
    assert decoder.feed(b"c4\n\n\rnot a card!\n") == [
        Card("04A2B3C4"),
        Bad("not a card number", b"not a card!"),
    ]
    assert decoder.feed(b"x" * 100) == [Bad("line too long", b"x" * 100)]


@given(st.lists(st.binary(max_size=30), max_size=10))
def test_line_decoder_never_fails_and_stays_bounded(chunks: list[bytes]) -> None:
    decoder = LineDecoder()
    for chunk in chunks:
        decoder.feed(chunk)
    assert len(decoder._buffer) <= 64 + 30


def test_id_tag_formats() -> None:
    assert id_tag("62e3086ced") == "62E3086CED"
    assert id_tag("0A00F1E2D3", "decimal") == f"{0x00F1E2D3:010d}"
    assert id_tag("ABC", "decimal") == "ABC"


def test_debounce_reports_a_held_card_once_and_again_after_the_window() -> None:
    state = Debounce(2.0)
    reports = []
    for now, card in [
        (0, "A"),
        (0.1, "A"),
        (1.9, "A"),
        (3.8, "A"),
        (6.0, "A"),
        (6.1, "B"),
        (6.2, "A"),
    ]:
        report, state = state.seen(card, now)
        reports.append(report)
    # Held from 0 to 3.8 (never 2 s apart): once; 6.0 is a new presentation.
    assert reports == [True, False, False, False, True, True, True]


@given(st.lists(st.tuples(st.floats(0, 0.5), st.sampled_from("AB")), max_size=50))
def test_debounce_never_reports_the_same_card_twice_in_a_row_within_the_window(
    steps: list[tuple[float, str]],
) -> None:
    state, now, last_reported = Debounce(1.0), 0.0, None
    for gap, card in steps:
        now += gap
        report, state = state.seen(card, now)
        if report:
            assert (card, now) != last_reported
        last_reported = (card, now) if report else last_reported
        assert state.last == card and state.last_seen == now
