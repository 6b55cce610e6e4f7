/* Host builds of the APT's kernels for the simulator (docs/simulator.md "Speed"):
 * what every file of this folder shares.
 *
 * On CPython the flight code runs the plain-Python twins of its viper kernels
 * (flight/predict_py.py, flight/wheels_py.py, flight/apt_pixels.py); they are ~60 % of a
 * simulated pass's CPU time.  These files are the same integer arithmetic in C, statement
 * for statement (and camera.c the simulated camera's spot loops, the same double
 * operations), so a pass flown with them is the pass flown with the twins, bit for bit
 * (tests/test_hostkernels.py: every kernel against its twin on recorded and drawn inputs,
 * and a pass's metrics).  The twins stay the reference and the code of the 64-bit ports;
 * none of this is flight code.
 *
 * Semantics kept from the twins (Python ints on Python arrays):
 *   - integers are int64_t: the twins' documented bounds keep every value below 2**62;
 *   - `>>` is an arithmetic shift (gcc), `<<` a multiplication (C's shift of a negative
 *     value is undefined), `//` a floor division (floordiv), division by zero raises;
 *   - an index is Python's: a negative one counts from the end, one out of range raises
 *     IndexError; a value out of an array's type raises OverflowError (array's rule).
 *     Where the twin raises, the kernel raises the same exception (the arrays' contents
 *     after a raise are not part of that promise: the scheduler counts such a run as the
 *     task's fault).
 *
 * The layouts' constants are not written here: sim/run/hostkernels/__init__.py passes
 * every one from its home module as a -D flag (P_*: flight/predict_py.py, X_*:
 * flight/apt_pixels.py, W_*: flight/apt_wheels.py, S_*: sim/camera.py, FSM_CODE_*:
 * hal/interfaces.py).  The wheel kernel's four literals (ARM 50, FADE_FRAMES 50, NU_MAX
 * 100 << 8, MU_Q12 40) are literals in both its twins too (flight/apt_wheels.py's comment
 * names them).
 */
#ifndef HOSTKERNELS_COMMON_H
#define HOSTKERNELS_COMMON_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>

typedef int64_t i64;

#define MAX_VIEWS 24

/* One array's memory: its items' kind is (itemsize << 1) | unsigned; fl: floats ('f', 'd'). */
typedef struct {
    char *p;
    Py_ssize_t n;
    int kind;
    int ro;
    int fl;
} arr;

typedef struct {
    jmp_buf jb;
    Py_buffer views[MAX_VIEWS];
    int nv;
} ctx;

static inline void fail(ctx *x, PyObject *exc, const char *msg) {
    PyErr_SetString(exc, msg);
    longjmp(x->jb, 1);
}

static inline Py_ssize_t idx(ctx *x, const arr *a, i64 i) {
    if (i < 0)
        i += a->n;
    if (i < 0 || i >= a->n)
        fail(x, PyExc_IndexError, "array index out of range");
    return (Py_ssize_t)i;
}

static inline i64 ld(ctx *x, const arr *a, i64 i) {
    Py_ssize_t k = idx(x, a, i);
    if (a->fl)
        fail(x, PyExc_TypeError, "hostkernels: a float array where integers are read");
    switch (a->kind) {
    case 2: return ((int8_t *)a->p)[k];
    case 3: return ((uint8_t *)a->p)[k];
    case 4: return ((int16_t *)a->p)[k];
    case 5: return ((uint16_t *)a->p)[k];
    case 8: return ((int32_t *)a->p)[k];
    case 9: return ((uint32_t *)a->p)[k];
    case 16: return ((int64_t *)a->p)[k];
    default: return (i64)((uint64_t *)a->p)[k];
    }
}

static inline void st(ctx *x, const arr *a, i64 i, i64 v) {
    Py_ssize_t k = idx(x, a, i);
    if (a->ro || a->fl)
        fail(x, PyExc_TypeError, "object does not support item assignment");
    switch (a->kind) {
    case 2:
        if (v < INT8_MIN || v > INT8_MAX) break;
        ((int8_t *)a->p)[k] = (int8_t)v; return;
    case 3:
        if (v < 0 || v > UINT8_MAX) break;
        ((uint8_t *)a->p)[k] = (uint8_t)v; return;
    case 4:
        if (v < INT16_MIN || v > INT16_MAX) break;
        ((int16_t *)a->p)[k] = (int16_t)v; return;
    case 5:
        if (v < 0 || v > UINT16_MAX) break;
        ((uint16_t *)a->p)[k] = (uint16_t)v; return;
    case 8:
        if (v < INT32_MIN || v > INT32_MAX) break;
        ((int32_t *)a->p)[k] = (int32_t)v; return;
    case 9:
        if (v < 0 || v > (i64)UINT32_MAX) break;
        ((uint32_t *)a->p)[k] = (uint32_t)v; return;
    case 16:
        ((int64_t *)a->p)[k] = v; return;
    default:
        if (v < 0) break;
        ((uint64_t *)a->p)[k] = (uint64_t)v; return;
    }
    fail(x, PyExc_OverflowError, "value out of the array's item range");
}

static inline i64 floordiv(ctx *x, i64 a, i64 b) {
    if (b == 0)
        fail(x, PyExc_ZeroDivisionError, "integer division or modulo by zero");
    i64 q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q -= 1;
    return q;
}

#define SHL(v, n) ((v) * ((i64)1 << (n)))
#define CLAMP(v, lo, hi) ((v) > (hi) ? (hi) : ((v) < (lo) ? (lo) : (v)))
#define LD(a, i) ld(x, &(a), (i))
#define ST(a, i, v) st(x, &(a), (i), (v))

/* The buffer of an object (an array, bytes, bytearray), held until the call returns (the
 * buffer holds its own reference to the object).  ``owned``: the caller's reference to
 * ``o``, dropped here whatever happens. */
static inline void view_(ctx *x, PyObject *o, arr *a, int owned) {
    if (x->nv >= MAX_VIEWS) {
        if (owned)
            Py_DECREF(o);
        fail(x, PyExc_RuntimeError, "hostkernels: too many arrays");
    }
    Py_buffer *b = &x->views[x->nv];
    int r = PyObject_GetBuffer(o, b, PyBUF_RECORDS_RO);
    if (owned)
        Py_DECREF(o);
    if (r != 0)
        longjmp(x->jb, 1);
    x->nv++;
    const char *f = b->format ? b->format : "B";
    if (*f == '@' || *f == '=' || *f == '<')
        f++;
    if (b->ndim > 1 || (b->strides && b->ndim == 1 && b->strides[0] != b->itemsize) ||
        f[0] == 0 || f[1] != 0 || strchr("bBhHiIlLqQfd", f[0]) == NULL ||
        (b->itemsize != 1 && b->itemsize != 2 && b->itemsize != 4 && b->itemsize != 8))
        fail(x, PyExc_TypeError, "hostkernels: not an array of numbers");
    a->p = (char *)b->buf;
    a->n = b->len / b->itemsize;
    a->kind = (int)(b->itemsize << 1) | (f[0] >= 'A' && f[0] <= 'Z');
    a->ro = b->readonly;
    a->fl = f[0] == 'f' || f[0] == 'd';
}

static inline void view(ctx *x, PyObject *o, arr *a) { view_(x, o, a, 0); }

/* Item i of a tuple or list (Python's index), as an array. */
static inline void item(ctx *x, PyObject *seq, i64 i, arr *a) {
    Py_ssize_t n = PySequence_Size(seq);
    if (n < 0)
        longjmp(x->jb, 1);
    if (i < 0)
        i += n;
    if (i < 0 || i >= n)
        fail(x, PyExc_IndexError, "tuple index out of range");
    PyObject *o = PySequence_GetItem(seq, (Py_ssize_t)i);
    if (o == NULL)
        longjmp(x->jb, 1);
    view_(x, o, a, 1);
}

/* The last ``n`` views released now, not held for the call (a loop's per-item arrays). */
static inline void drop_views(ctx *x, int n) {
    while (n-- > 0)
        PyBuffer_Release(&x->views[--x->nv]);
}

static inline void release(ctx *x) {
    for (int i = 0; i < x->nv; i++)
        PyBuffer_Release(&x->views[i]);
    x->nv = 0;
}

/* The exposure ladder's entry nearest ``e`` (bisection over its ``nl`` rungs), as both
 * twins find it (flight/predict_py.py frame_py step 2, flight/wheels_py.py step_py). */
static inline i64 nearest_rung(ctx *x, const arr *lad, i64 e, i64 nl) {
    i64 lo = 0, hi = nl - 1;
    while (hi - lo > 1) {
        i64 mid = (lo + hi) >> 1;
        if (ld(x, lad, mid) <= e)
            lo = mid;
        else
            hi = mid;
    }
    return ld(x, lad, hi) - e < e - ld(x, lad, lo) ? hi : lo;
}

/* The kernels (one file each: predict.c, wheels.c, pixels.c, camera.c; their Python
 * entries in module.c).  Each raises through ctx (longjmp) as its twin would. */
i64 hk_frame(ctx *x, PyObject *A, const arr *cp);
i64 hk_pcodes(ctx *x, PyObject *A, const arr *cp);
i64 hk_wstep(ctx *x, const arr *Tp, const arr *Zp, const arr *kp, const arr *pcp,
             const arr *ladp, const arr *lxp, const arr *lyp);
i64 hk_wcodes(ctx *x, PyObject *A, const arr *cp, const arr *lxp, const arr *lyp);
i64 hk_centroid(ctx *x, PyObject *A);
void hk_spot(ctx *x, const arr *buf, const arr *gx, const arr *gy, const arr *z, i64 zi,
             i64 nx, i64 ny, i64 k0, i64 cols, double amp, double gmin, double gdn,
             double fw_cap, i64 amax);

#endif
