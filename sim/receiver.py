"""Uplink receiver bit-error model: BER(comparator level, received power, over-voltage).

Reproduces the shapes of the paper's Fig. A1 (BER vs comparator level at several powers)
and Fig. 7 (BER vs power at the best level).  See docs/physics-link.md for the derivation
and plots.  MicroPython-safe (``math`` only).

Signal chain (paper §2.2, App. A): SiPM -> amplifier -> comparator with an adjustable
level -> LVDS -> FPGA, which samples every Manchester chip (50 Mbit/s -> 100 Mchip/s,
10 ns chips).  Each bit has one "on" chip (light) and one "off" chip (dark).

Per chip the comparator input is modelled as Gaussian (the SiPM delivers hundreds of
photo-electrons per on-chip, so the Gaussian limit is adequate at the 1e-3..1e-7 level):

  gain       g  = (V_ov / V_OV_NOMINAL) / (1 + P / P_DROOP_W)
             SiPM gain is proportional to the over-voltage.  The bias drops with the
             average photocurrent (App. A: "the more intense an avalanche, the greater the
             bias voltage drops ... recovery 100 ns >> pulse period"): the drop is
             proportional to P times the gain, which solves to the 1/(1 + P/P_DROOP) factor.
  on-chip    mean    mu1 = g * SAT_AMPLITUDE_V * f,   f = 1 - exp(-P / P_SAT_W)
             f is the fraction of the CELLS microcells under the focused spot that fire
             (Poisson occupancy: the SiPM saturates, which keeps the optimum level fixed).
             spread  sigma1^2 = sigma0^2 + (g*SAT_AMPLITUDE_V)^2 f (1-f) / CELLS
                                 + (AMPLITUDE_JITTER * mu1)^2
             (noise as below + binomial cell-occupancy noise + relative amplitude jitter
             from sampling-phase jitter and pattern-dependent bias recovery)
  off-chip   mean 0 (AC-coupled baseline), spread
             sigma0^2 = ELECTRONIC_NOISE_V^2 + (SIPM_NOISE_V * g^NOISE_GAIN_EXPONENT)^2
             SiPM-generated noise (dark pulses with crosstalk cascades, afterpulses) scales
             with the gain, and its rate rises with over-voltage too -> exponent 2.
  chip errors  p_false = Q(L / sigma0)           off-chip reads 1 (noise trigger)
               p_miss  = Q((mu1 - L) / sigma1)   on-chip reads 0 (signal below level)
  bit error    BER = (p_false + p_miss) / 2
             one wrong chip gives a code violation (00 or 11) that the decoder resolves
             from the first chip -> wrong half of the time; two wrong chips invert the bit
             (probability p_false*p_miss, counted once in the sum: exact to first order and
             BER -> 1/2 when there is no signal).

Consequences (tested in tests/test_receiver.py): the lower window edge is set by noise
(sigma0), the upper by the signal (mu1, sigma1).  With more power the signal grows and
the bias drop shrinks the gain-scaled noise: the window widens on both sides (Fig. A1)
while the optimum stays put.  An over-voltage error changes g and moves both edges.

Comparator level: normalised 0..1 = DAC code 0..4095 (12-bit DAC) = 0..1.0 V threshold
at the comparator input (assumed full scale; the model's amplitudes are in those volts).

Constants marked "fitted" were chosen by a parameter search (docs/physics-link.md) so that
at V_OV_NOMINAL: BER at the best level is 4.6e-4 at 150 nW (paper Fig. 7 / §5: "about
1e-3") falling monotonically to 8.5e-7 at 1.7 uW; the best level stays within 0.124-0.153
of full scale; the BER <= 1e-3 window grows from 0.103-0.160 to 0.073-0.875; +-0.3 V of
over-voltage moves every edge by more than 0.011.  Beyond ~2 uW (clear sky at zenith) the
bias drop wins and the upper edge slowly turns down again.
"""

import math

from sim.sipm import V_OV_NOMINAL_V

BIT_RATE = 50e6  # paper §2.5
CHIP_RATE = 2.0 * BIT_RATE  # Manchester: two chips per bit (paper §2.5)
# The simulator's one nominal over-voltage (sim/sipm.py V_OV_NOMINAL_V, the flight bias
# loop's 3.0 V default target; the paper gives no value).
V_OV_NOMINAL = V_OV_NOMINAL_V

DAC_MAX = 4095  # assumed 12-bit comparator-level DAC (DESIGN §3.5 says "level" only)
LEVEL_FULL_SCALE_V = 1.0  # assumed: DAC full scale = 1.0 V at the comparator

P_SAT_W = 0.77e-6  # fitted: received power firing 63 % of the spot's cells per on-chip
P_DROOP_W = 7.7e-6  # fitted: power at which the bias drop halves the over-voltage
SAT_AMPLITUDE_V = 2.85  # fitted: on-chip amplitude with all spot cells fired, nominal gain
CELLS = 450  # fitted: microcells under the focused spot (binomial occupancy noise)
SIPM_NOISE_V = 0.035  # fitted: RMS of gain-scaled SiPM noise per chip sample, nominal V_ov
ELECTRONIC_NOISE_V = 0.0095  # fitted/assumed: amplifier + comparator input noise RMS
AMPLITUDE_JITTER = 0.20  # fitted: relative RMS amplitude jitter of on-chip pulses
# assumed: noise RMS ~ gain^k.  k = 1 for the pulse amplitude alone; dark-pulse rate and
# crosstalk also grow with over-voltage (k ~ 1.5 ... 2.5); 2 is the middle.
NOISE_GAIN_EXPONENT = 2.0

_SQRT2 = math.sqrt(2.0)


# ---------------------------------------------------------------- special functions ---

def _erfc_fallback(x):
    # For MicroPython builds without math.erfc: power series of erf for |x| < 2.5,
    # continued fraction of erfc beyond (relative accuracy ~1e-12 over the range used).
    if x < 0.0:
        return 2.0 - _erfc_fallback(-x)
    if x < 2.5:
        term = x
        total = x
        n = 0
        while abs(term) > 1e-17 * abs(total):
            n += 1
            term *= -x * x / n
            total += term / (2 * n + 1)
        return 1.0 - 2.0 / math.sqrt(math.pi) * total
    # erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
    f = x
    for k in range(60, 0, -1):
        f = x + (k / 2.0) / f
    return math.exp(-x * x) / math.sqrt(math.pi) / f


try:
    _erfc = math.erfc
except AttributeError:  # pragma: no cover - MicroPython without special functions
    _erfc = _erfc_fallback


def q_function(z):
    """Gaussian tail probability Q(z) = P(N(0,1) > z)."""
    return 0.5 * _erfc(z / _SQRT2)


# ------------------------------------------------------------------ level <-> DAC ---

def level_to_dac(level):
    """Normalised level (clamped to 0..1) -> DAC code 0..4095."""
    if level <= 0.0:
        return 0
    if level >= 1.0:
        return DAC_MAX
    return int(level * DAC_MAX + 0.5)


def dac_to_level(code):
    return code / DAC_MAX


def level_to_volts(level):
    return level * LEVEL_FULL_SCALE_V


# ------------------------------------------------------------------------ model ---

def gain_factor(power_w, vov=V_OV_NOMINAL):
    """SiPM gain relative to nominal, including the power-dependent bias drop."""
    if vov <= 0.0:
        return 0.0  # below breakdown: no avalanches
    return (vov / V_OV_NOMINAL) / (1.0 + max(power_w, 0.0) / P_DROOP_W)


def chip_statistics(power_w, vov=V_OV_NOMINAL):
    """(mu1, sigma0, sigma1): on-chip mean, off-chip RMS, on-chip RMS, in level units."""
    g = gain_factor(power_w, vov)
    f = 1.0 - math.exp(-max(power_w, 0.0) / P_SAT_W)
    full = g * SAT_AMPLITUDE_V / LEVEL_FULL_SCALE_V
    mu1 = full * f
    sn = SIPM_NOISE_V / LEVEL_FULL_SCALE_V * g ** NOISE_GAIN_EXPONENT
    se = ELECTRONIC_NOISE_V / LEVEL_FULL_SCALE_V
    var0 = se * se + sn * sn
    jit = AMPLITUDE_JITTER * mu1
    var1 = var0 + full * full * f * (1.0 - f) / CELLS + jit * jit
    return mu1, math.sqrt(var0), math.sqrt(var1)


def p_false(level, power_w, vov=V_OV_NOMINAL):
    """Probability that an off-chip sample reads 1 (noise above the level)."""
    _, s0, _ = chip_statistics(power_w, vov)
    return q_function(level / s0)


def p_miss(level, power_w, vov=V_OV_NOMINAL):
    """Probability that an on-chip sample reads 0 (signal below the level)."""
    mu1, _, s1 = chip_statistics(power_w, vov)
    return q_function((mu1 - level) / s1)


def ber(level, power_w, vov=V_OV_NOMINAL):
    """Bit error rate at normalised comparator ``level``, uplink power [W] on the SiPM,
    over-voltage ``vov`` [V]."""
    mu1, s0, s1 = chip_statistics(power_w, vov)
    return 0.5 * (q_function(level / s0) + q_function((mu1 - level) / s1))


def ber_at_dac(code, power_w, vov=V_OV_NOMINAL):
    return ber(dac_to_level(code), power_w, vov)


def noise_trigger_rate(level, vov=V_OV_NOMINAL):
    """Noise triggers per second with no signal: chip samples (100 MHz) reading 1.

    This is what the calibration sweep measures before the uplink is on.  The window's
    lower edge (where p_miss ~ 0) at low power sits where this rate equals
    2 * ber_max * CHIP_RATE (2e5 /s for 1e-3); at higher power it moves below that
    because the bias drop lowers the noise (see module doc).
    """
    return CHIP_RATE * p_false(level, 0.0, vov)


# ------------------------------------------------------------ optimum and window ---

_SCAN_POINTS = 101


def _log_ber(level, power_w, vov):
    b = ber(level, power_w, vov)
    return math.log(b) if b > 0.0 else -745.0  # underflow: treat as e^-745


def best_level(power_w, vov=V_OV_NOMINAL):
    """Normalised level of minimum BER (coarse scan of 0..1, then golden-section)."""
    n = _SCAN_POINTS - 1
    vals = [_log_ber(i / n, power_w, vov) for i in range(n + 1)]
    i_min = 0
    for i in range(1, n + 1):
        if vals[i] < vals[i_min]:
            i_min = i
    a = max(i_min - 1, 0) / n
    b = min(i_min + 1, n) / n
    invphi = (math.sqrt(5.0) - 1.0) / 2.0
    c = b - invphi * (b - a)
    d = a + invphi * (b - a)
    fc = _log_ber(c, power_w, vov)
    fd = _log_ber(d, power_w, vov)
    for _ in range(40):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - invphi * (b - a)
            fc = _log_ber(c, power_w, vov)
        else:
            a, c, fc = c, d, fd
            d = a + invphi * (b - a)
            fd = _log_ber(d, power_w, vov)
    return 0.5 * (a + b)


def _crossing(lo, hi, power_w, vov, target, rising):
    # bisection for ber == target on [lo, hi]; ``rising``: BER increases with level there
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        above = ber(mid, power_w, vov) > target
        if above == rising:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def window(power_w, vov=V_OV_NOMINAL, ber_max=1e-3):
    """(lower, upper) normalised levels between which BER <= ber_max, or None.

    Edges are clipped to 0 and 1 when the window reaches the end of the DAC range.
    """
    best = best_level(power_w, vov)
    if ber(best, power_w, vov) > ber_max:
        return None
    lo = 0.0 if ber(0.0, power_w, vov) <= ber_max else _crossing(
        0.0, best, power_w, vov, ber_max, False)
    hi = 1.0 if ber(1.0, power_w, vov) <= ber_max else _crossing(
        best, 1.0, power_w, vov, ber_max, True)
    return lo, hi
