"""Platform coarse pointing: initial error, drift, band-limited jitter and the ADCS loop.

MicroPython-clean (``math`` only).  Angles in radians, time in seconds.

Sign convention: ``error()`` is the direction of the ground station (its beacon) relative to
the payload boresight, per axis (x, y), in object-space radians.  It is the angle the fast
steering mirror must deflect the line of sight by to cancel it; the camera sees
``error - fsm_angle`` (DESIGN §3.3: the error is measured behind the FSM).

Model (docs/physics-platform.md §1):

    error(t) = e0 + v_drift * t - s * c_act(t) + j(t)

* ``e0``: coarse error at session start, up to 1.5 deg in any direction.
* ``v_drift``: constant drift vector, 100 urad/s magnitude in the reference scenario.
* ``j(t)``: jitter, white noise shaped by a 1st-order high-pass (0.1 Hz) and a 4th-order
  Butterworth low-pass (10 Hz), scaled to 20 urad RMS per axis, generated on a fixed
  10 ms grid and linearly interpolated so its statistics do not depend on the caller's dt.
* ``c_act``: the attitude correction the ADCS has executed.  It follows the ADCS target
  ``c_cmd`` as a first-order lag (time constant ``ADCS_TAU_S``) with a slew-rate limit.
  ``s = 1 + eps`` is the ADCS's slew scale error (seeded, |eps| <= 5 %).
* ADCS feedback: each ``feedback(ex, ey)`` message (the payload's measured error) is acted on
  ``ADCS_LATENCY_S`` later: if its magnitude exceeds the deadband the target becomes
  ``c_act + k * e`` (a proportional correction from where the platform actually is, so
  messages never accumulate), otherwise the target is held.
* Offload: ``request_offload(dx, dy)`` adds (dx, dy) to the target; the line-of-sight error
  then moves by about -(dx, dy).  A later feedback message supersedes a pending offload
  (its measurement already contains everything executed so far).
"""

import math

try:
    from sim.rng import Rng
    from sim.stepcache import StepCache
except ImportError:  # pragma: no cover - flat layout on a board
    from rng import Rng
    from stepcache import StepCache

_DEG = math.pi / 180.0

# --- reference values -------------------------------------------------------------------
# Paper §2.1: "The platform is expected to provide at least sub-1.5 deg coarse pointing";
# DESIGN §1 and §5: coarse error up to 1.5 deg.
COARSE_ERROR_MAX_RAD = 1.5 * _DEG
# Paper §2.1: "improved to sub-0.25 deg once the ADCS receives a feedback signal from Vector";
# DESIGN §5.  Used by tests and the scenario as the requirement, not inside the model.
ADCS_FEEDBACK_ERROR_MAX_RAD = 0.25 * _DEG
# DESIGN §5 reference scenario: drift 100 urad/s.
DRIFT_RAD_S = 100e-6
# DESIGN §5 reference scenario: platform jitter 20 urad RMS in 0.1-10 Hz (per axis: assumed,
# the design gives one figure, applied to each axis independently).
JITTER_RMS_RAD = 20e-6
JITTER_F_LO_HZ = 0.1  # DESIGN §5
JITTER_F_HI_HZ = 10.0  # DESIGN §5
# Assumed: 100 Hz jitter grid (5x the 10 Hz band edge up to Nyquist); linear interpolation
# between grid points.  The camera samples at 100 Hz too (DESIGN §5).
JITTER_STEP_S = 0.01
# Assumed: run the jitter filter this long at construction so it starts stationary
# (about 6 high-pass time constants of 1.6 s).
JITTER_WARMUP_S = 10.0
# Assumed ADCS figures for a 6U CubeSat with miniature reaction wheels (paper §2.1 gives
# the wheels, not their performance):
ADCS_TAU_S = 1.0  # attitude-loop time constant (closed-loop bandwidth ~0.16 Hz)
ADCS_SLEW_RATE_MAX_RAD_S = 0.5 * _DEG  # slew-rate limit
ADCS_FB_GAIN = 0.5  # fraction of each measured error the ADCS corrects
# Deadband: the ADCS ignores measured errors below 0.1 deg (assumed: half the 0.25 deg
# figure of paper §2.1, so the requirement holds with margin, while the FSM still carries a
# visible coarse error, as on a real wheel-based ADCS that avoids chattering its wheels).
ADCS_DEADBAND_RAD = 0.1 * _DEG
ADCS_LATENCY_S = 0.1  # assumed: OBC/bus transfer plus one ADCS control cycle
ADCS_SCALE_ERR_MAX = 0.05  # assumed: +/-5 % slew scale error (attitude knowledge/actuation)
ADCS_OFFLOAD_MAX_RAD = 5.0 * _DEG  # assumed: larger offload requests are rejected as bogus


def _hp1_coeffs(f_c, h):
    """First-order high-pass, bilinear transform prewarped at f_c: (b0, a1)."""
    k = math.tan(math.pi * f_c * h)
    b0 = 1.0 / (1.0 + k)
    a1 = (k - 1.0) / (k + 1.0)
    return b0, a1


def _lp2_coeffs(f_c, q, h):
    """Second-order low-pass section (quality factor q), bilinear prewarped at f_c.

    Returns (b0, a1, a2); the numerator is b0 * (1, 2, 1).
    """
    k = math.tan(math.pi * f_c * h)
    n = 1.0 / (1.0 + k / q + k * k)
    return k * k * n, 2.0 * (k * k - 1.0) * n, (1.0 - k / q + k * k) * n


# 4th-order Butterworth low-pass = two 2nd-order sections with these quality factors
# (poles at 22.5 and 67.5 deg from the negative real axis: Q = 1 / (2 cos(theta))).
_Q1 = 1.0 / (2.0 * math.cos(math.pi / 8.0))
_Q2 = 1.0 / (2.0 * math.cos(3.0 * math.pi / 8.0))


def _coeffs(f_lo, f_hi, h):
    """Flat coefficient tuple of the HP1 * LP4 cascade used by the jitter generator."""
    hb0, ha1 = _hp1_coeffs(f_lo, h)
    p0, p1, p2 = _lp2_coeffs(f_hi, _Q1, h)
    r0, r1, r2 = _lp2_coeffs(f_hi, _Q2, h)
    return (hb0, ha1, p0, p1, p2, r0, r1, r2)


def _filt(c, s, x):
    """One sample through the cascade; s is the 10-element state list (updated)."""
    yh = c[0] * (x - s[0]) - c[1] * s[1]
    s[0] = x
    s[1] = yh
    y1 = c[2] * (yh + 2.0 * s[2] + s[3]) - c[3] * s[4] - c[4] * s[5]
    s[3] = s[2]
    s[2] = yh
    s[5] = s[4]
    s[4] = y1
    y2 = c[5] * (y1 + 2.0 * s[6] + s[7]) - c[6] * s[8] - c[7] * s[9]
    s[7] = s[6]
    s[6] = y1
    s[9] = s[8]
    s[8] = y2
    return y2


def _unit_rms(f_lo, f_hi, h):
    """RMS of the discrete cascade driven by unit-variance white noise (impulse response)."""
    c = _coeffs(f_lo, f_hi, h)
    s = [0.0] * 10
    # until the slow high-pass pole (~ 1 - 2*pi*f_lo*h) has decayed by e**-40
    n = int(40.0 / (2.0 * math.pi * f_lo * h)) + 200
    acc = 0.0
    y = _filt(c, s, 1.0)
    acc += y * y
    for _ in range(n):
        y = _filt(c, s, 0.0)
        acc += y * y
    return math.sqrt(acc)


_RMS_CACHE = {}


class Platform:
    """Coarse pointing of the platform as seen by the payload (2 axes).

    Platform(seed, initial_error_rad=None, drift_rad_s=DRIFT_RAD_S, jitter_rms_rad=...)
      initial_error_rad: (x, y) or None (random direction, magnitude uniform over the
        1.5 deg disc); drift_rad_s: magnitude (random direction) or an (vx, vy) tuple.
    """

    def __init__(self, seed=1, initial_error_rad=None, drift_rad_s=DRIFT_RAD_S,
                 jitter_rms_rad=JITTER_RMS_RAD, jitter_band_hz=(JITTER_F_LO_HZ, JITTER_F_HI_HZ),
                 jitter_step_s=JITTER_STEP_S, adcs_tau_s=ADCS_TAU_S,
                 slew_rate_max_rad_s=ADCS_SLEW_RATE_MAX_RAD_S, fb_gain=ADCS_FB_GAIN,
                 deadband_rad=ADCS_DEADBAND_RAD, fb_latency_s=ADCS_LATENCY_S,
                 slew_scale_error=None, feedback_enabled=True, warmup_s=JITTER_WARMUP_S,
                 grid_offset_s=0.0, lines=()):
        rng = Rng(seed)
        self._rng = rng
        if initial_error_rad is None:
            r = COARSE_ERROR_MAX_RAD * math.sqrt(rng.uniform())
            a = rng.uniform(0.0, 2.0 * math.pi)
            initial_error_rad = (r * math.cos(a), r * math.sin(a))
        self.e0_x = float(initial_error_rad[0])
        self.e0_y = float(initial_error_rad[1])
        if isinstance(drift_rad_s, (tuple, list)):
            self.v_x = float(drift_rad_s[0])
            self.v_y = float(drift_rad_s[1])
        else:
            a = rng.uniform(0.0, 2.0 * math.pi)
            self.v_x = float(drift_rad_s) * math.cos(a)
            self.v_y = float(drift_rad_s) * math.sin(a)
        if slew_scale_error is None:
            slew_scale_error = rng.uniform(-ADCS_SCALE_ERR_MAX, ADCS_SCALE_ERR_MAX)
        self.slew_scale = 1.0 + slew_scale_error
        self.adcs_tau_s = adcs_tau_s
        self.slew_rate_max = slew_rate_max_rad_s
        self.fb_gain = fb_gain
        self.deadband = deadband_rad
        self.fb_latency_s = fb_latency_s
        self.feedback_enabled = feedback_enabled
        self.t = 0.0
        # ADCS state
        self.c_cmd_x = 0.0
        self.c_cmd_y = 0.0
        self.c_act_x = 0.0
        self.c_act_y = 0.0
        self._pending = []  # [(t_apply, ex, ey)] feedback messages in flight
        self.feedback_count = 0
        self.offload_count = 0
        self._lag_dt = -1.0
        self._lag_a = 0.0
        self._lag_cache = StepCache(1)  # the lag factor per step length (sim/stepcache.py)
        # jitter filter (per axis: 10 state values, see _filt)
        self.jitter_rms = jitter_rms_rad
        self._h = jitter_step_s
        f_lo, f_hi = jitter_band_hz
        self._c = _coeffs(f_lo, f_hi, jitter_step_s)
        key = (f_lo, f_hi, jitter_step_s)
        u = _RMS_CACHE.get(key)
        if u is None:
            u = _unit_rms(f_lo, f_hi, jitter_step_s)
            _RMS_CACHE[key] = u
        self._in_scale = jitter_rms_rad / u if u > 0.0 else 0.0
        self._sx = [0.0] * 10
        self._sy = [0.0] * 10
        for _ in range(int(warmup_s / jitter_step_s)):
            self._jitter_next()
        self._jp_x, self._jp_y = self._jitter_next()
        self._jn_x, self._jn_y = self._jitter_next()
        # time of the "previous" jitter grid point; an offset puts the grid off the camera's
        # frame instants (issue 13: a disturbance on the frame grid is most predictable there)
        self._tj = -float(grid_offset_s)
        # Narrow-band lines on top (reaction wheels): (amplitude rad, f Hz, phase rad,
        # direction rad), evaluated at the exact time (no grid).
        self.lines = tuple(lines)
        # per line: (2 pi f, phase, amplitude along x, along y) - one sin per line per step
        self._lines = tuple((2.0 * math.pi * fhz, ph, amp * math.cos(d), amp * math.sin(d))
                            for amp, fhz, ph, d in self.lines)
        self.jit_x = self._jp_x
        self.jit_y = self._jp_y
        self.err_x = 0.0
        self.err_y = 0.0
        self._update_error()

    # --- jitter -----------------------------------------------------------------------
    def _jitter_next(self):
        zx, zy = self._rng.gauss_pair()
        g = self._in_scale
        c = self._c
        return _filt(c, self._sx, zx * g), _filt(c, self._sy, zy * g)

    # --- time stepping ------------------------------------------------------------------
    def jitter_at(self, t):
        """Jitter (x, y) [rad] at time ``t``: the broadband part interpolated on its grid
        (advanced to ``t``; calls must not go back in time) plus the wheel lines."""
        h = self._h
        tj = self._tj
        if t > tj + h:  # (called ~10 times per grid interval: advance only here)
            while t > tj + h:
                tj += h
                self._jp_x = self._jn_x
                self._jp_y = self._jn_y
                self._jn_x, self._jn_y = self._jitter_next()
            self._tj = tj
        f = (t - tj) / h
        px = self._jp_x
        py = self._jp_y
        jx = px + (self._jn_x - px) * f
        jy = py + (self._jn_y - py) * f
        lines = self._lines
        if lines:
            sin = math.sin
            for w, ph, ax, ay in lines:
                v = sin(w * t + ph)
                jx += v * ax
                jy += v * ay
        return jx, jy

    def step(self, dt):
        """Advance the platform by dt seconds (any dt >= 0)."""
        if dt <= 0.0:
            return
        t = self.t + dt
        self.t = t
        self.jit_x, self.jit_y = self.jitter_at(t)
        # feedback messages whose latency has elapsed
        if self._pending:
            self._deliver(t)
        # ADCS: first-order lag towards the target, slew-rate limited
        dx = self.c_cmd_x - self.c_act_x
        dy = self.c_cmd_y - self.c_act_y
        if dx != 0.0 or dy != 0.0:
            if dt != self._lag_dt:
                a = self._lag_factor(dt)
                self._lag_dt = dt
                self._lag_a = a
            a = self._lag_a
            mx = dx * a
            my = dy * a
            lim = self.slew_rate_max * dt
            m2 = mx * mx + my * my
            if m2 > lim * lim:
                k = lim / math.sqrt(m2)
                mx *= k
                my *= k
            if dx * dx + dy * dy < 1e-18:  # within 1 nrad: snap (avoids denormal tails)
                mx = dx
                my = dy
            self.c_act_x += mx
            self.c_act_y += my
        self._update_error()

    def _lag_factor(self, dt):
        """1 - exp(-dt / tau) for a step of ``dt`` s, from the cache."""
        c = self._lag_cache
        o = c.find(dt)
        if o < 0:
            o = c.put(dt)
            c.values[o] = 1.0 - math.exp(-dt / self.adcs_tau_s)
        return c.values[o]

    def _update_error(self):
        t = self.t
        s = self.slew_scale
        cx = self.e0_x + self.v_x * t - s * self.c_act_x
        cy = self.e0_y + self.v_y * t - s * self.c_act_y
        self.coarse_x = cx
        self.coarse_y = cy
        self.err_x = cx + self.jit_x
        self.err_y = cy + self.jit_y

    def _deliver(self, t):
        p = self._pending
        while p and p[0][0] <= t:
            _, ex, ey = p.pop(0)
            if not self.feedback_enabled:
                continue
            db = self.deadband
            if ex * ex + ey * ey > db * db:
                k = self.fb_gain
                self.c_cmd_x = self.c_act_x + k * ex
                self.c_cmd_y = self.c_act_y + k * ey

    # --- outputs ------------------------------------------------------------------------
    def error(self):
        """True line-of-sight error (x, y) in rad: coarse + jitter."""
        return (self.err_x, self.err_y)

    def coarse_error(self):
        """Coarse error (x, y) without jitter."""
        return (self.coarse_x, self.coarse_y)

    def jitter(self):
        return (self.jit_x, self.jit_y)

    def coarse_error_mag(self):
        return math.sqrt(self.coarse_x * self.coarse_x + self.coarse_y * self.coarse_y)

    # --- inputs from the payload ----------------------------------------------------------
    def feedback(self, err_x, err_y):
        """Payload's measured pointing error (rad), e.g. FSM angle + camera residual.

        Queued and acted on ``fb_latency_s`` later.  NaN or infinite values are dropped.
        Returns True if queued.
        """
        if not (err_x == err_x and err_y == err_y):  # NaN
            return False
        if abs(err_x) > 1.0 or abs(err_y) > 1.0:  # > 57 deg: not a pointing error
            return False
        self.feedback_count += 1
        p = self._pending
        if len(p) >= 16:  # bounded queue: the oldest message is dropped
            p.pop(0)
        p.append((self.t + self.fb_latency_s, float(err_x), float(err_y)))
        return True

    def request_offload(self, dx, dy):
        """Ask the platform to slew so the line-of-sight error moves by about -(dx, dy).

        Accepted (returns True) when |(dx, dy)| <= 5 deg; works with feedback disabled too.
        """
        if not (dx == dx and dy == dy):
            return False
        if dx * dx + dy * dy > ADCS_OFFLOAD_MAX_RAD * ADCS_OFFLOAD_MAX_RAD:
            return False
        self.offload_count += 1
        self.c_cmd_x += dx
        self.c_cmd_y += dy
        return True

    def set_feedback_enabled(self, on):
        self.feedback_enabled = bool(on)


def reference_platform(seed=1, feedback_enabled=True, **kw):
    """DESIGN §5 reference scenario: 1.5 deg initial error (worst case of paper §2.1) in a
    seeded direction, 100 urad/s drift, 20 urad RMS jitter in 0.1-10 Hz."""
    a = Rng(seed ^ 0x0A0A0A0A).uniform(0.0, 2.0 * math.pi)
    e = COARSE_ERROR_MAX_RAD
    return Platform(seed, initial_error_rad=(e * math.cos(a), e * math.sin(a)),
                    feedback_enabled=feedback_enabled, **kw)


# Reaction-wheel lines (issue 13), ASSUMED figures (no measurement of this platform): two
# wheels at a speed drawn uniformly in 2000-4000 rpm (33-67 Hz), each a line at the wheel
# rate (static imbalance) of 1.5 urad and its 2nd harmonic of 0.5 urad line-of-sight
# amplitude, in a random direction: the few-urad class reported for CubeSat wheels.
RW_RPM_RANGE = (2000.0, 4000.0)
RW_AMP_RAD = (1.5e-6, 0.5e-6)  # fundamental, 2nd harmonic
RW_WHEELS = 2
# Offset of the broadband jitter grid from the camera frame instants (any non-multiple of
# the 10 ms frame period; issue 13).
JITTER_GRID_OFFSET_S = 0.0037


def reaction_wheel_lines(seed):
    """The ``lines`` argument of :class:`Platform` for one seed's wheels."""
    r = Rng((seed * 40503 + 0x2F1) % (1 << 30))
    out = []
    for _ in range(RW_WHEELS):
        f = r.uniform(RW_RPM_RANGE[0], RW_RPM_RANGE[1]) / 60.0
        d = r.uniform(0.0, 2.0 * math.pi)
        for k, amp in enumerate(RW_AMP_RAD):
            out.append((amp, f * (k + 1), r.uniform(0.0, 2.0 * math.pi), d))
    return out
