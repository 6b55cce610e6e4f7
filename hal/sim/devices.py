"""Simulated payload devices: the hal.interfaces contracts over the physics of sim/.

Each device is a thin adapter; the physics objects live in :class:`hal.sim.world.World`,
which steps them with the virtual clock.  Fault injection is per device (attributes
documented on each class) and driven by the world's scenario timeline or by tests.
"""

from hal.errors import BusError, DeviceFault, SensorError
from hal.interfaces import (
    WaveBuffers,
    camera_exposure_max,
    FSM_CODE_MAX,
    FSM_CODE_MIN,
    FSM_WAVE_PERIOD_US,
    CTR_CRC_ERRORS,
    CTR_LOCKED,
    CTR_PACKETS_OK,
    CTR_PREAMBLE_BIT_ERRORS,
    CTR_PRBS_BIT_ERRORS,
    CTR_PRBS_BITS,
    CTR_SERIAL_GAPS,
    CTR_SNAPSHOT,
    CTR_SYNC_LOSSES,
    CTR_TRIGGERS,
    CTR_CODE_VIOLATIONS,
    COUNTER_MASK,
    FRAMER_MODES,
    META_EXPOSURE_US,
    META_FRAME_AGE_US,
    META_FRAME_COUNTER,
    META_GAIN_X16,
    N_COUNTERS,
    BINNINGS,
    TEMP_Q,
    Camera,
    Framer,
)


class SimCamera(Camera):
    """Beacon camera: renders the latest frame's residual on demand (only what is read).
    Sensor geometry and ranges are the interface's reference sensor (hal.interfaces.Camera).

    Faults: ``drop_frames`` (int) — that many next reads return False (bad frame);
    ``bus_errors`` (int) — that many next reads raise BusError.
    """

    name = "sim-camera"

    def __init__(self, world, model):
        self.world = world
        self.model = model
        # The world's frame period (scenario ``frame_rate_hz``, checked by the world's
        # frame_period_us; by default the board's, hal.interfaces.CAMERA_FRAME_PERIOD_US),
        # and the longest exposure such a frame leaves (9 ms at 10 ms, 6 ms at 7 ms).
        self.frame_period_us = world.frame_us
        self.exposure_max_us = camera_exposure_max(world.frame_us)
        self.exposure_us = 1000
        self.gain_x16 = 16
        self.frame = 0  # frame counter of the latest complete frame
        self._returned = -1
        self.drop_frames = 0
        self.bus_errors = 0
        self.reads = 0

    def init(self):
        self._returned = -1
        self.world.frame_clock.restart(self.world.t_us)  # (the sensor starts its frames)

    def set_exposure(self, us):
        us = int(us)
        if not self.exposure_min_us <= us <= self.exposure_max_us:
            raise ValueError("exposure_us out of range")
        self.exposure_us = us
        t0 = self.world.physics_begin()  # the sensor model's float maths: physics
        self.model.set_exposure(us * 1e-6)
        self.world.physics_end(t0)
        return us

    def set_gain(self, gain):
        if not self.gain_min <= gain <= self.gain_max:
            raise ValueError("gain out of range")
        g = self.model.set_gain(gain)
        self.gain_x16 = int(g * 16 + 0.5)
        return g

    def frame_ready(self):
        if not self.world.camera_powered():
            raise DeviceFault("camera not powered")
        return self.frame != self._returned

    def read_roi(self, x0, y0, w, h, binning, buf, meta):
        if binning not in BINNINGS or w < 1 or h < 1 or x0 < 0 or y0 < 0:
            raise ValueError("window")
        if x0 + w * binning > self.width or y0 + h * binning > self.height:
            raise ValueError("window outside the sensor")
        if w * h > self.max_window_px or len(buf) < w * h:
            raise ValueError("window too large for the buffer")
        if not self.world.camera_powered():
            raise DeviceFault("camera not powered")
        if self.bus_errors:
            self.bus_errors -= 1
            raise BusError("injected camera bus error")
        self.reads += 1
        meta[META_FRAME_COUNTER] = self.frame & 0xFFFF
        meta[META_EXPOSURE_US] = self.exposure_us
        meta[META_GAIN_X16] = self.gain_x16
        meta[META_FRAME_AGE_US] = self.world.frame_clock.age_us(self.world.t_us)
        self._returned = self.frame
        if self.drop_frames:
            self.drop_frames -= 1
            return False
        t0 = self.world.physics_begin()  # the render is physics, not flight CPU
        self.model.read(buf, x0, y0, w, h, binning)
        bg = getattr(self.world, "background", None)
        if bg is not None:  # structured background scenario (sim/background.py)
            bg.add(self.model, buf, x0, y0, w, h, binning)
        self.world.physics_end(t0)
        return True


class SimFsm:
    """Fast steering mirror driver.  Faults: ``set_driver_fault(on)``; ``bus_errors``;
    ``wave_faults``: that many next waveforms lose their later samples (the board's timer
    failing on its bus: counted in :meth:`wave_errors`, never raised).
    ``play_wave``: the world applies each sample at its time, after the command latency
    (a timer-paced DAC on the board).

    ``world`` (optional): the mirror model's response to a command is physics, accounted
    by the world (``physics_begin``/``physics_end``), not flight CPU.
    """

    name = "sim-fsm"

    def __init__(self, model, world=None):
        self.model = model
        self.world = world
        self.enabled = False
        self.bus_errors = 0
        self.wave_faults = 0
        self._wave_errors = 0
        self.waves = 0  # waveforms played
        self._waves = WaveBuffers()  # the pairs play_wave trusts (register_wave_buffers)

    def init(self):
        self.model.set_enabled(False)
        self.model.command(0, 0)
        self.enabled = False

    def enable(self, on):
        if not on:
            self.model.command(0, 0)
            self.model.set_enabled(False)
            self.enabled = False
            return
        if self.model.fault:
            raise DeviceFault("FSM driver fault")
        self.model.set_enabled(True)
        self.enabled = True

    def is_enabled(self):
        return self.enabled

    def set_codes(self, cx, cy):
        if not (FSM_CODE_MIN <= cx <= FSM_CODE_MAX and FSM_CODE_MIN <= cy <= FSM_CODE_MAX):
            raise ValueError("FSM code out of range")
        if self.bus_errors:
            self.bus_errors -= 1
            raise BusError("injected FSM bus error")
        w = self.world
        if w is None:
            self.model.command(cx, cy)
            return
        t0 = w.physics_begin()
        w.fsm_command(cx, cy)  # after the world's command latency (honest world)
        w.physics_end(t0)

    def register_wave_buffers(self, x0, y0, x1, y1):
        self._waves.register(x0, y0, x1, y1)

    def play_wave(self, xs, ys, n):
        self._waves.check(xs, ys, n)
        if self.bus_errors:
            self.bus_errors -= 1
            raise BusError("injected FSM bus error")
        self.waves += 1
        w = self.world
        if w is None:  # no timeline: the first sample (a unit rig's one-frame plant)
            self.model.command(xs[0], ys[0])
            return
        if self.wave_faults and n > 1:  # (the timer's writes fail: sample 0 alone plays)
            self.wave_faults -= 1
            self._wave_errors += n - 1
            n = 1
        t0 = w.physics_begin()
        w.fsm_wave(xs, ys, n, FSM_WAVE_PERIOD_US)  # each sample at its time (the world)
        w.physics_end(t0)

    def wave_errors(self):
        return self._wave_errors

    def fault(self):
        return self.model.fault

    def set_driver_fault(self, on):
        self.model.set_fault(on)


class SimTempSensor:
    """Temperature sensor (sim.thermal.TempSensor): faults via ``model.set_fault``."""

    t_min_c = -55.0
    t_max_c = 125.0

    def __init__(self, model, name, world=None):
        self.model = model
        self.name = name
        self.world = world  # brackets the model's maths as physics (World.physics_begin)
        self._min_q = int(self.t_min_c * TEMP_Q)
        self._max_q = int(self.t_max_c * TEMP_Q)

    def init(self):
        pass

    def read_c(self):
        w = self.world
        t0 = w.physics_begin() if w is not None else 0  # the thermal model: physics
        try:
            v = self.model.read()
        except OSError as e:
            raise BusError("%s: %s" % (self.name, e))
        finally:
            if w is not None:
                w.physics_end(t0)
        if v != v:
            raise SensorError("%s: no valid conversion" % self.name)
        if not self.t_min_c <= v <= self.t_max_c:
            raise SensorError("%s: %.2f degC outside the plausible range" % (self.name, v))
        return v

    def read_q(self):
        """``read_c`` in 1/TEMP_Q degC.  The thermal model's float and its conversion are
        the simulator's (inside the physics bracket: its allocation is counted apart,
        World.physics_alloc); the board's TMP117 gives the integer straight from its
        register (hal/real/tmp117.py)."""
        w = self.world
        t0 = w.physics_begin() if w is not None else 0
        try:
            v = self.model.read()
            q = int(v * TEMP_Q) if v == v and -1e6 < v < 1e6 else None
        except OSError as e:
            raise BusError("%s: %s" % (self.name, e))
        finally:
            if w is not None:
                w.physics_end(t0)
        if q is None:
            raise SensorError("%s: no valid conversion" % self.name)
        if not self._min_q <= q <= self._max_q:
            raise SensorError("%s: %.2f degC outside the plausible range" % (self.name, v))
        return q


class SimBiasSupply:
    """16-bit bias DAC + read-back monitor (the SiPM sees ``volts``).

    Faults: ``readback_offset_v`` (monitor error), ``bus_errors``.
    """

    code_max = 65535
    v_offset = 0.0
    v_per_code = 0.001  # 1 mV per code: 0 .. 65.535 V (assumed supply range)
    v_min = 15.0  # hardware-safe limits (assumed): below any breakdown, above the nominal
    v_max = 40.0
    name = "sim-bias"

    def __init__(self, world):
        self.world = world
        self._code = self._code_for(self.v_min)
        # The calibration in integer µV (set_uv, read_back_uv): 1 mV per code is exact.
        self._upc = int(self.v_per_code * 1e6 + 0.5)
        self._off_uv = int(self.v_offset * 1e6 + 0.5)
        self._min_uv = int(self.v_min * 1e6 + 0.5)
        self._max_uv = int(self.v_max * 1e6 + 0.5)
        self.readback_offset_v = 0.0
        self.bus_errors = 0

    def _code_for(self, v):
        return int((v - self.v_offset) / self.v_per_code + 0.5)

    def init(self):
        self._code = self._code_for(self.v_min)

    def volts(self):
        """The bias actually applied to the SiPM (0 when its switch is off)."""
        if not self.world.bias_powered():
            return 0.0
        return self.v_offset + self._code * self.v_per_code

    def set_code(self, code):
        v = self.v_offset + code * self.v_per_code
        if not 0 <= code <= self.code_max or v < self.v_min - 1e-9 or v > self.v_max + 1e-9:
            raise ValueError("bias code out of range")
        if self.bus_errors:
            self.bus_errors -= 1
            raise BusError("injected bias DAC error")
        self._code = code

    def set_volts(self, v):
        if not self.v_min <= v <= self.v_max:
            raise ValueError("bias volts out of range")
        self.set_code(self._code_for(v))
        return self.v_offset + self._code * self.v_per_code

    def code(self):
        return self._code

    def read_back_v(self):
        return self.volts() + self.readback_offset_v + self.world.readback_noise()

    def limits(self):
        return (self.v_min, self.v_max)

    # Integer twins (hot: the 500 ms bias update).  The DAC side is integer arithmetic
    # here as on the board; the monitor's noise and injected offset are the world's
    # floats, made inside a physics bracket (counted apart, World.physics_alloc).
    def set_uv(self, uv):
        if not self._min_uv <= uv <= self._max_uv:
            raise ValueError("bias volts out of range")
        upc = self._upc
        code = (uv - self._off_uv + (upc >> 1)) // upc
        if self.bus_errors:
            self.bus_errors -= 1
            raise BusError("injected bias DAC error")
        self._code = code
        return self._off_uv + code * upc

    def read_back_uv(self):
        w = self.world
        uv = self._off_uv + self._code * self._upc if w.bias_powered() else 0
        t0 = w.physics_begin()
        e = int((self.readback_offset_v + w.readback_noise()) * 1e6)
        w.physics_end(t0)
        return uv + e


class SimComparatorDac:
    """12-bit comparator threshold DAC; code/4095 is the receiver model's level 0..1."""

    code_max = 4095
    volts_per_code = 1.0 / 4095  # sim.receiver: full scale 1.0 V
    name = "sim-comparator"

    def __init__(self):
        self._code = 2048
        self.bus_errors = 0

    def init(self):
        self._code = 2048

    def set_code(self, code):
        if not 0 <= code <= self.code_max:
            raise ValueError("comparator code out of range")
        if self.bus_errors:
            self.bus_errors -= 1
            raise BusError("injected comparator DAC error")
        self._code = code

    def code(self):
        return self._code


class SimFramer(Framer):
    """FPGA framer: counters accumulated by the world every 100 ms (sim.framerstats).

    Faults: ``bus_errors`` (read_counters raises BusError), ``fault`` (DeviceFault).
    """

    name = "sim-framer"

    def __init__(self):
        self.rx = False
        self.tx = False
        self.mode = 0
        self.counters = [0] * N_COUNTERS
        self.bus_errors = 0
        self.fault = False

    def init(self):
        self.rx = False
        self.tx = False
        self.mode = 0

    def enable_rx(self, on):
        self.rx = bool(on)

    def enable_tx(self, on):
        self.tx = bool(on)

    def set_mode(self, mode):
        if mode not in FRAMER_MODES:
            raise ValueError("framer mode")
        self.mode = mode

    def accumulate(self, c, triggers, violations=0):
        """Add one window of sim.framerstats counts (called by the world)."""
        k = self.counters
        k[CTR_PACKETS_OK] = (k[CTR_PACKETS_OK] + c["ok"]) & COUNTER_MASK
        k[CTR_CRC_ERRORS] = (k[CTR_CRC_ERRORS] + c["crc_errors"]) & COUNTER_MASK
        k[CTR_SERIAL_GAPS] = (k[CTR_SERIAL_GAPS] + c["gaps"]) & COUNTER_MASK
        k[CTR_PREAMBLE_BIT_ERRORS] = (k[CTR_PREAMBLE_BIT_ERRORS]
                                      + c["preamble_bit_errors"]) & COUNTER_MASK
        k[CTR_PRBS_BIT_ERRORS] = (k[CTR_PRBS_BIT_ERRORS] + c["prbs_bit_errors"]) & COUNTER_MASK
        k[CTR_PRBS_BITS] = (k[CTR_PRBS_BITS] + c["prbs_bits"]) & COUNTER_MASK
        k[CTR_SYNC_LOSSES] = (k[CTR_SYNC_LOSSES] + c["sync_losses"]) & COUNTER_MASK
        k[CTR_TRIGGERS] = (k[CTR_TRIGGERS] + triggers) & COUNTER_MASK
        k[CTR_CODE_VIOLATIONS] = (k[CTR_CODE_VIOLATIONS] + violations) & COUNTER_MASK
        k[CTR_LOCKED] = 1 if c["locked"] else 0
        k[CTR_SNAPSHOT] = (k[CTR_SNAPSHOT] + 1) & 0xFFFF

    def read_counters(self, buf):
        if len(buf) < N_COUNTERS:
            raise ValueError("counter buffer too small")
        if self.fault:
            raise DeviceFault("framer FPGA fault")
        if self.bus_errors:
            self.bus_errors -= 1
            raise BusError("injected framer bus error")
        k = self.counters
        for i in range(N_COUNTERS):
            buf[i] = k[i]
