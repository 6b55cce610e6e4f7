"""TRACK, the comparator level's steady state (DESIGN §3.5; flight/comparator.py runs it
every 100 ms window; its maths in flight/comparator_sweep.py): the dither that follows
the optimum as the received power changes over a pass, and the re-calibration when the
BER stays degraded.

Dither: phase 0 reads the error counts at centre − d, phase 1 at centre + d
(``comp_dither_windows`` windows a side, a settling window after each level change); the
centre steps toward the side with significantly fewer errors (code violations when there
are enough, else preamble errors summed over up to ``_MAX_CYCLES`` cycles), within
``comp_track_range_codes`` of where TRACK started.

Allocation-free per window (the target's heap, ``make target-bench``
task_alloc_bytes_mean.comparator): integers only — the BER and light tests compare
counts against integer thresholds the parameters' listener keeps
(:func:`thresholds`), and the dither decision is integer
(comparator_sweep.dither_direction).  Floats and strings only when the level is chosen
again (a calibration).
"""

from flight import comparator_sweep as sweep
from flight.framer_ctl import W_CV, W_PRE, W_TRIG
from hal.compat import const
from hal.interfaces import PREAMBLE_BITS

_MIN_PACKETS = const(50)  # packets in a window before its BER means anything
# Errors (violations, else preamble errors) a dither decision sums, cycles adding up (at
# least 20 after _MAX_CYCLES): on ~30 a cycle (high power) the ratio-1.5 rule walked the
# level on Poisson noise (±50 codes: BER ratio 1.2 at 2 µW).
_MIN_DECIDE = const(100)
_MAX_CYCLES = const(10)  # dither cycles whose error counts may add up to one decision
_RECAL_SHIFT = const(12)  # BER threshold in 1/(PREAMBLE_BITS * 4096) per packet


def thresholds(c):
    """Integer forms of the thresholds read every window (``c``: the controller): the
    trigger count of ``comp_light_hz`` in one window, and ``comp_ber_recal`` in units of
    2^-12 preamble errors per packet (packets ≤ 2^17 a window: products < 2^30, small
    integers on every port).  Made on a parameter change and at every session start."""
    p = c.ctx.params
    c._light_trig = int(p["comp_light_hz"] * c.period_us / 1000000)
    c._recal_q = int(p["comp_ber_recal"] * PREAMBLE_BITS * (1 << _RECAL_SHIFT) + 0.5)


def light(c, w):
    """Light on the detector: triggers above ``comp_light_hz`` in the window."""
    return w[W_TRIG] > c._light_trig


def enter(c, chosen):
    """Start tracking at ``chosen`` (the dither starts at once on its low side)."""
    c._dither_phase = 0
    c._dither_n = 0
    reset_acc(c)
    c._run = 0
    c._bad_windows = 0
    c._center = chosen
    c._calibrated = chosen
    c._amp = c.ctx.params["comp_dither_codes"]
    c._set(chosen - c._amp)
    c._settle = 1


def reset_acc(c):
    a = c._acc
    for i in range(len(a)):
        a[i] = 0
    c._cycles = 0


def step(c, w, packets):
    """One window in TRACK (after the settling window of a level change)."""
    p = c.ctx.params
    if packets < _MIN_PACKETS:
        if not light(c, w):
            return  # no light (beacon/uplink lost): hold the level, no dither, no verdict
        bad = True  # light the level does not decode
    else:  # preamble BER above comp_ber_recal
        bad = (w[W_PRE] << _RECAL_SHIFT) > c._recal_q * packets
    if bad:
        c._bad_windows += 1
        if c._bad_windows >= p["comp_recal_windows"]:
            c._begin_sweep("BER degraded")
            return
    else:
        c._bad_windows = 0
    if packets < _MIN_PACKETS:
        return
    k = c._dither_phase * 2
    acc = c._acc  # errors-, bits-, errors+, bits+, violations-, violations+
    acc[k] += w[W_PRE]
    acc[k + 1] += PREAMBLE_BITS * packets
    acc[4 + c._dither_phase] += w[W_CV]
    c._dither_n += 1
    if c._dither_n < p["comp_dither_windows"]:
        return
    c._dither_n = 0
    if c._dither_phase == 0:
        c._dither_phase = 1
        c._set(c._center + c._amp)
        c._settle = 1
        return
    c._dither_phase = 0
    c._cycles += 1
    _decide(c, p)
    _bound(c, p)
    c._set(c._center - c._amp)
    c._settle = 1


def _decide(c, p):
    e_lo, b_lo, e_hi, b_hi, v_lo, v_hi = c._acc
    if v_lo + v_hi >= 20:
        # Code violations count every bit (~2 x BER x 50 Mbit/s), the preamble 64 of
        # 2616: the same test on 40x the errors decides within seconds at 1e-6.
        e_lo = v_lo
        e_hi = v_hi
    # Step only on a significant difference (comparator_sweep.dither_direction).  At a
    # low BER (high power: ~0.1 error per window) the counts of several cycles add up
    # until there are enough (at most _MAX_CYCLES).
    n = e_lo + e_hi
    if not (b_lo and b_hi and (n >= _MIN_DECIDE or (n >= 20 and c._cycles >= _MAX_CYCLES))):
        if c._cycles >= _MAX_CYCLES:
            reset_acc(c)
        return
    d = c._amp
    dc = p["comp_dither_codes"]
    unit = d if d < dc else dc
    c._amp = sweep.dither_amplitude(dc, v_lo + v_hi, n // c._cycles)
    reset_acc(c)
    # A run of moves the same way lengthens the step (×2, ×3, ×4 the dither): after the
    # start from the a-priori level the optimum may lie ~100 codes away at low power
    # (Fig. A1's window is narrowest there), where counts are plentiful and every 0.6 s
    # cycle decides.
    go = sweep.dither_direction(e_lo, b_lo, e_hi, b_hi)
    if go > 0:
        c._run = c._run + 1 if c._run > 0 else 1
        c._center += unit * (c._run if c._run < 4 else 4)
        c.dither_moves += 1
    elif go < 0:
        c._run = c._run - 1 if c._run < 0 else -1
        c._center -= unit * (-c._run if c._run > -4 else 4)
        c.dither_moves += 1
    else:
        c._run = 0


def _bound(c, p):
    # The optimum hardly moves with power (Fig. A1): the tracker stays within
    # comp_track_range_codes of the calibrated level, so a run of unlucky error counts
    # cannot walk it away.
    d = c._amp
    lo = d if d > c.noise_floor else c.noise_floor
    hi = c.code_max - d
    r = p["comp_track_range_codes"]
    if c._calibrated - r > lo:
        lo = c._calibrated - r
    if c._calibrated + r < hi:
        hi = c._calibrated + r
    c._center = lo if c._center < lo else (hi if c._center > hi else c._center)
