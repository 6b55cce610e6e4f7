# The Vector payload computer (mpconfigboard.h): the NUCLEO-H743ZI's MCU settings without
# networking (NUCLEO_H743ZI_NONET of the project's MicroPython archive).
include boards/NUCLEO_H743ZI_NONET/mpconfigboard.mk
