"""The wheel-line canceller's per-frame loops as MicroPython viper code (DESIGN §3.3).

Twins of flight/apt_wheels.py ``step_py`` and ``codes_py`` (same results:
tests/mpy/test_wheels_mpy.py): as bytecode the lines' frame step costs ~100 k
instructions on the Cortex-M7 image (20 samples × 2 axes × 4 lines: the 10 ms frame's
waveform; 14 at 7 ms, flight/apt_predict.py C_NW), as viper a few k.
Indices are literals (viper code cannot read another module's constants at no cost):
flight/apt_wheels.py's S_* (slot stride LS = 14 + 2 × 36 = 86), K_* and the predictor's
A_*/C_* named there.  Every product stays below 2**30 by apt_wheels' clamps.  Like
flight/predict_viper.py, 32-bit ports only (ptr32 loads sign-extend there).
"""

import sys

import micropython

if sys.maxsize > 0x7FFFFFFF:
    raise ImportError("wheels_viper: 64-bit port")


@micropython.viper
def step(T, Z, k, pc, lad, lx, ly) -> int:
    """See wheels_py.step_py."""
    tp = ptr16(T)  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    zp = ptr32(Z)  # type: ignore[name-defined]  # noqa: F821
    kp = ptr32(k)  # type: ignore[name-defined]  # noqa: F821
    cp = ptr32(pc)  # type: ignore[name-defined]  # noqa: F821
    dp = ptr16(lad)  # type: ignore[name-defined]  # noqa: F821  (the ladder, 'H')
    ox = ptr32(lx)  # type: ignore[name-defined]  # noqa: F821
    oy = ptr32(ly)  # type: ignore[name-defined]  # noqa: F821
    nw = int(cp[46])  # (the predictor's C_NW: its waveform's samples, even: two frames)
    j = 0
    while j < nw:
        ox[j] = 0
        oy[j] = 0
        j += 1
    dt = int(kp[0])
    on = int(kp[1])
    g = int(kp[2])
    gs = 16384 // 50  # ONE // FADE_FRAMES
    if on != 0 and int(kp[3]) != 0:
        if g < 16384 - gs:
            g = g + gs
        else:
            g = 16384
    else:
        if g > gs:
            g = g - gs
        else:
            g = 0
    kp[2] = g
    frame = int(kp[4])
    wave = int(kp[5])
    lost = 0
    if dt < 0 or dt > 100 * frame:
        lost = 1
        kp[7] = int(kp[7]) + 1
    adapt = 0
    if on != 0 and int(cp[37]) >= 50 and int(cp[6]) != 0:
        adapt = 1
    nux = int(cp[38])
    nuy = int(cp[39])
    gate = 100 << 8
    if nux > gate or nux < 0 - gate or nuy > gate or nuy < 0 - gate:
        adapt = 0
    e = int(cp[1])
    nl = int(cp[18])
    lo = 0
    hi = nl - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if int(dp[mid]) <= e:
            lo = mid
        else:
            hi = mid
    ei = lo
    if int(dp[hi]) - e < e - int(dp[lo]):
        ei = hi
    if adapt != 0:
        kp[6] = int(kp[6]) + 1
    zmax = 40000
    s = 0
    while s < 8:
        o = s * 80
        z = s * 6
        if int(tp[o]) == 0:
            s += 1
            continue
        pr = int(zp[z])
        pi = int(zp[z + 1])
        if lost != 0 or g == 0:
            if lost != 0:
                pr = 16384
                pi = 0
            zp[z + 2] = 0
            zp[z + 3] = 0
            zp[z + 4] = 0
            zp[z + 5] = 0
        if lost == 0:
            n = dt // frame
            r = dt - n * frame
            m = r // wave
            r = r - m * wave
            fc = (int(tp[o + 3]) ^ 0x8000) - 0x8000
            fs = (int(tp[o + 4]) ^ 0x8000) - 0x8000
            while n > 0:
                a = ((pr * fc) >> 14) - ((pi * fs) >> 14)
                pi = ((pr * fs) >> 14) + ((pi * fc) >> 14)
                pr = a
                n -= 1
            fc = (int(tp[o + 1]) ^ 0x8000) - 0x8000
            fs = (int(tp[o + 2]) ^ 0x8000) - 0x8000
            while m > 0:
                a = ((pr * fc) >> 14) - ((pi * fs) >> 14)
                pi = ((pr * fs) >> 14) + ((pi * fc) >> 14)
                pr = a
                m -= 1
            if r > 0:
                th = (int(tp[o + 5]) * r) >> 10  # (omega: 0 .. 15 813, no sign)
                t2 = (th * th) >> 14
                t3 = (th * t2) >> 14
                cr = 16384 - (t2 >> 1) + ((t2 * t2) >> 14) // 24
                ci = th - t3 // 6 + ((t3 * t2) >> 14) // 120
                a = ((pr * cr) >> 14) - ((pi * ci) >> 14)
                pi = ((pr * ci) >> 14) + ((pi * cr) >> 14)
                pr = a
            nn = ((pr * pr) >> 14) + ((pi * pi) >> 14)
            f = (3 * 16384 - nn) >> 1
            pr = (pr * f) >> 14
            pi = (pi * f) >> 14
        zp[z] = pr
        zp[z + 1] = pi
        if g == 0:
            s += 1
            continue
        if adapt != 0:
            fr = (int(tp[o + 8 + 2 * ei]) ^ 0x8000) - 0x8000
            fi = (int(tp[o + 9 + 2 * ei]) ^ 0x8000) - 0x8000
            br = ((pr * fr) >> 14) - ((pi * fi) >> 14)
            bi = ((pr * fi) >> 14) + ((pi * fr) >> 14)
            i = z + 2
            while i <= z + 4:
                nu = nux
                if i != z + 2:
                    nu = nuy
                v = int(zp[i]) + ((((nu * br) >> 14) * 40) >> 10)  # MU_Q12 = 40
                if v > zmax:
                    v = zmax
                elif v < 0 - zmax:
                    v = 0 - zmax
                zp[i] = v
                v = int(zp[i + 1]) - ((((nu * bi) >> 14) * 40) >> 10)
                if v > zmax:
                    v = zmax
                elif v < 0 - zmax:
                    v = 0 - zmax
                zp[i + 1] = v
                i += 2
        lc = (int(tp[o + 6]) ^ 0x8000) - 0x8000
        ls = (int(tp[o + 7]) ^ 0x8000) - 0x8000
        qr = ((pr * lc) >> 14) - ((pi * ls) >> 14)
        qi = ((pr * ls) >> 14) + ((pi * lc) >> 14)
        rc = (int(tp[o + 1]) ^ 0x8000) - 0x8000
        rs = (int(tp[o + 2]) ^ 0x8000) - 0x8000
        q1r = ((qr * rc) >> 14) - ((qi * rs) >> 14)
        q1i = ((qr * rs) >> 14) + ((qi * rc) >> 14)
        # Both axes' waveforms, two samples a turn: the recurrence v[j] = 2 cos(wT) v[j-1]
        # - v[j-2] (rc: 2 cos(wT) in q13) on x0, x1 (y0, y1) in turn, with no moves.
        zr = int(zp[z + 2])
        zi = int(zp[z + 3])
        x0 = ((zr * qr) >> 14) - ((zi * qi) >> 14)
        x1 = ((zr * q1r) >> 14) - ((zi * q1i) >> 14)
        zr = int(zp[z + 4])
        zi = int(zp[z + 5])
        y0 = ((zr * qr) >> 14) - ((zi * qi) >> 14)
        y1 = ((zr * q1r) >> 14) - ((zi * q1i) >> 14)
        ox[0] = int(ox[0]) + ((x0 * g) >> 16)
        ox[1] = int(ox[1]) + ((x1 * g) >> 16)
        oy[0] = int(oy[0]) + ((y0 * g) >> 16)
        oy[1] = int(oy[1]) + ((y1 * g) >> 16)
        j = 2
        while j < nw:
            x0 = ((rc * x1) >> 13) - x0
            ox[j] = int(ox[j]) + ((x0 * g) >> 16)
            x1 = ((rc * x0) >> 13) - x1
            ox[j + 1] = int(ox[j + 1]) + ((x1 * g) >> 16)
            y0 = ((rc * y1) >> 13) - y0
            oy[j] = int(oy[j]) + ((y0 * g) >> 16)
            y1 = ((rc * y0) >> 13) - y1
            oy[j + 1] = int(oy[j + 1]) + ((y1 * g) >> 16)
            j += 2
        s += 1
    return 0


@micropython.viper
def codes(A, c, lx, ly) -> int:
    """See wheels_py.codes_py."""
    cp = ptr32(c)  # type: ignore[name-defined]  # noqa: F821
    qx = ptr32(A[6])  # type: ignore[name-defined]  # noqa: F821
    qy = ptr32(A[7])  # type: ignore[name-defined]  # noqa: F821
    lxp = ptr32(lx)  # type: ignore[name-defined]  # noqa: F821
    lyp = ptr32(ly)  # type: ignore[name-defined]  # noqa: F821
    b = int(cp[23])
    wx = ptr16(A[9])  # type: ignore[name-defined]  # noqa: F821
    wy = ptr16(A[10])  # type: ignore[name-defined]  # noqa: F821
    if b != 0:
        wx = ptr16(A[11])  # type: ignore[name-defined]  # noqa: F821
        wy = ptr16(A[12])  # type: ignore[name-defined]  # noqa: F821
    dx = int(cp[21])
    dy = int(cp[22])
    cmax = int(cp[34])
    cmin = int(cp[35])
    cp[9] = dx  # (C_PDX, C_PDY: the step for the history, as the predictor's codes)
    cp[10] = dy
    nw = int(cp[46])  # (C_NW)
    j = 0
    while j < nw:
        v = ((int(qx[j]) + int(lxp[j])) >> 8) + dx
        if v > cmax:
            v = cmax
        elif v < cmin:
            v = cmin
        wx[j] = v
        v = ((int(qy[j]) + int(lyp[j])) >> 8) + dy
        if v > cmax:
            v = cmax
        elif v < cmin:
            v = cmin
        wy[j] = v
        j += 1
    return 0
