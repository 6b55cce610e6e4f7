// The NUCLEO-H743ZI's HAL configuration (HSE 8 MHz, as on the payload computer).
#include "boards/NUCLEO_H743ZI/stm32h7xx_hal_conf.h"
