"""The simulator's one generator (sim/rng.py) on CPython and MicroPython.

Plain asserts, MicroPython stdlib only.  The literal vectors were produced on CPython, so
equality inside the MicroPython VM proves the two streams are the same bit for bit; the
textbook 32-bit xoshiro128** below (arbitrary-precision integers, allocation allowed) proves
the 16-bit-halves implementation computes exactly that generator.  On MicroPython the
integer draws must not allocate (``micropython.heap_lock``): a 32-bit port would otherwise
box every value >= 2^30 and fragment its fixed heap (issue 11).
"""

try:
    import micropython
except ImportError:  # CPython
    micropython = None

from sim.rng import Rng

_M32 = 0xFFFFFFFF


def _fmix32(h):
    h &= _M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & _M32


def _reference_stream(seed, n):
    """Textbook xoshiro128** with 32-bit words (Blackman & Vigna), seeded like sim/rng.py."""
    s = [_fmix32(seed + (i + 1) * 0x9E3779B9) for i in range(4)]
    out = []
    for _ in range(n):
        out.append((_rotl((s[1] * 5) & _M32, 7) * 9) & _M32)
        t = (s[1] << 9) & _M32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 11)
    return out


def test_stream_matches_cpython_vectors():
    r = Rng(12345)
    assert [r.next_u32() for _ in range(4)] == [518667457, 440444462, 4232892992, 3757857622]
    r = Rng(12345)
    assert [r.next_u30() for _ in range(4)] == [129666864, 110111115, 1058223248, 939464405]
    r = Rng(99)
    assert [r.randbelow(1000) for _ in range(6)] == [778, 570, 614, 571, 756, 949]
    assert r.random() == 0.9621855309233069  # exact: two halves scaled by powers of two
    z0, z1 = Rng(7).gauss_pair()
    assert abs(z0 + 0.7277058970148659) < 1e-12 and abs(z1 + 0.05604081564162932) < 1e-12


def test_halves_equal_the_32_bit_generator():
    for seed in (0, 1, 2, 3, 0x5EED, 0xC0FFEE, 1 << 29, (1 << 30) - 1):
        r = Rng(seed)
        assert [r.next_u32() for _ in range(300)] == _reference_stream(seed, 300), seed
    r = Rng(4242)
    ref = _reference_stream(4242, 200)
    for i in range(200):
        assert r.next_u30() == ref[i] >> 2
    r = Rng(4242)
    for i in range(200):
        assert r.random() == ref[i] / 4294967296.0


def test_state_round_trip_and_ranges():
    a = Rng(31)
    for _ in range(10):
        a.next_u30()
    b = Rng(0)
    b.setstate(a.getstate())
    assert [a.next_u32() for _ in range(20)] == [b.next_u32() for _ in range(20)]
    r = Rng(5)
    for _ in range(2000):
        assert 0 <= r.randbelow(7) < 7
        v = r.random()
        assert 0.0 <= v < 1.0
        assert 0 <= r.next_u30() < (1 << 30)


def test_integer_draws_allocate_nothing():
    r = Rng(77)
    r.next_u30()  # first calls outside the lock
    r.randbelow(1000)
    n = 2000
    acc = 0
    i = 0
    if micropython is not None:
        micropython.heap_lock()
    try:
        while i < n:
            acc ^= r.next_u30()
            acc ^= r.randbelow(1 << 20)
            i += 1
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    # the draws ran (a MemoryError under the lock would have raised) and stayed small ints
    assert i == n and 0 <= acc < (1 << 30)
    r2 = Rng(77)
    r2.next_u30()
    r2.randbelow(1000)
    ref = 0
    for _ in range(n):
        ref ^= r2.next_u30()
        ref ^= r2.randbelow(1 << 20)
    assert acc == ref
