"""The APT centroid's inner loop as MicroPython viper code (DESIGN §3.3).

Measured on the Cortex-M7 image: the 16×16 thresholded sums cost ~286 k instructions
as bytecode, ~20 k as viper (machine ints, no boxing, no allocation).  Ports without a
native emitter (the WebAssembly VM) refuse the decorator at compile time and CPython has
no ``micropython`` module: flight/apt_pixels.py then uses its plain-Python twin
``sums_py``, which gives the same results (tests/mpy/test_apt_kernels_mpy.py).
"""

import micropython


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
