"""Unit tests of the flight codecs: vectors, error paths, bounds, resynchronisation."""

import hashlib
import hmac
import math
import struct

import pytest
from cbor2 import dumps as cbor2_dumps
from hypothesis import given, settings
from hypothesis import strategies as st

from flight import cbor, ccsds, cobs, crc16, mac
from flight.cbor import CborError

H = bytes.fromhex

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


# ============================================================================ COBS


@pytest.mark.parametrize(
    "raw, enc",
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    ],
)
def test_cobs_wikipedia_style_vectors(raw, enc):
    assert cobs.encode(raw) == enc
    assert cobs.decode(enc) == raw


def test_cobs_block_boundaries():
    ones = lambda n: b"\x01" * n
    assert cobs.encode(ones(253)) == b"\xfe" + ones(253)
    assert cobs.encode(ones(254)) == b"\xff" + ones(254)  # no trailing empty block
    assert cobs.encode(ones(255)) == b"\xff" + ones(254) + b"\x02\x01"
    assert cobs.encode(ones(254) + b"\x00") == b"\xff" + ones(254) + b"\x01\x01"
    assert cobs.encode(ones(508)) == (b"\xff" + ones(254)) * 2
    for n in (0, 1, 253, 254, 255, 508, 509, 1000):
        for data in (ones(n), bytes(n)):
            e = cobs.encode(data)
            assert b"\x00" not in e
            assert len(e) <= cobs.max_encoded_len(n)
            assert cobs.decode(e) == data


def test_cobs_accepts_buffer_types():
    assert cobs.encode(bytearray(b"\x00a")) == b"\x01\x02a"
    assert cobs.encode(memoryview(b"\x00a")) == b"\x01\x02a"
    assert cobs.decode(bytearray(b"\x01\x02a")) == b"\x00a"
    assert cobs.decode(memoryview(b"\x01\x02a")) == b"\x00a"


def test_cobs_decode_rejections():
    assert issubclass(cobs.CobsError, ValueError)
    with pytest.raises(cobs.CobsError, match="empty input"):
        cobs.decode(b"")
    with pytest.raises(cobs.CobsError, match="zero octet at offset 3"):
        cobs.decode(b"\x03ab\x00")
    with pytest.raises(cobs.CobsError, match="zero octet at offset 0"):
        cobs.decode(b"\x00")
    with pytest.raises(cobs.CobsError, match=r"truncated block at offset 0: code 0x05 needs 4 octets, 2 left"):
        cobs.decode(b"\x05ab")
    with pytest.raises(cobs.CobsError, match="truncated block at offset 2"):
        cobs.decode(b"\x02a\x03b")
    with pytest.raises(cobs.CobsError, match="truncated"):
        cobs.decode(b"\xff" + b"\x01" * 253)


def test_cobs_decode_every_truncation_of_a_valid_block():
    enc = cobs.encode(b"hello\x00world" + bytes(range(1, 255)))
    outcomes = set()
    for k in range(1, len(enc)):
        try:
            cobs.decode(enc[:k])
            outcomes.add("ok")  # a cut just before a code octet is a shorter packet
        except cobs.CobsError:
            outcomes.add("err")
    assert outcomes == {"ok", "err"}


def _frame(p):
    return cobs.encode(p) + b"\x00"


def test_deframer_basic_and_counters():
    d = cobs.Deframer(32)
    out = d.feed(b"\x00\x00" + _frame(b"a\x00b") + _frame(b"") + b"\x00" + _frame(b"zz"))
    assert out == [b"a\x00b", b"", b"zz"]
    assert (d.frames, d.oversize, d.decode_errors) == (3, 0, 0)
    assert d.feed(b"") == ()
    assert d.feed(b"\x03xy") == ()
    assert d.pending() == 3
    assert d.feed(b"\x00") == [b"xy"]
    assert d.pending() == 0


def test_deframer_byte_by_byte_and_buffer_types():
    packets = [bytes([i]) * i for i in range(1, 30)] + [bytes(20)]
    stream = b"".join(_frame(p) for p in packets)
    d = cobs.Deframer(64)
    got = []
    for i in range(len(stream)):
        got.extend(d.feed(stream[i : i + 1]))
    assert got == packets
    d2 = cobs.Deframer(64)
    assert list(d2.feed(bytearray(stream))) == packets
    d3 = cobs.Deframer(64)
    assert list(d3.feed(memoryview(stream))) == packets


def test_deframer_max_frame_boundary_exact():
    d = cobs.Deframer(300)
    ok = bytes(range(1, 256)) + bytes(range(1, 46))  # 300 octets, two blocks
    assert d.feed(_frame(ok)) == [ok]
    assert d.feed(_frame(ok + b"x")) == ()
    assert (d.frames, d.oversize) == (1, 1)


def test_deframer_oversize_by_encoded_length_then_recovers():
    d = cobs.Deframer(10)
    buf_before = d._enc  # the buffer is never replaced nor grown
    cap = len(buf_before)
    assert d.feed(b"\x7f" * 5000) == ()
    assert d.pending() <= cap
    assert d.feed(b"\x7f" * 5000 + b"\x00" + _frame(b"ok")) == [b"ok"]
    assert (d.frames, d.oversize, d.decode_errors) == (1, 1, 0)
    assert d._enc is buf_before and len(d._enc) == cap


def test_deframer_oversize_by_decoded_length():
    # 256 code octets 0x01 fit the encoded bound of a 254-octet frame (256) but
    # decode to 255 zeros: oversize, counted by the decode path.
    d = cobs.Deframer(254)
    assert d.feed(b"\x01" * 256 + b"\x00") == ()
    assert (d.frames, d.oversize, d.decode_errors) == (0, 1, 0)
    assert d.feed(b"\x01" * 255 + b"\x00") == [bytes(254)]


def test_deframer_decode_error_counted():
    d = cobs.Deframer(64)
    assert d.feed(b"\x05ab\x00" + _frame(b"next")) == [b"next"]
    assert (d.frames, d.oversize, d.decode_errors) == (1, 0, 1)


def _is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def test_deframer_resynchronises_after_any_single_byte_error():
    packets = [b"first\x00pkt", b"second", bytes(range(40)), b"last-one", b"\x00"]
    frames = [_frame(p) for p in packets]
    stream = b"".join(frames)
    owner = []  # frame index of every stream octet; the delimiter is its last octet
    for f, fr in enumerate(frames):
        owner.extend([f] * len(fr))
    for pos in range(len(stream)):
        f = owner[pos]
        is_delim = stream[pos] == 0
        for kind in ("flip", "drop", "insert", "zero"):
            s = bytearray(stream)
            if kind == "flip":
                s[pos] ^= 0x5A
            elif kind == "drop":
                del s[pos]
            elif kind == "insert":
                s.insert(pos, 0x33)
            else:
                s[pos] = 0
            d = cobs.Deframer(64)
            got = d.feed(bytes(s))
            hit = {f}
            if is_delim and kind in ("flip", "drop"):
                hit.add(f + 1)  # the two frames merged
            intact = [p for i, p in enumerate(packets) if i not in hit]
            assert _is_subsequence(intact, got), (pos, kind, got)
            assert len(got) <= len(packets) + 1, (pos, kind)  # a zero splits one frame
            assert d.frames == len(got)
            last_delim_lost = pos == len(stream) - 1 and kind in ("flip", "drop")
            assert d.pending() == (0 if not last_delim_lost else len(s) - s.rfind(0) - 1)
    # Sanity of the helper itself.
    assert not _is_subsequence([b"b", b"a"], [b"a", b"b"])


def test_deframer_counts_corruption_and_keeps_going():
    d = cobs.Deframer(64)
    good = _frame(b"ok")
    noise = b"\x09abc\x00" + b"\x7e" * 200 + b"\x00"  # truncated block, then oversize
    out = d.feed(good + noise + good + noise + good)
    assert out == [b"ok"] * 3
    assert (d.frames, d.oversize, d.decode_errors) == (3, 2, 2)


def test_deframer_reset_and_bad_parameter():
    d = cobs.Deframer(8)
    d.feed(b"\x03ab")
    d.reset()
    assert d.pending() == 0
    assert d.feed(b"\x02c\x00") == [b"c"]
    with pytest.raises(ValueError):
        cobs.Deframer(0)


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


# ============================================================================ CBOR

# RFC 8949 Appendix A (the subset we support).
RFC_EXACT = [
    (0, "00"), (1, "01"), (10, "0a"), (23, "17"), (24, "1818"), (25, "1819"), (100, "1864"),
    (1000, "1903e8"), (1000000, "1a000f4240"), (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"), (-18446744073709551616, "3bffffffffffffffff"),
    (-1, "20"), (-10, "29"), (-100, "3863"), (-1000, "3903e7"),
    (1.1, "fb3ff199999999999a"), (1.0e300, "fb7e37e43c8800759c"), (-4.1, "fbc010666666666666"),
    (False, "f4"), (True, "f5"), (None, "f6"),
    (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"), ("a", "6161"), ("IETF", "6449455446"), ('"\\', "62225c"), ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"), ("\U00010151", "64f0908591"),
    ([], "80"), ([1, 2, 3], "83010203"), ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"), ({1: 2, 3: 4}, "a201020304"), ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"}, "a56161614161626142616361436164614461656145"),
]

RFC_FLOAT_DECODE = [
    ("f90000", 0.0), ("f98000", -0.0), ("f93c00", 1.0), ("f93e00", 1.5), ("f97bff", 65504.0),
    ("fa47c35000", 100000.0), ("fa7f7fffff", 3.4028234663852886e38),
    ("f90001", 5.960464477539063e-8), ("f90400", 0.00006103515625), ("f9c400", -4.0),
    ("f97c00", math.inf), ("f9fc00", -math.inf), ("fa7f800000", math.inf),
    ("faff800000", -math.inf), ("fb7ff0000000000000", math.inf),
    ("fbfff0000000000000", -math.inf),
]


@pytest.mark.parametrize("value, hexenc", RFC_EXACT)
def test_cbor_rfc_vectors_roundtrip(value, hexenc):
    assert cbor.encode(value) == H(hexenc)
    got = cbor.decode(H(hexenc))
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("hexenc, value", RFC_FLOAT_DECODE)
def test_cbor_rfc_float_vectors(hexenc, value):
    got = cbor.decode(H(hexenc))
    assert isinstance(got, float)
    assert got == value and math.copysign(1, got) == math.copysign(1, value)
    # We always encode doubles.
    assert cbor.encode(value) == b"\xfb" + struct.pack(">d", value)


@pytest.mark.parametrize("hexenc", ["f97e00", "fa7fc00000", "fb7ff8000000000000", "f97c01"])
def test_cbor_nan_decodes(hexenc):
    assert math.isnan(cbor.decode(H(hexenc)))


def test_cbor_all_half_floats_against_struct():
    for h in range(0x10000):
        raw = struct.pack(">H", h)
        want = struct.unpack(">e", raw)[0]
        got = cbor.decode(b"\xf9" + raw)
        if math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == want and math.copysign(1, got) == math.copysign(1, want)


def test_cbor_encode_shortest_int_heads():
    for n, size in [(23, 1), (24, 2), (255, 2), (256, 3), (65535, 3), (65536, 5),
                    (2**32 - 1, 5), (2**32, 9), (2**64 - 1, 9)]:
        assert len(cbor.encode(n)) == size
        assert len(cbor.encode(-1 - n)) == size
        if n < 70000:
            assert len(cbor.encode(b"x" * n)) - n == size
            assert len(cbor.encode("x" * n)) - n == size
            assert len(cbor.encode([0] * n)) - n == size


def test_cbor_encode_buffer_types_tuple_and_order():
    assert cbor.encode(bytearray(b"ab")) == H("426162")
    assert cbor.encode(memoryview(b"ab")) == H("426162")
    assert cbor.encode((1, "a")) == H("82016161")
    assert cbor.encode({"z": 1, "a": 2}) == H("a2617a01616102")  # insertion order


@pytest.mark.parametrize(
    "obj, msg",
    [
        (2**64, "integer 18446744073709551616 above 2\\*\\*64-1"),
        (-(2**64) - 1, "below -2\\*\\*64"),
        ({1, 2}, "cannot encode type set"),
        (object(), "cannot encode type object"),
        (1j, "cannot encode type complex"),
        ({b"k": 1}, "map key of type bytes"),
        ({1.5: 1}, "map key of type float"),
        ({True: 1}, "map key of type bool"),
        ({None: 1}, "map key of type NoneType"),
        ({(1,): 1}, "map key of type tuple"),
        ("\ud800", "text not encodable as UTF-8"),
    ],
)
def test_cbor_encode_rejections(obj, msg):
    with pytest.raises(CborError, match=msg):
        cbor.encode(obj)


def test_cbor_map_wrapper_is_ordered_and_checked():
    m = cbor.Map([("z", 1), (2, [b"a"]), ("a", None)])
    assert cbor.encode(m) == H("a3617a01028141616161f6")
    assert cbor.encode(m) == cbor2_dumps({"z": 1, 2: [b"a"], "a": None})
    assert cbor.decode(cbor.encode(m)) == {"z": 1, 2: [b"a"], "a": None}
    assert cbor.encode([cbor.Map([])]) == H("81a0")
    assert "Map(" in repr(m)
    with pytest.raises(CborError, match="duplicate map key 'z'"):
        cbor.encode(cbor.Map([("z", 1), ("z", 2)]))
    with pytest.raises(CborError, match="map key of type bytes"):
        cbor.encode(cbor.Map([(b"z", 1)]))
    with pytest.raises(CborError, match="nesting deeper"):
        cbor.encode(cbor.Map([(1, 2)]), max_depth=0)


def test_cbor_encode_depth_bound_and_cycles():
    v = 0
    for _ in range(16):
        v = [v]
    assert cbor.decode(cbor.encode(v)) == v
    with pytest.raises(CborError, match="nesting deeper than max_depth"):
        cbor.encode([v])
    with pytest.raises(CborError, match="nesting deeper"):
        cbor.encode({"a": {"b": 1}}, max_depth=1)
    loop = []
    loop.append(loop)
    with pytest.raises(CborError, match="nesting deeper"):
        cbor.encode(loop)


def _err(hexenc, **kw):
    with pytest.raises(CborError) as e:
        cbor.decode(H(hexenc), **kw)
    return e.value


@pytest.mark.parametrize(
    "hexenc, msg, offset",
    [
        ("", "truncated: 1 octet(s) needed, 0 left", 0),
        ("18", "truncated: 1 octet(s) needed, 0 left", 1),
        ("1901", "truncated: 2 octet(s) needed, 1 left", 1),
        ("1a0001", "truncated: 4 octet(s) needed", 1),
        ("1b00000001", "truncated: 8 octet(s) needed", 1),
        ("43aabb", "truncated: 3 octet(s) needed, 2 left", 1),
        ("6261", "truncated", 1),
        ("8301", "truncated: 3 items announced, 1 octet(s) left", 0),
        ("a3 01 02 03", "truncated: 3 items announced, 3 octet(s) left", 0),
        ("82 01 18", "truncated: 1 octet(s) needed, 0 left", 3),
        ("f9", "truncated: 2 octet(s) needed, 0 left", 1),
        ("fa0000", "truncated: 4 octet(s) needed", 1),
        ("fb00", "truncated: 8 octet(s) needed", 1),
        ("0000", "trailing 1 octet(s) after the item", 1),
        ("80ff", "trailing 1 octet(s)", 1),
        ("5f", "indefinite length not supported", 0),
        ("7f", "indefinite length not supported", 0),
        ("9f", "indefinite length not supported", 0),
        ("bf", "indefinite length not supported", 0),
        ("1f", "invalid additional information 31", 0),
        ("3f", "invalid additional information 31", 0),
        ("ff", "unexpected break (0xff)", 0),
        ("8101ff", "trailing", 2),
        ("c0", "tags not supported", 0),
        ("c1 1a 00000000", "tags not supported", 0),
        ("d8 20 60", "tags not supported", 0),
        ("c2 41 01", "tags not supported", 0),
        ("1c", "reserved additional information 28", 0),
        ("3d", "reserved additional information 29", 0),
        ("5e", "reserved additional information 30", 0),
        ("fc", "reserved additional information 28", 0),
        ("f7", "unsupported simple value undefined", 0),
        ("e0", "unsupported simple value 0", 0),
        ("f3", "unsupported simple value 19", 0),
        ("f820", "unsupported simple value 32", 0),
        ("f805", "unsupported simple value 5", 0),
        ("f8", "truncated", 1),
        ("1805", "non-minimal encoding of 5", 0),
        ("3817", "non-minimal encoding of 23", 0),
        ("1900ff", "non-minimal encoding of 255", 0),
        ("1a0000ffff", "non-minimal encoding of 65535", 0),
        ("1b00000000ffffffff", "non-minimal encoding of 4294967295", 0),
        ("5801aa", "non-minimal encoding of 1", 0),
        ("780161", "non-minimal encoding of 1", 0),
        ("980101", "non-minimal encoding of 1", 0),
        ("b8010101", "non-minimal encoding of 1", 0),
        ("8218 05 01", "non-minimal encoding of 5", 1),
        ("61 80", "invalid UTF-8 in text string", 1),
        ("62 c080", "invalid UTF-8", 1),  # overlong NUL
        ("62 c1bf", "invalid UTF-8", 1),  # overlong
        ("63 e08080", "invalid UTF-8", 1),  # overlong 3-octet
        ("63 eda080", "invalid UTF-8", 1),  # surrogate U+D800
        ("63 edbfbf", "invalid UTF-8", 1),  # surrogate U+DFFF
        ("64 f0808080", "invalid UTF-8", 1),  # overlong 4-octet
        ("64 f4908080", "invalid UTF-8", 1),  # > U+10FFFF
        ("64 f5808080", "invalid UTF-8", 1),
        ("61 ff", "invalid UTF-8", 1),
        ("62 e282", "invalid UTF-8", 1),  # truncated sequence
        ("64 41 e282 41", "invalid UTF-8", 2),
        ("63 41 c341", "invalid UTF-8", 2),  # bad continuation
        ("a1 41aa 01", "map key must be int or text", 1),
        ("a1 f93c00 01", "map key must be int or text", 1),
        ("a1 80 01", "map key must be int or text", 1),
        ("a1 f5 01", "map key must be int or text", 1),
        ("a1 f6 01", "map key must be int or text", 1),
        ("a2 01 02 01 03", "duplicate map key 1", 3),
        ("a2 6161 01 6161 02", "duplicate map key 'a'", 4),
    ],
)
def test_cbor_decode_rejections(hexenc, msg, offset):
    e = _err(hexenc.replace(" ", ""))
    assert isinstance(e, ValueError)
    assert e.offset == offset
    assert str(e).endswith("at offset %d" % offset)
    assert msg in str(e), str(e)


def test_cbor_decode_every_truncation_rejected():
    enc = cbor.encode({"op": 3, "args": {"gain": -1.25, "name": "fsm\u00e9", "raw": b"\x00\x01",
                                         "big": 2**40, "list": [True, None, -70000]}})
    for k in range(len(enc)):
        with pytest.raises(CborError, match="truncated"):
            cbor.decode(enc[:k])
    assert cbor.decode(enc)["args"]["big"] == 2**40


def test_cbor_depth_limit():
    deep = lambda n: H("81" * n + "00")
    assert cbor.decode(deep(16)) is not None
    e = _err("81" * 17 + "00")
    assert "nesting deeper than max_depth 16" in str(e) and e.offset == 16
    e = _err("a1 01 a1 02 80".replace(" ", ""), max_depth=2)
    assert e.offset == 4
    assert cbor.decode(H("a101a10280"), max_depth=3) == {1: {2: []}}
    assert cbor.decode(H("05"), max_depth=0) == 5
    assert _err("80", max_depth=0).offset == 0


def test_cbor_item_and_string_limits():
    assert len(cbor.decode(cbor.encode([0] * 1024))) == 1024
    assert "array of 1025 items exceeds max_items 1024" in str(_err(cbor.encode([0] * 1025).hex()))
    assert "map of 3 items exceeds max_items 2" in str(_err("a3010102020303", max_items=2))
    assert cbor.decode(H("a201010202"), max_items=2) == {1: 1, 2: 2}
    assert cbor.decode(cbor.encode(b"x" * 4096)) == b"x" * 4096
    assert "string of 4097 octets exceeds max_str 4096" in str(_err(cbor.encode(b"x" * 4097).hex()))
    assert "string of 5 octets exceeds max_str 4" in str(_err("6568656c6c6f", max_str=4))
    assert cbor.decode(H("6568656c6c6f"), max_str=5) == "hello"


def test_cbor_huge_declared_sizes_fail_fast_without_allocation():
    # 2**64-1 items / octets announced in a 9-octet input.
    assert "exceeds max_items" in str(_err("9bffffffffffffffff"))
    assert "exceeds max_items" in str(_err("bbffffffffffffffff"))
    assert "exceeds max_str" in str(_err("5bffffffffffffffff"))
    assert "exceeds max_str" in str(_err("7bffffffffffffffff"))
    big = 2**64 - 1
    assert "truncated" in str(_err("9bffffffffffffffff", max_items=big))
    assert "truncated" in str(_err("5bffffffffffffffff", max_str=big))


def test_cbor_decode_buffer_types_and_result_types():
    enc = cbor.encode([b"ab", "cd", {1: -1}])
    for buf in (enc, bytearray(enc), memoryview(enc)):
        got = cbor.decode(buf)
        assert got == [b"ab", "cd", {1: -1}]
        assert type(got[0]) is bytes and type(got[1]) is str
    # A slice of a larger buffer: offsets are relative to the slice.
    mv = memoryview(b"\xaa\xaa" + enc + b"\x00")
    assert cbor.decode(mv[2:-1]) == [b"ab", "cd", {1: -1}]
    with pytest.raises(CborError, match="trailing 1 octet\\(s\\) after the item at offset %d" % len(enc)):
        cbor.decode(mv[2:])


def test_cbor_error_is_valueerror_without_offset_for_encode():
    with pytest.raises(ValueError) as e:
        cbor.encode(object())
    assert e.value.offset is None


@settings(max_examples=1000, deadline=None, database=None)
@given(st.binary(max_size=12))
def test_utf8_validator_agrees_with_cpython(b):
    bad = cbor.utf8_error(b, 0, len(b))
    try:
        b.decode("utf-8")
    except UnicodeDecodeError as e:
        assert bad == e.start
    else:
        assert bad == -1


@settings(max_examples=1000, deadline=None, database=None)
@given(st.text(max_size=20))
def test_utf8_validator_accepts_all_valid_text(s):
    b = s.encode("utf-8")
    assert cbor.utf8_error(b, 0, len(b)) == -1
    assert cbor.decode(cbor.encode(s)) == s


# ============================================================================ MAC

RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data."
     b" The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


@pytest.mark.parametrize("key, msg, want", RFC4231)
def test_hmac_rfc4231(key, msg, want):
    assert mac.hmac_sha256(key, msg).hex() == want
    assert hmac.new(key, msg, hashlib.sha256).hexdigest() == want
    assert mac.mac(key, msg) == H(want)[:16]
    k = mac.HmacSha256(key)
    assert k.digest([msg[:3], memoryview(msg)[3:]]).hex() == want
    assert k.verify(msg, H(want)[:16])


def test_hmac_rfc4231_case5_truncation():
    key = b"\x0c" * 20
    assert mac.mac(key, b"Test With Truncation") == H("a3b6167473100ee06e0c796c2955552b")
    assert mac.MAC_LEN == 16 and mac.DIGEST_LEN == 32


def test_hmac_key_of_exactly_block_size_and_empty():
    for key in (b"", b"k" * 63, b"k" * 64, b"k" * 65):
        assert mac.hmac_sha256(key, b"m") == hmac.new(key, b"m", hashlib.sha256).digest()


def test_mac_verify_rejects_any_change():
    key = b"0123456789abcdef0123456789abcdef"
    msg = b"\x10\xa0\xc0\x01\x00\x10" + b"body" + b"\x01" + b"\x00\x00\x00\x2a"
    tag = mac.mac(key, msg)
    assert mac.verify(key, msg, tag)
    assert not mac.verify(key, msg + b"x", tag)
    assert not mac.verify(key[:-1] + b"0", msg, tag)
    for i in range(16):
        bad = bytearray(tag)
        bad[i] ^= 1
        assert not mac.verify(key, msg, bytes(bad))
    assert not mac.verify(key, msg, tag[:15])
    assert not mac.verify(key, msg, mac.hmac_sha256(key, msg))  # untruncated is not a tag


def test_equal_ct():
    assert mac.equal_ct(b"", b"")
    assert mac.equal_ct(b"abc", bytearray(b"abc"))
    assert mac.equal_ct(memoryview(b"abc"), b"abc")
    assert not mac.equal_ct(b"abc", b"abd")
    assert not mac.equal_ct(b"xbc", b"abc")
    assert not mac.equal_ct(b"abc", b"ab")
    assert not mac.equal_ct(b"", b"a")
