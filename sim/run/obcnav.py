"""The simulated OBC's point-ahead inputs (issue 14): what the bus gives the payload.

* :class:`NavSender` — the ``NAV_STATE`` telecommand (flight/pointahead.py): the
  platform's ECI position and velocity and the payload frame's attitude quaternion, with a
  time of validity on the payload's clock, sent every ``NAV_PERIOD_S`` from
  ``NAV_LEAD_S`` before SESSION_START to SESSION_END, each state ``NAV_LATENCY_S`` old when
  sent, with navigation and attitude-knowledge errors and bus losses.
  With it the reaction wheels' speeds (``rw1_hz``, ``rw2_hz``: the ADCS knows them from
  its wheel tachometers) for the APT's wheel-line canceller (flight/apt_wheels.py).
* :func:`profile_args` — the ground's ``PA_PROFILE`` for the pass, predicted from the
  pass plan with an orbit-prediction time error.
* :func:`boresight_args` — the ground-calibrated transmitter boresight (truth in camera
  axes plus a calibration error) the operator uploads before the pass; with it
  :func:`latency_args`, the mirror's command latency measured at the unit's acceptance.

Geometry: sim/pointahead.py (circular orbit, non-rotating Earth).  The payload frame: x, y
the FSM axes of the 2-axis pointing frame (sim/pointing.py, sim/pointahead.py module doc),
z = x × y (the station→satellite line of sight); the platform's pointing error tilts it.

Every constant has its source below.  The errors use their own random stream (seed salt),
so switching them does not change any other random process of the world.
"""

import math

from sim import pointahead
from sim.pointing import RW_AMP_RAD
from sim.rng import Rng

from flight.cmddict import BY_NAME
from flight.pointahead import PROFILE_MAX, pack_profile

OP_NAV_STATE = BY_NAME["NAV_STATE"].opcode
OP_PA_PROFILE = BY_NAME["PA_PROFILE"].opcode
OP_PARAM_SET = BY_NAME["PARAM_SET"].opcode

# Assumed: the payload interface of a CubeSat OBC forwards the ADCS solution at 1 Hz (the
# point-ahead changes by < 0.3 µrad/s, so 1 Hz keeps it within 0.3 µrad).
NAV_PERIOD_S = 1.0
# Assumed: the state is the ADCS estimate of the last 10 Hz cycle (<= 0.1 s old) plus OBC
# scheduling and the UART transfer (~50 ms for ~180 octets at 115.2 kbit/s and a queue).
NAV_LATENCY_S = 0.15
# Assumed: the OBC starts forwarding before the session so the payload has a fresh state
# when the APT starts (and stops after SESSION_END: the TC path persists its counter).
NAV_LEAD_S = 10.0
# Assumed: CubeSat GNSS receiver class, 1 sigma per axis (e.g. ~10 m, ~0.1 m/s).
NAV_POS_SIGMA_M = 10.0
NAV_VEL_SIGMA_M_S = 0.1
# Assumed: CubeSat star-tracker attitude knowledge, 1 sigma: ~10 arcsec about the
# cross-boresight axes, ~40 arcsec about the boresight (roll).
ATT_CROSS_SIGMA_RAD = 10.0 / 206265.0
ATT_ROLL_SIGMA_RAD = 40.0 / 206265.0
# Assumed: bus packets lost (CRC errors, OBC overruns), 1 %.
NAV_LOSS = 0.01
# Assumed: SGP4 from a TLE about a day old predicts the pass time to ~0.1-0.5 s (along-track
# error of 1-4 km at 7.6 km/s; Vallado et al., "Revisiting Spacetrack Report #3", 2006).
PROFILE_TIME_ERROR_S = 0.5
# Assumed: ground calibration of the camera/transmitter boresight on an optical bench
# (collimator, the flight camera's centroid at ~1/50 px of 100 µrad) plus launch and
# thermal shift not seen on the bench: 2 µrad per axis, 1 sigma.
TX_BORE_CAL_SIGMA_RAD = 2e-6
# Assumed: the mirror's command latency (DAC write to motion) measured at the unit's
# acceptance test, a DAC step timed on the mirror's position sensor sampled at ~100 kHz
# and averaged over steps: 10 µs, 1 sigma.  It is the unit's electronics (the driver's
# input filter), not something launch or temperature moves.
FSM_LATENCY_MEAS_SIGMA_US = 10.0
# Assumed: a wheel tachometer (hall sensors or back-EMF, CubeSat wheel class) resolves the
# speed to ~0.1 rpm, 1 sigma (0.0017 Hz: a phase drift of 0.01 rad/s at the wheel rate).
RW_SPEED_SIGMA_HZ = 0.1 / 60.0
_SALT = 0x0BC1


def _quat_from_rows(ex, ey, ez):
    """Scalar-first quaternion whose attitude matrix A(q) has the rows ex, ey, ez."""
    m00, m01, m02 = ex
    m10, m11, m12 = ey
    m20, m21, m22 = ez
    tr = m00 + m11 + m22
    if tr > 0:
        s = 2.0 * math.sqrt(1.0 + tr)
        return (0.25 * s, (m12 - m21) / s, (m20 - m02) / s, (m01 - m10) / s)
    if m00 > m11 and m00 > m22:
        s = 2.0 * math.sqrt(1.0 + m00 - m11 - m22)
        return ((m12 - m21) / s, 0.25 * s, (m01 + m10) / s, (m02 + m20) / s)
    if m11 > m22:
        s = 2.0 * math.sqrt(1.0 + m11 - m00 - m22)
        return ((m20 - m02) / s, (m01 + m10) / s, 0.25 * s, (m12 + m21) / s)
    s = 2.0 * math.sqrt(1.0 + m22 - m00 - m11)
    return ((m01 - m10) / s, (m02 + m20) / s, (m12 + m21) / s, 0.25 * s)


def _qmul(a, b):
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw)


def payload_frame(world, tp, tilt=(0.0, 0.0)):
    """Rows (x, y, z) of the payload frame in ECI at pass time ``tp``: the pointing frame
    of sim/pointahead.py with its z tilted by the pointing error ``tilt`` (rad, x y)."""
    s, p, _v = pointahead.state(world.pass_, tp)
    u = pointahead._unit(pointahead._sub(p, s))
    n = (0.0, 1.0, 0.0)  # the orbit normal (orbit in the x-z plane)
    ey = pointahead._unit(pointahead._sub(n, pointahead._scale(u, pointahead._dot(n, u))))
    ex = pointahead._cross(ey, u)
    z = pointahead._unit(tuple(u[i] - tilt[0] * ex[i] - tilt[1] * ey[i] for i in range(3)))
    x = pointahead._unit(pointahead._sub(ex, pointahead._scale(z, pointahead._dot(ex, z))))
    y = pointahead._cross(z, x)
    return x, y, z


def onboard_offset(obc):
    """Payload clock minus world time, from the newest housekeeping of the running boot
    (the OBC reads the payload's time as any user of its telemetry); None before one."""
    if not obc.hk or obc.hk[-1][1] != obc.boot:
        return None
    t_rx, _boot, h = obc.hk[-1]
    return h["time"] - t_rx


class NavSender:
    """Sends NAV_STATE through ``obc.send`` while ``window`` (world times) holds."""

    def __init__(self, obc, world, window):
        self.obc = obc
        self.world = world
        self.t0, self.t1 = window
        sc = world.scenario
        self.outage = sc.get("nav_outage")  # (start, duration) world s: nothing sent
        # [(start, end, field, value)] world s: the OBC sends a corrupted field (tests)
        self.faults = list(sc.get("nav_faults", ()))
        self.enabled = sc.get("obc_nav", True) and not world.ideal
        # the wheel speeds: sent unless "obc_wheels" is False; (start, duration) world s of
        # "rw_outage": NAV_STATE without them (tests: the canceller fades out)
        self.wheels = sc.get("obc_wheels", True)
        self.rw_outage = sc.get("rw_outage")
        nh = len(RW_AMP_RAD)  # lines per wheel (sim/pointing.py reaction_wheel_lines)
        self.rw_hz = [ln[1] for ln in world.platform.lines[::nh]]
        self.rw_rng = Rng((world.seed * 40503 + _SALT + 2) % (1 << 30))  # (its own stream)
        self.rng = Rng((world.seed * 40503 + _SALT) % (1 << 30))
        self.next_t = self.t0
        self.sent = self.lost = 0

    def state(self, t_world):
        """NAV_STATE arguments for the truth at world time ``t_world`` (errors drawn)."""
        w = self.world
        r = self.rng
        tp = t_world - w.pass_start - w.duration_s / 2
        _s, p, v = pointahead.state(w.pass_, tp)
        q = _quat_from_rows(*payload_frame(w, tp, (w.platform.err_x, w.platform.err_y)))
        # attitude knowledge error: a small rotation (x, y cross-boresight, z roll)
        e = (1.0, 0.5 * r.gauss(0.0, ATT_CROSS_SIGMA_RAD), 0.5 * r.gauss(0.0, ATT_CROSS_SIGMA_RAD),
             0.5 * r.gauss(0.0, ATT_ROLL_SIGMA_RAD))
        q = _qmul(e, q)
        n = math.sqrt(sum(c * c for c in q))
        a = {"t": 0.0}
        for i, k in enumerate("xyz"):
            a["p" + k] = p[i] + r.gauss(0.0, NAV_POS_SIGMA_M)
            a["v" + k] = v[i] + r.gauss(0.0, NAV_VEL_SIGMA_M_S)
        for i, k in enumerate("wxyz"):
            a["q" + k] = q[i] / n
        o = self.rw_outage
        if self.wheels and not (o is not None and o[0] <= t_world < o[0] + o[1]):
            for i, f in enumerate(self.rw_hz[:4]):
                a["rw%d_hz" % (i + 1)] = f + self.rw_rng.gauss(0.0, RW_SPEED_SIGMA_HZ)
        return a

    def tick(self, t):
        """Called with every step of the runner (100 ms): send when one is due."""
        if not self.enabled or t < self.next_t or t > self.t1:
            return
        self.next_t += NAV_PERIOD_S * math.ceil((t - self.next_t + 1e-9) / NAV_PERIOD_S)
        o = self.outage
        if o is not None and o[0] <= t < o[0] + o[1]:
            return
        off = onboard_offset(self.obc)
        if off is None:
            return
        a = self.state(t - NAV_LATENCY_S)
        a["t"] = t - NAV_LATENCY_S + off
        for t0, t1, k, val in self.faults:
            if t0 <= t < t1:
                a[k] = val
        if self.rng.random() < NAV_LOSS:
            self.lost += 1
            return
        self.sent += 1
        self.obc.send(t, OP_NAV_STATE, a, log=False)


def profile_args(world, obc, t_from, t_to):
    """PA_PROFILE arguments for world times [t_from, t_to] as the ground predicts them
    (pass time off by PROFILE_TIME_ERROR_S), on the payload's clock; None before HK."""
    off = onboard_offset(obc)
    if off is None:
        return None
    dt = max(1.0, math.ceil((t_to - t_from) / (PROFILE_MAX - 1)))
    n = min(PROFILE_MAX, int((t_to - t_from) / dt) + 2)
    c = world.pass_start + world.duration_s / 2 + PROFILE_TIME_ERROR_S
    pts = [pointahead.point_ahead_rad(world.pass_, t_from + i * dt - c) for i in range(n)]
    return {"t0": t_from + off, "dt": float(dt),
            "samples": pack_profile([(x * 1e6, y * 1e6) for x, y in pts])}


def boresight_truth_urad(world):
    """The unit's transmitter boresight (sim/calib.py, pointing frame) in camera axes, µrad:
    the ``pa_tx_bore_x/y_urad`` a perfect calibration would set."""
    cal = world.calib
    bx = cal["tx_bore_x_rad"]
    by = cal["tx_bore_y_rad"]
    c = world._rot_c
    s = world._rot_s
    return ((c * bx + s * by) * 1e6, (c * by - s * bx) * 1e6)


def boresight_args(world):
    """[PARAM_SET args] of the transmitter boresight as calibrated on the ground: the
    truth in camera axes plus the calibration error."""
    r = Rng((world.seed * 69069 + _SALT + 1) % (1 << 30))
    tx, ty = boresight_truth_urad(world)
    cx = tx + r.gauss(0.0, TX_BORE_CAL_SIGMA_RAD) * 1e6
    cy = ty + r.gauss(0.0, TX_BORE_CAL_SIGMA_RAD) * 1e6
    return [{"name": "pa_tx_bore_x_urad", "value": cx},
            {"name": "pa_tx_bore_y_urad", "value": cy}]


def latency_args(world):
    """[PARAM_SET args] of the mirror's command latency as measured at the unit's
    acceptance (``apt_fsm_latency_us``, flight/apt_control.py): the truth plus the
    measurement's error, whole µs."""
    r = Rng((world.seed * 69069 + _SALT + 2) % (1 << 30))
    v = world.fsm_latency_us + r.gauss(0.0, FSM_LATENCY_MEAS_SIGMA_US)
    return [{"name": "apt_fsm_latency_us", "value": max(0, int(round(v)))}]
