"""The comparator's BER sweep and its start-level acquisition, as functions over the
levels and their error counts (DESIGN §3.5, paper App. A Fig. A1); flight/comparator.py
runs them.  Loaded (flight/lazy.py) at a session's start and for a sweep, released once
the level is chosen: TRACK runs without it (its dither: flight/comparator_track.py).

SWEEP's choice (:func:`choose_level`): equal best values (a high-power window whose bottom
counts no error in 100 ms) say nothing about the optimum: the one nearest the level in
use wins.  The level chosen is the centre of the widest run of fine-sweep levels with
BER ≤ target (or the lowest-BER level): the acceptable window *around the optimum*.
The whole coarse window is not used: it is strongly asymmetric (the upper edge lies
several times further from the optimum than the lower one), so its centre costs ~2× the
best BER.

A choice that ends without a level (the light gone, the framer blind for 1 s) goes
:func:`back` to the level in use before it.

Float maths and small lists: a sweep step runs every 100 ms, never in the 100 Hz tick.
"""

import math

from flight.bias_knee_fit import q_inv
from flight.framer_ctl import W_CV, W_GAPS, W_PRE
from hal.compat import const
from hal.interfaces import CHIP_RATE_HZ, COMP_WAIT_SIGNAL, PREAMBLE_BITS

_ACQ_MIN_CV = const(200)  # violations in a window before their log means anything (7 %)
# Steps the acquisition's triple may move when it brackets nothing (3: a-priori levels
# up to ~200 codes from a fog pass's first optimum end bracketed; 2 left 1.1-1.5x).
_ACQ_SHIFTS = const(3)
_BLIND_MAX = const(10)  # updates without a framer window (1 s) before a choice ends


def levels(lo, hi, n):
    """``n`` levels evenly from ``lo`` to ``hi`` (rounded codes)."""
    step = (hi - lo) / (n - 1) if n > 1 else 0
    return [int(lo + i * step + 0.5) for i in range(n)]


def window_ber(w, packets):
    """BER of a framer window with ``packets`` packets: preamble bit errors per preamble
    bit; packets lost to sync (gaps) count as fully errored (half their bits wrong)."""
    gaps = w[W_GAPS]
    if gaps:
        return (w[W_PRE] + gaps * PREAMBLE_BITS // 2) / (PREAMBLE_BITS * (packets + gaps))
    return w[W_PRE] / (PREAMBLE_BITS * packets)


def past_upper_edge(bers, target):
    """The BER has risen past the window's upper edge for good (coarse sweep).

    Three levels in a row above the minimum so far, each worse than the one before and
    all above 10 × max(target, minimum): the signal amplitude is below the level and only
    gets further below — the rest of the scale holds nothing, and scanning it would keep
    the link down for seconds at low power (Fig. A1: the window is narrowest, and the
    sweep matters most, at the start of a pass).
    """
    n = len(bers)
    if n < 4:
        return False
    lo = min(bers)
    if bers.index(lo) > n - 4:
        return False
    bound = 10 * max(target, lo)
    return bound < bers[n - 3] <= bers[n - 2] <= bers[n - 1]


def best_index(bers, codes=None, prior=None):
    """Index of the lowest BER.  Equal lowest values (a high-power window whose bottom
    counts no error in 100 ms) carry no information about the optimum: the one nearest
    ``prior`` (the level in use, near the optimum, which hardly moves) wins."""
    m = min(bers)
    best = -1
    for i in range(len(bers)):
        if bers[i] == m:
            if best < 0 or (prior is not None and
                            abs(codes[i] - prior) < abs(codes[best] - prior)):
                best = i
    return best


def widest_run(codes, bers, target):
    """(i, j): the widest run (in codes) of consecutive levels with BER <= target, or
    None."""
    best_run = None
    i = 0
    n = len(codes)
    while i < n:
        if bers[i] <= target:
            j = i
            while j + 1 < n and bers[j + 1] <= target:
                j += 1
            if best_run is None or codes[j] - codes[i] > codes[best_run[1]] - codes[best_run[0]]:
                best_run = (i, j)
            i = j + 1
        else:
            i += 1
    return best_run


def choose_level(codes, bers, target, prior, coarse_codes, coarse_bers, wide_codes):
    """The level to track after a sweep: the centre of the widest run of levels within
    ``target`` (the window of Fig. A1), else the best level.  Returns (chosen, index of
    the best level, window low, window high) — the window None, None without a run.

    A run reaching an end of the fine sweep: the window is wider than what was looked at
    closely (high power, Fig. A1) and its centre says nothing about the optimum, which
    hardly moves with power — keep the prior level (the one in use) when it lies inside.
    """
    best_run = widest_run(codes, bers, target)
    ib = best_index(bers, codes, prior)
    if best_run is None:
        return codes[ib], ib, None, None
    lo = codes[best_run[0]]
    hi = codes[best_run[1]]
    chosen = (lo + hi) // 2
    coarse = widest_run(coarse_codes, coarse_bers, target)
    wide = coarse is not None and coarse_codes[coarse[1]] - coarse_codes[coarse[0]] > wide_codes
    if wide and (best_run[0] == 0 or best_run[1] == len(codes) - 1) \
            and prior is not None and lo <= prior <= hi:
        chosen = prior
    return chosen, ib, lo, hi


def noise_levels(sigma_codes, noise_max_hz, start_noise_hz, code_max):
    """(noise floor, a-priori level) in codes from the noise RMS at the comparator
    (``sigma_codes``, measured by the breakdown sweep, flight/bias_knee.py): the floor
    where noise alone triggers ``noise_max_hz``; the a-priori level where it costs
    ``start_noise_hz`` — at the start of a pass (lowest power) the optimum sits where
    noise alone costs ~1e-4 (receiver model and Fig. A1), wherever the over-voltage and
    the amplifier put it (DESIGN §3.5)."""
    floor = int(sigma_codes * q_inv(noise_max_hz / CHIP_RATE_HZ) + 0.5)
    apriori = int(sigma_codes * q_inv(start_noise_hz / CHIP_RATE_HZ) + 0.5)
    return min(floor, code_max), min(apriori, code_max)



def vertex(level, step, r_lo, r_mid, r_hi):
    """The level of the lowest error rate from the rates ``r_*`` (any common unit, all > 0)
    at ``level - step``, ``level``, ``level + step``: the vertex of the parabola through
    their logarithms (log BER is near a parabola around the optimum, Fig. A1), at most 2
    steps away; the lowest of the three when they do not bracket a minimum."""
    y_lo = math.log(r_lo)
    y_mid = math.log(r_mid)
    y_hi = math.log(r_hi)
    c = y_lo - 2.0 * y_mid + y_hi
    if c <= 0.0:
        if r_lo < r_mid and r_lo <= r_hi:
            return level - step
        return level + step if r_hi < r_mid else level
    x = step * (y_lo - y_hi) / (2.0 * c)
    x = -2.0 * step if x < -2.0 * step else (2.0 * step if x > 2.0 * step else x)
    return int(level + x + (0.5 if x >= 0 else -0.5))


def acquire(c, w, packets):
    """The start level (WAIT_SIGNAL with packets; ``c``: flight/comparator.py's controller).

    Code violations per packet at the a-priori level, then at -/+ ``comp_acquire_codes``
    (one window each, after a settling one); TRACK starts at the :func:`vertex` of their
    logarithms.  When the three do not bracket a minimum (all on one side of the
    optimum: log BER is concave on the signal side) the triple moves one step toward the
    lower rates, one more window each time, at most ``_ACQ_SHIFTS`` times.  Why: the
    a-priori level is the optimum of one power only, and the first packets come at any
    power between ~0.1 and 0.3 µW (clear/fog, low/high pass), where the optimum moves
    ~150 codes (Fig. A1's narrowest windows).  Too few violations to measure (high power,
    where the window is wide): TRACK at once."""
    a = c._acq  # centre, rate at centre - d, at centre, at centre + d (-1: unknown), shifts
    d = c.ctx.params["comp_acquire_codes"]
    r = (w[W_CV] if w[W_CV] > 0 else 0.5) / packets
    k = c._acq_n  # the rate this window measured: 0 none yet (centre), 1 low, 3 high
    if k == 0:
        c.cal_start_s = c.ctx.now()
        c._prior = c.code
        c.window_lo = c.window_hi = None
        if w[W_CV] < _ACQ_MIN_CV or d == 0:
            c._enter_track(c.code, "a-priori level")
            return
        a[0] = c.code
        a[1] = a[3] = -1.0
        a[2] = r
        a[4] = 0
    else:
        a[k] = r
    if a[1] < 0.0 or a[3] < 0.0:
        acquire_next(c, a, d)
        return
    lo, mid, hi = a[1], a[2], a[3]
    if a[4] < _ACQ_SHIFTS and (lo < mid or hi < mid) and (
            not lo * hi > mid * mid or abs(vertex(a[0], d, lo, mid, hi) - a[0]) > d):
        # Not bracketed (log BER concave there, or its vertex beyond the triple): one
        # step toward the lower rates.  An extrapolated vertex is not trusted: log BER
        # rises far more steeply on the noise side than on the signal side, so from a
        # triple above a fog pass's optimum it overshot to the 2-step clamp (0.12 µW,
        # a-priori 525: 428 for 469, 1.18× the best BER; sim/receiver.py's curves).
        a[4] += 1
        if lo <= hi:
            a[0] -= d
            a[3] = mid
            a[2] = lo
            a[1] = -1.0
        else:
            a[0] += d
            a[1] = mid
            a[2] = hi
            a[3] = -1.0
        acquire_next(c, a, d)
        return
    c._acq_n = 0
    lv = vertex(a[0], d, lo, mid, hi)
    lv = lv if lv > c.noise_floor else c.noise_floor
    c._enter_track(lv, "level %d from %d +/- %d" % (lv, c._prior, d))


def acquire_next(c, a, d):
    """Set the level of the acquisition's missing rate (low side first)."""
    k = 1 if a[1] < 0.0 else 3
    c._acq_n = k
    c._set(a[0] + (k - 2) * d)
    c._settle = 1


def back(c):
    """The level being chosen (a sweep, the start-level acquisition; ``c``: the
    controller) ends without one: back to the level in use before it, waiting for signal
    again."""
    c.state = COMP_WAIT_SIGNAL
    c._seen = c._acq_n = c._blind = 0
    c._drop_sweep()
    c._set(c._prior)


def no_window(c):
    """An update without a framer window while the level is being chosen: the
    _BLIND_MAX-th in a row (the framer unreadable, frozen, its reads implausible) goes
    :func:`back` and returns True (the caller says it: COMP_CHOICE_BLIND) — before, a
    sweep held at its far levels, where the uplink does not decode, as long as the
    framer stayed blind."""
    c._blind += 1
    if c._blind < _BLIND_MAX:
        return False
    c.sweeps_blind += 1
    back(c)
    return True
