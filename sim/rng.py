"""Seeded random numbers that give the same stream on CPython and MicroPython.

Generator: xoshiro128** (Blackman & Vigna), 32-bit words, period 2^128 - 1.  Only integer
shifts, xors, rotations and small multiplications masked to 32 bits, so the integer stream
is bit-identical on both interpreters (MicroPython promotes to long ints as needed).
Seeding expands one integer into four non-zero words with a murmur3-style finaliser.

Distributions (all driven by :meth:`Rng.random`):
  gauss     Box-Muller (one value per call; no cached second value, so a call always
            consumes exactly two uniforms - keeps streams easy to reason about)
  poisson   exact inversion for mean < 30; normal approximation with continuity
            rounding above (skew error ~ 1/sqrt(mean) < 0.2, mean and variance exact)
  binomial  exact inversion while the mean min(np, n(1-p)) < 30; normal approximation
            above (then npq >= 15).  Fast for the framer's millions of bits per window.

Floating-point results (gauss, normal-approximation counts) depend on libm; the integer
stream and the exact small-count paths do not.
"""

import math

_M32 = 0xFFFFFFFF
_INV_2_32 = 1.0 / 4294967296.0
SMALL_MEAN = 30.0  # assumed: exact inversion below (cost ~ mean), normal approx above (skew < 0.2)


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & _M32


def _mix32(h):
    # murmur3 fmix32: spreads a counter into a well-mixed 32-bit word (seed expansion)
    h &= _M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def log1m(p):
    """ln(1 - p), accurate for tiny p (MicroPython has no math.log1p)."""
    if p < 1e-4:
        return -p * (1.0 + p * (0.5 + p / 3.0))
    return math.log(1.0 - p)


class Rng:
    def __init__(self, seed=1):
        self.seed(seed)

    def seed(self, seed):
        seed = int(seed) & _M32
        s = [_mix32(seed + (i + 1) * 0x9E3779B9) for i in range(4)]
        if s[0] == 0 and s[1] == 0 and s[2] == 0 and s[3] == 0:
            s[0] = 1  # the all-zero state is a fixed point
        self._s = s

    def getstate(self):
        return tuple(self._s)

    def setstate(self, state):
        self._s = [int(x) & _M32 for x in state]

    def next_u32(self):
        s = self._s
        result = (_rotl((s[1] * 5) & _M32, 7) * 9) & _M32
        t = (s[1] << 9) & _M32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 11)
        return result

    def random(self):
        """Uniform float in [0, 1) with 32-bit resolution."""
        return self.next_u32() * _INV_2_32

    def uniform(self, a=0.0, b=1.0):
        return a + (b - a) * self.random()

    def randbelow(self, n):
        """Integer in [0, n) (n <= 2^32; tiny modulo bias irrelevant for simulation)."""
        return self.next_u32() % n

    def gauss(self, mu=0.0, sigma=1.0):
        u1 = 1.0 - self.random()  # (0, 1]: log is finite
        u2 = self.random()
        return mu + sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

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
