// The Python stack's region (vector_pystack.h), installed at the end of mp_init(): at
// boot and at every soft reset, so a reset starts from an empty stack.  The region is
// filled with a pattern first, so its high-water mark can be read back: the module
// vector_pystack (peak(), size()) that the target bench reports (docs/firmware.md).
#include <string.h>

#include "py/runtime.h"
#include "py/pystack.h"

#define N_WORDS (VECTOR_PYSTACK_BYTES / sizeof(mp_obj_t))
#define FILL ((mp_uint_t)0x5AC3A53CU)  // a pattern no pointer into the heap or ROM matches

static mp_obj_t vector_pystack[N_WORDS] __attribute__((aligned(MICROPY_PYSTACK_ALIGN)));

void vector_pystack_init(void) {
    for (size_t i = 0; i < N_WORDS; i++) {
        vector_pystack[i] = (mp_obj_t)FILL;
    }
    mp_pystack_init(vector_pystack, &vector_pystack[N_WORDS]);
}

// Octets of the region ever used since the last init: up to the highest word that no
// longer holds the pattern (an unused word of a frame keeps it: a lower bound by at
// most a frame's unused tail).
static mp_obj_t vector_pystack_peak(void) {
    size_t n = N_WORDS;
    while (n > 0 && vector_pystack[n - 1] == (mp_obj_t)FILL) {
        n--;
    }
    return MP_OBJ_NEW_SMALL_INT(n * sizeof(mp_obj_t));
}
static MP_DEFINE_CONST_FUN_OBJ_0(vector_pystack_peak_obj, vector_pystack_peak);

static mp_obj_t vector_pystack_size(void) {
    return MP_OBJ_NEW_SMALL_INT(VECTOR_PYSTACK_BYTES);
}
static MP_DEFINE_CONST_FUN_OBJ_0(vector_pystack_size_obj, vector_pystack_size);

static const mp_rom_map_elem_t vector_pystack_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_vector_pystack) },
    { MP_ROM_QSTR(MP_QSTR_peak), MP_ROM_PTR(&vector_pystack_peak_obj) },
    { MP_ROM_QSTR(MP_QSTR_size), MP_ROM_PTR(&vector_pystack_size_obj) },
};
static MP_DEFINE_CONST_DICT(vector_pystack_globals, vector_pystack_globals_table);

const mp_obj_module_t vector_pystack_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&vector_pystack_globals,
};

MP_REGISTER_MODULE(MP_QSTR_vector_pystack, vector_pystack_module);
