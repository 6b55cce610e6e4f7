/* The centroid: flight/apt_pixels.py centroid_py (see common.h). */
#include "common.h"

/* flight/apt_pixels.py sums_py. */
static i64 sums(ctx *x, const arr *buf, i64 size, i64 thr, const arr *out) {
    i64 sw = 0, sx = 0, sy = 0, cnt = 0, i = 0, last = size - 1;
    for (i64 r = 0; r < size; r++) {
        for (i64 c = 0; c < size; c++, i++) {
            i64 v = ld(x, buf, i) - thr;
            if (v > 0 && ((c > 0 && ld(x, buf, i - 1) > thr) ||
                          (c < last && ld(x, buf, i + 1) > thr))) {
                sw += v;
                sx += v * c;
                sy += v * r;
                cnt++;
            }
        }
    }
    st(x, out, X_CEN_SW, sw);
    st(x, out, X_CEN_SX, sx);
    st(x, out, X_CEN_SY, sy);
    return cnt;
}

/* flight/apt_pixels.py peak_py. */
static i64 peak(ctx *x, const arr *buf, i64 size, const arr *out) {
    i64 n = size * size, mx = 0;
    if (buf->n == n) {
        if (n == 0)
            fail(x, PyExc_ValueError, "max() arg is an empty sequence");
        mx = ld(x, buf, 0);
        for (i64 i = 1; i < n; i++) {
            i64 v = ld(x, buf, i);
            if (v > mx)
                mx = v;
        }
    } else {
        for (i64 i = 0; i < n; i++) {
            i64 v = ld(x, buf, i);
            if (v > mx)
                mx = v;
        }
    }
    i64 s = 0;
    for (i64 i = 0; i < size; i++)
        s += ld(x, buf, i) + ld(x, buf, n - size + i);
    st(x, out, X_CEN_PEAK, mx);
    return s;
}

/* flight/apt_pixels.py _div_round. */
static i64 div_round(ctx *x, i64 num, i64 den, int q) {
    i64 n = floordiv(x, num, den);
    i64 r = num - n * den;
    return SHL(n, q) + ((floordiv(x, SHL(r, q + 1), den) + 1) >> 1);
}

/* flight/apt_pixels.py wcog_py (with wsums_py): one Gaussian-weighted step. */
static int wcog(ctx *x, const arr *buf, i64 size, i64 bg, i64 cx, i64 cy, const arr *wtab,
                const arr *out) {
    i64 wx[2 * X_HALF + 1], wy[2 * X_HALF + 1];
    i64 c0 = (cx >> 8) - X_HALF, r0 = (cy >> 8) - X_HALF;
    for (i64 i = 0; i <= 2 * X_HALF; i++) {
        i64 d = SHL(c0 + i, 8) + 128 - cx;
        d = ((d < 0 ? -d : d) + 2) >> 2;
        wx[i] = d <= 256 && 0 <= c0 + i && c0 + i < size ? ld(x, wtab, d) : 0;
        d = SHL(r0 + i, 8) + 128 - cy;
        d = ((d < 0 ? -d : d) + 2) >> 2;
        wy[i] = d <= 256 && 0 <= r0 + i && r0 + i < size ? ld(x, wtab, d) : 0;
    }
    i64 s = 0, sx = 0, sy = 0;
    for (i64 j = 0; j < 7; j++) {
        i64 wyj = wy[j];
        if (wyj) {
            i64 rs = 0, rsx = 0, base = (r0 + j) * size + c0;
            for (i64 i = 0; i < 7; i++) {
                i64 w = wx[i];
                if (w) {
                    i64 v = (ld(x, buf, base + i) - bg) * w;
                    rs += v;
                    rsx += v * (i - 3);
                }
            }
            s += wyj * rs;
            sx += wyj * rsx;
            sy += wyj * rs * (j - 3);
        }
    }
    st(x, out, X_CEN_SW, s);
    st(x, out, X_CEN_SX, sx);
    st(x, out, X_CEN_SY, sy);
    s = ld(x, out, X_CEN_SW);
    sx = ld(x, out, X_CEN_SX);
    sy = ld(x, out, X_CEN_SY);
    if (s <= 0)
        return 0;
    while (s >= ((i64)1 << 21)) {
        s >>= 1;
        sx >>= 1;
        sy >>= 1;
    }
    st(x, out, X_CEN_SX, SHL(c0 + X_HALF, 8) + 128 + div_round(x, sx, s, 8));
    st(x, out, X_CEN_SY, SHL(r0 + X_HALF, 8) + 128 + div_round(x, sy, s, 8));
    return 1;
}

/* flight/apt_pixels.py centroid_py (centroid with its inputs in A = [buf, out, wtab]). */
i64 hk_centroid(ctx *x, PyObject *A) {
    arr buf, out, wtab;
    item(x, A, 0, &buf);
    item(x, A, 1, &out);
    item(x, A, 2, &wtab);
    const arr *o = &out;
    i64 size = ld(x, o, X_CEN_SIZE), x0 = ld(x, o, X_CEN_X0), y0 = ld(x, o, X_CEN_Y0);
    i64 snr_min = ld(x, o, X_CEN_SNR), thr_min = ld(x, o, X_CEN_THR);
    i64 min_px = ld(x, o, X_CEN_MIN_PX), max_px = ld(x, o, X_CEN_MAX_PX);
    i64 pixel_max = ld(x, o, X_CEN_PIXEL_MAX);
    i64 bg = floordiv(x, peak(x, &buf, size, o), 2 * size);
    i64 mx = ld(x, o, X_CEN_PEAK);
    st(x, o, X_CEN_BG, bg);
    i64 n = size * size, s = 0;
    for (i64 i = 0; i < size; i++) {
        i64 d = ld(x, &buf, i) - bg;
        d = d < 0 ? -d : d;
        s += d < X_DEV_CAP_DN ? d : X_DEV_CAP_DN;
        d = ld(x, &buf, n - size + i) - bg;
        d = d < 0 ? -d : d;
        s += d < X_DEV_CAP_DN ? d : X_DEV_CAP_DN;
    }
    i64 dev4 = floordiv(x, SHL(s, 2), 2 * size);
    st(x, o, X_CEN_DEV4, dev4);
    if (mx > pixel_max)
        return 0;
    i64 thr_floor = thr_min > dev4 ? thr_min : dev4;
    i64 retries = 0, cnt;
    for (;;) {
        i64 amp = mx - bg;
        if (amp < snr_min || amp < SHL(dev4, 1))
            return 0;
        i64 thr = bg + (amp >> 2);
        if (thr < bg + thr_floor)
            thr = bg + thr_floor;
        cnt = sums(x, &buf, size, thr, o);
        if (cnt >= min_px || retries >= 2)
            break;
        i64 i = 0; /* a hot pixel brighter than a faint beacon: masked, look again */
        while (ld(x, &buf, i) != mx)
            i++;
        st(x, &buf, i, bg);
        i64 pk = ld(x, o, X_CEN_PEAK);
        peak(x, &buf, size, o);
        mx = ld(x, o, X_CEN_PEAK);
        st(x, o, X_CEN_PEAK, pk);
        retries++;
    }
    st(x, o, X_CEN_PX, cnt);
    if (cnt < min_px || cnt > max_px)
        return 0;
    i64 sw = ld(x, o, X_CEN_SW);
    i64 cx = SHL(div_round(x, ld(x, o, X_CEN_SX), sw, 6) + 32, 2);
    i64 cy = SHL(div_round(x, ld(x, o, X_CEN_SY), sw, 6) + 32, 2);
    for (i64 k = 0; k < X_WCOG_ITER; k++) {
        if (!wcog(x, &buf, size, bg, cx, cy, &wtab, o))
            break;
        cx = ld(x, o, X_CEN_SX);
        cy = ld(x, o, X_CEN_SY);
    }
    cx += SHL(x0, 8);
    cy += SHL(y0, 8);
    st(x, o, X_CEN_X8, cx);
    st(x, o, X_CEN_Y8, cy);
    st(x, o, X_CEN_X, (cx + 2) >> 2);
    st(x, o, X_CEN_Y, (cy + 2) >> 2);
    return 1;
}
