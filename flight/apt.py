"""APT fine pointing (DESIGN §3.3): beacon-camera spot deviation → fast steering mirror.

States: IDLE → SEARCH (binned full frame, strip by strip) → ACQUIRE (32 px window following
the spot) → TRACK (16 px window on the reference) → LOST (mirror held) → ACQUIRE when the
beacon returns, SEARCH after ``apt_lost_timeout_s``; SEARCH beyond ``apt_search_timeout_s``
ends the session.  The camera sees the beacon *behind* the FSM; the loop drives the spot
onto the reference: the boresight pixel (``apt_ref_x/y``) plus ``ref_off`` (point-ahead and
TX boresight, flight/pointahead.py; ``apt_res_*`` stay spot − boresight).  Elsewhere: pixels
(apt_pixels.py), control law (apt_control.py), beacon search (apt_search.py), FSM calibration
(apt_calib.py).  Hot path (:meth:`Apt.tick` in ACQUIRE/TRACK): integer maths, no allocation.
"""

from array import array

from flight import apt_devices as dev
from flight import apt_phase as ph
from flight import apt_pixels as px
from flight.apt_calib import NO_CAL
from flight import apt_feedback as afb
from flight.apt_jitter import HK as _JITTER_HK, LosJitter
from flight.apt_control import EXPOSURES_US, ControlLaw, Exposure
from flight.apt_control import LAW_PARAMS as _LAW_PARAMS  # (_: no global, freeze_trim)
from flight.apt_devices import (EV_APT_CAMERA_ERROR, EV_APT_FSM_ERROR,  # noqa: F401 - A.EV_*
                                EV_APT_FSM_FAULT, EV_APT_LASER_FAULT)
from flight.apt_search import TRACK_WIN, Search
from flight.pointahead import NO_OFFSET
from hal.compat import const
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.params import ParamDef
from flight.scheduler import Task
from flight.telemetry import HkField
from hal.errors import HalError, SensorError
# (the states under their short names: an ``as`` import is one globals entry, not two)
from hal.interfaces import APT_ACQUIRE as ACQUIRE, APT_IDLE as IDLE, APT_LOST as LOST
from hal.interfaces import APT_SEARCH as SEARCH, APT_STATE_NAMES as STATE_NAMES
from hal.interfaces import APT_TRACK as TRACK, FSM_CODE_MAX, FSM_LSB_RAD as _FSM_LSB_RAD
from hal.interfaces import SW_CAMERA, SW_LASER_525

ACQ_WIN = const(32)
_TRK_BUF_PX = const(256)  # TRACK's window and the 16 x 16 looks sharing it (apt_search, _survey)
_OVER_FULL_SCALE = SensorError("pixel above the camera's full scale")  # (no heap per frame)

EV_APT_STATE = const(0x50)
EV_APT_OFFLOAD = const(0x53)
EV_APT_BEACON_TIMEOUT = const(0x54)
EV_APT_TARGET_REJECTED = const(0x55)
EV_APT_DARK_CALIBRATED = const(0x58)

E = Event
EVENTS = afb.EVENTS + dev.EVENTS + (
    E(EV_APT_STATE, "APT_STATE", SEV_INFO, "fine-pointing state changed", (("from", "int"),
                                                                          ("to", "int"))),
    E(EV_APT_OFFLOAD, "APT_OFFLOAD_REQUEST", SEV_INFO,
      "mirror near its range: ADCS asked to offload (1st, 50th, ...)", (("count", "int"),)),
    E(EV_APT_BEACON_TIMEOUT, "APT_BEACON_TIMEOUT", SEV_WARN, "no beacon found: session ended"),
    E(EV_APT_TARGET_REJECTED, "APT_TARGET_REJECTED", SEV_WARN,
      "SEARCH candidate is no beacon (no spot / static)", (("x_px", "int"), ("y_px", "int"))),
    E(EV_APT_DARK_CALIBRATED, "APT_DARK_CALIBRATED", SEV_INFO,
      "dark frames taken: hot pixels of the TRACK window", (("hot_pixels", "int"),)),
)

P = ParamDef
PARAMS = (
    P("apt_kp", "float", 0.0, 0.0, 2.0, "1", "proportional gain (per frame, velocity form)"),
    P("apt_ki", "float", 98.0, 0.0, 200.0, "1/s", "integral gain"),
    P("apt_kii", "float", 7200.0, 0.0, 20000.0, "1/s^2",
      "rate-integrator gain (type-2 loop: ramps without lag)"),
    P("apt_ref_x", "float", 640.0, 0.0, 1279.0, "px", "boresight column"),
    P("apt_ref_y", "float", 512.0, 0.0, 1023.0, "px", "boresight row"),
    P("apt_ifov_urad", "float", 100.0, 10.0, 1000.0, "urad/px", "camera pixel angle"),
    P("apt_sign_x", "int", 1, -1, 1, "", "camera x to FSM x sign (+1/-1)"),
    P("apt_sign_y", "int", 1, -1, 1, "", "camera y to FSM y sign (+1/-1)"),
    P("apt_slew_urad", "float", 1000.0, 1.0, 1500.0, "urad/frame",  # 10 px: the spot stays
      "largest mirror step per frame"),  # in ACQUIRE's 32 px window (1500: it leaves it)
    P("apt_snr_min_dn", "int", 20, 2, 1000, "DN", "least spot peak above background"),
    P("apt_search_snr_dn", "int", 6, 1, 500, "DN",
      "least peak above background in the 8x8-binned SEARCH frame (bins average: "
      "a hot pixel stays below ~4 DN at the SEARCH exposures)"),
    P("apt_thr_min_dn", "int", 12, 1, 500, "DN", "least centroid threshold above background"),
    P("apt_max_spot_px", "int", 80, 1, 1024, "px", "largest valid spot (pixels)"),
    P("apt_min_spot_px", "int", 4, 1, 64, "px",
      "smallest valid spot (pixels): rejects single hot pixels"),
    P("apt_lost_frames", "int", 20, 1, 1000, "frames", "invalid frames in TRACK before LOST"),
    P("apt_track_frames", "int", 10, 1, 1000, "frames",
      "consecutive good frames near boresight before TRACK"),
    P("apt_track_err_px", "float", 2.0, 0.1, 8.0, "px", "TRACK entry error"),
    P("apt_lost_timeout_s", "float", 10.0, 0.5, 600.0, "s", "LOST before SEARCH"),
    P("apt_frame_timeout_ms", "int", 100, 20, 5000, "ms",  # (flight/apt_devices.py)
      "no new camera frame this long in ACQUIRE or TRACK: LOST (APT_CAMERA_ERROR)"),
    P("apt_search_timeout_s", "float", 120.0, 1.0, 3600.0, "s", "SEARCH before the session ends"),
    P("apt_peak_lo_dn", "int", 250, 10, 1000, "DN", "auto-exposure band low"),
    P("apt_peak_hi_dn", "int", 750, 20, 1022, "DN", "auto-exposure band high"),
    P("apt_offload_frac", "float", 0.5, 0.05, 0.95, "",
      "FSM range fraction that triggers an offload request"),
) + _LAW_PARAMS  # the control law's own (flight/apt_control.py)

_NO_YES = ("NO", "YES")
F = HkField
HK = (  # 1 Hz: 21 octets
    F("apt_state", "u8", enum=STATE_NAMES, description="fine-pointing state"),
    F("apt_valid", "u8", enum=_NO_YES, description="spot found in the last frame"),
    F("apt_laser850", "u8", enum=("OFF", "ON"), description="downlink laser switch"),
    F("apt_res_x", "i16", "urad", 0.1, warn=(-150.0, 150.0), description="spot - boresight, x"),
    F("apt_res_y", "i16", "urad", 0.1, warn=(-150.0, 150.0), description="spot - boresight, y"),
    # (µrad per code to 1e-12: exact in %.16g, so the block is a flash constant, freeze_decl)
    F("apt_fsm_x", "i16", "urad", round(_FSM_LSB_RAD * 1e6, 12), description="mirror command, x"),
    F("apt_fsm_y", "i16", "urad", round(_FSM_LSB_RAD * 1e6, 12), description="mirror command, y"),
    F("apt_exposure", "u16", "us", description="camera exposure"),
    F("apt_peak", "u16", "DN", description="spot peak (brightest pixel of the window)"),
    F("apt_camera_errors", "u16", warn=(0, 0), description="camera reads that failed"),
    F("apt_fsm_errors", "u16", warn=(0, 0), description="mirror commands that failed"),
    F("apt_acquisitions", "u8", description="entries into TRACK this boot"),
    F("apt_losses", "u8", description="TRACK -> LOST this boot"),
)
HK_DIAG = (
    F("apt_frames", "u32", description="frames (and SEARCH strips) read"),
    F("apt_valid_frames", "u32", description="frames with a valid spot"),
    F("apt_invalid_frames", "u32", description="frames without a valid spot"),
    F("apt_stale_frames", "u32", description="ticks without a new frame"),
    F("apt_saturated", "u32", description="frames with the spot peak at full scale"),
    F("apt_spot_px", "u16", "px", description="pixels in the last spot"),
    F("apt_bg", "u16", "DN", description="background of the last window"),
    F("apt_rejected_targets", "u16", description="SEARCH candidates rejected"),
    F("apt_hot_pixels", "u8", description="hot pixels found in the TRACK window"),
    F("apt_offload_requests", "u32", description="feedback messages asking to offload"),
    F("apt_verified", "u8", enum=_NO_YES, description="ACQUIRE target moved with the mirror"),
    F("apt_fsm_faults", "u8", description="mirror driver faults (each parked the mirror)"),
    F("apt_laser_faults", "u8", description="downlink laser switch failures"),
    F("apt_fsm_wave_errors", "u16", warn=(0, 0), description="wave samples the timer missed"),
    F("apt_frame_age_us", "u16", "us", description="the last read's frame age (the follow: 50)"),
    F("apt_period_us", "u16", "us", description="the APT task's period as the follow sets it"),
) + _JITTER_HK
ADCS = (  # the feedback map (APID 0x0A4, 5 Hz): keys and raw values as declared
    F("err_x_urad", "f32", "urad", description="line-of-sight error x (mirror + residual)"),
    F("err_y_urad", "f32", "urad", description="line-of-sight error y (mirror + residual)"),
    F("valid", "u8", enum=_NO_YES, description="a spot was measured in the last frame"),
    F("state", "u8", enum=STATE_NAMES, description="fine-pointing state"),
    F("offload", "u8", enum=_NO_YES, description="mirror near its range: please offload"),
    F("fsm_x_urad", "f32", "urad", description="mirror deflection x"),
    F("fsm_y_urad", "f32", "urad", description="mirror deflection y"),
)


class Apt:
    name = "apt"

    def __init__(self, ctx, camera, fsm, power):
        self.ctx = ctx
        self.camera = camera
        self.fsm = fsm
        self.power = power
        self.period_us = camera.frame_period_us  # one tick a frame (hal check_frame_period)
        self._fb = None  # the ADCS feedback map (flight.apt_feedback), made at first use
        self.state = IDLE
        self.law = ControlLaw(fsm)  # (the predictor's buffers registered with the driver)
        self.jitter = LosJitter()  # the session's line-of-sight jitter (hk: apt_jitter.py)
        self.cal = NO_CAL  # the FSM calibration (flight/apt_calib.py FsmCal) sets itself here
        self.search = Search(self)
        self.exposure = Exposure(camera)
        self.exposure.on_error = self._camera_error  # (a failed write: counted, said)
        # TRACK's buffers preallocated; the other states' window: Search.window (issue 11)
        self.trk_buf = array("H", bytes(2 * _TRK_BUF_PX))
        # the frame's metadata, its last counter, the camera's ranges (apt_devices.py)
        self._meta = self.law.meta = dev.new_meta(camera)
        self._cen = array("i", [0] * px.CEN_LEN)  # centroid inputs, results
        self._cen_args = [self.trk_buf, self._cen, px._WTAB]  # (px.centroid_k's argument)
        self.spot_x = self.spot_y = 0  # last spot, q6 px
        self.spot_x8 = self.spot_y8 = 0  # the same, q8 px: the loop's error (apt_pixels.CEN_X8)
        self.peak = self.bg = self.spot_px = self.win_x0 = self.win_y0 = 0
        self.valid = False
        self.good_run = self.bad_run = self.state_ticks = 0  # (then the HK counters)
        self.frames = self.valid_frames = self.invalid_frames = self.stale_frames = 0
        self.camera_errors = self.fsm_errors = self.fsm_faults = self.laser_faults = 0
        self.acquisitions = self.losses = self.offload_requests = self.wave_errors_seen = 0
        self.laser_on = False
        # The device watch's and the phase's state in one object (apt_devices.py: speed).
        self.dv = dev.Watch()
        self.on_laser = None  # fn(on): the framer's transmitter follows the laser
        self.ref_off = NO_OFFSET  # .dx_q6/.dy_q6 (.dx_q8/.dy_q8) added to the reference
        ctx.params.listeners.append(self._load_params)
        self._load_params()

    # ------------------------------------------------------------------ parameters
    def _load_params(self, name=None, value=None):
        """Every apt_* parameter, cached in the units the tick works in: the one way the
        module reads its parameters (also the parameter listener: a change, or a reload)."""
        if name is not None and not name.startswith("apt_"):
            return
        p = self.ctx.params
        self.ref_x = int(p["apt_ref_x"] * 64 + 0.5)
        self.ref_y = int(p["apt_ref_y"] * 64 + 0.5)
        self.ref_x8 = int(p["apt_ref_x"] * 256 + 0.5)
        self.ref_y8 = int(p["apt_ref_y"] * 256 + 0.5)
        self._ifov_urad = p["apt_ifov_urad"]
        self.law.configure(p, self.period_us)
        self.exposure.configure(p["apt_exp_max_us"])
        self._snr_min = p["apt_snr_min_dn"]
        self.search_snr = p["apt_search_snr_dn"]
        self._thr_min = p["apt_thr_min_dn"]
        self._max_spot_px = p["apt_max_spot_px"]
        self._min_spot_px = p["apt_min_spot_px"]
        px.limits(self._cen, self._snr_min, self._thr_min, self._min_spot_px,
                  self._max_spot_px, self.camera.pixel_max)  # (the centroid kernel's inputs)
        self._lost_frames = p["apt_lost_frames"]
        self._track_frames = p["apt_track_frames"]
        self._track_err_q6 = int(p["apt_track_err_px"] * 64)
        self._acq_step_q6 = int(p["apt_slew_urad"] / self._ifov_urad * 64)  # (q6 px a frame)
        self._lost_timeout_us = p["apt_lost_timeout_s"] * 1e6
        self.dv.silent_max = max(1, p["apt_frame_timeout_ms"] * 1000 // self.period_us)
        self._search_timeout_us = p["apt_search_timeout_s"] * 1e6
        self._peak_lo = p["apt_peak_lo_dn"]
        self._peak_hi = p["apt_peak_hi_dn"]
        self._offload_lim = p["apt_offload_frac"] * (FSM_CODE_MAX << 8)  # (q8: U_MAX)

    def cmd_set_gains(self, args, tc):
        self.ctx.params.set("apt_kp", args["kp"])
        self.ctx.params.set("apt_ki", args["ki"])
        return {"kp": args["kp"], "ki": args["ki"]}

    # ------------------------------------------------------------------ session hooks
    def tasks(self):
        # Disabled for its faults, nothing may act on its last state (laser on, mirror held,
        # frozen error to the ADCS): the session's own stop (design.md §3.1).
        return [self.law.frame_clock(Task("apt", self.period_us, self.tick, max_faults=5,
                                          budget_us=self.period_us // 2, critical=False,
                                          on_disable=self.stop_session)),
                Task("adcs_feedback", ph.FOLLOW_US, self.feedback, offset_us=3000,
                     budget_us=20000)]

    def start_session(self):
        self.power.set(SW_CAMERA, True)
        self.camera.init()
        self.camera.set_gain(1.0)
        self.exposure.set(self.exposure.idx)
        self.fsm.init()
        self.law.reset()
        self.jitter.start()
        self.fsm.set_codes(0, 0)
        self.fsm.enable(True)
        self.power.set(SW_LASER_525, True)  # our beacon for the ground station
        self.search.start()
        ph.start(self)  # SEARCH's first ticks put the task's ticks at the frames
        self._enter(SEARCH)

    def stop_session(self):
        self._laser(False)
        self._park()
        try:
            self.power.set(SW_LASER_525, False)
            self.power.set(SW_CAMERA, False)
        finally:
            self._enter(IDLE)

    safe = stop_session

    def _park(self):
        self.law.reset()
        try:
            self.fsm.enable(False)  # commands (0, 0) then drops the high voltage
        except HalError:
            self._fsm_error()

    def _fsm_error(self):
        dev.fsm_error(self)

    def _laser(self, on):
        dev.laser(self, on)

    def _enter(self, state):
        old = self.state
        self.state = state
        self.state_ticks = self.good_run = self.bad_run = 0
        self.search.restart(state)
        if state == TRACK:
            self.search.verified = True  # it reached the boresight under control: real
            self.acquisitions += 1
            self._laser(True)  # downlink only while tracking (DESIGN §3.2)
        elif old == TRACK:
            if state == LOST:
                self.losses += 1
            self._laser(False)
        if state == ACQUIRE and old != LOST:
            self.search.verified = False
            self.search.s0x = None
        if state == LOST:  # window on the boresight (ACQUIRE: on the spot just found)
            self._center_window(self.ref_x, self.ref_y, ACQ_WIN)
        if state != old:  # (SAFE at boot stops an idle APT: no "IDLE -> IDLE" event)
            self.ctx.emit(EV_APT_STATE, [old, state],
                          "%s -> %s" % (STATE_NAMES[old], STATE_NAMES[state]))

    # ------------------------------------------------------------------ camera, spot
    def _center_window(self, cx_q6, cy_q6, size):
        self.win_x0 = px.window_origin(cx_q6, size, self.camera.width)
        self.win_y0 = px.window_origin(cy_q6, size, self.camera.height)

    def read(self, x0, y0, w, h, binning, buf):
        """One camera window; False on a HalError (counted, reported); others propagate."""
        try:
            return dev.checked(self, self.camera.read_roi(x0, y0, w, h, binning, buf,
                                                          self._meta))
        except HalError as e:
            self._camera_error(e)
            return False

    def _camera_error(self, e):
        dev.camera_error(self, e)

    def centroid(self, buf, size):
        """apt_pixels.spot: the spot in ``buf`` at (win_x0, win_y0); validity, 1 or 0."""
        ok = px.spot(self, buf, size)
        if not ok and px.over_full_scale(self):  # a corrupted read, not "no spot"
            self._camera_error(_OVER_FULL_SCALE)
        return ok

    # ------------------------------------------------------------------ the frame tick
    def tick(self):
        st = self.state
        if st == IDLE:
            return
        self.state_ticks += 1
        if self.fsm.fault():
            dev.fsm_fault(self, "driver fault line")
            return
        if st == SEARCH:
            if not (self.dv.phase_left and ph.step(self)):
                self.search.step()
            return
        busy = self.cal.busy  # (NO_CAL's False; a run's True while it steps)
        if st == TRACK:
            if self.search.survey.due(busy):
                return  # (this frame was the look around the target: flight/apt_survey.py)
            size = TRACK_WIN
            buf = self.trk_buf
        else:
            size = ACQ_WIN
            buf = self.search.window(ACQ_WIN * ACQ_WIN)
            if buf is None:
                return  # no heap for the window yet (counted, reported): the next tick asks
        ok = False
        m = self._meta  # (the last counter in its slot 4: array items cost less here)
        try:
            # The window at once: its counter says whether the frame is new, so a frame
            # costs no STATUS read; only when none came is the status asked, so that a
            # stream error stays its own fault (docs/apt-loop.md §4 "The frame's read").
            cam = self.camera
            ok = cam.read_roi(self.win_x0, self.win_y0, size, size, 1, buf, m)
            if not ok:  # flagged bad by the camera: its error, not a frame without a spot
                dev.flagged(self)
            elif m[0] == m[4]:  # the last frame again: none new yet (or a frozen stream)
                cam.frame_ready()
                dev.no_new_frame(self)
                return
        except HalError as e:  # (anything else is no camera error: see read())
            self._camera_error(e)
            ok = False
        if ok:
            m[4] = m[0]
            if not (m[5] <= m[1] <= m[6] and m[7] <= m[2] <= m[8]):  # dev.checked's, inline
                ok = dev.meta_bad(self)  # (a corrupted header: its exposure unusable)
        self.frames += 1
        if ok:
            # The pixel and control maths with the heap locked: no allocation, and each
            # call's frame on the C stack (design.md §3.3: the bimodal run times).  The FSM
            # calibration's hook may emit events: it runs unlocked, only while it is busy.
            px.heap_lock()
            try:
                hot = self.search.hot if st == TRACK else None  # (none: no patch to do)
                if hot:
                    px.patch_hot(buf, hot, self.exposure.dark(), EXPOSURES_US[self.exposure.top])
                ok = px.spot(self, buf, size)  # (Apt.centroid)
                if ok and not busy:  # (_step(False), inline: a call less a frame)
                    o = self.ref_off
                    self.law.step(self.spot_x8 - self.ref_x8 - o.dx_q8,
                                  self.spot_y8 - self.ref_y8 - o.dy_q8, self.cal)
            finally:
                px.heap_unlock()
            if ok and busy:
                self._step(True)
        if ok:
            self.valid_frames += 1
            self.bad_run = 0
            c = self.cal  # (_command_mirror, inline: a call less on the path to the mirror)
            try:
                self.law.command(self.fsm, c.d_x, c.d_y)
            except HalError:
                self._fsm_error()
            ex = self.exposure  # (its update only when it acts, or counts: a call less)
            pk = self.peak
            if ex.wait or pk > self._peak_hi or pk < self._peak_lo or pk >= ex.sat_dn:
                ex.update(pk, self._peak_lo, self._peak_hi)
            if st == TRACK:  # (TRACK first: one test on the loop's own frames)
                return
            if st == LOST:
                self._enter(ACQUIRE)
            else:
                self._acquire_step()
            return
        self.invalid_frames += 1
        self.bad_run += 1
        self.valid = False
        if px.over_full_scale(self):  # a corrupted read (its sums never ran), not "no spot"
            self._camera_error(_OVER_FULL_SCALE)
        if st == TRACK and self.bad_run >= self._lost_frames:
            self._enter(LOST)
        elif st == ACQUIRE:
            if self.bad_run >= self._lost_frames:
                self._enter(SEARCH)
            elif self.bad_run >= 3 and self.state_ticks == self.bad_run:
                # Not one valid frame since SEARCH picked it: the candidate is no spot
                # (a hot pixel is a single pixel at full resolution).  Skip it from now on.
                self._reject_candidate("no spot at full resolution")
        elif st == LOST and self.state_ticks * self.period_us >= self._lost_timeout_us:
            self._enter(SEARCH)

    def _step(self, busy):
        """The control law's step on the spot's error from the reference."""
        o, c = self.ref_off, self.cal  # point-ahead + TX boresight; FSM calibration
        ex = self.spot_x8 - self.ref_x8 - o.dx_q8
        ey = self.spot_y8 - self.ref_y8 - o.dy_q8
        if busy:  # its step's predicted spot move is no error (apt_calib.py; q6 px)
            c.frame((ex + 2) >> 2, (ey + 2) >> 2)
        self.law.step(ex, ey, c)  # (c.ff_x/y: the step's predicted spot move)

    def _acquire_step(self):
        """ACQUIRE, valid frame: follow the spot, go to TRACK once it sits on the
        boresight.  A target that does not follow the mirror (hot pixel, glint) never
        gets there: it is rejected and the mirror re-centred."""
        law = self.law
        if self.search.acquire_check(law, self.spot_x, self.spot_y):
            self._reject_candidate("it does not follow the mirror")
            law.reset()
            law.u_x = self.search.u0x
            law.u_y = self.search.u0y
            self._command_mirror()
            return
        ex = self.spot_x - self.ref_x - self.ref_off.dx_q6
        ey = self.spot_y - self.ref_y - self.ref_off.dy_q6
        te = self._track_err_q6
        if -te < ex < te and -te < ey < te:
            self.good_run += 1
            if self.good_run >= self._track_frames:
                self._center_window(self.ref_x, self.ref_y, TRACK_WIN)
                self._enter(TRACK)
                return
        else:
            self.good_run = 0
        s = self._acq_step_q6  # the window a pull-in step ahead (apt-loop.md "ACQUIRE's window")
        self._center_window(px.ahead(self.spot_x, ex, s), px.ahead(self.spot_y, ey, s), ACQ_WIN)

    def _command_mirror(self):
        c = self.cal  # plus the FSM calibration's step (0 unless it runs)
        try:
            self.law.command(self.fsm, c.d_x, c.d_y)  # (the predictor: a waveform)
        except HalError:
            self._fsm_error()

    def _reject_candidate(self, why):
        s = self.search
        s.reject_candidate()
        self.ctx.emit(EV_APT_TARGET_REJECTED, [s.best_x, s.best_y],
                      "target at (%d, %d) px rejected: %s" % (s.best_x, s.best_y, why))
        self._enter(SEARCH)

    def candidate_found(self, x, y):
        self._enter(ACQUIRE)
        self._center_window(x << 6, y << 6, ACQ_WIN)

    def search_timed_out(self):
        if self.state_ticks * self.period_us < self._search_timeout_us:
            return False
        self.ctx.emit(EV_APT_BEACON_TIMEOUT)
        self.ctx.request_mode("STANDBY", "beacon not found")
        return True

    def dark_calibrated(self, hot_pixels):
        self.ctx.emit(EV_APT_DARK_CALIBRATED, [hot_pixels])

    # ------------------------------------------------------------------ ADCS feedback
    def feedback(self):  # (its maths heap-locked as the tick's; sends, events unlocked)
        ph.follow(self)  # (the frames' phase: flight/apt_phase.py)
        fb = self._fb
        if fb is None or fb.ifov is not self._ifov_urad:  # first use, a new IFOV
            if fb is None:
                fb = self._fb = afb.Feedback(ADCS)
            fb.scale(self._ifov_urad)
        px.heap_lock()
        try:
            go = fb.fill(self)
        finally:
            px.heap_unlock()
        if go > 1:
            self.ctx.emit(EV_APT_OFFLOAD, [self.offload_requests])
        if go:
            self.ctx.send_adcs(fb.rec)
        if self.laser_on != self.dv.laser_want:  # a switch that did not obey: again, 5 Hz
            self._laser(self.dv.laser_want)

    # ------------------------------------------------------------------ telemetry
    hk = afb.hk  # (flight/apt_feedback.py: its functions are the methods)
    hk_diag = afb.hk_diag
