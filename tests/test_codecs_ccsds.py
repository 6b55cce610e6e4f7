"""Unit tests of flight/ccsds.py: primary header vectors pinned byte for byte, field
validation, packet build/parse, length, CRC and header errors and their check order."""

import struct

import pytest

from flight import ccsds, crc16

from tests.hexbytes import H


# ============================================================================ CCSDS


def test_ccsds_header_layout():
    # TC, APID 0x0A0, unsegmented, count 5, data_len 10 -> 10 a0 c0 05 00 0a
    assert ccsds.pack_header(1, 0x0A0, 5, 10) == H("10a0c005000a")
    assert ccsds.pack_header(0, 0x7FF, 0x3FFF, 0xFFFF, sec_hdr=1) == H("0fffffffffff")
    assert ccsds.unpack_header(H("10a0c005000a")) == (0, 1, 0, 0x0A0, 3, 5, 10)
    assert ccsds.unpack_header(H("ff" + "0fffffffffff"), 1) == (0, 0, 1, 0x7FF, 3, 0x3FFF, 0xFFFF)
    buf = bytearray(8)
    ccsds.pack_header_into(buf, 2, 0, 0x0A1, 1, 0)
    assert buf == H("000000a1c0010000")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(ptype=2), "type"),
        (dict(ptype=-1), "type"),
        (dict(apid=0x800), "apid"),
        (dict(apid=-1), "apid"),
        (dict(seq_count=0x4000), "seq_count"),
        (dict(data_len=0x10000), "data_len"),
        (dict(data_len=-1), "data_len"),
        (dict(sec_hdr=2), "sec_hdr"),
        (dict(seq_flags=4), "seq_flags"),
        (dict(version=8), "version"),
        (dict(apid=1.5), "apid"),
        (dict(apid="1"), "apid"),
    ],
)
def test_ccsds_pack_validation_names_field(kwargs, field):
    args = dict(ptype=1, apid=0xA0, seq_count=0, data_len=0)
    args.update(kwargs)
    with pytest.raises(ccsds.HeaderError, match="HEADER: %s out of range" % field) as e:
        ccsds.pack_header(**args)
    assert e.value.reason == "HEADER"
    assert isinstance(e.value, ValueError)


def test_ccsds_bool_fields_accepted():
    assert ccsds.pack_header(True, 0xA0, 0, 0, sec_hdr=False) == H("10a0c0000000")
    assert ccsds.pack_header(False, 0xA0, 0, 0, sec_hdr=True) == H("08a0c0000000")


def test_ccsds_build_and_parse():
    pkt = ccsds.build_packet(ccsds.TYPE_TC, 0x0A0, 7, b"\x82\x01\xa0")
    assert pkt[:6] == H("10a0c0070004")
    assert crc16.crc16(pkt[:-2]) == struct.unpack(">H", pkt[-2:])[0]
    h, body = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TC, apid=0x0A0)
    assert body == b"\x82\x01\xa0"
    assert h[ccsds.H_APID] == 0x0A0 and h[ccsds.H_SEQ_COUNT] == 7 and h[ccsds.H_DATA_LEN] == 4
    # Empty body: data field is just the PEC, data_len 1.
    empty = ccsds.build_packet(0, 0x0A1, 0, b"")
    assert len(empty) == 8 and empty[4:6] == b"\x00\x01"
    assert ccsds.parse_packet(empty)[1] == b""
    # Buffer types.
    assert ccsds.parse_packet(bytearray(pkt))[1] == b"\x82\x01\xa0"
    assert ccsds.parse_packet(memoryview(pkt))[1] == b"\x82\x01\xa0"


def test_ccsds_max_body():
    big = bytes(ccsds.MAX_BODY_LEN)
    pkt = ccsds.build_packet(0, 1, 2, big)
    assert pkt[4:6] == b"\xff\xff" and len(pkt) == 65542
    assert ccsds.parse_packet(pkt)[1] == big
    with pytest.raises(ccsds.LengthError, match="LENGTH: body of 65535 octets exceeds 65534"):
        ccsds.build_packet(0, 1, 2, big + b"x")


def _raw_packet(header6, body):
    pre = header6 + body
    return pre + struct.pack(">H", crc16.crc16(pre))


def test_ccsds_parse_length_errors():
    pkt = ccsds.build_packet(1, 0xA0, 1, b"abc")
    for cut in range(0, 8):
        with pytest.raises(ccsds.LengthError, match="LENGTH: packet of %d octets, minimum 8" % cut):
            ccsds.parse_packet(pkt[:cut])
    with pytest.raises(ccsds.LengthError, match="data_len field 4 implies 11 octets, packet has 10"):
        ccsds.parse_packet(pkt[:-1])
    with pytest.raises(ccsds.LengthError, match="packet has 12"):
        ccsds.parse_packet(pkt + b"\x00")
    with pytest.raises(ccsds.LengthError):
        ccsds.unpack_header(b"\x10\xa0\xc0")
    try:
        ccsds.parse_packet(pkt[:3])
    except ccsds.CcsdsError as e:
        assert e.reason == "LENGTH"


def test_ccsds_parse_crc_error_on_every_bit_flip_outside_length_field():
    pkt = bytearray(ccsds.build_packet(1, 0xA0, 1, b"body!"))
    for bit in range(len(pkt) * 8):
        i = bit // 8
        pkt[i] ^= 0x80 >> (bit % 8)
        expected = ccsds.LengthError if i in (4, 5) else ccsds.CrcError
        with pytest.raises(expected) as e:
            ccsds.parse_packet(bytes(pkt), ptype=1, apid=0xA0)
        assert e.value.reason == ("LENGTH" if i in (4, 5) else "CRC")
        pkt[i] ^= 0x80 >> (bit % 8)
    with pytest.raises(ccsds.CrcError, match=r"CRC: packet error control 0x[0-9a-f]{4}, computed"):
        ccsds.parse_packet(bytes(pkt[:-1]) + bytes([pkt[-1] ^ 1]))


@pytest.mark.parametrize(
    "header, kwargs, msg",
    [
        (H("30a0c0010004"), {}, "HEADER: version 1, expected 0"),
        (H("00a0c0010004"), dict(ptype=1), "HEADER: type 0, expected 1"),
        (H("10a1c0010004"), dict(apid=0xA0), "HEADER: apid 0x0a1, expected 0x0a0"),
        (H("18a0c0010004"), {}, "HEADER: sec_hdr 1, expected 0"),
        (H("10a040010004"), {}, "HEADER: seq_flags 1, expected 3"),
        (H("10a000010004"), {}, "HEADER: seq_flags 0, expected 3"),
    ],
)
def test_ccsds_parse_header_errors(header, kwargs, msg):
    pkt = _raw_packet(header, b"abc")
    with pytest.raises(ccsds.HeaderError, match=msg) as e:
        ccsds.parse_packet(pkt, **kwargs)
    assert e.value.reason == "HEADER"


def test_ccsds_parse_checks_can_be_disabled():
    pkt = _raw_packet(H("18a140010004"), b"abc")  # sec hdr 1, seq flags 0b01
    h, body = ccsds.parse_packet(pkt, sec_hdr=None, seq_flags=None)
    assert body == b"abc" and h[ccsds.H_SEC_HDR] == 1 and h[ccsds.H_SEQ_FLAGS] == 1
    assert ccsds.parse_packet(pkt, sec_hdr=1, seq_flags=1, apid=0xA1, ptype=1)[1] == b"abc"


def test_ccsds_length_checked_before_crc_and_crc_before_header():
    bad_version_bad_crc = bytearray(_raw_packet(H("30a0c0010004"), b"abc"))
    bad_version_bad_crc[-1] ^= 1
    with pytest.raises(ccsds.CrcError):
        ccsds.parse_packet(bytes(bad_version_bad_crc))
    with pytest.raises(ccsds.LengthError):
        ccsds.parse_packet(bytes(bad_version_bad_crc[:-1]))
