"""The simulator's one seeded generator: the same stream on CPython and MicroPython.

Generator: xoshiro128** (Blackman & Vigna), 32-bit words, period 2^128 - 1; seeding expands
one integer into four non-zero words with the murmur3 finaliser (fmix32).  Chosen over the
former ``sim/_prng.py`` (xorshift32 + Weyl sequence, 64 bits of state) because it is the
better generator (passes BigCrush; xorshift32's linear structure is only masked by the Weyl
sum) and it already drove the framer statistics.

Small integers only.  A 32-bit MicroPython port boxes every integer of 2^30 or more as a
heap object; 32-bit arithmetic done directly would leave that garbage on every draw and
fragment a fixed heap (issue 11).  So each 32-bit word is kept as two 16-bit halves and every
intermediate value stays below 2^30 (multiplications are split into 8-bit pieces).  The
32-bit stream is bit-identical to the textbook 32-bit implementation (tests/mpy checks it
against CPython), and the integer draws ``next_u30``, ``randbelow`` (n <= 2^30) allocate
nothing on MicroPython (tests/mpy/test_sim_rng_mpy.py, ``micropython.heap_lock``).
``next_u32`` is kept for tests and tools: its value may itself be a boxed integer.

Distributions (driven by :meth:`Rng.random`; floats are boxed on MicroPython anyway):
  gauss      Box-Muller, one value per call (a call always consumes exactly two uniforms,
             no cached second value - keeps streams easy to reason about)
  gauss_pair both Box-Muller values of the same two uniforms
  poisson    exact inversion for mean < 30; normal approximation with continuity
             rounding above (skew error ~ 1/sqrt(mean) < 0.2, mean and variance exact)
  binomial   exact inversion while the mean min(np, n(1-p)) < 30; normal approximation
             above (then npq >= 15).  Fast for the framer's millions of bits per window.

Floating-point results (gauss, normal-approximation counts) depend on libm; the integer
stream and the exact small-count paths do not.
"""

import math
import sys

_M16 = 0xFFFF
_INV_2_16 = 1.0 / 65536.0
_INV_2_32 = 1.0 / 4294967296.0
_TWO_PI = 2.0 * math.pi
SMALL_MEAN = 30.0  # assumed: exact inversion below (cost ~ mean), normal approx above (skew < 0.2)

# (i + 1) * 0x9E3779B9 mod 2^32 for i = 0..3 (golden-ratio seed spacing), as 16-bit halves
# (the full constants would be boxed integers on a 32-bit MicroPython).
_SEED_STEPS = ((0x9E37, 0x79B9), (0x3C6E, 0xF372), (0xDAA6, 0x6D2B), (0x78DD, 0xE6E4))
_FMIX_C1 = (0x85EB, 0xCA6B)  # murmur3 fmix32 multipliers
_FMIX_C2 = (0xC2B2, 0xAE35)


def _mul32(ah, al, bh, bl):
    """(a * b) mod 2^32 on 16-bit halves; returns (hi, lo).  Every product is < 2^25."""
    b0 = bl & 0xFF
    b1 = bl >> 8
    p1 = al * b1
    s = al * b0 + ((p1 & 0xFF) << 8)
    lo = s & _M16
    hi = (p1 >> 8) + (s >> 16)
    # cross terms mod 2^16: (ah * bl + al * bh) & 0xFFFF, again in 8-bit pieces
    hi += ah * b0 + (((ah * b1) & 0xFF) << 8)
    hi += al * (bh & 0xFF) + (((al * (bh >> 8)) & 0xFF) << 8)
    return hi & _M16, lo


def _fmix32(h, lo):
    """murmur3 fmix32 on halves: spreads a seed word into a well-mixed 32-bit word."""
    lo ^= h  # h ^= h >> 16
    h, lo = _mul32(h, lo, _FMIX_C1[0], _FMIX_C1[1])
    lo ^= ((lo >> 13) | (h << 3)) & _M16  # h ^= h >> 13
    h ^= h >> 13
    h, lo = _mul32(h, lo, _FMIX_C2[0], _FMIX_C2[1])
    lo ^= h  # h ^= h >> 16
    return h, lo


def log1m(p):
    """ln(1 - p), accurate for tiny p (MicroPython has no math.log1p)."""
    if p < 1e-4:
        return -p * (1.0 + p * (0.5 + p / 3.0))
    return math.log(1.0 - p)


class Rng:
    """xoshiro128** on 16-bit halves (module docstring)."""

    def __init__(self, seed=1):
        self._s = [0] * 8  # s0 hi, s0 lo, s1 hi, s1 lo, s2 hi, s2 lo, s3 hi, s3 lo
        self._oh = 0  # halves of the last 32-bit output
        self._ol = 0
        self.seed(seed)

    def seed(self, seed):
        seed = int(seed)
        sh = (seed >> 16) & _M16
        sl = seed & _M16
        s = self._s
        for i in range(4):
            ch, cl = _SEED_STEPS[i]
            lo = sl + cl
            h, lo = _fmix32((sh + ch + (lo >> 16)) & _M16, lo & _M16)
            s[2 * i] = h
            s[2 * i + 1] = lo
        if not (s[0] | s[1] | s[2] | s[3] | s[4] | s[5] | s[6] | s[7]):
            s[1] = 1  # the all-zero state is a fixed point

    def getstate(self):
        s = self._s
        return tuple((s[2 * i] << 16) | s[2 * i + 1] for i in range(4))

    def setstate(self, state):
        s = self._s
        for i in range(4):
            x = int(state[i])
            s[2 * i] = (x >> 16) & _M16
            s[2 * i + 1] = x & _M16

    def _next(self):
        """Advance one step; the output word is left in (_oh, _ol)."""
        s = self._s
        h1 = s[2]
        l1 = s[3]
        # result = rotl(s1 * 5, 7) * 9
        lo = l1 * 5
        hi = (h1 * 5 + (lo >> 16)) & _M16
        lo &= _M16
        rh = ((hi << 7) | (lo >> 9)) & _M16
        rl = ((lo << 7) | (hi >> 9)) & _M16
        lo = rl * 9
        self._oh = (rh * 9 + (lo >> 16)) & _M16
        self._ol = lo & _M16
        # t = s1 << 9
        th = ((h1 << 9) | (l1 >> 7)) & _M16
        tl = (l1 << 9) & _M16
        s[4] ^= s[0]  # s2 ^= s0
        s[5] ^= s[1]
        s[6] ^= h1  # s3 ^= s1
        s[7] ^= l1
        s[2] = h1 ^ s[4]  # s1 ^= s2
        s[3] = l1 ^ s[5]
        s[0] ^= s[6]  # s0 ^= s3
        s[1] ^= s[7]
        s[4] ^= th  # s2 ^= t
        s[5] ^= tl
        h3 = s[6]  # s3 = rotl(s3, 11)
        l3 = s[7]
        s[6] = ((h3 << 11) | (l3 >> 5)) & _M16
        s[7] = ((l3 << 11) | (h3 >> 5)) & _M16

    def next_u32(self):
        """The raw 32-bit output (a boxed integer on 32-bit MicroPython when >= 2^30)."""
        self._next()
        return (self._oh << 16) | self._ol

    def next_u30(self):
        """The top 30 bits of the next output: a small integer on every port."""
        self._next()
        return (self._oh << 14) | (self._ol >> 2)

    def randbelow(self, n):
        """Integer in [0, n) for 1 <= n <= 2^30 (modulo bias < n / 2^30: irrelevant here)."""
        self._next()
        return ((self._oh << 14) | (self._ol >> 2)) % n

    def random(self):
        """Uniform float in [0, 1) with 32-bit resolution (= next_u32() / 2^32 exactly)."""
        self._next()
        return self._oh * _INV_2_16 + self._ol * _INV_2_32

    def uniform(self, a=0.0, b=1.0):
        return a + (b - a) * self.random()

    def gauss(self, mu=0.0, sigma=1.0):
        u1 = 1.0 - self.random()  # (0, 1]: log is finite
        u2 = self.random()
        return mu + sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)

    def gauss_pair(self):
        """Two independent N(0, 1) deviates from the same two uniforms (Box-Muller)."""
        u1 = 1.0 - self.random()
        u2 = self.random()
        r = math.sqrt(-2.0 * math.log(u1))
        a = _TWO_PI * u2
        return r * math.cos(a), r * math.sin(a)

    def poisson(self, lam):
        """Poisson count with mean ``lam`` >= 0."""
        if lam <= 0.0:
            return 0
        if lam < SMALL_MEAN:
            # inversion: walk the cumulative distribution from k = 0
            u = self.random()
            f = math.exp(-lam)
            k = 0
            while u > f:
                u -= f
                k += 1
                f *= lam / k
                if f <= 0.0:  # numerical tail exhausted
                    break
            return k
        k = int(math.floor(lam + math.sqrt(lam) * self.gauss() + 0.5))
        return k if k > 0 else 0

    def binomial(self, n, p):
        """Number of successes in ``n`` trials of probability ``p``."""
        n = int(n)
        if n <= 0 or p <= 0.0:
            return 0
        if p >= 1.0:
            return n
        if p > 0.5:
            return n - self.binomial(n, 1.0 - p)
        mean = n * p
        if mean < SMALL_MEAN:
            # inversion with the pmf recurrence f(k+1) = f(k) (n-k)/(k+1) p/(1-p)
            u = self.random()
            f = math.exp(n * log1m(p))
            r = p / (1.0 - p)
            k = 0
            while u > f and k < n:
                u -= f
                f *= r * (n - k) / (k + 1)
                k += 1
                if f <= 0.0:
                    break
            return k
        sd = math.sqrt(mean * (1.0 - p))
        k = int(math.floor(mean + sd * self.gauss() + 0.5))
        if k < 0:
            return 0
        return n if k > n else k


_M32 = 0xFFFFFFFF
RngHalves = Rng  # the MicroPython generator (tests compare the two on CPython)


class _Rng32(RngHalves):
    """CPython's generator: the same xoshiro128** stream on whole 32-bit words.

    CPython has no small-integer limit (the reason for the 16-bit halves above), and the
    simulator draws ~230,000 numbers a pass (camera noise offsets, the platform's jitter,
    the framer's counts): whole words take half the operations.  Every draw is the
    halves' bit for bit (the float ``r / 2**32`` equals ``hi / 2**16 + lo / 2**32``
    exactly); tests/test_sim_speed.py holds the two streams equal."""

    def seed(self, seed):
        RngHalves.seed(self, seed)  # the seeding of the halves, then whole words from them
        s = self._s
        self._w = [(s[2 * i] << 16) | s[2 * i + 1] for i in range(4)]

    def getstate(self):
        return tuple(self._w)

    def setstate(self, state):
        self._w = [int(state[i]) & _M32 for i in range(4)]

    def _next32(self):
        """Advance one step; returns the 32-bit output word."""
        w = self._w
        s0 = w[0]
        s1 = w[1]
        s2 = w[2] ^ s0  # s2 ^= s0
        s3 = w[3] ^ s1  # s3 ^= s1
        x = (s1 * 5) & _M32  # result = rotl(s1 * 5, 7) * 9
        r = ((((x << 7) | (x >> 25)) & _M32) * 9) & _M32
        w[0] = s0 ^ s3  # s0 ^= s3
        w[1] = s1 ^ s2  # s1 ^= s2
        w[2] = s2 ^ ((s1 << 9) & _M32)  # s2 ^= s1 << 9
        w[3] = ((s3 << 11) | (s3 >> 21)) & _M32  # s3 = rotl(s3, 11)
        return r

    def _next(self):
        r = self._next32()
        self._oh = r >> 16
        self._ol = r & _M16

    def next_u32(self):
        return self._next32()

    def next_u30(self):
        return self._next32() >> 2

    def randbelow(self, n):
        return (self._next32() >> 2) % n

    def random(self):
        return self._next32() * _INV_2_32


if sys.implementation.name != "micropython":
    Rng = _Rng32  # noqa: F811
