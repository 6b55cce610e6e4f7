"""The flight codecs on fixed vectors, under CPython and inside MicroPython 1.27.

Expected octets were produced with the reference libraries on CPython (crcmod
'crc-ccitt-false', cobs.cobs, spacepackets SpacePacketHeader, cbor2.dumps, hmac) and
cross-checked against the flight code there; long encodings are pinned by length and
SHA-256.  Maps with several keys use cbor.Map (MicroPython dicts are unordered).
"""

import hashlib
import math
import struct

from flight import cbor, ccsds, cobs, crc16, mac

H = bytes.fromhex


def _raises(exc, f, *args, **kw):
    """Call f; return the message of the expected exception, fail otherwise."""
    try:
        f(*args, **kw)
    except exc as e:
        return str(e)
    raise AssertionError("no %s raised" % exc.__name__)


def _bits64(hexbits):
    """The double with these IEEE-754 bits.  Extreme decimal literals are not exact on
    every MicroPython build (its decimal parser is not correctly rounded: on the QEMU
    Cortex-M7 firmware 3.4028234663852886e38 parses one bit high), and the firmware
    freezer cannot store a float constant beyond the single-precision range: such
    values are built from their bits, which every build reproduces exactly.  So is -0.0:
    the freezer stores equal constants once, and 0.0 == -0.0, so a frozen module's -0.0
    literal can come out as 0.0 when the module also holds 0.0."""
    return struct.unpack(">d", H(hexbits))[0]


NEG_ZERO = _bits64("8000000000000000")


def _same_float(a, b):
    if b != b:
        return a != a
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


# ---------------------------------------------------------------------------- CRC

CRC_VECTORS = [
    (b"", 0xFFFF),
    (b"123456789", 0x29B1),
    (b"\x00", 0xE1F0),
    (bytes(range(256)), 0x3FBD),
    (b"\xff" * 1000, 0xF2F7),
    (b"Vector CubeSat", 0x9546),
]


def test_crc16_vectors():
    for data, want in CRC_VECTORS:
        assert crc16.crc16(data) == want, data
        assert crc16.crc16(bytearray(data)) == want
        assert crc16.crc16(memoryview(data)) == want


def test_crc16_incremental():
    data = bytes(range(256))
    c = crc16.crc16(data[:100])
    c = crc16.crc16(memoryview(data)[100:], c)
    assert c == 0x3FBD
    assert crc16.crc16(b"123456789" + b"\x29\xb1") == 0  # residue


# ---------------------------------------------------------------------------- COBS

COBS_SMALL = [
    ("", "01"),
    ("00", "0101"),
    ("0000", "010101"),
    ("11220033", "0311220233"),
    ("11000000", "0211010101"),
    ("68656c6c6f00776f726c6400", "0668656c6c6f06776f726c6401"),
    ("000102030405060708090a0b0c0d0e0f10111213", "01140102030405060708090a0b0c0d0e0f10111213"),
]

COBS_BIG = [
    (bytes(range(256)) * 3, 772, "bcb8955a549cfdf0fc7082d7e5bf22b4d8dbada6b932e5faf6205af9677931ac"),
    (b"\x01" * 254, 255, "2d00948e6012dca3c28b1c9ed3230969878b5dfbd1a7c70755f15645189bd2c9"),
    (b"\x01" * 255, 257, "af598d1daeac0d3267bd1a7cd0c5ddf1b15a2e3a5b70c2b658012d98a16b507e"),
    (b"\x01" * 508, 510, "aacb709a99f5cf9281c7084e1d7299fb234434ae0efdcf1e75274db53588455c"),
    (b"\x01" * 254 + b"\x00", 257, "c7faf0b95d59a86df79adc4839040b5068d8bee5561a24ab0126a2a54db4eb11"),
    (bytes(600), 601, "77a9f1a8edabc4e1a2dd3db1d3670f68c910266501c3d74edbc54c75c37281f1"),
]


def test_cobs_small_vectors():
    for raw, enc in COBS_SMALL:
        assert cobs.encode(H(raw)) == H(enc), raw
        assert cobs.decode(H(enc)) == H(raw), enc
        assert cobs.decode(bytearray(H(enc))) == H(raw)


def test_cobs_big_vectors():
    for raw, n, digest in COBS_BIG:
        enc = cobs.encode(raw)
        assert len(enc) == n
        assert hashlib.sha256(enc).digest().hex() == digest
        assert cobs.decode(enc) == raw


def test_cobs_decode_errors():
    assert "empty input" in _raises(cobs.CobsError, cobs.decode, b"")
    assert "zero octet at offset 3" in _raises(cobs.CobsError, cobs.decode, b"\x03ab\x00")
    msg = _raises(cobs.CobsError, cobs.decode, b"\x05ab")
    assert "truncated block at offset 0" in msg
    assert isinstance(cobs.CobsError("x"), ValueError)


def test_deframer_stream_and_counters():
    d = cobs.Deframer(16)
    stream = (b"\x00" + cobs.encode(b"a\x00b") + b"\x00" + b"\x05ab\x00"
              + b"\x7e" * 100 + b"\x00" + cobs.encode(b"") + b"\x00" + cobs.encode(b"end"))
    got = []
    for i in range(0, len(stream), 5):
        got.extend(d.feed(stream[i:i + 5]))
    assert got == [b"a\x00b", b""]
    assert d.pending() == 4
    assert d.feed(bytearray(b"\x00")) == [b"end"]
    assert (d.frames, d.oversize, d.decode_errors) == (3, 1, 1)


def test_deframer_resync_after_flipped_byte():
    frames = [b"one", b"two\x00", b"three"]
    stream = bytearray(b"".join(cobs.encode(p) + b"\x00" for p in frames))
    stream[2] ^= 0x40  # corrupt the first frame only
    d = cobs.Deframer(32)
    got = d.feed(memoryview(stream))
    assert got[-2:] == [b"two\x00", b"three"]


def test_deframer_oversize_by_decoded_length():
    d = cobs.Deframer(254)
    assert d.feed(b"\x01" * 256 + b"\x00") == ()
    assert d.oversize == 1
    assert d.feed(b"\x01" * 255 + b"\x00") == [bytes(254)]


# ---------------------------------------------------------------------------- CCSDS

CCSDS_HEADERS = [
    ((1, 0x0A0, 0, 0, 0, 3), "10a0c0000000"),
    ((0, 0x0A1, 16383, 65535, 0, 3), "00a1ffffffff"),
    ((0, 0x7FF, 1234, 300, 1, 0), "0fff04d2012c"),
    ((1, 0x000, 1, 1, 0, 1), "100040010001"),
    ((0, 0x0A4, 42, 21, 0, 2), "00a4802a0015"),
]

CCSDS_PACKETS = [
    (1, 0x0A0, 7, "8201a0", "10a0c00700048201a06a21"),
    (0, 0x0A1, 0, "", "00a1c00000012da0"),
    (0, 0x0A2, 16383,
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031",
     "00a2ffff0033000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031e6fd"),
]


def test_ccsds_header_vectors():
    for (t, apid, cnt, dl, sec, fl), raw in CCSDS_HEADERS:
        assert ccsds.pack_header(t, apid, cnt, dl, sec_hdr=sec, seq_flags=fl) == H(raw)
        assert ccsds.unpack_header(H(raw)) == (0, t, sec, apid, fl, cnt, dl)


def test_ccsds_packet_vectors():
    for t, apid, cnt, body, raw in CCSDS_PACKETS:
        assert ccsds.build_packet(t, apid, cnt, H(body)) == H(raw)
        h, got = ccsds.parse_packet(H(raw), ptype=t, apid=apid)
        assert got == H(body)
        assert h[ccsds.H_SEQ_COUNT] == cnt


def test_ccsds_errors():
    pkt = H("10a0c00700048201a06a21")
    e = _raises(ccsds.HeaderError, ccsds.pack_header, 1, 0x800, 0, 0)
    assert "apid" in e
    assert "seq_count" in _raises(ccsds.HeaderError, ccsds.pack_header, 1, 1, 0x4000, 0)
    assert "LENGTH" in _raises(ccsds.LengthError, ccsds.parse_packet, pkt[:7])
    assert "LENGTH" in _raises(ccsds.LengthError, ccsds.parse_packet, pkt[:-1])
    bad = bytearray(pkt)
    bad[7] ^= 1
    assert "CRC" in _raises(ccsds.CrcError, ccsds.parse_packet, bytes(bad))
    assert "apid" in _raises(ccsds.HeaderError, ccsds.parse_packet, pkt, apid=0x0A1)
    assert "type" in _raises(ccsds.HeaderError, ccsds.parse_packet, pkt, ptype=0)
    try:
        ccsds.parse_packet(bytes(bad))
    except ccsds.CcsdsError as err:
        assert err.reason == "CRC"
        assert isinstance(err, ValueError)
    assert ccsds.pack_header(True, 1, 0, 0, sec_hdr=False) == H("1001c0000000")


# ---------------------------------------------------------------------------- CBOR

CBOR_EXACT = [
    (0, "00"), (23, "17"), (24, "1818"), (255, "18ff"), (256, "190100"), (65535, "19ffff"),
    (65536, "1a00010000"), (2**32 - 1, "1affffffff"), (2**32, "1b0000000100000000"),
    (2**64 - 1, "1bffffffffffffffff"), (-1, "20"), (-24, "37"), (-25, "3818"),
    (-256, "38ff"), (-257, "390100"), (-(2**32), "3affffffff"),
    (-(2**64), "3bffffffffffffffff"),
    (1.5, "fb3ff8000000000000"), (NEG_ZERO, "fb8000000000000000"), (1.1, "fb3ff199999999999a"),
    (_bits64("7e37e43c8800759c"), "fb7e37e43c8800759c"),  # 1e300
    (True, "f5"), (False, "f4"), (None, "f6"),
    (b"", "40"), (b"\x00\xff", "4200ff"),
    (bytes(range(30)), "581e000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"),
    ("", "60"), ("a", "6161"), ("\u00fc\u6c34\U00010151", "69c3bce6b0b4f0908591"),
    ("x" * 300, "79012c" + "78" * 300),
    ([], "80"), ([1, [2, 3], [b"x", "y", None]], "83018202038341786179f6"),
    (list(range(30)), "981e000102030405060708090a0b0c0d0e0f101112131415161718181819181a181b181c181d"),
    ({}, "a0"), ({"gain": -2.5}, "a1646761696efbc004000000000000"),
    ({1: {"a": [True, False]}}, "a101a1616182f5f4"), ([160, {"mode": 2}], "8218a0a1646d6f646502"),
]

CBOR_MAPS = [
    ([("op", 3), ("args", [1, 2]), (7, None), ("a", "b")], "a4626f7003646172677382010207f661616162"),
    ([(-1, 1.5), (1000, b"k"), ("z", {"y": 0})], "a320fb3ff80000000000001903e8416b617aa1617900"),
]

# cbor2.dumps(value, canonical=True): shortest float that keeps the value.
CBOR_FLOATS = [
    ("f93c00", 1.0), ("f93e00", 1.5), ("f97bff", 65504.0), ("fa47c35000", 100000.0),
    ("fa7f7fffff", _bits64("47efffffe0000000")),  # largest f32, 3.4028234663852886e38 ("f90001", 5.960464477539063e-8),
    ("f9c400", -4.0), ("f93555", 0.333251953125), ("f98000", NEG_ZERO),
    ("f97c00", float("inf")), ("f9fc00", float("-inf")), ("fb3e7ad7f29abcaf48", 1e-7),
    ("fb3fb999999999999a", 0.1), ("f90400", 6.103515625e-05),
    ("f97e00", float("nan")), ("fa7fc00000", float("nan")),
]


def test_cbor_exact_vectors():
    for value, raw in CBOR_EXACT:
        assert cbor.encode(value) == H(raw), raw
        got = cbor.decode(H(raw))
        if isinstance(value, float):
            assert _same_float(got, value)
        else:
            assert got == value, raw
            assert type(got) is type(value)


def test_cbor_ordered_maps():
    for pairs, raw in CBOR_MAPS:
        assert cbor.encode(cbor.Map(pairs)) == H(raw)
        got = cbor.decode(H(raw))
        assert got == dict(pairs)
        # A dict gives the same map, maybe in another key order on MicroPython.
        assert cbor.decode(cbor.encode(dict(pairs))) == dict(pairs)


def test_cbor_float_widths():
    for raw, value in CBOR_FLOATS:
        assert _same_float(cbor.decode(H(raw)), value), raw


def test_cbor_rejections():
    cases = [
        ("", "truncated"), ("1901", "truncated"), ("8301", "truncated"), ("0000", "trailing"),
        ("5f", "indefinite"), ("9f", "indefinite"), ("ff", "break"), ("c0", "tags"),
        ("1c", "reserved"), ("f7", "undefined"), ("f820", "simple value 32"),
        ("1805", "non-minimal"), ("5801aa", "non-minimal"),
        ("62c080", "UTF-8"), ("63eda080", "UTF-8"), ("64f4908080", "UTF-8"), ("62e282", "UTF-8"),
        ("6180", "UTF-8"), ("a14161f6", "map key"), ("a2010201f6", "duplicate"),
    ]
    for raw, what in cases:
        msg = _raises(cbor.CborError, cbor.decode, H(raw))
        assert what in msg, (raw, msg)
        assert "at offset" in msg


def test_cbor_error_offset_attribute():
    try:
        cbor.decode(H("820118"))
    except cbor.CborError as e:
        assert e.offset == 3
        assert isinstance(e, ValueError)
    else:
        raise AssertionError("no CborError")


def test_cbor_limits():
    assert "max_depth" in _raises(cbor.CborError, cbor.decode, H("81" * 17 + "00"))
    assert cbor.decode(H("81" * 16 + "00")) is not None
    assert "max_items" in _raises(cbor.CborError, cbor.decode, H("83010203"), max_items=2)
    assert "max_str" in _raises(cbor.CborError, cbor.decode, H("6568656c6c6f"), max_str=4)
    assert "max_items" in _raises(cbor.CborError, cbor.decode, H("9bffffffffffffffff"))


def test_cbor_encode_rejections():
    assert "above" in _raises(cbor.CborError, cbor.encode, 2**64)
    assert "below" in _raises(cbor.CborError, cbor.encode, -(2**64) - 1)
    assert "map key" in _raises(cbor.CborError, cbor.encode, {b"k": 1})
    assert "map key" in _raises(cbor.CborError, cbor.encode, {True: 1})
    assert "cannot encode" in _raises(cbor.CborError, cbor.encode, set())
    # A lone surrogate: CPython's str.encode refuses it, MicroPython's does not.  Built at
    # run time: as a literal it makes the .mpy's string table invalid UTF-8, which the
    # firmware freezer (mpy-tool) refuses.
    assert "UTF-8" in _raises(cbor.CborError, cbor.encode, "ok" + chr(0xD800))
    assert "duplicate" in _raises(cbor.CborError, cbor.encode, cbor.Map([(1, 1), (1, 2)]))
    deep = 0
    for _ in range(17):
        deep = [deep]
    assert "max_depth" in _raises(cbor.CborError, cbor.encode, deep)


def test_cbor_telecommand_shape():
    body = cbor.encode([3, {"gain": 2}])
    assert body == H("8203a1646761696e02")
    assert cbor.decode(body) == [3, {"gain": 2}]


# ---------------------------------------------------------------------------- MAC

HMAC_VECTORS = [
    # RFC 4231 test cases 1, 2, 6 (full) and 5 (truncated to 128 bits).
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    # Python's hmac module.
    (b"key", b"The quick brown fox jumps over the lazy dog",
     "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"),
    (bytes(32), b"", "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"),
    (bytes(range(70)), bytes(range(200)),
     "f45b67b626d2ece6f0354a0d8b4cfb033e502b293e05cb4bcbe99794fac7856f"),
]


def test_hmac_vectors():
    for key, msg, want in HMAC_VECTORS:
        assert mac.hmac_sha256(key, msg).hex() == want
        assert mac.mac(key, msg) == H(want)[:16]
        assert mac.HmacSha256(key).digest([msg[:5], memoryview(msg)[5:]]).hex() == want
    assert mac.mac(b"\x0c" * 20, b"Test With Truncation") == H("a3b6167473100ee06e0c796c2955552b")


def test_mac_security_trailer_example():
    # TC security trailer: HMAC over header || CBOR body || key id || counter (hmac module).
    key = bytes(range(32))
    parts = (H("10a0c0070018"), H("8203a1646761696e02"), b"\x01", H("0000002a"))
    tag = H("15c1b293fc2058fe36993f5895e8863d")
    assert mac.mac(key, parts) == tag
    k = mac.HmacSha256(key)
    assert k.verify(parts, tag)
    assert not k.verify(parts, tag[:-1] + b"\x00")
    assert not k.verify((parts[0], parts[1], b"\x02", parts[3]), tag)


def test_equal_ct():
    assert mac.equal_ct(b"abc", b"abc")
    assert mac.equal_ct(bytearray(b"abc"), memoryview(b"abc"))
    assert not mac.equal_ct(b"abc", b"abd")
    assert not mac.equal_ct(b"abc", b"abcd")
    assert mac.equal_ct(b"", b"")


def test_codecs_loaded_on_use_are_released_where_frozen():
    """The CCSDS codec and the CBOR decoder (issue 11: loaded on use, flight/lazy.py) read
    as before through their modules; the decoder is released after a use where the code
    is frozen (the firmware), held where it was loaded from a file."""
    import sys

    from flight import lazy

    pkt = ccsds.build_packet(1, 0x0A0, 1, b"ab")
    assert issubclass(ccsds.CrcError, ccsds.CcsdsError)
    lazy.release("flight.ccsds_codec")
    bad = bytearray(pkt)
    bad[-1] ^= 1
    # (a reported rejection's text needs no codec: nothing loaded for it)
    assert ccsds.reject_detail(bytes(bad), 1, 0x0A0).startswith("CRC: packet error control")
    assert ccsds.reject_detail(pkt, 1, 0x0A0) == ""
    assert "flight.ccsds_codec" not in sys.modules
    assert cbor.decode(H("820102")) == [1, 2]
    frozen = lazy.frozen("flight.cbor_decode")
    cbor.done()
    assert ("flight.cbor_decode" in sys.modules) is not frozen
    assert cbor.decode(H("a0")) == {}
