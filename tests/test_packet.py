"""Bit-exact optical-link packet (paper §2.5, DESIGN §3.6) and Manchester coding."""

import struct

import crcmod.predefined
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import packet as pk

REF_CRC = crcmod.predefined.mkPredefinedCrcFun("crc-ccitt-false")
frames = st.binary(min_size=pk.FRAME_OCTETS, max_size=pk.FRAME_OCTETS)
serials = st.integers(0, 0xFFFFFFFF)


def test_layout_constants():
    assert pk.PACKET_OCTETS == 335 and pk.GAP_OCTETS == 12
    assert pk.PREAMBLE == bytes([0x55] * 7 + [0xD5])
    assert pk.GAP == bytes(12)


def test_crc_check_value():
    assert pk.crc16_ccitt_false(b"123456789") == 0x29B1  # catalogue check value
    assert pk.crc16_ccitt_false(b"") == 0xFFFF


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_crc_matches_crcmod(data):
    assert pk.crc16_ccitt_false(data) == REF_CRC(data)
    # incremental use gives the same result
    half = len(data) // 2
    assert pk.crc16_ccitt_false(data[half:], pk.crc16_ccitt_false(data[:half])) == REF_CRC(data)


def test_known_vector():
    frame = bytes(range(256)) + bytes(65)
    p = pk.build_packet(0x01020304, frame)
    assert len(p) == 335
    assert p[:8].hex() == "55555555555555d5"
    assert p[8:12] == b"\x01\x02\x03\x04"  # big-endian serial
    assert p[12:333] == frame
    assert p[333:] == bytes.fromhex("299f")  # CRC over serial + frame, big-endian
    assert struct.unpack(">H", p[333:])[0] == REF_CRC(p[8:333])


@settings(max_examples=100)
@given(serials, frames)
def test_round_trip(serial, frame):
    p = pk.build_packet(serial, frame)
    s, f, ok, pre_err = pk.parse_packet(p)
    assert (s, f, ok, pre_err) == (serial, frame, True, 0)


@settings(max_examples=100)
@given(serials, frames, st.integers(8 * 8, 335 * 8 - 1))
def test_single_bit_error_fails_crc(serial, frame, bit):
    p = bytearray(pk.build_packet(serial, frame))
    p[bit // 8] ^= 0x80 >> (bit % 8)
    assert pk.parse_packet(p)[2] is False


def test_preamble_bit_errors_counted():
    p = bytearray(pk.build_packet(7, bytes(321)))
    p[0] ^= 0x01
    p[7] ^= 0xF0
    s, _, ok, pre_err = pk.parse_packet(p)
    assert (s, ok, pre_err) == (7, True, 5)  # preamble is outside the CRC


def test_stream_with_gaps():
    fr = [bytes([i]) * 321 for i in range(3)]
    s = pk.build_stream(fr, first_serial=0xFFFFFFFF)
    assert len(s) == 3 * 347
    assert s[335:347] == bytes(12)
    assert [pk.parse_packet(s[i * 347:i * 347 + 335])[0] for i in range(3)] == [
        0xFFFFFFFF, 0, 1]  # serial wraps


def test_bad_lengths():
    with pytest.raises(ValueError):
        pk.build_packet(0, bytes(320))
    with pytest.raises(ValueError):
        pk.build_packet(-1, bytes(321))
    with pytest.raises(ValueError):
        pk.parse_packet(bytes(334))
    with pytest.raises(ValueError):
        pk.manchester_decode(b"\x55")


def test_manchester_convention():
    # paper §2.5: low->high = 0 -> chips (0,1); high->low = 1 -> chips (1,0); MSB first
    assert pk.manchester_encode(b"\x00") == b"\x55\x55"
    assert pk.manchester_encode(b"\xff") == b"\xaa\xaa"
    assert pk.manchester_encode(b"\x55") == b"\x66\x66"  # preamble octet
    assert pk.manchester_encode(b"\xd5") == b"\xa6\x66"  # SFD: 1101 0101
    assert pk.chips_of_bits([0, 1]) == [0, 1, 1, 0]
    assert pk.bits_msb_first(b"\x80\x01") == [1] + [0] * 14 + [1]


@settings(max_examples=100)
@given(st.binary(max_size=64))
def test_manchester_round_trip_and_chip_order(data):
    chips = pk.manchester_encode(data)
    assert len(chips) == 2 * len(data)
    assert pk.manchester_decode(chips) == (data, 0)
    assert pk.bits_msb_first(chips) == pk.chips_of_bits(pk.bits_msb_first(data))
    # DC balance: exactly one high chip per bit
    assert sum(pk.bits_msb_first(chips)) == 8 * len(data)


def test_manchester_violations():
    chips = bytearray(pk.manchester_encode(b"\xa5"))
    chips[0] |= 0x40  # first pair 10 -> 11 (still decodes as 1 from the first chip)
    chips[1] &= 0xFC  # last pair 10 -> 00 (decodes as 0)
    data, bad = pk.manchester_decode(chips)
    assert bad == 2 and data == b"\xa4"
