"""One temperature sensor's plausibility check (DESIGN §3.4): range, step, stuck.

Step 1 of the bias module's sensor selection (flight/thermal_sensors.py, which
re-exports these names); its own module so that the selection — the cross-check, the
events — keeps to one file's size.  Integers in 1/4096 K (``TempSensor.read_q``,
hal/interfaces.py ``TEMP_Q``): a good reading allocates nothing (issue 11).
"""

from struct import pack_into

from hal.compat import const
from hal.errors import HalError

# (each module its own: a const with a leading underscore is folded by MicroPython's
# compiler and leaves no global to import)
_Q = const(4096)  # temperatures in 1/4096 K
_FB = bytearray(8)  # to_q's scratch: the reading's 8 octets


def to_q(t):
    """``int(t * 4096.0)`` (truncated, as int() does) without making a float: the bits of
    the double, |t| < 512 K (the readings are range-checked first)."""
    pack_into("<d", _FB, 0, t)
    b = _FB
    e = ((b[7] & 0x7F) << 4 | b[6] >> 4) - 1023  # t = 1.m x 2^e
    if e < -12:
        return 0  # below 1/4096 K (or zero)
    if e > 8:
        return int(t * 4096.0)  # (out of any plausible range: never in flight)
    # the mantissa's top 20 bits and its leading one: t x 4096 = m x 2^(e - 8), floored
    v = ((b[6] & 15) << 16 | b[5] << 8 | b[4] | 0x100000) >> (8 - e)
    return -v if b[7] & 0x80 else v


def _ceil_q(x):
    """The smallest integer n with n / 4096 >= x (a limit in K → 1/4096 K)."""
    n = int(x * _Q)
    return n + 1 if n < x * _Q else n


class SensorCheck:
    """Plausibility of one temperature sensor: range, step, stuck.

    Step: the die cannot change by more than ``max_step`` per update, so a larger jump
    from the last accepted reading is a fault (a glitch, or an offset that persists).  The
    allowance grows with the updates the sensor had no plausible reading (an outage), not
    while it is rejected for a step — a persistent offset would otherwise be accepted
    after a few updates.  A stepped sensor (``suspect``) is re-accepted when its reading
    is back within the allowance, or when another sensor confirms it (:meth:`rebase`).
    """

    def __init__(self, sensor):
        self.sensor = sensor
        # The HAL's integer reading (hal/interfaces.py TempSensor.read_q: no float made);
        # a sensor without one (a test's stand-in) is read as a float and converted here.
        self._read_q = getattr(sensor, "read_q", None)
        self.last = None  # the last accepted reading, 1/4096 K (None: none yet)
        self.age = 1  # updates since the last accepted reading, counting outages only
        self.same = 0
        self.faults = 0
        self.reason = ""
        self.raw = None  # the last plausible (in range) reading, accepted or not, 1/4096 K
        self.raw_q = 0  # the same (0 when None)
        self.last_q = 0  # ``last`` (0 when None)
        self.suspect = False

    def read(self, lo_q, hi_q, step_q, stuck_n):
        """The temperature in 1/4096 K, or None (``reason`` says why); ``lo_q``..``hi_q``
        the plausible range and ``step_q`` the largest plausible step per update, in
        1/4096 K.  Integers only: nothing allocated on a good reading."""
        self.raw = None
        rq = self._read_q
        t = None  # (the float reading, for the text: none from read_q)
        try:
            if rq is not None:
                q = rq()
            else:
                t = self.sensor.read_c()
                q = to_q(t) if t == t and -512.0 < t < 512.0 else None
        except HalError as e:  # (a software fault is no sensor fault: it propagates)
            self.age += 1
            return self._bad("read error %r" % (e,))
        if q is None or q < lo_q or q > hi_q:  # NaN or out of range
            self.age += 1
            return self._bad("implausible %r" % (t if q is None else q / _Q,))  # (None: read_q's)
        self.raw = q
        self.raw_q = q
        prev = self.last
        if prev is not None and abs(q - prev) > step_q * self.age:
            self.suspect = True
            self.same = 0
            return self._bad("step %.2f K" % ((q - prev) / _Q))
        if prev is not None and q == prev:
            self.same += 1
            if self.same >= stuck_n:
                return self._bad("stuck at %.3f" % (q / _Q))
        else:
            self.same = 0
        return self._accept(q)

    def rebase(self):
        """Accept the present (stepped) reading: another sensor agrees with it."""
        self.same = 0
        return self._accept(self.raw_q)

    def _accept(self, q):
        self.last = q
        self.last_q = q
        self.age = 1
        self.suspect = False
        self.reason = ""
        return q

    def _bad(self, why):
        self.faults += 1
        self.reason = why
        return None
