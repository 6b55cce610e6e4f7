"""The FSM calibration's run (flight/apt_calib.py, docs/fsm-calibration.md): the start
conditions, the steps injected in the APT tick, the sums, the evaluation.  Loaded by the
owner (flight.apt_calib.FsmCalOwner) when a calibration is armed in TRACK and released
when it has ended (issue 11: a tracking APT holds none of this code nor its state).
"""

import math
from array import array

from flight import lazy
from flight.apt_calib import (ABORTED, EV_APT_CAL_ABORTED, EV_APT_CAL_START, HALF,
                              RUN_ABORT, RUN_DONE, RUN_DRAIN, RUN_IDLE, RUN_INJECT, RUNNING)
from hal.compat import const
from hal.interfaces import APT_IDLE, APT_TRACK, FSM_CODE_MAX, FSM_LSB_RAD

GAP_MAX = const(5)  # invalid frames in a row that abort (50 ms: the spot is gone, not a glitch)
# The mirror command stays this far inside the code range with the step added (the law
# may move it by its slew limit, ≤ 1500 µrad ≈ 1400 codes, between two frames).
_RANGE_MARGIN = const(2048)
# Task runs over which the mirror's drift is measured before a start: one second at the
# task's 10 Hz (the ADCS's 1 s time constant: a slew after an offload shows as a drift of
# hundreds of µrad/s; the platform jitter moves the mirror by ~30 µrad RMS in a second).
DRIFT_N = const(10)
_WHY = ("", "spot lost", "left TRACK", "session ended", "mirror command failed",
        "mirror near its range", "timeout", "no heap for the fit")
_W_LOST, _W_TRACK, _W_SESSION, _W_FSM, _W_RANGE, _W_TIMEOUT = 1, 2, 3, 4, 5, 6  # in _WHY
_W_MEMORY = const(7)  # the fit could not be loaded (MODULE_LOAD_FAILED, flight/lazy.py)


class FsmCal:
    """A calibration of one :class:`flight.apt.Apt` (``apt.cal``), armed or running: built
    by flight.apt_calib.FsmCalOwner, which carries its outcome and counts in and out."""

    def __init__(self, ctx, apt, period_us=100000):
        self.ctx = ctx
        self.apt = apt
        self.period_us = period_us
        apt.cal = self
        # Read by the APT tick: the step added to the mirror command (codes) and the
        # spot move it predicts for the frame that shows it (q6 px).
        self.d_x = self.d_y = 0
        self.ff_x = self.ff_y = 0
        self.run = RUN_IDLE
        self.busy = False  # frame() has work: the APT tick calls it only then
        self.why = 0
        self.sums = array("i", [0] * (2 * HALF))
        self.sent = self.n_steps = self.amp = self.half = 0
        self._quarter = 4
        # Signs of the step of the last command, and of the two before it; mirror codes
        # of the last two commands and the spot of the last frame (the previous pair).
        self._sx = self._sy = self._s1x = self._s1y = self._s2x = self._s2y = 0
        self._v1x = self._v1y = self._v2x = self._v2y = self._y1x = self._y1y = 0
        self._seq = self._ticks = 0  # consecutive frames with a command each, tick count
        self._inv = self._frames0 = self._fsm_err0 = 0
        self.requested = False
        self._tried = False  # an automatic attempt was made this session
        self._trigger = 0
        self.state = 0  # NONE (the owner carries its own in)
        self.accepted = self.refused = self.aborted = 0
        self.raw = array("i", [0] * 6)  # last result as HK_DIAG raw values
        # Mirror commands of the last DRIFT_N task runs in TRACK (a ring): the start's drift
        self._drift_x = array("i", [0] * DRIFT_N)
        self._drift_y = array("i", [0] * DRIFT_N)
        self._drift_n = 0
        self._listener = self._load_params  # (one bound method: close() finds it)
        self._load_params()
        ctx.params.listeners.append(self._listener)  # last: a MemoryError leaves none

    def close(self):
        """Dropped by its owner: nothing may refer to it after (its parameter listener)."""
        ls = self.ctx.params.listeners
        if self._listener in ls:
            ls.remove(self._listener)

    # ------------------------------------------------------------------ parameters
    def _load_params(self, name=None, value=None):
        if name is not None and not name.startswith("apt_"):
            return
        p = self.ctx.params
        self._auto = p["apt_cal_auto"]
        self._valid = p["apt_cal_valid"]
        self._settle_ticks = int(p["apt_cal_settle_s"] * 1e6 / self.apt.period_us)
        self._sign_x = -1 if p["apt_sign_x"] < 0 else 1
        self._sign_y = -1 if p["apt_sign_y"] < 0 else 1
        self._ifov = p["apt_ifov_urad"]
        self._band = int(p["apt_offload_frac"] * FSM_CODE_MAX)
        self._drift_max = int(p["apt_cal_drift_max_urad_s"] * 1e-6 / FSM_LSB_RAD) + 1
        # Feed-forward matrix (q6 px per code, ×1024): the spot move of one code with the
        # current parameters, −64·LSB/ifov·S·Rw(θ)·diag(g).
        k = -64.0 * FSM_LSB_RAD * 1e6 / self._ifov * 1024.0
        t = p["apt_cam_rot_mrad"] * 1e-3
        c = math.cos(t)
        s = math.sin(t)
        gx = p["apt_fsm_gain_x"]
        gy = p["apt_fsm_gain_y"]
        self._f11 = int(k * self._sign_x * c * gx)
        self._f12 = int(k * self._sign_x * s * gy)
        self._f21 = int(-k * self._sign_y * s * gx)
        self._f22 = int(k * self._sign_y * c * gy)

    # ------------------------------------------------------------------ the APT tick
    def frame(self, dx, dy):
        """A valid frame (spot − reference, q6 px), before the law's step: sets the
        feed-forward for this frame and the step of the command that follows."""
        sx = self._sx
        sy = self._sy
        a = self.amp
        self.ff_x = ((self._f11 * sx + self._f12 * sy) * a) >> 10
        self.ff_y = ((self._f21 * sx + self._f22 * sy) * a) >> 10
        r = self.run
        if r != RUN_INJECT and r != RUN_DRAIN:
            if sx or sy:
                self._no_step()  # (the feed-forward of its last step: one more frame)
            else:
                self.busy = False  # no step, no feed-forward: nothing until the next run
            return
        apt = self.apt
        if apt.state != APT_TRACK:
            self._stop(_W_TRACK)
            return
        inv = apt.invalid_frames
        if inv - self._inv >= GAP_MAX:
            self._stop(_W_LOST)
            return
        self._inv = inv
        t = apt.frames + apt.stale_frames
        if t - self._ticks != 1:  # a frame without a command between: pairs restart
            self._seq = 0
        self._ticks = t
        law = apt.law
        vx = (law.u_x >> 8) + self.d_x  # what the frame saw: the last command...
        vy = (law.u_y >> 8) + self.d_y
        if self._seq >= 2 and self._s2x:  # ... and the one before (three in this run)
            self._accumulate(dx - self._y1x, dy - self._y1y, vx, vy, sx, sy)
        elif self._seq < 2:
            self._seq += 1
        self._v2x = self._v1x
        self._v2y = self._v1y
        self._v1x = vx
        self._v1y = vy
        self._y1x = dx
        self._y1y = dy
        if r == RUN_DRAIN:  # this frame showed the last step
            self.run = RUN_DONE
            self._no_step()
            return
        lim = FSM_CODE_MAX - _RANGE_MARGIN
        if not (-lim < vx < lim and -lim < vy < lim):
            self._stop(_W_RANGE)
            return
        k = self.sent
        self.half = HALF if k + k >= self.n_steps else 0
        self._s2x = self._s1x
        self._s2y = self._s1y
        self._s1x = sx
        self._s1y = sy
        sx = 1 - (k & 2)  # (-1)^level, each level held for two commands
        sy = sx if (k // self._quarter) & 1 == 0 else -sx
        self._sx = sx
        self._sy = sy
        self.d_x = sx * a
        self.d_y = sy * a
        k += 1
        self.sent = k
        if k >= self.n_steps:
            self.run = RUN_DRAIN

    def _accumulate(self, ey_x, ey_y, vx, vy, sx, sy):
        """One pair of consecutive frames into the sums (see HALF): the change of the
        spot, of the last two commands, and of their steps' signs (the instruments)."""
        sm = self.sums
        b = self.half
        ev0x = vx - self._v1x
        ev0y = vy - self._v1y
        ev1x = self._v1x - self._v2x
        ev1y = self._v1y - self._v2y
        w0 = (sx - self._s1x) >> 1
        w1 = (sy - self._s1y) >> 1
        if w0 or w1:  # the last command changed the step
            sm[b] += ey_x * w0
            sm[b + 1] += ey_x * w1
            sm[b + 4] += ey_y * w0
            sm[b + 5] += ey_y * w1
            sm[b + 8] += ev0x * w0
            sm[b + 9] += ev0x * w1
            sm[b + 12] += ev0y * w0
            sm[b + 13] += ev0y * w1
            sm[b + 16] += ev1x * w0
            sm[b + 17] += ev1x * w1
            sm[b + 20] += ev1y * w0
            sm[b + 21] += ev1y * w1
        w0 = (self._s1x - self._s2x) >> 1
        w1 = (self._s1y - self._s2y) >> 1
        if w0 or w1:  # the command before the last changed it
            sm[b + 2] += ey_x * w0
            sm[b + 3] += ey_x * w1
            sm[b + 6] += ey_y * w0
            sm[b + 7] += ey_y * w1
            sm[b + 10] += ev0x * w0
            sm[b + 11] += ev0x * w1
            sm[b + 14] += ev0y * w0
            sm[b + 15] += ev0y * w1
            sm[b + 18] += ev1x * w0
            sm[b + 19] += ev1x * w1
            sm[b + 22] += ev1y * w0
            sm[b + 23] += ev1y * w1

    def _no_step(self):
        self._sx = self._sy = self._s1x = self._s1y = self._s2x = self._s2y = 0
        self.d_x = self.d_y = 0

    def _stop(self, why):
        self.run = RUN_ABORT
        self.why = why
        self._no_step()

    # ------------------------------------------------------------------ the 10 Hz task
    def update(self):
        apt = self.apt
        r = self.run
        if r == RUN_INJECT or r == RUN_DRAIN:
            if apt.state == APT_IDLE:
                self._stop(_W_SESSION)
            elif apt.state != APT_TRACK:
                self._stop(_W_TRACK)
            elif apt.bad_run >= GAP_MAX:
                self._stop(_W_LOST)
            elif apt.fsm_errors != self._fsm_err0:
                self._stop(_W_FSM)
            elif apt.frames - self._frames0 > 2 * self.n_steps + 100:
                self._stop(_W_TIMEOUT)
            r = self.run
        if r == RUN_ABORT:
            self._finish_abort()
            return
        if r == RUN_DONE:
            self._evaluate()
            return
        if r != RUN_IDLE:
            return
        if apt.state == APT_IDLE:  # no session: the next one may calibrate again
            self._tried = False
            self.requested = False
        if apt.state != APT_TRACK:
            self._drift_n = 0
            return
        law = apt.law
        ux = law.u_x >> 8
        uy = law.u_y >> 8
        # The mirror's drift over the last second (the ring's oldest entry, once full).
        i = self._drift_n % DRIFT_N
        dx = ux - self._drift_x[i]
        dy = uy - self._drift_y[i]
        self._drift_x[i] = ux
        self._drift_y[i] = uy
        full = self._drift_n >= DRIFT_N
        self._drift_n = DRIFT_N + i + 1 if full else self._drift_n + 1
        if not self.requested:
            if self._tried or self._auto == 0 or (self._auto == 1 and self._valid):
                return
        if apt.state_ticks < self._settle_ticks or not apt.valid:
            return
        b = self._band
        if not (-b < ux < b and -b < uy < b):
            return  # wait: the ADCS offloads the mirror
        d = self._drift_max
        if not (full and -d < dx < d and -d < dy < d):
            return  # wait: the platform still slews (an offload) under the mirror
        self._start()

    def _start(self):
        apt = self.apt
        p = self.ctx.params
        self._trigger = 1 if self.requested else 0
        self.requested = False
        self._tried = True
        n = p["apt_cal_steps"]
        self.n_steps = (n + 15) & ~15
        self._quarter = self.n_steps >> 2
        self.amp = p["apt_cal_step_codes"]
        sm = self.sums
        for i in range(2 * HALF):
            sm[i] = 0
        self.sent = 0
        self._seq = 0
        self._drift_n = 0  # (the ring restarts after this run)
        self._no_step()
        self._inv = apt.invalid_frames
        self._frames0 = apt.frames
        self._fsm_err0 = apt.fsm_errors
        self.state = RUNNING
        self.run = RUN_INJECT
        self.busy = True
        self.ctx.emit(EV_APT_CAL_START, [self._trigger, self.amp, self.n_steps],
                      "%d steps of +-%d codes" % (self.n_steps, self.amp))

    def _finish_abort(self):
        self.run = RUN_IDLE
        self.state = ABORTED
        self.aborted += 1
        why = _WHY[self.why]
        self.ctx.emit(EV_APT_CAL_ABORTED, [why, self.sent], "%s after %d of %d steps" % (
            why, self.sent, self.n_steps))

    # ------------------------------------------------------------------ the estimate
    def _evaluate(self):
        # The fit's code is loaded for this and released after (flight/lazy.py).
        self.run = RUN_IDLE
        try:
            fit = lazy.load("flight.apt_calib_fit", self.ctx.emit)
        except lazy.LoadFailed:
            self.why = _W_MEMORY
            self._finish_abort()
            return
        try:
            fit.evaluate(self)  # accepted (parameters set) or refused: events, raw
        finally:
            lazy.release("flight.apt_calib_fit")
