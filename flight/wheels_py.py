"""The wheel-line canceller's frame step and codes in plain Python (DESIGN §3.3): the
twins of flight/wheels_viper.py, run where viper cannot (a 64-bit port, CPython), and the
reference the viper kernels are checked against (tests/mpy/test_wheels_mpy.py).

Imported by flight/apt_wheels.py only when flight/wheels_viper.py does not load, so the
32-bit target never holds these functions.  Layouts (flight/apt_wheels.py, the module
doc): ``T`` (array 'h') per slot, stride 80: on 0, rotation over 1 ms 1-2, over a frame
3-4, omega 5, over the lead 6-7, the exposure table from 8; ``Z`` (array 'i') per slot,
stride 6: the phasor 0-1, the amplitudes x 2-3, y 4-5; ``k`` (array 'i'): dt 0, on 1,
gain 2, lines 3, frame 4, wave 5, updates 6, resets 7.  The constants of the frame step:
ARM 50 frames, FADE_FRAMES 50, NU_MAX 100 << 8, MU_Q12 40, Z_MAX 40000 (apt_wheels'
doc).  Indices of the predictor's arrays (flight/apt_predict.py A_* / C_*), as literals
here and in the viper twins: A_QX 6, A_QY 7, A_WX0 9; C_E 1, C_PLAY 6, C_NF 37, C_NUPX
38, C_NUPY 39, C_DX 21, C_DY 22, C_BUF 23, C_NL 18.
"""

from hal.interfaces import FSM_CODE_MAX, FSM_CODE_MIN


def step_py(T, Z, k, pc, lad, lx, ly):
    """The frame step of every line (flight/apt_wheels.py's module doc).  Returns 0."""
    nw = pc[46]  # (the predictor's C_NW: its waveform's samples)
    j = 0
    while j < nw:
        lx[j] = 0
        ly[j] = 0
        j += 1
    dt = k[0]
    on = k[1]
    g = k[2]
    gs = 16384 // 50  # ONE // FADE_FRAMES
    if on != 0 and k[3] != 0:
        g = g + gs if g < 16384 - gs else 16384
    else:
        g = g - gs if g > gs else 0
    k[2] = g
    frame = k[4]
    wave = k[5]
    lost = dt < 0 or dt > 100 * frame  # the phasors' time is lost: restart them
    if lost:
        k[7] += 1
    # The LMS's frame: settled (ARM frames), no pull-in, the speeds fresh.
    adapt = on != 0 and pc[37] >= 50 and pc[6] != 0
    nux = pc[38]
    nuy = pc[39]
    gate = 100 << 8  # NU_MAX
    if nux > gate or nux < -gate or nuy > gate or nuy < -gate:
        adapt = False
    # the ladder entry nearest the exposure (as the predictor's kernel)
    e = pc[1]
    nl = pc[18]
    lo = 0
    hi = nl - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if lad[mid] <= e:
            lo = mid
        else:
            hi = mid
    ei = hi if lad[hi] - e < e - lad[lo] else lo
    if adapt:
        k[6] += 1
    zmax = 40000
    s = 0
    while s < 8:
        o = s * 80
        z = s * 6
        if T[o] == 0:
            s += 1
            continue
        pr = Z[z]
        pi = Z[z + 1]
        if lost or g == 0:
            if lost:
                pr = 16384
                pi = 0
            Z[z + 2] = 0
            Z[z + 3] = 0
            Z[z + 4] = 0
            Z[z + 5] = 0
        if not lost:  # advance by dt: frames, whole ms, the fraction (Taylor)
            n = dt // frame
            r = dt - n * frame
            m = r // wave
            r -= m * wave
            while n > 0:
                a = ((pr * T[o + 3]) >> 14) - ((pi * T[o + 4]) >> 14)
                pi = ((pr * T[o + 4]) >> 14) + ((pi * T[o + 3]) >> 14)
                pr = a
                n -= 1
            while m > 0:
                a = ((pr * T[o + 1]) >> 14) - ((pi * T[o + 2]) >> 14)
                pi = ((pr * T[o + 2]) >> 14) + ((pi * T[o + 1]) >> 14)
                pr = a
                m -= 1
            if r > 0:
                th = (T[o + 5] * r) >> 10  # Q14 rad (< 0.9 rad: r < 1 ms, f < 150 Hz)
                t2 = (th * th) >> 14
                t3 = (th * t2) >> 14
                cr = 16384 - (t2 >> 1) + ((t2 * t2) >> 14) // 24
                ci = th - t3 // 6 + ((t3 * t2) >> 14) // 120
                a = ((pr * cr) >> 14) - ((pi * ci) >> 14)
                pi = ((pr * ci) >> 14) + ((pi * cr) >> 14)
                pr = a
            nn = ((pr * pr) >> 14) + ((pi * pi) >> 14)  # renormalise: x (3 - |P|^2) / 2
            f = (3 * 16384 - nn) >> 1
            pr = (pr * f) >> 14
            pi = (pi * f) >> 14
        Z[z] = pr
        Z[z + 1] = pi
        if g == 0:
            s += 1
            continue
        if adapt:  # z += mu nu conj(b), b = P F_e
            fr_ = T[o + 8 + 2 * ei]
            fi = T[o + 9 + 2 * ei]
            br = ((pr * fr_) >> 14) - ((pi * fi) >> 14)
            bi = ((pr * fi) >> 14) + ((pi * fr_) >> 14)
            i = z + 2
            while i <= z + 4:
                nu = nux if i == z + 2 else nuy
                v = Z[i] + ((((nu * br) >> 14) * 40) >> 10)  # MU_Q12 = 40
                Z[i] = zmax if v > zmax else (-zmax if v < -zmax else v)
                v = Z[i + 1] - ((((nu * bi) >> 14) * 40) >> 10)
                Z[i + 1] = zmax if v > zmax else (-zmax if v < -zmax else v)
                i += 2
        # the waveform: q0 = P exp(j omega lead); sample j = Re(z q0 R1^j) (Chebyshev)
        qr = ((pr * T[o + 6]) >> 14) - ((pi * T[o + 7]) >> 14)
        qi = ((pr * T[o + 7]) >> 14) + ((pi * T[o + 6]) >> 14)
        rc = T[o + 1]
        rs = T[o + 2]
        q1r = ((qr * rc) >> 14) - ((qi * rs) >> 14)
        q1i = ((qr * rs) >> 14) + ((qi * rc) >> 14)
        i = z + 2
        while i <= z + 4:
            out = lx if i == z + 2 else ly
            zr = Z[i]
            zi = Z[i + 1]
            v0 = ((zr * qr) >> 14) - ((zi * qi) >> 14)
            v1 = ((zr * q1r) >> 14) - ((zi * q1i) >> 14)
            out[0] += (v0 * g) >> 16  # (q10 -> q8, times the fade)
            out[1] += (v1 * g) >> 16
            j = 2
            while j < nw:
                v = ((rc * v1) >> 13) - v0
                v0 = v1
                v1 = v
                out[j] += (v * g) >> 16
                j += 1
            i += 2
        s += 1
    return 0


def codes_py(A, c, lx, ly):
    """The predictor's waveform (q8) plus the lines (q8) → codes, plus the FSM
    calibration's step, saturated, into the driver buffer ``c[C_BUF]``: the predictor's
    codes kernel's work with the lines, in its place (the step remembered for the
    history too, ``C_PDX``/``C_PDY``).  Returns 0."""
    b = c[23]
    c[9] = c[21]
    c[10] = c[22]
    o = 0
    while o < 2:
        q = A[6 + o]
        w = A[9 + 2 * b + o]
        ln = lx if o == 0 else ly
        d = c[21] if o == 0 else c[22]
        j = 0
        while j < c[46]:  # (C_NW)
            v = ((q[j] + ln[j]) >> 8) + d
            w[j] = FSM_CODE_MAX if v > FSM_CODE_MAX else (FSM_CODE_MIN if v < FSM_CODE_MIN else v)
            j += 1
        o += 1
    return 0
