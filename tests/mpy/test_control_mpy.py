"""Payload control modules (APT, SiPM bias, comparator, framer) under MicroPython.

Plain test functions; runs under CPython and inside the MicroPython VM.  The APT sees a
beacon spot rendered by sim.camera (pure Python) at (pointing error - mirror angle); once
it tracks, the camera replays its last frame so that one TRACK tick can run under
``micropython.heap_lock()``: the hot path allocates nothing (DESIGN §2).
"""

import math
from array import array

from flight import apt as A
from flight import bias as B
from flight import comparator as C
from flight import framer_ctl as F
from flight.params import Params
from sim.camera import Camera

try:
    import micropython
except ImportError:  # CPython: the heap lock is a MicroPython facility
    micropython = None

LSB = 2.0 * math.pi / 180.0 / 32768  # rad per FSM code
MASK = (1 << 30) - 1


class FakeModes:
    def __init__(self):
        self.requests = []

    def request(self, target, cause=""):
        self.requests.append(target)


class FakeApp:
    def __init__(self):
        self.params = Params()
        self.events = []
        self.modes = FakeModes()
        self.adcs = []

    def emit(self, sev, ev_id, text="", args=None):
        self.events.append((ev_id, text))

    def now_s(self):
        return 0.0

    def send_adcs(self, body):
        self.adcs.append(body)

    def named(self, ev_id):
        return [t for i, t in self.events if i == ev_id]


class FakePower:
    def __init__(self):
        self.state = [False] * 5

    def set(self, sw, on):
        self.state[sw] = on

    def get(self, sw):
        return self.state[sw]


class FakeFsm:
    def __init__(self):
        self.cx = 0
        self.cy = 0
        self.enabled = False

    def init(self):
        self.cx = 0
        self.cy = 0

    def enable(self, on):
        self.enabled = on

    def set_codes(self, cx, cy):
        self.cx = cx
        self.cy = cy

    def fault(self):
        return False


class FakeCamera:
    """Renders the spot at err - FSM angle; ``replay`` copies a stored frame instead (no
    float maths, no allocation: what a DMA'd frame costs the flight code)."""

    width = 1280
    height = 1024
    pixel_max = 1023

    def __init__(self, fsm, err):
        self.model = Camera(seed=3)
        self.fsm = fsm
        self.err = err
        self.replay = None
        self.exposure_us = 0

    def init(self):
        pass

    def set_gain(self, g):
        return g

    def set_exposure(self, us):
        self.exposure_us = us
        self.model.set_exposure(us * 1e-6)
        return us

    def frame_ready(self):
        return True

    def read_roi(self, x0, y0, w, h, b, buf, meta):
        src = self.replay
        if src is not None:
            n = w * h
            i = 0
            while i < n:
                buf[i] = src[i]
                i += 1
            return True
        self.model.set_pointing(self.err[0], self.err[1], self.fsm.cx * LSB, self.fsm.cy * LSB)
        self.model.read(buf, x0, y0, w, h, b)
        return True


def _apt(err=(0.003, -0.002)):
    app = FakeApp()
    fsm = FakeFsm()
    cam = FakeCamera(fsm, err)
    apt = A.Apt(app, cam, fsm, FakePower())
    apt.define_params(app.params)
    apt.start_session()
    return app, apt, cam, fsm


def _until(apt, state, n):
    for _ in range(n):
        apt.tick()
        if apt.state == state:
            return True
    return False


def test_control_modules_import_and_define_parameters():
    app = FakeApp()
    p = app.params
    A.Apt(app, None, None, None).define_params(p)
    B.BiasControl(app, None, [], None).define_params(p)
    F.FramerControl(app, None, None).define_params(p)
    C.ComparatorControl(app, None, None).define_params(p)
    for name in ("apt_ki", "bias_kt_mv_per_k", "framer_windows", "comp_ber_target"):
        assert name in p.defs
    assert A.STATE_NAMES[A.TRACK] == "TRACK" and F.LINK_NAMES[F.L_LOCKED] == "LOCKED"


def test_apt_search_acquire_track():
    app, apt, cam, fsm = _apt()
    assert apt.state == A.SEARCH
    assert _until(apt, A.ACQUIRE, 8 + A.DARK_FRAMES + 2)  # dark frames, then the search
    assert _until(apt, A.TRACK, 60)
    for _ in range(30):
        apt.tick()
    assert apt.state == A.TRACK and apt.valid
    rx = (cam.err[0] - fsm.cx * LSB) * 1e6
    ry = (cam.err[1] - fsm.cy * LSB) * 1e6
    assert abs(rx) < 15 and abs(ry) < 15  # urad
    assert app.named(A.EV_APT_STATE)[-1] == "ACQUIRE -> TRACK"


def test_apt_track_tick_allocates_nothing():
    app, apt, cam, fsm = _apt(err=(0.001, 0.001))
    assert _until(apt, A.TRACK, 80)
    for _ in range(10):
        apt.tick()
    frame = array("H", apt._trk_buf)  # the last 16x16 TRACK frame
    cam.replay = frame
    apt.tick()  # one replayed tick outside the lock (first use of the replay path)
    v0 = apt.valid_frames
    errs = (apt.camera_errors, apt.fsm_errors, apt.invalid_frames)
    if micropython is not None:
        micropython.heap_lock()
    try:
        for _ in range(20):
            apt.tick()
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    # (a MemoryError inside the camera or mirror call would be caught and counted)
    assert (apt.camera_errors, apt.fsm_errors, apt.invalid_frames) == errs
    assert apt.valid_frames == v0 + 20 and apt.state == A.TRACK
    assert isinstance(apt.law.u_x, int) and isinstance(apt.spot_x, int)


class FakeTemp:
    def __init__(self, t):
        self.t = t
        self.mode = None
        self.k = 0

    def read_c(self):
        if self.mode == "error":
            raise OSError("bus")
        if self.mode == "nan":
            return float("nan")
        self.k += 1
        return self.t + (0.002 if self.k & 1 else -0.002)


class FakeSupply:
    def __init__(self):
        self.v = 15.0

    def init(self):
        self.v = 15.0

    def limits(self):
        return (15.0, 40.0)

    def set_volts(self, v):
        self.v = v
        return v

    def read_back_v(self):
        return self.v


def test_bias_formula_fallback_and_safe_bias():
    app = FakeApp()
    temps = [FakeTemp(35.0), FakeTemp(35.05)]
    sup = FakeSupply()
    b = B.BiasControl(app, sup, temps, FakePower())
    b.define_params(app.params)
    app.params.set("bias_ff_tau_s", 0.0)
    app.params.set("bias_hold_max_s", 1.0)
    b.start_session()
    for _ in range(6):
        b.update()
    assert b.state == B.ACTIVE
    assert abs(sup.v - (24.55 + 0.0215 * 10.0 + 3.0)) < 0.005
    temps[0].mode = "error"
    b.update()
    assert b.source == 1 and app.named(B.EV_BIAS_SENSOR)
    temps[1].mode = "nan"
    b.update()
    assert b.state == B.HOLD and app.named(B.EV_BIAS_HOLD)
    b.update()
    assert b.state == B.FAULT and abs(sup.v - 21.0) < 1e-9


class FakeFramerHal:
    def __init__(self):
        self.k = [0] * 10
        self.rx = False

    def init(self):
        pass

    def enable_rx(self, on):
        self.rx = on

    def enable_tx(self, on):
        pass

    def set_mode(self, m):
        pass

    def add(self, ok, crc, pre, trig, locked):
        k = self.k
        k[0] = (k[0] + ok) & MASK
        k[1] = (k[1] + crc) & MASK
        k[3] = (k[3] + pre) & MASK
        k[9] = (k[9] + trig) & MASK
        k[7] = 1 if locked else 0
        k[8] = (k[8] + 1) & 0xFFFF

    def read_counters(self, buf):
        for i in range(10):
            buf[i] = self.k[i]


class FakeDac:
    code_max = 4095

    def __init__(self):
        self.code = 0

    def init(self):
        self.code = 2048

    def set_code(self, c):
        self.code = c


def test_framer_wrap_and_comparator_calibration():
    app = FakeApp()
    hal = FakeFramerHal()
    dac = FakeDac()
    fc = F.FramerControl(app, hal, FakePower())
    comp = C.ComparatorControl(app, dac, fc)
    fc.define_params(app.params)
    comp.define_params(app.params)
    app.params.set("comp_start_code", 2000)
    hal.k[0] = MASK - 3  # the packet counter is about to wrap
    fc.start_session()
    comp.start_session()
    fc.update()
    added = [0]

    def window(signal):
        code = dac.code
        trig = 100000 if code < 1000 else 3
        if signal:
            b = min(0.5, 1e-4 * 10 ** (abs(code - 2000) / 100.0))
            if b < 0.05:
                pre = int(64 * 1801 * b + 0.5)
                hal.add(1801, 0, pre, trig + 2500000, True)
                added[0] += 1801
            else:
                hal.add(0, 0, 0, trig + 2500000, False)
        else:
            hal.add(0, 0, 0, trig, False)
        fc.update()
        comp.update()

    for _ in range(40):
        window(False)
        if comp.state == C.WAIT_SIGNAL:
            break
    assert comp.noise_floor == 1000
    for _ in range(100):
        window(True)
        if comp.state == C.TRACK:
            break
    assert comp.state == C.TRACK
    assert abs(comp.tracking_level() - 2000) <= 15
    assert fc.link == F.L_LOCKED
    assert hal.k[0] < added[0]  # the 30-bit hardware counter wrapped ...
    assert fc.totals[0] == added[0]  # ... and no packet was lost in the arithmetic


def test_flight_app_on_the_pass_world_reaches_track_and_lock():
    """The pass world (hal/sim/world.py and its sim/ models) runs here too: a session
    with the beacon in view acquires, tracks and locks the link within a few seconds."""
    from flight.app import FlightApp
    from flight.keys import Keyring
    from hal.clock import VirtualClock
    from hal.sim.board import make_board
    from hal.sim.world import make_world

    class FrameLog:  # the world's truth observer (the pass runner's recorder, reduced)
        def __init__(self):
            self.frames = 0

        def frame(self, w):
            self.frames += 1

        def window(self, w, counts):
            pass

    world = make_world("nominal", seed=2, pass_start_s=-150.0, session_start_s=1.0)
    log = FrameLog()
    world.recorder = log
    clock = VirtualClock()
    board = make_board(clock=clock, world=world)
    app = FlightApp(board, keyring=Keyring())
    app.boot(reset_cause="POWER_ON")
    app.run_for(500000)
    app.modes.request("STANDBY")
    app.modes.request("SESSION")
    apt = app.payload["apt"]
    fc = app.payload["framer"]
    for _ in range(60):
        app.run_for(100000)
        if apt.state == A.TRACK and fc.link == F.L_LOCKED:
            break
    assert apt.state == A.TRACK and fc.link == F.L_LOCKED
    assert app.payload["bias"].state == B.ACTIVE
    rx, ry = world.residual()
    assert math.sqrt(rx * rx + ry * ry) < 50e-6  # rad: the fine loop holds the beacon
    assert log.frames > 100 and log.frames == world.camera.frame
