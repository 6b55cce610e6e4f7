"""The wheel-line canceller (flight/apt_wheels.py) under MicroPython: its viper kernels
(flight/wheels_viper.py) against the plain-Python twins on every interpreter (CPython and
the VM run the twins twice; the Cortex-M7 image compares viper with them), and the
predictor's TRACK ticks with the lines on, heap-locked (DESIGN §2)."""

from array import array

from flight import apt as A
from flight import apt_predict as ap
from flight import apt_wheels as W
from flight import wheels_py as WP
from flight.apt_control import ControlLaw
from flight.params import P_DEFAULT, P_NAME

from kit import rig

try:
    import micropython
except ImportError:  # CPython: the heap lock is a MicroPython facility
    micropython = None


def _law():
    p = {}
    for d in A.PARAMS:
        p[d[P_NAME]] = d[P_DEFAULT]
    law = ControlLaw()
    law.configure(p, 10000)
    return law


def _lcg(x):
    return (x * 1103515245 + 12345) & 0x7FFFFFFF


def test_the_lines_kernels_match_their_plain_python_twins():
    law = _law()
    ln = law.lines
    assert W.TS == 80 and W.ZS == 6  # (wheels_viper's and wheels_py's literal strides)
    assert ln.set_speeds([33.7, -65.12, 47.0, 0.0]) == 4  # (130.2 and 94 Hz: aliased low)
    ln.complete()
    pr = law.pred
    x = 11
    for case in range(20):
        T = array("h", ln.T)
        if case % 4 == 1:  # the 16-bit table's whole range (the viper loads sign-extend)
            for s in range(W.N_SLOT):
                o = s * W.TS
                for i in range(W.T_F, W.TS):
                    x = _lcg(x)
                    T[o + i] = (x >> 8) % 32769 - 16384
        Z = array("i", ln.Z)
        for s in range(W.N_SLOT):
            z = s * W.ZS
            for i in (W.Z_XR, W.Z_XI, W.Z_YR, W.Z_YI):
                x = _lcg(x)
                Z[z + i] = (x >> 8) % 80001 - 40000
            x = _lcg(x)
            Z[z + W.Z_PC] = (x >> 8) % 32769 - 16384
            Z[z + W.Z_PS] = 16000 - case * 700
        k = array("i", ln.k)
        # normal frames, a missed one, odd tick spacings, the first step, a lost clock;
        # speeds fresh or stale, the fade at its ends and between
        k[W.K_DT] = (10000, 20000, 10473, 9001, -1, 2000000, 10000)[case % 7]
        k[W.K_ON] = 0 if case % 5 == 3 else 1
        k[W.K_G] = (0, W.ONE, 5000, W.ONE - 100, 300)[case % 5]
        c = array("i", pr.c)
        x = _lcg(x)
        c[ap.C_E] = (20, 700, 1280, 2153, 4305, 9000)[case % 6] + case
        c[ap.C_NF] = 60 if case % 4 else 10
        c[ap.C_PLAY] = 1
        c[ap.C_NUPX] = (x >> 8) % 60001 - 30000 if case != 9 else 40000  # (beyond the gate)
        c[ap.C_NUPY] = (x >> 12) % 20001 - 10000
        Z2 = array("i", Z)
        k2 = array("i", k)
        lx = array("i", [7] * 20)
        ly = array("i", [7] * 20)
        lx2 = array("i", lx)
        ly2 = array("i", ly)
        assert W._step(T, Z, k, c, pr.lad, lx, ly) == WP.step_py(T, Z2, k2, c, pr.lad, lx2,
                                                                 ly2) == 0
        assert list(Z) == list(Z2) and list(k) == list(k2), case
        assert list(lx) == list(lx2) and list(ly) == list(ly2), case
    # the codes: the predictor's waveform plus the lines, the calibration's step, saturated
    arrs = pr.arrs
    lx = array("i", [j * 9000 - 90000 for j in range(20)])
    ly = array("i", [(-1) ** j * 70000 for j in range(20)])
    for j in range(20):
        arrs[ap.A_QX][j] = (32767 << 8) if j % 3 == 0 else -j * 50000
        arrs[ap.A_QY][j] = (-32768 << 8) if j % 4 == 0 else j * 70000 - 300
    for b in (0, 1):
        c = array("i", pr.c)
        c[ap.C_BUF] = b
        c[ap.C_DX] = 5
        c[ap.C_DY] = -40
        c[ap.C_PDX] = c[ap.C_PDY] = 7
        W._codes(arrs, c, lx, ly)
        w1 = (list(arrs[ap.A_WX0 + 2 * b]), list(arrs[ap.A_WX0 + 2 * b + 1]))
        # (in the predictor's codes kernel's place: the step remembered for the history)
        assert (c[ap.C_PDX], c[ap.C_PDY]) == (5, -40)
        c[ap.C_PDX] = c[ap.C_PDY] = 7
        WP.codes_py(arrs, c, lx, ly)
        assert (c[ap.C_PDX], c[ap.C_PDY]) == (5, -40)
        assert w1 == (list(arrs[ap.A_WX0 + 2 * b]), list(arrs[ap.A_WX0 + 2 * b + 1])), b
        assert w1[0][1] == ((arrs[ap.A_QX][1] + lx[1]) >> 8) + 5
        assert w1[1][1] == ((arrs[ap.A_QY][1] + ly[1]) >> 8) - 40



def test_while_the_lines_play_their_codes_replace_the_predictors():
    # Predictor.fill (as Predictor.step): the predictor's codes kernel only while the
    # lines are silent; while they play, theirs alone writes the buffer — what the
    # predictor's kernel and then the lines' wrote, the step remembered as well.
    law = _law()
    ln = law.lines
    pr = law.pred
    arrs = pr.arrs
    for j in range(20):
        arrs[ap.A_QX][j] = j * 40000 - 300000
        arrs[ap.A_QY][j] = 250000 - j * 31000
        ln.lx[j] = (-1) ** j * 9000
        ln.ly[j] = j * 700
    for g in (0, W.ONE // 3):
        ln.k[W.K_G] = g
        c0 = array("i", pr.c)
        pr.fill(6, -11, ln)
        got = ([list(a) for a in arrs[ap.A_WX0:ap.A_WX0 + 4]], list(pr.c))
        pr.c[:] = c0
        pr.c[ap.C_BUF] ^= 1
        pr.c[ap.C_DX] = 6
        pr.c[ap.C_DY] = -11
        ap._codes(arrs, pr.c)  # (the order before stop 53: both, the lines' last)
        if g:
            W._codes(arrs, pr.c, ln.lx, ln.ly)
        assert got == ([list(a) for a in arrs[ap.A_WX0:ap.A_WX0 + 4]], list(pr.c)), g
        assert (pr.c[ap.C_PDX], pr.c[ap.C_PDY]) == (6, -11)
        b = pr.c[ap.C_BUF]
        assert got[0][2 * b][1] == ((arrs[ap.A_QX][1] + (ln.lx[1] if g else 0)) >> 8) + 6

def test_predictor_ticks_with_the_wheel_lines_allocate_nothing():
    r = rig("apt", err=(0.001, 0.001), params={"apt_law": 1})
    apt = r.apt
    ln = apt.law.lines
    r.fsm.record = False
    r.until(A.TRACK, 80)
    assert ln.set_speeds([45.3, 58.1]) == 2  # (floats: the TC path, outside the lock)
    ln.complete()
    ln.k[W.K_ON] = 1
    r.tick(60)  # the predictor settled (ARM frames): the LMS adapts
    r.cam.replay = array("H", apt.trk_buf)
    apt.tick()
    u0 = ln.k[W.K_UPD]
    if micropython is not None:
        micropython.heap_lock()
    try:
        for i in range(10):
            if i == 5:
                apt.law._t += apt.law.frame_us  # a frame period without a frame
            apt.tick()
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    assert (apt.fsm_errors, apt.invalid_frames) == (0, 0) and apt.state == A.TRACK
    assert ln.k[W.K_G] == W.ONE and ln.k[W.K_UPD] == u0 + 10
    assert isinstance(apt.law.u_x, int)
