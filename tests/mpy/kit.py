"""The one fake kit of the payload-control tests (CPython and the MicroPython VM).

Fakes of the HAL devices the control modules drive, the narrow module context
(:class:`FakeCtx`, the contract of flight/context.py), and one rig builder
(:func:`rig`).  MicroPython-clean: no dataclasses, no f-strings, no typing at run time;
the hot-path fakes (camera replay, mirror, framer counters) allocate nothing, so a
heap-locked tick measures the flight code alone.

Import: ``from kit import ...`` in tests/mpy (its directory is on the path, in the VM
too); ``from tests.mpy.kit import ...`` in the CPython tests of tests/.
"""

try:
    import micropython
except ImportError:  # CPython: nothing to lock
    micropython = None

from flight.params import Params
from hal.errors import BusError, SensorError
from hal.interfaces import (COUNTER_MASK, CTR_CRC_ERRORS, CTR_LOCKED, CTR_PACKETS_OK,
                            CTR_PREAMBLE_BIT_ERRORS, CTR_PRBS_BIT_ERRORS, CTR_PRBS_BITS,
                            CTR_SERIAL_GAPS, CTR_SNAPSHOT, CTR_TRIGGERS, FSM_CODE_MAX,
                            CTR_CODE_VIOLATIONS, FSM_CODE_MIN, FSM_LSB_RAD, FSM_WAVE_PERIOD_US,
                            N_COUNTERS, N_SWITCHES)


# ---------------------------------------------------------------------- the context
class FakeCtx:
    """flight.context.Context for one or more modules: real parameters (the modules'
    declared PARAMS), recorded events, mode requests and ADCS messages, settable time.

    ``events``: [(ev_id, args, detail)]; ``modes``: [(mode, cause)];
    ``refuse``: text returned by request_mode (None: accepted); ``adcs``: [values]."""

    def __init__(self, *modules, params=None):
        self.params = Params()
        for m in modules:
            self.params.declare(m.PARAMS, getattr(m, "__name__", "module"))
        for k in params or {}:
            self.params.set(k, params[k])
        self.events = []
        self.modes = []
        self.refuse = None
        self.adcs = []
        self.t = 0.0

    def emit(self, ev_id, args=None, detail=""):
        self.events.append((ev_id, args, detail))

    def now(self):
        return self.t

    def request_mode(self, mode, cause):
        self.modes.append((mode, cause))
        return self.refuse

    def send_adcs(self, values):
        self.adcs.append(values)

    def named(self, ev_id):
        """Details of the events ``ev_id`` so far."""
        return [e[2] for e in self.events if e[0] == ev_id]

    def args(self, ev_id):
        return [e[1] for e in self.events if e[0] == ev_id]

    def ids(self):
        return [e[0] for e in self.events]


# ---------------------------------------------------------------------- devices
class FakePower:
    def __init__(self):
        self.state = [False] * N_SWITCHES
        self.tripped = [False] * N_SWITCHES
        self.fail = 0  # that many next set() calls raise BusError

    def init(self):
        for i in range(N_SWITCHES):
            self.state[i] = False

    def set(self, sw, on):
        if self.fail:
            self.fail -= 1
            raise BusError("load switch %d" % sw)
        self.state[sw] = on

    def get(self, sw):
        return self.state[sw]

    def fault(self, sw):
        return self.tripped[sw]

    def currents(self, buf):
        for i in range(N_SWITCHES):
            buf[i] = 100 if self.state[i] else 0


class FakeFsm:
    """Records the commanded codes; ``steps`` (when ``record``) the move of each command."""

    def __init__(self, record=False):
        self.cx = 0
        self.cy = 0
        self.enabled = False
        self.faulted = False
        self.fail = 0  # that many next set_codes() raise BusError
        self.record = record
        self.steps = []
        self.wave_x = self.wave_y = None  # the last play_wave's buffers and length
        self.wave_n = 0
        self.waves = 0

    def init(self):
        self.cx = 0
        self.cy = 0

    def enable(self, on):
        self.enabled = on
        if not on:
            self.cx = 0
            self.cy = 0

    def is_enabled(self):
        return self.enabled

    def set_codes(self, cx, cy):
        if not (FSM_CODE_MIN <= cx <= FSM_CODE_MAX and FSM_CODE_MIN <= cy <= FSM_CODE_MAX):
            raise ValueError("FSM code out of range")
        if self.fail:
            self.fail -= 1
            raise BusError("fsm")
        if self.record:
            self.steps.append((cx - self.cx, cy - self.cy))
        self.cx = cx
        self.cy = cy

    def play_wave(self, xs, ys, n):
        """A unit rig has no timeline: the sample at the end of a 10 ms frame is the
        command the next frame sees (the one-frame plant); the waveform is kept
        (``wave_x``, ``wave_y``, ``wave_n``) for the tests to read."""
        k = 10000 // FSM_WAVE_PERIOD_US - 1
        k = k if k < n else n - 1
        self.set_codes(xs[k], ys[k])
        self.wave_x = xs  # (no tuple: the fake allocates nothing either)
        self.wave_y = ys
        self.wave_n = n
        self.waves += 1

    def fault(self):
        return self.faulted


class FakeCamera:
    """hal.interfaces.Camera over sim.camera.Camera: the beacon spot sits at (pointing
    error ``err`` − mirror angle), the ideal one-frame-latency plant of the APT.

    ``beacon`` / ``ready`` switch the spot / new frames; ``raise_next`` makes that many
    reads raise BusError, ``oom_next`` MemoryError (a software fault, not the camera's);
    ``hot`` = {(x, y): DN at 9 ms} adds hot pixels whose dark signal grows with the
    exposure; ``replay`` (an array) is copied instead of rendering: no float maths, no
    allocation — what a DMA'd frame costs the flight code."""

    width = 1280
    height = 1024
    pixel_max = 1023

    def __init__(self, fsm, err=(0.0, 0.0), seed=3, hot=None, **model_kw):
        from sim.camera import Camera

        self.model = Camera(seed=seed, **model_kw)
        self.fsm = fsm
        self.err = err
        self.beacon = True
        self.ready = True
        self.raise_next = 0
        self.oom_next = 0
        self.hot = hot or {}
        self.replay = None
        self.exposure_us = 1000
        self.reads = 0

    def init(self):
        pass

    def set_gain(self, g):
        return self.model.set_gain(g)

    def set_exposure(self, us):
        self.exposure_us = us
        self.model.set_exposure(us * 1e-6)
        return us

    def frame_ready(self):
        return self.ready

    def read_roi(self, x0, y0, w, h, b, buf, meta):
        if self.raise_next:
            self.raise_next -= 1
            raise BusError("injected camera error")
        if self.oom_next:
            self.oom_next -= 1
            raise MemoryError("injected")
        self.reads += 1
        src = self.replay
        if src is not None:
            n = w * h
            i = 0
            while i < n:
                buf[i] = src[i]
                i += 1
            return True
        self.model.set_beacon(self.beacon)
        self.model.set_pointing(self.err[0], self.err[1], self.fsm.cx * FSM_LSB_RAD,
                                self.fsm.cy * FSM_LSB_RAD)
        self.model.read(buf, x0, y0, w, h, b)
        for xy in self.hot:
            x, y = xy
            if x0 <= x < x0 + w * b and y0 <= y < y0 + h * b:
                i = ((y - y0) // b) * w + (x - x0) // b
                v = buf[i] + self.hot[xy] * self.exposure_us // 9000 // (b * b)
                buf[i] = v if v < 1023 else 1023
        return True

    def residual_urad(self):
        return ((self.err[0] - self.fsm.cx * FSM_LSB_RAD) * 1e6,
                (self.err[1] - self.fsm.cy * FSM_LSB_RAD) * 1e6)


class FakeTemp:
    """A temperature sensor: ``t`` plus a tiny alternating dither (a real sensor is never
    bit-identical twice); faults: ``mode`` in (None, "error", "sensor_error", "nan",
    "stuck", "offset" (adds ``offset``))."""

    def __init__(self, t=25.0):
        self.t = t
        self.mode = None
        self.offset = 0.0
        self._flip = False
        self._stuck = None

    def init(self):
        pass

    def read_c(self):
        if self.mode == "error":
            raise BusError("no ack")
        if self.mode == "sensor_error":
            raise SensorError("conversion failed")
        if self.mode == "nan":
            return float("nan")
        if self.mode == "stuck":
            if self._stuck is None:
                self._stuck = self.t
            return self._stuck
        self._stuck = None
        self._flip = not self._flip
        v = self.t + (0.002 if self._flip else -0.002)
        if self.mode == "offset":
            v += self.offset
        return v


class FakeSupply:
    """SiPM bias supply, 15..40 V, 1 mV steps; read-back = command + ``readback_offset``
    (``readback_fail``: read-back raises SensorError); ``fail_writes`` next writes raise."""

    v_min = 15.0
    v_max = 40.0

    def __init__(self):
        self.v = None
        self.readback_offset = 0.0
        self.readback_fail = False
        self.writes = []
        self.fail_writes = 0

    def init(self):
        self.v = self.v_min

    def limits(self):
        return (self.v_min, self.v_max)

    def set_volts(self, v):
        if not (self.v_min <= v <= self.v_max):
            raise ValueError("bias %r V outside the limits" % (v,))
        if self.fail_writes:
            self.fail_writes -= 1
            raise BusError("dac")
        self.v = round(v * 1000) / 1000.0
        self.writes.append(self.v)
        return self.v

    def read_back_v(self):
        if self.readback_fail:
            raise SensorError("monitor over range")
        return self.v + self.readback_offset

    def set_uv(self, uv):  # the HAL's integer twins (flight/bias.py uses them)
        return int(round(self.set_volts(uv / 1000000) * 1e6))

    def read_back_uv(self):
        return int(round(self.read_back_v() * 1e6))


class QuietSupply:
    """A bias supply that keeps the float it is given and allocates nothing of its own
    (FakeSupply rounds and logs every write): for what one bias update costs alone."""

    def __init__(self):
        self.v = 15.0
        self.uv = 15000000

    def init(self):
        self.v = 15.0
        self.uv = 15000000

    def set_volts(self, v):
        self.v = v
        return v

    def read_back_v(self):
        return self.v

    def set_uv(self, uv):
        self.uv = uv
        return uv

    def read_back_uv(self):
        return self.uv

    def limits(self):
        return (15.0, 40.0)


class FakeDac:
    """Comparator threshold DAC; ``history`` of the codes written; ``fail`` next writes
    raise BusError."""

    code_max = 4095

    def __init__(self):
        self.value = 2048
        self.history = []
        self.fail = 0

    def init(self):
        self.value = 2048

    def set_code(self, c):
        if not (isinstance(c, int) and 0 <= c <= self.code_max):
            raise ValueError("DAC code %r" % (c,))
        if self.fail:
            self.fail -= 1
            raise BusError("dac")
        self.value = c
        self.history.append(c)

    def code(self):
        return self.value


class FakeFramerHal:
    """The FPGA framer's counter block (hal.interfaces CTR_* layout, wrapping at
    COUNTER_MASK); :meth:`add` is one snapshot's increments.  ``fail`` next reads raise
    BusError, ``fault`` next set_mode calls raise BusError."""

    def __init__(self):
        self.k = [0] * N_COUNTERS
        self.rx = False
        self.tx = False
        self.mode = 0
        self.fail = 0
        self.fault = 0

    def init(self):
        self.rx = False
        self.tx = False
        self.mode = 0

    def enable_rx(self, on):
        self.rx = on

    def enable_tx(self, on):
        self.tx = on

    def set_mode(self, m):
        if m not in (0, 1, 2):
            raise ValueError("framer mode %r" % (m,))
        if self.fault:
            self.fault -= 1
            raise BusError("framer")
        self.mode = m

    def add(self, ok=0, crc=0, gaps=0, pre=0, prbs_err=0, prbs_bits=0, trig=0, locked=True,
            cv=0):
        k = self.k
        k[CTR_PACKETS_OK] = (k[CTR_PACKETS_OK] + ok) & COUNTER_MASK
        k[CTR_CRC_ERRORS] = (k[CTR_CRC_ERRORS] + crc) & COUNTER_MASK
        k[CTR_SERIAL_GAPS] = (k[CTR_SERIAL_GAPS] + gaps) & COUNTER_MASK
        k[CTR_PREAMBLE_BIT_ERRORS] = (k[CTR_PREAMBLE_BIT_ERRORS] + pre) & COUNTER_MASK
        k[CTR_PRBS_BIT_ERRORS] = (k[CTR_PRBS_BIT_ERRORS] + prbs_err) & COUNTER_MASK
        k[CTR_PRBS_BITS] = (k[CTR_PRBS_BITS] + prbs_bits) & COUNTER_MASK
        k[CTR_TRIGGERS] = (k[CTR_TRIGGERS] + trig) & COUNTER_MASK
        k[CTR_CODE_VIOLATIONS] = (k[CTR_CODE_VIOLATIONS] + cv) & COUNTER_MASK
        k[CTR_LOCKED] = 1 if locked else 0
        k[CTR_SNAPSHOT] = (k[CTR_SNAPSHOT] + 1) & 0xFFFF

    def read_counters(self, buf):
        if self.fail:
            self.fail -= 1
            raise BusError("spi")
        for i in range(N_COUNTERS):
            buf[i] = self.k[i]


# ---------------------------------------------------------------------- the rig
class Rig:
    """One or more control modules on kit fakes (see :func:`rig` and :func:`app_rig`).

    ``events``: every event the modules emitted, [(ev_id, args, detail)]."""

    def named(self, ev_id):
        """Details of the events ``ev_id`` so far."""
        return [e[2] for e in self.events if e[0] == ev_id]

    def args(self, ev_id):
        return [e[1] for e in self.events if e[0] == ev_id]

    def tick(self, n=1):
        """``n`` APT ticks (10 ms frames)."""
        for _ in range(n):
            self.apt.tick()

    def until(self, state, max_ticks):
        """APT ticks until ``state``: how many it took (AssertionError if not reached)."""
        for i in range(max_ticks):
            self.apt.tick()
            if self.apt.state == state:
                return i + 1
        raise AssertionError("APT not in state %d within %d ticks (in %d)" % (
            state, max_ticks, self.apt.state))

    def hk(self, kind, diag=False):
        """{field name: raw value} of a module's HK (or HK_DIAG) fields, as its hk()
        (hk_diag()) writes them into the packet's value list; checks it writes exactly
        its own slots."""
        mod, obj = self.decl[kind]
        fields = mod.HK_DIAG if diag else mod.HK
        values = [None] * (len(fields) + 2)
        values[0] = "start"
        values[-1] = "end"
        if diag:
            obj.hk_diag(values, 1)
        else:
            obj.hk(values, 1)
        if values[0] != "start" or values[-1] != "end":
            raise AssertionError("%s hk wrote outside its slots" % kind)
        out = {}
        for k in range(len(fields)):
            v = values[k + 1]
            if v is None:
                raise AssertionError("%s hk left %s unset" % (kind, fields[k][0]))
            out[fields[k][0]] = v  # a field record's name (flight.telemetry.F_NAME)
        return out


def rig(*kinds, params=None, err=(0.0, 0.0), seed=3, t=25.0, session=True, **camera_kw):
    """Build the control modules ``kinds`` (any of "apt", "aptcal", "bias", "framer",
    "comparator"; the FSM calibration "aptcal" brings its APT, the comparator its framer)
    on kit fakes with one FakeCtx.

    ``params``: parameter overrides (set before the modules are built); ``err``: the
    pointing error the camera shows (rad); ``t``: the temperature of both sensors (the
    second reads 0.05 K more); ``session``: start the modules' sessions (in the flight
    order: bias, apt, framer, comparator).  Returns a :class:`Rig` with the fakes and
    modules as attributes (power, fsm, cam, temps, supply, hal, dac; apt, owner, bias,
    fc, comp) and ``ctx``."""
    from flight import apt, bias, comparator, framer_ctl, thermal_sensors

    if "comparator" in kinds and "framer" not in kinds:
        kinds = kinds + ("framer",)
    decl = {"apt": apt, "bias": bias, "framer": framer_ctl, "comparator": comparator}
    if "aptcal" in kinds:
        from flight import apt_calib  # (imported only when asked for: heap on the M7)

        decl["aptcal"] = apt_calib
        if "apt" not in kinds:
            kinds = kinds + ("apt",)
    r = Rig()
    r.app = None
    mods = [decl[k] for k in ("bias", "apt", "aptcal", "framer", "comparator") if k in kinds]
    if "bias" in kinds:
        mods.insert(1, thermal_sensors)  # the bias module's sensor selection
    r.ctx = FakeCtx(*mods, params=params)
    r.events = r.ctx.events
    r.power = FakePower()
    r.apt = r.owner = r.bias = r.fc = r.comp = None
    order = []
    if "bias" in kinds:
        r.temps = [FakeTemp(t), FakeTemp(t + 0.05)]
        r.supply = FakeSupply()
        r.bias = bias.BiasControl(r.ctx, r.supply, r.temps, r.power)
        order.append(r.bias)
    if "apt" in kinds:
        r.fsm = FakeFsm(record=True)
        r.cam = FakeCamera(r.fsm, err=err, seed=seed, **camera_kw)
        r.apt = apt.Apt(r.ctx, r.cam, r.fsm, r.power)
        order.append(r.apt)
    if "aptcal" in kinds:  # the FSM calibration's owner; its run rides on the APT (apt.cal)
        r.owner = decl["aptcal"].FsmCalOwner(r.ctx, r.apt)  # while armed; no session
    if "framer" in kinds:
        r.hal = FakeFramerHal()
        r.fc = framer_ctl.FramerControl(r.ctx, r.hal, r.power)
        order.append(r.fc)
        if r.apt is not None:
            r.apt.on_laser = r.fc.enable_tx
    if "comparator" in kinds:
        r.dac = FakeDac()
        r.comp = comparator.ComparatorControl(r.ctx, r.dac, r.fc)
        order.append(r.comp)
    r.modules = order
    _declare(r)
    if session:
        for m in order:
            m.start_session()
    return r


def cal_rig(params=None, err=(0.001, 0.001)):
    """The APT tracking with the FSM calibration on it (flight/apt_calib.py): the rig of
    the calibration tests, ``rig("aptcal")`` brought to TRACK with the mirror's step log
    off (it would allocate in the calibration's heap-locked hot path)."""
    from flight import apt

    r = rig("aptcal", params=params, err=err)
    r.fsm.record = False
    r.until(apt.TRACK, 200)
    return r


def bias_update_rig(params=None):
    """The bias module in its session on a :class:`QuietSupply`: the rig of what one
    500 ms update allocates (tests/mpy/test_bias_track_mpy.py) and costs on the M7
    (bench/sipm_bias_m7.py)."""
    r = rig("bias", params=params, session=False)
    r.supply = r.bias.supply = QuietSupply()
    r.bias.start_session()
    return r


def app_rig(*kinds, params=None, keyring=None, err=(0.0, 0.0), seed=3, t=25.0, **camera_kw):
    """The real flight application (flight.app.FlightApp) on a board of kit fakes for
    the control modules ``kinds``, booted (in SAFE), ``params`` set.  Attributes as
    :func:`rig`, plus app, clock and link (an in-memory UART: hal.sim.link.MemLink);
    ``events`` records what the payload modules emit through their context."""
    from flight.app import FlightApp
    from flight.keys import Keyring
    from hal.clock import VirtualClock
    from hal.interfaces import Board
    from hal.sim.link import MemLink
    from hal.sim.storage import MemStorage
    from hal.sim.watchdog import SimWatchdog

    if "comparator" in kinds and "framer" not in kinds:
        kinds = kinds + ("framer",)
    r = Rig()
    r.clock = VirtualClock()
    r.power = FakePower()
    dev = {}
    if "bias" in kinds:
        r.temps = [FakeTemp(t), FakeTemp(t + 0.05)]
        r.supply = FakeSupply()
        dev["bias"] = r.supply
        dev["temps"] = r.temps
    if "apt" in kinds:
        r.fsm = FakeFsm(record=True)
        r.cam = FakeCamera(r.fsm, err=err, seed=seed, **camera_kw)
        dev["camera"] = r.cam
        dev["fsm"] = r.fsm
    if "framer" in kinds:
        r.hal = FakeFramerHal()
        dev["framer"] = r.hal
    if "comparator" in kinds:
        r.dac = FakeDac()
        dev["comparator"] = r.dac
    r.link = MemLink()
    board = Board(power=r.power, clock=r.clock, link=r.link, storage=MemStorage(),
                  watchdog=SimWatchdog(r.clock), **dev)
    r.app = FlightApp(board, keyring=keyring if keyring is not None else Keyring())
    r.ctx = r.app.ctx
    r.events = []
    emit = r.ctx.emit

    def record(ev_id, args=None, detail=""):
        r.events.append((ev_id, args, detail))
        return emit(ev_id, args, detail)

    r.ctx.emit = record
    r.app.boot()
    for k in params or {}:
        r.app.params.set(k, params[k])
    pl = r.app.payload
    r.apt = pl.get("apt")
    r.bias = pl.get("bias")
    r.fc = pl.get("framer")
    r.comp = pl.get("comparator")
    _declare(r)
    return r


def _declare(r):
    from flight import apt, bias, comparator, framer_ctl

    r.decl = {}
    for k, mod, obj in (("apt", apt, r.apt), ("bias", bias, r.bias),
                        ("framer", framer_ctl, r.fc), ("comparator", comparator, r.comp)):
        if obj is not None:
            r.decl[k] = (mod, obj)


def locked(fn, n):
    """Call ``fn()`` ``n`` times with the MicroPython heap locked: any allocation raises
    MemoryError (CPython has no heap lock: there the calls just run)."""
    if micropython is not None:
        micropython.heap_lock()
    try:
        for _ in range(n):
            fn()
    finally:
        if micropython is not None:
            micropython.heap_unlock()

