"""Fast steering mirror: DAC, command saturation, 2nd-order dynamics, driver fault.

MicroPython-clean (``math`` only).  Angles in radians (line-of-sight deflection in object
space, the units of ``sim.pointing.Platform.error()``), time in seconds.

Per axis:  theta'' = wn^2 * (G * u - theta) - 2 * zeta * wn * theta'
where u is the DAC output angle (zero-order hold between commands), G the optical gain
(1 nominal) and theta the deflection.  ``step(dt)`` uses the exact discretisation of this
ODE for a held input, so any dt is stable and exact (dt = 10 ms and 10 us give the same
trajectory at the shared instants).  The mirror sits against hard stops at +/-range.

DAC: signed 16-bit code per axis as in ``hal.interfaces.Fsm`` (FSM_CODE_MIN..MAX =
-32768..32767, code 0 = rest, linear in optical angle): angle = code * range / 32768, so
-32768 = -2 deg and 32767 = +2 deg * 32767/32768.  One LSB = 2 deg / 32768 = 1.065 urad.
Codes outside the range and angle commands beyond +/-2 deg saturate (``saturated`` flag);
the HAL, which must raise ValueError instead, checks before calling.

Driver: ``set_enabled(False)`` (high voltage off) lets the mirror return to rest while
codes are still accepted; enabling again drives the mirror to the current codes.  Driver
fault (``set_fault``): the fault line is raised (``fault`` = True) and the mirror no
longer follows commands: mode "hold" latches the last driven output, mode "zero" lets
the mirror return to rest (driver output off).
"""

import math

try:
    from sim.stepcache import StepCache
except ImportError:  # pragma: no cover - flat layout on a board
    from stepcache import StepCache

# DESIGN §5: FSM +/-2 deg optical range.
FSM_RANGE_RAD = 2.0 * math.pi / 180.0
# DESIGN §5: second-order dynamics ~300 Hz.
FSM_FN_HZ = 300.0
# Assumed: damping ratio 0.7 (typical of a closed-loop voice-coil FSM tuned for a fast
# step with ~5 % overshoot).
FSM_ZETA = 0.7
# hal/interfaces.py Fsm: signed 16-bit code per axis over the full +/-2 deg (DESIGN §5 asks
# for DAC quantisation).
FSM_DAC_BITS = 16


class Fsm:
    """Two-axis fast steering mirror."""

    def __init__(self, range_rad=FSM_RANGE_RAD, fn_hz=FSM_FN_HZ, zeta=FSM_ZETA,
                 dac_bits=FSM_DAC_BITS, optical_gain=(1.0, 1.0)):
        self.range_rad = float(range_rad)
        self.fn_hz = float(fn_hz)
        self.zeta = float(zeta)
        self.dac_bits = int(dac_bits)
        self.code_max = (1 << (self.dac_bits - 1)) - 1
        self.code_min = -(1 << (self.dac_bits - 1))
        self.lsb_rad = self.range_rad / (1 << (self.dac_bits - 1))
        self.gain_matrix = (1.0, 0.0, 0.0, 1.0)  # set_gain_matrix (calibration error)
        self._cache = StepCache(4)  # (ee, ev, ve, vv) per step length (sim/stepcache.py)
        self.gain_x = float(optical_gain[0])
        self.gain_y = float(optical_gain[1])
        self.code_x = 0  # DAC registers
        self.code_y = 0
        self.u_x = 0.0  # driven output as an angle (what the mirror follows)
        self.u_y = 0.0
        self.theta_x = 0.0
        self.theta_y = 0.0
        self.rate_x = 0.0
        self.rate_y = 0.0
        self.fault = False
        self.fault_mode = "hold"
        self.enabled = True
        self.saturated = False
        self.saturation_count = 0
        self.command_count = 0
        self._dt = -1.0
        self._c = (0.0, 0.0, 0.0, 0.0)

    # --- DAC mapping ----------------------------------------------------------------------
    def code_for_angle(self, a):
        """Nearest DAC code for angle a (rad), clamped to [code_min, code_max]."""
        if not a == a:
            return 0
        if a > 4.0:
            return self.code_max
        if a < -4.0:
            return self.code_min
        c = int(math.floor(a / self.lsb_rad + 0.5))
        if c < self.code_min:
            return self.code_min
        if c > self.code_max:
            return self.code_max
        return c

    def angle_for_code(self, code):
        return code * self.lsb_rad

    # --- commands ---------------------------------------------------------------------------
    def command(self, code_x, code_y):
        """Write both DAC codes (signed, code 0 = rest).  Out-of-range codes saturate."""
        sat = False
        cx = int(code_x)
        cy = int(code_y)
        hi = self.code_max
        lo = self.code_min
        if cx < lo:
            cx = lo
            sat = True
        elif cx > hi:
            cx = hi
            sat = True
        if cy < lo:
            cy = lo
            sat = True
        elif cy > hi:
            cy = hi
            sat = True
        self.saturated = sat
        if sat:
            self.saturation_count += 1
        self.command_count += 1
        self.code_x = cx
        self.code_y = cy
        self._drive()

    def command_angle(self, ax, ay):
        """Command deflection angles (rad); quantised to DAC codes, saturated at the range."""
        if not (ax == ax and ay == ay):  # NaN: refused, the last command stays
            self.saturated = True
            self.saturation_count += 1
            return
        lsb = self.lsb_rad
        cx = int(math.floor(ax / lsb + 0.5)) if -4.0 < ax < 4.0 else (-(1 << 20) if ax < 0 else 1 << 20)
        cy = int(math.floor(ay / lsb + 0.5)) if -4.0 < ay < 4.0 else (-(1 << 20) if ay < 0 else 1 << 20)
        self.command(cx, cy)

    def park(self):
        """Command the rest position (codes 0, 0)."""
        self.command(0, 0)

    def _drive(self):
        """Driver output from the DAC registers, the enable and the fault state."""
        if self.fault:
            if self.fault_mode == "zero":
                self.u_x = 0.0
                self.u_y = 0.0
            return  # "hold": output latched
        if not self.enabled:
            self.u_x = 0.0
            self.u_y = 0.0
            return
        g = self.gain_matrix
        self.u_x = (g[0] * self.code_x + g[1] * self.code_y) * self.lsb_rad
        self.u_y = (g[2] * self.code_x + g[3] * self.code_y) * self.lsb_rad

    def set_gain_matrix(self, gxx, gxy, gyx, gyy):
        """Per-unit optical gain and cross-coupling (sim/calib.py): the driven angle is
        G · (commanded angle); identity for a calibrated mirror."""
        self.gain_matrix = (float(gxx), float(gxy), float(gyx), float(gyy))
        self._drive()

    def set_enabled(self, on):
        """High voltage on/off.  Off: the mirror returns to rest; codes are still accepted
        and the mirror goes to them when enabled again."""
        self.enabled = bool(on)
        self._drive()

    def set_fault(self, on, mode="hold"):
        """Inject/clear a driver fault.  mode: "hold" (latched output) or "zero" (output off)."""
        self.fault = bool(on)
        self.fault_mode = mode
        self._drive()

    # --- dynamics -----------------------------------------------------------------------------
    def _coeffs(self, dt):
        wn = 2.0 * math.pi * self.fn_hz
        z = self.zeta
        if z < 1.0:
            sg = z * wn
            wd = wn * math.sqrt(1.0 - z * z)
            e = math.exp(-sg * dt)
            c = e * math.cos(wd * dt)
            s = e * math.sin(wd * dt) / wd
            # e1 = ee*e0 + ev*v0 ; v1 = ve*e0 + vv*v0   (e = theta - G*u)
            ee = c + sg * s
            ev = s
            ve = -wn * wn * s
            vv = c - sg * s
        elif z - 1.0 < 1e-9:  # critically damped
            e = math.exp(-wn * dt)
            ee = (1.0 + wn * dt) * e
            ev = dt * e
            ve = -wn * wn * dt * e
            vv = (1.0 - wn * dt) * e
        else:  # over-damped: two real poles r1, r2
            q = math.sqrt(z * z - 1.0)
            r1 = -wn * (z - q)
            r2 = -wn * (z + q)
            e1 = math.exp(r1 * dt)
            e2 = math.exp(r2 * dt)
            d = r1 - r2
            ee = (r1 * e2 - r2 * e1) / d
            ev = (e1 - e2) / d
            ve = r1 * r2 * (e2 - e1) / d
            vv = (r1 * e1 - r2 * e2) / d
        self._dt = dt
        self._c = (ee, ev, ve, vv)

    def _use_coeffs(self, dt):
        """``_c`` for a step of ``dt`` s: from the cache, or computed and cached."""
        c = self._cache
        tab = c.values
        o = c.find(dt)
        if o >= 0:
            self._dt = dt
            self._c = (tab[o], tab[o + 1], tab[o + 2], tab[o + 3])
            return
        self._coeffs(dt)
        o = c.put(dt)
        tab[o], tab[o + 1], tab[o + 2], tab[o + 3] = self._c

    def step(self, dt):
        """Advance the mirror by dt seconds with the DAC output held."""
        if dt <= 0.0:
            return
        if dt != self._dt:
            self._use_coeffs(dt)
        ee, ev, ve, vv = self._c
        r = self.range_rad
        # x (the simulator's most frequent call, ~1,400 per simulated second: G*u once)
        gu = self.gain_x * self.u_x
        ex = self.theta_x - gu
        vx = self.rate_x
        th = gu + ee * ex + ev * vx
        vx = ve * ex + vv * vx
        if th > r:
            th = r
            vx = 0.0
        elif th < -r:
            th = -r
            vx = 0.0
        self.theta_x = th
        self.rate_x = vx
        # y
        gu = self.gain_y * self.u_y
        ey = self.theta_y - gu
        vy = self.rate_y
        th = gu + ee * ey + ev * vy
        vy = ve * ey + vv * vy
        if th > r:
            th = r
            vy = 0.0
        elif th < -r:
            th = -r
            vy = 0.0
        self.theta_y = th
        self.rate_y = vy

    # --- outputs --------------------------------------------------------------------------------
    def angle(self):
        """Present deflection (x, y) in rad."""
        return (self.theta_x, self.theta_y)

    def commanded_angle(self):
        """Driven output as angles (x, y) in rad (after quantisation, saturation, enable
        and fault)."""
        return (self.u_x, self.u_y)

    def codes(self):
        return (self.code_x, self.code_y)
