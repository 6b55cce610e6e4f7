"""Structured background in the beacon camera's field of view (issue 13): city lights
around the ground station at night, or sunlit ground in daylight.

The camera model (sim/camera.py) renders a uniform background and the beacon spot; this
adds, on top of a rendered ROI, what the ground around the station looks like:

* ``city``: point-like lights (street/building clusters) fixed on the ground around the
  station, so they move on the sensor with the pointing exactly like the beacon.  ASSUMED
  figures (no measurement for this station): 8 lights within ±40 px (±4 mrad, ±2-5 km at
  the pass ranges) of the beacon, each 1-30 % of the beacon's flux at the same range
  and transmission (3e7 e-/s at zenith, sim/camera.py), log-uniform, same 1 px spot sigma
  as the beacon; there whether the beacon is on or not.
* ``sunlit``: sunlit ground through the 671 nm filter: a uniform 1e5 e-/s per pixel
  (ASSUMED: ~50x the night background of sim/camera.py) with a ±30 % linear gradient
  across the sensor (terrain albedo).

MicroPython-clean: ``math`` and sim.rng only.
"""

import math

from sim.camera import _SQRT1_2, _erf  # (math.erf, or its fallback on a MicroPython)
from sim.camera_sensor import SPOT_SIGMA_PX
from sim.rng import Rng

CITY_LIGHTS = 8
CITY_SPREAD_PX = 40.0
CITY_FLUX_RANGE = (0.01, 0.30)  # fraction of the beacon's zenith flux
LIGHT_SIGMA_PX = SPOT_SIGMA_PX  # a light is a point as the beacon is
SUNLIT_E_S = 1.0e5
SUNLIT_GRADIENT = 0.30


class Background:
    def __init__(self, kind, seed=1):
        if kind not in ("city", "sunlit"):
            raise ValueError("background kind must be 'city' or 'sunlit'")
        self.kind = kind
        r = Rng((seed * 7919 + 0x5B) % (1 << 30))
        self.lights = []
        if kind == "city":
            lo = math.log(CITY_FLUX_RANGE[0])
            hi = math.log(CITY_FLUX_RANGE[1])
            for _ in range(CITY_LIGHTS):
                self.lights.append((r.uniform(-CITY_SPREAD_PX, CITY_SPREAD_PX),
                                    r.uniform(-CITY_SPREAD_PX, CITY_SPREAD_PX),
                                    math.exp(r.uniform(lo, hi))))
        self.grad_dir = r.uniform(0.0, 2.0 * math.pi)
        self.rng = r  # the shot noise of what it adds (its own stream: the camera's unmoved)

    def add(self, cam, buf, x0, y0, w, h, b):
        """Add the background's signal (DN) to a rendered ROI ``buf`` (w x h output
        pixels of ``b`` x ``b`` sensor pixels from sensor pixel (x0, y0)).

        An output pixel is the *average* of its b x b sensor pixels (sim/camera.py,
        hal/interfaces.py: digital binning keeping the 0..1023 scale), so a bin gets the
        mean of what falls on its sensor pixels: a uniform background the same level at
        every binning, a light the electrons in the bin / b^2 — as the camera renders
        the beacon (its pixel-integrated Gaussian, ``Camera._spot``).  Both with their
        shot noise (the sunlit ground's ~30 e- RMS per pixel at 9 ms is 3x the read
        noise); each added as the camera adds a pixel (Camera._add: full well, ADC range)."""
        gdn = cam.conversion_dn_per_e() / (b * b)  # DN per electron in a bin
        fw_cap = cam.full_well_e * b * b
        t = cam.exposure_s
        # The shot noise's deviates: the camera's table of standard normals (sim/camera.py,
        # 4096 of them) from an offset of this background's own stream — a Box-Muller pair
        # a pixel made the sunlit SEARCH strips 5x slower.
        z = cam._z
        zi = self.rng.randbelow(len(z))
        zn = len(z)
        if self.kind == "sunlit":
            cx = 0.5 * cam.width
            cy = 0.5 * cam.height
            gx = math.cos(self.grad_dir) * SUNLIT_GRADIENT / cx
            gy = math.sin(self.grad_dir) * SUNLIT_GRADIENT / cy
            base = SUNLIT_E_S * t * b * b  # electrons in a bin, without the gradient
            for j in range(h):
                yy = y0 + (j + 0.5) * b - cy
                row = j * w
                for i in range(w):
                    xx = x0 + (i + 0.5) * b - cx
                    m = base * (1.0 + gx * xx + gy * yy)
                    zi = zi + 1 if zi + 1 < zn else 0
                    cam._add(buf, row + i, m + math.sqrt(m) * z[zi], gdn, fw_cap, False)
            return
        sx, sy = cam.spot_px()
        q = cam.range_ref_m / cam.range_m if cam.range_m > 0 else 0.0
        flux0 = cam.flux_ref_e_s * cam.transmission * q * q  # the beacon's, e-/s
        k = _SQRT1_2 / LIGHT_SIGMA_PX
        for dx, dy, frac in self.lights:
            lx = sx + dx
            ly = sy + dy
            amp = frac * flux0 * t  # the light's electrons this frame
            # its 3-sigma box, in output pixels, clipped to the window
            i0 = max(int((lx - 3.0 * LIGHT_SIGMA_PX - x0) // b), 0)
            i1 = min(int((lx + 3.0 * LIGHT_SIGMA_PX - x0) // b), w - 1)
            j0 = max(int((ly - 3.0 * LIGHT_SIGMA_PX - y0) // b), 0)
            j1 = min(int((ly + 3.0 * LIGHT_SIGMA_PX - y0) // b), h - 1)
            for j in range(j0, j1 + 1):
                fy = 0.5 * (_erf((y0 + (j + 1) * b - ly) * k) - _erf((y0 + j * b - ly) * k))
                for i in range(i0, i1 + 1):
                    fx = 0.5 * (_erf((x0 + (i + 1) * b - lx) * k)
                                - _erf((x0 + i * b - lx) * k))
                    m = amp * fx * fy
                    if m > 0.0:
                        zi = zi + 1 if zi + 1 < zn else 0
                        cam._add(buf, j * w + i, m + math.sqrt(m) * z[zi], gdn, fw_cap, False)

