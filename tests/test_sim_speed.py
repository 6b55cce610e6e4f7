"""Issue 14 (simulator >= 60x real time): the fast paths of the simulator give the same
numbers, bit for bit, as the straightforward code they replaced.

Each test runs the fast path and a plain reference (written here as the code was before
the speed work: one method call per grid point, per pixel, per sample) on twin models
with the same seed and inputs, and asserts exact equality (``==`` on floats): a speed
change that moved one rounding would change the seeded figures of ``make sim``.
"""

import math
import random
from array import array

import pytest

from hal.sim.board import make_board
from hal.sim.world import make_world
from sim.camera import _MAXBOX, _NZ, _THR_E, Camera
from sim import rng
from sim.run.recorder import Recorder, Steps


# ---------------------------------------------------------------------------- world
def _fine_step_reference(w, dt_us):
    """hal/sim/finetruth.py _fine_step before the speed work (one call per grid point)."""
    fine = w.fine_us
    t_start = w.t_us
    cur = t_start
    end = cur + dt_us
    p = w.platform
    f = w.fsm_model
    q = w._fsm_q
    pts = []
    t0_s = p.t - t_start * 1e-6
    while cur < end:
        while q and q[0][0] <= cur:
            _, cx, cy = q.pop(0)
            f.command(cx, cy)
        nxt = (cur // fine + 1) * fine
        if nxt > end:
            nxt = end
        if q and q[0][0] < nxt:
            nxt = q[0][0]
        f.step((nxt - cur) * 1e-6)
        cur = nxt
        if cur % fine == 0 and cur < end:
            jx, jy = p.jitter_at(t0_s + cur * 1e-6)
            pts.append((cur, jx, jy, f.theta_x, f.theta_y))
    c0x = p.coarse_x
    c0y = p.coarse_y
    p.step(dt_us * 1e-6)
    if end % fine == 0:
        pts.append((end, p.jit_x, p.jit_y, f.theta_x, f.theta_y))
    if not pts:
        return
    dcx = p.coarse_x - c0x
    dcy = p.coarse_y - c0y
    rec = getattr(w.recorder, "fine", None)
    c = w._rot_c
    s = w._rot_s
    cal = w.calib
    box = cal["tx_bore_x_rad"] - (w.point_ahead[0] if w.aim_point_ahead else 0.0)
    boy = cal["tx_bore_y_rad"] - (w.point_ahead[1] if w.aim_point_ahead else 0.0)
    k = 1.0 / dt_us
    for t, jx, jy, fx, fy in pts:
        fr = (t - t_start) * k
        rx = c0x + dcx * fr + jx - fx
        ry = c0y + dcy * fr + jy - fy
        w.ref_hist.append((t, c * rx + s * ry, c * ry - s * rx))
        if rec is not None:
            rec(t * 1e-6, rx + box, ry + boy)
    if len(w.ref_hist) > 48:
        del w.ref_hist[:len(w.ref_hist) - 24]


def _exposed_reference(w, t_frame):
    """The exposure's mean as the integral of the samples joined by lines, held flat
    beyond the oldest and newest, over [t0, t1]: the trapezoids between the window's
    ends and every sample inside it (stop 60: no longer the mean of the samples in it)."""
    t1 = t_frame - w.readout_us
    t0 = t1 - w.camera.exposure_us
    pts = [p for p in w.ref_hist]
    if not [p for p in pts if p[0] <= t1]:
        return None

    def at(t):
        if t <= pts[0][0]:
            return pts[0][1:]
        for (ta, xa, ya), (tb, xb, yb) in zip(pts, pts[1:], strict=False):
            if ta <= t <= tb:
                f = (t - ta) / (tb - ta)
                return xa + (xb - xa) * f, ya + (yb - ya) * f
        return pts[-1][1:]

    ts = [t0] + [p[0] for p in pts if t0 < p[0] < t1] + [t1]
    sx = sy = 0.0
    for ta, tb in zip(ts, ts[1:], strict=False):
        (xa, ya), (xb, yb) = at(ta), at(tb)
        sx += (xa + xb) * (tb - ta) / 2
        sy += (ya + yb) * (tb - ta) / 2
    return sx / (t1 - t0), sy / (t1 - t0)


def test_world_fine_step_is_the_per_point_reference_bit_for_bit():
    """The honest world's 1 kHz truth (mirror through delayed commands, jitter, the
    interpolated coarse error, the exposure mean the camera sees) over irregular clock
    jumps such as the scheduler makes."""
    fast = make_world("nominal", seed=4)
    ref = make_world("nominal", seed=4)
    ref._fine_step = lambda dt_us: _fine_step_reference(ref, dt_us)
    ref.ref_hist = []  # the reference's history: the list of tuples it kept before
    for w in (fast, ref):
        board = make_board(world=w)
        board.clock.step_hook = None  # stepped directly below
        for sw in (2, 3, 4):  # camera, SiPM bias, framer (hal.interfaces SW_*)
            board.power.set(sw, True)
        w.recorder = Recorder()
        w.fsm_model.set_enabled(True)
    rnd = random.Random(9)
    for i in range(6000):
        if i % 5 == 0:  # a mirror command from the flight code (after the latency)
            cx, cy = rnd.randrange(-3000, 3000), rnd.randrange(-3000, 3000)
            fast.fsm_command(cx, cy)
            ref.fsm_command(cx, cy)
        if i % 40 == 0:
            fast.adcs_feedback(True, 1e-3, -2e-3, False, 0.0, 0.0)
            ref.adcs_feedback(True, 1e-3, -2e-3, False, 0.0, 0.0)
        dt = rnd.choice((2, 150, 500, 1000, 2150, 3000, 7850, 10000))
        fast.step(dt)
        ref.step(dt)
        # the ring (48 samples) holds the reference's last 24-48, newest last
        got = fast.hist_samples()
        assert got[len(got) - len(ref.ref_hist):] == ref.ref_hist
        for exp in (10, 1000, 4300, 9000):
            fast.camera.exposure_us = ref.camera.exposure_us = exp
            for tf in (fast.t_us, fast.t_us - 333.25):
                got, want = fast._exposed_residual(tf), _exposed_reference(ref, tf)
                assert (got is None) == (want is None)
                if got is not None:
                    assert got == pytest.approx(want, rel=1e-9, abs=1e-15)
    fa, ra = fast.recorder, ref.recorder
    assert len(fa.fine_t) > 10000
    assert (fa.fine_t, fa.fine_ax, fa.fine_ay) == (ra.fine_t, ra.fine_ax, ra.fine_ay)
    assert fa.frames == ra.frames and fa.windows == ra.windows
    assert fast.platform.err_x == ref.platform.err_x and fast.t == ref.t


def test_recorder_stops_recording_when_disabled():
    r = Recorder()
    r.fine(1.0, 2.0, 3.0)
    r.enabled = False
    r.fine(4.0, 5.0, 6.0)
    r.enabled = True
    r.fine(7.0, 8.0, 9.0)
    assert list(r.fine_t) == [1.0, 7.0] and list(r.fine_ay) == [3.0, 9.0]
    assert r.enabled is True


@pytest.mark.parametrize("points", [
    [(0.0, 0), (1.0, 1), (1.0, 2), (2.5, 3)],  # one boot, in time order
    [(0.0, 0), (10.0, 0), (0.5, 1), (3.0, 2), (12.0, 3)],  # a second boot's start first
])
def test_steps_before_each_is_before(points):
    s = Steps(default=-7)
    for t, v in points:
        s.add(t, v)
    ts = [i * 0.0625 for i in range(-4, 240)] + [1.0 - 5e-7, 1.0 + 5e-7, 0.3]
    assert s.before_each(ts) == [s.before(t) for t in ts]


def test_steps_keep_time_order_when_a_later_boot_is_added_first():
    # FlightView adds every boot's start (APT idle) before the events: a reboot's idle
    # must hold from the reset until the new boot's first change, not the old TRACK.
    s = Steps(default=-7)
    for t, v in [(0.0, 0), (150.0, 0), (5.0, 1), (7.8, 3), (150.0, 1), (152.8, 3)]:
        s.add(t, v)
    assert s.t == sorted(s.t)
    assert [s.before(t) for t in (1.0, 6.0, 100.0, 150.0, 151.0, 153.0)] == [0, 1, 3, 3, 1, 3]
    assert s.before_each([100.0, 150.2, 152.0, 160.0]) == [3, 1, 1, 3]


# ---------------------------------------------------------------------------- camera
def _spot_reference(self, buf, amp, x0, y0, cols, rows, b, gdn, fw_cap, wide):
    """sim/camera.py _spot before the speed work (one _add call per pixel)."""
    u = (0.5 * self.width + self.bore_x + self.res_x / self.ifov - x0) / b
    v = (0.5 * self.height + self.bore_y + self.res_y / self.ifov - y0) / b
    sg = self.sigma_px / b
    r = min(max(3.5 * sg, 1.0), 0.5 * (_MAXBOX - 2))
    i0 = max(int(math.floor(u - r)), 0)
    i1 = min(int(math.floor(u + r)), cols - 1)
    j0 = max(int(math.floor(v - r)), 0)
    j1 = min(int(math.floor(v + r)), rows - 1)
    if i0 > i1 or j0 > j1:
        return
    k = 0.7071067811865476 / sg
    gx = array("f", [0.5 * (math.erf((i + 1 - u) * k) - math.erf((i - u) * k))
                     for i in range(i0, i1 + 1)])
    gy = array("f", [0.5 * (math.erf((j + 1 - v) * k) - math.erf((j - v) * k))
                     for j in range(j0, j1 + 1)])
    zi = self._rng.randbelow(_NZ - _MAXBOX * _MAXBOX)
    for j in range(len(gy)):
        ay = amp * gy[j]
        if ay < _THR_E:
            continue
        for i in range(len(gx)):
            m = ay * gx[i]
            if m < _THR_E:
                continue
            self._add(buf, (j0 + j) * cols + i0 + i, m + math.sqrt(m) * self._z[zi],
                      gdn, fw_cap, wide)
            zi += 1


@pytest.mark.parametrize("kind", ["H", "B", "L"])
def test_camera_spot_is_the_per_pixel_reference_bit_for_bit(kind):
    rnd = random.Random(3)
    fast, ref = Camera(seed=6), Camera(seed=6)
    ref._spot = _spot_reference.__get__(ref)
    lit = 0
    for _ in range(300):
        exp = rnd.choice((1e-3, 4e-3, 9e-3))
        res = (rnd.uniform(-8e-4, 8e-4), rnd.uniform(-8e-4, 8e-4))
        b = rnd.choice((1, 1, 1, 2))
        gain = rnd.choice((1.0, 3.0, 8.0))  # 8: the spot saturates
        for c in (fast, ref):
            c.set_exposure(exp)
            c.set_residual(*res)
            c.set_gain(gain)
        bufs = []
        for _c in (fast, ref):
            if kind == "H":
                bufs.append(array("H", bytes(512)))
            elif kind == "B":
                bufs.append(bytearray(512))
            else:
                bufs.append([0] * 256)
        fast.read(bufs[0], 624, 496, 16, 16, b)
        ref.read(bufs[1], 624, 496, 16, 16, b)
        assert bufs[0] == bufs[1]
        px = array("H", bytes(bufs[0])) if kind == "B" else bufs[0]  # (x86: little-endian)
        lit += max(px) > 300
    assert lit > 50  # the spot was in the window often enough to mean something


# ---------------------------------------------------------------------------- generator
@pytest.mark.parametrize("seed", [0, 1, 12345, 987654321, 0x9E3779B9])
def test_cpython_generator_is_the_halves_stream_bit_for_bit(seed):
    """sim/rng.py: CPython's whole-word xoshiro128** against the MicroPython one."""
    fast, ref = rng.Rng(seed), rng.RngHalves(seed)
    assert type(fast) is not rng.RngHalves  # the whole-word generator on CPython
    assert fast.getstate() == ref.getstate()
    for i in range(20000):
        k = i % 6
        if k == 0:
            assert fast.random() == ref.random()
        elif k == 1:
            assert fast.randbelow(4096 - 576) == ref.randbelow(4096 - 576)
        elif k == 2:
            assert fast.gauss_pair() == ref.gauss_pair()
        elif k == 3:
            assert (fast.next_u32(), fast.next_u30()) == (ref.next_u32(), ref.next_u30())
        elif k == 4:
            assert fast.binomial(5000, 0.3) == ref.binomial(5000, 0.3)
        else:
            assert fast.poisson(7.5) == ref.poisson(7.5)
    assert fast.getstate() == ref.getstate()
    ref2 = rng.RngHalves(1)
    ref2.setstate(fast.getstate())
    fast.setstate(fast.getstate())
    assert [fast.next_u32() for _ in range(8)] == [ref2.next_u32() for _ in range(8)]
