"""The APT centroid's viper kernel against its plain-Python twin (flight/apt_viper.py
``centroid``, flight/apt_pixels.py ``centroid_py`` = ``centroid``): the same validity,
results, scratch sums and masked buffer on every interpreter (CPython and the VM run the
twin twice; the Cortex-M7 image and the unix port compare viper with it)."""

from array import array

from flight import apt_pixels as px


def _lcg(x):
    return (x * 1103515245 + 12345) & 0x7FFFFFFF


def _window(seed, size, n_extra=0):
    """A noisy window with a spot (bright, faint, wide or none), hot pixels (isolated,
    paired, brighter than the spot) at the edges and inside: every branch of the
    neighbour rule, the masking retries and the weighted steps' edge cuts."""
    n = size * size
    buf = array("H", [0] * (n + n_extra))
    x = seed * 7919 + 1
    bg = 20 + seed % 40
    for i in range(n + n_extra):
        x = _lcg(x)
        buf[i] = bg + (x >> 16) % (3 + seed % 9)
    kind = seed % 8
    x = _lcg(x)
    cx = (x >> 12) % size
    x = _lcg(x)
    cy = (x >> 12) % size
    amp = (900, 300, 60, 25, 1023, 0, 200, 500)[kind]
    r = 1 if kind != 6 else 4  # (kind 6: wide, beyond apt_max_spot_px for some limits)
    for dy in range(-r - 1, r + 2):
        for dx in range(-r - 1, r + 2):
            c = cx + dx
            w = cy + dy
            if 0 <= c < size and 0 <= w < size:
                v = buf[w * size + c] + amp // (1 + dx * dx + dy * dy)
                buf[w * size + c] = v if v < 1023 else 1023
    x = _lcg(x)
    if seed % 3 == 0:  # an isolated hot pixel brighter than the spot
        buf[(x >> 9) % n] = 1000
    if seed % 5 == 1:  # hot pixels on the first and last columns, one with a neighbour
        buf[size] = 800
        buf[size + 1] = 790
        buf[n - 1] = 1010
    if seed % 7 == 2:  # two isolated hot pixels: both masked, then no more retries
        buf[3 * size + 3] = 990
        buf[(size - 4) * size + size - 5] = 995
    return buf


def _pair(buf, size, x0, y0, limits, locked=False):
    """The kernel's and the twin's results on copies of ``buf``; ``locked``: each call
    with the heap locked (the tick's condition: nothing may allocate)."""
    outs = []
    for k in (px.centroid_k, px.centroid_py):
        b = array("H", buf)
        o = array("i", [0] * px.CEN_LEN)
        px.limits(o, limits[0], limits[1], limits[2], limits[3],
                  limits[4] if len(limits) > 4 else 1023)
        o[px.CEN_SIZE] = size
        o[px.CEN_X0] = x0
        o[px.CEN_Y0] = y0
        args = [b, o, px._WTAB]
        if locked:
            px.heap_lock()
        try:
            ok = k(args)
        finally:
            if locked:
                px.heap_unlock()
        outs.append((ok, list(o)[:px.CEN_SY + 1] + [o[px.CEN_DEV4], o[px.CEN_X8], o[px.CEN_Y8]],
                     list(b)))
    return outs


def test_viper_centroid_matches_the_plain_python_twin():
    valid = retried = rejected = 0
    for size in (16, 32, 15):  # (an odd row: its last column even, no right neighbour)
        for seed in range(40):
            for extra in (0, 64):  # (ACQUIRE's window in the longer SEARCH strip buffer)
                buf = _window(seed, size, extra)
                for limits in ((20, 12, 4, 80), (6, 1, 1, 1024), (100, 50, 9, 12), (6, 1, 1, 5)):
                    x0 = 600 + seed
                    y0 = 500 - seed
                    a, b = _pair(buf, size, x0, y0, limits)
                    assert a == b, (size, seed, extra, limits)
                    valid += a[0]
                    retried += a[2] != list(buf)
                    rejected += a[0] == 0 and a[1][px.CEN_PX] > limits[3]
    # every path was taken: valid spots, masked hot pixels, spots too large
    assert valid > 100 and retried > 10 and rejected > 5, (valid, retried, rejected)



def test_the_neighbour_rule_on_runs_of_every_length_and_column_parity():
    # The kernel looks at the even columns and at an odd one only beside one above the
    # threshold (flight/apt_viper.py): runs of 1-5 pixels above it, starting on even and
    # odd columns, at the rows' ends and across them, each counted once, as the twin's
    # every-pixel rule counts them.
    counted = 0
    for size in (16, 17, 32):
        for seed in range(24):
            x = seed * 2654435761 + size
            buf = array("H", [30] * (size * size))
            for row in range(1, size - 1):  # (the first and last rows: the background)
                c = 0
                while c < size:
                    x = _lcg(x)
                    run = (x >> 8) % 6  # 0: a gap of one pixel
                    for k in range(run if run else 1):
                        if c + k < size:
                            buf[row * size + c + k] = 400 + 10 * k if run else 30
                    c += (run if run else 1) + 1
            buf[(size // 2) * size + size // 2] = 900  # (the threshold: 25 % of it)
            a, b = _pair(buf, size, 0, 0, (6, 1, 1, size * size))
            assert a == b, (size, seed)
            counted += a[1][px.CEN_PX]
    assert counted > 2000, counted

def test_viper_centroid_on_saturated_and_dark_windows():
    # The largest sums (a saturated window: every weighted sum near its 2**31 bound) and
    # a window with no signal at all (no spot, no division by zero).
    for size in (16, 32):
        for fill in (1023, 0, 7):
            buf = array("H", [fill] * (size * size))
            buf[size * size // 2 + size // 2] = 1023 if fill != 1023 else 1000
            a, b = _pair(buf, size, 0, 0, (0, 1, 1, 1024))
            assert a == b, (size, fill)
    buf = array("H", [1023] * 256)
    for i in range(16):
        buf[i] = 0
        buf[240 + i] = 0
    a, b = _pair(buf, 16, 3, 4, (1, 1, 1, 1024))
    assert a == b and a[0] == 1


def test_a_pixel_above_full_scale_invalidates_the_frame_before_any_sum():
    # A corrupted read (16-bit garbage from the camera's stream) never reaches the sums:
    # with 65535 DN pixels the weighted sums would pass 2**31 (the viper kernel's machine
    # words wrap, the twin's integers would need the heap, which the tick holds locked).
    for size in (16, 32):
        for seed in range(6):
            good = _window(seed, size, 0)
            for bad in (1024, 4095, 65535):
                buf = array("H", good)
                buf[(seed * 37) % (size * size)] = bad
                garbage = array("H", [(bad * (i + 1) * 2654435761 >> 7) & 0xFFFF
                                      for i in range(size * size)])
                for b in (buf, garbage):
                    a, t = _pair(b, size, 0, 0, (6, 1, 1, 1024, 1023), locked=True)
                    assert a == t and a[0] == 0, (size, seed, bad)
                    assert a[1][px.CEN_PEAK] == max(b) > 1023, (size, seed, bad)
    # a window at full scale exactly is a frame like any other (saturation: apt_exposure)
    buf = _window(1, 16, 0)
    buf[100] = 1023
    a, t = _pair(buf, 16, 0, 0, (6, 1, 1, 1024, 1023))
    assert a == t and a[1][px.CEN_PEAK] == 1023


def _bright(seed, size, amp):
    """A daylight window: ~150-250 DN of background with up to ±40 DN of noise (the noise
    floors bind), a spot of ``amp`` DN (0: none) and a gradient."""
    n = size * size
    buf = array("H", [0] * n)
    x = seed * 104729 + 7
    bg = 150 + seed % 100
    spread = 8 + seed % 33
    for i in range(n):
        x = _lcg(x)
        buf[i] = bg + (i % size) // 4 + (x >> 16) % spread
    if amp:
        c = size // 2 + seed % 5 - 2
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                k = (c + dy) * size + c + dx
                v = buf[k] + amp // (1 + 3 * (dx * dx + dy * dy))
                buf[k] = v if v < 1023 else 1023
    return buf


def test_viper_centroid_with_its_noise_floors_on_bright_windows():
    floors = valid = 0
    for size in (16, 32):
        for seed in range(30):
            for amp in (0, 30, 90, 400):
                buf = _bright(seed, size, amp)
                a, b = _pair(buf, size, 10, 20, (20, 12, 4, 80))
                assert a == b, (size, seed, amp)
                dev4 = a[1][-1]
                floors += dev4 > 12  # 4 MAD above apt_thr_min_dn: the floors bound
                valid += a[0]
                if amp == 0:
                    assert a[0] == 0, (size, seed)
    assert floors > 60 and valid > 30, (floors, valid)


def _strip(seed, cols, rows):
    x = seed * 7 + 3
    out = array("H", [0] * (cols * rows))
    for i in range(cols * rows):
        x = _lcg(x)
        out[i] = 40 + seed * (i % cols) // 8 + (x >> 16) % (2 + seed % 13)
    x = _lcg(x)
    out[(x >> 8) % (cols * rows)] = 900  # a spot (or a hot pixel's bin)
    return out


def test_the_strip_highpass_kernel_matches_its_twin():
    for seed in range(12):
        for cols, rows in ((160, 16), (16, 16), (5, 3), (3, 2)):
            src = _strip(seed, cols, rows)
            a = array("H", src)
            b = array("H", src)
            start = seed % 3  # (the rows from cell `start` on; the cells before untouched)
            px.heap_lock()
            try:
                ka = px.strip_highpass_k(start, a, cols, cols * rows)
                kb = px.strip_highpass_py(start, b, cols, cols * rows)
            finally:
                px.heap_unlock()
            assert list(a) == list(b), (seed, cols, rows)
            assert ka == kb and start <= ka < cols * rows, (seed, cols, rows, ka, kb)
            done = list(a)[start:start + cols * ((cols * rows - start) // cols)]  # whole rows
            top = max(done) if done else 0
            assert a[ka] == top or not done, (seed, cols, rows)
            assert top == 0 or start + done.index(top) == ka
            assert list(a)[:start] == list(src)[:start]
            if cols >= 5 and start == 0:
                assert 500 < max(a) < max(src)  # the spot (900) over its neighbours (<= 350)


def test_centroid_kernel_is_viper_where_the_port_has_it():
    import sys

    impl = sys.implementation.name
    if impl == "micropython" and sys.platform != "webassembly":
        assert px.centroid_k is not px.centroid_py  # the firmware and the unix port
        assert px.strip_highpass_k is not px.strip_highpass_py
    elif impl != "micropython":
        assert px.centroid_k is px.centroid_py
        assert px.strip_highpass_k is px.strip_highpass_py
