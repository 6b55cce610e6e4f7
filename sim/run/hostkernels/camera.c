#include "common.h"

/* sim/camera.py Camera._spot's pixel loops for an array('H') window: each pixel's mean
 * electrons m = amp gy[j] gx[i] (float32 factors), plus shot noise sqrt(m) z[zi], capped at
 * the full well, in DN added and clipped at the ADC's top.  The same double operations in
 * the same order as the Python loops (built with -ffp-contract=off: no fused multiply-add),
 * so the same pixels. */
static double fld(ctx *x, const arr *a, i64 i) {
    Py_ssize_t k = idx(x, a, i);
    if (!a->fl)
        fail(x, PyExc_TypeError, "hostkernels: an integer array where floats are read");
    return a->kind == 16 ? ((double *)a->p)[k] : (double)((float *)a->p)[k];
}

static double root(ctx *x, double m) {
    if (m < 0.0)
        fail(x, PyExc_ValueError, "math domain error");
    return sqrt(m);
}

static void add_dn(ctx *x, const arr *buf, i64 k, double e, double gdn, i64 amax) {
    if (isnan(e) || isinf(e))
        fail(x, PyExc_ValueError, "cannot convert float NaN or infinity to integer");
    i64 v = ld(x, buf, k) + (i64)(e * gdn + 0.5);
    st(x, buf, k, v < amax ? v : amax);
}

void hk_spot(ctx *x, const arr *buf, const arr *gx, const arr *gy, const arr *z, i64 zi,
             i64 nx, i64 ny, i64 k0, i64 cols, double amp, double gmin, double gdn,
             double fw_cap, i64 amax) {
    const double thr = S_THR_E;
    for (i64 j = 0; j < ny; j++) {
        double ay = amp * fld(x, gy, j);
        if (ay < thr)
            continue;
        i64 k = k0 + j * cols;
        if (ay * gmin >= thr) { /* a row wholly above the threshold */
            for (i64 i = 0; i < nx; i++, k++) {
                double m = ay * fld(x, gx, i);
                double e = m + root(x, m) * fld(x, z, zi);
                zi++;
                if (e > 0.0)
                    add_dn(x, buf, k, e > fw_cap ? fw_cap : e, gdn, amax);
            }
            continue;
        }
        for (i64 i = 0; i < nx; i++) {
            double m = ay * fld(x, gx, i);
            if (!(m < thr)) {
                double e = m + root(x, m) * fld(x, z, zi);
                if (!(e <= 0.0))
                    add_dn(x, buf, k + i, e > fw_cap ? fw_cap : e, gdn, amax);
                zi++;
            }
        }
    }
}
