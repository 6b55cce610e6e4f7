"""flight/cbor.py's one-call encoder of flat maps (``flat_into``: TM reports and events,
issue 11; into a bounded buffer, stop 40) writes exactly the octets of the general
encoder, never past the room it is given, and leaves to it whatever it does not take
(long maps and lists, big or very negative ints, non-ASCII or long text, bytes, nested
maps, bool keys, a map longer than the room)."""

import random

import pytest

from flight import cbor


def _value(r, depth=0):
    c = r.randrange(9)
    if c == 0:
        return r.randrange(-30, 30)
    if c == 1:
        return r.choice([0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, -25, -1000])
    if c == 2:
        return "".join(r.choice("abcé€x") for _ in range(r.randrange(0, 30)))
    if c == 3:
        return r.choice([None, True, False])
    if c == 4:
        return r.random() * 1e3
    if c == 5 and depth < 2:
        return [_value(r, depth + 1) for _ in range(r.randrange(0, 26))]
    if c == 6 and depth < 2:
        return {("k%d" % i if r.random() < 0.8 else i): _value(r, depth + 1)
                for i in range(r.randrange(0, 5))}
    if c == 7:
        return bytes(r.randrange(256) for _ in range(3))
    return "x" * r.randrange(20, 300)


def test_flat_maps_encode_exactly_as_the_general_encoder():
    r = random.Random(1)
    taken = 0
    for _ in range(3000):
        d = {("k%d" % i if r.random() < 0.7 else r.randrange(-30, 300)): _value(r)
             for i in range(r.randrange(0, 26))}
        ref = bytearray()
        cbor._enc(ref, d, 16)
        out = bytearray(1024)
        end = cbor.flat_into(out, 3, d, len(out))
        if end >= 0:
            taken += 1
            assert out[3:end] == ref, d
        assert cbor.encode(d) == bytes(ref)
        assert cbor.decode(cbor.encode(d)) == d
    assert taken > 100  # the fast path did run


def test_the_room_bounds_every_write():
    """A map longer than ``end - w`` is refused (-1) without an octet written past
    ``end``; one that fits ends exactly at ``w + len``."""
    r = random.Random(2)
    refused = fitted = 0
    for _ in range(1500):
        d = {"k%d" % i: _value(r) for i in range(r.randrange(0, 8))}
        ref = bytearray()
        cbor._enc(ref, d, 16)
        whole = bytearray(1024)
        if cbor.flat_into(whole, 0, d, len(whole)) < 0:
            continue  # not flat: the room plays no part
        for room in (len(ref) - 1, len(ref), len(ref) + 1, r.randrange(0, len(ref) + 1)):
            buf = bytearray(b"\xAA" * 400)
            end = cbor.flat_into(buf, 5, d, 5 + room)
            assert buf[:5] == b"\xAA" * 5 and buf[5 + room:] == b"\xAA" * (395 - room)
            if room >= len(ref):
                fitted += 1
                assert end == 5 + len(ref) and buf[5:end] == ref
            else:
                refused += 1
                assert end == -1
    assert refused > 100 and fitted > 100


def test_an_event_map_takes_the_fast_path():
    ev = {"seq": 12, "time": 1234, "severity": "INFO", "id": 0x26, "name": "TC_REJECTIONS",
          "text": "LENGTH 12; first: LENGTH apid 160 seq 5", "args": [13, -2, "x"]}
    out = bytearray(200)
    end = cbor.flat_into(out, 0, ev, len(out))
    assert end > 0 and bytes(out[:end]) == cbor.encode(ev)


def test_put_ascii_takes_ascii_only():
    buf = bytearray(8)
    assert cbor.put_ascii_py(buf, 1, "abc", 3) == 1 and buf[1:4] == b"abc"
    assert cbor.put_ascii_py(buf, 0, "é", 1) == 0
    assert cbor.put_ascii_py(buf, 0, "\ud800", 1) == 0  # a lone surrogate (CPython)


def test_bool_keys_still_rejected():
    with pytest.raises(cbor.CborError):
        cbor.encode({True: 1})
