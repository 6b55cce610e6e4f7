"""The APT predictor's per-frame loops as MicroPython viper code (DESIGN §3.3).

As bytecode the predictor's frame step cost ~400 k instructions on the Cortex-M7 image
(its small matrix loops); viper runs them on machine ints without boxing or allocation.
Ports without a native emitter refuse the decorator at compile time and CPython has no
``micropython`` module: flight/apt_predict.py then uses its plain-Python twins (the
``*_py`` functions there), which give the same results (tests/mpy/test_apt_kernels_mpy.py).
Every product is below 2**30 by the predictor's clamps (flight/apt_predict.py).  At most
four arguments, objects only (a viper function's typed arguments beyond the first few are
not reliable): the small ints travel in a preallocated ``array('i')``.
"""

import sys

import micropython

# A ptr32 load is not sign-extended on a 64-bit port (the unix port reads -209 as
# 4294967087): the kernels hold negative numbers, so they run only where a machine word
# is 32 bits (the payload computer); a 64-bit port uses the twins.
if sys.maxsize > 0x7FFFFFFF:
    raise ImportError("predict_viper: 64-bit port")


@micropython.viper
def kf_axis(s, m, tmp, a) -> int:
    """See apt_predict.kf_axis_py: propagate ``nf`` frames and correct one axis' six
    states ``s[o:o+6]`` with ``y``; returns 1 when the innovation pulled the estimate in."""
    sp = ptr32(s)  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    mp = ptr32(m)  # type: ignore[name-defined]  # noqa: F821
    tp = ptr32(tmp)  # type: ignore[name-defined]  # noqa: F821
    ap = ptr32(a)  # type: ignore[name-defined]  # noqa: F821
    o = int(ap[0])
    ho = int(ap[1])
    ko = int(ap[2])
    y = int(ap[3])
    nf = int(ap[4])
    gate = int(ap[5])
    vmax = int(ap[6])
    jmax = int(ap[7])
    while nf > 0:
        i = 0
        while i < 6:
            acc = 0
            j = 0
            while j < 6:
                c = int(mp[i * 6 + j])
                if c == 4096:
                    acc += int(sp[o + j])
                elif c != 0:
                    acc += (c * int(sp[o + j])) >> 12
                j += 1
            tp[i] = acc
            i += 1
        i = 0
        while i < 6:
            sp[o + i] = tp[i]
            i += 1
        nf -= 1
    nu = y - int(sp[o])
    j = 1
    while j < 6:
        nu -= (int(mp[ho + j]) * int(sp[o + j])) >> 12
        j += 1
    if nu > gate or nu < 0 - gate:
        sp[o] = int(sp[o]) + ((nu * 10) >> 4)
        j = 1
        while j < 6:
            sp[o + j] = 0
            j += 1
        return 1
    sp[o] = int(sp[o]) + ((int(mp[ko]) * nu) >> 12)
    v = int(sp[o + 1]) + ((int(mp[ko + 1]) * nu) >> 12)
    if v > vmax:
        v = vmax
    elif v < 0 - vmax:
        v = 0 - vmax
    sp[o + 1] = v
    j = 2
    while j < 6:
        v = int(sp[o + j]) + ((int(mp[ko + j]) * nu) >> 12)
        if v > jmax:
            v = jmax
        elif v < 0 - jmax:
            v = 0 - jmax
        sp[o + j] = v
        j += 1
    return 0


@micropython.viper
def fill_axis(s, rows, q, a) -> int:
    """See apt_predict.fill_axis_py: ``n`` waveform samples (q8) of one axis into ``q``,
    each within ``sl`` of the one before (from ``last``), saturated; returns 0."""
    sp = ptr32(s)  # type: ignore[name-defined]  # noqa: F821
    rp = ptr32(rows)  # type: ignore[name-defined]  # noqa: F821
    qp = ptr32(q)  # type: ignore[name-defined]  # noqa: F821
    ap = ptr32(a)  # type: ignore[name-defined]  # noqa: F821
    o = int(ap[0])
    n = int(ap[1])
    p = int(ap[2])
    sl = int(ap[3])
    umax = int(ap[4])
    umin = int(ap[5])
    j = 0
    while j < n:
        r = j * 6
        c = int(sp[o]) + ((int(rp[r + 1]) * int(sp[o + 1])) >> 12)
        i = 2
        while i < 6:
            c += (int(rp[r + i]) * int(sp[o + i])) >> 12
            i += 1
        if c > p + sl:
            c = p + sl
        elif c < p - sl:
            c = p - sl
        if c > umax:
            c = umax
        elif c < umin:
            c = umin
        qp[j] = c
        p = c
        j += 1
    return 0


@micropython.viper
def codes_axis(q, w, a) -> int:
    """See apt_predict.codes_axis_py: q8 samples → codes (+ ``d``), saturated, into the
    driver's ``array('h')`` ``w``; returns 0."""
    qp = ptr32(q)  # type: ignore[name-defined]  # noqa: F821
    wp = ptr16(w)  # type: ignore[name-defined]  # noqa: F821
    ap = ptr32(a)  # type: ignore[name-defined]  # noqa: F821
    n = int(ap[0])
    d = int(ap[1])
    cmax = int(ap[2])
    cmin = int(ap[3])
    j = 0
    while j < n:
        c = (int(qp[j]) >> 8) + d
        if c > cmax:
            c = cmax
        elif c < cmin:
            c = cmin
        wp[j] = c
        j += 1
    return 0


@micropython.viper
def record_axis(hist, q, a) -> int:
    """See apt_predict.record_axis_py."""
    hp = ptr32(hist)  # type: ignore[name-defined]  # noqa: F821
    qp = ptr32(q)  # type: ignore[name-defined]  # noqa: F821
    ap = ptr32(a)  # type: ignore[name-defined]  # noqa: F821
    r = int(ap[0])
    m = int(ap[1])
    off = int(ap[2])
    n = int(ap[3])
    j = 0
    while j < m:
        r = (r + 1) & 31
        k = j
        if k >= n:
            k = n - 1
        hp[r] = int(qp[k]) + off
        j += 1
    return r


@micropython.viper
def mean_axis(hist, a) -> int:
    """See apt_predict.mean_axis_py (the ring of 32; division truncating towards 0)."""
    hp = ptr32(hist)  # type: ignore[name-defined]  # noqa: F821
    ap = ptr32(a)  # type: ignore[name-defined]  # noqa: F821
    r = int(ap[0])
    w0 = int(ap[1])
    w1 = int(ap[2])
    wave = int(ap[3])
    ref = int(hp[r])
    acc = 0
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
            acc += (int(hp[(r - b + 1) & 31]) - ref) * ov
            tot += ov
        b += 1
    if tot == 0:
        return ref
    if acc >= 0:
        return ref + acc // tot
    return ref - (0 - acc) // tot
