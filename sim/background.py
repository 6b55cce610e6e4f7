"""Structured background in the beacon camera's field of view (issue 13): city lights
around the ground station at night, or sunlit ground in daylight.

The camera model (sim/camera.py) renders a uniform background and the beacon spot; this
adds, on top of a rendered ROI, what the ground around the station looks like:

* ``city``: point-like lights (street/building clusters) fixed on the ground around the
  station, so they move on the sensor with the pointing exactly like the beacon.  ASSUMED
  figures (no measurement for this station): 8 lights within ±40 px (±4 mrad, ±2-5 km at
  the pass ranges) of the beacon, each 1-30 % of the beacon's zenith flux (3e7 e-/s,
  sim/camera.py), log-uniform, same 1 px spot sigma as the beacon.
* ``sunlit``: sunlit ground through the 671 nm filter: a uniform 1e5 e-/s per pixel
  (ASSUMED: ~50x the night background of sim/camera.py) with a ±30 % linear gradient
  across the sensor (terrain albedo).

MicroPython-clean: ``math`` and sim.rng only.
"""

import math

from sim.rng import Rng

CITY_LIGHTS = 8
CITY_SPREAD_PX = 40.0
CITY_FLUX_RANGE = (0.01, 0.30)  # fraction of the beacon's zenith flux
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

    def add(self, cam, buf, x0, y0, w, h, b):
        """Add the background's mean signal (DN) to a rendered ROI ``buf`` (w x h output
        pixels of ``b`` x ``b`` sensor pixels from sensor pixel (x0, y0))."""
        k = cam.conversion_dn_per_e() * cam.exposure_s
        cap = cam.adc_max
        if self.kind == "sunlit":
            cx = 0.5 * cam.width
            cy = 0.5 * cam.height
            gx = math.cos(self.grad_dir) * SUNLIT_GRADIENT / cx
            gy = math.sin(self.grad_dir) * SUNLIT_GRADIENT / cy
            base = SUNLIT_E_S * k * b * b
            for j in range(h):
                yy = y0 + (j + 0.5) * b - cy
                row = j * w
                for i in range(w):
                    xx = x0 + (i + 0.5) * b - cx
                    v = buf[row + i] + int(base * (1.0 + gx * xx + gy * yy))
                    buf[row + i] = v if v < cap else cap
            return
        sx, sy = cam.spot_px()
        q = cam.range_ref_m / cam.range_m if cam.range_m > 0 else 0.0
        flux0 = cam.flux_ref_e_s * cam.transmission * q * q
        sig = 1.0  # px, as the beacon spot (sim/camera.py SPOT_SIGMA_PX)
        for dx, dy, frac in self.lights:
            lx = sx + dx
            ly = sy + dy
            e = frac * flux0 * k
            # 3-sigma box in output pixels
            i0 = int((lx - 3.0 - x0) // b)
            i1 = int((lx + 3.0 - x0) // b)
            j0 = int((ly - 3.0 - y0) // b)
            j1 = int((ly + 3.0 - y0) // b)
            if i1 < 0 or j1 < 0 or i0 >= w or j0 >= h:
                continue
            for j in range(max(0, j0), min(h - 1, j1) + 1):
                py = y0 + (j + 0.5) * b - ly
                fy = math.exp(-0.5 * py * py / (sig * sig))
                for i in range(max(0, i0), min(w - 1, i1) + 1):
                    px = x0 + (i + 0.5) * b - lx
                    f = fy * math.exp(-0.5 * px * px / (sig * sig))
                    v = buf[j * w + i] + int(e * f * b * b / (2.0 * math.pi * sig * sig))
                    buf[j * w + i] = v if v < cap else cap
