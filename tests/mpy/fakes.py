"""The fakes of the payload-control tests (CPython and the MicroPython VM): the narrow
module context (:class:`FakeCtx`, the contract of flight/context.py) and fakes of the HAL
devices the control modules drive (power switches, FSM, camera, temperature sensors, bias
supply, comparator DAC, FPGA framer).  The rig builders of tests/mpy/kit.py put them
together.  MicroPython-clean: no dataclasses, no f-strings, no typing at run time; the
hot-path fakes (camera replay, mirror, framer counters) allocate nothing, so a heap-locked
tick measures the flight code alone.

Import: ``from fakes import ...`` in tests/mpy (its directory is on the path, in the VM
too); ``from tests.mpy.fakes import ...`` in the CPython tests of tests/.
"""

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

    def trips(self):
        return sum(1 << i for i in range(N_SWITCHES) if self.state[i] and self.tripped[i])

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
        self.wave_fail = 0

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

    def wave_errors(self):
        return self.wave_fail  # (set by a test: the board timer's failed samples)


class FakeCamera:
    """hal.interfaces.Camera over sim.camera.Camera: the beacon spot sits at (pointing
    error ``err`` − mirror angle), the ideal one-frame-latency plant of the APT.

    ``beacon`` / ``ready`` switch the spot / new frames (not ready: a read returns the
    last frame's counter again); ``raise_next`` makes that many
    reads raise BusError, ``oom_next`` MemoryError (a software fault, not the camera's);
    ``hot`` = {(x, y): DN at 9 ms} adds hot pixels whose dark signal grows with the
    exposure; ``replay`` (an array) is copied instead of rendering: no float maths, no
    allocation — what a DMA'd frame costs the flight code."""

    width = 1280  # (the reference sensor's figures: hal.contracts Camera)
    height = 1024
    pixel_max = 1023
    frame_period_us = 10000
    exposure_min_us = 0  # (the kit's plant: see read_roi's header)
    exposure_max_us = 9000
    gain_min = 1.0
    gain_max = 8.0
    plant_exposure_us = 0

    def __init__(self, fsm, err=(0.0, 0.0), seed=3, hot=None, **model_kw):
        from sim.camera import Camera

        self.model = Camera(seed=seed, **model_kw)
        self.fsm = fsm
        self.err = err
        self.beacon = True
        self.ready = True
        self.raise_next = 0
        self.oom_next = 0
        self.corrupt_next = 0
        self.hot = hot or {}
        self.replay = None
        self.exposure_us = 1000
        self.gain_x16 = 16
        self.reads = 0
        self.frames = 0  # frames the sensor made (the counter; ``ready`` holds it)
        self.flag_next = 0  # that many next reads flagged bad by the camera (False)
        self.meta_next = None  # (exposure us, gain x16) the next read's header says, once
        self.frame_age_us = 0  # the frame's age at the read (hal.interfaces META_FRAME_AGE_US)

    def init(self):
        pass

    def set_gain(self, g):
        g = self.model.set_gain(g)
        self.gain_x16 = int(g * 16 + 0.5)
        return g

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
        if self.ready:  # a new frame; else the last one again, as the board's stream does
            self.frames += 1
        meta[0] = self.frames & 0xFFFF  # the frame counter (hal/contracts.py Camera.read_roi)
        # The header's exposure: the kit's plant samples the mirror at the frame's instant
        # (no mirror motion during an exposure: 0 µs to the predictor's model of the
        # command history, and within this camera's range); the rendered spot's signal
        # follows ``exposure_us``.
        meta[1] = self.plant_exposure_us
        meta[2] = self.gain_x16
        meta[3] = self.frame_age_us  # (the kit's ticks read each frame as it completes)
        if self.meta_next is not None:
            meta[1], meta[2] = self.meta_next
            self.meta_next = None
        if self.flag_next:
            self.flag_next -= 1
            return False
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
        if self.corrupt_next:  # a corrupted stream: one pixel beyond the 10-bit full scale
            self.corrupt_next -= 1
            buf[(w * h) >> 1] = 0xFFFF
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
