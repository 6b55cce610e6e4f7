"""The comparator test rig (flight/comparator.py): a fake receiver channel and the
comparator with its framer control on the kit, shared by tests/test_comparator_*.py.

The fake channel turns the comparator DAC code into one 100 ms framer window: noise
triggers below a noise floor, and a bit error rate that is a V in log scale around an
optimum level (Fig. A1's shape); the real FramerControl turns the fake FPGA counters into
the windows the comparator reads.  :func:`calibrated` brings a rig through its noise and
BER sweeps to TRACK.
"""

import sys

from flight import comparator as C
from flight.keys import DEV_KEY, DEV_KEY_ID, Keyring
from sim.rng import Rng
from tests.mpy.kit import app_rig, rig

PACKETS = 1801  # per 100 ms window at 18,011 packets/s (DESIGN §3.6)


class Channel:
    """BER(code) = bmin * 10**(|code - c0| / scale); noise triggers below ``floor``.

    ``flat``: (lo, hi) levels where no error is ever counted (a high-power window whose
    bottom reads zero errors in 100 ms)."""

    def __init__(self, dac, hal, c0=2000, bmin=1e-4, scale=100.0, floor=1234, flat=None,
                 seed=None, cv=False, parabola=None):
        self.rng = Rng(seed) if seed is not None else None  # binomial counts, else means
        self.dac = dac
        self.hal = hal
        self.c0 = c0
        self.bmin = bmin
        self.scale = scale
        self.floor = floor
        self.signal = True
        self.flat = flat
        self.cv = cv  # count code violations (~2 x BER x 50 Mbit/s, hal/interfaces.py)
        self.parabola = parabola  # codes: log BER a parabola of this half-width per decade

    def ber(self, code):
        if self.flat is not None:
            lo, hi = self.flat
            if lo <= code <= hi:
                return 0.0
            d = lo - code if code < lo else code - hi
            return min(0.5, 1e-6 * 10 ** (d / 20.0))
        if self.parabola is not None:
            return min(0.5, self.bmin * 10 ** (((code - self.c0) / self.parabola) ** 2))
        return min(0.5, self.bmin * 10 ** (abs(code - self.c0) / self.scale))

    def step(self):
        code = self.dac.value
        trig = 1000000 if code < self.floor else 5  # per 100 ms
        if not self.signal or not self.hal.rx:
            self.hal.add(trig=trig, locked=False)
            return
        trig += 2500000  # light: the comparator fires at ~half the bit rate
        b = self.ber(code)
        if b >= 0.05:  # a level this bad decodes nothing
            self.hal.add(trig=trig, locked=False)
            return
        if self.rng is not None:
            crc = self.rng.binomial(PACKETS, 1 - (1 - b) ** 2616)
            pre = self.rng.binomial(64 * PACKETS, b)
        else:
            crc = int(PACKETS * (1 - (1 - b) ** 2616) + 0.5)
            pre = int(64 * PACKETS * b + 0.5)
        cv = int(2 * b * 5000000 + 0.5) if self.cv else 0
        self.hal.add(ok=PACKETS - crc, crc=crc, pre=pre, trig=trig, locked=True, cv=cv)


class Rig:
    """The comparator and its framer control on the kit (``app``: inside the real
    FlightApp, for the TC pipeline), fed by a :class:`Channel`."""

    def __init__(self, params=None, signal=True, app=False, **ch):
        # The synthetic channels put their noise floor anywhere on the scale; the flight
        # default caps a plausible floor at 1024 (test_implausible_noise_floor_... below).
        # These tests exercise the BER sweep at the signal's arrival (comp_start_sweep=1;
        # the flight default tracks from the a-priori level: test_start_without_sweep...)
        # on channels whose noise floor is defined at 1000 triggers/s.
        merged = {"comp_noise_floor_max": 4095, "comp_start_sweep": 1,
                  "comp_noise_max_hz": 1000.0}
        merged.update(params or {})
        if app:
            k = app_rig("comparator", params=merged, keyring=Keyring({DEV_KEY_ID: DEV_KEY}))
            self.app = k.app
            self.link = k.link
            self.clock = k.clock
        else:
            k = rig("comparator", params=merged, session=False)
        self.k = k
        self.ctx = k.ctx
        self.params = k.ctx.params
        self.fc = k.fc
        self.comp = k.comp
        self.dac = k.dac
        self.hal = k.hal
        self.ch = Channel(self.dac, self.hal, **ch)
        self.ch.signal = signal

    def start(self):
        self.fc.start_session()
        self.comp.start_session()
        assert self.comp.state == C.NOISE_SWEEP
        self.fc.update()  # first snapshot: no window yet

    def window(self, n=1):
        for _ in range(n):
            self.ctx.t += 0.1
            self.ch.step()
            self.fc.update()
            self.comp.update()

    def until(self, state, max_windows):
        for i in range(max_windows):
            self.window()
            if self.comp.state == state:
                return i + 1
        raise AssertionError("no %s within %d windows (in %s)" % (
            C.STATE_NAMES[state], max_windows, C.STATE_NAMES[self.comp.state]))

    def named(self, ev_id):
        return self.k.named(ev_id)

    def args(self, ev_id):
        return self.k.args(ev_id)


def calibrated(start=2000, **kw):
    # The a-priori level (the last calibration's optimum) lies in the window: the link
    # locks on it while waiting for the sweep (Fig. A1: the optimum hardly moves).
    rig = Rig(signal=False, params={"comp_start_code": start}, **kw)
    comp = rig.comp
    drop = comp._drop_sweep
    rig.coarse = rig.coarse_ber = None

    def keep():  # the coarse sweep, seen as the controller drops it entering TRACK
        if comp._coarse_codes:
            rig.coarse, rig.coarse_ber = comp._coarse_codes, comp._coarse_ber
        drop()
    comp._drop_sweep = keep
    rig.start()
    rig.until(C.WAIT_SIGNAL, 40)
    rig.ch.signal = True
    rig.until(C.SWEEP, 20)
    rig.until(C.TRACK, 100)
    # TRACK holds nothing of the sweep: its code released (flight/lazy.py), its lists gone
    assert comp._sw is None and "flight.comparator_sweep" not in sys.modules
    assert comp._coarse_codes == comp._sweep_ber == () and comp._acq is None
    return rig
