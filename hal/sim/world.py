"""The simulated pass: every physics model of sim/ on one virtual timeline, exposed to the
flight code as HAL devices (hal/sim/devices.py), with fault injection.  The world knows
nothing of the flight application: the pass runner (sim/run/) records its truth through
``recorder`` and bridges the payload's ADCS feedback from the telemetry to ``platform``.

Timeline (seconds of simulated time, ``t``; the scenario gives the numbers):

* ``t = 0``          the payload computer boots (SAFE);
* ``pass_start``     the satellite rises through 20° elevation (DESIGN §5 pass start);
* the culmination    ``pass_start + duration/2``;
* beacon/uplink      the ground station's 671 nm beacon and 808 nm uplink are on while the
                     elevation is above ``beacon_min_el_deg`` (and no drop-out is injected).

The clock calls :meth:`World.step` with every jump of virtual time.  Per step: platform
pointing (coarse error, drift, jitter, ADCS), FSM dynamics, thermal (every 100 ms), the
camera frame latch (every 10 ms: the frame shows the residual of its end time), and the
framer window (every 100 ms: BER from the receiver model at the comparator level, the
received uplink power and the *true* over-voltage; counters by binomial draws).

MicroPython: this module and the sim/ models it uses are pure Python (math, array).

Flight CPU time.  :meth:`World.attach` gives a virtual clock a ``cpu_now_us`` that counts
only the flight code's own time: the camera render, the mirror model's response to a
command and the sensor model's exposure maths (physics the real devices do in hardware;
``SimCamera``/``SimFsm`` bracket them with ``physics_begin``/``physics_end``) are
subtracted (``physics_us``), and on CPython the base is the thread's CPU time,
so a busy host that pre-empts the simulator does not turn into flight overruns and
deadline misses (the clock charges task cost to virtual time); CPython's garbage-collector
pauses are excluded the same way.  A benchmark may replace
``cpu_us`` (e.g. a high-resolution timer in the MicroPython VM) before attaching, and set
``mem_alloc`` (``gc.mem_alloc``) to have that physics' heap allocation counted in
``physics_alloc`` as well.
"""

import math
import time as _time

from hal.compat import TICKS_PERIOD, ticks_diff, ticks_us

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401  (type comments)

from sim import calib, framerstats, geometry, linkbudget, pointahead, receiver
from sim.background import Background
from sim.camera import IFOV_RAD, Camera, table_buffer
from sim.fsm import Fsm
from sim.pointing import (
    JITTER_GRID_OFFSET_S,
    Platform,
    reaction_wheel_lines,
    reference_platform,
)
from sim.rng import Rng
from sim.sipm import K_T_V_PER_K, V_BR25_V, breakdown_voltage
from sim.thermal import TempSensor, ThermalScenario

from hal.interfaces import CAMERA_FRAME_PERIOD_US as FRAME_US
from hal.interfaces import FSM_LATENCY_US  # the mirror's latency (its bandwidth: sim/fsm.py)
from hal.interfaces import SW_CAMERA, SW_FRAMER, SW_SIPM_BIAS, check_frame_period
from hal.sim.finetruth import FineTruth, new_hist, wave_tick
from hal.sim.frameclock import MCU_CLOCK_PPM, FrameClock
from hal.sim.devices import (
    SimBiasSupply,
    SimCamera,
    SimComparatorDac,
    SimFramer,
    SimFsm,
    SimTempSensor,
)

# CPython: this thread's CPU time; MicroPython has no per-thread CPU clock (ticks_us).
_thread_ns = getattr(_time, "thread_time_ns", None)  # type: Any

WINDOW_US = 100000  # framer counter window, 100 ms (DESIGN §3.1 framer task)
THERMAL_US = 100000
_THERMAL_S = THERMAL_US * 1e-6
FINE_US = 1000  # continuous-truth sampling grid, 1 kHz (issue 13: >= 1 kHz)
# Assumed (docs/physics-platform.md §8): read-out of a small ROI of a PYTHON-1300-class
# sensor (~32 rows at ~5 us/row plus frame overhead) - the image is this old when ready.
ROI_READOUT_US = 500
_TICKS_MASK = TICKS_PERIOD - 1
# Noise tables of the camera model (sim/camera.py, ~11 kB each) allocated with the world:
# the session start renders three settings (dark frames, SEARCH strips, the windows).
RESERVED_TABLES = 3


def _thread_cpu_us():
    return (_thread_ns() // 1000) & _TICKS_MASK


# CPython's cyclic garbage collector may run inside a flight task (a full collection over
# the simulator's truth records takes ~10 ms): host time, not flight CPU (MicroPython's
# collector runs in the scheduler's idle time).  Its pauses are added up here once per
# process and subtracted from the flight CPU time like the physics.
_gc_pause = [0, 0]  # [total µs (ticks), start ns]


def _gc_callback(phase, info):
    if phase == "start":
        _gc_pause[1] = _thread_ns()
    else:
        _gc_pause[0] = (_gc_pause[0] + (_thread_ns() - _gc_pause[1]) // 1000) & _TICKS_MASK


if _thread_ns is not None:
    import gc as _gc

    _cbs = getattr(_gc, "callbacks", None)
    if _cbs is not None and _gc_callback not in _cbs:
        _cbs.append(_gc_callback)


class World(FineTruth):
    def __init__(self, scenario):
        sc = dict(scenario)
        self.scenario = sc
        seed = sc.get("seed", 1)
        self.seed = seed
        self.t = 0.0
        self.t_us = 0
        self.pass_ = geometry.Pass(sc.get("max_elevation_deg", 90.0))
        self.duration_s = self.pass_.duration_above_s(20.0)
        self.beacon_min_el = sc.get("beacon_min_el_deg", 15.0)
        ps = sc.get("pass_start_s", 20.0)  # None: planned (sim/geometry.py planned_rise_s)
        self.pass_start = ps if ps is not None else geometry.planned_rise_s(
            self.pass_, self.beacon_min_el, sc.get("session_start_s", 5.0),
            sc.get("session_lead_s"))
        self.kappa_db = linkbudget.KAPPA_FOG_DB if sc.get("weather") == "fog" \
            else linkbudget.KAPPA_CLEAR_DB
        # Platform pointing (DESIGN §5 reference: 1.5 deg coarse error, drift, jitter).
        coarse = sc.get("coarse_error_deg")
        ideal = bool(sc.get("ideal", False))
        # Honest world: jitter grid off the frame instants, reaction-wheel lines on top.
        pk = {} if ideal else {"grid_offset_s": JITTER_GRID_OFFSET_S,
                               "lines": reaction_wheel_lines(seed)
                               if sc.get("reaction_wheels", True) else ()}
        if sc.get("jitter_rms_urad") is not None:  # campaign / CLI override
            pk["jitter_rms_rad"] = sc["jitter_rms_urad"] * 1e-6
        if coarse is None:
            self.platform = reference_platform(seed, feedback_enabled=sc.get("adcs_feedback", True),
                                               **pk)
        else:
            a = Rng(seed ^ 0x5A5A).uniform() * 2.0 * math.pi
            e = coarse * math.pi / 180.0
            self.platform = Platform(seed, initial_error_rad=(e * math.cos(a), e * math.sin(a)),
                                     feedback_enabled=sc.get("adcs_feedback", True), **pk)
        # Per-unit calibration errors (sim/calib.py), zero in the idealised world.
        self.ideal = bool(sc.get("ideal", False))
        cal = calib.ideal() if self.ideal else calib.draw(seed)
        self.calib = cal
        # (``vbr_shift_v``: the breakdown aged since the unit was calibrated, e.g. a later
        # pass of tests/test_kt_line_restart.py; default none)
        self.v_br25 = V_BR25_V + cal["v_br25_v"] + float(sc.get("vbr_shift_v") or 0.0)
        self.k_t = K_T_V_PER_K + cal["k_t_v_per_k"]
        self._rot_c = math.cos(cal["cam_fsm_rot_rad"])
        self._rot_s = math.sin(cal["cam_fsm_rot_rad"])
        self.comparator_offset = cal["comparator_offset_v"] / receiver.LEVEL_FULL_SCALE_V
        # Point-ahead (sim/pointahead.py): required downlink direction minus the beacon's
        # apparent direction; updated with the framer window (it changes by < 0.1 urad/s).
        # The aim error (TX direction minus required) counts it unless ideal.
        self.point_ahead = (0.0, 0.0)
        self.aim_point_ahead = not self.ideal
        # Continuous-time truth: platform and FSM are stepped on a 1 ms grid and the aim
        # error handed to ``recorder.fine`` at every grid point (issue 13: the residual
        # between frames peaks 2-3 ms after each one).  0 = step per clock jump (ideal).
        self.fine_us = 0 if self.ideal else int(sc.get("fine_us", FINE_US))
        # Camera timing: the board's frame (the payload sets its sensor to it; a scenario's
        # frame_rate_hz, python -m sim --frame-rate, a what-if), ROI read-out delay and the
        # exposure integration (honest world: the frame is the mean residual over the
        # exposure that ended ``readout_us`` before the frame is ready).
        rate = sc.get("frame_rate_hz")
        self.frame_us = FRAME_US if rate is None else frame_period_us(rate)
        # The camera's frames on its own oscillator, started at a phase of its own
        # (hal/sim/frameclock.py; "aligned": on this clock's grid, an idealisation).
        self.frame_clock = FrameClock(
            self.frame_us, seed, float(sc.get("mcu_clock_ppm", MCU_CLOCK_PPM)),
            aligned=self.ideal or sc.get("frame_clock", "board") == "aligned")
        self.readout_us = 0 if self.ideal else int(sc.get("roi_readout_us", ROI_READOUT_US))
        self.fsm_latency_us = 0 if self.ideal else int(sc.get("fsm_latency_us",
                                                              FSM_LATENCY_US))
        # The board's mirror timer: its MCU tick (hal/sim/finetruth.py wave_tick).
        self.wave_tick_us, self.wave_tick_phase_us = wave_tick(sc, seed, self.ideal)
        # (t_us, camera-frame residual x, y) at the 1 kHz grid: a ring preallocated here
        # (hal/sim/finetruth.py new_hist), so the pass adds nothing to the heap
        self._hist = new_hist()
        self._fsm_q = []  # [(t_us due, code x, code y)] commands in flight
        self.fsm_model = Fsm()
        self.fsm_model.set_gain_matrix(1.0 + cal["fsm_gain_x"], cal["fsm_cross_xy"],
                                       cal["fsm_cross_yx"], 1.0 + cal["fsm_gain_y"])
        self.cam_model = Camera(seed=seed, ifov_rad=IFOV_RAD * (1.0 + cal["ifov_scale"]))
        reserve_noise_tables(self.cam_model, "H", RESERVED_TABLES)
        # Structured background scenario (sim/background.py): "city" or "sunlit".
        bg = sc.get("background")
        self.background = Background(bg, seed) if bg else None
        # Thermal: payload powered at the session start, umbra at the culmination
        # (sim/thermal.py nominal scenario), in this timeline's seconds.
        th = sc.get("thermal", {})
        self.thermal = ThermalScenario(
            power_on_s=th.get("power_on_s", sc.get("session_start_s", 5.0)),
            eclipse_entry_s=th.get("eclipse_entry_s", self.pass_start + self.duration_s / 2),
            heat_rise_k=th.get("heat_rise_k", 15.0), tau_heat_s=th.get("tau_heat_s", 90.0),
            eclipse_delta_k=th.get("eclipse_delta_k", -10.0),
            tau_eclipse_s=th.get("tau_eclipse_s", 300.0))
        # Sensor offsets: absolute accuracy per part, minus the die-to-board gradient (the
        # sensors sit on the board, cooler than the SiPM die by its dissipation).
        g = cal["die_gradient_k"]
        self.sensors = [TempSensor(self.thermal, seed=seed * 7 + 1,
                                   offset_k=cal["temp_offset_k"] - g),
                        TempSensor(self.thermal, seed=seed * 7 + 2,
                                   offset_k=0.05 + cal["temp_offset2_k"] - g)]
        self.rng = Rng(seed * 31 + 7)
        self.framer_stats = framerstats.FramerStats(self.rng)
        # HAL devices.
        self.camera = SimCamera(self, self.cam_model)
        self.fsm = SimFsm(self.fsm_model, self)
        self.temps = [SimTempSensor(s, "sim-temp%d" % i, self) for i, s in enumerate(self.sensors)]
        self.bias = SimBiasSupply(self)
        self.comparator = SimComparatorDac()
        self.framer = SimFramer()
        self.board = None  # type: Any
        # Observer of the truth (the pass runner's recorder, sim/run/recorder.py):
        # ``frame(world)`` every camera frame, ``window(world, counts)`` every framer window.
        self.recorder = None  # type: Any
        self._win_acc = 0
        self._th_acc = 0.0
        self.beacon_forced_off_until = -1.0
        self.reset_requested = False
        self.faults = sorted(sc.get("faults", []), key=lambda f: f[0])
        self._fault_i = 0
        self.fault_log = []
        self.power_w = 0.0
        self.ber_true = 0.5
        self.signal = False
        self._rb_rng = Rng(seed * 13 + 3)
        self._trig_rng = Rng(seed * 17 + 5)
        self._cv_rng = Rng(seed * 19 + 11)
        # Flight-CPU accounting (module docstring): physics time inside flight calls.
        self.cpu_us = _thread_cpu_us if _thread_ns is not None else ticks_us
        self.physics_us = 0  # ticks µs (wraps like ticks)
        # False: nobody reads the physics time (a clock whose task cost is declared, not
        # measured: sim/run/passsim.py's cost model); the brackets then cost nothing.
        self.account_physics = True
        self.mem_alloc = None  # set to gc.mem_alloc to count render allocations
        self.physics_alloc = 0
        self._a0 = 0
        self._clock = None  # type: Any
        self.cam_model.set_beacon(False)

    # ------------------------------------------------------------------ wiring
    def attach(self, board):
        self.board = board
        board.camera = self.camera
        board.fsm = self.fsm
        board.temps = self.temps
        board.bias = self.bias
        board.comparator = self.comparator
        board.framer = self.framer
        clock = board.clock
        clock.step_hook = self.step
        if hasattr(clock, "_burnt"):  # a VirtualClock: task cost = flight CPU only
            self._clock = clock
            clock.cpu_now_us = self.flight_cpu_us

    def flight_cpu_us(self):
        """The virtual clock's CPU time base: host CPU time minus the physics done inside
        flight calls, plus the clock's own charged busy time (``VirtualClock.advance``)."""
        return (self.cpu_us() - self.physics_us - _gc_pause[0]
                + self._clock._burnt) & _TICKS_MASK

    def physics_begin(self):
        """Start of a physics computation inside a flight call (returns a token for
        :meth:`physics_end`)."""
        if not self.account_physics:
            return 0
        mem = self.mem_alloc
        if mem is not None:
            self._a0 = mem()
        return self.cpu_us()

    def physics_end(self, t0):
        if not self.account_physics:
            return
        d = ticks_diff(self.cpu_us(), t0)
        if d > 0:
            self.physics_us = (self.physics_us + d) & _TICKS_MASK
        mem = self.mem_alloc
        if mem is not None:
            self.physics_alloc += mem() - self._a0

    def adcs_feedback(self, valid, err_x_rad, err_y_rad, offload, fsm_x_rad, fsm_y_rad):
        """The platform ADCS receives the payload's pointing feedback (relayed by the OBC):
        the measured error when ``valid``, an FSM offload request when ``offload``."""
        if valid:
            self.platform.feedback(err_x_rad, err_y_rad)
        if offload:
            self.platform.request_offload(fsm_x_rad, fsm_y_rad)

    def camera_powered(self):
        return self.board.power.get(SW_CAMERA)

    def bias_powered(self):
        return self.board.power.get(SW_SIPM_BIAS)

    def readback_noise(self):
        return self._rb_rng.gauss() * 0.002  # assumed ADC monitor noise, 2 mV RMS

    # ------------------------------------------------------------------ truth
    def pass_time(self, t=None):
        """Seconds from the culmination (sim.geometry.Pass time) now, or at world time t."""
        return (self.t if t is None else t) - self.pass_start - self.duration_s / 2

    def elevation_deg(self):
        return self.pass_.elevation_deg(self.pass_time())

    def beacon_visible(self):
        return self.elevation_deg() >= self.beacon_min_el and self.t >= self.beacon_forced_off_until

    def v_br(self):
        return breakdown_voltage(self.thermal.temperature(), self.v_br25, self.k_t)

    def overvoltage(self):
        return self.bias.volts() - self.v_br()

    def residual(self):
        p = self.platform
        f = self.fsm_model
        return p.err_x - f.theta_x, p.err_y - f.theta_y

    # ------------------------------------------------------------------ stepping
    def step(self, dt_us):
        # (called at every jump of the clock, ~430 times per simulated second)
        dt = dt_us * 1e-6
        if self.fine_us:
            self._fine_step(dt_us)
        else:
            self.platform.step(dt)
            if self._fsm_q:  # a waveform's samples (Fsm.play_wave) at their times
                self._coarse_fsm_step(dt_us)
            else:
                self.fsm_model.step(dt)
        t_us = self.t_us + dt_us
        self.t_us = t_us
        self.t = t = t_us * 1e-6
        th = self._th_acc + dt
        if th >= _THERMAL_S:
            self.thermal.step(th)
            for s in self.sensors:
                s.step(th)
            th = 0.0
        self._th_acc = th
        tf = self.frame_clock.due(t_us)
        while tf >= 0.0:
            self._frame(tf)
            tf = self.frame_clock.due(t_us)
        wa = self._win_acc + dt_us
        if wa >= WINDOW_US:
            self._win_acc = wa - WINDOW_US
            self._window()
        else:
            self._win_acc = wa
        fi = self._fault_i
        if fi < len(self.faults) and self.faults[fi][0] <= t:
            self._apply_fault(self.faults[fi])
            self._fault_i = fi + 1

    def _frame(self, t_frame_us):
        p = self.platform
        f = self.fsm_model
        cam = self.cam_model
        # The camera's axes are rotated from the FSM's by the mounting error (calib).
        e = self._exposed_residual(t_frame_us) if self.fine_us else None
        if e is None:
            rx = p.err_x - f.theta_x
            ry = p.err_y - f.theta_y
            e = (self._rot_c * rx + self._rot_s * ry, self._rot_c * ry - self._rot_s * rx)
        cam.set_residual(e[0], e[1])
        self.camera.frame += 1
        if self.recorder is not None:
            self.recorder.frame(self)

    def _window(self):
        # Beacon and range change slowly: update them with the framer window.
        vis = self.beacon_visible()
        cam = self.cam_model
        cam.set_beacon(vis)
        tp = self.pass_time()
        self.point_ahead = pointahead.point_ahead_rad(self.pass_, tp)
        cam.set_range(self.pass_.range_m(tp))
        el = self.pass_.elevation_rad(tp)
        cam.set_transmission(10 ** (-linkbudget.atmosphere_loss_db(self.kappa_db, el) / 10.0)
                             if el > 0 else 0.0)
        fr = self.framer
        powered = self.board.power.get(SW_FRAMER) and self.bias_powered()
        self.power_w = linkbudget.uplink_received_power_w(self.pass_, tp, self.kappa_db) \
            if vis and el > 0 else 0.0
        level = self.comparator.code() / 4095.0 + self.comparator_offset
        vov = self.overvoltage()
        self.signal = self.power_w > 0.0
        if vov > 0.05:
            self.ber_true = receiver.ber(level, self.power_w, vov) if self.signal else 0.5
        else:  # below breakdown: no avalanches, nothing to detect
            self.ber_true = 0.5
        # Noise triggers: the amplifier's and comparator's own noise at any bias, plus the
        # SiPM's gain-scaled noise above breakdown (its gain is 0 below: sim.receiver).
        noise_hz = receiver.noise_trigger_rate(level, vov if vov > 0.0 else 0.0)
        if powered and fr.rx:
            c = self.framer_stats.step(self.ber_true, framerstats.MODES[fr.mode],
                                       signal=self.signal and self.ber_true < 0.5)
            # Counts are Poisson: mean n, spread sqrt(n) (Gaussian approximation, n
            # clipped at 0), from a stream of their own so no other draw moves.
            n = noise_hz * WINDOW_US * 1e-6
            triggers = int(n + math.sqrt(n) * self._trig_rng.gauss() + 0.5)
            triggers = triggers if triggers > 0 else 0
            # Code violations: one wrong chip of a bit's two (probability ~2 x BER to
            # first order, BER = (p_false + p_miss) / 2) on every bit while locked.
            cv = 0
            if c["locked"] and self.ber_true < 0.5:
                n = 2.0 * self.ber_true * receiver.BIT_RATE * WINDOW_US * 1e-6
                cv = int(n + math.sqrt(n) * self._cv_rng.gauss() + 0.5)
                cv = cv if cv > 0 else 0
            if self.signal and self.ber_true < 0.5:
                # the signal's own rising chip edges: Manchester random data has 0.75 a
                # bit (the mid-bit edge of half the bits, plus a boundary edge where a
                # "10" follows a "10": a quarter), hal.interfaces CTR_TRIGGERS
                triggers += int(receiver.BIT_RATE * WINDOW_US * 1e-6 * 0.75)
            fr.accumulate(c, triggers, cv)
        else:
            c = None
        if self.recorder is not None:
            self.recorder.window(self, c)

    # ------------------------------------------------------------------ faults
    def next_fault_s(self):
        """The time of the next scheduled fault (s), or None."""
        fi = self._fault_i
        return self.faults[fi][0] if fi < len(self.faults) else None

    def _apply_fault(self, f):
        kind = f[1]
        arg = f[2] if len(f) > 2 else None  # type: Any
        self.fault_log.append((self.t, kind, arg))
        if kind == "beacon_off":
            self.beacon_forced_off_until = self.t + float(arg)
        elif kind == "temp_fault":  # (sensor index, mode[, value]) or (index, None) to clear
            self.sensors[arg[0]].set_fault(arg[1], arg[2] if len(arg) > 2 else 0.0)
        elif kind == "camera_drop":
            self.camera.drop_frames += int(arg)
        elif kind == "fsm_fault":
            self.fsm.set_driver_fault(bool(arg))
        elif kind == "framer_bus":
            self.framer.bus_errors += int(arg)
        elif kind == "uart_errors":
            self.board.link.fail_next_reads += int(arg)
        elif kind == "reset":
            self.reset_requested = True
        else:
            raise ValueError("unknown fault %r" % (kind,))


def frame_period_us(rate_hz):
    """The camera frame period (µs) of a frame rate (scenario ``frame_rate_hz``, ``python -m
    sim --frame-rate``): a whole number of µs that hal.interfaces.check_frame_period accepts
    (ValueError otherwise, naming the rule)."""
    us = 1e6 / rate_hz if rate_hz > 0 else 0.0
    p = int(round(us))
    if abs(us - p) > 1e-6:
        raise ValueError("camera frame period %g us (%g Hz): not whole us" % (us, rate_hz))
    return check_frame_period(p)


def make_world(name_or_scenario, seed=1, **overrides):
    """A World for a scenario name of sim/scenarios.py (or a scenario dict)."""
    from sim import scenarios

    if isinstance(name_or_scenario, dict):
        sc = dict(name_or_scenario)
    else:
        sc = scenarios.get(name_or_scenario)
    sc["seed"] = seed
    sc.update(overrides)
    return World(sc)


def reserve_noise_tables(cam, kind, k):
    """Allocate ``k`` of a camera model's noise-table buffers (sim/camera.py ``_table``)
    for windows of ``kind`` now ("H": ``array('H')``, the flight's): a fixed MicroPython
    heap fragments as a pass runs (the renderer's float garbage between collections) and
    may have no ~11 kB block left when SEARCH first needs one (issues 11/14)."""
    for sl in cam._slots[:k]:
        if sl[4] is None:
            sl[1] = kind
            sl[4] = table_buffer(kind, cam.width)
