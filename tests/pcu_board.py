"""The payload computer's firmware board definition (board/stm32/VECTOR_PCU), read for
the tests: the CPU pins its image makes available to Python (pins.csv), the buses its
header defines with their pins, its clock tree.  tests/fakebus_machine.py builds a fake
``machine`` that refuses what the image would refuse; tests/test_board_definition.py
checks the wiring (hal/real/board.py) against it."""

import re
from pathlib import Path

BOARD_DIR = Path(__file__).resolve().parent.parent / "board" / "stm32" / "VECTOR_PCU"
# The NUCLEO-H743ZI's crystal, which the PCU shares: HSE_VALUE of the HAL configuration
# the board definition includes (boards/NUCLEO_H743ZI/stm32h7xx_hal_conf.h).
HSE_HZ = 8000000

_DEFINE = re.compile(r"^\s*#define\s+(MICROPY_HW_\w+)\s+\(?([^)\s/]+)\)?")
_UNDEF = re.compile(r"^\s*#undef\s+(MICROPY_HW_\w+)")
_BUS = re.compile(r"^MICROPY_HW_(SPI|I2C|UART)(\d)_(SCK|MISO|MOSI|NSS|SCL|SDA|TX|RX|RTS|CTS)$")


def header(path=None):
    """(defines, undefs) of the board's own header: ``{name: value}`` (``pin_A5`` → the
    CPU name ``A5``) and the names it takes back from the configuration it includes."""
    defines, undefs = {}, set()
    for line in Path(path or BOARD_DIR / "mpconfigboard.h").read_text().splitlines():
        m = _DEFINE.match(line)
        if m:
            v = m.group(2)
            defines[m.group(1)] = v[4:] if v.startswith("pin_") else v
            continue
        m = _UNDEF.match(line)
        if m:
            undefs.add(m.group(1))
            defines.pop(m.group(1), None)
    return defines, undefs


def buses(defines=None):
    """``{("SPI", 1): {"SCK": "A5", "MISO": "A6", "MOSI": "B5"}, ...}``: the buses the
    header defines (a bus exists on the stm32 port when its clock/TX pin is defined)."""
    found = {}
    for name, v in (defines if defines is not None else header()[0]).items():
        m = _BUS.match(name)
        if m:
            found.setdefault((m.group(1), int(m.group(2))), {})[m.group(3)] = v
    return found


def available_cpu_pins():
    """The CPU names (``A4`` for PA4) Python may use on the image: pins.csv's CPU column,
    less the hidden ones (a leading '-')."""
    names = set()
    for line in (BOARD_DIR / "pins.csv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cpu = line.split(",")[1].strip()
        if not cpu.startswith("-"):
            names.add(cpu[1:])
    return names


def board_labels():
    """The board's labels (pins.csv's first column): names the port looks up before the
    CPU's."""
    labels = set()
    for line in (BOARD_DIR / "pins.csv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            b = line.split(",")[0].strip().lstrip("-")
            if b:
                labels.add(b)
    return labels


def spi_kernel_hz(defines=None):
    """pll1_q_ck from the header's PLL: HSE / PLLM x PLLN / PLLQ (SPI1-3)."""
    d = defines if defines is not None else header()[0]
    return HSE_HZ // int(d["MICROPY_HW_CLK_PLLM"]) * int(d["MICROPY_HW_CLK_PLLN"]) \
        // int(d["MICROPY_HW_CLK_PLLQ"])


def _div(v):
    """The divider of ``RCC_HCLK_DIV2``, ``RCC_APB2_DIV4``...: its trailing number."""
    return int(re.search(r"DIV(\d+)$", v).group(1))


def spi45_kernel_hz(defines=None):
    """rcc_pclk2 from the header's PLL and dividers: SYSCLK (HSE / PLLM x PLLN / PLLP)
    / AHB / APB2 (SPI4 and 5)."""
    d = defines if defines is not None else header()[0]
    sysclk = HSE_HZ // int(d["MICROPY_HW_CLK_PLLM"]) * int(d["MICROPY_HW_CLK_PLLN"]) \
        // int(d["MICROPY_HW_CLK_PLLP"])
    return sysclk // _div(d["MICROPY_HW_CLK_AHB_DIV"]) // _div(d["MICROPY_HW_CLK_APB2_DIV"])
