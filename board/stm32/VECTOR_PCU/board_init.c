// The NUCLEO-H743ZI's early init (its USB power switch off), which the included board
// configuration names (MICROPY_BOARD_EARLY_INIT): harmless on the payload computer.
#include "boards/NUCLEO_H743ZI/board_init.c"
