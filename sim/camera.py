"""Beacon camera: Gaussian spot on a 1280x1024 sensor behind the FSM, with sensor noise.

MicroPython-clean (``math``; ``array`` when present, lists otherwise).  Angles in radians,
exposure in seconds, pixel values in DN (10-bit by default, ``adc_bits``).

Geometry.  Continuous sensor coordinates: pixel (i, j) covers [i, i+1) x [j, j+1); the
boresight (zero residual) is the sensor centre (640.0, 512.0) plus ``boresight_px``.  The
spot centre is

    x = 640 + bx + r_x / IFOV,   y = 512 + by + r_y / IFOV,   r = pointing error - FSM angle

so a positive residual moves the spot to larger column/row indices.

Signal.  Electrons in the whole spot per frame

    N = FLUX_REF * power_scale * transmission * (RANGE_REF / range)**2 * exposure   (beacon on)

spread by a circular Gaussian of sigma ``SPOT_SIGMA_PX`` integrated over each pixel (erf).

Pixel value (DN) = offset + g * (signal + background + dark + read noise), rounded and
clamped to the ADC range (10-bit, 0..1023: the reference sensor of hal/interfaces.py);
g = DN_PER_E * analog gain.  Signal shot noise is Gaussian with variance equal to the mean
(clipped at zero); the background + dark shot noise and the read noise are combined into
one Gaussian (read noise dominates at these background levels).  Electrons per pixel
saturate at the full well.  Hot pixels (fixed positions per seed) add a dark current of
their own.  The spot is rendered at its position at the time of ``read`` (no motion blur:
jitter moves it < 0.1 px within any exposure; only an uncompensated 0.5 deg/s ADCS slew
would smear it, by up to 0.8 px in a 9 ms exposure).

Binning b (1, 2, 4, 8, 16): the output pixel is the average of the b x b native pixels
(digital binning keeping the 0..1023 scale, as hal/interfaces.py specifies).  Averaged
background noise is 1/b of the native one; the full well applies to the bin's average.

Speed and heap.  Only the pixels read are rendered: background + read noise is copied row
by row from a noise table (per setting, in slots allocated once) at pseudo-random offsets,
then the spot and hot pixels are added around them.  The normal table is an ``array('f')``;
no per-frame buffers (memoryviews of the caller's last two buffers are kept).

``read(buf, x0, y0, w, h, binning)`` follows ``hal.interfaces.Camera.read_roi``: (x0, y0)
is the top-left corner in sensor pixels, (w, h) the size in *output* (binned) pixels, so the
window covers sensor pixels x0 .. x0 + w*b - 1.  Buffer types: ``array('H')`` (or a
memoryview of one), ``bytearray`` (2 bytes per pixel, little-endian) or ``list``; pixels
row-major, ``buf[r*w + c]``.
"""

import math

# The reference sensor (DESIGN §5): its numbers and their sources.
from sim.camera_sensor import (  # noqa: F401  (re-exported: the model's public numbers)
    SENSOR_W, SENSOR_H, IFOV_RAD, REFERENCE_FRAME_RATE_HZ, ADC_BITS, ADC_MAX, OFFSET_DN,
    FULL_WELL_E, DN_PER_E, GAIN_MIN, GAIN_MAX, EXPOSURE_MIN_S, EXPOSURE_MAX_S,
    READ_NOISE_E, DARK_E_S, BACKGROUND_E_S, SPOT_SIGMA_PX, HOT_PIXEL_FRACTION,
    HOT_RATE_MIN_E_S, HOT_RATE_MAX_E_S, BEACON_FLUX_REF_E_S, RANGE_REF_M,
    DEFAULT_EXPOSURE_S)

try:
    from array import array as _array
except ImportError:  # pragma: no cover - every MicroPython port has array, but be safe
    _array = None

try:
    from math import erf as _erf
except ImportError:  # pragma: no cover - MicroPython builds without special functions

    def _erf(x):  # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
        s = -1.0 if x < 0.0 else 1.0
        x = abs(x)
        t = 1.0 / (1.0 + 0.3275911 * x)
        y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t
                     - 0.284496736) * t + 0.254829592) * t * math.exp(-x * x)
        return s * y


def table_buffer(kind, width):
    """A noise table's buffer for windows of ``kind`` (Camera._table), in one heap block."""
    n = _NZ + width  # any row (<= width) fits from any offset < _NZ
    return (memoryview(bytearray(2 * n)) if kind == "B" else memoryview(
        _array("H", range(n))) if kind == "H" and _array is not None else [0] * n)


try:
    from sim.noise_table import flat_normals, floats
    from sim.rng import Rng
except ImportError:  # pragma: no cover
    from noise_table import flat_normals, floats
    from rng import Rng

# --- rendering: noise tables, spot window ---------------------------------------------------
_NZ = 4096  # noise table period (power of two)
_ZMASK = _NZ - 1
_ROW_STRIDE = 1597  # odd: successive rows start at distinct table offsets
_MAXBOX = 24  # largest spot window per axis, in output pixels
_SPOT_R_SIGMA = 3.5  # spot window half-width in sigmas
_THR_E = 0.05  # skip spot pixels with fewer mean electrons than this
_TABLE_SLOTS = 8  # noise tables kept (buffers allocated once each)
_SQRT1_2 = 0.7071067811865476
# The spot's pixel loops' host build (sim/run/hostkernels install() sets it for a pass on CPython:
# the same operations in C, tests/test_hostkernels.py); None: the loops in Camera._spot.
host_spot = None


class Camera:
    """Simulated APT camera.  See the module docstring for the model."""

    def __init__(self, seed=1, width=SENSOR_W, height=SENSOR_H, ifov_rad=IFOV_RAD,
                 spot_sigma_px=SPOT_SIGMA_PX, read_noise_e=READ_NOISE_E,
                 full_well_e=FULL_WELL_E, offset_dn=OFFSET_DN, dn_per_e=DN_PER_E,
                 adc_bits=ADC_BITS,
                 background_e_s=BACKGROUND_E_S, dark_e_s=DARK_E_S,
                 hot_fraction=HOT_PIXEL_FRACTION, flux_ref_e_s=BEACON_FLUX_REF_E_S,
                 range_ref_m=RANGE_REF_M, boresight_px=(0.0, 0.0)):
        self.width = int(width)
        self.height = int(height)
        self.ifov = float(ifov_rad)
        self.sigma_px = float(spot_sigma_px)
        self.read_noise_e = float(read_noise_e)
        self.full_well_e = float(full_well_e)
        self.offset_dn = float(offset_dn)
        self.dn_per_e = float(dn_per_e)
        self.adc_max = (1 << int(adc_bits)) - 1
        self.background_e_s = float(background_e_s)
        self.dark_e_s = float(dark_e_s)
        self.flux_ref_e_s = float(flux_ref_e_s)
        self.range_ref_m = float(range_ref_m)
        self.bore_x = float(boresight_px[0])
        self.bore_y = float(boresight_px[1])
        self.exposure_s = DEFAULT_EXPOSURE_S
        self.gain = 1.0
        self.beacon_on = True
        self.power_scale = 1.0
        self.transmission = 1.0
        self.range_m = self.range_ref_m
        self.res_x = 0.0
        self.res_y = 0.0
        self.frame_count = 0
        rng = Rng(seed)
        self._rng = rng
        # standard-normal table: noise tables are built from it, spot shot noise reads it;
        # a flat sample spectrum, so its runs are uncorrelated on every pass (sim/noise_table.py)
        self._z = flat_normals(rng, _NZ)  # array('f'): no boxed floats kept on the heap
        # hot pixels: fixed positions and rates per seed
        n_hot = int(hot_fraction * self.width * self.height + 0.5)
        hot = []
        hot_rows = {}
        seen = {}
        lr0 = math.log(HOT_RATE_MIN_E_S)
        lr1 = math.log(HOT_RATE_MAX_E_S)
        while len(hot) < n_hot:
            x = rng.randbelow(self.width)
            y = rng.randbelow(self.height)
            key = y * self.width + x
            if key in seen:
                continue
            seen[key] = 1
            rate = math.exp(rng.uniform(lr0, lr1))
            hot.append((x, y, rate))
            lst = hot_rows.get(y)
            if lst is None:
                lst = []
                hot_rows[y] = lst
            lst.append((x, rate))
        self.hot_pixels = hot  # [(x, y, rate_e_s)]
        self._hot_rows = hot_rows
        # noise-table slots [binning, kind, level, spread, buffer] (see _table)
        self._slots = [[0, "", 0, 0, None] for _ in range(_TABLE_SLOTS)]
        self._slot_next = 0
        self.tables_built = 0  # noise tables computed so far (the cache's misses)
        # per-frame scratch (preallocated)
        self._gx = floats(_MAXBOX + 1)
        self._gy = floats(_MAXBOX + 1)
        # memoryviews of the caller's last two buffers (SEARCH and TRACK alternate two)
        self._mv_src = [None, None]
        self._mv = [None, None]

    # --- settings -----------------------------------------------------------------------------
    def set_exposure(self, t_s):
        """Exposure in seconds, clamped to [10 us, 9 ms].  Returns the value applied."""
        if t_s < EXPOSURE_MIN_S:
            t_s = EXPOSURE_MIN_S
        elif t_s > EXPOSURE_MAX_S:
            t_s = EXPOSURE_MAX_S
        self.exposure_s = float(t_s)
        return self.exposure_s

    def set_gain(self, g):
        """Analog gain, clamped to [1, 8] and quantised to 1/16.  Returns the value applied."""
        if g < GAIN_MIN:
            g = GAIN_MIN
        elif g > GAIN_MAX:
            g = GAIN_MAX
        self.gain = math.floor(g * 16.0 + 0.5) / 16.0
        return self.gain

    def set_beacon(self, on=True, power_scale=None):
        """Beacon visible or not (drop-out tests); optional power scale (1 = reference)."""
        self.beacon_on = bool(on)
        if power_scale is not None:
            self.power_scale = float(power_scale)

    def set_range(self, range_m):
        self.range_m = float(range_m)

    def set_transmission(self, tau):
        """Atmospheric/cloud transmission factor 0...1 applied to the beacon."""
        self.transmission = float(tau)

    def set_background(self, e_per_s):
        self.background_e_s = float(e_per_s)

    def set_residual(self, rx, ry):
        """Line-of-sight residual behind the FSM (rad)."""
        self.res_x = rx
        self.res_y = ry

    def set_pointing(self, err_x, err_y, fsm_x, fsm_y):
        """Residual = platform pointing error - FSM deflection (DESIGN §3.3)."""
        self.res_x = err_x - fsm_x
        self.res_y = err_y - fsm_y

    # --- truth ----------------------------------------------------------------------------------
    def spot_px(self):
        """Spot centre (x, y) in continuous sensor coordinates."""
        return (0.5 * self.width + self.bore_x + self.res_x / self.ifov,
                0.5 * self.height + self.bore_y + self.res_y / self.ifov)

    def spot_electrons(self):
        """Mean electrons in the whole spot this frame (0 when the beacon is off)."""
        if not self.beacon_on or self.range_m <= 0.0:
            return 0.0
        q = self.range_ref_m / self.range_m
        return (self.flux_ref_e_s * self.power_scale * self.transmission * q * q
                * self.exposure_s)

    def conversion_dn_per_e(self):
        return self.dn_per_e * self.gain

    def background_dn(self, binning=1):
        """Mean background level (DN) of a pixel without spot or hot pixel."""
        e = (self.background_e_s + self.dark_e_s) * self.exposure_s
        v = self.offset_dn + self.dn_per_e * self.gain * e
        return v if v < self.adc_max else float(self.adc_max)

    # --- noise tables -------------------------------------------------------------------------
    def _table(self, b, kind):
        """Background + read-noise table for the present settings.

        Keyed by the quantised level (1/8 DN) and spread (1 % steps) rather than by the
        raw exposure/gain, so an auto-exposure loop that nudges the exposure every frame
        reuses a handful of tables instead of rebuilding one (~0.7 ms) per frame.  The
        tables live in ``_TABLE_SLOTS`` slots whose buffers are allocated once (first use
        or hal.sim.world.reserve_noise_tables) and refilled in place, round robin, on a
        miss: no per-frame key objects, no table garbage on a fixed MicroPython heap.
        """
        e = min((self.background_e_s + self.dark_e_s) * self.exposure_s, self.full_well_e)
        g = self.dn_per_e * self.gain
        qm = int(8.0 * (self.offset_dn + g * e) + 0.5)
        sd = g * math.sqrt(e + self.read_noise_e * self.read_noise_e) / b
        qs = int(math.floor(100.0 * math.log(sd) + 0.5)) if sd > 1e-6 else -10000
        slots = self._slots
        for sl in slots:
            if sl[0] == b and sl[1] == kind and sl[2] == qm and sl[3] == qs:
                return sl[4]
        i = self._slot_next  # miss: the next slot (it keeps its buffer while its kind does)
        self._slot_next = (i + 1) % _TABLE_SLOTS
        self.tables_built += 1
        sl = slots[i]
        t = sl[4] if sl[1] == kind else None
        if t is None:
            try:
                t = table_buffer(kind, self.width)
            except MemoryError:  # no block this large in a fragmented fixed heap: refill
                for k in range(1, _TABLE_SLOTS):  # the oldest table of this kind instead
                    sl = slots[(i + k) % _TABLE_SLOTS]
                    if sl[1] == kind and sl[4] is not None:
                        break
                else:
                    raise
                t = sl[4]
        # The key last: an exception on the way (a MemoryError) leaves the slot unmatched,
        # never a key over no table (the APT's intermittent TypeError, issues 11/14).
        sl[0], sl[1], sl[4] = 0, kind, t
        mean = qm / 8.0
        sd = math.exp(qs / 100.0) if qs > -10000 else 0.0
        z = self._z
        amax = self.adc_max
        wide = kind == "B"
        for i in range(_NZ + self.width):
            v = int(math.floor(mean + sd * z[i & _ZMASK] + 0.5))
            if v < 0:
                v = 0
            elif v > amax:
                v = amax
            if wide:
                t[2 * i] = v & 0xFF
                t[2 * i + 1] = v >> 8
            else:
                t[i] = v
        sl[0], sl[2], sl[3] = b, qm, qs
        return t

    # --- frame read ---------------------------------------------------------------------------
    def read(self, buf, x0=0, y0=0, w=None, h=None, binning=1):
        """Render a window into ``buf``; returns the number of pixels written (w * h).

        (x0, y0): top-left corner in sensor pixels; (w, h): size in output (binned)
        pixels, default the whole sensor at that binning; the window covers sensor pixels
        x0 .. x0 + w*binning - 1 and must lie on the sensor.  Raises ValueError for a bad
        window or binning or a short buffer.
        """
        b = int(binning)
        if b < 1 or b > 64:
            raise ValueError("binning")
        if w is None:
            w = (self.width - x0) // b
        if h is None:
            h = (self.height - y0) // b
        cols = int(w)
        rows = int(h)
        w = cols * b  # native extent from here on
        h = rows * b
        if cols <= 0 or rows <= 0:
            raise ValueError("window size")
        if x0 < 0 or y0 < 0 or x0 + w > self.width or y0 + h > self.height:
            raise ValueError("window outside sensor")
        n = cols * rows
        if isinstance(buf, bytearray):
            kind = "B"
            if len(buf) < 2 * n:
                raise ValueError("buffer too small")
        elif isinstance(buf, list):
            kind = "L"
            if len(buf) < n:
                raise ValueError("buffer too small")
        else:
            kind = "H"
            if len(buf) < n:
                raise ValueError("buffer too small")
        self.frame_count += 1
        tab = self._table(b, kind)
        rng = self._rng
        # 1. background + read noise: one table slice per row
        o = rng.randbelow(_NZ)
        step = 2 if kind == "B" else 1  # bytearray: 2 octets per pixel
        if kind == "H":
            src = self._mv_src
            if buf is src[0]:
                dst = self._mv[0]
            elif buf is src[1]:
                dst = self._mv[1]
            else:  # new buffer: remember it alone (a flight buffer dropped, e.g. SEARCH's
                src[1] = self._mv[1] = None  # in TRACK, must not be kept alive here)
                src[0] = buf
                dst = memoryview(buf)
                self._mv[0] = dst
        else:
            dst = buf
        k = 0
        c = step * cols
        for _ in range(rows):
            o2 = step * o
            dst[k:k + c] = tab[o2:o2 + c]
            k += c
            o = (o + _ROW_STRIDE) & _ZMASK
        wide = kind == "B"
        gdn = self.dn_per_e * self.gain / (b * b)
        fw_cap = self.full_well_e * b * b
        z = self._z
        # 2. hot pixels in the window
        hot_rows = self._hot_rows
        zi = rng.randbelow(_NZ - 256)
        t_exp = self.exposure_s
        for yy in range(y0, y0 + h):  # (per-row lists: a 16-row window looks at 16 rows)
            lst = hot_rows.get(yy)
            if lst is None:
                continue
            for hp in lst:
                xx = hp[0]
                if x0 <= xx < x0 + w:
                    m = hp[1] * t_exp
                    self._add(buf, ((yy - y0) // b) * cols + (xx - x0) // b,
                              m + math.sqrt(m) * z[zi & _ZMASK], gdn, self.full_well_e, wide)
                    zi += 1
        # 3. beacon spot
        amp = self.spot_electrons()
        if amp > 0.0:
            self._spot(buf, amp, x0, y0, cols, rows, b, gdn, fw_cap, wide)
        return n

    def _add(self, buf, k, e, gdn, cap, wide):
        if e <= 0.0:
            return
        if e > cap:
            e = cap
        d = int(e * gdn + 0.5)
        amax = self.adc_max
        if wide:
            k2 = 2 * k
            v = buf[k2] | (buf[k2 + 1] << 8)
            v += d
            if v > amax:
                v = amax
            buf[k2] = v & 0xFF
            buf[k2 + 1] = v >> 8
        else:
            v = buf[k] + d
            buf[k] = v if v < amax else amax

    def _spot(self, buf, amp, x0, y0, cols, rows, b, gdn, fw_cap, wide):
        cx = 0.5 * self.width + self.bore_x + self.res_x / self.ifov
        cy = 0.5 * self.height + self.bore_y + self.res_y / self.ifov
        u = (cx - x0) / b  # spot centre in output-pixel units of the window
        v = (cy - y0) / b
        sg = self.sigma_px / b
        r = max(min(_SPOT_R_SIGMA * sg, 0.5 * (_MAXBOX - 2)), 1.0)
        i0 = max(int(math.floor(u - r)), 0)  # the spot's box, clipped to the window
        i1 = min(int(math.floor(u + r)), cols - 1)
        j0 = max(int(math.floor(v - r)), 0)
        j1 = min(int(math.floor(v + r)), rows - 1)
        if i0 > i1 or j0 > j1:
            return
        nx, ny = i1 - i0 + 1, j1 - j0 + 1
        k = _SQRT1_2 / sg
        gx, gy = self._gx, self._gy
        gmin = 2.0  # the smallest stored (float32) column factor
        e_prev = _erf((i0 - u) * k)
        for i in range(nx):
            e_next = _erf((i0 + i + 1 - u) * k)
            gx[i] = 0.5 * (e_next - e_prev)
            gmin = gx[i] if gx[i] < gmin else gmin
            e_prev = e_next
        e_prev = _erf((j0 - v) * k)
        for j in range(ny):
            e_next = _erf((j0 + j + 1 - v) * k)
            gy[j] = 0.5 * (e_next - e_prev)
            e_prev = e_next
        z = self._z
        zi = self._rng.randbelow(_NZ - _MAXBOX * _MAXBOX)
        if host_spot is not None and not wide:  # (the loops below in C: sim/run/hostkernels)
            host_spot(buf, gx, gy, z, zi, nx, ny, j0 * cols + i0, cols, amp, gmin, gdn,
                      fw_cap, self.adc_max)
            return
        sqrt, thr = math.sqrt, _THR_E
        amax, add = self.adc_max, self._add
        for j in range(ny):
            ay = amp * gy[j]
            if ay < thr:
                continue
            k = (j0 + j) * cols + i0
            if not wide and ay * gmin >= thr:
                # The hottest loop (~60 pixels a frame): a row wholly above the threshold (ay*g
                # grows with g), _add inlined: the same operations (tests/test_sim_speed.py).
                for i in range(nx):
                    m = ay * gx[i]
                    e = m + sqrt(m) * z[zi]
                    zi += 1
                    if e > 0.0:
                        if e > fw_cap:
                            e = fw_cap
                        v = buf[k] + int(e * gdn + 0.5)
                        buf[k] = v if v < amax else amax
                    k += 1
                continue
            for i in range(nx):
                m = ay * gx[i]
                if not m < thr:  # (as written: a NaN is added, not skipped)
                    add(buf, k + i, m + sqrt(m) * z[zi], gdn, fw_cap, wide)
                    zi += 1
