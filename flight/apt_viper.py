"""The APT centroid's inner loops as MicroPython viper code (DESIGN §3.3).

Measured on the Cortex-M7 image (16×16 TRACK window, instructions a call): the
thresholded sums ~286 k as bytecode, ~13 k as viper (machine ints, no boxing, no
allocation); the peak and background ``peak`` ~11 k (``max(buf)``, which boxes every
pixel through the iterator, cost 30 k); one Gaussian-weighted step ``wcog`` — weights,
sums and division in one call — ~7 k (31 k with its weights and division in Python around
the viper sums).  Ports without a native emitter (the WebAssembly VM) refuse the
decorator at compile time and CPython has no ``micropython`` module: flight/apt_pixels.py
then uses the plain-Python twins (``sums_py``, ``peak_py``, ``wcog_py``), which give the
same results (tests/mpy/test_apt_kernels_mpy.py).
"""

import micropython


@micropython.viper
def peak(buf, size: int, out) -> int:
    """See apt_pixels.peak_py: the window's brightest pixel into out[2] (CEN_PEAK),
    returns the sum of its first and last rows."""
    p = ptr16(buf)  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    o = ptr32(out)  # type: ignore[name-defined]  # noqa: F821
    n = size * size
    mx = 0
    i = 0
    while i < n:
        v = int(p[i])
        if v > mx:
            mx = v
        i += 1
    last = n - size
    s = 0
    i = 0
    while i < size:
        s += int(p[i]) + int(p[last + i])
        i += 1
    o[2] = mx
    return s


@micropython.viper
def sums(buf, size: int, thr: int, out) -> int:
    """See apt_pixels.sums_py: the same sums into out[5..7] (CEN_SW, CEN_SX, CEN_SY),
    returns the pixel count."""
    p = ptr16(buf)  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    o = ptr32(out)  # type: ignore[name-defined]  # noqa: F821
    sw = 0
    sx = 0
    sy = 0
    cnt = 0
    last = size - 1
    i = 0
    r = 0
    while r < size:
        c = 0
        while c < size:
            v = int(p[i]) - thr
            if v > 0:
                if (c > 0 and int(p[i - 1]) > thr) or (c < last and int(p[i + 1]) > thr):
                    sw += v
                    sx += v * c
                    sy += v * r
                    cnt += 1
            c += 1
            i += 1
        r += 1
    o[5] = sw
    o[6] = sx
    o[7] = sy
    return cnt


@micropython.viper
def wsums(buf, size: int, bg: int, c0: int, r0: int, wx, wy, out) -> int:
    """See apt_pixels.wsums_py: the Gaussian-weighted sums over the 7 × 7 box into
    out[5..7] (CEN_SW, CEN_SX, CEN_SY; every sum below 2**31)."""
    p = ptr16(buf)  # type: ignore[name-defined]  # noqa: F821
    x = ptr32(wx)  # type: ignore[name-defined]  # noqa: F821
    y = ptr32(wy)  # type: ignore[name-defined]  # noqa: F821
    o = ptr32(out)  # type: ignore[name-defined]  # noqa: F821
    s = 0
    sx = 0
    sy = 0
    j = 0
    while j < 7:
        wyj = int(y[j])
        if wyj != 0:
            rs = 0
            rsx = 0
            base = (r0 + j) * size + c0
            i = 0
            while i < 7:
                w = int(x[i])
                if w != 0:
                    v = (int(p[base + i]) - bg) * w
                    rs += v
                    rsx += v * (i - 3)
                i += 1
            s += wyj * rs
            sx += wyj * rsx
            sy += wyj * rs * (j - 3)
        j += 1
    o[5] = s
    o[6] = sx
    o[7] = sy
    return 0


@micropython.viper
def wcog(buf, size: int, bg: int, cx: int, cy: int, wtab, wx, wy, out) -> int:
    """See apt_pixels.wcog_py: one Gaussian-weighted centre-of-gravity step around
    (cx, cy) (window px, q6) in one call — the box's weights from ``wtab`` (into the
    scratch arrays ``wx``, ``wy``), the sums (as ``wsums``), the new estimate into
    out[6], out[7] (CEN_SX, CEN_SY); returns 0 when the box holds no signal."""
    p = ptr16(buf)  # type: ignore[name-defined]  # noqa: F821
    t = ptr16(wtab)  # type: ignore[name-defined]  # noqa: F821
    x = ptr32(wx)  # type: ignore[name-defined]  # noqa: F821
    y = ptr32(wy)  # type: ignore[name-defined]  # noqa: F821
    o = ptr32(out)  # type: ignore[name-defined]  # noqa: F821
    c0 = (cx >> 6) - 3
    r0 = (cy >> 6) - 3
    i = 0
    while i < 7:
        d = ((c0 + i) << 6) + 32 - cx  # pixel centre - estimate, q6
        if d < 0:
            d = 0 - d
        w = 0
        if d <= 256 and c0 + i >= 0 and c0 + i < size:
            w = int(t[d])
        x[i] = w
        d = ((r0 + i) << 6) + 32 - cy
        if d < 0:
            d = 0 - d
        w = 0
        if d <= 256 and r0 + i >= 0 and r0 + i < size:
            w = int(t[d])
        y[i] = w
        i += 1
    s = 0
    sx = 0
    sy = 0
    j = 0
    while j < 7:
        wyj = int(y[j])
        if wyj != 0:
            rs = 0
            rsx = 0
            base = (r0 + j) * size + c0
            i = 0
            while i < 7:
                w = int(x[i])
                if w != 0:
                    v = (int(p[base + i]) - bg) * w
                    rs += v
                    rsx += v * (i - 3)
                i += 1
            s += wyj * rs
            sx += wyj * rsx
            sy += wyj * rs * (j - 3)
        j += 1
    o[5] = s
    o[6] = sx
    o[7] = sy
    if s <= 0:
        return 0
    while s >= 4194304:  # 1 << 22: the division's steps as in apt_pixels._div_q6
        s >>= 1
        sx >>= 1
        sy >>= 1
    q = sx // s
    r = sx - q * s
    o[6] = ((c0 + 3) << 6) + 32 + (q << 6) + ((((r << 7) // s) + 1) >> 1)
    q = sy // s
    r = sy - q * s
    o[7] = ((r0 + 3) << 6) + 32 + (q << 6) + ((((r << 7) // s) + 1) >> 1)
    return 1
