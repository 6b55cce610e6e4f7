"""The APT predictor's frame step and codes in plain Python (DESIGN §3.3): the twins of
flight/predict_viper.py, run where viper cannot (a 64-bit port, the WebAssembly port,
CPython), and the reference the viper kernels are checked against
(tests/mpy/test_predict_kernels_mpy.py).

Imported by flight/apt_predict.py only when flight/predict_viper.py does not load, so the
32-bit target never holds these functions.  The layout's constants are flight/apt_predict.py's,
repeated here (its private ones have no globals entry on a MicroPython port to read them
from); tests/test_apt_predict.py checks that every one is the same.
"""

from hal.compat import const
from hal.interfaces import FSM_CODE_MAX, FSM_CODE_MIN

# The kernels' clamps and thresholds (their home; flight/predict_viper.py as literals).
_RMASK = const(31)
_NU_GATE = const(100 << 8)  # innovation (q8) beyond which the estimate is pulled in (~107 urad)
_V_MAX = const(1 << 15)  # rate clamp, q8 codes/frame (~13 mrad/s at 100 Hz)
_J_MAX = const(1 << 16)  # jitter state clamp, q8 codes (~270 urad)
# The manoeuvre detector: the innovations of a filter that models its input have no mean;
# one beyond _MAN_Q8 (~15 urad; steady TRACK's stays under ~1 600 q8) is an input the
# drift model lags (the ADCS's offload slew starting): the rate takes the mean.  Only in
# the first _MAN_N frames of an estimate (later, a loop near its gain margin rings with a
# mean of its own: tests/test_apt_wave.py's x1.3 mirror).
_MAN_Q8 = const(3500)
_MAN_N = const(100)
# The supervisor: the monitor beyond _TRIP_Q8 (~25 urad) ARM_N frames after a restart (an
# oscillating loop; a ramp's innovations keep their sign): the robust gains take over.
# 6000, not stop 27's 7200: at 7 ms frames a mirror gain of x1.7 rang at ~7000 without
# tripping; honest passes peak at ~2700 (docs/apt-loop.md §4 "The trip at 7 ms").  5500
# since stop 53: with the board's shorter send a x1.9 mirror rang, bounded, at 3x its
# k = 1 figure under 6000.
_TRIP_Q8 = const(5500)
_NU_CLIP = const(12800)  # ~53 urad: a pull-in's one step stays under the trip
ARM_N = const(50)
# flight/apt_predict.py's layout (the meaning of each index there).
N_WAVE = const(20)
_RING = const(32)
_NS = const(6)
M_PHI = const(0)
M_GAIN = const(36)
M_H = const(60)
_A_M = const(0)
_A_ROWS = const(1)
A_S = const(2)
_A_TMP = const(3)
A_HX = const(4)
A_HY = const(5)
A_QX = const(6)
A_QY = const(7)
A_LAD = const(8)
A_WX0 = const(9)
_A_CLS = const(13)
C_DT = const(0)
C_E = const(1)
C_FX = const(2)
C_FY = const(3)
C_UX = const(4)
C_UY = const(5)
C_PLAY = const(6)
C_FRESH = const(7)
C_N = const(8)
C_PDX = const(9)
C_PDY = const(10)
C_PULLS = const(11)
_C_STALE = const(12)
_C_X0 = const(13)
_C_WAVE = const(14)
_C_FRAME = const(15)
_C_SLEW = const(16)
_C_KEND = const(17)
C_NL = const(18)
_C_LASTX = const(19)
_C_LASTY = const(20)
C_DX = const(21)
C_DY = const(22)
C_BUF = const(23)
C_MAP = const(24)
C_K = const(25)
C_SX = const(26)
C_SY = const(27)
C_M00 = const(28)
C_M01 = const(29)
C_M10 = const(30)
C_M11 = const(31)
C_ECL = const(32)
C_QL = const(33)
C_GOFF = const(36)
C_NF = const(37)
C_NUPX = const(38)
C_NUPY = const(39)
C_NUAX = const(40)
C_NUAY = const(41)
_C_NUMX = const(42)
_C_NUMY = const(43)
_C_MANS = const(44)
C_NW = const(46)  # apt_predict.C_NW: the waveform's samples (two frames, <= N_WAVE)


def frame_py(A, c):
    """The frame step of both axes (``A``: :attr:`apt_predict.Predictor.arrs`, ``c``: its
    small ints, the C_* indices): the last waveform's played samples into the history, the mean
    command over the exposure, propagate over the frames since the last update and
    correct with the gain of the exposure's class (a pull-in beyond the gate), the next
    waveform.  Returns 1 when the supervisor trips (apt_predict.Predictor._robust), else 0."""
    m = A[_A_M]
    rows = A[_A_ROWS]
    s = A[A_S]
    tmp = A[_A_TMP]
    hx = A[A_HX]
    hy = A[A_HY]
    qx = A[A_QX]
    qy = A[A_QY]
    lad = A[A_LAD]
    wave = c[_C_WAVE]
    nw = c[C_NW]  # (the samples a waveform holds: beyond them the driver held the last)
    dt = c[C_DT]
    playing = c[C_PLAY]
    sat = 0  # 1: the error was clamped (a bound, not a measurement: step 4)
    if c[C_MAP] != 0:  # 0. the camera -> FSM mapping (apt_control.ControlLaw.step's)
        k = c[C_K]
        ql = c[C_QL]
        ex = c[C_FX]
        ey = c[C_FY]
        ex = ql if ex > ql else (-ql if ex < -ql else ex)
        ey = ql if ey > ql else (-ql if ey < -ql else ey)
        ex = (ex * k) >> 8
        ey = (ey * k) >> 8
        if c[C_SX] < 0:
            ex = -ex
        if c[C_SY] < 0:
            ey = -ey
        lim = c[C_ECL]
        ex = lim if ex > lim else (-lim if ex < -lim else ex)
        ey = lim if ey > lim else (-lim if ey < -lim else ey)
        if ex == lim or ex == -lim or ey == lim or ey == -lim:
            sat = 1
        ex >>= 4  # (|e| < 2**16 here: each product below stays under 2**29)
        ey >>= 4
        c[C_FX] = (c[C_M00] * ex + c[C_M01] * ey) >> 8
        c[C_FY] = (c[C_M10] * ex + c[C_M11] * ey) >> 8
    # 1. The history: the last waveform's samples played since its start (beyond its end
    # the driver held the last one), each plus the FSM calibration's step played with it.
    if playing == 0:  # the command held until now
        c[C_PDX] = 0
        c[C_PDY] = 0
        ux = c[C_UX]
        uy = c[C_UY]
        for j in range(N_WAVE):
            qx[j] = ux
            qy[j] = uy
        mm = _RING
    else:
        mm = dt // wave if dt > 0 else 0
    cnt = mm if mm < _RING else _RING
    offx = c[C_PDX] << 8
    offy = c[C_PDY] << 8
    r = c[C_N]
    j = 0
    while j < cnt:
        r = (r + 1) & _RMASK
        k = j if j < nw else nw - 1
        hx[r] = qx[k] + offx
        hy[r] = qy[k] + offy
        j += 1
    c[C_N] = r
    k = 0 if mm < 1 else (mm - 1 if mm <= nw else nw - 1)
    lastx = qx[k]  # in effect now: the new waveform starts from it
    lasty = qy[k]
    # 2. The ladder entry nearest the exposure (bisection) and its gain class.
    e = c[C_E]
    nl = c[C_NL]
    lo = 0
    hi = nl - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if lad[mid] <= e:
            lo = mid
        else:
            hi = mid
    ei = hi if lad[hi] - e < e - lad[lo] else lo
    cls = A[_A_CLS][ei]
    # 3. The mean command over [now - x0 - e, now - x0]: the sample b periods back
    # (b >= 1) was output over [-b P, -(b-1) P], weighted by its overlap (8 µs units).
    w0 = c[_C_X0]
    w1 = w0 + e
    refx = hx[r]
    refy = hy[r]
    accx = 0
    accy = 0
    tot = 0
    b = w0 // wave + 1
    while b <= _RING:
        lo = b * wave
        hi = lo - wave
        if hi >= w1:
            break
        a0 = lo if lo < w1 else w1
        a1 = hi if hi > w0 else w0
        ov = (a0 - a1) >> 3
        if ov > 0:
            i = (r - b + 1) & _RMASK
            accx += (hx[i] - refx) * ov
            accy += (hy[i] - refy) * ov
            tot += ov
        b += 1
    ux = refx
    uy = refy
    if tot != 0:  # (divisions truncating towards 0)
        ux += accx // tot if accx >= 0 else -((-accx) // tot)
        uy += accy // tot if accy >= 0 else -((-accy) // tot)
    # 4. The filter.
    frame = c[_C_FRAME]
    nf = dt + (frame >> 1)
    nf = nf // frame if nf > 0 else 0
    if c[C_FRESH] != 0 or playing == 0 or nf > 3 or sat != 0:
        for i in range(2 * _NS):
            s[i] = 0
        s[0] = c[C_FX] + ux
        s[_NS] = c[C_FY] + uy
        c[C_FRESH] = sat  # (after a clamped error, the first true one restarts too)
        c[C_NF] = 0
        c[C_NUAX] = 0
        c[C_NUAY] = 0
        c[_C_NUMX] = 0
        c[_C_NUMY] = 0
    else:
        if nf > 1:
            c[_C_STALE] += nf - 1
        ho = M_H + ei * _NS
        ko = c[C_GOFF] + cls * _NS
        o = 0
        while o < 2 * _NS:
            y = c[C_FX] + ux if o == 0 else c[C_FY] + uy
            n = nf
            while n > 0:  # x <- Phi x
                i = 0
                while i < _NS:
                    acc = 0
                    j = 0
                    while j < _NS:
                        v = m[M_PHI + i * _NS + j]
                        if v == 4096:
                            acc += s[o + j]
                        elif v != 0:
                            acc += (v * s[o + j]) >> 12
                        j += 1
                    tmp[i] = acc
                    i += 1
                for i in range(_NS):
                    s[o + i] = tmp[i]
                n -= 1
            nu = y - s[o]  # H[0] = 1 (the drift position is the measurement's own level)
            for j in range(1, _NS):
                nu -= (m[ho + j] * s[o + j]) >> 12
            i = C_NUPX if o == 0 else C_NUPY  # the supervisor's monitor of this axis
            v = nu - c[i] if nu > c[i] else c[i] - nu
            c[i] = nu
            i += 2  # C_NUAX / C_NUAY
            c[i] += ((v if v < _NU_CLIP else _NU_CLIP) - c[i]) >> 4
            if nu > _NU_GATE or nu < -_NU_GATE:
                # Pull-in (acquisition, a ramp the drift does not expect): an alpha-beta
                # step on level and rate (10/16, 9/32: Benedict-Bordner), the jitter states
                # forgotten, the rate kept (the ADCS's offload ramp: docs/apt-loop.md §4).
                # On the supervisor's robust gains, half of each: with a mirror ~x2 off
                # the nominal step locks into a slew-limited cycle of a step each way
                # (docs/apt-loop.md §4 "ACQUIRE's window").
                if c[C_GOFF] == M_GAIN:
                    s[o] += (nu * 10) >> 4
                    v = s[o + 1] + ((nu * 9) >> 5)
                else:
                    s[o] += (nu * 5) >> 4
                    v = s[o + 1] + ((nu * 9) >> 6)
                s[o + 1] = _V_MAX if v > _V_MAX else (-_V_MAX if v < -_V_MAX else v)
                for j in range(2, _NS):
                    s[o + j] = 0
                c[C_PULLS] += 1
                c[_C_NUMX if o == 0 else _C_NUMY] = 0
            else:
                s[o] += (m[ko] * nu) >> 12
                v = s[o + 1] + ((m[ko + 1] * nu) >> 12)
                s[o + 1] = _V_MAX if v > _V_MAX else (-_V_MAX if v < -_V_MAX else v)
                j = 2
                while j < _NS:
                    v = s[o + j] + ((m[ko + j] * nu) >> 12)
                    s[o + j] = _J_MAX if v > _J_MAX else (-_J_MAX if v < -_J_MAX else v)
                    j += 1
                if c[C_NF] < _MAN_N:  # the manoeuvre detector (_MAN_Q8; its mean
                    i = _C_NUMX if o == 0 else _C_NUMY  # unused later: not kept)
                    v = c[i] + ((nu - c[i]) >> 3)
                    if v > _MAN_Q8 or v < -_MAN_Q8:
                        v += s[o + 1]
                        s[o + 1] = _V_MAX if v > _V_MAX else (-_V_MAX if v < -_V_MAX else v)
                        v = 0  # (the mean restarts: one correction per detection)
                        c[_C_MANS] += 1
                    c[i] = v
            o += _NS
        c[C_NF] += 1 if c[C_NF] < 30000 else 0
    # 5. The waveform: row j times the states (the level's coefficient is 1), each sample
    # within the slew limit of the one before (from the sample in effect now), saturated.
    sl = c[_C_SLEW]
    umax = FSM_CODE_MAX << 8  # (the mirror's range, q8)
    umin = FSM_CODE_MIN << 8
    o = 0
    while o < 2 * _NS:
        q = qx if o == 0 else qy
        p = lastx if o == 0 else lasty
        j = 0
        while j < nw:
            i = j * _NS
            v = s[o] + ((rows[i + 1] * s[o + 1]) >> 12)
            i2 = 2
            while i2 < _NS:
                v += (rows[i + i2] * s[o + i2]) >> 12
                i2 += 1
            v = p + sl if v > p + sl else (p - sl if v < p - sl else v)
            v = umax if v > umax else (umin if v < umin else v)
            q[j] = v
            p = v
            j += 1
        o += _NS
    k = c[_C_KEND]
    c[C_UX] = qx[k]  # the command at the frame's end: what the next frame sees
    c[C_UY] = qy[k]
    c[_C_LASTX] = lastx
    c[_C_LASTY] = lasty
    c[C_PLAY] = 1
    # The supervisor's trip: a monitor beyond _TRIP_Q8 ARM_N frames or more after the
    # restart, with the nominal gains (Predictor._robust switches them).
    if (c[C_NUAX] > _TRIP_Q8 or c[C_NUAY] > _TRIP_Q8) and c[C_NF] >= ARM_N \
            and c[C_GOFF] == M_GAIN:
        return 1
    return 0


def codes_py(A, c):
    """Both axes' waveform (q8) → codes plus the FSM calibration's step (``c[C_DX]``,
    ``c[C_DY]``), saturated, into the driver buffer ``c[C_BUF]``; the step is remembered
    for the history (``C_PDX``/``C_PDY``).  Returns 0."""
    b = c[C_BUF]
    dx = c[C_DX]
    dy = c[C_DY]
    c[C_PDX] = dx
    c[C_PDY] = dy
    nw = c[C_NW]
    o = 0
    while o < 2:
        q = A[A_QX + o]
        w = A[A_WX0 + 2 * b + o]
        d = dx if o == 0 else dy
        j = 0
        while j < nw:
            v = (q[j] >> 8) + d
            w[j] = FSM_CODE_MAX if v > FSM_CODE_MAX else (FSM_CODE_MIN if v < FSM_CODE_MIN else v)
            j += 1
        o += 1
    return 0
