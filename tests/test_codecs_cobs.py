"""Unit tests of flight/cobs.py: COBS vectors, block boundaries, decode rejections and
truncations, and the Deframer (counters, bounds, oversize, resynchronisation after a
flip, drop, insert or zero at every stream position)."""

import pytest

from flight import cobs


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
