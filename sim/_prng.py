"""Private seeded 32-bit generator for the platform physics models (MicroPython-clean).

Used by ``sim/pointing.py``, ``sim/camera.py`` and ``sim/thermal.py`` because the shared
``sim/rng.py`` was not yet in the tree when these models were written.  It has the same
method names (``uniform``, ``gauss``, ``poisson``) so the models can switch to the shared
generator by changing one import.

Generator: Marsaglia xorshift32 (shifts 13, 17, 5; Marsaglia 2003, "Xorshift RNGs", J. Stat.
Soft. 8(14)) whose output is added to a Weyl sequence (step 0x9E3779B9, the 32-bit golden
ratio) to break up xorshift's linear structure.  Integer arithmetic is masked to 32 bits, so
CPython and MicroPython (whose long ints are arbitrary precision) produce identical streams.
Seeds are first mixed with the 32-bit "lowbias32" integer hash so nearby seeds give
unrelated streams.  Not cryptographic; statistical quality is ample for sensor noise.
"""

import math

_M32 = 0xFFFFFFFF
_WEYL = 0x9E3779B9  # 2**32 / golden ratio: standard Weyl increment (assumed: any odd constant)
_INV32 = 1.0 / 4294967296.0
_TWO_PI = 2.0 * math.pi


def mix32(x):
    """32-bit integer hash (lowbias32 constants); used to derive states from seeds."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    x ^= x >> 16
    return x


class Prng:
    """Seeded 32-bit generator: ``next_u32``, ``uniform``, ``gauss``, ``gauss_pair``, ``poisson``."""

    def __init__(self, seed=1):
        s = mix32(int(seed) ^ 0x5EED1234)
        if s == 0:
            s = 0x6D2B79F5
        self._x = s
        self._w = mix32(s ^ 0xA5A5A5A5)
        self._spare = 0.0
        self._has_spare = False

    def next_u32(self):
        x = self._x
        x ^= (x << 13) & _M32
        x ^= x >> 17
        x ^= (x << 5) & _M32
        self._x = x
        w = (self._w + _WEYL) & _M32
        self._w = w
        return (x + w) & _M32

    def uniform(self, a=0.0, b=1.0):
        """Uniform in [a, b) (strictly below b)."""
        return a + (b - a) * (self.next_u32() * _INV32)

    def randbelow(self, n):
        """Integer in [0, n) for 1 <= n <= 2**32 (multiply-shift; negligible bias)."""
        return (self.next_u32() * n) >> 32

    def gauss_pair(self):
        """Two independent N(0, 1) deviates (Box-Muller)."""
        u1 = (self.next_u32() + 1) * _INV32  # (0, 1]: log never sees 0
        u2 = self.next_u32() * _INV32
        r = math.sqrt(-2.0 * math.log(u1))
        a = _TWO_PI * u2
        return r * math.cos(a), r * math.sin(a)

    def gauss(self, mu=0.0, sigma=1.0):
        if self._has_spare:
            self._has_spare = False
            return mu + sigma * self._spare
        z0, z1 = self.gauss_pair()
        self._spare = z1
        self._has_spare = True
        return mu + sigma * z0

    def poisson(self, lam):
        """Poisson deviate: exact (Knuth) for lam < 30, rounded normal approximation above."""
        if lam <= 0.0:
            return 0
        if lam < 30.0:
            limit = math.exp(-lam)
            k = 0
            p = self.uniform()
            while p > limit:
                k += 1
                p *= self.uniform()
            return k
        v = int(lam + math.sqrt(lam) * self.gauss() + 0.5)
        return v if v > 0 else 0
