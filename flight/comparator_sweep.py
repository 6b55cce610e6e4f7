"""The comparator's BER sweep, as functions over the levels swept and their BERs
(DESIGN §3.5, paper App. A Fig. A1); flight/comparator.py runs the sweep.

Float maths and small lists: a sweep step runs every 100 ms, never in the 100 Hz tick.
"""

from flight.bias_knee_fit import q_inv
from flight.framer_ctl import W_GAPS, W_PRE
from hal.interfaces import CHIP_RATE_HZ, PREAMBLE_BITS


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

