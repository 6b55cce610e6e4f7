"""The ground station's downlink power meter (the simulator's side of the transmitter
boresight scan: sim/run/bore_ground.py logs a scan with it, ground_tools/borefit.py fits
the log).

Mean power: the link budget of the pass geometry (sim/linkbudget: diffraction Eq. 1,
atmosphere Eq. 3, optics) with no pointing loss of its own, times the Gaussian beam's
fraction for the true aim error ``a``, ``exp(-2 |a|^2 / theta^2)`` (paper Eq. 2, theta =
67.6 µrad).  The aim error is the world's 1 kHz truth (the recorder's ``fine`` series,
sim/run/recorder.py): the loop's jitter is in it.

Scintillation: the intensity is multiplied by a log-normal factor ``I`` of unit mean (the
link budget is the mean power): ``ln I`` Gaussian with variance ``ln(1 + sigma_I^2)``
and mean ``-variance / 2``, correlated in time as an AR(1) (a sampled Ornstein-Uhlenbeck
process, exact for any spacing: coefficient ``exp(-dt / corr_s)``) advanced at each aim
sample (1 ms).  The meter averages the power over ``sample_s`` and adds a relative read
noise.  Deterministic in the seed (numpy Generator); successive :meth:`PowerMeter.samples`
calls continue one process.

MicroPython-safety not required: numpy, host only.
"""

import math

import numpy as np

from sim import linkbudget

SCINT_INDEX = 0.1  # assumed: aperture averaging leaves sigma_I^2 = 0.01-0.1 for LEO
# downlinks into sub-metre telescopes (60 cm here, paper §2.3); the upper end, conservative
CORR_S = 5e-3  # assumed: the downlink speckle moves across the aperture with the
# satellite's apparent slew, a few ms for a 60 cm aperture
READ_NOISE = 1e-3  # assumed: relative read noise of a power meter well above its floor
SAMPLE_S = 0.01  # assumed: 100 Hz meter samples (200 per 2 s dwell, sim/run/bore_ground.py)
_BIN_EPS = 1e-6  # assumed: of a sample period; keeps a 1 ms grid time accumulated in
# floating point (20.009999...) in its own averaging bin


def link_w(world, t_world_s):
    """Mean downlink power [W] at the OGS detector at world time ``t`` with a perfect aim
    (sim/linkbudget; 0 below the horizon)."""
    return linkbudget.downlink_received_power_w(world.pass_, world.pass_time(t_world_s),
                                                world.kappa_db, residual_rms_rad=0.0)


def aim_fraction(ax_rad, ay_rad):
    """Power fraction kept by an aim error (paper Eq. 2 for a Gaussian beam)."""
    th = linkbudget.DOWNLINK.divergence_rad
    ax = np.asarray(ax_rad, dtype=float)
    ay = np.asarray(ay_rad, dtype=float)
    return np.exp(-2.0 * (ax * ax + ay * ay) / (th * th))


class PowerMeter:
    """The station's power meter for one world (``pass_``, ``kappa_db``, ``pass_start``,
    ``duration_s``): :meth:`samples` turns a flown pass's 1 kHz aim error into meter
    samples."""

    def __init__(self, world, seed, scint_index=SCINT_INDEX, corr_s=CORR_S,
                 sample_s=SAMPLE_S, rel_noise=READ_NOISE):
        if not (math.isfinite(scint_index) and scint_index >= 0.0):
            raise ValueError("scint_index must be >= 0, not %r" % (scint_index,))
        for name, v in (("corr_s", corr_s), ("sample_s", sample_s)):
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError("%s must be > 0, not %r" % (name, v))
        if not (math.isfinite(rel_noise) and rel_noise >= 0.0):
            raise ValueError("rel_noise must be >= 0, not %r" % (rel_noise,))
        self.world = world
        self.scint_index = scint_index
        self.corr_s = corr_s
        self.sample_s = sample_s
        self.rel_noise = rel_noise
        self._rng = np.random.default_rng(seed)
        self._var = math.log1p(scint_index)  # variance of ln I
        self._x = None  # ln I minus its mean at the last time drawn (None: none yet)
        self._t = None  # that time

    def scintillation(self, ts):
        """The unit-mean log-normal intensity factor at the increasing times ``ts`` [s]
        (continuing the process of the previous call)."""
        ts = np.asarray(ts, dtype=float)
        e = self._rng.standard_normal(len(ts))
        sd = math.sqrt(self._var)
        x, tl = self._x, self._t
        out = np.empty(len(ts))
        for i, t in enumerate(ts.tolist()):
            if x is None:  # the first draw: from the stationary distribution
                x = sd * e[i]
            else:
                rho = math.exp(-(t - tl) / self.corr_s)
                x = rho * x + sd * math.sqrt(max(0.0, 1.0 - rho * rho)) * e[i]
            out[i] = x
            tl = t
        self._x, self._t = x, tl
        return np.exp(out - self._var / 2.0)

    def samples(self, ts_world, axs, ays):
        """Meter samples of a pass: ``ts_world`` [s, increasing] and the aim error
        ``axs``/``ays`` [rad] at the world's 1 kHz grid (``res.rec.fine``).  Returns
        ``(t_sample_world_s, power_w)`` numpy arrays: one sample per ``sample_s`` from the
        first time, its time the mean of the aim times it averages (the link budget is
        taken there: the geometry changes by < 1e-4 in a sample), with the read noise."""
        t = np.asarray(ts_world, dtype=float)
        ax = np.asarray(axs, dtype=float)
        ay = np.asarray(ays, dtype=float)
        if t.ndim != 1 or ax.shape != t.shape or ay.shape != t.shape:
            raise ValueError("ts_world, axs, ays must be 1-D of one length (%s, %s, %s)"
                             % (t.shape, ax.shape, ay.shape))
        if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0.0):
            raise ValueError("ts_world must be finite and increasing")
        if len(t) == 0:
            return np.empty(0), np.empty(0)
        frac = aim_fraction(ax, ay) * self.scintillation(t)
        k = np.floor((t - t[0]) / self.sample_s + _BIN_EPS).astype(np.int64)
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        counts = np.diff(np.r_[starts, len(t)])
        tm = np.add.reduceat(t, starts) / counts
        mean_frac = np.add.reduceat(frac, starts) / counts
        base = np.array([link_w(self.world, x) for x in tm.tolist()])
        p = base * mean_frac * (1.0 + self.rel_noise * self._rng.standard_normal(len(tm)))
        return tm, p


def write_csv(path, t_onboard_s, power_w):
    """Write a power log (header ``t_s,power_w``, onboard seconds, watts): the file
    ``vector-tc bore-fit --power`` reads (ground_tools/borefit.py load_power)."""
    t = np.asarray(t_onboard_s, dtype=float)
    p = np.asarray(power_w, dtype=float)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError("t_onboard_s and power_w must be 1-D of one length")
    with open(path, "w") as f:
        f.write("# OGS downlink power meter (sim/ogs_power.py): onboard s, W\n")
        f.write("t_s,power_w\n")
        # 1 µs and 10 significant digits: below the meter's 1e-3 read noise and the
        # 10 ms sample spacing, so the file is as good as the arrays
        for a, b in zip(t.tolist(), p.tolist(), strict=True):
            f.write("%.6f,%.10g\n" % (a, b))
