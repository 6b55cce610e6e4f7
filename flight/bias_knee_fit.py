"""The breakdown estimator's maths (flight/bias_knee.py runs the sweep, DESIGN §3.4.1):
the Gaussian tail and its inverse, the noise RMS from a count of samples above a level,
and the line through the knee.

Physics used (the receiver chain of DESIGN §3.5): the framer counts, every 100 ms, the
chip samples (``CHIP_RATE_HZ``) in which the comparator output is high (``CTR_TRIGGERS``).
Without light that is noise: with Gaussian noise of RMS σ at the comparator and a level
L, ``rate = CHIP_RATE · Q(L/σ)``, so each window gives σ = L / Q⁻¹(rate / CHIP_RATE).
σ² = σ_e² + σ_s²: the electronics' own noise σ_e (measured with the bias below any
plausible breakdown) and the SiPM's gain-scaled noise σ_s (dark pulses, crosstalk,
afterpulses), which vanishes at breakdown (no Geiger gain) and grows as a power of the
over-voltage, σ_s ∝ (V − V_br)^k.  ``k`` (``bias_knee_exponent``) is a property of the
receiver chain, characterised once on the engineering model (2: pulse amplitude and
pulse rate both ∝ gain); V_br is per unit.  Then ``σ_s^(1/k)`` is a straight line in V
crossing zero at V_br: a least-squares line through the sweep's points gives the knee.

Each point is referred to 25 °C with the die-temperature estimate of the bias loop at
its window (``V − k_T·(T − 25)``; 1–1.5 s later again with the die's temperature in
hindsight, flight/bias_kt.py ``refine``), so the power-on heating during the sweep does
not bend the line; the sensor's offset and the die gradient, constant over a session, are
absorbed into V_br25 — what the bias loop needs, since it works from the same sensors.

Float maths and short lists: they run every 100 ms during a sweep, never in a fast tick.
"""

import math

from flight.params import ParamDef
from hal.interfaces import CHIP_RATE_HZ

_P_MAX = 0.05  # above 5 % of the samples high, rising edges no longer count samples
# Code violations at the light level: a bit's off-chip read high by noise (one wrong chip);
# above ~6 % the framer no longer matches preambles (3 errors of 64 tolerated) anyway.
_P_MAX_CV = 0.12
BIT_RATE_HZ = CHIP_RATE_HZ // 2  # Manchester: two chips per bit
_Z_MAX = 12.0  # q_inv's range: Q(12) ~ 1.8e-33, far below one count a session
_SQRT_2PI = 2.5066282746310002  # phi(z) = exp(-z^2/2) / sqrt(2 pi)


def q_tail(z):
    """Gaussian tail Q(z) = erfc(z/√2)/2 (Chebyshev-fitted erfc, fractional error
    < 1.2e-7: the counts' own noise is ~1e-2)."""
    x = abs(z) * 0.7071067811865476
    t = 1.0 / (1.0 + 0.5 * x)
    r = t * math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (
        0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (
            1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
    return 0.5 * r if z >= 0 else 1.0 - 0.5 * r


_Q_12 = q_tail(_Z_MAX)


def q_inv(p):
    """z with Q(z) = p, for 0 < p < 0.5 (0 at p >= 0.5, 12 where Q(z) < p for every
    z < 12).  Abramowitz & Stegun 26.2.23's rational start (|error| < 4.5e-4), then three
    Newton steps on Q(z) - p (dQ/dz = -phi(z)): the error squares at each, to the root of
    :func:`q_tail` itself within ~1e-12.  Why not bisection: 40 steps of ``q_tail`` were
    ~475 k instructions a sweep point on the Cortex-M7 (the knee task's 500 k budget);
    three are ~50 k (``python -m tools.knee_runs``)."""
    if p >= 0.5:
        return 0.0
    if p <= _Q_12:
        return _Z_MAX
    t = math.sqrt(-2.0 * math.log(p))
    z = t - (2.515517 + t * (0.802853 + t * 0.010328)) / (
        1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)))
    for _ in range(3):
        z += (q_tail(z) - p) * _SQRT_2PI * math.exp(0.5 * z * z)
    return 0.0 if z < 0.0 else (_Z_MAX if z > _Z_MAX else z)


def sigma_from_rate(rate_hz, level_v):
    """Noise RMS at the comparator from its trigger rate at ``level_v``, or None when the
    rate is outside what the relation covers (no trigger, or saturated)."""
    p = rate_hz / CHIP_RATE_HZ
    if p <= 0.0 or p >= _P_MAX:
        return None
    return level_v / q_inv(p)


def fit_knee(volts, sigmas, sigma_e, k, min_ratio, level_v=None):
    """(V_br, slope, residual RMS [V], points used) of the line through
    ``(σ_s²)^(1/2k)`` against ``volts`` (referred to 25 °C), or None (< 3 points).

    Weighted least squares (issue 14: the dark knee's bias): each point by the inverse
    variance of its ``u = (σ² − σ_e²)^(1/2k)``.  A σ read from a count N of samples above
    ``level_v`` (triggers, or code violations with the uplink on: N ∝ Q(z), z = L/σ) is
    known to ~1/((z²+1)·√N) relative, and u magnifies it by du/dσ = σ·u/(k·(σ² − σ_e²)):
    near breakdown σ_s² is a small difference of two large variances.  Hence the weight
    u^(4k−2)·(z²+1)²·Q(z)/σ⁴ (without ``level_v``: the count factor left out).  Equal
    weights let the first points above breakdown (~100 triggers a window in the dark)
    move the knee 10–60 mV (simulated sweeps: 10.6 → 5.5 mV RMS, worst 58 → 20)."""
    xs = []
    us = []
    ws = []
    e2 = sigma_e * sigma_e
    inv = 0.5 / k
    for i in range(len(volts)):
        s = sigmas[i]
        y = s * s - e2
        if y > min_ratio * e2:
            u = math.pow(y, inv)
            w = math.pow(u, 4.0 * k - 2.0) / (s * s * s * s)
            if level_v is not None:
                z = level_v / s
                w *= (z * z + 1.0) * (z * z + 1.0) * q_tail(z)
            xs.append(volts[i])
            us.append(u)
            ws.append(w)
    n = len(xs)
    if n < 3:
        return None
    sw = 0.0
    mx = 0.0
    mu = 0.0
    for i in range(n):
        sw += ws[i]
        mx += ws[i] * xs[i]
        mu += ws[i] * us[i]
    if not sw > 0.0:
        return None
    mx /= sw
    mu /= sw
    sxx = 0.0
    sxu = 0.0
    for i in range(n):
        sxx += ws[i] * (xs[i] - mx) * (xs[i] - mx)
        sxu += ws[i] * (xs[i] - mx) * (us[i] - mu)
    if sxx <= 0.0 or sxu <= 0.0:
        return None
    s = sxu / sxx
    vbr = mx - mu / s
    r = 0.0
    for i in range(n):
        d = (us[i] - mu - s * (xs[i] - mx)) / s  # in volts along the axis
        r += ws[i] * d * d
    return vbr, s, math.sqrt(r / sw), n


def n_above(sigmas, sigma_e, min_ratio):
    """How many of ``sigmas`` :func:`fit_knee` would use (SiPM noise variance above
    ``min_ratio`` x the electronics')."""
    e2 = sigma_e * sigma_e
    n = 0
    for s in sigmas:
        if s * s - e2 > min_ratio * e2:
            n += 1
    return n


def sigma_from_violations(cv, window_s, level_v):
    """Noise RMS at the comparator from the code violations of a window *with the uplink
    on*, or None outside the relation.

    With light, every bit has one on-chip (signal) and one off-chip (dark); a code
    violation is one wrong chip.  At a level well below the signal (≤ ~2.5 σ of the
    noise) the on-chips are all read high and the violations count the off-chips read
    high by noise alone: ``p = CV / bits = Q(L/σ)`` — the same relation as the trigger
    rate in darkness, on the off-chips."""
    p = cv / (BIT_RATE_HZ * window_s)
    if p <= 0.0 or p >= _P_MAX_CV:
        return None
    return level_v / q_inv(p)


def u16(x, per_unit):
    """A value as a u16 HK field's raw integer (rounded, clipped; 0 when None)."""
    return 0 if x is None else max(0, min(int(x * per_unit + 0.5), 65535))


P = ParamDef
LIGHT_PARAMS = (  # the breakdown module's (flight/bias_knee.py PARAMS adds them)
    P("bias_knee_light", "int", 1, 0, 1, "",
      "1: with the uplink already on, sweep on the code violations at "
      "bias_knee_light_codes; 0: light aborts the sweep"),
    P("bias_knee_light_codes", "int", 90, 1, 4095, "codes",
      "comparator level of a sweep with light (~2.3 sigma of the electronics' noise: low "
      "enough that the signal's on-chips all read high, high enough that the framer "
      "still locks on the points above breakdown)"),
    P("bias_knee_light_points", "int", 3, 3, 20, "",
      "light sweep at codes_hi: points above the noise (each window costs its BER)"),
    P("bias_knee_light_codes_hi", "int", 110, 1, 4095, "codes",
      "light level when the probe finds the signal strong (~3x fewer errors)"),
    P("bias_knee_light_hi_z", "float", 2.83, 1.5, 5.0, "",
      "that level moved to read this many sigma of the noise below breakdown"),
    P("bias_knee_light_probe_codes", "int", 1024, 1, 4095, "codes",
      "probe level (operating bias): violations = on-chips read low"),
    P("bias_knee_light_probe_max", "float", 0.005, 0.0, 0.5, "",
      "probe violations per bit for codes_hi (0: no probe; docs/calibration.md)"),
)
