"""Point-ahead and transmitter boresight: the APT's tracking-reference offset (DESIGN §3.8).

The camera sees the ground beacon in its *apparent* direction; the downlink must leave
``2 v_perp / c`` ahead of it (aberration on the way up plus the station's motion during
the light time on the way down; v_perp: the payload's velocity relative to the station,
normal to the line of sight; 24-51 µrad at 560 km), and the transmitter is not exactly
co-aligned with the camera (a ground-calibrated offset, parameters ``pa_tx_bore_*``).
The APT tracks ``ref = camera boresight + offset`` with

    offset (camera axes) = R_cam · point-ahead (payload axes) − transmitter boresight

published as :class:`Offset` (``dx_q8``/``dy_q8``, camera pixels × 256: the loop's fixed
point; ``dx_q6``/``dy_q6``, × 64, ACQUIRE's) that apt.py adds to ``apt_ref_x/y`` every tick.

Sources of the point-ahead, best first (``pa_source`` in housekeeping):

* **OBC** — the platform's navigation state (``NAV_STATE``: ECI position and velocity,
  the payload frame's attitude quaternion, its time of validity) sent by the OBC at 1 Hz.
  On board: ``v_P = A(q) · v``; with the line of sight on the payload's z axis (the
  camera's boresight, on the beacon while tracking) ``point-ahead = −2 (v_P.x, v_P.y)/c``.
  Used while younger than ``pa_nav_max_age_s``, extrapolated with the rate between the
  last two states.  Every field is checked (ranges, finite, |q| = 1, a near-circular LEO
  state, the line of sight within the Earth's limb, time not ahead of the onboard clock,
  not stale, after the last one, the point-ahead no faster than a pass's from the last
  one): a refused state is BAD_ARG and counted (PA_NAV_REJECTED).
* **PROFILE** — a ground-uploaded table for the pass (``PA_PROFILE``: start time, step,
  up to 64 samples), linearly interpolated, used when the OBC state is stale or missing
  and the profile covers the onboard time.
* **NONE** — neither: the fixed ``pa_default_*_urad`` (mid-pass value of the nominal
  orbit and attitude law), never a silent zero.  Leaving OBC is the WARN event
  PA_INPUT_DEGRADED (source, age), returning to it PA_SOURCE.

The Earth's rotation (station velocity, ≤ 3.1 µrad) is not in the OBC computation: the
ground profile can carry it (docs/design.md §3.8).

Per tick (:meth:`PointAhead.tick`, 10 Hz, and the APT reading ``dx_q8``): small-int maths
only, no allocation, run with the heap locked (tests/mpy/test_pointahead_mpy.py runs it
heap-locked too); the events and a queued wheel-line design's piece after, unlocked, only
when due.  Floats are used where a packet arrives (the TC path allocates anyway:
flight/pointahead_nav.py).
"""

from array import array

from flight import pointahead_nav as nav
from flight.bore_scan import NO_SCAN
from flight.cmddict import BadArg, Refused
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.params import ParamDef as P
from flight.pointahead_nav import PROFILE_MAX, pack_profile  # noqa: F401  (the ground's)
from flight.scheduler import Task
from flight.telemetry import HkField as F
from hal.compat import const, ticks_diff

try:  # the tick's maths runs with the heap locked (PointAhead.tick)
    from micropython import heap_lock, heap_unlock  # type: ignore[import-not-found]
except ImportError:  # CPython: no heap to lock
    def heap_lock():  # type: ignore[no-redef,misc]
        pass

    def heap_unlock():  # type: ignore[no-redef,misc]
        pass

_AGE_CAP = const(4000000)  # ages saturate at 4000 s (small ints; a profile spans <= 3780 s)
# PointAhead._advance's result: what its run does after, with the heap unlocked
_DUE_RW = const(1)  # the canceller's input state changed: its event
_DUE_DESIGN = const(2)  # a wheel-line design queued: one piece of it
_DUE_MISMATCH = const(4)  # an OBC vs profile mismatch to report
_DUE_SOURCE = const(8)  # the source changed: its event
_DUE_SCAN = const(16)  # the boresight scan started, ended or aborted: its event

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
# The APT's wheel-line canceller (flight/apt_wheels.py): its input, the wheel speeds,
# arrives here with NAV_STATE, and this task reports its state.
EV_APT_RW_STALE = const(0xA6)
EV_APT_RW_LINES = const(0xA7)

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
    Event(EV_APT_RW_STALE, "APT_RW_STALE", SEV_WARN,
          "reaction-wheel speeds stale or missing (or the canceller disabled): the APT's "
          "wheel-line canceller fades out and forgets its lines", (("age_s", "float"),)),
    Event(EV_APT_RW_LINES, "APT_RW_LINES", SEV_INFO,
          "reaction-wheel speeds fresh: the APT's wheel-line canceller adapts",
          (("lines", "int"),)),
)

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
    P("apt_rw_max_age_s", "float", 3.0, 0.5, 60.0, "s",
      "wheel speeds (NAV_STATE rw*_hz) older than this are stale: the canceller fades"),
    P("apt_rw_cancel", "int", 1, 0, 1, "",
      "1: cancel the reaction-wheel lines (apt_law 1; docs/apt-loop.md §4)"),
)

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
    """The reference hook the APT reads every tick: camera pixels × 64 (ints; ACQUIRE's
    window), and × 256 (the loop's error, at the centroid's resolution)."""

    def __init__(self):
        self.dx_q6 = 0
        self.dy_q6 = 0
        self.dx_q8 = 0
        self.dy_q8 = 0


NO_OFFSET = Offset()  # the APT's offset until a PointAhead is installed


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
        # Profile: samples (10 nrad, x y interleaved; made at the first PA_PROFILE, kept:
        # a fallback most passes never load), step (ms), time since sample 0 (ms)
        self._prof = None  # type: array | None
        self.profile_n = 0
        self._prof_dt = 1000
        self._prof_ms = 0
        self._prof_t0 = 0.0
        self._px = self._py = 0  # the interpolated profile (set by _profile)
        self._last_us = None
        self._us_acc = 0
        self.in_session = False
        self.lines = None  # the APT's wheel-line canceller (flight/apt_wheels.py), if any
        self.scan = NO_SCAN  # the boresight scan's trial (flight/bore_scan.py)
        self._rw_age = _AGE_CAP  # age of the wheel speeds (ms)
        self._rw_on = -1  # the canceller's input state last reported (-1: none yet)
        self._mismatch_d = 0  # the last mismatch reported (10 nrad), for its event
        self._source_was = SRC_NONE  # the source before a change, for its event
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
        u = nav.urad_u
        self._bore_x = u(bx)
        self._bore_y = u(by)
        self._def_x = u(p["pa_default_x_urad"])
        self._def_y = u(p["pa_default_y_urad"])
        self._max_age = int(p["pa_nav_max_age_s"] * 1000)
        self._rw_max = int(p["apt_rw_max_age_s"] * 1000) if p["apt_rw_cancel"] else -1
        self._mismatch = u(p["pa_mismatch_urad"])
        self._ifov = max(1, u(p["apt_ifov_urad"]))
        # Payload (FSM) axes -> camera axes: the camera-to-FSM rotation of the APT law,
        # when declared (issue 14 calibration), else none.
        self._rc, self._rs = nav.rotation_q14(p.values.get("apt_cam_rot_mrad", 0.0) * 1e-3)

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
                nav.check_profile(args)
            return
        try:
            t = args["t"]
            now = self.ctx.now()
            if t > now + nav.NAV_AHEAD_S:
                raise BadArg("t: %.3f s ahead of the onboard clock" % (t - now))
            if now - t > self._max_age * 1e-3:
                raise BadArg("t: stale by %.3f s" % (now - t))
            if t <= self._nav_t:
                raise BadArg("t: not after the last state (%.3f s)" % self._nav_t)
            nav.check_nav(args)
            nav.check_step(self._nav_prev, t, args, self._max_age * 1e-3)
        except Refused as e:  # (BAD_ARG: the checks above, nav.check_nav and check_step)
            self.nav_rejected += 1
            if self.nav_rejected <= 10 or self.nav_rejected % 100 == 0:
                self.ctx.emit(EV_PA_NAV_REJECTED, [self.nav_rejected], str(e))
            raise

    def cmd_nav_state(self, args, tc):
        t = args["t"]
        x, y, ux, uy = nav.point_ahead_u(args)
        rx = ry = 0
        prev = self._nav_prev
        if prev is not None and 0.2 <= t - prev[0] <= self._max_age * 1e-3:
            dt = t - prev[0]
            # The clamp never clips a real rate: check_step refused a step beyond
            # RATE_MAX_U * dt + JUMP_NOISE_U, so it takes off <= JUMP_NOISE_U / dt (1 µrad/s
            # at 1 Hz, 5 at 0.2 s) and only of a rate no pass has (RATE_MAX_U >= 4x): the
            # rate it leaves is nearer the truth (docs/point-ahead.md "NAV_STATE")
            rm = nav.RATE_MAX_U
            rx = max(-rm, min(rm, int((ux - prev[1]) / dt)))
            ry = max(-rm, min(rm, int((uy - prev[2]) / dt)))
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

    def cmd_profile(self, args, tc):
        p = self._prof
        if p is None:
            p = self._prof = array("h", bytes(4 * PROFILE_MAX))
        n = nav.unpack_profile(args["samples"], p)
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
        p = self._prof
        if n < 2 or ms < 0 or ms > (n - 1) * dt or p is None:
            return False
        i = ms // dt
        if i >= n - 1:
            i = n - 2
        f = ms - i * dt
        x0 = p[2 * i]
        y0 = p[2 * i + 1]
        self._px = x0 + (p[2 * i + 2] - x0) * f // dt
        self._py = y0 + (p[2 * i + 3] - y0) * f // dt
        return True

    def tick(self):
        """The task's run: the inputs' ages, the source and the offset with the heap
        locked (small ints, no allocation: the calls' frames then go on the C stack, not
        each through a first-fit scan of a fragmented heap, ~0.3 M instructions a run
        there; bench/apt_wheels_m7.py), then, unlocked and only when due, what allocates:
        the events, a queued wheel-line design's piece."""
        heap_lock()
        try:
            due = self._advance()
        finally:
            heap_unlock()
        if due:
            self._due(due)

    def _advance(self):
        """Advance the input ages, choose the source, publish the offset (allocates
        nothing).  Returns what is due after (_DUE_* bits)."""
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
        due = 0
        ln = self.lines
        if ln is not None:
            if ln.feed(self._rw_age, self._rw_max) != self._rw_on and self.in_session:
                due = _DUE_RW
            if ln.queued:  # (nothing queued: no call, no work)
                due |= _DUE_DESIGN
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
                    self.mismatches += 1
                    if self.mismatches == 1 or self.mismatches % 100 == 0:
                        self._mismatch_d = max(abs(ex), abs(ey))
                        due |= _DUE_MISMATCH
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
        sc = self.scan
        if sc.active and sc.advance(d):  # (an attribute test: no call while idle)
            due |= _DUE_SCAN
        # The point-ahead into camera axes, then the boresight (and the scan's trial),
        # which are camera axes already (design.md §3.8: R·pa − bore).
        cx = ((self._rc * x + self._rs * y) >> 14) - self._bore_x - sc.tx
        cy = ((self._rc * y - self._rs * x) >> 14) - self._bore_y - sc.ty
        self.off_x = cx
        self.off_y = cy
        f = self._ifov
        o = self.offset
        o.dx_q6 = (cx * 128 + f) // (2 * f)  # rounded to the nearest 1/64 px
        o.dy_q6 = (cy * 128 + f) // (2 * f)
        o.dx_q8 = (cx * 512 + f) // (2 * f)  # and 1/256 px
        o.dy_q8 = (cy * 512 + f) // (2 * f)
        if src != self.source:
            self._source_was = self.source
            self.source = src
            due |= _DUE_SOURCE
        return due

    def _due(self, due):
        """What a run found due (``_advance``), in the order the events were seen."""
        if due & _DUE_RW:
            self._rw_tick()
        if due & _DUE_SCAN:
            self.scan.report()
        ln = self.lines
        if due & _DUE_DESIGN and ln is not None:
            # one piece of a queued wheel-line design (floats: only while one is queued;
            # the NAV_STATE handler only queues it, flight/apt_wheels.py Lines.service)
            ln.service()
        if due & _DUE_MISMATCH:
            d = self._mismatch_d / 100.0
            self.ctx.emit(EV_PA_MISMATCH, [self.mismatches, d], "OBC vs profile %.1f urad" % d)
        if due & _DUE_SOURCE:
            self._report(self._source_was)

    def _rw_tick(self):
        """The wheel-line canceller's input (fresh speeds and enabled, or not) and, in
        session, its change reported."""
        ln = self.lines
        if ln is None:
            return
        on = ln.feed(self._rw_age, self._rw_max)
        if on == self._rw_on or not self.in_session:
            return
        self._rw_on = on
        if on:
            f = ln.frequencies()
            self.ctx.emit(EV_APT_RW_LINES, [len(f)], "wheel lines %s Hz" % ", ".join(
                "%.1f" % x for x in f))
        else:
            age = self._rw_age
            a = age * 1e-3
            self.ctx.emit(EV_APT_RW_STALE, [a], "wheel speeds %s: the lines fade out" % (
                "missing" if age >= _AGE_CAP else "%.1f s old" % a))

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
