"""TRACK, the comparator level's steady state (DESIGN §3.5; flight/comparator.py runs it
every 100 ms window; the sweep's maths, not loaded in TRACK, in
flight/comparator_sweep.py): the dither that follows the optimum as the received power
changes over a pass, and the re-calibration when the BER stays degraded.

Dither: phase 0 reads the error counts at centre − d, phase 1 at centre + d
(``comp_dither_windows`` windows a side, a settling window after each level change); the
centre steps toward the side with significantly fewer errors (code violations when there
are enough, else preamble errors summed over up to ``_MAX_CYCLES`` cycles; an undecided
test keeps adding cycles up to ``_MAX_ACC`` errors), within ``comp_track_range_codes`` of
where TRACK started.

Allocation-free per window (the target's heap, ``make target-bench``
task_alloc_bytes_mean.comparator): integers only — the BER and light tests compare
counts against integer thresholds the parameters' listener keeps
(:func:`thresholds`), and the dither decision is integer
(:func:`dither_direction`).  Floats and strings only when the level is chosen
again (a calibration).
"""

from flight.framer_ctl import W_CV, W_PRE, W_TRIG
from hal.compat import const
from hal.interfaces import PREAMBLE_BITS

_MIN_PACKETS = const(50)  # packets in a window before its BER means anything
# Errors (violations, else preamble errors) a dither decision sums, cycles adding up (at
# least 20 after _MAX_CYCLES): on ~30 a cycle (high power) the ratio-1.5 rule walked the
# level on Poisson noise (±50 codes: BER ratio 1.2 at 2 µW).
_MIN_DECIDE = const(100)
_MAX_CYCLES = const(10)  # dither cycles whose error counts may add up to one decision
# An undecided difference keeps adding up, to this many errors or _MAX_HOLD cycles (~24 s
# of 0.6 s cycles), before the counts start again: at high power (BER ~1e-6, ~30 errors
# a cycle) the sides ±2d around a centre 90 codes off the optimum differ by ~40 %, which
# 100 errors cannot tell from noise (3σ is 30 %) and ~400 can.  Restarting at every 100
# held such a centre for a minute while the optimum slid away under it (BER 1.23× best).
_MAX_ACC = const(1600)
_MAX_HOLD = const(40)
_RECAL_SHIFT = const(12)  # BER threshold in 1/(PREAMBLE_BITS * 4096) per packet
_FINE_CV = const(8000)  # violations in a dither decision for the half-amplitude dither
_SCARCE = const(100)  # errors per dither cycle below which the dither doubles


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
    # Step only on a significant difference (:func:`dither_direction`).  At a
    # low BER (high power: ~0.1 error per window) the counts of several cycles add up
    # until there are enough (at most _MAX_CYCLES).
    n = e_lo + e_hi
    if not (b_lo and b_hi and (n >= _MIN_DECIDE or (n >= 20 and c._cycles >= _MAX_CYCLES))):
        if c._cycles >= _MAX_CYCLES:
            reset_acc(c)
        return
    go = dither_direction(e_lo, b_lo, e_hi, b_hi)
    if go == 0 and n < _MAX_ACC and c._cycles < _MAX_HOLD:
        return  # no side ahead yet: the next cycles add to these counts (see _MAX_ACC)
    d = c._amp
    dc = p["comp_dither_codes"]
    unit = d if d < dc else dc
    c._amp = dither_amplitude(dc, v_lo + v_hi, n // c._cycles)
    reset_acc(c)
    # A run of moves the same way lengthens the step (×2, ×3, ×4 the dither): after the
    # start from the a-priori level the optimum may lie ~100 codes away at low power
    # (Fig. A1's window is narrowest there), where counts are plentiful and every 0.6 s
    # cycle decides.
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


def dither_direction(e_lo, b_lo, e_hi, b_hi):
    """+1 (up), -1 (down) or 0: the side of the dither with significantly fewer errors
    per bit (``e_*`` errors in ``b_*`` bits at centre - d and centre + d).

    Error counts are Poisson, so the side with fewer errors (per bit) must be ahead by 3
    standard deviations of the difference — or by a ratio of 1.5: with few errors the
    counts can be lopsided yet below 3 sigma, and one dither step is cheap.

    Small integers only (every 0.6-6 s in TRACK; no heap on the target): the counts are
    halved together above 2^16 (the ratio kept, the significance understated — at such
    counts 3 sigma is ~1 %), the bits reduced to 12-bit fractions q of the larger, each
    side's errors times the other's q; the variance bounded by 4096 × their sum (q ≤
    4096: conservative by the bits' ratio, ~1)."""
    while e_lo > 0x10000 or e_hi > 0x10000:
        e_lo >>= 1
        e_hi >>= 1
    m = b_lo if b_lo > b_hi else b_hi
    if m <= 0:
        return 0
    while m > 0x40000:  # b * 4096 stays a small integer
        m >>= 1
        b_lo >>= 1
        b_hi >>= 1
    x_lo = e_lo * ((b_hi * 4096) // m)  # errors scaled to the same number of bits
    x_hi = e_hi * ((b_lo * 4096) // m)
    s3 = 192 * isqrt(x_lo + x_hi)  # 3 sigma: 3 * sqrt(4096 * (x_lo + x_hi))
    if x_lo - x_hi > s3 or 2 * x_lo > 3 * x_hi:
        return 1
    if x_hi - x_lo > s3 or 2 * x_hi > 3 * x_lo:
        return -1
    return 0


def isqrt(n):
    """floor(sqrt(n)) of a small non-negative integer (Newton; no float; also
    flight/apt_jitter.py's)."""
    if n < 2:
        return n
    # Newton from above: a start at the power of two just over the root (2**k, 4**k > n)
    # takes a few steps where a start at n took ~log2(n) halvings (HK_DIAG's jitter RMS,
    # flight/apt_jitter.py: 200 k instructions with the start at n on the target).
    x = 1
    m = n
    while m:
        m >>= 2
        x <<= 1
    y = (x + n // x) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


def dither_amplitude(d, violations, per_cycle):
    """The dither amplitude for the next cycles (``d``: ``comp_dither_codes``) from the
    decision just made: ``violations`` it summed, ``per_cycle`` errors per cycle.

    Plenty of violations (low power, BER ~1e-3): half the dither resolves the side (3σ of
    1e4 counts: ~13 codes from the optimum) and costs a quarter of its excursions' extra
    errors, which near BER 1e-3 are what keeps the link above it.  Scarce errors (high
    power, ~1e-6: the BER floor is wide and flat): twice the dither, so the two sides
    differ enough to be told apart within a few cycles while the optimum moves ~100 codes
    down between 0.5 and 2 µW — with ±d a side ~100 codes off reads only ~20 % worse, not
    significant on ~25 errors a side.  The step unit stays ≤ d (flight/comparator.py)."""
    if violations >= _FINE_CV:
        return (d + 1) // 2
    if per_cycle < _SCARCE:
        return 2 * d
    return d
