// Force-included into every C file of the firmware (micropython.mk): the configuration
// is seen before mpconfigport.h, whose defaults (py/mpconfig.h: #ifndef) it overrides.
#ifndef VECTOR_PYSTACK_H
#define VECTOR_PYSTACK_H

// Every call of a bytecode function whose state is over 11 words otherwise allocates
// that state on the GC heap (py/objfun.c, VM_MAX_STATE_ON_STACK): a first-fit scan
// from the lowest free block, whose cost grows with everything allocated since the
// last collection (measured on the Cortex-M7 image: 1.5 k instructions a call on a
// fresh heap, 42 k after 200 small allocations).  With the Python stack a call's state
// is a pointer bump in a region of its own.
#define MICROPY_ENABLE_PYSTACK (1)

// The region's size.  The deepest flight call chain uses ~3 KiB (docs/firmware.md);
// an exhausted Python stack raises RuntimeError (maximum recursion depth exceeded),
// counted like any task failure.
#define VECTOR_PYSTACK_BYTES (8192)

#ifndef __ASSEMBLER__
void vector_pystack_init(void);
#endif
#define MICROPY_PORT_INIT_FUNC vector_pystack_init()

#endif
