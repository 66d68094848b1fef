"""Modbus RTU framing and register maps: examples and properties, no I/O."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.hw import modbus
from ocppstation.hw.errors import ChecksumError, DeviceError, DeviceRefused, Garbage
from ocppstation.hw.meters import QUANTITIES, RegisterMap, models, register_map
from ocppstation.hw.modbus import (
    MAX_REGISTERS,
    ReadRequest,
    crc16,
    decode_request,
    decode_response,
    encode_exception,
    encode_response,
    float_from_registers,
    plan_blocks,
    registers_from_float,
    response_length,
)


def test_crc16_matches_the_published_check_value_and_a_classic_frame() -> None:
    assert crc16(b"123456789") == 0x4B37  # CRC-16/MODBUS check value
    assert ReadRequest(1, 3, 0, 10).encode() == bytes.fromhex("01030000000AC5CD")


def test_sdm630_energy_request_bytes() -> None:
    frame = ReadRequest(1, 4, 0x48, 2).encode()
    assert frame[:6] == bytes.fromhex("010400480002")
    assert decode_request(frame) == ReadRequest(1, 4, 0x48, 2)


requests = st.builds(
    ReadRequest,
    unit=st.integers(0, 247),
    function=st.sampled_from(modbus.READ_FUNCTIONS),
    address=st.integers(0, 0xFF00),
    count=st.integers(1, MAX_REGISTERS),
)


@given(requests)
def test_requests_round_trip(request: ReadRequest) -> None:
    assert decode_request(request.encode()) == request


@given(requests, st.data())
def test_responses_round_trip_and_announce_their_length(request: ReadRequest, data) -> None:
    registers = data.draw(
        st.lists(st.integers(0, 0xFFFF), min_size=request.count, max_size=request.count)
    )
    frame = encode_response(request.unit, request.function, registers)
    assert len(frame) == request.response_length == response_length(frame[:3])
    assert decode_response(request, frame) == tuple(registers)


@given(requests, st.integers(1, 11))
def test_exception_answers_are_refusals(request: ReadRequest, code: int) -> None:
    frame = encode_exception(request.unit, request.function, code)
    assert response_length(frame[:3]) == len(frame) == 5
    with pytest.raises(DeviceRefused, match=f"exception {code}"):
        decode_response(request, frame)


@given(requests, st.data())
def test_any_flipped_bit_is_caught(request: ReadRequest, data) -> None:
    frame = bytearray(encode_response(request.unit, request.function, [0x1234] * request.count))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    # CRC-16 detects every single-bit error.
    with pytest.raises(ChecksumError):
        decode_response(request, bytes(frame))


@given(requests, st.binary(max_size=300))
def test_garbage_is_refused_with_a_device_error_and_nothing_else(
    request: ReadRequest, junk: bytes
) -> None:
    try:
        decode_response(request, junk)
    except DeviceError:
        pass
    try:
        decode_request(junk)
    except DeviceError:
        pass


def test_an_answer_for_someone_else_is_garbage() -> None:
    request = ReadRequest(1, 4, 0, 2)
    with pytest.raises(Garbage, match="unit 2"):
        decode_response(request, encode_response(2, 4, [1, 2]))
    with pytest.raises(Garbage, match="function 3"):
        decode_response(request, encode_response(1, 3, [1, 2]))
    with pytest.raises(Garbage, match="wrong length"):
        decode_response(request, encode_response(1, 4, [1, 2, 3, 4]))


@given(st.floats(width=32, allow_nan=False), st.sampled_from(["high_first", "low_first"]))
def test_floats_round_trip_through_two_registers(value: float, order) -> None:
    assert float_from_registers(*registers_from_float(value, order), order) == value


def test_eastron_word_order() -> None:
    # 230.0 as IEEE 754 single is 0x43660000: high word first on the wire.
    assert registers_from_float(230.0) == (0x4366, 0x0000)
    assert float_from_registers(0x4366, 0x0000) == 230.0


@given(st.sets(st.integers(0, 2000), max_size=30), st.integers(2, MAX_REGISTERS))
def test_blocks_cover_every_value_whole_within_the_size_limit(
    addresses: set[int], max_count: int
) -> None:
    blocks = plan_blocks(addresses, max_count)
    assert all(2 <= count <= max_count for _, count in blocks)
    for address in addresses:
        covering = [b for b in blocks if b[0] <= address and address + 2 <= b[0] + b[1]]
        assert covering, (address, blocks)
    assert [b[0] for b in blocks] == sorted(b[0] for b in blocks)


def test_sdm630_is_read_in_one_request() -> None:
    assert register_map("sdm630").blocks() == [(0, 74)]


def test_shipped_maps_are_valid_and_a_custom_map_is_a_config_entry() -> None:
    for name in models():
        assert register_map(name).registers
    custom = register_map(
        "modbus", {"registers": {"energy_import_wh": 10, "power_kw": 20}, "max_count": 4}
    )
    assert custom.blocks() == [(10, 2), (20, 2)]
    with pytest.raises(ValueError, match="unknown meter model"):
        register_map("sdm999")
    with pytest.raises(ValueError, match="needs a 'registers' map"):
        register_map("modbus")
    with pytest.raises(ValueError, match="unknown quantities"):
        register_map("modbus", {"registers": {"energy_import_kwh": 0, "watts": 2}})
    with pytest.raises(ValueError, match="energy_import"):
        RegisterMap("x", {"power_w": 0})


@given(
    energy=st.floats(0, 1e6, width=32),
    power=st.floats(0, 1e5, width=32),
    volts=st.floats(0, 500, width=32),
)
def test_a_reading_comes_from_the_registers_in_its_units(
    energy: float, power: float, volts: float
) -> None:
    sdm = register_map("sdm630")
    words = [0] * 74
    values = {"energy_import_kwh": energy, "power_w": power, "voltage_l1_v": volts}
    for quantity, value in values.items():
        address = sdm.registers[quantity]
        words[address : address + 2] = registers_from_float(value)
    reading = sdm.reading({0: tuple(words)})
    as_single = struct.unpack(">f", struct.pack(">f", energy))[0]
    assert math.isclose(reading.energy_wh, as_single * 1000, rel_tol=1e-9)
    assert reading.power_w == struct.unpack(">f", struct.pack(">f", power))[0]
    assert reading.voltage_v[0] == struct.unpack(">f", struct.pack(">f", volts))[0]
    assert len(reading.current_a) == 3
    assert reading.frequency_hz == 0.0


def test_quantity_names_carry_their_unit() -> None:
    assert all(q.rsplit("_", 1)[1] in {"kwh", "wh", "w", "kw", "hz", "v", "a"} for q in QUANTITIES)
