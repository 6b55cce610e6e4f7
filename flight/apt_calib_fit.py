"""The FSM calibration's fit (flight/apt_calib.py, docs/fsm-calibration.md): from its sums
to the mirror matrix M, its polar decomposition and the fit residual.  Run once per
calibration in the calibration task (floats, lists: not the hot path)."""

import math

from flight.apt_calib import (ACCEPTED, EV_APT_CAL_DONE, EV_APT_CAL_REFUSED, HALF,
                               REFUSED)
from hal.interfaces import FSM_LSB_RAD
# Assumed plausible bound of the symmetric cross-coupling: 5x the ≤ 1 % datasheet class
# of a voice-coil FSM (sim/calib.py).
CROSS_MAX = 0.05


def matrix(sums, bases, kx, ky):
    """M (row-major 4-tuple: camera axes × mirror axes, nominal px per commanded) from the
    sums of the halves starting at ``bases``; ``kx``/``ky`` convert a row of B (q6 px per
    code) to it (sign and scale).  None when the steps did not excite the mirror.

    Solves X·Sv = Sy (X = [B1 B2], 2×4; Sv 4×4) as Svᵀ·Xᵀ = Syᵀ by Gauss-Jordan
    elimination with partial pivoting; ``B = −(B1 + B2)`` (the minus is in kx, ky)."""
    s = [0.0] * HALF
    for b in bases:
        for i in range(HALF):
            s[i] += sums[b + i]
    a = [[s[8 + 4 * r + c] for r in range(4)] + [s[c], s[4 + c]] for c in range(4)]
    big = 0.0
    for row in a:
        for v in row[:4]:
            big = max(big, abs(v))
    if big == 0.0:
        return None
    for c in range(4):
        piv = c
        for r in range(c + 1, 4):
            if abs(a[r][c]) > abs(a[piv][c]):
                piv = r
        if abs(a[piv][c]) < 1e-6 * big:
            return None
        a[c], a[piv] = a[piv], a[c]
        for r in range(4):
            if r != c:
                f = a[r][c] / a[c][c]
                for k in range(c, 6):
                    a[r][k] -= f * a[c][k]
    x = [[a[r][4 + i] / a[r][r] for r in range(4)] for i in range(2)]
    return (kx * (x[0][0] + x[0][2]), kx * (x[0][1] + x[0][3]),
            ky * (x[1][0] + x[1][2]), ky * (x[1][1] + x[1][3]))


def polar(m):
    """M = Rw(θ)·P, P symmetric: (P11, P22, θ in rad, (P12 + P21)/2)."""
    th = math.atan2(m[1] - m[2], m[0] + m[3])
    c = math.cos(th)
    s = math.sin(th)
    return (c * m[0] - s * m[2], s * m[1] + c * m[3], th,
            0.5 * ((c * m[1] - s * m[3]) + (s * m[0] + c * m[2])))


def resid(m0, m1):
    """RMS over the four elements of half the difference of two half estimates: the
    standard error of their mean."""
    e = 0.0
    for i in range(4):
        d = 0.5 * (m0[i] - m1[i])
        e += d * d
    return math.sqrt(e / 4.0)


def judge(p, gx, gy, rot, cross, resid):
    """Why a result is refused (text), or None: gains and rotation must fit their
    parameters' ranges in the store ``p`` (the plausible bounds), the cross-coupling
    ±:data:`CROSS_MAX`, the fit residual ``apt_cal_resid_max``."""
    for name, v in (("apt_fsm_gain_x", gx), ("apt_fsm_gain_y", gy),
                    ("apt_cam_rot_mrad", rot)):
        try:
            p.validate(name, v)
        except ValueError:  # ParamError: outside the plausible range
            d = p.defs[name]
            return "%s %.4g outside [%g, %g]" % (name, v, d.lo, d.hi)
    if not -CROSS_MAX <= cross <= CROSS_MAX:
        return "cross-coupling %.4g outside +-%g" % (cross, CROSS_MAX)
    if not resid <= p["apt_cal_resid_max"]:
        return "fit residual %.4g above %g" % (resid, p["apt_cal_resid_max"])
    return None


def rnd(v):
    """``v`` rounded half away from zero to an int, clamped to ±1e9 (0 for NaN)."""
    if not v == v:  # NaN: no number to report
        return 0
    v = max(-1e9, min(1e9, v))
    return int(v + 0.5) if v >= 0 else -int(-v + 0.5)


def evaluate(cal):
    """The finished run of ``cal`` (flight.apt_calib.FsmCal) judged: accepted (the
    parameters set through the store) or refused, with its event and HK_DIAG values."""
    k = -cal._ifov / (64.0 * FSM_LSB_RAD * 1e6)  # q6 px per code -> nominal px
    kx = cal._sign_x * k
    ky = cal._sign_y * k
    sm = cal.sums
    m = matrix(sm, (0, HALF), kx, ky)
    m0 = matrix(sm, (0,), kx, ky)
    m1 = matrix(sm, (HALF,), kx, ky)
    p = cal.ctx.params
    steps = cal.sent
    if m is None or m0 is None or m1 is None:
        _refuse(cal, "no mirror motion seen (singular)", 0.0, 0.0, 0.0, 0.0, 1.0, steps)
        return
    gx, gy, th, cross = polar(m)
    e = resid(m0, m1)
    rot = th * 1000.0
    why = judge(p, gx, gy, rot, cross, e)
    if why is not None:
        _refuse(cal, why, gx, gy, rot, cross, e, steps)
        return
    _report(cal, gx, gy, rot, cross, e, steps)
    p.set("apt_fsm_gain_x", gx)
    p.set("apt_fsm_gain_y", gy)
    p.set("apt_cam_rot_mrad", rot)
    p.set("apt_cal_valid", True)
    cal.state = ACCEPTED
    cal.accepted += 1
    cal.ctx.emit(EV_APT_CAL_DONE, [gx, gy, rot, cross, e, steps],
                 "gain %.4f / %.4f, rotation %.2f mrad, cross %.4f, residual %.4f, "
                 "%d steps" % (gx, gy, rot, cross, e, steps))


def _refuse(cal, why, gx, gy, rot, cross, e, steps):
    _report(cal, gx, gy, rot, cross, e, steps)
    cal.state = REFUSED
    cal.refused += 1
    cal.ctx.emit(EV_APT_CAL_REFUSED, [why, gx, gy, rot, cross, e], why)


def _report(cal, gx, gy, rot, cross, e, steps):
    """The result as HK_DIAG raw values (the packer saturates what does not fit)."""
    r = cal.raw
    r[0] = rnd(gx * 1e4)
    r[1] = rnd(gy * 1e4)
    r[2] = rnd(rot * 100.0)
    r[3] = rnd(cross * 1e4)
    r[4] = rnd(e * 1e5)
    r[5] = steps
