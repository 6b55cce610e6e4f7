"""The APT predictor's viper kernels against their plain-Python twins
(flight/predict_viper.py, flight/predict_py.py frame_py/codes_py): same states, history,
waveforms and counters on every interpreter (CPython and the VM run the twins twice; the
Cortex-M7 image compares viper with them)."""

from array import array

from flight import apt as A
from flight import apt_predict as ap
from flight import predict_py as pp
from flight.apt_exposure import EXPOSURES_US
from flight.params import P_DEFAULT, P_NAME


def _pred():
    p = {}
    for d in A.PARAMS:  # records by position: (name, type, default, ...) (flight.params)
        p[d[0]] = d[2]
    pr = ap.Predictor()
    pr.configure(p, 10000, 24000)
    return pr


def _lcg(x):
    return (x * 1103515245 + 12345) & 0x7FFFFFFF


def _dup(arrs):
    """A copy of the kernels' arrays, each of its type (the driver buffers 'h', the gain
    classes a bytearray, the others 'i'); the ladder, read-only, is the exposure module's
    own array (shared)."""
    out = []
    for i in range(len(arrs)):
        a = arrs[i]
        if a is EXPOSURES_US:
            out.append(a)
        elif isinstance(a, bytearray):
            out.append(bytearray(a))
        else:
            out.append(array("h" if i >= ap.A_WX0 else "i", a))
    return tuple(out)


def _copy(pr):
    """The kernels' arrays and small ints of ``pr``, copied (a second predictor's)."""
    return _dup(pr.arrs), array("i", pr.c)


def _same(a, b):
    """The first array of the kernels' ``a`` and ``b`` that differs, else -1; all but the
    frame kernel's scratch (apt_predict._A_TMP, 3: private), whose content after a frame
    is no result (the 16-term path of the model's transition leaves it untouched)."""
    i = 0
    while i < len(a):
        if i != 3 and list(a[i]) != list(b[i]):
            return i
        i += 1
    return -1


# predict_py._TRIP_Q8, the supervisor's trip (private there: no module attribute on
# MicroPython; tests/test_apt_supervisor.py checks that the two agree)
TRIP_Q8 = 5500


def test_frame_kernel_matches_the_plain_python_twin():
    pr = _pred()
    x = 7
    trips = []
    mans = []
    pulls_robust = []
    for case in range(24):
        arrs, c = _copy(pr)
        s = arrs[ap.A_S]
        for i in range(12):
            x = _lcg(x)
            s[i] = (x >> 8) % 40000 - 20000
        for k in (ap.A_HX, ap.A_HY):
            h = arrs[k]
            for i in range(32):
                x = _lcg(x)
                h[i] = (x >> 8) % 200000 - 100000
        for k in (ap.A_QX, ap.A_QY):
            q = arrs[k]
            for i in range(20):
                x = _lcg(x)
                q[i] = (x >> 8) % 200000 - 100000
        x = _lcg(x)
        # some innovations beyond the gate (pull-in), some frames missed (nf 1..4), the
        # first frame (not playing), a fresh estimate, every exposure class
        c[ap.C_DT] = (1 + case % 4) * 10000 + (x >> 8) % 3000 - 1500
        c[ap.C_E] = (20, 700, 1280, 2153, 4305, 9000)[case % 6]
        c[ap.C_FX] = s[0] + (x >> 8) % 60000 - 30000
        x = _lcg(x)
        c[ap.C_FY] = s[6] + (x >> 8) % 60000 - 30000
        c[ap.C_UX] = 5000 - case * 300
        c[ap.C_UY] = case * 200 - 3000
        c[ap.C_PLAY] = 0 if case % 7 == 3 else 1
        c[ap.C_FRESH] = 1 if case % 11 == 5 else 0
        c[ap.C_N] = case % 32
        c[ap.C_PDX] = case - 12
        c[ap.C_PDY] = 3 - case
        # the supervisor: the robust gains in use for some, its monitors' state, its
        # frame count at and near its cap
        c[ap.C_GOFF] = pr.m_gr if case % 3 == 1 else ap.M_GAIN
        c[ap.C_NF] = 30000 - (case % 4) if case % 6 == 0 else case * 7
        c[ap.C_NUPX] = s[0] - c[ap.C_FX] + case * 997
        c[ap.C_NUPY] = c[ap.C_FY] - case * 5003
        # (case 12: just above the trip, predict_py._TRIP_Q8, after the frame's low-pass:
        # a kernel whose literal differs from the twin's constant differs there)
        c[ap.C_NUAX] = case * 611 if case != 12 else TRIP_Q8 + 500
        c[ap.C_NUAY] = 12800 - case * 400 if case != 12 else 1000
        # the manoeuvre detector's means (apt_predict._C_NUMX/Y, after C_NUAY: private), some
        # near its threshold (predict_py._MAN_Q8)
        c[ap.C_NUAY + 1] = (1 if case % 2 else -1) * (3000 + case * 100)
        c[ap.C_NUAY + 2] = 4200 - case * 350
        # the transition's structure flag (apt_predict._C_FSTD, after _C_MANS): the
        # kernel's 16-term path on the model's matrix, its every-term loop without it
        assert c[ap.C_NUAY + 4] == 1
        if case % 2 == 0:
            c[ap.C_NUAY + 4] = 0
        if case % 5 == 2:  # the kernel maps the spot's offset (q6 px) into FSM units
            c[ap.C_MAP] = 1
            c[ap.C_FX] = (x >> 8) % 4000 - 2000 if case != 7 else 80000  # (80000: clamped)
            c[ap.C_FY] = (x >> 12) % 4000 - 2000
            c[ap.C_K] = 24031
            c[ap.C_SX] = -1 if case % 2 else 1
            c[ap.C_SY] = 1
            c[ap.C_M00] = 4000 + case
            c[ap.C_M01] = -300
            c[ap.C_M10] = 250
            c[ap.C_M11] = 3900 - case
            c[ap.C_ECL] = 1 << 20
            c[ap.C_QL] = (c[ap.C_ECL] << 6) // c[ap.C_K] + 1
        arrs2 = _dup(arrs)
        c2 = array("i", c)
        m0 = c[ap.C_NUAY + 3]  # (the detector's counter, apt_predict._C_MANS: private)
        p0 = c[ap.C_PULLS]
        robust = c[ap.C_GOFF] != ap.M_GAIN
        trip = ap._frame(arrs, c)
        if c[ap.C_PULLS] > p0:  # a pull-in step: the nominal one, or the robust half
            pulls_robust.append(robust)
        assert trip == pp.frame_py(arrs2, c2), case
        assert _same(arrs, arrs2) == -1 and list(c) == list(c2), case
        trips.append(trip)
        mans.append(c[ap.C_NUAY + 3] - m0)
    # the supervisor's trip (the kernel's return), the detector's rate corrections: some
    # cases, not all; pull-in steps on both gain sets (the robust ones' half step)
    assert 1 in trips and 0 in trips, trips
    assert True in pulls_robust and False in pulls_robust, pulls_robust
    assert 0 in mans and max(mans) > 0, mans
    # the FSM calibration's step and saturation of the codes, both buffers
    arrs, c = _copy(pr)
    for j in range(20):
        arrs[ap.A_QX][j] = (32767 << 8) if j % 3 == 0 else -j * 50000
        arrs[ap.A_QY][j] = (-32768 << 8) if j % 4 == 0 else j * 70000 - 300
    for b in (0, 1):
        for d in ((5, -5), (-40, 40)):
            arrs2 = _dup(arrs)
            c[ap.C_BUF] = b
            c[ap.C_DX] = d[0]
            c[ap.C_DY] = d[1]
            c2 = array("i", c)
            ap._codes(arrs, c)
            pp.codes_py(arrs2, c2)
            assert _same(arrs, arrs2) == -1 and list(c) == list(c2), (b, d)
            assert c[ap.C_PDX] == d[0]
            if d[0] == 5:  # saturated at the code range
                assert arrs[ap.A_WX0 + 2 * b][0] == 32767
                assert arrs[ap.A_WX0 + 2 * b + 1][0] == -32768


def test_the_kernels_mapping_is_the_control_laws():
    # ControlLaw.step hands the predictor the spot's offset (step(..., 1)): the kernel's
    # camera -> FSM mapping must be the one the PI law applies (apt_control._step_pi).
    from flight.apt_control import ControlLaw

    p = {}
    for d in A.PARAMS:
        p[d[P_NAME]] = d[P_DEFAULT]
    p["apt_fsm_gain_x"] = 1.2
    p["apt_cam_rot_mrad"] = 80.0
    p["apt_sign_y"] = -1
    law = ControlLaw()
    law.configure(p, 10000)
    for dx, dy in ((37, -5), (-2000, 900), (300000, -7), (2795, -2796), (-81920, 3)):
        pr = law.pred
        pr.reset()
        pr.step(dx, dy, 10000, 1000, 0, 0, 1)
        law.mode = 0
        law.u_x = law.u_y = law.r_x = law.r_y = law.e_x = law.e_y = 0
        law.kp = 256  # u = e: the PI law's mapped error
        law.kid = law.kiid = 0
        law.slew = 1 << 30
        law._step_pi(dx, dy)
        # (the restarted estimate's level is the mapped error plus the command, 0)
        assert (pr.s[0], pr.s[6]) == (law.u_x, law.u_y), (dx, dy)


def test_predictor_kernels_are_viper_where_the_port_has_it():
    import sys

    impl = sys.implementation.name
    if impl == "micropython" and sys.platform != "webassembly" and sys.maxsize <= 0x7FFFFFFF:
        # the firmware (32-bit) runs viper; a 64-bit port the twins (ptr32 loads there
        # do not sign-extend: flight/predict_viper.py)
        assert ap._frame is not pp.frame_py and ap._codes is not pp.codes_py
    elif impl != "micropython" or sys.maxsize > 0x7FFFFFFF:
        assert ap._frame is pp.frame_py and ap._codes is pp.codes_py


class _EmitParams:
    """The parameters with the app's ``emit`` (the supervisor's event goes there)."""

    def __init__(self, p):
        self.p = p
        self.events = []

    def __getitem__(self, name):
        return self.p[name]

    def emit(self, ev_id, args=None, detail=""):
        self.events.append(ev_id)


def test_a_supervisor_trip_in_the_locked_step_allocates_nothing_and_reports_after():
    """The trip comes inside the APT tick's heap-locked section: its gains switch and
    count there, its event (which allocates) waits for ``report`` (ControlLaw.command,
    unlocked).  Emitting inside raised MemoryError on the board: the tick aborted, the
    event lost (stop 48, the target bench at 6 ms frames)."""
    from heaplock import locked

    p = {}
    for d in A.PARAMS:
        p[d[0]] = d[2]
    ps = _EmitParams(p)
    pr = ap.Predictor()
    pr.configure(ps, 10000, 24000)
    amp = 80 * 256  # ~80 urad of innovation changing sign every frame (q8 codes)
    st = [0]

    def frame():
        i = st[0]
        st[0] = i + 1
        f = amp if i % 2 else -amp
        pr.step(f, -f, i * 10000, 2000, 0, 0)

    locked(frame, 200)  # armed, then oscillating: the trip, all under the heap lock
    assert pr.fallbacks == 1 and pr.robust, pr.fallbacks
    assert ps.events == [] and pr.robust_due_q8 > TRIP_Q8 // 2
    pr.report()
    assert len(ps.events) == 1 and pr.robust_due_q8 == 0
    pr.report()  # nothing due: nothing more
    assert len(ps.events) == 1
