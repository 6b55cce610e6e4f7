"""The APT's predictive loop and centroid (issue 14 deliverable 2; DESIGN §3.3,
docs/apt-loop.md): known spots against the centroid, the camera → FSM mapping (the
predictor's waveform, gain error and missed frames: tests/test_apt_wave.py)."""

import math
import sys
from array import array

import pytest

from flight import apt as A
from flight import lazy
from flight import apt_pixels as px
from flight.apt_control import ControlLaw
from sim.camera import Camera
from sim.rng import Rng
from tests.mpy.kit import rig

DEG = math.pi / 180.0


def _params(**kw):
    p = {d.name: d.default for d in A.PARAMS}
    p.update(kw)
    return p


# ---------------------------------------------------------------------- centroid
def _spots(exposure_s, n=300, seed=5):
    """(true x, true y, estimate x, y) in window px for n spots at known sub-pixel
    positions around a 16 px window's centre, rendered by sim.camera (no hot pixels)."""
    cam = Camera(seed=seed, hot_fraction=0.0)
    cam.set_exposure(exposure_s)
    rng = Rng(seed)
    buf = array("H", [0] * 256)
    out = array("i", [0] * px.CEN_LEN)
    p = _params()
    res = []
    for _ in range(n):
        tx = 8.0 + rng.uniform(-0.5, 0.5)
        ty = 8.0 + rng.uniform(-0.5, 0.5)
        cam.set_residual((tx - 8.0) * cam.ifov, (ty - 8.0) * cam.ifov)
        cam.read(buf, 632, 504, 16, 16, 1)
        ok = px.centroid(buf, 16, 632, 504, p["apt_snr_min_dn"], p["apt_thr_min_dn"],
                         p["apt_min_spot_px"], p["apt_max_spot_px"], out)
        assert ok
        assert out[px.CEN_X] == (out[px.CEN_X8] + 2) >> 2  # (q6: the q8 estimate rounded)
        assert out[px.CEN_Y] == (out[px.CEN_Y8] + 2) >> 2
        res.append((tx, ty, out[px.CEN_X8] / 256.0 - 632, out[px.CEN_Y8] / 256.0 - 504))
    return res


def _bias_std(res):
    ex = [r[2] - r[0] for r in res] + [r[3] - r[1] for r in res]
    m = sum(ex) / len(ex)
    return m, math.sqrt(sum((e - m) ** 2 for e in ex) / len(ex))


def test_centroid_is_unbiased_and_near_the_cramer_rao_bound():
    # 1 ms exposure, zenith flux: ~30 000 e- in the spot, CRB 0.0067 px per axis
    # (Fisher information of the pixel-integrated Gaussian spot under shot + read noise).
    bias, std = _bias_std(_spots(1e-3))
    assert abs(bias) < 0.002  # px: 0.2 urad (the floor division biased by -0.0078 px)
    # px: 0.79 urad measured in q8, 1.2x CRB (0.92 with stop 56's q6 output, whose step
    # alone was 0.45 of it; weights of the spot's own 1 px width: 0.0124; the thresholded
    # CoG alone 0.023)
    assert std < 0.0085
    # dim spot (0.3 ms, ~9 000 e-, CRB 0.014 px): 0.0157 measured (q6 0.0163; 1 px weights
    # 0.0193)
    bias, std = _bias_std(_spots(3e-4, n=200))
    assert abs(bias) < 0.003 and std < 0.017


def _render(buf, tx, ty, electrons_dn=6000, bg=32):
    """A noiseless pixel-integrated Gaussian spot (σ 1 px) at (tx, ty) window px."""
    def cdf(x):
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))
    for r in range(16):
        fy = cdf(r + 1 - ty) - cdf(r - ty)
        for c in range(16):
            buf[r * 16 + c] = bg + int(round(electrons_dn * (cdf(c + 1 - tx) - cdf(c - tx)) * fy))


def test_centroid_of_a_noiseless_spot_has_no_pixel_phase_error():
    # The weighted steps start from the thresholded centre of gravity, whose error follows
    # the spot's phase on the pixel grid (up to ~0.1 px).  With weights 1.75x the spot's
    # width each step leaves ~1/4 of the error (σ²/(σ² + σ_w²)), so two steps land within
    # 2 q8 steps (0.78 urad) of the spot at every phase; weights of the spot's own width
    # left half each step: ±1 q6 step (1.56 urad) at half the phases.  The q8 estimate is
    # the loop's (stop 57); its q6 rounding ACQUIRE's.
    buf = array("H", [0] * 256)
    out = array("i", [0] * px.CEN_LEN)
    p = _params()
    for k in range(17):
        tx = 8.0 + k / 16.0
        ty = 7.5 + k / 32.0
        _render(buf, tx, ty)
        assert px.centroid(buf, 16, 0, 0, p["apt_snr_min_dn"], p["apt_thr_min_dn"],
                           p["apt_min_spot_px"], p["apt_max_spot_px"], out)
        assert abs(out[px.CEN_X8] - tx * 256) <= 2 and abs(out[px.CEN_Y8] - ty * 256) <= 2, k
        assert abs(out[px.CEN_X] - tx * 64) <= 1 and abs(out[px.CEN_Y] - ty * 64) <= 1, k


def test_weighted_centroid_returns_a_noiseless_spot_to_its_q8_step():
    buf = array("H", [0] * 256)
    out = array("i", [0] * px.CEN_LEN)
    for tx, ty in ((7.613, 8.2), (8.49, 7.51), (8.0, 8.0)):
        for r in range(16):
            for c in range(16):
                d2 = (c + 0.5 - tx) ** 2 + (r + 0.5 - ty) ** 2
                buf[r * 16 + c] = 32 + int(round(500 * math.exp(-d2 / 2)))
        assert px.wcog(buf, 16, 32, int(tx * 256), int(ty * 256), out)  # (q8 in and out)
        assert abs(out[px.CEN_SX] - tx * 256) <= 2 and abs(out[px.CEN_SY] - ty * 256) <= 2
    flat = array("H", [40] * 256)
    assert not px.wcog(flat, 16, 40, 2048, 2048, out)  # no signal: the estimate stays


# ---------------------------------------------------------------------- mapping
def test_camera_to_fsm_mapping_and_its_inverse():
    law = ControlLaw()
    law.configure(_params(apt_fsm_gain_x=1.2, apt_fsm_gain_y=0.85, apt_cam_rot_mrad=80.0),
                  10000)
    c = math.cos(0.08)
    s = math.sin(0.08)
    assert law.m00 == round(4096 * c / 1.2) and law.m01 == round(-4096 * s / 1.2)
    assert law.m10 == round(4096 * s / 0.85) and law.m11 == round(4096 * c / 0.85)
    # FSM command -> camera px and camera -> FSM compose to the identity
    for gx, gy, rot in ((1.2, 0.85, 80.0), (1.0, 1.0, 0.0), (0.8, 1.25, -100.0)):
        law.configure(_params(apt_fsm_gain_x=gx, apt_fsm_gain_y=gy, apt_cam_rot_mrad=rot),
                      10000)
        prod = [[sum(a * b for a, b in zip(row, col, strict=True)) / 4096 ** 2
                 for col in ((law.n00, law.n10), (law.n01, law.n11))]
                for row in ((law.m00, law.m01), (law.m10, law.m11))]
        assert abs(prod[0][0] - 1) < 1e-3 and abs(prod[1][1] - 1) < 1e-3
        assert abs(prod[0][1]) < 1e-3 and abs(prod[1][0]) < 1e-3
    law.configure(_params(apt_fsm_gain_x=1.2, apt_fsm_gain_y=0.85, apt_cam_rot_mrad=80.0),
                  10000)
    du = array("i", [0, 0])
    law.mirror_px_q6(law.px2code_q8 * 10, 0, du)  # 10 px of mirror on x
    assert abs(du[0] - 640 * 1.2 * c) < 3 and abs(du[1] + 640 * 1.2 * s) < 3


def test_mapping_parameters_are_declared_with_the_contract_bounds():
    p = {d.name: d for d in A.PARAMS}
    assert (p["apt_fsm_gain_x"].default, p["apt_fsm_gain_x"].lo, p["apt_fsm_gain_x"].hi) == \
        (1.0, 0.8, 1.25)
    assert (p["apt_cam_rot_mrad"].lo, p["apt_cam_rot_mrad"].hi) == (-100.0, 100.0)
    r = rig("apt", err=(0.001, 0.0))
    r.ctx.params.set("apt_fsm_gain_x", 1.1)  # the params listener reconfigures the law
    assert r.apt.law.m00 == round(4096 / 1.1)


def test_pi_law_uses_the_mapping():
    r = rig("apt", err=(0.001, 0.0), params={"apt_law": 0, "apt_cam_rot_mrad": 50.0})
    law = r.apt.law
    law.step(64, 0)  # 1 px on camera x: FSM x and y (rotated by 50 mrad)
    assert law.u_x > 0 and law.u_y > 0
    assert abs(law.u_y / law.u_x - math.tan(0.05)) < 0.01


# ---------------------------------------------------------------------- design on use
class _Params(dict):
    """Parameters with the app's ``emit`` (what Predictor.configure reports through)."""

    def __init__(self, **kw):
        super().__init__(_params(**kw))
        self.events = []
        self.emit = lambda ev, args=None, text=None: self.events.append((ev, text))


def test_predictor_design_code_is_loaded_for_a_design_and_released(monkeypatch):
    # Where the code is frozen (lazy.frozen: the firmware) the design's module is not held
    # once the matrices are made: a tracking APT holds none of it (issue 11).
    monkeypatch.setattr(lazy, "frozen", lambda name: True)
    law = ControlLaw()
    law.configure(_Params(), 10000)
    assert law.pred.designed and law.mode == 1
    assert "flight.apt_kalman" not in sys.modules
    assert law.pred.m[0] == 4096  # (Phi's drift position: 1 in Q12)
    # a parameter that does not change the design does not load it
    loads = []
    real = lazy.load
    monkeypatch.setattr(lazy, "load", lambda *a: loads.append(a[0]) or real(*a))
    law.configure(_Params(apt_fsm_gain_x=1.1), 10000)
    assert loads == [] and law.mode == 1


def test_predictor_design_without_heap_is_its_event_and_the_pi_law_runs(monkeypatch):
    def no_heap(name, *a):
        if name == "flight.apt_kalman":
            raise MemoryError
        return __import__(name, *a)

    sys.modules.pop("flight.apt_kalman", None)
    monkeypatch.setattr(lazy, "__import__", no_heap, raising=False)
    n0 = lazy.failures[0]
    p = _Params()
    law = ControlLaw()
    law.configure(p, 10000)  # no exception: the law degrades
    assert lazy.failures[0] == n0 + 1
    assert p.events == [(lazy.EV_MODULE_LOAD_FAILED, "flight.apt_kalman")]
    assert not law.pred.designed and law.pred.key is None
    assert law.mode == 0 and not any(law.pred.m)  # PI: no predictor without matrices
    monkeypatch.undo()
    law.configure(p, 10000)  # the next parameter load designs it
    assert law.pred.designed and law.mode == 1 and law.pred.m[0] == 4096


def test_the_twin_kernels_layout_is_the_predictors():
    # flight/predict_py.py repeats apt_predict's layout (private consts have no globals
    # entry on a MicroPython port to read): every name both define holds the same value.
    from flight import apt_predict as ap
    from flight import predict_py as pp

    shared = [n for n in dir(pp) if n.isupper() or (n.startswith("_") and n[1:].isupper())]
    shared = [n for n in shared if hasattr(ap, n) and isinstance(getattr(pp, n), int)]
    assert len(shared) >= 50
    assert [n for n in shared if getattr(pp, n) != getattr(ap, n)] == []
    # (the tests read the private counters by their place after C_NUAY)
    assert (pp._C_NUMX, pp._C_NUMY, pp._C_MANS) == tuple(ap.C_NUAY + i for i in (1, 2, 3))
    assert ap._C_FSTD == ap.C_NUAY + 4  # (tests/mpy/test_predict_kernels_mpy.py reads it so)


@pytest.mark.parametrize("frame_us", [6000, 7000, 10000])
def test_the_transition_is_flagged_structured_only_when_it_is(frame_us):
    # The viper kernel's 16-term path (flight/predict_viper.py) stands for its every-term
    # loop only on the model's structure, checked at each design: every default design
    # has it; a matrix without it (a coupling into the position, a rate that decays, a
    # jitter term beyond 2.0) is flagged 0 and runs the loop.
    from flight import apt_predict as ap

    law = ControlLaw()
    law.configure(_params(), frame_us)
    m = law.pred.m
    assert law.pred.c[ap._C_FSTD] == ap.structured(m) == 1
    for k, v in ((2, 5), (7, 4000), (12, 1), (14, 8193), (33, -8193), (1, 4095)):
        m2 = array("i", m)
        m2[k] = v
        assert ap.structured(m2) == 0, (k, v)
    m2 = array("i", m)
    m2[14] = 8192
    assert ap.structured(m2) == 1
