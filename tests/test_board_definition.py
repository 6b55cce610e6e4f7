"""The payload computer's wiring (hal/real/board.py BOARD_CONFIG) against its firmware's
board definition (board/stm32/VECTOR_PCU, tests/pcu_board.py): every bus the wiring uses
exists in the image, runs at the rate stated, sits on pins of that function, and no
device pin is a bus pin, a pin the image's C code drives, or missing from the image.

Found at stop 50: the payload computer's image was the NUCLEO-H743ZI's, which defines
SPI3 alone (machine.SPI(1) and (2) raised at boot), names its Arduino pins "A2" .. "A4"
(the board's labels are looked up first: the camera's select "A4" would have been PC2),
and runs the SPI kernel clock at 200 MHz (21 MHz asked ran at 12.5).  docs/firmware.md §1.
"""

import csv
import sys
from pathlib import Path

import pytest

from hal import interfaces as itf
from hal.real import board

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pcu_board  # noqa: E402
from fakebus_machine import make_fake_machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CFG = board.BOARD_CONFIG
WIRED_BUSES = {  # BOARD_CONFIG key -> the bus kind
    "spi_fpga": "SPI", "spi_dac": "SPI", "spi_fsm": "SPI", "spi_comp": "SPI", "i2c": "I2C",
    "uart": "UART"}
BUS_SIGNALS = {"SPI": ("SCK", "MISO", "MOSI"), "I2C": ("SCL", "SDA"), "UART": ("TX", "RX")}


def device_pins():
    """Every pin BOARD_CONFIG names for a device (selects, enables, faults)."""
    p = CFG["power"]
    pins = [CFG["camera"]["cs"], CFG["framer"]["cs"], CFG["comparator"]["cs"],
            CFG["fsm"]["sync"], CFG["fsm"]["hv_en"], CFG["fsm"]["fault"], CFG["bias"]["sync"]]
    return pins + list(p["en"]) + [f for f in p["fault"] if f]


def bus_pins():
    defined = pcu_board.buses()
    return {pin for key, kind in WIRED_BUSES.items()
            for pin in defined[(kind, CFG[key]["id"])].values()}


def micropython_port_dir():
    """The stm32 port of the unpacked MicroPython archive (`make setup-target` /
    `make firmware`), or None."""
    from tools import firmware

    d = firmware.WORK / ("micropython-" + firmware.VERSION) / "ports" / "stm32"
    return d if (d / "boards" / "stm32h743_af.csv").exists() else None


def test_every_wired_bus_exists_in_the_image():
    defined = pcu_board.buses()
    for key, kind in WIRED_BUSES.items():
        sig = defined.get((kind, CFG[key]["id"]))
        assert sig is not None, "%s: %s%d not in the board definition" % (key, kind, CFG[key]["id"])
        assert all(s in sig for s in BUS_SIGNALS[kind]), (key, sig)


def test_the_spi_rates_are_what_the_port_runs():
    """Each SPI rate is a quotient of its bus's kernel clock, which the header's clock
    tree gives (SPI1-3: PLL1Q; SPI4: APB2), and within its device's limit."""
    assert pcu_board.spi_kernel_hz() == itf.MCU_SPI_KERNEL_HZ == 200000000
    assert pcu_board.spi45_kernel_hz() == itf.MCU_SPI45_KERNEL_HZ == 100000000
    for key in ("spi_fpga", "spi_dac", "spi_fsm", "spi_comp"):
        asked = CFG[key]["baudrate"]
        kernel = itf.MCU_SPI_KERNEL_HZ if CFG[key]["id"] <= 3 else itf.MCU_SPI45_KERNEL_HZ
        assert itf.spi_rate_hz(asked, kernel) == asked, key
    # the data sheets' clock limits: DAC8551 30 MHz, AD5664 50 MHz, MCP4822 20 MHz
    assert CFG["spi_dac"]["baudrate"] <= 30000000 and CFG["spi_fsm"]["baudrate"] <= 50000000
    assert CFG["spi_comp"]["baudrate"] <= 20000000
    comp = board.BOARD_CONFIG["comparator"]["cs"]
    m = make_fake_machine()
    b = board.build(machine_module=m)
    assert b.comparator._spi.id == 4 and m.created["Pin"][comp].level == 1
    # the port's rule (ports/stm32/spi.c): the F405-era rates ran slower than stated
    assert itf.spi_rate_hz(21000000) == 12500000 and itf.spi_rate_hz(10500000) == 6250000
    assert itf.spi_rate_hz(200000000) == 100000000 and itf.spi_rate_hz(1) == 781250
    assert itf.spi_transfer_us(535, itf.SPI_FPGA_HZ) == 171


def test_device_pins_are_available_distinct_and_off_the_buses():
    pins = device_pins()
    assert len(pins) == len(set(pins)), "a pin is used twice"
    available = pcu_board.available_cpu_pins()
    assert not [p for p in pins if p not in available], "not available on the image"
    assert not set(pins) & bus_pins(), "a device pin is a bus pin"
    busp = [p for key, kind in WIRED_BUSES.items()
            for p in pcu_board.buses()[(kind, CFG[key]["id"])].values()]
    assert len(busp) == len(set(busp)), "two buses share a pin"


def test_no_board_label_shadows_a_cpu_name():
    """The port looks a name up among the board's labels before the CPU's: no label may
    be spelt like a CPU pin (the NUCLEO's "A4" is its Arduino A4, PC2)."""
    import re

    shadow = [b for b in pcu_board.board_labels() if re.match(r"^[A-K]\d{1,2}$", b)]
    assert shadow == []


def test_build_looks_every_pin_up_as_a_cpu_pin_and_refuses_one_the_image_lacks():
    m = make_fake_machine()
    board.build(machine_module=m)
    assert sorted(m.Pin.cpu.looked_up) == sorted(device_pins())
    import copy

    cfg = copy.deepcopy(CFG)
    cfg["fsm"]["sync"] = "K15"  # (no port K on the LQFP144 STM32H743ZI's image)
    with pytest.raises(ValueError, match="K15"):
        board.build(config=cfg, machine_module=make_fake_machine())
    cfg = copy.deepcopy(CFG)
    cfg["spi_dac"]["id"] = 5  # a bus the image does not define: the port's refusal
    with pytest.raises(ValueError, match=r"SPI\(5\) doesn't exist"):
        board.build(config=cfg, machine_module=make_fake_machine())


def test_the_image_has_no_sd_card_and_spi3_has_no_hardware_select():
    defines, undefs = pcu_board.header()
    assert defines["MICROPY_HW_ENABLE_SDCARD"] == "0"  # boots from the internal flash
    assert "MICROPY_HW_SPI3_NSS" in undefs and "MICROPY_HW_SPI3_NSS" not in defines
    assert "MICROPY_HW_LED3" in undefs  # (its pin is SPI2's MISO)


def test_bus_pins_carry_their_function_and_no_device_pin_is_one_the_c_code_drives():
    """Against the MicroPython archive's STM32H743 alternate-function table and the
    NUCLEO configuration the board definition includes (the archive is unpacked by
    `make setup-target` / `make firmware`, as CI does before the tests)."""
    port = micropython_port_dir()
    if port is None:
        pytest.skip("MicroPython source not unpacked (make setup-target): the AF table "
                    "and the NUCLEO configuration are read from it")
    functions = {}
    with open(port / "boards" / "stm32h743_af.csv") as f:
        for row in csv.reader(f):
            if len(row) > 2 and row[1].strip().startswith("P"):
                functions[row[1].strip()[1:]] = " ".join(row[2:])
    for (kind, n), sig in pcu_board.buses().items():
        for s, pin in sig.items():
            if kind == "UART":
                want = ("USART%d_%s" % (n, s), "UART%d_%s" % (n, s))
            else:
                want = ("%s%d_%s" % (kind, n, s),)
            assert any(w in functions[pin] for w in want), (kind, n, s, pin)
    # What the included NUCLEO configuration still claims (LEDs, the switch, USB, the
    # REPL's UART3, the other UARTs and I2Cs): the board's own header may take it back.
    nucleo, _ = pcu_board.header(port / "boards" / "NUCLEO_H743ZI" / "mpconfigboard.h")
    ours, undefs = pcu_board.header()
    claimed = {v for k, v in nucleo.items()
               if k not in undefs and k not in ours and len(v) <= 3 and v[0] in "ABCDEFG"}
    claimed |= {"A11", "A12", "A13", "A14"}  # USB D-/D+ (the port's own), SWD
    assert claimed & set(ours.values()) <= bus_pins() | {"B8", "B9", "D5", "D6"}
    assert not set(device_pins()) & claimed, sorted(set(device_pins()) & claimed)


def test_the_firmware_builds_the_payload_computers_board_definition():
    from tools import firmware

    cmd = firmware.stm32_make_command(Path("/mpy"), Path("/m.py"))
    assert "BOARD_DIR=%s" % (ROOT / "board" / "stm32" / "VECTOR_PCU") in cmd
    assert firmware.STM32_BOARD == "VECTOR_PCU"
    for f in ("mpconfigboard.h", "mpconfigboard.mk", "pins.csv", "board_init.c",
              "stm32h7xx_hal_conf.h"):
        assert (pcu_board.BOARD_DIR / f).exists(), f
