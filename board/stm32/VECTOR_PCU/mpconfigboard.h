// The Vector payload computer (PCU rev A): an STM32H743 at 400 MHz running MicroPython
// 1.27 (stm32 port) with the flight application frozen in.  docs/firmware.md §1 "The
// payload computer's board definition"; its wiring is hal/real/board.py BOARD_CONFIG.
//
// The MCU's basics (clock tree, flash, USB, the REPL on UART3) are the NUCLEO-H743ZI's,
// whose MCU and 8 MHz HSE the PCU shares, so the same image runs on a NUCLEO-H743ZI for
// hardware-in-the-loop tests.  What differs is stated here, and only here:
//
// * the four SPI buses the payload's devices sit on (the NUCLEO's image has SPI3
//   alone: machine.SPI(1) and (2) raised "SPI(1) doesn't exist" at boot);
// * no SD card (the NUCLEO's image mounts one and may boot from it: the PCU boots
//   from its internal flash only, and the SD pins carry SPI3);
// * no LED3 (its pin PB14 is SPI2's MISO).
#include "boards/NUCLEO_H743ZI_NONET/mpconfigboard.h"

#undef MICROPY_HW_BOARD_NAME
#define MICROPY_HW_BOARD_NAME       "VECTOR_PCU"

// The clock tree, restated: the SPI buses' rates follow from it.  HSE 8 MHz / PLLM 4 x
// PLLN 400 = 800 MHz VCO; PLLP 2: 400 MHz SYSCLK; PLLQ 4: pll1_q_ck 200 MHz, the SPI1-3
// kernel clock (RM0433: SPI123SEL's reset selection, which the port leaves).  The
// stm32 port divides it by a power of two, 2 .. 256 (ports/stm32/spi.c
// spi_set_params): 100, 50, 25, 12.5 MHz ...  hal/interfaces.py MCU_SPI_KERNEL_HZ.
#undef MICROPY_HW_CLK_PLLM
#undef MICROPY_HW_CLK_PLLN
#undef MICROPY_HW_CLK_PLLP
#undef MICROPY_HW_CLK_PLLQ
#define MICROPY_HW_CLK_PLLM         (4)
#define MICROPY_HW_CLK_PLLN         (400)
#define MICROPY_HW_CLK_PLLP         (2)
#define MICROPY_HW_CLK_PLLQ         (4)
// The bus dividers (the port's H7 defaults, restated: they must be given together): HCLK
// 200 MHz, APB2 100 MHz — rcc_pclk2, the SPI4/5 kernel clock at SPI45SEL's reset
// selection: 50, 25, 12.5 MHz ...  hal/interfaces.py MCU_SPI45_KERNEL_HZ.
#define MICROPY_HW_CLK_AHB_DIV      (RCC_HCLK_DIV2)
#define MICROPY_HW_CLK_APB1_DIV     (RCC_APB1_DIV2)
#define MICROPY_HW_CLK_APB2_DIV     (RCC_APB2_DIV2)
#define MICROPY_HW_CLK_APB3_DIV     (RCC_APB3_DIV2)
#define MICROPY_HW_CLK_APB4_DIV     (RCC_APB4_DIV2)

// No SD card: boot from the internal flash only.
#undef MICROPY_HW_ENABLE_SDCARD
#define MICROPY_HW_ENABLE_SDCARD    (0)
#undef MICROPY_HW_SDCARD_DETECT_PIN
#undef MICROPY_HW_SDCARD_DETECT_PULL
#undef MICROPY_HW_SDCARD_DETECT_PRESENT

// No LED3: PB14 is SPI2's MISO.
#undef MICROPY_HW_LED3

// SPI1, mode 0, 25 MHz: the payload FPGA (camera and framer blocks).  PA5 / PA6 / PB5:
// the NUCLEO's Arduino SPI header (D13 / D12 / D11).
#define MICROPY_HW_SPI1_SCK         (pin_A5)
#define MICROPY_HW_SPI1_MISO        (pin_A6)
#define MICROPY_HW_SPI1_MOSI        (pin_B5)

// SPI2, mode 1, 12.5 MHz: the SiPM bias DAC (DAC8551).
#define MICROPY_HW_SPI2_SCK         (pin_B10)
#define MICROPY_HW_SPI2_MISO        (pin_B14)
#define MICROPY_HW_SPI2_MOSI        (pin_B15)

// SPI3, mode 1, 25 MHz: the mirror's DAC (AD5664) alone: its waveform timer writes from
// a soft callback (hal/real/board.py).  Moved from the NUCLEO's PB3-PB5 (PB5 is SPI1's
// MOSI, PB3 the debug probe's SWO) to PC10-PC12; no hardware NSS (PA4 is the camera's
// select, a GPIO).
#undef MICROPY_HW_SPI3_NSS
#undef MICROPY_HW_SPI3_SCK
#undef MICROPY_HW_SPI3_MISO
#undef MICROPY_HW_SPI3_MOSI
#define MICROPY_HW_SPI3_SCK         (pin_C10)
#define MICROPY_HW_SPI3_MISO        (pin_C11)
#define MICROPY_HW_SPI3_MOSI        (pin_C12)

// SPI4, mode 0, 12.5 MHz: the comparator DAC (MCP4822, its SCK to 20 MHz) alone, so that
// the FPGA's bus can run faster than it.
#define MICROPY_HW_SPI4_SCK         (pin_E12)
#define MICROPY_HW_SPI4_MISO        (pin_E13)
#define MICROPY_HW_SPI4_MOSI        (pin_E14)

// I2C1, 400 kHz: the temperature sensors, the bias monitor ADC, the power monitors.
// UART2, 115200 8N1: the OBC.  The NUCLEO's pins, restated so that every bus the payload
// uses has its pins here (tests/test_board_definition.py reads them from this file).
#undef MICROPY_HW_I2C1_SCL
#undef MICROPY_HW_I2C1_SDA
#define MICROPY_HW_I2C1_SCL         (pin_B8)
#define MICROPY_HW_I2C1_SDA         (pin_B9)
#undef MICROPY_HW_UART2_TX
#undef MICROPY_HW_UART2_RX
#define MICROPY_HW_UART2_TX         (pin_D5)
#define MICROPY_HW_UART2_RX         (pin_D6)
