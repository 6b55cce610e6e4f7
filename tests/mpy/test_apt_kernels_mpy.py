"""The APT centroid's viper kernel against its plain-Python twin (flight/apt_viper.py,
flight/apt_pixels.sums_py): same sums and counts on every interpreter (CPython and the
VM run the twin twice; the Cortex-M7 image and the unix port compare viper with it)."""

from array import array

from flight import apt_pixels as px


def _window(seed, size):
    # A spot, a hot pixel, noise and edge pixels: every branch of the neighbour rule.
    buf = array("H", [0] * (size * size))
    x = seed
    for i in range(size * size):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        buf[i] = 30 + (x >> 16) % 8
    c = size // 2 + seed % 3 - 1
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            buf[(c + dy) * size + c + dx] += 400 // (1 + dx * dx + dy * dy)
    buf[size * size - 1] = 900  # isolated hot pixel on the last column
    buf[size] = 800  # and one on the first column
    buf[size + 1] = 790  # ... with a neighbour: counts
    return buf


def test_viper_centroid_sums_match_the_plain_python_twin():
    for size in (16, 32):
        for seed in range(5):
            buf = _window(seed, size)
            for thr in (40, 100, 300, 1000):
                a = array("i", [0] * px.CEN_LEN)
                b = array("i", [0] * px.CEN_LEN)
                ca = px._sums(buf, size, thr, a)
                cb = px.sums_py(buf, size, thr, b)
                assert ca == cb, (size, seed, thr)
                assert list(a) == list(b), (size, seed, thr)
                if thr == 40:
                    assert cb >= 9 and b[px.CEN_SW] > 0  # the spot counted


def test_viper_weighted_sums_match_the_plain_python_twin():
    # Gaussian-weighted sums: boxes inside the window and cut by its edges, saturated
    # pixels (the largest sums), background above some pixels (negative terms).
    for size in (16, 32):
        for seed in range(4):
            buf = _window(seed, size)
            c = size // 2
            for cx, cy in ((c << 6, c << 6), ((c << 6) + 21, (c << 6) - 40), (64, 90),
                           (((size - 1) << 6) + 10, (size - 2) << 6)):
                for bg in (30, 34):
                    a = array("i", [0] * px.CEN_LEN)
                    b = array("i", [0] * px.CEN_LEN)
                    ra = px.wcog(buf, size, bg, cx, cy, a)
                    saved = px._wsums
                    px._wsums = px.wsums_py
                    try:
                        rb = px.wcog(buf, size, bg, cx, cy, b)
                    finally:
                        px._wsums = saved
                    assert ra == rb and list(a) == list(b), (size, seed, cx, cy, bg)
    sat = array("H", [1023] * 256)
    a = array("i", [0] * px.CEN_LEN)
    b = array("i", [0] * px.CEN_LEN)
    px._wsums(sat, 16, 0, 5, 5, array("i", [64] * 7), array("i", [64] * 7), a)
    px.wsums_py(sat, 16, 0, 5, 5, array("i", [64] * 7), array("i", [64] * 7), b)
    assert list(a) == list(b) and a[px.CEN_SW] == 1023 * 64 * 64 * 49


def test_viper_weighted_step_and_peak_match_the_plain_python_twins():
    # One weighted centre-of-gravity step in one viper call (weights, sums, division)
    # against the Python step over the Python sums; the peak and background kernel
    # against its twin, on a window alone and at the start of a longer buffer.
    for size in (16, 32):
        for seed in range(4):
            buf = _window(seed, size)
            c = size // 2
            for cx, cy in ((c << 6, c << 6), ((c << 6) + 21, (c << 6) - 40), (64, 90),
                           (((size - 1) << 6) + 10, (size - 2) << 6), (-200, 40)):
                for bg in (30, 34, 2000):
                    a = array("i", [0] * px.CEN_LEN)
                    b = array("i", [0] * px.CEN_LEN)
                    saved = px._wsums
                    px._wsums = px.wsums_py
                    try:
                        rb = px.wcog_py(buf, size, bg, cx, cy, px._WTAB, array("i", [0] * 7),
                                        array("i", [0] * 7), b)
                    finally:
                        px._wsums = saved
                    ra = px._wcog(buf, size, bg, cx, cy, px._WTAB, px._WX, px._WY, a)
                    assert bool(ra) == bool(rb), (size, seed, cx, cy, bg)
                    if rb:
                        assert list(a) == list(b), (size, seed, cx, cy, bg)
            a = array("i", [0] * px.CEN_LEN)
            b = array("i", [0] * px.CEN_LEN)
            assert px._peak(buf, size, a) == px.peak_py(buf, size, b)
            assert a[px.CEN_PEAK] == b[px.CEN_PEAK] == max(buf)
            longer = array("H", list(buf) + [1000] * 64)  # a tail that is no pixel
            assert px._peak(longer, size, a) == px.peak_py(longer, size, b)
            assert a[px.CEN_PEAK] == b[px.CEN_PEAK] == max(buf)


def test_centroid_kernel_is_viper_where_the_port_has_it():
    import sys

    impl = sys.implementation.name
    if impl == "micropython" and sys.platform != "webassembly":
        assert px._sums is not px.sums_py  # the firmware and the unix port run viper
        assert px._wsums is not px.wsums_py
        assert px._wcog is not px.wcog_py and px._peak is not px.peak_py
    elif impl != "micropython":
        assert px._sums is px.sums_py and px._wsums is px.wsums_py
        assert px._wcog is px.wcog_py and px._peak is px.peak_py
