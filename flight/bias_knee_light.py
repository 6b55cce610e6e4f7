"""The light sweep's choices (flight/bias_knee.py; DESIGN §3.4.1, docs/calibration.md):
loaded by flight/lazy.py when a sweep with the uplink on starts and released after it
(its code on the heap only then: the unix port's fixed heap has no room to spare at
boot)."""

from flight.bias_knee_fit import BIT_RATE_HZ, n_above

# A light point whose off-chips read high this often (BER ~2 %) is the last, once 4 are in.
_P_STOP_LIGHT = 0.04


def light_enough(p, cv, sigmas, sigma_e, window_us, codes):
    """A light sweep has its points (each window costs the link its BER, p/2): at 4 once
    one reads this noisy; at the high level (``codes``), at ``bias_knee_light_points``
    above the noise (a weak signal, at the low level, pays for more: fog knees with 3
    points were ~20 mV worse in the campaign, and a fog pass's errors dwarf them)."""
    if cv * 1000000 > _P_STOP_LIGHT * BIT_RATE_HZ * window_us and len(sigmas) >= 4:
        return True
    return codes != p["bias_knee_light_codes"] and \
        n_above(sigmas, sigma_e, p["bias_knee_min_ratio"]) >= p["bias_knee_light_points"]


def probe_strong(p, cv, locked, window_us):
    """The probe window before a light sweep (operating bias, ``bias_knee_light_probe_codes``
    far above the noise): its code violations are the signal's on-chips read low.  Few
    (and the framer locked): the signal stands far above the light levels, whose
    violations then count the off-chips alone at ``bias_knee_light_codes_hi`` too."""
    return locked and cv * 1000000 <= p["bias_knee_light_probe_max"] * BIT_RATE_HZ * window_us


def hi_level(p, codes, sigma, level_v):
    """The high light level (``codes``, where the noise below breakdown read RMS ``sigma``
    at ``level_v`` volts) moved to read ``bias_knee_light_hi_z`` σ of it: a comparator
    offset moves the level the signal sees (+2.7 mV: knees 20 mV low in the simulator,
    the on-chips' misses counted with the off-chips).  None: within 2 codes already."""
    c = int(codes * p["bias_knee_light_hi_z"] * sigma / level_v + 0.5)
    c = max(p["bias_knee_light_codes"], min(c, 4095))
    return None if abs(c - codes) < 2 else c


def probed(k, cv, locked):
    """After the probe window (flight/bias_knee.py ``BiasKnee`` ``k``; ``cv``: its code
    violations, ``locked``: the framer locked with packets): strong, the sweep at
    ``bias_knee_light_codes_hi`` (moved by :func:`normalise` once a session, tracking
    knees reuse it), else at ``bias_knee_light_codes``; then the points."""
    p = k.ctx.params
    if probe_strong(p, cv, locked, k.period_us):
        k._norm = not k._hi
        k._codes = k._hi or p["bias_knee_light_codes_hi"]
    k._points()


def normalise(k, level):
    """Once, the high level moved (:func:`hi_level`) after the noise below breakdown read
    at ``level`` volts: True when moved (σ_e read again there, after a mixed window)."""
    c = hi_level(k.ctx.params, k._codes, k._se(), level)
    k._hi = c or k._codes
    k._norm = False
    if c is None:
        return False
    k._codes = c
    k._below = []
    k._settle = 1
    return not k._dac(c) or True
