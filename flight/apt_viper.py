# ruff: noqa: F821
# mypy: disable-error-code="name-defined"
# (ptr8, ptr16, ptr32: viper built-ins, cast operators the native compiler resolves)
"""The APT centroid as one MicroPython viper kernel (DESIGN §3.3).

:func:`centroid` does all of flight/apt_pixels.centroid in one call: the peak and the
background, the thresholded sums with the neighbour rule (and the masking retries of a
hot pixel brighter than the spot), the thresholded centre of gravity and the two
Gaussian-weighted steps.  Measured on the Cortex-M7 image (the kit's 16×16 TRACK frame,
``python -m bench.apt_tick_m7``, ``centroid_kernel``): 17.4 k instructions a call (28.2 k
until stop 53), where the four kernels it replaced (peak, sums, two weighted steps) and
the Python between them cost 48.9 k; as bytecode the sums alone cost ~286 k.  What pays:
no bytecode between the steps (each bytecode operation costs 150-250 instructions on the
image); the pixel loops' address in a machine register — the native emitter keeps the
first locals of a viper function in registers, arguments first (py/emitnative.c
``MAX_REGS_FOR_LOCAL_VARS``: two in frozen code, which mpy-cross compiles), so the kernel
takes its arguments in one list and names the address first; and fewer operations, each
of which costs the native emitter ~5-10 instructions (it keeps little in registers):
the peak four pixels a turn on one test, the sums on the even columns only, the weighted
rows written out (stop 53, the kernel's stages compiled on the image: the peak and
background 5.5 → 3.5 k, the sums 7.1 → 4.6 k, the two weighted steps 12.0 → 6.8 k;
docs/firmware.md §4).  A register local is never a ptr
index: 1.27's Thumb emitter shifts an index register in place (py/asmthumb.h
``ASM_LOAD16_REG_REG_REG``), which corrupts a local held in one (measured: loops that
skip items).

Ports without a native emitter (the WebAssembly VM) refuse the decorator at compile time
and CPython has no ``micropython`` module: flight/apt_pixels.py then uses its plain-Python
twin (``centroid_py``: the same results, tests/mpy/test_apt_kernels_mpy.py).  Every value
the kernel reads back is non-negative (a 64-bit port's ptr32 loads do not sign-extend)
and every sum stays below 2**31.
"""

import micropython


@micropython.viper
def centroid(A) -> int:
    """See apt_pixels.centroid: ``A`` = [buf, out, wtab] (apt_pixels.centroid_py);
    ``out`` (array 'i', apt_pixels' CEN_* indices: literals here, viper code cannot read
    another module's constants at no cost) holds the window size, its origin and the
    limits, receives the results; out[15..28] are the weighted steps' scratch, out[29] the
    camera's full scale (a higher peak: 0 at once, the peak in out[2]), out[30] the
    background rows' noise (4 MAD).  Returns 1 for a
    valid spot, else 0."""
    a = 0  # local 1, a register: the address of the pixel in the loops
    t = 0  # the loops' comparand (the running peak, the threshold)
    o = ptr32(A[1])
    wt = ptr8(A[2])  # (the weights, 0..64: octets)
    p0 = int(ptr16(A[0]))  # the window's first pixel
    size = int(o[8])
    n2 = (size * size) << 1
    end = p0 + n2
    # 1. peak and background (the first and last rows).  The peak from the window's
    # centre pixel (in TRACK the spot's), then four pixels a turn, passed on one test
    # of their OR (at least their highest pixel) unless one may be higher: the loop's
    # test costs as much as a pixel's.  The last pixels of a window not a multiple of
    # four one at a time.
    a = p0
    t = int(ptr16(p0 + (((size >> 1) * size + (size >> 1)) << 1))[0])
    e4 = end - 6
    while a < e4:
        if (int(ptr16(a)[0]) | int(ptr16(a)[1]) | int(ptr16(a)[2]) | int(ptr16(a)[3])) > t:
            if int(ptr16(a)[0]) > t:
                t = int(ptr16(a)[0])
            if int(ptr16(a)[1]) > t:
                t = int(ptr16(a)[1])
            if int(ptr16(a)[2]) > t:
                t = int(ptr16(a)[2])
            if int(ptr16(a)[3]) > t:
                t = int(ptr16(a)[3])
        a += 8
    while a < end:
        if int(ptr16(a)[0]) > t:
            t = int(ptr16(a)[0])
        a += 2
    mx = t
    s = 0
    a = p0
    lastrow = n2 - (size << 1)
    while a < p0 + (size << 1):
        s += int(ptr16(a)[0]) + int(ptr16(a + lastrow)[0])
        a += 2
    bg = s // (2 * size)
    o[2] = mx
    o[3] = bg
    # the background rows' noise: 4 x their mean |pixel - bg|, each capped at 64
    # (apt_pixels.border_dev4, _DEV_CAP_DN)
    s = 0
    a = p0
    while a < p0 + (size << 1):
        d = int(ptr16(a)[0]) - bg
        if d < 0:
            d = 0 - d
        if d > 64:
            d = 64
        s += d
        d = int(ptr16(a + lastrow)[0]) - bg
        if d < 0:
            d = 0 - d
        if d > 64:
            d = 64
        s += d
        a += 2
    dev4 = (s << 2) // (2 * size)
    o[30] = dev4
    if mx > int(o[29]):  # a pixel above the camera's full scale: a corrupted read
        return 0
    snr = int(o[11])
    if snr < (dev4 << 1):  # the spot's floors: 8 and 4 MAD of that noise
        snr = dev4 << 1
    thrmin = int(o[12])
    if thrmin < dev4:
        thrmin = dev4
    minpx = int(o[13])
    retries = 0
    cnt = 0
    sw = 0
    sx = 0
    sy = 0
    while True:
        amp = mx - bg
        if amp < snr:
            return 0
        t = bg + (amp >> 2)
        if t < bg + thrmin:
            t = bg + thrmin
        # 2. the thresholded sums (the neighbour rule of apt_pixels.sums_py)
        sw = 0
        sx = 0
        sy = 0
        cnt = 0
        r = 0
        row = p0
        while r < size:
            rend = row + (size << 1)
            a = row
            # A pixel counts in a run of two or more above the threshold, and every such
            # run holds an even column: only the even columns are looked at, and an odd
            # one beside one above the threshold — its left odd neighbour unless the
            # even column left of that is above too (which counted it as its right one).
            # Half the loop's turns; the same sums as the every-pixel rule (the twin's).
            while a < rend:
                if int(ptr16(a)[0]) > t:
                    nb = 0  # a neighbour above the threshold
                    if a > row and int(ptr16(a - 2)[0]) > t:
                        nb = 1
                        if int(ptr16(a - 4)[0]) <= t:
                            v = int(ptr16(a - 2)[0]) - t
                            sw += v
                            sx += v * (((a - row) >> 1) - 1)
                            sy += v * r
                            cnt += 1
                    if a + 2 < rend and int(ptr16(a + 2)[0]) > t:
                        nb = 1
                        v = int(ptr16(a + 2)[0]) - t
                        sw += v
                        sx += v * (((a - row) >> 1) + 1)
                        sy += v * r
                        cnt += 1
                    if nb != 0:
                        v = int(ptr16(a)[0]) - t
                        sw += v
                        sx += v * ((a - row) >> 1)
                        sy += v * r
                        cnt += 1
                a += 4
            row = rend
            r += 1
        o[5] = sw
        o[6] = sx
        o[7] = sy
        if cnt >= minpx or retries >= 2:
            break
        # mask the peak's first pixel (to the background), the peak again
        a = p0
        while int(ptr16(a)[0]) != mx:
            a += 2
        ptr16(a)[0] = bg
        t = 0
        a = p0
        while a < end:
            if int(ptr16(a)[0]) > t:
                t = int(ptr16(a)[0])
            a += 2
        mx = t
        retries += 1
    o[4] = cnt
    if cnt < minpx or cnt > int(o[14]):
        return 0
    # 3. the thresholded centre of gravity (q6, rounded; apt_pixels._div_round), as q8
    q = sx // sw
    rr = sx - q * sw
    cx = ((q << 6) + ((((rr << 7) // sw) + 1) >> 1) + 32) << 2
    q = sy // sw
    rr = sy - q * sw
    cy = ((q << 6) + ((((rr << 7) // sw) + 1) >> 1) + 32) << 2
    # 4. WCOG_ITER Gaussian-weighted steps (apt_pixels.wcog_py; weights in out[15..28]), q8
    k = 0
    while k < 2:
        c0 = (cx >> 8) - 3
        r0 = (cy >> 8) - 3
        i = 0
        while i < 7:
            d = ((c0 + i) << 8) + 128 - cx
            if d < 0:
                d = 0 - d
            d = (d + 2) >> 2
            w = 0
            if d <= 256 and c0 + i >= 0 and c0 + i < size:
                w = int(wt[d])
            o[15 + i] = w
            d = ((r0 + i) << 8) + 128 - cy
            if d < 0:
                d = 0 - d
            d = (d + 2) >> 2
            w = 0
            if d <= 256 and r0 + i >= 0 and r0 + i < size:
                w = int(wt[d])
            o[22 + i] = w
            i += 1
        s = 0
        sx = 0
        sy = 0
        j = 0
        if c0 >= 0 and c0 + 7 <= size:
            # Every column inside the window (TRACK's spot): a row's sums written out,
            # the weights and the background's share (bg times their sums) taken out of
            # the row — the same integers as the loop below (exact, below 2**31: the
            # weights' sum is 448 at most), at under half its instructions.
            w0 = int(o[15])
            w1 = int(o[16])
            w2 = int(o[17])
            w3 = int(o[18])
            w4 = int(o[19])
            w5 = int(o[20])
            w6 = int(o[21])
            bw = bg * (w0 + w1 + w2 + w3 + w4 + w5 + w6)
            bu = bg * (3 * (w6 - w0) + 2 * (w5 - w1) + w4 - w2)
            while j < 7:
                wyj = int(o[22 + j])
                if wyj != 0:
                    a = p0 + (((r0 + j) * size + c0) << 1)
                    rs = (w0 * int(ptr16(a)[0]) + w1 * int(ptr16(a)[1]) + w2 * int(ptr16(a)[2])
                          + w3 * int(ptr16(a)[3]) + w4 * int(ptr16(a)[4])
                          + w5 * int(ptr16(a)[5]) + w6 * int(ptr16(a)[6]) - bw)
                    rsx = (3 * (w6 * int(ptr16(a)[6]) - w0 * int(ptr16(a)[0]))
                           + 2 * (w5 * int(ptr16(a)[5]) - w1 * int(ptr16(a)[1]))
                           + w4 * int(ptr16(a)[4]) - w2 * int(ptr16(a)[2]) - bu)
                    s += wyj * rs
                    sx += wyj * rsx
                    sy += wyj * rs * (j - 3)
                j += 1
        while j < 7:
            wyj = int(o[22 + j])
            if wyj != 0:
                rs = 0
                rsx = 0
                a = p0 + (((r0 + j) * size + c0) << 1)
                i = 0
                while i < 7:
                    w = int(o[15 + i])
                    if w != 0:
                        v = (int(ptr16(a)[0]) - bg) * w
                        rs += v
                        rsx += v * (i - 3)
                    a += 2
                    i += 1
                s += wyj * rs
                sx += wyj * rsx
                sy += wyj * rs * (j - 3)
            j += 1
        o[5] = s
        o[6] = sx
        o[7] = sy
        if s <= 0:
            break
        while s >= 2097152:
            s >>= 1
            sx >>= 1
            sy >>= 1
        q = sx // s
        rr = sx - q * s
        cx = ((c0 + 3) << 8) + 128 + (q << 8) + ((((rr << 9) // s) + 1) >> 1)
        q = sy // s
        rr = sy - q * s
        cy = ((r0 + 3) << 8) + 128 + (q << 8) + ((((rr << 9) // s) + 1) >> 1)
        o[6] = cx
        o[7] = cy
        k += 1
    cx += int(o[9]) << 8
    cy += int(o[10]) << 8
    o[31] = cx
    o[32] = cy
    o[0] = (cx + 2) >> 2
    o[1] = (cy + 2) >> 2
    return 1


@micropython.viper
def strip_highpass(a: int, b, cols: int, n: int) -> int:
    """apt_pixels.strip_highpass_py in place over cells ``a`` .. ``n - 1`` of ``b`` (array
    'H', rows of ``cols`` cells from cell ``a``): each cell less the mean of the cells two
    to its left and right (one side at the row's ends; rows under 5 cells: 0), clipped at
    0; whole rows only.  Returns the index of the first highest cell written (``a`` when
    none).  ``a`` is the first local, a register (as in :func:`centroid`): it becomes the
    cell's address, walked in octets; a row's two first and two last cells apart, so the
    inner loop has no edge test: 115 k instructions a 2 560-cell strip on the Cortex-M7
    image (190 k with the test in the loop, 256 k with the address off the registers).
    The highest cell costs the loop a compare; ``max()`` of the strip cost 293 k."""
    p0 = int(ptr16(b))
    end = p0 + (n << 1)
    row = p0 + (a << 1)
    best = row  # the highest cell's address and value
    top = 0
    if cols < 5:
        a = row
        while a < end:
            ptr16(a)[0] = 0
            a += 2
        return (best - p0) >> 1
    cols2 = cols << 1
    while row + cols2 <= end:  # (whole rows only)
        rend = row + cols2
        p2 = int(ptr16(row)[0])  # the originals two and one cells to the left
        p1 = int(ptr16(row)[1])
        # Cells 0 and 1: their right neighbours alone (the four edge cells written out,
        # as the last two below: a viper call costs more than the cell it would do).
        v = int(ptr16(row)[2])
        d = 0
        if p2 > v:
            d = p2 - v
        ptr16(row)[0] = d
        if d > top:
            top = d
            best = row
        v = int(ptr16(row)[3])
        d = 0
        if p1 > v:
            d = p1 - v
        ptr16(row)[1] = d
        if d > top:
            top = d
            best = row + 2
        a = row + 4
        last = rend - 4
        while a < last:
            v = int(ptr16(a)[0])
            loc = (p2 + int(ptr16(a)[2])) >> 1
            if v > loc:
                d = v - loc
                ptr16(a)[0] = d
                if d > top:
                    top = d
                    best = a
            else:
                ptr16(a)[0] = 0
            p2 = p1
            p1 = v
            a += 2
        v = int(ptr16(a)[0])  # the last two cells: their left neighbours alone
        d = 0
        if v > p2:
            d = v - p2
        ptr16(a)[0] = d
        if d > top:
            top = d
            best = a
        v = int(ptr16(a)[1])
        d = 0
        if v > p1:
            d = v - p1
        ptr16(a)[1] = d
        if d > top:
            top = d
            best = a + 2
        row = rend
    return (best - p0) >> 1
