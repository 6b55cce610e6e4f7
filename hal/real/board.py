"""Wiring of the payload computer (STM32H743 MCU running MicroPython: the firmware's board
definition board/stm32/VECTOR_PCU) and the factory that builds the real HAL from it.

Every pin and bus number is in :data:`BOARD_CONFIG`; drivers receive bus and pin objects
(never create them), so they can be tested against fake buses. Pin names are STM32 CPU
pin names ("A4" = PA4), looked up as CPU pins (``machine.Pin.cpu``): the stm32 port
resolves a name among the board's labels first, and on a NUCLEO-H743ZI image "A4" is the
Arduino A4, PC2.  A pin the image does not make available is a ValueError at build.

Buses (SPI devices are grouped by SPI mode so no bus is ever re-initialised; each rate a
quotient of the MCU's SPI kernel clock — 200 MHz for SPI1-3, 100 MHz for SPI4 —
hal.interfaces ``spi_rate_hz``, so the bus runs at the rate stated):

* SPI1 (PA5 / PA6 / PB5), mode 0, 25 MHz: FPGA camera block (CS PA4), FPGA framer block
  (CS PA3).
* SPI2 (PB10 / PB14 / PB15), mode 1, 12.5 MHz: DAC8551 bias DAC (SYNC PB11).
* SPI3 (PC10 / PC11 / PC12), mode 1, 25 MHz: AD5664 FSM DAC (SYNC PD11), alone: the
  mirror's waveform timer (``machine.Timer(-1)``, a soft timer: its callback runs between
  any two bytecodes) writes a sample a millisecond, so no other device's transfer may
  share the bus (a callback between a bias write's SYNC low and its octets would clock
  the mirror's frames into the bias DAC).
* SPI4 (PE12 / PE13 / PE14), mode 0, 12.5 MHz: MCP4822 comparator DAC (CS PD14) alone:
  its SCK is specified to 20 MHz, and the FPGA's bus runs faster (SPI4's kernel clock is
  100 MHz, hal.interfaces ``MCU_SPI45_KERNEL_HZ``).
* I2C1 (PB8 / PB9), 400 kHz: TMP117 0x48 and 0x49, ADS1115 0x4A, INA3221 0x40 and 0x41.
* UART2 (PD5 / PD6), 115200 8N1: OBC link.

The bus pins are the board definition's (mpconfigboard.h); no pin here is one of them or
one the image's C code drives (tests/test_board_definition.py).

``build()`` does no bus traffic: call each device's ``init()`` (in the power order of
DESIGN 3.2) afterwards.
"""

from hal.interfaces import (
    CAMERA_FRAME_PERIOD_US,
    SPI_BIAS_DAC_HZ,
    SPI_COMPARATOR_DAC_HZ,
    SPI_FPGA_HZ,
    SPI_FSM_DAC_HZ,
    Board,
)
from hal.real.bias import Ads1115, Dac8551, SipmBias
from hal.real.camera import FpgaCamera
from hal.real.comparator import Mcp4822Comparator
from hal.real.framer import FpgaFramer
from hal.real.fsm import Ad5664Fsm
from hal.real.power import GpioPower, Ina3221
from hal.real.storage import FileStorage
from hal.real.tmp117 import Tmp117
from hal.real.uart_link import UartLink
from hal.real.watchdog import MachineWatchdog

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Optional  # noqa: F401

BOARD_CONFIG = {
    "name": "vector-pcu-rev-a",
    "spi_fpga": {"id": 1, "baudrate": SPI_FPGA_HZ, "polarity": 0, "phase": 0},
    "spi_dac": {"id": 2, "baudrate": SPI_BIAS_DAC_HZ, "polarity": 0, "phase": 1},
    # The mirror's DAC alone (see the module's docstring).
    "spi_fsm": {"id": 3, "baudrate": SPI_FSM_DAC_HZ, "polarity": 0, "phase": 1},
    # The comparator's DAC alone (the MCP4822 clocks to 20 MHz; the FPGA's bus faster).
    "spi_comp": {"id": 4, "baudrate": SPI_COMPARATOR_DAC_HZ, "polarity": 0, "phase": 0},
    "i2c": {"id": 1, "freq": 400000},
    "uart": {
        "id": 2,
        "baudrate": 115200,
        "rxbuf": 2048,
        "txbuf": 2048,
    },
    # frame_period_us: the sensor's frame, the APT's tick (hal.interfaces.CAMERA_FRAME_PERIOD_US).
    "camera": {"cs": "A4", "exposure_us": 1000, "gain": 1.0,
               "frame_period_us": CAMERA_FRAME_PERIOD_US},
    "framer": {"cs": "A3"},
    "comparator": {"cs": "D14", "initial_code": 2048},
    # timer: the waveform's sample timer, machine.Timer(-1) (the stm32 port's soft timer,
    # whole milliseconds: hal.interfaces.FSM_WAVE_PERIOD_US); None: first sample only.
    "fsm": {"sync": "D11", "hv_en": "D12", "fault": "D13", "timer": -1},
    "bias": {
        "sync": "B11",
        "adc_addr": 0x4A,
        # HV stage: V_bias = 16 x V_dac, V_dac = 2.5 V * code / 65536 (assumed board).
        "v_per_code": 40.0 / 65536,
        "v_offset": 0.0,
        # Limits: 0 V .. 32 V (onsemi MicroFJ-30035: V_br 24.2-24.7 V, over-voltage
        # up to 6 V, plus margin for the 21.5 mV/K coefficient).
        "v_min": 0.0,
        "v_max": 32.0,
        "monitor_ratio": 16.0,
    },
    "temps": [0x48, 0x49],
    "power": {
        # Index = SW_LASER_850, SW_LASER_525, SW_CAMERA, SW_SIPM_BIAS, SW_FRAMER.
        "en": ["E2", "E3", "E4", "E5", "E6"],
        "fault": ["F11", "F12", "F13", "G0", "G1"],
        "monitors": [0x40, 0x41],
        "channels": [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)],
        "shunt_mohm": [100, 100, 100, 100, 100],
    },
    "storage": {"root": "/flash/vector", "max_blob": 65536},
    "watchdog": {"id": 0, "timeout_max_ms": 32000},
}  # type: Dict[str, Any]


def build(config=None, machine_module=None, clock=None):
    # type: (Optional[Dict[str, Any]], Any, Any) -> Board
    """Create the buses, pins and drivers of the real backend.

    Args:
        config: a dict shaped like :data:`BOARD_CONFIG` (default: that one).
        machine_module: the ``machine`` module (default: imported here).
        clock: the real clock object of ``hal/clock.py``, stored in the Board.
    """
    if config is None:
        config = BOARD_CONFIG
    m = machine_module
    if m is None:
        import machine

        m = machine
    Pin = m.Pin
    cpu = getattr(Pin, "cpu", None)  # the stm32 port's CPU pins (see the module's doc)

    def cpu_pin(name):
        # type: (str) -> Any
        if cpu is None:  # (a port without the namespace: the name as it is)
            return name
        try:
            return getattr(cpu, name)
        except AttributeError:
            raise ValueError("pin %s: not a CPU pin of this image" % name)

    def out(name, level):
        # type: (Any, int) -> Any
        return Pin(cpu_pin(name), Pin.OUT, value=level)

    def inp(name):
        # type: (Any) -> Any
        return Pin(cpu_pin(name), Pin.IN, Pin.PULL_UP)

    c = config["spi_fpga"]
    spi_fpga = m.SPI(c["id"], baudrate=c["baudrate"], polarity=c["polarity"], phase=c["phase"])
    c = config["spi_dac"]
    spi_dac = m.SPI(c["id"], baudrate=c["baudrate"], polarity=c["polarity"], phase=c["phase"])
    c = config["spi_fsm"]
    spi_fsm = m.SPI(c["id"], baudrate=c["baudrate"], polarity=c["polarity"], phase=c["phase"])
    c = config["spi_comp"]
    spi_comp = m.SPI(c["id"], baudrate=c["baudrate"], polarity=c["polarity"], phase=c["phase"])
    c = config["i2c"]
    i2c = m.I2C(c["id"], freq=c["freq"])
    c = config["uart"]
    uart = m.UART(
        c["id"],
        c["baudrate"],
        timeout=0,
        timeout_char=0,
        rxbuf=c["rxbuf"],
        txbuf=c["txbuf"],
    )

    c = config["camera"]
    camera = FpgaCamera(spi_fpga, out(c["cs"], 1), exposure_us=c["exposure_us"], gain=c["gain"],
                        frame_period_us=c.get("frame_period_us", CAMERA_FRAME_PERIOD_US))
    framer = FpgaFramer(spi_fpga, out(config["framer"]["cs"], 1))
    c = config["comparator"]
    comparator = Mcp4822Comparator(spi_comp, out(c["cs"], 1), initial_code=c["initial_code"])
    c = config["fsm"]
    fsm = Ad5664Fsm(
        spi_fsm,
        out(c["sync"], 1),
        out(c["hv_en"], 0),
        inp(c["fault"]) if c.get("fault") else None,
        # the waveform's sample timer (hal/real/fsm.py); none: first sample only
        timer=m.Timer(c["timer"]) if c.get("timer") is not None else None,
    )
    c = config["bias"]
    bias = SipmBias(
        Dac8551(spi_dac, out(c["sync"], 1)),
        Ads1115(i2c, c["adc_addr"]),
        v_per_code=c["v_per_code"],
        v_offset=c["v_offset"],
        v_min=c["v_min"],
        v_max=c["v_max"],
        monitor_ratio=c["monitor_ratio"],
    )
    temps = [Tmp117(i2c, a) for a in config["temps"]]
    c = config["power"]
    faults = c.get("fault")
    power = GpioPower(
        [out(p, 0) for p in c["en"]],
        [Ina3221(i2c, a) for a in c["monitors"]],
        c["channels"],
        c["shunt_mohm"],
        [inp(p) if p else None for p in faults] if faults else None,
    )
    c = config["storage"]
    storage = FileStorage(c["root"], max_blob=c["max_blob"])
    c = config["watchdog"]
    watchdog = MachineWatchdog(c["id"], machine_module=m, timeout_max_ms=c["timeout_max_ms"])
    return Board(
        camera=camera,
        fsm=fsm,
        temps=temps,
        bias=bias,
        comparator=comparator,
        framer=framer,
        link=UartLink(uart),
        storage=storage,
        watchdog=watchdog,
        power=power,
        clock=clock,
        name=config.get("name", "real"),
    )
