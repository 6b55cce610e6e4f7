"""Unit tests of flight/crc16.py (CRC-16/CCITT-FALSE): check value, known vectors,
buffer types and incremental use, every single-bit flip detected, zero residue."""

import struct

from flight import crc16


# ============================================================================ CRC-16


def test_crc_check_value_and_constants():
    assert crc16.crc16(b"123456789") == 0x29B1 == crc16.CHECK
    assert crc16.crc16(b"") == 0xFFFF == crc16.INIT
    assert crc16.POLY == 0x1021


def test_crc_known_vectors():
    # Independent values (crcmod 'crc-ccitt-false').
    assert crc16.crc16(b"\x00") == 0xE1F0
    assert crc16.crc16(b"A") == 0xB915
    assert crc16.crc16(bytes(range(256))) == 0x3FBD


def test_crc_buffer_types_and_incremental():
    data = bytes(range(200)) * 3
    want = crc16.crc16(data)
    assert crc16.crc16(bytearray(data)) == want
    assert crc16.crc16(memoryview(data)) == want
    c = 0xFFFF
    for i in range(0, len(data), 7):
        c = crc16.crc16(memoryview(data)[i : i + 7], c)
    assert c == want


def test_crc_detects_every_single_bit_flip():
    data = bytearray(b"vector payload telecommand")
    good = crc16.crc16(data)
    for i in range(len(data) * 8):
        data[i // 8] ^= 0x80 >> (i % 8)
        assert crc16.crc16(data) != good
        data[i // 8] ^= 0x80 >> (i % 8)


def test_crc_residue_over_message_and_crc_is_zero():
    # Property of a non-reflected CRC without final XOR: CRC(msg || crc_be) == 0.
    msg = b"residue"
    c = crc16.crc16(msg)
    assert crc16.crc16(msg + struct.pack(">H", c)) == 0
