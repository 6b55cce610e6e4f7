"""The APT predictor's per-frame loops as MicroPython viper code (DESIGN §3.3).

As bytecode the predictor's frame step cost ~400 k instructions on the Cortex-M7 image
(its small matrix loops); viper runs them on machine ints without boxing or allocation.
The whole frame step is one call (:func:`frame`) and the waveform's conversion another
(:func:`codes`): each call from bytecode costs as much as a few dozen bytecode operations,
so the step is not split into per-axis kernels.  Ports without a native emitter refuse the
decorator at compile time and CPython has no ``micropython`` module: flight/apt_predict.py
then uses its plain-Python twins (``frame_py``, ``codes_py``), which give the same results
(tests/mpy/test_predict_kernels_mpy.py).  Every product is below 2**30 by the predictor's
clamps (flight/apt_predict.py).  Objects only as arguments: the arrays travel in one
preallocated tuple (``Predictor.arrs``, the ``A_*`` indices), the small ints in one
``array('i')`` (``Predictor.c``, the ``C_*`` indices of flight/apt_predict.py, repeated
here as literals: viper code cannot read another module's constants at no cost).
"""

import sys

import micropython

from hal.compat import const

_V_MAX = const(1 << 15)  # predict_py._V_MAX: the rate clamp, q8 codes/frame

# A ptr32 load is not sign-extended on a 64-bit port (the unix port reads -209 as
# 4294967087): the kernels hold negative numbers, so they run only where a machine word
# is 32 bits (the payload computer); a 64-bit port uses the twins.
if sys.maxsize > 0x7FFFFFFF:
    raise ImportError("predict_viper: 64-bit port")


@micropython.viper
def frame(A, c) -> int:
    """See apt_predict.frame_py (the indices: apt_predict's A_* and C_*)."""
    mp = ptr32(A[0])  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    rp = ptr32(A[1])  # type: ignore[name-defined]  # noqa: F821
    sp = ptr32(A[2])  # type: ignore[name-defined]  # noqa: F821
    tp = ptr32(A[3])  # type: ignore[name-defined]  # noqa: F821
    hx = ptr32(A[4])  # type: ignore[name-defined]  # noqa: F821
    hy = ptr32(A[5])  # type: ignore[name-defined]  # noqa: F821
    qx = ptr32(A[6])  # type: ignore[name-defined]  # noqa: F821
    qy = ptr32(A[7])  # type: ignore[name-defined]  # noqa: F821
    lp = ptr16(A[8])  # type: ignore[name-defined]  # noqa: F821  (the ladder, 'H')
    gp = ptr8(A[13])  # type: ignore[name-defined]  # noqa: F821  (its gain classes)
    cp = ptr32(c)  # type: ignore[name-defined]  # noqa: F821
    wave = int(cp[14])
    nw = int(cp[46])  # (C_NW: the waveform's samples, two frames)
    dt = int(cp[0])
    playing = int(cp[6])
    sat = 0  # 1: the error was clamped
    if int(cp[24]) != 0:  # 0. the camera -> FSM mapping
        k = int(cp[25])
        ql = int(cp[33])
        ex = int(cp[2])
        ey = int(cp[3])
        if ex > ql:
            ex = ql
        elif ex < 0 - ql:
            ex = 0 - ql
        if ey > ql:
            ey = ql
        elif ey < 0 - ql:
            ey = 0 - ql
        ex = (ex * k) >> 8
        ey = (ey * k) >> 8
        if int(cp[26]) < 0:
            ex = 0 - ex
        if int(cp[27]) < 0:
            ey = 0 - ey
        lim = int(cp[32])
        if ex > lim:
            ex = lim
        elif ex < 0 - lim:
            ex = 0 - lim
        if ey > lim:
            ey = lim
        elif ey < 0 - lim:
            ey = 0 - lim
        if ex == lim or ex == 0 - lim or ey == lim or ey == 0 - lim:
            sat = 1
        ex = ex >> 4
        ey = ey >> 4
        cp[2] = (int(cp[28]) * ex + int(cp[29]) * ey) >> 8
        cp[3] = (int(cp[30]) * ex + int(cp[31]) * ey) >> 8
    # 1. the history
    mm = 0
    if playing == 0:
        cp[9] = 0
        cp[10] = 0
        ux = int(cp[4])
        uy = int(cp[5])
        j = 0
        while j < 20:
            qx[j] = ux
            qy[j] = uy
            j += 1
        mm = 32
    elif dt > 0:
        mm = dt // wave
    cnt = mm
    if cnt > 32:
        cnt = 32
    offx = int(cp[9]) << 8
    offy = int(cp[10]) << 8
    r = int(cp[8])
    j = 0
    while j < cnt:
        r = (r + 1) & 31
        k = j
        if k > nw - 1:
            k = nw - 1
        hx[r] = int(qx[k]) + offx
        hy[r] = int(qy[k]) + offy
        j += 1
    cp[8] = r
    k = 0
    if mm >= 1:
        k = mm - 1
        if k > nw - 1:
            k = nw - 1
    lastx = int(qx[k])
    lasty = int(qy[k])
    # 2. the ladder entry and its gain class
    e = int(cp[1])
    nl = int(cp[18])
    lo = 0
    hi = nl - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if int(lp[mid]) <= e:
            lo = mid
        else:
            hi = mid
    ei = lo
    if int(lp[hi]) - e < e - int(lp[lo]):
        ei = hi
    cls = int(gp[ei])
    # 3. the mean command over the exposure
    w0 = int(cp[13])
    w1 = w0 + e
    refx = int(hx[r])
    refy = int(hy[r])
    accx = 0
    accy = 0
    tot = 0
    b = w0 // wave + 1
    while b <= 32:
        lo = b * wave
        hi = lo - wave
        if hi >= w1:
            break
        a0 = lo
        if a0 > w1:
            a0 = w1
        a1 = hi
        if a1 < w0:
            a1 = w0
        ov = (a0 - a1) >> 3
        if ov > 0:
            i = (r - b + 1) & 31
            accx += (int(hx[i]) - refx) * ov
            accy += (int(hy[i]) - refy) * ov
            tot += ov
        b += 1
    ux = refx
    uy = refy
    if tot != 0:
        if accx >= 0:
            ux += accx // tot
        else:
            ux -= (0 - accx) // tot
        if accy >= 0:
            uy += accy // tot
        else:
            uy -= (0 - accy) // tot
    # 4. the filter
    frm = int(cp[15])
    nf = dt + (frm >> 1)
    if nf > 0:
        nf = nf // frm
    else:
        nf = 0
    if int(cp[7]) != 0 or playing == 0 or nf > 3 or sat != 0:
        i = 0
        while i < 12:
            sp[i] = 0
            i += 1
        sp[0] = int(cp[2]) + ux
        sp[6] = int(cp[3]) + uy
        cp[7] = sat
        cp[37] = 0
        cp[40] = 0
        cp[41] = 0
        cp[42] = 0
        cp[43] = 0
    else:
        if nf > 1:
            cp[12] = int(cp[12]) + nf - 1
        ho = 60 + ei * 6
        ko = int(cp[36]) + cls * 6
        o = 0
        while o < 12:
            y = int(cp[3]) + uy
            if o == 0:
                y = int(cp[2]) + ux
            n = nf
            while n > 0:
                if int(cp[45]) != 0:  # (C_FSTD: the model's structure, its 16 terms alone)
                    s2 = int(sp[o + 2])
                    s3 = int(sp[o + 3])
                    s4 = int(sp[o + 4])
                    s5 = int(sp[o + 5])
                    sp[o] = int(sp[o]) + int(sp[o + 1])
                    sp[o + 2] = (((int(mp[14]) * s2) >> 12) + ((int(mp[15]) * s3) >> 12)
                                 + ((int(mp[16]) * s4) >> 12) + ((int(mp[17]) * s5) >> 12))
                    sp[o + 3] = (((int(mp[20]) * s2) >> 12) + ((int(mp[21]) * s3) >> 12)
                                 + ((int(mp[22]) * s4) >> 12) + ((int(mp[23]) * s5) >> 12))
                    sp[o + 4] = (((int(mp[26]) * s2) >> 12) + ((int(mp[27]) * s3) >> 12)
                                 + ((int(mp[28]) * s4) >> 12) + ((int(mp[29]) * s5) >> 12))
                    sp[o + 5] = (((int(mp[32]) * s2) >> 12) + ((int(mp[33]) * s3) >> 12)
                                 + ((int(mp[34]) * s4) >> 12) + ((int(mp[35]) * s5) >> 12))
                    n -= 1
                    continue
                i = 0
                while i < 6:
                    acc = 0
                    j = 0
                    while j < 6:
                        v = int(mp[i * 6 + j])
                        if v == 4096:
                            acc += int(sp[o + j])
                        elif v != 0:
                            acc += (v * int(sp[o + j])) >> 12
                        j += 1
                    tp[i] = acc
                    i += 1
                i = 0
                while i < 6:
                    sp[o + i] = tp[i]
                    i += 1
                n -= 1
            nu = y - int(sp[o])
            j = 1
            while j < 6:
                nu -= (int(mp[ho + j]) * int(sp[o + j])) >> 12
                j += 1
            i = 38  # the supervisor's monitor (apt_predict C_NUPX/Y, then C_NUAX/Y)
            if o != 0:
                i = 39
            a = nu - int(cp[i])
            cp[i] = nu
            if a < 0:
                a = 0 - a
            if a > 12800:  # predict_py._NU_CLIP
                a = 12800
            i += 2
            cp[i] = int(cp[i]) + ((a - int(cp[i])) >> 4)
            if nu > 25600 or nu < 0 - 25600:
                if int(cp[36]) == 36:  # the nominal gains (apt_predict M_GAIN): 10/16, 9/32
                    sp[o] = int(sp[o]) + ((nu * 10) >> 4)
                    v = int(sp[o + 1]) + ((nu * 9) >> 5)
                else:  # the supervisor's robust gains: half
                    sp[o] = int(sp[o]) + ((nu * 5) >> 4)
                    v = int(sp[o + 1]) + ((nu * 9) >> 6)
                if v > _V_MAX:
                    v = _V_MAX
                elif v < 0 - _V_MAX:
                    v = 0 - _V_MAX
                sp[o + 1] = v
                j = 2
                while j < 6:
                    sp[o + j] = 0
                    j += 1
                cp[11] = int(cp[11]) + 1
                if o != 0:  # (the manoeuvre detector's mean restarts)
                    cp[43] = 0
                else:
                    cp[42] = 0
            else:
                sp[o] = int(sp[o]) + ((int(mp[ko]) * nu) >> 12)
                v = int(sp[o + 1]) + ((int(mp[ko + 1]) * nu) >> 12)
                if v > _V_MAX:
                    v = _V_MAX
                elif v < 0 - _V_MAX:
                    v = 0 - _V_MAX
                sp[o + 1] = v
                j = 2
                while j < 6:
                    v = int(sp[o + j]) + ((int(mp[ko + j]) * nu) >> 12)
                    if v > 65536:
                        v = 65536
                    elif v < 0 - 65536:
                        v = 0 - 65536
                    sp[o + j] = v
                    j += 1
                if int(cp[37]) < 100:  # the manoeuvre detector (predict_py _MAN_N,
                    i = 42  # _MAN_Q8; apt_predict _C_NUMX/Y)
                    if o != 0:
                        i = 43
                    v = int(cp[i]) + ((nu - int(cp[i])) >> 3)
                    if v > 3500 or v < 0 - 3500:
                        v += int(sp[o + 1])
                        if v > _V_MAX:
                            v = _V_MAX
                        elif v < 0 - _V_MAX:
                            v = 0 - _V_MAX
                        sp[o + 1] = v
                        v = 0
                        cp[44] = int(cp[44]) + 1
                    cp[i] = v
            o += 6
        if int(cp[37]) < 30000:
            cp[37] = int(cp[37]) + 1
    # 5. the waveform
    sl = int(cp[16])
    o = 0
    while o < 12:
        q = qx
        p = lastx
        if o != 0:
            q = qy
            p = lasty
        s0 = int(sp[o])  # (the states in locals: each sample's products written out)
        s1 = int(sp[o + 1])
        s2 = int(sp[o + 2])
        s3 = int(sp[o + 3])
        s4 = int(sp[o + 4])
        s5 = int(sp[o + 5])
        j = 0
        i = 0
        while j < nw:
            v = (s0 + ((int(rp[i + 1]) * s1) >> 12) + ((int(rp[i + 2]) * s2) >> 12)
                 + ((int(rp[i + 3]) * s3) >> 12) + ((int(rp[i + 4]) * s4) >> 12)
                 + ((int(rp[i + 5]) * s5) >> 12))
            i += 6
            if v > p + sl:
                v = p + sl
            elif v < p - sl:
                v = p - sl
            if v > 8388352:
                v = 8388352
            elif v < 0 - 8388608:
                v = 0 - 8388608
            q[j] = v
            p = v
            j += 1
        o += 6
    k = int(cp[17])
    cp[4] = qx[k]
    cp[5] = qy[k]
    cp[19] = lastx
    cp[20] = lasty
    cp[6] = 1
    # the supervisor's trip (predict_py _TRIP_Q8 5500, ARM_N 50, M_GAIN 36)
    if (int(cp[40]) > 5500 or int(cp[41]) > 5500) and int(cp[37]) >= 50 \
            and int(cp[36]) == 36:
        return 1
    return 0


@micropython.viper
def codes(A, c) -> int:
    """See apt_predict.codes_py."""
    cp = ptr32(c)  # type: ignore[name-defined]  # noqa: F821
    qx = ptr32(A[6])  # type: ignore[name-defined]  # noqa: F821
    qy = ptr32(A[7])  # type: ignore[name-defined]  # noqa: F821
    b = int(cp[23])
    wx = ptr16(A[9])  # type: ignore[name-defined]  # noqa: F821
    wy = ptr16(A[10])  # type: ignore[name-defined]  # noqa: F821
    if b != 0:
        wx = ptr16(A[11])  # type: ignore[name-defined]  # noqa: F821
        wy = ptr16(A[12])  # type: ignore[name-defined]  # noqa: F821
    dx = int(cp[21])
    dy = int(cp[22])
    cmax = int(cp[34])  # C_CMAX, C_CMIN: the mirror's code range
    cmin = int(cp[35])
    cp[9] = dx
    cp[10] = dy
    nw = int(cp[46])
    j = 0
    while j < nw:
        v = (int(qx[j]) >> 8) + dx
        if v > cmax:
            v = cmax
        elif v < cmin:
            v = cmin
        wx[j] = v
        v = (int(qy[j]) >> 8) + dy
        if v > cmax:
            v = cmax
        elif v < cmin:
            v = cmin
        wy[j] = v
        j += 1
    return 0
