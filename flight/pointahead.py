"""Point-ahead and transmitter boresight: the APT's tracking-reference offset (DESIGN §3.8).

The camera sees the ground beacon in its *apparent* direction; the downlink must leave
``2 v_perp / c`` ahead of it (aberration on the way up plus the station's motion during
the light time on the way down; v_perp: the payload's velocity relative to the station,
normal to the line of sight; 24-51 µrad at 560 km), and the transmitter is not exactly
co-aligned with the camera (a ground-calibrated offset, parameters ``pa_tx_bore_*``).
The APT tracks ``ref = camera boresight + offset`` with

    offset (camera axes) = R_cam · point-ahead (payload axes) − transmitter boresight

published as :class:`Offset` (``dx_q6``/``dy_q6``, camera pixels × 64: the APT's fixed
point) that apt.py adds to ``apt_ref_x/y`` every tick.

Sources of the point-ahead, best first (``pa_source`` in housekeeping):

* **OBC** — the platform's navigation state (``NAV_STATE``: ECI position and velocity,
  the payload frame's attitude quaternion, its time of validity) sent by the OBC at 1 Hz.
  On board: ``v_P = A(q) · v``; with the line of sight on the payload's z axis (the
  camera's boresight, on the beacon while tracking) ``point-ahead = −2 (v_P.x, v_P.y)/c``.
  Used while younger than ``pa_nav_max_age_s``, extrapolated with the rate between the
  last two states.  Every field is checked (ranges, finite, |q| = 1, a near-circular LEO
  state, time not ahead of the onboard clock, not stale, after the last one): a refused
  state is BAD_ARG and counted (PA_NAV_REJECTED).
* **PROFILE** — a ground-uploaded table for the pass (``PA_PROFILE``: start time, step,
  up to 64 samples), linearly interpolated, used when the OBC state is stale or missing
  and the profile covers the onboard time.
* **NONE** — neither: the fixed ``pa_default_*_urad`` (mid-pass value of the nominal
  orbit and attitude law), never a silent zero.  Leaving OBC is the WARN event
  PA_INPUT_DEGRADED (source, age), returning to it PA_SOURCE.

The Earth's rotation (station velocity, ≤ 3.1 µrad) is not in the OBC computation: the
ground profile can carry it (docs/design.md §3.8).

Per tick (:meth:`PointAhead.tick`, 10 Hz, and the APT reading ``dx_q6``): small-int maths
only, no allocation (tests/mpy/test_pointahead_mpy.py runs it heap-locked).  Floats are
used where a packet arrives (the TC path allocates anyway).
"""

import math
import struct
from array import array

from flight.apt_wheels import EV_APT_RW_LINES, EV_APT_RW_STALE, RW_EVENTS, RW_PARAMS  # noqa: F401
from flight.cmddict import BadArg
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.params import ParamDef
from flight.scheduler import Task
from flight.telemetry import HkField
from hal.compat import const, ticks_diff

C_M_S = 299792458.0  # speed of light (exact, SI)
MU_M3_S2 = 3.986004418e14  # Earth's gravitational parameter (IERS / WGS 84)
R_MIN_M = 6.5e6  # a LEO state: |r| between ~120 km and ~2,000 km altitude
R_MAX_M = 8.4e6
ENERGY_TOL = 0.10  # |v|^2 |r| / mu within 10 % of 1: a near-circular orbit
RADIAL_TOL = 0.05  # |r.v| / (|r||v|): flight-path angle under ~3 deg (e < ~0.05)
Q_NORM_TOL = 1e-3  # |q| within 0.1 % of 1 (a single-precision quaternion passes)
NAV_AHEAD_S = 1.0  # a state up to 1 s ahead of the onboard clock (time-sync tolerance)
PA_MAX_U = const(6000)  # |point-ahead| bound in 10 nrad units: 2 * 8.5 km/s / c = 57 µrad
PROFILE_MAX = const(64)  # samples of a profile (256 octets: the TC's bytes limit)
RATE_MAX_U = const(200)  # |d point-ahead / dt| bound, 10 nrad/s: 2 µrad/s (≥ 5× a pass's)
_AGE_CAP = const(4000000)  # ages saturate at 4000 s (small ints; a profile spans <= 3780 s)
_ROT_ONE = const(16384)  # rotation coefficients q14

SRC_NONE = const(0)
SRC_OBC = const(1)
SRC_PROFILE = const(2)
SOURCE_NAMES = ("NONE", "OBC", "PROFILE")

EV_PA_SOURCE = const(0xA0)
EV_PA_INPUT_DEGRADED = const(0xA1)
EV_PA_NAV_REJECTED = const(0xA2)
EV_PA_PROFILE_LOADED = const(0xA3)
EV_PA_MISMATCH = const(0xA4)
EV_PA_BORESIGHT = const(0xA5)
# The APT predictor's supervisor (flight/apt_predict.py): declared here, in the pointing
# component this helper owns, while flight/apt.py has no line left for it (500).
EV_APT_PREDICT_ROBUST = const(0x59)

EVENTS = (
    Event(EV_PA_SOURCE, "PA_SOURCE", SEV_INFO, "point-ahead from the OBC navigation state",
          (("from", "int"), ("to", "int"))),
    Event(EV_PA_INPUT_DEGRADED, "PA_INPUT_DEGRADED", SEV_WARN,
          "OBC navigation state stale or missing: point-ahead from the profile (1) or "
          "the default (0)", (("to", "int"), ("nav_age_s", "float"))),
    Event(EV_PA_NAV_REJECTED, "PA_NAV_REJECTED", SEV_WARN,
          "an OBC navigation state was refused (first 10, then every 100th)",
          (("rejected", "int"),)),
    Event(EV_PA_PROFILE_LOADED, "PA_PROFILE_LOADED", SEV_INFO,
          "point-ahead profile loaded (0 samples: cleared)",
          (("samples", "int"), ("t0", "float"), ("t_end", "float"))),
    Event(EV_PA_MISMATCH, "PA_MISMATCH", SEV_WARN,
          "OBC and profile point-ahead disagree by more than pa_mismatch_urad (first, "
          "then every 100th)", (("count", "int"), ("diff_urad", "float"))),
    Event(EV_PA_BORESIGHT, "PA_TX_BORESIGHT", SEV_INFO,
          "transmitter boresight offset changed", (("x_urad", "float"), ("y_urad", "float"))),
    Event(EV_APT_PREDICT_ROBUST, "APT_PREDICT_ROBUST", SEV_WARN,
          "APT predictor's innovations beyond its design (a mirror gain error?): robust "
          "gains until the estimate is reset or a parameter changes",
          (("count", "int"), ("innov_urad", "float"))),
) + RW_EVENTS  # (the wheel-line canceller's: its speeds arrive with NAV_STATE)

P = ParamDef
PARAMS = (
    P("pa_tx_bore_x_urad", "float", 0.0, -200.0, 200.0, "urad",
      "transmitter minus camera boresight, camera x (ground-calibrated; docs/point-ahead.md)"),
    P("pa_tx_bore_y_urad", "float", 0.0, -200.0, 200.0, "urad",
      "transmitter minus camera boresight, camera y (ground-calibrated)"),
    P("pa_nav_max_age_s", "float", 3.0, 0.5, 60.0, "s",
      "OBC navigation state older than this is stale (the profile, else the default)"),
    P("pa_default_x_urad", "float", -37.5, -60.0, 60.0, "urad",
      "point-ahead without any input, payload x: mid-pass value of a 560 km pass above "
      "20 deg (24.5-50.6 urad, always -x under the nominal attitude law)"),
    P("pa_default_y_urad", "float", 0.0, -60.0, 60.0, "urad",
      "point-ahead without any input, payload y"),
    P("pa_mismatch_urad", "float", 5.0, 0.5, 60.0, "urad",
      "OBC vs profile difference (either axis) reported as PA_MISMATCH"),
) + RW_PARAMS

F = HkField
HK = (  # 1 Hz: 7 octets (the rest in the diagnostic set)
    F("pa_source", "u8", enum=SOURCE_NAMES, description="point-ahead source"),
    F("pa_off_x", "i16", "urad", 0.01,
      description="offset added to the APT reference, camera x (point-ahead - TX boresight)"),
    F("pa_off_y", "i16", "urad", 0.01, description="offset added to the APT reference, camera y"),
    F("pa_nav_age", "u8", "s", 0.1, warn=(0.0, 3.0),
      description="age of the OBC navigation state (25.5: that old or none)"),
    F("pa_nav_rejected", "u8", warn=(0, 0), description="OBC navigation states refused (max 255)"),
)
HK_DIAG = (
    F("pa_x", "i16", "urad", 0.01, description="point-ahead applied, payload x"),
    F("pa_y", "i16", "urad", 0.01, description="point-ahead applied, payload y"),
    F("pa_nav_accepted", "u32", description="OBC navigation states used"),
    F("pa_nav_rejected_all", "u16", warn=(0, 0), description="OBC navigation states refused"),
    F("pa_mismatches", "u16", warn=(0, 0), description="OBC vs profile disagreements"),
    F("pa_profile_n", "u8", description="profile samples loaded (0: none)"),
    F("pa_profile_left", "u16", "s", description="profile time left (0: none or ended)"),
)


class Offset:
    """The reference hook the APT reads every tick: camera pixels × 64 (ints)."""

    def __init__(self):
        self.dx_q6 = 0
        self.dy_q6 = 0


NO_OFFSET = Offset()  # the APT's offset until a PointAhead is installed


def _u(v):
    """µrad (float) -> 10 nrad units (int, rounded)."""
    return int(v * 100.0 + (0.5 if v >= 0 else -0.5))


def point_ahead_rad(v, q):
    """(x, y) point-ahead [rad] in the payload frame from the ECI velocity ``v`` (m/s) and
    the payload attitude ``q`` = (w, x, y, z), scalar first, ``v_P = A(q) v_I``
    (Markley's attitude matrix; q normalised here).  Line of sight on the payload z."""
    w, x, y, z = q
    n = math.sqrt(w * w + x * x + y * y + z * z)
    w /= n
    x /= n
    y /= n
    z /= n
    vx, vy, vz = v
    # rows 0 and 1 of A(q): the payload's x and y axes in ECI
    px = (1 - 2 * (y * y + z * z)) * vx + 2 * (x * y + w * z) * vy + 2 * (x * z - w * y) * vz
    py = 2 * (x * y - w * z) * vx + (1 - 2 * (x * x + z * z)) * vy + 2 * (y * z + w * x) * vz
    k = -2.0 / C_M_S
    return px * k, py * k


def check_nav(a):
    """Physical plausibility of a NAV_STATE argument map: BadArg names the field."""
    r = math.sqrt(a["px"] ** 2 + a["py"] ** 2 + a["pz"] ** 2)
    if not R_MIN_M <= r <= R_MAX_M:
        raise BadArg("p: |r| %.0f m is no LEO state" % r)
    v2 = a["vx"] ** 2 + a["vy"] ** 2 + a["vz"] ** 2
    e = v2 * r / MU_M3_S2
    if not 1.0 - ENERGY_TOL <= e <= 1.0 + ENERGY_TOL:
        raise BadArg("v: |v| %.1f m/s not orbital at |r| %.0f m" % (math.sqrt(v2), r))
    rv = a["px"] * a["vx"] + a["py"] * a["vy"] + a["pz"] * a["vz"]
    if abs(rv) > RADIAL_TOL * r * math.sqrt(v2):
        raise BadArg("v: radial part %.3f of |v|: not a near-circular orbit"
                     % (rv / (r * math.sqrt(v2))))
    qn = math.sqrt(a["qw"] ** 2 + a["qx"] ** 2 + a["qy"] ** 2 + a["qz"] ** 2)
    if abs(qn - 1.0) > Q_NORM_TOL:
        raise BadArg("q: norm %.4f is not 1" % qn)


def pack_profile(samples_urad):
    """PA_PROFILE ``samples`` octets from [(x, y) µrad]: big-endian int16 pairs, 0.01 µrad
    (the ground tool and the simulated OBC build the command with this)."""
    out = bytearray()
    for x, y in samples_urad:
        out += struct.pack(">hh", _u(x), _u(y))
    return bytes(out)


class PointAhead:
    name = "pointahead"

    def __init__(self, ctx, period_us=100000):
        self.ctx = ctx
        self.period_us = period_us
        self.offset = Offset()
        self.source = SRC_NONE
        self.pa_x = self.pa_y = 0  # applied point-ahead, payload axes, 10 nrad
        self.off_x = self.off_y = 0  # applied offset, camera axes, 10 nrad
        # OBC state: point-ahead (10 nrad) at its validity, rate (10 nrad/s), age (ms)
        self._nav_x = self._nav_y = self._nav_rx = self._nav_ry = 0
        self._nav_age = _AGE_CAP
        self._nav_t = -1.0  # time of validity of the last state used (onboard s)
        self._nav_prev = None  # (t, x, y) of the previous state (the rate)
        self.nav_accepted = self.nav_rejected = self.mismatches = 0
        # Profile: samples (10 nrad, x y interleaved), step (ms), time since sample 0 (ms)
        self._prof = array("h", [0] * (2 * PROFILE_MAX))
        self.profile_n = 0
        self._prof_dt = 1000
        self._prof_ms = 0
        self._prof_t0 = 0.0
        self._px = self._py = 0  # the interpolated profile (set by _profile)
        self._last_us = None
        self._us_acc = 0
        self.in_session = False
        self.lines = None  # the APT's wheel-line canceller (flight/apt_wheels.py), if any
        self._rw_age = _AGE_CAP  # age of the wheel speeds (ms)
        self._rw_on = -1  # the canceller's input state last reported (-1: none yet)
        self._task = Task("pointahead", period_us, self.tick, offset_us=9000,
                          budget_us=period_us // 20)
        ctx.params.listeners.append(self._load_params)
        self._load_params()

    # ------------------------------------------------------------------ parameters
    def _load_params(self, name=None, value=None):
        if name is not None and not (name.startswith("pa_") or name.startswith("apt_")):
            return
        p = self.ctx.params
        bx = p["pa_tx_bore_x_urad"]
        by = p["pa_tx_bore_y_urad"]
        if name in ("pa_tx_bore_x_urad", "pa_tx_bore_y_urad"):
            self.ctx.emit(EV_PA_BORESIGHT, [bx, by], "TX boresight (%.2f, %.2f) urad" % (bx, by))
        self._bore_x = _u(bx)
        self._bore_y = _u(by)
        self._def_x = _u(p["pa_default_x_urad"])
        self._def_y = _u(p["pa_default_y_urad"])
        self._max_age = int(p["pa_nav_max_age_s"] * 1000)
        self._rw_max = int(p["apt_rw_max_age_s"] * 1000) if p["apt_rw_cancel"] else -1
        self._mismatch = _u(p["pa_mismatch_urad"])
        self._ifov = max(1, _u(p["apt_ifov_urad"]))
        # Payload (FSM) axes -> camera axes: the camera-to-FSM rotation of the APT law,
        # when declared (issue 14 calibration), else none.
        a = p.values.get("apt_cam_rot_mrad", 0.0) * 1e-3
        self._rc = int(math.cos(a) * _ROT_ONE + 0.5)
        s = math.sin(a) * _ROT_ONE
        self._rs = int(s + (0.5 if s >= 0 else -0.5))

    # ------------------------------------------------------------------ scheduling
    def tasks(self):
        return [self._task]

    def start_session(self):
        self.tick()
        self.in_session = True
        self._report(-1)
        self._rw_on = -1
        self._rw_tick()

    def stop_session(self):
        self.in_session = False

    safe = stop_session

    # ------------------------------------------------------------------ commands
    def check_command(self, cmd, args):
        if cmd.name != "NAV_STATE":
            if cmd.name == "PA_PROFILE":
                self._check_profile(args)
            return
        try:
            t = args["t"]
            now = self.ctx.now()
            if t > now + NAV_AHEAD_S:
                raise BadArg("t: %.3f s ahead of the onboard clock" % (t - now))
            if now - t > self._max_age * 1e-3:
                raise BadArg("t: stale by %.3f s" % (now - t))
            if t <= self._nav_t:
                raise BadArg("t: not after the last state (%.3f s)" % self._nav_t)
            check_nav(args)
        except BadArg as e:
            self.nav_rejected += 1
            if self.nav_rejected <= 10 or self.nav_rejected % 100 == 0:
                self.ctx.emit(EV_PA_NAV_REJECTED, [self.nav_rejected], str(e))
            raise

    def cmd_nav_state(self, args, tc):
        t = args["t"]
        x, y = point_ahead_rad((args["vx"], args["vy"], args["vz"]),
                               (args["qw"], args["qx"], args["qy"], args["qz"]))
        # |v| is bounded by check_nav (<= 57 µrad); the clamp keeps the tick's ints small
        ux = max(-PA_MAX_U, min(PA_MAX_U, _u(x * 1e6)))
        uy = max(-PA_MAX_U, min(PA_MAX_U, _u(y * 1e6)))
        rx = ry = 0
        prev = self._nav_prev
        if prev is not None and 0.2 <= t - prev[0] <= self._max_age * 1e-3:
            dt = t - prev[0]
            rx = max(-RATE_MAX_U, min(RATE_MAX_U, int((ux - prev[1]) / dt)))
            ry = max(-RATE_MAX_U, min(RATE_MAX_U, int((uy - prev[2]) / dt)))
        self._nav_prev = (t, ux, uy)
        self._nav_t = t
        self._nav_x = ux
        self._nav_y = uy
        self._nav_rx = rx
        self._nav_ry = ry
        self._nav_age = max(0, int((self.ctx.now() - t) * 1000))
        self.nav_accepted += 1
        out = {"pa_x_urad": x * 1e6, "pa_y_urad": y * 1e6}
        hz = [args.get(n) for n in ("rw1_hz", "rw2_hz", "rw3_hz", "rw4_hz")]
        if self.lines is not None and hz != [None] * 4:  # the OBC sent its wheel speeds
            self._rw_age = self._nav_age
            out["rw_lines"] = self.lines.set_speeds(hz)
            self._rw_tick()
        return out

    def _check_profile(self, args):
        s = args["samples"]
        n = len(s) // 4
        if len(s) % 4 or n < 2 or n > PROFILE_MAX:
            raise BadArg("samples: 2..%d pairs of int16 (4 octets each)" % PROFILE_MAX)
        dt = args["dt"]
        last = None
        for i in range(n):
            x, y = struct.unpack_from(">hh", s, 4 * i)
            if abs(x) > PA_MAX_U or abs(y) > PA_MAX_U:
                raise BadArg("samples: %d out of the point-ahead bound" % i)
            if last is not None and (abs(x - last[0]) > RATE_MAX_U * dt
                                     or abs(y - last[1]) > RATE_MAX_U * dt):
                raise BadArg("samples: step %d faster than %d urad/s" % (i, RATE_MAX_U // 100))
            last = (x, y)

    def cmd_profile(self, args, tc):
        s = args["samples"]
        n = len(s) // 4
        for i in range(n):
            x, y = struct.unpack_from(">hh", s, 4 * i)
            self._prof[2 * i] = x
            self._prof[2 * i + 1] = y
        self._prof_dt = int(args["dt"] * 1000)
        self._prof_t0 = args["t0"]
        self._prof_ms = int((self.ctx.now() - args["t0"]) * 1000)
        self.profile_n = n
        t_end = args["t0"] + (n - 1) * args["dt"]
        self.ctx.emit(EV_PA_PROFILE_LOADED, [n, args["t0"], t_end],
                      "%d samples, %.1f .. %.1f s" % (n, args["t0"], t_end))
        return {"samples": n, "t_end": t_end}

    def cmd_profile_clear(self, args, tc):
        self.profile_n = 0
        self.ctx.emit(EV_PA_PROFILE_LOADED, [0, 0.0, 0.0], "profile cleared")
        return None

    # ------------------------------------------------------------------ the 10 Hz tick
    def _profile(self):
        """Interpolated profile at the current time into (_px, _py); False outside."""
        n = self.profile_n
        ms = self._prof_ms
        dt = self._prof_dt
        if n < 2 or ms < 0 or ms > (n - 1) * dt:
            return False
        i = ms // dt
        if i >= n - 1:
            i = n - 2
        f = ms - i * dt
        p = self._prof
        x0 = p[2 * i]
        y0 = p[2 * i + 1]
        self._px = x0 + (p[2 * i + 2] - x0) * f // dt
        self._py = y0 + (p[2 * i + 3] - y0) * f // dt
        return True

    def tick(self):
        """Advance the input ages, choose the source, publish the offset (no allocation
        unless a wheel-line design is queued)."""
        now = self._task.last_start
        if self._last_us is not None:
            self._us_acc += ticks_diff(now, self._last_us)
        self._last_us = now
        d = self._us_acc // 1000
        self._us_acc -= d * 1000
        if self._nav_age < _AGE_CAP:
            self._nav_age = min(_AGE_CAP, self._nav_age + d)
        if self._rw_age < _AGE_CAP:
            self._rw_age = min(_AGE_CAP, self._rw_age + d)
        self._rw_tick()
        if self.lines is not None:
            # one piece of a queued wheel-line design (floats: only while one is queued;
            # the NAV_STATE handler only queues it, flight/apt_wheels.py Lines.service)
            self.lines.service()
        if self.profile_n:
            self._prof_ms = min(_AGE_CAP, self._prof_ms + d)
        have_prof = self._profile()
        age = self._nav_age
        if age <= self._max_age:
            src = SRC_OBC
            x = self._nav_x + self._nav_rx * age // 1000
            y = self._nav_y + self._nav_ry * age // 1000
            if have_prof:
                ex = x - self._px
                ey = y - self._py
                if ex > self._mismatch or -ex > self._mismatch or ey > self._mismatch \
                        or -ey > self._mismatch:
                    self._mismatch_seen(ex, ey)
        elif have_prof:
            src = SRC_PROFILE
            x = self._px
            y = self._py
        else:
            src = SRC_NONE
            x = self._def_x
            y = self._def_y
        self.pa_x = x
        self.pa_y = y
        ox = x - self._bore_x
        oy = y - self._bore_y
        cx = (self._rc * ox + self._rs * oy) >> 14
        cy = (self._rc * oy - self._rs * ox) >> 14
        self.off_x = cx
        self.off_y = cy
        f = self._ifov
        o = self.offset
        o.dx_q6 = (cx * 128 + f) // (2 * f)  # rounded to the nearest 1/64 px
        o.dy_q6 = (cy * 128 + f) // (2 * f)
        if src != self.source:
            old = self.source
            self.source = src
            self._report(old)

    def _rw_tick(self):
        """The wheel-line canceller's input: fresh speeds (and enabled) or not."""
        if self.lines is not None:
            self._rw_on = self.lines.feed(self._rw_age, self._rw_max, self._rw_on,
                                          self.ctx if self.in_session else None)

    def _report(self, old):
        if not self.in_session:
            return
        src = self.source
        if src == SRC_OBC:
            if old != SRC_OBC:
                self.ctx.emit(EV_PA_SOURCE, [old, src], "point-ahead from the OBC")
            return
        age = self._nav_age * 1e-3
        self.ctx.emit(EV_PA_INPUT_DEGRADED, [src, age], "OBC state %s: point-ahead from %s" % (
            "missing" if self._nav_age >= _AGE_CAP else "%.1f s old" % age,
            "the profile" if src == SRC_PROFILE else "the default (%.1f, %.1f) urad" % (
                self._def_x / 100.0, self._def_y / 100.0)))

    def _mismatch_seen(self, ex, ey):
        self.mismatches += 1
        if self.mismatches == 1 or self.mismatches % 100 == 0:
            d = max(abs(ex), abs(ey)) / 100.0
            self.ctx.emit(EV_PA_MISMATCH, [self.mismatches, d],
                          "OBC vs profile %.1f urad" % d)

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):
        values[i] = self.source
        values[i + 1] = self.off_x
        values[i + 2] = self.off_y
        values[i + 3] = min(255, self._nav_age // 100)
        values[i + 4] = min(255, self.nav_rejected)

    def hk_diag(self, values, i):
        values[i] = self.pa_x
        values[i + 1] = self.pa_y
        values[i + 2] = self.nav_accepted
        values[i + 3] = min(65535, self.nav_rejected)
        values[i + 4] = min(65535, self.mismatches)
        values[i + 5] = self.profile_n
        left = 0
        if self.profile_n:
            left = max(0, (self.profile_n - 1) * self._prof_dt - self._prof_ms) // 1000
        values[i + 6] = min(65535, left)
