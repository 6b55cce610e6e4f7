/* The Python entries of the host kernels (sim/run/hostkernels/__init__.py builds them). */
#include "common.h"

#define ENTRY_BEGIN(nargs)                                                          \
    ctx x;                                                                          \
    x.nv = 0;                                                                       \
    if (nargs_ != (nargs)) {                                                        \
        PyErr_Format(PyExc_TypeError, "expected %d arguments", (int)(nargs));       \
        return NULL;                                                                \
    }                                                                               \
    if (setjmp(x.jb)) {                                                             \
        release(&x);                                                                \
        return NULL;                                                                \
    }

static PyObject *py_frame(PyObject *self, PyObject *const *a, Py_ssize_t nargs_) {
    ENTRY_BEGIN(2)
    arr c;
    view(&x, a[1], &c);
    i64 r = hk_frame(&x, a[0], &c);
    release(&x);
    return PyLong_FromLongLong(r);
}

static PyObject *py_pcodes(PyObject *self, PyObject *const *a, Py_ssize_t nargs_) {
    ENTRY_BEGIN(2)
    arr c;
    view(&x, a[1], &c);
    i64 r = hk_pcodes(&x, a[0], &c);
    release(&x);
    return PyLong_FromLongLong(r);
}

static PyObject *py_wstep(PyObject *self, PyObject *const *a, Py_ssize_t nargs_) {
    ENTRY_BEGIN(7)
    arr v[7];
    for (int i = 0; i < 7; i++)
        view(&x, a[i], &v[i]);
    i64 r = hk_wstep(&x, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
    release(&x);
    return PyLong_FromLongLong(r);
}

static PyObject *py_wcodes(PyObject *self, PyObject *const *a, Py_ssize_t nargs_) {
    ENTRY_BEGIN(4)
    arr c, lx, ly;
    view(&x, a[1], &c);
    view(&x, a[2], &lx);
    view(&x, a[3], &ly);
    i64 r = hk_wcodes(&x, a[0], &c, &lx, &ly);
    release(&x);
    return PyLong_FromLongLong(r);
}

static PyObject *py_centroid(PyObject *self, PyObject *const *a, Py_ssize_t nargs_) {
    ENTRY_BEGIN(1)
    i64 r = hk_centroid(&x, a[0]);
    release(&x);
    return PyLong_FromLongLong(r);
}

static PyObject *py_spot(PyObject *self, PyObject *const *a, Py_ssize_t nargs_) {
    ENTRY_BEGIN(14)
    arr v[4];
    for (int i = 0; i < 4; i++)
        view(&x, a[i], &v[i]);
    i64 n[5];
    for (int i = 0; i < 5; i++) {
        n[i] = PyLong_AsLongLong(a[4 + i]);
        if (n[i] == -1 && PyErr_Occurred())
            longjmp(x.jb, 1);
    }
    double f[4];
    for (int i = 0; i < 4; i++) {
        f[i] = PyFloat_AsDouble(a[9 + i]);
        if (f[i] == -1.0 && PyErr_Occurred())
            longjmp(x.jb, 1);
    }
    i64 amax = PyLong_AsLongLong(a[13]);
    if (amax == -1 && PyErr_Occurred())
        longjmp(x.jb, 1);
    hk_spot(&x, &v[0], &v[1], &v[2], &v[3], n[0], n[1], n[2], n[3], n[4], f[0], f[1], f[2], f[3],
         amax);
    release(&x);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"predict_frame", (PyCFunction)(void (*)(void))py_frame, METH_FASTCALL,
     "flight/predict_py.py frame_py(A, c)"},
    {"predict_codes", (PyCFunction)(void (*)(void))py_pcodes, METH_FASTCALL,
     "flight/predict_py.py codes_py(A, c)"},
    {"wheels_step", (PyCFunction)(void (*)(void))py_wstep, METH_FASTCALL,
     "flight/wheels_py.py step_py(T, Z, k, pc, lad, lx, ly)"},
    {"wheels_codes", (PyCFunction)(void (*)(void))py_wcodes, METH_FASTCALL,
     "flight/wheels_py.py codes_py(A, c, lx, ly)"},
    {"centroid", (PyCFunction)(void (*)(void))py_centroid, METH_FASTCALL,
     "flight/apt_pixels.py centroid_py(A)"},
    {"camera_spot", (PyCFunction)(void (*)(void))py_spot, METH_FASTCALL,
     "sim/camera.py Camera._spot's loops (buf, gx, gy, z, zi, nx, ny, k0, cols, amp, gmin, "
     "gdn, fw_cap, amax)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, MODULE_NAME,
                                    "Host builds of the APT's kernels (sim only)", -1,
                                    methods};

#define INIT_(n) PyInit_##n
#define INIT(n) INIT_(n)
PyMODINIT_FUNC INIT(MODULE_NAME_ID)(void) { return PyModule_Create(&module); }
