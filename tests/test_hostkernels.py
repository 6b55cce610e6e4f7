"""The simulator's host builds of the APT's kernels (sim/run/hostkernels) are the flight code's
Python twins, bit for bit: every kernel on the inputs a pass gave it and on drawn ones
(branches a nominal pass never takes, bad indices and values: the same exception), and a
whole pass's metrics with either (docs/simulator.md "Speed").

Without a C compiler or Python's headers the module skips, saying which; with both, a
build that fails is a failure here (the simulator would fall back to the twins, slower,
and say so).
"""

import random
from array import array

import pytest

from flight import apt_pixels, apt_predict, apt_wheels
from flight.apt_pixels import CEN_SIZE, CEN_X0, CEN_Y0, centroid_py
from flight.predict_py import (
    _C_FRAME, _C_WAVE, A_QX, A_S, C_DT, C_E, C_FRESH, C_FX, C_FY, C_GOFF, C_MAP, C_N, C_NF,
    C_NUAX, C_NUPX, C_NUPY, C_PLAY, M_GAIN, codes_py, frame_py)
from flight.wheels_py import codes_py as wcodes_py
from flight.wheels_py import step_py
from sim import camera
from sim.camera import Camera
from sim.run import hostkernels, metrics, passsim
from sim.run.report import SPEED_KEYS

_MISSING = hostkernels.missing()
pytestmark = pytest.mark.skipif(_MISSING is not None,
                                reason="%s: the simulator flies the Python twins"
                                       % _MISSING)


@pytest.fixture(scope="module")
def hk():
    mod = hostkernels.load()
    assert mod is not None, hostkernels.why_not()
    return mod


def _copy(v):
    if isinstance(v, array):
        return array(v.typecode, v)
    if isinstance(v, bytearray):
        return bytearray(v)
    if isinstance(v, (tuple, list)):
        return type(v)(_copy(x) for x in v)
    return v  # (bytes, ints: immutable)


def _flat(v):
    """Every array of an argument list, as lists (for ==)."""
    if isinstance(v, (array, bytearray)):
        return [list(v)]
    if isinstance(v, (tuple, list)):
        return [x for y in v for x in _flat(y)]
    return []


def _same(twin, host, args):
    """Run both on copies of ``args``; assert the same return or exception and the same
    arrays afterwards; returns the twin's return (None when it raised)."""
    a = _copy(args)
    b = _copy(args)
    try:
        ra = twin(*a)
        ea = None
    except (IndexError, OverflowError, ZeroDivisionError, ValueError, TypeError) as e:
        ra, ea = None, type(e)
    try:
        rb = host(*b)
        eb = None
    except (IndexError, OverflowError, ZeroDivisionError, ValueError, TypeError) as e:
        rb, eb = None, type(e)
    assert ea == eb, (twin.__name__, ea, eb)
    if ea is None:
        assert ra == rb, twin.__name__
        assert _flat(a) == _flat(b), twin.__name__
    return ra


# The inputs a pass gives the kernels: its first 32 s (3 435 frames), every call recorded.
_SLOTS = ((apt_predict, "_frame"), (apt_predict, "_codes"), (apt_wheels, "_step"),
          (apt_wheels, "_codes"), (apt_pixels, "centroid_k"))


@pytest.fixture(scope="module")
def recorded():
    calls = {}
    saved = []
    for mod, name in _SLOTS:
        fn = getattr(mod, name)
        saved.append((mod, name, fn))

        def rec(*args, _fn=fn):
            calls.setdefault(_fn, []).append(_copy(args))
            return _fn(*args)

        setattr(mod, name, rec)
    try:
        passsim.fly("nominal", seed=3, duration_s=32.0, py_kernels=True)
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)
    return calls


def _host(hk, twin):
    return {frame_py: hk.predict_frame, codes_py: hk.predict_codes, step_py: hk.wheels_step,
            wcodes_py: hk.wheels_codes, centroid_py: hk.centroid}[twin]


@pytest.mark.parametrize("twin", [frame_py, codes_py, step_py, wcodes_py, centroid_py],
                         ids=lambda f: f.__module__.split(".")[-1] + "." + f.__name__)
def test_every_kernel_gives_the_twins_results_on_a_passs_inputs(hk, recorded, twin):
    calls = recorded.get(twin, [])
    if twin is codes_py:  # (with the wheel lines on, theirs replaces it: same inputs)
        calls = [args[:2] for args in recorded[wcodes_py]]
    assert len(calls) > 3000, "the pass reached TRACK"  # (7 ms frames)
    host = _host(hk, twin)
    rets = set()
    for args in calls:
        rets.add(_same(twin, host, args))
    if twin is centroid_py:
        assert rets == {0, 1}  # (spots and no spots)


def test_the_frame_step_on_drawn_states_every_branch(hk, recorded):
    rnd = random.Random(7)
    base = recorded[frame_py]
    trips = runs = resets = raised = 0
    for _ in range(3000):
        A, c = _copy(rnd.choice(base))
        c[C_DT] = rnd.choice((0, rnd.randrange(-2000, 40000), c[_C_FRAME] * rnd.randrange(1, 6)))
        c[C_E] = rnd.randrange(0, 9500)
        c[C_PLAY] = rnd.random() < 0.9
        c[C_FRESH] = rnd.random() < 0.1
        c[C_MAP] = rnd.random() < 0.5
        c[C_FX] = rnd.randrange(-40000, 40000) >> rnd.randrange(0, 8)
        c[C_FY] = rnd.randrange(-40000, 40000) >> rnd.randrange(0, 8)
        c[C_NF] = rnd.randrange(0, 300)
        c[C_NUAX] = rnd.randrange(0, 9000)
        c[C_NUPX] = rnd.randrange(-30000, 30000)
        c[C_NUPY] = rnd.randrange(-30000, 30000)
        if rnd.random() < 0.3:
            c[C_GOFF] = M_GAIN + 6 * rnd.randrange(0, 4)
        s = A[A_S]
        for i in range(len(s)):
            if rnd.random() < 0.3:
                s[i] = rnd.randrange(-70000, 70000)
        if rnd.random() < 0.02:  # bad inputs: the same exception
            c[rnd.choice((C_N, _C_WAVE, _C_FRAME))] = rnd.choice((-40, 0, 99))
        r = _same(frame_py, hk.predict_frame, (A, c))
        trips += r == 1
        runs += r == 0
        raised += r is None
        resets += c[C_FRESH] == 1
    assert trips > 0 and runs > 2000 and resets > 0 and 0 < raised < 300


def test_the_codes_and_the_lines_on_drawn_inputs(hk, recorded):
    rnd = random.Random(8)
    for _ in range(1000):
        A, c = _copy(rnd.choice(recorded[wcodes_py])[:2])
        for q in (A[A_QX], A[A_QX + 1]):
            for j in range(len(q)):
                q[j] = rnd.randrange(-(1 << 24), 1 << 24)
        c[21] = rnd.randrange(-3000, 3000)
        _same(codes_py, hk.predict_codes, (A, c))
    steps = recorded[step_py]
    lost = raised = 0
    for _ in range(2000):
        T, Z, k, pc, lad, lx, ly = _copy(rnd.choice(steps))
        k[0] = rnd.choice((k[0], -5, rnd.randrange(0, 2_000_000), rnd.randrange(0, 30000)))
        k[1] = rnd.random() < 0.8
        pc[37] = rnd.randrange(0, 120)
        pc[38] = rnd.randrange(-30000, 30000)
        pc[39] = rnd.randrange(-30000, 30000) >> rnd.randrange(0, 6)
        pc[C_E] = rnd.randrange(0, 9500)
        lost += k[0] < 0 or k[0] > 100 * k[4]
        raised += _same(step_py, hk.wheels_step, (T, Z, k, pc, lad, lx, ly)) is None
    assert lost > 0 and raised < 20
    for args in recorded.get(wcodes_py, [])[:300]:
        _same(wcodes_py, hk.wheels_codes, args)


def test_the_centroid_on_drawn_windows(hk, recorded):
    rnd = random.Random(9)
    valid = raised = 0
    for _ in range(3000):
        buf, out, wtab = _copy(rnd.choice(recorded[centroid_py])[0])
        size = out[CEN_SIZE]
        for _ in range(rnd.randrange(0, 4)):  # hot pixels, brighter than the spot at times
            buf[rnd.randrange(0, size * size)] = rnd.randrange(0, 1100)
        if rnd.random() < 0.2:  # a dim or no spot: the masking retries
            for i in range(size * size):
                buf[i] = min(buf[i], 80 + rnd.randrange(0, 30))
            buf[rnd.randrange(0, size * size)] = 900
        if rnd.random() < 0.05:
            out[CEN_SIZE] = rnd.choice((0, 4, size + 4))
        out[CEN_X0] = rnd.randrange(0, 1200)
        out[CEN_Y0] = rnd.randrange(0, 1000)
        r = _same(centroid_py, hk.centroid, ([buf, out, wtab],))
        valid += r == 1
        raised += r is None
    assert 300 < valid < 2900 and 0 < raised < 300


def test_the_cameras_spot_is_the_same_pixels(hk):
    """sim/camera.py's spot loops in C: the same window, pixel for pixel, over exposures,
    gains, positions (the spot clipped by the window's edges), binning, full-well and ADC
    clipping; and the wide (bytearray) windows stay in Python."""
    rnd = random.Random(4)
    spots = clipped = 0
    for _ in range(400):
        seed = rnd.randrange(1, 10_000)
        setting = (rnd.choice((1e-5, 1e-4, 1e-3, 5e-3, 9e-3)), rnd.choice((1.0, 2.0, 8.0)),
                   rnd.uniform(-9e-4, 9e-4), rnd.uniform(-9e-4, 9e-4), rnd.choice((1, 2)),
                   rnd.uniform(0.05, 20.0))
        exp, gain, rx, ry, b, power = setting
        bufs = []
        for spot in (None, hk.camera_spot):
            cam = Camera(seed=seed)
            cam.set_exposure(exp)
            cam.set_gain(gain)
            cam.set_beacon(True, power)
            cam.set_residual(rx, ry)
            buf = array("H", bytes(2 * 256))
            was = camera.host_spot
            camera.host_spot = spot
            try:
                cam.read(buf, 632 - 8 * (b - 1), 504 - 8 * (b - 1), 16, 16, b)
                bufs.append((list(buf), cam._rng.randbelow(1 << 30)))
            finally:
                camera.host_spot = was
        assert bufs[0] == bufs[1], setting
        bg = sorted(bufs[0][0])[128]
        spots += max(bufs[0][0]) > bg + 50
        clipped += max(bufs[0][0]) == cam.adc_max
    assert spots > 100 and clipped > 10


def test_a_pass_is_the_same_with_either(hk):
    fig = []
    for py in (True, False):
        res = passsim.fly("nominal", seed=2, duration_s=40.0, py_kernels=py)
        m = metrics.compute(res)
        assert m["sim_kernels"] == ("python" if py else "host")  # (said in the metrics)
        fig.append({k: v for k, v in m.items() if k not in SPEED_KEYS})
    assert fig[0]["track_fraction"] > 0.5 and fig[0]["track_residual_rms_urad"] > 0
    assert fig[0] == fig[1]


def test_install_swaps_only_the_twins_and_restores_them(hk):
    restore = hostkernels.install()
    try:
        assert apt_predict._frame is hk.predict_frame
        assert apt_pixels.centroid_k is hk.centroid
        assert hostkernels.install() is not None  # nested: nothing more to swap
        assert apt_wheels._step is hk.wheels_step and camera.host_spot is hk.camera_spot
    finally:
        restore()
    assert apt_predict._frame is frame_py and apt_wheels._codes is wcodes_py
    assert apt_pixels.centroid_k is centroid_py and camera.host_spot is None


def test_without_a_build_the_sim_flies_the_twins_and_says_so_once(monkeypatch, capsys):
    monkeypatch.setitem(hostkernels._state, "module", None)
    monkeypatch.setitem(hostkernels._state, "why_not", "no compiler (test)")
    monkeypatch.setitem(hostkernels._state, "said", False)
    assert hostkernels.install() is None
    assert hostkernels.install() is None
    err = capsys.readouterr().err
    assert err.count("not built (no compiler (test))") == 1
    assert apt_predict._frame is frame_py


def test_no_python_headers_is_a_reason_not_an_attempt(monkeypatch):
    monkeypatch.setattr(hostkernels.sysconfig, "get_paths", lambda: {"include": "/nowhere"})
    monkeypatch.setitem(hostkernels._state, "module", None)
    monkeypatch.setitem(hostkernels._state, "why_not", None)
    monkeypatch.setattr(hostkernels, "build", lambda: pytest.fail("no build without headers"))
    assert hostkernels.load() is None
    assert "no Python headers" in hostkernels.why_not()
    monkeypatch.setenv("CC", "no-such-compiler-here")
    assert hostkernels.missing() == "no C compiler (no-such-compiler-here)"


def test_a_failing_compiler_is_reported_not_raised(monkeypatch, tmp_path):
    monkeypatch.setattr(hostkernels, "_OUT", tmp_path)
    monkeypatch.setenv("CC", "cc -DFSM_CODE_MAX=broken")  # (redefined: the build fails)
    monkeypatch.setitem(hostkernels._state, "module", None)
    monkeypatch.setitem(hostkernels._state, "why_not", None)
    assert hostkernels.load() is None
    assert hostkernels.why_not().startswith("the C compiler failed")
    assert not list(tmp_path.iterdir())  # (no half-written build left)


def test_the_command_lines_fly_the_twins_when_asked(hk, monkeypatch, tmp_path):
    """``python -m sim --py-kernels`` and ``python -m sim.campaign --py-kernels``: the twins
    in their slots for the whole pass (and its commissioning pass), the host builds
    otherwise."""
    from sim.run import campaign, cli

    seen = []
    real = passsim._fly

    def spy(*args, **kw):
        seen.append(apt_predict._frame)
        return real(*args, **kw)

    monkeypatch.setattr(passsim, "_fly", spy)
    assert cli.main(["--duration", "2", "--quiet", "--py-kernels"]) == 0
    assert cli.main(["--duration", "2", "--quiet"]) == 0
    assert seen == [frame_py, hk.predict_frame]
    assert campaign.draw_specs(1, 5, py_kernels=True)[0]["py_kernels"] is True
    seen.clear()
    out = campaign.fly_one(dict(campaign.draw_specs(1, 5, duration_s=2.0, py_kernels=True)[0]))
    assert out["error"] is None and seen == [frame_py]
    assert apt_predict._frame is frame_py  # (restored after each pass)


def test_bad_arguments_are_exceptions_never_a_crash(hk):
    c = array("i", [0] * 47)
    with pytest.raises(TypeError):
        hk.predict_frame((1, 2), c)  # (no arrays)
    with pytest.raises(TypeError):
        hk.predict_frame()
    with pytest.raises(IndexError):
        hk.predict_frame((), c)
    out = array("i", [0] * 31)
    out[CEN_SIZE] = 16
    with pytest.raises(TypeError):  # (floats: the host build takes the flight's integer arrays only)
        hk.centroid([array("d", [0.0] * 256), out, b"\0" * 257])
    with pytest.raises(TypeError):  # (bytes are read-only: the twin's TypeError too)
        hk.wheels_step(b"\0" * 1280, b"\0" * 192, b"\0" * 32, b"\0" * 188, b"\0" * 72,
                       b"\0" * 80, b"\0" * 80)
    with pytest.raises(TypeError):  # (integers where the camera reads floats)
        hk.camera_spot(array("H", [0] * 256), array("i", [1] * 25), array("i", [1] * 25),
                       array("f", [0.0] * 4096), 0, 3, 3, 0, 16, 1e4, 0.1, 0.5, 1e4, 1023)
