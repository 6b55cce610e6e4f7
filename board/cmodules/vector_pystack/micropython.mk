# The Python call stack apart from the GC heap (docs/firmware.md "The Python stack"):
# MicroPython's MICROPY_ENABLE_PYSTACK, and the region it uses, set up by
# vector_pystack_init() at the end of every mp_init() (MICROPY_PORT_INIT_FUNC: the ports
# this project builds, qemu and stm32, define no init hook of their own).
# tools/firmware.py passes this folder's parent as USER_C_MODULES to both builds.
SRC_USERMOD_C += $(USERMOD_DIR)/vector_pystack.c
CFLAGS_USERMOD += -include $(USERMOD_DIR)/vector_pystack.h
