/* The predictor's frame step and codes: flight/predict_py.py (see common.h). */
#include "common.h"

/* flight/predict_py.py frame_py, statement for statement. */
i64 hk_frame(ctx *x, PyObject *A, const arr *cp) {
    arr c = *cp, m, rows, s, tmp, hx, hy, qx, qy, lad, cls;
    item(x, A, P_A_M, &m);
    item(x, A, P_A_ROWS, &rows);
    item(x, A, P_A_S, &s);
    item(x, A, P_A_TMP, &tmp);
    item(x, A, P_A_HX, &hx);
    item(x, A, P_A_HY, &hy);
    item(x, A, P_A_QX, &qx);
    item(x, A, P_A_QY, &qy);
    item(x, A, P_A_LAD, &lad);
    i64 wave = LD(c, P_C_WAVE), nw = LD(c, P_C_NW), dt = LD(c, P_C_DT);
    i64 playing = LD(c, P_C_PLAY);
    i64 sat = 0;
    if (LD(c, P_C_MAP) != 0) { /* 0. the camera -> FSM mapping */
        i64 k = LD(c, P_C_K), ql = LD(c, P_C_QL);
        i64 ex = LD(c, P_C_FX), ey = LD(c, P_C_FY);
        ex = ex > ql ? ql : (ex < -ql ? -ql : ex);
        ey = ey > ql ? ql : (ey < -ql ? -ql : ey);
        ex = (ex * k) >> 8;
        ey = (ey * k) >> 8;
        if (LD(c, P_C_SX) < 0)
            ex = -ex;
        if (LD(c, P_C_SY) < 0)
            ey = -ey;
        i64 lim = LD(c, P_C_ECL);
        ex = ex > lim ? lim : (ex < -lim ? -lim : ex);
        ey = ey > lim ? lim : (ey < -lim ? -lim : ey);
        if (ex == lim || ex == -lim || ey == lim || ey == -lim)
            sat = 1;
        ex >>= 4;
        ey >>= 4;
        ST(c, P_C_FX, (LD(c, P_C_M00) * ex + LD(c, P_C_M01) * ey) >> 8);
        ST(c, P_C_FY, (LD(c, P_C_M10) * ex + LD(c, P_C_M11) * ey) >> 8);
    }
    /* 1. The history. */
    i64 mm;
    if (playing == 0) {
        ST(c, P_C_PDX, 0);
        ST(c, P_C_PDY, 0);
        i64 ux = LD(c, P_C_UX), uy = LD(c, P_C_UY);
        for (i64 j = 0; j < P_N_WAVE; j++) {
            ST(qx, j, ux);
            ST(qy, j, uy);
        }
        mm = P_RING;
    } else {
        mm = dt > 0 ? floordiv(x, dt, wave) : 0;
    }
    i64 cnt = mm < P_RING ? mm : P_RING;
    i64 offx = SHL(LD(c, P_C_PDX), 8), offy = SHL(LD(c, P_C_PDY), 8);
    i64 r = LD(c, P_C_N);
    for (i64 j = 0; j < cnt; j++) {
        r = (r + 1) & P_RMASK;
        i64 k = j < nw ? j : nw - 1;
        ST(hx, r, LD(qx, k) + offx);
        ST(hy, r, LD(qy, k) + offy);
    }
    ST(c, P_C_N, r);
    i64 k = mm < 1 ? 0 : (mm <= nw ? mm - 1 : nw - 1);
    i64 lastx = LD(qx, k), lasty = LD(qy, k);
    /* 2. The ladder entry nearest the exposure and its gain class. */
    i64 e = LD(c, P_C_E), nl = LD(c, P_C_NL);
    i64 ei = nearest_rung(x, &lad, e, nl);
    item(x, A, P_A_CLS, &cls);
    i64 cl = LD(cls, ei);
    /* 3. The mean command over the exposure. */
    i64 w0 = LD(c, P_C_X0), w1 = w0 + e;
    i64 refx = LD(hx, r), refy = LD(hy, r);
    i64 accx = 0, accy = 0, tot = 0;
    for (i64 b = floordiv(x, w0, wave) + 1; b <= P_RING; b++) {
        i64 blo = b * wave, bhi = blo - wave;
        if (bhi >= w1)
            break;
        i64 a0 = blo < w1 ? blo : w1, a1 = bhi > w0 ? bhi : w0;
        i64 ov = (a0 - a1) >> 3;
        if (ov > 0) {
            i64 i = (r - b + 1) & P_RMASK;
            accx += (LD(hx, i) - refx) * ov;
            accy += (LD(hy, i) - refy) * ov;
            tot += ov;
        }
    }
    i64 ux = refx, uy = refy;
    if (tot != 0) {
        ux += accx >= 0 ? floordiv(x, accx, tot) : -floordiv(x, -accx, tot);
        uy += accy >= 0 ? floordiv(x, accy, tot) : -floordiv(x, -accy, tot);
    }
    /* 4. The filter. */
    i64 fr = LD(c, P_C_FRAME);
    i64 nf = dt + (fr >> 1);
    nf = nf > 0 ? floordiv(x, nf, fr) : 0;
    if (LD(c, P_C_FRESH) != 0 || playing == 0 || nf > 3 || sat != 0) {
        for (i64 i = 0; i < 2 * P_NS; i++)
            ST(s, i, 0);
        ST(s, 0, LD(c, P_C_FX) + ux);
        ST(s, P_NS, LD(c, P_C_FY) + uy);
        ST(c, P_C_FRESH, sat);
        ST(c, P_C_NF, 0);
        ST(c, P_C_NUAX, 0);
        ST(c, P_C_NUAY, 0);
        ST(c, P_C_NUMX, 0);
        ST(c, P_C_NUMY, 0);
    } else {
        if (nf > 1)
            ST(c, P_C_STALE, LD(c, P_C_STALE) + nf - 1);
        i64 ho = P_M_H + ei * P_NS;
        i64 ko = LD(c, P_C_GOFF) + cl * P_NS;
        for (i64 o = 0; o < 2 * P_NS; o += P_NS) {
            i64 y = o == 0 ? LD(c, P_C_FX) + ux : LD(c, P_C_FY) + uy;
            for (i64 n = nf; n > 0; n--) { /* x <- Phi x */
                for (i64 i = 0; i < P_NS; i++) {
                    i64 acc = 0;
                    for (i64 j = 0; j < P_NS; j++) {
                        i64 v = LD(m, P_M_PHI + i * P_NS + j);
                        if (v == 4096)
                            acc += LD(s, o + j);
                        else if (v != 0)
                            acc += (v * LD(s, o + j)) >> 12;
                    }
                    ST(tmp, i, acc);
                }
                for (i64 i = 0; i < P_NS; i++)
                    ST(s, o + i, LD(tmp, i));
            }
            i64 nu = y - LD(s, o);
            for (i64 j = 1; j < P_NS; j++)
                nu -= (LD(m, ho + j) * LD(s, o + j)) >> 12;
            i64 i = o == 0 ? P_C_NUPX : P_C_NUPY;
            i64 ci = LD(c, i);
            i64 v = nu > ci ? nu - ci : ci - nu;
            ST(c, i, nu);
            i += 2;
            ST(c, i, LD(c, i) + (((v < P_NU_CLIP ? v : P_NU_CLIP) - LD(c, i)) >> 4));
            if (nu > P_NU_GATE || nu < -P_NU_GATE) { /* pull-in */
                if (LD(c, P_C_GOFF) == P_M_GAIN) {
                    ST(s, o, LD(s, o) + ((nu * 10) >> 4));
                    v = LD(s, o + 1) + ((nu * 9) >> 5);
                } else {
                    ST(s, o, LD(s, o) + ((nu * 5) >> 4));
                    v = LD(s, o + 1) + ((nu * 9) >> 6);
                }
                ST(s, o + 1, CLAMP(v, -P_V_MAX, P_V_MAX));
                for (i64 j = 2; j < P_NS; j++)
                    ST(s, o + j, 0);
                ST(c, P_C_PULLS, LD(c, P_C_PULLS) + 1);
                ST(c, o == 0 ? P_C_NUMX : P_C_NUMY, 0);
            } else {
                ST(s, o, LD(s, o) + ((LD(m, ko) * nu) >> 12));
                v = LD(s, o + 1) + ((LD(m, ko + 1) * nu) >> 12);
                ST(s, o + 1, CLAMP(v, -P_V_MAX, P_V_MAX));
                for (i64 j = 2; j < P_NS; j++) {
                    v = LD(s, o + j) + ((LD(m, ko + j) * nu) >> 12);
                    ST(s, o + j, CLAMP(v, -P_J_MAX, P_J_MAX));
                }
                if (LD(c, P_C_NF) < P_MAN_N) { /* the manoeuvre detector */
                    i = o == 0 ? P_C_NUMX : P_C_NUMY;
                    v = LD(c, i) + ((nu - LD(c, i)) >> 3);
                    if (v > P_MAN_Q8 || v < -P_MAN_Q8) {
                        v += LD(s, o + 1);
                        ST(s, o + 1, CLAMP(v, -P_V_MAX, P_V_MAX));
                        v = 0;
                        ST(c, P_C_MANS, LD(c, P_C_MANS) + 1);
                    }
                    ST(c, i, v);
                }
            }
        }
        i64 cnf = LD(c, P_C_NF);
        ST(c, P_C_NF, cnf + (cnf < 30000 ? 1 : 0));
    }
    /* 5. The waveform. */
    i64 sl = LD(c, P_C_SLEW);
    const i64 umax = SHL((i64)FSM_CODE_MAX, 8), umin = SHL((i64)FSM_CODE_MIN, 8);
    for (i64 o = 0; o < 2 * P_NS; o += P_NS) {
        const arr *q = o == 0 ? &qx : &qy;
        i64 p = o == 0 ? lastx : lasty;
        i64 so = LD(s, o), so1 = LD(s, o + 1);
        for (i64 j = 0; j < nw; j++) {
            i64 i = j * P_NS;
            i64 v = so + ((LD(rows, i + 1) * so1) >> 12);
            for (i64 i2 = 2; i2 < P_NS; i2++)
                v += (LD(rows, i + i2) * LD(s, o + i2)) >> 12;
            v = v > p + sl ? p + sl : (v < p - sl ? p - sl : v);
            v = v > umax ? umax : (v < umin ? umin : v);
            st(x, q, j, v);
            p = v;
        }
    }
    k = LD(c, P_C_KEND);
    ST(c, P_C_UX, LD(qx, k));
    ST(c, P_C_UY, LD(qy, k));
    ST(c, P_C_LASTX, lastx);
    ST(c, P_C_LASTY, lasty);
    ST(c, P_C_PLAY, 1);
    if ((LD(c, P_C_NUAX) > P_TRIP_Q8 || LD(c, P_C_NUAY) > P_TRIP_Q8) &&
        LD(c, P_C_NF) >= P_ARM_N && LD(c, P_C_GOFF) == P_M_GAIN)
        return 1;
    return 0;
}

/* flight/predict_py.py codes_py. */
i64 hk_pcodes(ctx *x, PyObject *A, const arr *cp) {
    arr c = *cp, q, w;
    i64 b = LD(c, P_C_BUF), dx = LD(c, P_C_DX), dy = LD(c, P_C_DY);
    ST(c, P_C_PDX, dx);
    ST(c, P_C_PDY, dy);
    i64 nw = LD(c, P_C_NW);
    for (i64 o = 0; o < 2; o++) {
        item(x, A, P_A_QX + o, &q);
        item(x, A, P_A_WX0 + 2 * b + o, &w);
        i64 d = o == 0 ? dx : dy;
        for (i64 j = 0; j < nw; j++) {
            i64 v = (LD(q, j) >> 8) + d;
            ST(w, j, CLAMP(v, (i64)FSM_CODE_MIN, (i64)FSM_CODE_MAX));
        }
        drop_views(x, 2);
    }
    return 0;
}
