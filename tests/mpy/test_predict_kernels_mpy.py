"""The APT predictor's viper kernels against their plain-Python twins
(flight/predict_viper.py, flight/apt_predict.*_py): same states, flags and waveforms on
every interpreter (CPython and the VM run the twins twice; the Cortex-M7 image and the
unix port compare viper with them)."""

from array import array

from flight import apt as A
from flight import apt_predict as ap


def _pred():
    p = {}
    for d in A.PARAMS:  # records by position: (name, type, default, ...) (flight.params)
        p[d[0]] = d[2]
    pr = ap.Predictor()
    pr.configure(p, 10000, 24000)
    return pr


def _lcg(x):
    return (x * 1103515245 + 12345) & 0x7FFFFFFF


def test_predictor_kernels_match_the_plain_python_twins():
    pr = _pred()
    x = 7
    for case in range(12):
        sa = array("i", [0] * 12)
        for i in range(12):
            x = _lcg(x)
            sa[i] = (x >> 8) % 40000 - 20000
        sb = array("i", sa)
        ta = array("i", [0] * 6)
        tb = array("i", [0] * 6)
        x = _lcg(x)
        y = sa[0] + (x >> 8) % 60000 - 30000  # some beyond the gate (pull-in)
        nf = 1 + case % 3
        ho = (case * 3 % 36) * 6
        ko = (case % 4) * 6
        a = array("i", [6, ap.M_H + ho, ap.M_GAIN + ko, y, nf, ap.NU_GATE, ap.V_MAX, ap.J_MAX])
        ra = ap._kf_axis(sa, pr.m, ta, a)
        rb = ap.kf_axis_py(sb, pr.m, tb, a)
        assert ra == rb and list(sa) == list(sb), case
        qa = array("i", [0] * 20)
        qb = array("i", [0] * 20)
        last = sa[6] - 3000 + case * 500
        a = array("i", [6, 20, last, 2400, ap.U_MAX, ap.U_MIN])
        ap._fill_axis(sa, pr.rows, qa, a)
        ap.fill_axis_py(sa, pr.rows, qb, a)
        assert list(qa) == list(qb), case
        wa = array("h", [0] * 20)
        wb = array("h", [0] * 20)
        a = array("i", [20, case - 6, 32767, -32768])
        ap._codes_axis(qa, wa, a)
        ap.codes_axis_py(qb, wb, a)
        assert list(wa) == list(wb), case
    # the command history: record (beyond the waveform: its last sample held), the mean
    # over exposure windows of every alignment (negative means: rounding towards 0)
    for case in range(6):
        ha = array("i", [0] * 32)
        hb = array("i", [0] * 32)
        q = array("i", [0] * 20)
        for j in range(20):
            x = _lcg(x)
            q[j] = (x >> 8) % 200000 - 100000
        a = array("i", [case * 5, 8 + case * 4, case * 256 - 512, 20])
        ra = ap._record_axis(ha, q, a)
        rb = ap.record_axis_py(hb, q, a)
        assert ra == rb and list(ha) == list(hb), case
        for w0, e in ((500, 20), (1750, 1000), (1250, 2153), (1750, 9000), (0, 700)):
            m = array("i", [ra, w0, w0 + e, 1000])
            assert ap._mean_axis(ha, m) == ap.mean_axis_py(hb, m), (case, w0, e)
    big = array("i", [32767 << 8] * 20)  # saturation of the codes
    wa = array("h", [0] * 20)
    ap._codes_axis(big, wa, array("i", [20, 5, 32767, -32768]))
    assert wa[0] == 32767


def test_predictor_kernels_are_viper_where_the_port_has_it():
    import sys

    impl = sys.implementation.name
    if impl == "micropython" and sys.platform != "webassembly" and sys.maxsize <= 0x7FFFFFFF:
        # the firmware (32-bit) runs viper; a 64-bit port the twins (ptr32 loads there
        # do not sign-extend: flight/predict_viper.py)
        assert ap._kf_axis is not ap.kf_axis_py and ap._fill_axis is not ap.fill_axis_py
        assert ap._mean_axis is not ap.mean_axis_py
    elif impl != "micropython" or sys.maxsize > 0x7FFFFFFF:
        assert ap._kf_axis is ap.kf_axis_py and ap._codes_axis is ap.codes_axis_py
