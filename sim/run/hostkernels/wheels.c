/* The wheel lines' frame step and codes: flight/wheels_py.py (see common.h). */
#include "common.h"

/* flight/wheels_py.py step_py. */
i64 hk_wstep(ctx *x, const arr *Tp, const arr *Zp, const arr *kp, const arr *pcp,
             const arr *ladp, const arr *lxp, const arr *lyp) {
    arr T = *Tp, Z = *Zp, k = *kp, pc = *pcp, lad = *ladp, lx = *lxp, ly = *lyp;
    i64 nw = LD(pc, P_C_NW);
    for (i64 j = 0; j < nw; j++) {
        ST(lx, j, 0);
        ST(ly, j, 0);
    }
    i64 dt = LD(k, W_K_DT), on = LD(k, W_K_ON), g = LD(k, W_K_G);
    const i64 gs = W_ONE / 50; /* ONE // FADE_FRAMES */
    if (on != 0 && LD(k, W_K_ACT) != 0)
        g = g < W_ONE - gs ? g + gs : W_ONE;
    else
        g = g > gs ? g - gs : 0;
    ST(k, W_K_G, g);
    i64 fr = LD(k, W_K_FRAME), wave = LD(k, W_K_WAVE);
    int lost = dt < 0 || dt > 100 * fr;
    if (lost)
        ST(k, W_K_RST, LD(k, W_K_RST) + 1);
    int adapt = on != 0 && LD(pc, P_C_NF) >= 50 && LD(pc, P_C_PLAY) != 0; /* ARM */
    i64 nux = LD(pc, P_C_NUPX), nuy = LD(pc, P_C_NUPY);
    const i64 gate = SHL((i64)100, 8); /* NU_MAX */
    if (nux > gate || nux < -gate || nuy > gate || nuy < -gate)
        adapt = 0;
    i64 e = LD(pc, P_C_E), nl = LD(pc, P_C_NL);
    i64 ei = nearest_rung(x, &lad, e, nl);
    if (adapt)
        ST(k, W_K_UPD, LD(k, W_K_UPD) + 1);
    const i64 zmax = W_Z_MAX;
    for (i64 sl = 0; sl < W_N_SLOT; sl++) {
        i64 o = sl * W_TS, z = sl * W_ZS;
        if (LD(T, o + W_T_ON) == 0)
            continue;
        i64 pr = LD(Z, z + W_Z_PC), pi = LD(Z, z + W_Z_PS), a;
        if (lost || g == 0) {
            if (lost) {
                pr = W_ONE;
                pi = 0;
            }
            ST(Z, z + 2, 0);
            ST(Z, z + 3, 0);
            ST(Z, z + 4, 0);
            ST(Z, z + 5, 0);
        }
        if (!lost) { /* advance by dt: frames, whole ms, the fraction (Taylor) */
            i64 n = floordiv(x, dt, fr);
            i64 rr = dt - n * fr;
            i64 mq = floordiv(x, rr, wave);
            rr -= mq * wave;
            i64 fc = LD(T, o + W_T_FC), fs = LD(T, o + W_T_FS);
            for (; n > 0; n--) {
                a = ((pr * fc) >> 14) - ((pi * fs) >> 14);
                pi = ((pr * fs) >> 14) + ((pi * fc) >> 14);
                pr = a;
            }
            i64 rc = LD(T, o + W_T_RC), rs = LD(T, o + W_T_RS);
            for (; mq > 0; mq--) {
                a = ((pr * rc) >> 14) - ((pi * rs) >> 14);
                pi = ((pr * rs) >> 14) + ((pi * rc) >> 14);
                pr = a;
            }
            if (rr > 0) {
                i64 th = (LD(T, o + W_T_W) * rr) >> 10;
                i64 t2 = (th * th) >> 14;
                i64 t3 = (th * t2) >> 14;
                i64 cr = W_ONE - (t2 >> 1) + floordiv(x, (t2 * t2) >> 14, 24);
                i64 ci = th - floordiv(x, t3, 6) + floordiv(x, (t3 * t2) >> 14, 120);
                a = ((pr * cr) >> 14) - ((pi * ci) >> 14);
                pi = ((pr * ci) >> 14) + ((pi * cr) >> 14);
                pr = a;
            }
            i64 nn = ((pr * pr) >> 14) + ((pi * pi) >> 14);
            i64 f = (3 * W_ONE - nn) >> 1;
            pr = (pr * f) >> 14;
            pi = (pi * f) >> 14;
        }
        ST(Z, z + W_Z_PC, pr);
        ST(Z, z + W_Z_PS, pi);
        if (g == 0)
            continue;
        if (adapt) { /* z += mu nu conj(b), b = P F_e */
            i64 fr_ = LD(T, o + W_T_F + 2 * ei), fi = LD(T, o + W_T_F + 1 + 2 * ei);
            i64 br = ((pr * fr_) >> 14) - ((pi * fi) >> 14);
            i64 bi = ((pr * fi) >> 14) + ((pi * fr_) >> 14);
            for (i64 i = z + 2; i <= z + 4; i += 2) {
                i64 nu = i == z + 2 ? nux : nuy;
                i64 v = LD(Z, i) + ((((nu * br) >> 14) * 40) >> 10); /* MU_Q12 */
                ST(Z, i, CLAMP(v, -zmax, zmax));
                v = LD(Z, i + 1) - ((((nu * bi) >> 14) * 40) >> 10);
                ST(Z, i + 1, CLAMP(v, -zmax, zmax));
            }
        }
        i64 lc = LD(T, o + W_T_LC), ls = LD(T, o + W_T_LS);
        i64 qr = ((pr * lc) >> 14) - ((pi * ls) >> 14);
        i64 qi = ((pr * ls) >> 14) + ((pi * lc) >> 14);
        i64 rc = LD(T, o + W_T_RC), rs = LD(T, o + W_T_RS);
        i64 q1r = ((qr * rc) >> 14) - ((qi * rs) >> 14);
        i64 q1i = ((qr * rs) >> 14) + ((qi * rc) >> 14);
        for (i64 i = z + 2; i <= z + 4; i += 2) {
            const arr *out = i == z + 2 ? &lx : &ly;
            i64 zr = LD(Z, i), zi = LD(Z, i + 1);
            i64 v0 = ((zr * qr) >> 14) - ((zi * qi) >> 14);
            i64 v1 = ((zr * q1r) >> 14) - ((zi * q1i) >> 14);
            st(x, out, 0, ld(x, out, 0) + ((v0 * g) >> 16));
            st(x, out, 1, ld(x, out, 1) + ((v1 * g) >> 16));
            for (i64 j = 2; j < nw; j++) {
                i64 v = ((rc * v1) >> 13) - v0;
                v0 = v1;
                v1 = v;
                st(x, out, j, ld(x, out, j) + ((v * g) >> 16));
            }
        }
    }
    return 0;
}

/* flight/wheels_py.py codes_py. */
i64 hk_wcodes(ctx *x, PyObject *A, const arr *cp, const arr *lxp, const arr *lyp) {
    arr c = *cp, q, w;
    i64 b = LD(c, P_C_BUF);
    ST(c, P_C_PDX, LD(c, P_C_DX));
    ST(c, P_C_PDY, LD(c, P_C_DY));
    for (i64 o = 0; o < 2; o++) {
        item(x, A, P_A_QX + o, &q);
        item(x, A, P_A_WX0 + 2 * b + o, &w);
        const arr *ln = o == 0 ? lxp : lyp;
        i64 d = o == 0 ? LD(c, P_C_DX) : LD(c, P_C_DY);
        for (i64 j = 0; j < LD(c, P_C_NW); j++) {
            i64 v = ((LD(q, j) + ld(x, ln, j)) >> 8) + d;
            ST(w, j, CLAMP(v, (i64)FSM_CODE_MIN, (i64)FSM_CODE_MAX));
        }
        drop_views(x, 2);
    }
    return 0;
}
