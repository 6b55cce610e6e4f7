"""The comparator's TRACK state (flight/comparator_track.py) and the weighted knee fit
(flight/bias_knee_fit.py) on every interpreter: a tracking window, dither decisions
included, allocates nothing (MicroPython heap locked: an allocation raises MemoryError);
the integer dither decision; the weighted fit's immunity to the count noise of the first
points above breakdown.
"""

import math

from flight import bias_knee_fit as K
from flight import comparator as C
from flight import comparator_track as T
from flight.framer_ctl import W_CRC, W_CV, W_OK, W_PRE, W_TRIG
from fakes import FakeDac
from hal.errors import BusError
from heaplock import locked
from kit import rig


class _QuietDac(FakeDac):
    """The kit's DAC without its history list (a list that grows allocates)."""

    def set_code(self, c):
        if not 0 <= c <= self.code_max:
            raise ValueError("DAC code")
        if self.fail:
            self.fail -= 1
            raise BusError("dac")
        self.value = c


def _tracking(c0):
    r = rig("comparator", session=False)
    r.comp.dac = r.dac = _QuietDac()
    r.comp.start_session()
    r.comp.cal_start_s = r.ctx.now()
    r.comp._enter_track(c0, "test")  # (floats and a string: outside the lock)
    r.fc.window_valid = True
    r.fc.window_optical = True  # (a DATA window, as the framer's update marks it)
    return r


def _window(r, c_opt):
    """One 100 ms window at the DAC level in use: 1801 packets, code violations growing
    by 2 %/code away from ``c_opt`` (integers only)."""
    w = r.fc.last_window
    d = r.dac.value - c_opt
    d = d if d >= 0 else -d
    w[W_OK] = 1801
    w[W_CRC] = 0
    w[W_PRE] = 2
    w[W_CV] = 2000 + 40 * d
    w[W_TRIG] = 2500000


def test_a_tracking_window_allocates_nothing():
    r = _tracking(1000)
    comp = r.comp
    c_opt = [1100]

    def one():
        _window(r, c_opt[0])
        comp.update()

    one()  # first use outside the lock
    locked(one, 120)  # 120 windows: ~20 dither decisions, moves among them
    assert comp.state == C.TRACK
    assert comp.dither_moves >= 2 and comp.tracking_level() > 1040  # followed the optimum
    assert comp.dac_errors == 0


def test_a_degraded_ber_recalibrates_without_allocating_before():
    r = _tracking(1000)
    comp = r.comp
    w = r.fc.last_window

    def bad():
        w[W_OK] = 1801
        w[W_CRC] = 900
        w[W_PRE] = 2000  # 2000 / (64 x 2701) = 1.2e-2 > comp_ber_recal 5e-3
        w[W_CV] = 100000
        w[W_TRIG] = 2500000
        comp.update()

    n = comp.ctx.params["comp_recal_windows"]

    def to_the_last():  # (the dither's settling windows do not count)
        while comp._bad_windows < n - 1:
            bad()

    locked(to_the_last, 1)
    assert comp._bad_windows == n - 1 and comp.state == C.TRACK
    for _ in range(2):
        bad()
    assert comp.state == C.SWEEP  # the recalibration (strings: outside the lock)


def test_windows_not_at_the_chosen_level_are_held_without_allocating():
    """A loopback window (not through the optics): not judged, nothing allocated.  A DAC
    write failing: no window judged, the level retried every window (the failing DAC's
    exception allocates: outside the lock), the dither going on once the DAC takes it."""
    r = _tracking(1000)
    comp = r.comp
    r.fc.window_optical = False

    def one():
        _window(r, 1100)
        comp.update()

    one()
    before = (comp._dither_n, comp._dither_phase, comp._acc[4], comp._settle)
    locked(one, 30)
    assert (comp._dither_n, comp._dither_phase, comp._acc[4], comp._settle) == before
    r.fc.window_optical = True
    while comp._dither_n == 0:  # (the window after the enter's level change: settling)
        one()
    r.dac.fail = 1000
    while comp._dither_phase == 0:  # to the phase's end: the write to the high side fails
        one()
    assert comp._pending == 1000 + comp._amp and r.dac.value == 1000 - comp._amp
    errors = comp.dac_errors
    before = (comp._dither_n, comp._dither_phase, comp._acc[5], comp._center)
    for _ in range(20):
        one()
    assert (comp._dither_n, comp._dither_phase, comp._acc[5], comp._center) == before
    assert comp.dac_errors == errors + 20
    r.dac.fail = 0
    one()
    assert comp._pending < 0 and r.dac.value == 1000 + comp._amp
    assert comp.state == C.TRACK


def test_the_integer_dither_decision_matches_the_poisson_rule():
    # 3 sigma of the difference, or a ratio of 1.5, per bit
    assert T.dither_direction(1000, 1000000, 500, 1000000) == 1
    assert T.dither_direction(500, 1000000, 1000, 1000000) == -1
    assert T.dither_direction(1000, 1000000, 960, 1000000) == 0  # 0.9 sigma
    assert T.dither_direction(1000, 1000000, 850, 1000000) == 1  # 3.5 sigma
    assert T.dither_direction(1000, 1000000, 2000, 2000000) == 0  # equal per bit
    assert T.dither_direction(3, 1000000, 1, 1000000) == 1  # lopsided few: the ratio
    assert T.dither_direction(0, 0, 0, 0) == 0
    # large counts (BER ~1e-2 over a 10-cycle decision): no big integers, same verdict
    assert T.dither_direction(900000, 23000000, 800000, 23000000) == 1
    assert T.dither_direction(800000, 23000000, 801000, 23000000) == 0


def _sigmas(vbr, vs, se, level, off):
    """Noise RMS read through ``level`` with a comparator offset ``off`` (volts): the
    simulator's SiPM noise law (sim/receiver.py: gain-squared noise)."""
    out = []
    for v in vs:
        g = (v - vbr) / 3.0
        s = math.sqrt(se * se + (0.035 * g * g) ** 2)
        out.append(s * level / (level + off))
    return out


def test_the_weighted_knee_fit_is_not_moved_by_the_first_points_count_noise():
    # A dark sweep through 130 codes: the first point above breakdown counts ~100s of
    # triggers, so its sigma is known to ~0.3 %; that much, on an equal-weight fit,
    # moved the knee tens of mV (the campaign's pass 3: a dark knee 38 mV high).
    vbr, se, level, off = 24.5, 0.0095, 130 / 4095.0, 0.001
    vs = [24.5 + 0.95 + 0.2 * i for i in range(6)]
    sig = _sigmas(vbr, vs, se, level, off)
    se_m = se * level / (level + off)
    exact = K.fit_knee(vs, sig, se_m, 2.0, 0.15, level)
    assert abs(exact[0] - vbr) < 1e-6 and exact[2] < 1e-6
    noisy = list(sig)
    noisy[0] *= 0.997
    noisy[1] *= 0.998
    got = K.fit_knee(vs, noisy, se_m, 2.0, 0.15, level)
    assert abs(got[0] - vbr) < 0.006
    # the same points weighted equally (the fit before issue 14's robust knee)
    eq = _equal_weights(vs, noisy, se_m)
    assert abs(eq - vbr) > 2 * abs(got[0] - vbr)


def _equal_weights(vs, sig, se):
    xs = []
    us = []
    for i in range(len(vs)):
        y = sig[i] * sig[i] - se * se
        if y > 0.15 * se * se:
            xs.append(vs[i])
            us.append(math.pow(y, 0.25))
    n = len(xs)
    mx = sum(xs) / n
    mu = sum(us) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxu = sum((xs[i] - mx) * (us[i] - mu) for i in range(n))
    return mx - mu / (sxu / sxx)
