"""APT pixel work (DESIGN §3.3): functions over frame buffers, no state of their own.

The APT state machine (flight/apt.py) owns the buffers and the camera; these functions
only look at pixels: the spot centroid, the hot-pixel patch, the dark classification
that finds hot pixels, and the helpers of the SEARCH strip scan.  Every function that
runs in the 100 Hz tick (``centroid``, ``patch_hot``) uses integer maths only and
allocates nothing: results go into caller-owned arrays (a returned tuple would be a heap
object per frame).
"""

from array import array

from flight.apt_weights import WEIGHTS_Q6
from hal.compat import const

try:  # the APT tick's maths runs with the heap locked (see flight/apt.py Apt.tick)
    from micropython import heap_lock, heap_unlock  # type: ignore[import-not-found]
except ImportError:  # CPython: no heap to lock
    def heap_lock():  # type: ignore[no-redef,misc]
        pass

    def heap_unlock():  # type: ignore[no-redef,misc]
        pass

# Indices of the ``out`` array of :func:`centroid` (array("i", [0] * CEN_LEN)).
CEN_X = const(0)  # spot column, 1/64 sensor px ("q6"); written only when the spot is valid
CEN_Y = const(1)  # spot row, q6 (both rounded from CEN_X8, CEN_Y8)
CEN_PEAK = const(2)  # brightest pixel of the window, DN
CEN_BG = const(3)  # background (mean of the first and last rows), DN
CEN_PX = const(4)  # pixels counted in the spot
_CEN_SW = const(5)  # scratch: the thresholded sums (sums_py), the weighted ones (wsums_py)
CEN_SX = const(6)
CEN_SY = const(7)
# The one-call kernel's inputs (centroid_py, flight/apt_viper.centroid): the window and
# the limits of :func:`centroid`'s arguments; then its weighted steps' scratch (7 + 7).
CEN_SIZE = const(8)
CEN_X0 = const(9)
CEN_Y0 = const(10)
_CEN_SNR = const(11)
_CEN_THR = const(12)
_CEN_MIN_PX = const(13)
_CEN_MAX_PX = const(14)
# (15 .. 28: the weighted steps' scratch)
_CEN_PIXEL_MAX = const(29)  # the camera's full scale: a higher pixel is no valid frame
CEN_DEV4 = const(30)  # the background rows' noise: 4 x their mean |pixel - background|, DN
# The spot to 1/256 px ("q8"), the weighted steps' own resolution: the loop's error
# (flight/apt.py; the q6 step alone was 0.45 urad of noise per axis: docs/apt-loop.md §2)
CEN_X8 = const(31)
CEN_Y8 = const(32)
CEN_LEN = const(33)
_WCOG_ITER = const(2)  # Gaussian-weighted steps of the centroid (see _WTAB below)
# The background's own noise sets floors under the spot test (docs/apt-loop.md §2 "A bright
# background"): with MAD the background rows' mean absolute deviation (σ ≈ 1.25 MAD for
# Gaussian noise), a spot's peak is at least 8 MAD (~6.4 σ: a 32×32 window of noise alone
# reaches it once in ~1e7 frames) above the background, and the threshold of its sums at
# least 4 MAD (~3.2 σ).  At night (σ ~1-3 DN) the fixed limits and 25 % of the peak are the
# higher ones; in daylight (σ ~5-25 DN) these are: without them the shot noise of a
# background 50x the night's passed for a spot (the sunlit-ground scenario held ACQUIRE on
# noise all pass).  Each pixel's deviation is capped at _DEV_CAP_DN (a hot pixel or the
# spot's edge in a background row would lift the floors ~10 DN; the noise never nears it).
_DEV_CAP_DN = const(64)


def sums_py(buf, size, thr, out):
    """Sums over a ``size``×``size`` window of v = pixel − ``thr`` for the pixels above
    ``thr`` that have a row neighbour above it too: Σv, Σv·column, Σv·row into
    ``out[_CEN_SW]``, ``out[CEN_SX]``, ``out[CEN_SY]``; returns how many pixels counted.
    (A step of :func:`centroid`; flight/apt_viper.centroid does the same.)"""
    sw = 0
    sx = 0
    sy = 0
    cnt = 0
    r = 0
    i = 0
    last = size - 1
    while r < size:
        c = 0
        while c < size:
            v = buf[i] - thr
            # A pixel above threshold counts only with a neighbour in its row above
            # threshold too: the spot (sigma ~1 px) always has one, an isolated hot
            # pixel (dark current grows with the exposure) never does.
            if v > 0 and ((c > 0 and buf[i - 1] > thr) or
                          (c < last and buf[i + 1] > thr)):
                sw += v
                sx += v * c
                sy += v * r
                cnt += 1
            c += 1
            i += 1
        r += 1
    out[_CEN_SW] = sw
    out[CEN_SX] = sx
    out[CEN_SY] = sy
    return cnt


def peak_py(buf, size, out):
    """The brightest pixel of the ``size``×``size`` window at the start of ``buf`` into
    ``out[CEN_PEAK]``; returns the sum of the window's first and last rows (the
    background).  (A step of :func:`centroid`, as in flight/apt_viper.centroid.)"""
    n = size * size
    if len(buf) == n:
        mx = max(buf)
    else:  # (ACQUIRE's window in the longer SEARCH strip buffer: its tail is no pixel)
        mx = 0
        i = 0
        while i < n:
            if buf[i] > mx:
                mx = buf[i]
            i += 1
    s = 0
    i = 0
    while i < size:
        s += buf[i] + buf[n - size + i]
        i += 1
    out[CEN_PEAK] = mx
    return s


def centroid(buf, size, x0, y0, snr_min, thr_min, min_px, max_px, out, pixel_max=0xFFFF):
    """Background-subtracted, thresholded centre of gravity of a ``size``×``size`` window
    whose top-left sensor pixel is (x0, y0).

    Fills ``out`` (CEN_* indices; the position only when valid) and returns validity:
    the peak at least ``snr_min`` DN and 8 MAD of the background rows' noise above the
    background, and between ``min_px`` and ``max_px`` pixels above the threshold (25 % of
    the peak, at least ``thr_min`` and 4 MAD: _DEV_CAP_DN above).
    May mask (set to the background) up to two isolated bright pixels of ``buf``.
    A pixel above ``pixel_max`` (the camera's full scale) makes the frame invalid before
    any sum: a corrupted read, which :func:`spot`'s caller reports (out[CEN_PEAK] holds it;
    the weighted sums' bound, 2**29, holds for pixels up to the 10-bit full scale).
    """
    # Background: mean of the first and last rows (the spot sits inside the window).
    bg = peak_py(buf, size, out) // (2 * size)
    mx = out[CEN_PEAK]
    out[CEN_BG] = bg
    # The background rows' noise: 4 MAD, each pixel's deviation capped (as the kernel)
    n = size * size
    s = 0
    i = 0
    while i < size:
        d = buf[i] - bg
        d = -d if d < 0 else d
        s += d if d < _DEV_CAP_DN else _DEV_CAP_DN
        d = buf[n - size + i] - bg
        d = -d if d < 0 else d
        s += d if d < _DEV_CAP_DN else _DEV_CAP_DN
        i += 1
    dev4 = (s << 2) // (2 * size)
    out[CEN_DEV4] = dev4
    if mx > pixel_max:
        return False
    thr_floor = thr_min if thr_min > dev4 else dev4  # (dev4 = 4 MAD: _DEV_CAP_DN above)
    retries = 0
    while True:
        amp = mx - bg
        if amp < snr_min or amp < (dev4 << 1):  # (8 MAD)
            return False
        thr = bg + (amp >> 2)  # 25 % of the peak above background
        if thr < bg + thr_floor:
            thr = bg + thr_floor
        cnt = sums_py(buf, size, thr, out)
        if cnt >= min_px or retries >= 2:
            break
        # No spot: the peak that set the threshold may be a hot pixel brighter than
        # a faint beacon.  Mask it (to the background) and look again; only on this
        # failure path, never in steady TRACK.
        buf[index_of(buf, mx)] = bg
        pk = out[CEN_PEAK]  # (the reported peak stays the window's first one)
        peak_py(buf, size, out)
        mx = out[CEN_PEAK]
        out[CEN_PEAK] = pk
        retries += 1
    out[CEN_PX] = cnt
    if cnt < min_px or cnt > max_px:
        return False
    # Start: the thresholded centre of gravity (sx/sw + 0.5, window px, q6, rounded), as q8.
    sw = out[_CEN_SW]
    cx = (_div_round(out[CEN_SX], sw, 6) + 32) << 2
    cy = (_div_round(out[CEN_SY], sw, 6) + 32) << 2
    # Then the Gaussian-weighted centre of gravity (near the Cramér-Rao bound), q8.
    k = 0
    while k < _WCOG_ITER:
        if not wcog_py(buf, size, bg, cx, cy, _WTAB, _WX, _WY, out):
            break
        cx = out[CEN_SX]
        cy = out[CEN_SY]
        k += 1
    cx += x0 << 8
    cy += y0 << 8
    out[CEN_X8] = cx
    out[CEN_Y8] = cy
    out[CEN_X] = (cx + 2) >> 2
    out[CEN_Y] = (cy + 2) >> 2
    return True


def _div_round(num, den, q):
    """round(2**q · num / den) for den > 0, split so every step stays a small int
    (|num| < 2**30, den · 2**(q + 1) < 2**30: q 6 for den < 2**23, q 8 for den < 2**21)."""
    n = num // den
    r = num - n * den  # 0 <= r < den
    return (n << q) + ((((r << (q + 1)) // den) + 1) >> 1)


# Gaussian-weighted centre of gravity (DESIGN §3.3): weights exp(-d²/2σ_w²) of the distance
# d of each pixel centre from the current estimate, over a 7 × 7 box.  With the weight
# centred on the estimate the fixed point is the spot's centre whatever the noise (no
# threshold, so no bias towards a pixel centre); the weight keeps the far, noise-only
# pixels out.  σ_w = 1.75 px, wider than the spot's 1 px (sim/camera.py SPOT_SIGMA_PX; the
# camera is defocused to it): in the pass the centroid is photon-limited, where weights of
# the spot's own width throw away the wings' signal (1.24 urad per axis at 1 ms exposure,
# 30 000 e-, against 0.94 at 1.75 px with a q6 output, whose step alone was 0.45 of it;
# the Cramér-Rao bound 0.67) and leave half the start's error each step (σ²/(σ² + σ_w²); now
# a quarter: two steps land a noiseless spot within its q6 step at every pixel phase).  The
# estimate is carried in q8 (stop 57: the q6 step was the loop's noise).
# tests/test_apt_predict.py (docs/apt-loop.md §2).
_HALF = const(3)  # box half-width, px
_WTAB = WEIGHTS_Q6  # (the kernel's argument: apt.Apt._cen_args)
_WX = array("i", [0] * (2 * _HALF + 1))  # the box's column weights (preallocated)
_WY = array("i", [0] * (2 * _HALF + 1))  # and row weights


def wsums_py(buf, size, bg, c0, r0, wx, wy, out):
    """Σw·v, Σw·v·(column - box centre), Σw·v·(row - box centre) over the 7 × 7 box at
    (c0, r0) with w = wx[i]·wy[j], v = pixel - bg, into out[CEN_SX - 1 .. CEN_SY]
    (a step of :func:`wcog_py`)."""
    s = 0
    sx = 0
    sy = 0
    j = 0
    while j < 7:
        wyj = wy[j]
        if wyj:
            rs = 0
            rsx = 0
            base = (r0 + j) * size + c0
            i = 0
            while i < 7:
                w = wx[i]
                if w:
                    v = (buf[base + i] - bg) * w
                    rs += v
                    rsx += v * (i - 3)
                i += 1
            s += wyj * rs
            sx += wyj * rsx
            sy += wyj * rs * (j - 3)
        j += 1
    out[_CEN_SW] = s
    out[CEN_SX] = sx
    out[CEN_SY] = sy
    return 0


def wcog_py(buf, size, bg, cx, cy, wtab, wx, wy, out):
    """One Gaussian-weighted centre-of-gravity step around (cx, cy) (window px, q8):
    the new estimate into ``out[CEN_SX]``, ``out[CEN_SY]`` (q8); False when the box holds
    no signal (the estimate stays).  ``wtab``: the weights (_WTAB, at q6 distances);
    ``wx``, ``wy``: scratch for the box's column and row weights.  Integer maths, every
    product below 2**30 (2**31 for the viper kernel's machine words).  (A step of
    :func:`centroid`, as in flight/apt_viper.centroid.)"""
    c0 = (cx >> 8) - _HALF
    r0 = (cy >> 8) - _HALF
    i = 0
    while i <= 2 * _HALF:
        d = ((c0 + i) << 8) + 128 - cx  # pixel centre - estimate, q8
        d = ((-d if d < 0 else d) + 2) >> 2  # (the table's q6 step)
        wx[i] = wtab[d] if d <= 256 and 0 <= c0 + i < size else 0
        d = ((r0 + i) << 8) + 128 - cy
        d = ((-d if d < 0 else d) + 2) >> 2
        wy[i] = wtab[d] if d <= 256 and 0 <= r0 + i < size else 0
        i += 1
    wsums_py(buf, size, bg, c0, r0, wx, wy, out)
    s = out[_CEN_SW]
    sx = out[CEN_SX]
    sy = out[CEN_SY]
    if s <= 0:
        return False
    while s >= (1 << 21):  # keep the division's steps small ints (the ratios stay)
        s >>= 1
        sx >>= 1
        sy >>= 1
    out[CEN_SX] = ((c0 + _HALF) << 8) + 128 + _div_round(sx, s, 8)
    out[CEN_SY] = ((r0 + _HALF) << 8) + 128 + _div_round(sy, s, 8)
    return True


def wcog(buf, size, bg, cx, cy, out):
    """One weighted step (see :func:`wcog_py`) with the module's weights and scratch."""
    return wcog_py(buf, size, bg, cx, cy, _WTAB, _WX, _WY, out)


def centroid_py(A):
    """:func:`centroid` with its inputs in one list, ``A`` = [buf, out, wtab]: ``out``
    (CEN_LEN items) holds the window's size and origin and the limits at CEN_SIZE ..
    _CEN_MAX_PX and receives the results; ``wtab``: the weights (_WTAB).  Returns 1 for a
    valid spot, else 0.  (The plain-Python twin of flight/apt_viper.centroid, the APT
    tick's one call: same results and buffer, tests/mpy/test_apt_kernels_mpy.py.)"""
    o = A[1]
    return 1 if centroid(A[0], o[CEN_SIZE], o[CEN_X0], o[CEN_Y0], o[_CEN_SNR], o[_CEN_THR],
                         o[_CEN_MIN_PX], o[_CEN_MAX_PX], o, o[_CEN_PIXEL_MAX]) else 0


# The viper kernel where the port compiles it (Cortex-M7 firmware, unix port), else the
# twin: the VM's compiler refuses the decorator (SyntaxError), CPython has no micropython.
try:
    from flight.apt_viper import centroid as centroid_k
except (ImportError, SyntaxError, ValueError):
    centroid_k = centroid_py


def limits(out, snr_min, thr_min, min_px, max_px, pixel_max):
    """:func:`centroid`'s limits into the kernel's ``out`` (at parameter load);
    ``pixel_max``: the camera's full scale (hal.contracts Camera.pixel_max)."""
    out[_CEN_SNR] = snr_min
    out[_CEN_THR] = thr_min
    out[_CEN_MIN_PX] = min_px
    out[_CEN_MAX_PX] = max_px
    out[_CEN_PIXEL_MAX] = pixel_max


def over_full_scale(apt):
    """True when the last centroid found no spot because a pixel of the window was above
    the camera's full scale (a corrupted read: flight/apt.py reports it as a camera
    error).  True once per such frame: the kernel's peak is cleared here, so a later frame
    whose read fails (no centroid run) is not taken for it."""
    o = apt._cen
    if o[CEN_PEAK] > o[_CEN_PIXEL_MAX]:
        o[CEN_PEAK] = 0
        return True
    return False


def spot(apt, buf, size):
    """flight.apt.Apt.centroid (the tick calls it here: the CEN_* indices fold): the spot
    in ``apt``'s window at (win_x0, win_y0) of ``buf`` by one call of the kernel on
    ``apt._cen_args`` = [buf, apt._cen, _WTAB]; sets apt.spot_x/spot_y (q6 sensor px, when
    valid; spot_x8/spot_y8 the same in q8), peak, bg, spot_px, valid; returns validity, 1 or 0.  Allocates nothing."""
    o = apt._cen
    a = apt._cen_args
    a[0] = buf
    o[CEN_SIZE] = size
    o[CEN_X0] = apt.win_x0
    o[CEN_Y0] = apt.win_y0
    ok = centroid_k(a)
    apt.peak = o[CEN_PEAK]
    apt.bg = o[CEN_BG]
    apt.spot_px = o[CEN_PX]
    if ok:
        apt.spot_x = o[CEN_X]
        apt.spot_y = o[CEN_Y]
        apt.spot_x8 = o[CEN_X8]
        apt.spot_y8 = o[CEN_Y8]
        apt.valid = True
    return ok


def index_of(buf, value):
    """Index of the first pixel equal to ``value`` (which the caller knows is there)."""
    i = 0
    while buf[i] != value:
        i += 1
    return i


# ---------------------------------------------------------------------- hot pixels
def patch_hot(buf, hot, exposure_us, ref_exposure_us):
    """Subtract each hot pixel's dark excess, scaled to the exposure in use (dark
    current grows linearly with it).  ``hot`` = [index, excess DN at ref_exposure_us,
    index, excess, ...] as found by :func:`classify_dark`."""
    n = len(hot)
    k = 0
    while k < n:
        i = hot[k]
        v = buf[i] - (hot[k + 1] * exposure_us) // ref_exposure_us
        buf[i] = v if v > 0 else 0
        k += 2


def dark_accumulate(buf, dark_min):
    """Fold one dark frame into the per-pixel minimum (a hot pixel is always high,
    noise is not)."""
    for i in range(len(dark_min)):
        if buf[i] < dark_min[i]:
            dark_min[i] = buf[i]


def classify_dark(dark_min, width, hot_dn, max_hot):
    """Hot pixels of a dark window: [index, excess DN, ...] (at most ``max_hot`` pairs).

    A pixel whose minimum lies ``hot_dn`` or more above the window's median, with both
    row neighbours less than half that excess above it (isolated: not a spot), is hot.
    Runs once a session (it allocates: the sort and the list).
    """
    med = sorted(dark_min)[len(dark_min) // 2]
    hot = []  # type: list
    for i in range(len(dark_min)):
        ex = dark_min[i] - med
        if ex < hot_dn:
            continue
        c = i % width
        left = dark_min[i - 1] - med if c > 0 else 0
        right = dark_min[i + 1] - med if c < width - 1 else 0
        if 2 * left < ex and 2 * right < ex and len(hot) < 2 * max_hot:
            hot.append(i)
            hot.append(ex)
    return hot


# ---------------------------------------------------------------------- SEARCH strips
def strip_highpass_py(a, buf, cols, n):
    """Each binned cell of the strip's cells ``a`` .. ``n - 1`` (rows of ``cols`` from cell
    ``a``) less the mean of the cells two to its left and two to its right in its row (one
    side at the row's ends; rows under 5 cells: 0), clipped at 0, in place; whole rows
    only (a last part-row before ``n`` is left as it is).  Returns the index of the first
    highest cell written (``a`` when none).  A background's gradient (sunlit ground: ±30 %
    over the frame, ~10 DN across a strip) is then no candidate, and the spot (one or two
    cells wide) keeps its height over its neighbours: each cell is its excess over its
    local background (docs/apt-loop.md §2 "A bright background").  (The twin of
    flight/apt_viper.strip_highpass.)"""
    best = a
    top = 0
    if cols < 5:
        for i in range(a, n):
            buf[i] = 0
        return best
    r = a
    while r + cols <= n:
        end = r + cols
        p2 = 0  # the originals of the cells one and two to the left
        p1 = 0
        c = r
        while c < end:
            v = buf[c]
            if c + 2 < end:
                right = buf[c + 2]
                left = p2 if c - 2 >= r else right
            else:
                left = right = p2
            loc = (left + right) >> 1
            d = v - loc if v > loc else 0
            buf[c] = d
            if d > top:
                top = d
                best = c
            p2 = p1
            p1 = v
            c += 1
        r = end
    return best


def mask_rejected(buf, rejected, base, cols):
    """Before the strip's high-pass: each known false target (``rejected``: binned cells
    of the frame, or None) that falls in the strip of cells ``base`` .. ``base + len(buf)
    - 1`` (rows of ``cols``) takes the value of the cell two from it in its row (to the
    left, or at the row's start to the right): its local background.  So it has no excess
    after the high-pass and never wins the strip, and it bends no neighbour's background
    (a 0 there would lift its neighbours by half the background).  Returns how many."""
    k = 0
    if rejected is not None:
        n = len(buf)
        for i in rejected:
            i -= base
            if 0 <= i < n:
                j = i - 2 if i % cols >= 2 else i + 2
                if 0 <= j < n:
                    buf[i] = buf[j]
                k += 1
    return k


try:
    from flight.apt_viper import strip_highpass as strip_highpass_k
except (ImportError, SyntaxError, ValueError):
    strip_highpass_k = strip_highpass_py


def ahead(v, e, s):
    """``v`` (q6 px) moved by the step a slew-limited pull-in makes on the error ``e``:
    ``-e`` limited to ±``s`` (ACQUIRE's window a step ahead of the spot, flight/apt.py)."""
    return v - (s if e > s else (-s if e < -s else e))


def clamp(v, lo, hi):
    """``v`` limited to [lo, hi] (window origins: the window stays on the sensor)."""
    return lo if v < lo else (hi if v > hi else v)


def window_origin(c_q6, size, extent):
    """The origin (px) of a ``size`` window centred on ``c_q6`` (q6 px) on a sensor axis of
    ``extent`` px: on the sensor even for a centre within size/2 of its edge.  TRACK's
    window and the dark look that finds its hot pixels share it (their pixel indices are
    the same pixels)."""
    return clamp((c_q6 >> 6) - (size >> 1), 0, extent - size)
