"""APT fine pointing (DESIGN §3.3): beacon-camera spot deviation → fast steering mirror.

States: IDLE (no session) → SEARCH (binned full frame, strip by strip) → ACQUIRE (32 px
window following the spot while the loop pulls it to the boresight) → TRACK (16 px window
on the boresight) → LOST (beacon gone: mirror held, 32 px window on the boresight) →
ACQUIRE again when it returns, or SEARCH after ``apt_lost_timeout_s``; a SEARCH longer
than ``apt_search_timeout_s`` ends the session.

The camera sees the beacon *behind* the FSM, i.e. the residual ``pointing error − FSM
deflection``; the loop drives the spot onto the boresight pixel (``apt_ref_x/y``).

This module is the state machine, the session hooks, the ADCS feedback and the
telemetry; the pixel work is :mod:`flight.apt_pixels` (functions over the frame
buffers), the fixed-point control law :mod:`flight.apt_control`.

Hot path (one call of :meth:`Apt.tick` per 10 ms frame in ACQUIRE/TRACK): integer maths
only, preallocated frame buffers, no tuples, no floats, no events — it allocates nothing.
Auto-exposure keeps the spot peak inside a band by stepping along a fixed exposure ladder.
"""

from array import array

from flight import apt_pixels as px
from flight import events
from flight.apt_control import FSM_LSB_RAD, U_MAX, ControlLaw
from hal.compat import const
from hal.interfaces import (APT_ACQUIRE, APT_IDLE, APT_LOST, APT_SEARCH, APT_STATE_NAMES,
                            APT_TRACK, SW_CAMERA, SW_LASER_525, SW_LASER_850)

IDLE = APT_IDLE
SEARCH = APT_SEARCH
ACQUIRE = APT_ACQUIRE
TRACK = APT_TRACK
LOST = APT_LOST
STATE_NAMES = APT_STATE_NAMES

EV_APT_STATE = const(0x50)
EV_APT_FSM_FAULT = const(0x51)
EV_APT_CAMERA_ERROR = const(0x52)
EV_APT_OFFLOAD = const(0x53)
EV_APT_BEACON_TIMEOUT = const(0x54)
events.register(EV_APT_STATE, "APT_STATE")
events.register(EV_APT_FSM_FAULT, "APT_FSM_FAULT")
events.register(EV_APT_CAMERA_ERROR, "APT_CAMERA_ERROR")
events.register(EV_APT_OFFLOAD, "APT_OFFLOAD_REQUEST")
events.register(EV_APT_BEACON_TIMEOUT, "APT_BEACON_TIMEOUT")

SEARCH_BIN = const(8)  # 1280x1024 → 160x128 binned pixels
SEARCH_STRIP_ROWS = const(16)  # binned rows per tick: 8 ticks per full frame
ACQ_WIN = const(32)
TRACK_WIN = const(16)
DARK_FRAMES = const(8)  # dark frames of the TRACK window at session start
DARK_HOT_DN = const(8)  # excess over the window median at 9 ms that marks a hot pixel
DARK_MAX_HOT = const(16)  # hot pixels remembered in the TRACK window
REJECT_MAX = const(128)  # false-target cells remembered per SEARCH strip

# Exposure ladder (µs): steps of ~2**(1/4), 20 µs .. 9 ms.  A fixed ladder keeps the
# number of distinct settings small (the sensor re-programs, the simulator caches).
EXPOSURES_US = (20, 24, 28, 34, 40, 48, 57, 67, 80, 95, 113, 135, 160, 190, 226, 269, 320,
                381, 453, 538, 640, 761, 905, 1076, 1280, 1522, 1810, 2153, 2560, 3044,
                3620, 4305, 5120, 6089, 7241, 9000)
_EXP_START = const(24)  # 1280 µs: the exposure a session starts with
_DARK_EXP_US = 9000  # the dark frames' exposure (the ladder's last): hot-pixel excess unit


class Apt:
    name = "apt"

    def __init__(self, app, camera, fsm, power, period_us=10000):
        self.app = app
        self.camera = camera
        self.fsm = fsm
        self.power = power
        self.period_us = period_us
        self.state = IDLE
        self.handlers = {"APT_SET_GAINS": self.cmd_set_gains}
        self.law = ControlLaw()
        # Frame buffers (preallocated once).
        self._search_buf = array("H", [0] * (160 * SEARCH_STRIP_ROWS))
        self._acq_buf = array("H", [0] * (ACQ_WIN * ACQ_WIN))
        self._trk_buf = array("H", [0] * (TRACK_WIN * TRACK_WIN))
        self._meta = array("i", [0, 0, 0])
        self._cen = array("i", [0] * px.CEN_LEN)  # centroid results
        self._du = array("i", [0, 0])  # mirror move in q6 px (ACQUIRE's target check)
        # Spot (ints).
        self.spot_x = 0  # last spot, q6 px
        self.spot_y = 0
        self.peak = 0
        self.bg = 0
        self.spot_px = 0
        self.valid = False
        self.win_x0 = 0
        self.win_y0 = 0
        self.strip = 0
        self.best_peak = 0
        self.best_x = 0
        self.best_y = 0
        self.good_run = 0
        self.bad_run = 0
        self.state_ticks = 0
        self.exp_idx = _EXP_START
        self._ae_wait = 0
        # Counters for housekeeping.
        self.frames = 0
        self.valid_frames = 0
        self.invalid_frames = 0
        self.stale_frames = 0
        self.camera_errors = 0
        self.fsm_errors = 0
        self.acquisitions = 0
        self.losses = 0
        self.offload_requests = 0
        self.saturated = 0
        self.laser_on = False
        self.on_laser = None  # fn(on): the framer's transmitter follows the laser
        self.track_since_s = None
        self._dark_min = array("H", [0] * (TRACK_WIN * TRACK_WIN))
        self._dark_n = DARK_FRAMES
        self._dark_skip = 0
        self._saved_exp = _EXP_START
        self._hot = []  # TRACK window hot pixels: [index, excess DN at 9 ms, ...]
        self.hot_pixels = 0
        # SEARCH cells of false targets (hot pixels, glints), this session: per strip, the
        # indices in the strip buffer, masked before the strip's maximum is taken.
        self.rejected = [[] for _ in range(1024 // (SEARCH_STRIP_ROWS * SEARCH_BIN))]  # type: list
        self.rejections = 0
        self.verified = False  # ACQUIRE's target moved against the mirror: a real beacon
        self._acq_s0x = None
        self._acq_s0y = 0
        self._acq_u0x = 0
        self._acq_u0y = 0

    # ------------------------------------------------------------------ parameters
    def define_params(self, p):
        p.define("apt_kp", "float", 0.0, 0.0, 2.0, "1",
                 "proportional gain (per frame, velocity form)")
        p.define("apt_ki", "float", 98.0, 0.0, 200.0, "1/s", "integral gain")
        p.define("apt_kii", "float", 7200.0, 0.0, 20000.0, "1/s^2",
                 "rate-integrator gain (type-2 loop: ramps without lag)")
        p.define("apt_ref_x", "float", 640.0, 0.0, 1279.0, "px", "boresight column")
        p.define("apt_ref_y", "float", 512.0, 0.0, 1023.0, "px", "boresight row")
        p.define("apt_ifov_urad", "float", 100.0, 10.0, 1000.0, "urad/px", "camera pixel angle")
        p.define("apt_sign_x", "int", 1, -1, 1, "", "camera x to FSM x sign (+1/-1)")
        p.define("apt_sign_y", "int", 1, -1, 1, "", "camera y to FSM y sign (+1/-1)")
        p.define("apt_slew_urad", "float", 500.0, 1.0, 1500.0, "urad/frame",
                 "largest mirror step per frame")
        p.define("apt_snr_min_dn", "int", 20, 2, 1000, "DN", "least spot peak above background")
        p.define("apt_search_snr_dn", "int", 6, 1, 500, "DN",
                 "least peak above background in the 8x8-binned SEARCH frame (bins average: "
                 "a hot pixel stays below ~4 DN at the SEARCH exposures)")
        p.define("apt_thr_min_dn", "int", 12, 1, 500, "DN",
                 "least centroid threshold above background")
        p.define("apt_max_spot_px", "int", 80, 1, 1024, "px", "largest valid spot (pixels)")
        p.define("apt_min_spot_px", "int", 4, 1, 64, "px",
                 "smallest valid spot (pixels): rejects single hot pixels")
        p.define("apt_lost_frames", "int", 20, 1, 1000, "frames",
                 "invalid frames in TRACK before LOST")
        p.define("apt_track_frames", "int", 10, 1, 1000, "frames",
                 "consecutive good frames near boresight before TRACK")
        p.define("apt_track_err_px", "float", 2.0, 0.1, 8.0, "px", "TRACK entry error")
        p.define("apt_lost_timeout_s", "float", 10.0, 0.5, 600.0, "s", "LOST before SEARCH")
        p.define("apt_search_timeout_s", "float", 120.0, 1.0, 3600.0, "s",
                 "SEARCH before the session ends")
        p.define("apt_peak_lo_dn", "int", 250, 10, 1000, "DN", "auto-exposure band low")
        p.define("apt_peak_hi_dn", "int", 750, 20, 1022, "DN", "auto-exposure band high")
        p.define("apt_offload_frac", "float", 0.5, 0.05, 0.95, "",
                 "FSM range fraction that triggers an offload request")
        p.listeners.append(self._param_changed)
        self._load_params()

    def _param_changed(self, name, value):
        if name is None or name.startswith("apt_"):
            self._load_params()

    def _load_params(self):
        """The parameters the tick reads, cached in the units it works in (refreshed by
        the parameter listener: parameters are read this one way)."""
        p = self.app.params
        self._ref_x = int(p["apt_ref_x"] * 64 + 0.5)
        self._ref_y = int(p["apt_ref_y"] * 64 + 0.5)
        self.law.configure(p["apt_kp"], p["apt_ki"], p["apt_kii"], self.period_us * 1e-6,
                           p["apt_slew_urad"], p["apt_ifov_urad"], p["apt_sign_x"],
                           p["apt_sign_y"])
        self._snr_min = p["apt_snr_min_dn"]
        self._thr_min = p["apt_thr_min_dn"]
        self._max_spot_px = p["apt_max_spot_px"]
        self._min_spot_px = p["apt_min_spot_px"]
        self._lost_frames = p["apt_lost_frames"]
        self._track_frames = p["apt_track_frames"]
        self._track_err_q6 = int(p["apt_track_err_px"] * 64)
        self._peak_lo = p["apt_peak_lo_dn"]
        self._peak_hi = p["apt_peak_hi_dn"]

    def cmd_set_gains(self, args):
        self.app.params.set("apt_kp", args["kp"])
        self.app.params.set("apt_ki", args["ki"])
        return True, None, {"kp": args["kp"], "ki": args["ki"]}

    # ------------------------------------------------------------------ session hooks
    def tasks(self):
        from flight.scheduler import Task

        return [Task("apt", self.period_us, self.tick, budget_us=self.period_us // 2,
                     critical=False, max_faults=5),
                Task("adcs_feedback", 200000, self.feedback, offset_us=3000,
                     budget_us=20000)]

    def start_session(self):
        self._load_params()
        self.power.set(SW_CAMERA, True)
        self.camera.init()
        self.camera.set_gain(1.0)
        self._set_exposure(self.exp_idx)
        self.fsm.init()
        self.law.reset()
        self.fsm.set_codes(0, 0)
        self.fsm.enable(True)
        self.power.set(SW_LASER_525, True)  # our beacon for the ground station
        for lst in self.rejected:
            del lst[:]
        self._dark_n = -1  # dark calibration of the TRACK window first (see _dark_step)
        self._enter(SEARCH)

    def stop_session(self):
        self._laser(False)
        self._park()
        try:
            self.power.set(SW_LASER_525, False)
            self.power.set(SW_CAMERA, False)
        finally:
            self._enter(IDLE)

    def safe(self):
        self.stop_session()

    def _park(self):
        self.law.reset()
        try:
            self.fsm.enable(False)  # commands (0, 0) then drops the high voltage
        except Exception:
            self.fsm_errors += 1

    def _laser(self, on):
        if on == self.laser_on:
            return
        try:
            self.power.set(SW_LASER_850, on)
            self.laser_on = on
            if self.on_laser is not None:
                self.on_laser(on)
        except Exception as e:
            self.app.emit(events.SEV_ERROR, events.EV_POWER_SWITCH_FAULT, "laser850: %r" % (e,))

    def _enter(self, state):
        old = self.state
        self.state = state
        self.state_ticks = 0
        self.good_run = 0
        self.bad_run = 0
        self.strip = 0
        self.best_peak = 0
        if state == TRACK:
            self.verified = True  # it reached the boresight under control: a real beacon
            self.acquisitions += 1
            self.track_since_s = self.app.now_s()
            self._laser(True)  # downlink only while tracking (DESIGN §3.2)
        elif old == TRACK:
            self.track_since_s = None
            if state == LOST:
                self.losses += 1
            self._laser(False)
        if state == ACQUIRE and old != LOST:
            self.verified = False
            self._acq_s0x = None
        if state == LOST:  # window on the boresight (ACQUIRE: on the spot just found)
            self._center_window(self._ref_x, self._ref_y, ACQ_WIN)
        if state != old:  # (SAFE at boot stops an idle APT: no "IDLE -> IDLE" event)
            self.app.emit(events.SEV_INFO, EV_APT_STATE, "%s -> %s" % (STATE_NAMES[old],
                                                                       STATE_NAMES[state]))

    def _set_exposure(self, idx):
        if idx < 0:
            idx = 0
        elif idx >= len(EXPOSURES_US):
            idx = len(EXPOSURES_US) - 1
        self.exp_idx = idx
        self.camera.set_exposure(EXPOSURES_US[idx])

    def _center_window(self, cx_q6, cy_q6, size):
        x0 = (cx_q6 >> 6) - (size >> 1)
        y0 = (cy_q6 >> 6) - (size >> 1)
        wmax = self.camera.width - size
        hmax = self.camera.height - size
        self.win_x0 = 0 if x0 < 0 else (wmax if x0 > wmax else x0)
        self.win_y0 = 0 if y0 < 0 else (hmax if y0 > hmax else y0)

    # ------------------------------------------------------------------ the 100 Hz tick
    def tick(self):
        st = self.state
        if st == IDLE:
            return
        self.state_ticks += 1
        if self.fsm.fault():
            self._fsm_fault()
            return
        if st == SEARCH:
            if self._dark_n < DARK_FRAMES:
                self._dark_step()
            else:
                self._search_step()
            return
        size = TRACK_WIN if st == TRACK else ACQ_WIN
        buf = self._trk_buf if st == TRACK else self._acq_buf
        cam = self.camera
        try:
            if not cam.frame_ready():
                self.stale_frames += 1
                return
            ok = cam.read_roi(self.win_x0, self.win_y0, size, size, 1, buf, self._meta)
        except Exception:
            self.camera_errors += 1
            ok = False
        self.frames += 1
        if ok:
            if size == TRACK_WIN:
                px.patch_hot(buf, self._hot, EXPOSURES_US[self.exp_idx], _DARK_EXP_US)
            ok = self._centroid(buf, size)
        if ok:
            self.valid_frames += 1
            self.bad_run = 0
            self._control()
            self._auto_exposure()
            if st == TRACK:
                return
            if st == LOST:
                self._enter(ACQUIRE)
                return
            # ACQUIRE: follow the spot, go to TRACK once it sits on the boresight.  A target
            # that does not follow the mirror (hot pixel, glint) never gets there: it drives
            # the mirror to a stop or times out, and is rejected.
            if self._acquire_failed():
                return
            ex = self.spot_x - self._ref_x
            ey = self.spot_y - self._ref_y
            te = self._track_err_q6
            if -te < ex < te and -te < ey < te:
                self.good_run += 1
                if self.good_run >= self._track_frames:
                    self._center_window(self._ref_x, self._ref_y, TRACK_WIN)
                    self._enter(TRACK)
                    return
            else:
                self.good_run = 0
            self._center_window(self.spot_x, self.spot_y, ACQ_WIN)
            return
        self.invalid_frames += 1
        self.bad_run += 1
        self.valid = False
        if st == TRACK:
            if self.bad_run >= self._lost_frames:
                self._enter(LOST)
        elif st == ACQUIRE:
            if self.bad_run >= self._lost_frames:
                self._enter(SEARCH)
            elif self.bad_run >= 3 and self.state_ticks == self.bad_run:
                # Not one valid frame since SEARCH picked it: the candidate is no spot
                # (a hot pixel is a single pixel at full resolution).  Skip it from now on.
                self._reject_candidate("no spot at full resolution")
        elif st == LOST:
            if self.state_ticks * self.period_us >= self.app.params["apt_lost_timeout_s"] * 1e6:
                self._enter(SEARCH)

    def _centroid(self, buf, size):
        """The spot in a window at (win_x0, win_y0): sets spot_x/spot_y (q6 sensor px,
        when valid), peak, bg, spot_px; returns validity (see apt_pixels.centroid)."""
        o = self._cen
        ok = px.centroid(buf, size, self.win_x0, self.win_y0, self._snr_min, self._thr_min,
                         self._min_spot_px, self._max_spot_px, o)
        self.peak = o[px.CEN_PEAK]
        self.bg = o[px.CEN_BG]
        self.spot_px = o[px.CEN_PX]
        if ok:
            self.spot_x = o[px.CEN_X]
            self.spot_y = o[px.CEN_Y]
            self.valid = True
        return ok

    def _control(self):
        law = self.law
        law.step(self.spot_x - self._ref_x, self.spot_y - self._ref_y)
        try:
            self.fsm.set_codes(law.u_x >> 8, law.u_y >> 8)
        except Exception:
            self.fsm_errors += 1

    def _acquire_failed(self):
        """ACQUIRE's target check: the beacon spot moves against the mirror, a hot pixel
        or a glint on the sensor does not.

        From the first valid frame, the mirror's move ``du`` (in px) and the spot's move
        ``ds`` are compared once ``|du|`` exceeds 3 px: a spot that moved less than 30 %
        of that is static — rejected, mirror re-centred, SEARCH resumes without it; a
        spot that moved at least half of it the opposite way is *verified* (from then on
        its error goes to the ADCS even before TRACK, which brings a target beyond the
        mirror's range within reach).
        """
        law = self.law
        if self._acq_s0x is None:
            self._acq_s0x = self.spot_x
            self._acq_s0y = self.spot_y
            self._acq_u0x = law.u_x
            self._acq_u0y = law.u_y
            return False
        if self.verified:
            return False
        du = self._du
        law.mirror_px_q6(law.u_x - self._acq_u0x, law.u_y - self._acq_u0y, du)
        dux = du[0]
        duy = du[1]
        du2 = dux * dux + duy * duy
        if du2 < (3 << 6) * (3 << 6):
            return False
        dsx = self.spot_x - self._acq_s0x
        dsy = self.spot_y - self._acq_s0y
        ds2 = dsx * dsx + dsy * dsy
        if 100 * ds2 >= 25 * du2 and dsx * dux + dsy * duy < 0:
            self.verified = True
            return False
        if 100 * ds2 >= 9 * du2:
            return False  # moving, not yet conclusive
        self._reject_candidate("it does not follow the mirror")
        law.reset()
        law.u_x = self._acq_u0x
        law.u_y = self._acq_u0y
        try:
            self.fsm.set_codes(law.u_x >> 8, law.u_y >> 8)
        except Exception:
            self.fsm_errors += 1
        return True

    def _looks_like_spot(self, cx, cy):
        """A binned SEARCH candidate seen at full resolution (one 16x16 read, rare: only
        for a bin above the search threshold).  In the binned frame the strongest hot
        pixels rival a faint beacon; at full resolution a hot pixel is a single pixel
        and fails the centroid's spot test.  A failing cell is remembered (``rejected``)."""
        x0 = cx * SEARCH_BIN + SEARCH_BIN // 2 - TRACK_WIN // 2
        y0 = cy * SEARCH_BIN + SEARCH_BIN // 2 - TRACK_WIN // 2
        wmax = self.camera.width - TRACK_WIN
        hmax = self.camera.height - TRACK_WIN
        x0 = 0 if x0 < 0 else (wmax if x0 > wmax else x0)
        y0 = 0 if y0 < 0 else (hmax if y0 > hmax else y0)
        buf = self._trk_buf
        try:
            ok = self.camera.read_roi(x0, y0, TRACK_WIN, TRACK_WIN, 1, buf, self._meta)
        except Exception:
            self.camera_errors += 1
            return True  # cannot tell: let ACQUIRE judge
        if not ok:
            return True
        self.win_x0 = x0
        self.win_y0 = y0
        if self._centroid(buf, TRACK_WIN):
            return True
        self._remember_rejected(cx, cy)
        return False

    def _remember_rejected(self, cx, cy):
        self.rejections += 1
        strip = cy // SEARCH_STRIP_ROWS
        if 0 <= strip < len(self.rejected):
            lst = self.rejected[strip]
            i = (cy % SEARCH_STRIP_ROWS) * 160 + cx
            if len(lst) < REJECT_MAX and i not in lst:
                lst.append(i)

    def _reject_candidate(self, why):
        self._remember_rejected(self.best_x // SEARCH_BIN, self.best_y // SEARCH_BIN)
        self.app.emit(events.SEV_WARN, EV_APT_STATE, "target at (%d, %d) px rejected: %s"
                      % (self.best_x, self.best_y, why), [self.best_x, self.best_y])
        self._enter(SEARCH)

    def _auto_exposure(self):
        if self._ae_wait > 0:
            self._ae_wait -= 1
            return
        amp = self.peak
        if amp >= self.camera.pixel_max - 1:
            self.saturated += 1
        if amp > self._peak_hi:
            self._set_exposure(self.exp_idx - 1)
            self._ae_wait = 3  # the change shows a frame or two later
        elif amp < self._peak_lo and self.exp_idx < len(EXPOSURES_US) - 1:
            self._set_exposure(self.exp_idx + 1)
            self._ae_wait = 3

    # ------------------------------------------------------------------ hot pixels
    def _dark_step(self):
        """Dark calibration of the TRACK window, at session start, before the search.

        The boresight window is dark then (the spot is wherever the coarse pointing put
        it).  DARK_FRAMES frames at the longest exposure; their per-pixel minimum marks
        the hot pixels (apt_pixels.classify_dark), with their excess.  In TRACK that
        excess, scaled to the exposure in use, is subtracted before the centroid: a hot
        pixel beside the spot would otherwise pull the centroid by a tenth of a pixel
        (10 µrad) at long exposures.  (Replacing the pixel by its neighbours' mean
        instead biases the centroid when the hot pixel sits on the spot.)
        """
        if self._dark_n < 0:
            px.dark_reset(self._dark_min)
            self._saved_exp = self.exp_idx
            self._set_exposure(len(EXPOSURES_US) - 1)
            self._dark_n = 0
            self._dark_skip = 1  # the new exposure shows on a following frame
            return
        if self._dark_skip:
            self._dark_skip -= 1
            return
        x0 = (self._ref_x >> 6) - TRACK_WIN // 2
        y0 = (self._ref_y >> 6) - TRACK_WIN // 2
        buf = self._trk_buf
        try:
            ok = self.camera.read_roi(x0, y0, TRACK_WIN, TRACK_WIN, 1, buf, self._meta)
        except Exception:
            self.camera_errors += 1
            ok = False
        if ok:
            px.dark_accumulate(buf, self._dark_min)
        self._dark_n += 1
        if self._dark_n < DARK_FRAMES:
            return
        self._hot = px.classify_dark(self._dark_min, TRACK_WIN, DARK_HOT_DN, DARK_MAX_HOT)
        self.hot_pixels = len(self._hot) // 2
        self._set_exposure(self._saved_exp)

    # ------------------------------------------------------------------ SEARCH
    def _search_step(self):
        """One horizontal strip of the 8x8-binned full frame per tick (8 ticks a frame)."""
        cam = self.camera
        buf = self._search_buf
        y0 = self.strip * SEARCH_STRIP_ROWS * SEARCH_BIN
        try:
            ok = cam.read_roi(0, y0, 160, SEARCH_STRIP_ROWS, SEARCH_BIN, buf, self._meta)
        except Exception:
            self.camera_errors += 1
            ok = False
        self.frames += 1
        if ok:
            bg = px.strip_background(buf, self.rejected[self.strip])
            mx = max(buf)
            if mx > self.best_peak:
                snr = self.app.params["apt_search_snr_dn"]
                tries = 0
                while mx - bg >= snr and mx > self.best_peak and tries < 8:
                    i = px.index_of(buf, mx)
                    cx = i % 160
                    cy = (y0 // SEARCH_BIN) + i // 160
                    if not self._looks_like_spot(cx, cy):
                        buf[i] = bg  # mask the rejected target, look again
                        mx = max(buf)
                        tries += 1
                        continue
                    self.best_peak = mx
                    self.best_x = cx * SEARCH_BIN + SEARCH_BIN // 2
                    self.best_y = y0 + (i // 160) * SEARCH_BIN + SEARCH_BIN // 2
                    break
        self.strip += 1
        if self.strip * SEARCH_STRIP_ROWS * SEARCH_BIN >= cam.height:
            self.strip = 0
            if self.best_peak:
                self._enter(ACQUIRE)
                self._center_window(self.best_x << 6, self.best_y << 6, ACQ_WIN)
                return
            if self.state_ticks * self.period_us >= \
                    self.app.params["apt_search_timeout_s"] * 1e6:
                self.app.emit(events.SEV_WARN, EV_APT_BEACON_TIMEOUT,
                              "no beacon: ending the session")
                self.app.modes.request("STANDBY", "beacon not found")
                return
            # A whole frame without a spot: try a longer exposure next time, up to
            # ~4.3 ms.  There the strongest hot pixels (1e6 e-/s) reach ~6 DN in the 8x8
            # binned frame, the search threshold, while a beacon at 18 deg in fog gives
            # ~8 DN; the few hot pixels that still pass are told apart by ACQUIRE's first
            # frames at full resolution (a hot pixel is no spot: rejected in 3 frames).
            if EXPOSURES_US[self.exp_idx] < 4305:
                self._set_exposure(self.exp_idx + 2)

    def _fsm_fault(self):
        self.app.emit(events.SEV_ERROR, EV_APT_FSM_FAULT, "FSM driver fault: parked")
        self._laser(False)
        self._park()
        self._enter(IDLE)

    # ------------------------------------------------------------------ ADCS feedback
    def error_urad(self):
        """Line-of-sight error seen by the payload = mirror deflection + residual (µrad).

        What the platform must correct (ADCS feedback, DESIGN §3.3)."""
        law = self.law
        fx, fy = law.mirror_urad()
        res_k = self.app.params["apt_ifov_urad"] / 64
        rx = (self.spot_x - self._ref_x) * res_k if self.valid else 0.0
        ry = (self.spot_y - self._ref_y) * res_k if self.valid else 0.0
        return fx + law.sign_x * rx, fy + law.sign_y * ry

    def feedback(self):
        st = self.state
        if st != TRACK and not (st == ACQUIRE and self.verified):
            return  # only a verified beacon (it moved against the mirror) steers the platform
        ex, ey = self.error_urad()
        law = self.law
        lim = self.app.params["apt_offload_frac"] * U_MAX
        offload = abs(law.u_x) > lim or abs(law.u_y) > lim
        if offload:
            self.offload_requests += 1
            if self.offload_requests == 1 or self.offload_requests % 50 == 0:
                self.app.emit(events.SEV_INFO, EV_APT_OFFLOAD, "FSM near its range",
                              [self.offload_requests])
        self.app.send_adcs({"err_x_urad": ex, "err_y_urad": ey, "valid": self.valid,
                            "state": STATE_NAMES[st], "offload": offload,
                            "fsm_x_urad": law.u_x * FSM_LSB_RAD * 1e6 / 256,
                            "fsm_y_urad": law.u_y * FSM_LSB_RAD * 1e6 / 256})

    # ------------------------------------------------------------------ telemetry
    def hk(self, d):
        ex = (self.spot_x - self._ref_x) * self.app.params["apt_ifov_urad"] / 64
        ey = (self.spot_y - self._ref_y) * self.app.params["apt_ifov_urad"] / 64
        d["apt_state"] = STATE_NAMES[self.state]
        d["apt"] = {"state": STATE_NAMES[self.state], "valid": self.valid,
                    "res_x_urad": ex if self.valid else None,
                    "res_y_urad": ey if self.valid else None,
                    "fsm_codes": [self.law.u_x >> 8, self.law.u_y >> 8],
                    "exposure_us": EXPOSURES_US[self.exp_idx], "peak_dn": self.peak,
                    "frames": self.frames, "valid_frames": self.valid_frames,
                    "invalid_frames": self.invalid_frames, "stale_frames": self.stale_frames,
                    "camera_errors": self.camera_errors, "fsm_errors": self.fsm_errors,
                    "acquisitions": self.acquisitions, "losses": self.losses,
                    "rejected_targets": self.rejections, "hot_pixels": self.hot_pixels,
                    "offload_requests": self.offload_requests, "laser850": self.laser_on}
