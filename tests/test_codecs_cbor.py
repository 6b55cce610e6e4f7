"""Unit tests of flight/cbor.py: RFC 8949 Appendix A vectors, all 65,536 half floats,
encode rejections and bounds, every decode rejection reason with its offset, limits,
truncations, buffer types, and the UTF-8 validator against CPython."""

import math
import struct

import pytest
from cbor2 import dumps as cbor2_dumps
from hypothesis import given, settings
from hypothesis import strategies as st

from flight import cbor
from flight.cbor import CborError

from tests.hexbytes import H


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
