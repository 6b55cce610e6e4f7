"""The housekeeping packer's encoding (flight/telemetry.py HkPacker.encode), on every
interpreter: eight fields a struct call must give exactly the octets of one call a field
(the reference below), clamping and all, for any field count."""

import struct

from flight.telemetry import BE_CODES, F_TYPE, TYPES, HkField, HkPacker

_KINDS = ("u8", "i8", "u16", "i16", "u32", "i32", "f32")


def _reference(fields, values):
    """One pack a field: what HkPacker.encode did before it packed eight at a time."""
    out = bytearray()
    for i in range(len(fields)):  # (zip(strict=) is not MicroPython's)
        f = fields[i]
        v = values[i]
        _code, _n, lo, hi = TYPES[f[F_TYPE]]
        if lo is None:
            out.extend(struct.pack(BE_CODES[f[F_TYPE]], v if v is not None else 0))
            continue
        v = int(v) if v is not None else 0
        v = lo if v < lo else (hi if v > hi else v)
        out.extend(struct.pack(BE_CODES[f[F_TYPE]], v))
    return bytes(out)


def _values(n, k):
    # In range, out of range both ways, None, floats in integer fields, a bool.
    pool = (0, 1, -1, 200, -200, 70000, -70000, 5000000000, -5000000000, None, 3.75,
            -2.5, True, 255, 65535, 0x7FFFFFFF, 1.5e9)
    return [pool[(i * 7 + k) % len(pool)] for i in range(n)]


def test_chunked_encode_equals_one_pack_a_field_for_any_count():
    for n in (0, 1, 7, 8, 9, 16, 19, 33):
        fields = [HkField("f%d" % i, _KINDS[i % len(_KINDS)]) for i in range(n)]
        for k in range(3):
            values = _values(n, k)
            want = _reference(fields, values)
            p = HkPacker([(fields, None)])
            assert p.size == len(want)
            for i in range(n):
                p.values[i] = values[i]
            got = bytes(p.encode())
            assert got == want, (n, k)
            # encode() again on the clamped values it left: the same octets
            assert bytes(p.encode()) == want


def test_encode_in_shares_equals_one_encode():
    """The hk task encodes in halves (flight/app.py HK_STEPS): any split of the chunks,
    the last share with the fields left over, gives the whole packet's octets."""
    for n in (0, 1, 7, 8, 9, 16, 19, 33, 250):
        fields = [HkField("f%d" % i, _KINDS[i % len(_KINDS)]) for i in range(n)]
        values = _values(n, n)
        want = _reference(fields, values)
        for parts in (1, 2, 3, 5):
            p = HkPacker([(fields, None)])
            for i in range(n):
                p.values[i] = values[i]
            for part in range(parts):
                p.encode(part, parts)
            assert bytes(p.buf) == want, (n, parts)


def test_collect_in_shares_asks_every_owner_once():
    calls = []

    def fill(j):
        def f(values, i):
            calls.append(j)
            values[i] = j + 1
        return f

    sections = [([HkField("s%d" % j, "u8")], fill(j)) for j in range(7)]
    sections.insert(3, ([HkField("absent", "u8")], None))
    for parts in (1, 2, 3):
        calls[:] = []
        p = HkPacker(sections)
        for part in range(parts):
            p.collect(part, parts)
        assert calls == list(range(7)), parts
        assert p.values == [1, 2, 3, 0, 4, 5, 6, 7]


def test_encode_fills_from_the_owners_sections_in_order():
    a = [HkField("a%d" % i, "u16") for i in range(5)]
    b = [HkField("b%d" % i, "i8") for i in range(6)]

    def fill_a(values, i):
        for j in range(5):
            values[i + j] = 1000 * j

    def fill_b(values, i):
        for j in range(6):
            values[i + j] = -50 * j

    p = HkPacker([(a, fill_a), (b, None), (b, fill_b)])
    got = bytes(p.pack())
    want = _reference(a + b + b, [1000 * j for j in range(5)] + [0] * 6
                      + [-50 * j for j in range(6)])
    assert got == want


def test_the_packer_keeps_one_fill_per_present_owner_and_counts_a_failing_one():
    # (issue 11) the fills and their first field's index, not a tuple a section: an
    # absent owner (None) costs nothing, a raising one is counted and skipped
    a = [HkField("a%d" % i, "u8") for i in range(3)]
    b = [HkField("b%d" % i, "u8") for i in range(2)]
    c = [HkField("c%d" % i, "u8") for i in range(4)]

    def fill_a(values, i):
        values[i + 2] = 7

    def broken(values, i):
        raise ValueError("owner bug")

    def fill_c(values, i):
        values[i] = 9

    p = HkPacker([(a, fill_a), (b, None), (c, broken), (a, fill_c)])
    assert len(p._fills) == 3 and list(p._at) == [0, 5, 9]
    assert not hasattr(p, "sections")
    got = bytes(p.pack())
    assert got == bytes([0, 0, 7, 0, 0, 0, 0, 0, 0, 9, 0, 0]) and p.errors == 1


class _Owner:
    def __init__(self, k):
        self.k = k

    def hk(self, values, i):
        values[i] = self.k

    def hk_diag(self, values, i):
        values[i] = 100 + self.k


class _NoDiag(_Owner):
    def hk_diag(self, values, i):
        raise ValueError("owner bug")


def test_a_packer_of_owners_calls_their_method_and_holds_no_bound_method():
    # (issue 11) with ``method`` the sections name the owners: collect() calls
    # owner.hk / owner.hk_diag, no bound method is held per owner
    f = [HkField("x", "u8")]
    owners = (_Owner(1), _Owner(2), _NoDiag(3))
    for method, want in (("hk", b"\x01\x00\x02\x03"), ("hk_diag", b"\x65\x00\x66\x00")):
        p = HkPacker([(f, owners[0]), (f, None), (f, owners[1]), (f, owners[2])], method)
        assert p._fills == owners  # the owners themselves
        assert bytes(p.pack()) == want
        assert p.errors == (1 if method == "hk_diag" else 0)  # _NoDiag's bug: counted
    try:
        HkPacker([(f, owners[0])], "cmd_ping")
    except ValueError:
        pass
    else:
        raise AssertionError("a packer calls hk or hk_diag only")


def test_the_grounds_export_helpers_are_not_defined_on_micropython():
    # (issue 11) field_map/size/layout serve the ground's export only: on MicroPython
    # (the firmware) no function objects are held for them; on CPython they export
    import sys

    from flight import telemetry

    on_mpy = sys.implementation.name == "micropython"
    for name in ("field_map", "size", "layout"):
        assert hasattr(telemetry, name) is not on_mpy, name
    if not on_mpy:
        f = [HkField("a", "u16"), HkField("b", "f32")]
        assert telemetry.size(f) == 6 and telemetry.layout([("o", f)])[1]["offset_bytes"] == 2
