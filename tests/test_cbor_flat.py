"""flight/cbor.py's one-call encoder of flat maps (``_flat``: TM reports and events, issue
11) writes exactly the octets of the general encoder, and leaves to it whatever it does
not take (long maps and lists, big or very negative ints, non-ASCII or long text,
bytes, nested maps, bool keys)."""

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
        out = bytearray()
        if cbor._flat(out, d):
            taken += 1
            assert bytes(out) == bytes(ref), d
        assert cbor.encode(d) == bytes(ref)
        assert cbor.decode(cbor.encode(d)) == d
    assert taken > 100  # the fast path did run


def test_an_event_map_takes_the_fast_path():
    ev = {"seq": 12, "time": 1234, "severity": "INFO", "id": 0x26, "name": "TC_REJECTIONS",
          "text": "LENGTH 12; first: LENGTH apid 160 seq 5", "args": [13, -2, "x"]}
    out = bytearray()
    assert cbor._flat(out, ev) is True and bytes(out) == cbor.encode(ev)


def test_bool_keys_still_rejected():
    with pytest.raises(cbor.CborError):
        cbor.encode({True: 1})
